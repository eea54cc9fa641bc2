/* test_reward_math — the math verifier agrees with the public graders' reference verdicts on two
 * suites (tests/rewards/grader_cases.jsonl: Math-Verify, the hendrycks MATH is_equiv and the
 * Qwen2.5-Math grader; grader_cases_forms.jsonl: more of Math-Verify, lighteval and AReaL, with
 * matrices, equations, rounded decimals, multiple choice, sets of tuples, long answers), never
 * calls a wrong answer right on either, grades every case of tests/rewards/adversarial_cases.jsonl
 * wrong, extracts and normalises answers as documented, and survives hostile text (deep nesting,
 * unbalanced braces, huge numbers, invalid UTF-8, random bytes) quickly and without a crash. */
#include "check.h"

#include "rewards/reward.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Grades every case of a suite; at least min_cases cases, agreement at least min_rate, and no
 * wrong answer graded right (a false equal costs more than a missed right answer). */
static void check_suite(const char *name, int min_cases, double min_rate) {
    const char *src = getenv("RLVR_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/rewards/%s", src ? src : ".", name);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int n = 0, agree = 0, header = 0, false_equal = 0;
    while (getline(&line, &cap, f) > 0) {
        cJSON *j = cJSON_Parse(line);
        CHECK(j != NULL);
        if (!j) continue;
        const cJSON *fmt = cJSON_GetObjectItem(j, "format");
        if (fmt) { /* the first line names the format and its version */
            header = cJSON_IsString(fmt) && !strcmp(fmt->valuestring, "rlvr-grader-cases") &&
                     cJSON_GetObjectItem(j, "version")->valueint == 1;
            cJSON_Delete(j);
            continue;
        }
        const char *gold = cJSON_GetObjectItem(j, "gold")->valuestring;
        const char *pred = cJSON_GetObjectItem(j, "pred")->valuestring;
        int expected = cJSON_GetObjectItem(j, "expected")->valueint;
        int got = reward_math_grade(pred, gold, 1, 1e-6);
        n++;
        if (got == expected) agree++;
        else if (got == 1) false_equal++;
        if (got != expected)
            printf("disagree (%s): expected %d, got %d\n  gold: %.120s\n  pred: %.120s\n",
                   cJSON_GetObjectItem(j, "source")->valuestring, expected, got, gold, pred);
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    double rate = n ? (double)agree / n : 0;
    printf("%s: %d/%d agree = %.1f%%, %d false equal\n", name, agree, n, 100 * rate, false_equal);
    CHECK(header);
    CHECK(n >= min_cases);
    CHECK(rate >= min_rate);
    CHECK(false_equal == 0);
}

static void test_agreement_with_public_graders(void) {
    check_suite("grader_cases.jsonl", 246, 0.99);
    check_suite("grader_cases_forms.jsonl", 180, 0.85);
    check_suite("adversarial_cases.jsonl", 50, 1.0);
}

static void check_extract(const char *text, int fallback, const char *want) {
    char out[256];
    int r = reward_math_extract(text, fallback, out, sizeof out);
    if (want) {
        CHECK(r > 0);
        CHECK_STR(out, want);
    } else {
        CHECK(r == -1);
        CHECK_STR(out, "");
    }
}

static void test_extraction(void) {
    check_extract("so it is \\boxed{\\frac{1}{2}}.", 0, "\\frac{1}{2}");
    check_extract("\\boxed{\\frac{\\sqrt{3}}{2}} and then \\boxed{\\{1,2\\}}", 0, "\\{1,2\\}");
    check_extract("\\fbox{7}", 0, "7");
    check_extract("\\boxed 5", 0, "5");
    check_extract("The answer is 42. I hope it is correct.", 0, "42");
    check_extract("Final Answer: The final answer is $28 \\%$. I hope", 0, "$28 \\%$");
    check_extract("She pays 3 + 4 = 7 dollars.\n#### 1,234", 0, "1,234");
    check_extract("<think>maybe \\boxed{1}</think> so \\boxed{2}", 0, "2");
    check_extract("<think>unfinished \\boxed{3}", 1, NULL);
    check_extract("<think>a</think><answer>17</answer>", 1, "17");
    check_extract("<think>a</think><answer>x = \\boxed{9}</answer>", 1, "9");
    check_extract("roots \\boxed{-2} and \\boxed{1}", 0, "-2, 1");
    check_extract("unbalanced \\boxed{1", 0, NULL);
    check_extract("no marker, 3 apples then 5", 0, NULL);
    check_extract("no marker, 3 apples then 5", 1, "5");
    check_extract("ends with math $x = \\frac{3}{4}$", 1, "x = \\frac{3}{4}");
    check_extract("", 1, NULL);
    check_extract(NULL, 1, NULL);
    check_extract("so $x = \\boxed{(2,2)} \\quad \\text{and} \\quad \\boxed{(6,2)}$", 0, "(2,2), (6,2)");
    check_extract("we get \\boxed{255}. Final Answer: The final answer is $10,455$.", 0, "$10,455$");
    check_extract("Answer $ \n 9 \n $", 1, NULL);
    check_extract("Answer \\( \n 9 \n \\)", 1, NULL);
    check_extract("Adding the three parts gives 12 + 7 + 23.\nSo the total is 42 apples.", 1, "42");
}

static void test_multiple_choice(void) {
    struct { const char *completion, *gold; int want; } cases[] = {
        {"B. Since C fails", "B", 1}, {"Answer: A, because neither B nor D holds", "A", 1},
        {"so the answer is \"D\"", "D", 1}, {"The answer is B", "(A) Oslo", 0},
        {"The answer is A", "(A) Oslo", 1}, {"D", "D Marta", 1}, {"\\boxed{\\text{(C)}}", "C", 1},
        {"The answer is B or C", "B", 0}, {"\\boxed{B, C}", "B", 0}, {"Answer: A and D", "A", 0},
        {"(A) and (C)", "A", 0}, {"I would pick B or C", "C", 0}, {"A triangle has three sides, so B", "B", 1},
        {"<think>C</think> The answer is C.", "C", 1}, {"<think>C", "C", 0}, {"\\boxed{12}", "B", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = reward_math_grade(cases[i].completion, cases[i].gold, 1, 1e-6);
        if (got != cases[i].want)
            fprintf(stderr, "grade('%s', '%s') = %d, expected %d\n", cases[i].completion,
                    cases[i].gold, got, cases[i].want);
        CHECK(got == cases[i].want);
    }
}

static void check_norm(const char *in, const char *want) {
    char out[256];
    CHECK(reward_math_normalize(in, out, sizeof out) >= 0);
    CHECK_STR(out, want);
}

static void test_normalisation(void) {
    check_norm("\\dfrac{1}{2}", "\\frac{1}{2}");
    check_norm("\\tfrac34", "\\frac{3}{4}");
    check_norm("\\left( 1, 2 \\right)", "( 1, 2 )");
    check_norm("90^\\circ", "90");
    check_norm("\\$1,000", "1,000");
    check_norm("10\\text{ cm}^2", "10");
    check_norm("125 miles", "125");
    check_norm("28 percent", "28%");
    check_norm("$5$.", "5");
    check_norm("x \\in [0,1)", "[0,1)");
    check_norm("10,\\!000", "10,000");
    check_norm("\\sqrt2", "\\sqrt{2}");
    char small[4];
    CHECK(reward_math_normalize("\\frac{123}{456}", small, sizeof small) == -1);
    CHECK_STR(small, "");
}

static void test_equivalence(void) {
    struct { const char *pred, *gold; int want; } cases[] = {
        {"0.5", "\\frac12", 1}, {"1/2", "0.5", 1}, {"\\dfrac{3}{4}", "0.75", 1},
        {"50\\%", "0.5", 1}, {"50\\%", "50", 1}, {"0.5", "50\\%", 1}, {"5", "50\\%", 0},
        {"x = 5", "5", 1}, {"5", "y = 5", 1}, {"2x+1 = 5", "5", 0},
        {"\\{1,2,3\\}", "\\{3,1,2\\}", 1}, {"(1,2)", "(2,1)", 0}, {"[0,1)", "[0,1]", 0},
        {"(1, \\frac{9}{2})", "(1,4.5)", 1}, {"1.5e3", "1500", 1},
        {"1.5\\times10^{3}", "1500", 1}, {"-\\sqrt{2}", "-1.41421356237", 1},
        {"\\pi/2", "\\frac{\\pi}{2}", 1}, {"x^2+2x+1", "(x+1)^2", 1}, {"x^2+1", "(x+1)^2", 0},
        {"\\sin^2 x + \\cos^2 x", "1", 1}, {"B", "(B)", 1}, {"\\text{(C)}", "D", 0},
        {"3.0", "3", 1}, {"12345678901234567890", "12345678901234567890", 1},
        {"12345678901234567890", "12345678901234567891", 0}, {"-5", "5", 0},
        {"\\sqrt{8}", "2\\sqrt{2}", 1}, {"1,000", "1000", 1}, {"1 \\pm \\sqrt{3}", "1 \\mp \\sqrt{3}", 1},
        {"(-\\infty, 2]", "(-\\infty,2]", 1}, {"\\frac{1}{3}", "0.333", 0}, {"2^{10}", "1024", 1},
        {"5!", "120", 1}, {"\\binom{5}{2}", "10", 1}, {"\\log_2 8", "3", 1}, {"e^{i}", "e^{i}", 1},
        {"\\text{Evelyn}", "Evelyn", 1}, {"Evelyn", "Briana", 0}, {"", "5", 0},
        /* matrices */
        {"\\begin{bmatrix}0.5 & 0 \\\\ 0 & 1\\end{bmatrix}", "\\begin{pmatrix}\\frac12 & 0 \\\\ 0 & 1\\end{pmatrix}", 1},
        {"\\left[\\begin{array}{cc}1 & 2 \\\\ 3 & 4\\end{array}\\right]", "\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", 1},
        {"\\begin{pmatrix}\\sqrt[3]{x}^2 & 1\\end{pmatrix}", "\\begin{pmatrix}x^{2/3} & 1\\end{pmatrix}", 1},
        {"\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}\\begin{pmatrix}0&1\\\\1&0\\end{pmatrix}", "\\begin{pmatrix}2&1\\\\4&3\\end{pmatrix}", 1},
        {"\\begin{pmatrix}1&2\\\\3&4\\end{pmatrix}", "\\begin{pmatrix}1&2\\\\3&5\\end{pmatrix}", 0},
        {"\\begin{pmatrix}1\\\\2\\end{pmatrix}", "\\begin{pmatrix}1&2\\end{pmatrix}", 0},
        {"\\begin{vmatrix}2&1\\\\1&2\\end{vmatrix}", "3", 1},
        /* an equation whose right side is the answer */
        {"g(3)=7", "7", 1}, {"|PQ|=2", "2", 1}, {"a:b = 5:9", "5:9", 1}, {"a:b = 5:9", "9:5", 0},
        {"\\frac{AM}{MC}=\\frac{2}{\\sqrt{5}}", "\\frac{2}{\\sqrt5}", 1}, {"\\cos\\pi = -1", "-1", 1},
        {"23 \\bmod 6 = 5", "5", 1}, {"23 \\bmod 6 = 4", "5", 0}, {"\\lim_{x\\to 0} \\frac{\\sin x}{x} = 1", "1", 1},
        {"x^2 = 4", "4", 0}, {"7", "g(3) = 7", 1}, {"12:00", "1:00", 0},
        /* decimals rounded from exact values */
        {"0.6667", "\\frac{2}{3}", 1}, {"0.6666", "\\frac{2}{3}", 0}, {"0.667", "\\frac{2}{3}", 0},
        {"[0.25, 1.4286)", "[\\frac{1}{4}, \\frac{10}{7})", 1}, {"1.4142", "\\sqrt{2}", 1},
        {"2.23", "2.232", 0}, {"3.0001", "3", 0},
        /* sets of tuples in another order or with repeats */
        {"(2, 5), (5, 2), (2,5)", "(5,2),(2,5)", 1}, {"(2, 5), (5, 2), (2,6)", "(5,2),(2,5)", 0},
        {"(2, 5)", "(5,2),(2,5)", 0}, {"\\{(1,2),(3,4)\\}", "(3,4),(1,2)", 1}, {"\\pm 2021", "\\{-2021, 2021\\}", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int got = reward_math_equiv(cases[i].pred, cases[i].gold, 1e-6);
        if (got != cases[i].want)
            fprintf(stderr, "equiv('%s', '%s') = %d, expected %d\n", cases[i].pred, cases[i].gold,
                    got, cases[i].want);
        CHECK(got == cases[i].want);
    }
    CHECK(reward_math_equiv(NULL, "1", 1e-6) == 0);
    CHECK(reward_math_grade("We get \\boxed{\\dfrac{1}{2}}.", "\\frac{1}{2}", 0, 1e-6) == 1);
    CHECK(reward_math_grade("We get \\boxed{\\dfrac{1}{3}}.", "\\frac{1}{2}", 0, 1e-6) == 0);
    /* a reference in words is the answer whole (found by tests/oracle_math_verify.py: every one was
     * graded wrong, since the fallback reads no answer in a word) */
    CHECK(reward_math_grade("So it is $\\boxed{\\text{Evelyn}}$.", "\\text{Evelyn}", 1, 1e-6) == 1);
    CHECK(reward_math_grade("\\boxed{blue}", "blue", 0, 1e-6) == 1);
    CHECK(reward_math_grade("\\boxed{\\text{Bob}}", "\\text{Alice}", 1, 1e-6) == 0);
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t xorshift(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static char *repeat(const char *unit, int times, const char *tail) {
    size_t u = strlen(unit), t = strlen(tail);
    char *s = malloc(u * (size_t)times + t + 1);
    for (int i = 0; i < times; i++) memcpy(s + u * (size_t)i, unit, u);
    memcpy(s + u * (size_t)times, tail, t + 1);
    return s;
}

static void test_hostile_input(void) {
    double t0 = now();
    const char *units[][2] = {{"\\boxed{", "1"},   {"{", "\\boxed{2}"},  {"\\frac{", "3"},
                              {"(", "4"},          {"\\sqrt{", "5"},     {"9", ""},
                              {"\\left(", "x"},    {"}", "\\boxed{7}"},  {"-", "1"},
                              {"2^", "2"},         {"\\boxed{\\{", "1"}, {"1,", "2"}};
    for (size_t k = 0; k < sizeof units / sizeof units[0]; k++) {
        char *s = repeat(units[k][0], 20000, units[k][1]);
        int g = reward_math_grade(s, "1", 1, 1e-6);
        CHECK(g == 0 || g == 1);
        int e = reward_math_equiv(s, s, 1e-6);
        CHECK(e == 0 || e == 1);
        char out[512];
        reward_math_normalize(s, out, sizeof out);
        free(s);
    }
    char bytes[400];
    int ok = 1;
    for (int it = 0; it < 3000; it++) { /* random bytes, with LaTeX-ish bias half the time */
        int n = (int)(xorshift() % 300);
        const char *alphabet = "\\{}()[]$^_0123456789.,/+-=%boxedfracsqrtpi \n<>think";
        for (int i = 0; i < n; i++) {
            uint64_t r = xorshift();
            bytes[i] = (it & 1) ? (char)(1 + r % 255) : alphabet[r % strlen(alphabet)];
        }
        bytes[n] = '\0';
        int g = reward_math_grade(bytes, "\\frac{1}{2}", 1, 1e-6);
        int e = reward_math_equiv(bytes, bytes, 1e-6);
        ok = ok && (g == 0 || g == 1) && (e == 0 || e == 1);
    }
    CHECK(ok);
    CHECK(reward_math_grade("\xff\xfe\xc3\x28 \\boxed{\xe2\x82}", "1", 1, 1e-6) == 0);
    CHECK(reward_math_grade("", "", 1, 1e-6) == 0);
    double dt = now() - t0;
    printf("hostile inputs scored in %.2f s\n", dt);
    CHECK(dt < 20.0);
}

int main(void) {
    test_agreement_with_public_graders();
    test_extraction();
    test_normalisation();
    test_equivalence();
    test_multiple_choice();
    test_hostile_input();
    CHECK_DONE();
}
