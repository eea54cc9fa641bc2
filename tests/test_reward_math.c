/* test_reward_math — the math verifier agrees with the public graders' reference verdicts
 * (tests/rewards/grader_cases.jsonl: cases from the test files of Math-Verify, the hendrycks MATH
 * is_equiv and the Qwen2.5-Math grader; at least 150 cases, at least 95% agreement), extracts and
 * normalises answers as documented, and survives hostile text (deep nesting, unbalanced braces,
 * huge numbers, invalid UTF-8, random bytes) quickly and without a crash. */
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

static void test_agreement_with_public_graders(void) {
    const char *src = getenv("RLVR_SRC");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/rewards/grader_cases.jsonl", src ? src : ".");
    FILE *f = fopen(path, "r");
    CHECK(f != NULL);
    if (!f) return;
    char *line = NULL;
    size_t cap = 0;
    int n = 0, agree = 0, header = 0;
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
        else
            printf("disagree (%s): expected %d, got %d\n  gold: %.120s\n  pred: %.120s\n",
                   cJSON_GetObjectItem(j, "source")->valuestring, expected, got, gold, pred);
        cJSON_Delete(j);
    }
    free(line);
    fclose(f);
    double rate = n ? (double)agree / n : 0;
    printf("agreement with the public graders: %d/%d = %.1f%%\n", agree, n, 100 * rate);
    CHECK(header);
    CHECK(n >= 150);
    CHECK(rate >= 0.95);
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
    test_hostile_input();
    CHECK_DONE();
}
