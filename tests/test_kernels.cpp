// The kernel table (core/kernels.h) and the traced forward (core/forward.h): one op replaced by a
// deliberately perturbed copy leaves everything computed before it bit-identical, and the
// comparison names that op's output as the first tensor beyond tolerance; the traced logits are the
// logits generation samples from; trace files carry each tensor's axes.
#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "core/forward.h"
#include "core/generate.h"
#include "core/gate.h"
#include "core/moe.h"
#include "core/tokenizer.h"
#include "core/tolerance.h"
#include "temp_dir.h"

using namespace seek;

// The perturbed copies: the reference's result, nudged by 0.1%, far beyond the FP32 tolerance.
static Mat nudged_rms_norm(const Mat& x, const Vec& weight, float eps) {
    return cpu_kernels().rms_norm(x, weight, eps) * 1.001f;
}
static Mat nudged_swiglu(const Mat& x, const FfnWeights& weights, const LinearPrecision& precision,
                         SwigluActivations* saved) {
    return cpu_kernels().swiglu(x, weights, precision, saved) * 1.001f;
}
static Routing nudged_route(const ModelConfig& config, const Mat& logits, const Vec& bias) {
    Routing routing = cpu_kernels().route(config, logits, bias);
    routing.topk_weight *= 1.001f;
    return routing;
}
static Mat nudged_combine(const Mat& expert_out, const MoePlan& plan, const Mat& topk_weight) {
    return cpu_kernels().moe_combine(expert_out, plan, topk_weight) * 1.001f;
}
static Mat nudged_latent_attention(const Mat& q_absorbed, const Mat& q_pe, const MatRef& c_kv, const MatRef& k_pe,
                                   int64_t heads, float scale, int64_t start, Mat* scores, Mat* probs) {
    const Mat o = cpu_kernels().latent_attention(q_absorbed, q_pe, c_kv, k_pe, heads, scale, start, scores, probs);
    if (probs) *probs *= 1.001f;  // what the trace sees of the core
    return o * 1.001f;
}

TEST_CASE("kernels: a perturbed op is the first tensor that differs, and nothing before it moves", "[kernels]") {
    ModelConfig config;
    const ModelWeights weights = load_model(SEEK_TOY_DIR "/grpo", config);
    const std::vector<int32_t> tokens = encode_text("<bos>12+34=");
    const Trace reference = trace_model(config, weights, tokens, {});

    struct Case {
        const char* op;
        std::function<void(Kernels&)> replace;
        std::string first;  // the op's first traced output
    };
    const std::vector<Case> cases = {
        {"rms_norm", [](Kernels& k) { k.rms_norm = nudged_rms_norm; }, "layers.0.attn_norm"},
        {"latent_attention", [](Kernels& k) { k.latent_attention = nudged_latent_attention; }, "layers.0.attn.probs"},
        {"swiglu", [](Kernels& k) { k.swiglu = nudged_swiglu; }, "layers.0.ffn.out"},  // layer 0 is dense
        {"route", [](Kernels& k) { k.route = nudged_route; }, "layers.1.moe.topk_weight"},
        {"moe_combine", [](Kernels& k) { k.moe_combine = nudged_combine; }, "layers.1.moe.routed_out"},
    };
    for (const Case& c : cases) {
        INFO("replaced: " << c.op);
        Kernels kernels = cpu_kernels();
        kernels.name = "cpu with a perturbed op";
        c.replace(kernels);
        TraceOptions options;
        options.kernels = &kernels;
        const Trace candidate = trace_model(config, weights, tokens, options);
        CHECK(candidate.metadata.at("device") == "cpu with a perturbed op");

        const std::vector<TensorDiff> diffs = compare_traces(reference, candidate);
        const ToleranceCheck check = check_tolerances(diffs, reference, "f32");
        REQUIRE(check.first_failure >= 0);
        CHECK(diffs[check.first_failure].name == c.first);
        for (int i = 0; i < check.first_failure; ++i) {
            INFO(diffs[i].name);
            CHECK(diffs[i].max_abs_error == 0);  // bit-identical before the replaced op
        }
    }

    // A copy of the table that replaces nothing changes nothing.
    Kernels same = cpu_kernels();
    TraceOptions options;
    options.kernels = &same;
    const ToleranceCheck check = check_tolerances(compare_traces(reference, trace_model(config, weights, tokens, options)),
                                                  reference, "f32");
    CHECK(check.failures == 0);
}

TEST_CASE("kernels: the traced logits are the logits generation samples from", "[kernels]") {
    ModelConfig config;
    const ModelWeights weights = load_model(SEEK_TOY_DIR "/grpo", config);
    const std::vector<int32_t> prompt = encode_text("<bos>31415+92653=");
    TraceOptions options;
    options.filters = {"logits"};
    const Trace trace = trace_model(config, weights, prompt, options);
    REQUIRE(trace.entries.size() == 1);
    const TraceEntry& logits = trace.entries[0];
    CHECK(logits.shape == Shape{static_cast<int64_t>(prompt.size()), config.vocab_size});

    // generate() runs model_decode on the prompt and samples from its last row: the same numbers.
    DecodeState state = make_decode_state(config, static_cast<int64_t>(prompt.size()));
    const Mat decoded = model_decode(config, weights, state, prompt);
    CHECK(std::equal(logits.values.begin(), logits.values.end(), decoded.data()));
    const float* last = logits.values.data() + logits.values.size() - config.vocab_size;
    const int32_t argmax = static_cast<int32_t>(std::max_element(last, last + config.vocab_size) - last);
    GenerateOptions greedy;
    greedy.sampling.temperature = 0;
    greedy.max_new_tokens = 1;
    Rng rng(0);
    CHECK(generate(config, weights, prompt, greedy, rng).tokens == std::vector<int32_t>{argmax});
}

TEST_CASE("kernels: prefill, token-by-token decoding and the two attention forms agree within the FP32 rule", "[kernels]") {
    ModelConfig config;
    const ModelWeights weights = load_model(SEEK_TOY_DIR "/grpo", config);
    const std::vector<int32_t> tokens = encode_text("<bos>478+56=<think>");
    TraceOptions absorb, naive, decode;
    naive.attn = AttnImpl::Naive;
    decode.decode = true;
    const Trace a = trace_model(config, weights, tokens, absorb);
    for (const Trace& b : {trace_model(config, weights, tokens, naive), trace_model(config, weights, tokens, decode)}) {
        INFO(b.metadata.at("attn_impl") << ", " << b.metadata.at("mode"));
        const std::vector<TensorDiff> diffs = compare_traces(a, b);
        const ToleranceCheck check = check_tolerances(diffs, a, "f32");
        double worst = 0;
        int compared = 0;
        for (const TensorDiff& diff : diffs) {
            if (diff.status != TensorDiff::Compared) continue;
            worst = std::max(worst, diff.max_rel_error);
            ++compared;
        }
        INFO("worst relative error " << worst);
        CHECK(check.failures == 0);
        CHECK(compared >= 10);  // the logits, every block output, the embeddings...
        CHECK(trace_find(b, "logits"));
    }
}

TEST_CASE("kernels: trace files carry each tensor's axes, and generated weights trace the first blocks", "[kernels]") {
    TempDir dir;
    const ModelConfig config = preset_config("toy");
    const Trace trace = trace_generated(config, 3, 2, encode_text("12+34="), {});
    CHECK(trace.metadata.at("seed") == "3");
    CHECK(trace_find(trace, "layers.1.moe.topk_idx"));
    CHECK_FALSE(trace_find(trace, "layers.2.out"));
    CHECK_FALSE(trace_find(trace, "logits"));  // an incomplete stack has no head
    const std::string path = (dir.path / "t.safetensors").string();
    save_trace(trace, path);
    const nlohmann::json axes = nlohmann::json::parse(load_trace(path).metadata.at("axes"));
    CHECK(axes.at("layers.0.attn.q_absorbed") == nlohmann::json({"token", "head", "latent"}));
    CHECK(axes.at("layers.0.attn.probs") == nlohmann::json({"head", "query", "key"}));
    CHECK(axes.at("layers.1.moe.topk_idx") == nlohmann::json({"token", "k"}));
    for (const TraceEntry& entry : trace.entries) {
        INFO(entry.name);
        CHECK(axes.contains(entry.name));  // every tensor the forward records has its axes named
    }
    CHECK_THROWS_WITH(trace_generated(config, 3, 9, {1, 2}, {}), Catch::Contains("layers must be between 1 and"));
    CHECK_THROWS_WITH(trace_generated(config, 3, 2, {1, 500}, {}), Catch::Contains("token 500 at position 1"));
}
