// seek info: parameters per component (total and activated per token) and FLOPs per token.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "../core/analytics.h"
#include "commands.h"

namespace seek::cli {

namespace {

const CommandSpec spec = {
    "info",
    "parameters (total and activated per token) and FLOPs of a model, per component",
    "Counts every weight of the HF checkpoint layout from the config alone, exactly (d = hidden_size,\n"
    "H = heads, dn/dr/dv = qk_nope/qk_rope/v head dims, q = q_lora_rank, r = kv_lora_rank):\n"
    "  attention (MLA)  q_proj = H*(dn+dr)*d, or q_a_proj q*d + q_a_layernorm q + q_b_proj H*(dn+dr)*q\n"
    "                   + kv_a_proj_with_mqa (r+dr)*d + kv_a_layernorm r + kv_b_proj H*(dn+dv)*r + o_proj d*H*dv\n"
    "  dense FFN        3*d*intermediate_size per dense layer (gate_proj, up_proj, down_proj)\n"
    "  experts          3*d*moe_intermediate_size each, routed and shared, per MoE layer\n"
    "  gate             n_routed*d per MoE layer, + n_routed for e_score_correction_bias (noaux_tc)\n"
    "  norms            2*d per layer, d for the final norm; embed_tokens and lm_head vocab*d each\n"
    "The MTP module (num_nextn_predict_layers x one MoE block + enorm + hnorm + eh_proj [d, 2d] +\n"
    "shared_head.norm) is listed apart and not in the total, as in the paper's 671B.\n"
    "\n"
    "Activated = what one token uses: the total minus the embedding table (a row lookup, not a\n"
    "matmul) minus the routed experts the gate did not pick (only num_experts_per_tok of\n"
    "n_routed_experts run in each MoE layer).\n"
    "\n"
    "FLOPs per token (forward, a multiply-add = 2 FLOPs) = 2 x activated matmul weights (norms and\n"
    "the gate bias excluded) + attention over a context of L tokens: per layer 2*H*(dn+dr)*L for\n"
    "the scores and 2*H*dv*L for the weighted sum of values.",
    {preset_option("v3"), config_option(),
     {"context", "N", "context length L for the attention FLOPs (k/m suffixes: 128k = 131072)", "4096"},
     {"json", "", "print one JSON object with exact integers instead of the table", ""}},
    "", 0, 0,  // no positional arguments
};

// Context lengths are multiplied into byte and FLOP counts; a cap keeps every product in int64.

std::string human_flops(double flops) {
    static const char* const units[] = {"", "K", "M", "G", "T", "P"};
    int unit = 0;
    while (unit < 5 && flops >= 1000.0) {
        flops /= 1000.0;
        ++unit;
    }
    char text[32];
    std::snprintf(text, sizeof text, "%.2f %sFLOP", flops, units[unit]);
    return text;
}

std::string layers_text(int64_t count) { return std::to_string(count) + (count == 1 ? " layer" : " layers"); }

std::string percent(int64_t part, int64_t whole) {
    char text[16];
    std::snprintf(text, sizeof text, "%.2f%%", 100.0 * static_cast<double>(part) / static_cast<double>(whole));
    return text;
}

void print_line(const std::string& line) {
    // Rows with empty trailing columns would otherwise end in spaces.
    const size_t end = line.find_last_not_of(' ');
    std::printf("%s\n", line.substr(0, end == std::string::npos ? 0 : end + 1).c_str());
}

void print_row(const std::string& component, int64_t parameters, const std::string& share, const std::string& activated,
               const std::string& activated_exact) {
    char line[256];
    std::snprintf(line, sizeof line, "%-32s %10s %17s %8s %10s %17s", component.c_str(),
                  human_count(static_cast<double>(parameters)).c_str(), with_commas(parameters).c_str(), share.c_str(),
                  activated.c_str(), activated_exact.c_str());
    print_line(line);
}

// A component every token uses in full: activated equals its size.
void print_used_row(const std::string& component, int64_t parameters, int64_t total) {
    print_row(component, parameters, percent(parameters, total), human_count(static_cast<double>(parameters)),
              with_commas(parameters));
}

// One layer's attention weights, indented under the attention row; zero entries (the q_proj
// that q_lora_rank replaces, or the other way round) are left out.
void print_attention_detail(const AttentionParameters& a) {
    print_row("  per layer", a.total(), "", "", "");
    for (const auto& [name, count] : a.named())
        if (count > 0) print_row(std::string("    ") + name, count, "", "", "");
}

void print_shape(const ModelConfig& c, const ParameterCounts& p) {
    using std::to_string;
    std::printf("%s: %s layers (%s dense + %s MoE), hidden %s, %s heads, vocab %s\n", c.name.c_str(),
                to_string(c.num_hidden_layers).c_str(), to_string(p.dense_layers).c_str(),
                to_string(p.moe_layers).c_str(), to_string(c.hidden_size).c_str(),
                to_string(c.num_attention_heads).c_str(), with_commas(c.vocab_size).c_str());
    std::printf("MLA: q_lora_rank %s, kv_lora_rank %s, head dims nope %s / rope %s / v %s\n",
                c.q_lora_rank == 0 ? "0 (no query compression)" : to_string(c.q_lora_rank).c_str(),
                to_string(c.kv_lora_rank).c_str(), to_string(c.qk_nope_head_dim).c_str(),
                to_string(c.qk_rope_head_dim).c_str(), to_string(c.v_head_dim).c_str());
    if (c.n_routed_experts > 0) {
        const std::string groups = c.n_group > 1 ? ", top-" + to_string(c.topk_group) + " of " + to_string(c.n_group) +
                                                       " groups"
                                                 : "";
        std::printf("MoE: %s routed experts (top-%s%s, %s) + %s shared, expert width %s\n",
                    to_string(c.n_routed_experts).c_str(), to_string(c.num_experts_per_tok).c_str(), groups.c_str(),
                    c.scoring_func.c_str(), to_string(c.n_shared_experts).c_str(),
                    to_string(c.moe_intermediate_size).c_str());
    }
}

void print_table(const ModelConfig& c, const ParameterCounts& p, const FlopsPerToken& flops) {
    using std::to_string;
    print_shape(c, p);
    std::printf("\n");

    std::printf("%-32s %10s %17s %8s %10s %17s\n", "component", "parameters", "exact", "share", "activated", "exact");
    const int64_t total = p.total;
    const std::string layers = layers_text(c.num_hidden_layers);
    // With tied embeddings the table doubles as the head, which every token multiplies with.
    const int64_t embedding_used = c.tie_word_embeddings ? p.embedding : 0;
    print_row("embed_tokens", p.embedding, percent(p.embedding, total), human_count(static_cast<double>(embedding_used)),
              with_commas(embedding_used));
    print_used_row("attention (MLA), " + layers, p.attention, total);
    print_attention_detail(p.attention_layer);
    print_used_row("attn + ffn norms, " + layers, p.layer_norms, total);
    if (p.dense_layers > 0) print_used_row("dense FFN, " + layers_text(p.dense_layers), p.dense_ffn, total);
    if (c.n_routed_experts > 0) {
        print_row("routed experts, " + to_string(p.moe_layers) + " x " + to_string(c.n_routed_experts), p.routed_experts,
                  percent(p.routed_experts, total), human_count(static_cast<double>(p.routed_experts_active)),
                  with_commas(p.routed_experts_active));
        if (c.n_shared_experts > 0)
            print_used_row("shared experts, " + to_string(p.moe_layers) + " x " + to_string(c.n_shared_experts),
                           p.shared_experts, total);
        print_used_row((p.gate_bias > 0 ? "gate + bias, " : "gate, ") + layers_text(p.moe_layers), p.gate, total);
    }
    print_used_row("final norm", p.final_norm, total);
    if (p.lm_head > 0) print_used_row("lm_head", p.lm_head, total);
    print_row("total", total, percent(total, total), human_count(static_cast<double>(p.activated)), with_commas(p.activated));
    if (p.mtp > 0) print_row("MTP module x " + to_string(c.num_nextn_predict_layers) + " (not in total)", p.mtp, "", "", "");

    const std::string routed_note = c.n_routed_experts > 0 ? " (" + to_string(c.num_experts_per_tok) + " of " +
                                                                  to_string(c.n_routed_experts) + " per MoE layer run)"
                                                            : "";
    std::printf("\nactivated = what one token uses: everything but the embedding table (a row lookup, not a\n"
                "matmul) and the routed experts the gate did not pick%s;\n%s of %s parameters (%s).\n",
                routed_note.c_str(), human_count(static_cast<double>(p.activated)).c_str(),
                human_count(static_cast<double>(total)).c_str(), percent(p.activated, total).c_str());

    std::printf("\nFLOPs per token (forward, multiply-add = 2) at context %s:\n", with_commas(flops.context).c_str());
    const std::string matmul_formula = "2 x " + with_commas(p.activated_matmul()) + " activated matmul weights";
    const std::string attention_formula = layers + " x 2 x " + to_string(c.num_attention_heads) + " heads x (" +
                                          to_string(c.qk_head_dim()) + " + " + to_string(c.v_head_dim) + ") x " +
                                          with_commas(flops.context);
    struct FlopRow {
        const char* part;
        std::string formula;
        double flops;
    };
    const FlopRow rows[] = {
        {"matmuls", matmul_formula, flops.matmul},
        {"attention", attention_formula, flops.attention},
        {"total", "", flops.total},
    };
    for (const FlopRow& row : rows) {
        std::printf("  %-10s %-52s %14s %22s\n", row.part, row.formula.c_str(), human_flops(row.flops).c_str(),
                    with_commas(static_cast<int64_t>(row.flops)).c_str());
    }
}

nlohmann::json to_json(const ModelConfig& c, const ParameterCounts& p, const FlopsPerToken& flops) {
    const AttentionParameters& a = p.attention_layer;
    nlohmann::json attention_per_layer = {{"total", a.total()}};
    for (const auto& [name, count] : a.named()) attention_per_layer[name] = count;
    // FLOP counts are sums of integers below 2^53, so the casts are exact.
    return {
        {"model", c.name},
        {"layers", {{"total", c.num_hidden_layers}, {"dense", p.dense_layers}, {"moe", p.moe_layers}}},
        {"parameters",
         {{"embedding", p.embedding},
          {"attention", p.attention},
          {"attention_per_layer", attention_per_layer},
          {"layer_norms", p.layer_norms},
          {"dense_ffn", p.dense_ffn},
          {"expert", p.expert},
          {"routed_experts", p.routed_experts},
          {"routed_experts_active", p.routed_experts_active},
          {"shared_experts", p.shared_experts},
          {"gate", p.gate},
          {"final_norm", p.final_norm},
          {"lm_head", p.lm_head},
          {"total", p.total},
          {"activated", p.activated},
          {"activated_matmul", p.activated_matmul()},
          {"mtp", p.mtp}}},
        {"flops_per_token",
         {{"context", flops.context},
          {"matmul", static_cast<int64_t>(flops.matmul)},
          {"attention", static_cast<int64_t>(flops.attention)},
          {"total", static_cast<int64_t>(flops.total)}}},
    };
}

}  // namespace

int run_info(int argc, char** argv) {
    if (wants_help(spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(spec, argc, argv);
    const ModelConfig config = config_from_args(args);
    const int64_t context = context_from_args(args);

    const ParameterCounts counts = count_parameters(config);
    const FlopsPerToken flops = flops_per_token(config, context);
    if (args.flag("json")) {
        std::printf("%s\n", to_json(config, counts, flops).dump(2).c_str());
    } else {
        print_table(config, counts, flops);
    }
    return 0;
}

}  // namespace seek::cli
