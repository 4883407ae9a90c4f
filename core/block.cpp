#include "block.h"

#include "gate.h"
#include "norm.h"

namespace seek {

BlockWeights generated_block_weights(const ModelConfig& config, int64_t layer, uint64_t seed, float std,
                                     int64_t expert_cache) {
    const int64_t d = config.hidden_size;
    BlockWeights w;
    w.input_layernorm = Vec::Ones(d);
    w.self_attn = generated_mla_weights(config, layer, seed, std);
    w.post_attention_layernorm = Vec::Ones(d);
    if (config.is_moe_layer(layer)) w.moe = generated_moe_weights(config, layer, seed, std, expert_cache);
    else w.mlp = generated_ffn_weights(seed, mlp_module_name(layer), d, config.intermediate_size, std);
    return w;
}

BlockWeights sized_block_weights(const ModelConfig& config, int64_t layer) {
    const int64_t d = config.hidden_size, H = config.num_attention_heads, r = config.kv_lora_rank;
    const int64_t dn = config.qk_nope_head_dim, dr = config.qk_rope_head_dim, dv = config.v_head_dim;
    BlockWeights w;
    w.input_layernorm = Vec(d);
    MlaWeights& a = w.self_attn;
    if (config.q_lora_rank == 0) {
        a.q_proj = Mat(H * (dn + dr), d);
    } else {
        a.q_a_proj = Mat(config.q_lora_rank, d);
        a.q_a_layernorm = Vec(config.q_lora_rank);
        a.q_b_proj = Mat(H * (dn + dr), config.q_lora_rank);
    }
    a.kv_a_proj_with_mqa = Mat(r + dr, d);
    a.kv_a_layernorm = Vec(r);
    a.kv_b_proj = Mat(H * (dn + dv), r);
    a.o_proj = Mat(d, H * dv);
    w.post_attention_layernorm = Vec(d);
    auto ffn = [d](int64_t width) { return sized_ffn_weights(d, width); };
    if (config.is_moe_layer(layer)) {
        w.moe.layer = layer;
        w.moe.gate.weight = Mat(config.n_routed_experts, d);
        if (gate_has_bias(config)) w.moe.gate.bias = Vec(config.n_routed_experts);
        if (config.n_shared_experts > 0) w.moe.shared_experts = ffn(config.n_shared_experts * config.moe_intermediate_size);
    } else {
        w.mlp = ffn(config.intermediate_size);
    }
    return w;
}

Mat block_forward(const ModelConfig& config, int64_t layer, const BlockWeights& w, const RopeTable& rope, const Mat& x,
                  const std::vector<int64_t>& offsets, MlaCache* caches, const ForwardContext& context,
                  const std::string& prefix, BlockActivations* act) {
    const Kernels& k = *context.kernels;
    const float eps = static_cast<float>(config.rms_norm_eps);

    Mat attn_in = k.rms_norm(x, w.input_layernorm, eps);
    trace_record(context.trace, prefix + ".attn_norm", attn_in);
    Mat u = x + mla_forward(config, w.self_attn, rope, attn_in, offsets, caches, context, prefix + ".attn",
                            act ? &act->attn : nullptr);

    Mat ffn_in = k.rms_norm(u, w.post_attention_layernorm, eps);
    trace_record(context.trace, prefix + ".ffn_norm", ffn_in);
    Mat ffn_out;
    if (config.is_moe_layer(layer)) {
        ffn_out = moe_forward(config, w.moe, ffn_in, context, prefix + ".moe", act ? &act->moe : nullptr);
    } else {
        ffn_out = k.swiglu(ffn_in, w.mlp, context.precision, act ? &act->ffn : nullptr);
        trace_record(context.trace, prefix + ".ffn.out", ffn_out);
    }
    Mat out = u + ffn_out;
    trace_record(context.trace, prefix + ".out", out);
    if (act) {
        act->x = x;
        act->attn_in = std::move(attn_in);
        act->u = std::move(u);
        act->ffn_in = std::move(ffn_in);
    }
    return out;
}

Mat block_backward(BlockWeights& dw, const Mat& dout, const ModelConfig& config, int64_t layer, const BlockWeights& w,
                   const RopeTable& rope, const std::vector<int64_t>& offsets, const LinearPrecision& precision,
                   double balance_alpha, const BlockActivations& act) {
    const float eps = static_cast<float>(config.rms_norm_eps);
    // out = u + FFN(ffn_norm(u)): the residual passes dout straight to u
    Mat du = dout, dffn_in = Mat::Zero(dout.rows(), dout.cols());
    if (config.is_moe_layer(layer))
        moe_backward(dffn_in, dw.moe, dout, config, w.moe, act.ffn_in, offsets, precision, balance_alpha, act.moe);
    else
        swiglu_backward(dffn_in, dw.mlp.gate_proj, dw.mlp.up_proj, dw.mlp.down_proj, dout, act.ffn_in, w.mlp.gate_proj,
                        w.mlp.up_proj, w.mlp.down_proj, precision, &act.ffn);
    rms_norm_backward(du, dw.post_attention_layernorm, dffn_in, act.u, w.post_attention_layernorm, eps);
    // u = x + MLA(attn_norm(x))
    Mat dx = du, dattn_in = Mat::Zero(du.rows(), du.cols());
    mla_backward(dattn_in, dw.self_attn, du, config, w.self_attn, rope, act.attn_in, offsets, act.caches.data(),
                 precision, act.attn);
    rms_norm_backward(dx, dw.input_layernorm, dattn_in, act.x, w.input_layernorm, eps);
    return dx;
}

}  // namespace seek
