// The training loop: batches from a task's corpus (tasks.h), forward and backward (model.h),
// AdamW (optim.h), the auxiliary-loss-free bias update, checkpoints and a JSON-lines log.
//
// One step:
//   batch    = examples step·B .. step·B + B-1 of the corpus (a pure function of seed and step)
//   loss     = CE(next token) + λ CE(MTP, token after next) + α Σ sequence balance losses
//              (the loss covers completions only: prompts are masked)
//   grads    = backward; clipped to norm 1; AdamW at lr(step) (warmup, then cosine to min_lr)
//   bias     b_i += γ sign(mean load - load_i) per MoE block, from this batch's routing
// Everything is a function of (options, step, weights, optimizer state), so a run resumed from a
// checkpoint continues bit for bit as if it had never stopped.
//
// An output directory is a run folder (run_folder.h): each checkpoint (config.json +
// model.safetensors in the HF layout, FP32 master weights; optimizer.safetensors: AdamW moments,
// metadata step, options and run) is committed as one transaction, and DIR/config.json,
// DIR/model.safetensors and DIR/optimizer.safetensors are links to the committed one;
// train.jsonl holds one line per step.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "config.h"
#include "linear.h"
#include "model.h"
#include "optim.h"
#include "run_folder.h"
#include "tasks.h"

namespace seek {

struct TrainOptions {
    std::string task = "add:1-3";    // tasks.h names
    CorpusMix mix;
    int64_t steps = 300;
    int64_t batch = 32;              // sequences per step
    uint64_t seed = 0;               // weights and data
    AdamWOptions adamw;
    double min_lr = 1e-4;            // where the cosine ends
    int64_t warmup = 20;
    TrainingLoss loss;               // λ (MTP) and α (balance)
    double bias_gamma = 1e-3;        // γ of the bias update; 0 = off
    LinearPrecision precision;
    int64_t eval_every = 50;         // held-out loss every N steps (and at the last); 0 = never
    int64_t eval_examples = 256;
    int64_t save_every = 100;        // checkpoint every N steps (and at the last)
};
nlohmann::json train_options_to_json(const TrainOptions& options);
TrainOptions train_options_from_json(const nlohmann::json& json, const std::string& source);

struct StepMetrics {
    int64_t step = 0;                 // 1-based: steps done
    LossReport loss;
    double lr = 0, grad_norm = 0;
    int64_t tokens = 0;               // tokens in the batch (loss-bearing or not)
    double seconds = 0;               // wall time of the step
    std::vector<double> max_violation;        // per MoE block, this batch (MTP's last)
    std::vector<double> bias_min, bias_max;   // per MoE block, after the update
    bool evaluated = false;
    double heldout_loss = 0;          // main next-token loss on held-out problems
};
nlohmann::json step_metrics_to_json(const StepMetrics& metrics);

// The batch of examples first .. first + count - 1 of the task's corpus.
Batch corpus_batch(const TaskSpec& task, const CorpusMix& mix, uint64_t seed, int64_t first, int64_t count,
                   Split split = Split::Train);

struct TrainRun {
    ModelConfig config;
    TrainOptions options;
    ModelWeights weights;
    AdamWState optimizer;
    bool resumed = false;             // from resume_run: train() continues that folder's run
    CommittedCheckpoint resumed_from;  // ... from this checkpoint
};
// A fresh run (weights from options.seed), or the one committed in `directory` (its options win).
// resume_run refuses, naming the files, a checkpoint whose parts disagree on the step or the run,
// and a step outside [0, options.steps].
TrainRun start_run(const ModelConfig& config, const TrainOptions& options);
TrainRun resume_run(const std::string& directory);
// The run's identity (run_folder.h): its options and model config.
std::string train_run_id(const TrainRun& run);

struct TrainCallbacks {
    std::function<void(const StepMetrics&)> on_step;  // after each step (progress bars)
    const std::atomic<bool>* stop = nullptr;          // set (e.g. by SIGINT): save and return
};

// Runs steps run.optimizer.step .. options.steps - 1, appending to directory/train.jsonl and
// committing a checkpoint every save_every steps and at the end (or when stopped). A fresh run
// refuses a directory that holds a run or a model; a resumed run first cuts the log back to its
// checkpoint, so lines written after the last save are redone, not doubled.
// Returns true when it finished, false when stopped.
bool train(TrainRun& run, const std::string& directory, const TrainCallbacks& callbacks = {});

// Mean main loss over `count` held-out examples, in batches.
double heldout_loss(const TrainRun& run, int64_t count);

}  // namespace seek
