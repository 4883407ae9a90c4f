// fp8_gemm.cu's variant 4 (wgmma.m64n128k32 e4m3, sm_90a) on the CPU: the emulator does not run
// tensor-core instructions and there is no GPU here, so this test runs the kernel's own layout
// functions (gpu/fp8_wgmma_layout.h: the 128B-swizzled offsets its copies write, the matrix
// descriptors it issues, the output it takes each accumulator register to be) against a host
// model of what the PTX ISA says the hardware does with them (seek::wgmma_isa in the same header:
// descriptor decoding, K-major 128B-swizzled addressing, the m64nNk32 accumulator fragment), for a
// whole warpgroup's 64 x 128 tile of C over two 128-wide K blocks with promotion, and compares with
// the plain block-scaled matmul bit for bit (tests/gpu/fp8_block_problem.h: both sides sum a K
// block exactly and round it once, so any wrong byte, row or scale shows as differing bits).
//
// Not modelled: the tensor core's own rounding of its partial sums (the hardware's, ~14 bits kept
// on H800; core's TensorCore accumulation model describes it), the asynchrony (fences, commit and
// wait groups), cp.async itself. This checks where the bytes and sums go; the kernel has still
// never run on a GPU.
//
// Planted errors in each of the kernel's functions (a wrong swizzle XOR, a wrong stride byte
// offset, a wrong K step, the accumulator's row halves swapped) show the check catches them.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <functional>
#include <set>
#include <utility>
#include <vector>

#include "gpu/fp8_wgmma_layout.h"
#include "tests/gpu/fp8_block_problem.h"

namespace layout = seek::wgmma_layout;
namespace isa = seek::wgmma_isa;
using seek::test::e4m3;
using seek::test::promote;

namespace {

// The kernel's functions, or planted wrong ones.
struct KernelLayout {
    int (*swizzled_offset)(int row, int chunk);
    uint64_t (*descriptor)(uint32_t shared_address);
    uint32_t (*k_step_address)(uint32_t tile_address, int ks);
    layout::Element (*accumulator_element)(int thread, int i);
};
const KernelLayout kernel_layout{layout::swizzled_offset, layout::swizzled_descriptor, layout::k_step_address,
                                 layout::accumulator_element};

// Planted: the XOR with the row's position in a group of 4, not 8.
int swizzle_by_row_mod_4(int row, int chunk) { return row * layout::swizzle_bytes + (chunk ^ (row % 4)) * layout::chunk_bytes; }
// Planted: stride byte offset 512 (as if 8 rows were 64-byte lines).
uint64_t descriptor_stride_512(uint32_t shared_address) {
    const uint64_t stride_field = uint64_t{0x3FFF} << 32;
    return (layout::swizzled_descriptor(shared_address) & ~stride_field) | (layout::descriptor_encode(512) << 32);
}
// Planted: each wgmma's start 16 bytes further, not 32 (K counted in halves).
uint32_t k_step_16(uint32_t tile_address, int ks) { return tile_address + static_cast<uint32_t>(16 * ks); }
// Planted: registers r = 0, 1 taken for row g + 8 and r = 2, 3 for row g.
layout::Element accumulator_rows_swapped(int thread, int i) {
    const layout::Element element = layout::accumulator_element(thread, i);
    const int half = (i % 4) / 2;
    return {element.row + (half == 0 ? 8 : -8), element.column};
}

// The simulated shared memory: one stage, A's tile and then B's, both on 1,024-byte boundaries as
// in the kernel (which aligns its dynamic shared memory to 1,024 bytes); everything else holds
// NaN codes (0x7F), so a read outside what the copies wrote poisons the result.
constexpr uint32_t a_tile_address = 3 * 1024;
constexpr uint32_t b_tile_address = a_tile_address + layout::a_tile_bytes;
constexpr uint32_t shared_bytes = b_tile_address + layout::b_tile_bytes + 1024;

// The copies of K block kb of `rows` rows of `codes` into the tile at `tile_address`, as the
// kernel's 128 threads issue them (thread t: copies t, t + 128, ...). Checks that every byte of the
// tile is written exactly once and each copy is 16-byte aligned (cp.async).
void copy_tile(std::vector<uint8_t>& shared, uint32_t tile_address, const std::vector<uint8_t>& codes, int rows, int K,
               int kb, const KernelLayout& kernel) {
    std::vector<int> written(static_cast<size_t>(rows) * layout::swizzle_bytes, 0);
    for (int thread = 0; thread < layout::threads; ++thread)
        for (int index = thread; index < rows * layout::chunks_per_row; index += layout::threads) {
            const layout::CopyChunk chunk = layout::copy_chunk(index);
            const int offset = kernel.swizzled_offset(chunk.row, chunk.chunk);
            REQUIRE(offset % layout::chunk_bytes == 0);
            REQUIRE(offset >= 0);
            REQUIRE(offset + layout::chunk_bytes <= static_cast<int>(written.size()));
            for (int j = 0; j < layout::chunk_bytes; ++j) {
                shared[tile_address + offset + j] =
                    codes[static_cast<size_t>(chunk.row) * K + kb * layout::tile_k + layout::chunk_bytes * chunk.chunk + j];
                ++written[offset + j];
            }
        }
    for (int count : written) REQUIRE(count == 1);
}

// What the tensor core reads for wgmma number ks of an operand of `rows` rows: codes[row][k] for
// k < 32, through the kernel's descriptor decoded and addressed as the PTX ISA says.
std::vector<uint8_t> tensor_core_reads(const std::vector<uint8_t>& shared, uint32_t tile_address, int rows, int ks,
                                       const KernelLayout& kernel) {
    const isa::MatrixDescriptor descriptor = isa::decode_descriptor(kernel.descriptor(kernel.k_step_address(tile_address, ks)));
    std::vector<uint8_t> codes(static_cast<size_t>(rows) * layout::mma_k);
    for (int row = 0; row < rows; ++row)
        for (int k = 0; k < layout::mma_k; ++k) {
            const uint32_t address = isa::k_major_swizzled_address(descriptor, row, k);
            REQUIRE(address < shared.size());
            codes[row * layout::mma_k + k] = shared[address];
        }
    return codes;
}

// The warpgroup's 64 x 128 outputs as the kernel computes them with `kernel`'s layout, the tensor
// core replaced by the ISA model. Outputs no register lands on stay NaN.
// How K block kb's tiles get into shared memory: variant 4's copies, or variant 5's TMA boxes.
using TileLoader = std::function<void(std::vector<uint8_t>& shared, int kb)>;
TileLoader copies_of(const seek::test::Fp8BlockProblem& problem, const KernelLayout& kernel) {
    return [&problem, kernel](std::vector<uint8_t>& shared, int kb) {
        copy_tile(shared, a_tile_address, problem.a, layout::tile_m, problem.K, kb, kernel);
        copy_tile(shared, b_tile_address, problem.b, layout::tile_n, problem.K, kb, kernel);
    };
}

std::vector<float> simulated_tile(const seek::test::Fp8BlockProblem& problem, const KernelLayout& kernel,
                                  const TileLoader& load) {
    constexpr int registers = layout::tile_m * layout::tile_n / layout::threads;  // 64 per thread
    const int blocks = problem.K / layout::tile_k;
    std::vector<float> accumulator(layout::threads * registers, 0.0f);  // [thread][register]
    for (int kb = 0; kb < blocks; ++kb) {
        std::vector<uint8_t> shared(shared_bytes, 0x7F);
        load(shared, kb);
        // The hardware: 4 wgmmas, the first from zero (scale-d = 0), the rest accumulating; the
        // sums exact (see fp8_block_problem.h), into the registers the ISA's fragment names.
        std::vector<double> partial(accumulator.size(), 0.0);
        for (int ks = 0; ks < layout::k_steps; ++ks) {
            const std::vector<uint8_t> a = tensor_core_reads(shared, a_tile_address, layout::tile_m, ks, kernel);
            const std::vector<uint8_t> b = tensor_core_reads(shared, b_tile_address, layout::tile_n, ks, kernel);
            for (int thread = 0; thread < layout::threads; ++thread)
                for (int i = 0; i < registers; ++i) {
                    const isa::Position d = isa::accumulator_element(thread, i);
                    double sum = 0.0;
                    for (int k = 0; k < layout::mma_k; ++k)
                        sum += e4m3(a[d.row * layout::mma_k + k]) * e4m3(b[d.column * layout::mma_k + k]);
                    partial[thread * registers + i] += sum;
                }
        }
        // The kernel's promotion: the scale of the row it takes the register to hold.
        for (int thread = 0; thread < layout::threads; ++thread)
            for (int i = 0; i < registers; ++i) {
                const layout::Element element = kernel.accumulator_element(thread, i);
                REQUIRE(element.row >= 0);
                REQUIRE(element.row < layout::tile_m);
                float& value = accumulator[thread * registers + i];
                value = promote(value, static_cast<float>(partial[thread * registers + i]),
                                problem.a_scales[element.row * blocks + kb], problem.b_scales[kb]);
            }
    }
    // The kernel's store.
    std::vector<float> c(layout::tile_m * layout::tile_n, std::nanf(""));
    std::vector<int> stored(c.size(), 0);
    for (int thread = 0; thread < layout::threads; ++thread)
        for (int i = 0; i < registers; ++i) {
            const layout::Element element = kernel.accumulator_element(thread, i);
            REQUIRE(element.column >= 0);
            REQUIRE(element.column < layout::tile_n);
            const int index = element.row * layout::tile_n + element.column;
            c[index] = accumulator[thread * registers + i];
            ++stored[index];
        }
    for (int count : stored) REQUIRE(count == 1);
    return c;
}
std::vector<float> simulated_tile(const seek::test::Fp8BlockProblem& problem, const KernelLayout& kernel) {
    return simulated_tile(problem, kernel, copies_of(problem, kernel));
}

// Variant 5's loads, through the host model of TMA: the issuing thread's two boxes per K block,
// from tensor maps the host would build for a [rows_a, K] A and a [rows_b, K] B (the codes given
// here, which may have fewer rows or a shorter K than the tile: the rest is outside the tensor).
struct TmaLoads {
    std::vector<uint8_t> a, b;  // the tensors in global memory
    layout::TensorMapShape a_map, b_map;
    bool coordinates_swapped = false;  // planted: {row, k} where the copy takes {k, row}
};
TileLoader tma_loads_of(const TmaLoads& tma) {
    return [&tma](std::vector<uint8_t>& shared, int kb) {
        const int64_t k0 = int64_t{kb} * layout::tile_k;
        if (tma.coordinates_swapped) {
            isa::tma_load_2d(shared, a_tile_address, tma.a, tma.a_map, 0, k0);
            isa::tma_load_2d(shared, b_tile_address, tma.b, tma.b_map, 0, k0);
        } else {
            isa::tma_load_2d(shared, a_tile_address, tma.a, tma.a_map, k0, 0);
            isa::tma_load_2d(shared, b_tile_address, tma.b, tma.b_map, k0, 0);
        }
    };
}

// The first `rows` rows and `K` columns of a [.., problem_K] matrix of codes.
std::vector<uint8_t> top_left(const std::vector<uint8_t>& codes, int problem_K, int rows, int K) {
    std::vector<uint8_t> part;
    for (int row = 0; row < rows; ++row)
        part.insert(part.end(), codes.begin() + static_cast<ptrdiff_t>(row) * problem_K,
                    codes.begin() + static_cast<ptrdiff_t>(row) * problem_K + K);
    return part;
}

}  // namespace

TEST_CASE("fp8 wgmma layout: the ISA model's accumulator fragment covers the 64 x 128 tile once",
          "[gpu][fp8_gemm][wgmma_layout]") {
    // A check of the model as written: 128 threads x 64 registers, every (row, column) once, and
    // hand-read points of the ISA's figure (thread 0: d0, d1 = (0, 0), (0, 1); d2 = (8, 0);
    // d4 = (0, 8); thread 5 = lane (g 1, t 1): d0 = (1, 2); thread 32 = warp 1: d0 = (16, 0)).
    std::vector<int> seen(layout::tile_m * layout::tile_n, 0);
    for (int thread = 0; thread < layout::threads; ++thread)
        for (int i = 0; i < 64; ++i) {
            const isa::Position p = isa::accumulator_element(thread, i);
            REQUIRE(p.row >= 0);
            REQUIRE(p.row < layout::tile_m);
            REQUIRE(p.column >= 0);
            REQUIRE(p.column < layout::tile_n);
            ++seen[p.row * layout::tile_n + p.column];
        }
    for (int count : seen) REQUIRE(count == 1);
    auto at = [](int thread, int i) {
        const isa::Position p = isa::accumulator_element(thread, i);
        return std::make_pair(p.row, p.column);
    };
    CHECK(at(0, 0) == std::make_pair(0, 0));
    CHECK(at(0, 1) == std::make_pair(0, 1));
    CHECK(at(0, 2) == std::make_pair(8, 0));
    CHECK(at(0, 4) == std::make_pair(0, 8));
    CHECK(at(5, 0) == std::make_pair(1, 2));
    CHECK(at(32, 0) == std::make_pair(16, 0));
    CHECK(at(127, 63) == std::make_pair(63, 127));
}

TEST_CASE("fp8 wgmma layout: the kernel's descriptor decodes to the 128B-swizzled K-major layout it wrote",
          "[gpu][fp8_gemm][wgmma_layout]") {
    // Hand-packed: start 0x400 >> 4 = 0x40 (bits 0-13), leading byte offset 1 (bits 16-29),
    // stride 1,024 >> 4 = 0x40 (bits 32-45), base offset 0, swizzle mode 1 (bits 62-63).
    CHECK(layout::swizzled_descriptor(0x400) == 0x4000004000010040ull);
    const isa::MatrixDescriptor d = isa::decode_descriptor(layout::swizzled_descriptor(a_tile_address + 64));
    CHECK(d.start_address == a_tile_address + 64);
    CHECK(d.leading_byte_offset == 16);  // "not used, assumed to be 1" (encoded)
    CHECK(d.stride_byte_offset == 1024);
    CHECK(d.base_offset == 0);
    CHECK(d.swizzle_mode == 1);
    // On a 1,024-byte aligned tile the kernel's swizzled offset of (row, chunk) is the hardware's
    // swizzle of the plain row-major offset.
    for (int row = 0; row < layout::tile_n; ++row)
        for (int chunk = 0; chunk < layout::chunks_per_row; ++chunk)
            REQUIRE(b_tile_address + layout::swizzled_offset(row, chunk) ==
                    isa::swizzle_128b(b_tile_address + row * layout::swizzle_bytes + chunk * layout::chunk_bytes));
}

TEST_CASE("fp8 wgmma layout: variant 4's writes, descriptors and accumulators through the PTX ISA's layouts are a "
          "plain block-scaled matmul, bit for bit",
          "[gpu][fp8_gemm][wgmma_layout]") {
    for (uint32_t seed : {1u, 2u}) {
        // Two K blocks: promotion twice.
        const auto problem = seek::test::random_fp8_block_problem(layout::tile_m, layout::tile_n, 2 * layout::tile_k, seed);
        const std::vector<float> expected = seek::test::plain_block_matmul(problem);
        INFO("seed " << seed);
        CHECK(seek::test::differing_outputs(simulated_tile(problem, kernel_layout), expected) == 0);
    }
}

TEST_CASE("fp8 wgmma layout: a planted wrong swizzle, stride, K step or accumulator row is caught",
          "[gpu][fp8_gemm][wgmma_layout]") {
    const auto problem = seek::test::random_fp8_block_problem(layout::tile_m, layout::tile_n, layout::tile_k, 3);
    const std::vector<float> expected = seek::test::plain_block_matmul(problem);
    KernelLayout planted = kernel_layout;
    planted.swizzled_offset = swizzle_by_row_mod_4;
    CHECK(seek::test::differing_outputs(simulated_tile(problem, planted), expected) > 1000);
    planted = kernel_layout;
    planted.descriptor = descriptor_stride_512;
    CHECK(seek::test::differing_outputs(simulated_tile(problem, planted), expected) > 1000);
    planted = kernel_layout;
    planted.k_step_address = k_step_16;
    CHECK(seek::test::differing_outputs(simulated_tile(problem, planted), expected) > 1000);
    planted = kernel_layout;
    planted.accumulator_element = accumulator_rows_swapped;
    CHECK(seek::test::differing_outputs(simulated_tile(problem, planted), expected) > 1000);
}

TEST_CASE("fp8 wgmma layout: the tensor core's reads of 8 rows at one 16-byte K chunk hit all 32 banks",
          "[gpu][fp8_gemm][wgmma_layout]") {
    // What the swizzle is for: without it the 8 rows of a core matrix, 128 bytes apart, would sit
    // in the same 4 banks. Here each 8-row group's 16-byte slices at the same K land in 8 different
    // 16-byte bank groups, through the kernel's descriptors and the ISA's addressing.
    const std::pair<uint32_t, int> tiles[] = {{a_tile_address, layout::tile_m}, {b_tile_address, layout::tile_n}};
    for (const auto& [tile, rows] : tiles)
        for (int ks = 0; ks < layout::k_steps; ++ks) {
            const isa::MatrixDescriptor d =
                isa::decode_descriptor(layout::swizzled_descriptor(layout::k_step_address(tile, ks)));
            for (int group = 0; group < rows / 8; ++group)
                for (int k_chunk = 0; k_chunk < layout::mma_k / 16; ++k_chunk) {
                    std::set<uint32_t> banks;
                    for (int row = 8 * group; row < 8 * group + 8; ++row)
                        for (int k = 16 * k_chunk; k < 16 * k_chunk + 16; k += 4)
                            banks.insert(isa::k_major_swizzled_address(d, row, k) / 4 % 32);
                    CHECK(banks.size() == 32);
                }
        }
}

TEST_CASE("fp8 wgmma layout: variant 5's TMA boxes land where variant 4's copies write",
          "[gpu][fp8_gemm][wgmma_layout]") {
    // TMA's 128B swizzle (host model) of the kernel's boxes, on the 1,024-byte aligned stage, puts
    // every byte where variant 4's swizzled_offset does: the descriptors then read the same tile.
    const int K = 2 * layout::tile_k;
    std::vector<uint8_t> codes(static_cast<size_t>(layout::tile_n) * K);
    for (size_t i = 0; i < codes.size(); ++i) codes[i] = static_cast<uint8_t>(i * 7 + i / 256);
    for (int kb = 0; kb < 2; ++kb) {
        std::vector<uint8_t> by_tma(shared_bytes, 0x7F), by_copies(shared_bytes, 0x7F);
        isa::tma_load_2d(by_tma, b_tile_address, codes, layout::code_tensor_map(layout::tile_n, K, layout::tile_n),
                         int64_t{kb} * layout::tile_k, 0);
        copy_tile(by_copies, b_tile_address, codes, layout::tile_n, K, kb, kernel_layout);
        CHECK(by_tma == by_copies);
    }
}

TEST_CASE("fp8 wgmma layout: variant 5 (TMA loads) through the PTX ISA's layouts is a plain block-scaled matmul, "
          "edges included",
          "[gpu][fp8_gemm][wgmma_layout]") {
    const int K = 2 * layout::tile_k;
    // Whole tiles; then a tile at the edges: A's tensor has 40 rows, B's 100, K is 192 (the second
    // K block half outside). Outside the tensors TMA reads zeros, so the tile must equal the plain
    // matmul of the problem with those rows and columns zeroed.
    struct Edge {
        int rows_a, rows_b, k;
    };
    for (const Edge edge : {Edge{layout::tile_m, layout::tile_n, K}, Edge{40, 100, 192}}) {
        auto problem = seek::test::random_fp8_block_problem(layout::tile_m, layout::tile_n, K, 5);
        TmaLoads tma{top_left(problem.a, K, edge.rows_a, edge.k), top_left(problem.b, K, edge.rows_b, edge.k),
                     layout::code_tensor_map(edge.rows_a, edge.k, layout::tile_m),
                     layout::code_tensor_map(edge.rows_b, edge.k, layout::tile_n)};
        for (int row = 0; row < layout::tile_m; ++row)
            for (int k = 0; k < K; ++k)
                if (row >= edge.rows_a || k >= edge.k) problem.a[row * K + k] = 0;  // E4M3 +0
        for (int row = 0; row < layout::tile_n; ++row)
            for (int k = 0; k < K; ++k)
                if (row >= edge.rows_b || k >= edge.k) problem.b[row * K + k] = 0;
        const std::vector<float> expected = seek::test::plain_block_matmul(problem);
        INFO("A " << edge.rows_a << " rows, B " << edge.rows_b << " rows, K " << edge.k);
        CHECK(seek::test::differing_outputs(simulated_tile(problem, kernel_layout, tma_loads_of(tma)), expected) == 0);
        // Planted: the copy's coordinates in the wrong order ({row, k}).
        tma.coordinates_swapped = true;
        CHECK(seek::test::differing_outputs(simulated_tile(problem, kernel_layout, tma_loads_of(tma)), expected) > 1000);
    }
}

TEST_CASE("fp8 wgmma layout: variant 5's tensor maps obey cuTensorMapEncodeTiled's rules", "[gpu][fp8_gemm][wgmma_layout]") {
    // DeepSeek-V3's shapes: activations [4096, 7168], 256 experts' gate_proj stacked [256 * 2048, 7168].
    CHECK(layout::tensor_map_problem(layout::code_tensor_map(4096, 7168, layout::tile_m), 0x7f0000000000) == "");
    CHECK(layout::tensor_map_problem(layout::code_tensor_map(256 * 2048, 7168, layout::tile_n), 0x7f0000000000) == "");
    const layout::TensorMapShape v3 = layout::code_tensor_map(4096, 7168, layout::tile_m);
    CHECK(v3.global_dim[0] == 7168);  // innermost first
    CHECK(v3.global_dim[1] == 4096);
    CHECK(v3.row_stride_bytes == 7168);
    CHECK(v3.box_dim[0] == 128);
    CHECK(v3.box_dim[1] == 64);
    // What the driver would refuse, said before calling it.
    using Catch::Matchers::Contains;
    CHECK_THAT(layout::tensor_map_problem(layout::code_tensor_map(64, 200, 64), 0), Contains("row stride"));
    CHECK_THAT(layout::tensor_map_problem(layout::code_tensor_map(0, 128, 64), 0), Contains("dimension 1"));
    CHECK_THAT(layout::tensor_map_problem(layout::code_tensor_map(64, 128, 64), 8), Contains("16-byte aligned"));
    CHECK_THAT(layout::tensor_map_problem(layout::code_tensor_map(64, 128, 512), 0), Contains("box dimension 1"));
    layout::TensorMapShape wide = layout::code_tensor_map(64, 512, 64);
    wide.box_dim[0] = 256;  // two K blocks in one box: wider than the swizzle
    CHECK_THAT(layout::tensor_map_problem(wide, 0), Contains("exceeds the 128-byte swizzle"));
    layout::TensorMapShape tall = layout::code_tensor_map(64, 128, 64);
    tall.global_dim[1] = (uint64_t{1} << 32) + 1;
    CHECK_THAT(layout::tensor_map_problem(tall, 0), Contains("dimension 1"));
}
