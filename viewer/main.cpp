// seekscope: the desktop viewer. Parses the command line into an App, opens a GLFW window with an
// OpenGL 3.3 context, and draws the panels with Dear ImGui every frame. With --screenshot it
// draws a few frames, saves the last one as a PNG and exits: that is how docs and tests see it.
#include <GLFW/glfw3.h>
#include <imgui.h>
#include <imgui_impl_glfw.h>
#include <imgui_impl_opengl3.h>

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <vector>

#include "app.h"
#include "core/analytics.h"
#include "core/simd.h"
#include "common/args.h"
#include "draw.h"
#include "layout.h"
#include "screenshot.h"
#include "worker.h"

using namespace seek;
using namespace seek::viewer;

namespace {

CommandSpec command_spec() {
    std::string panel_names;
    for (const Panel& panel : panels())
        panel_names +=
            std::string(panel_names.empty() ? "" : ", ") + panel.name + (panel.diagnostic ? " (diagnostic)" : "");
    return {
        "",
        "the seekscope viewer: step through DeepSeek-V3's ideas on the toy model",
        "Panels: Forward pass (every traced tensor of the model, as a heatmap, with its statistics and\n"
        "histogram; the prompt is editable; a checkpoint's likeliest next tokens and greedy completion),\n"
        "MLA (KV-cache bytes against context length for MHA, GQA, MQA and MLA; the cached latent;\n"
        "attention per head; naive against absorbed attention),\n"
        "MoE (the gate's token x expert scores and chosen experts, the expert load and MaxVio, for the prompt\n"
        "or 1024 synthetic tokens at V2-Lite or V3 scale; the balancing simulator: none, aux loss, bias),\n"
        "FP8 (a tensor's values against the E4M3 grid, quantization error per tile for per-tensor, 1x128 and\n"
        "128x128 scaling; FP8 GEMM error against K for each accumulation), Compare (two trace files,\n"
        "tensor by tensor, sorted by error) and GRPO (a --log: `seek grpo`'s grpo.jsonl, with reward,\n"
        "accuracy, length, behaviour, KL curves and the sampled completions at step 0 against later; or\n"
        "`seek train`'s train.jsonl, with the losses, learning rate, gradient norm and MaxVio per step).\n\n"
        "The model: --model DIR (config.json + model.safetensors, as `seek train --out DIR` writes), else\n"
        "the bundled data/toy/grpo checkpoint (the toy model after GRPO; the GRPO panel then shows its\n"
        "run's log unless --log is given), else the toy shape with generated weights (the first two\n"
        "layers). The Forward panel says which it shows.\n\n"
        "Full scale: a checkpoint that is sharded (model.safetensors.index.json, as DeepSeek ships V3), has\n"
        "over 2 B parameters, or comes with --memory is not loaded but read in place layer by layer under\n"
        "--memory (default 16G), as `seek step --model` reads it: the prompt is tokenized with the folder's\n"
        "tokenizer.json (BOS from tokenizer_config.json) when it has one, the live pass traces each MoE\n"
        "layer's choices (layers.*.moe.topk_idx, topk_weight), and there is no next-token prediction or\n"
        "greedy completion (the head is not read). The MoE panel's token path shows them:\n"
        "  seekscope --model DIR --memory 16G --prompt 'The capital of France is' --panel moe --view path --token 3\n\n"
        "Presentation: --scale 1.5 (or Ctrl + / Ctrl - / Ctrl 0 in the window) draws everything, fonts\n"
        "included, 1.5 times larger; by default the scale follows the monitor's content scale.\n\n"
        "With --screenshot the window draws --frames frames, saves the last as a PNG, prints the time per\n"
        "frame and exits (work that waits for a button, such as the MoE panel's simulator, runs first, short;\n"
        "time runs at 0.1 s per frame, so playing a GRPO log advances the same on any machine);\n"
        "--layout FILE also writes where each chart and view was drawn, for tests/check_png.\n"
        "On a machine without a display run it under Xvfb:\n"
        "  xvfb-run -a -s '-screen 0 1920x1200x24' seekscope --panel mla --screenshot mla.png\n\n"
        "Trace files are what `seek step --trace FILE` writes. A file that cannot be read (a trace, a\n"
        "checkpoint, a log; a log's malformed lines, by number) is reported in the window and on stderr;\n"
        "the viewer keeps running.",
        {
            {"panel", "NAME", "the panel to open: " + panel_names, "forward"},
            {"prompt", "TEXT", "the model's prompt (printable ASCII; a checkpoint's starts with <bos>, added if missing)",
             "12+34="},
            {"model", "DIR",
             "run this checkpoint in the live forward pass: loaded into memory, or read in place when it is "
             "sharded (model.safetensors.index.json), over 2 B parameters or --memory is given",
             ""},
            {"memory", "SIZE", "--model: read it in place with this budget for weights held at once (default 16G)", ""},
            {"expert-seed", "N",
             "--model read in place: generate the routed experts the checkpoint lacks from seed N (shape tests, "
             "e.g. the V3-shaped checkpoint of scripts/v3-shaped.sh)",
             ""},
            {"token", "N", "the token (position in the prompt) whose path the MoE panel shows first (default: the last)",
             ""},
            {"log", "FILE",
             "the GRPO panel's log: a grpo.jsonl (seek grpo) or a train.jsonl (seek train); give it again to "
             "overlay another run's curves (--log A --log B)",
             ""},
            {"attn", "IMPL", "attention form of the live forward pass: absorb or naive", "absorb"},
            {"tensor", "NAME", "the trace name the Forward panel shows first, e.g. layers.0.attn.probs", ""},
            {"trace", "FILE", "show this trace file in the Forward panel instead of a live run", ""},
            {"compare", "", "compare the trace files A and B (the Compare panel)", ""},
            {"preset", "NAME",
             "model shape the MLA panel's KV-cache plot and the MoE panel's gate start on: toy, v2-lite or v3", "toy"},
            {"screenshot", "PATH", "draw --frames frames, save the last as a PNG and exit", ""},
            {"view", "NAME",
             "the panel's sub-view to open on: moe: routing, path (a token's path through the MoE layers) or "
             "balancing; grpo: curves or samples",
             ""},
            {"size", "WxH", "window size in pixels", "1600x1000"},
            {"scale", "X", "UI scale, 0.5 to 4 (default: the monitor's content scale)", ""},
            {"layout", "FILE", "with --screenshot: write each chart's and view's rectangle to FILE", ""},
            {"frames", "N", "frames to draw before the screenshot", "5"},
            {"mouse", "X,Y", "with --screenshot: the mouse pointer's position (shows hover tooltips); default: none",
             ""},
            {"keys", "LIST",
             "with --screenshot: keys to press, one every other frame from the third: up, down, left, right, j, k, "
             "space, plus and minus (Ctrl + and Ctrl -), click (the left mouse button at --mouse) "
             "(e.g. down,down,j steps the Forward panel three tensors on)",
             ""},
        },
        "[A B]",
        0,
        2,
        "seekscope",
    };
}

// A key --keys presses: a GLFW key (with Ctrl held for plus and minus), a typed letter, or the
// left mouse button.
struct Key {
    int glfw_key = -1;
    char character = 0;
    bool ctrl = false;
    bool click = false;
};

struct Options {
    std::string screenshot;
    std::string layout;
    float scale = 0;  // 0: the monitor's content scale
    std::vector<Key> keys;
    int width = 0, height = 0;
    int64_t frames = 0;
    // Screenshots must not depend on where the X server left the pointer: off the window unless --mouse.
    ImVec2 mouse = ImVec2(-FLT_MAX, -FLT_MAX);
};

// Every --log given, in order (the parser keeps the last value of a repeated option).
std::vector<std::string> repeated_option(int argc, char** argv, const std::string& name) {
    std::vector<std::string> values;
    const std::string flag = "--" + name, prefix = flag + "=";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == flag && i + 1 < argc) values.push_back(argv[++i]);
        else if (arg.rfind(prefix, 0) == 0) values.push_back(arg.substr(prefix.size()));
    }
    return values;
}

// Fills `app` from the arguments (reading files, running the model) and returns the window options.
Options parse_command_line(const ParsedArgs& args, const std::vector<std::string>& log_paths, App& app) {
    Options options;
    if (std::sscanf(args.str("size").c_str(), "%dx%d", &options.width, &options.height) != 2 || options.width < 320 ||
        options.height < 240 || options.width > 8192 || options.height > 8192)
        throw UsageError("--size must be WIDTHxHEIGHT between 320x240 and 8192x8192, got '" + args.str("size") +
                              "'");
    options.frames = args.integer("frames");
    if (options.frames < 1) throw UsageError("--frames must be at least 1");
    if (args.flag("screenshot")) options.screenshot = args.str("screenshot");
    app.headless = args.flag("screenshot");
    if (args.flag("mouse") && std::sscanf(args.str("mouse").c_str(), "%f,%f", &options.mouse.x, &options.mouse.y) != 2)
        throw UsageError("--mouse must be X,Y in pixels, got '" + args.str("mouse") + "'");

    if (args.flag("keys")) {
        if (!args.flag("screenshot")) throw UsageError("--keys needs --screenshot");
        std::stringstream list(args.str("keys"));
        for (std::string name; std::getline(list, name, ',');) {
            if (name == "up") options.keys.push_back({GLFW_KEY_UP, 0});
            else if (name == "down") options.keys.push_back({GLFW_KEY_DOWN, 0});
            else if (name == "left") options.keys.push_back({GLFW_KEY_LEFT, 0});
            else if (name == "right") options.keys.push_back({GLFW_KEY_RIGHT, 0});
            else if (name == "j" || name == "k") options.keys.push_back({-1, name[0]});
            else if (name == "space") options.keys.push_back({GLFW_KEY_SPACE, 0});
            else if (name == "plus") options.keys.push_back({GLFW_KEY_EQUAL, 0, true});
            else if (name == "minus") options.keys.push_back({GLFW_KEY_MINUS, 0, true});
            else if (name == "click") options.keys.push_back({-1, 0, false, true});
            else throw UsageError("--keys: no key '" + name + "' (up, down, left, right, j, k, space, plus, minus, click)");
        }
        const int64_t needed = 3 + 2 * static_cast<int64_t>(options.keys.size());
        if (options.frames < needed)
            throw UsageError("--keys: " + std::to_string(options.keys.size()) + " keys need --frames " +
                                  std::to_string(needed) + " or more");
    }

    if (args.flag("scale")) {
        options.scale = static_cast<float>(args.number("scale"));
        if (!(options.scale >= 0.5f && options.scale <= 4)) throw UsageError("--scale must be between 0.5 and 4");
    }
    if (args.flag("layout")) {
        if (!args.flag("screenshot")) throw UsageError("--layout needs --screenshot");
        options.layout = args.str("layout");
    }
    if (args.flag("view")) app.view = args.str("view");
    app.panel = args.str("panel");
    if (!find_panel(app.panel)) throw UsageError("--panel: no panel '" + app.panel + "' (see --help)");
    app.analytics_preset = args.str("preset");
    args.choice("preset", preset_config);
    app.attn = args.choice("attn", attn_impl_from_name);
    if (args.flag("compare") != (args.positional.size() == 2) || args.positional.size() == 1)
        throw UsageError(args.flag("compare") ? "--compare needs two trace files, A and B"
                                                   : "trace files A and B are read with --compare A B");

    app.model = preset_config("toy");
    if (args.flag("memory")) {
        if (!args.flag("model")) throw UsageError("--memory is for --model (a checkpoint read in place)");
        app.memory_bytes = parse_bytes(args.str("memory"), "--memory");
    }
    if (args.flag("expert-seed")) {
        if (!args.flag("model")) throw UsageError("--expert-seed is for --model (a checkpoint read in place)");
        app.stream_options.generate_missing_experts = true;
        app.stream_options.expert_seed = static_cast<uint64_t>(args.integer("expert-seed"));
    }
    const std::string checkpoint = args.flag("model") ? args.str("model") : bundled_checkpoint();
    if (!checkpoint.empty() && load_checkpoint(app, checkpoint, args.flag("memory") || args.flag("expert-seed"))) {  // a failure is reported: generated weights
        // The bundled model is named as a reader's checkout has it, wherever the viewer was started.
        if (!args.flag("model")) app.model_label = "data/toy/grpo";
        std::printf("seekscope: model %s (%lld layers, %s parameters)\n", checkpoint.c_str(),
                    static_cast<long long>(app.model.num_hidden_layers),
                    with_commas(count_parameters(app.model).total).c_str());
    }
    run_prompt(app, args.str("prompt"));
    if (!app.prompt_error.empty()) throw UsageError("--prompt: " + app.prompt_error);
    if (args.flag("token")) {
        const int64_t token = args.integer("token");
        if (token < 0 || token >= static_cast<int64_t>(app.tokens.size()))
            throw UsageError("--token must be a position in the prompt, 0.." + std::to_string(app.tokens.size() - 1) +
                             ", got " + args.str("token"));
        app.path_token = static_cast<int>(token);
    }
    if (args.flag("trace")) open_trace(app, args.str("trace"));
    if (args.flag("compare")) open_comparison(app, args.positional[0], args.positional[1]);
    if (args.flag("log"))
        for (const std::string& path : log_paths) open_log(app, path);
    else if (!args.flag("model") && !checkpoint.empty() && std::filesystem::exists(checkpoint + "/grpo.jsonl"))
        open_log(app, checkpoint + "/grpo.jsonl");  // the bundled model's own GRPO run
    if (args.flag("tensor")) {
        if (!trace_find(app.trace, args.str("tensor")))
            report_error(app, "--tensor: the trace has no tensor '" + args.str("tensor") + "'");
        else
            app.selected = args.str("tensor");
    }
    return options;
}

void set_key(int glfw_key, bool down) {
#if IMGUI_VERSION_NUM >= 18700
    const ImGuiKey key = glfw_key == GLFW_KEY_UP      ? ImGuiKey_UpArrow
                         : glfw_key == GLFW_KEY_DOWN  ? ImGuiKey_DownArrow
                         : glfw_key == GLFW_KEY_LEFT  ? ImGuiKey_LeftArrow
                         : glfw_key == GLFW_KEY_RIGHT ? ImGuiKey_RightArrow
                         : glfw_key == GLFW_KEY_SPACE ? ImGuiKey_Space
                         : glfw_key == GLFW_KEY_EQUAL ? ImGuiKey_Equal
                                                      : ImGuiKey_Minus;
    ImGui::GetIO().AddKeyEvent(key, down);
#else
    ImGui::GetIO().KeysDown[glfw_key] = down;
#endif
}

// --keys: key i goes down at the start of frame 3 + 2i (frames counted from 1) and up at the
// next, so that each press is a press and not a key held down.
void press_scripted_key(const std::vector<Key>& keys, int64_t frames_done) {
    const int64_t i = (frames_done - 2) / 2;
    if (frames_done < 2 || i >= static_cast<int64_t>(keys.size())) return;
    const Key& key = keys[static_cast<size_t>(i)];
    const bool down = (frames_done - 2) % 2 == 0;
    ImGuiIO& io = ImGui::GetIO();
    if (key.click)
        io.MouseDown[0] = down;
    else if (key.glfw_key >= 0)
        set_key(key.glfw_key, down);
    else if (down)
        io.AddInputCharacter(static_cast<unsigned>(key.character));
    io.KeyCtrl = key.ctrl && down;
}

// The UI scale asked for: Ctrl + and Ctrl - in steps of a quarter, Ctrl 0 back to 1.
float scale_from_keys(float scale) {
    const ImGuiIO& io = ImGui::GetIO();
    if (!io.KeyCtrl) return scale;
    if (ImGui::IsKeyPressed(GLFW_KEY_EQUAL) || ImGui::IsKeyPressed(GLFW_KEY_KP_ADD)) scale += 0.25f;
    if (ImGui::IsKeyPressed(GLFW_KEY_MINUS) || ImGui::IsKeyPressed(GLFW_KEY_KP_SUBTRACT)) scale -= 0.25f;
    if (ImGui::IsKeyPressed(GLFW_KEY_0) || ImGui::IsKeyPressed(GLFW_KEY_KP_0)) scale = 1;
    return std::clamp(scale, 0.5f, 4.0f);
}

// The style and font at `scale`: ImGui's built-in font rasterized afresh at 20 x scale pixels (not
// a bitmap stretched), the spacing scaled to match. At scale 1 that reads on a 1600x1000 window
// and in the README's screenshots; 1.5 is for a projector. Call between frames; `rebuild_texture`
// once the renderer has made its first font texture.
void set_style(float scale, bool rebuild_texture) {
    ImGuiStyle style;
    ImGui::StyleColorsDark(&style);
    style.ScaleAllSizes(1.5f * scale);
    style.FrameRounding = 3 * scale;
    style.TabRounding = 3 * scale;
    ImGui::GetStyle() = style;
    ImGuiIO& io = ImGui::GetIO();
    io.Fonts->Clear();
    ImFontConfig font;
    font.SizePixels = std::round(kBaseFontSize * scale);
    io.Fonts->AddFontDefault(&font);
    if (rebuild_texture) {
        ImGui_ImplOpenGL3_DestroyFontsTexture();
        ImGui_ImplOpenGL3_CreateFontsTexture();
    }
}

}  // namespace

int main(int argc, char** argv) {
    App app;
    Options options;
    const CommandSpec spec = command_spec();
    try {
        if (wants_help(spec, argc - 1, argv + 1)) return 0;
        options = parse_command_line(parse_args(spec, argc - 1, argv + 1), repeated_option(argc, argv, "log"), app);
    } catch (const UsageError& error) {
        std::fprintf(stderr, "seekscope: %s\n", error.what());
        return 2;
    }
    try {
        seek::simd_level();  // an unknown or unavailable SEEK_SIMD stops here, not in a panel
    } catch (const std::exception& error) {
        std::fprintf(stderr, "seekscope: error: %s\n", error.what());
        return 1;
    }

    glfwSetErrorCallback(
        [](int code, const char* message) { std::fprintf(stderr, "seekscope: GLFW error %d: %s\n", code, message); });
    if (!glfwInit()) {
        std::fprintf(stderr,
                     "seekscope: cannot start GLFW: is there a display? (without one: xvfb-run -a seekscope ...)\n");
        return 1;
    }
    glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
    glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 3);
    glfwWindowHint(GLFW_OPENGL_PROFILE, GLFW_OPENGL_CORE_PROFILE);
    glfwWindowHint(GLFW_OPENGL_FORWARD_COMPAT, GLFW_TRUE);
    GLFWwindow* window = glfwCreateWindow(options.width, options.height, "seekscope", nullptr, nullptr);
    if (!window) {
        std::fprintf(stderr, "seekscope: cannot open a window with OpenGL 3.3\n");
        glfwTerminate();
        return 1;
    }
    glfwMakeContextCurrent(window);
    const bool headless = !options.screenshot.empty();
    glfwSwapInterval(headless ? 0 : 1);  // screenshots time the drawing, not the display's refresh

    IMGUI_CHECKVERSION();
    ImGui::CreateContext();
    ImGui::GetIO().IniFilename = nullptr;  // no imgui.ini left in the working directory
    // Without --scale, the monitor's content scale (a HiDPI screen's 2, 1 under Xvfb) until a key changes it.
    bool scale_chosen = options.scale > 0;
    auto monitor_scale = [window] {
        float x = 1, y = 1;
        glfwGetWindowContentScale(window, &x, &y);
        return std::clamp(x, 0.5f, 4.0f);
    };
    app.ui_scale = scale_chosen ? options.scale : monitor_scale();
    float applied_scale = app.ui_scale;
    set_style(applied_scale, false);
    ImGui_ImplGlfw_InitForOpenGL(window, true);
    ImGui_ImplOpenGL3_Init("#version 330 core");

    int status = 0;
    int64_t frame = 0;
    double first_frames_ms = 0, steady_ms = 0, steady_ui_ms = 0;  // ui: building the frame, before rendering it
    while (!glfwWindowShouldClose(window)) {
        const auto start = std::chrono::steady_clock::now();
        glfwPollEvents();
        // A new scale (a key last frame, or the window moved to another monitor) takes effect
        // between frames: the font is rasterized again at the new size.
        if (!scale_chosen && monitor_scale() != applied_scale) app.ui_scale = monitor_scale();
        if (app.ui_scale != applied_scale) {
            applied_scale = app.ui_scale;
            set_style(applied_scale, true);
        }
        ImGui_ImplOpenGL3_NewFrame();
        ImGui_ImplGlfw_NewFrame();
        if (headless) {
            ImGui::GetIO().MousePos = options.mouse;
            ImGui::GetIO().DeltaTime = 0.1f;  // animations advance the same on any machine
            press_scripted_key(options.keys, frame);
        }
        ImGui::NewFrame();
        const float keyed_scale = scale_from_keys(app.ui_scale);
        if (keyed_scale != app.ui_scale) {
            app.ui_scale = keyed_scale;
            scale_chosen = true;
        }
        clear_layout();
        app.report.clear();
        draw_app(app);
        ImGui::Render();
        const auto drawn = std::chrono::steady_clock::now();
        int width = 0, height = 0;
        glfwGetFramebufferSize(window, &width, &height);
        glViewport(0, 0, width, height);
        glClearColor(0.08f, 0.08f, 0.09f, 1.0f);
        glClear(GL_COLOR_BUFFER_BIT);
        ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
        glFinish();  // count the GPU's (or llvmpipe's) share of the frame too
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
        // The first two frames lay out the window and open the requested tab (whose one-time work,
        // such as the MLA panel's two model runs, lands in frame 2); the rest are the steady state.
        ++frame;
        (frame <= 2 ? first_frames_ms : steady_ms) += ms;
        if (frame > 2) steady_ui_ms += std::chrono::duration<double, std::milli>(drawn - start).count();
        if (headless && frame == options.frames) {
            try {
                save_screenshot(options.screenshot, width, height);
                std::printf("seekscope: %s panel, %dx%d at scale %.2f (font %.0f px), saved to %s\n",
                            app.panel.c_str(), width, height, applied_scale, ImGui::GetFontSize(),
                            options.screenshot.c_str());
                if (app.panel == "forward") std::printf("seekscope: showing %s\n", app.selected.c_str());
                for (const auto& [what, value] : app.report) std::printf("seekscope: %s: %s\n", what.c_str(), value.c_str());
                if (!options.layout.empty()) {
                    write_layout(options.layout);
                    std::printf("seekscope: layout of %zu charts and views written to %s\n", layout_entries().size(),
                                options.layout.c_str());
                }
                const double steady = static_cast<double>(std::max<int64_t>(frame - 2, 1));
                std::printf(
                    "seekscope: first 2 frames %.1f ms, then %.2f ms per frame (%.2f ms of it building the UI; "
                    "mean of %lld)\n",
                    first_frames_ms, steady_ms / steady, steady_ui_ms / steady,
                    static_cast<long long>(std::max<int64_t>(frame - 2, 0)));
            } catch (const std::exception& error) {
                std::fprintf(stderr, "seekscope: %s\n", error.what());
                status = 1;
            }
            break;
        }
        glfwSwapBuffers(window);
    }

    stop_workers();  // before anything their threads write goes
    ImGui_ImplOpenGL3_Shutdown();
    ImGui_ImplGlfw_Shutdown();
    ImGui::DestroyContext();
    glfwDestroyWindow(window);
    glfwTerminate();
    return status;
}
