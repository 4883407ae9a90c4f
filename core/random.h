// Deterministic random numbers that do not depend on the standard library's distributions.
//
// Generated weights are a pure function of (seed, tensor name, element index): CPU and GPU, or two
// machines, build identical full-scale layers without storing them, and one expert can be
// materialized on demand without generating the others.
#pragma once

#include <cstdint>
#include <string>

#include "tensor.h"

namespace seek {

uint64_t splitmix64(uint64_t x);
uint64_t hash_name(const std::string& name);  // FNV-1a, 64 bit

// Standard normal for (seed, name_hash, index): two hashed counters fed to Box-Muller.
float normal_at(uint64_t seed, uint64_t name_hash, uint64_t index);
// out[i] = normal_at(seed, name_hash, first + i) for i < count, in vector blocks (the same floats).
void normals_at(uint64_t seed, uint64_t name_hash, uint64_t first, int64_t count, float* out);

// The vector code normals_at runs: the widest the CPU has, checked at run time (the build targets
// x86-64-v3, AVX2). Each gives normal_at's floats; AVX-512 only faster (tests/test_random.cpp runs each
// path the CPU has). Asking for one the CPU lacks throws std::invalid_argument.
enum class NormalsPath { Scalar, Avx2, Avx512 };
NormalsPath fastest_normals_path();
const char* normals_path_name(NormalsPath path);  // "scalar", "avx2", "avx512"
void normals_at(uint64_t seed, uint64_t name_hash, uint64_t first, int64_t count, float* out, NormalsPath path);

// A [rows, cols] matrix of N(0, std^2) values; element (r, c) uses index r * cols + c.
Mat generated_matrix(uint64_t seed, const std::string& name, int64_t rows, int64_t cols, float std);
// The same values written into m, resized to [rows, cols]: storage of that size is reused, which
// spares a full-scale expert the kernel's page faults and zeroing of fresh memory (seek bench moe).
void fill_generated(Mat& m, uint64_t seed, const std::string& name, int64_t rows, int64_t cols, float std);

// A sequential generator for sampling and synthetic data (not for weights).
struct Rng {
    uint64_t state;
    explicit Rng(uint64_t seed) : state(seed) {}
    uint64_t next_u64() { return splitmix64(state++); }
    double uniform() { return (next_u64() >> 11) * 0x1.0p-53; }  // [0, 1)
    float normal();
};

}  // namespace seek
