// seek grpo: reinforcement learning from rule-based rewards on a trained model.
#include <cmath>
#include <cstdio>
#include <string>

#include "../core/grpo.h"
#include "commands.h"
#include "progress.h"

namespace seek::cli {

namespace {

const GrpoOptions defaults = default_grpo_options();

const CommandSpec spec = {
    "grpo",
    "GRPO: reinforcement learning from verifiable rewards (R1-Zero style) on a trained model",
    "Starts from --model (a checkpoint `seek train` wrote) and improves it with Group Relative\n"
    "Policy Optimization. Each step draws --prompts problems of --task, samples --group completions\n"
    "of each at --temperature with the latent KV cache, and scores them with the rule-based verifier:\n"
    "reward = accuracy (1 if the <answer> is right) + format (--format-reward, 0.1, paid only for a\n"
    "well-formed <think>...</think><answer>...</answer>: so a right answer that thinks first earns\n"
    "1.1 and a right direct answer 1.0). Nothing rewards length. Advantages are (r - group mean) /\n"
    "(group std + 1e-4), or r - mean with --no-std (Dr. GRPO). Then --inner updates on those\n"
    "rollouts minimize  -aggregate[ min(rho A, clip(rho, 1-eps, 1+eps_high) A) - beta KL_k3 ]\n"
    "with rho = pi/pi_old per token and KL_k3 = pi_ref/pi - log(pi_ref/pi) - 1 against the frozen\n"
    "starting model; --loss grpo averages per sequence then over the group, dapo per token, dr-grpo\n"
    "divides by group x --max-new. AdamW, constant --lr.\n"
    "\n"
    "--out gets the policy (config.json + model.safetensors, loadable by seek generate/eval),\n"
    "reference/ (the starting model), optimizer.safetensors, and grpo.jsonl: one \"step\" line per\n"
    "step (reward, accuracy, format/think/check/retry rates, lengths of correct and wrong\n"
    "completions, KL, clip fraction, entropy, share of groups with equal rewards) and a \"samples\"\n"
    "line at step 0 and every --sample-every steps with the groups of fixed held-out prompts\n"
    "(seekscope --log shows them). Checkpoints (at step 0, every --save-every steps and at the end)\n"
    "are committed whole, as `seek train --help` describes; --out must not hold a model (--model\n"
    "included) or another run. Ctrl-C saves; --resume continues from the last checkpoint.\n"
    "\n"
    "--problems FILE trains on your own problems (drawn at random each step; --task still picks the\n"
    "held-out sample prompts). The problems are stored with the run, so --resume does not need the file.",
    {{"model", "DIR", "the starting model (required unless --resume)", ""},
     {"out", "DIR", "where the run goes", "", true},
     {"resume", "", "continue the run saved in --out with its own options", ""},
     {"task", "NAME", "add:MIN-MAX or mul:N (digits per operand)", defaults.task},
     {"problems", "FILE", "train on these problems instead of --task's (one per line: 478+56 or 47*86; # comments)", ""},
     {"steps", "N", "GRPO steps", std::to_string(defaults.steps)},
     {"prompts", "P", "problems per step", std::to_string(defaults.prompts)},
     {"group", "G", "completions per problem (>= 2)", std::to_string(defaults.group)},
     {"inner", "MU", "updates per batch of rollouts (mu)", std::to_string(defaults.inner_updates)},
     {"lr", "LR", "AdamW learning rate", number_text(defaults.adamw.lr)},
     {"beta", "B", "KL coefficient (DeepSeekMath 0.04, R1-Zero 0.001)", number_text(defaults.loss.beta)},
     {"eps", "E", "clip range epsilon (low side)", number_text(defaults.loss.clip_low)},
     {"eps-high", "E", "clip range on the high side (DAPO clip-higher: 0.28)", number_text(defaults.loss.clip_high)},
     {"loss", "KIND", "aggregation: grpo, dapo or dr-grpo", aggregation_name(defaults.loss.aggregation)},
     {"no-std", "", "advantages r - mean without dividing by the std (Dr. GRPO)", ""},
     {"format-reward", "W", "reward for a well-formed completion with a <think> block, on top of accuracy", number_text(defaults.format_reward)},
     {"temperature", "T", "rollout sampling temperature (> 0)", number_text(defaults.temperature)},
     {"max-new", "N", "most tokens per completion", std::to_string(defaults.max_new_tokens)},
     {"seed", "S", "seed of the prompts and the sampling", "0"},
     {"sample-every", "N", "log the fixed prompts' groups every N steps; 0 = only at step 0", std::to_string(defaults.sample_every)},
     {"sample-prompts", "N", "fixed held-out prompts whose groups are logged", std::to_string(defaults.sample_prompts)},
     {"save-every", "N", "checkpoint every N steps", std::to_string(defaults.save_every)}},
    "", 0, 0,
};

GrpoOptions options_from_args(const ParsedArgs& args) {
    GrpoOptions o = default_grpo_options();
    o.task = args.str("task");
    if (args.flag("problems")) o.problems = load_problems(args.str("problems"));
    o.steps = args.integer("steps");
    o.prompts = args.integer("prompts");
    o.group = args.integer("group");
    o.inner_updates = args.integer("inner");
    o.adamw.lr = args.number("lr");
    o.loss.beta = args.number("beta");
    o.loss.clip_low = args.number("eps");
    o.loss.clip_high = args.number("eps-high");
    o.loss.aggregation = args.choice("loss", aggregation_from_name);
    o.scale_by_std = !args.flag("no-std");
    o.format_reward = args.number("format-reward");
    o.temperature = static_cast<float>(args.number("temperature"));
    if (!(std::isfinite(o.temperature) && o.temperature > 0))  // quoted as typed, not as a float
        throw UsageError("--temperature must be > 0 (rollouts sample), got '" + args.str("temperature") + "'");
    o.max_new_tokens = args.integer("max-new");
    o.seed = static_cast<uint64_t>(args.integer("seed"));
    o.sample_every = args.integer("sample-every");
    o.sample_prompts = args.integer("sample-prompts");
    o.save_every = args.integer("save-every");
    return o;
}

}  // namespace

int run_grpo(int argc, char** argv) {
    if (wants_help(spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(spec, argc, argv);
    const std::string out = args.str("out");
    GrpoRun run;
    if (resuming_run(spec, args, out)) {
        run = resume_grpo(out);
        std::printf("resuming %s at step %lld of %lld\n", out.c_str(),
                    static_cast<long long>(run.optimizer.step / run.options.inner_updates),
                    static_cast<long long>(run.options.steps));
    } else {
        require_option(spec, args, "model", "the model to start from");
        GrpoOptions options;
        try {
            options = options_from_args(args);
            run = start_grpo(model_dir_from_args(args), options);
        } catch (const std::invalid_argument& error) {
            throw UsageError(error.what());
        }
    }
    const GrpoOptions& o = run.options;
    std::printf("GRPO on %s: %lld steps x %lld prompts x %lld completions, mu %lld, beta %g, loss %s%s -> %s\n",
                o.task.c_str(), static_cast<long long>(o.steps), static_cast<long long>(o.prompts),
                static_cast<long long>(o.group), static_cast<long long>(o.inner_updates), o.loss.beta,
                aggregation_name(o.loss.aggregation), o.scale_by_std ? "" : " (no std)", out.c_str());
    std::fflush(stdout);

    keep_freed_memory();  // each step frees and reallocates the same activations
    const std::atomic<bool>& stop_requested = catch_interrupts();
    Progress progress = start_progress("grpo", "steps", o.steps);
    std::string last_detail;
    GrpoCallbacks callbacks;
    callbacks.stop = &stop_requested;
    callbacks.on_step = [&](const GrpoStepMetrics& m) {
        char detail[160];
        std::snprintf(detail, sizeof detail, "reward %.3f  acc %.2f  think %.2f  len %.1f", m.reward_mean, m.accuracy,
                      m.think_rate, m.mean_length);
        last_detail = detail;
        show_progress(progress, m.step, detail);
        if (!progress.enabled) {
            std::printf("step %lld/%lld  %s  kl %.4f  equal-reward groups %.2f\n", static_cast<long long>(m.step),
                        static_cast<long long>(o.steps), detail, m.kl, m.equal_reward_groups);
            std::fflush(stdout);
        }
    };
    const bool finished = grpo_train(run, out, callbacks);
    release_interrupts();
    if (!finished) {
        std::printf("\nstopped; saved to %s (continue with: seek grpo --out %s --resume)\n", out.c_str(), out.c_str());
        return 130;
    }
    std::printf("done: %s; policy in %s, log in %s/grpo.jsonl\n", last_detail.c_str(), out.c_str(), out.c_str());
    return 0;
}

}  // namespace seek::cli
