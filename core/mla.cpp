#include "mla.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "gemm.h"
#include "norm.h"
#include "parallel.h"
#include "random.h"
#include "softmax.h"

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

// ---------------------------------------------------------------------------------------------
// The attention cores

template <typename S>
void causal_softmax(MatOf<S>& scores, MatOf<S>& probs, int64_t start, int64_t T) {
    const S neg_inf = -std::numeric_limits<S>::infinity();
    probs.resize(scores.rows(), scores.cols());
    // Rows are independent: a decode step's 128 heads x 4096 keys (V3) share out the threads.
    constexpr int64_t kRowsPerPiece = 16;
    const int64_t pieces = (scores.rows() + kRowsPerPiece - 1) / kRowsPerPiece;
    parallel_for(pieces, worth_threads(20.0 * scores.size()), [&](int64_t piece) {  // ~20 flops an exp
        const Eigen::Index last = std::min<Eigen::Index>((piece + 1) * kRowsPerPiece, scores.rows());
        for (Eigen::Index s = piece * kRowsPerPiece; s < last; ++s) {
            const Eigen::Index visible = start + s % T + 1;
            for (Eigen::Index t = visible; t < scores.cols(); ++t) scores(s, t) = neg_inf;
            softmax_row(&scores(s, 0), &probs(s, 0), visible);
            for (Eigen::Index t = visible; t < scores.cols(); ++t) probs(s, t) = 0;
        }
    });
}

template <typename S>
MatOf<S> attention_forward(const MatRefOf<S>& q, const MatRefOf<S>& k, const MatRefOf<S>& v, int64_t heads, S scale,
                           int64_t start, MatOf<S>* scores_out, MatOf<S>* probs_out) {
    const int64_t T = q.rows(), S_len = k.rows(), qk_dim = q.cols() / heads, v_dim = v.cols() / heads;
    if (S_len != start + T || v.rows() != S_len)
        throw std::invalid_argument("attention: " + std::to_string(T) + " queries from position " +
                                    std::to_string(start) + " need " + std::to_string(start + T) + " keys and values, got " +
                                    std::to_string(k.rows()) + " and " + std::to_string(v.rows()));
    // Heads are independent: with one sequence (a decode step) they share out the threads, each
    // head's products the same as on one thread. Inside a parallel loop over sequences they stay on
    // its thread (parallel.h).
    const bool parallel = worth_threads(2.0 * heads * T * S_len * (qk_dim + v_dim));
    MatOf<S> scores(heads * T, S_len), probs;
    parallel_for(heads, parallel, [&](int64_t h) {
        scores.middleRows(h * T, T) = q.middleCols(h * qk_dim, qk_dim) * k.middleCols(h * qk_dim, qk_dim).transpose() * scale;
    });
    causal_softmax(scores, probs, start, T);
    MatOf<S> out(T, heads * v_dim);
    parallel_for(heads, parallel, [&](int64_t h) {
        out.middleCols(h * v_dim, v_dim) = probs.middleRows(h * T, T) * v.middleCols(h * v_dim, v_dim);
    });
    if (scores_out) *scores_out = std::move(scores);
    if (probs_out) *probs_out = std::move(probs);
    return out;
}

template <typename S>
void attention_backward(MatOf<S>& dq, MatOf<S>& dk, MatOf<S>& dv, const MatOf<S>& dout, const MatRefOf<S>& q,
                        const MatRefOf<S>& k, const MatRefOf<S>& v, const MatOf<S>& probs, int64_t heads, S scale) {
    const int64_t T = q.rows(), qk_dim = q.cols() / heads, v_dim = v.cols() / heads;
    MatOf<S> dp(T, T), dscores(T, T);
    for (int64_t h = 0; h < heads; ++h) {
        const auto p = probs.middleRows(h * T, T);  // views, not copies
        const auto dout_h = dout.middleCols(h * v_dim, v_dim);
        dv.middleCols(h * v_dim, v_dim) += p.transpose() * dout_h;
        dp.noalias() = dout_h * v.middleCols(h * v_dim, v_dim).transpose();

        // Softmax backward, row by row: the Jacobian diag(p) - p p^T applied to dp.
        for (int64_t s = 0; s < T; ++s) {
            S p_dot_dp = 0;
            for (int64_t t = 0; t < T; ++t) p_dot_dp += p(s, t) * dp(s, t);
            for (int64_t t = 0; t < T; ++t) dscores(s, t) = p(s, t) * (dp(s, t) - p_dot_dp);
        }
        dq.middleCols(h * qk_dim, qk_dim) += scale * dscores * k.middleCols(h * qk_dim, qk_dim);
        dk.middleCols(h * qk_dim, qk_dim) += scale * dscores.transpose() * q.middleCols(h * qk_dim, qk_dim);
    }
}

// dst = scale · src^T, in 32 x 32 tiles: each row of dst is written a cache line at a time. (Element by
// element down dst's columns, a decode step's [4096, 128] scores took 1.6-2.0 ms instead of 0.6:
// dst's rows are 16 KB apart, so the lines being filled all fall in one L1 set and evict each other.)
static void transpose_scaled(const Mat& src, float scale, Mat& dst) {
    constexpr int64_t kTile = 32;
    dst.resize(src.cols(), src.rows());
    for (int64_t row0 = 0; row0 < src.rows(); row0 += kTile)
        for (int64_t col0 = 0; col0 < src.cols(); col0 += kTile) {
            const int64_t rows = std::min(kTile, src.rows() - row0), cols = std::min(kTile, src.cols() - col0);
            for (int64_t col = col0; col < col0 + cols; ++col)
                for (int64_t row = row0; row < row0 + rows; ++row) dst(col, row) = src(row, col) * scale;
        }
}

Mat latent_attention_forward(const Mat& q_absorbed, const Mat& q_pe, const MatRef& c_kv, const MatRef& k_pe,
                             int64_t heads, float scale, int64_t start, Mat* scores_out, Mat* probs_out) {
    const int64_t T = q_absorbed.rows() / heads;
    if (c_kv.rows() != start + T || k_pe.rows() != start + T)
        throw std::invalid_argument("latent attention: " + std::to_string(T) + " queries from position " +
                                    std::to_string(start) + " need " + std::to_string(start + T) + " cached tokens, got " +
                                    std::to_string(c_kv.rows()));
    // All heads share one latent cache, so a decode step is one product [H, r + dr] x [r + dr, S]
    // and one [H, S] x [S, r]: for V3 at 4096 keys 0.6 and 0.5 GFLOP, compute rather than memory,
    // since the cache is read once for 128 heads.
    const int64_t rows = q_absorbed.rows(), S_len = c_kv.rows(), r = c_kv.cols(), dr = q_pe.cols();
    Mat scores, probs, o_latent(rows, r);  // o_latent: [H·T, r]
    if (!large_latent_product(2.0 * rows * S_len * (r + dr))) {
        // Small ones (the toy's) on Eigen, whose rounding the bundled runs were made with.
        scores = (q_absorbed * c_kv.transpose() + q_pe * k_pe.transpose()) * scale;
        causal_softmax(scores, probs, start, T);
        o_latent.noalias() = probs * c_kv;
    } else {
        // Large ones on gemm.h: its widest FMAs (simd.h) and one order per sum whatever the threads.
        // scores^T [S, H·T] = c_KV q_absorbed^T + k_pe q_pe^T, one chain of r + dr terms per score:
        // the cache's rows are read where they lie and only the queries are packed; the keys' row
        // blocks share out the threads.
        Mat scores_transposed(S_len, rows);
        gemm(S_len, rows, r, {c_kv.data(), c_kv.outerStride(), 1}, {q_absorbed.data(), 1, r}, scores_transposed.data(),
             rows, false);
        gemm(S_len, rows, dr, {k_pe.data(), k_pe.outerStride(), 1}, {q_pe.data(), 1, dr}, scores_transposed.data(), rows,
             true);
        transpose_scaled(scores_transposed, scale, scores);
        causal_softmax(scores, probs, start, T);
        // o = P c_KV in one slice of columns per thread (gemm's own row blocks would split V3's
        // H·T = 128 rows unevenly, 96 + 32 with AVX-512), each slice packing its own part of the cache.
        const int64_t slices = std::min<int64_t>(parallel_threads(true), (r + 31) / 32), width = (r + slices - 1) / slices;
        parallel_for(slices, true, [&](int64_t slice) {
            const int64_t first = slice * width, columns = std::min(width, r - first);
            gemm(rows, columns, S_len, {probs.data(), S_len, 1}, {c_kv.data() + first, c_kv.outerStride(), 1},
                 o_latent.data() + first, r, false);
        });
    }
    if (scores_out) *scores_out = std::move(scores);
    if (probs_out) *probs_out = std::move(probs);
    return o_latent;
}

// ---------------------------------------------------------------------------------------------
// The MLA op

// The position of each row of x: sequence s (rows offsets[s] .. offsets[s+1] - 1) starts at starts[s].
static std::vector<int64_t> row_positions(const std::vector<int64_t>& offsets, const std::vector<int64_t>& starts) {
    std::vector<int64_t> positions;
    for (size_t s = 0; s + 1 < offsets.size(); ++s)
        for (int64_t row = offsets[s]; row < offsets[s + 1]; ++row) positions.push_back(starts[s] + row - offsets[s]);
    return positions;
}

// [rows, heads · width] from columns first .. first + width - 1 of each head's stride-wide group.
static Mat head_columns(const Mat& m, int64_t heads, int64_t stride, int64_t first, int64_t width) {
    Mat part(m.rows(), heads * width);
    for (int64_t h = 0; h < heads; ++h) part.middleCols(h * width, width) = m.middleCols(h * stride + first, width);
    return part;
}

// Appends rows `first` .. `first + count - 1` of the new tokens to the cache. Absorb caches c_kv
// and k_pe as they are; naive caches k = [k_nope ; k_pe] and v per head, expanded from the latent
// through kv_b_proj (kv: [N, H·(dn+dv)], per head [k_nope ; v]).
static void append_to_cache(const ModelConfig& config, const Mat& c_kv, const Mat& k_pe, const Mat& kv, int64_t first,
                            int64_t count, MlaCache& cache) {
    const int64_t H = config.num_attention_heads, start = cache.length;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    const int64_t dq = dn + dr;
    if (cache.impl == AttnImpl::Naive) {
        ensure_rows(cache.k, start + count);
        ensure_rows(cache.v, start + count);
        for (int64_t h = 0; h < H; ++h) {
            cache.k.block(start, h * dq, count, dn) = kv.block(first, h * (dn + dv), count, dn);
            cache.k.block(start, h * dq + dn, count, dr) = k_pe.middleRows(first, count);  // one rope key for all heads
            cache.v.block(start, h * dv, count, dv) = kv.block(first, h * (dn + dv) + dn, count, dv);
        }
    } else {
        ensure_rows(cache.c_kv, start + count);
        ensure_rows(cache.k_pe, start + count);
        cache.c_kv.middleRows(start, count) = c_kv.middleRows(first, count);
        cache.k_pe.middleRows(start, count) = k_pe.middleRows(first, count);
    }
    cache.length = start + count;
}

// c_KV = RMSNorm(W_DKV h) and k_pe = RoPE(W_KR h) for rows at `positions`  (eqs. 1, 3)
struct LatentKv {
    Mat kv_a, c_kv, k_pe;
};
static LatentKv latent_kv(const ModelConfig& config, const MlaWeights& w, const RopeTable& rope, const Mat& x,
                          const std::vector<int64_t>& positions, const ForwardContext& context) {
    const Kernels& k = *context.kernels;
    const int64_t r = config.kv_lora_rank, dr = config.qk_rope_head_dim;
    LatentKv kv;
    kv.kv_a = k.linear(x, w.kv_a_proj_with_mqa, context.precision);  // [c_KV ; k^R] before norm and RoPE
    kv.c_kv = k.rms_norm(kv.kv_a.leftCols(r), w.kv_a_layernorm, static_cast<float>(config.rms_norm_eps));
    kv.k_pe = kv.kv_a.rightCols(dr);
    k.rope(kv.k_pe, positions, rope, RopeLanes{0, dr, 1});
    return kv;
}

void mla_fill_cache(const ModelConfig& config, const MlaWeights& w, const RopeTable& rope, const Mat& x,
                    MlaCache& cache, const ForwardContext& context) {
    const std::vector<int64_t> offsets = {0, x.rows()};
    const LatentKv kv = latent_kv(config, w, rope, x, row_positions(offsets, {cache.length}), context);
    const Mat expanded = cache.impl == AttnImpl::Naive ? context.kernels->linear(kv.c_kv, w.kv_b_proj, context.precision) : Mat();
    append_to_cache(config, kv.c_kv, kv.k_pe, expanded, 0, x.rows(), cache);
}

Mat mla_forward(const ModelConfig& config, const MlaWeights& w, const RopeTable& rope, const Mat& x,
                const std::vector<int64_t>& offsets, MlaCache* caches, const ForwardContext& context,
                const std::string& prefix, MlaActivations* act) {
    const Kernels& k = *context.kernels;
    const LinearPrecision& precision = context.precision;
    Trace* trace = context.trace;
    const int64_t N = x.rows(), H = config.num_attention_heads, r = config.kv_lora_rank;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    const int64_t dq = dn + dr;
    const int64_t sequences = static_cast<int64_t>(offsets.size()) - 1;
    const float eps = static_cast<float>(config.rms_norm_eps);
    const float scale = static_cast<float>(softmax_scale(config));
    const AttnImpl impl = caches[0].impl;
    for (int64_t s = 0; s < sequences; ++s)
        if (caches[s].impl != impl) throw std::invalid_argument("mla_forward: the sequences' caches mix naive and absorb");
    auto name = [&](const char* leaf) { return prefix + "." + leaf; };
    std::vector<int64_t> starts(sequences);  // where each sequence continues its cache
    for (int64_t s = 0; s < sequences; ++s) starts[s] = caches[s].length;
    const std::vector<int64_t> positions = row_positions(offsets, starts);

    // Queries: q = W_UQ RMSNorm(W_DQ h), or q = W_Q h without query compression  (eqs. 6-8)
    Mat q_a, q_norm, q;
    if (config.q_lora_rank == 0) {
        q = k.linear(x, w.q_proj, precision);
    } else {
        q_a = k.linear(x, w.q_a_proj, precision);
        q_norm = k.rms_norm(q_a, w.q_a_layernorm, eps);
        trace_record(trace, name("q_a"), q_a);
        trace_record(trace, name("q_norm"), q_norm);
        q = k.linear(q_norm, w.q_b_proj, precision);
    }
    trace_record(trace, name("q"), {N, H, dq}, q.data());
    k.rope(q, positions, rope, RopeLanes{dn, dq, H});  // q^R  (eq. 8)
    if (trace_wants(trace, name("q_nope"))) trace_record(trace, name("q_nope"), {N, H, dn}, head_columns(q, H, dq, 0, dn).data());
    if (trace_wants(trace, name("q_pe"))) trace_record(trace, name("q_pe"), {N, H, dr}, head_columns(q, H, dq, dn, dr).data());

    LatentKv kv = latent_kv(config, w, rope, x, positions, context);
    trace_record(trace, name("kv_a"), kv.kv_a);
    trace_record(trace, name("c_kv"), kv.c_kv);
    trace_record(trace, name("k_pe"), kv.k_pe);

    // Naive: k^C = W_UK c_KV and v^C = W_UV c_KV per head  (eqs. 2, 5)
    Mat expanded;
    if (impl == AttnImpl::Naive) {
        expanded = k.linear(kv.c_kv, w.kv_b_proj, precision);  // [N, H·(dn+dv)], per head [k_nope ; v]
        if (trace_wants(trace, name("k_nope")))
            trace_record(trace, name("k_nope"), {N, H, dn}, head_columns(expanded, H, dn + dv, 0, dn).data());
        if (trace_wants(trace, name("v"))) trace_record(trace, name("v"), {N, H, dv}, head_columns(expanded, H, dn + dv, dn, dv).data());
    }
    for (int64_t s = 0; s < sequences; ++s)
        append_to_cache(config, kv.c_kv, kv.k_pe, expanded, offsets[s], offsets[s + 1] - offsets[s], caches[s]);

    // Attention, sequence by sequence: each reads its own cache and writes only its own rows, so
    // sequences run one per thread with the same numbers whatever the thread count.
    Mat attn(N, H * dv);
    std::vector<Mat> probs(sequences), scores(sequences);
    Mat q_absorbed_traced;
    const bool traced = trace != nullptr && sequences == 1;
    const bool want_probs = act != nullptr || (traced && trace_wants(trace, name("probs")));
    const bool want_scores = traced && trace_wants(trace, name("scores"));
    double attention_flops = 0;  // the loop's work: scores and weighted sums (absorb: also W_UK and W_UV)
    for (int64_t s = 0; s < sequences; ++s) {
        const double T = double(offsets[s + 1] - offsets[s]), S_len = double(starts[s]) + T;
        attention_flops += impl == AttnImpl::Naive ? 2 * T * S_len * H * (dq + dv)
                                                   : 2 * T * S_len * H * (2 * r + dr) + 2 * T * H * r * (dn + dv);
    }
    parallel_for(sequences, worth_threads(attention_flops), [&](int64_t s) {
        const int64_t T = offsets[s + 1] - offsets[s], S_len = starts[s] + T;
        const MlaCache& cache = caches[s];
        Mat* scores_s = want_scores ? &scores[s] : nullptr;
        Mat* probs_s = want_probs ? &probs[s] : nullptr;
        const auto q_s = q.middleRows(offsets[s], T);
        if (impl == AttnImpl::Naive) {
            attn.middleRows(offsets[s], T) = k.attention(q_s, cache.k.topRows(S_len), cache.v.topRows(S_len), H, scale,
                                                         starts[s], scores_s, probs_s);
            return;
        }
        // q_absorbed = W_UK^T q_nope, so q_nope · (W_UK c_t) = q_absorbed · c_t  (absorption).
        // Per head, and the heads share out the threads when this sequence is alone (a decode step
        // reads all of W_UK and W_UV here).
        const bool per_head_parallel = worth_threads(2.0 * H * T * r * (dn + dv));
        Mat q_absorbed(H * T, r), q_pe(H * T, dr);
        parallel_for(H, per_head_parallel, [&](int64_t h) {
            q_absorbed.middleRows(h * T, T) = q_s.middleCols(h * dq, dn) * w.kv_b_proj.middleRows(h * (dn + dv), dn);
            q_pe.middleRows(h * T, T) = q_s.middleCols(h * dq + dn, dr);
        });
        const Mat o_latent = k.latent_attention(q_absorbed, q_pe, cache.c_kv.topRows(S_len), cache.k_pe.topRows(S_len), H,
                                                scale, starts[s], scores_s, probs_s);
        parallel_for(H, per_head_parallel, [&](int64_t h) {  // o_h = W_UV o_latent_h, per head after attention
            attn.block(offsets[s], h * dv, T, dv) =
                o_latent.middleRows(h * T, T) * w.kv_b_proj.middleRows(h * (dn + dv) + dn, dv).transpose();
        });
        if (traced) q_absorbed_traced = std::move(q_absorbed);
    });

    if (traced) {
        const int64_t S_len = starts[0] + N;
        if (q_absorbed_traced.size() && trace_wants(trace, name("q_absorbed"))) {
            Mat per_token(N, H * r);  // [T, H, r] like q_nope
            for (int64_t h = 0; h < H; ++h) per_token.middleCols(h * r, r) = q_absorbed_traced.middleRows(h * N, N);
            trace_record(trace, name("q_absorbed"), {N, H, r}, per_token.data());
        }
        if (want_scores) trace_record(trace, name("scores"), {H, N, S_len}, scores[0].data());
        if (trace_wants(trace, name("probs"))) trace_record(trace, name("probs"), {H, N, S_len}, probs[0].data());
    }

    Mat out = k.linear(attn, w.o_proj, precision);  // u = W_O [o_1 ; ... ; o_H]  (eq. 10)
    trace_record(trace, name("out"), out);
    if (act) {
        act->q_a = std::move(q_a);
        act->q_norm = std::move(q_norm);
        act->q = std::move(q);
        act->kv_a = std::move(kv.kv_a);
        act->c_kv = std::move(kv.c_kv);
        act->probs = std::move(probs);
        act->attn = std::move(attn);
    }
    return out;
}

void mla_backward(Mat& dx, MlaWeights& dw, const Mat& dout, const ModelConfig& config, const MlaWeights& w,
                  const RopeTable& rope, const Mat& x, const std::vector<int64_t>& offsets, const MlaCache* caches,
                  const LinearPrecision& precision, const MlaActivations& act) {
    const int64_t N = x.rows(), H = config.num_attention_heads, r = config.kv_lora_rank;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    const int64_t dq = dn + dr;
    const float eps = static_cast<float>(config.rms_norm_eps);
    const float scale = static_cast<float>(softmax_scale(config));
    const int64_t sequences = static_cast<int64_t>(offsets.size()) - 1;
    for (int64_t s = 0; s < sequences; ++s)
        if (caches[s].impl != AttnImpl::Naive || caches[s].length != offsets[s + 1] - offsets[s])
            throw std::invalid_argument("mla_backward: sequence " + std::to_string(s) +
                                        " was not a naive-form forward from position 0 (training's)");

    Mat dattn = Mat::Zero(N, H * dv);
    linear_backward(dattn, dw.o_proj, dout, act.attn, w.o_proj, precision);

    Mat dq_all(N, H * dq), dk(N, H * dq), dv_all(N, H * dv);  // every row is written below
    double attention_flops = 0;  // four products per head of the forward's two
    for (int64_t s = 0; s < sequences; ++s) {
        const double T = double(offsets[s + 1] - offsets[s]);
        attention_flops += 4 * T * T * H * (dq + dv);
    }
    parallel_for(sequences, worth_threads(attention_flops), [&](int64_t s) {  // as in the forward
        const int64_t T = offsets[s + 1] - offsets[s];
        Mat dq_s = Mat::Zero(T, H * dq), dk_s = Mat::Zero(T, H * dq), dv_s = Mat::Zero(T, H * dv);
        attention_backward<float>(dq_s, dk_s, dv_s, dattn.middleRows(offsets[s], T), act.q.middleRows(offsets[s], T),
                                  caches[s].k.topRows(T), caches[s].v.topRows(T), act.probs[s], H, scale);
        dq_all.middleRows(offsets[s], T) = dq_s;
        dk.middleRows(offsets[s], T) = dk_s;
        dv_all.middleRows(offsets[s], T) = dv_s;
    });

    // Keys and values back to kv_b_proj's output; the shared rope key sums its heads' gradients.
    const std::vector<int64_t> positions = row_positions(offsets, std::vector<int64_t>(sequences, 0));
    Mat dkv(N, H * (dn + dv));
    Mat dk_pe = Mat::Zero(N, dr);
    for (int64_t h = 0; h < H; ++h) {
        dkv.middleCols(h * (dn + dv), dn) = dk.middleCols(h * dq, dn);
        dkv.middleCols(h * (dn + dv) + dn, dv) = dv_all.middleCols(h * dv, dv);
        dk_pe += dk.middleCols(h * dq + dn, dr);
    }
    Mat dc_kv = Mat::Zero(N, r);
    linear_backward(dc_kv, dw.kv_b_proj, dkv, act.c_kv, w.kv_b_proj, precision);
    rope_backward(dk_pe, positions, rope, RopeLanes{0, dr, 1});
    Mat dkv_a(N, r + dr), dlatent = Mat::Zero(N, r);
    rms_norm_backward(dlatent, dw.kv_a_layernorm, dc_kv, Mat(act.kv_a.leftCols(r)), w.kv_a_layernorm, eps);
    dkv_a << dlatent, dk_pe;
    const Mat x_tokens = rounded_input(x, precision, kTokenTile);  // Wgrad's x, once for both projections of x
    const Mat* x_rounded = x_tokens.size() ? &x_tokens : nullptr;
    linear_backward(dx, dw.kv_a_proj_with_mqa, dkv_a, x, w.kv_a_proj_with_mqa, precision, x_rounded);

    rope_backward(dq_all, positions, rope, RopeLanes{dn, dq, H});
    if (config.q_lora_rank == 0) {
        linear_backward(dx, dw.q_proj, dq_all, x, w.q_proj, precision, x_rounded);
        return;
    }
    Mat dq_norm = Mat::Zero(N, config.q_lora_rank), dq_a = Mat::Zero(N, config.q_lora_rank);
    linear_backward(dq_norm, dw.q_b_proj, dq_all, act.q_norm, w.q_b_proj, precision);
    rms_norm_backward(dq_a, dw.q_a_layernorm, dq_norm, act.q_a, w.q_a_layernorm, eps);
    linear_backward(dx, dw.q_a_proj, dq_a, x, w.q_a_proj, precision, x_rounded);
}

template void causal_softmax(MatOf<float>&, MatOf<float>&, int64_t, int64_t);
template void causal_softmax(MatOf<double>&, MatOf<double>&, int64_t, int64_t);
#define SEEK_ATTENTION_INSTANTIATE(S)                                                                               \
    template MatOf<S> attention_forward(const MatRefOf<S>&, const MatRefOf<S>&, const MatRefOf<S>&, int64_t, S,   \
                                        int64_t, MatOf<S>*, MatOf<S>*);                                          \
    template void attention_backward(MatOf<S>&, MatOf<S>&, MatOf<S>&, const MatOf<S>&, const MatRefOf<S>&,         \
                                     const MatRefOf<S>&, const MatRefOf<S>&, const MatOf<S>&, int64_t, S);
SEEK_ATTENTION_INSTANTIATE(float)
SEEK_ATTENTION_INSTANTIATE(double)

}  // namespace seek
