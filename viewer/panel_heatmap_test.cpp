// Diagnostic panel (no tab; `--panel heatmap-test`): two known 4 x 4 tensors drawn by the
// production heatmap cell renderer at fixed screen positions, so that tests/viewer_tests.cmake can
// read known cells back from a screenshot and check the colour maps end to end.
//
//   magnitude ramp  values 0, 0.6, ..., 9 (row-major) on [0, 9]: the diagonal cells hold 0, 3, 6, 9,
//                   viridis stops 0, 3/9, 6/9 and 1; cells 100 px square from (100, 200)
//   signed ramp     values -8, -7, ..., 7 on [-8, 8]: the first column holds -8, -4, 0, 4, the
//                   blue-white-red stops 0, 1/4, 1/2 and 3/4; cells 100 px square from (600, 200)
#include <imgui.h>

#include "app.h"
#include "draw.h"

namespace seek::viewer {

namespace {

void draw_ramp(const char* title, const std::vector<float>& values, const ColorScale& scale, ImVec2 top_left) {
    Grid grid;
    grid.values = values.data();
    grid.rows = 4;
    grid.cols = 4;
    ImDrawList* draw = ImGui::GetWindowDrawList();
    draw->AddText(ImVec2(top_left.x, top_left.y - 2 * ImGui::GetTextLineHeight()), IM_COL32(230, 230, 230, 255), title);
    ImGui::PushID(title);
    draw_heatmap_cells(draw, top_left, ImVec2(top_left.x + 400, top_left.y + 400), grid, scale);
    ImGui::PopID();
}

}  // namespace

void draw_heatmap_test_panel(App&) {
    static std::vector<float> magnitude, signed_ramp;
    if (magnitude.empty())
        for (int i = 0; i < 16; ++i) {
            magnitude.push_back(0.6f * i);
            signed_ramp.push_back(static_cast<float>(i - 8));
        }
    ImGui::TextUnformatted("Heatmap test: known 4 x 4 tensors, drawn by the production heatmap at fixed positions.");
    draw_ramp("magnitude: 0 .. 9", magnitude, {ColorMap::Magnitude, 0, 9}, ImVec2(100, 200));
    draw_ramp("signed: -8 .. 7 on [-8, 8]", signed_ramp, {ColorMap::Signed, -8, 8}, ImVec2(600, 200));
}

}  // namespace seek::viewer
