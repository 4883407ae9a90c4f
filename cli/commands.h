// Every `seek` subcommand: one function each, in a file named for it. argv[0] is the first
// argument after the subcommand. Each returns the process exit status.
#pragma once

#include <string>

#include "../core/config.h"
#include "args.h"

namespace seek::cli {

int run_info(int argc, char** argv);     // info.cpp: parameters and FLOPs per component
int run_kv(int argc, char** argv);       // kv.cpp: KV-cache bytes, MHA/GQA/MQA/MLA
int run_step(int argc, char** argv);     // step.cpp: guided forward pass over traced tensors
int run_compare(int argc, char** argv);  // compare.cpp: diff two trace files
int run_bench(int argc, char** argv);    // bench.cpp: timings on this CPU

// The options every command that needs a model shape takes: --preset NAME or --config FILE.
Option preset_option(const std::string& default_preset);
Option config_option();
ModelConfig config_from_args(const ParsedArgs& args);
// --context N: 1 .. 2^30 tokens, so that byte and FLOP products stay inside int64.
int64_t context_from_args(const ParsedArgs& args);

}  // namespace seek::cli
