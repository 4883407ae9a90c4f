// The emulator's mma.sync (the kernels' PTX runs on a GPU; this runs in its place in the emulator):
// D = A B + D for one m16n8kK instruction of a warp, the 16 x K A, K x 8 B and 16 x 8 D spread over
// the 32 lanes' registers as the PTX ISA's fragment tables say (gpu/mma_isa.h). Each lane fetches,
// by shuffles, the registers of the 4 lanes holding its two rows of A and of the 8 holding its two
// columns of B (the emulator's shuffle moves a whole struct: one per source lane), places each
// element where the ISA puts it, and adds its 4 outputs' exact sums (the products of 8- and 16-bit
// floats are exact, K of them fit a double) to D, rounding once. That is the ISA's data movement,
// not the hardware's arithmetic: a tensor core keeps fewer bits of its sums (core's TensorCore
// accumulation model).
#pragma once

#if !defined(__CUDACC__)
#include <cstdint>

#include "gpu/block_reduce.h"
#include "gpu/mma_isa.h"

namespace SEEK_GPU_NAMESPACE {

// K: 32 for 8-bit A and B (4 a register), 16 for 16-bit (2 a register). decode(register, i): the
// value of element i of a register; a_element, b_element: the ISA's (lane, i) -> position.
template <int K, typename Decode, typename AElement, typename BElement>
void emulated_mma_sync(float (&d)[4], const uint32_t (&a)[4], const uint32_t (&b)[2], Decode decode, AElement a_element,
                       BElement b_element) {
    static_assert(K == 32 || K == 16, "m16n8k32 with 8-bit operands or m16n8k16 with 16-bit ones");
    constexpr int per_register = K / 8;  // 8-bit: 4 elements a register, 16-bit: 2
    struct Registers {
        uint32_t a[4], b[2];
    };
    const Registers mine{{a[0], a[1], a[2], a[3]}, {b[0], b[1]}};
    const int lane = threadIdx.x % 32, group = lane >> 2, thread_in_group = lane % 4;
    double a_rows[2][K], b_cols[2][K];  // rows group, group + 8 of A; columns 2t, 2t + 1 of B
    auto place = [&](int source, const Registers& registers) {
        for (int i = 0; i < 4 * per_register; ++i) {  // A's elements, if the source holds this lane's rows
            const ::seek::mma_isa::Position p = a_element(source, i);
            if (p.row % 8 == group) a_rows[p.row / 8][p.col] = decode(registers.a[i / per_register], i % per_register);
        }
        for (int i = 0; i < 2 * per_register; ++i) {  // B's, if the source holds one of this lane's columns
            const ::seek::mma_isa::Position p = b_element(source, i);
            if (p.col / 2 == thread_in_group) b_cols[p.col % 2][p.row] = decode(registers.b[i / per_register], i % per_register);
        }
    };
    for (int j = 0; j < 4; ++j) place(4 * group + j, __shfl_sync(full_warp_mask, mine, 4 * group + j));
    for (int column = 0; column < 2; ++column)
        for (int j = 0; j < 4; ++j) {
            const int source = 4 * (2 * thread_in_group + column) + j;  // B's column n is held by group n
            place(source, __shfl_sync(full_warp_mask, mine, source));
        }
    for (int i = 0; i < 4; ++i) {
        const ::seek::mma_isa::Position p = ::seek::mma_isa::c_element(lane, i);
        double sum = d[i];
        for (int k = 0; k < K; ++k) sum += a_rows[p.row / 8][k] * b_cols[p.col % 2][k];
        d[i] = static_cast<float>(sum);
    }
}

}  // namespace SEEK_GPU_NAMESPACE
#endif
