#include "screenshot.h"

#include <GLFW/glfw3.h>  // brings in the system's GL/gl.h: glReadPixels is OpenGL 1.0
#include <stb_image_write.h>

#include <stdexcept>
#include <vector>

namespace seek::viewer {

void save_screenshot(const std::string& path, int width, int height) {
    std::vector<unsigned char> pixels(static_cast<size_t>(width) * height * 3);
    glReadBuffer(GL_BACK);
    glPixelStorei(GL_PACK_ALIGNMENT, 1);
    glReadPixels(0, 0, width, height, GL_RGB, GL_UNSIGNED_BYTE, pixels.data());
    stbi_flip_vertically_on_write(1);  // OpenGL's rows go bottom-up, PNG's top-down
    if (!stbi_write_png(path.c_str(), width, height, 3, pixels.data(), width * 3))
        throw std::runtime_error(path + ": cannot write the screenshot");
}

}  // namespace seek::viewer
