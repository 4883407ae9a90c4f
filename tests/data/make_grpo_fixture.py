#!/usr/bin/env python3
"""Writes grpo_fixture.jsonl: a small, realistic log in the format `seek grpo` writes (one JSON
object per line: "kind": "step" every step, "kind": "samples" at step 0 and every 10 steps), for
the viewer's GRPO panel and its tests. The numbers are SYNTHETIC, made up to exercise every plot
and colour; they are not a result of any run (the README's pictures come from real runs).

The story it tells is R1-Zero's on the toy addition task: at step 0 the pretrained model mostly
answers directly and is often wrong; reward for correct answers makes the worked trace
(<think>...</think>) take over, then the check and the retry; accuracy and length go up together.
The traces follow core/tasks.h exactly (column by column, rightmost first; "check" redoes the sum
with the operands swapped). Deterministic: run it again and the file is the same.

    python3 tests/data/make_grpo_fixture.py > tests/data/grpo_fixture.jsonl
"""
import json
import math
import random

SPECIALS = ["<pad>", "<bos>", "<eos>", "<think>", "</think>", "<answer>", "</answer>"]


def tokens(text):
    """Token count under the toy tokenizer: a special token is one token, any other character one."""
    n, i = 0, 0
    while i < len(text):
        tag = next((s for s in SPECIALS if text.startswith(s, i)), None)
        i += len(tag) if tag else 1
        n += 1
    return n


def columns(a, b, slip=None):
    """The column sums of a+b, rightmost first, as tasks.h writes them; slip=(column, delta) changes
    the last digit of one column's written sum (the carry stays right, as in a retry's slip)."""
    da, db = str(a)[::-1], str(b)[::-1]
    width = max(len(da), len(db))
    carry, parts, digits = 0, [], []
    for i in range(width):
        x = int(da[i]) if i < len(da) else 0
        y = int(db[i]) if i < len(db) else 0
        s = x + y + carry
        written = s
        if slip and slip[0] == i:
            written = s - s % 10 + (s % 10 + slip[1]) % 10
        parts.append(f"{x}+{y}+1={written}" if carry else f"{x}+{y}={written}")
        digits.append(str(written) if i == width - 1 else str(written % 10))
        carry = s // 10
    return " ".join(parts), int("".join(reversed(digits)))


def completion(a, b, style, slip=None, answer=None):
    if style == "direct":
        return f"<answer>{answer if answer is not None else a + b}</answer><eos>"
    trace, result = columns(a, b, slip if style in ("plain", "retry") else None)
    if style == "checked":
        check, _ = columns(b, a)
        trace += f" check {check} ok"
    if style == "retry":
        check, _ = columns(b, a)
        fixed, result = columns(a, b)
        trace += f" check {check} wrong retry {fixed}"
    if style == "cutoff":  # ran out of tokens inside the trace: malformed, no answer
        return f"<think>{trace} check"
    return f"<think>{trace}</think><answer>{answer if answer is not None else result}</answer><eos>"


def group(a, b, specs):
    """specs: (style, slip, answer) per completion -> the prompt's entry with rewards and advantages."""
    items = []
    for style, slip, answer in specs:
        text = completion(a, b, style, slip, answer)
        well_formed = text.endswith("<eos>")
        has_think = text.startswith("<think>") and "</think>" in text
        got = text.split("<answer>")[1].split("</answer>")[0] if "<answer>" in text else None
        correct = got == str(a + b)
        reward = (1.0 if correct else 0.0) + (0.1 if well_formed and has_think else 0.0)
        items.append({"text": text, "reward": round(reward, 4), "correct": correct,
                      "well_formed": well_formed, "length": tokens(text)})
    mean = sum(c["reward"] for c in items) / len(items)
    std = math.sqrt(sum((c["reward"] - mean) ** 2 for c in items) / len(items))
    for c in items:
        c["advantage"] = round((c["reward"] - mean) / std, 4) if std > 1e-6 else 0.0
    ordered = [{k: c[k] for k in ("text", "reward", "advantage", "correct", "well_formed", "length")} for c in items]
    return {"question": f"{a}+{b}=", "answer": a + b, "completions": ordered}


# The two fixed prompts, sampled at steps 0, 10, 20 and 30: four completions each.
SAMPLES = {
    0: [group(478, 56, [("direct", None, 524), ("direct", None, 534), ("direct", None, 5314), ("plain", (1, 1), None)]),
        group(905, 387, [("direct", None, 1282), ("direct", None, 1392), ("cutoff", None, None), ("direct", None, 1292)])],
    10: [group(478, 56, [("plain", None, None), ("direct", None, 524), ("plain", (0, 2), None), ("plain", None, None)]),
         group(905, 387, [("plain", (2, 1), None), ("direct", None, 1292), ("plain", None, None), ("direct", None, 1192)])],
    20: [group(478, 56, [("plain", None, None), ("checked", None, None), ("plain", (1, 3), None), ("checked", None, None)]),
         group(905, 387, [("checked", None, None), ("plain", None, None), ("retry", (1, -1), None), ("direct", None, 1282)])],
    30: [group(478, 56, [("checked", None, None), ("retry", (0, 1), None), ("checked", None, None), ("plain", (2, 1), None)]),
         group(905, 387, [("checked", None, None), ("checked", None, None), ("retry", (2, 2), None), ("checked", None, None)])],
}


def ramp(step, start, end, middle=12.0, width=5.0):
    """A smooth S-curve from `start` to `end` over the run."""
    return start + (end - start) / (1 + math.exp(-(step - middle) / width))


def main():
    rng = random.Random(0)
    lines = [json.dumps({"kind": "samples", "step": 0, "prompts": SAMPLES[0]})]
    for step in range(1, 31):
        noise = lambda scale: rng.gauss(0, scale)
        clip = lambda v: min(max(v, 0.0), 1.0)
        accuracy = clip(ramp(step, 0.22, 0.86) + noise(0.04))
        think = clip(ramp(step, 0.15, 0.97, 10, 4) + noise(0.03))
        check = clip(ramp(step, 0.02, 0.55, 19, 4) + noise(0.03))
        retry = clip(ramp(step, 0.0, 0.16, 22, 3) + noise(0.015))
        well_formed = clip(ramp(step, 0.78, 0.99, 8, 4) + noise(0.02))
        length_correct = ramp(step, 9, 64, 16, 5) + noise(1.5)
        length_wrong = ramp(step, 12, 48, 13, 5) + noise(2.0)
        length = accuracy * length_correct + (1 - accuracy) * length_wrong
        lines.append(json.dumps({
            "kind": "step", "step": step,
            "reward_mean": round(accuracy + 0.1 * min(think, well_formed), 4),
            "reward_std": round(0.25 + 0.2 * math.sin(math.pi * step / 30) + noise(0.02), 4),
            "accuracy": round(accuracy, 4), "format_rate": round(well_formed, 4),
            "think_rate": round(think, 4), "check_rate": round(check, 4), "retry_rate": round(retry, 4),
            "mean_length": round(length, 2), "length_correct": round(length_correct, 2),
            "length_wrong": round(length_wrong, 2),
            "kl": round(max(0.0, 0.0012 * step ** 1.15 + noise(0.002)), 5),
            "clip_fraction": round(clip(0.035 + 0.05 * math.exp(-((step - 12) / 8) ** 2) + noise(0.006)), 4),
            "entropy": round(1.35 - 0.6 * step / 30 + noise(0.03), 4),
            "equal_reward_groups": round(clip(0.45 - 0.3 * math.sin(math.pi * step / 34) + noise(0.04)), 4),
            "lr": 1e-5 * min(1.0, step / 5), "seconds": round(3.8 + noise(0.3), 3)}))
        if step in SAMPLES:
            lines.append(json.dumps({"kind": "samples", "step": step, "prompts": SAMPLES[step]}))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
