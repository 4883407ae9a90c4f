#include "parallel.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

namespace seek {

int other_running_tasks() {
    int most = 0;
    for (int reading = 0; reading < 4; ++reading) {
        if (reading > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
        std::FILE* file = std::fopen("/proc/loadavg", "r");
        if (!file) return 0;
        double averages[3];
        int running = 0, total = 0;
        const int fields = std::fscanf(file, "%lf %lf %lf %d/%d", &averages[0], &averages[1], &averages[2], &running, &total);
        std::fclose(file);
        if (fields != 5) return 0;
        most = std::max(most, running - 1);  // this task is running: it is reading
    }
    return most;
}

static std::atomic<bool> thread_count_pending{false};
static std::mutex thread_count_mutex;

void defer_thread_count() { thread_count_pending = std::getenv("OMP_NUM_THREADS") == nullptr; }

void resolve_thread_count() {
    if (!thread_count_pending.load(std::memory_order_acquire)) return;
    const std::lock_guard<std::mutex> lock(thread_count_mutex);
    if (!thread_count_pending) return;
#ifdef _OPENMP
    omp_set_num_threads(default_thread_count(omp_get_num_procs(), other_running_tasks()));
#endif
    thread_count_pending.store(false, std::memory_order_release);
}

void set_thread_count(int threads) {
    const std::lock_guard<std::mutex> lock(thread_count_mutex);
    thread_count_pending = false;
#ifdef _OPENMP
    omp_set_num_threads(threads);
#else
    (void)threads;
#endif
}

int thread_count() {
    resolve_thread_count();
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace seek
