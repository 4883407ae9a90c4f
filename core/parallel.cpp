#include "parallel.h"

#include <chrono>
#include <cstdio>
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

}  // namespace seek
