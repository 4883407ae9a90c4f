// e^x for arrays of floats, eight at a time, with the bits of glibc's expf; and of doubles, four at
// a time, with the bits of glibc's exp.
//
// SwiGLU's SiLU, the router's sigmoid and every softmax take an exp per element; one call of
// libm's expf per element was 6-9% of a toy training step. exp_floats computes the same function
// as glibc's expf (2.28 and later, from Arm's optimized-routines), operation for operation, in
// 256-bit registers:
//
//   x = (k + r) ln2 / 32, k an integer, |r| <= 1/2     z = x 32/ln2 rounded to nearest by adding 1.5 2^52
//   2^(k/32) = 2^(k div 32) * T[k mod 32]               T[i] = 2^(i/32), a table of 32 doubles
//   2^(r/32) ~ 1 + C2 r + C1 r^2 + C0 r^3                (a cubic: 2^-34 relative error in double)
//   e^x = float(2^(k/32) * 2^(r/32))
//
// in double precision with the same fused multiply-adds, so every result is glibc's to the bit
// (tests/test_exp.cpp checks that, and that it is within 1 ulp of e^x in double). Keeping glibc's
// bits keeps the bundled toy runs' bytes; owning the code makes them independent of the libm a
// machine has. Arguments where expf leaves its fast path (|x| >= 88, inf, NaN) go to std::exp itself.
#pragma once

#include <cstdint>

namespace seek {

// y[i] = e^(x[i]) for i < n; x and y may be the same array.
void exp_floats(const float* x, float* y, int64_t n);

// The same for one float (the scalar path of exp_floats).
float exp_float(float x);

// The same for doubles, with the bits of glibc's exp (its table of 128 pairs, a quintic, the same
// fused multiply-adds); arguments off its fast path (|x| < 2^-54 or >= 512, inf, NaN) go to
// std::exp. The cross-entropy's log-sum-exp and softmax run in double.
void exp_doubles(const double* x, double* y, int64_t n);
double exp_double(double x);

// values[i] = e^(values[i]), for float or double, so that an op's template code has one line for both.
inline void exp_in_place(float* values, int64_t n) { exp_floats(values, values, n); }
inline void exp_in_place(double* values, int64_t n) { exp_doubles(values, values, n); }

// values[i] = sigmoid(values[i]) = 1 / (1 + e^(-values[i])).
template <typename S>
void sigmoid_in_place(S* values, int64_t n) {
    for (int64_t i = 0; i < n; ++i) values[i] = -values[i];
    exp_in_place(values, n);
    for (int64_t i = 0; i < n; ++i) values[i] = S(1) / (S(1) + values[i]);
}

}  // namespace seek
