// MLA: naive vs absorbed, prefill vs token-by-token decoding, the cache size, and both against an
// independent float64 implementation of the paper's equations written with plain loops.
#include <catch2/catch.hpp>
#include <cmath>

#include "core/mla.h"
#include "core/parallel.h"
#include "core/random.h"

using namespace seek;

static Mat random_hidden(int64_t T, int64_t d, uint64_t seed) {
    Mat x(T, d);
    Rng rng(seed);
    for (int64_t i = 0; i < x.size(); ++i) x.data()[i] = rng.normal();
    return x;
}

static double max_rel_diff(const Mat& a, const Mat& b) {
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    return (a - b).cwiseAbs().maxCoeff() / a.cwiseAbs().maxCoeff();
}

// The toy preset, the toy without query compression (V2-Lite's form), and the toy with V3's YaRN.
static std::vector<ModelConfig> test_configs() {
    ModelConfig toy = preset_config("toy");
    ModelConfig no_q_lora = toy;
    no_q_lora.name = "toy, q_lora_rank 0";
    no_q_lora.q_lora_rank = 0;
    ModelConfig yarn = toy;
    yarn.name = "toy, YaRN";
    yarn.rope_scaling = preset_config("v3").rope_scaling;
    return {toy, no_q_lora, yarn};
}

// x as one sequence through mla_forward, continuing `cache`.
static Mat attend(const ModelConfig& config, const MlaWeights& w, const RopeTable& rope, const Mat& x, MlaCache& cache,
                  Trace* trace = nullptr) {
    ForwardContext context;
    context.trace = trace;
    return mla_forward(config, w, rope, x, {0, x.rows()}, &cache, context, "layers.0.attn");
}

static Mat prefill(const ModelConfig& config, const MlaWeights& w, const Mat& x, AttnImpl impl, Trace* trace = nullptr) {
    MlaCache cache = make_mla_cache(config, impl);
    return attend(config, w, rope_table(config), x, cache, trace);
}

static Mat decode_each(const ModelConfig& config, const MlaWeights& w, const Mat& x, AttnImpl impl) {
    MlaCache cache = make_mla_cache(config, impl, x.rows());
    const RopeTable rope = rope_table(config);
    Mat out(x.rows(), config.hidden_size);
    for (int64_t t = 0; t < x.rows(); ++t) out.row(t) = attend(config, w, rope, x.middleRows(t, 1), cache);
    return out;
}

// Paper equations 1-11 in float64, per token and head, expanded K and V, no caching tricks.
static MatD reference_mla(const ModelConfig& c, const MlaWeights& w, const Mat& x_float) {
    const int64_t T = x_float.rows(), H = c.num_attention_heads, r = c.kv_lora_rank;
    const int64_t dn = c.qk_nope_head_dim, dr = c.qk_rope_head_dim, dv = c.v_head_dim, dq = dn + dr;
    const MatD x = x_float.cast<double>();
    auto rms = [&](Eigen::VectorXd v) { return v / std::sqrt(v.squaredNorm() / v.size() + c.rms_norm_eps); };
    const RopeTable rope = rope_table(c);
    auto rotate = [&](Eigen::VectorXd v, int64_t pos) {
        for (int64_t i = 0; i < dr / 2; ++i) {
            const double a = pos * rope.inv_freq[i], e = v[2 * i], o = v[2 * i + 1];
            v[2 * i] = (e * std::cos(a) - o * std::sin(a)) * rope.magnitude;
            v[2 * i + 1] = (e * std::sin(a) + o * std::cos(a)) * rope.magnitude;
        }
        return v;
    };
    const MatD kv_a = x * w.kv_a_proj_with_mqa.cast<double>().transpose();
    MatD q = c.q_lora_rank == 0 ? MatD(x * w.q_proj.cast<double>().transpose()) : MatD(T, H * dq);
    if (c.q_lora_rank > 0) {
        for (int64_t t = 0; t < T; ++t) {
            Eigen::VectorXd c_q = rms(w.q_a_proj.cast<double>() * x.row(t).transpose());
            q.row(t) = (w.q_b_proj.cast<double>() * c_q).transpose();
        }
    }
    std::vector<MatD> k(H, MatD(T, dq)), v(H, MatD(T, dv));
    const MatD kv_b = w.kv_b_proj.cast<double>();
    for (int64_t t = 0; t < T; ++t) {
        const Eigen::VectorXd c_kv = rms(kv_a.row(t).head(r).transpose());
        const Eigen::VectorXd k_rope = rotate(kv_a.row(t).tail(dr).transpose(), t);
        for (int64_t h = 0; h < H; ++h) {
            k[h].row(t).head(dn) = (kv_b.middleRows(h * (dn + dv), dn) * c_kv).transpose();
            k[h].row(t).tail(dr) = k_rope.transpose();
            v[h].row(t) = (kv_b.middleRows(h * (dn + dv) + dn, dv) * c_kv).transpose();
        }
    }
    MatD o = MatD::Zero(T, H * dv);
    const double scale = softmax_scale(c);
    for (int64_t h = 0; h < H; ++h) {
        for (int64_t s = 0; s < T; ++s) {
            Eigen::VectorXd qh = q.row(s).segment(h * dq, dq).transpose();
            qh.tail(dr) = rotate(qh.tail(dr), s);
            Eigen::VectorXd logits(s + 1);
            for (int64_t t = 0; t <= s; ++t) logits[t] = qh.dot(k[h].row(t)) * scale;
            Eigen::VectorXd p = (logits.array() - logits.maxCoeff()).exp();
            p /= p.sum();
            for (int64_t t = 0; t <= s; ++t) o.row(s).segment(h * dv, dv) += p[t] * v[h].row(t);
        }
    }
    return o * w.o_proj.cast<double>().transpose();
}

TEST_CASE("mla: naive and absorbed prefill agree with a float64 reference of the equations") {
    for (const ModelConfig& config : test_configs()) {
        INFO(config.name);
        const MlaWeights w = generated_mla_weights(config, 0, 7);
        const Mat x = random_hidden(11, config.hidden_size, 8);
        const MatD reference = reference_mla(config, w, x);
        const Mat naive = prefill(config, w, x, AttnImpl::Naive);
        const Mat absorb = prefill(config, w, x, AttnImpl::Absorb);
        // FP32 against FP64 through ~5 matrix products of width <= 64: a few ulps of float
        CHECK(max_rel_diff(reference.cast<float>(), naive) < 1e-5);
        CHECK(max_rel_diff(reference.cast<float>(), absorb) < 1e-5);
        CHECK(max_rel_diff(naive, absorb) < 1e-5);
    }
}

TEST_CASE("mla: decoding token by token reproduces the prefill, in both forms") {
    for (const ModelConfig& config : test_configs()) {
        INFO(config.name);
        const MlaWeights w = generated_mla_weights(config, 0, 11);
        const Mat x = random_hidden(9, config.hidden_size, 12);
        for (AttnImpl impl : {AttnImpl::Naive, AttnImpl::Absorb}) {
            INFO(attn_impl_name(impl));
            const Mat full = prefill(config, w, x, impl);
            const Mat decoded = decode_each(config, w, x, impl);
            CHECK(max_rel_diff(full, decoded) < 1e-5);
            CHECK(max_rel_diff(full.bottomRows(1), decoded.bottomRows(1)) < 1e-5);
        }
        CHECK(max_rel_diff(decode_each(config, w, x, AttnImpl::Naive), decode_each(config, w, x, AttnImpl::Absorb)) < 1e-5);
    }
}

TEST_CASE("mla: prefill in two chunks equals one prefill") {
    const ModelConfig config = preset_config("toy");
    const MlaWeights w = generated_mla_weights(config, 0, 3);
    const Mat x = random_hidden(10, config.hidden_size, 4);
    const RopeTable rope = rope_table(config);
    for (AttnImpl impl : {AttnImpl::Naive, AttnImpl::Absorb}) {
        MlaCache cache = make_mla_cache(config, impl);
        Mat chunked(10, config.hidden_size);
        chunked.topRows(6) = attend(config, w, rope, x.topRows(6), cache);
        chunked.bottomRows(4) = attend(config, w, rope, x.bottomRows(4), cache);
        CHECK(max_rel_diff(prefill(config, w, x, impl), chunked) < 1e-5);
    }
}

TEST_CASE("mla: sequences of a batch, each with its own cache, are the sequences run alone") {
    // Training runs whole sequences side by side; batched decoding would run one new token of each.
    // Each row attends only to its own sequence's cache: bit for bit the same as alone.
    const ModelConfig config = preset_config("toy");
    const MlaWeights w = generated_mla_weights(config, 0, 8);
    const RopeTable rope = rope_table(config);
    const Mat x = random_hidden(9, config.hidden_size, 9);
    for (AttnImpl impl : {AttnImpl::Naive, AttnImpl::Absorb}) {
        INFO(attn_impl_name(impl));
        std::vector<MlaCache> caches = {make_mla_cache(config, impl), make_mla_cache(config, impl)};
        attend(config, w, rope, x.topRows(2), caches[1]);  // sequence 1 already holds two tokens
        const Mat batched = mla_forward(config, w, rope, x.bottomRows(7), {0, 4, 7}, caches.data(), {}, "attn");
        MlaCache first = make_mla_cache(config, impl), second = make_mla_cache(config, impl);
        attend(config, w, rope, x.topRows(2), second);
        CHECK(batched.topRows(4) == attend(config, w, rope, x.middleRows(2, 4), first));
        CHECK(batched.bottomRows(3) == attend(config, w, rope, x.bottomRows(3), second));
        CHECK(caches[0].length == 4);
        CHECK(caches[1].length == 5);
    }
}

TEST_CASE("mla: the absorbed cache holds exactly T x (kv_lora_rank + qk_rope_head_dim) floats") {
    const ModelConfig config = preset_config("toy");
    const MlaWeights w = generated_mla_weights(config, 0, 1);
    const int64_t T = 13;
    const Mat x = random_hidden(T, config.hidden_size, 2);
    MlaCache absorb = make_mla_cache(config, AttnImpl::Absorb);
    attend(config, w, rope_table(config), x, absorb);
    CHECK(absorb.length == T);
    CHECK(absorb.c_kv.rows() == T);
    CHECK(absorb.c_kv.cols() == config.kv_lora_rank);
    CHECK(absorb.k_pe.cols() == config.qk_rope_head_dim);
    CHECK(absorb.c_kv.size() + absorb.k_pe.size() == T * (16 + 8));
    CHECK(mla_cache_floats(absorb) == T * (16 + 8));
    CHECK(absorb.k.size() == 0);
    CHECK(absorb.v.size() == 0);

    MlaCache naive = make_mla_cache(config, AttnImpl::Naive);
    attend(config, w, rope_table(config), x, naive);
    CHECK(mla_cache_floats(naive) == T * 4 * (16 + 8 + 16));  // heads x (k_nope + k_pe + v)
    CHECK(naive.c_kv.size() == 0);
}

TEST_CASE("mla: attention is causal") {
    const ModelConfig config = preset_config("toy");
    const MlaWeights w = generated_mla_weights(config, 0, 5);
    Mat x = random_hidden(6, config.hidden_size, 6);
    const Mat before = prefill(config, w, x, AttnImpl::Absorb);
    x.row(5) *= -3;
    const Mat after = prefill(config, w, x, AttnImpl::Absorb);
    CHECK(before.topRows(5) == after.topRows(5));
    CHECK((before.row(5) - after.row(5)).cwiseAbs().maxCoeff() > 1e-3);
}

TEST_CASE("mla: traces carry design.md's names, per form, with rows of probabilities summing to 1") {
    const ModelConfig config = preset_config("toy");
    const MlaWeights w = generated_mla_weights(config, 0, 9);
    const Mat x = random_hidden(5, config.hidden_size, 10);
    Trace naive, absorb;
    prefill(config, w, x, AttnImpl::Naive, &naive);
    prefill(config, w, x, AttnImpl::Absorb, &absorb);
    for (const char* leaf : {"q_a", "q_norm", "q", "q_nope", "q_pe", "kv_a", "c_kv", "k_pe", "scores", "probs", "out"}) {
        INFO(leaf);
        CHECK(trace_find(naive, std::string("layers.0.attn.") + leaf));
        CHECK(trace_find(absorb, std::string("layers.0.attn.") + leaf));
    }
    CHECK(trace_find(naive, "layers.0.attn.k_nope"));
    CHECK(trace_find(naive, "layers.0.attn.v"));
    CHECK_FALSE(trace_find(naive, "layers.0.attn.q_absorbed"));
    CHECK(trace_find(absorb, "layers.0.attn.q_absorbed"));
    CHECK_FALSE(trace_find(absorb, "layers.0.attn.k_nope"));
    CHECK(trace_find(absorb, "layers.0.attn.q_absorbed")->shape == Shape{5, 4, 16});

    const TraceEntry* probs = trace_find(absorb, "layers.0.attn.probs");
    REQUIRE(probs->shape == Shape{4, 5, 5});
    for (int64_t row = 0; row < 4 * 5; ++row) {
        const int64_t query = row % 5;
        double sum = 0;
        for (int64_t t = 0; t < 5; ++t) {
            sum += probs->values[row * 5 + t];
            if (t > query) CHECK(probs->values[row * 5 + t] == 0.0f);  // the future gets nothing
        }
        CHECK(sum == Approx(1.0).epsilon(1e-6));
    }
    // every name both forms share agrees to FP32 rounding
    for (const TensorDiff& diff : compare_traces(naive, absorb)) {
        INFO(diff.name);
        if (diff.status == TensorDiff::Compared) CHECK(diff.max_rel_error < 1e-5);
    }

    Trace filtered;
    filtered.filters = {"*.c_kv"};
    prefill(config, w, x, AttnImpl::Absorb, &filtered);
    REQUIRE(filtered.entries.size() == 1);
    CHECK(filtered.entries[0].name == "layers.0.attn.c_kv");
}

TEST_CASE("mla: generated weights are a pure function of seed and name") {
    const ModelConfig config = preset_config("toy");
    const MlaWeights a = generated_mla_weights(config, 0, 42), b = generated_mla_weights(config, 0, 42);
    const MlaWeights other_seed = generated_mla_weights(config, 0, 43), other_layer = generated_mla_weights(config, 1, 42);
    CHECK(a.kv_b_proj == b.kv_b_proj);
    CHECK(a.q_b_proj == b.q_b_proj);
    CHECK(a.kv_b_proj != other_seed.kv_b_proj);
    CHECK(a.kv_b_proj != other_layer.kv_b_proj);
    // element (r, c) depends on its index alone: a sub-block generated on its own matches
    const Mat whole = generated_matrix(5, "w", 6, 4, 1.0f);
    CHECK(whole(3, 2) == normal_at(5, hash_name("w"), 3 * 4 + 2));
}

TEST_CASE("mla: latent attention large enough for gemm.h matches float64, is causal, and is gemm.h's definition") {
    // 64 heads x 2 queries over 1,501 keys with r = 256, dr = 32: 111 MFLOP, above
    // kLargeLatentWork, so the products run on gemm.h (core/mla.cpp).
    const int64_t H = 64, T = 2, r = 256, dr = 32, S_len = 1501, start = S_len - T;
    REQUIRE(large_latent_product(2.0 * H * T * S_len * (r + dr)));
    const Mat q_absorbed = generated_matrix(1, "q_absorbed", H * T, r, 0.1f), q_pe = generated_matrix(1, "q_pe", H * T, dr, 0.1f);
    const Mat c_kv = generated_matrix(1, "c_kv", S_len, r, 1.0f), k_pe = generated_matrix(1, "k_pe", S_len, dr, 1.0f);
    const float scale = 0.125f;
    Mat scores, probs;
    const Mat out = latent_attention_forward(q_absorbed, q_pe, c_kv, k_pe, H, scale, start, &scores, &probs);

    // Row h·T + i is head h's query at position start + i: it sees keys 0 .. start + i.
    MatD reference(H * T, r);
    for (int64_t row = 0; row < H * T; ++row) {
        const int64_t visible = start + row % T + 1;
        std::vector<double> p(visible);
        double max = -1e300, sum = 0;
        for (int64_t t = 0; t < visible; ++t) {
            double score = 0;
            for (int64_t j = 0; j < r; ++j) score += double(q_absorbed(row, j)) * c_kv(t, j);
            for (int64_t j = 0; j < dr; ++j) score += double(q_pe(row, j)) * k_pe(t, j);
            p[t] = score * scale;
            max = std::max(max, p[t]);
        }
        for (double& value : p) sum += value = std::exp(value - max);
        for (int64_t j = 0; j < r; ++j) {
            double o = 0;
            for (int64_t t = 0; t < visible; ++t) o += p[t] / sum * c_kv(t, j);
            reference(row, j) = o;
        }
        if (row % T == 0) CHECK(probs(row, S_len - 1) == 0.0f);  // the last key is the second query's own
    }
    // FP32 sums of 288 products and 1,501 weighted values, against float64: a few ulps of the largest.
    CHECK(max_rel_diff(reference.cast<float>(), out) < 1e-5);

    // gemm.h's contract, re-derived with plain loops: a score is scale times one chain of float FMAs
    // over the latent, then the rope part; an output sums the keys in order. Equal bits, so the
    // large path gives the definition's bytes on any SIMD width and thread count.
    Mat expected_scores(H * T, S_len), expected_probs, expected_out(H * T, r);
    for (int64_t row = 0; row < H * T; ++row)
        for (int64_t t = 0; t < S_len; ++t) {
            float sum = 0;
            for (int64_t j = 0; j < r; ++j) sum = std::fma(q_absorbed(row, j), c_kv(t, j), sum);
            for (int64_t j = 0; j < dr; ++j) sum = std::fma(q_pe(row, j), k_pe(t, j), sum);
            expected_scores(row, t) = sum * scale;
        }
    causal_softmax(expected_scores, expected_probs, start, T);  // masks expected_scores as the op does
    for (int64_t row = 0; row < H * T; ++row)
        for (int64_t j = 0; j < r; ++j) {
            float sum = 0;
            for (int64_t t = 0; t < S_len; ++t) sum = std::fma(expected_probs(row, t), c_kv(t, j), sum);
            expected_out(row, j) = sum;
        }
    CHECK(scores == expected_scores);
    CHECK(probs == expected_probs);
    CHECK(out == expected_out);
}
