// The whole model (core/model.h): its parameter count against the analytic one, its gradients
// against finite differences, decoding with the latent cache against the full forward pass,
// checkpoints, and AdamW (core/optim.h) against hand-worked numbers.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>

#include "core/analytics.h"
#include "core/model.h"
#include "core/optim.h"
#include "core/random.h"
#include "core/safetensors.h"
#include "core/tokenizer.h"
#include "temp_dir.h"

using namespace seek;

// Two sequences of the toy vocabulary; the first's first three targets are masked like a prompt.
static Batch small_batch(uint64_t seed) {
    Batch batch;
    batch.offsets = {0, 7, 12};
    Rng rng(seed);
    for (int i = 0; i < 12; ++i) batch.tokens.push_back(7 + static_cast<int32_t>(rng.next_u64() % 120));
    for (int i = 0; i < 12; ++i) {
        const bool last = i == 6 || i == 11;
        batch.targets.push_back(last || i < 3 ? kIgnoreTarget : batch.tokens[i + 1]);
    }
    return batch;
}

TEST_CASE("model: the toy's tensors add up to the analytic parameter count", "[model]") {
    const ModelConfig config = preset_config("toy");
    ModelWeights weights = init_model_weights(config, 1);
    const ParameterCounts counts = count_parameters(config);
    // model_parameters lists the MTP module without its copies of the embedding and head, as
    // count_parameters counts it
    CHECK(parameter_count(weights) == counts.total + counts.mtp);
}

// Whole-model gradient check. The model runs in float, so the difference quotient is taken along
// one random unit direction D per tensor, where it has the most signal:
//   fd = (L(θ + hD) - L(θ - hD)) / 2h  against  g · D
// With h = 1e-2: the loss (~4.9) carries float rounding of ~1e-6, i.e. ~5e-5 in fd; truncation is
// h^2 |L'''| / 6 ~ 1e-5. Tolerance 2e-4 + 1e-2 |g·D| covers both with margin, while a dropped or
// doubled term moves g·D by a multiple of itself. A step that changes any expert selection makes
// the loss jump (routing is a step function), so h is halved until the routing holds.
TEST_CASE("model: gradients of every tensor match finite differences (toy, MTP, balance loss)", "[model]") {
    const ModelConfig config = preset_config("toy");
    ModelWeights weights = init_model_weights(config, 3, 0.2f);  // larger weights: gradients well above the noise
    for (BlockWeights& block : weights.layers)
        if (block.moe.gate.bias.size()) block.moe.gate.bias = generated_matrix(5, "bias", config.n_routed_experts, 1, 0.05f);
    const Batch batch = small_batch(11);
    const TrainingLoss loss{0.3, 0.01};
    ModelActivations act;
    model_forward(config, weights, batch, {}, loss, act);
    ModelWeights grads = zeros_like(weights);
    model_backward(grads, config, weights, batch, {}, loss, act);

    auto routing_of = [&](const ModelActivations& a) {
        std::vector<int32_t> chosen;
        auto add = [&](const IndexMat& idx) { chosen.insert(chosen.end(), idx.data(), idx.data() + idx.size()); };
        for (const BlockActivations& b : a.blocks) add(b.moe.routing.topk_idx);
        add(a.mtp.block.moe.routing.topk_idx);
        return chosen;
    };
    const std::vector<int32_t> reference_routing = routing_of(act);

    std::vector<Parameter> params = model_parameters(weights), grad_params = model_parameters(grads);
    int checked = 0;
    for (size_t i = 0; i < params.size(); ++i) {
        if (!params[i].trainable) continue;
        const int64_t n = shape_numel(params[i].shape);
        std::vector<float> direction(n);
        Rng rng(100 + i);
        double norm = 0;
        for (float& value : direction) {
            value = rng.normal();
            norm += double(value) * value;
        }
        double analytic = 0;
        for (int64_t j = 0; j < n; ++j) analytic += grad_params[i].values[j] * (direction[j] /= float(std::sqrt(norm)));

        const std::vector<float> saved(params[i].values, params[i].values + n);
        auto loss_at = [&](double h, bool& same_routing) {
            for (int64_t j = 0; j < n; ++j) params[i].values[j] = static_cast<float>(saved[j] + h * direction[j]);
            ModelActivations moved;
            const double value = model_forward(config, weights, batch, {}, loss, moved).total;
            std::copy(saved.begin(), saved.end(), params[i].values);
            same_routing = same_routing && routing_of(moved) == reference_routing;
            return value;
        };
        double h = 1e-2, numeric = 0;
        for (;; h /= 2) {
            bool same = true;
            numeric = (loss_at(h, same) - loss_at(-h, same)) / (2 * h);
            if (same || h < 1e-4) break;
        }
        INFO(params[i].name << ": analytic " << analytic << ", finite differences " << numeric << " (h " << h << ")");
        CHECK(std::fabs(analytic - numeric) <= 2e-4 + 1e-2 * std::fabs(analytic));
        ++checked;
    }
    CHECK(checked > 200);  // every expert of every MoE layer and of the MTP block
}

TEST_CASE("model: the balance loss and MTP each change the loss and are off when their weights are 0", "[model]") {
    const ModelConfig config = preset_config("toy");
    const ModelWeights weights = init_model_weights(config, 4);
    const Batch batch = small_batch(5);
    ModelActivations act;
    const LossReport plain = model_forward(config, weights, batch, {}, {0.0, 0.0}, act);
    const LossReport full = model_forward(config, weights, batch, {}, {0.3, 1e-2}, act);
    CHECK(plain.total == Approx(plain.main));
    CHECK(full.mtp > 0);
    CHECK(full.balance > 0);
    CHECK(full.total == Approx(full.main + 0.3 * full.mtp + full.balance));
    // L_Bal re-derived in float64 from each MoE block's routing (paper eqs. 17-20), summed over
    // the 2 sequences and the 3 MoE layers and the MTP block:
    //   alpha sum_i f_i P_i,  f_i = E / (K T) · (tokens choosing i),  P_i = 1/T sum_t s_it / sum_j s_jt
    const int64_t E = config.n_routed_experts, K = config.num_experts_per_tok;
    auto sequence_loss = [&](const Routing& routing, int64_t first, int64_t T) {
        std::vector<double> f(E, 0.0), P(E, 0.0);
        for (int64_t t = first; t < first + T; ++t) {
            double row = 0;
            for (int64_t i = 0; i < E; ++i) row += routing.scores(t, i);
            for (int64_t i = 0; i < E; ++i) P[i] += routing.scores(t, i) / row / T;
            for (int64_t k = 0; k < K; ++k) f[routing.topk_idx(t, k)] += double(E) / (K * T);
        }
        double loss = 0;
        for (int64_t i = 0; i < E; ++i) loss += 1e-2 * f[i] * P[i];
        return loss;
    };
    double expected = 0;
    int blocks = 0;
    auto add_block = [&](const BlockActivations& block, const std::vector<int64_t>& offsets) {
        if (block.moe.routing.topk_idx.size() == 0) return;  // a dense layer
        ++blocks;
        for (size_t s = 0; s + 1 < offsets.size(); ++s) expected += sequence_loss(block.moe.routing, offsets[s], offsets[s + 1] - offsets[s]);
    };
    for (const BlockActivations& block : act.blocks) add_block(block, batch.offsets);
    add_block(act.mtp.block, act.mtp_rows.offsets);
    CHECK(blocks == 4);
    CHECK(full.balance == Approx(expected).epsilon(1e-9));
}

// Decoding one token at a time (absorbed MLA, latent cache) against one full forward pass (naive
// MLA, no cache): different code paths and summation orders, so not bit-equal; 1e-5 of the
// largest logit is float rounding over four blocks.
TEST_CASE("model: incremental decoding with the latent cache reproduces the full forward logits", "[model]") {
    const ModelConfig config = preset_config("toy");
    const ModelWeights weights = init_model_weights(config, 6, 0.1f);
    Batch batch;
    batch.tokens = encode_text("<bos>123+4567=<think>");
    batch.targets.assign(batch.tokens.size(), kIgnoreTarget);
    batch.offsets = {0, static_cast<int64_t>(batch.tokens.size())};
    ModelActivations act;
    model_forward(config, weights, batch, {}, {}, act);

    DecodeState state = make_decode_state(config);
    Mat decoded(act.logits.rows(), act.logits.cols());
    for (size_t t = 0; t < batch.tokens.size(); ++t) decoded.row(t) = model_decode(config, weights, state, {batch.tokens[t]});
    const double error = (decoded - act.logits).cwiseAbs().maxCoeff() / act.logits.cwiseAbs().maxCoeff();
    INFO("max |decode - forward| / max |forward| = " << error);
    CHECK(error < 1e-5);
    CHECK(state.caches[0].length == static_cast<int64_t>(batch.tokens.size()));
    CHECK(mla_cache_floats(state.caches[0]) == state.caches[0].length * (config.kv_lora_rank + config.qk_rope_head_dim));

    // A prompt at once, then one token, gives the same last row.
    DecodeState chunked = make_decode_state(config);
    std::vector<int32_t> prompt(batch.tokens.begin(), batch.tokens.end() - 1);
    model_decode(config, weights, chunked, prompt);
    const Mat last = model_decode(config, weights, chunked, {batch.tokens.back()});
    CHECK((last.row(0) - act.logits.row(act.logits.rows() - 1)).cwiseAbs().maxCoeff() <
          1e-5 * act.logits.cwiseAbs().maxCoeff());
}

TEST_CASE("model: bad batches are refused naming the sequence and position", "[model]") {
    const ModelConfig config = preset_config("toy");
    const ModelWeights weights = init_model_weights(config, 1);
    ModelActivations act;
    Batch batch = small_batch(1);
    batch.tokens[8] = 500;
    CHECK_THROWS_WITH(model_forward(config, weights, batch, {}, {}, act),
                      Catch::Contains("sequence 1 position 1") && Catch::Contains("vocabulary"));
    batch = small_batch(1);
    batch.offsets = {0, 7, 11};
    CHECK_THROWS_WITH(model_forward(config, weights, batch, {}, {}, act), Catch::Contains("offsets"));
}

TEST_CASE("model: a checkpoint round-trips, and a missing or misshapen tensor is refused by name", "[model]") {
    TempDir dir;
    const ModelConfig config = preset_config("toy");
    ModelWeights weights = init_model_weights(config, 8);
    weights.layers[1].moe.gate.bias(3) = 0.25f;
    save_model(dir.path.string(), config, weights);

    ModelConfig loaded_config;
    ModelWeights loaded = load_model(dir.path.string(), loaded_config);
    CHECK(loaded_config.hidden_size == config.hidden_size);
    std::vector<Parameter> a = model_parameters(weights), b = model_parameters(loaded);
    REQUIRE(a.size() == b.size());
    for (size_t i = 0; i < a.size(); ++i) {
        INFO(a[i].name);
        CHECK(std::equal(a[i].values, a[i].values + shape_numel(a[i].shape), b[i].values));
    }
    // The HF layout: the MTP layer carries its copies of the embedding and head
    const SafetensorsFile file = open_safetensors((dir.path / "model.safetensors").string());
    CHECK(file.find("model.layers.4.embed_tokens.weight") != nullptr);
    CHECK(file.find("model.layers.4.shared_head.head.weight") != nullptr);

    // Rewrite without one tensor, then with one of the wrong shape.
    const std::string victim = "model.layers.2.mlp.experts.5.up_proj.weight";
    std::vector<TensorToWrite> kept;
    for (const TensorInfo& info : file.tensors) {
        if (info.name == victim) continue;
        const Mat values = read_matrix(file, info.name);
        kept.push_back(tensor_f32(info.name, info.shape, values.data()));
    }
    write_safetensors((dir.path / "model.safetensors").string(), kept);
    CHECK_THROWS_WITH(load_model(dir.path.string(), loaded_config), Catch::Contains(victim));
    const Mat wrong = Mat::Zero(3, 3);
    kept.push_back(tensor_f32(victim, {3, 3}, wrong.data()));
    write_safetensors((dir.path / "model.safetensors").string(), kept);
    CHECK_THROWS_WITH(load_model(dir.path.string(), loaded_config), Catch::Contains(victim) && Catch::Contains("[3, 3]"));
}

// One AdamW step on one weight, worked by hand: g = 0.5, m = 0.05, v = 0.0125 (β2 0.95), bias
// corrections 0.1 and 0.05 give m̂ = 0.5, v̂ = 0.25, update = 0.5 / (0.5 + 1e-8) ≈ 1, so
// θ = 2 - 0.01 · 1 - 0.01 · 0.1 · 2 = 1.988.
TEST_CASE("optim: one AdamW step and the learning-rate schedule match hand-worked values", "[model]") {
    const ModelConfig config = preset_config("toy");
    ModelWeights weights = init_model_weights(config, 1);
    ModelWeights grads = zeros_like(weights);
    weights.lm_head(0, 0) = 2.0f;
    grads.lm_head(0, 0) = 0.5f;
    weights.norm(0) = 1.0f;
    grads.norm(0) = 0.5f;
    AdamWState state = make_adamw_state(weights);
    AdamWOptions options;
    options.clip = 0;
    const float untouched = weights.lm_head(1, 1);
    CHECK(adamw_step(weights, grads, state, options, 0.01) == Approx(std::sqrt(0.5)));
    CHECK(weights.lm_head(0, 0) == Approx(1.988).epsilon(1e-6));
    CHECK(weights.norm(0) == Approx(0.99).epsilon(1e-6));  // no decay on 1-D tensors
    CHECK(weights.lm_head(1, 1) == Approx(untouched * (1 - 0.01 * 0.1)));  // zero gradient: decay only
    CHECK(state.exp_avg.lm_head(0, 0) == Approx(0.05));
    CHECK(state.exp_avg_sq.lm_head(0, 0) == Approx(0.0125));

    // Clipping scales the gradient to norm 1 before the moments see it.
    ModelWeights clipped_grads = zeros_like(weights);
    clipped_grads.lm_head(0, 0) = 3.0f;
    clipped_grads.lm_head(0, 1) = 4.0f;
    AdamWState fresh = make_adamw_state(weights);
    options.clip = 1.0;
    CHECK(adamw_step(weights, clipped_grads, fresh, options, 0.0) == Approx(5.0));
    CHECK(fresh.exp_avg.lm_head(0, 1) == Approx(0.1 * 0.8));

    CHECK(learning_rate(0, 100, 10, 1e-3, 1e-4) == Approx(1e-4));
    CHECK(learning_rate(9, 100, 10, 1e-3, 1e-4) == Approx(1e-3));
    CHECK(learning_rate(55, 100, 10, 1e-3, 1e-4) == Approx(5.5e-4));  // halfway down the cosine
    CHECK(learning_rate(100, 100, 10, 1e-3, 1e-4) == Approx(1e-4));
}
