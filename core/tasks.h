// Toy reasoning tasks: arithmetic problems with answers a program can check, the text a character
// model is pretrained on, and the verifier that turns a completion into a reward for GRPO, as in
// DeepSeek-R1-Zero (rule-based accuracy and format rewards, no learned reward model).
//
// A prompt is "<bos>" + question; the model writes the completion. Completion formats:
//
//   direct   <answer>534</answer><eos>
//   traced   <think>TRACE</think><answer>534</answer><eos>
//
// Addition traces go column by column, rightmost first, as "x+y=s" or, with a carry in, "x+y+1=s",
// a missing digit written 0. The answer is the last column's sum followed by the other columns'
// last digits, right to left:
//
//   478+56=   plain    8+6=14 7+5+1=13 4+0+1=5
//             checked  8+6=14 7+5+1=13 4+0+1=5 check 6+8=14 5+7+1=13 0+4+1=5 ok
//             retry    8+6=14 7+5+1=12 4+0+1=5 check 6+8=14 5+7+1=13 0+4+1=5 wrong retry 8+6=14 7+5+1=13 4+0+1=5
//
// Multiplication traces take one partial product per digit of the second operand, rightmost
// first, then add them up in a running sum:
//
//   47*86=    plain    47*6=282 47*80=3760 282+3760=4042
//             checked  ... check 86*7=602 86*40=3440 602+3440=4042 ok
//             retry    47*6=292 47*80=3760 292+3760=4052 check 86*7=602 86*40=3440 602+3440=4042 wrong retry 47*6=282 ...
//
// "check" redoes the work with the operands swapped (the same skill, an independent result);
// "ok" says it agrees. In a retry trace the first attempt has exactly one slip (one digit of one
// column sum or one step's result; an addition slip keeps the carry, a multiplication slip carries
// into the later sums), the check disagrees ("wrong") and a corrected attempt follows. The corpus
// shows these patterns so that GRPO has behaviours to reinforce, as R1-Zero's "aha" re-checks.
// The longest 5+5-digit addition example (retry) is 170 tokens, within the toy's 256 context.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "random.h"

namespace seek {

// ---------------------------------------------------------------------------------------------
// Problems

// Names: "add" (add:1-5), "mul" (mul:2), or FAMILY:N (both operands N digits) or FAMILY:MIN-MAX.
// Digits go up to 18 for add and 9 for mul, so every answer fits in an int64.
struct TaskSpec {
    std::string family = "add";  // "add" or "mul"
    int min_digits = 1;          // operand digit counts, inclusive
    int max_digits = 5;
};

// Throws std::invalid_argument naming the task and listing the valid forms.
TaskSpec task_from_name(const std::string& name);
std::string task_name(const TaskSpec& spec);  // canonical: "add:1-5", "mul:2"
void validate_task(const TaskSpec& spec);     // throws std::invalid_argument naming the field

struct Problem {
    std::string family;    // "add" or "mul"
    int64_t a = 0, b = 0;  // operands, >= 0
    std::string question;  // "478+56=", "47*86="
    int64_t answer = 0;    // a + b or a * b
};

// A problem drawn from the rng: each operand's digit count uniform in [min_digits, max_digits],
// then the operand uniform among numbers with that many digits (one digit: 0-9). Both splits.
Problem make_problem(const TaskSpec& spec, Rng& rng);

// Held-out problems never appear in training: a problem is held out when a hash of (family,
// min(a,b), max(a,b)) is 0 mod 10, so about 10% are, whatever the digit range, and b+a goes with
// a+b (both operations commute, a model that learned one knows the other).
enum class Split { Train, Heldout };
bool is_heldout(const Problem& problem);

// Problem `index` of `split`, a pure function of (spec, seed, index, split): problems are drawn
// from Rng(seed, index) until one lands in the split. Throws std::runtime_error if 10000 draws
// find none (a digit range too small to have held-out problems).
Problem make_problem(const TaskSpec& spec, uint64_t seed, uint64_t index, Split split);

std::string prompt_text(const Problem& problem);  // "<bos>478+56="

// A problem as a person writes it: "478+56" or "47*86", with an optional trailing "=" and spaces
// around. Operands are non-negative whole numbers without leading zeros, at most 18 digits for
// add and 9 for mul. Throws std::invalid_argument saying what is wrong.
Problem parse_problem(const std::string& text);

// A problem file: one problem per line as parse_problem reads it; blank lines and lines starting
// with '#' are skipped. Throws std::runtime_error naming "PATH:LINE" for a malformed line or one
// longer than kMaxProblemLineBytes, and for a file that cannot be read, is not a regular file (a
// FIFO, a directory: refused before it is opened), is larger than kMaxProblemFileBytes or holds
// no problem.
std::vector<Problem> load_problems(const std::string& path);
constexpr size_t kMaxProblemLineBytes = 4096;
constexpr uint64_t kMaxProblemFileBytes = 64u << 20;

// ---------------------------------------------------------------------------------------------
// Completions

enum class TraceStyle { Plain, Checked, Retry };

std::string direct_completion(const Problem& problem);  // "<answer>534</answer><eos>"
// "<think>TRACE</think><answer>534</answer><eos>"; the rng only places a Retry trace's slip.
std::string traced_completion(const Problem& problem, TraceStyle style, Rng& rng);

// Shares of the four formats in the pretraining corpus; any non-negative weights, normalized.
struct CorpusMix {
    double direct = 0.7, traced = 0.2, checked = 0.05, retry = 0.05;
};

struct TrainingExample {
    std::string text;         // "<bos>478+56=<answer>534</answer><eos>"
    size_t completion_start;  // byte offset of the completion in text: the loss covers text from here
    Problem problem;
    std::string style;        // "direct", "traced", "checked" or "retry"
};

// An example of problem make_problem(spec, seed, index, split) in a format drawn from the mix, a
// pure function of its arguments: a resumed run regenerates a step's batch exactly. The held-out
// split gives evaluation text in the same formats. Throws std::invalid_argument for a negative,
// non-finite or all-zero mix.
TrainingExample make_training_example(const TaskSpec& spec, const CorpusMix& mix, uint64_t seed, uint64_t index,
                                      Split split = Split::Train);

// ---------------------------------------------------------------------------------------------
// Verifier and rewards
//
// Only the text before the first <eos> is judged; anything after it makes the completion
// malformed but is otherwise ignored (generation stops at <eos>).
//
// An answer parses when it is a canonical non-negative integer below 2^63: 1 to 19 digits (an
// 18-digit addition's sum has 19), no sign, no spaces, no leading zero unless it is "0". Anything else ("0534", "-5", "+5", "", "5.0") does
// not parse: one spelling per number, so the reward cannot be met by padding.
//
// well_formed: the whole completion is
//     [ "<think>" TEXT "</think>" ] "<answer>" ANSWER "</answer>" [ "<eos>" ]
//   with TEXT free of special tokens, ANSWER an answer that parses, nothing before, between or
//   after (a completion cut off before <eos> but after </answer> is still well formed).
// correct: the text before <eos> holds exactly one "<answer>" and one "</answer>", in that order,
//   and what lies between parses to the problem's answer, whatever surrounds it (the format is
//   rewarded separately). Two answer blocks are never correct, even if one is right.
struct Verdict {
    bool well_formed = false;
    bool has_think = false;  // starts with "<think>" and closes it with "</think>" before <eos>
    bool correct = false;
    bool checked = false;    // the think block contains "check"
    bool retried = false;    // the think block contains "retry"
    std::optional<int64_t> parsed_answer;
    std::string problem_note;  // empty when well formed and correct; else every problem found, "; "-separated
};

Verdict verify_completion(const Problem& problem, const std::string& completion);

double accuracy_reward(const Verdict& verdict);  // 1 if correct, else 0
// `weight` (0.1 unless `seek grpo --format-reward` says otherwise) if well formed WITH a think
// block, else 0. R1-Zero rewards the think tags too, but its papers give no weights: 0.1 is this
// project's choice, small next to accuracy so that a well-formed wrong answer never scores near a
// right one. Note that it does pay for thinking: a right direct answer earns 1, a right traced one
// 1.1. No length reward.
constexpr double kFormatReward = 0.1;
double format_reward(const Verdict& verdict, double weight = kFormatReward);

}  // namespace seek
