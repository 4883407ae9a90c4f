// When core/ runs a loop on several threads.
//
// OpenMP shares out independent pieces of work: the sequences of a batch in attention, the experts
// of a MoE layer, the output columns of a large product, the values of a generated matrix. Each
// piece is computed exactly as on one thread and written to its own place, so the bytes never
// depend on the thread count (and Eigen's own threads, which would split a product differently for
// every count, are off: linear.h).
//
// A parallel loop costs its fork and join: microseconds on an idle machine, but on a busy one a
// thread the scheduler has not run yet holds the others at the join for a time slice or more
// (milliseconds). Decoding one token of the toy model is a few microseconds of work per op, so a
// parallel region there made two threads several times slower than one. A loop therefore runs in
// parallel only when its work, counted in floating-point operations (or the equivalent for other
// work), is at least kParallelWork: a millisecond or more of one core's time, enough that sharing
// it pays even when a thread has to wait for its turn.
//
// worth_threads depends on the work alone, never on the thread count, so a caller may also let it
// decide how work is cut (linear.cpp's column slices). parallel_for then starts threads only when
// there are threads to start: a region OpenMP runs on one thread (an `if` clause that is false, a
// thread count of one, a region inside another) still costs a team, an allocation and a futex
// wake per loop, which was 3% of GRPO's time at one thread.
#pragma once

#include <cstdint>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace seek {

constexpr double kParallelWork = 5e7;  // flops: about 1 ms of one core at this machine's GEMM speed

inline bool worth_threads(double work) { return work >= kParallelWork; }

// for (i = 0; i < count; ++i) body(i): on OpenMP's threads, shared out dynamically, when `parallel`
// and more than one thread is available; else a plain loop on this thread.
template <typename Body>
void parallel_for(int64_t count, bool parallel, const Body& body) {
#ifdef _OPENMP
    if (parallel && count > 1 && omp_get_max_threads() > 1 && !omp_in_parallel()) {
#pragma omp parallel for schedule(dynamic)
        for (int64_t i = 0; i < count; ++i) body(i);
        return;
    }
#endif
    for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace seek
