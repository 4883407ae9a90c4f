// FP8 (E4M3) quantization with per-tile scales on a GPU backend (gpu/quantize.cu), with
// core/quantize.h's quantize:
//   seek::emu::quantize(x, tile, format, variant)   the kernels in the emulator (seek_gpu_emu)
//   seek::cuda::quantize(x, tile, format, variant)  the kernels on a GPU (seek_gpu, nvcc)
// Variants 1 (a thread per tile) and 2 (a warp per 1 x C tile, a block per R x C tile); both give
// core's codes and scales bit for bit, for any tile (DeepSeek-V3: kActivationTile 1x128 and
// kWeightTile 128x128) and either scale format (FP32, UE8M0 powers of two).
// Needs the CUDA toolkit's cuda_fp8.h (without it quantize.cu is not built: gpu/README.md).
#pragma once

#include <climits>
#include <cstdint>
#include <stdexcept>
#include <string>

#include "core/quantize.h"
#include "gpu/for_each_backend.h"

namespace seek {

namespace gpu_detail {
template <typename HostFunction>
QuantizedMatrix quantize(HostFunction host_function, const Mat& x, const Tile& tile, ScaleFormat format, int variant) {
    if (x.rows() > INT_MAX || x.cols() > INT_MAX || tile.rows > INT_MAX || tile.cols > INT_MAX) {
        throw std::invalid_argument("quantize: x is " + std::to_string(x.rows()) + " x " + std::to_string(x.cols()) +
                                    " in " + tile_name(tile) + " tiles: the kernels index rows and columns with int");
    }
    if (tile.rows < 1 || tile.cols < 1) throw std::invalid_argument("quantize: tile " + tile_name(tile) + " is empty");
    QuantizedMatrix q;
    q.rows = x.rows();
    q.cols = x.cols();
    q.tile = tile;
    q.codes.resize(static_cast<size_t>(x.size()));
    q.scales.resize(tile_count(q.rows, tile.rows), tile_count(q.cols, tile.cols));
    host_function(q.codes.data(), q.scales.data(), x.data(), static_cast<int>(x.rows()), static_cast<int>(x.cols()),
                  static_cast<int>(tile.rows), static_cast<int>(tile.cols), format == ScaleFormat::PowerOfTwo, variant);
    return q;
}
}  // namespace gpu_detail

// One backend's names (gpu/for_each_backend.h): the .cu's host function (codes [rows, cols],
// scales [ceil(rows / tile_rows), ceil(cols / tile_cols)] and x [rows, cols], row-major host
// arrays) and the wrapper with core's signature.
#define SEEK_QUANTIZE_API(backend)                                                                                     \
    namespace backend {                                                                                                \
    void quantize_gpu(uint8_t* codes, float* scales, const float* x, int rows, int cols, int tile_rows, int tile_cols, \
                      bool power_of_two_scales, int variant);                                                          \
    inline QuantizedMatrix quantize(const Mat& x, const Tile& tile, ScaleFormat format, int variant) {                 \
        return gpu_detail::quantize(quantize_gpu, x, tile, format, variant);                                           \
    }                                                                                                                  \
    }
SEEK_FOR_EACH_GPU_BACKEND(SEEK_QUANTIZE_API)
#undef SEEK_QUANTIZE_API

}  // namespace seek
