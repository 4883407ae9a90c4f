// The thread-block emulator (gpu/emulator/) on the small kernels of demo_kernels.cu: that correct
// kernels give exact results for every seed, that planted bugs show, that misuse is reported.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/random.h"
#include "gpu/emulator/runtime_api.h"
#include "tests/gpu/demo_kernels.h"

using seek::demo::Bug;
using Catch::Matchers::Contains;

namespace {

const uint64_t seeds[] = {1, 2, 3, 4, 5, 6, 7, 8};

// 1, 2, ..., 13, 1, 2, ...: integers, so every float sum below is exact whatever the order.
std::vector<float> small_integers(int n) {
    std::vector<float> x(n);
    for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i % 13 + 1);
    return x;
}

std::vector<float> sums_per_block(const std::vector<float>& x, int threads) {
    std::vector<float> sums((x.size() + threads - 1) / threads, 0.0f);
    for (size_t i = 0; i < x.size(); ++i) sums[i / threads] += x[i];
    return sums;
}

uint32_t bits(float value) {
    uint32_t b;
    std::memcpy(&b, &value, 4);
    return b;
}

}  // namespace

TEST_CASE("emulator: a block sum in shared memory is exact for every seed", "[emulator]") {
    const std::vector<float> x = small_integers(1000);  // 4 blocks of 256, the last one partial
    for (uint64_t seed : seeds) {
        seek::emu::set_seed(seed);
        CHECK(seek::emu::block_sums(x, 256, Bug::none) == sums_per_block(x, 256));
        CHECK(seek::emu::block_sums(x, 32, Bug::none) == sums_per_block(x, 32));
    }
}

// Without the barrier after `partial[tid] = x[i]`, thread k < 128 adds partial[k + 128] in the
// tree's first step whether or not thread k + 128 has stored its value yet. The emulator runs the
// threads of a block in a uniformly random order up to their first barrier, so each of the 128
// disjoint pairs (k, k + 128) is in the right order with probability 1/2, independently: the sum
// is right with probability 2^-128. A launch starts with __shared__ arrays at zero, so with one
// block, every pair out of order drops a positive term: the sum comes out strictly smaller.
TEST_CASE("emulator: a missing __syncthreads gives a wrong block sum", "[emulator]") {
    const std::vector<float> x = small_integers(256);
    const float expected = sums_per_block(x, 256)[0];
    for (uint64_t seed : seeds) {
        seek::emu::set_seed(seed);
        INFO("seed " << seed);
        CHECK(seek::emu::block_sums(x, 256, Bug::none)[0] == expected);
        CHECK(seek::emu::block_sums(x, 256, Bug::missing_barrier)[0] < expected);
    }
}

// Blocks after the first read what the previous block left in shared memory: still wrong, and
// the same bytes for the same seed.
TEST_CASE("emulator: a missing __syncthreads gives the same wrong bytes for the same seed", "[emulator]") {
    const std::vector<float> x = small_integers(1024);
    const std::vector<float> expected = sums_per_block(x, 256);
    for (uint64_t seed : seeds) {
        seek::emu::set_seed(seed);
        INFO("seed " << seed);
        const std::vector<float> sums = seek::emu::block_sums(x, 256, Bug::missing_barrier);
        CHECK(sums != expected);
        CHECK(seek::emu::block_sums(x, 256, Bug::missing_barrier) == sums);
        CHECK(seek::emu::block_sums(x, 256, Bug::none) == expected);
        CHECK(seek::emu::block_sums(x, 256, Bug::missing_barrier) == sums);
    }
}

// The tile of block b holds inputs b*T .. b*T + T; the planted bug loads only T of them, so the
// last thread of each full tile reads tile[T], which nothing wrote. Dynamic shared memory starts
// every block filled with 0xFF bytes, a NaN, so that difference is NaN (on a GPU it would be
// whatever an earlier block left there). The last, partial tile needs no neighbour.
TEST_CASE("emulator: a tile one element short shows at each tile's edge", "[emulator]") {
    const int n = 1000, threads = 128;
    std::vector<float> x(n);
    for (int i = 0; i < n; ++i) x[i] = static_cast<float>(i * i % 17);
    std::vector<float> expected(n - 1);
    for (int i = 0; i < n - 1; ++i) expected[i] = x[i + 1] - x[i];
    seek::emu::set_seed(1);
    CHECK(seek::emu::differences(x, threads, Bug::none) == expected);

    const std::vector<float> buggy = seek::emu::differences(x, threads, Bug::off_by_one);
    for (int i = 0; i < n - 1; ++i) {
        INFO("i = " << i);
        const bool tile_edge = i % threads == threads - 1;  // 127, 255, ..., 895
        if (tile_edge) {
            CHECK(std::isnan(buggy[i]));
        } else {
            CHECK(buggy[i] == expected[i]);
        }
    }
}

TEST_CASE("emulator: a write past the end of an allocation is an error", "[emulator]") {
    const std::vector<float> out = seek::emu::fill_index(1000, 0.5f, Bug::none);
    CHECK(out[999] == 499.5f);
    CHECK_THROWS_WITH(seek::emu::fill_index(1000, 0.5f, Bug::writes_past_end),
                      Contains("fill_index_kernel wrote past the end of a cudaMalloc allocation of 4000 bytes") &&
                          Contains("byte 4000 changed"));
}

TEST_CASE("emulator: a barrier some threads never reach is an error", "[emulator]") {
    CHECK_NOTHROW(seek::emu::barrier_after_early_exit(64, 64));
    CHECK_THROWS_AS(seek::emu::barrier_after_early_exit(64, 40), seek::emu::Error);
    CHECK_THROWS_WITH(seek::emu::barrier_after_early_exit(64, 40),
                      Contains("kernel early_exit_barrier_kernel<<<(1,1,1), (64,1,1), 0>>>, block (0,0,0)") &&
                          Contains("24 threads exited before it: (40,0,0)") && Contains("40 wait there: ") &&
                          Contains("demo_kernels.cu:"));
}

TEST_CASE("emulator: threads waiting at different barriers is an error", "[emulator]") {
    CHECK_THROWS_WITH(seek::emu::divergent_barriers(64),
                      Contains("divergent_barrier_kernel") && Contains("wait at different __syncthreads()") &&
                          Contains("32 at ") && Contains("(1,0,0) (3,0,0)") && Contains("(0,0,0) (2,0,0)"));
}

TEST_CASE("emulator: __syncthreads_count, _and and _or", "[emulator]") {
    std::vector<int> flags(96, 0);
    for (int t = 0; t < 96; t += 5) flags[t] = 1;  // 20 of them
    CHECK(seek::emu::barrier_votes(flags) == std::vector<int>{20, 0, 1});
    CHECK(seek::emu::barrier_votes(std::vector<int>(96, 1)) == std::vector<int>{96, 1, 1});
    CHECK(seek::emu::barrier_votes(std::vector<int>(96, 0)) == std::vector<int>{0, 0, 0});
}

TEST_CASE("emulator: warp shuffles and votes", "[emulator]") {
    const int threads = 64;  // two warps
    std::vector<int> values(threads);
    for (int t = 0; t < threads; ++t) values[t] = (t * 7 + 3) % 19;
    for (uint64_t seed : {uint64_t(1), uint64_t(2)}) {
        seek::emu::set_seed(seed);
        const std::vector<int> out = seek::emu::warp_ops(values);
        for (int t = 0; t < threads; ++t) {
            INFO("seed " << seed << ", thread " << t);
            const int lane = t % 32, warp_base = t - lane, segment_base = t - t % 8;
            const int* mine = &out[t * seek::demo::warp_op_results];
            const auto value_of_lane = [&](int l) { return values[warp_base + l]; };
            int warp_sum = 0, prefix = 0, segment_sum = 0;
            unsigned multiples_of_3 = 0;
            bool has_7 = false, all_below_100 = true;
            for (int l = 0; l < 32; ++l) {
                warp_sum += value_of_lane(l);
                if (l <= lane) prefix += value_of_lane(l);
                if (value_of_lane(l) % 3 == 0) multiples_of_3 |= 1u << l;
                has_7 |= value_of_lane(l) == 7;
                all_below_100 &= value_of_lane(l) < 100;
            }
            for (int s = segment_base; s < segment_base + 8; ++s) segment_sum += values[s];
            CHECK(mine[0] == warp_sum);
            if (lane == 0) CHECK(mine[1] == warp_sum);
            CHECK(mine[2] == prefix);
            CHECK(mine[3] == value_of_lane(5));
            CHECK(mine[4] == value_of_lane((lane + 1) % 32));
            CHECK(mine[5] == segment_sum);
            CHECK(static_cast<unsigned>(mine[6]) == multiples_of_3);
            CHECK(mine[7] == has_7);
            CHECK(mine[8] == all_below_100);
            CHECK(mine[9] == (lane % 8 + 3 < 8 ? values[t + 3] : values[t]));
        }
    }
}

TEST_CASE("emulator: a warp op not every lane of its mask reaches is an error", "[emulator]") {
    CHECK_THROWS_WITH(seek::emu::shuffle_after_early_exit(32),
                      Contains("early_exit_shuffle_kernel") && Contains("__shfl_xor_sync at ") &&
                          Contains("with mask 0xffffffff") && Contains("exited"));
}

TEST_CASE("emulator: atomics from many blocks", "[emulator]") {
    const int n = 10000;  // 40 blocks of 256 threads
    seek::Rng rng(42);
    std::vector<int> values(n);
    for (int& v : values) v = static_cast<int>(rng.next_u64() % 100000);
    std::vector<int> histogram(16, 0);
    for (int v : values) ++histogram[v % 16];
    for (uint64_t seed : {uint64_t(1), uint64_t(2), uint64_t(3)}) {
        seek::emu::set_seed(seed);
        const seek::demo::AtomicsResult result = seek::emu::atomics(values, 256);
        CHECK(result.histogram == histogram);
        CHECK(result.max_value == *std::max_element(values.begin(), values.end()));
        CHECK(result.min_value == *std::min_element(values.begin(), values.end()));
        CHECK(std::accumulate(result.won.begin(), result.won.end(), 0) == 1);
        REQUIRE(result.winner >= 0);
        REQUIRE(result.winner < n);
        CHECK(result.won[result.winner] == 1);
        CHECK(result.last_exchanged >= 0);
        CHECK(result.last_exchanged < n);
    }
}

TEST_CASE("emulator: threads and blocks run in a seeded random order", "[emulator]") {
    const int blocks = 8, threads = 64;
    seek::emu::set_seed(5);
    const seek::demo::ArrivalOrder order = seek::emu::arrival_order(blocks, threads);
    std::vector<int> identity(blocks);
    std::iota(identity.begin(), identity.end(), 0);
    std::vector<int> sorted = order.block_order;
    std::sort(sorted.begin(), sorted.end());
    CHECK(sorted == identity);                // every block ran once
    CHECK(order.block_order != identity);     // not in index order
    for (int b = 0; b < blocks; ++b) {
        std::vector<int> block_threads(order.thread_order.begin() + b * threads,
                                       order.thread_order.begin() + (b + 1) * threads);
        std::vector<int> in_order(threads);
        std::iota(in_order.begin(), in_order.end(), 0);
        CHECK(block_threads != in_order);
        std::sort(block_threads.begin(), block_threads.end());
        CHECK(block_threads == in_order);     // every thread once
    }
    CHECK(seek::emu::arrival_order(blocks, threads).thread_order == order.thread_order);  // same seed, same order
    seek::emu::set_seed(6);
    CHECK(seek::emu::arrival_order(blocks, threads).thread_order != order.thread_order);
}

// A float sum by atomicAdd depends on the order of the additions: the emulator's order is the
// seed's, so the same seed gives the same bits, and different seeds (like different runs on a GPU)
// may not.
TEST_CASE("emulator: the same seed gives the same bytes", "[emulator]") {
    seek::Rng rng(7);
    std::vector<float> x(4096);
    for (float& v : x) v = rng.normal() * std::pow(10.0f, static_cast<float>(rng.next_u64() % 7) - 3.0f);
    std::set<uint32_t> distinct;
    for (uint64_t seed : seeds) {
        seek::emu::set_seed(seed);
        const float first = seek::emu::atomic_float_sum(x, 128);
        const float second = seek::emu::atomic_float_sum(x, 128);
        CHECK(bits(first) == bits(second));
        distinct.insert(bits(first));
    }
    CHECK(distinct.size() > 1);  // the order really changes with the seed
}

TEST_CASE("emulator: dynamic shared memory", "[emulator]") {
    std::vector<int> x(1024);
    std::iota(x.begin(), x.end(), 0);
    std::vector<int> reversed(x.size());
    for (int t = 0; t < 1024; ++t) reversed[t] = (t / 128) * 128 + 127 - t % 128;
    const int k48 = 48 * 1024, k227 = 227 * 1024;
    CHECK(seek::emu::reverse_blocks(x, 128, 128 * sizeof(int), k48) == reversed);
    // Above 48 KB a kernel must opt in, up to 227 KB.
    CHECK_THROWS_WITH(seek::emu::reverse_blocks(x, 128, 64 * 1024, k48),
                      Contains("65536 bytes of dynamic shared memory is more than the 49152 allowed") &&
                          Contains("cudaFuncSetAttribute"));
    CHECK(seek::emu::reverse_blocks(x, 128, 64 * 1024, 64 * 1024) == reversed);
    CHECK(seek::emu::reverse_blocks(x, 128, k227, k227) == reversed);
    CHECK_THROWS_WITH(seek::emu::reverse_blocks(x, 128, k227 + 4, k227 + 4),
                      Contains("cudaFuncSetAttribute") && Contains("invalid argument") &&
                          Contains("a block has at most 232448"));
    CHECK_THROWS_WITH(seek::emu::reverse_blocks(x, 128, k227 + 4, k227),
                      Contains("a block has at most 232448 bytes (227 KB) of shared memory"));
}

TEST_CASE("emulator: 2D and 3D grids and blocks", "[emulator]") {
    const seek::demo::Dim grid{3, 2, 2}, block{8, 4, 2};
    const std::vector<int> out = seek::emu::thread_indices(grid, block);
    const int threads_per_block = 8 * 4 * 2;
    REQUIRE(out.size() == size_t(6 * 12 * threads_per_block));
    int index = 0;
    for (unsigned bz = 0; bz < grid.z; ++bz)
        for (unsigned by = 0; by < grid.y; ++by)
            for (unsigned bx = 0; bx < grid.x; ++bx)
                for (unsigned tz = 0; tz < block.z; ++tz)
                    for (unsigned ty = 0; ty < block.y; ++ty)
                        for (unsigned tx = 0; tx < block.x; ++tx, ++index) {
                            INFO("thread (" << tx << "," << ty << "," << tz << ") of block (" << bx << "," << by << ","
                                            << bz << ")");
                            const std::vector<int> written(out.begin() + 6 * index, out.begin() + 6 * index + 6);
                            CHECK(written == std::vector<int>{int(tx), int(ty), int(tz), int(bx), int(by), int(bz)});
                        }
}

TEST_CASE("emulator: bad launch configurations are errors", "[emulator]") {
    using seek::demo::Dim;
    CHECK_NOTHROW(seek::emu::launch_empty(Dim{2, 1, 1}, Dim{1024, 1, 1}, 0));
    CHECK_THROWS_WITH(seek::emu::launch_empty(Dim{1, 1, 1}, Dim{1025, 1, 1}, 0),
                      Contains("launch of empty_kernel<<<(1,1,1), (1025,1,1), 0>>>") &&
                          Contains("at most 1024 x 1024 x 64"));
    CHECK_THROWS_WITH(seek::emu::launch_empty(Dim{1, 1, 1}, Dim{32, 32, 2}, 0),
                      Contains("a block has at most 1024 threads, this one 2048"));
    CHECK_THROWS_WITH(seek::emu::launch_empty(Dim{1, 1, 1}, Dim{1, 1, 65}, 0), Contains("at most 1024 x 1024 x 64"));
    CHECK_THROWS_WITH(seek::emu::launch_empty(Dim{1, 1, 1}, Dim{0, 1, 1}, 0),
                      Contains("a block needs at least one thread in each dimension"));
    CHECK_THROWS_WITH(seek::emu::launch_empty(Dim{1, 0, 1}, Dim{32, 1, 1}, 0),
                      Contains("a grid needs at least one block in each dimension"));
    CHECK_THROWS_WITH(seek::emu::launch_empty(Dim{1, 65536, 1}, Dim{32, 1, 1}, 0),
                      Contains("a grid is at most 2147483647 x 65535 x 65535 blocks"));
    CHECK_THROWS_WITH(seek::emu::launch_empty(Dim{1, 1, 1}, Dim{32, 1, 1}, 300 * 1024),
                      Contains("at most 232448 bytes"));
}

TEST_CASE("emulator: host memory where device memory belongs is an error", "[emulator]") {
    CHECK_THROWS_WITH(seek::emu::launch_with_host_pointer(),
                      Contains("launch of fill_index_kernel: argument 1") &&
                          Contains("does not point into memory from cudaMalloc"));
    CHECK_THROWS_WITH(seek::emu::copy_with_swapped_arguments(),
                      Contains("cudaMemcpyHostToDevice") && Contains("invalid argument") &&
                          Contains("the destination is not 256 bytes of memory from cudaMalloc"));
}

TEST_CASE("emulator: warp ops and barriers outside a kernel are errors", "[emulator]") {
    CHECK_THROWS_WITH(seek::emu::__syncthreads(), Contains("__syncthreads called outside a kernel"));
    CHECK_THROWS_WITH(seek::emu::__ballot_sync(0xffffffffu, 1), Contains("__ballot_sync called outside a kernel"));
}

// Run by CTest with SEEK_EMU_SEED=12345 in the environment (tests/gpu/CMakeLists.txt); hidden
// otherwise, since it depends on the environment.
TEST_CASE("emulator: the seed comes from SEEK_EMU_SEED", "[.][seed_from_environment]") {
    REQUIRE(std::getenv("SEEK_EMU_SEED") != nullptr);
    CHECK(seek::emu::get_seed() == 12345);
    seek::emu::set_seed(3);
    CHECK(seek::emu::get_seed() == 3);
}
