#include "grpo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "analytics.h"
#include "generate.h"
#include "parallel.h"
#include "softmax.h"
#include "safetensors.h"
#include "tokenizer.h"

namespace seek {

const char* aggregation_name(LossAggregation aggregation) {
    switch (aggregation) {
        case LossAggregation::Sequence: return "grpo";
        case LossAggregation::Token: return "dapo";
        case LossAggregation::Constant: return "dr-grpo";
    }
    return "?";
}

LossAggregation aggregation_from_name(const std::string& name) {
    if (name == "grpo") return LossAggregation::Sequence;
    if (name == "dapo") return LossAggregation::Token;
    if (name == "dr-grpo") return LossAggregation::Constant;
    throw std::invalid_argument("loss aggregation must be grpo, dapo or dr-grpo, got '" + name + "'");
}

std::vector<double> group_advantages(const std::vector<double>& rewards, bool scale_by_std, double eps) {
    const double n = static_cast<double>(rewards.size());
    double mean = 0;
    for (double r : rewards) mean += r / n;
    double variance = 0;
    for (double r : rewards) variance += (r - mean) * (r - mean) / std::max(n - 1, 1.0);
    std::vector<double> advantages;
    for (double r : rewards) advantages.push_back(scale_by_std ? (r - mean) / (std::sqrt(variance) + eps) : r - mean);
    return advantages;
}

double k3_kl(double logp, double ref_logp) {
    const double log_ratio = ref_logp - logp;  // log(π_ref / π_θ)
    return std::exp(log_ratio) - log_ratio - 1;
}

TokenObjective token_objective(double logp, double old_logp, double ref_logp, double advantage,
                               const GrpoLossOptions& o) {
    const double ratio = std::exp(logp - old_logp);
    const double clipped_ratio = std::clamp(ratio, 1 - o.clip_low, 1 + o.clip_high);
    TokenObjective token;
    // min(ρA, clip(ρ)A): with A > 0 the clip binds above 1 + ε_high, with A < 0 below 1 - ε_low
    token.clipped = clipped_ratio * advantage < ratio * advantage;
    const double surrogate = token.clipped ? clipped_ratio * advantage : ratio * advantage;
    const double dsurrogate = token.clipped ? 0.0 : ratio * advantage;  // dρ/dlogp = ρ
    token.value = surrogate - o.beta * k3_kl(logp, ref_logp);
    token.dlogp = dsurrogate - o.beta * (1 - std::exp(ref_logp - logp));
    return token;
}

std::vector<double> target_logprobs(const Mat& logits, const Batch& batch) {
    std::vector<double> logp(batch.targets.size(), 0.0);
    for (size_t t = 0; t < batch.targets.size(); ++t)
        if (batch.targets[t] != kIgnoreTarget) logp[t] = logits(t, batch.targets[t]) - log_sum_exp(&logits(t, 0), logits.cols());
    return logp;
}

template <typename S>
GrpoLossReport grpo_loss(MatOf<S>& dlogits, const MatOf<S>& logits, const Batch& batch,
                         const std::vector<double>& old_logp, const std::vector<double>& ref_logp,
                         const std::vector<double>& advantages, const GrpoLossOptions& o) {
    const size_t sequences = batch.offsets.size() - 1;
    if (advantages.size() != sequences || old_logp.size() != batch.targets.size() || ref_logp.size() != batch.targets.size())
        throw std::invalid_argument("grpo_loss: one advantage per sequence and one old/ref log-prob per row needed");
    std::vector<int64_t> lengths(sequences, 0);
    int64_t total_tokens = 0;
    for (size_t s = 0; s < sequences; ++s) {
        for (int64_t t = batch.offsets[s]; t < batch.offsets[s + 1]; ++t) lengths[s] += batch.targets[t] != kIgnoreTarget;
        total_tokens += lengths[s];
    }
    GrpoLossReport report;
    int64_t clipped = 0;
    for (size_t s = 0; s < sequences; ++s) {
        if (lengths[s] == 0) continue;
        // The weight of one token of sequence s in the aggregate (loss = -Σ weight · J).
        double weight = 0;
        switch (o.aggregation) {
            case LossAggregation::Sequence: weight = 1.0 / (double(sequences) * lengths[s]); break;
            case LossAggregation::Token: weight = 1.0 / double(total_tokens); break;
            case LossAggregation::Constant: weight = 1.0 / (double(sequences) * double(std::max<int64_t>(o.max_new_tokens, 1))); break;
        }
        for (int64_t t = batch.offsets[s]; t < batch.offsets[s + 1]; ++t) {
            const int32_t target = batch.targets[t];
            if (target == kIgnoreTarget) continue;
            const double lse = log_sum_exp(&logits(t, 0), logits.cols());
            const double logp = logits(t, target) - lse;
            const TokenObjective token = token_objective(logp, old_logp[t], ref_logp[t], advantages[s], o);
            report.loss -= weight * token.value;
            report.kl += k3_kl(logp, ref_logp[t]);
            clipped += token.clipped;
            // dlogp/dlogits = onehot(target) - softmax; the loss carries -weight · dJ/dlogp
            const double scale = -weight * token.dlogp;
            double entropy = 0;
            for_each_exp(&logits(t, 0), logits.cols(), lse, [&](int64_t v, double q) {
                const double logq = logits(t, v) - lse;
                entropy -= q * logq;
                dlogits(t, v) += static_cast<S>(scale * ((v == target ? 1.0 : 0.0) - q));
            });
            report.entropy += entropy;
        }
    }
    report.tokens = total_tokens;
    if (total_tokens > 0) {
        report.kl /= total_tokens;
        report.entropy /= total_tokens;
        report.clip_fraction = double(clipped) / total_tokens;
    }
    return report;
}

template GrpoLossReport grpo_loss(MatOf<float>&, const MatOf<float>&, const Batch&, const std::vector<double>&,
                                  const std::vector<double>&, const std::vector<double>&, const GrpoLossOptions&);
template GrpoLossReport grpo_loss(MatOf<double>&, const MatOf<double>&, const Batch&, const std::vector<double>&,
                                  const std::vector<double>&, const std::vector<double>&, const GrpoLossOptions&);

// ---------------------------------------------------------------------------------------------
// Options and logs

GrpoOptions default_grpo_options() {
    GrpoOptions o;
    o.adamw.lr = 1e-4;
    o.adamw.weight_decay = 0.0;  // a fine-tune of a few dozen steps: no decay toward zero
    return o;
}

static std::vector<std::string> problem_texts(const std::vector<Problem>& problems) {
    std::vector<std::string> texts;
    for (const Problem& p : problems) texts.push_back(p.question.substr(0, p.question.size() - 1));  // without '='
    return texts;
}

nlohmann::json grpo_options_to_json(const GrpoOptions& o) {
    return {{"task", o.task},
            {"steps", o.steps},
            {"prompts", o.prompts},
            {"group", o.group},
            {"inner_updates", o.inner_updates},
            {"seed", o.seed},
            {"temperature", o.temperature},
            {"max_new_tokens", o.max_new_tokens},
            {"scale_by_std", o.scale_by_std},
            {"format_reward", o.format_reward},
            {"clip_low", o.loss.clip_low},
            {"clip_high", o.loss.clip_high},
            {"beta", o.loss.beta},
            {"aggregation", aggregation_name(o.loss.aggregation)},
            {"lr", o.adamw.lr},
            {"weight_decay", o.adamw.weight_decay},
            {"clip", o.adamw.clip},
            {"sample_every", o.sample_every},
            {"sample_prompts", o.sample_prompts},
            {"save_every", o.save_every},
            {"problems", problem_texts(o.problems)}};
}

GrpoOptions grpo_options_from_json(const nlohmann::json& json, const std::string& source) {
    GrpoOptions o = default_grpo_options();
    try {
        o.task = json.at("task").get<std::string>();
        o.steps = stored_integer(json, "steps");
        o.prompts = stored_integer(json, "prompts");
        o.group = stored_integer(json, "group");
        o.inner_updates = stored_integer(json, "inner_updates");
        o.seed = stored_unsigned(json, "seed");
        o.temperature = stored_float(json, "temperature");
        o.max_new_tokens = stored_integer(json, "max_new_tokens");
        o.scale_by_std = json.at("scale_by_std").get<bool>();
        o.format_reward = json.contains("format_reward") ? stored_number(json, "format_reward")
                                                      : kFormatReward;  // runs saved before the option: 0.1
        o.loss.clip_low = stored_number(json, "clip_low");
        o.loss.clip_high = stored_number(json, "clip_high");
        o.loss.beta = stored_number(json, "beta");
        o.loss.aggregation = aggregation_from_name(json.at("aggregation").get<std::string>());
        o.adamw.lr = stored_number(json, "lr");
        o.adamw.weight_decay = stored_number(json, "weight_decay");
        o.adamw.clip = stored_number(json, "clip");
        o.sample_every = stored_integer(json, "sample_every");
        o.sample_prompts = stored_integer(json, "sample_prompts");
        o.save_every = stored_integer(json, "save_every");
        for (const std::string& text : json.value("problems", std::vector<std::string>{})) o.problems.push_back(parse_problem(text));
    } catch (const std::exception& error) {
        throw std::runtime_error(source + ": GRPO options: " + error.what());
    }
    o.loss.max_new_tokens = o.max_new_tokens;
    return o;
}

nlohmann::json grpo_step_to_json(const GrpoStepMetrics& m) {
    return {{"kind", "step"},
            {"step", m.step},
            {"reward_mean", m.reward_mean},
            {"reward_std", m.reward_std},
            {"accuracy", m.accuracy},
            {"format_rate", m.format_rate},
            {"think_rate", m.think_rate},
            {"check_rate", m.check_rate},
            {"retry_rate", m.retry_rate},
            {"mean_length", m.mean_length},
            {"length_correct", m.length_correct},
            {"length_wrong", m.length_wrong},
            {"kl", m.kl},
            {"clip_fraction", m.clip_fraction},
            {"entropy", m.entropy},
            {"equal_reward_groups", m.equal_reward_groups},
            {"lr", m.lr},
            {"seconds", m.seconds}};
}

static void check_grpo_options(const GrpoOptions& o) {
    auto require = [](bool ok, const std::string& what) {
        if (!ok) throw std::invalid_argument("GRPO options: " + what);
    };
    validate_task(task_from_name(o.task));
    require(o.steps >= 1 && o.prompts >= 1 && o.group >= 2 && o.inner_updates >= 1,
            "steps, prompts and inner_updates must be >= 1 and group >= 2");
    // Bounds that keep step x prompts (problem indices) and steps x inner_updates far inside int64.
    require(o.steps <= 1000000000 && o.prompts <= 1000000 && o.group <= 1000000 && o.inner_updates <= 1000 &&
                o.max_new_tokens <= 1000000 && o.sample_prompts <= 1000000 && o.sample_every <= 1000000000 &&
                o.save_every <= 1000000000,
            "steps, sample_every, save_every <= 10^9; prompts, group, max_new_tokens, sample_prompts <= 10^6; "
            "inner_updates <= 1000");
    for (double value : {o.loss.clip_low, o.loss.clip_high, o.loss.beta, o.adamw.lr, o.adamw.weight_decay, o.adamw.clip})
        require(std::isfinite(value), "clip_low, clip_high, beta, lr, weight_decay and clip must be finite");
    require(std::isfinite(o.temperature) && o.temperature > 0, "temperature must be > 0 (rollouts sample)");
    require(o.max_new_tokens >= 1, "max_new_tokens must be >= 1");
    require(o.loss.clip_low >= 0 && o.loss.clip_low < 1 && o.loss.clip_high >= 0, "need 0 <= clip_low < 1, clip_high >= 0");
    require(o.loss.beta >= 0, "beta must be >= 0");
    require(std::isfinite(o.format_reward) && o.format_reward >= 0, "format_reward must be >= 0");
    require(o.adamw.lr > 0, "lr must be > 0");
    require(o.sample_every >= 0 && o.sample_prompts >= 0 && o.save_every >= 1,
            "sample_every, sample_prompts >= 0 and save_every >= 1");
}

// ---------------------------------------------------------------------------------------------
// Runs: out_dir is a run folder (run_folder.h) whose checkpoints hold the policy (config.json +
// model.safetensors), reference/ (the frozen start), optimizer.safetensors (AdamW + options +
// step + run); grpo.jsonl is its log.

static std::string optimizer_path(const std::string& dir) { return dir + "/optimizer.safetensors"; }
static std::string reference_dir(const std::string& dir) { return dir + "/reference"; }

std::string grpo_run_id(const GrpoRun& run) { return run_id(RunKind::Grpo, grpo_options_to_json(run.options), run.config); }

GrpoRun start_grpo(const std::string& model_dir, const GrpoOptions& options) {
    GrpoRun run;
    run.options = options;
    run.options.loss.max_new_tokens = options.max_new_tokens;
    check_grpo_options(run.options);
    run.policy = load_model(model_dir, run.config);
    // The policy, the reference, the gradients and the two AdamW moments, FP32.
    check_model_fits_in_memory(run.config, 5 * sizeof(float), "GRPO");
    run.reference = run.policy;
    run.optimizer = make_adamw_state(run.policy);
    return run;
}

GrpoRun resume_grpo(const std::string& out_dir) {
    GrpoRun run;
    run.resumed_from = open_committed_checkpoint(out_dir, RunKind::Grpo);  // every part as recorded
    run.resumed = true;
    const std::string parts = run.resumed_from.directory, optimizer = optimizer_path(parts);
    run.policy = load_model(parts, run.config);
    ModelConfig reference_config;
    run.reference = load_model(reference_dir(parts), reference_config);
    if (config_to_json(reference_config) != config_to_json(run.config))
        throw std::runtime_error(reference_dir(parts) + "/config.json is not " + parts + "/config.json: the parts disagree");
    std::map<std::string, std::string> metadata;
    run.optimizer = load_adamw_state(optimizer, run.policy, &metadata);
    const auto options = metadata.find("grpo_options");
    if (options == metadata.end()) throw std::runtime_error(optimizer + ": no 'grpo_options' in the metadata");
    try {
        run.options = grpo_options_from_json(nlohmann::json::parse(options->second), optimizer);
    } catch (const nlohmann::json::exception& error) {
        throw std::runtime_error(optimizer + ": grpo_options is not JSON: " + error.what());
    }
    try {
        check_grpo_options(run.options);
    } catch (const std::invalid_argument& error) {
        throw std::runtime_error(optimizer + ": " + error.what());
    }
    const int64_t step = run.resumed_from.manifest.step;
    if (step > run.options.steps)
        throw std::runtime_error(optimizer + ": step " + std::to_string(step) + " is past the run's " +
                                 std::to_string(run.options.steps) + " steps");
    // The optimizer counts updates: inner_updates per step.
    check_part_agrees(run.resumed_from, "optimizer.safetensors", metadata.count("run") ? metadata.at("run") : "",
                      run.optimizer.step, step * run.options.inner_updates);
    // The options and the config recompute the run's id: a config.json of another run does not.
    if (grpo_run_id(run) != run.resumed_from.manifest.run)
        throw std::runtime_error(parts + "/config.json and the options in " + optimizer +
                                 " are not those of the run the manifest names: the parts come from different runs");
    return run;
}

// One checkpoint: the policy, the optimizer and the reference, committed together.
static void save_grpo(RunFolder& folder, GrpoRun& run) {
    folder.commit(run.optimizer.step / run.options.inner_updates, [&](const std::string& directory) {
        save_model(reference_dir(directory), run.config, run.reference);
        save_model(directory, run.config, run.policy);
        save_adamw_state(optimizer_path(directory), run.optimizer,
                         {{"grpo_options", grpo_options_to_json(run.options).dump()}, {"run", grpo_run_id(run)}});
    });
}

// ---------------------------------------------------------------------------------------------
// Rollouts

// A deterministic rng per (seed, step, prompt, completion): a resumed run samples what the
// uninterrupted one did. One stream per completion, not one per group drawn by its completions in
// turn, so that a group's completions can decode side by side (generate_batch): completion g's
// draws would otherwise start where completion g - 1's ended, which is not known until it ends.
static Rng rollout_rng(uint64_t seed, int64_t step, int64_t prompt, int64_t completion) {
    const uint64_t group = splitmix64(seed ^ splitmix64(static_cast<uint64_t>(step) * 1000003u + static_cast<uint64_t>(prompt)));
    return Rng(splitmix64(group + static_cast<uint64_t>(completion)));
}

struct Rollouts {
    std::vector<Problem> problems;           // one per group
    std::vector<Completion> completions;     // group after group
    Batch batch;                             // prompt + completion per completion; targets = completion
};

static Completion judge(const Problem& problem, std::vector<int32_t> tokens, double format_weight = kFormatReward) {
    Completion c;
    c.tokens = std::move(tokens);
    c.text = decode_tokens(c.tokens);
    c.verdict = verify_completion(problem, c.text);
    c.reward = accuracy_reward(c.verdict) + format_reward(c.verdict, format_weight);
    return c;
}

static Rollouts sample_groups(const GrpoRun& run, const std::vector<Problem>& problems, int64_t step,
                              const GrpoCallbacks& callbacks) {
    const GrpoOptions& o = run.options;
    GenerateOptions generation;
    generation.sampling.temperature = o.temperature;
    generation.max_new_tokens = o.max_new_tokens;
    // Every completion of every group decodes side by side, group after group in the batch.
    std::vector<std::vector<int32_t>> prompts;
    std::vector<Rng> rngs;
    for (size_t p = 0; p < problems.size(); ++p) {
        const std::vector<int32_t> prompt = encode_text(prompt_text(problems[p]));
        for (int64_t g = 0; g < o.group; ++g) {
            prompts.push_back(prompt);
            rngs.push_back(rollout_rng(o.seed, step, static_cast<int64_t>(p), g));
        }
    }
    const int64_t total = static_cast<int64_t>(prompts.size());
    const std::vector<Generation> samples = generate_batch(run.config, run.policy, prompts, generation, rngs, [&](int64_t done) {
        if (callbacks.on_rollout) callbacks.on_rollout(done, total);
    });

    Rollouts rollouts;
    rollouts.problems = problems;
    rollouts.batch.offsets.push_back(0);
    for (size_t p = 0; p < problems.size(); ++p) {
        std::vector<double> rewards;
        for (int64_t g = 0; g < o.group; ++g) {
            const size_t i = p * o.group + g;
            rollouts.completions.push_back(judge(problems[p], samples[i].tokens, o.format_reward));
            rewards.push_back(rollouts.completions.back().reward);
            // the sequence prompt + completion; position t predicts t + 1, completions only
            std::vector<int32_t> tokens = prompts[i];
            tokens.insert(tokens.end(), samples[i].tokens.begin(), samples[i].tokens.end());
            for (size_t t = 0; t < tokens.size(); ++t) {
                rollouts.batch.tokens.push_back(tokens[t]);
                rollouts.batch.targets.push_back(t + 1 < tokens.size() && t + 1 >= prompts[i].size() ? tokens[t + 1] : kIgnoreTarget);
            }
            rollouts.batch.offsets.push_back(static_cast<int64_t>(rollouts.batch.tokens.size()));
        }
        const std::vector<double> advantages = group_advantages(rewards, o.scale_by_std);
        for (int64_t g = 0; g < o.group; ++g) rollouts.completions[p * o.group + g].advantage = advantages[g];
    }
    return rollouts;
}

std::vector<Problem> step_problems(const GrpoOptions& o, int64_t step) {
    const TaskSpec task = task_from_name(o.task);
    std::vector<Problem> problems;
    for (int64_t i = 0; i < o.prompts; ++i) {
        const uint64_t index = static_cast<uint64_t>(step * o.prompts + i);
        if (o.problems.empty()) {
            problems.push_back(make_problem(task, o.seed, index, Split::Train));
        } else {  // a pure function of (seed, index), like the generated ones, so a resumed run draws the same
            const uint64_t draw = splitmix64(splitmix64(o.seed) ^ splitmix64(index));
            problems.push_back(o.problems[draw % o.problems.size()]);
        }
    }
    return problems;
}

// The fixed prompts whose groups the log shows over time: the first held-out problems.
static std::vector<Problem> sample_problems(const GrpoOptions& o) {
    return heldout_problems(task_from_name(o.task), o.sample_prompts, o.seed);
}

static nlohmann::json samples_json(int64_t step, const Rollouts& rollouts, int64_t group) {
    nlohmann::json prompts = nlohmann::json::array();
    for (size_t p = 0; p < rollouts.problems.size(); ++p) {
        nlohmann::json completions = nlohmann::json::array();
        for (int64_t g = 0; g < group; ++g) {
            const Completion& c = rollouts.completions[p * group + g];
            completions.push_back({{"text", c.text},
                                   {"reward", c.reward},
                                   {"advantage", c.advantage},
                                   {"correct", c.verdict.correct},
                                   {"well_formed", c.verdict.well_formed},
                                   {"length", c.tokens.size()}});
        }
        prompts.push_back({{"question", rollouts.problems[p].question},
                           {"answer", rollouts.problems[p].answer},
                           {"completions", completions}});
    }
    return {{"kind", "samples"}, {"step", step}, {"prompts", prompts}};
}

static void rollout_metrics(const Rollouts& rollouts, int64_t group, GrpoStepMetrics& m) {
    const double n = static_cast<double>(rollouts.completions.size());
    double correct = 0, correct_length = 0, wrong_length = 0, square = 0;
    for (const Completion& c : rollouts.completions) {
        const double length = static_cast<double>(c.tokens.size());
        m.reward_mean += c.reward / n;
        square += c.reward * c.reward / n;
        m.format_rate += c.verdict.well_formed / n;
        m.think_rate += c.verdict.has_think / n;
        m.check_rate += c.verdict.checked / n;
        m.retry_rate += c.verdict.retried / n;
        m.mean_length += length / n;
        correct += c.verdict.correct;
        (c.verdict.correct ? correct_length : wrong_length) += length;
    }
    m.accuracy = correct / n;
    m.reward_std = std::sqrt(std::max(0.0, square - m.reward_mean * m.reward_mean));
    // NaN (null in the log) when there is nothing to average: a gap in a plot, not a false 0
    m.length_correct = correct > 0 ? correct_length / correct : std::nan("");
    m.length_wrong = correct < n ? wrong_length / (n - correct) : std::nan("");
    const size_t groups = rollouts.completions.size() / group;
    for (size_t p = 0; p < groups; ++p) {
        bool equal = true;
        for (int64_t g = 1; g < group; ++g)
            equal = equal && rollouts.completions[p * group + g].reward == rollouts.completions[p * group].reward;
        m.equal_reward_groups += equal / double(groups);
    }
}

bool grpo_train(GrpoRun& run, const std::string& out_dir, const GrpoCallbacks& callbacks) {
    const GrpoOptions& o = run.options;
    RunFolder folder(out_dir, RunKind::Grpo, grpo_run_id(run), run.resumed ? &run.resumed_from : nullptr);
    if (!run.resumed) save_grpo(folder, run);  // the reference, and a run that can resume from step 0
    const std::vector<Problem> fixed = sample_problems(o);
    auto log_samples = [&](int64_t step) {
        if (fixed.empty()) return;
        const Rollouts samples = sample_groups(run, fixed, -1 - step, {});
        folder.append_log(samples_json(step, samples, o.group).dump());
    };
    // The step-0 checkpoint comes before the step-0 samples: a run resumed there cut them off.
    if (run.optimizer.step == 0) log_samples(0);

    ModelWeights grads = zeros_like(run.policy);
    std::vector<Parameter> grad_list = model_parameters(grads);
    const TrainingLoss no_extra_losses{0.0, 0.0};
    const LinearPrecision fp32;
    while (run.optimizer.step / o.inner_updates < o.steps) {
        const auto start = std::chrono::steady_clock::now();
        const int64_t step = run.optimizer.step / o.inner_updates;
        GrpoStepMetrics metrics;
        const Rollouts rollouts = sample_groups(run, step_problems(o, step), step, callbacks);
        rollout_metrics(rollouts, o.group, metrics);
        std::vector<double> advantages;
        for (const Completion& c : rollouts.completions) advantages.push_back(c.advantage);

        // The reference's and the policy's forward passes are independent: with two threads each
        // runs on its own (their ops then stay on that thread), the same bytes as one after the other.
        ModelActivations act;  // the policy's, for the backward
        std::vector<double> ref_logp;
        const double forward_work = 2.0 * static_cast<double>(count_parameters(run.config).activated_matmul()) *
                                    static_cast<double>(rollouts.batch.tokens.size());
        parallel_for(2, worth_threads(forward_work), [&](int64_t which) {
            if (which == 1) {
                model_forward(run.config, run.policy, rollouts.batch, fp32, no_extra_losses, act);
                return;
            }
            ModelActivations reference_act;  // only its log-probabilities are kept
            model_forward(run.config, run.reference, rollouts.batch, fp32, no_extra_losses, reference_act);
            ref_logp = target_logprobs(reference_act.logits, rollouts.batch);
        });
        const std::vector<double> old_logp = target_logprobs(act.logits, rollouts.batch);

        for (int64_t update = 0; update < o.inner_updates; ++update) {
            if (update > 0) model_forward(run.config, run.policy, rollouts.batch, fp32, no_extra_losses, act);
            for (Parameter& p : grad_list) std::fill_n(p.values, shape_numel(p.shape), 0.0f);
            Mat dlogits = Mat::Zero(act.logits.rows(), act.logits.cols());
            const GrpoLossReport report = grpo_loss(dlogits, act.logits, rollouts.batch, old_logp, ref_logp, advantages, o.loss);
            if (update == 0) {
                metrics.kl = report.kl;
                metrics.entropy = report.entropy;
            }
            metrics.clip_fraction += report.clip_fraction / double(o.inner_updates);
            model_backward_from_logits(grads, run.config, run.policy, rollouts.batch, fp32, no_extra_losses, act, dlogits);
            adamw_step(run.policy, grads, run.optimizer, o.adamw, o.adamw.lr);
        }
        metrics.step = step + 1;
        metrics.lr = o.adamw.lr;
        metrics.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        folder.append_log(grpo_step_to_json(metrics).dump());
        if (o.sample_every > 0 && metrics.step % o.sample_every == 0) log_samples(metrics.step);
        if (callbacks.on_step) callbacks.on_step(metrics);

        const bool last = metrics.step == o.steps;
        const bool stopping = callbacks.stop && callbacks.stop->load();
        if (metrics.step % o.save_every == 0 || last || stopping) save_grpo(folder, run);
        if (stopping && !last) return false;
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

std::vector<Problem> heldout_problems(const TaskSpec& task, int64_t n, uint64_t seed) {
    std::vector<Problem> problems;
    for (int64_t i = 0; i < n; ++i) problems.push_back(make_problem(task, seed, static_cast<uint64_t>(i), Split::Heldout));
    return problems;
}

EvalReport evaluate(const ModelConfig& config, const ModelWeights& weights, const std::vector<Problem>& problems,
                    float temperature, uint64_t seed, int64_t max_new_tokens,
                    const std::function<void(int64_t)>& on_progress) {
    GenerateOptions generation;
    generation.sampling.temperature = temperature;
    generation.max_new_tokens = max_new_tokens;
    EvalReport report;
    const int64_t n = static_cast<int64_t>(problems.size());
    report.problems = n;
    // One rng per problem (problem i's completion does not depend on the others'), all decoded side by side.
    std::vector<std::vector<int32_t>> prompts;
    std::vector<Rng> rngs;
    for (int64_t i = 0; i < n; ++i) {
        prompts.push_back(encode_text(prompt_text(problems[i])));
        rngs.push_back(Rng(splitmix64(splitmix64(seed) + static_cast<uint64_t>(i))));
    }
    const std::vector<Generation> samples = generate_batch(config, weights, prompts, generation, rngs, on_progress);
    for (int64_t i = 0; i < n; ++i) {
        const Completion c = judge(problems[i], samples[i].tokens);
        report.accuracy += c.verdict.correct / double(n);
        report.format_rate += c.verdict.well_formed / double(n);
        report.think_rate += c.verdict.has_think / double(n);
        report.check_rate += c.verdict.checked / double(n);
        report.retry_rate += c.verdict.retried / double(n);
        report.mean_length += double(c.tokens.size()) / double(n);
    }
    return report;
}

}  // namespace seek
