#include "kernels.h"

#include "embedding.h"
#include "gate.h"
#include "mla.h"
#include "moe.h"
#include "norm.h"
#include "rope.h"

namespace seek {

// Adapters where the reference is a template (float runs the model, double checks gradients).
static Mat embedding_f(const Mat& table, const std::vector<int32_t>& tokens) { return embedding_forward(table, tokens); }
static Mat rms_norm_f(const Mat& x, const Vec& weight, float eps) { return rms_norm_forward(x, weight, eps); }
static void rope_f(Mat& x, const std::vector<int64_t>& positions, const RopeTable& table, const RopeLanes& lanes) {
    rope_forward(x, positions, table, lanes);
}
static Mat linear_f(const Mat& x, const Mat& weight, const LinearPrecision& precision) {
    return linear_forward(x, weight, precision);
}
static Mat attention_f(const MatRef& q, const MatRef& k, const MatRef& v, int64_t heads, float scale, int64_t start,
                       Mat* scores, Mat* probs) {
    return attention_forward<float>(q, k, v, heads, scale, start, scores, probs);
}

static Kernels make_cpu_kernels() {
    Kernels k;
    k.name = "cpu";
    k.embedding = embedding_f;
    k.rms_norm = rms_norm_f;
    k.rope = rope_f;
    k.linear = linear_f;
    k.attention = attention_f;
    k.latent_attention = latent_attention_forward;
    k.route = route_tokens;
    k.moe_dispatch = moe_dispatch;
    k.moe_experts = moe_experts;
    k.moe_combine = moe_combine;
    k.swiglu = swiglu;
    return k;
}

const Kernels& cpu_kernels() {
    static const Kernels kernels = make_cpu_kernels();
    return kernels;
}

}  // namespace seek
