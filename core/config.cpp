#include "config.h"

#include <cmath>
#include <cstdio>
#include <tuple>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include <unistd.h>

#include "analytics.h"  // count_parameters: the total a shape implies
#include "fileio.h"

namespace seek {

using nlohmann::json;

namespace {

// ---------------------------------------------------------------------------------------------
// Presets

// The published DeepSeek-V3 config.json (HF config.json), except aux_loss_alpha: the file
// carries the remote class default 0.001, inert at inference; seekscope uses the paper's
// sequence-wise balance factor 0.0001 (paper section 4.2) for training.
ModelConfig v3_config() {
    ModelConfig c;
    c.name = "v3";
    c.vocab_size = 129280;
    c.hidden_size = 7168;
    c.intermediate_size = 18432;
    c.moe_intermediate_size = 2048;
    c.num_hidden_layers = 61;
    c.num_attention_heads = 128;
    c.num_key_value_heads = 128;
    c.q_lora_rank = 1536;
    c.kv_lora_rank = 512;
    c.qk_nope_head_dim = 128;
    c.qk_rope_head_dim = 64;
    c.v_head_dim = 128;
    c.n_routed_experts = 256;
    c.n_shared_experts = 1;
    c.num_experts_per_tok = 8;
    c.n_group = 8;
    c.topk_group = 4;
    c.routed_scaling_factor = 2.5;
    c.scoring_func = "sigmoid";
    c.topk_method = "noaux_tc";
    c.norm_topk_prob = true;
    c.first_k_dense_replace = 3;
    c.moe_layer_freq = 1;
    c.aux_loss_alpha = 0.0001;
    c.rope_theta = 10000.0;
    c.rope_scaling = {"yarn", 40.0, 4096, 32.0, 1.0, 1.0, 1.0};
    c.max_position_embeddings = 163840;
    c.rms_norm_eps = 1e-6;
    c.hidden_act = "silu";
    c.tie_word_embeddings = false;
    c.num_nextn_predict_layers = 1;
    c.bos_token_id = 0;
    c.eos_token_id = 1;
    c.quantization.enabled = true;
    c.quantization.quant_method = "fp8";
    c.quantization.fmt = "e4m3";
    c.quantization.activation_scheme = "dynamic";
    c.quantization.weight_block_size = {128, 128};
    return c;
}

// The published DeepSeek-V2-Lite config.json: no query compression, softmax routing, BF16.
ModelConfig v2_lite_config() {
    ModelConfig c;
    c.name = "v2-lite";
    c.vocab_size = 102400;
    c.hidden_size = 2048;
    c.intermediate_size = 10944;
    c.moe_intermediate_size = 1408;
    c.num_hidden_layers = 27;
    c.num_attention_heads = 16;
    c.num_key_value_heads = 16;
    c.q_lora_rank = 0;
    c.kv_lora_rank = 512;
    c.qk_nope_head_dim = 128;
    c.qk_rope_head_dim = 64;
    c.v_head_dim = 128;
    c.n_routed_experts = 64;
    c.n_shared_experts = 2;
    c.num_experts_per_tok = 6;
    c.n_group = 1;
    c.topk_group = 1;
    c.routed_scaling_factor = 1.0;
    c.scoring_func = "softmax";
    c.topk_method = "greedy";
    c.norm_topk_prob = false;
    c.first_k_dense_replace = 1;
    c.moe_layer_freq = 1;
    c.aux_loss_alpha = 0.001;
    c.rope_theta = 10000.0;
    c.rope_scaling = {"yarn", 40.0, 4096, 32.0, 1.0, 0.707, 0.707};
    c.max_position_embeddings = 163840;
    c.rms_norm_eps = 1e-6;
    c.hidden_act = "silu";
    c.tie_word_embeddings = false;
    c.num_nextn_predict_layers = 0;
    c.bos_token_id = 100000;
    c.eos_token_id = 100001;
    return c;
}

// V3's architecture (MLA with query compression, sigmoid + bias routing over expert groups, a
// dense first layer, one MTP layer) at a size that trains on a 2-core CPU in minutes.
ModelConfig toy_config() {
    ModelConfig c;
    c.name = "toy";
    c.vocab_size = 128;
    c.hidden_size = 64;
    c.intermediate_size = 192;
    c.moe_intermediate_size = 48;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 4;
    c.q_lora_rank = 32;
    c.kv_lora_rank = 16;
    c.qk_nope_head_dim = 16;
    c.qk_rope_head_dim = 8;
    c.v_head_dim = 16;
    c.n_routed_experts = 16;
    c.n_shared_experts = 1;
    c.num_experts_per_tok = 4;
    c.n_group = 4;
    c.topk_group = 2;
    c.routed_scaling_factor = 2.5;
    c.scoring_func = "sigmoid";
    c.topk_method = "noaux_tc";
    c.norm_topk_prob = true;
    c.first_k_dense_replace = 1;
    c.moe_layer_freq = 1;
    c.aux_loss_alpha = 0.0001;
    c.rope_theta = 10000.0;
    c.rope_scaling = RopeScaling{};  // type "none": the toy never runs past its training length
    c.max_position_embeddings = 256;
    c.rms_norm_eps = 1e-6;
    c.hidden_act = "silu";
    c.tie_word_embeddings = false;
    c.num_nextn_predict_layers = 1;
    c.bos_token_id = 1;
    c.eos_token_id = 2;
    return c;
}

// ---------------------------------------------------------------------------------------------
// Reading config.json

[[noreturn]] void fail(const std::string& source, const std::string& message) {
    throw std::runtime_error(source + ": " + message);
}

// Typed access to the keys of one JSON object; every error names the source and the full key
// ("rope_scaling.factor"). Absent keys leave the value untouched, so struct defaults apply.
struct JsonFields {
    const json& object;
    const std::string& source;
    std::string prefix;  // "" at the top level, "rope_scaling." inside that object

    const json* find(const std::string& key) const {
        auto it = object.find(key);
        return it == object.end() ? nullptr : &*it;
    }

    [[noreturn]] void wrong_type(const std::string& key, const std::string& expected) const {
        fail(source, "field '" + prefix + key + "' must be " + expected + ", got " + find(key)->type_name());
    }

    void require(const std::string& key) const {
        if (!find(key)) fail(source, "missing required field '" + prefix + key + "'");
    }

    void integer(const std::string& key, int64_t& value) const {
        const json* item = find(key);
        if (!item) return;
        if (!item->is_number_integer()) wrong_type(key, "an integer");
        // Above INT64_MAX nlohmann keeps the number unsigned; read as int64 it would wrap (2^64-1 -> -1).
        if (item->is_number_unsigned() && item->get<uint64_t>() > uint64_t(INT64_MAX))
            fail(source, "field '" + prefix + key + "' is " + item->dump() + ", out of range");
        value = item->get<int64_t>();
    }

    void number(const std::string& key, double& value) const {
        const json* item = find(key);
        if (!item) return;
        if (!item->is_number()) wrong_type(key, "a number");
        value = item->get<double>();
    }

    void boolean(const std::string& key, bool& value) const {
        const json* item = find(key);
        if (!item) return;
        if (!item->is_boolean()) wrong_type(key, "a boolean");
        value = item->get<bool>();
    }

    void string(const std::string& key, std::string& value) const {
        const json* item = find(key);
        if (!item) return;
        if (!item->is_string()) wrong_type(key, "a string");
        value = item->get<std::string>();
    }
};

RopeScaling rope_scaling_from_json(const json& object, const std::string& source) {
    JsonFields fields{object, source, "rope_scaling."};
    RopeScaling rope;
    // HF configs written by older transformers say "type", newer ones "rope_type".
    if (fields.find("type")) {
        fields.string("type", rope.type);
    } else if (fields.find("rope_type")) {
        fields.string("rope_type", rope.type);
    } else {
        fail(source, "missing required field 'rope_scaling.type'");
    }
    fields.number("factor", rope.factor);
    fields.integer("original_max_position_embeddings", rope.original_max_position_embeddings);
    fields.number("beta_fast", rope.beta_fast);
    fields.number("beta_slow", rope.beta_slow);
    fields.number("mscale", rope.mscale);
    fields.number("mscale_all_dim", rope.mscale_all_dim);
    return rope;
}

QuantizationConfig quantization_from_json(const json& object, const std::string& source) {
    JsonFields fields{object, source, "quantization_config."};
    QuantizationConfig quant;
    quant.enabled = true;
    fields.string("quant_method", quant.quant_method);
    fields.string("fmt", quant.fmt);
    fields.string("activation_scheme", quant.activation_scheme);
    if (const json* sizes = fields.find("weight_block_size")) {
        if (!sizes->is_array()) fields.wrong_type("weight_block_size", "an array of integers");
        quant.weight_block_size.clear();
        for (const json& size : *sizes) {
            if (!size.is_number_integer())
                fail(source, std::string("field 'quantization_config.weight_block_size' must be an array of "
                                         "integers, got an element of type ") + size.type_name());
            quant.weight_block_size.push_back(size.get<int64_t>());
        }
    }
    if (const json* scale_fmt = fields.find("scale_fmt"); scale_fmt && !scale_fmt->is_null())
        fields.string("scale_fmt", quant.scale_fmt);
    return quant;
}

std::string format_number(double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%g", value);
    return text;
}

}  // namespace

// ---------------------------------------------------------------------------------------------

std::vector<std::string> preset_names() { return {"toy", "v2-lite", "v3"}; }

ModelConfig preset_config(const std::string& name) {
    ModelConfig config;
    if (name == "toy") {
        config = toy_config();
    } else if (name == "v2-lite") {
        config = v2_lite_config();
    } else if (name == "v3") {
        config = v3_config();
    } else {
        std::string list;
        for (const std::string& preset : preset_names()) list += (list.empty() ? "" : ", ") + preset;
        throw std::runtime_error("unknown preset '" + name + "' (presets: " + list + ")");
    }
    validate_config(config, "preset " + name);
    return config;
}

ModelConfig config_from_json(const json& object, const std::string& source) {
    if (!object.is_object()) fail(source, std::string("expected a JSON object, got ") + object.type_name());
    JsonFields fields{object, source, ""};
    // Without these the model has no shape; everything else has a DeepSeek default.
    for (const char* key : {"hidden_size", "num_hidden_layers", "num_attention_heads", "vocab_size",
                            "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim"})
        fields.require(key);

    ModelConfig c;
    c.name = source;
    fields.integer("vocab_size", c.vocab_size);
    fields.integer("hidden_size", c.hidden_size);
    fields.integer("intermediate_size", c.intermediate_size);
    fields.integer("moe_intermediate_size", c.moe_intermediate_size);
    fields.integer("num_hidden_layers", c.num_hidden_layers);
    fields.integer("num_attention_heads", c.num_attention_heads);
    // HF's DeepseekV3Config does the same: absent key-value heads means one per query head.
    c.num_key_value_heads = c.num_attention_heads;
    fields.integer("num_key_value_heads", c.num_key_value_heads);

    if (const json* q_lora = fields.find("q_lora_rank"); q_lora && !q_lora->is_null())
        fields.integer("q_lora_rank", c.q_lora_rank);
    fields.integer("kv_lora_rank", c.kv_lora_rank);
    fields.integer("qk_nope_head_dim", c.qk_nope_head_dim);
    fields.integer("qk_rope_head_dim", c.qk_rope_head_dim);
    fields.integer("v_head_dim", c.v_head_dim);

    fields.integer("n_routed_experts", c.n_routed_experts);
    fields.integer("n_shared_experts", c.n_shared_experts);
    fields.integer("num_experts_per_tok", c.num_experts_per_tok);
    fields.integer("n_group", c.n_group);
    fields.integer("topk_group", c.topk_group);
    fields.number("routed_scaling_factor", c.routed_scaling_factor);
    fields.string("scoring_func", c.scoring_func);
    fields.string("topk_method", c.topk_method);
    fields.boolean("norm_topk_prob", c.norm_topk_prob);
    fields.integer("first_k_dense_replace", c.first_k_dense_replace);
    fields.integer("moe_layer_freq", c.moe_layer_freq);
    fields.number("aux_loss_alpha", c.aux_loss_alpha);

    fields.number("rope_theta", c.rope_theta);
    if (const json* rope = fields.find("rope_scaling"); rope && !rope->is_null()) {
        if (!rope->is_object()) fields.wrong_type("rope_scaling", "an object or null");
        c.rope_scaling = rope_scaling_from_json(*rope, source);
    }
    fields.integer("max_position_embeddings", c.max_position_embeddings);

    fields.number("rms_norm_eps", c.rms_norm_eps);
    fields.string("hidden_act", c.hidden_act);
    fields.boolean("tie_word_embeddings", c.tie_word_embeddings);
    // Refused by name rather than run without them: DeepSeek's attention projections have no biases.
    bool attention_bias = false;
    fields.boolean("attention_bias", attention_bias);
    if (attention_bias)
        fail(source, "attention_bias true (biases on the attention projections) is not implemented: DeepSeek V2 and V3 have none");
    fields.integer("num_nextn_predict_layers", c.num_nextn_predict_layers);
    fields.integer("bos_token_id", c.bos_token_id);
    fields.integer("eos_token_id", c.eos_token_id);
    if (const json* quant = fields.find("quantization_config"); quant && !quant->is_null()) {
        if (!quant->is_object()) fields.wrong_type("quantization_config", "an object or null");
        c.quantization = quantization_from_json(*quant, source);
    }

    validate_config(c, source);
    return c;
}

json config_to_json(const ModelConfig& c) {
    json out;
    // Written so that HF tooling recognizes the file as a DeepSeek-V3 config.
    out["architectures"] = json::array({"DeepseekV3ForCausalLM"});
    out["model_type"] = "deepseek_v3";

    out["vocab_size"] = c.vocab_size;
    out["hidden_size"] = c.hidden_size;
    out["intermediate_size"] = c.intermediate_size;
    out["moe_intermediate_size"] = c.moe_intermediate_size;
    out["num_hidden_layers"] = c.num_hidden_layers;
    out["num_attention_heads"] = c.num_attention_heads;
    out["num_key_value_heads"] = c.num_key_value_heads;

    out["q_lora_rank"] = c.q_lora_rank == 0 ? json(nullptr) : json(c.q_lora_rank);
    out["kv_lora_rank"] = c.kv_lora_rank;
    out["qk_nope_head_dim"] = c.qk_nope_head_dim;
    out["qk_rope_head_dim"] = c.qk_rope_head_dim;
    out["v_head_dim"] = c.v_head_dim;

    out["n_routed_experts"] = c.n_routed_experts;
    out["n_shared_experts"] = c.n_shared_experts;
    out["num_experts_per_tok"] = c.num_experts_per_tok;
    out["n_group"] = c.n_group;
    out["topk_group"] = c.topk_group;
    out["routed_scaling_factor"] = c.routed_scaling_factor;
    out["scoring_func"] = c.scoring_func;
    out["topk_method"] = c.topk_method;
    out["norm_topk_prob"] = c.norm_topk_prob;
    out["first_k_dense_replace"] = c.first_k_dense_replace;
    out["moe_layer_freq"] = c.moe_layer_freq;
    out["aux_loss_alpha"] = c.aux_loss_alpha;

    out["rope_theta"] = c.rope_theta;
    if (c.rope_scaling.type == "none") {
        out["rope_scaling"] = nullptr;
    } else {
        const RopeScaling& r = c.rope_scaling;
        out["rope_scaling"] = {{"type", r.type},
                               {"factor", r.factor},
                               {"original_max_position_embeddings", r.original_max_position_embeddings},
                               {"beta_fast", r.beta_fast},
                               {"beta_slow", r.beta_slow},
                               {"mscale", r.mscale},
                               {"mscale_all_dim", r.mscale_all_dim}};
    }
    out["max_position_embeddings"] = c.max_position_embeddings;

    out["rms_norm_eps"] = c.rms_norm_eps;
    out["hidden_act"] = c.hidden_act;
    out["tie_word_embeddings"] = c.tie_word_embeddings;
    out["num_nextn_predict_layers"] = c.num_nextn_predict_layers;
    out["bos_token_id"] = c.bos_token_id;
    out["eos_token_id"] = c.eos_token_id;
    if (c.quantization.enabled) {
        const QuantizationConfig& q = c.quantization;
        json quant = {{"quant_method", q.quant_method},
                      {"fmt", q.fmt},
                      {"activation_scheme", q.activation_scheme},
                      {"weight_block_size", q.weight_block_size}};
        if (!q.scale_fmt.empty()) quant["scale_fmt"] = q.scale_fmt;
        out["quantization_config"] = quant;
    }
    return out;
}

ModelConfig load_config(const std::string& path) {
    const std::string text = read_regular_file(path, 16u << 20);  // refuses directories and FIFOs by name
    json object;
    try {
        object = json::parse(text);
    } catch (const json::exception& error) {
        fail(path, std::string("invalid JSON: ") + error.what());
    }
    return config_from_json(object, path);
}

void check_model_fits_in_memory(const ModelConfig& config, int64_t bytes_per_parameter, const std::string& job) {
    const ParameterCounts counts = count_parameters(config);
    const double needed = double(counts.total + counts.mtp) * double(bytes_per_parameter);
    const double memory = double(::sysconf(_SC_PHYS_PAGES)) * double(::sysconf(_SC_PAGESIZE));
    if (memory > 0 && needed > memory)
        throw std::runtime_error(config.name + ": " + job + " needs " + std::to_string(int64_t(needed / (1 << 20))) +
                                 " MiB for " + std::to_string(counts.total + counts.mtp) + " parameters, more than the " +
                                 std::to_string(int64_t(memory / (1 << 20))) + " MiB of this machine");
}

void save_config(const ModelConfig& config, const std::string& path) {
    // Refuse to write a file that load_config would reject.
    validate_config(config, config.name);
    write_file_atomic(path, config_to_json(config).dump(2) + "\n");
}

void validate_config(const ModelConfig& c, const std::string& source) {
    auto check = [&](bool ok, const std::string& message) {
        if (!ok) fail(source, message);
    };
    auto positive = [&](const char* field, int64_t value) {
        check(value > 0, std::string(field) + " must be > 0, got " + std::to_string(value));
    };
    auto text = [](int64_t value) { return std::to_string(value); };
    auto finite = [&](const char* field, double value) {
        check(std::isfinite(value), std::string(field) + " must be finite, got " + format_number(value));
    };

    // Sane bounds first, before any loop over layers or experts: far above every published config
    // (V3's values in the comments), far below anything a machine could hold.
    const std::tuple<const char*, int64_t, int64_t> sizes[] = {
        {"vocab_size", c.vocab_size, int64_t{1} << 24},                       // 129280
        {"hidden_size", c.hidden_size, int64_t{1} << 18},                     // 7168
        {"intermediate_size", c.intermediate_size, int64_t{1} << 20},         // 18432
        {"moe_intermediate_size", c.moe_intermediate_size, int64_t{1} << 20},  // 2048
        {"q_lora_rank", c.q_lora_rank, int64_t{1} << 18},                     // 1536
        {"kv_lora_rank", c.kv_lora_rank, int64_t{1} << 18},                   // 512
        {"max_position_embeddings", c.max_position_embeddings, int64_t{1} << 30},  // 163840
        {"rope_scaling.original_max_position_embeddings", c.rope_scaling.original_max_position_embeddings,
         int64_t{1} << 30},  // 4096
    };
    for (const auto& [field, value, limit] : sizes)
        check(value <= limit, std::string(field) + " is " + text(value) + ", more than the limit " + text(limit));
    const std::pair<const char*, int64_t> counts[] = {
        {"num_attention_heads", c.num_attention_heads},    // 128
        {"num_key_value_heads", c.num_key_value_heads},
        {"qk_nope_head_dim", c.qk_nope_head_dim},          // 128
        {"qk_rope_head_dim", c.qk_rope_head_dim},          // 64
        {"v_head_dim", c.v_head_dim},                      // 128
        {"n_routed_experts", c.n_routed_experts},          // 256
        {"n_shared_experts", c.n_shared_experts},          // 1
        {"num_experts_per_tok", c.num_experts_per_tok},    // 8
        {"n_group", c.n_group},                            // 8
        {"topk_group", c.topk_group},                      // 4
        {"first_k_dense_replace", c.first_k_dense_replace},  // 3
        {"moe_layer_freq", c.moe_layer_freq},              // 1
        {"num_nextn_predict_layers", c.num_nextn_predict_layers},  // 1
    };
    check(c.num_hidden_layers <= 4096, "num_hidden_layers is " + text(c.num_hidden_layers) + ", more than the limit 4096");  // 61
    const int64_t count_limit = int64_t{1} << 16;
    for (const auto& [field, value] : counts)
        check(value <= count_limit, std::string(field) + " is " + text(value) + ", more than the limit " + text(count_limit));
    for (const auto& [field, value] : {std::pair<const char*, double>{"routed_scaling_factor", c.routed_scaling_factor},
                                       {"aux_loss_alpha", c.aux_loss_alpha},
                                       {"rope_theta", c.rope_theta},
                                       {"rms_norm_eps", c.rms_norm_eps},
                                       {"rope_scaling.factor", c.rope_scaling.factor},
                                       {"rope_scaling.beta_fast", c.rope_scaling.beta_fast},
                                       {"rope_scaling.beta_slow", c.rope_scaling.beta_slow},
                                       {"rope_scaling.mscale", c.rope_scaling.mscale},
                                       {"rope_scaling.mscale_all_dim", c.rope_scaling.mscale_all_dim}})
        finite(field, value);

    positive("vocab_size", c.vocab_size);
    positive("hidden_size", c.hidden_size);
    positive("num_hidden_layers", c.num_hidden_layers);
    positive("num_attention_heads", c.num_attention_heads);
    // MLA caches one latent shared by all heads; grouped key-value heads have no meaning here.
    check(c.num_key_value_heads == c.num_attention_heads,
          "num_key_value_heads (" + text(c.num_key_value_heads) + ") must equal num_attention_heads (" +
              text(c.num_attention_heads) + ") in MLA");

    check(c.q_lora_rank >= 0, "q_lora_rank must be >= 0 (0 or null: no query compression), got " + text(c.q_lora_rank));
    positive("kv_lora_rank", c.kv_lora_rank);
    positive("qk_nope_head_dim", c.qk_nope_head_dim);
    positive("qk_rope_head_dim", c.qk_rope_head_dim);
    // RoPE rotates pairs of features.
    check(c.qk_rope_head_dim % 2 == 0, "qk_rope_head_dim must be even, got " + text(c.qk_rope_head_dim));
    positive("v_head_dim", c.v_head_dim);

    check(c.n_routed_experts >= 0, "n_routed_experts must be >= 0, got " + text(c.n_routed_experts));
    check(c.n_shared_experts >= 0, "n_shared_experts must be >= 0, got " + text(c.n_shared_experts));
    check(c.first_k_dense_replace >= 0 && c.first_k_dense_replace <= c.num_hidden_layers,
          "first_k_dense_replace (" + text(c.first_k_dense_replace) + ") must be in [0, num_hidden_layers (" +
              text(c.num_hidden_layers) + ")]");
    positive("moe_layer_freq", c.moe_layer_freq);
    check(c.scoring_func == "sigmoid" || c.scoring_func == "softmax",
          "scoring_func must be \"sigmoid\" or \"softmax\", got \"" + c.scoring_func + "\"");
    check(c.topk_method == "noaux_tc" || c.topk_method == "greedy" || c.topk_method == "group_limited_greedy",
          "topk_method must be \"noaux_tc\", \"greedy\" or \"group_limited_greedy\", got \"" + c.topk_method + "\"");
    check(c.aux_loss_alpha >= 0, "aux_loss_alpha must be >= 0, got " + format_number(c.aux_loss_alpha));

    if (c.n_routed_experts > 0 || c.n_shared_experts > 0) positive("moe_intermediate_size", c.moe_intermediate_size);
    validate_routing(c, source);
    bool any_dense_layer = false;
    for (int64_t layer = 0; layer < c.num_hidden_layers; ++layer) any_dense_layer |= !c.is_moe_layer(layer);
    if (any_dense_layer) positive("intermediate_size", c.intermediate_size);

    check(c.rope_theta > 0, "rope_theta must be > 0, got " + format_number(c.rope_theta));
    positive("max_position_embeddings", c.max_position_embeddings);
    const RopeScaling& rope = c.rope_scaling;
    check(rope.type == "none" || rope.type == "yarn",
          "rope_scaling.type must be \"yarn\" (or rope_scaling null), got \"" + rope.type + "\"");
    if (rope.type == "yarn") {
        check(rope.factor >= 1, "rope_scaling.factor must be >= 1, got " + format_number(rope.factor));
        positive("rope_scaling.original_max_position_embeddings", rope.original_max_position_embeddings);
        // YaRN ramps between the dimension that turns beta_fast times and the one that turns
        // beta_slow times over the original context; reversed, the ramp is empty.
        check(rope.beta_fast > rope.beta_slow && rope.beta_slow > 0,
              "rope_scaling.beta_fast (" + format_number(rope.beta_fast) + ") must be > beta_slow (" +
                  format_number(rope.beta_slow) + ") > 0");
    }

    check(c.rms_norm_eps > 0, "rms_norm_eps must be > 0, got " + format_number(c.rms_norm_eps));
    check(c.hidden_act == "silu", "hidden_act must be \"silu\" (SwiGLU experts), got \"" + c.hidden_act + "\"");
    check(c.num_nextn_predict_layers >= 0,
          "num_nextn_predict_layers must be >= 0, got " + text(c.num_nextn_predict_layers));
    check(c.bos_token_id >= 0 && c.bos_token_id < c.vocab_size,
          "bos_token_id (" + text(c.bos_token_id) + ") must be in [0, vocab_size (" + text(c.vocab_size) + "))");
    check(c.eos_token_id >= 0 && c.eos_token_id < c.vocab_size,
          "eos_token_id (" + text(c.eos_token_id) + ") must be in [0, vocab_size (" + text(c.vocab_size) + "))");

    // The total bounds what any job allocates (counted in checked arithmetic: the sizes above are
    // bounded one by one, but their product can still overflow).
    const std::string too_many = " parameters, more than the limit " + text(kMaxParameters) +
                                 " (vocab_size, hidden_size, num_hidden_layers and the expert sizes multiply up)";
    int64_t parameter_total = 0;
    try {
        const ParameterCounts parameters = count_parameters(c);
        parameter_total = parameters.total + parameters.mtp;
    } catch (const std::overflow_error&) {
        fail(source, "the shape implies over 2^63" + too_many);
    }
    check(parameter_total <= kMaxParameters, "the shape implies " + text(parameter_total) + too_many);

    if (c.quantization.enabled) {
        const QuantizationConfig& q = c.quantization;
        check(q.quant_method == "fp8", "quantization_config.quant_method must be \"fp8\", got \"" + q.quant_method + "\"");
        check(q.fmt == "e4m3", "quantization_config.fmt must be \"e4m3\", got \"" + q.fmt + "\"");
        check(q.weight_block_size.size() == 2 && q.weight_block_size[0] > 0 && q.weight_block_size[1] > 0 &&
                  q.weight_block_size[0] <= count_limit && q.weight_block_size[1] <= count_limit,
              "quantization_config.weight_block_size must be two positive integers up to " + text(count_limit));
        check(q.scale_fmt.empty() || q.scale_fmt == "ue8m0",
              "quantization_config.scale_fmt must be \"ue8m0\" or absent, got \"" + q.scale_fmt + "\"");
    }
}

void validate_routing(const ModelConfig& c, const std::string& source) {
    if (c.n_routed_experts <= 0) return;
    auto text = [](int64_t value) { return std::to_string(value); };
    auto positive = [&](const char* field, int64_t value) {
        if (value <= 0) fail(source, std::string(field) + " must be > 0, got " + text(value));
    };
    positive("num_experts_per_tok", c.num_experts_per_tok);
    if (c.num_experts_per_tok > c.n_routed_experts)
        fail(source, "num_experts_per_tok (" + text(c.num_experts_per_tok) + ") must be <= n_routed_experts (" +
                         text(c.n_routed_experts) + ")");
    positive("n_group", c.n_group);
    positive("topk_group", c.topk_group);
    if (c.n_routed_experts % c.n_group != 0)
        fail(source, "n_routed_experts (" + text(c.n_routed_experts) + ") not divisible by n_group (" + text(c.n_group) + ")");
    if (c.topk_group > c.n_group)
        fail(source, "topk_group (" + text(c.topk_group) + ") must be <= n_group (" + text(c.n_group) + ")");
    // Routing picks the top-k experts inside the kept groups, so those must hold enough experts.
    if (c.topk_group * (c.n_routed_experts / c.n_group) < c.num_experts_per_tok)
        fail(source, "topk_group (" + text(c.topk_group) + ") groups of " + text(c.n_routed_experts / c.n_group) +
                         " experts hold fewer than num_experts_per_tok (" + text(c.num_experts_per_tok) + ")");
    if (!(c.routed_scaling_factor > 0))
        fail(source, "routed_scaling_factor must be > 0, got " + format_number(c.routed_scaling_factor));
}

}  // namespace seek
