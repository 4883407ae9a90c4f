#!/usr/bin/python3
"""PyTorch peer for `seek bench decode`: greedy decoding tokens/second of seekscope's toy model in
eager PyTorch on the CPU, float32, one sequence at a time and as one batch.

The model is bench_torch_train.py's (the toy preset: MLA, DeepSeekMoE with sorted dispatch, the
same initialization), decoding as an inference engine would write it in PyTorch:
  - the absorbed latent cache, as seek generate keeps it: per layer c_kv [B, S, 16] and k_pe
    [B, S, 8]; W_UK is folded into the query (q_nope W_UK) and W_UV applied after attention, so a
    step reads the 24 cached floats per token instead of expanding keys and values
  - a prompt in one prefill pass (causal mask), then one token per step for every sequence at once
  - greedy (argmax), no stop at <eos>: every sequence gets exactly --new tokens, the same work as
    seek's side
  - torch.inference_mode() (no autograd bookkeeping); MTP is not run (decoding does not use it)
Prompts: --batch sequences of --prompt random token ids in 7..127 (fixed seed). Timed: the whole
decode (prefills included), the median of --repeats runs; tokens/s counts new tokens. One at a
time decodes the first four sequences (or fewer), each alone: batch 1.

Run with Debian's interpreter (python3-torch 1.13):  /usr/bin/python3 scripts/bench_torch_decode.py
Prints one JSON line on stdout and a readable summary on stderr.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_torch_train import TOY, Toy, rope  # noqa: E402  (the same model and initialization)


class LatentDecoder:
    """Decodes with a Toy model through an absorbed MLA cache of `capacity` positions."""

    def __init__(self, model, batch, capacity):
        c = self.c = model.c
        self.model, H = model, c["heads"]
        inv_freq = c["rope_theta"] ** (-torch.arange(0, c["rope"], 2, dtype=torch.float64) / c["rope"])
        angles = torch.arange(capacity, dtype=torch.float64)[:, None] * inv_freq
        self.cos, self.sin = angles.cos().float().unsqueeze(1), angles.sin().float().unsqueeze(1)  # [S, 1, dr/2]
        self.c_kv = [torch.zeros(batch, capacity, c["kv_lora"]) for _ in model.layers]
        self.k_pe = [torch.zeros(batch, capacity, c["rope"]) for _ in model.layers]
        # kv_b_proj.weight [H (dn + dv), r], head-major [k_nope ; v]: W_UK [H, dn, r], W_UV [H, dv, r]
        self.w_uk, self.w_uv_t = [], []
        for layer in model.layers:
            w = layer.self_attn.kv_b_proj.weight.view(H, c["nope"] + c["v"], c["kv_lora"])
            self.w_uk.append(w[:, :c["nope"]].contiguous())
            self.w_uv_t.append(w[:, c["nope"]:].transpose(1, 2).contiguous())  # [H, r, dv]
        self.length = 0

    def attend(self, i, attn, x):  # x [B, T, hidden] at positions length .. length + T - 1
        c, (B, T, _) = self.c, x.shape
        H, dn, dr, r = c["heads"], c["nope"], c["rope"], c["kv_lora"]
        start, end = self.length, self.length + T
        cos, sin = self.cos[start:end], self.sin[start:end]
        q = attn.q_b_proj(attn.q_a_layernorm(attn.q_a_proj(x))).view(B, T, H, dn + dr)
        q_pe = rope(q[..., dn:], cos, sin)
        kv_a = attn.kv_a_proj_with_mqa(x)
        self.c_kv[i][:, start:end] = attn.kv_a_layernorm(kv_a[..., :r])
        self.k_pe[i][:, start:end] = rope(kv_a[..., r:].unsqueeze(2), cos, sin).squeeze(2)
        c_kv, k_pe = self.c_kv[i][:, :end], self.k_pe[i][:, :end]
        q_absorbed = q[..., :dn].transpose(1, 2) @ self.w_uk[i]  # q_nope W_UK: [B, H, T, r]
        scores = (q_absorbed @ c_kv.unsqueeze(1).transpose(-1, -2)
                  + q_pe.transpose(1, 2) @ k_pe.unsqueeze(1).transpose(-1, -2)) / (dn + dr) ** 0.5  # [B, H, T, S]
        if T > 1:  # a prefill: query t sees positions up to start + t
            scores = scores.masked_fill(torch.ones(T, end, dtype=torch.bool).triu(start + 1), float("-inf"))
        o_latent = scores.softmax(-1) @ c_kv.unsqueeze(1)  # [B, H, T, r]
        out = (o_latent @ self.w_uv_t[i]).transpose(1, 2).reshape(B, T, H * c["v"])  # W_UV per head
        return attn.o_proj(out)

    def forward(self, tokens):  # tokens [B, T] -> logits of the last position [B, vocab]
        model = self.model
        h = model.embed_tokens(tokens)
        for i, layer in enumerate(model.layers):
            h = h + self.attend(i, layer.self_attn, layer.input_layernorm(h))
            h = h + layer.mlp(layer.post_attention_layernorm(h))
        self.length += tokens.shape[1]
        return model.lm_head(model.norm(h[:, -1]))


def decode(model, prompts, new_tokens):  # prompts [B, P] -> new tokens [B, new_tokens], greedy
    decoder = LatentDecoder(model, prompts.shape[0], prompts.shape[1] + new_tokens)
    token = decoder.forward(prompts).argmax(-1)
    out = [token]
    for _ in range(new_tokens - 1):
        token = decoder.forward(token.unsqueeze(1)).argmax(-1)
        out.append(token)
    return torch.stack(out, dim=1)


def main():
    parser = argparse.ArgumentParser(description="PyTorch peer for `seek bench decode`: greedy decoding of "
                                     "seekscope's toy DeepSeek-V3 model (absorbed MLA cache, DeepSeekMoE) in eager "
                                     "PyTorch on the CPU, float32; reports new tokens/second as one JSON line.")
    parser.add_argument("--batch", type=int, default=16, help="sequences (default 16)")
    parser.add_argument("--prompt", type=int, default=8, help="prompt tokens per sequence (default 8)")
    parser.add_argument("--new", type=int, default=64, help="new tokens per sequence (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each form; the median counts (default 3)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's own default)")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and prompts (default 0)")
    args = parser.parse_args()
    if min(args.batch, args.prompt, args.new, args.repeats) < 1 or args.prompt + args.new > TOY["max_positions"]:
        parser.error(f"--batch, --prompt, --new and --repeats must be >= 1, --prompt + --new at most "
                     f"{TOY['max_positions']} (the toy's max_position_embeddings)")
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    torch.manual_seed(args.seed)
    model = Toy(TOY).eval()
    prompts = torch.randint(7, TOY["vocab"], (args.batch, args.prompt), generator=torch.Generator().manual_seed(args.seed))
    times = {"one_at_a_time": [], "batched": []}
    singles = min(args.batch, 4)  # one at a time: the first four sequences (seconds each here)
    with torch.inference_mode():
        batched = decode(model, prompts, args.new)  # warm-up, and the tokens to compare
        alone = torch.cat([decode(model, prompts[b:b + 1], args.new) for b in range(min(args.batch, 2))])
        for _ in range(args.repeats):
            start = time.perf_counter()
            for b in range(singles):
                decode(model, prompts[b:b + 1], args.new)
            times["one_at_a_time"].append(time.perf_counter() - start)
            start = time.perf_counter()
            decode(model, prompts, args.new)
            times["batched"].append(time.perf_counter() - start)

    seconds = {form: statistics.median(values) for form, values in times.items()}
    result = {"framework": "pytorch", "version": torch.__version__, "threads": torch.get_num_threads(),
              "batch": args.batch, "prompt": args.prompt, "new": args.new, "repeats": args.repeats,
              "tokens_per_s": round(args.batch * args.new / seconds["batched"], 1),
              "tokens_per_s_one_at_a_time": round(singles * args.new / seconds["one_at_a_time"], 1),
              # a sequence decoded alone gives the tokens it gets in the batch (a check of the batching)
              "batch_matches_alone": bool(torch.equal(alone, batched[:alone.shape[0]]))}
    print(json.dumps(result))
    print(f"pytorch {torch.__version__}, {result['threads']} threads: {args.batch} sequences x {args.new} new tokens "
          f"after {args.prompt}-token prompts: {result['tokens_per_s_one_at_a_time']:.0f} tokens/s one at a time, "
          f"{result['tokens_per_s']:.0f} as one batch (medians of {args.repeats})", file=sys.stderr)


if __name__ == "__main__":
    main()
