// Fuzz target: the config.json parser and validator (core/config.h). A config that is accepted
// must count its parameters without overflow, within the limit, and survive a write/read round trip.
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "core/analytics.h"
#include "core/config.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static seek::fuzz::InputFile input;
    const std::string& path = input.hold(data, size);
    seek::ModelConfig config;
    try {
        config = seek::load_config(path);
    } catch (const std::runtime_error&) {
        return 0;
    }
    const seek::ParameterCounts counts = seek::count_parameters(config);  // must not throw: validated
    seek::fuzz::require(counts.total + counts.mtp <= seek::kMaxParameters);
    const nlohmann::json written = seek::config_to_json(config);
    const seek::ModelConfig again = seek::config_from_json(written, "round trip");
    seek::fuzz::require(seek::config_to_json(again) == written);
    return 0;
}
