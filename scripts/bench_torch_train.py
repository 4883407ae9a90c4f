#!/usr/bin/python3
"""PyTorch peer for `seek bench train`: training tokens/second of seekscope's toy model in eager
PyTorch on the CPU, float32, so the C++ trainer's throughput has a familiar yardstick.

The model is seekscope's "toy" preset (core/config.cpp), V3's architecture at small scale:
  - vocab 128, hidden 64, 4 layers: layer 0 a dense SwiGLU FFN (192), layers 1-3 DeepSeekMoE
  - MLA, naive (non-absorbed) form: q_a_proj (32) -> RMSNorm -> q_b_proj to 4 heads of
    [q_nope 16 ; q_pe 8]; kv_a_proj_with_mqa -> [c_kv 16 | k_pe 8], RMSNorm on c_kv,
    kv_b_proj to per-head [k_nope 16 ; v 16] (head-major), k_pe shared by the heads;
    RoPE on adjacent pairs (2i, 2i+1), theta 10000, no YaRN; scale 1/sqrt(24); causal; o_proj
  - MoE: 1 shared expert + 16 routed SwiGLU experts of width 48; sigmoid gate; selection on
    sigmoid + e_score_correction_bias (a buffer), 4 groups scored by their top-2 sum, 2 kept,
    top-4 experts; weights = unbiased scores of the chosen / their sum * 2.5. Routed experts are
    dispatched as a real MoE does: sort the (token, expert) pairs by expert, gather each expert's
    tokens, run it once, index_add the weighted rows back.
  - pre-norm residual blocks, final RMSNorm, untied lm_head, no biases, RMSNorm eps 1e-6
  - MTP depth 1: eh_proj(cat[enorm(embed(t_{i+1})) ; hnorm(h_i)]) -> one MoE block ->
    shared_head.norm -> the shared lm_head, predicting t_{i+2}
Loss = CE_main + 0.3 CE_mtp (means over positions); AdamW(1e-3, (0.9, 0.95), wd 0.1) on every
parameter, gradient clipping at norm 1.0. Not modelled (cheap next to the step): the bias update
of auxiliary-loss-free balancing and the 1e-4 sequence-wise balance loss.

Data, as seekscope's trainer (core/model.h) lays it out: per step, B sequences of T random token
ids in 7..127 (fixed seed), B x T tokens. The main model runs on all T positions and is scored on
the T - 1 that have a next token; MTP runs on positions 0..T-2 and is scored on the T - 2 that have
a token two ahead. Weights start as in init_model_weights: every matrix N(0, 0.02^2), norms one.

Checked against seekscope: with the weights `seek step` generates (seed 0), these four blocks
reproduce its traced forward pass (--attn naive --layers 4) to ~1e-6, with the same experts chosen.

Run with Debian's interpreter (python3-torch 1.13):  /usr/bin/python3 scripts/bench_torch_train.py
Prints one JSON line on stdout and a readable summary (and --params breakdown) on stderr.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

TOY = dict(vocab=128, hidden=64, intermediate=192, moe_intermediate=48, layers=4, heads=4, q_lora=32, kv_lora=16,
           nope=16, rope=8, v=16, routed=16, shared=1, top_k=4, groups=4, top_groups=2, scaling=2.5,
           first_dense=1, rope_theta=10000.0, max_positions=256, eps=1e-6, mtp_weight=0.3)


def linear(n_in, n_out):  # y = x W^T, W [out, in] ~ N(0, 0.02^2) as seekscope's init_model_weights
    layer = nn.Linear(n_in, n_out, bias=False)
    nn.init.normal_(layer.weight, std=0.02)
    return layer


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight, self.eps = nn.Parameter(torch.ones(dim)), eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope(x, cos, sin):  # x [..., T, n, d]: adjacent lanes (2i, 2i+1) rotated by t * theta_i
    even, odd = x[..., 0::2], x[..., 1::2]  # cos, sin: [T, 1, d/2]
    return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class MLA(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c, H = c, c["heads"]
        self.q_a_proj = linear(c["hidden"], c["q_lora"])
        self.q_a_layernorm = RMSNorm(c["q_lora"], c["eps"])
        self.q_b_proj = linear(c["q_lora"], H * (c["nope"] + c["rope"]))
        self.kv_a_proj_with_mqa = linear(c["hidden"], c["kv_lora"] + c["rope"])
        self.kv_a_layernorm = RMSNorm(c["kv_lora"], c["eps"])
        self.kv_b_proj = linear(c["kv_lora"], H * (c["nope"] + c["v"]))
        self.o_proj = linear(H * c["v"], c["hidden"])

    def forward(self, x, cos, sin, causal_mask):
        c, (B, T, _) = self.c, x.shape
        H, dn, dr, dv = c["heads"], c["nope"], c["rope"], c["v"]
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x))).view(B, T, H, dn + dr)
        q = torch.cat((q[..., :dn], rope(q[..., dn:], cos, sin)), dim=-1)
        kv_a = self.kv_a_proj_with_mqa(x)
        c_kv = self.kv_a_layernorm(kv_a[..., :c["kv_lora"]])
        k_pe = rope(kv_a[..., c["kv_lora"]:].unsqueeze(2), cos, sin)  # [B, T, 1, dr]: one for all heads
        kv = self.kv_b_proj(c_kv).view(B, T, H, dn + dv)  # head-major: per head [k_nope ; v]
        k = torch.cat((kv[..., :dn], k_pe.expand(B, T, H, dr)), dim=-1)
        q, k, v = q.transpose(1, 2), k.transpose(1, 2), kv[..., dn:].transpose(1, 2)  # [B, H, T, .]
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(dn + dr)
        probs = scores.masked_fill(causal_mask, float("-inf")).softmax(-1)
        return self.o_proj((probs @ v).transpose(1, 2).reshape(B, T, H * dv))


class SwiGLU(nn.Module):
    # gate_proj and up_proj fused into one [2 width, hidden] product (rows 0..width-1 are gate_proj):
    # one GEMM instead of two, as an optimized PyTorch model writes it.
    def __init__(self, hidden, width):
        super().__init__()
        self.gate_up_proj, self.down_proj = linear(hidden, 2 * width), linear(width, hidden)

    def forward(self, x):
        gate, up = self.gate_up_proj(x).chunk(2, dim=-1)
        return self.down_proj(F.silu(gate) * up)


class MoE(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.gate = linear(c["hidden"], c["routed"])
        self.register_buffer("e_score_correction_bias", torch.zeros(c["routed"]))
        self.shared_experts = SwiGLU(c["hidden"], c["shared"] * c["moe_intermediate"])
        self.experts = nn.ModuleList(SwiGLU(c["hidden"], c["moe_intermediate"]) for _ in range(c["routed"]))

    def route(self, x):  # x [N, hidden] -> topk_idx [N, K], topk_weight [N, K]
        c, N = self.c, x.shape[0]
        scores = torch.sigmoid(self.gate(x))  # [N, E]
        with torch.no_grad():  # selection is a step function: no gradient
            biased = scores + self.e_score_correction_bias
            grouped = biased.view(N, c["groups"], -1)
            group_scores = grouped.topk(2, dim=-1).values.sum(-1)  # [N, G]
            kept = group_scores.topk(c["top_groups"], dim=-1).indices
            group_mask = torch.zeros_like(group_scores).scatter_(1, kept, 1.0).bool()
            eligible = grouped.masked_fill(~group_mask.unsqueeze(-1), float("-inf")).view(N, -1)
            topk_idx = eligible.topk(c["top_k"], dim=-1).indices
        w = scores.gather(1, topk_idx)  # the unbiased affinities carry the gradient
        return topk_idx, w / (w.sum(-1, keepdim=True) + 1e-20) * c["scaling"]

    def forward(self, x):
        shape, x = x.shape, x.reshape(-1, x.shape[-1])
        topk_idx, topk_weight = self.route(x)
        flat_idx = topk_idx.view(-1)
        order = flat_idx.argsort()  # (token, expert) pairs sorted by expert
        counts = torch.bincount(flat_idx, minlength=self.c["routed"]).tolist()
        token_of = order // self.c["top_k"]
        weight_of = topk_weight.view(-1)[order]
        routed = torch.zeros_like(x)
        start = 0
        for expert, count in zip(self.experts, counts):
            if count:
                tokens = token_of[start:start + count]
                y = expert(x.index_select(0, tokens)) * weight_of[start:start + count].unsqueeze(1)
                routed.index_add_(0, tokens, y)
            start += count
        return (self.shared_experts(x) + routed).view(shape)


class Block(nn.Module):
    def __init__(self, c, moe):
        super().__init__()
        self.input_layernorm = RMSNorm(c["hidden"], c["eps"])
        self.self_attn = MLA(c)
        self.post_attention_layernorm = RMSNorm(c["hidden"], c["eps"])
        self.mlp = MoE(c) if moe else SwiGLU(c["hidden"], c["intermediate"])

    def forward(self, h, cos, sin, mask):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class MTP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.enorm, self.hnorm = RMSNorm(c["hidden"], c["eps"]), RMSNorm(c["hidden"], c["eps"])
        self.eh_proj = linear(2 * c["hidden"], c["hidden"])  # [64, 128]
        self.block = Block(c, moe=True)
        self.shared_head_norm = RMSNorm(c["hidden"], c["eps"])


class Toy(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = nn.Embedding(c["vocab"], c["hidden"])
        nn.init.normal_(self.embed_tokens.weight, std=0.02)
        self.layers = nn.ModuleList(Block(c, moe=i >= c["first_dense"]) for i in range(c["layers"]))
        self.norm = RMSNorm(c["hidden"], c["eps"])
        self.lm_head = linear(c["hidden"], c["vocab"])
        self.mtp = MTP(c)

    def forward(self, tokens):  # tokens [B, T] -> CE_main + 0.3 CE_mtp
        c, T = self.c, tokens.shape[1]
        inv_freq = c["rope_theta"] ** (-torch.arange(0, c["rope"], 2, dtype=torch.float64) / c["rope"])
        angles = torch.arange(T, dtype=torch.float64)[:, None] * inv_freq  # [T, dr/2]
        cos, sin = angles.cos().float().unsqueeze(1), angles.sin().float().unsqueeze(1)
        mask = torch.ones(T, T, dtype=torch.bool).triu(1)
        h = self.embed_tokens(tokens)
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        logits = self.lm_head(self.norm(h))  # [B, T, vocab]; the last position has no target
        loss = F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten())
        m = self.mtp  # positions 0..T-2: h_i with the embedding of token i+1
        h2 = m.eh_proj(torch.cat((m.enorm(self.embed_tokens(tokens[:, 1:])), m.hnorm(h[:, :-1])), dim=-1))
        h2 = m.block(h2, cos[:-1], sin[:-1], mask[:-1, :-1])
        mtp_logits = self.lm_head(m.shared_head_norm(h2))  # [B, T-1, vocab]; the last has no t+2
        mtp_loss = F.cross_entropy(mtp_logits[:, :-1].flatten(0, 1), tokens[:, 2:].flatten())
        return loss + c["mtp_weight"] * mtp_loss


def count(module):
    return sum(p.numel() for p in module.parameters())


def parameter_breakdown(model):
    rows = [("embed_tokens", count(model.embed_tokens))]
    for i, layer in enumerate(model.layers):
        rows.append((f"layers.{i}.self_attn", count(layer.self_attn)))
        rows.append((f"layers.{i}.norms", count(layer.input_layernorm) + count(layer.post_attention_layernorm)))
        if isinstance(layer.mlp, MoE):
            rows.append((f"layers.{i}.mlp (moe: gate {count(layer.mlp.gate)}, shared "
                         f"{count(layer.mlp.shared_experts)}, routed {count(layer.mlp.experts)})", count(layer.mlp)))
        else:
            rows.append((f"layers.{i}.mlp (dense ffn)", count(layer.mlp)))
    rows.append(("norm (final)", count(model.norm)))
    rows.append(("lm_head", count(model.lm_head)))
    rows.append((f"mtp (attention {count(model.mtp.block.self_attn)}, moe {count(model.mtp.block.mlp)}, "
                 f"eh_proj {count(model.mtp.eh_proj)}, norms {5 * model.c['hidden']})", count(model.mtp)))
    return rows


def main():
    parser = argparse.ArgumentParser(description="PyTorch peer for `seek bench train`: trains seekscope's toy "
                                     "DeepSeek-V3 model (MLA, DeepSeekMoE, MTP) in eager PyTorch on the CPU, "
                                     "float32, and reports training tokens/second as one JSON line.")
    parser.add_argument("--batch", type=int, default=16, help="sequences per step (default 16)")
    parser.add_argument("--seq", type=int, default=64, help="tokens per sequence (default 64)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (default 30)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed warm-up steps first (default 5)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own default)")
    parser.add_argument("--seed", type=int, default=1234, help="seed for weights and tokens (default 1234)")
    parser.add_argument("--params", action="store_true", help="print the parameter breakdown on stderr")
    args = parser.parse_args()
    if min(args.batch, args.steps) < 1 or not 3 <= args.seq <= TOY["max_positions"] or args.warmup < 0:
        parser.error(f"--batch and --steps must be >= 1, --seq in 3..{TOY['max_positions']} (MTP predicts two "
                     "ahead; the toy's max_position_embeddings), --warmup >= 0")
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    model = Toy(TOY)
    # foreach: the multi-tensor AdamW (one kernel per operation over all parameters, not a loop of them)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.95), weight_decay=0.1, foreach=True)
    generator = torch.Generator().manual_seed(args.seed)
    batches = [torch.randint(7, TOY["vocab"], (args.batch, args.seq), generator=generator)
               for _ in range(args.warmup + args.steps)]

    def step(tokens):
        optimizer.zero_grad(set_to_none=True)
        loss = model(tokens)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        return loss.item()

    for tokens in batches[:args.warmup]:
        step(tokens)
    start = time.perf_counter()
    for tokens in batches[args.warmup:]:
        loss = step(tokens)
    seconds = time.perf_counter() - start

    tokens_per_step = args.batch * args.seq
    result = {"framework": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
              "batch": args.batch, "seq": args.seq, "steps": args.steps,
              "tokens_per_s": round(tokens_per_step * args.steps / seconds, 1),
              "ms_per_step": round(1000 * seconds / args.steps, 3), "params": count(model), "final_loss": round(loss, 5)}
    print(json.dumps(result))
    if args.params:
        for name, n in parameter_breakdown(model):
            print(f"  {name:<72} {n:>9,}", file=sys.stderr)
        buffers = sum(b.numel() for b in model.buffers())  # the 4 MoE gates' e_score_correction_bias
        print(f"  {'total trainable (+ ' + str(buffers) + ' bias buffers = ' + f'{count(model) + buffers:,})':<72} "
              f"{count(model):>9,}", file=sys.stderr)
    print(f"pytorch {torch.__version__}, {result['threads']} threads: {args.batch} x {args.seq} tokens/step, "
          f"{result['ms_per_step']:.1f} ms/step, {result['tokens_per_s']:.0f} tokens/s over {args.steps} steps "
          f"(after {args.warmup} warm-up), {result['params']:,} parameters, final loss {loss:.4f}", file=sys.stderr)


if __name__ == "__main__":
    main()
