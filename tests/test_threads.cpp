// The same bytes whatever the batching and the thread count (core/parallel.h, core/linear.h):
// batched decoding gives every completion the tokens it gets alone; training steps, attention and
// generated weights, each large enough to run on several threads, give the bytes one thread gives.
#include <catch2/catch.hpp>
#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <set>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "core/generate.h"
#include "core/grpo.h"
#include "core/mla.h"
#include "core/parallel.h"
#include "core/random.h"
#include "core/tokenizer.h"
#include "core/train.h"
#include "temp_dir.h"
#include "toy_grpo.h"

using namespace seek;

// Runs `work` on one thread, then on two, and gives both results.
template <typename Work>
static auto on_one_and_two_threads(Work work) {
    const int threads = thread_count();
    set_thread_count(1);
    auto one = work();
    set_thread_count(2);
    auto two = work();
    set_thread_count(threads);
    return std::make_pair(one, two);
}

TEST_CASE("threads: completions decoded side by side are the ones decoded alone", "[generate]") {
    ModelConfig config;
    const ModelWeights weights = load_model(SEEK_TOY_DIR "/grpo", config);
    // Eleven completions (more than kFewRows: the row-by-row products at 11 rows), some sharing a prompt as a GRPO group
    // does, at temperature 1 so that they differ in length and finish at different steps.
    const std::vector<std::string> texts = {"<bos>31415+92653=", "<bos>12+34=", "<bos>31415+92653=", "<bos>9999+1=",
                                            "<bos>12+34=",       "<bos>5+5=",   "<bos>31415+92653=", "<bos>77+777=",
                                            "<bos>123+45678=",   "<bos>12+34=", "<bos>8+80808="};
    std::vector<std::vector<int32_t>> prompts;
    std::vector<Rng> rngs;
    for (size_t i = 0; i < texts.size(); ++i) {
        prompts.push_back(encode_text(texts[i]));
        rngs.push_back(Rng(1000 + i));
    }
    GenerateOptions options;
    options.max_new_tokens = 60;
    // On two threads the batch is decoded as two shards, one per thread (generate.cpp).
    const auto [one, two] = on_one_and_two_threads([&] {
        std::vector<Rng> batch_rngs = rngs;
        std::vector<Generation> batch = generate_batch(config, weights, prompts, options, batch_rngs);
        return std::make_pair(batch, batch_rngs);
    });
    std::set<size_t> lengths;
    for (const auto& [batch, batch_rngs] : {one, two})
        for (size_t i = 0; i < texts.size(); ++i) {
            Rng rng(1000 + i);
            const Generation alone = generate(config, weights, prompts[i], options, rng);
            INFO("completion " << i << ": " << decode_tokens(alone.tokens));
            CHECK(batch[i].tokens == alone.tokens);
            CHECK(batch[i].finished == alone.finished);
            CHECK(batch_rngs[i].state == rng.state);  // the same draws, as many of them
            lengths.insert(alone.tokens.size());
        }
    CHECK(lengths.size() > 3);  // they did finish at different steps
}

TEST_CASE("generate: without stop_at_eos every completion runs to max_new_tokens, the same tokens up to <eos>",
          "[generate]") {
    ModelConfig config;
    const ModelWeights weights = load_model(SEEK_TOY_DIR "/grpo", config);
    GenerateOptions options;
    options.sampling.temperature = 0;
    Rng rng(1);
    const Generation stopped = generate(config, weights, encode_text("<bos>12+34="), options, rng);
    REQUIRE(stopped.finished);  // the trained model ends its answer with <eos>
    REQUIRE(stopped.tokens.back() == kEosToken);
    options.stop_at_eos = false;
    options.max_new_tokens = static_cast<int64_t>(stopped.tokens.size()) + 7;
    const std::vector<std::vector<int32_t>> prompts = {encode_text("<bos>12+34="), encode_text("<bos>5+5=")};
    std::vector<Rng> rngs(2, Rng(1));
    const std::vector<Generation> runs_on = generate_batch(config, weights, prompts, options, rngs);
    for (const Generation& generation : runs_on) {
        CHECK(!generation.finished);
        CHECK(static_cast<int64_t>(generation.tokens.size()) == options.max_new_tokens);
    }
    CHECK(std::equal(stopped.tokens.begin(), stopped.tokens.end(), runs_on[0].tokens.begin()));
}

TEST_CASE("threads: GRPO steps give the same bytes on one and two threads", "[grpo]") {
    // Rollouts decoded in two shards, the reference's and the policy's forward side by side.
    const auto [one, two] = on_one_and_two_threads([] {
        TempDir dir;
        GrpoOptions o = test::save_toy_base(dir);
        o.group = 4;
        o.max_new_tokens = 12;
        o.steps = 2;
        GrpoRun run = start_grpo(dir.file("base"), o);
        grpo_train(run, dir.file("run"));
        return file_bytes(dir.file("run/model.safetensors")) + file_bytes(dir.file("run/optimizer.safetensors"));
    });
    CHECK(one == two);
}

TEST_CASE("threads: training steps give the same bytes on one and two threads", "[train]") {
    // Batch 48: the experts' products exceed kParallelWork, so their loops run on both threads.
    TrainOptions options;
    options.steps = 2;
    options.batch = 48;
    options.eval_every = 0;
    options.seed = 3;
    const auto [one, two] = on_one_and_two_threads([&] {
        TempDir dir;
        TrainRun run = start_run(preset_config("toy"), options);
        train(run, dir.file("run"));
        return file_bytes(dir.file("run/model.safetensors")) + file_bytes(dir.file("run/optimizer.safetensors"));
    });
    CHECK(one == two);
}

TEST_CASE("threads: attention over many sequences and generated weights give the same bytes on one and two threads",
          "[mla]") {
    // 16 sequences of 128 tokens: 84 MFLOP of attention, above kParallelWork.
    const ModelConfig config = preset_config("toy");
    const MlaWeights weights = generated_mla_weights(config, 0, 5);
    const RopeTable rope = rope_table(config);
    const int64_t sequences = 16, length = 128;
    const Mat x = generated_matrix(6, "x", sequences * length, config.hidden_size, 1.0f);
    std::vector<int64_t> offsets;
    for (int64_t s = 0; s <= sequences; ++s) offsets.push_back(s * length);
    const Mat dout = generated_matrix(7, "dout", x.rows(), config.hidden_size, 1.0f);
    const auto [one, two] = on_one_and_two_threads([&] {
        std::vector<MlaCache> caches(sequences, make_mla_cache(config, AttnImpl::Naive, length));
        MlaActivations act;
        const Mat out = mla_forward(config, weights, rope, x, offsets, caches.data(), {}, "attn", &act);
        Mat dx = Mat::Zero(x.rows(), x.cols());
        MlaWeights grads = weights;
        grads.q_a_proj.setZero(), grads.q_b_proj.setZero(), grads.kv_a_proj_with_mqa.setZero();
        grads.kv_b_proj.setZero(), grads.o_proj.setZero(), grads.q_a_layernorm.setZero(), grads.kv_a_layernorm.setZero();
        mla_backward(dx, grads, dout, config, weights, rope, x, offsets, caches.data(), {}, act);
        return std::make_tuple(out, dx, grads.q_b_proj, generated_matrix(8, "big", 300, 400, 1.0f));
    });
    CHECK(std::get<0>(one) == std::get<0>(two));
    CHECK(std::get<1>(one) == std::get<1>(two));
    CHECK(std::get<2>(one) == std::get<2>(two));
    CHECK(std::get<3>(one) == std::get<3>(two));
}

TEST_CASE("threads: a decode step's latent attention, on gemm.h's row blocks and latent column slices, gives the "
          "same bytes on one and two threads", "[mla]") {
    // V3's heads and ranks over 1,100 keys: 190 MFLOP, above kLargeLatentWork (core/mla.cpp).
    const int64_t H = 128, r = 512, dr = 64, S_len = 1100;
    const Mat q_absorbed = generated_matrix(1, "q_absorbed", H, r, 0.05f), q_pe = generated_matrix(1, "q_pe", H, dr, 0.05f);
    const Mat c_kv = generated_matrix(1, "c_kv", S_len, r, 1.0f), k_pe = generated_matrix(1, "k_pe", S_len, dr, 1.0f);
    const auto [one, two] = on_one_and_two_threads([&] {
        Mat scores, probs;
        Mat out = latent_attention_forward(q_absorbed, q_pe, c_kv, k_pe, H, 0.07f, S_len - 1, &scores, &probs);
        return std::make_tuple(out, scores, probs);
    });
    CHECK(std::get<0>(one) == std::get<0>(two));
    CHECK(std::get<1>(one) == std::get<1>(two));
    CHECK(std::get<2>(one) == std::get<2>(two));
}

// parallel_for: every index once; on this thread when not asked, when one thread is all there is,
// or inside another parallel region (OpenMP is then never entered: no team is built).
TEST_CASE("threads: parallel_for runs every index once, on threads only when it may", "[train]") {
    const int threads = thread_count();
    auto run = [](int64_t count, bool parallel) {
        std::vector<int> visits(static_cast<size_t>(count), 0), in_region(static_cast<size_t>(count), 0);
        parallel_for(count, parallel, [&](int64_t i) {
            ++visits[static_cast<size_t>(i)];
            in_region[static_cast<size_t>(i)] = omp_get_level() > 0;  // any region, even of one thread
        });
        return std::make_pair(visits, in_region);
    };
    set_thread_count(2);
    for (int64_t count : {0, 1, 2, 7, 1000}) {
        const auto [visits, in_region] = run(count, true);
        CHECK(std::count(visits.begin(), visits.end(), 1) == count);
        if (count > 1) CHECK(std::count(in_region.begin(), in_region.end(), 1) == count);  // two threads, asked
        const auto [serial_visits, serial_region] = run(count, false);
        CHECK(std::count(serial_visits.begin(), serial_visits.end(), 1) == count);
        CHECK(std::count(serial_region.begin(), serial_region.end(), 1) == 0);
    }
    set_thread_count(1);
    const std::vector<int> one_thread = run(1000, true).second;  // asked, but one thread is all there is
    CHECK(std::count(one_thread.begin(), one_thread.end(), 1) == 0);
    set_thread_count(2);
    int nested_in_team = 0, team = 0;
#pragma omp parallel num_threads(2) reduction(+ : nested_in_team, team)
    {
        ++team;
        // Inside a region, parallel_for stays on its caller's thread: the region is the caller's.
        int level_seen = -1;
        parallel_for(4, true, [&](int64_t) { level_seen = omp_get_level(); });
        nested_in_team += level_seen == 1;
    }
    CHECK(nested_in_team == team);
    // An exception on a thread comes out of parallel_for, the lowest index's, after every index ran.
    std::vector<int> ran(100, 0);
    CHECK_THROWS_WITH(parallel_for(100, true,
                                   [&](int64_t i) {
                                       ran[static_cast<size_t>(i)] = 1;
                                       if (i % 40 == 13) throw std::runtime_error("index " + std::to_string(i));
                                   }),
                      "index 13");
    CHECK(std::count(ran.begin(), ran.end(), 1) == 100);
    set_thread_count(threads);
}

TEST_CASE("threads: the default count is the idle processors, one to two", "[train]") {
    CHECK(default_thread_count(2, 0) == 2);   // an idle 2-vCPU machine: both
    CHECK(default_thread_count(2, 1) == 1);   // one other task running: it keeps its processor
    CHECK(default_thread_count(2, 5) == 1);   // never fewer than one
    CHECK(default_thread_count(1, 0) == 1);
    CHECK(default_thread_count(16, 0) == 2);  // more than two were never measured
    CHECK(default_thread_count(16, 14) == 2);
    CHECK(default_thread_count(16, 15) == 1);
    CHECK(default_thread_count(4, -1) == 2);  // a reading below this task counts as none
    // On Linux /proc/loadavg counts this task among the running ones: never a negative count.
    CHECK(other_running_tasks() >= 0);
}

TEST_CASE("threads: the default is decided when a loop first could use threads, and never overrides a set count",
          "[train]") {
    const int threads = thread_count();
    const char* env = std::getenv("OMP_NUM_THREADS");
    const std::string saved = env ? env : "";
    unsetenv("OMP_NUM_THREADS");
    set_thread_count(1);
    defer_thread_count();  // as at start without OMP_NUM_THREADS: pending
    CHECK(parallel_threads(false) == 1);  // a loop too small for threads decides nothing
    const int decided = thread_count();   // this decides it
    CHECK(decided >= 1);
    CHECK(decided <= kMaxDefaultThreads);
    set_thread_count(1);
    CHECK(parallel_threads(true) == 1);  // the explicit count stays
    setenv("OMP_NUM_THREADS", "1", 1);
    defer_thread_count();  // OMP_NUM_THREADS set: nothing pending
    set_thread_count(1);
    CHECK(thread_count() == 1);
    if (env) setenv("OMP_NUM_THREADS", saved.c_str(), 1);
    else unsetenv("OMP_NUM_THREADS");
    set_thread_count(threads);
}
