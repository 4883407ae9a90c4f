// DeepSeek-V3's multi-token prediction (MTP) module, depth 1 (paper §2.2, eqs. 21-25). At position
// t it joins the main model's last hidden state h_t with the embedding of token t+1 and predicts
// token t+2, through one more decoder block and the main model's own embedding and output head:
//
//   h'_t   = M [RMSNorm(Emb(t_{t+1})) ; RMSNorm(h_t)]   eh_proj M [hidden, 2 hidden]; enorm, hnorm
//            (this concatenation order is the one the published weights load with, vLLM's)
//   h''_t  = Block(h'_t)                               a full block (MoE in V3)
//   logits = lm_head(RMSNorm(h''_t))                   shared_head.norm, then the shared lm_head
//
// Training adds λ times its cross-entropy to the loss (V3: λ 0.3, then 0.1) for a denser signal;
// at inference the module can be dropped, or used to draft a second token for speculative decoding.
#pragma once

#include <cstdint>
#include <vector>

#include "block.h"
#include "head.h"
#include "kernels.h"
#include "tensor.h"

namespace seek {

// model.layers.{num_hidden_layers}.*: the MTP module. Its embedding and head are the main
// model's (the checkpoint stores copies as embed_tokens and shared_head.head).
struct MtpWeights {
    Vec enorm;         // on the next token's embedding
    Vec hnorm;         // on the main model's last hidden state
    Mat eh_proj;       // [hidden, 2 hidden]  M
    BlockWeights block;
    Vec shared_head_norm;  // shared_head.norm.weight
};

// The MTP module's rows: every position but each sequence's last, as a batch of sequences.
struct MtpRows {
    std::vector<int64_t> rows;     // the main-model row h_t each continues
    std::vector<int32_t> tokens;   // token t+1, whose embedding joins h_t
    std::vector<int32_t> targets;  // token t+2: the main batch's targets[t+1] (kIgnoreTarget where it ignores it)
    std::vector<int64_t> offsets;  // the MTP rows' sequences, offsets[0] = 0
};
MtpRows mtp_rows(const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets,
                 const std::vector<int64_t>& offsets);

// What mtp_forward keeps for mtp_backward.
struct MtpActivations {
    Mat previous;     // h_t: the main model's rows the module read
    Mat embed, e, h;  // Emb(t+1), enorm(embed), hnorm(h_t)
    Mat in;           // h' = eh_proj's output
    BlockActivations block;
    HeadActivations head;
};

// The MTP logits [rows, vocab] from the main model's last hidden states `hidden` ([N, hidden], the
// final norm's input). caches: one per sequence of rows.offsets. Traced as mtp.enorm, mtp.hnorm,
// mtp.in, the block under "mtp" (mtp.attn_norm, mtp.attn.*, mtp.ffn_norm, mtp.moe.*, mtp.out),
// mtp.final_norm, mtp.logits.
Mat mtp_forward(const ModelConfig& config, const MtpWeights& w, const Mat& embed_tokens, const Mat& lm_head,
                const Mat& hidden, const MtpRows& rows, const RopeTable& rope, MlaCache* caches,
                const ForwardContext& context, MtpActivations* act = nullptr);

// From d(loss)/d(MTP logits): accumulates into dhidden (the main model's h rows), the module's
// weight gradients, and the shared embedding's and lm_head's gradients.
void mtp_backward(Mat& dhidden, MtpWeights& dw, Mat& dembed_tokens, Mat& dlm_head, const Mat& dlogits,
                  const ModelConfig& config, const MtpWeights& w, const Mat& lm_head, const MtpRows& rows,
                  const RopeTable& rope, const LinearPrecision& precision, double balance_alpha,
                  const MtpActivations& act);

}  // namespace seek
