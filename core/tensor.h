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

template <typename S>
S sigmoid(S a) {
    return S(1) / (S(1) + std::exp(-a));
}

// y = x W^T  (x: [T, in], W: [out, in])
inline Mat linear(const Mat& x, const Mat& weight) { return x * weight.transpose(); }

// Its backward and the BF16 / FP8 forms training uses: linear.h.

// Eigen splits even a 64-wide matrix product across its OpenMP threads. For the toy model the
// fork and join cost more than they save, and on a busy machine the threads spinning at the
// barrier make a training step ten times slower. Training, GRPO and generation hold this guard:
// one thread per product (the full-scale benchmarks keep Eigen's threads).
//
// It also fixes the L1 size Eigen blocks its products for. Eigen cuts the inner dimension of a
// product into slices that fit the L1 cache it detects, and the slices are summed one after the
// other: a weight gradient summed over 3,000 tokens comes out in other last bits on a CPU with a
// 32 KB L1 than on one with 48 KB. With the size fixed (48 KB, the machine data/toy was made on),
// a run gives the same bytes on any machine, not only on any thread count.
struct SingleThreadedProducts {
    int saved = Eigen::nbThreads();
    std::ptrdiff_t saved_l1 = Eigen::l1CacheSize();
    SingleThreadedProducts() {
        Eigen::setNbThreads(1);
        Eigen::setCpuCacheSizes(48 * 1024, Eigen::l2CacheSize(), Eigen::l3CacheSize());
    }
    ~SingleThreadedProducts() {
        Eigen::setNbThreads(saved);
        Eigen::setCpuCacheSizes(saved_l1, Eigen::l2CacheSize(), Eigen::l3CacheSize());
    }
    SingleThreadedProducts(const SingleThreadedProducts&) = delete;
    SingleThreadedProducts& operator=(const SingleThreadedProducts&) = delete;
};

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
