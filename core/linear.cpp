#include "linear.h"

#include <stdexcept>
#include <type_traits>

#include "fp8.h"

namespace seek {

const char* gemm_precision_name(GemmPrecision precision) {
    switch (precision) {
        case GemmPrecision::FP32: return "fp32";
        case GemmPrecision::BF16: return "bf16";
        case GemmPrecision::FP8: return "fp8";
    }
    return "?";
}

GemmPrecision gemm_precision_from_name(const std::string& name) {
    if (name == "fp32") return GemmPrecision::FP32;
    if (name == "bf16") return GemmPrecision::BF16;
    if (name == "fp8") return GemmPrecision::FP8;
    throw std::invalid_argument("precision must be fp32, bf16 or fp8, got '" + name + "'");
}

void fix_machine_dependent_settings() {
    Eigen::setCpuCacheSizes(32 * 1024, 512 * 1024, 8 * 1024 * 1024);  // L1, L2, L3: common x86-64-v3 sizes
    Eigen::setNbThreads(1);
}

static Mat rounded_to_bf16(const Mat& x) {
    Mat rounded(x.rows(), x.cols());
    for (Eigen::Index i = 0; i < x.size(); ++i) rounded.data()[i] = bf16_decode(bf16_encode(x.data()[i]));
    return rounded;
}

Mat low_precision_gemm(const Mat& a, const Mat& b, const LinearPrecision& precision, const Tile& a_tile,
                       const Tile& b_tile) {
    switch (precision.gemm) {
        case GemmPrecision::FP32: return a * b.transpose();
        case GemmPrecision::BF16: return rounded_to_bf16(a) * rounded_to_bf16(b).transpose();
        case GemmPrecision::FP8: {
            if (precision.accumulation.mode == AccumulationMode::TensorCore)
                return fp8_gemm(quantize(a, a_tile), quantize(b, b_tile), precision.accumulation);
            // Exact: the E4M3 values times their scales, as dequantize(quantize()) gives them.
            return quantize_dequantize(a, a_tile) * quantize_dequantize(b, b_tile).transpose();
        }
    }
    return {};
}

// Double runs the gradient checks, in fp32 only.
template <typename S>
static void check_scalar(const LinearPrecision& precision) {
    if (!std::is_same_v<S, float> && precision.gemm != GemmPrecision::FP32)
        throw std::invalid_argument("linear layers in double run fp32 only");
}

template <typename S>
MatOf<S> linear_forward(const MatOf<S>& x, const MatOf<S>& weight, const LinearPrecision& precision) {
    check_scalar<S>(precision);
    if constexpr (std::is_same_v<S, float>)
        if (precision.gemm != GemmPrecision::FP32)
            return low_precision_gemm(x, weight, precision, kActivationTile, kWeightTile);
    return x * weight.transpose();
}

// The 128x1 tiles of Wgrad are 1x128 tiles of the transposes.
template <typename S>
void linear_backward(MatOf<S>& dx, MatOf<S>& dweight, const MatOf<S>& dy, const MatOf<S>& x,
                     const MatOf<S>& weight, const LinearPrecision& precision) {
    check_scalar<S>(precision);
    if constexpr (std::is_same_v<S, float>) {
        if (precision.gemm != GemmPrecision::FP32) {
            dx += low_precision_gemm(dy, weight.transpose(), precision, kActivationTile, kWeightTile);
            dweight += low_precision_gemm(dy.transpose(), x.transpose(), precision, kActivationTile, kActivationTile);
            return;
        }
    }
    dx += dy * weight;
    dweight += dy.transpose() * x;
}

template MatOf<float> linear_forward(const MatOf<float>&, const MatOf<float>&, const LinearPrecision&);
template MatOf<double> linear_forward(const MatOf<double>&, const MatOf<double>&, const LinearPrecision&);
template void linear_backward(MatOf<float>&, MatOf<float>&, const MatOf<float>&, const MatOf<float>&,
                              const MatOf<float>&, const LinearPrecision&);
template void linear_backward(MatOf<double>&, MatOf<double>&, const MatOf<double>&, const MatOf<double>&,
                              const MatOf<double>&, const LinearPrecision&);

}  // namespace seek
