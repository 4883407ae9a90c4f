// Fuzz target: the safetensors reader (core/safetensors.h) and the checkpoint weight loader on
// top of it (core/checkpoint.h: FP8 dequantization, scale grids, the NaN check). Every input must
// either open and decode or be refused with an exception; never crash, hang or allocate absurdly.
#include <stdexcept>

#include "core/checkpoint.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static seek::fuzz::InputFile input;
    const std::string& path = input.hold(data, size);
    try {
        const seek::SafetensorsFile file = seek::open_safetensors(path);
        seek::Checkpoint checkpoint;
        checkpoint.directory = "fuzz";
        checkpoint.shards.push_back(file);
        for (const seek::TensorInfo& info : file.tensors) checkpoint.shard_of[info.name] = 0;
        for (const seek::TensorInfo& info : file.tensors) {
            seek::fuzz::require(file.find(info.name) == &file.at(info.name));
            seek::fuzz::require(info.end - info.begin == static_cast<uint64_t>(info.numel()) * seek::dtype_size(info.dtype));
            try {
                const seek::Mat values = seek::load_weight(checkpoint, info.name);
                seek::fuzz::require(values.size() == info.numel());
            } catch (const std::runtime_error&) {
            }
        }
    } catch (const std::runtime_error&) {
    }
    return 0;
}
