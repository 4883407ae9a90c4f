// FP8 GEMM reference: C = A B^T from fine-grained quantized inputs, with the accumulation either
// exact (FP32, as DeepGEMM's CUDA cores do it) or emulating the Hopper tensor core's limited
// accumulator, with or without promotion (V3 report §3.3.2, "increasing accumulation precision").
//
// Inputs (DeepGEMM's layouts): A [M, K] with 1x128 scales [M, K/128] (activations),
// B [N, K] with 128x128 scales [N/128, K/128] (weights); both share the 128-wide blocks along K.
//
// Exact: each 128-wide K block is summed in FP32 (products of two E4M3 values are exact in FP32),
// multiplied by a_scale[m, kb] * b_scale[n / 128, kb] and added into an FP32 accumulator:
//     C[m, n] = sum_kb ( sum_{k in kb} qa[m, k] qb[n, k] ) * a_scale[m, kb] * b_scale[n / 128, kb]
//
// Tensor core: a model of what the H800 does inside one WGMMA (V3 report §3.3.2: "after aligning 32
// mantissa products by right shift to the max exponent only the top 14 bits are added"), in the
// form Fasi et al. (PeerJ CS 2021) measured for V100/A100 tensor cores, where the accumulator is
// aligned together with the products:
//   products are added `group` (32) at a time; at each step, the largest magnitude among the
//   running accumulator and the group's products sets an exponent E, and every one of those terms
//   is cut (truncated toward zero, like a right shift of a sign-magnitude mantissa) to a multiple
//   of 2^(E - accum_bits + 1), i.e. to the top accum_bits bits below E's leading bit; the cut
//   terms are then added exactly and become the new accumulator.
// Once the sum is large, every product loses its bits below the sum's top accum_bits, about half
// a cut each. When the products share a sign these losses add up and the relative error grows
// like K x 2^-(accum_bits + 1.5): 8% at K = 4096 with 14 bits for U[0, 1) inputs. With random
// signs they partly cancel and it grows like sqrt(K): 0.5% at K = 4096 for N(0, 1) inputs. The
// V3 report's ~2% lies between. (Aligning only the products and rounding their sum into the
// accumulator separately would give ~0.1-0.3% at K = 4096, well below what the report saw.)
// Promotion bounds the error: every promote_every (N_C) products the partial sum is added into
// an FP32 accumulator and restarted from zero, so no partial sum grows past N_C products.
// The products enter the accumulator already multiplied by their scales (as if the tensor core
// took group scales, a V3 hardware wish), so that promotion need not coincide with the 128-wide
// scale blocks and "never" is possible; the cut is relative to the accumulator's own magnitude,
// so a common factor does not change the error statistically.
#pragma once

#include <cstdint>

#include "quantize.h"
#include "tensor.h"

namespace seek {

enum class AccumulationMode { Exact, TensorCore };

struct AccumulationModel {
    AccumulationMode mode = AccumulationMode::Exact;
    int accum_bits = 14;          // significant bits the tensor core keeps (H800: ~14, V3 report §3.3.2)
    int64_t group = 32;           // products aligned together: one FP8 WGMMA's K
    int64_t promote_every = 128;  // N_C; 0 = never promote (a multiple of `group` otherwise)
};

// C [M, N] = A B^T. Throws std::invalid_argument when the K extents or K blocks of A and B
// differ, or the model's parameters are out of range (accum_bits 2..40, group >= 1, promote_every
// a non-negative multiple of group).
Mat fp8_gemm(const QuantizedMatrix& a, const QuantizedMatrix& b, const AccumulationModel& model);

// The same product in FP64 from the dequantized inputs: what the accumulation is measured against.
MatD reference_gemm(const QuantizedMatrix& a, const QuantizedMatrix& b);

// How far C is from the FP64 reference, relative to the output's scale as `seek compare` measures:
// max_rel = max |C - R| / max |R|, mean_rel = mean |C - R| / mean |R|. (An element-wise
// |C - R| / |R| would be dominated by the outputs that happen to cancel to almost zero.)
struct GemmError {
    double max_rel = 0;
    double mean_rel = 0;
};
GemmError gemm_error(const Mat& c, const MatD& reference);

// One step of the tensor-core model above: the accumulator plus `count` products, each cut to
// the top `accum_bits` bits below the largest one's leading bit, added exactly.
double tensor_core_accumulate(double accumulator, const double* products, int64_t count, int accum_bits);

}  // namespace seek
