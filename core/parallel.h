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
#pragma once

namespace seek {

constexpr double kParallelWork = 5e7;  // flops: about 1 ms of one core at this machine's GEMM speed

inline bool worth_threads(double work) { return work >= kParallelWork; }

}  // namespace seek
