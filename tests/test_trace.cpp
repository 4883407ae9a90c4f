#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>

#include "core/glossary.h"
#include "core/tokenizer.h"
#include "core/trace.h"

using namespace seek;

TEST_CASE("trace: glob filters") {
    CHECK(glob_match("layers.*.attn.c_kv", "layers.12.attn.c_kv"));
    CHECK(glob_match("*", "anything"));
    CHECK(glob_match("embed", "embed"));
    CHECK_FALSE(glob_match("embed", "embedding"));
    CHECK_FALSE(glob_match("layers.*.attn.c_kv", "layers.1.attn.k_pe"));
    CHECK(glob_match("*.probs", "layers.0.attn.probs"));
    CHECK(parse_trace_filter("a,b.*,,c") == std::vector<std::string>{"a", "b.*", "c"});
    CHECK_FALSE(trace_wants(nullptr, "embed"));
}

TEST_CASE("trace: save and load keep names, order, shapes, values, integer dtype and metadata") {
    const std::filesystem::path path = std::filesystem::temp_directory_path() / "seek_test_trace.safetensors";
    Trace trace;
    trace.metadata = {{"prompt", "12+34="}, {"seed", "3"}};
    Mat m(2, 3);
    m << 1, -2, 3.5f, -INFINITY, 0, 1e-30f;
    trace_record(&trace, "layers.0.attn.scores", m);
    const float indices[] = {3, 0, 7, 1};
    trace_record(&trace, "layers.1.moe.topk_idx", {2, 2}, indices, DType::I32);
    save_trace(trace, path.string());

    const Trace loaded = load_trace(path.string());
    std::filesystem::remove(path);
    REQUIRE(loaded.entries.size() == 2);
    CHECK(loaded.entries[0].name == "layers.0.attn.scores");
    CHECK(loaded.entries[0].shape == Shape{2, 3});
    CHECK(loaded.entries[0].values == trace.entries[0].values);
    CHECK(loaded.entries[1].dtype == DType::I32);
    CHECK(loaded.entries[1].values == std::vector<float>{3, 0, 7, 1});
    CHECK(loaded.metadata.at("prompt") == "12+34=");
}

TEST_CASE("trace: compare finds the worst element, treats equal -inf as equal and NaN as failure") {
    Trace a, b;
    const float va[] = {1, 2, -INFINITY, 4, 5, 6};
    const float vb[] = {1, 2.5f, -INFINITY, 4, 5, 6};
    trace_record(&a, "x", {2, 3}, va);
    trace_record(&b, "x", {2, 3}, vb);
    trace_record(&a, "only_a", {1}, va);
    trace_record(&b, "y", {3}, vb);
    trace_record(&a, "y", {2}, va);
    const float nan_values[] = {NAN};
    trace_record(&a, "n", {1}, va);
    trace_record(&b, "n", {1}, nan_values);
    trace_record(&b, "only_b", {1}, vb);

    const std::vector<TensorDiff> diffs = compare_traces(a, b);
    REQUIRE(diffs.size() == 5);
    CHECK(diffs[0].name == "x");
    CHECK(diffs[0].max_abs_error == Approx(0.5));
    CHECK(diffs[0].max_rel_error == Approx(0.5 / 6));
    CHECK(diffs[0].worst_index == 1);
    CHECK(format_index(diffs[0].worst_index, diffs[0].shape_a) == "[0, 1]");
    CHECK(diffs[1].name == "y");
    CHECK(diffs[1].status == TensorDiff::ShapeMismatch);
    CHECK(diffs[2].name == "n");
    CHECK(std::isinf(diffs[2].max_abs_error));
    CHECK(diffs[3].status == TensorDiff::OnlyInA);
    CHECK(diffs[4].status == TensorDiff::OnlyInB);
}

TEST_CASE("trace: statistics skip masked -inf entries and count them") {
    const TensorStats stats = tensor_stats({1, -INFINITY, 3});
    CHECK(stats.min == 1);
    CHECK(stats.max == 3);
    CHECK(stats.mean == 2);
    CHECK(stats.std == 1);
    CHECK(stats.non_finite == 1);
}

TEST_CASE("trace: the glossary explains names by their longest suffix") {
    CHECK(describe_tensor("layers.3.attn.c_kv").find("latent") != std::string::npos);
    CHECK(describe_tensor("layers.3.attn.out").find("o_proj") != std::string::npos);
    CHECK(describe_tensor("layers.3.out").find("residual") != std::string::npos);
    CHECK(describe_tensor("embed").find("embedding") != std::string::npos);
    CHECK(describe_tensor("something.else").empty());
}

TEST_CASE("tokenizer: printable ASCII keeps its byte values, specials are single tokens") {
    CHECK(encode_text("12+34=") == std::vector<int32_t>{'1', '2', '+', '3', '4', '='});
    CHECK(encode_text("<bos>a<think>b</think>") == std::vector<int32_t>{kBosToken, 'a', 3, 'b', 4});
    CHECK(encode_text("a<b") == std::vector<int32_t>{'a', '<', 'b'});
    CHECK(decode_tokens(encode_text("<answer>7</answer>\n")) == "<answer>7</answer>\n");
    CHECK(token_text('\n') == "\\n");
    REQUIRE_THROWS_WITH(encode_text("ab\xc3\xa9"), Catch::Contains("unknown character '\\xc3' at byte 2"));
    REQUIRE_THROWS_WITH(encode_text("a\tb"), Catch::Contains("'\\x09' at byte 1"));
}
