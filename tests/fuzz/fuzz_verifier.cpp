// Fuzz target: the completion verifier (core/tasks.h verify_completion), GRPO's reward.
// Input: 16 bytes that pick a problem (the first bit the family, then both operands, as many
// digits as the task allows: 18 for add, 9 for mul), one byte seeding the trace, then a completion.
//  - any completion: a verdict, never a crash; "correct" only with the problem's answer
//  - the corpus' own completions of the problem (direct, traced, checked, retry) are correct and
//    well formed: every answer a task can produce parses (an 18-digit sum has 19 digits)
#include <cstring>
#include <stdexcept>

#include "core/tasks.h"
#include "fuzz_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 17) return 0;
    uint64_t bits[2];
    std::memcpy(bits, data, 16);
    const bool add = (bits[0] & 1) == 0;
    const uint64_t limit = add ? 1000000000000000000ull : 1000000000ull;  // 18 or 9 digits
    const std::string question =
        std::to_string((bits[0] >> 1) % limit) + (add ? "+" : "*") + std::to_string(bits[1] % limit);
    const seek::Problem problem = seek::parse_problem(question);
    const std::string completion(reinterpret_cast<const char*>(data) + 17, size - 17);

    const seek::Verdict verdict = seek::verify_completion(problem, completion);
    if (verdict.correct) seek::fuzz::require(verdict.parsed_answer && *verdict.parsed_answer == problem.answer);
    if (verdict.well_formed) seek::fuzz::require(verdict.parsed_answer.has_value());

    seek::Rng rng(data[16]);
    const std::string own[] = {seek::direct_completion(problem),
                               seek::traced_completion(problem, seek::TraceStyle::Plain, rng),
                               seek::traced_completion(problem, seek::TraceStyle::Checked, rng),
                               seek::traced_completion(problem, seek::TraceStyle::Retry, rng)};
    for (const std::string& text : own) {
        const seek::Verdict v = seek::verify_completion(problem, text);
        seek::fuzz::require(v.correct && v.well_formed && v.problem_note.empty());
    }
    return 0;
}
