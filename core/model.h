// The whole model, trainable: embedding, decoder blocks, final norm, output head, and DeepSeek-V3's
// multi-token prediction (MTP) module, in the HF checkpoint's names.
//
//   h_0     = embed_tokens[tokens]                     embedding.h
//   h_l+1   = block_l(h_l)                             block.h: MLA, then a dense or MoE FFN
//   logits  = lm_head(norm(h_L))                       head.h; predicts token t+1 at position t
//   MTP     (depth 1) from h_L and the next token       mtp.h; predicts token t+2
//
// This file only composes ops; their math is in the files named above and in the ops they call.
// Every path runs the same functions:
//   model_forward  a batch of whole sequences (MLA's naive form on fresh caches), keeping what
//                  model_backward needs: training, GRPO's log-probabilities.
//   model_decode   tokens appended to per-layer KV caches (latent or naive), MTP skipped:
//                  generation, evaluation, GRPO's rollouts, and the traced forward (forward.h).
// The tests hold them equal: decoding token by token reproduces model_forward's logits.
//
// Backward conventions (llm.c's), the same in every op file:
//   - a forward's arguments: outputs first, then inputs; a backward's: the gradients of the inputs
//     and parameters, then the gradient of the output, then what the forward saw.
//   - every gradient ACCUMULATES (+=) into a matrix the caller has sized and zeroed: a parameter
//     used twice, or a residual stream read by two branches, sums its gradients for free. (RoPE,
//     which works in place, rotates its gradient back in place.)
//   - linear layers are y = x W^T with W [out, in] (linear.h), so dx = dy W and dW = dy^T x.
//   - ops are templates on the scalar where the tests check gradients against central finite
//     differences in double (tests/test_backward.cpp).
//
// Precision (linear.h): the linear layers of attention and of the FFNs run their three GEMMs in
// FP32, BF16 or FP8; the embedding, the norms, the attention core, the MoE gate, eh_proj and the
// output head stay FP32, as the V3 report keeps them in higher precision.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "block.h"
#include "checkpoint.h"
#include "config.h"
#include "head.h"
#include "kernels.h"
#include "linear.h"
#include "mtp.h"
#include "softmax.h"
#include "tensor.h"
#include "trace.h"

namespace seek {

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
// The tensors of one block under `prefix` ("model.layers.3."), in the same order; empty tensors
// (q_proj of a model with q_lora_rank, a dense layer's gate) are left out.
std::vector<Parameter> block_parameters(BlockWeights& weights, const std::string& prefix);
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

struct ModelActivations {
    std::vector<BlockActivations> blocks;
    HeadActivations head;
    Mat logits;          // [N, vocab]
    MtpRows mtp_rows;    // MTP: every position but each sequence's last
    MtpActivations mtp;
    Mat mtp_logits;      // [rows, vocab]
};

struct LossReport {
    double total = 0;    // main + λ mtp + balance
    double main = 0;     // mean cross-entropy of the next-token prediction
    double mtp = 0;      // mean cross-entropy of MTP's t+2 prediction (0 without MTP)
    double balance = 0;  // the sequence-wise balance losses, summed over sequences and MoE blocks (MTP's too)
};

LossReport model_forward(const ModelConfig& config, const ModelWeights& weights, const Batch& batch,
                         const ForwardContext& context, const TrainingLoss& loss, ModelActivations& act);
// Accumulates d(total)/d(every trainable tensor) into grads (sized like the weights; zero it first).
void model_backward(ModelWeights& grads, const ModelConfig& config, const ModelWeights& weights, const Batch& batch,
                    const LinearPrecision& precision, const TrainingLoss& loss, const ModelActivations& act);
// The same for a loss of the caller's on the main logits (GRPO's), given as d(loss)/d(logits)
// [N, vocab]; MTP and the balance loss take part as `loss` says (GRPO turns both off).
void model_backward_from_logits(ModelWeights& grads, const ModelConfig& config, const ModelWeights& weights,
                                const Batch& batch, const LinearPrecision& precision, const TrainingLoss& loss,
                                const ModelActivations& act, const Mat& dlogits);

// ---------------------------------------------------------------------------------------------
// Inference with the KV cache

// The KV caches of one or more sequences decoding side by side, and what every step needs.
struct DecodeState {
    int64_t sequences = 1;
    std::vector<MlaCache> caches;  // per layer, then per sequence: layer l's are l · sequences .. + sequences - 1
    RopeTable rope;                // rope_table(config), made once for the whole generation
    MlaCache* layer_caches(int64_t layer, int64_t first_sequence = 0) { return &caches[layer * sequences + first_sequence]; }
};
// Latent caches (absorb) unless told otherwise, each with room for reserve_tokens.
DecodeState make_decode_state(const ModelConfig& config, int64_t reserve_tokens = 0, AttnImpl impl = AttnImpl::Absorb,
                              int64_t sequences = 1);
// Sequence `to` of `into` takes a copy of sequence `from` of `state`'s caches: a prompt prefilled
// once, continued by several completions.
void copy_sequence(DecodeState& into, int64_t to, const DecodeState& state, int64_t from);
// Exchanges two sequences' caches (a batch keeps its unfinished sequences first).
void swap_sequences(DecodeState& state, int64_t a, int64_t b);

// Where the inference forward gets its weights, asked for piece by piece as it runs: a model in
// memory (memory_source), or a checkpoint read in place, each layer read and dequantized when it
// runs and released after (stream.h). One forward composes the same ops either way.
struct EmbeddingRows {
    std::shared_ptr<const Mat> table;  // rows of model.embed_tokens.weight: all of it, or the prompt's only
    std::vector<int32_t> ids;          // the row of `table` each token reads
};
struct HeadWeights {
    std::shared_ptr<const Vec> norm;     // model.norm.weight
    std::shared_ptr<const Mat> lm_head;  // lm_head.weight
};
struct WeightSource {
    std::function<EmbeddingRows(const std::vector<int32_t>& tokens)> embedding;
    std::function<std::shared_ptr<const BlockWeights>(int64_t layer)> layer;  // held while the layer runs
    std::function<HeadWeights()> head;  // empty: stop at h_L (no final_norm, no logits)
};
// Views of `weights`, which must outlive the source; nothing is copied.
WeightSource memory_source(const ModelWeights& weights);

// Runs `tokens` of a one-sequence state after everything already cached (a prompt at once, then
// one token per call) and returns their logits [T, vocab]. Traced when context.trace is given:
// embed, layers.i.{attn_norm, attn.*, ffn_norm, moe.* or ffn.out, out}, final_norm, logits.
// `hidden`, when given, receives h_L (the final norm's input), which the MTP module reads.
Mat model_decode(const ModelConfig& config, const ModelWeights& weights, DecodeState& state,
                 const std::vector<int32_t>& tokens, const ForwardContext& context = {}, Mat* hidden = nullptr);
// The same from any source; returns an empty Mat when the source has no head.
Mat model_decode(const ModelConfig& config, const WeightSource& source, DecodeState& state,
                 const std::vector<int32_t>& tokens, const ForwardContext& context = {}, Mat* hidden = nullptr);
// The same for `count` sequences of the state at once, first_sequence onwards: sequence
// first_sequence + s runs tokens[offsets[s] .. offsets[s+1] - 1] after its own cache. Returns the
// logits of all the tokens, in order. With one token per sequence the products run row by row
// (LinearPrecision::row_by_row, linear.h): each sequence's logits are the bytes model_decode gives
// it alone, however many sequences decode together.
Mat model_decode_batch(const ModelConfig& config, const ModelWeights& weights, DecodeState& state,
                       int64_t first_sequence, const std::vector<int32_t>& tokens, const std::vector<int64_t>& offsets,
                       const ForwardContext& context = {}, Mat* hidden = nullptr);
Mat model_decode_batch(const ModelConfig& config, const WeightSource& source, DecodeState& state,
                       int64_t first_sequence, const std::vector<int32_t>& tokens, const std::vector<int64_t>& offsets,
                       const ForwardContext& context = {}, Mat* hidden = nullptr);

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
