// seek train: pretrain the toy model on a task's corpus, with DeepSeek-V3's recipe.
#include <cstdio>
#include <string>

#include "../core/train.h"
#include "commands.h"
#include "progress.h"

namespace seek::cli {

namespace {

const TrainOptions defaults;

const CommandSpec spec = {
    "train",
    "pretrain the toy model on an arithmetic corpus (AdamW, MTP, bias balancing, FP8 GEMMs)",
    "Trains a model from scratch on a task's corpus and writes it to --out in the HF layout\n"
    "(config.json + model.safetensors), with optimizer.safetensors (AdamW state) and train.jsonl\n"
    "(one JSON line per step: loss, main/MTP/balance losses, lr, grad norm, tokens/s, MaxVio and\n"
    "bias range per MoE block, held-out loss every --eval-every steps).\n"
    "\n"
    "Corpus: problems of --task (add:MIN-MAX or mul:N digits per operand), each written as\n"
    "'<bos>478+56=' followed by a completion in one of four styles, mixed by --mix\n"
    "(direct,traced,checked,retry shares):\n"
    "  direct   <answer>534</answer><eos>\n"
    "  traced   <think>a worked column-by-column trace</think><answer>534</answer><eos>\n"
    "  checked  the same trace, then a check of the result\n"
    "  retry    a trace with one slip, a check that catches it, and a corrected attempt\n"
    "The loss covers completions only. About 10% of problems are held out and never trained on.\n"
    "\n"
    "Each step: loss = CE(next token) + lambda CE(MTP: the token after next) + alpha x the\n"
    "sequence-wise balance loss; gradients clipped to --clip; AdamW (beta 0.9/0.95, decoupled\n"
    "weight decay on matrices) with linear warmup then cosine from --lr to --min-lr; then each MoE\n"
    "gate's bias moves by --bias-gamma toward balance (auxiliary-loss-free balancing).\n"
    "--precision fp8 runs the Fprop, Dgrad and Wgrad GEMMs of every attention and FFN linear layer\n"
    "in E4M3 with 1x128 activation / 128x128 weight scales (V3's recipe); the embedding, norms,\n"
    "attention core, gate and output head stay FP32, as do master weights, gradients and AdamW.\n"
    "\n"
    "Checkpoints are committed every --save-every steps and at the end, each as one transaction:\n"
    "a complete folder --out/step-N/ (weights, config, optimizer, a manifest of checksums), fsynced,\n"
    "then the link --out/checkpoint switched to it; --out/config.json, model.safetensors and\n"
    "optimizer.safetensors are links through it. A kill or a full disk leaves the last complete\n"
    "checkpoint. Ctrl-C saves and stops; --resume continues a saved run bit for bit with its own\n"
    "options (the same final weights as a run that never stopped), and refuses, naming them, files\n"
    "that disagree. --out must not hold a model or another run. The batch of step s is a pure\n"
    "function of --seed and s.",
    {preset_option("toy"), config_option(),
     {"out", "DIR", "where the checkpoint and log go", "", true},
     {"resume", "", "continue the run saved in --out (its options are used)", ""},
     {"task", "NAME", "add:MIN-MAX or mul:N (digits per operand)", defaults.task},
     {"mix", "D,T,C,R", "corpus shares of direct, traced, checked and retry completions", "0.7,0.2,0.05,0.05"},
     {"steps", "N", "optimizer steps", std::to_string(defaults.steps)},
     {"batch", "B", "sequences per step", std::to_string(defaults.batch)},
     {"seed", "S", "seed of the weights and the data", "0"},
     {"lr", "LR", "peak learning rate", number_text(defaults.adamw.lr)},
     {"min-lr", "LR", "learning rate at the end of the cosine", number_text(defaults.min_lr)},
     {"warmup", "N", "linear warmup steps", std::to_string(defaults.warmup)},
     {"weight-decay", "W", "AdamW decoupled weight decay (matrices only)", number_text(defaults.adamw.weight_decay)},
     {"clip", "C", "max global gradient norm; 0 = off", number_text(defaults.adamw.clip)},
     {"mtp-weight", "L", "lambda, the weight of the MTP loss (V3: 0.3, then 0.1)", number_text(defaults.loss.mtp_weight)},
     {"balance-alpha", "A", "alpha of the sequence-wise balance loss (V3: 0.0001); 0 = off", number_text(defaults.loss.balance_alpha)},
     {"bias-gamma", "G", "speed of the aux-loss-free bias update (V3: 0.001); 0 = off", number_text(defaults.bias_gamma)},
     {"precision", "P", "GEMMs of the linear layers: fp32, bf16 or fp8", "fp32"},
     {"fp8-accumulation", "M", "fp8: exact (FP32 per 128 products) or tensor-core (14-bit model, slow)", "exact"},
     {"eval-every", "N", "held-out loss every N steps; 0 = never", std::to_string(defaults.eval_every)},
     {"eval-examples", "N", "held-out examples per evaluation", std::to_string(defaults.eval_examples)},
     {"save-every", "N", "checkpoint every N steps", std::to_string(defaults.save_every)}},
    "", 0, 0,
};

CorpusMix mix_from_text(const std::string& value) {
    double shares[4];
    char extra;
    if (std::sscanf(value.c_str(), "%lf,%lf,%lf,%lf%c", &shares[0], &shares[1], &shares[2], &shares[3], &extra) != 4)
        throw UsageError("--mix: expected four comma-separated shares (direct,traced,checked,retry), got '" + value + "'");
    return {shares[0], shares[1], shares[2], shares[3]};
}

TrainOptions options_from_args(const ParsedArgs& args) {
    TrainOptions o;
    o.task = args.str("task");
    o.mix = mix_from_text(args.str("mix"));
    o.steps = args.integer("steps");
    o.batch = args.integer("batch");
    o.seed = static_cast<uint64_t>(args.integer("seed"));
    o.adamw.lr = args.number("lr");
    o.min_lr = args.number("min-lr");
    o.warmup = args.integer("warmup");
    o.adamw.weight_decay = args.number("weight-decay");
    o.adamw.clip = args.number("clip");
    o.loss.mtp_weight = args.number("mtp-weight");
    o.loss.balance_alpha = args.number("balance-alpha");
    o.bias_gamma = args.number("bias-gamma");
    o.precision.gemm = args.choice("precision", gemm_precision_from_name);
    const std::string accumulation = args.str("fp8-accumulation");
    if (accumulation != "exact" && accumulation != "tensor-core")
        throw UsageError("--fp8-accumulation must be exact or tensor-core, got '" + accumulation + "'");
    o.precision.accumulation.mode = accumulation == "exact" ? AccumulationMode::Exact : AccumulationMode::TensorCore;
    o.eval_every = args.integer("eval-every");
    o.eval_examples = args.integer("eval-examples");
    o.save_every = args.integer("save-every");
    return o;
}

std::string loss_text(const StepMetrics& m) {
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, "loss %.4f", m.loss.main);
    std::string detail = buffer;
    if (m.evaluated) {
        std::snprintf(buffer, sizeof buffer, "  held-out %.4f", m.heldout_loss);
        detail += buffer;
    }
    return detail;
}

}  // namespace

int run_train(int argc, char** argv) {
    if (wants_help(spec, argc, argv)) return 0;
    const ParsedArgs args = parse_args(spec, argc, argv);
    const std::string out = args.str("out");
    TrainRun run;
    if (resuming_run(spec, args, out)) {
        run = resume_run(out);
        std::printf("resuming %s at step %lld of %lld\n", out.c_str(), static_cast<long long>(run.optimizer.step),
                    static_cast<long long>(run.options.steps));
    } else {
        TrainOptions options;
        try {
            options = options_from_args(args);
            run = start_run(config_from_args(args), options);
        } catch (const std::invalid_argument& error) {
            throw UsageError(error.what());
        }
    }
    std::printf("training %s (%lld parameters) on %s: %lld steps of %lld sequences, %s GEMMs -> %s\n",
                run.config.name.c_str(), static_cast<long long>(parameter_count(run.weights)), run.options.task.c_str(),
                static_cast<long long>(run.options.steps), static_cast<long long>(run.options.batch),
                gemm_precision_name(run.options.precision.gemm), out.c_str());
    std::fflush(stdout);

    keep_freed_memory();  // each step frees and reallocates the same activations
    const std::atomic<bool>& stop_requested = catch_interrupts();
    Progress progress = start_progress("train", "steps", run.options.steps);
    progress.start = std::chrono::steady_clock::now();
    int64_t tokens = 0;
    double seconds = 0;
    StepMetrics last;
    TrainCallbacks callbacks;
    callbacks.stop = &stop_requested;
    callbacks.on_step = [&](const StepMetrics& m) {
        tokens += m.tokens;
        seconds += m.seconds;
        last = m;
        char rate[48];
        std::snprintf(rate, sizeof rate, "  %.0f tok/s", seconds > 0 ? tokens / seconds : 0.0);
        show_progress(progress, m.step, loss_text(m) + rate);
        if (!progress.enabled && m.evaluated)
            std::printf("step %lld/%lld  %s  lr %.2e  grad norm %.3f%s\n", static_cast<long long>(m.step),
                        static_cast<long long>(run.options.steps), loss_text(m).c_str(), m.lr, m.grad_norm, rate);
        std::fflush(stdout);
    };
    const bool finished = train(run, out, callbacks);
    release_interrupts();
    if (!finished) {
        std::printf("\nstopped at step %lld; saved to %s (continue with: seek train --out %s --resume)\n",
                    static_cast<long long>(run.optimizer.step), out.c_str(), out.c_str());
        return 130;
    }
    std::printf("done: step %lld, %s, %.0f tokens/s; model in %s (config.json, model.safetensors), log in %s/train.jsonl\n",
                static_cast<long long>(last.step), loss_text(last).c_str(), seconds > 0 ? tokens / seconds : 0.0,
                out.c_str(), out.c_str());
    return 0;
}

}  // namespace seek::cli
