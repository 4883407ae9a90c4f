// An untrained toy model saved as dir/base, and short-run GRPO options on it (rewards are mostly 0,
// which is fine: the tests that use it check the plumbing). Shared by test_grpo.cpp and
// test_threads.cpp.
#pragma once

#include "core/grpo.h"
#include "core/model.h"
#include "temp_dir.h"

namespace seek::test {

inline GrpoOptions save_toy_base(const TempDir& dir) {
    ModelConfig config = preset_config("toy");
    ModelWeights base = init_model_weights(config, 2, 0.1f);
    save_model(dir.file("base"), config, base);
    GrpoOptions o = default_grpo_options();
    o.task = "add:1";
    o.prompts = 2;
    o.max_new_tokens = 6;
    return o;
}

}  // namespace seek::test
