// Toy reasoning tasks: task names, problem draws and splits, traces worked by hand, every generated
// trace checked statement by statement, the verifier on malformed completions, the corpus mixer.
#include <catch2/catch.hpp>
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/tasks.h"
#include "core/tokenizer.h"
#include "temp_dir.h"

using namespace seek;
using Catch::Matchers::Contains;

static Problem problem_of(const std::string& family, int64_t a, int64_t b) {
    const bool add = family == "add";
    return Problem{family, a, b, std::to_string(a) + (add ? "+" : "*") + std::to_string(b) + "=", add ? a + b : a * b};
}

// The text between <think> and </think>.
static std::string think_text(const std::string& completion) {
    const size_t start = completion.find("<think>") + 7;
    return completion.substr(start, completion.find("</think>") - start);
}

static std::vector<std::string> words_of(const std::string& text) {
    std::istringstream in(text);
    std::vector<std::string> words;
    for (std::string w; in >> w;) words.push_back(w);
    return words;
}

// Splits "A check B ok" / "A check B wrong retry C" into its attempts.
static std::vector<std::string> attempts_of(const std::string& trace) {
    std::vector<std::string> parts;
    std::string rest = trace;
    for (const std::string separator : {" check ", " wrong retry "}) {
        const size_t at = rest.find(separator);
        if (at == std::string::npos) break;
        parts.push_back(rest.substr(0, at));
        rest = rest.substr(at + separator.size());
    }
    if (rest.size() > 3 && rest.compare(rest.size() - 3, 3, " ok") == 0) rest.resize(rest.size() - 3);
    parts.push_back(rest);
    return parts;
}

// Whether "7+5+1=13" or "47*80=3760" is true arithmetic.
static bool statement_holds(const std::string& statement) {
    const size_t equals = statement.find('=');
    REQUIRE(equals != std::string::npos);
    const std::string left = statement.substr(0, equals);
    const bool product = left.find('*') != std::string::npos;
    int64_t value = product ? 1 : 0;
    std::istringstream terms(left);
    for (std::string term; std::getline(terms, term, product ? '*' : '+');)
        value = product ? value * std::stoll(term) : value + std::stoll(term);
    return value == std::stoll(statement.substr(equals + 1));
}

static int false_statements(const std::string& attempt) {
    int n = 0;
    for (const std::string& s : words_of(attempt)) n += !statement_holds(s);
    return n;
}

// The result an attempt arrives at. Addition: the last column's sum, then the other columns' last
// digits right to left. Multiplication: the last step's result.
static int64_t attempt_result(const std::string& family, const std::string& attempt) {
    const std::vector<std::string> steps = words_of(attempt);
    auto result_of = [](const std::string& step) { return step.substr(step.find('=') + 1); };
    if (family == "mul") return std::stoll(result_of(steps.back()));
    std::string digits = result_of(steps.back());
    for (size_t i = steps.size() - 1; i-- > 0;) digits += result_of(steps[i]).back();
    return std::stoll(digits);
}

TEST_CASE("tasks: task names", "[tasks]") {
    auto check = [](const std::string& name, const std::string& family, int lo, int hi, const std::string& canonical) {
        const TaskSpec spec = task_from_name(name);
        CHECK(spec.family == family);
        CHECK(spec.min_digits == lo);
        CHECK(spec.max_digits == hi);
        CHECK(task_name(spec) == canonical);
        CHECK(task_name(task_from_name(canonical)) == canonical);
    };
    check("add", "add", 1, 5, "add:1-5");
    check("mul", "mul", 2, 2, "mul:2");
    check("add:3", "add", 3, 3, "add:3");
    check("add:2-18", "add", 2, 18, "add:2-18");
    check("mul:1-9", "mul", 1, 9, "mul:1-9");
    for (const std::string bad : {"", "div", "Add", "add:", "add:x", "add:1-", "add:-3", "add:0", "add:5-2", "add:19",
                                  "mul:10", "add:1-5-7", "add:100", "mul 2"}) {
        INFO(bad);
        CHECK_THROWS_WITH(task_from_name(bad), Contains("task '" + bad + "'") && Contains("valid: add, mul"));
    }
    CHECK_THROWS_WITH(validate_task(TaskSpec{"mul", 3, 10}), Contains("max_digits"));
    CHECK_THROWS_WITH(validate_task(TaskSpec{"sub", 1, 2}), Contains("family"));
}

TEST_CASE("tasks: problems written by hand, and problem files", "[tasks]") {
    const Problem p = parse_problem("  478+56= \r");
    CHECK(p.family == "add");
    CHECK(p.a == 478);
    CHECK(p.b == 56);
    CHECK(p.question == "478+56=");
    CHECK(p.answer == 534);
    const Problem m = parse_problem("47*86");
    CHECK(m.family == "mul");
    CHECK(m.answer == 4042);
    CHECK(parse_problem("0+0").answer == 0);
    CHECK(parse_problem("999999999999999999+1").answer == 1000000000000000000);  // 18 digits: the add limit
    CHECK(parse_problem("999999999*999999999").answer == 999999998000000001);    // 9 digits: the mul limit
    const std::vector<std::pair<std::string, std::string>> malformed = {
        {"", "is not a problem"},
        {"478-56", "is not a problem"},
        {"4a8+56", "operand '4a8' is not a whole number"},
        {"+56", "operand '' is not a whole number"},
        {"478+", "operand '' is not a whole number"},
        {"478+56+1", "operand '56+1' is not a whole number"},
        {"-4+5", "operand '-4' is not a whole number"},
        {"1 + 2", "operand '1 ' is not a whole number"},
        {"007+1", "operand '007' has a leading zero"},
        {"1000000000000000000+1", "has 19 digits; add allows at most 18"},
        {"1000000000*2", "has 10 digits; mul allows at most 9"},
    };
    for (const auto& [text, message] : malformed) {
        INFO(text);
        CHECK_THROWS_WITH(parse_problem(text), Contains(message));
    }

    TempDir dir;
    const std::string good = dir.file("good.txt"), bad = dir.file("bad.txt"), empty = dir.file("empty.txt");
    std::ofstream(good) << "# my problems\n478+56\n\n  47*86=\n";
    std::ofstream(bad) << "# my problems\n478+56\n47x86\n";
    std::ofstream(empty) << "# nothing here\n\n";
    const std::vector<Problem> problems = load_problems(good);
    REQUIRE(problems.size() == 2);
    CHECK(problems[0].question == "478+56=");
    CHECK(problems[1].question == "47*86=");
    CHECK_THROWS_WITH(load_problems(bad), Contains(bad + ":3: '47x86' is not a problem"));
    CHECK_THROWS_WITH(load_problems(empty), Contains(empty + ": no problems"));
    CHECK_THROWS_WITH(load_problems(dir.file("missing.txt")), Contains("missing.txt: cannot open"));
}

TEST_CASE("tasks: problems are drawn as specified", "[tasks]") {
    Rng rng(7);
    std::map<size_t, int> digit_counts;
    const int draws = 20000;
    for (int i = 0; i < draws; ++i) {
        const Problem p = make_problem(task_from_name("add"), rng);
        REQUIRE(p.answer == p.a + p.b);
        REQUIRE(p.question == std::to_string(p.a) + "+" + std::to_string(p.b) + "=");
        ++digit_counts[std::to_string(p.a).size()];
    }
    // Digit counts uniform over 1..5: each ~4000 of 20000, binomial sd ~57; 5 sd is 280.
    REQUIRE(digit_counts.size() == 5);
    for (const auto& [digits, count] : digit_counts) CHECK(std::abs(count - draws / 5) < 280);

    for (int i = 0; i < 2000; ++i) {
        const Problem p = make_problem(task_from_name("mul"), rng);
        REQUIRE(p.a >= 10);
        REQUIRE(p.a <= 99);
        REQUIRE(p.b >= 10);
        REQUIRE(p.b <= 99);
        REQUIRE(p.answer == p.a * p.b);
        REQUIRE(p.question == std::to_string(p.a) + "*" + std::to_string(p.b) + "=");
    }
    // The largest tasks: answers stay within int64.
    for (int i = 0; i < 100; ++i) {
        const Problem sum = make_problem(task_from_name("add:18"), rng), product = make_problem(task_from_name("mul:9"), rng);
        REQUIRE(std::to_string(sum.a).size() == 18);
        REQUIRE(std::to_string(product.a).size() == 9);
        REQUIRE(sum.answer - sum.b == sum.a);
        REQUIRE(product.answer / product.b == product.a);
    }
    // A pure function of the rng state.
    Rng first(99), second(99);
    for (int i = 0; i < 100; ++i) REQUIRE(make_problem(TaskSpec{}, first).question == make_problem(TaskSpec{}, second).question);
}

TEST_CASE("tasks: hand-worked traces", "[tasks]") {
    Rng rng(1);
    const Problem add = problem_of("add", 478, 56);
    // 478 + 56, rightmost column first: 8+6 = 14 (write 4, carry 1); 7+5+1 = 13 (write 3, carry 1);
    // 4+0+1 = 5. The answer is the last sum, then 3, then 4: 534.
    CHECK(prompt_text(add) == "<bos>478+56=");
    CHECK(direct_completion(add) == "<answer>534</answer><eos>");
    CHECK(traced_completion(add, TraceStyle::Plain, rng) ==
          "<think>8+6=14 7+5+1=13 4+0+1=5</think><answer>534</answer><eos>");
    CHECK(traced_completion(add, TraceStyle::Checked, rng) ==
          "<think>8+6=14 7+5+1=13 4+0+1=5 check 6+8=14 5+7+1=13 0+4+1=5 ok</think><answer>534</answer><eos>");
    // A carry out of the last column: 99 + 1 = 100, the last sum "10" leads.
    CHECK(traced_completion(problem_of("add", 99, 1), TraceStyle::Plain, rng) ==
          "<think>9+1=10 9+0+1=10</think><answer>100</answer><eos>");
    CHECK(traced_completion(problem_of("add", 0, 0), TraceStyle::Plain, rng) ==
          "<think>0+0=0</think><answer>0</answer><eos>");

    const Problem mul = problem_of("mul", 47, 86);
    // 47 * 86 = 47 * 6 + 47 * 80 = 282 + 3760 = 4042; the check: 86 * 7 + 86 * 40 = 602 + 3440.
    CHECK(traced_completion(mul, TraceStyle::Plain, rng) ==
          "<think>47*6=282 47*80=3760 282+3760=4042</think><answer>4042</answer><eos>");
    CHECK(traced_completion(mul, TraceStyle::Checked, rng) ==
          "<think>47*6=282 47*80=3760 282+3760=4042 check 86*7=602 86*40=3440 602+3440=4042 ok</think>"
          "<answer>4042</answer><eos>");
    // A zero digit still gets its step, so every trace has the same shape: 12 * 305 = 60 + 0 + 3600.
    CHECK(traced_completion(problem_of("mul", 12, 305), TraceStyle::Plain, rng) ==
          "<think>12*5=60 12*0=0 12*300=3600 60+0=60 60+3600=3660</think><answer>3660</answer><eos>");

    CHECK_THROWS_WITH(traced_completion(problem_of("add", -3, 4), TraceStyle::Plain, rng), Contains("operands"));
    CHECK_THROWS_WITH(traced_completion(problem_of("sub", 3, 4), TraceStyle::Plain, rng), Contains("family"));

    // A retry: one slip in the first attempt, the check, the corrected attempt.
    for (const Problem& p : {add, mul}) {
        const std::string retry = think_text(traced_completion(p, TraceStyle::Retry, rng));
        const std::vector<std::string> parts = attempts_of(retry);
        REQUIRE(parts.size() == 3);
        CHECK(retry == parts[0] + " check " + parts[1] + " wrong retry " + parts[2]);
        CHECK(parts[1] == attempts_of(think_text(traced_completion(p, TraceStyle::Checked, rng)))[1]);
        CHECK(parts[2] == think_text(traced_completion(p, TraceStyle::Plain, rng)));
        CHECK(false_statements(parts[0]) == 1);
    }
}

TEST_CASE("tasks: every generated trace is right and verifies", "[tasks]") {
    Rng rng(2024);
    for (const std::string family : {"add", "mul"}) {
        for (const TraceStyle style : {TraceStyle::Plain, TraceStyle::Checked, TraceStyle::Retry}) {
            for (int i = 0; i < 2000; ++i) {
                const Problem p = make_problem(task_from_name(family), rng);
                const std::string completion = traced_completion(p, style, rng);
                INFO(p.question << completion);
                const Verdict v = verify_completion(p, completion);
                REQUIRE(v.well_formed);
                REQUIRE(v.correct);
                REQUIRE(v.has_think);
                REQUIRE(v.problem_note.empty());
                REQUIRE(v.checked == (style != TraceStyle::Plain));
                REQUIRE(v.retried == (style == TraceStyle::Retry));
                CHECK(format_reward(v) == 0.1);

                const std::vector<std::string> parts = attempts_of(think_text(completion));
                REQUIRE(parts.size() == (style == TraceStyle::Plain ? 1u : style == TraceStyle::Checked ? 2u : 3u));
                // The final attempt and the check are true step by step and arrive at the answer.
                REQUIRE(false_statements(parts.back()) == 0);
                REQUIRE(attempt_result(family, parts.back()) == p.answer);
                if (style != TraceStyle::Plain) {
                    REQUIRE(false_statements(parts[1]) == 0);
                    REQUIRE(attempt_result(family, parts[1]) == p.answer);
                }
                // A retry's first attempt has exactly one slip, which changes its result: the
                // check's "wrong" is earned.
                if (style == TraceStyle::Retry) {
                    REQUIRE(false_statements(parts[0]) == 1);
                    REQUIRE(attempt_result(family, parts[0]) != p.answer);
                    REQUIRE(words_of(parts[0]).size() == words_of(parts[2]).size());
                }
            }
        }
    }
}

TEST_CASE("tasks: verifier on malformed completions", "[tasks]") {
    const Problem p = problem_of("add", 478, 56);  // 534
    struct Case {
        std::string completion;
        bool well_formed, correct, has_think;
        std::optional<int64_t> parsed;
        std::string note;  // a part of problem_note; "" when there is none
    };
    const std::string huge(40, '9');
    const std::vector<Case> cases = {
        {"<answer>534</answer><eos>", true, true, false, 534, ""},
        {"<think>8+6=14</think><answer>534</answer><eos>", true, true, true, 534, ""},
        {"<think></think><answer>534</answer>", true, true, true, 534, ""},  // cut off before <eos>: fine
        {"<answer>535</answer><eos>", true, false, false, 535, "answer 535, expected 534"},
        {"<think>8+6=14 7+5", false, false, false, {}, "no <answer>"},  // truncated in the trace
        {"<think>x</think><answer>53", false, false, true, {}, "no </answer>"},
        {"<answer>534</answer><answer>534</answer><eos>", false, false, false, {}, "2 <answer> tags"},
        {"<answer>1</answer><answer>534</answer>", false, false, false, {}, "2 <answer> tags"},
        {"<answer>534</answer></answer>", false, false, false, {}, "2 </answer> tags"},
        {"534", false, false, false, {}, "no <answer>"},
        {"", false, false, false, {}, "no <answer>"},
        {"<answer>534</answer><eos>junk", false, true, false, 534, "text after <eos>"},
        {"<answer>534</answer><eos><answer>1</answer>", false, true, false, 534, "text after <eos>"},
        {"<answer>0534</answer><eos>", false, false, false, {}, "leading zero"},
        {"<answer>-534</answer><eos>", false, false, false, {}, "not a plain number"},
        {"<answer>+534</answer><eos>", false, false, false, {}, "not a plain number"},
        {"<answer> 534</answer><eos>", false, false, false, {}, "not a plain number"},
        {"<answer>5a4</answer><eos>", false, false, false, {}, "not a plain number"},
        {"<answer>" + huge + "</answer><eos>", false, false, false, {}, "40 digits, more than 19"},
        {"<answer></answer><eos>", false, false, false, {}, "answer is empty"},
        {"<think><answer>534</answer></think><answer>534</answer>", false, false, true, {}, "2 <answer> tags"},
        {"<think><think>a</think></think><answer>534</answer>", false, true, true, 534, "special token inside <think>"},
        {"<think>abc<answer>534</answer><eos>", false, true, false, 534, "<think> is not closed"},
        {"so <answer>534</answer><eos>", false, true, false, 534, "text before <answer>"},
        {"<answer>534</answer> <eos>", false, true, false, 534, "text after </answer>"},
        {"<answer>534</answer><think>x</think>", false, true, false, 534, "text after </answer>"},
        {"</answer>534<answer>", false, false, false, {}, "</answer> before <answer>"},
        {"<answer><eos>534</answer>", false, false, false, {}, "no </answer>"},
    };
    for (const Case& c : cases) {
        INFO("completion: " << c.completion);
        const Verdict v = verify_completion(p, c.completion);
        CHECK(v.well_formed == c.well_formed);
        CHECK(v.correct == c.correct);
        CHECK(v.has_think == c.has_think);
        CHECK(v.parsed_answer == c.parsed);
        if (c.note.empty()) CHECK(v.problem_note.empty());
        else CHECK_THAT(v.problem_note, Contains(c.note));
        CHECK(accuracy_reward(v) == (c.correct ? 1.0 : 0.0));
        CHECK(format_reward(v) == (c.well_formed && c.has_think ? 0.1 : 0.0));
        CHECK(!v.checked);
        CHECK(!v.retried);
    }
    // The largest answer that parses, and 0.
    CHECK(verify_completion(problem_of("add", 999999999999999998, 1), "<answer>999999999999999999</answer>").correct);
    CHECK(verify_completion(problem_of("add", 0, 0), "<answer>0</answer><eos>").well_formed);
    // Long junk is cut short in the note.
    CHECK(verify_completion(p, "<answer>" + std::string(1000, 'x') + "</answer>").problem_note.size() < 80);
}

TEST_CASE("tasks: held-out and training problems never overlap", "[tasks]") {
    for (const std::string name : {"add", "mul"}) {
        const TaskSpec spec = task_from_name(name);
        std::set<std::pair<int64_t, int64_t>> train, heldout;  // (min, max): a+b and b+a are one problem
        for (uint64_t i = 0; i < 10000; ++i) {
            const Problem t = make_problem(spec, 5, i, Split::Train), h = make_problem(spec, 5, i, Split::Heldout);
            REQUIRE(!is_heldout(t));
            REQUIRE(is_heldout(h));
            train.insert({std::min(t.a, t.b), std::max(t.a, t.b)});
            heldout.insert({std::min(h.a, h.b), std::max(h.a, h.b)});
        }
        for (const auto& pair : heldout) REQUIRE(train.count(pair) == 0);
        // mul:2 has only 4095 problems (unordered pairs of 10..99), about 410 of them held out.
        CHECK(train.size() > (name == "mul" ? 3000u : 9000u));
        CHECK(heldout.size() > (name == "mul" ? 350u : 8000u));  // add: short operands repeat
        // About a tenth of all problems are held out: binomial sd for 20000 draws is ~42.
        Rng rng(3);
        int held = 0;
        for (int i = 0; i < 20000; ++i) held += is_heldout(make_problem(spec, rng));
        CHECK(std::abs(held - 2000) < 210);
    }
    // The split ignores operand order.
    for (int64_t a = 0; a < 100; ++a)
        for (int64_t b = 0; b < 100; ++b) REQUIRE(is_heldout(problem_of("add", a, b)) == is_heldout(problem_of("add", b, a)));
    // Problems are a pure function of (seed, index, split).
    CHECK(make_problem(TaskSpec{}, 5, 17, Split::Heldout).question == make_problem(TaskSpec{}, 5, 17, Split::Heldout).question);
}

TEST_CASE("tasks: training examples", "[tasks]") {
    const TaskSpec spec;
    const CorpusMix mix;
    std::map<std::string, int> styles;
    const int examples = 20000;
    for (uint64_t i = 0; i < examples; ++i) {
        const TrainingExample e = make_training_example(spec, mix, 11, i);
        INFO(e.text);
        REQUIRE(e.text.substr(0, e.completion_start) == prompt_text(e.problem));
        const Verdict v = verify_completion(e.problem, e.text.substr(e.completion_start));
        REQUIRE(v.well_formed);
        REQUIRE(v.correct);
        REQUIRE(!is_heldout(e.problem));
        ++styles[e.style];
    }
    // 0.7 / 0.2 / 0.05 / 0.05 of 20000, within 5 binomial sd (sd 65, 57, 31, 31).
    CHECK(std::abs(styles["direct"] - 14000) < 325);
    CHECK(std::abs(styles["traced"] - 4000) < 285);
    CHECK(std::abs(styles["checked"] - 1000) < 155);
    CHECK(std::abs(styles["retry"] - 1000) < 155);

    // The same (seed, index) gives the same example; another index another one.
    for (uint64_t i = 0; i < 200; ++i) {
        const TrainingExample a = make_training_example(spec, mix, 11, i), b = make_training_example(spec, mix, 11, i);
        REQUIRE(a.text == b.text);
        REQUIRE(a.completion_start == b.completion_start);
    }
    int same = 0;
    for (uint64_t i = 0; i < 200; ++i)
        same += make_training_example(spec, mix, 11, i).text == make_training_example(spec, mix, 12, i).text;
    CHECK(same < 20);

    // Held-out examples: the same formats, problems from the other split.
    for (uint64_t i = 0; i < 500; ++i) {
        const TrainingExample e = make_training_example(spec, mix, 11, i, Split::Heldout);
        REQUIRE(is_heldout(e.problem));
        REQUIRE(verify_completion(e.problem, e.text.substr(e.completion_start)).correct);
    }

    // A mix with one format gives only that format; bad mixes name the field.
    for (uint64_t i = 0; i < 50; ++i) CHECK(make_training_example(spec, CorpusMix{0, 0, 0, 2}, 1, i).style == "retry");
    CHECK_THROWS_WITH(make_training_example(spec, CorpusMix{-1, 0, 0, 1}, 1, 0), Contains("direct"));
    CHECK_THROWS_WITH(make_training_example(spec, CorpusMix{1, NAN, 0, 1}, 1, 0), Contains("traced"));
    CHECK_THROWS_WITH(make_training_example(spec, CorpusMix{0, 0, 0, 0}, 1, 0), Contains("corpus mix"));
    CHECK_THROWS_WITH(make_training_example(TaskSpec{"add", 0, 3}, mix, 1, 0), Contains("min_digits"));
}

TEST_CASE("tasks: the longest 5-digit addition example fits the toy's context", "[tasks]") {
    // The longest trace: five columns, every one with a carry in, and a 6-digit answer.
    Rng rng(0);
    const Problem worst = problem_of("add", 99999, 99999);
    size_t longest = 0;
    for (const TraceStyle style : {TraceStyle::Plain, TraceStyle::Checked, TraceStyle::Retry})
        longest = std::max(longest, encode_text(prompt_text(worst) + traced_completion(worst, style, rng)).size());
    CHECK(longest == 170);
    for (uint64_t i = 0; i < 2000; ++i)
        REQUIRE(encode_text(make_training_example(task_from_name("add:5"), CorpusMix{0, 1, 1, 1}, 3, i).text).size() <= longest);
    // A plain 5+5-digit trace is well under 100 tokens.
    CHECK(encode_text(prompt_text(worst) + traced_completion(worst, TraceStyle::Plain, rng)).size() < 100);
}
