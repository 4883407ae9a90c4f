// GRPO (core/grpo.h): advantages, the clipped objective and k3 KL on hand-worked cases, the loss
// gradient against finite differences, and a tiny run that crashes and resumes.
#include <catch2/catch.hpp>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "core/softmax.h"
#include "core/grpo.h"
#include "core/random.h"
#include "temp_dir.h"
#include "toy_grpo.h"

using namespace seek;

// Rewards {1, 0, 0, 0}: mean 0.25; sample variance (0.75^2 + 3 x 0.25^2) / 3 = 0.25, std 0.5.
TEST_CASE("grpo: group advantages of a hand-made group", "[grpo]") {
    const std::vector<double> a = group_advantages({1, 0, 0, 0}, true);
    CHECK(a[0] == Approx(0.75 / 0.5001));
    CHECK(a[1] == Approx(-0.25 / 0.5001));
    CHECK(a[3] == Approx(-0.25 / 0.5001));
    const std::vector<double> dr = group_advantages({1, 0, 0, 0}, false);  // Dr. GRPO: no std
    CHECK(dr[0] == Approx(0.75));
    CHECK(dr[2] == Approx(-0.25));
    for (double value : group_advantages({1.1, 1.1, 1.1}, true)) CHECK(value == 0.0);  // no signal
    // Sum to zero, and scale-free with the std: doubling the rewards changes nothing (up to eps)
    const std::vector<double> b = group_advantages({1.1, 0.1, 0, 1}, true), c = group_advantages({2.2, 0.2, 0, 2}, true);
    CHECK(b[0] + b[1] + b[2] + b[3] == Approx(0).margin(1e-12));
    CHECK(b[1] == Approx(c[1]).epsilon(1e-3));
}

// The clipped surrogate, worked by hand (ε = 0.2, β = 0 unless said):
//   π = 0.5, π_old = 0.4: ρ = 1.25. A = 2: min(2.5, clip(1.25) 2 = 2.4) = 2.4, clipped, no gradient.
//   A = -1: min(-1.25, -1.2) = -1.25, unclipped, dJ/dlogp = ρ A = -1.25.
//   π = 0.35, π_old = 0.5: ρ = 0.7. A = -1: min(-0.7, -0.8) = -0.8, clipped. A = +1: min(0.7, 0.8)
//   = 0.7, unclipped, gradient 0.7: a positive advantage is never clipped from below.
//   KL with π_ref = 0.25, π = 0.5: k3 = 0.5 - ln 0.5 - 1 = 0.193147, dKL/dlogp = 1 - 0.5 = 0.5, so
//   β = 0.1 subtracts 0.0193147 from J and 0.05 from dJ/dlogp.
TEST_CASE("grpo: the clipped objective's value and gradient on hand-worked cases", "[grpo]") {
    GrpoLossOptions o;
    o.beta = 0;
    const double l5 = std::log(0.5), l4 = std::log(0.4), l35 = std::log(0.35);
    TokenObjective t = token_objective(l5, l4, l5, 2.0, o);
    CHECK(t.value == Approx(2.4));
    CHECK(t.dlogp == 0.0);
    CHECK(t.clipped);
    t = token_objective(l5, l4, l5, -1.0, o);
    CHECK(t.value == Approx(-1.25));
    CHECK(t.dlogp == Approx(-1.25));
    CHECK_FALSE(t.clipped);
    t = token_objective(l35, l5, l35, -1.0, o);
    CHECK(t.value == Approx(-0.8));
    CHECK(t.clipped);
    t = token_objective(l35, l5, l35, 1.0, o);
    CHECK(t.value == Approx(0.7));
    CHECK(t.dlogp == Approx(0.7));
    o.clip_high = 0.28;  // DAPO clip-higher lets ρ = 1.25 through
    t = token_objective(l5, l4, l5, 2.0, o);
    CHECK(t.value == Approx(2.5));
    CHECK_FALSE(t.clipped);

    o = GrpoLossOptions{};
    o.beta = 0.1;
    CHECK(k3_kl(l5, std::log(0.25)) == Approx(0.5 - std::log(0.5) - 1));
    t = token_objective(l5, l5, std::log(0.25), 1.0, o);
    CHECK(t.value == Approx(1.0 - 0.1 * 0.193147).epsilon(1e-5));
    CHECK(t.dlogp == Approx(1.0 - 0.1 * 0.5));
}

TEST_CASE("grpo: k3 KL is never negative and exactly zero when the policies match", "[grpo]") {
    Rng rng(3);
    for (int i = 0; i < 10000; ++i) {
        const double a = -8 * rng.uniform(), b = -8 * rng.uniform();
        CHECK(k3_kl(a, b) >= 0);
    }
    for (double logp : {-0.1, -1.0, -7.5}) CHECK(k3_kl(logp, logp) == 0.0);
}

// The loss gradient with respect to the logits of a tiny policy (a free [T, V] table), against
// central differences in double, for each aggregation, with ratios on both sides of the clip.
// Away from the clip's kinks the loss is smooth; h = 1e-6 gives ~1e-10 error against gradients
// of ~1e-2, so 1e-6 relative to the largest entry is a wide margin.
TEST_CASE("grpo: the loss gradient matches finite differences for each aggregation", "[grpo]") {
    Batch batch;
    batch.offsets = {0, 5, 9, 12};  // three sequences: prompt rows masked
    batch.tokens.assign(12, 7);
    batch.targets = {kIgnoreTarget, kIgnoreTarget, 3, 1, kIgnoreTarget,
                     kIgnoreTarget, 4, 0, kIgnoreTarget,
                     2, 2, kIgnoreTarget};
    const int64_t V = 6;
    MatD logits(12, V);
    Rng rng(8);
    for (int64_t i = 0; i < logits.size(); ++i) logits.data()[i] = rng.normal();
    std::vector<double> old_logp(12), ref_logp(12);
    for (int t = 0; t < 12; ++t) {
        if (batch.targets[t] == kIgnoreTarget) continue;
        double lse = 0;
        for (int v = 0; v < V; ++v) lse += std::exp(logits(t, v));
        const double logp = logits(t, batch.targets[t]) - std::log(lse);
        old_logp[t] = logp + (t % 2 ? 0.35 : -0.3);  // ratios e^-0.35 and e^0.3: both clip sides
        ref_logp[t] = logp + 0.2 * rng.normal();
    }
    const std::vector<double> advantages = {1.3, -0.7, 0.4};
    for (LossAggregation aggregation : {LossAggregation::Sequence, LossAggregation::Token, LossAggregation::Constant}) {
        GrpoLossOptions o;
        o.aggregation = aggregation;
        o.max_new_tokens = 7;
        MatD dlogits = MatD::Zero(12, V), unused = MatD::Zero(12, V);
        const GrpoLossReport report = grpo_loss(dlogits, logits, batch, old_logp, ref_logp, advantages, o);
        CHECK(report.tokens == 6);
        CHECK(report.clip_fraction > 0);
        CHECK(report.clip_fraction < 1);
        MatD numeric(12, V);
        for (int64_t i = 0; i < logits.size(); ++i) {
            const double saved = logits.data()[i];
            logits.data()[i] = saved + 1e-6;
            const double plus = grpo_loss(unused, logits, batch, old_logp, ref_logp, advantages, o).loss;
            logits.data()[i] = saved - 1e-6;
            const double minus = grpo_loss(unused, logits, batch, old_logp, ref_logp, advantages, o).loss;
            logits.data()[i] = saved;
            numeric.data()[i] = (plus - minus) / 2e-6;
        }
        INFO(aggregation_name(aggregation));
        CHECK((dlogits - numeric).cwiseAbs().maxCoeff() < 1e-6 * numeric.cwiseAbs().maxCoeff());
    }
}

using seek::test::save_toy_base;

TEST_CASE("grpo: a run that crashes resumes from its checkpoint and ends as an uninterrupted one", "[grpo]") {
    TempDir dir;
    GrpoOptions o = save_toy_base(dir);
    o.steps = 3;
    o.group = 3;
    o.inner_updates = 2;
    o.sample_every = 2;
    o.sample_prompts = 1;
    o.save_every = 1;

    GrpoRun full = start_grpo(dir.file("base"), o);
    REQUIRE(grpo_train(full, dir.file("full")));
    const std::vector<std::string> log = lines_of(dir.file("full/grpo.jsonl"));
    REQUIRE(log.size() == 5);  // samples 0, step 1, step 2, samples 2, step 3
    CHECK(log[0].find("\"kind\":\"samples\"") != std::string::npos);
    CHECK(log[3].find("\"kind\":\"samples\"") != std::string::npos);

    GrpoRun first = start_grpo(dir.file("base"), o);
    GrpoCallbacks crash;
    crash.on_step = [](const GrpoStepMetrics& m) {
        if (m.step == 2) throw std::runtime_error("simulated crash");
    };
    CHECK_THROWS(grpo_train(first, dir.file("crashed"), crash));
    GrpoRun resumed = resume_grpo(dir.file("crashed"));
    CHECK(resumed.optimizer.step == 2);  // step 1 saved, with its two inner updates
    REQUIRE(grpo_train(resumed, dir.file("crashed")));
    CHECK(file_bytes(dir.file("full/model.safetensors")) == file_bytes(dir.file("crashed/model.safetensors")));
    CHECK(lines_of(dir.file("crashed/grpo.jsonl")).size() == log.size());
    CHECK(file_bytes(dir.file("full/reference/model.safetensors")) == file_bytes(dir.file("base/model.safetensors")));
}

TEST_CASE("grpo: bad options and names are refused", "[grpo]") {
    CHECK_THROWS_WITH(aggregation_from_name("ppo"), Catch::Contains("'ppo'"));
    TempDir dir;
    const GrpoOptions valid = save_toy_base(dir);
    GrpoOptions o = valid;
    o.group = 1;
    CHECK_THROWS_WITH(start_grpo(dir.file("base"), o), Catch::Contains("group"));
    o = valid;
    o.task = "add:0";
    CHECK_THROWS_WITH(start_grpo(dir.file("base"), o), Catch::Contains("add:0"));
}

TEST_CASE("grpo: a problem file's problems are the prompts, and a resumed run keeps them", "[grpo]") {
    TempDir dir;
    GrpoOptions o = save_toy_base(dir);
    o.problems = {parse_problem("12+34"), parse_problem("5*6")};
    o.steps = 4;
    o.group = 2;
    o.sample_prompts = 0;
    o.save_every = 2;
    const GrpoOptions restored = grpo_options_from_json(grpo_options_to_json(o), "test");
    REQUIRE(restored.problems.size() == 2);
    CHECK(restored.problems[1].question == "5*6=");
    CHECK(restored.problems[1].answer == 30);

    std::map<std::string, int> drawn;
    for (int64_t step = 0; step < 50; ++step)
        for (const Problem& p : step_problems(o, step)) ++drawn[p.question];
    CHECK(drawn.size() == 2);  // only the file's problems, both of them
    CHECK(drawn["12+34="] > 30);
    CHECK(drawn["5*6="] > 30);
    CHECK(step_problems(o, 7)[1].question == step_problems(restored, 7)[1].question);

    GrpoRun run = start_grpo(dir.file("base"), o);
    REQUIRE(grpo_train(run, dir.file("run")));
    const GrpoRun resumed = resume_grpo(dir.file("run"));
    REQUIRE(resumed.options.problems.size() == 2);
    CHECK(resumed.options.problems[0].question == "12+34=");
}

TEST_CASE("grpo: --format-reward is what a well-formed completion that thinks first earns", "[grpo]") {
    TempDir dir;
    GrpoOptions o = default_grpo_options();
    o.steps = 1;
    o.prompts = 1;
    o.group = 4;
    o.sample_prompts = 3;
    o.format_reward = 0.5;
    nlohmann::json saved = grpo_options_to_json(o);
    CHECK(grpo_options_from_json(saved, "test").format_reward == 0.5);
    saved.erase("format_reward");  // a run saved before the option existed keeps the old 0.1
    CHECK(grpo_options_from_json(saved, "test").format_reward == kFormatReward);

    // The bundled base writes a think block in about 4 of 10 samples at temperature 1.
    GrpoRun run = start_grpo(SEEK_TOY_DIR "/base", o);
    REQUIRE(grpo_train(run, dir.file("run")));
    int thinking = 0, direct = 0;
    for (const std::string& line : lines_of(dir.file("run") + "/grpo.jsonl")) {
        const nlohmann::json row = nlohmann::json::parse(line);
        if (row.value("kind", "") != "samples") continue;
        for (const nlohmann::json& prompt : row.at("prompts")) {
            std::string question = prompt.at("question");
            const Problem problem = parse_problem(question.substr(0, question.size() - 1));
            for (const nlohmann::json& c : prompt.at("completions")) {
                const Verdict v = verify_completion(problem, c.at("text"));
                const bool pays_format = v.well_formed && v.has_think;
                (pays_format ? thinking : direct) += 1;
                CHECK(c.at("reward").get<double>() == Approx((v.correct ? 1.0 : 0.0) + (pays_format ? 0.5 : 0.0)));
            }
        }
    }
    CHECK(thinking > 0);  // both kinds occur, so the check above saw the weight paid and withheld
    CHECK(direct > 0);
    o.format_reward = -1;
    CHECK_THROWS_WITH(start_grpo(SEEK_TOY_DIR "/base", o), Catch::Contains("format_reward"));
}
