#include "mtp.h"

#include "embedding.h"
#include "linear.h"
#include "norm.h"
#include "trace.h"

namespace seek {

MtpRows mtp_rows(const std::vector<int32_t>& tokens, const std::vector<int32_t>& targets,
                 const std::vector<int64_t>& offsets) {
    MtpRows m;
    m.offsets.push_back(0);
    for (size_t s = 0; s + 1 < offsets.size(); ++s) {
        for (int64_t row = offsets[s]; row + 1 < offsets[s + 1]; ++row) {
            m.rows.push_back(row);
            m.tokens.push_back(tokens[row + 1]);
            m.targets.push_back(targets[row + 1]);
        }
        if (static_cast<int64_t>(m.rows.size()) > m.offsets.back()) m.offsets.push_back(static_cast<int64_t>(m.rows.size()));
    }
    return m;
}

// [e ; h]: eh_proj's input.
static Mat joined(const Mat& e, const Mat& h) {
    Mat both(e.rows(), e.cols() + h.cols());
    both << e, h;
    return both;
}

Mat mtp_forward(const ModelConfig& config, const MtpWeights& w, const Mat& embed_tokens, const Mat& lm_head,
                const Mat& hidden, const MtpRows& rows, const RopeTable& rope, MlaCache* caches,
                const ForwardContext& context, MtpActivations* act) {
    const Kernels& k = *context.kernels;
    const float eps = static_cast<float>(config.rms_norm_eps);
    const int64_t M = static_cast<int64_t>(rows.rows.size());
    Mat previous(M, config.hidden_size);
    for (int64_t i = 0; i < M; ++i) previous.row(i) = hidden.row(rows.rows[i]);

    Mat embed = k.embedding(embed_tokens, rows.tokens);
    Mat e = k.rms_norm(embed, w.enorm, eps);
    Mat h = k.rms_norm(previous, w.hnorm, eps);
    trace_record(context.trace, "mtp.enorm", e);
    trace_record(context.trace, "mtp.hnorm", h);
    Mat in = k.linear(joined(e, h), w.eh_proj, LinearPrecision{});  // h'_t = M [enorm(Emb) ; hnorm(h_t)]
    trace_record(context.trace, "mtp.in", in);
    const Mat out = block_forward(config, config.num_hidden_layers, w.block, rope, in, rows.offsets, caches, context,
                                  "mtp", act ? &act->block : nullptr);
    Mat logits = head_forward(out, w.shared_head_norm, lm_head, eps, context, "mtp", act ? &act->head : nullptr);
    if (act) {
        act->previous = std::move(previous);
        act->embed = std::move(embed);
        act->e = std::move(e);
        act->h = std::move(h);
        act->in = std::move(in);
    }
    return logits;
}

void mtp_backward(Mat& dhidden, MtpWeights& dw, Mat& dembed_tokens, Mat& dlm_head, const Mat& dlogits,
                  const ModelConfig& config, const MtpWeights& w, const Mat& lm_head, const MtpRows& rows,
                  const RopeTable& rope, const LinearPrecision& precision, double balance_alpha,
                  const MtpActivations& act) {
    const float eps = static_cast<float>(config.rms_norm_eps);
    const int64_t M = static_cast<int64_t>(rows.rows.size()), d = config.hidden_size;
    Mat dout = Mat::Zero(M, d);
    head_backward(dout, dw.shared_head_norm, dlm_head, dlogits, w.shared_head_norm, lm_head, eps, act.head);
    const Mat din = block_backward(dw.block, dout, config, config.num_hidden_layers, w.block, rope, rows.offsets,
                                   precision, balance_alpha, act.block);
    Mat djoined = Mat::Zero(M, 2 * d);
    linear_backward(djoined, dw.eh_proj, din, joined(act.e, act.h), w.eh_proj);
    Mat dembed = Mat::Zero(M, d), dprevious = Mat::Zero(M, d);
    rms_norm_backward(dembed, dw.enorm, Mat(djoined.leftCols(d)), act.embed, w.enorm, eps);
    rms_norm_backward(dprevious, dw.hnorm, Mat(djoined.rightCols(d)), act.previous, w.hnorm, eps);
    embedding_backward(dembed_tokens, dembed, rows.tokens);
    for (int64_t i = 0; i < M; ++i) dhidden.row(rows.rows[i]) += dprevious.row(i);
}

}  // namespace seek
