// Where fp8_gemm.cu's mma.sync variant (variant 3) puts each byte and each sum: the index functions
// its kernel calls, in one header so tests/gpu/test_fp8_mma_layout.cpp can run the very same
// functions on the CPU through a host model of the PTX ISA's fragment layout (no GPU, and the
// emulator does not run tensor-core instructions).
//
// The block's tile of C is 128 x 128, K in steps of 128 (one scale block); 8 warps, 2 down M by 4
// across N, each owning a 64 x 32 piece: 4 x 4 tiles of mma.sync.m16n8k32 (16 rows, 8 columns,
// 32 of K per instruction, so 4 instructions per 128 of K).
//
// Shared memory holds, per pipeline stage, the 128 x 128 codes of A and of B as rows of
// mma_row_bytes = 144 bytes (128 codes + 16 bytes of padding): a fragment load has lanes
// g = lane / 4 reading rows g (8 rows) at words t = lane % 4; with 144-byte rows (36 words) row g
// starts at bank 4g, so the 32 lanes hit 32 different banks (with 128-byte rows all 8 rows would
// start at bank 0: 8-way conflicts). 144 is a multiple of 16, so each row stays 16-byte aligned for
// cp.async.
//
// Nothing here is CUDA-specific: plain integer arithmetic, compiled for the device by nvcc and for
// the host by any C++ compiler.
#pragma once

#include "gpu/host_device.h"

namespace seek {
namespace mma_layout {

constexpr int tile_m = 128, tile_n = 128, tile_k = 128;  // a block's C tile, and K per stage
constexpr int warps_m = 2, warps_n = 4, threads = 32 * warps_m * warps_n;  // 256
constexpr int warp_m = tile_m / warps_m, warp_n = tile_n / warps_n;         // 64 x 32 per warp
constexpr int mma_m = 16, mma_n = 8, mma_k = 32;                            // m16n8k32
constexpr int mmas_m = warp_m / mma_m, mmas_n = warp_n / mma_n;             // 4 x 4 per warp
constexpr int k_steps = tile_k / mma_k;                                     // 4 per stage
constexpr int row_bytes = tile_k + 16;                                      // 144: see above
constexpr int chunk_bytes = 16;                                             // one cp.async
constexpr int chunks_per_row = tile_k / chunk_bytes;                        // 8
constexpr int chunks_per_thread = tile_m * chunks_per_row / threads;        // 4 for A, 4 for B
static_assert(tile_m == tile_n, "A and B tiles share the copy schedule");
static_assert(tile_m * chunks_per_row % threads == 0, "every thread copies the same number of chunks");

// ---- load: global -> shared ------------------------------------------------------------------------
// The copy of chunk `i` (0 .. chunks_per_thread - 1) by thread `thread`: 16 bytes of row `row`
// starting at column `column` of the stage's tile; consecutive threads take consecutive chunks
// of a row, so a warp reads 4 rows x 128 contiguous bytes.
struct Chunk {
    int row, column;
};
SEEK_HOST_DEVICE inline Chunk copy_chunk(int thread, int i) {
    const int chunk = thread + threads * i;
    return {chunk / chunks_per_row, (chunk % chunks_per_row) * chunk_bytes};
}
SEEK_HOST_DEVICE inline int tile_offset(int row, int column) { return row * row_bytes + column; }

// ---- fragments: shared -> registers ----------------------------------------------------------------
// A warp's position in the block: warps 0-3 the top 64 rows, 4-7 the bottom; warp % 4 the columns.
SEEK_HOST_DEVICE inline int warp_row0(int warp) { return (warp / warps_n) * warp_m; }
SEEK_HOST_DEVICE inline int warp_col0(int warp) { return (warp % warps_n) * warp_n; }

// Register `reg` (0-3) of lane `lane`'s A fragment for the warp's mma tile mi (0-3) at K step ks
// (0-3): the byte offset, in the stage's A tile, of the 4 consecutive codes it holds (byte j of the
// register is column +j). Lane (g, t) = (lane / 4, lane % 4) holds rows g (registers 0, 2) and
// g + 8 (1, 3), columns 4t .. 4t + 3 (registers 0, 1) and 16 + 4t .. (2, 3) of the 16 x 32 A tile.
SEEK_HOST_DEVICE inline int a_fragment_offset(int warp, int mi, int ks, int lane, int reg) {
    const int g = lane / 4, t = lane % 4;
    const int row = warp_row0(warp) + mi * mma_m + g + 8 * (reg % 2);
    const int column = ks * mma_k + 4 * t + 16 * (reg / 2);
    return tile_offset(row, column);
}

// Register `reg` (0-1) of lane `lane`'s B fragment for the warp's mma tile ni (0-3) at K step ks.
// B is stored [N, K] (a weight's rows), which is the "col" operand mma.sync wants: column n of the
// 32 x 8 B tile is a row of codes. Lane (g, t) holds column g, K rows 4t .. 4t + 3 (register 0) and
// 16 + 4t .. (register 1): again 4 consecutive bytes of one stored row.
SEEK_HOST_DEVICE inline int b_fragment_offset(int warp, int ni, int ks, int lane, int reg) {
    const int g = lane / 4, t = lane % 4;
    const int row = warp_col0(warp) + ni * mma_n + g;
    const int column = ks * mma_k + 4 * t + 16 * reg;
    return tile_offset(row, column);
}

// ---- store: registers -> C -------------------------------------------------------------------------
// Accumulator `i` (0-3) of lane `lane` for the warp's tile (mi, ni): its row and column in the
// block's C tile. Lane (g, t) holds rows g (i = 0, 1) and g + 8 (i = 2, 3), columns 2t and 2t + 1.
struct Element {
    int row, column;
};
SEEK_HOST_DEVICE inline Element c_fragment_element(int warp, int mi, int ni, int lane, int i) {
    const int g = lane / 4, t = lane % 4;
    return {warp_row0(warp) + mi * mma_m + g + 8 * (i / 2), warp_col0(warp) + ni * mma_n + 2 * t + i % 2};
}

}  // namespace mma_layout
}  // namespace seek
