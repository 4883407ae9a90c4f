#include "stream.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <stdexcept>

#include "analytics.h"
#include "block.h"

namespace seek {

static int64_t parameter_bytes(const std::vector<Parameter>& parameters, int64_t* largest = nullptr) {
    int64_t bytes = 0, most = 0;
    for (const Parameter& p : parameters) {
        bytes += 4 * shape_numel(p.shape);
        most = std::max(most, 4 * shape_numel(p.shape));
    }
    if (largest) *largest = most;
    return bytes;
}

int64_t model_fp32_bytes(const ModelConfig& config) {
    const ParameterCounts counts = count_parameters(config);
    return 4 * (counts.total + counts.mtp);
}

MemoryPlan plan_memory(const ModelConfig& config, const StreamOptions& options) {
    MemoryPlan plan;
    // Only the first dense and the first MoE layer: the others have the same shapes.
    for (int64_t layer : {int64_t{0}, first_moe_layer(config)}) {
        if (layer < 0) continue;
        BlockWeights sized = sized_block_weights(config, layer);  // allocated, never touched
        int64_t largest = 0;
        const int64_t bytes = parameter_bytes(block_parameters(sized, "model.layers." + std::to_string(layer) + "."), &largest);
        plan.dense_bytes = std::max(plan.dense_bytes, bytes + largest);
    }
    if (options.head) plan.head_bytes = 4 * (config.hidden_size + config.vocab_size * config.hidden_size);
    plan.expert_bytes = options.memory_bytes - plan.dense_bytes - plan.head_bytes;
    const int64_t one = expert_bytes(config);
    if (config.n_routed_experts > 0 && plan.expert_bytes < one)
        throw std::runtime_error("--memory " + human_bytes(static_cast<double>(options.memory_bytes)) +
                                 " is too small: a layer's dense weights take " + human_bytes(static_cast<double>(plan.dense_bytes)) +
                                 (options.head ? ", the head " + human_bytes(static_cast<double>(plan.head_bytes)) : std::string()) +
                                 " and one routed expert " + human_bytes(static_cast<double>(one)) + " (FP32)");
    plan.experts = one > 0 ? std::max<int64_t>(plan.expert_bytes, 0) / one : 0;
    return plan;
}

// Gives the shard pages under a tensor back to the kernel: the mapping is read-only, so they are
// read from the file again if the tensor is ever needed again.
static void release_pages(const SafetensorsFile& file, const TensorInfo& info) {
    const uintptr_t page = static_cast<uintptr_t>(::sysconf(_SC_PAGESIZE));
    const uintptr_t begin = reinterpret_cast<uintptr_t>(file.bytes(info)) & ~(page - 1);
    const uintptr_t end = reinterpret_cast<uintptr_t>(file.bytes(info)) + (info.end - info.begin);
    if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

// One tensor, dequantized to FP32, with its stored bytes (and its scales') counted and released.
static Mat read_tensor(const Checkpoint& checkpoint, StreamStats& stats, const std::string& name, const Shape& shape) {
    Mat values = load_weight(checkpoint, name, shape);
    for (const std::string& stored : {name, scale_inv_name(name)}) {
        if (!checkpoint.contains(stored)) continue;
        const SafetensorsFile& file = checkpoint.shard_for(stored);
        const TensorInfo& info = file.at(stored);
        stats.bytes_read += static_cast<int64_t>(info.end - info.begin);
        release_pages(file, info);
    }
    return values;
}

static double seconds_since(std::chrono::steady_clock::time_point start) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The prompt's rows of embed_tokens, decoded from the shard directly when it is BF16 or F32 (V3's
// table is 129280 x 7168: 3.7 GB in FP32, of which a prompt needs a few rows).
static EmbeddingRows read_embedding_rows(const Checkpoint& checkpoint, const ModelConfig& config, StreamStats& stats,
                                         const std::vector<int32_t>& tokens) {
    const std::string name = "model.embed_tokens.weight";
    const SafetensorsFile& file = checkpoint.shard_for(name);
    const TensorInfo& info = file.at(name);
    const int64_t d = config.hidden_size;
    if (info.shape != Shape{config.vocab_size, d})
        throw std::runtime_error(file.path + ": tensor '" + name + "' has shape " + format_shape(info.shape) +
                                 ", expected " + format_shape({config.vocab_size, d}));
    std::map<int32_t, int32_t> row_of;
    EmbeddingRows rows;
    for (int32_t token : tokens) {
        if (token < 0 || token >= config.vocab_size)
            throw std::runtime_error("token " + std::to_string(token) + " is outside the vocabulary (" +
                                     std::to_string(config.vocab_size) + ")");
        row_of.emplace(token, static_cast<int32_t>(row_of.size()));
        rows.ids.push_back(row_of.at(token));
    }
    auto table = std::make_shared<Mat>(static_cast<int64_t>(row_of.size()), d);
    if (info.dtype == DType::BF16 || info.dtype == DType::F32) {
        const size_t element = dtype_size(info.dtype);
        for (const auto& [token, row] : row_of) {
            const uint8_t* bytes = file.bytes(info) + static_cast<size_t>(token) * d * element;
            for (int64_t c = 0; c < d; ++c) {
                uint32_t bits = 0;
                if (info.dtype == DType::BF16) {
                    uint16_t half;
                    std::memcpy(&half, bytes + 2 * c, 2);
                    bits = static_cast<uint32_t>(half) << 16;  // BF16 is the top half of an FP32
                } else {
                    std::memcpy(&bits, bytes + 4 * c, 4);
                }
                float value;
                std::memcpy(&value, &bits, 4);
                (*table)(row, c) = value;
            }
            stats.bytes_read += d * static_cast<int64_t>(element);
        }
        release_pages(file, info);
    } else {
        const Mat all = read_tensor(checkpoint, stats, name, info.shape);
        for (const auto& [token, row] : row_of) table->row(row) = all.row(token);
    }
    rows.table = std::move(table);
    return rows;
}

StreamedModel open_streamed(const std::string& directory, const StreamOptions& options) {
    StreamedModel model;
    model.config = load_config(directory + "/config.json");
    validate_config(model.config, directory + "/config.json");
    model.checkpoint = std::make_shared<const Checkpoint>(open_checkpoint(directory));
    // Layers, parameter count and head shape against the config, from the headers alone (as load_model).
    check_checkpoint_matches_config(*model.checkpoint, model.config, directory + "/config.json",
                                    options.generate_missing_experts);
    model.plan = plan_memory(model.config, options);
    model.stats = std::make_shared<StreamStats>();

    const ModelConfig config = model.config;
    const std::shared_ptr<const Checkpoint> checkpoint = model.checkpoint;
    const std::shared_ptr<StreamStats> stats = model.stats;
    const int64_t d = config.hidden_size, width = config.moe_intermediate_size;

    if (config.n_routed_experts > 0) {
        ExpertLoader load = [=](int64_t layer, int64_t expert, FfnWeights evicted) {
            const std::string module = mlp_module_name(layer) + ".experts." + std::to_string(expert) + ".";
            if (options.generate_missing_experts && !checkpoint->contains(module + "gate_proj.weight")) {
                ++stats->experts_generated;
                return generated_expert(config, layer, expert, options.expert_seed, 0, std::move(evicted));
            }
            const auto start = std::chrono::steady_clock::now();
            FfnWeights w{read_tensor(*checkpoint, *stats, module + "gate_proj.weight", {width, d}),
                         read_tensor(*checkpoint, *stats, module + "up_proj.weight", {width, d}),
                         read_tensor(*checkpoint, *stats, module + "down_proj.weight", {d, width})};
            stats->read_seconds += seconds_since(start);
            return w;
        };
        model.experts = std::make_shared<ExpertStore>(make_expert_store(config, load, model.plan.expert_bytes));
    }
    const std::shared_ptr<ExpertStore> experts = model.experts;

    model.source.embedding = [=](const std::vector<int32_t>& tokens) {
        return read_embedding_rows(*checkpoint, config, *stats, tokens);
    };
    model.source.layer = [=](int64_t layer) {
        const auto start = std::chrono::steady_clock::now();
        auto block = std::make_shared<BlockWeights>(sized_block_weights(config, layer));
        for (const Parameter& p : block_parameters(*block, "model.layers." + std::to_string(layer) + ".")) {
            const Mat values = read_tensor(*checkpoint, *stats, p.name, p.shape);
            std::copy_n(values.data(), values.size(), p.values);
        }
        if (config.is_moe_layer(layer)) block->moe.store = experts;
        stats->read_seconds += seconds_since(start);
        ++stats->layers_read;
        return std::shared_ptr<const BlockWeights>(std::move(block));
    };
    if (options.head) {
        model.source.head = [=]() {
            const auto start = std::chrono::steady_clock::now();
            const Mat norm = read_tensor(*checkpoint, *stats, "model.norm.weight", {d});
            HeadWeights head;
            head.norm = std::make_shared<Vec>(Eigen::Map<const Vec>(norm.data(), d));
            head.lm_head = std::make_shared<Mat>(read_tensor(*checkpoint, *stats, "lm_head.weight", {config.vocab_size, d}));
            stats->read_seconds += seconds_since(start);
            return head;
        };
    }
    return model;
}

}  // namespace seek
