// MLA's attention core on a GPU backend (gpu/mla_decode.cu), with core/mla.h's signatures:
//   seek::emu::latent_attention_forward(..., variant, splits)   the kernels in the emulator (seek_gpu_emu)
//   seek::cuda::latent_attention_forward(..., variant, splits)  the kernels on a GPU (seek_gpu, nvcc)
//   seek::emu::attention_forward(..., variant), seek::cuda::attention_forward(..., variant)
// The absorbed form over the latent cache has variants 1 (a block per (head, query) row) and 2
// (split-KV with an online softmax and a combine, FlashMLA's scheme; splits 0 picks a count); the
// naive form has variant 1. All compute what core does, up to FP32 rounding and summation order.
// Variants 3 and 4 of the absorbed form are variant 2 over the cache stored in BF16 (3) or FP8 (4:
// c_kv E4M3 in 1x128 tiles with FP32 scales, k_pe BF16), made here from the FP32 cache with
// core's bf16_encode and quantize: variant 2's result on the rounded cache, bit for bit. Variant 5
// is variant 3 on tensor cores (BF16 mma.sync), its queries and probabilities in BF16 too.
#pragma once

#include <climits>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/fp8.h"
#include "core/quantize.h"
#include "core/tensor.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {

// The rows of m as one contiguous row-major array: m's own storage when its rows are adjacent,
// else a copy in `storage`.
inline const float* contiguous_rows(const MatRef& m, Mat& storage) {
    if (m.rows() <= 1 || m.outerStride() == m.cols()) return m.data();
    storage = m;
    return storage.data();
}

inline void require(bool condition, const std::string& message) {
    if (!condition) throw std::invalid_argument(message);
}

inline bool fits_int(int64_t value) { return value >= 0 && value <= INT_MAX; }

// A matrix rounded to BF16: the stored bits, and their values widened back to FP32.
inline std::vector<uint16_t> bf16_rows(const MatRef& m, Mat* values) {
    std::vector<uint16_t> bits(static_cast<size_t>(m.rows() * m.cols()));
    if (values) values->resize(m.rows(), m.cols());
    for (int64_t i = 0; i < m.rows(); ++i)
        for (int64_t j = 0; j < m.cols(); ++j) {
            const uint16_t b = bf16_encode(m(i, j));
            bits[static_cast<size_t>(i * m.cols() + j)] = b;
            if (values) {
                const uint32_t widened = static_cast<uint32_t>(b) << 16;
                float value;
                std::memcpy(&value, &widened, 4);
                (*values)(i, j) = value;
            }
        }
    return bits;
}

// Backend, in the templates below: one backend's MlaHostFunctions (at the end of this file).

// Variants 3 (BF16 cache), 4 (FP8 c_kv, BF16 k_pe) and 5 (BF16 cache and queries, tensor cores)
// of the absorbed form: the cache as stored, then the kernels over it. Shapes already checked by
// latent_attention_forward.
template <typename Backend>
Mat latent_attention_forward_cache(const Mat& q_absorbed, const Mat& q_pe, const MatRef& c_kv, const MatRef& k_pe,
                                   int heads, float scale, int start, Mat* scores, Mat* probs, int variant,
                                   int splits) {
    const int T = static_cast<int>(q_absorbed.rows() / heads), S = start + T;
    const int r = static_cast<int>(q_absorbed.cols()), dr = static_cast<int>(q_pe.cols());
    const bool traced = scores || probs;
    Mat c_kv_values, k_pe_values;  // the cache's values in FP32, for the scores and probabilities
    const std::vector<uint16_t> k_pe_bf16 = bf16_rows(k_pe, traced ? &k_pe_values : nullptr);
    std::vector<uint16_t> c_kv_bf16;
    QuantizedMatrix c_kv_fp8;
    std::vector<float> e4m3_values;
    if (variant == 3 || variant == 5) {
        c_kv_bf16 = bf16_rows(c_kv, traced ? &c_kv_values : nullptr);
    } else {
        c_kv_fp8 = quantize(Mat(c_kv), kActivationTile);  // 1x128 tiles, FP32 scales
        for (int code = 0; code < 256; ++code) e4m3_values.push_back(fp8_decode(static_cast<uint8_t>(code), Fp8Format::E4M3));
        if (traced) c_kv_values = dequantize(c_kv_fp8);
    }
    Mat out(q_absorbed.rows(), r);
    if (scores) scores->resize(q_absorbed.rows(), S);
    if (probs) probs->resize(q_absorbed.rows(), S);
    // Variant 5 multiplies BF16 queries (FlashMLA's inputs); rounded here, so that its scores and
    // probabilities, when asked for, come from the values it used.
    Mat q_absorbed_bf16, q_pe_bf16;
    if (variant == 5) {
        bf16_rows(q_absorbed, &q_absorbed_bf16);
        bf16_rows(q_pe, &q_pe_bf16);
    }
    const Mat& q_absorbed_used = variant == 5 ? q_absorbed_bf16 : q_absorbed;
    const Mat& q_pe_used = variant == 5 ? q_pe_bf16 : q_pe;
    Backend::latent_cache(out.data(), scores ? scores->data() : nullptr, probs ? probs->data() : nullptr,
                          q_absorbed_used.data(), q_pe_used.data(), variant != 4 ? c_kv_bf16.data() : nullptr,
                          variant == 4 ? c_kv_fp8.codes.data() : nullptr,
                          variant == 4 ? c_kv_fp8.scales.data() : nullptr,
                          variant == 4 ? e4m3_values.data() : nullptr, k_pe_bf16.data(),
                          traced ? c_kv_values.data() : nullptr, traced ? k_pe_values.data() : nullptr, heads, T, start,
                          r, dr, scale, variant, splits);
    return out;
}

template <typename Backend>
Mat latent_attention_forward(const Mat& q_absorbed, const Mat& q_pe, const MatRef& c_kv, const MatRef& k_pe,
                             int64_t heads, float scale, int64_t start, Mat* scores, Mat* probs, int variant,
                             int splits) {
    const std::string what = "latent_attention_forward: ";
    require(heads >= 1 && q_absorbed.rows() % heads == 0,
            what + "q_absorbed has " + std::to_string(q_absorbed.rows()) + " rows, not a multiple of " +
                std::to_string(heads) + " heads");
    const int64_t T = q_absorbed.rows() / heads, S = start + T, r = q_absorbed.cols(), dr = q_pe.cols();
    require(start >= 0, what + "start " + std::to_string(start) + " is negative");
    require(q_pe.rows() == q_absorbed.rows(), what + "q_pe has " + std::to_string(q_pe.rows()) + " rows, q_absorbed " +
                                                  std::to_string(q_absorbed.rows()));
    require(c_kv.rows() == S && k_pe.rows() == S,
            what + std::to_string(T) + " queries from position " + std::to_string(start) + " need " + std::to_string(S) +
                " cached tokens, got c_kv " + std::to_string(c_kv.rows()) + " and k_pe " + std::to_string(k_pe.rows()));
    require(c_kv.cols() == r && k_pe.cols() == dr,
            what + "c_kv has " + std::to_string(c_kv.cols()) + " columns and k_pe " + std::to_string(k_pe.cols()) +
                ", the queries " + std::to_string(r) + " and " + std::to_string(dr));
    // The kernels index rows (H·T, times the splits for the partials), keys and columns with int.
    require(fits_int(S) && fits_int(q_absorbed.rows() * 4096) && fits_int(q_absorbed.rows() * S) &&
                fits_int(S * (r + dr)) && fits_int(16 * (r + dr)),
            what + std::to_string(q_absorbed.rows()) + " query rows, " + std::to_string(S) + " keys of " +
                std::to_string(r) + " + " + std::to_string(dr) + " columns: more than the kernels' int indices hold");
    if (variant == 1)
        require(S <= Backend::max_keys1(static_cast<int>(r), static_cast<int>(dr)),
                what + "variant 1 keeps a row's " + std::to_string(S) + " scores in shared memory, which holds " +
                    std::to_string(Backend::max_keys1(static_cast<int>(r), static_cast<int>(dr))) +
                    " at most: use variant 2");
    if (variant == 2)
        require(Backend::split_fits(static_cast<int>(r), static_cast<int>(dr)),
                what + "variant 2's tiles of r + dr = " + std::to_string(r + dr) + " columns do not fit in shared memory");
    if (variant == 5)
        require(r <= 512, what + "variant 5 keeps at most 512 output columns (r) in registers, r is " + std::to_string(r));
    if (variant >= 3 && variant <= 5) {
        require(Backend::split_fits(static_cast<int>(r), static_cast<int>(dr)),
                what + "variant " + std::to_string(variant) + "'s tiles of r + dr = " + std::to_string(r + dr) +
                    " columns do not fit in shared memory");
        return latent_attention_forward_cache<Backend>(q_absorbed, q_pe, c_kv, k_pe, static_cast<int>(heads), scale,
                                                       static_cast<int>(start), scores, probs, variant, splits);
    }
    Mat c_kv_storage, k_pe_storage;
    const float* c_kv_rows = contiguous_rows(c_kv, c_kv_storage);
    const float* k_pe_rows = contiguous_rows(k_pe, k_pe_storage);
    Mat out(q_absorbed.rows(), r);
    if (scores) scores->resize(q_absorbed.rows(), S);
    if (probs) probs->resize(q_absorbed.rows(), S);
    Backend::latent(out.data(), scores ? scores->data() : nullptr, probs ? probs->data() : nullptr, q_absorbed.data(),
                    q_pe.data(), c_kv_rows, k_pe_rows, static_cast<int>(heads), static_cast<int>(T),
                    static_cast<int>(start), static_cast<int>(r), static_cast<int>(dr), scale, variant, splits);
    return out;
}

template <typename Backend>
Mat attention_forward(const MatRef& q, const MatRef& k, const MatRef& v, int64_t heads, float scale, int64_t start,
                      Mat* scores, Mat* probs, int variant) {
    const std::string what = "attention_forward: ";
    require(heads >= 1 && q.cols() % heads == 0 && v.cols() % heads == 0,
            what + "q's " + std::to_string(q.cols()) + " and v's " + std::to_string(v.cols()) +
                " columns are not whole heads of " + std::to_string(heads));
    const int64_t T = q.rows(), S = start + T, qk_dim = q.cols() / heads, v_dim = v.cols() / heads;
    require(start >= 0, what + "start " + std::to_string(start) + " is negative");
    require(k.rows() == S && v.rows() == S,
            what + std::to_string(T) + " queries from position " + std::to_string(start) + " need " + std::to_string(S) +
                " keys and values, got " + std::to_string(k.rows()) + " and " + std::to_string(v.rows()));
    require(k.cols() == q.cols(),
            what + "k has " + std::to_string(k.cols()) + " columns, q " + std::to_string(q.cols()));
    require(fits_int(S) && fits_int(heads * T) && fits_int(heads * T * S),
            what + std::to_string(heads) + " heads of " + std::to_string(T) + " queries over " + std::to_string(S) +
                " keys: more than the kernels' int indices hold");
    require(S <= Backend::max_keys1(static_cast<int>(qk_dim), 0),
            what + "variant 1 keeps a row's " + std::to_string(S) + " scores in shared memory, which holds " +
                std::to_string(Backend::max_keys1(static_cast<int>(qk_dim), 0)) + " at most");
    Mat q_storage, k_storage, v_storage;
    const float* q_rows = contiguous_rows(q, q_storage);
    const float* k_rows = contiguous_rows(k, k_storage);
    const float* v_rows = contiguous_rows(v, v_storage);
    Mat out(T, v.cols());
    if (scores) scores->resize(heads * T, S);
    if (probs) probs->resize(heads * T, S);
    Backend::naive(out.data(), scores ? scores->data() : nullptr, probs ? probs->data() : nullptr, q_rows, k_rows,
                   v_rows, static_cast<int>(heads), static_cast<int>(T), static_cast<int>(start),
                   static_cast<int>(qk_dim), static_cast<int>(v_dim), scale, variant);
    return out;
}

}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host functions, on row-major host arrays
// (gpu/mla_decode.cu says what each holds), with attention_max_keys1 the most keys variant 1's
// shared memory holds and mla_split_fits whether variant 2's tiles fit in shared memory;
// MlaHostFunctions, the same functions as gpu_detail's templates take them; and the wrappers with
// core's signatures.
#define SEEK_MLA_DECODE_API(backend)                                                                                   \
    namespace backend {                                                                                                \
    void latent_attention_forward_gpu(float* out, float* scores, float* probs, const float* q_absorbed,                \
                                      const float* q_pe, const float* c_kv, const float* k_pe, int heads, int queries, \
                                      int start, int rank, int rope_dim, float scale, int variant, int splits);        \
    void latent_attention_forward_cache_gpu(float* out, float* scores, float* probs, const float* q_absorbed,          \
                                            const float* q_pe, const uint16_t* c_kv_bf16, const uint8_t* c_kv_codes,   \
                                            const float* c_kv_scales, const float* e4m3_values,                        \
                                            const uint16_t* k_pe_bf16, const float* c_kv_values,                       \
                                            const float* k_pe_values, int heads, int queries, int start, int rank,     \
                                            int rope_dim, float scale, int variant, int splits);                       \
    void attention_forward_gpu(float* out, float* scores, float* probs, const float* q, const float* k,                \
                               const float* v, int heads, int queries, int start, int qk_dim, int v_dim, float scale,  \
                               int variant);                                                                           \
    int attention_max_keys1(int dim_a, int dim_b);                                                                     \
    bool mla_split_fits(int rank, int rope_dim);                                                                       \
    int mla_default_splits(int heads, int queries, int keys);                                                          \
    struct MlaHostFunctions {                                                                                          \
        static constexpr auto latent = latent_attention_forward_gpu;                                                   \
        static constexpr auto latent_cache = latent_attention_forward_cache_gpu;                                       \
        static constexpr auto naive = attention_forward_gpu;                                                           \
        static constexpr auto max_keys1 = attention_max_keys1;                                                         \
        static constexpr auto split_fits = mla_split_fits;                                                             \
    };                                                                                                                 \
    inline Mat latent_attention_forward(const Mat& q_absorbed, const Mat& q_pe, const MatRef& c_kv,                    \
                                        const MatRef& k_pe, int64_t heads, float scale, int64_t start, Mat* scores,    \
                                        Mat* probs, int variant, int splits = 0) {                                     \
        return gpu_detail::latent_attention_forward<MlaHostFunctions>(q_absorbed, q_pe, c_kv, k_pe, heads, scale,      \
                                                                      start, scores, probs, variant, splits);          \
    }                                                                                                                  \
    inline Mat attention_forward(const MatRef& q, const MatRef& k, const MatRef& v, int64_t heads, float scale,        \
                                 int64_t start, Mat* scores, Mat* probs, int variant) {                                \
        return gpu_detail::attention_forward<MlaHostFunctions>(q, k, v, heads, scale, start, scores, probs, variant);  \
    }                                                                                                                  \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_MLA_DECODE_API)
#undef SEEK_MLA_DECODE_API

}  // namespace seek
