// The training loop (core/train.h): a run stopped by a crash and resumed from its last checkpoint
// ends with the same bytes as one that never stopped; the loss falls; the log is cut back on resume.
#include <catch2/catch.hpp>
#include <stdexcept>

#include "core/train.h"
#include "temp_dir.h"

using namespace seek;

static TrainOptions small_options() {
    TrainOptions o;
    o.steps = 12;
    o.batch = 4;
    o.warmup = 3;
    o.save_every = 4;
    o.eval_every = 0;
    o.loss.balance_alpha = 1e-3;
    o.seed = 9;
    return o;
}

TEST_CASE("train: a run that crashes and resumes ends bit-identical to one that never stopped", "[train]") {
    TempDir dir;
    const ModelConfig config = preset_config("toy");
    const std::string full = dir.file("full"), crashed = dir.file("crashed");

    TrainRun uninterrupted = start_run(config, small_options());
    REQUIRE(train(uninterrupted, full));

    // Crash after step 10 is logged: the last checkpoint is step 8's, steps 9 and 10 are lost.
    TrainRun first = start_run(config, small_options());
    TrainCallbacks crash;
    crash.on_step = [](const StepMetrics& m) {
        if (m.step == 10) throw std::runtime_error("simulated crash");
    };
    CHECK_THROWS_WITH(train(first, crashed, crash), "simulated crash");
    CHECK(lines_of(crashed + "/train.jsonl").size() == 10);

    TrainRun resumed = resume_run(crashed);
    CHECK(resumed.optimizer.step == 8);
    REQUIRE(train(resumed, crashed));
    CHECK(file_bytes(full + "/model.safetensors") == file_bytes(crashed + "/model.safetensors"));
    CHECK(file_bytes(full + "/optimizer.safetensors") == file_bytes(crashed + "/optimizer.safetensors"));
    CHECK(file_bytes(full + "/config.json") == file_bytes(crashed + "/config.json"));
    CHECK(lines_of(crashed + "/train.jsonl").size() == 12);  // cut back to 8, then 9..12 again
}

TEST_CASE("train: the same seed gives the same run, another seed another", "[train]") {
    TempDir dir;
    const ModelConfig config = preset_config("toy");
    TrainOptions options = small_options();
    options.steps = 3;
    TrainRun a = start_run(config, options), b = start_run(config, options);
    options.seed = 10;
    TrainRun c = start_run(config, options);
    train(a, dir.file("a"));
    train(b, dir.file("b"));
    train(c, dir.file("c"));
    CHECK(file_bytes(dir.file("a/model.safetensors")) == file_bytes(dir.file("b/model.safetensors")));
    CHECK(file_bytes(dir.file("a/model.safetensors")) != file_bytes(dir.file("c/model.safetensors")));
}

TEST_CASE("train: held-out loss falls over 60 steps, in fp32, bf16 and fp8", "[train][slow]") {
    TempDir dir;
    for (const char* precision : {"fp32", "bf16", "fp8"}) {
        TrainOptions options = small_options();
        options.steps = 60;
        options.batch = 16;
        options.eval_examples = 64;
        options.precision.gemm = gemm_precision_from_name(precision);
        TrainRun run = start_run(preset_config("toy"), options);
        const double before = heldout_loss(run, 64);
        train(run, dir.file(precision));
        const double after = heldout_loss(run, 64);
        INFO(precision << ": held-out loss " << before << " -> " << after);
        CHECK(before > 4.5);       // about ln 128 = 4.85 from random weights
        CHECK(after < 0.6 * before);
    }
}

TEST_CASE("train: bad options are refused by name", "[train]") {
    TrainOptions options = small_options();
    options.batch = 0;
    CHECK_THROWS_WITH(start_run(preset_config("toy"), options), Catch::Contains("batch"));
    options = small_options();
    options.task = "div:3";
    CHECK_THROWS_WITH(start_run(preset_config("toy"), options), Catch::Contains("div:3"));
    options = small_options();
    options.min_lr = 1.0;
    CHECK_THROWS_WITH(start_run(preset_config("toy"), options), Catch::Contains("min_lr"));
}
