// The emulator's device side: every CUDA name a kernel uses, for a kernel compiled by the host
// compiler (gpu/seek_cuda.h includes this when the compiler is not nvcc).
//
// How a GPU runs a kernel, and how this imitates it:
//   - A launch is a grid of blocks; a block is up to 1024 threads that share fast on-chip memory
//     (__shared__) and can wait for each other (__syncthreads). The GPU runs many blocks at once
//     and guarantees nothing about their order. Here the blocks of a launch run one after another,
//     in an order shuffled from the seed.
//   - Inside a block, threads are grouped in warps of 32 lanes that issue instructions together
//     and can exchange registers (__shfl_*_sync) or vote (__ballot_sync). Here every thread is a
//     fiber: a function call with its own stack, which runs until it reaches a barrier, a warp op
//     or its end, and then hands the CPU back to the scheduler, which picks the next fiber at
//     random (seeded). So code that forgets a barrier reads memory its neighbour has not written
//     yet, as it might on a GPU, but here every time.
// Everything lives in namespace seek::emu, so a program can link these kernels and the real CUDA
// runtime side by side. The scheduler is gpu/emulator/scheduler.cpp.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

// ---- keywords ------------------------------------------------------------------------------
// On a GPU these say where code runs or where a variable lives; here everything is ordinary CPU
// code. (The toolkit's host_defines.h, which cuda_fp8.h pulls in, defines some of them for the
// host too, so each is undefined first.)
#undef __global__
#undef __device__
#undef __host__
#undef __forceinline__
#undef __noinline__
#undef __launch_bounds__
#undef __align__
#undef __constant__
#undef __shared__
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline  // plain inline, so gdb can step into and break in device functions
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define __constant__
// __shared__ memory is one copy per block. All threads of a block are fibers on the OS thread that
// launched the kernel, and blocks run one at a time, so a function-local `static thread_local`
// is exactly one copy per running block. (Unlike a GPU's, it keeps what the previous block wrote
// in it; dynamic shared memory, SEEK_DYNAMIC_SHARED, is refilled with 0xFF bytes for every block.)
#define __shared__ static thread_local
// __restrict__ is a keyword of g++ and clang++ already.

namespace seek::emu {

// ---- built-in types and variables -----------------------------------------------------------
struct uint3 {
    unsigned int x, y, z;
};
struct dim3 {
    unsigned int x, y, z;
    constexpr dim3(unsigned int x_ = 1, unsigned int y_ = 1, unsigned int z_ = 1) : x(x_), y(y_), z(z_) {}
    constexpr dim3(uint3 v) : x(v.x), y(v.y), z(v.z) {}
};
struct alignas(8) float2 {
    float x, y;
};
struct alignas(16) float4 {
    float x, y, z, w;
};
struct alignas(8) int2 {
    int x, y;
};
struct alignas(16) int4 {
    int x, y, z, w;
};
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }

// The scheduler writes these before it switches to a fiber, so they always hold the running
// thread's values; in gdb, `print threadIdx` inside a kernel shows the thread you stopped in.
extern thread_local uint3 threadIdx;
extern thread_local uint3 blockIdx;
extern thread_local dim3 blockDim;
extern thread_local dim3 gridDim;
constexpr int warpSize = 32;

// ---- barriers and warp ops --------------------------------------------------------------------
// Each takes the caller's file and line as hidden default arguments, so an error can say which
// barrier a thread waits at.
namespace detail {

enum class BarrierKind { plain, count, all, any };
int block_barrier(BarrierKind kind, int predicate, const char* file, int line);

enum class WarpOpKind { shfl_idx, shfl_up, shfl_down, shfl_xor, ballot, any, all, syncwarp };
// What one lane brings to a warp op: pointers into its own stack frame, which stays alive while it
// waits for the other lanes.
struct WarpArrival {
    WarpOpKind kind;
    unsigned mask;
    const void* value;  // shuffles: this lane's var
    void* result;       // shuffles: where the value from the source lane goes
    size_t size;        // sizeof(var)
    int lane_arg;       // srcLane, delta or laneMask
    int width;          // shuffles: segment width (a power of two <= 32)
    int predicate;      // votes
    unsigned vote;      // votes: the ballot of the mask's lanes, filled in when all have arrived
    const char* file;
    int line;
};
void warp_op(WarpArrival& arrival);  // returns once every lane of the mask has arrived

template <typename T>
T shuffle(WarpOpKind kind, unsigned mask, T var, int lane_arg, int width, const char* file, int line) {
    static_assert(std::is_trivially_copyable<T>::value, "a shuffle moves the bits of a register");
    T result;
    WarpArrival arrival{kind, mask, &var, &result, sizeof(T), lane_arg, width, 0, 0u, file, line};
    warp_op(arrival);
    return result;
}

inline unsigned vote(WarpOpKind kind, unsigned mask, int predicate, const char* file, int line) {
    WarpArrival arrival{kind, mask, nullptr, nullptr, 0, 0, warpSize, predicate, 0u, file, line};
    warp_op(arrival);
    return arrival.vote;
}

unsigned char* dynamic_shared_memory();  // this block's buffer (see SEEK_DYNAMIC_SHARED)

}  // namespace detail

// Every thread of the block must reach the same __syncthreads() (exited threads do not count):
// the emulator reports any other case as an error.
inline void __syncthreads(const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    detail::block_barrier(detail::BarrierKind::plain, 0, file, line);
}
inline int __syncthreads_count(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return detail::block_barrier(detail::BarrierKind::count, predicate, file, line);
}
inline int __syncthreads_and(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return detail::block_barrier(detail::BarrierKind::all, predicate, file, line);
}
inline int __syncthreads_or(int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return detail::block_barrier(detail::BarrierKind::any, predicate, file, line);
}

// Warp ops: every lane named in `mask` must call the same op with the same mask; then lane i gets
// var of the source lane (shuffles) or the vote of all of them. A lane whose source falls outside
// its width-wide segment keeps its own value, as on the GPU.
template <typename T>
T __shfl_sync(unsigned mask, T var, int src_lane, int width = warpSize, const char* file = __builtin_FILE(),
              int line = __builtin_LINE()) {
    return detail::shuffle(detail::WarpOpKind::shfl_idx, mask, var, src_lane, width, file, line);
}
template <typename T>
T __shfl_up_sync(unsigned mask, T var, unsigned delta, int width = warpSize, const char* file = __builtin_FILE(),
                 int line = __builtin_LINE()) {
    return detail::shuffle(detail::WarpOpKind::shfl_up, mask, var, static_cast<int>(delta), width, file, line);
}
template <typename T>
T __shfl_down_sync(unsigned mask, T var, unsigned delta, int width = warpSize, const char* file = __builtin_FILE(),
                   int line = __builtin_LINE()) {
    return detail::shuffle(detail::WarpOpKind::shfl_down, mask, var, static_cast<int>(delta), width, file, line);
}
template <typename T>
T __shfl_xor_sync(unsigned mask, T var, int lane_mask, int width = warpSize, const char* file = __builtin_FILE(),
                  int line = __builtin_LINE()) {
    return detail::shuffle(detail::WarpOpKind::shfl_xor, mask, var, lane_mask, width, file, line);
}
inline unsigned __ballot_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(),
                              int line = __builtin_LINE()) {
    return detail::vote(detail::WarpOpKind::ballot, mask, predicate, file, line);
}
inline int __any_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return static_cast<int>(detail::vote(detail::WarpOpKind::any, mask, predicate, file, line));
}
inline int __all_sync(unsigned mask, int predicate, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    return static_cast<int>(detail::vote(detail::WarpOpKind::all, mask, predicate, file, line));
}
inline void __syncwarp(unsigned mask = 0xffffffffu, const char* file = __builtin_FILE(), int line = __builtin_LINE()) {
    detail::vote(detail::WarpOpKind::syncwarp, mask, 0, file, line);
}

// ---- atomics ----------------------------------------------------------------------------------
// On a GPU, threads of many blocks update one address at once and the memory system serializes
// them. Here one fiber runs at a time and an atomic never hands the CPU back, so a plain
// read-modify-write is atomic. Their order still follows the seeded schedule, so a float sum by
// atomicAdd changes in its last bits with the seed, as it changes from run to run on a GPU.
namespace detail {
template <typename T, typename Update>
T read_modify_write(T* address, Update update) {
    const T old = *address;
    *address = update(old);
    return old;
}
// int arithmetic wraps on a GPU; in C++ signed overflow is undefined, so it goes through unsigned.
inline int wrapping_add(int a, int b) { return static_cast<int>(static_cast<unsigned>(a) + static_cast<unsigned>(b)); }
}  // namespace detail

inline int atomicAdd(int* address, int value) {
    return detail::read_modify_write(address, [value](int old) { return detail::wrapping_add(old, value); });
}
inline unsigned atomicAdd(unsigned* address, unsigned value) {
    return detail::read_modify_write(address, [value](unsigned old) { return old + value; });
}
inline unsigned long long atomicAdd(unsigned long long* address, unsigned long long value) {
    return detail::read_modify_write(address, [value](unsigned long long old) { return old + value; });
}
inline float atomicAdd(float* address, float value) {
    return detail::read_modify_write(address, [value](float old) { return old + value; });
}
inline double atomicAdd(double* address, double value) {
    return detail::read_modify_write(address, [value](double old) { return old + value; });
}
inline int atomicSub(int* address, int value) {
    return detail::read_modify_write(address, [value](int old) { return detail::wrapping_add(old, -value); });
}
inline unsigned atomicSub(unsigned* address, unsigned value) {
    return detail::read_modify_write(address, [value](unsigned old) { return old - value; });
}
inline int atomicMax(int* address, int value) {
    return detail::read_modify_write(address, [value](int old) { return old > value ? old : value; });
}
inline unsigned atomicMax(unsigned* address, unsigned value) {
    return detail::read_modify_write(address, [value](unsigned old) { return old > value ? old : value; });
}
inline int atomicMin(int* address, int value) {
    return detail::read_modify_write(address, [value](int old) { return old < value ? old : value; });
}
inline unsigned atomicMin(unsigned* address, unsigned value) {
    return detail::read_modify_write(address, [value](unsigned old) { return old < value ? old : value; });
}
inline int atomicExch(int* address, int value) {
    return detail::read_modify_write(address, [value](int) { return value; });
}
inline unsigned atomicExch(unsigned* address, unsigned value) {
    return detail::read_modify_write(address, [value](unsigned) { return value; });
}
inline unsigned long long atomicExch(unsigned long long* address, unsigned long long value) {
    return detail::read_modify_write(address, [value](unsigned long long) { return value; });
}
inline float atomicExch(float* address, float value) {
    return detail::read_modify_write(address, [value](float) { return value; });
}
// compare-and-swap: store `value` only if the address still holds `compare`; returns the old value.
inline int atomicCAS(int* address, int compare, int value) {
    return detail::read_modify_write(address, [=](int old) { return old == compare ? value : old; });
}
inline unsigned atomicCAS(unsigned* address, unsigned compare, unsigned value) {
    return detail::read_modify_write(address, [=](unsigned old) { return old == compare ? value : old; });
}
inline unsigned long long atomicCAS(unsigned long long* address, unsigned long long compare,
                                    unsigned long long value) {
    return detail::read_modify_write(address,
                                     [=](unsigned long long old) { return old == compare ? value : old; });
}
inline int atomicAnd(int* address, int value) {
    return detail::read_modify_write(address, [value](int old) { return old & value; });
}
inline unsigned atomicAnd(unsigned* address, unsigned value) {
    return detail::read_modify_write(address, [value](unsigned old) { return old & value; });
}
inline int atomicOr(int* address, int value) {
    return detail::read_modify_write(address, [value](int old) { return old | value; });
}
inline unsigned atomicOr(unsigned* address, unsigned value) {
    return detail::read_modify_write(address, [value](unsigned old) { return old | value; });
}

// ---- math and conversions ---------------------------------------------------------------------
// expf, sqrtf, fmaxf, fminf, fabsf, fmaf, ... are the C library's. The GPU's fast intrinsics
// (__expf, __fdividef, rsqrtf, ...) are approximations with a few ulps of error there; here they
// are the correctly rounded (or C library) functions, so a kernel using them matches the CPU more
// closely in the emulator than on a GPU: compare with a tolerance that allows the GPU's error.
inline float rsqrtf(float x) { return 1.0f / std::sqrt(x); }
inline double rsqrt(double x) { return 1.0 / std::sqrt(x); }
inline float __expf(float x) { return std::exp(x); }
inline float __logf(float x) { return std::log(x); }
inline float __sinf(float x) { return std::sin(x); }
inline float __cosf(float x) { return std::cos(x); }
inline float __powf(float x, float y) { return std::pow(x, y); }
inline float __fdividef(float x, float y) { return x / y; }
inline float __frcp_rn(float x) { return 1.0f / x; }
inline float __fsqrt_rn(float x) { return std::sqrt(x); }
inline float __frsqrt_rn(float x) { return 1.0f / std::sqrt(x); }
inline float __fadd_rn(float x, float y) { return x + y; }
inline float __fmul_rn(float x, float y) { return x * y; }
inline float __fmaf_rn(float x, float y, float z) { return std::fma(x, y, z); }
inline float __saturatef(float x) { return x > 0.0f ? (x < 1.0f ? x : 1.0f) : 0.0f; }  // NaN -> 0

namespace detail {
// float -> int as the GPU's cvt.*.s32.f32 does it: round as asked, saturate, NaN -> 0.
inline int float_to_int(float rounded) {
    if (std::isnan(rounded)) return 0;
    if (rounded >= 2147483648.0f) return 2147483647;
    if (rounded < -2147483648.0f) return -2147483647 - 1;
    return static_cast<int>(rounded);
}
inline unsigned float_to_uint(float rounded) {
    if (std::isnan(rounded) || rounded <= 0.0f) return 0u;
    if (rounded >= 4294967296.0f) return 4294967295u;
    return static_cast<unsigned>(rounded);
}
template <typename To, typename From>
To bit_cast(From from) {
    static_assert(sizeof(To) == sizeof(From), "same size");
    To to;
    std::memcpy(&to, &from, sizeof(To));
    return to;
}
}  // namespace detail

inline int __float2int_rn(float x) { return detail::float_to_int(std::nearbyint(x)); }  // ties to even
inline int __float2int_rz(float x) { return detail::float_to_int(std::trunc(x)); }
inline int __float2int_rd(float x) { return detail::float_to_int(std::floor(x)); }
inline int __float2int_ru(float x) { return detail::float_to_int(std::ceil(x)); }
inline unsigned __float2uint_rn(float x) { return detail::float_to_uint(std::nearbyint(x)); }
inline unsigned __float2uint_rz(float x) { return detail::float_to_uint(std::trunc(x)); }
inline float __int2float_rn(int x) { return static_cast<float>(x); }
inline float __uint2float_rn(unsigned x) { return static_cast<float>(x); }
inline int __float_as_int(float x) { return detail::bit_cast<int>(x); }
inline unsigned __float_as_uint(float x) { return detail::bit_cast<unsigned>(x); }
inline float __int_as_float(int x) { return detail::bit_cast<float>(x); }
inline float __uint_as_float(unsigned x) { return detail::bit_cast<float>(x); }

inline int __popc(unsigned x) { return __builtin_popcount(x); }
inline int __popcll(unsigned long long x) { return __builtin_popcountll(x); }
inline int __clz(int x) { return x == 0 ? 32 : __builtin_clz(static_cast<unsigned>(x)); }
inline int __ffs(int x) { return __builtin_ffs(x); }  // 1 + index of the lowest set bit, 0 for 0

// CUDA's device code has min/max overloads in the global namespace.
inline int min(int a, int b) { return a < b ? a : b; }
inline int max(int a, int b) { return a > b ? a : b; }
inline unsigned min(unsigned a, unsigned b) { return a < b ? a : b; }
inline unsigned max(unsigned a, unsigned b) { return a > b ? a : b; }
inline long long min(long long a, long long b) { return a < b ? a : b; }
inline long long max(long long a, long long b) { return a > b ? a : b; }
inline float min(float a, float b) { return std::fmin(a, b); }
inline float max(float a, float b) { return std::fmax(a, b); }

// Read through the read-only data cache on a GPU; an ordinary load here.
template <typename T>
T __ldg(const T* address) {
    return *address;
}

}  // namespace seek::emu
