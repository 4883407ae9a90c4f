#include "layout.h"

#include <imgui_internal.h>  // the current window's cursor extent and rectangles

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "core/safetensors.h"

namespace seek::viewer {

namespace {

std::vector<LayoutEntry>& entries() {
    static std::vector<LayoutEntry> all;
    return all;
}

// The window's path without the IDs ImGui appends to child windows' names:
// "seekscope/reward_1A2B3C4D" -> "seekscope/reward".
std::string window_name() {
    const std::string full = ImGui::GetCurrentWindow()->Name;
    std::string name;
    std::stringstream parts(full);
    for (std::string part; std::getline(parts, part, '/');) {
        const size_t cut = part.size() >= 9 ? part.size() - 9 : std::string::npos;
        if (cut != std::string::npos && part[cut] == '_' &&
            part.find_first_not_of("0123456789ABCDEF", cut + 1) == std::string::npos)
            part.resize(cut);
        name += (name.empty() ? "" : "/") + part;
    }
    return name;
}

}  // namespace

void record_plot(const std::string& name, ImVec2 min, ImVec2 max) {
    ImDrawList* draw = ImGui::GetWindowDrawList();
    entries().push_back({"plot", window_name() + "/" + name, min, max, draw->GetClipRectMin(), draw->GetClipRectMax()});
}

void record_fit(const std::string& name, ImVec2 min, ImVec2 max, ImVec2 clip_min, ImVec2 clip_max) {
    entries().push_back({"fit", window_name() + "/" + name, min, max, clip_min, clip_max});
}

void record_window_fit(const std::string& name, bool scrolls_vertically) {
    const ImGuiWindow* window = ImGui::GetCurrentWindow();
    const ImVec2 padding = window->WindowPadding;
    // The area items may use: the visible client area (without scrollbars) less the padding.
    const ImVec2 area_min(window->InnerRect.Min.x + padding.x, window->InnerRect.Min.y + padding.y);
    const ImVec2 area_max(window->InnerRect.Max.x - padding.x, window->InnerRect.Max.y - padding.y);
    ImVec2 content_min = window->DC.CursorStartPos, content_max = window->DC.CursorMaxPos;
    if (scrolls_vertically) {
        content_min.y = area_min.y;
        content_max.y = std::min(content_max.y, area_max.y);
    }
    // A window with nothing in it yet has its maximum above its start.
    content_max = ImVec2(std::max(content_max.x, content_min.x), std::max(content_max.y, content_min.y));
    entries().push_back({"fit", window_name() + "/" + name, content_min, content_max, area_min, area_max});
}

const std::vector<LayoutEntry>& layout_entries() { return entries(); }

void clear_layout() { entries().clear(); }

void write_layout(const std::string& path) {
    std::ostringstream out;
    for (const LayoutEntry& e : entries()) {
        std::string name = e.name;
        std::replace(name.begin(), name.end(), ' ', '_');  // one word: the file is split on spaces
        char numbers[256];
        std::snprintf(numbers, sizeof numbers, " %.1f %.1f %.1f %.1f %.1f %.1f %.1f %.1f\n", e.min.x, e.min.y, e.max.x,
                      e.max.y, e.clip_min.x, e.clip_min.y, e.clip_max.x, e.clip_max.y);
        out << e.kind << ' ' << name << numbers;
    }
    write_file_atomic(path, out.str());
}

}  // namespace seek::viewer
