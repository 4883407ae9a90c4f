// Fuzz target: the readers of what a run folder holds besides its tensors: --resume's log check
// (last_logged_step) and checkpoint manifest (core/run_folder.h), and the viewer's run-log parser
// (viewer/run_log.cpp, the GRPO panel's).
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/run_folder.h"
#include "fuzz_input.h"
#include "viewer/run_log.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static seek::fuzz::InputFile input;
    const std::string& path = input.hold(data, size);
    const std::string text(reinterpret_cast<const char*>(data), size);
    try {
        const int64_t step = seek::last_logged_step(text, "fuzz.jsonl");
        seek::fuzz::require(step >= -1 && step <= (int64_t{1} << 53));
    } catch (const std::runtime_error&) {
    }
    try {
        const seek::CheckpointManifest manifest = seek::manifest_from_json(text, "checkpoint.json");
        const seek::CheckpointManifest again = seek::manifest_from_json(seek::manifest_to_json(manifest).dump(), "again");
        seek::fuzz::require(again.step == manifest.step && again.files.size() == manifest.files.size());
    } catch (const std::runtime_error&) {
    }
    try {
        const seek::viewer::RunLog log = seek::viewer::load_run_log(path);
        for (const auto& [key, series] : log.scalars) seek::fuzz::require(series.size() == log.steps.size());
        for (const auto& [key, series] : log.arrays) seek::fuzz::require(series.size() == log.steps.size());
    } catch (const std::runtime_error&) {
    }
    return 0;
}
