// Two tensor-core instructions as the PTX ISA defines them. First mma.sync.m16n8k32 with 8-bit A
// and B and FP32 C and D (the FP8 instruction of sm_89+): which element of the 16 x 32 A, the
// 32 x 8 B and the 16 x 8 C each lane's registers hold ("Matrix Fragments for mma.m16n8k32",
// 8-bit types). Written from
// the ISA's tables, independently of the kernels' own indexing (gpu/fp8_mma_layout.h,
// gpu/mla_decode.cu): the test of that indexing (tests/gpu/test_fp8_mma_layout.cpp) and the
// emulator's instructions (fp8_gemm.cu, mla_decode.cu) read these.
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

// mma.sync.m16n8k16 with .bf16 A and B and FP32 C and D ("Matrix Fragments for mma.m16n8k16 with
// floating point type"), the BF16 instruction of sm_80+:
//   A (16 x 16, row-major): a0 .. a7 in four .b32 registers, a_i in half i % 2 of register i / 2
//     (the low 16 bits first); row = groupID for i in {0, 1, 4, 5}, groupID + 8 otherwise;
//     col = threadID_in_group * 2 + (i & 1)      for i < 4, + 8 for i >= 4.
//   B (16 x 8, "col"): b0 .. b3 in two .b32 registers, b_i in half i % 2 of register i / 2;
//     row (k) = threadID_in_group * 2 + (i & 1)  for i < 2, + 8 for i >= 2;  col = groupID.
//   C, D (16 x 8): as above (c_element).
SEEK_HOST_DEVICE inline Position bf16_a_element(int lane, int i) {
    const int group = lane >> 2, thread_in_group = lane % 4;
    const int row = (i == 0 || i == 1 || i == 4 || i == 5) ? group : group + 8;
    return {row, thread_in_group * 2 + (i & 1) + (i >= 4 ? 8 : 0)};
}
SEEK_HOST_DEVICE inline Position bf16_b_element(int lane, int i) {
    const int group = lane >> 2, thread_in_group = lane % 4;
    return {thread_in_group * 2 + (i & 1) + (i >= 2 ? 8 : 0), group};
}

}  // namespace mma_isa
}  // namespace seek
