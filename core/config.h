// ModelConfig: every DeepSeek HF config.json field seekscope uses, the presets, and config.json I/O.
//
// Field names follow the HF config.json keys (the published DeepSeek configs) so that a reader can match
// them one to one; q_lora_rank = 0 stands for JSON null (no query compression, V2-Lite).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace seek {

struct RopeScaling {
    std::string type = "none";  // "none" or "yarn"
    double factor = 1.0;        // s: context extension factor (V3: 40)
    int64_t original_max_position_embeddings = 4096;
    double beta_fast = 32.0;
    double beta_slow = 1.0;
    double mscale = 1.0;
    double mscale_all_dim = 1.0;
};

struct QuantizationConfig {
    bool enabled = false;                  // quantization_config present (FP8 weights)
    std::string quant_method = "fp8";
    std::string fmt = "e4m3";
    std::string activation_scheme = "dynamic";
    std::vector<int64_t> weight_block_size = {128, 128};
    std::string scale_fmt;                 // "" or "ue8m0" (V3.1)
};

struct ModelConfig {
    std::string name = "custom";  // preset name or the file it came from; not written to JSON

    int64_t vocab_size = 0;
    int64_t hidden_size = 0;
    int64_t intermediate_size = 0;      // dense FFN width (first_k_dense_replace layers)
    int64_t moe_intermediate_size = 0;  // width of one routed or shared expert
    int64_t num_hidden_layers = 0;
    int64_t num_attention_heads = 0;
    int64_t num_key_value_heads = 0;    // equals num_attention_heads in every DeepSeek config

    // MLA
    int64_t q_lora_rank = 0;            // d_c'; 0 = no query compression (JSON null)
    int64_t kv_lora_rank = 0;           // d_c: the latent that MLA caches
    int64_t qk_nope_head_dim = 0;       // d_h
    int64_t qk_rope_head_dim = 0;       // d_h^R: the decoupled RoPE part
    int64_t v_head_dim = 0;

    // DeepSeekMoE
    int64_t n_routed_experts = 0;
    int64_t n_shared_experts = 0;
    int64_t num_experts_per_tok = 0;    // K_r
    int64_t n_group = 1;
    int64_t topk_group = 1;
    double routed_scaling_factor = 1.0;
    std::string scoring_func = "softmax";  // "sigmoid" (V3) or "softmax" (V2)
    std::string topk_method = "greedy";    // "noaux_tc" (V3, with e_score_correction_bias), "greedy", "group_limited_greedy"
    bool norm_topk_prob = false;
    int64_t first_k_dense_replace = 0;
    int64_t moe_layer_freq = 1;
    double aux_loss_alpha = 0.0;

    // Positions
    double rope_theta = 10000.0;
    RopeScaling rope_scaling;
    int64_t max_position_embeddings = 4096;

    double rms_norm_eps = 1e-6;
    std::string hidden_act = "silu";
    bool tie_word_embeddings = false;
    int64_t num_nextn_predict_layers = 0;  // MTP depth
    int64_t bos_token_id = 0;
    int64_t eos_token_id = 1;
    QuantizationConfig quantization;

    int64_t qk_head_dim() const { return qk_nope_head_dim + qk_rope_head_dim; }
    bool is_moe_layer(int64_t layer) const {
        return n_routed_experts > 0 && layer >= first_k_dense_replace && layer % moe_layer_freq == 0;
    }
};

// "toy", "v2-lite" or "v3"; anything else throws, listing the presets.
ModelConfig preset_config(const std::string& name);
std::vector<std::string> preset_names();

// Parses an HF config.json object; `source` (a file path or "preset v3") goes into every error.
// Unknown keys that DeepSeek configs carry but seekscope ignores (architectures, auto_map, ...) are
// accepted; a known key with the wrong type, or inconsistent values, throw naming the key.
ModelConfig config_from_json(const nlohmann::json& json, const std::string& source);
nlohmann::json config_to_json(const ModelConfig& config);

// Reads (a regular file of at most 16 MB; a directory or a FIFO is refused before it is opened)
// and validates.
ModelConfig load_config(const std::string& path);
void save_config(const ModelConfig& config, const std::string& path);  // atomic write

// Throws std::runtime_error("<source>: <field> ...") on the first inconsistency, e.g.
// "kv_lora_rank must be > 0", "n_routed_experts (10) not divisible by n_group (4)". Every size is
// first checked against a sane upper bound (far above the published configs, e.g. num_hidden_layers
// <= 4096, hidden_size <= 262144), before any loop over layers, and the parameter count the shape
// implies must stay at most kMaxParameters: nothing downstream ever loops or allocates absurdly.
void validate_config(const ModelConfig& config, const std::string& source);
constexpr int64_t kMaxParameters = int64_t{1} << 46;  // 70 trillion; V3 has 0.69 trillion

// Before a job allocates `bytes_per_parameter` bytes for every parameter of the model (MTP
// included): throws naming the config and the job when that is more than this machine's memory.
void check_model_fits_in_memory(const ModelConfig& config, int64_t bytes_per_parameter, const std::string& job);

}  // namespace seek
