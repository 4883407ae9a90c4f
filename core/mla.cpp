#include "mla.h"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "norm.h"
#include "random.h"

namespace seek {

AttnImpl attn_impl_from_name(const std::string& name) {
    if (name == "naive") return AttnImpl::Naive;
    if (name == "absorb") return AttnImpl::Absorb;
    throw std::runtime_error("attention implementation must be 'naive' or 'absorb', got '" + name + "'");
}

const char* attn_impl_name(AttnImpl impl) { return impl == AttnImpl::Naive ? "naive" : "absorb"; }

std::string attn_weight_name(int64_t layer, const std::string& leaf) {
    return "model.layers." + std::to_string(layer) + ".self_attn." + leaf + ".weight";
}

MlaWeights generated_mla_weights(const ModelConfig& config, int64_t layer, uint64_t seed, float std) {
    const int64_t d = config.hidden_size, H = config.num_attention_heads, r = config.kv_lora_rank;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    auto matrix = [&](const std::string& leaf, int64_t rows, int64_t cols) {
        return generated_matrix(seed, attn_weight_name(layer, leaf), rows, cols, std > 0 ? std : 1.0f / std::sqrt(float(cols)));
    };
    MlaWeights w;
    if (config.q_lora_rank == 0) {
        w.q_proj = matrix("q_proj", H * (dn + dr), d);
    } else {
        w.q_a_proj = matrix("q_a_proj", config.q_lora_rank, d);
        w.q_a_layernorm = Vec::Ones(config.q_lora_rank);
        w.q_b_proj = matrix("q_b_proj", H * (dn + dr), config.q_lora_rank);
    }
    w.kv_a_proj_with_mqa = matrix("kv_a_proj_with_mqa", r + dr, d);
    w.kv_a_layernorm = Vec::Ones(r);
    w.kv_b_proj = matrix("kv_b_proj", H * (dn + dv), r);
    w.o_proj = matrix("o_proj", d, H * dv);
    return w;
}

MlaCache make_mla_cache(const ModelConfig& config, AttnImpl impl, int64_t reserve_tokens) {
    MlaCache cache;
    cache.impl = impl;
    const int64_t H = config.num_attention_heads;
    if (impl == AttnImpl::Absorb) {
        cache.c_kv.resize(reserve_tokens, config.kv_lora_rank);
        cache.k_pe.resize(reserve_tokens, config.qk_rope_head_dim);
    } else {
        cache.k.resize(reserve_tokens, H * config.qk_head_dim());
        cache.v.resize(reserve_tokens, H * config.v_head_dim);
    }
    return cache;
}

int64_t mla_cache_floats(const MlaCache& cache) {
    if (cache.impl == AttnImpl::Absorb) return cache.length * (cache.c_kv.cols() + cache.k_pe.cols());
    return cache.length * (cache.k.cols() + cache.v.cols());
}

// Makes room for `rows` rows in total, keeping the rows already there.
static void ensure_rows(Mat& m, int64_t rows) {
    if (m.rows() < rows) m.conservativeResize(rows, m.cols());
}

template <typename S>
void causal_softmax(MatOf<S>& scores, MatOf<S>& probs, int64_t start, int64_t T) {
    const S neg_inf = -std::numeric_limits<S>::infinity();
    probs.resize(scores.rows(), scores.cols());
    for (Eigen::Index s = 0; s < scores.rows(); ++s) {
        const Eigen::Index visible = start + s % T + 1;
        for (Eigen::Index t = visible; t < scores.cols(); ++t) scores(s, t) = neg_inf;
        const S row_max = scores.row(s).head(visible).maxCoeff();
        double sum = 0;
        for (Eigen::Index t = 0; t < visible; ++t) sum += probs(s, t) = std::exp(scores(s, t) - row_max);
        for (Eigen::Index t = 0; t < visible; ++t) probs(s, t) = static_cast<S>(probs(s, t) / sum);
        for (Eigen::Index t = visible; t < scores.cols(); ++t) probs(s, t) = 0;
    }
}
template void causal_softmax(MatOf<float>&, MatOf<float>&, int64_t, int64_t);
template void causal_softmax(MatOf<double>&, MatOf<double>&, int64_t, int64_t);

// kv_a = [c_KV ; k^R] = [W_DKV h ; W_KR h]  (eqs. 1, 3); the latent is normalized, the rope key
// rotated (one rope key per token, shared by all heads).
struct KvProjection {
    Mat kv_a, c_kv, k_pe;
};

static KvProjection project_kv(const ModelConfig& config, const MlaWeights& w, const RopeTable& rope, const Mat& x,
                               int64_t start) {
    const int64_t r = config.kv_lora_rank, dr = config.qk_rope_head_dim;
    KvProjection kv;
    kv.kv_a = linear(x, w.kv_a_proj_with_mqa);
    kv.c_kv = rms_norm(kv.kv_a.leftCols(r), w.kv_a_layernorm, static_cast<float>(config.rms_norm_eps));
    kv.k_pe = kv.kv_a.rightCols(dr);
    for (int64_t t = 0; t < x.rows(); ++t) apply_rope(&kv.k_pe(t, 0), start + t, rope);
    return kv;
}

// Absorb caches c_kv and k_pe as they are. Naive expands k^C = W_UK c_KV and v^C = W_UV c_KV per
// head (eqs. 2, 5) and caches [k^C ; k^R] and v^C: what a plain multi-head attention would hold.
static void append_to_cache(const ModelConfig& config, const MlaWeights& w, const KvProjection& kv, MlaCache& cache) {
    const int64_t T = kv.c_kv.rows(), H = config.num_attention_heads, start = cache.length;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    const int64_t dq = dn + dr;
    if (cache.impl == AttnImpl::Naive) {
        const Mat expanded = linear(kv.c_kv, w.kv_b_proj);  // [T, H·(dn+dv)]
        ensure_rows(cache.k, start + T);
        ensure_rows(cache.v, start + T);
        for (int64_t h = 0; h < H; ++h) {
            cache.k.block(start, h * dq, T, dn) = expanded.middleCols(h * (dn + dv), dn);
            cache.k.block(start, h * dq + dn, T, dr) = kv.k_pe;
            cache.v.block(start, h * dv, T, dv) = expanded.middleCols(h * (dn + dv) + dn, dv);
        }
    } else {
        ensure_rows(cache.c_kv, start + T);
        ensure_rows(cache.k_pe, start + T);
        cache.c_kv.middleRows(start, T) = kv.c_kv;
        cache.k_pe.middleRows(start, T) = kv.k_pe;
    }
    cache.length = start + T;
}

void mla_fill_cache(const ModelConfig& config, const MlaWeights& weights, const RopeTable& rope, const Mat& x,
                    MlaCache& cache) {
    append_to_cache(config, weights, project_kv(config, weights, rope, x, cache.length), cache);
}

Mat mla_forward(const ModelConfig& config, const MlaWeights& w, const RopeTable& rope, const Mat& x,
                MlaCache& cache, Trace* trace, const std::string& prefix) {
    const int64_t T = x.rows(), H = config.num_attention_heads, r = config.kv_lora_rank;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    const int64_t dq = dn + dr;
    const int64_t start = cache.length, S = start + T;
    const float scale = static_cast<float>(softmax_scale(config));
    auto name = [&](const char* leaf) { return prefix + "." + leaf; };

    // Queries: q = W_UQ RMSNorm(W_DQ h), or q = W_Q h without query compression  (eqs. 6-8)
    Mat q;
    if (config.q_lora_rank == 0) {
        q = linear(x, w.q_proj);
    } else {
        const Mat q_a = linear(x, w.q_a_proj);
        const Mat q_norm = rms_norm(q_a, w.q_a_layernorm, static_cast<float>(config.rms_norm_eps));
        trace_record(trace, name("q_a"), q_a);
        trace_record(trace, name("q_norm"), q_norm);
        q = linear(q_norm, w.q_b_proj);
    }
    trace_record(trace, name("q"), {T, H, dq}, q.data());
    for (int64_t t = 0; t < T; ++t)
        for (int64_t h = 0; h < H; ++h) apply_rope(&q(t, h * dq + dn), start + t, rope);  // q^R  (eq. 8)

    if (trace_wants(trace, name("q_nope")) || trace_wants(trace, name("q_pe"))) {
        Mat q_nope(T, H * dn), q_pe(T, H * dr);
        for (int64_t h = 0; h < H; ++h) {
            q_nope.middleCols(h * dn, dn) = q.middleCols(h * dq, dn);
            q_pe.middleCols(h * dr, dr) = q.middleCols(h * dq + dn, dr);
        }
        trace_record(trace, name("q_nope"), {T, H, dn}, q_nope.data());
        trace_record(trace, name("q_pe"), {T, H, dr}, q_pe.data());
    }

    const KvProjection kv = project_kv(config, w, rope, x, start);
    trace_record(trace, name("kv_a"), kv.kv_a);
    trace_record(trace, name("c_kv"), kv.c_kv);
    trace_record(trace, name("k_pe"), kv.k_pe);

    append_to_cache(config, w, kv, cache);
    if (cache.impl == AttnImpl::Naive && (trace_wants(trace, name("k_nope")) || trace_wants(trace, name("v")))) {
        Mat k_nope(T, H * dn), v(T, H * dv);
        for (int64_t h = 0; h < H; ++h) {
            k_nope.middleCols(h * dn, dn) = cache.k.block(start, h * dq, T, dn);
            v.middleCols(h * dv, dv) = cache.v.block(start, h * dv, T, dv);
        }
        trace_record(trace, name("k_nope"), {T, H, dn}, k_nope.data());
        trace_record(trace, name("v"), {T, H, dv}, v.data());
    }

    // Scores of every head stacked as rows h·T + s: [H·T, S], the layout the trace keeps.
    Mat scores(H * T, S), q_absorbed;
    if (cache.impl == AttnImpl::Naive) {
        // score[s, t] = q[s] · [k_nope[t] ; k_pe[t]], each head against its own cached keys
#pragma omp parallel for schedule(static)
        for (int64_t h = 0; h < H; ++h)
            scores.middleRows(h * T, T) = q.middleCols(h * dq, dq) * cache.k.block(0, h * dq, S, dq).transpose() * scale;
    } else {
        // q_absorbed = W_UK^T q_nope, so q_nope · (W_UK c_t) = q_absorbed · c_t. Every head then
        // attends to the same keys [c_kv ; k_pe] and values c_kv: absorbed MLA is multi-query
        // attention, so all heads stack into one matrix product (FlashMLA's "MQA mode").
        q_absorbed.resize(H * T, r);
        Mat q_pe(H * T, dr);
        for (int64_t h = 0; h < H; ++h) {
            q_absorbed.middleRows(h * T, T) = q.middleCols(h * dq, dn) * w.kv_b_proj.middleRows(h * (dn + dv), dn);
            q_pe.middleRows(h * T, T) = q.middleCols(h * dq + dn, dr);
        }
        scores = (q_absorbed * cache.c_kv.topRows(S).transpose() + q_pe * cache.k_pe.topRows(S).transpose()) * scale;
    }
    Mat probs;
    causal_softmax(scores, probs, start, T);

    Mat o(T, H * dv);
    if (cache.impl == AttnImpl::Naive) {
#pragma omp parallel for schedule(static)
        for (int64_t h = 0; h < H; ++h)
            o.middleCols(h * dv, dv) = probs.middleRows(h * T, T) * cache.v.block(0, h * dv, S, dv);
    } else {
        const Mat o_latent = probs * cache.c_kv.topRows(S);  // attention over the latent: [H·T, r]
#pragma omp parallel for schedule(static)
        for (int64_t h = 0; h < H; ++h)  // W_UV after attention, per head
            o.middleCols(h * dv, dv) = o_latent.middleRows(h * T, T) * w.kv_b_proj.middleRows(h * (dn + dv) + dn, dv).transpose();
    }

    if (q_absorbed.size() && trace_wants(trace, name("q_absorbed"))) {
        Mat per_token(T, H * r);  // [T, H, r] like q_nope
        for (int64_t h = 0; h < H; ++h) per_token.middleCols(h * r, r) = q_absorbed.middleRows(h * T, T);
        trace_record(trace, name("q_absorbed"), {T, H, r}, per_token.data());
    }
    trace_record(trace, name("scores"), {H, T, S}, scores.data());
    trace_record(trace, name("probs"), {H, T, S}, probs.data());

    const Mat out = linear(o, w.o_proj);  // u = W_O [o_1 ; ... ; o_H]  (eq. 10)
    trace_record(trace, name("out"), out);
    return out;
}

}  // namespace seek
