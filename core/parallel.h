// When core/ runs a loop on several threads.
//
// OpenMP shares out independent pieces of work: the sequences of a batch in attention, the experts
// of a MoE layer, the row blocks of a linear layer's product (gemm.h), its two backward products
// (dx and dW), AdamW's tensors, the values of a generated matrix. Each
// piece is computed exactly as on one thread and written to its own place, so the bytes never
// depend on the thread count (and Eigen's own threads, which would split a product differently for
// every count, are off: linear.h).
//
// A parallel loop costs its fork and join: microseconds on an idle machine, but on a busy one a
// thread the scheduler has not run yet holds the others at the join for a time slice or more
// (milliseconds). Decoding one token of the toy model is a few microseconds of work per op, so a
// parallel region there made two threads several times slower than one. A loop therefore runs in
// parallel only when its work, counted in floating-point operations (or the equivalent for other
// work), is at least kParallelWork: about 0.2 ms of one core's time, a hundred times the fork and
// join on an idle machine. A busy machine gets one thread by default (below), where no loop forks.
// (At 5e7, 1 ms, GRPO's attention over a batch of 64 rollouts stayed on one thread: two threads
// took 20 GRPO steps 13% faster than one; at 1e7, 23%. 3e6 gained nothing more.)
//
// worth_threads depends on the work alone, never on the thread count, so a caller may also let it
// decide how work is cut where the cut would change the rounding. parallel_for then starts threads only when
// there are threads to start: a region OpenMP runs on one thread (an `if` clause that is false, a
// thread count of one, a region inside another) still costs a team, an allocation and a futex
// wake per loop, which was 3% of GRPO's time at one thread.
//
// How many threads, when OMP_NUM_THREADS does not say: the processors no other task is running on,
// at most two. On the 2-vCPU machine this project is developed on, two threads are faster than one
// when it is idle (30 toy training steps 1.34-1.47 s against 1.56-1.63 s; 20 GRPO steps 4.9-5.6 s
// against 5.9-7.7 s) but slower as soon as other work shares it (a thread waiting for its time
// slice holds the others at every join: 30 training steps 1.9 s at two threads beside one busy
// process, 1.5 s at one). So the count is decided once, from the tasks the kernel is running at
// that moment (other_running_tasks): the first time a loop could run on threads
// (resolve_thread_count), not when the program starts, because the readings sleep about 5 ms in
// all, which a command that never runs a parallel loop (seek info: 8 ms -> 4) would pay for
// nothing. More than two were never measured here: OMP_NUM_THREADS asks for them. The bytes are
// the same at any count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <exception>
#include <vector>
#ifdef _OPENMP
#include <omp.h>
#endif

namespace seek {

constexpr int kMaxDefaultThreads = 2;

// The default thread count on `processors` processors while `others_running` other tasks run.
inline int default_thread_count(int processors, int others_running) {
    return std::clamp(processors - std::max(others_running, 0), 1, kMaxDefaultThreads);
}

// Tasks running now besides this one: /proc/loadavg's "running/total" field, less this task, the
// most of a few readings a millisecond apart (a busy process is caught between its short sleeps).
// 0 where /proc/loadavg cannot be read.
int other_running_tasks();

// The default thread count is pending until resolved: defer_thread_count() (at start, linear.h's
// fix_machine_dependent_settings) makes it pending unless OMP_NUM_THREADS is set;
// resolve_thread_count() decides it if it still is; set_thread_count(n) sets n, and the default
// never overrides it afterwards (tests and benches that compare thread counts call it, never
// omp_set_num_threads). thread_count() is the count a parallel loop would get.
void defer_thread_count();
void resolve_thread_count();
void set_thread_count(int threads);
int thread_count();

constexpr double kParallelWork = 1e7;  // flops: about 0.2 ms of one core at this machine's GEMM speed

inline bool worth_threads(double work) { return work >= kParallelWork; }

// The threads a parallel_for with `parallel` would run on: one unless OpenMP has more and this
// thread is not already in a parallel region.
inline int parallel_threads(bool parallel) {
#ifdef _OPENMP
    if (parallel && !omp_in_parallel()) {
        resolve_thread_count();
        if (omp_get_max_threads() > 1) return omp_get_max_threads();
    }
#endif
    (void)parallel;
    return 1;
}

// for (i = 0; i < count; ++i) body(i): on OpenMP's threads, shared out dynamically, when `parallel`
// and more than one thread is available; else a plain loop on this thread. An exception thrown by
// a body on a thread (where it must not leave the region) is thrown again here, the lowest index's.
template <typename Body>
void parallel_for(int64_t count, bool parallel, const Body& body) {
#ifdef _OPENMP
    if (count > 1 && parallel_threads(parallel) > 1) {
        std::vector<std::exception_ptr> failures(static_cast<size_t>(count));
#pragma omp parallel for schedule(dynamic)
        for (int64_t i = 0; i < count; ++i) {
            try {
                body(i);
            } catch (...) {
                failures[static_cast<size_t>(i)] = std::current_exception();
            }
        }
        for (const std::exception_ptr& failure : failures)
            if (failure) std::rethrow_exception(failure);
        return;
    }
#endif
    for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace seek
