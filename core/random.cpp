#include "random.h"

#include <cmath>

#include "parallel.h"

namespace seek {

uint64_t splitmix64(uint64_t x) {
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

uint64_t hash_name(const std::string& name) {
    uint64_t h = 0xCBF29CE484222325ull;
    for (unsigned char c : name) {
        h ^= c;
        h *= 0x100000001B3ull;
    }
    return h;
}

// Box-Muller on two uniforms in (0, 1]; computed in double so the float result is the same on any
// machine with IEEE doubles and a correctly rounded log/cos to float precision.
static float box_muller(uint64_t a, uint64_t b) {
    const double u1 = ((a >> 11) + 1) * 0x1.0p-53;
    const double u2 = (b >> 11) * 0x1.0p-53;
    return static_cast<float>(std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2));
}

float normal_at(uint64_t seed, uint64_t name_hash, uint64_t index) {
    const uint64_t key = splitmix64(seed ^ splitmix64(name_hash)) + 2 * index;
    return box_muller(splitmix64(key), splitmix64(key + 1));
}

Mat generated_matrix(uint64_t seed, const std::string& name, int64_t rows, int64_t cols, float std) {
    Mat m(rows, cols);
    const uint64_t name_hash = hash_name(name);
    float* values = m.data();
    // A value costs about as much as a thousand flops of a product (two hashes, a log and a cosine).
#pragma omp parallel for schedule(static) if (worth_threads(1e3 * rows * cols))
    for (int64_t i = 0; i < rows * cols; ++i) values[i] = std * normal_at(seed, name_hash, i);
    return m;
}

float Rng::normal() {
    const uint64_t a = next_u64();
    return box_muller(a, next_u64());
}

}  // namespace seek
