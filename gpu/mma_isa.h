// mma.sync.m16n8k32 with 8-bit A and B and FP32 C and D (the FP8 tensor-core instruction of
// sm_89+), as the PTX ISA defines it: which element of the 16 x 32 A, the 32 x 8 B and the 16 x 8
// C each lane's registers hold ("Matrix Fragments for mma.m16n8k32", 8-bit types). Written from
// the ISA's tables, independently of the kernel's own indexing (gpu/fp8_mma_layout.h): the test
// of that indexing (tests/gpu/test_fp8_mma_layout.cpp) and the emulator's instruction (below) both
// read these.
//
// For lane `lane`, groupID = lane >> 2 and threadID_in_group = lane % 4:
//   A (16 x 32, row-major): a0 .. a15 in four .b32 registers, a_i in byte i % 4 of register i / 4;
//     row = groupID       for 0 <= i < 4 or 8 <= i < 12, groupID + 8 otherwise;
//     col = threadID_in_group * 4 + (i & 3)        for i < 8, + 16 for i >= 8.
//   B (32 x 8, "col"): b0 .. b7 in two .b32 registers, b_i in byte i % 4 of register i / 4;
//     row (k) = threadID_in_group * 4 + (i & 3)    for i < 4, + 16 for i >= 4;  col = groupID.
//   C, D (16 x 8): c0 .. c3;
//     row = groupID for i < 2, groupID + 8 for i >= 2;  col = threadID_in_group * 2 + (i & 1).
#pragma once

#include <cstdint>

#include "gpu/host_device.h"

namespace seek {
namespace mma_isa {

struct Position {
    int row, col;
};
SEEK_HOST_DEVICE inline Position a_element(int lane, int i) {
    const int group = lane >> 2, thread_in_group = lane % 4;
    const int row = ((i >= 0 && i < 4) || (i >= 8 && i < 12)) ? group : group + 8;
    const int col = i < 8 ? thread_in_group * 4 + (i & 3) : thread_in_group * 4 + (i & 3) + 16;
    return {row, col};
}
SEEK_HOST_DEVICE inline Position b_element(int lane, int i) {
    const int group = lane >> 2, thread_in_group = lane % 4;
    const int row = i < 4 ? thread_in_group * 4 + (i & 3) : thread_in_group * 4 + (i & 3) + 16;
    return {row, group};
}
SEEK_HOST_DEVICE inline Position c_element(int lane, int i) {
    const int group = lane >> 2, thread_in_group = lane % 4;
    return {i < 2 ? group : group + 8, thread_in_group * 2 + (i & 1)};
}

}  // namespace mma_isa
}  // namespace seek
