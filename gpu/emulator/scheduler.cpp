// The thread-block scheduler: runs a launch block by block, each CUDA thread of a block a fiber.
//
// A fiber is a function running on its own small stack that can be suspended and resumed
// (ucontext: makecontext creates one, swapcontext switches). The scheduler, on an OS thread
// started for the launch, repeatedly picks one runnable fiber at random (seeded) and switches to
// it; the fiber runs
// the kernel until it reaches a synchronization point (__syncthreads, a warp op) or returns, and
// switches back. So between two barriers the threads of a block run one after another, in an
// order that changes with the seed, and a missing __syncthreads reads stale shared memory.
//
//   barrier:  a thread at __syncthreads waits (is not runnable). When no thread can run, every
//             thread still running must be waiting at the same __syncthreads: then all are
//             released. Anything else (some threads exited, or wait at another barrier or warp
//             op) would hang or misbehave on a GPU, and is reported as an error here.
//   warp op:  a lane at __shfl_sync & co. waits with a pointer to its value. The lane that
//             completes the mask (the last to arrive) computes every lane's result and makes
//             them all runnable.
// Exceptions (kernel bugs found here, or thrown by the kernel) are caught in the fiber and
// rethrown to the code that launched the kernel; the other fibers of the block are abandoned.
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <numeric>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gpu/emulator/runtime_api.h"

// AddressSanitizer must be told when the stack changes under it (else it reports false errors);
// g++ defines __SANITIZE_ADDRESS__, clang++ has __has_feature(address_sanitizer).
#if defined(__SANITIZE_ADDRESS__)
#define SEEK_EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SEEK_EMU_ASAN 1
#endif
#endif
#ifdef SEEK_EMU_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace seek::emu {

thread_local uint3 threadIdx{0, 0, 0};
thread_local uint3 blockIdx{0, 0, 0};
thread_local dim3 blockDim;
thread_local dim3 gridDim;

namespace detail {

// runtime.cpp
size_t dynamic_shared_limit(const void* kernel_address);
void check_guard_bytes(const char* kernel_name);

namespace {

// ---- the seed ---------------------------------------------------------------------------------
std::atomic<bool> seed_was_set{false};
std::atomic<uint64_t> explicit_seed{1};

uint64_t seed_from_environment() {
    const char* text = std::getenv("SEEK_EMU_SEED");
    if (!text || !*text) return 1;
    char* end = nullptr;
    errno = 0;
    const unsigned long long value = std::strtoull(text, &end, 10);
    if (*end != '\0' || errno != 0 || text[0] == '-') {
        throw Error(std::string("SEEK_EMU_SEED: '") + text + "' is not a non-negative integer");
    }
    return value;
}

// splitmix64: a small generator that gives the same numbers on every platform and library.
struct Random {
    uint64_t state;
    uint64_t next() {
        uint64_t z = (state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        return z ^ (z >> 31);
    }
    size_t below(size_t n) { return static_cast<size_t>(next() % n); }  // bias < n / 2^64
};

uint64_t fnv1a(const char* text) {
    uint64_t hash = 0xcbf29ce484222325ull;
    for (; *text; ++text) hash = (hash ^ static_cast<unsigned char>(*text)) * 0x100000001b3ull;
    return hash;
}

// ---- fiber stacks -----------------------------------------------------------------------------
// 256 KB each, reserved but only touched pages cost memory, with an inaccessible guard page below
// so a kernel that overflows its stack (a big local array) crashes at once instead of writing
// into the next fiber's stack. Kept for later launches.
constexpr size_t fiber_stack_bytes = 256 * 1024;

struct FiberStack {
    size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    void* mapping = MAP_FAILED;

    FiberStack() {
        mapping = mmap(nullptr, page + fiber_stack_bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (mapping == MAP_FAILED) throw Error("emulator: cannot map a fiber stack");
        mprotect(mapping, page, PROT_NONE);
    }
    ~FiberStack() { munmap(mapping, page + fiber_stack_bytes); }
    FiberStack(const FiberStack&) = delete;
    FiberStack& operator=(const FiberStack&) = delete;
    char* bottom() const { return static_cast<char*>(mapping) + page; }
};
std::mutex stack_pool_mutex;
std::vector<std::unique_ptr<FiberStack>> stack_pool;

struct StackLease {  // the stacks of one launch, back to the pool when it ends
    std::vector<std::unique_ptr<FiberStack>> stacks;
    explicit StackLease(size_t count) {
        {
            std::lock_guard<std::mutex> lock(stack_pool_mutex);
            for (; !stack_pool.empty() && stacks.size() < count; stack_pool.pop_back()) {
                stacks.push_back(std::move(stack_pool.back()));
            }
        }
        while (stacks.size() < count) stacks.push_back(std::make_unique<FiberStack>());
    }
    ~StackLease() {
        std::lock_guard<std::mutex> lock(stack_pool_mutex);
        for (auto& stack : stacks) stack_pool.push_back(std::move(stack));
    }
};

// ---- fibers and blocks ------------------------------------------------------------------------
enum class State { runnable, at_barrier, at_warp_op, exited };

struct Fiber {
    ucontext_t context;  // never copied once made (it points into itself)
    FiberStack* stack = nullptr;
    int id = 0;  // x + y * blockDim.x + z * blockDim.x * blockDim.y; warp id / 32, lane id % 32
    uint3 thread_idx{0, 0, 0};
    State state = State::runnable;
    const char* file = "";  // where it waits
    int line = 0;
    BarrierKind barrier_kind = BarrierKind::plain;
    int predicate = 0;
    int barrier_result = 0;
    WarpArrival* arrival = nullptr;  // while at a warp op
    void* asan_fake_stack = nullptr;
};

// The block being run on this OS thread.
struct BlockRun {
    const LaunchConfig* config = nullptr;
    const std::function<void()>* body = nullptr;
    Random* random = nullptr;
    std::vector<Fiber> fibers;
    std::vector<int> runnable;  // ids of the fibers that can run now
    int exited = 0;
    Fiber* current = nullptr;  // the fiber running now, null while the scheduler runs
    ucontext_t scheduler_context;
    std::exception_ptr error;
    // the scheduler's stack, for AddressSanitizer; a fiber learns it when it first starts
    const void* scheduler_stack_bottom = nullptr;
    size_t scheduler_stack_size = 0;
    void* scheduler_fake_stack = nullptr;
};
thread_local BlockRun* running = nullptr;

// Dynamic shared memory: one buffer of exactly the launch's size, 16-byte aligned like a GPU's
// (so AddressSanitizer sees an overrun), refilled with 0xFF for every block.
struct SharedBuffer {
    unsigned char* bytes = nullptr;
    ~SharedBuffer() { std::free(bytes); }
    void reset(size_t size) {
        std::free(bytes);
        bytes = size ? static_cast<unsigned char*>(std::malloc(size)) : nullptr;
        if (size && !bytes) throw Error("emulator: cannot allocate " + std::to_string(size) + " bytes of shared memory");
    }
};
thread_local SharedBuffer dynamic_shared;

// ---- words for error messages -----------------------------------------------------------------
std::string format_dim(dim3 d) {
    return "(" + std::to_string(d.x) + "," + std::to_string(d.y) + "," + std::to_string(d.z) + ")";
}
std::string format_dim(uint3 d) { return format_dim(dim3(d)); }

std::string format_launch(const LaunchConfig& config) {
    return std::string(config.kernel_name) + "<<<" + format_dim(config.grid) + ", " + format_dim(config.block) +
           ", " + std::to_string(config.shared_bytes) + ">>>";
}

// "kernel K<<<...>>>, block (1,0,0), seed 7"
std::string where(const BlockRun& block) {
    return "kernel " + format_launch(*block.config) + ", block " + format_dim(blockIdx) + ", seed " +
           std::to_string(get_seed());
}

std::string site(const char* file, int line) { return std::string(file) + ":" + std::to_string(line); }

std::string format_threads(const BlockRun& block, const std::vector<int>& ids) {
    std::string text;
    const size_t shown = ids.size() <= 8 ? ids.size() : 6;
    for (size_t i = 0; i < shown; ++i) text += (i ? " " : "") + format_dim(block.fibers[ids[i]].thread_idx);
    if (shown < ids.size()) text += " ... (" + std::to_string(ids.size()) + " threads)";
    return text;
}

const char* op_name(WarpOpKind kind) {
    switch (kind) {
        case WarpOpKind::shfl_idx: return "__shfl_sync";
        case WarpOpKind::shfl_up: return "__shfl_up_sync";
        case WarpOpKind::shfl_down: return "__shfl_down_sync";
        case WarpOpKind::shfl_xor: return "__shfl_xor_sync";
        case WarpOpKind::ballot: return "__ballot_sync";
        case WarpOpKind::any: return "__any_sync";
        case WarpOpKind::all: return "__all_sync";
        case WarpOpKind::syncwarp: return "__syncwarp";
    }
    return "warp op";
}

std::string hex(unsigned mask) {
    char text[16];
    std::snprintf(text, sizeof text, "0x%08x", mask);
    return text;
}

// What a thread is doing, for a deadlock report.
std::string describe_state(const Fiber& fiber) {
    switch (fiber.state) {
        case State::runnable: return "running";
        case State::exited: return "exited";
        case State::at_barrier: return "waits at __syncthreads() at " + site(fiber.file, fiber.line);
        case State::at_warp_op:
            return "waits at " + std::string(op_name(fiber.arrival->kind)) + " at " + site(fiber.file, fiber.line) +
                   " with mask " + hex(fiber.arrival->mask);
    }
    return "";
}

// ---- switching --------------------------------------------------------------------------------
void asan_start_switch(void** fake_stack_save, const void* bottom, size_t size) {
#ifdef SEEK_EMU_ASAN
    __sanitizer_start_switch_fiber(fake_stack_save, bottom, size);
#else
    (void)fake_stack_save, (void)bottom, (void)size;
#endif
}
void asan_finish_switch(void* fake_stack_save, const void** bottom_old, size_t* size_old) {
#ifdef SEEK_EMU_ASAN
    __sanitizer_finish_switch_fiber(fake_stack_save, bottom_old, size_old);
#else
    (void)fake_stack_save, (void)bottom_old, (void)size_old;
#endif
}

// Scheduler -> fiber: runs it until it waits or exits.
void run_fiber(BlockRun& block, Fiber& fiber) {
    block.current = &fiber;
    threadIdx = fiber.thread_idx;
    asan_start_switch(&block.scheduler_fake_stack, fiber.stack->bottom(), fiber_stack_bytes);
    swapcontext(&block.scheduler_context, &fiber.context);
    asan_finish_switch(block.scheduler_fake_stack, nullptr, nullptr);
    block.current = nullptr;
}

// Fiber -> scheduler. Returns when the scheduler picks this fiber again (never, once exited).
void switch_to_scheduler(BlockRun& block, Fiber& self) {
    const bool exiting = self.state == State::exited;
    asan_start_switch(exiting ? nullptr : &self.asan_fake_stack, block.scheduler_stack_bottom,
                      block.scheduler_stack_size);
    swapcontext(&self.context, &block.scheduler_context);
    asan_finish_switch(self.asan_fake_stack, nullptr, nullptr);
}

// Where every fiber starts: one CUDA thread, from the kernel's first line to its return.
void fiber_main() {
    BlockRun& block = *running;
    Fiber& self = *block.current;
    asan_finish_switch(nullptr, &block.scheduler_stack_bottom, &block.scheduler_stack_size);
    try {
        (*block.body)();
    } catch (...) {
        block.error = std::current_exception();
    }
    self.state = State::exited;
    ++block.exited;
    switch_to_scheduler(block, self);
}

BlockRun& running_block(const char* what) {
    if (!running || !running->current) throw Error(std::string(what) + " called outside a kernel");
    return *running;
}

// ---- barriers -----------------------------------------------------------------------------------
// Called by the scheduler when no fiber can run: releases the barrier everyone waits at, or
// explains why the block cannot go on.
void release_barrier(BlockRun& block) {
    std::vector<int> at_barrier, at_warp_op, exited;
    for (const Fiber& fiber : block.fibers) {
        if (fiber.state == State::at_barrier) at_barrier.push_back(fiber.id);
        if (fiber.state == State::at_warp_op) at_warp_op.push_back(fiber.id);
        if (fiber.state == State::exited) exited.push_back(fiber.id);
    }
    if (!at_warp_op.empty()) {
        // Lanes wait at a warp op that some lane of its mask never joins.
        const Fiber& waiting = block.fibers[at_warp_op.front()];
        const WarpArrival& arrival = *waiting.arrival;
        const int warp_base = waiting.id - waiting.id % warpSize;
        std::string text = where(block) + ": " + op_name(arrival.kind) + " at " + site(waiting.file, waiting.line) +
                           " with mask " + hex(arrival.mask) + " cannot complete in warp " +
                           std::to_string(waiting.id / warpSize) + ":";
        for (int lane = 0; lane < warpSize; ++lane) {
            if (!(arrival.mask >> lane & 1u)) continue;
            const Fiber& other = block.fibers[warp_base + lane];
            if (other.state == State::at_warp_op && other.arrival->mask == arrival.mask) continue;
            text += "\n  lane " + std::to_string(lane) + ", thread " + format_dim(other.thread_idx) + ", " +
                    describe_state(other);
        }
        throw Error(text + "\nEvery lane named in the mask must reach the same warp op.");
    }
    // Every thread still running waits at a barrier.
    const Fiber& first = block.fibers[at_barrier.front()];
    if (!exited.empty()) {
        throw Error(where(block) + ": __syncthreads() at " + site(first.file, first.line) +
                    " is not reached by every thread of the block: " + std::to_string(exited.size()) +
                    " threads exited before it: " + format_threads(block, exited) + "; " +
                    std::to_string(at_barrier.size()) + " wait there: " + format_threads(block, at_barrier) +
                    ". On a GPU this hangs or corrupts later barriers.");
    }
    std::map<std::pair<std::string, int>, std::vector<int>> by_site;
    for (int id : at_barrier) by_site[{block.fibers[id].file, block.fibers[id].line}].push_back(id);
    if (by_site.size() > 1) {
        std::string text = where(block) + ": the threads of the block wait at different __syncthreads():";
        for (const auto& [where_waiting, ids] : by_site) {
            text += "\n  " + std::to_string(ids.size()) + " at " + where_waiting.first + ":" +
                    std::to_string(where_waiting.second) + ": " + format_threads(block, ids);
        }
        throw Error(text + "\nEvery thread of a block must reach the same __syncthreads().");
    }
    int count = 0;
    for (int id : at_barrier) count += block.fibers[id].predicate;
    const int threads = static_cast<int>(at_barrier.size());
    for (int id : at_barrier) {
        Fiber& fiber = block.fibers[id];
        switch (fiber.barrier_kind) {
            case BarrierKind::plain: fiber.barrier_result = 0; break;
            case BarrierKind::count: fiber.barrier_result = count; break;
            case BarrierKind::all: fiber.barrier_result = count == threads; break;
            case BarrierKind::any: fiber.barrier_result = count > 0; break;
        }
        fiber.state = State::runnable;
        block.runnable.push_back(id);
    }
}

// ---- warp ops -----------------------------------------------------------------------------------
// The lane a shuffle reads, as PTX shfl.sync defines it: lanes form segments of `width`; a source
// outside the segment (past its end, or before its start for shfl_up) means "keep your own value".
// shfl_xor may reach earlier segments, not later ones.
int source_lane(WarpOpKind kind, int lane, int lane_arg, int width) {
    const int offset = lane_arg & 31;  // PTX uses the low 5 bits
    const int first = lane & ~(width - 1);
    const int last = first + width - 1;
    int source = lane;
    switch (kind) {
        case WarpOpKind::shfl_idx: source = first + (offset & (width - 1)); break;
        case WarpOpKind::shfl_up: source = lane - offset >= first ? lane - offset : lane; break;
        case WarpOpKind::shfl_down: source = lane + offset <= last ? lane + offset : lane; break;
        case WarpOpKind::shfl_xor: source = (lane ^ offset) <= last ? lane ^ offset : lane; break;
        default: break;
    }
    return source;
}

bool is_shuffle(WarpOpKind kind) {
    return kind == WarpOpKind::shfl_idx || kind == WarpOpKind::shfl_up || kind == WarpOpKind::shfl_down ||
           kind == WarpOpKind::shfl_xor;
}

// If every lane of `self`'s mask now waits at the same warp op, hand each its result and make
// them all runnable.
void complete_warp_op_if_all_arrived(BlockRun& block, Fiber& self) {
    const WarpArrival& mine = *self.arrival;
    const int threads = static_cast<int>(block.fibers.size());
    const int warp_base = self.id - self.id % warpSize;
    // (built only for an error: a fiber abandoned mid-block must not hold heap memory)
    const auto op = [&] {
        return std::string(op_name(mine.kind)) + " at " + site(mine.file, mine.line) + " with mask " + hex(mine.mask);
    };
    for (int lane = 0; lane < warpSize; ++lane) {
        if (!(mine.mask >> lane & 1u)) continue;
        if (warp_base + lane >= threads) {
            throw Error(where(block) + ": " + op() + ": lane " + std::to_string(lane) + " does not exist (the block has " +
                        std::to_string(threads) + " threads, so its last warp has " +
                        std::to_string(threads - warp_base) + " lanes)");
        }
        const Fiber& other = block.fibers[warp_base + lane];
        if (other.state == State::exited) {
            throw Error(where(block) + ": " + op() + ": lane " + std::to_string(lane) + ", thread " +
                        format_dim(other.thread_idx) +
                        ", exited before reaching it. Every lane named in the mask must reach the warp op.");
        }
        if (other.state != State::at_warp_op || other.arrival->mask != mine.mask) return;  // not all here yet
        const WarpArrival& theirs = *other.arrival;
        if (theirs.kind != mine.kind || theirs.size != mine.size || theirs.width != mine.width) {
            throw Error(where(block) + ": lanes of warp " + std::to_string(self.id / warpSize) + " disagree: lane " +
                        std::to_string(self.id % warpSize) + " calls " + op() + " (" + std::to_string(mine.size) +
                        " bytes, width " + std::to_string(mine.width) + "), lane " + std::to_string(lane) + " calls " +
                        op_name(theirs.kind) + " at " + site(theirs.file, theirs.line) + " (" +
                        std::to_string(theirs.size) + " bytes, width " + std::to_string(theirs.width) + ")");
        }
    }
    unsigned ballot = 0;
    for (int lane = 0; lane < warpSize; ++lane) {
        if ((mine.mask >> lane & 1u) && block.fibers[warp_base + lane].arrival->predicate) ballot |= 1u << lane;
    }
    for (int lane = 0; lane < warpSize; ++lane) {
        if (!(mine.mask >> lane & 1u)) continue;
        Fiber& fiber = block.fibers[warp_base + lane];
        WarpArrival& arrival = *fiber.arrival;
        if (is_shuffle(arrival.kind)) {
            const int source = source_lane(arrival.kind, lane, arrival.lane_arg, arrival.width);
            if (mine.mask >> source & 1u) {
                std::memcpy(arrival.result, block.fibers[warp_base + source].arrival->value, arrival.size);
            } else {
                std::memset(arrival.result, 0xFF, arrival.size);  // a lane outside the mask: undefined on a GPU
            }
        }
        if (arrival.kind == WarpOpKind::ballot) arrival.vote = ballot;
        if (arrival.kind == WarpOpKind::any) arrival.vote = ballot != 0;
        if (arrival.kind == WarpOpKind::all) arrival.vote = ballot == mine.mask;
    }
    for (int lane = 0; lane < warpSize; ++lane) {
        if (!(mine.mask >> lane & 1u)) continue;
        Fiber& fiber = block.fibers[warp_base + lane];
        fiber.state = State::runnable;
        fiber.arrival = nullptr;
        block.runnable.push_back(fiber.id);
    }
}

// ---- launches -----------------------------------------------------------------------------------
constexpr uint64_t max_blocks_per_launch = uint64_t(1) << 24;  // the emulator's own limit

void check_launch_config(const LaunchConfig& config) {
    const auto refuse = [&](const std::string& why) { throw Error("launch of " + format_launch(config) + ": " + why); };
    const dim3 grid = config.grid, block = config.block;
    if (!block.x || !block.y || !block.z) refuse("a block needs at least one thread in each dimension");
    if (!grid.x || !grid.y || !grid.z) refuse("a grid needs at least one block in each dimension");
    if (block.x > 1024 || block.y > 1024 || block.z > 64) refuse("a block is at most 1024 x 1024 x 64 threads");
    const uint64_t threads = uint64_t(block.x) * block.y * block.z;
    if (threads > 1024) refuse("a block has at most 1024 threads, this one " + std::to_string(threads));
    if (grid.x > 2147483647u || grid.y > 65535 || grid.z > 65535) {
        refuse("a grid is at most 2147483647 x 65535 x 65535 blocks");
    }
    if (config.shared_bytes > max_shared_per_block) {
        refuse("a block has at most " + std::to_string(max_shared_per_block) + " bytes (227 KB) of shared memory");
    }
    const size_t limit = dynamic_shared_limit(config.kernel_address);
    if (config.shared_bytes > limit) {
        refuse(std::to_string(config.shared_bytes) + " bytes of dynamic shared memory is more than the " +
               std::to_string(limit) +
               " allowed: above 48 KB, call cudaFuncSetAttribute(kernel, "
               "cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) first");
    }
    if (uint64_t(grid.x) * grid.y * grid.z > max_blocks_per_launch) {
        refuse("the emulator runs at most " + std::to_string(max_blocks_per_launch) + " blocks per launch");
    }
}

// Runs one block: every fiber from the kernel's start, until all have exited.
void run_block(BlockRun& block) {
    block.runnable.clear();
    block.exited = 0;
    for (Fiber& fiber : block.fibers) {
        fiber.state = State::runnable;
        fiber.arrival = nullptr;
        fiber.asan_fake_stack = nullptr;
        getcontext(&fiber.context);
        fiber.context.uc_stack.ss_sp = fiber.stack->bottom();
        fiber.context.uc_stack.ss_size = fiber_stack_bytes;
        fiber.context.uc_link = nullptr;
        makecontext(&fiber.context, fiber_main, 0);
        block.runnable.push_back(fiber.id);
    }
    const int threads = static_cast<int>(block.fibers.size());
    while (block.exited < threads) {
        if (block.runnable.empty()) {
            release_barrier(block);
            continue;
        }
        const size_t pick = block.random->below(block.runnable.size());
        const int id = block.runnable[pick];
        block.runnable[pick] = block.runnable.back();
        block.runnable.pop_back();
        run_fiber(block, block.fibers[id]);
        if (block.error) std::rethrow_exception(block.error);
    }
}

// Runs every block of the launch, one after another in a seeded order, on this OS thread.
void run_blocks(const LaunchConfig& config, const std::function<void()>& thread_body) {
    const dim3 grid = config.grid, block_dim = config.block;
    const size_t threads = size_t(block_dim.x) * block_dim.y * block_dim.z;
    const size_t blocks = size_t(grid.x) * grid.y * grid.z;

    // One generator per launch, from the seed and the kernel's name: a launch's schedule does not
    // depend on what ran before it.
    Random random{get_seed() ^ fnv1a(config.kernel_name)};
    std::vector<size_t> block_order(blocks);
    std::iota(block_order.begin(), block_order.end(), size_t(0));
    for (size_t i = blocks; i > 1; --i) std::swap(block_order[i - 1], block_order[random.below(i)]);

    StackLease stacks(threads);
    BlockRun block;
    block.config = &config;
    block.body = &thread_body;
    block.random = &random;
    block.fibers = std::vector<Fiber>(threads);
    for (size_t id = 0; id < threads; ++id) {
        Fiber& fiber = block.fibers[id];
        fiber.id = static_cast<int>(id);
        fiber.thread_idx = {static_cast<unsigned>(id % block_dim.x),
                            static_cast<unsigned>(id / block_dim.x % block_dim.y),
                            static_cast<unsigned>(id / (size_t(block_dim.x) * block_dim.y))};
        fiber.stack = stacks.stacks[id].get();
    }
    dynamic_shared.reset(config.shared_bytes);
    blockDim = block_dim;
    gridDim = grid;

    struct Running {  // clears `running` however the launch ends
        explicit Running(BlockRun* block) { running = block; }
        ~Running() { running = nullptr; }
    } guard(&block);
    for (size_t linear : block_order) {
        blockIdx = {static_cast<unsigned>(linear % grid.x), static_cast<unsigned>(linear / grid.x % grid.y),
                    static_cast<unsigned>(linear / (size_t(grid.x) * grid.y))};
        if (config.shared_bytes) std::memset(dynamic_shared.bytes, 0xFF, config.shared_bytes);
        run_block(block);
    }
}

}  // namespace

int block_barrier(BarrierKind kind, int predicate, const char* file, int line) {
    BlockRun& block = running_block("__syncthreads");
    Fiber& self = *block.current;
    self.state = State::at_barrier;
    self.barrier_kind = kind;
    self.predicate = predicate != 0;
    self.file = file;
    self.line = line;
    switch_to_scheduler(block, self);
    return self.barrier_result;
}

void warp_op(WarpArrival& arrival) {
    BlockRun& block = running_block(op_name(arrival.kind));
    Fiber& self = *block.current;
    const int lane = self.id % warpSize;
    const auto op = [&] { return std::string(op_name(arrival.kind)) + " at " + site(arrival.file, arrival.line); };
    if (!(arrival.mask >> lane & 1u)) {
        throw Error(where(block) + ": " + op() + ": lane " + std::to_string(lane) + " calls it with mask " +
                    hex(arrival.mask) + ", which does not include itself");
    }
    if (is_shuffle(arrival.kind) && (arrival.width < 1 || arrival.width > warpSize || (arrival.width & (arrival.width - 1)))) {
        throw Error(where(block) + ": " + op() + ": width " + std::to_string(arrival.width) +
                    " is not a power of two from 1 to 32");
    }
    self.state = State::at_warp_op;
    self.arrival = &arrival;
    self.file = arrival.file;
    self.line = arrival.line;
    complete_warp_op_if_all_arrived(block, self);
    switch_to_scheduler(block, self);
}

unsigned char* dynamic_shared_memory() {
    running_block("SEEK_DYNAMIC_SHARED");
    return dynamic_shared.bytes;
}

void run_grid(const LaunchConfig& config, const std::function<void()>& thread_body) {
    check_launch_config(config);
    if (running) throw Error("launch of " + format_launch(config) + " from inside a kernel: not emulated");
    // Each launch runs on an OS thread of its own, started for it. So its thread_local variables,
    // the __shared__ arrays among them, start at zero, and a kernel that reads shared memory it did
    // not write reads what earlier blocks of the same launch left there: the same for the same seed.
    std::exception_ptr error;
    std::thread launch_thread([&] {
        try {
            run_blocks(config, thread_body);
        } catch (...) {
            error = std::current_exception();
        }
    });
    launch_thread.join();
    if (error) std::rethrow_exception(error);
    check_guard_bytes(config.kernel_name);
}

}  // namespace detail

void set_seed(uint64_t seed) {
    detail::explicit_seed = seed;
    detail::seed_was_set = true;
}

uint64_t get_seed() { return detail::seed_was_set ? detail::explicit_seed.load() : detail::seed_from_environment(); }

}  // namespace seek::emu
