#include "tasks.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "fileio.h"
#include "tokenizer.h"

namespace seek {

// ---------------------------------------------------------------------------------------------
// Problems

// The most digits an operand may have so that the answer fits in an int64 (< 9.22e18).
static int max_operand_digits(const std::string& family) { return family == "mul" ? 9 : 18; }

static const char* const kValidTasks =
    "valid: add, mul, add:N, add:MIN-MAX, mul:N, mul:MIN-MAX with 1 <= MIN <= MAX, digits up to 18 for add, 9 for mul";

std::string task_name(const TaskSpec& spec) {
    const std::string digits = spec.min_digits == spec.max_digits
                                   ? std::to_string(spec.min_digits)
                                   : std::to_string(spec.min_digits) + "-" + std::to_string(spec.max_digits);
    return spec.family + ":" + digits;
}

void validate_task(const TaskSpec& spec) {
    const std::string where = "task '" + task_name(spec) + "': ";
    if (spec.family != "add" && spec.family != "mul")
        throw std::invalid_argument(where + "family must be add or mul, got '" + spec.family + "'");
    if (spec.min_digits < 1) throw std::invalid_argument(where + "min_digits must be >= 1");
    if (spec.max_digits < spec.min_digits) throw std::invalid_argument(where + "max_digits must be >= min_digits");
    if (spec.max_digits > max_operand_digits(spec.family))
        throw std::invalid_argument(where + "max_digits must be <= " + std::to_string(max_operand_digits(spec.family)) +
                                    " for " + spec.family + " (the answer must fit in an int64)");
}

// "5" -> 5; anything but 1-2 plain digits -> -1 (no digit count above 18 is valid anyway).
static int parse_digit_count(const std::string& text) {
    if (text.empty() || text.size() > 2) return -1;
    for (char c : text)
        if (c < '0' || c > '9') return -1;
    return std::stoi(text);
}

TaskSpec task_from_name(const std::string& name) {
    const std::string bad = "unknown task '" + name + "' (" + kValidTasks + ")";
    const size_t colon = name.find(':');
    TaskSpec spec;
    spec.family = name.substr(0, colon);
    if (spec.family == "mul") spec.min_digits = spec.max_digits = 2;
    else if (spec.family != "add") throw std::invalid_argument(bad);
    if (colon != std::string::npos) {
        const std::string digits = name.substr(colon + 1);
        const size_t dash = digits.find('-');
        spec.min_digits = parse_digit_count(digits.substr(0, dash));
        spec.max_digits = dash == std::string::npos ? spec.min_digits : parse_digit_count(digits.substr(dash + 1));
        if (spec.min_digits < 0 || spec.max_digits < 0) throw std::invalid_argument(bad);
    }
    try {
        validate_task(spec);
    } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(std::string(e.what()) + " (" + kValidTasks + ")");
    }
    return spec;
}

static int64_t power_of_ten(int exponent) {
    int64_t p = 1;
    for (int i = 0; i < exponent; ++i) p *= 10;
    return p;
}

// Uniform in [0, n) by rejection: a plain modulo would favour small values by up to 5% when n is
// near 1e18.
static uint64_t uniform_below(Rng& rng, uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;  // a multiple of n (or n short of one)
    uint64_t x = rng.next_u64();
    while (x >= limit) x = rng.next_u64();
    return x % n;
}

static int64_t draw_operand(const TaskSpec& spec, Rng& rng) {
    const int digits = spec.min_digits + static_cast<int>(uniform_below(rng, spec.max_digits - spec.min_digits + 1));
    const int64_t lowest = digits == 1 ? 0 : power_of_ten(digits - 1);
    return lowest + static_cast<int64_t>(uniform_below(rng, power_of_ten(digits) - lowest));
}

static Problem problem_of(const std::string& family, int64_t a, int64_t b) {
    Problem p;
    p.family = family;
    p.a = a;
    p.b = b;
    const bool add = family == "add";
    p.question = std::to_string(a) + (add ? "+" : "*") + std::to_string(b) + "=";
    p.answer = add ? a + b : a * b;
    return p;
}

Problem make_problem(const TaskSpec& spec, Rng& rng) {
    validate_task(spec);
    const int64_t a = draw_operand(spec, rng);
    return problem_of(spec.family, a, draw_operand(spec, rng));
}

bool is_heldout(const Problem& problem) {
    const uint64_t low = static_cast<uint64_t>(std::min(problem.a, problem.b));
    const uint64_t high = static_cast<uint64_t>(std::max(problem.a, problem.b));
    return splitmix64(splitmix64(hash_name(problem.family) ^ low) ^ high) % 10 == 0;
}

// An rng for (seed, index), one independent stream per purpose (salt).
static Rng indexed_rng(uint64_t seed, uint64_t index, uint64_t salt) {
    return Rng(splitmix64(splitmix64(seed ^ salt) ^ splitmix64(index)));
}

Problem make_problem(const TaskSpec& spec, uint64_t seed, uint64_t index, Split split) {
    Rng rng = indexed_rng(seed, index, 0);
    for (int draw = 0; draw < 10000; ++draw) {
        Problem p = make_problem(spec, rng);
        if (is_heldout(p) == (split == Split::Heldout)) return p;
    }
    throw std::runtime_error("task '" + task_name(spec) + "': 10000 draws found no " +
                             (split == Split::Heldout ? "held-out" : "training") + " problem");
}

std::string prompt_text(const Problem& problem) { return "<bos>" + problem.question; }

// Long junk is cut in messages and notes, so a 10 MB line does not make a 10 MB error or log line.
static std::string shown(const std::string& text) {
    return "'" + (text.size() <= 40 ? text : text.substr(0, 40) + "...") + "'";
}

Problem parse_problem(const std::string& text) {
    const size_t first = text.find_first_not_of(" \t\r");
    const size_t last = text.find_last_not_of(" \t\r");
    std::string core = first == std::string::npos ? "" : text.substr(first, last - first + 1);
    if (!core.empty() && core.back() == '=') core.pop_back();
    const size_t op = core.find_first_of("+*");
    const std::string kForm = "expected A+B or A*B with non-negative whole numbers, like 478+56 or 47*86";
    if (op == std::string::npos) throw std::invalid_argument(shown(core) + " is not a problem: " + kForm);
    const std::string family = core[op] == '+' ? "add" : "mul";
    int64_t operands[2];
    const std::string parts[2] = {core.substr(0, op), core.substr(op + 1)};
    for (int i = 0; i < 2; ++i) {
        const std::string& part = parts[i];
        const bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
        if (!digits) throw std::invalid_argument(shown(core) + ": operand " + shown(part) + " is not a whole number; " + kForm);
        if (part.size() > 1 && part[0] == '0')
            throw std::invalid_argument(shown(core) + ": operand " + shown(part) + " has a leading zero");
        if (part.size() > static_cast<size_t>(max_operand_digits(family)))
            throw std::invalid_argument(shown(core) + ": operand " + shown(part) + " has " + std::to_string(part.size()) +
                                        " digits; " + family + " allows at most " +
                                        std::to_string(max_operand_digits(family)) + " (the answer must fit in 64 bits)");
        operands[i] = std::stoll(part);
    }
    return problem_of(family, operands[0], operands[1]);
}

std::vector<Problem> load_problems(const std::string& path) {
    // A regular file (a FIFO or a directory is refused before it is opened), of a sane size.
    const std::string text = read_regular_file(path, kMaxProblemFileBytes);
    std::vector<Problem> problems;
    size_t start = 0;
    for (int64_t line_number = 1; start < text.size(); ++line_number) {
        const size_t end = std::min(text.find('\n', start), text.size());
        const std::string line = text.substr(start, end - start);
        start = end + 1;
        const std::string where = path + ":" + std::to_string(line_number) + ": ";
        if (line.size() > kMaxProblemLineBytes)
            throw std::runtime_error(where + "the line has " + std::to_string(line.size()) + " bytes; a problem line has at most " +
                                     std::to_string(kMaxProblemLineBytes));
        const size_t first = line.find_first_not_of(" \t\r");
        if (first == std::string::npos || line[first] == '#') continue;
        try {
            problems.push_back(parse_problem(line));
        } catch (const std::invalid_argument& error) {
            throw std::runtime_error(where + error.what());
        }
    }
    if (problems.empty()) throw std::runtime_error(path + ": no problems (write one per line, like 478+56 or 47*86)");
    return problems;
}

// ---------------------------------------------------------------------------------------------
// Traces

// Decimal digits, rightmost first; 0 has the one digit 0.
static std::vector<int> digits_of(int64_t n) {
    std::vector<int> digits;
    do {
        digits.push_back(static_cast<int>(n % 10));
        n /= 10;
    } while (n > 0);
    return digits;
}

// `value` with its digit at `position` (0 = rightmost) changed to another digit, 0 excluded when
// the digit leads the answer, so a slip is still a plain number.
static int64_t change_digit(int64_t value, size_t position, bool zero_allowed, Rng& rng) {
    const int old_digit = digits_of(value)[position];
    int new_digit = old_digit;
    while (new_digit == old_digit || (!zero_allowed && new_digit == 0)) new_digit = static_cast<int>(uniform_below(rng, 10));
    return value + (new_digit - old_digit) * power_of_ten(static_cast<int>(position));
}

// "8+6=14 7+5+1=13 4+0+1=5" for 478+56. If slip_column >= 0 that column's last digit is wrong
// (its carry stays right, so later columns are unaffected).
static std::string addition_attempt(int64_t a, int64_t b, int slip_column, Rng& rng) {
    const std::vector<int> x = digits_of(a), y = digits_of(b);
    const size_t columns = std::max(x.size(), y.size());
    std::string text;
    int carry = 0;
    for (size_t i = 0; i < columns; ++i) {
        const int xi = i < x.size() ? x[i] : 0, yi = i < y.size() ? y[i] : 0;
        const int sum = xi + yi + carry;
        // In the last column a one-digit sum is the answer's leading digit: a slip never makes it 0.
        const bool leads = i + 1 == columns && sum < 10;
        const int64_t written = static_cast<int>(i) == slip_column ? change_digit(sum, 0, !leads, rng) : sum;
        text += (i ? " " : "") + std::to_string(xi) + "+" + std::to_string(yi) + (carry ? "+1" : "") + "=" +
                std::to_string(written);
        carry = sum / 10;
    }
    return text;
}

// "47*6=282 47*80=3760 282+3760=4042" for 47*86: one partial product per digit of b, then a running
// sum. If slip_step >= 0 that step's result has one wrong digit, and later sums use it.
static std::string multiplication_attempt(int64_t a, int64_t b, int slip_step, Rng& rng) {
    std::string text;
    int step = 0;
    auto write = [&](const std::string& left, int64_t value) {
        if (step++ == slip_step) {
            const size_t length = digits_of(value).size(), position = uniform_below(rng, length);
            value = change_digit(value, position, length == 1 || position + 1 < length, rng);
        }
        text += (text.empty() ? "" : " ") + left + "=" + std::to_string(value);
        return value;
    };
    const std::vector<int> digits = digits_of(b);
    std::vector<int64_t> partials;
    for (size_t k = 0; k < digits.size(); ++k) {
        const int64_t multiplier = digits[k] * power_of_ten(static_cast<int>(k));
        partials.push_back(write(std::to_string(a) + "*" + std::to_string(multiplier), a * multiplier));
    }
    int64_t sum = partials[0];
    for (size_t k = 1; k < partials.size(); ++k)
        sum = write(std::to_string(sum) + "+" + std::to_string(partials[k]), sum + partials[k]);
    return text;
}

static int attempt_steps(const Problem& p) {
    if (p.family == "add") return static_cast<int>(std::max(digits_of(p.a).size(), digits_of(p.b).size()));
    return 2 * static_cast<int>(digits_of(p.b).size()) - 1;
}

static std::string attempt(const Problem& p, bool swapped, int slip_step, Rng& rng) {
    if (p.a < 0 || p.b < 0) throw std::invalid_argument("problem '" + p.question + "': operands must be >= 0");
    const int64_t first = swapped ? p.b : p.a, second = swapped ? p.a : p.b;
    if (p.family == "add") return addition_attempt(first, second, slip_step, rng);
    if (p.family == "mul") return multiplication_attempt(first, second, slip_step, rng);
    throw std::invalid_argument("problem '" + p.question + "': family must be add or mul, got '" + p.family + "'");
}

static std::string answer_block(const Problem& p) { return "<answer>" + std::to_string(p.answer) + "</answer><eos>"; }

std::string direct_completion(const Problem& problem) { return answer_block(problem); }

std::string traced_completion(const Problem& problem, TraceStyle style, Rng& rng) {
    std::string trace;
    if (style == TraceStyle::Plain) {
        trace = attempt(problem, false, -1, rng);
    } else if (style == TraceStyle::Checked) {
        trace = attempt(problem, false, -1, rng) + " check " + attempt(problem, true, -1, rng) + " ok";
    } else {
        const int slip = static_cast<int>(uniform_below(rng, attempt_steps(problem)));
        trace = attempt(problem, false, slip, rng) + " check " + attempt(problem, true, -1, rng) + " wrong retry " +
                attempt(problem, false, -1, rng);
    }
    return "<think>" + trace + "</think>" + answer_block(problem);
}

// ---------------------------------------------------------------------------------------------
// Corpus

TrainingExample make_training_example(const TaskSpec& spec, const CorpusMix& mix, uint64_t seed, uint64_t index,
                                      Split split) {
    const std::vector<std::pair<const char*, double>> shares = {
        {"direct", mix.direct}, {"traced", mix.traced}, {"checked", mix.checked}, {"retry", mix.retry}};
    double total = 0;
    for (const auto& [name, share] : shares) {
        if (!std::isfinite(share) || share < 0)
            throw std::invalid_argument(std::string("corpus mix: ") + name + " must be finite and >= 0");
        total += share;
    }
    if (total <= 0) throw std::invalid_argument("corpus mix: direct, traced, checked and retry are all 0");

    TrainingExample example;
    example.problem = make_problem(spec, seed, index, split);
    Rng rng = indexed_rng(seed, index, 1);
    // The first format whose cumulative share passes u; the last non-zero one if u rounds past all.
    const double u = rng.uniform() * total;
    size_t chosen = shares.size(), last_nonzero = 0;
    double cumulative = 0;
    for (size_t i = 0; i < shares.size(); ++i) {
        if (shares[i].second == 0) continue;
        last_nonzero = i;
        cumulative += shares[i].second;
        if (u < cumulative && chosen == shares.size()) chosen = i;
    }
    if (chosen == shares.size()) chosen = last_nonzero;
    example.style = shares[chosen].first;

    const Problem& p = example.problem;
    const std::string completion = chosen == 0   ? direct_completion(p)
                                   : chosen == 1 ? traced_completion(p, TraceStyle::Plain, rng)
                                   : chosen == 2 ? traced_completion(p, TraceStyle::Checked, rng)
                                                 : traced_completion(p, TraceStyle::Retry, rng);
    example.text = prompt_text(p) + completion;
    example.completion_start = example.text.size() - completion.size();
    return example;
}

// ---------------------------------------------------------------------------------------------
// Verifier

static size_t count_of(const std::string& text, const std::string& pattern) {
    size_t n = 0;
    for (size_t at = text.find(pattern); at != std::string::npos; at = text.find(pattern, at + pattern.size())) ++n;
    return n;
}

static bool has_special_token(const std::string& text) {
    for (const std::string& token : special_tokens())
        if (text.find(token) != std::string::npos) return true;
    return false;
}

// The canonical non-negative integer in `text`, or nothing with the reason in `note`. Up to 19
// digits: the sum of two 18-digit operands has 19 (999999999999999999+1 = 1000000000000000000).
static std::optional<int64_t> parse_answer(const std::string& text, std::string& note) {
    const bool all_digits = std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
    if (text.empty()) note = "answer is empty";
    else if (!all_digits) note = "answer " + shown(text) + " is not a plain number";
    else if (text.size() > 1 && text[0] == '0') note = "answer " + shown(text) + " has a leading zero";
    else if (text.size() > 19) note = "answer has " + std::to_string(text.size()) + " digits, more than 19";
    else {
        int64_t value = 0;
        for (char c : text) {
            if (__builtin_mul_overflow(value, 10, &value) || __builtin_add_overflow(value, c - '0', &value)) {
                note = "answer " + shown(text) + " is larger than any answer (2^63 - 1)";
                return std::nullopt;
            }
        }
        return value;
    }
    return std::nullopt;
}

Verdict verify_completion(const Problem& problem, const std::string& completion) {
    static const std::string kThink = "<think>", kThinkEnd = "</think>", kAnswer = "<answer>",
                             kAnswerEnd = "</answer>", kEos = "<eos>";
    Verdict v;
    std::vector<std::string> notes;
    const size_t eos = completion.find(kEos);
    const std::string body = completion.substr(0, eos);
    const bool junk_after_eos = eos != std::string::npos && eos + kEos.size() < completion.size();
    if (junk_after_eos) notes.push_back("text after <eos>");

    // Correctness: exactly one answer block, wherever it is.
    const size_t opens = count_of(body, kAnswer), closes = count_of(body, kAnswerEnd);
    const size_t open_at = body.find(kAnswer), close_at = body.find(kAnswerEnd);
    if (opens == 0) notes.push_back("no <answer>");
    else if (opens > 1) notes.push_back(std::to_string(opens) + " <answer> tags");
    else if (closes == 0) notes.push_back("no </answer>");
    else if (closes > 1) notes.push_back(std::to_string(closes) + " </answer> tags");
    else if (close_at < open_at) notes.push_back("</answer> before <answer>");
    else {
        std::string note;
        const size_t start = open_at + kAnswer.size();
        v.parsed_answer = parse_answer(body.substr(start, close_at - start), note);
        if (!note.empty()) notes.push_back(note);
        v.correct = v.parsed_answer && *v.parsed_answer == problem.answer;
        if (v.parsed_answer && !v.correct)
            notes.push_back("answer " + std::to_string(*v.parsed_answer) + ", expected " + std::to_string(problem.answer));
    }

    // Format: [<think>TEXT</think>]<answer>ANSWER</answer>, nothing else before <eos>.
    size_t rest_at = 0;
    bool think_ok = true;
    if (body.compare(0, kThink.size(), kThink) == 0) {
        const size_t think_end = body.find(kThinkEnd, kThink.size());
        if (think_end == std::string::npos) {
            notes.push_back("<think> is not closed");
            think_ok = false;
        } else {
            const std::string thought = body.substr(kThink.size(), think_end - kThink.size());
            v.has_think = true;
            v.checked = thought.find("check") != std::string::npos;
            v.retried = thought.find("retry") != std::string::npos;
            if (has_special_token(thought)) {
                notes.push_back("special token inside <think>");
                think_ok = false;
            }
            rest_at = think_end + kThinkEnd.size();
        }
    }
    const std::string rest = body.substr(rest_at);
    const bool starts_right = rest.compare(0, kAnswer.size(), kAnswer) == 0;
    const bool ends_right = rest.size() >= kAnswerEnd.size() &&
                            rest.compare(rest.size() - kAnswerEnd.size(), kAnswerEnd.size(), kAnswerEnd) == 0;
    if (think_ok && opens == 1 && !starts_right) notes.push_back("text before <answer>");
    if (opens == 1 && closes == 1 && !ends_right) notes.push_back("text after </answer>");
    v.well_formed = !junk_after_eos && think_ok && starts_right && ends_right && opens == 1 && closes == 1 &&
                    v.parsed_answer.has_value();

    for (size_t i = 0; i < notes.size(); ++i) v.problem_note += (i ? "; " : "") + notes[i];
    return v;
}

double accuracy_reward(const Verdict& verdict) { return verdict.correct ? 1.0 : 0.0; }

double format_reward(const Verdict& verdict, double weight) { return verdict.well_formed && verdict.has_think ? weight : 0.0; }

}  // namespace seek
