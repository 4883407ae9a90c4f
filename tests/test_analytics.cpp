// Parameter counts, FLOPs and KV-cache sizes against published numbers and hand computation.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "core/analytics.h"

using namespace seek;

namespace {

// |actual / expected - 1| <= tolerance
bool within(double actual, double expected, double tolerance) {
    return actual >= expected * (1 - tolerance) && actual <= expected * (1 + tolerance);
}

const KvCacheMethod& method(const std::vector<KvCacheMethod>& methods, const std::string& name) {
    for (const KvCacheMethod& m : methods)
        if (m.name == name) return m;
    throw std::runtime_error("no KV method " + name);
}

}  // namespace

TEST_CASE("analytics: DeepSeek-V3 has 671B parameters, 37B activated") {
    const ParameterCounts p = count_parameters(preset_config("v3"));
    CHECK(within(static_cast<double>(p.total), 671e9, 0.01));
    CHECK(within(static_cast<double>(p.activated), 37e9, 0.03));
    CHECK(p.moe_layers == 58);
    CHECK(p.dense_layers == 3);
}

TEST_CASE("analytics: DeepSeek-V2-Lite has 15.7B parameters, 2.4B activated") {
    const ParameterCounts p = count_parameters(preset_config("v2-lite"));
    CHECK(within(static_cast<double>(p.total), 15.7e9, 0.01));
    CHECK(within(static_cast<double>(p.activated), 2.4e9, 0.03));
    CHECK(p.moe_layers == 26);
    CHECK(p.dense_layers == 1);
}

TEST_CASE("analytics: V3 counts match the checkpoint's tensor shapes exactly") {
    const ParameterCounts p = count_parameters(preset_config("v3"));
    // Reference section 1.8: q_a_proj [1536, 7168], q_b_proj [24576, 1536], kv_a_proj_with_mqa
    // [576, 7168], kv_b_proj [32768, 512], o_proj [7168, 16384] and the two latent norms.
    const AttentionParameters& a = p.attention_layer;
    CHECK(a.q_proj == 0);
    CHECK(a.q_a_proj == 1536LL * 7168);
    CHECK(a.q_a_layernorm == 1536);
    CHECK(a.q_b_proj == 24576LL * 1536);
    CHECK(a.kv_a_proj_with_mqa == 576LL * 7168);
    CHECK(a.kv_a_layernorm == 512);
    CHECK(a.kv_b_proj == 32768LL * 512);
    CHECK(a.o_proj == 7168LL * 16384);
    CHECK(a.total() == 187'107'328);

    CHECK(p.expert == 3LL * 7168 * 2048);
    CHECK(p.embedding == 129280LL * 7168);
    CHECK(p.lm_head == 129280LL * 7168);
    CHECK(p.gate == 58LL * (256 * 7168 + 256));  // weight + e_score_correction_bias
    CHECK(p.gate_bias == 58LL * 256);
    CHECK(p.routed_experts == 58LL * 256 * p.expert);
    CHECK(p.routed_experts_active == 58LL * 8 * p.expert);
    CHECK(p.total == 671'026'419'200);
    CHECK(p.activated == 36'625'618'432);
}

TEST_CASE("analytics: V3 with MTP and the stored embedding and head copies is the 684.5B checkpoint") {
    const ParameterCounts p = count_parameters(preset_config("v3"));
    // MTP: one MoE block + enorm + hnorm + eh_proj [7168, 14336] + shared_head.norm.
    const int64_t block = p.attention_layer.total() + 2 * 7168 + 257 * p.expert + 256 * 7168 + 256;
    CHECK(p.mtp == block + 2 * 7168 + 7168LL * 14336 + 7168);
    CHECK(within(static_cast<double>(p.mtp), 11.6e9, 0.01));
    // The checkpoint's layer 61 stores its own embed_tokens and shared_head.head (as the published checkpoint does).
    const int64_t checkpoint = p.total + p.mtp + p.embedding + p.lm_head;
    CHECK(within(static_cast<double>(checkpoint), 684.5e9, 0.001));
}

TEST_CASE("analytics: V2-Lite counts are exact") {
    const ParameterCounts p = count_parameters(preset_config("v2-lite"));
    // No query compression: one q_proj [16*192, 2048]; greedy routing: no correction bias.
    CHECK(p.attention_layer.q_proj == 16LL * 192 * 2048);
    CHECK(p.attention_layer.q_a_proj == 0);
    CHECK(p.attention_layer.total() == 13'763'072);
    CHECK(p.gate_bias == 0);
    CHECK(p.gate == 26LL * 64 * 2048);
    CHECK(p.shared_experts == 26LL * 2 * 3 * 2048 * 1408);
    CHECK(p.mtp == 0);
    CHECK(p.total == 15'706'484'224);
    CHECK(p.activated == 2'451'435'008);
}

TEST_CASE("analytics: toy counts match hand computation") {
    const ParameterCounts p = count_parameters(preset_config("toy"));
    // Attention per layer: q_a 32*64 + q_norm 32 + q_b 4*24*32 + kv_a 24*64 + kv_norm 16
    // + kv_b 4*32*16 + o 64*64.
    CHECK(p.attention_layer.total() == 2048 + 32 + 3072 + 1536 + 16 + 2048 + 4096);
    CHECK(p.attention == 4 * 12'848);
    CHECK(p.layer_norms == 2 * 64 * 4);
    CHECK(p.dense_ffn == 3 * 64 * 192);
    CHECK(p.expert == 3 * 64 * 48);
    CHECK(p.routed_experts == 3 * 16 * 9216);
    CHECK(p.shared_experts == 3 * 9216);
    CHECK(p.gate == 3 * (16 * 64 + 16));
    CHECK(p.embedding == 128 * 64);
    CHECK(p.lm_head == 128 * 64);
    CHECK(p.final_norm == 64);
    CHECK(p.total == 578'352);
    // minus the embedding and 12 of 16 routed experts in 3 MoE layers
    CHECK(p.activated == 578'352 - 8'192 - 3 * 12 * 9216);
    CHECK(p.activated_matmul() == p.activated - 512 - 64 - 4 * (32 + 16) - 3 * 16);
    CHECK(p.mtp == 12'848 + 128 + 17 * 9216 + 1040 + 128 + 64 * 128 + 64);
}

TEST_CASE("analytics: tied embeddings count the matrix once and as activated") {
    ModelConfig config = preset_config("toy");
    config.tie_word_embeddings = true;
    const ParameterCounts p = count_parameters(config);
    CHECK(p.lm_head == 0);
    CHECK(p.total == 578'352 - 8'192);
    CHECK(p.activated == 578'352 - 8'192 - 3 * 12 * 9216);
}

TEST_CASE("analytics: FLOPs per token are matmuls plus attention over the context") {
    const ModelConfig toy = preset_config("toy");
    const FlopsPerToken f = flops_per_token(toy, 256);
    CHECK(f.context == 256);
    CHECK(f.matmul == 2.0 * 237'568);
    // 4 layers x (2*4*(16+8)*256 + 2*4*16*256)
    CHECK(f.attention == 4.0 * (2 * 4 * 24 * 256 + 2 * 4 * 16 * 256));
    CHECK(f.total == f.matmul + f.attention);

    const FlopsPerToken v3 = flops_per_token(preset_config("v3"), 4096);
    CHECK(v3.matmul == 2.0 * count_parameters(preset_config("v3")).activated_matmul());
    CHECK(v3.attention == 61.0 * (2.0 * 128 * 192 * 4096 + 2.0 * 128 * 128 * 4096));
    CHECK_THROWS_AS(flops_per_token(toy, 0), std::invalid_argument);
}

TEST_CASE("analytics: V3 KV cache: MLA 70,272 bytes per token, MHA 3,997,696") {
    const ModelConfig v3 = preset_config("v3");
    const std::vector<KvCacheMethod> methods = kv_cache_methods(v3, 8);
    REQUIRE(methods.size() == 5);
    CHECK(methods[0].name == "MHA");
    CHECK(methods[3].name == "MLA");

    const KvCacheMethod& mla = method(methods, "MLA");
    CHECK(mla.elements_per_token_per_layer == 576);
    CHECK(mla.elements_per_token == 35'136);
    CHECK(mla.bytes_per_token(kBf16Bytes) == 70'272);
    CHECK(mla.bytes_per_token(kFp8Bytes) == 35'136);
    CHECK(mla.bytes_for_context(131072, kBf16Bytes) == 70'272LL * 131072);

    CHECK(method(methods, "MHA").bytes_per_token(kBf16Bytes) == 3'997'696);
    CHECK(method(methods, "GQA").elements_per_token == 2 * 8 * 128 * 61);
    CHECK(method(methods, "MQA").elements_per_token == 2 * 128 * 61);
    CHECK(method(methods, "MLA naive").elements_per_token == 128 * (128 + 64 + 128) * 61);
}

TEST_CASE("analytics: toy KV cache matches hand computation") {
    const std::vector<KvCacheMethod> methods = kv_cache_methods(preset_config("toy"), 2);
    CHECK(method(methods, "MHA").elements_per_token == 2 * 4 * 16 * 4);
    CHECK(method(methods, "GQA").elements_per_token == 2 * 2 * 16 * 4);
    CHECK(method(methods, "MQA").elements_per_token == 2 * 16 * 4);
    CHECK(method(methods, "MLA").elements_per_token == (16 + 8) * 4);
    CHECK(method(methods, "MLA").bytes_per_token(kBf16Bytes) == 192);
    CHECK(method(methods, "MLA naive").elements_per_token == 4 * (16 + 8 + 16) * 4);
    CHECK(method(methods, "MHA").bytes_for_context(256, kBf16Bytes) == 512 * 2 * 256);
}

TEST_CASE("analytics: GQA groups must divide the heads") {
    const ModelConfig toy = preset_config("toy");
    CHECK_THROWS_AS(kv_cache_methods(toy, 3), std::invalid_argument);
    CHECK_THROWS_AS(kv_cache_methods(toy, 0), std::invalid_argument);
    CHECK_THROWS_AS(kv_cache_methods(toy, 8), std::invalid_argument);
    CHECK_NOTHROW(kv_cache_methods(toy, 4));
}

TEST_CASE("analytics: report formatting") {
    CHECK(with_commas(0) == "0");
    CHECK(with_commas(999) == "999");
    CHECK(with_commas(70272) == "70,272");
    CHECK(with_commas(671026419200) == "671,026,419,200");
    CHECK(with_commas(-1234) == "-1,234");
    CHECK(human_count(512) == "512");
    CHECK(human_count(671026419200.0) == "671.03 B");
    CHECK(human_count(36625618432.0) == "36.63 B");
    CHECK(human_count(1.5e6) == "1.50 M");
    CHECK(human_bytes(512) == "512 B");
    CHECK(human_bytes(3.0 * 1024 * 1024 * 1024) == "3.00 GiB");
    CHECK(human_bytes(1536) == "1.50 KiB");
}
