// Work that takes seconds (the routing simulator at V3 scale) runs on a thread of its own, so
// that the window keeps drawing while the panel shows its progress.
//
// The panel starts the work and reads `running` and `progress` every frame; the work reports
// through `progress` and whatever the panel shares with it under `mutex`, and gives up when it
// sees `stop`. main() calls stop_workers() before the window closes, so that no thread outlives
// the data it writes.
#pragma once

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace seek::viewer {

struct Worker {
    std::thread thread;
    std::atomic<bool> running{false};  // from start_worker until the work returns
    std::atomic<bool> stop{false};     // asks the work to return early
    std::atomic<double> progress{0};   // 0 .. 1, set by the work
    std::mutex mutex;                  // guards the results the work shares with the panel
    std::string error;                 // why the last run failed; read it once `running` is false
    ~Worker();                         // stop_worker
};

// What work throws to return early when it sees `stop` deep inside a callback.
struct WorkerStopped {};

// Runs `work` on w's thread, after joining the previous run (which must have finished or been
// stopped). An exception other than WorkerStopped ends the run with its message in `error`.
void start_worker(Worker& w, std::function<void()> work);
// Asks the work to stop and waits for it.
void stop_worker(Worker& w);
// Waits for the work to finish (headless screenshots draw the finished result).
void wait_worker(Worker& w);
// Every worker started so far: stopped and joined.
void stop_workers();

}  // namespace seek::viewer
