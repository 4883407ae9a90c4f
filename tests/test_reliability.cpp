// Reliability: each reproducer of a hostile-input and crash review, as a regression test. Runs
// that clobber, checkpoints whose parts disagree, inputs that made the programs loop, allocate or
// hang before checking their bounds, answers the verifier could not parse. The command-line side
// is in bad_inputs.sh, the kill-at-every-file-operation side in crash_consistency.sh.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/linear.h"
#include "core/analytics.h"
#include "core/grpo.h"
#include "core/random.h"
#include "core/run_folder.h"
#include "core/trace.h"
#include "core/train.h"
#include "temp_dir.h"

using namespace seek;
using Catch::Contains;
namespace fs = std::filesystem;

namespace {

ModelConfig tiny_config() { return load_config(SEEK_TEST_DATA_DIR "/configs/tiny.json"); }

void write_text(const std::string& path, const std::string& text) { std::ofstream(path, std::ios::binary) << text; }

nlohmann::json tiny_json() { return config_to_json(tiny_config()); }

// A process id that no longer runs: a child that has exited and been reaped.
pid_t dead_pid() {
    const pid_t child = ::fork();
    if (child == 0) ::_exit(0);
    ::waitpid(child, nullptr, 0);
    return child;
}

TrainOptions tiny_run_options(uint64_t seed = 4) {
    TrainOptions o;
    o.steps = 4;
    o.batch = 2;
    o.save_every = 2;
    o.eval_every = 0;
    o.warmup = 1;
    o.seed = seed;
    return o;
}

// Two GRPO steps of one prompt and two completions of at most 4 tokens, with one sample prompt.
GrpoOptions tiny_grpo_options() {
    GrpoOptions o = default_grpo_options();
    o.task = "add:1";
    o.steps = 2;
    o.prompts = 1;
    o.group = 2;
    o.max_new_tokens = 4;
    o.sample_prompts = 1;
    return o;
}

// Rewrites a checkpoint's manifest so that it records the files as they are now: what a careful
// forger would do, so that the checks behind the checksums get their turn.
void reseal(const std::string& run_directory) {
    const std::string step_directory = fs::canonical(run_directory + "/checkpoint").string();
    const std::string path = step_directory + "/checkpoint.json";
    CheckpointManifest manifest = manifest_from_json(file_bytes(path), path);
    for (auto& [part, file] : manifest.files) {
        const std::string bytes = file_bytes(step_directory + "/" + part);
        file = {bytes.size(), checksum_hex(bytes)};
    }
    write_text(path, manifest_to_json(manifest).dump());
}

// optimizer.safetensors of a run with its metadata entry `key` set to `value`.
void set_optimizer_metadata(const std::string& run_directory, const std::string& key, const std::string& value) {
    const std::string path = run_directory + "/checkpoint/optimizer.safetensors";
    const SafetensorsFile file = open_safetensors(path);
    std::vector<TensorToWrite> tensors;
    for (const TensorInfo& info : file.tensors) {
        const uint8_t* bytes = file.bytes(info);
        tensors.push_back({info.name, info.dtype, info.shape, std::vector<uint8_t>(bytes, bytes + (info.end - info.begin))});
    }
    std::map<std::string, std::string> metadata = file.metadata;
    metadata[key] = value;
    write_safetensors(path + ".new", tensors, metadata);
    fs::rename(path + ".new", fs::canonical(path));
}

}  // namespace

// ---- work before bounds ------------------------------------------------------------------------

TEST_CASE("reliability: config sizes are bounded before any loop or allocation, with the field named", "[reliability]") {
    nlohmann::json json = tiny_json();
    SECTION("num_hidden_layers 10^18 (validation used to loop over every layer)") {
        json["num_hidden_layers"] = int64_t{1000000000000000000};
        CHECK_THROWS_WITH(config_from_json(json, "c.json"),
                          Contains("c.json: num_hidden_layers is 1000000000000000000, more than the limit 4096"));
    }
    SECTION("vocab_size 2^62 (the parameter count wrapped around to 0)") {
        json["vocab_size"] = int64_t{1} << 62;
        CHECK_THROWS_WITH(config_from_json(json, "c.json"), Contains("vocab_size is 4611686018427387904, more than the limit"));
    }
    SECTION("hidden_size 2^64 - 1 (read as -1)") {
        json["hidden_size"] = UINT64_MAX;
        CHECK_THROWS_WITH(config_from_json(json, "c.json"), Contains("field 'hidden_size' is 18446744073709551615, out of range"));
    }
    SECTION("sizes each in bounds whose product is not") {
        json["hidden_size"] = 200000;
        json["moe_intermediate_size"] = 1000000;
        json["n_routed_experts"] = 65536;
        json["n_group"] = 1;
        json["topk_group"] = 1;
        CHECK_THROWS_WITH(config_from_json(json, "c.json"), Contains("parameters, more than the limit"));
    }
    SECTION("the parameter count itself is checked arithmetic") {
        ModelConfig raw = tiny_config();
        raw.vocab_size = int64_t{1} << 62;  // not validated: count_parameters must not wrap around
        CHECK_THROWS_AS(count_parameters(raw), std::overflow_error);
    }
    SECTION("non-finite numbers") {
        ModelConfig config = tiny_config();
        config.rope_theta = INFINITY;
        CHECK_THROWS_WITH(validate_config(config, "c.json"), Contains("rope_theta must be finite"));
    }
}

TEST_CASE("reliability: special files and unreadable JSON are refused before they are opened, by name", "[reliability]") {
    TempDir dir;
    SECTION("a directory given as config.json") {
        fs::create_directory(dir.file("config.json"));
        CHECK_THROWS_WITH(load_config(dir.file("config.json")), Contains(dir.file("config.json") + ": is a directory"));
    }
    SECTION("a FIFO given as config.json, model.safetensors or a problem file (open() would block)") {
        for (const char* name : {"config.json", "model.safetensors", "problems.txt"}) {
            REQUIRE(::mkfifo(dir.file(name).c_str(), 0644) == 0);
        }
        CHECK_THROWS_WITH(load_config(dir.file("config.json")), Contains("config.json: is a FIFO, not a regular file"));
        CHECK_THROWS_WITH(open_safetensors(dir.file("model.safetensors")), Contains("model.safetensors: is a FIFO"));
        CHECK_THROWS_WITH(load_problems(dir.file("problems.txt")), Contains("problems.txt: is a FIFO"));
    }
    SECTION("a number that overflows a double names the file") {
        write_text(dir.file("config.json"), "{\"hidden_size\": 1e400}");
        CHECK_THROWS_WITH(load_config(dir.file("config.json")), Contains(dir.file("config.json")) && Contains("1e400"));
    }
}

TEST_CASE("reliability: load_model checks the checkpoint's shapes before allocating what the config implies", "[reliability]") {
    TempDir dir;
    ModelConfig config = tiny_config();
    ModelWeights weights = init_model_weights(config, 1);
    save_model(dir.file("m"), config, weights);
    const std::string config_path = dir.file("m/config.json");
    nlohmann::json json = config_to_json(config);
    ModelConfig loaded;

    SECTION("hidden_size 20000 beside a hidden-16 checkpoint (4 GB allocated and filled before)") {
        json["hidden_size"] = 20000;
        write_text(config_path, json.dump());
        CHECK_THROWS_WITH(load_model(dir.file("m"), loaded),
                          Contains("tensor 'model.embed_tokens.weight' has shape [128, 16] but " + config_path +
                                   " says [vocab_size, hidden_size] = [128, 20000]"));
    }
    SECTION("more layers than the checkpoint has") {
        json["num_hidden_layers"] = 3;
        write_text(config_path, json.dump());
        CHECK_THROWS_WITH(load_model(dir.file("m"), loaded), Contains("the checkpoint has layers 0 .. 2 but " + config_path +
                                                                      " says num_hidden_layers 3"));
    }
    SECTION("wider experts than the checkpoint holds") {
        json["moe_intermediate_size"] = 4000;
        write_text(config_path, json.dump());
        CHECK_THROWS_WITH(load_model(dir.file("m"), loaded), Contains("parameters but " + config_path + " implies "));
    }
    SECTION("a tensor the model has no place for") {
        std::vector<NamedTensor> tensors;
        for (const Parameter& p : model_parameters(weights)) {
            const int64_t rows = p.shape[0], cols = shape_numel(p.shape) / rows;
            tensors.push_back({p.name, p.shape, Eigen::Map<const Mat>(p.values, rows, cols)});
        }
        tensors.push_back({"model.layers.0.self_attn.rotary_emb.inv_freq", {2}, Mat::Ones(2, 1)});
        write_checkpoint(dir.file("extra"), config, tensors, WeightPrecision::F32);
        CHECK_THROWS_WITH(load_model(dir.file("extra"), loaded),
                          Contains("tensor 'model.layers.0.self_attn.rotary_emb.inv_freq' is not part of the model"));
    }
    SECTION("NaN and infinite weights are named at load, with their index") {
        weights.layers[1].moe.experts[2].down_proj(3, 1) = NAN;
        save_model(dir.file("nan"), config, weights);
        CHECK_THROWS_WITH(load_model(dir.file("nan"), loaded),
                          Contains("tensor 'model.layers.1.mlp.experts.2.down_proj.weight' holds nan at [3, 1]"));
        weights.layers[1].moe.experts[2].down_proj(3, 1) = 0;
        weights.norm(5) = -INFINITY;
        save_model(dir.file("inf"), config, weights);
        CHECK_THROWS_WITH(load_model(dir.file("inf"), loaded), Contains("tensor 'model.norm.weight' holds -inf at [5]"));
    }
}

// ---- safetensors -------------------------------------------------------------------------------

TEST_CASE("reliability: safetensors headers with duplicate keys or absurd empty shapes are refused", "[reliability]") {
    TempDir dir;
    const std::string path = dir.file("t.safetensors");
    auto write_header = [&](const std::string& header, size_t data_bytes = 0) {
        std::string bytes(8, '\0');
        const uint64_t size = header.size();
        std::memcpy(&bytes[0], &size, 8);
        write_text(path, bytes + header + std::string(data_bytes, '\0'));
    };
    SECTION("a tensor listed twice (the last one used to win)") {
        write_header(R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8);
        CHECK_THROWS_WITH(open_safetensors(path), Contains(path + ": tensor 'w' appears twice in the header"));
    }
    SECTION("a field listed twice in one entry") {
        write_header(R"({"w":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}})", 4);
        CHECK_THROWS_WITH(open_safetensors(path), Contains("tensor 'w': key 'dtype' appears twice"));
    }
    SECTION("[0, 2^62, 2]: no elements, but a column count that overflows") {
        write_header(R"({"w":{"dtype":"F32","shape":[0,4611686018427387904,2],"data_offsets":[0,0]}})");
        CHECK_THROWS_WITH(open_safetensors(path), Contains("tensor 'w': shape [0, 4611686018427387904, 2] overflows the element count"));
    }
    SECTION("a header longer than the format allows") {
        {
            std::ofstream out(path, std::ios::binary);
            const uint64_t size = kMaxHeaderBytes + 1;
            out.write(reinterpret_cast<const char*>(&size), 8);
        }
        fs::resize_file(path, 8 + kMaxHeaderBytes + 16);  // sparse: nothing is written
        CHECK_THROWS_WITH(open_safetensors(path), Contains("header length 104857601 is more than 104857600 bytes"));
    }
}

TEST_CASE("reliability: a 40,000-tensor trace loads and compares (quadratic before: 55 s)", "[reliability]") {
    TempDir dir;
    Trace trace;
    for (int i = 0; i < 40000; ++i) {
        const float value = static_cast<float>(i);
        trace_record(&trace, "layers." + std::to_string(i) + ".out", {1}, &value);
    }
    save_trace(trace, dir.file("big.safetensors"));
    const Trace loaded = load_trace(dir.file("big.safetensors"));
    REQUIRE(loaded.entries.size() == 40000);
    CHECK(loaded.entries[39999].name == "layers.39999.out");
    CHECK(loaded.entries[39999].values[0] == 39999.0f);
    const std::vector<TensorDiff> diffs = compare_traces(trace, loaded);
    REQUIRE(diffs.size() == 40000);
    CHECK(std::all_of(diffs.begin(), diffs.end(), [](const TensorDiff& d) { return d.max_abs_error == 0; }));
}

// ---- verifier and problem files ----------------------------------------------------------------

TEST_CASE("reliability: the verifier parses every answer a task can produce (19-digit sums)", "[reliability]") {
    const TaskSpec add18 = task_from_name("add:18");
    int correct = 0;
    for (uint64_t i = 0; i < 1000; ++i) {
        const Problem p = make_problem(add18, 7, i, Split::Train);
        correct += verify_completion(p, direct_completion(p)).correct;
    }
    CHECK(correct == 1000);  // 388 before: the 612 sums of 19 digits could never score
    const Problem edge = parse_problem("999999999999999999+1");
    const Verdict v = verify_completion(edge, "<answer>1000000000000000000</answer><eos>");
    CHECK(v.correct);
    CHECK(v.well_formed);
    const Verdict too_big = verify_completion(edge, "<answer>9999999999999999999</answer><eos>");
    CHECK_FALSE(too_big.parsed_answer);
    CHECK_THAT(too_big.problem_note, Contains("larger than any answer"));
}

TEST_CASE("reliability: problem files refuse long lines and big operands with the line number, briefly", "[reliability]") {
    TempDir dir;
    const std::string path = dir.file("problems.txt");
    write_text(path, "12+34\n" + std::string(10000000, '7') + "\n");
    try {
        load_problems(path);
        FAIL("a 10 MB line was accepted");
    } catch (const std::runtime_error& error) {
        const std::string message = error.what();
        CHECK_THAT(message, Contains(path + ":2: the line has 10000000 bytes"));
        CHECK(message.size() < 300);  // the line used to be echoed, twice
    }
    write_text(path, "# big\n1234567890123456789+1\n");
    CHECK_THROWS_WITH(load_problems(path), Contains(path + ":2:") && Contains("has 19 digits; add allows at most 18"));
}

// ---- run folders -------------------------------------------------------------------------------

TEST_CASE("reliability: --resume refuses a checkpoint whose parts disagree, naming them", "[reliability]") {
    TempDir dir;
    const ModelConfig config = tiny_config();
    const std::string run = dir.file("run"), other = dir.file("other");
    TrainRun a = start_run(config, tiny_run_options(4)), b = start_run(config, tiny_run_options(5));
    REQUIRE(train(a, run));
    REQUIRE(train(b, other));
    REQUIRE(resume_run(run).optimizer.step == 4);
    const std::string optimizer = run + "/checkpoint/optimizer.safetensors";

    SECTION("another run's optimizer (accepted before)") {
        fs::copy_file(other + "/checkpoint/optimizer.safetensors", fs::canonical(optimizer),
                      fs::copy_options::overwrite_existing);
        CHECK_THROWS_WITH(resume_run(run), Contains("is torn") && Contains("step-00000004/optimizer.safetensors: checksum"));
        reseal(run);  // a manifest that agrees with the swapped file: the run id still does not
        CHECK_THROWS_WITH(resume_run(run), Contains("optimizer.safetensors belongs to run") && Contains("different runs"));
    }
    SECTION("another run's config.json") {
        ModelConfig wider = config;
        wider.rms_norm_eps = 1e-5;
        save_config(wider, fs::canonical(run + "/checkpoint/config.json").string());
        reseal(run);
        CHECK_THROWS_WITH(resume_run(run), Contains("config.json and the options in") && Contains("different runs"));
    }
    SECTION("a hand-edited step: -5, 10^12") {
        set_optimizer_metadata(run, "step", "-5");
        reseal(run);
        CHECK_THROWS_WITH(resume_run(run), Contains("metadata 'step' is '-5', not a whole number"));
        set_optimizer_metadata(run, "step", "1000000000000");
        reseal(run);
        CHECK_THROWS_WITH(resume_run(run), Contains("optimizer.safetensors is at step 1000000000000 but") &&
                                               Contains("checkpoint.json says step 4"));
    }
    SECTION("a log cut shorter than the checkpoint recorded") {
        const std::string log = file_bytes(run + "/train.jsonl");
        write_text(run + "/train.jsonl", log.substr(0, log.size() / 2));
        TrainRun resumed = resume_run(run);
        CHECK_THROWS_WITH(train(resumed, run), Contains("train.jsonl has") && Contains("the log was cut or replaced"));
    }
    SECTION("a GRPO resume of a train folder") {
        CHECK_THROWS_WITH(resume_grpo(run), Contains("holds a `seek train` run") && Contains("not a `seek grpo` one"));
    }
}

TEST_CASE("reliability: a run never overwrites a run or a model it did not start", "[reliability]") {
    TempDir dir;
    const ModelConfig config = tiny_config();
    TrainRun first = start_run(config, tiny_run_options());
    REQUIRE(train(first, dir.file("run")));
    TrainRun second = start_run(config, tiny_run_options());
    CHECK_THROWS_WITH(train(second, dir.file("run")), Contains("already holds a run"));

    ModelWeights weights = init_model_weights(config, 1);
    save_model(dir.file("model"), config, weights);
    const std::string before = file_bytes(dir.file("model/model.safetensors"));
    CHECK_THROWS_WITH(train(second, dir.file("model")), Contains("already holds a model (config.json, model.safetensors)"));
    GrpoRun grpo = start_grpo(dir.file("model"), tiny_grpo_options());
    CHECK_THROWS_WITH(grpo_train(grpo, dir.file("model")), Contains("already holds a model"));  // --model X --out X
    CHECK(file_bytes(dir.file("model/model.safetensors")) == before);
}

TEST_CASE("reliability: a GRPO run resumed at step 0 logs the step-0 samples once", "[reliability]") {
    TempDir dir;
    const ModelConfig config = tiny_config();
    ModelWeights base = init_model_weights(config, 2, 0.1f);
    save_model(dir.file("base"), config, base);
    GrpoOptions o = tiny_grpo_options();
    o.save_every = 100;  // only the step-0 checkpoint before the end

    GrpoRun full = start_grpo(dir.file("base"), o);
    REQUIRE(grpo_train(full, dir.file("full")));
    GrpoRun first = start_grpo(dir.file("base"), o);
    GrpoCallbacks crash;
    crash.on_step = [](const GrpoStepMetrics&) { throw std::runtime_error("simulated crash"); };
    CHECK_THROWS(grpo_train(first, dir.file("crashed"), crash));
    GrpoRun resumed = resume_grpo(dir.file("crashed"));
    REQUIRE(resumed.optimizer.step == 0);
    REQUIRE(grpo_train(resumed, dir.file("crashed")));
    const std::vector<std::string> log = lines_of(dir.file("crashed/grpo.jsonl"));
    CHECK(log.size() == lines_of(dir.file("full/grpo.jsonl")).size());
    CHECK(std::count_if(log.begin(), log.end(), [](const std::string& line) {
              return line.find("\"kind\":\"samples\"") != std::string::npos && line.find("\"step\":0") != std::string::npos;
          }) == 1);
    CHECK(file_bytes(dir.file("full/model.safetensors")) == file_bytes(dir.file("crashed/model.safetensors")));
}

TEST_CASE("reliability: what killed writes leave is removed by the next run", "[reliability]") {
    TempDir dir;
    const std::string stale = dir.file("x.json.tmp." + std::to_string(dead_pid()));
    write_text(stale, "half a file");
    write_file_atomic(dir.file("x.json"), "{}");
    CHECK_FALSE(fs::exists(stale));
    CHECK(file_bytes(dir.file("x.json")) == "{}");

    const ModelConfig config = tiny_config();
    TrainOptions o = tiny_run_options();
    TrainRun run = start_run(config, o);
    TrainCallbacks stop_after_2;
    stop_after_2.on_step = [](const StepMetrics& m) {
        if (m.step == 3) throw std::runtime_error("killed");
    };
    CHECK_THROWS(train(run, dir.file("run"), stop_after_2));
    const std::string pid = std::to_string(dead_pid());
    fs::create_directory(dir.file("run/step-00000004"));  // a save killed before its commit
    write_text(dir.file("run/step-00000004/model.safetensors.tmp." + pid), "x");
    fs::create_symlink("step-00000004", dir.file("run/checkpoint.tmp." + pid));
    TrainRun resumed = resume_run(dir.file("run"));
    REQUIRE(train(resumed, dir.file("run")));
    std::vector<std::string> names;
    for (const fs::directory_entry& entry : fs::directory_iterator(dir.path / "run")) names.push_back(entry.path().filename());
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{".lock", "checkpoint", "config.json", "model.safetensors",
                                            "optimizer.safetensors", "step-00000004", "train.jsonl"});
    CHECK(fs::is_symlink(dir.file("run/checkpoint")));
    CHECK(fs::read_symlink(dir.file("run/checkpoint")) == "step-00000004");
}

TEST_CASE("reliability: one process at a time works on a run folder", "[reliability]") {
    TempDir dir;
    RunFolder first(dir.file("run"), RunKind::Train, checksum_hex("a"), nullptr);
    CHECK_THROWS_WITH(RunFolder(dir.file("run"), RunKind::Train, checksum_hex("a"), nullptr),
                      Contains("in use by another seek process"));
}

TEST_CASE("reliability: numbers read back from logs and stored options are range-checked", "[reliability]") {
    CHECK(last_logged_step("{\"step\":1}\n{\"step\":2,\"loss\":1e300}\n", "log") == 2);
    CHECK(last_logged_step("", "log") == -1);
    CHECK_THROWS_WITH(last_logged_step("{\"step\":1}\n{\"step\":1e300}\n", "log"), Contains("log:2: \"step\" is 1e+300"));
    CHECK_THROWS_WITH(last_logged_step("{\"step\":-5}\n", "log"), Contains("log:1:"));
    CHECK_THROWS_WITH(last_logged_step("{\"step\":3}\n{\"ste", "log"), Contains("log:2: not a JSON line"));
    nlohmann::json options = train_options_to_json(tiny_run_options());
    options["steps"] = 1e300;
    CHECK_THROWS_WITH(train_options_from_json(options, "opt"), Contains("opt: training options: 'steps' is 1e+300, not a whole number"));
    options = grpo_options_to_json(default_grpo_options());
    options["temperature"] = 1e300;
    CHECK_THROWS_WITH(grpo_options_from_json(options, "opt"), Contains("'temperature' is") && Contains("beyond a float's range"));
    CHECK_THROWS_WITH(manifest_from_json(R"({"format":"seekscope checkpoint 1","kind":"train","run":"0123456789abcdef",
        "step":1e300,"log_bytes":0,"files":{}})", "m.json"), Contains("m.json: 'step' is 1e+300, not a whole number"));
    CHECK_THROWS_WITH(manifest_from_json(R"({"format":"seekscope checkpoint 1","kind":"train","run":"0123456789abcdef",
        "step":1,"log_bytes":0,"files":{"../x":{"bytes":1,"checksum":"0123456789abcdef"}}})", "m.json"),
                      Contains("not a plain path inside the step folder"));
}

TEST_CASE("reliability: training's products give the same bits whatever L1 cache Eigen detects", "[reliability]") {
    // A weight gradient's shape: the inner dimension runs over 3000 tokens, longer than Eigen's
    // L1 slice, so the slices' sums depend on the L1 size unless it is fixed.
    const Mat a = generated_matrix(1, "a", 64, 3000, 1.0f), b = generated_matrix(2, "b", 3000, 96, 1.0f);
    const std::ptrdiff_t l1 = Eigen::l1CacheSize(), l2 = Eigen::l2CacheSize(), l3 = Eigen::l3CacheSize();
    auto product_with_l1 = [&](std::ptrdiff_t detected, bool guarded) {
        Eigen::setCpuCacheSizes(detected, l2, l3);
        Mat c;
        if (guarded) {  // what every program does before main (cpu_check.cpp)
            fix_machine_dependent_settings();
            c = a * b;
        } else {  // one thread too, as after the fix: only the blocking differs
            const int threads = Eigen::nbThreads();
            Eigen::setNbThreads(1);
            c = a * b;
            Eigen::setNbThreads(threads);
        }
        Eigen::setCpuCacheSizes(l1, l2, l3);
        return c;
    };
    const Mat small = product_with_l1(32 * 1024, true), large = product_with_l1(64 * 1024, true);
    CHECK(std::memcmp(small.data(), large.data(), sizeof(float) * small.size()) == 0);
    // Without the guard the two CPUs disagree in the last bits: the test is not vacuous.
    const Mat small_free = product_with_l1(32 * 1024, false), large_free = product_with_l1(64 * 1024, false);
    CHECK(std::memcmp(small_free.data(), large_free.data(), sizeof(float) * small.size()) != 0);
    CHECK(Eigen::l1CacheSize() == l1);
}
