#include "progress.h"

#include <cstdio>
#include <unistd.h>

namespace seek::cli {

Progress start_progress(const std::string& label, const std::string& unit, int64_t total) {
    Progress progress;
    progress.label = label;
    progress.unit = unit;
    progress.total = total;
    progress.enabled = isatty(fileno(stderr));
    progress.start = progress.last_draw = std::chrono::steady_clock::now();
    return progress;
}

void show_progress(Progress& progress, int64_t done, const std::string& detail) {
    if (!progress.enabled) return;
    const auto now = std::chrono::steady_clock::now();
    const bool finished = done >= progress.total;
    if (!finished && now - progress.last_draw < std::chrono::milliseconds(100)) return;
    progress.last_draw = now;

    const int width = 30;
    const int filled = progress.total > 0 ? static_cast<int>(width * done / progress.total) : width;
    const double elapsed = std::chrono::duration<double>(now - progress.start).count();
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (progress.total - done) / rate : 0;
    std::fprintf(stderr, "\r%s [%s%s] %lld/%lld %s  %s%s%.1f %s/s  %s %.0f s ", progress.label.c_str(),
                 std::string(filled, '#').c_str(), std::string(width - filled, '.').c_str(),
                 static_cast<long long>(done), static_cast<long long>(progress.total), progress.unit.c_str(),
                 detail.c_str(), detail.empty() ? "" : "  ", rate, progress.unit.c_str(), finished ? "took" : "ETA",
                 finished ? elapsed : eta);
    if (finished) std::fputc('\n', stderr);
    std::fflush(stderr);
}

}  // namespace seek::cli
