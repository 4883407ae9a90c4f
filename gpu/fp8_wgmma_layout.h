// Where fp8_gemm.cu's wgmma variants (4: cp.async copies, 5: TMA boxes) put each byte and where the
// tensor core takes it from, in one header so tests/gpu/test_fp8_wgmma_layout.cpp can run the
// kernels' own functions on the CPU (no GPU here, and the emulator does not run tensor-core
// instructions).
//
// Two parts, kept apart on purpose:
//   seek::wgmma_layout  what the kernel does: the 128B-swizzled shared-memory offset its copies
//                       write to, the 64-bit matrix descriptors it hands to wgmma, and which output
//                       it takes each accumulator register to be (for the scales and the store);
//                       variant 5's tensor maps and the driver's rules for them.
//                       fp8_gemm.cu calls these; nvcc compiles them for the device.
//   seek::wgmma_isa     what the hardware does, written from the PTX ISA alone (host only; the
//                       kernel never calls it): how a descriptor is decoded, which shared-memory
//                       byte the tensor core reads for element (row, k) of a K-major operand in
//                       the 128-byte swizzle, and which (row, column) of D each thread's
//                       accumulator register is; where a TMA box lands (CUDA C++ Programming
//                       Guide, "Tensor Memory Access").
// The test puts the two together: a 64 x 128 tile written by the kernel's functions, read through
// the ISA's addressing, summed into the ISA's fragment, promoted and stored by the kernel's
// functions, must be the plain block-scaled matmul.
//
// PTX ISA sections relied on (PTX ISA 8.x/9.0, "Asynchronous Warpgroup Level Matrix Multiply-
// Accumulate Instructions"):
//   "Matrix Descriptor Format"                                   -> decode_descriptor
//   "Shared Memory Matrix Layout", "Leading Dimension Byte Offset", "Stride Dimension Byte
//   Offset", "Canonical Layouts" (K-major, 128B swizzling:
//   Swizzle<3,4,3> o ((8,m),(T,2k)):((8T,SBO),(1,T)))            -> k_major_swizzled_address
//   "Matrix Fragments for wgmma.mma_async.m64nNk32", Figure "WGMMA .m64nNk32 register fragment
//   layout for accumulator matrix D"                             -> accumulator_element
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "gpu/host_device.h"

namespace seek {
namespace wgmma_layout {

// One warpgroup (4 warps, 128 threads) owns a 64 x 128 tile of C; K in 128-wide blocks (one
// scale block each), 4 wgmma.m64n128k32 per block.
constexpr int tile_m = 64, tile_n = 128, threads = 128, tile_k = 128;
constexpr int mma_k = 32, k_steps = tile_k / mma_k;  // 4 wgmmas per K block
constexpr int swizzle_bytes = 128;                   // a row of a K block: 128 codes, one 128-byte line
constexpr int chunk_bytes = 16;                      // the swizzle's unit, and one cp.async
constexpr int chunks_per_row = swizzle_bytes / chunk_bytes;  // 8
constexpr int swizzle_rows = 8;                      // the XOR pattern repeats every 8 rows ...
constexpr int swizzle_repeat_bytes = swizzle_rows * swizzle_bytes;  // ... = 1,024 bytes
constexpr int a_tile_bytes = tile_m * swizzle_bytes;  // 8,192
constexpr int b_tile_bytes = tile_n * swizzle_bytes;  // 16,384

// ---- load: global -> shared ------------------------------------------------------------------------
// Copy number `index` of a tile (thread t takes t, t + 128, ...): 16 bytes, chunk `chunk` (codes
// 16 chunk .. 16 chunk + 15 of the K block) of row `row`; 8 consecutive threads read one row's
// 128 contiguous bytes.
struct CopyChunk {
    int row, chunk;
};
SEEK_HOST_DEVICE constexpr CopyChunk copy_chunk(int index) { return {index / chunks_per_row, index % chunks_per_row}; }

// Where chunk `chunk` of row `row` goes in a 128B-swizzled tile: row r is the 128-byte line r, and
// its chunk j is stored at chunk j ^ (r % 8). With the tile 1,024-byte aligned this is the
// hardware's 128-byte swizzle (wgmma_isa::swizzle_128b: address bits 4-6 ^= bits 7-9) of the
// unswizzled offset 128 r + 16 j. Why: the tensor core reads 8 rows at the same K together; plain
// 128-byte rows would put all 8 in the same 4 banks, the XOR spreads them over all 32.
SEEK_HOST_DEVICE constexpr int swizzled_offset(int row, int chunk) {
    return row * swizzle_bytes + (chunk ^ (row % swizzle_rows)) * chunk_bytes;
}

// ---- descriptors: what the kernel tells the tensor core --------------------------------------------
// PTX ISA "Matrix Descriptor Format": bits 0-13 the start address, 16-29 the leading dimension
// byte offset, 32-45 the stride dimension byte offset, each as (x & 0x3FFFF) >> 4; bits 49-51 the
// base offset (0: the swizzle pattern starts on a 1,024-byte boundary); bits 62-63 the swizzle
// mode, 1 = 128B.
// K-major and swizzled, the leading byte offset is "not used, assumed to be 1" (the K step of one
// instruction, 32 codes, stays inside the 128-byte line); the stride byte offset is "the offset
// from the first 8 rows to the next 8 rows": 8 lines of 128 bytes.
constexpr uint32_t leading_byte_offset_encoded = 1;
constexpr uint32_t stride_byte_offset = swizzle_repeat_bytes;  // 1,024
constexpr uint32_t swizzle_mode_128b = 1;
SEEK_HOST_DEVICE constexpr uint64_t descriptor_encode(uint32_t bytes) { return (bytes & 0x3FFFF) >> 4; }
SEEK_HOST_DEVICE constexpr uint64_t swizzled_descriptor(uint32_t shared_address) {
    return descriptor_encode(shared_address) | (uint64_t{leading_byte_offset_encoded} << 16) |
           (descriptor_encode(stride_byte_offset) << 32) | (uint64_t{swizzle_mode_128b} << 62);
}
// wgmma number ks (0-3) of a K block reads codes 32 ks .. 32 ks + 31 of every row: the same tile,
// its descriptor's start 32 ks bytes further along the line. The hardware swizzles the final
// address (from its bits 7-9, the row within the 1,024-byte pattern), so the step composes with
// the swizzle the copies wrote.
SEEK_HOST_DEVICE constexpr uint32_t k_step_address(uint32_t tile_address, int ks) {
    return tile_address + static_cast<uint32_t>(ks * mma_k);
}

// ---- accumulators: registers -> C ------------------------------------------------------------------
// Accumulator register `i` (0-63) of thread `thread` (0-127) of the warpgroup: its row and column in
// the 64 x 128 tile. Warp w holds rows 16w .. 16w + 15 in mma.sync's m16n8 pattern, repeated
// across N: register 4j + r is row 16w + g + 8 (r / 2), column 8j + 2t + r % 2 (g = lane / 4,
// t = lane % 4).
struct Element {
    int row, column;
};
SEEK_HOST_DEVICE constexpr Element accumulator_element(int thread, int i) {
    return {16 * (thread / 32) + (thread % 32) / 4 + 8 * ((i % 4) / 2), 8 * (i / 4) + 2 * (thread % 4) + i % 2};
}

// ---- variant 5: the Tensor Memory Accelerator writes the same tiles ----------------------------------
// With TMA one thread asks the hardware to copy a whole box of a tensor into shared memory, and the
// copy engine applies the swizzle itself. The host describes each operand once, in a tensor map
// (cuTensorMapEncodeTiled): the codes as a 2-D tensor of bytes, K wide and `rows` tall, whose
// rows lie K bytes apart; a box of 128 bytes (one K block) by `box_rows` rows (64 for A, 128 for
// B); the 128-byte swizzle. Coordinates outside the tensor read as zeros, so tiles at the edges
// need no code of their own. Shapes in the order the driver takes them: innermost first.
struct TensorMapShape {
    uint64_t global_dim[2];        // {K, rows}
    uint64_t row_stride_bytes;     // globalStrides[0]: from one row to the next
    uint32_t box_dim[2];           // {128, box_rows}
    uint32_t swizzle_bytes;        // 128: CU_TENSOR_MAP_SWIZZLE_128B
};
inline TensorMapShape code_tensor_map(uint64_t rows, uint64_t K, uint32_t box_rows) {
    return {{K, rows}, K, {static_cast<uint32_t>(tile_k), box_rows}, static_cast<uint32_t>(swizzle_bytes)};
}

// Why cuTensorMapEncodeTiled would refuse `shape` for codes at `global_address` (its rules in
// cuda.h, for one-byte elements, no interleave): empty when it is acceptable. The host checks this
// before calling the driver, so a refusal names the operand and the rule.
inline std::string tensor_map_problem(const TensorMapShape& shape, uint64_t global_address) {
    if (global_address % 16 != 0) return "the codes' address is not 16-byte aligned";
    for (int d = 0; d < 2; ++d)
        if (shape.global_dim[d] == 0 || shape.global_dim[d] > (uint64_t{1} << 32))
            return "dimension " + std::to_string(d) + " is " + std::to_string(shape.global_dim[d]) + " (1 .. 2^32)";
    if (shape.row_stride_bytes % 16 != 0 || shape.row_stride_bytes >= (uint64_t{1} << 40))
        return "the row stride is " + std::to_string(shape.row_stride_bytes) + " bytes (a multiple of 16, below 2^40)";
    for (int d = 0; d < 2; ++d)
        if (shape.box_dim[d] == 0 || shape.box_dim[d] > 256)
            return "box dimension " + std::to_string(d) + " is " + std::to_string(shape.box_dim[d]) + " (1 .. 256)";
    if (shape.box_dim[0] % 16 != 0) return "the box's inner dimension is not a multiple of 16 bytes";
    if (shape.box_dim[0] > shape.swizzle_bytes)
        return "the box's inner dimension (" + std::to_string(shape.box_dim[0]) + " bytes) exceeds the " +
               std::to_string(shape.swizzle_bytes) + "-byte swizzle";
    return "";
}

}  // namespace wgmma_layout

// ---- the hardware, as the PTX ISA defines it (host only) ------------------------------------------
namespace wgmma_isa {

struct MatrixDescriptor {
    uint32_t start_address;        // bytes
    uint32_t leading_byte_offset;  // bytes
    uint32_t stride_byte_offset;   // bytes
    int base_offset;               // 0-7
    int swizzle_mode;              // 0 none, 1 128B, 2 64B, 3 32B
};
// "Matrix Descriptor Format": each 14-bit field holds its byte value >> 4.
inline MatrixDescriptor decode_descriptor(uint64_t descriptor) {
    auto field = [descriptor](int low_bit, int bits) {
        return static_cast<uint32_t>((descriptor >> low_bit) & ((uint64_t{1} << bits) - 1));
    };
    return {field(0, 14) << 4, field(16, 14) << 4, field(32, 14) << 4, static_cast<int>(field(49, 3)),
            static_cast<int>(field(62, 2))};
}

// The 128-byte swizzle on a shared-memory byte address: CuTe's Swizzle<3,4,3> on bytes, i.e. the
// 16-byte unit (bits 4-6) XOR the 128-byte line within the 1,024-byte pattern (bits 7-9). ("Shared
// Memory Matrix Layout": the 128B swizzle atom is 8 x 8 16-byte units, its pattern starting on a
// 1,024-byte boundary.)
inline uint32_t swizzle_128b(uint32_t address) { return address ^ (((address >> 7) & 7) << 4); }

// The byte the tensor core reads for element (row, k) (row < 64 for A or < N for B, k < 32) of a
// K-major 8-bit operand described by `d`: the canonical layout
//     Swizzle<3,4,3> o ((8,m),(T,2k)):((8T,SBO),(1,T)),   T = 128 / 8 = 16 codes per 16 bytes,
// i.e. unswizzled byte start + (row % 8) 128 + (row / 8) SBO + k (k % 16 inside a unit, k / 16
// units apart), then swizzled. Only what variant 4 uses is modelled: 128B swizzle with base
// offset 0 (anything else throws: the model would be guessing).
inline uint32_t k_major_swizzled_address(const MatrixDescriptor& d, int row, int k) {
    if (d.swizzle_mode != 1) throw std::invalid_argument("wgmma_isa: only the 128B swizzle (mode 1) is modelled, got mode " + std::to_string(d.swizzle_mode));
    if (d.base_offset != 0) throw std::invalid_argument("wgmma_isa: a non-zero base offset is not modelled");
    constexpr int T = 16;
    const uint32_t unswizzled = d.start_address + static_cast<uint32_t>((row % 8) * 8 * T) +
                                static_cast<uint32_t>(row / 8) * d.stride_byte_offset +
                                static_cast<uint32_t>((k % T) * 1 + (k / T) * T);
    return swizzle_128b(unswizzled);
}

// Figure "WGMMA .m64nNk32 register fragment layout for accumulator matrix D" (the same as for
// m64nNk16), as the thread-value layout (CuTe's CLayout_64xN)
//     ((4, 8, 4), (2, 2, N/8)) : ((128, 1, 16), (64, 8, 512))
// from (thread, register) to the column-major index row + 64 column of the 64 x N tile.
struct Position {
    int row, column;
};
inline Position accumulator_element(int thread, int i) {
    const int index = 128 * (thread % 4) + 1 * (thread / 4 % 8) + 16 * (thread / 32) +  //
                      64 * (i % 2) + 8 * (i / 2 % 2) + 512 * (i / 4);
    return {index % 64, index / 64};
}

// A tiled TMA load (cp.async.bulk.tensor.2d, "Tensor Memory Access" in the CUDA C++ Programming
// Guide) of the box at coordinates {k0, row0} into shared memory at `destination`: the box's rows
// one after another, box_dim[0] bytes each, every byte at the 128-byte swizzle of its address
// (the same Swizzle<3,4,3> the tensor core reads through; the guide asks for the destination on
// a 1,024-byte boundary with this swizzle, so the pattern starts where the box does); bytes
// outside the tensor arrive as zeros. Only what variant 5 uses is modelled: bytes, 2-D, the 128B
// swizzle with rows of exactly 128 bytes.
inline void tma_load_2d(std::vector<uint8_t>& shared, uint32_t destination, const std::vector<uint8_t>& global,
                        const wgmma_layout::TensorMapShape& shape, int64_t k0, int64_t row0) {
    if (shape.swizzle_bytes != 128 || shape.box_dim[0] != 128)
        throw std::invalid_argument("wgmma_isa: only 128-byte rows in the 128B swizzle are modelled");
    if (destination % 1024 != 0) throw std::invalid_argument("wgmma_isa: a 128B-swizzled TMA destination is 1,024-byte aligned");
    for (uint32_t r = 0; r < shape.box_dim[1]; ++r)
        for (uint32_t c = 0; c < shape.box_dim[0]; ++c) {
            const int64_t row = row0 + r, k = k0 + c;
            const bool inside = row >= 0 && k >= 0 && static_cast<uint64_t>(row) < shape.global_dim[1] &&
                                static_cast<uint64_t>(k) < shape.global_dim[0];
            const uint32_t address = swizzle_128b(destination + r * shape.box_dim[0] + c);
            if (address >= shared.size()) throw std::out_of_range("wgmma_isa: a TMA box past the end of shared memory");
            shared[address] = inside ? global[static_cast<size_t>(row) * shape.row_stride_bytes + k] : 0;
        }
}

}  // namespace wgmma_isa
}  // namespace seek
