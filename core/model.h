// The whole model, trainable: embedding, decoder blocks, final norm, output head, and DeepSeek-V3's
// multi-token prediction (MTP) module, in the HF checkpoint's names (reference 1.3 and 1.9).
//
//   h_0     = embed_tokens[tokens]
//   h_l+1   = block_l(h_l):  u = h + MLA(attn_norm(h)),  out = u + FFN(ffn_norm(u))
//             FFN is a dense SwiGLU for the first first_k_dense_replace layers, DeepSeekMoE after
//   logits  = lm_head(norm(h_L))                        predicts token t+1 at position t
//   MTP (depth 1, paper eq. 21-25): h'_t = eh_proj [enorm(embed(token t+1)) ; hnorm(h_L,t)]
//             -> one more block -> shared_head.norm -> lm_head     predicts token t+2
//             (the concatenation order is the one the published weights load with, vLLM's)
//
// Two forward passes share the weights:
//   model_forward  a batch of whole sequences in MLA's naive form, saving what model_backward needs:
//                  training, and the full-sequence reference in the tests.
//   model_decode   tokens appended to per-layer latent KV caches (MLA's absorbed form), MTP
//                  skipped: generation, and the viewer's traced forward pass.
// The tests hold them equal: decoding token by token reproduces model_forward's logits.
//
// Precision (linear.h): the linear layers of attention and of the FFNs run their three GEMMs in
// FP32, BF16 or FP8; the embedding, the norms, the attention core, the MoE gate, eh_proj and the
// output head stay FP32, as the V3 report keeps them in higher precision.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "checkpoint.h"
#include "config.h"
#include "gate.h"
#include "linear.h"
#include "mla.h"
#include "moe.h"
#include "rope.h"
#include "tensor.h"
#include "trace.h"

namespace seek {

// model.layers.{i}.*
struct BlockWeights {
    Vec input_layernorm;              // attn_norm
    MlaWeights self_attn;
    Vec post_attention_layernorm;     // ffn_norm
    FfnWeights mlp;                   // dense layers: mlp.{gate,up,down}_proj
    GateWeights gate;                 // MoE layers: mlp.gate.weight, mlp.gate.e_score_correction_bias
    FfnWeights shared_experts;        // mlp.shared_experts.*
    std::vector<FfnWeights> experts;  // mlp.experts.{j}.*
};

// model.layers.{num_hidden_layers}.*: the MTP module. Its embedding and head are the main
// model's (the checkpoint stores copies as embed_tokens and shared_head.head).
struct MtpWeights {
    Vec enorm;         // on the next token's embedding
    Vec hnorm;         // on the main model's last hidden state
    Mat eh_proj;       // [hidden, 2 hidden]  M_1
    BlockWeights block;
    Vec shared_head_norm;  // shared_head.norm.weight
};

struct ModelWeights {
    Mat embed_tokens;  // model.embed_tokens.weight  [vocab, hidden]
    std::vector<BlockWeights> layers;
    Vec norm;          // model.norm.weight
    Mat lm_head;       // lm_head.weight  [vocab, hidden], not tied to the embedding
    std::vector<MtpWeights> mtp;  // num_nextn_predict_layers modules (0 or 1)
};

// A fresh model: every matrix N(0, std^2) from (seed, HF name) (V3 used 0.006; the toy's narrow
// layers train better from 0.02), norms one, gate biases zero. Throws if the config is invalid or
// asks for MTP deeper than 1.
ModelWeights init_model_weights(const ModelConfig& config, uint64_t seed, float std = 0.02f);

// One tensor of the model, by HF name, viewing the weights' own storage.
struct Parameter {
    std::string name;
    Shape shape;
    float* values = nullptr;
    bool trainable = true;  // e_score_correction_bias moves by the balancing rule, not by gradients
};
// Every tensor in a fixed order (the checkpoint's and the optimizer's). The MTP's copies of the
// embedding and head are not listed: they are the main model's.
std::vector<Parameter> model_parameters(ModelWeights& weights);
int64_t parameter_count(ModelWeights& weights);  // trainable and not
ModelWeights zeros_like(const ModelWeights& weights);

// ---------------------------------------------------------------------------------------------
// Training forward and backward

// Sequences back to back: sequence s is rows offsets[s] .. offsets[s+1]-1, each at positions 0...
struct Batch {
    std::vector<int32_t> tokens;
    std::vector<int32_t> targets;  // the next token, or kIgnoreTarget (a prompt token, the last one)
    std::vector<int64_t> offsets;  // sequences + 1 entries, offsets[0] = 0
};
// Throws naming the sequence and position on a token outside the vocabulary, a sequence longer
// than max_position_embeddings, or offsets that do not cover the tokens.
void check_batch(const ModelConfig& config, const Batch& batch);

struct TrainingLoss {
    double mtp_weight = 0.3;     // λ (V3: 0.3, then 0.1); 0 skips the MTP module altogether
    double balance_alpha = 0.0;  // α of the sequence-wise balance loss (V3: 0.0001), 0 = off
};

// What a block's forward keeps for its backward.
struct BlockActivations {
    Mat x, attn_in, u, ffn_in;        // block input, attn_norm(x), x + MLA, ffn_norm(u)
    Mat q_a, q_norm, q;               // q: per head [q_nope ; q_pe after RoPE]
    Mat kv_a, c_kv, k, v;             // k: per head [k_nope ; k_pe after RoPE]
    std::vector<Mat> probs;           // per sequence [H·T, T]
    Mat attn;                         // [N, H·dv], o_proj's input
    Mat gate_logits;                  // MoE layers
    Routing routing;
    Mat shared_out;
    std::vector<std::vector<int64_t>> expert_slots;  // per expert: t·K + k of each routed copy
    std::vector<Mat> expert_out;                      // per expert: its output rows, unweighted
};

struct ModelActivations {
    std::vector<BlockActivations> blocks;
    Mat hidden, final_norm, logits;   // h_L, norm(h_L), [N, vocab]
    // MTP: rows are each sequence's positions but its last
    Batch mtp_batch;                  // tokens t, targets t+2
    std::vector<int64_t> mtp_rows;    // the main-model row each MTP row continues
    Mat mtp_embed, mtp_e, mtp_h, mtp_in;   // embed(t+1), enorm, hnorm, eh_proj's output
    BlockActivations mtp_block;
    Mat mtp_hidden, mtp_norm, mtp_logits;
};

struct LossReport {
    double total = 0;    // main + λ mtp + balance
    double main = 0;     // mean cross-entropy of the next-token prediction
    double mtp = 0;      // mean cross-entropy of MTP's t+2 prediction (0 without MTP)
    double balance = 0;  // the sequence-wise balance losses, summed over sequences and MoE blocks (MTP's too)
};

LossReport model_forward(const ModelConfig& config, const ModelWeights& weights, const Batch& batch,
                         const LinearPrecision& precision, const TrainingLoss& loss, ModelActivations& act);
// Accumulates d(total)/d(every trainable tensor) into grads (sized like the weights; zero it first).
void model_backward(ModelWeights& grads, const ModelConfig& config, const ModelWeights& weights, const Batch& batch,
                    const LinearPrecision& precision, const TrainingLoss& loss, const ModelActivations& act);
// The same for a loss of the caller's on the main logits (GRPO's), given as d(loss)/d(logits)
// [N, vocab]; MTP and the balance loss take part as `loss` says (GRPO turns both off).
void model_backward_from_logits(ModelWeights& grads, const ModelConfig& config, const ModelWeights& weights,
                                const Batch& batch, const LinearPrecision& precision, const TrainingLoss& loss,
                                const ModelActivations& act, const Mat& dlogits);

// ---------------------------------------------------------------------------------------------
// Inference with the latent KV cache

struct DecodeState {
    std::vector<MlaCache> caches;  // one per layer, absorbed form
};
DecodeState make_decode_state(const ModelConfig& config, int64_t reserve_tokens = 0);

// Runs `tokens` after everything already cached (a prompt at once, then one token per call) and
// returns their logits [T, vocab]. Traced under design.md's names when trace is given: embed,
// layers.i.{attn_norm, attn.*, ffn_norm, moe.* or ffn.out, out}, final_norm, logits.
Mat model_decode(const ModelConfig& config, const ModelWeights& weights, DecodeState& state,
                 const std::vector<int32_t>& tokens, Trace* trace = nullptr);

// ---------------------------------------------------------------------------------------------
// Checkpoints (HF layout: config.json + model.safetensors)

// Writes DIR/config.json and DIR/model.safetensors atomically, in `precision` (checkpoint.h). The
// MTP layer gets its copies of embed_tokens and shared_head.head, as the published checkpoint has.
void save_model(const std::string& directory, const ModelConfig& config, ModelWeights& weights,
                WeightPrecision precision = WeightPrecision::F32);
// Reads both; every tensor the config implies must be there with its shape (FP8 ones are
// dequantized), or the error names the file and tensor.
ModelWeights load_model(const std::string& directory, ModelConfig& config);

}  // namespace seek
