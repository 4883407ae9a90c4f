// check_png: reads a screenshot back and checks what the viewer tests need.
//
//   check_png FILE [--size W,H] [--not-blank] [--pixel X,Y,R,G,B]... [--count R,G,B,MIN]...
//                  [--tolerance T] [--layout LAYOUT [--min-plot W,H] [--min-plots N]]
//
//   --size       the image is W x H pixels
//   --not-blank  the image has at least 64 distinct colours and no colour covers 98% of it: a
//                window that drew nothing (or only its background) fails
//   --pixel      the pixel at (X, Y) is (R, G, B), each channel within the tolerance (default 3)
//   --count      at least MIN pixels are (R, G, B) within the tolerance: a colour that only one
//                element draws (the error banner) is on screen
//   --layout     the rectangles seekscope --layout wrote for this screenshot (viewer/layout.h), one
//                "KIND NAME x0 y0 x1 y1 cx0 cy0 cx1 cy1" per line: every rectangle lies inside the
//                image and inside the region that had to hold it (cx..: a view, a tab, a chart's
//                box), so nothing is cut off; every "plot" (a chart's drawn area) is at least
//                --min-plot W,H pixels (default 80,50) and shows at least 3 colours in the image;
//                and there are at least --min-plots of them (default 1): a chart squeezed to
//                nothing or gone fails
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

struct LayoutRect {
    std::string kind, name;
    double x0, y0, x1, y1, cx0, cy0, cx1, cy1;
};

void check_layout(const Image& image, const std::string& path, int min_w, int min_h, int min_plots) {
    std::FILE* file = std::fopen(path.c_str(), "r");
    if (!file) {
        fail(path + ": cannot open the layout");
        return;
    }
    std::vector<LayoutRect> rects;
    char kind[16], name[512];
    LayoutRect r;
    while (std::fscanf(file, "%15s %511s %lf %lf %lf %lf %lf %lf %lf %lf", kind, name, &r.x0, &r.y0, &r.x1, &r.y1,
                       &r.cx0, &r.cy0, &r.cx1, &r.cy1) == 10) {
        r.kind = kind;
        r.name = name;
        rects.push_back(r);
    }
    const bool complete = std::feof(file);
    std::fclose(file);
    if (!complete) fail(path + ": a line after entry " + std::to_string(rects.size()) + " is not a layout entry");

    const double slack = 1.0;  // half-pixel rounding on either side
    int plots = 0;
    double smallest_area = 1e18;
    std::string smallest;
    for (const LayoutRect& e : rects) {
        char where[160];
        std::snprintf(where, sizeof where, "[%.0f, %.0f]-[%.0f, %.0f]", e.x0, e.y0, e.x1, e.y1);
        const std::string what = e.kind + " " + e.name + " " + where;
        if (e.x0 < -slack || e.y0 < -slack || e.x1 > image.width + slack || e.y1 > image.height + slack)
            fail(what + " is not inside the " + std::to_string(image.width) + "x" + std::to_string(image.height) +
                 " window");
        if (e.x0 < e.cx0 - slack || e.y0 < e.cy0 - slack || e.x1 > e.cx1 + slack || e.y1 > e.cy1 + slack) {
            char clip[200];
            std::snprintf(clip, sizeof clip, " does not fit in [%.0f, %.0f]-[%.0f, %.0f]: cut off", e.cx0, e.cy0, e.cx1,
                          e.cy1);
            fail(what + clip);
        }
        if (e.kind != "plot") continue;
        ++plots;
        const double w = e.x1 - e.x0, h = e.y1 - e.y0;
        if (w * h < smallest_area) {
            smallest_area = w * h;
            char size[64];
            std::snprintf(size, sizeof size, "%.0fx%.0f", w, h);
            smallest = std::string(size) + " (" + e.name + ")";
        }
        if (w < min_w || h < min_h) {
            fail(what + " is smaller than " + std::to_string(min_w) + "x" + std::to_string(min_h));
            continue;
        }
        // Something was drawn there: cells, bars or lines over the background.
        std::map<unsigned, int> colours;
        for (int y = std::max(0, static_cast<int>(e.y0)); y < std::min(image.height, static_cast<int>(e.y1)); ++y)
            for (int x = std::max(0, static_cast<int>(e.x0)); x < std::min(image.width, static_cast<int>(e.x1)); ++x) {
                const unsigned char* p = image.at(x, y);
                ++colours[(p[0] << 16) | (p[1] << 8) | p[2]];
            }
        if (colours.size() < 3) fail(what + " shows " + std::to_string(colours.size()) + " colour(s): nothing drawn");
    }
    std::printf("layout: %zu entries, %d plots, the smallest %s\n", rects.size(), plots, smallest.c_str());
    if (plots < min_plots) fail("layout: " + std::to_string(plots) + " plots, expected at least " + std::to_string(min_plots));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: check_png FILE [--size W,H] [--not-blank] [--pixel X,Y,R,G,B]... "
                     "[--count R,G,B,MIN]... [--tolerance T] [--layout LAYOUT [--min-plot W,H] [--min-plots N]]\n");
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

    int tolerance = 3, min_plot_w = 80, min_plot_h = 50, min_plots = 1;
    for (int i = 2; i + 1 < argc; ++i) {
        if (std::strcmp(argv[i], "--tolerance") == 0) tolerance = parse_ints("--tolerance", argv[i + 1], 1)[0];
        if (std::strcmp(argv[i], "--min-plots") == 0) min_plots = parse_ints("--min-plots", argv[i + 1], 1)[0];
        if (std::strcmp(argv[i], "--min-plot") == 0) {
            const std::vector<int> size = parse_ints("--min-plot", argv[i + 1], 2);
            min_plot_w = size[0];
            min_plot_h = size[1];
        }
    }

    for (int i = 2; i < argc; ++i) {
        const std::string option = argv[i];
        const bool takes_value = option == "--size" || option == "--pixel" || option == "--count" ||
                                 option == "--tolerance" || option == "--layout" || option == "--min-plot" ||
                                 option == "--min-plots";
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
        } else if (option == "--layout") {
            check_layout(image, argv[++i], min_plot_w, min_plot_h, min_plots);
        } else if (option == "--tolerance" || option == "--min-plot" || option == "--min-plots") {
            ++i;  // read above
        } else {
            std::fprintf(stderr, "check_png: unknown option %s\n", option.c_str());
            return 2;
        }
    }
    std::printf(failures ? "%d check(s) failed\n" : "all checks passed\n", failures);
    return failures ? 1 : 0;
}
