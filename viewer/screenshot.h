// Headless screenshots: the frame just rendered (before the buffer swap) saved as a PNG, so that
// docs and tests can see exactly what a user would.
#pragma once

#include <string>

namespace seek::viewer {

// Reads the back buffer (width x height pixels, the framebuffer size) and writes an RGB PNG.
// Throws std::runtime_error naming the path when the file cannot be written.
void save_screenshot(const std::string& path, int width, int height);

}  // namespace seek::viewer
