// gpu/embedding.cu's kernels, run in the emulator, against core's embedding_forward: a gather, so
// equal bit for bit.
#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

#include "core/embedding.h"
#include "core/random.h"
#include "gpu/embedding.h"
#include "gpu/emulator/runtime_api.h"

using seek::Mat;

namespace {

Mat random_table(int rows, int cols, uint64_t seed) {
    seek::Rng rng(seed);
    Mat table(rows, cols);
    for (int64_t i = 0; i < table.size(); ++i) table.data()[i] = rng.normal();
    return table;
}

std::vector<int32_t> random_tokens(int count, int vocab, uint64_t seed) {
    seek::Rng rng(seed);
    std::vector<int32_t> tokens(count);
    for (int32_t& token : tokens) token = static_cast<int32_t>(rng.next_u64() % vocab);
    return tokens;
}

}  // namespace

TEST_CASE("gpu embedding: both variants gather core's rows bit for bit", "[gpu][embedding]") {
    struct Shape {
        int vocab, dim, tokens;
    };
    // The toy's table; a row length not a multiple of 4 (variant 2's scalar path) nor of 32; one
    // column; one token; V3's row length with a few tokens (repeats included: vocab 5).
    const Shape shapes[] = {{128, 64, 37}, {50, 30, 9}, {10, 1, 7}, {128, 64, 1}, {5, 7168, 6}};
    for (const Shape& s : shapes) {
        const Mat table = random_table(s.vocab, s.dim, s.vocab + s.dim);
        std::vector<int32_t> tokens = random_tokens(s.tokens, s.vocab, s.tokens);
        tokens.back() = s.vocab - 1;  // the last row of the table
        const Mat expected = seek::embedding_forward<float>(table, tokens);
        for (int variant = 1; variant <= 2; ++variant) {
            seek::emu::set_seed(variant);
            const Mat got = seek::emu::embedding_forward(table, tokens, variant);
            INFO(s.vocab << " x " << s.dim << " table, " << s.tokens << " tokens, variant " << variant);
            REQUIRE(got.rows() == expected.rows());
            REQUIRE(got.cols() == expected.cols());
            CHECK(std::memcmp(got.data(), expected.data(), got.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("gpu embedding: a token outside the vocabulary is refused before the launch", "[gpu][embedding]") {
    const Mat table = random_table(128, 8, 1);
    for (int variant = 1; variant <= 2; ++variant) {
        CHECK_THROWS_WITH(seek::emu::embedding_forward(table, {3, 5, 128}, variant),
                          "token 128 at position 2 is outside the vocabulary of 128");
        CHECK_THROWS_WITH(seek::emu::embedding_forward(table, {-1}, variant),
                          "token -1 at position 0 is outside the vocabulary of 128");
        CHECK(seek::emu::embedding_forward(table, {}, variant).rows() == 0);
    }
    CHECK_THROWS_WITH(seek::emu::embedding_forward(table, {1}, 3), Catch::Matchers::Contains("variant 3 does not exist"));
}
