#include "fp8_gemm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "parallel.h"

namespace seek {

namespace {

void check_inputs(const QuantizedMatrix& a, const QuantizedMatrix& b, const AccumulationModel& model) {
    if (a.cols != b.cols) {
        throw std::invalid_argument("fp8_gemm: A is [" + std::to_string(a.rows) + ", " + std::to_string(a.cols) +
                                    "] but B is [" + std::to_string(b.rows) + ", " + std::to_string(b.cols) +
                                    "]: the K extents differ");
    }
    if (a.tile.cols != b.tile.cols) {
        throw std::invalid_argument("fp8_gemm: A's scale tiles are " + tile_name(a.tile) + " and B's " +
                                    tile_name(b.tile) + ": they must share the K block");
    }
    if (model.accum_bits < 2 || model.accum_bits > 40) {
        throw std::invalid_argument("fp8_gemm: accum_bits must be between 2 and 40, got " +
                                    std::to_string(model.accum_bits));
    }
    if (model.group < 1) throw std::invalid_argument("fp8_gemm: group must be >= 1");
    if (model.promote_every < 0 || model.promote_every % model.group != 0) {
        throw std::invalid_argument("fp8_gemm: promote_every (" + std::to_string(model.promote_every) +
                                    ") must be 0 or a positive multiple of the group (" +
                                    std::to_string(model.group) + ")");
    }
}

// E4M3 codes -> their values (without the scales), row-major like the codes.
std::vector<float> decoded_codes(const QuantizedMatrix& q) {
    std::vector<float> values(q.codes.size());
    for (size_t i = 0; i < q.codes.size(); ++i) values[i] = fp8_decode(q.codes[i], Fp8Format::E4M3);
    return values;
}

// |value| cut toward zero to a multiple of `quantum` (a power of two, so the division is exact).
double truncate_to_multiple(double value, double quantum) { return std::trunc(value / quantum) * quantum; }

}  // namespace

double tensor_core_accumulate(double accumulator, const double* products, int64_t count, int accum_bits) {
    double largest = std::fabs(accumulator);
    for (int64_t i = 0; i < count; ++i) largest = std::max(largest, std::fabs(products[i]));
    if (largest == 0) return 0;
    // The largest term lies in [2^E, 2^(E+1)); keep accum_bits bits from there down.
    const double quantum = std::ldexp(1.0, std::ilogb(largest) - (accum_bits - 1));
    double sum = truncate_to_multiple(accumulator, quantum);
    for (int64_t i = 0; i < count; ++i) sum += truncate_to_multiple(products[i], quantum);
    return sum;  // exact: at most 1 + count terms, each a multiple of quantum below 2^(E+1)
}

Mat fp8_gemm(const QuantizedMatrix& a, const QuantizedMatrix& b, const AccumulationModel& model) {
    check_inputs(a, b, model);
    const int64_t M = a.rows, N = b.rows, K = a.cols;
    const int64_t block = a.tile.cols;  // the K block the scales change at
    const std::vector<float> qa = decoded_codes(a), qb = decoded_codes(b);
    Mat c(M, N);

    // Rows on threads when the emulation is long (tens of operations per product).
    parallel_for(M, worth_threads(20.0 * M * N * K), [&](int64_t m) {
        std::vector<double> products(static_cast<size_t>(model.group));
        for (int64_t n = 0; n < N; ++n) {
            const float* a_row = &qa[m * K];
            const float* b_row = &qb[n * K];
            float accumulator = 0;  // FP32, on the CUDA cores

            if (model.mode == AccumulationMode::Exact) {
                for (int64_t k0 = 0; k0 < K; k0 += block) {
                    float block_sum = 0;
                    for (int64_t k = k0; k < std::min(K, k0 + block); ++k) block_sum += a_row[k] * b_row[k];
                    accumulator += block_sum * a.scale_at(m, k0) * b.scale_at(n, k0);
                }
            } else {
                double partial = 0;  // the tensor core's limited-precision accumulator
                int64_t since_promotion = 0;
                for (int64_t k0 = 0; k0 < K; k0 += model.group) {
                    const int64_t count = std::min(model.group, K - k0);
                    for (int64_t i = 0; i < count; ++i) {
                        const int64_t k = k0 + i;
                        products[i] = double(a_row[k]) * b_row[k] * a.scale_at(m, k) * b.scale_at(n, k);
                    }
                    partial = tensor_core_accumulate(partial, products.data(), count, model.accum_bits);
                    since_promotion += count;
                    if (model.promote_every > 0 && since_promotion == model.promote_every) {
                        accumulator += static_cast<float>(partial);  // promotion: into FP32, restart
                        partial = 0;
                        since_promotion = 0;
                    }
                }
                accumulator += static_cast<float>(partial);
            }
            c(m, n) = accumulator;
        }
    });
    return c;
}

MatD reference_gemm(const QuantizedMatrix& a, const QuantizedMatrix& b) {
    // code x scale in double is exact (4 + 24 significant bits), unlike dequantize's float.
    auto exact_values = [](const QuantizedMatrix& q) {
        MatD values(q.rows, q.cols);
        for (int64_t r = 0; r < q.rows; ++r)
            for (int64_t c = 0; c < q.cols; ++c)
                values(r, c) = double(fp8_decode(q.codes[r * q.cols + c], Fp8Format::E4M3)) * q.scale_at(r, c);
        return values;
    };
    return exact_values(a) * exact_values(b).transpose();
}

GemmError gemm_error(const Mat& c, const MatD& reference) {
    const MatD error = (c.cast<double>() - reference).cwiseAbs();
    const double max_reference = reference.cwiseAbs().maxCoeff(), mean_reference = reference.cwiseAbs().mean();
    return {max_reference > 0 ? error.maxCoeff() / max_reference : error.maxCoeff(),
            mean_reference > 0 ? error.mean() / mean_reference : error.mean()};
}

}  // namespace seek
