// fp8_gemm.cu's variant 3 (mma.sync.m16n8k32 e4m3, sm_89+) on the CPU, without the emulator (which
// runs the whole kernel on its own model of the instruction: test_fp8_gemm_gpu.cpp): this test runs
// the kernel's own index functions
// (gpu/fp8_mma_layout.h: which shared-memory bytes each lane loads into which register, and which
// output each accumulator register is) through a host model of the instruction as the PTX ISA
// defines it ("Matrix Fragments for mma.m16n8k32", 8-bit A and B, FP32 C/D), for a whole block's
// 128 x 128 tile of C over two 128-wide K blocks with promotion, and compares with a plain
// block-scaled matmul.
//
// Exactness (tests/gpu/fp8_block_problem.h): both sides sum a K block exactly in double and round
// it to float once, then promote with the same float operations, so any difference in which codes
// meet which is a difference in bits (the test asks for none). The tensor core's own rounding of
// its partial sums is not modelled (it is the hardware's, ~14 bits kept on H800): this checks where
// the bytes and sums go, not the hardware's arithmetic.
//
// A planted wrong index in each of the three index functions shows the check catches it.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <set>
#include <vector>

#include "gpu/fp8_mma_layout.h"
#include "gpu/mma_isa.h"
#include "tests/gpu/fp8_block_problem.h"

namespace layout = seek::mma_layout;
using seek::test::e4m3;
using seek::test::promote;

namespace {

// ---- the PTX ISA's fragment layout of mma.m16n8k32 (.e4m3 A and B, .f32 C and D) -------------------
// gpu/mma_isa.h, written from the ISA's tables independently of fp8_mma_layout.h.
using seek::mma_isa::Position;
namespace ptx = seek::mma_isa;

// One warp's registers for one instruction.
struct WarpFragments {
    uint32_t a[32][4];
    uint32_t b[32][2];
};

// The model of the instruction: D = A B (C = 0), exact, handed back in the lanes' c registers.
// Also checks that the registers cover every element of A and B exactly once (the layout read
// right).
void model_mma(const WarpFragments& fragments, double (&d)[32][4]) {
    double a[16][32], b[32][8];
    int a_seen[16][32] = {}, b_seen[32][8] = {};
    for (int lane = 0; lane < 32; ++lane) {
        for (int i = 0; i < 16; ++i) {
            const Position p = ptx::a_element(lane, i);
            a[p.row][p.col] = e4m3(static_cast<uint8_t>(fragments.a[lane][i / 4] >> (8 * (i % 4))));
            ++a_seen[p.row][p.col];
        }
        for (int i = 0; i < 8; ++i) {
            const Position p = ptx::b_element(lane, i);
            b[p.row][p.col] = e4m3(static_cast<uint8_t>(fragments.b[lane][i / 4] >> (8 * (i % 4))));
            ++b_seen[p.row][p.col];
        }
    }
    for (int r = 0; r < 16; ++r)
        for (int k = 0; k < 32; ++k) REQUIRE(a_seen[r][k] == 1);
    for (int k = 0; k < 32; ++k)
        for (int n = 0; n < 8; ++n) REQUIRE(b_seen[k][n] == 1);
    for (int lane = 0; lane < 32; ++lane)
        for (int i = 0; i < 4; ++i) {
            const Position p = ptx::c_element(lane, i);
            double sum = 0.0;
            for (int k = 0; k < 32; ++k) sum += a[p.row][k] * b[k][p.col];
            d[lane][i] = sum;
        }
}

// ---- the kernel's indexing, and planted wrong ones ------------------------------------------------
struct Indexing {
    int (*a_offset)(int warp, int mi, int ks, int lane, int reg);
    int (*b_offset)(int warp, int ni, int ks, int lane, int reg);
    layout::Element (*c_element)(int warp, int mi, int ni, int lane, int i);
};
const Indexing kernel_indexing{layout::a_fragment_offset, layout::b_fragment_offset, layout::c_fragment_element};

// Planted: registers 1 and 2 swapped (rows g + 8 read where the ISA wants columns 16 ..).
int a_offset_registers_swapped(int warp, int mi, int ks, int lane, int reg) {
    const int g = lane / 4, t = lane % 4;
    const int row = layout::warp_row0(warp) + mi * layout::mma_m + g + 8 * (reg / 2);
    const int column = ks * layout::mma_k + 4 * t + 16 * (reg % 2);
    return layout::tile_offset(row, column);
}
// Planted: B's second register 8 codes further along K instead of 16.
int b_offset_short_step(int warp, int ni, int ks, int lane, int reg) {
    const int g = lane / 4, t = lane % 4;
    return layout::tile_offset(layout::warp_col0(warp) + ni * layout::mma_n + g, ks * layout::mma_k + 4 * t + 8 * reg);
}
// Planted: C's row and column pair read as if c1 were row g + 8 (i % 2 and i / 2 swapped).
layout::Element c_element_transposed_pair(int warp, int mi, int ni, int lane, int i) {
    const int g = lane / 4, t = lane % 4;
    return {layout::warp_row0(warp) + mi * layout::mma_m + g + 8 * (i % 2),
            layout::warp_col0(warp) + ni * layout::mma_n + 2 * t + i / 2};
}

// ---- one block of the kernel, simulated ----------------------------------------------------------
// The block's rows: 128 of A and 128 of B, K a multiple of 128.
using Problem = seek::test::Fp8BlockProblem;
Problem random_problem(int K, uint32_t seed) {
    return seek::test::random_fp8_block_problem(layout::tile_m, layout::tile_n, K, seed);
}

// The copy of K block kb into a stage's tile as the kernel's threads do it (copy_chunk: 256 threads,
// 4 chunks of 16 bytes each); the padding keeps NaN codes (0x7F), so a fragment read from it
// poisons the result. Checks that the chunks cover the tile's bytes exactly once.
std::vector<uint8_t> load_tile(const std::vector<uint8_t>& codes, int K, int kb) {
    std::vector<uint8_t> tile(layout::tile_m * layout::row_bytes, 0x7F);
    std::vector<int> written(tile.size(), 0);
    for (int thread = 0; thread < layout::threads; ++thread)
        for (int i = 0; i < layout::chunks_per_thread; ++i) {
            const layout::Chunk chunk = layout::copy_chunk(thread, i);
            const int offset = layout::tile_offset(chunk.row, chunk.column);
            REQUIRE(offset % 16 == 0);  // cp.async's 16-byte destination alignment
            for (int j = 0; j < layout::chunk_bytes; ++j) {
                tile[offset + j] = codes[chunk.row * K + kb * layout::tile_k + chunk.column + j];
                ++written[offset + j];
            }
        }
    for (int row = 0; row < layout::tile_m; ++row)
        for (int column = 0; column < layout::row_bytes; ++column)
            REQUIRE(written[layout::tile_offset(row, column)] == (column < layout::tile_k ? 1 : 0));
    return tile;
}

uint32_t load_word(const std::vector<uint8_t>& tile, int offset) {
    REQUIRE(offset >= 0);
    REQUIRE(offset + 4 <= static_cast<int>(tile.size()));
    uint32_t word;
    std::memcpy(&word, &tile[offset], 4);  // little-endian, as the GPU's 32-bit shared-memory load
    return word;
}

// The block's 128 x 128 outputs as the kernel computes them with `indexing`, the tensor core
// replaced by model_mma. Outputs no register lands on stay NaN.
std::vector<float> simulated_block(const Problem& problem, const Indexing& indexing) {
    const int blocks = problem.K / layout::tile_k;
    const int warps = layout::threads / 32;
    std::vector<float> c(layout::tile_m * layout::tile_n, std::nanf(""));
    // accumulator[warp][mi][ni][lane][i]
    std::vector<float> accumulator(warps * layout::mmas_m * layout::mmas_n * 32 * 4, 0.0f);
    auto at = [](int warp, int mi, int ni, int lane, int i) {
        return (((warp * layout::mmas_m + mi) * layout::mmas_n + ni) * 32 + lane) * 4 + i;
    };
    for (int kb = 0; kb < blocks; ++kb) {
        const std::vector<uint8_t> a_tile = load_tile(problem.a, problem.K, kb);
        const std::vector<uint8_t> b_tile = load_tile(problem.b, problem.K, kb);
        for (int warp = 0; warp < warps; ++warp)
            for (int mi = 0; mi < layout::mmas_m; ++mi)
                for (int ni = 0; ni < layout::mmas_n; ++ni) {
                    double partial[32][4] = {};
                    for (int ks = 0; ks < layout::k_steps; ++ks) {
                        WarpFragments fragments;
                        for (int lane = 0; lane < 32; ++lane) {
                            for (int reg = 0; reg < 4; ++reg)
                                fragments.a[lane][reg] = load_word(a_tile, indexing.a_offset(warp, mi, ks, lane, reg));
                            for (int reg = 0; reg < 2; ++reg)
                                fragments.b[lane][reg] = load_word(b_tile, indexing.b_offset(warp, ni, ks, lane, reg));
                        }
                        double d[32][4];
                        model_mma(fragments, d);
                        for (int lane = 0; lane < 32; ++lane)
                            for (int i = 0; i < 4; ++i) partial[lane][i] += d[lane][i];  // exact (see top)
                    }
                    for (int lane = 0; lane < 32; ++lane)
                        for (int i = 0; i < 4; ++i) {
                            const layout::Element element = indexing.c_element(warp, mi, ni, lane, i);
                            float& value = accumulator[at(warp, mi, ni, lane, i)];
                            value = promote(value, static_cast<float>(partial[lane][i]),
                                            problem.a_scales[element.row * blocks + kb], problem.b_scales[kb]);
                        }
                }
    }
    std::vector<int> stored(c.size(), 0);
    for (int warp = 0; warp < warps; ++warp)
        for (int mi = 0; mi < layout::mmas_m; ++mi)
            for (int ni = 0; ni < layout::mmas_n; ++ni)
                for (int lane = 0; lane < 32; ++lane)
                    for (int i = 0; i < 4; ++i) {
                        const layout::Element element = indexing.c_element(warp, mi, ni, lane, i);
                        REQUIRE(element.row >= 0);
                        REQUIRE(element.row < layout::tile_m);
                        REQUIRE(element.column >= 0);
                        REQUIRE(element.column < layout::tile_n);
                        const int index = element.row * layout::tile_n + element.column;
                        c[index] = accumulator[at(warp, mi, ni, lane, i)];
                        ++stored[index];
                    }
    for (int count : stored) REQUIRE(count == 1);
    return c;
}

}  // namespace

TEST_CASE("fp8 mma layout: variant 3's fragment indexing through the PTX ISA's m16n8k32 layout is a plain "
          "block-scaled matmul, bit for bit",
          "[gpu][fp8_gemm][mma_layout]") {
    for (uint32_t seed : {1u, 2u}) {
        const Problem problem = random_problem(2 * layout::tile_k, seed);  // two K blocks: promotion twice
        const std::vector<float> expected = seek::test::plain_block_matmul(problem);
        INFO("seed " << seed);
        CHECK(seek::test::differing_outputs(simulated_block(problem, kernel_indexing), expected) == 0);
    }
}

TEST_CASE("fp8 mma layout: a planted wrong index in A, B or C is caught", "[gpu][fp8_gemm][mma_layout]") {
    const Problem problem = random_problem(layout::tile_k, 3);
    const std::vector<float> expected = seek::test::plain_block_matmul(problem);
    Indexing planted = kernel_indexing;
    planted.a_offset = a_offset_registers_swapped;
    CHECK(seek::test::differing_outputs(simulated_block(problem, planted), expected) > 1000);
    planted = kernel_indexing;
    planted.b_offset = b_offset_short_step;
    CHECK(seek::test::differing_outputs(simulated_block(problem, planted), expected) > 1000);
    planted = kernel_indexing;
    planted.c_element = c_element_transposed_pair;
    CHECK(seek::test::differing_outputs(simulated_block(problem, planted), expected) > 1000);
}

TEST_CASE("fp8 mma layout: a warp's fragment loads hit 32 different shared-memory banks (the 144-byte rows)",
          "[gpu][fp8_gemm][mma_layout]") {
    for (int warp = 0; warp < layout::threads / 32; ++warp)
        for (int tile = 0; tile < 4; ++tile)
            for (int ks = 0; ks < layout::k_steps; ++ks) {
                for (int reg = 0; reg < 4; ++reg) {
                    std::set<int> banks;
                    for (int lane = 0; lane < 32; ++lane) banks.insert(layout::a_fragment_offset(warp, tile, ks, lane, reg) / 4 % 32);
                    CHECK(banks.size() == 32);
                }
                for (int reg = 0; reg < 2; ++reg) {
                    std::set<int> banks;
                    for (int lane = 0; lane < 32; ++lane) banks.insert(layout::b_fragment_offset(warp, tile, ks, lane, reg) / 4 % 32);
                    CHECK(banks.size() == 32);
                }
            }
}
