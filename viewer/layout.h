// What a frame drew where, for the layout tests: every chart's plotting area and every region
// whose content must fit in it, recorded as the frame is built and written beside a screenshot
// (--layout FILE), where tests/check_png reads it back against the picture.
//
//   plot  a chart's drawn area (the cells of a heatmap, the frame of a line plot): it must be large
//         enough to read, lie inside the window and inside the region that clips it, and show
//         more than the background in the screenshot
//   fit   something that must be whole: a view's content within the view (a view that scrolls by
//         design checks its width only), a tab's label within its tab, a legend within its chart
//
// One line per entry: "KIND NAME x0 y0 x1 y1 clip_x0 clip_y0 clip_x1 clip_y1", in pixels.
#pragma once

#include <imgui.h>

#include <string>
#include <vector>

namespace seek::viewer {

struct LayoutEntry {
    std::string kind;  // "plot" or "fit"
    std::string name;  // the chart's or view's ID path, e.g. "grpo/reward"
    ImVec2 min, max;   // what was drawn (or what needed room)
    ImVec2 clip_min, clip_max;  // where it had to fit
};

// Records a chart's plotting area, clipped by the current window's clip rectangle.
void record_plot(const std::string& name, ImVec2 min, ImVec2 max);
// Records that [min, max] must fit inside [clip_min, clip_max].
void record_fit(const std::string& name, ImVec2 min, ImVec2 max, ImVec2 clip_min, ImVec2 clip_max);
// Records that the current window's content fits its work area (call before End/EndChild);
// `scrolls_vertically`: a list that scrolls by design, whose height is not checked.
void record_window_fit(const std::string& name, bool scrolls_vertically = false);

// The entries of the frame being built; main() clears them at the start of every frame.
const std::vector<LayoutEntry>& layout_entries();
void clear_layout();
// Writes the entries (atomically: temp file + rename); throws naming the file when it cannot.
void write_layout(const std::string& path);

}  // namespace seek::viewer
