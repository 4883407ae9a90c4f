// Every `seek` subcommand: one function each, in a file named for it. argv[0] is the first
// argument after the subcommand. Each returns the process exit status.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../core/bpe.h"
#include "../core/config.h"
#include "../core/stream.h"
#include "../core/tokenizer.h"
#include "../common/args.h"

namespace seek::cli {

int run_info(int argc, char** argv);     // info.cpp: parameters and FLOPs per component
int run_kv(int argc, char** argv);       // kv.cpp: KV-cache bytes, MHA/GQA/MQA/MLA
int run_step(int argc, char** argv);     // step.cpp: guided forward pass over traced tensors
int run_compare(int argc, char** argv);  // compare.cpp: diff two trace files
int run_bench(int argc, char** argv);    // bench.cpp: timings on this CPU
int run_route(int argc, char** argv);    // route.cpp: MoE routing, statistics, balancing simulator
int run_fp8(int argc, char** argv);      // fp8.cpp: fp8 quant / gemm / encode
int run_convert(int argc, char** argv);  // convert.cpp: checkpoint precision conversion
int run_train(int argc, char** argv);    // train.cpp: pretraining with AdamW, MTP, balancing
int run_generate(int argc, char** argv); // generate.cpp: sampling from a trained model
int run_grpo(int argc, char** argv);     // grpo.cpp: GRPO reinforcement learning
int run_kernels(int argc, char** argv);  // kernels.cpp: gpu/ kernels against core, timed on a GPU
int run_eval(int argc, char** argv);     // eval.cpp: held-out accuracy of a model
int run_tokenize(int argc, char** argv); // tokenize.cpp: DeepSeek's BPE tokenizer on texts

// "0.001", "1e-05": a default value for --help.
std::string number_text(double value);

// The options every command that needs a model shape takes: --preset NAME or --config FILE.
Option preset_option(const std::string& default_preset);
Option config_option();
ModelConfig config_from_args(const ParsedArgs& args);
// --context N: 1 .. 2^30 tokens, so that byte and FLOP products stay inside int64.
int64_t context_from_args(const ParsedArgs& args);

// --model DIR, checked before loading: a folder without config.json is refused with the list of
// its subfolders that hold a checkpoint (`--model data/toy` -> data/toy/base, data/toy/grpo).
std::string model_dir_from_args(const ParsedArgs& args);

// TEXT through the toy tokenizer; its error becomes a UsageError naming `option`.
std::vector<int32_t> tokens_of_prompt(const std::string& text, const std::string& option);
// --prompt TEXT through the toy tokenizer, checked against the config's vocabulary and positions.
std::vector<int32_t> prompt_from_args(const ParsedArgs& args, const ModelConfig& config);

// A checkpoint's prompt through its tokenizer (core/tokenizer.h's CheckpointTokenizer); what the
// tokenizer refuses becomes a UsageError naming `option`.
std::vector<int32_t> encode_checkpoint_prompt(const CheckpointTokenizer& tokenizer, const std::string& prompt,
                                              const std::string& option);

// --memory 16G: bytes with an optional K, M, G or T suffix (powers of 1024).
int64_t memory_from_args(const ParsedArgs& args, const std::string& option = "memory");

// `--model DIR` read in place (core/stream.h) with --memory (default 16G) and --expert-seed from
// the command line; a budget too small for one layer is a UsageError. Its source draws a progress
// bar over `layer_calls` layers.
StreamedModel open_streamed_from_args(const ParsedArgs& args, bool head, int64_t layer_calls);

// For work that frees and allocates the same large matrices over and over (the routing simulator's
// tokens x experts scores, the MoE bench's 176 MB experts): glibc hands such blocks back to the
// kernel on free, and faulting them back in cost as much as the work itself on a small VM. After
// this call freed memory stays in the process for the next allocation.
void keep_freed_memory();

// Long runs (train, grpo) save to --out DIR, a run folder (core/run_folder.h). With --resume, DIR
// must hold a committed run and no other option may be given (the run keeps its own); without it,
// DIR must hold neither a run nor a model (config.json, *.safetensors, ...: never clobber one, the
// --model of `seek grpo` included). Returns whether to resume; throws UsageError otherwise.
bool resuming_run(const CommandSpec& spec, const ParsedArgs& args, const std::string& out);

// Long runs (train, grpo): Ctrl-C and SIGTERM set the returned flag instead of ending the process,
// so the run can save before it stops; release_interrupts restores the default handlers.
const std::atomic<bool>& catch_interrupts();
void release_interrupts();

}  // namespace seek::cli
