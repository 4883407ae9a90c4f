// Group Relative Policy Optimization (DeepSeekMath §4.1, R1 eq. 1-3): RL
// from rule-based rewards alone, without a value network.
//
// One step:
//   rollouts    P prompts, G completions each, sampled from the current policy π_old at
//               temperature 1 with the latent KV cache (generate.h)
//   rewards     r = accuracy (1/0) + format (0.1 for well-formed think/answer tags) (tasks.h)
//   advantages  A_i = (r_i - mean(r)) / (std(r) + ε) within each group (std: the sample standard
//               deviation, n - 1, as torch.std and TRL); Dr. GRPO drops the division
//   μ updates   on the same rollouts, each minimizing  L = -aggregate_i,t J_it  with
//                 ρ_it  = π_θ(o_it | q, o_i,<t) / π_old(o_it | ...)
//                 J_it  = min(ρ A_i, clip(ρ, 1 - ε_low, 1 + ε_high) A_i) - β KL_it
//                 KL_it = π_ref / π_θ - log(π_ref / π_θ) - 1          (k3: unbiased, >= 0)
//               aggregated per sequence (GRPO: 1/G Σ_i 1/|o_i| Σ_t), per token (DAPO: Σ_i,t / Σ_i |o_i|)
//               or by a constant (Dr. GRPO: Σ_i,t / (G · max_new_tokens)), then AdamW
// π_ref is the frozen starting policy. With μ = 1 the ratio is exactly 1 and the clip never
// binds (DeepSeekMath's setting); μ > 1 reuses the rollouts and the clip keeps the steps small.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "model.h"
#include "optim.h"
#include "tasks.h"
#include "train.h"

namespace seek {

enum class LossAggregation { Sequence, Token, Constant };  // grpo, dapo, dr-grpo
const char* aggregation_name(LossAggregation aggregation);
// "grpo", "dapo" or "dr-grpo"; anything else throws std::invalid_argument naming the text.
LossAggregation aggregation_from_name(const std::string& name);

struct GrpoLossOptions {
    double clip_low = 0.2;   // ε (ε_low)
    double clip_high = 0.2;  // ε_high (DAPO's clip-higher: 0.28)
    double beta = 0.04;      // KL coefficient (DeepSeekMath 0.04, R1-Zero 0.001)
    LossAggregation aggregation = LossAggregation::Sequence;
    int64_t max_new_tokens = 0;  // the constant of Dr. GRPO's aggregation
};

// Group advantages for one group's rewards. A group whose rewards are all equal gets zeros.
std::vector<double> group_advantages(const std::vector<double>& rewards, bool scale_by_std, double eps = 1e-4);

// k3 estimate of KL(π_θ || π_ref) at one token from the two log-probabilities.
double k3_kl(double logp, double ref_logp);

// One token's objective J and dJ/dlogp (its gradient with respect to log π_θ of the token):
//   surrogate: ρ A when the unclipped term is the min, else the constant clip(ρ) A (no gradient)
//   KL:        dKL/dlogp = 1 - π_ref / π_θ
struct TokenObjective {
    double value = 0;
    double dlogp = 0;
    bool clipped = false;  // the clip bound the min (the token's gradient is KL only)
};
TokenObjective token_objective(double logp, double old_logp, double ref_logp, double advantage,
                               const GrpoLossOptions& options);

// The loss over a batch of completions: logits [N, vocab] are the policy's on `batch`, whose
// targets mark the completion tokens (kIgnoreTarget elsewhere); old_logp and ref_logp hold one
// value per row (read where the target counts); advantages one per sequence. Returns the loss and
// adds d(loss)/d(logits) into dlogits (sized like logits). Templated for the gradient check.
struct GrpoLossReport {
    double loss = 0;
    double kl = 0;             // mean k3 over completion tokens
    double clip_fraction = 0;  // share of completion tokens whose clip bound
    double entropy = 0;        // mean entropy of π_θ over completion tokens
    int64_t tokens = 0;
};
template <typename S>
GrpoLossReport grpo_loss(MatOf<S>& dlogits, const MatOf<S>& logits, const Batch& batch,
                         const std::vector<double>& old_logp, const std::vector<double>& ref_logp,
                         const std::vector<double>& advantages, const GrpoLossOptions& options);

// log π(target | ...) per row (0 where the target is kIgnoreTarget).
std::vector<double> target_logprobs(const Mat& logits, const Batch& batch);

// ---------------------------------------------------------------------------------------------
// The loop

struct GrpoOptions {
    std::string task = "add:4-5";  // the training prompts, unless `problems` is given, and the sample prompts
    std::vector<Problem> problems;  // training prompts from a problem file, drawn at random; empty: from task
    int64_t steps = 60;
    int64_t prompts = 8;           // P per step
    int64_t group = 8;             // G
    int64_t inner_updates = 1;     // μ
    uint64_t seed = 0;             // prompts and sampling
    float temperature = 1.0f;
    int64_t max_new_tokens = 192;
    bool scale_by_std = true;      // false: Dr. GRPO advantages
    double format_reward = kFormatReward;  // reward = accuracy (0/1) + this for a well-formed, thinking completion
    GrpoLossOptions loss;
    AdamWOptions adamw;            // lr 1e-4, weight decay 0 by default (see grpo.cpp)
    int64_t sample_every = 10;     // log the completions of the fixed sample prompts every N steps
    int64_t sample_prompts = 4;
    int64_t save_every = 20;
};
GrpoOptions default_grpo_options();
// The problems of step `step` (0-based), a pure function of the options and the step: training
// problems of the task, or draws from `problems` when it is not empty.
std::vector<Problem> step_problems(const GrpoOptions& options, int64_t step);
nlohmann::json grpo_options_to_json(const GrpoOptions& options);
GrpoOptions grpo_options_from_json(const nlohmann::json& json, const std::string& source);

// One completion as logged.
struct Completion {
    std::string text;
    std::vector<int32_t> tokens;
    double reward = 0, advantage = 0;
    Verdict verdict;
};

struct GrpoStepMetrics {
    int64_t step = 0;
    double reward_mean = 0, reward_std = 0;
    double accuracy = 0, format_rate = 0, think_rate = 0, check_rate = 0, retry_rate = 0;
    double mean_length = 0, length_correct = 0, length_wrong = 0;  // in tokens; NaN when no such completion
    double kl = 0, clip_fraction = 0, entropy = 0;
    double equal_reward_groups = 0;  // share of groups whose G rewards were all equal (no signal)
    double lr = 0, seconds = 0;
};
nlohmann::json grpo_step_to_json(const GrpoStepMetrics& metrics);

struct GrpoRun {
    ModelConfig config;
    GrpoOptions options;
    ModelWeights policy, reference;
    AdamWState optimizer;
    bool resumed = false;             // from resume_grpo: grpo_train continues that folder's run
    CommittedCheckpoint resumed_from;  // ... from this checkpoint
};
// Starts from the base model in `model_dir` (policy and reference both), or resumes the run
// committed in `out_dir` (its options, policy, reference and optimizer), refusing, with the files
// named, a checkpoint whose parts disagree on the step or the run, or that a `seek train` wrote.
GrpoRun start_grpo(const std::string& model_dir, const GrpoOptions& options);
GrpoRun resume_grpo(const std::string& out_dir);
std::string grpo_run_id(const GrpoRun& run);  // run_folder.h: its options and model config

struct GrpoCallbacks {
    std::function<void(const GrpoStepMetrics&)> on_step;
    std::function<void(int64_t done, int64_t total)> on_rollout;  // completions sampled so far this step
    const std::atomic<bool>* stop = nullptr;
};
// Runs the remaining steps, appending to out_dir/grpo.jsonl ("kind":"step" lines, and
// "kind":"samples" lines at step 0 and every sample_every steps), committing a checkpoint (policy,
// optimizer and the reference, run_folder.h) at step 0, every save_every steps and at the end. A
// fresh run refuses an out_dir that holds a run or a model (its own --model included); a resumed
// run cuts the log back to its checkpoint first. Returns false if stopped.
bool grpo_train(GrpoRun& run, const std::string& out_dir, const GrpoCallbacks& callbacks = {});

// ---------------------------------------------------------------------------------------------
// Evaluation

struct EvalReport {
    int64_t problems = 0;
    double accuracy = 0, format_rate = 0, think_rate = 0, check_rate = 0, retry_rate = 0;
    double mean_length = 0;  // tokens
};
// The first n held-out problems of `task` for `seed`.
std::vector<Problem> heldout_problems(const TaskSpec& task, int64_t n, uint64_t seed);

// One completion of each problem at `temperature` (0 = greedy), sampled with Rng(seed).
EvalReport evaluate(const ModelConfig& config, const ModelWeights& weights, const std::vector<Problem>& problems,
                    float temperature, uint64_t seed, int64_t max_new_tokens,
                    const std::function<void(int64_t done)>& on_progress = {});

}  // namespace seek
