#include "worker.h"

#include <algorithm>
#include <vector>

namespace seek::viewer {

// Every worker that has run, for stop_workers. Never destroyed: a Worker that is a static of some
// panel may be destroyed after any other static.
static std::vector<Worker*>& workers() {
    static auto* all = new std::vector<Worker*>;
    return *all;
}

void start_worker(Worker& w, std::function<void()> work) {
    wait_worker(w);
    if (std::find(workers().begin(), workers().end(), &w) == workers().end()) workers().push_back(&w);
    w.stop = false;
    w.progress = 0;
    w.error.clear();
    w.running = true;
    w.thread = std::thread([&w, work = std::move(work)] {
        try {
            work();
        } catch (const WorkerStopped&) {
        } catch (const std::exception& e) {
            w.error = e.what();
        }
        w.running = false;
    });
}

void wait_worker(Worker& w) {
    if (w.thread.joinable()) w.thread.join();
}

void stop_worker(Worker& w) {
    w.stop = true;
    wait_worker(w);
}

void stop_workers() {
    for (Worker* w : workers()) stop_worker(*w);
}

Worker::~Worker() {
    stop_worker(*this);
    workers().erase(std::remove(workers().begin(), workers().end(), this), workers().end());
}

}  // namespace seek::viewer
