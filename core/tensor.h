// Dense tensors for the CPU reference: Eigen, row-major, float32.
//
// Activations are [tokens, features]; weights are [out_features, in_features] as in PyTorch and
// the HF checkpoint, so a linear layer is y = x W^T.
#pragma once

#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

namespace seek {

using Mat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Vec = Eigen::VectorXf;
using MatD = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Shape = std::vector<int64_t>;
// Scalar-generic forms for code that runs in float and, for gradient checks, in double:
// MatOf<float> is Mat and MatOf<double> is MatD.
template <typename S>
using MatOf = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename S>
using VecOf = Eigen::Matrix<S, Eigen::Dynamic, 1>;
// A read-only view of a matrix or of a block of rows (a cache's first S rows) without a copy.
using MatRef = Eigen::Ref<const Mat>;
template <typename S>
using MatRefOf = Eigen::Ref<const MatOf<S>>;
// Expert ids and other small integer matrices (the gate's topk_idx).
using IndexMat = Eigen::Matrix<int32_t, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// A linear layer y = x W^T (x: [T, in], W: [out, in]), its backward and its BF16 / FP8 forms: linear.h.

// "[2, 17]"
inline std::string format_shape(const Shape& shape) {
    std::string text = "[";
    for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
    return text + "]";
}

inline int64_t shape_numel(const Shape& shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return n;
}

}  // namespace seek
