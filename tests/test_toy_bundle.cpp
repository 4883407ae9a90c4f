// The bundled toy models (data/toy, made by scripts/make_toy.sh): they load, and they are what
// the README and lesson 5 say they are. A smaller sample than the reported 500 problems, on other
// held-out problems (another seed), with bounds far from the measured values: the test fails if
// the bundle is replaced by an untrained or a different model, not because of sampling noise.
#include <catch2/catch.hpp>

#include "core/grpo.h"
#include "core/model.h"

using namespace seek;

TEST_CASE("toy bundle: GRPO turned curt, often wrong answers into worked, right ones", "[grpo][bundle][slow]") {
    ModelConfig base_config, grpo_config;
    const ModelWeights base = load_model(SEEK_TOY_DIR "/base", base_config);
    const ModelWeights grpo = load_model(SEEK_TOY_DIR "/grpo", grpo_config);
    CHECK(base_config.num_hidden_layers == grpo_config.num_hidden_layers);
    CHECK(base_config.hidden_size == grpo_config.hidden_size);

    const std::vector<Problem> problems = heldout_problems(task_from_name("add:4-5"), 200, 1);
    for (const float temperature : {0.0f, 1.0f}) {
        const EvalReport before = evaluate(base_config, base, problems, temperature, 1, 192);
        const EvalReport after = evaluate(grpo_config, grpo, problems, temperature, 1, 192);
        INFO("temperature " << temperature << ": accuracy " << before.accuracy << " -> " << after.accuracy
                            << ", think rate " << before.think_rate << " -> " << after.think_rate << ", length "
                            << before.mean_length << " -> " << after.mean_length);
        CHECK(before.accuracy < 0.6);
        CHECK(after.accuracy > 0.8);
        CHECK(before.think_rate < 0.6);
        CHECK(after.think_rate > 0.9);
        CHECK(after.format_rate > 0.9);
        CHECK(after.mean_length > 1.2 * before.mean_length);
    }
}
