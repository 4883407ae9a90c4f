// check_png: reads a screenshot back and checks what the viewer tests need.
//
//   check_png FILE [--size W,H] [--not-blank] [--pixel X,Y,R,G,B]... [--count R,G,B,MIN]...
//                  [--tolerance T]
//
//   --size       the image is W x H pixels
//   --not-blank  the image has at least 64 distinct colours and no colour covers 98% of it: a
//                window that drew nothing (or only its background) fails
//   --pixel      the pixel at (X, Y) is (R, G, B), each channel within the tolerance (default 3)
//   --count      at least MIN pixels are (R, G, B) within the tolerance: a colour that only one
//                element draws (the error banner) is on screen
//
// Exit status 0 when every check passes, 1 with a message naming each failure, 2 on bad usage.
#include <stb_image.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

struct Image {
    int width = 0, height = 0;
    std::vector<unsigned char> rgb;
    const unsigned char* at(int x, int y) const { return &rgb[(static_cast<size_t>(y) * width + x) * 3]; }
};

bool near(const unsigned char* pixel, const int expected[3], int tolerance) {
    for (int c = 0; c < 3; ++c)
        if (std::abs(pixel[c] - expected[c]) > tolerance) return false;
    return true;
}

// "12,34,56" -> {12, 34, 56}; exits with status 2 unless there are exactly `count` integers.
std::vector<int> parse_ints(const char* option, const char* text, size_t count) {
    std::vector<int> values;
    const char* next = text;
    char* end = nullptr;
    for (;;) {
        const long value = std::strtol(next, &end, 10);
        if (end == next) break;
        values.push_back(static_cast<int>(value));
        if (*end != ',') break;
        next = end + 1;
    }
    if (values.size() != count || *end != '\0') {
        std::fprintf(stderr, "check_png: %s expects %zu comma-separated integers, got '%s'\n", option, count, text);
        std::exit(2);
    }
    return values;
}

int failures = 0;

void fail(const std::string& message) {
    std::printf("FAIL %s\n", message.c_str());
    ++failures;
}

void check_not_blank(const Image& image) {
    std::map<unsigned, size_t> colours;
    for (size_t i = 0; i < image.rgb.size(); i += 3)
        ++colours[(image.rgb[i] << 16) | (image.rgb[i + 1] << 8) | image.rgb[i + 2]];
    size_t most = 0;
    for (const auto& [colour, count] : colours) most = std::max(most, count);
    const double share = static_cast<double>(most) / (static_cast<double>(image.width) * image.height);
    std::printf("%zu distinct colours; the commonest covers %.1f%% of the image\n", colours.size(), 100 * share);
    if (colours.size() < 64 || share > 0.98) fail("the image looks blank");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: check_png FILE [--size W,H] [--not-blank] [--pixel X,Y,R,G,B]... "
                     "[--count R,G,B,MIN]... [--tolerance T]\n");
        return 2;
    }
    int channels = 0;
    Image image;
    unsigned char* data = stbi_load(argv[1], &image.width, &image.height, &channels, 3);
    if (!data) {
        std::printf("FAIL %s: cannot read the PNG (%s)\n", argv[1], stbi_failure_reason());
        return 1;
    }
    image.rgb.assign(data, data + static_cast<size_t>(image.width) * image.height * 3);
    stbi_image_free(data);
    std::printf("%s: %d x %d\n", argv[1], image.width, image.height);

    int tolerance = 3;
    for (int i = 2; i < argc; ++i)
        if (std::strcmp(argv[i], "--tolerance") == 0 && i + 1 < argc)
            tolerance = parse_ints("--tolerance", argv[i + 1], 1)[0];

    for (int i = 2; i < argc; ++i) {
        const std::string option = argv[i];
        const bool takes_value =
            option == "--size" || option == "--pixel" || option == "--count" || option == "--tolerance";
        if (takes_value && i + 1 >= argc) {
            std::fprintf(stderr, "check_png: %s needs a value\n", option.c_str());
            return 2;
        }
        if (option == "--not-blank") {
            check_not_blank(image);
        } else if (option == "--size") {
            const std::vector<int> size = parse_ints("--size", argv[++i], 2);
            if (size[0] != image.width || size[1] != image.height)
                fail("size " + std::to_string(image.width) + "x" + std::to_string(image.height) + ", expected " +
                     std::to_string(size[0]) + "x" + std::to_string(size[1]));
        } else if (option == "--pixel") {
            const std::vector<int> v = parse_ints("--pixel", argv[++i], 5);
            if (v[0] < 0 || v[1] < 0 || v[0] >= image.width || v[1] >= image.height) {
                fail("pixel (" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ") is outside the image");
                continue;
            }
            const unsigned char* p = image.at(v[0], v[1]);
            const int expected[3] = {v[2], v[3], v[4]};
            std::printf("pixel (%d, %d) = (%d, %d, %d), expected (%d, %d, %d)\n", v[0], v[1], p[0], p[1], p[2], v[2],
                        v[3], v[4]);
            if (!near(p, expected, tolerance))
                fail("pixel (" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ")");
        } else if (option == "--count") {
            const std::vector<int> v = parse_ints("--count", argv[++i], 4);
            const int expected[3] = {v[0], v[1], v[2]};
            long found = 0;
            for (int y = 0; y < image.height; ++y)
                for (int x = 0; x < image.width; ++x) found += near(image.at(x, y), expected, tolerance);
            std::printf("colour (%d, %d, %d): %ld pixels, expected at least %d\n", v[0], v[1], v[2], found, v[3]);
            if (found < v[3])
                fail("too few pixels of colour (" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + ", " +
                     std::to_string(v[2]) + ")");
        } else if (option == "--tolerance") {
            ++i;  // read above
        } else {
            std::fprintf(stderr, "check_png: unknown option %s\n", option.c_str());
            return 2;
        }
    }
    std::printf(failures ? "%d check(s) failed\n" : "all checks passed\n", failures);
    return failures ? 1 : 0;
}
