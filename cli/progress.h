// A one-line progress bar on stderr for long work: done/total, rate and ETA, redrawn in place with
// '\r'. Drawn only when stderr is a terminal, so logs and tests see no control characters.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace seek::cli {

struct Progress {
    std::string label;  // "simulating"
    std::string unit;   // "steps"
    int64_t total = 0;
    bool enabled = false;
    std::chrono::steady_clock::time_point start, last_draw;
};

Progress start_progress(const std::string& label, const std::string& unit, int64_t total);
// Redraws at most ten times a second, and always when done == total (then ends the line).
// `detail` ("loss 1.23") is shown after the counts.
void show_progress(Progress& progress, int64_t done, const std::string& detail = "");

}  // namespace seek::cli
