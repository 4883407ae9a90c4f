#include "train.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <nlohmann/json.hpp>
#include <stdexcept>

#include "gate.h"
#include "safetensors.h"
#include "tokenizer.h"

namespace seek {

nlohmann::json train_options_to_json(const TrainOptions& o) {
    return {{"task", o.task},
            {"mix", {{"direct", o.mix.direct}, {"traced", o.mix.traced}, {"checked", o.mix.checked}, {"retry", o.mix.retry}}},
            {"steps", o.steps},
            {"batch", o.batch},
            {"seed", o.seed},
            {"lr", o.adamw.lr},
            {"min_lr", o.min_lr},
            {"warmup", o.warmup},
            {"beta1", o.adamw.beta1},
            {"beta2", o.adamw.beta2},
            {"eps", o.adamw.eps},
            {"weight_decay", o.adamw.weight_decay},
            {"clip", o.adamw.clip},
            {"mtp_weight", o.loss.mtp_weight},
            {"balance_alpha", o.loss.balance_alpha},
            {"bias_gamma", o.bias_gamma},
            {"precision", gemm_precision_name(o.precision.gemm)},
            {"fp8_accumulation", o.precision.accumulation.mode == AccumulationMode::TensorCore ? "tensor-core" : "exact"},
            {"eval_every", o.eval_every},
            {"eval_examples", o.eval_examples},
            {"save_every", o.save_every}};
}

TrainOptions train_options_from_json(const nlohmann::json& json, const std::string& source) {
    TrainOptions o;
    try {
        o.task = json.at("task").get<std::string>();
        const nlohmann::json& mix = json.at("mix");
        o.mix = {stored_number(mix, "direct"), stored_number(mix, "traced"), stored_number(mix, "checked"),
                 stored_number(mix, "retry")};
        o.steps = stored_integer(json, "steps");
        o.batch = stored_integer(json, "batch");
        o.seed = stored_unsigned(json, "seed");
        o.adamw.lr = stored_number(json, "lr");
        o.min_lr = stored_number(json, "min_lr");
        o.warmup = stored_integer(json, "warmup");
        o.adamw.beta1 = stored_number(json, "beta1");
        o.adamw.beta2 = stored_number(json, "beta2");
        o.adamw.eps = stored_number(json, "eps");
        o.adamw.weight_decay = stored_number(json, "weight_decay");
        o.adamw.clip = stored_number(json, "clip");
        o.loss.mtp_weight = stored_number(json, "mtp_weight");
        o.loss.balance_alpha = stored_number(json, "balance_alpha");
        o.bias_gamma = stored_number(json, "bias_gamma");
        o.precision.gemm = gemm_precision_from_name(json.at("precision").get<std::string>());
        const std::string accumulation = json.at("fp8_accumulation").get<std::string>();
        if (accumulation != "exact" && accumulation != "tensor-core")
            throw std::invalid_argument("fp8_accumulation must be exact or tensor-core, got '" + accumulation + "'");
        o.precision.accumulation.mode = accumulation == "exact" ? AccumulationMode::Exact : AccumulationMode::TensorCore;
        o.eval_every = stored_integer(json, "eval_every");
        o.eval_examples = stored_integer(json, "eval_examples");
        o.save_every = stored_integer(json, "save_every");
    } catch (const std::exception& error) {
        throw std::runtime_error(source + ": training options: " + error.what());
    }
    return o;
}

nlohmann::json step_metrics_to_json(const StepMetrics& m) {
    nlohmann::json json = {{"step", m.step},
                           {"loss", m.loss.total},
                           {"main_loss", m.loss.main},
                           {"mtp_loss", m.loss.mtp},
                           {"balance_loss", m.loss.balance},
                           {"lr", m.lr},
                           {"grad_norm", m.grad_norm},
                           {"tokens", m.tokens},
                           {"seconds", m.seconds},
                           {"tokens_per_s", m.seconds > 0 ? m.tokens / m.seconds : 0.0},
                           {"max_violation", m.max_violation},
                           {"bias_min", m.bias_min},
                           {"bias_max", m.bias_max}};
    if (m.evaluated) json["heldout_loss"] = m.heldout_loss;
    return json;
}

Batch corpus_batch(const TaskSpec& task, const CorpusMix& mix, uint64_t seed, int64_t first, int64_t count,
                   Split split) {
    Batch batch;
    batch.offsets.push_back(0);
    for (int64_t i = first; i < first + count; ++i) {
        const TrainingExample example = make_training_example(task, mix, seed, static_cast<uint64_t>(i), split);
        const std::vector<int32_t> tokens = encode_text(example.text);
        const size_t completion = encode_text(example.text.substr(0, example.completion_start)).size();
        // Position t predicts token t+1; only completion tokens count.
        for (size_t t = 0; t < tokens.size(); ++t) {
            batch.tokens.push_back(tokens[t]);
            batch.targets.push_back(t + 1 < tokens.size() && t + 1 >= completion ? tokens[t + 1] : kIgnoreTarget);
        }
        batch.offsets.push_back(static_cast<int64_t>(batch.tokens.size()));
    }
    return batch;
}

static void check_options(const TrainOptions& o) {
    auto require = [](bool ok, const std::string& what) {
        if (!ok) throw std::invalid_argument("training options: " + what);
    };
    validate_task(task_from_name(o.task));
    // Bounds that keep step x batch (the corpus index) and every count far inside int64.
    require(o.steps >= 1 && o.steps <= 1000000000, "steps must be in [1, 10^9]");
    require(o.batch >= 1 && o.batch <= 1000000, "batch must be in [1, 10^6]");
    require(o.warmup <= 1000000000 && o.eval_every <= 1000000000 && o.save_every <= 1000000000 &&
                o.eval_examples <= 10000000,
            "warmup, eval_every and save_every must be <= 10^9, eval_examples <= 10^7");
    for (double value : {o.adamw.lr, o.min_lr, o.adamw.beta1, o.adamw.beta2, o.adamw.eps, o.adamw.weight_decay,
                         o.adamw.clip, o.loss.mtp_weight, o.loss.balance_alpha, o.bias_gamma})
        require(std::isfinite(value), "lr, min_lr, betas, eps, weight_decay, clip, mtp_weight, balance_alpha and "
                                      "bias_gamma must be finite");
    require(o.adamw.lr > 0 && o.min_lr >= 0 && o.min_lr <= o.adamw.lr, "need 0 <= min_lr <= lr and lr > 0");
    require(o.warmup >= 0, "warmup must be >= 0");
    require(o.adamw.beta1 >= 0 && o.adamw.beta1 < 1 && o.adamw.beta2 >= 0 && o.adamw.beta2 < 1, "betas must be in [0, 1)");
    require(o.loss.mtp_weight >= 0 && o.loss.balance_alpha >= 0 && o.bias_gamma >= 0,
            "mtp_weight, balance_alpha and bias_gamma must be >= 0");
    require(o.eval_every >= 0 && o.eval_examples >= 1 && o.save_every >= 1,
            "eval_every >= 0, eval_examples >= 1 and save_every >= 1");
}

TrainRun start_run(const ModelConfig& config, const TrainOptions& options) {
    check_options(options);
    // Weights, gradients and the two AdamW moments, FP32.
    check_model_fits_in_memory(config, 4 * sizeof(float), "training");
    TrainRun run;
    run.config = config;
    run.options = options;
    run.weights = init_model_weights(config, options.seed);
    run.optimizer = make_adamw_state(run.weights);
    return run;
}

static std::string optimizer_path(const std::string& directory) { return directory + "/optimizer.safetensors"; }

std::string train_run_id(const TrainRun& run) {
    return run_id(RunKind::Train, train_options_to_json(run.options), run.config);
}

TrainRun resume_run(const std::string& directory) {
    TrainRun run;
    run.resumed_from = open_committed_checkpoint(directory, RunKind::Train);  // every part as recorded
    run.resumed = true;
    const std::string parts = run.resumed_from.directory, optimizer = optimizer_path(parts);
    run.weights = load_model(parts, run.config);
    std::map<std::string, std::string> metadata;
    run.optimizer = load_adamw_state(optimizer, run.weights, &metadata);
    const auto options = metadata.find("train_options");
    if (options == metadata.end()) throw std::runtime_error(optimizer + ": no 'train_options' in the metadata");
    nlohmann::json json;
    try {
        json = nlohmann::json::parse(options->second);
    } catch (const std::exception& error) {
        throw std::runtime_error(optimizer + ": train_options is not JSON: " + error.what());
    }
    run.options = train_options_from_json(json, optimizer);
    try {
        check_options(run.options);
    } catch (const std::invalid_argument& error) {
        throw std::runtime_error(optimizer + ": " + error.what());
    }
    const int64_t step = run.resumed_from.manifest.step;
    check_part_agrees(run.resumed_from, "optimizer.safetensors", metadata.count("run") ? metadata.at("run") : "",
                      run.optimizer.step, step);
    // The options and the config recompute the run's id: a config.json of another run does not.
    if (train_run_id(run) != run.resumed_from.manifest.run)
        throw std::runtime_error(parts + "/config.json and the options in " + optimizer +
                                 " are not those of the run the manifest names: the parts come from different runs");
    if (step > run.options.steps)
        throw std::runtime_error(optimizer + ": step " + std::to_string(step) + " is past the run's " +
                                 std::to_string(run.options.steps) + " steps");
    return run;
}

// One checkpoint: the model, its config and the optimizer, committed together (run_folder.h).
static void save_run(RunFolder& folder, TrainRun& run) {
    folder.commit(run.optimizer.step, [&](const std::string& directory) {
        save_model(directory, run.config, run.weights);
        save_adamw_state(optimizer_path(directory), run.optimizer,
                         {{"train_options", train_options_to_json(run.options).dump()}, {"run", train_run_id(run)}});
    });
}

double heldout_loss(const TrainRun& run, int64_t count) {
    const TaskSpec task = task_from_name(run.options.task);
    const int64_t chunk = 64;
    double sum = 0;
    int64_t counted = 0;
    for (int64_t first = 0; first < count; first += chunk) {
        const Batch batch = corpus_batch(task, run.options.mix, run.options.seed, first, std::min(chunk, count - first),
                                         Split::Heldout);
        ModelActivations act;
        const int64_t n = std::count_if(batch.targets.begin(), batch.targets.end(),
                                        [](int32_t target) { return target != kIgnoreTarget; });
        sum += model_forward(run.config, run.weights, batch, run.options.precision, {0.0, 0.0}, act).main * n;
        counted += n;
    }
    return counted ? sum / counted : 0.0;
}

// The aux-loss-free bias update of one MoE block, and its load statistics for the log.
static void balance_block(const ModelConfig& config, GateWeights& gate, const BlockActivations& act, double gamma,
                          StepMetrics& metrics) {
    const ExpertLoad load = count_load(config, act.moe.routing.topk_idx, config.topk_group);
    metrics.max_violation.push_back(max_violation(load.per_expert));
    if (gate.bias.size() && gamma > 0) update_bias(gate.bias, load.per_expert, gamma);
    metrics.bias_min.push_back(gate.bias.size() ? gate.bias.minCoeff() : 0.0);
    metrics.bias_max.push_back(gate.bias.size() ? gate.bias.maxCoeff() : 0.0);
}

bool train(TrainRun& run, const std::string& directory, const TrainCallbacks& callbacks) {
    const SingleThreadedProducts single_threaded;
    const TrainOptions& o = run.options;
    const TaskSpec task = task_from_name(o.task);
    RunFolder folder(directory, RunKind::Train, train_run_id(run), run.resumed ? &run.resumed_from : nullptr);

    ModelWeights grads = zeros_like(run.weights);
    std::vector<Parameter> grad_list = model_parameters(grads);
    while (run.optimizer.step < o.steps) {
        const auto start = std::chrono::steady_clock::now();
        const int64_t step = run.optimizer.step;
        const Batch batch = corpus_batch(task, o.mix, o.seed, step * o.batch, o.batch);
        for (Parameter& p : grad_list) std::fill_n(p.values, shape_numel(p.shape), 0.0f);

        StepMetrics metrics;
        ModelActivations act;
        metrics.loss = model_forward(run.config, run.weights, batch, o.precision, o.loss, act);
        if (!std::isfinite(metrics.loss.total))
            throw std::runtime_error("step " + std::to_string(step + 1) + ": the loss is " +
                                     std::to_string(metrics.loss.total) + "; try a lower --lr");
        model_backward(grads, run.config, run.weights, batch, o.precision, o.loss, act);
        metrics.lr = learning_rate(step, o.steps, o.warmup, o.adamw.lr, o.min_lr);
        metrics.grad_norm = adamw_step(run.weights, grads, run.optimizer, o.adamw, metrics.lr);
        for (int64_t layer = 0; layer < run.config.num_hidden_layers; ++layer)
            if (run.config.is_moe_layer(layer))
                balance_block(run.config, run.weights.layers[layer].moe.gate, act.blocks[layer], o.bias_gamma, metrics);
        if (!run.weights.mtp.empty()) balance_block(run.config, run.weights.mtp[0].block.moe.gate, act.mtp.block, o.bias_gamma, metrics);

        metrics.step = run.optimizer.step;
        metrics.tokens = static_cast<int64_t>(batch.tokens.size());
        const bool last = metrics.step == o.steps;
        if (o.eval_every > 0 && (metrics.step % o.eval_every == 0 || last)) {
            metrics.evaluated = true;
            metrics.heldout_loss = heldout_loss(run, o.eval_examples);
        }
        metrics.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        folder.append_log(step_metrics_to_json(metrics).dump());
        if (callbacks.on_step) callbacks.on_step(metrics);

        const bool stopping = callbacks.stop && callbacks.stop->load();
        if (metrics.step % o.save_every == 0 || last || stopping) save_run(folder, run);
        if (stopping && !last) return false;
    }
    return true;
}

}  // namespace seek
