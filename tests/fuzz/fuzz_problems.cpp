// Fuzz target: problem files (core/tasks.h load_problems, parse_problem). A problem that parses
// has the answer of its operands, and its question parses back to the same problem.
#include <stdexcept>

#include "core/tasks.h"
#include "fuzz_input.h"

static void check(const seek::Problem& p) {
    seek::fuzz::require(p.a >= 0 && p.b >= 0);
    seek::fuzz::require(p.answer == (p.family == "add" ? p.a + p.b : p.a * p.b));
    const seek::Problem again = seek::parse_problem(p.question);
    seek::fuzz::require(again.a == p.a && again.b == p.b && again.family == p.family);
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static seek::fuzz::InputFile input;
    const std::string& path = input.hold(data, size);
    try {
        for (const seek::Problem& p : seek::load_problems(path)) check(p);
    } catch (const std::runtime_error&) {
    }
    try {
        check(seek::parse_problem(std::string(reinterpret_cast<const char*>(data), size)));
    } catch (const std::invalid_argument&) {
    }
    return 0;
}
