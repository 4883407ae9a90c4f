// seek: the command line for everything seekscope shows.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "../core/simd.h"
#include "commands.h"

namespace {

struct Subcommand {
    const char* name;
    const char* summary;
    int (*run)(int argc, char** argv);
};

const Subcommand subcommands[] = {
    {"info", "parameters (total and activated per token) and FLOPs of a model, per component", seek::cli::run_info},
    {"kv", "KV-cache bytes per token and per context: MHA, GQA, MQA and MLA", seek::cli::run_kv},
    {"step", "run a model on a prompt (a checkpoint, or generated weights) and walk through every traced tensor", seek::cli::run_step},
    {"compare", "diff two trace files name by name", seek::cli::run_compare},
    {"route", "DeepSeekMoE routing: gate, expert load, and the V3-scale balancing simulator", seek::cli::run_route},
    {"fp8", "FP8 formats, fine-grained scaling and FP8 GEMM accumulation error (quant, gemm, encode)", seek::cli::run_fp8},
    {"convert", "convert a checkpoint between FP8, BF16 and F32 in the HF layout", seek::cli::run_convert},
    {"train", "pretrain the toy model on an arithmetic corpus (AdamW, MTP, bias balancing, FP8 GEMMs)", seek::cli::run_train},
    {"generate", "complete a prompt with a trained model (greedy, temperature, top-p)", seek::cli::run_generate},
    {"grpo", "GRPO: reinforcement learning from verifiable rewards (R1-Zero style) on a trained model", seek::cli::run_grpo},
    {"eval", "held-out accuracy, format, think and check/retry rates and length of a model on a task", seek::cli::run_eval},
    {"tokenize", "DeepSeek's BPE tokenizer from a tokenizer.json: the ids and pieces of texts", seek::cli::run_tokenize},
    {"kernels", "check every gpu/ kernel and variant against core (emulator or GPU), and time it on a GPU", seek::cli::run_kernels},
    {"bench", "benchmarks on this machine (decode: toy decoding speed; gemm: FP32 GEMMs vs peak; mla: naive vs absorbed decoding; moe: one MoE layer; train: toy training throughput)", seek::cli::run_bench},
};

void print_usage(FILE* out) {
    std::fprintf(out, "usage: seek COMMAND [options]   (seek COMMAND --help for details)\n\ncommands:\n");
    for (const Subcommand& sub : subcommands) std::fprintf(out, "  %-9s %s\n", sub.name, sub.summary);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        print_usage(stderr);
        return 2;
    }
    const std::string name = argv[1];
    if (name == "--help" || name == "-h" || name == "help") {
        print_usage(stdout);
        return 0;
    }
    for (const Subcommand& sub : subcommands) {
        if (name != sub.name) continue;
        try {
            seek::simd_level();  // an unknown or unavailable SEEK_SIMD stops every command before it starts
            return sub.run(argc - 2, argv + 2);
        } catch (const seek::UsageError& error) {
            std::fprintf(stderr, "seek %s: %s\n", sub.name, error.what());
            return 2;
        } catch (const std::exception& error) {
            std::fprintf(stderr, "seek %s: error: %s\n", sub.name, error.what());
            return 1;
        }
    }
    std::vector<std::string> names;
    for (const Subcommand& sub : subcommands) names.push_back(sub.name);
    const std::string suggestion = seek::closest_name(name, names);
    if (!suggestion.empty())
        std::fprintf(stderr, "seek: unknown command '%s'; did you mean '%s'?\n", name.c_str(), suggestion.c_str());
    else
        std::fprintf(stderr, "seek: unknown command '%s' (seek --help lists them)\n", name.c_str());
    return 2;
}
