/* bench_reward — verdicts per second of the built-in math verifier on one core.
 *
 * Build and run: bench/bench_reward.sh (or cc -O2 -I. bench/bench_reward.c rewards/reward_math.c
 * common/mem.c -lcjson -lm). Scores a fixed mix of completions (a long chain of thought ending in \boxed{}, "the answer
 * is" sentences, GSM8K "####" lines, fractions against decimals, symbolic expressions with
 * variables, intervals and sets, matrices, an equation whose right side is the answer, a rounded
 * decimal, a multiple-choice letter, a set of tuples with a repeat, a long answer with no marker,
 * right and wrong answers) against their references, and prints,
 * side by side: the baseline (extraction plus exact string match, what a naive grader does), the
 * full verifier (extraction, normalisation, equivalence), and their ratio.
 * Not here: the external command or plugin (their cost is the user's program). */
#include "common/mem.h"
#include "rewards/reward.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

typedef struct item {
    char *completion;
    const char *gold;
} item;

int main(int argc, char **argv) {
    double seconds = argc > 1 ? atof(argv[1]) : 2.0;
    const char *reasoning =
        "Let us set up the equation. We have $3x + 5 = 20$, so $3x = 15$ and $x = 5$. Then the "
        "area is $\\frac{1}{2} \\cdot 5 \\cdot 8 = 20$ square units; checking with $x = 5$ again "
        "gives the same value, and the perimeter $2(5 + 8) = 26$ is not what was asked. ";
    struct { const char *tail, *gold; } mix[] = {
        {"Therefore the answer is $\\boxed{\\frac{3}{4}}$.", "0.75"},
        {"So the total is \\boxed{1,234}.", "1234"},
        {"The answer is 42.", "42"},
        {"She has 18 eggs left.\n#### 18", "18"},
        {"Hence $\\boxed{x^2 + 2x + 1}$.", "(x+1)^2"},
        {"Thus the interval is $\\boxed{[-1, \\tfrac{1}{2})}$.", "[-1,\\frac12)"},
        {"The roots are $\\boxed{\\{3, -2\\}}$.", "\\{-2,3\\}"},
        {"Final Answer: The final answer is $\\dfrac{\\sqrt{3}}{2}$. I hope it is correct.", "\\frac{\\sqrt3}{2}"},
        {"So we get $\\boxed{17}$.", "19"},
        {"The probability is \\boxed{25\\%}.", "\\frac{1}{4}"},
        {"<think>try 7</think> The answer is $\\boxed{(2, 5)}$.", "(2,5)"},
        {"Therefore $\\boxed{2\\pi r}$.", "2r\\pi"},
        {"So $\\boxed{\\begin{pmatrix} 1 & \\frac{1}{2} \\\\ 0 & 3 \\end{pmatrix}}$.",
         "\\begin{bmatrix}1 & 0.5 \\\\ 0 & 3\\end{bmatrix}"},
        {"Hence $\\boxed{g(3) = 7}$.", "7"},
        {"The probability is about \\boxed{0.6667}.", "\\frac{2}{3}"},
        {"Answer: B, because neither A nor C holds.", "(B) Oslo"},
        {"All solutions: $\\boxed{(2, 5), (5, 2), (2, 5)}$.", "(5,2),(2,5)"},
        {"Adding the parts gives 12 + 7 + 23.\nSo the total is 42 apples.", "42"},
    };
    int n = (int)(sizeof mix / sizeof mix[0]);
    item *items = mem_calloc((size_t)n, sizeof *items);
    size_t total_bytes = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(reasoning) * 6 + strlen(mix[i].tail) + 1; /* ~1.5 KB of reasoning */
        items[i].completion = mem_alloc(len);
        items[i].completion[0] = '\0';
        for (int k = 0; k < 6; k++) strcat(items[i].completion, reasoning);
        strcat(items[i].completion, mix[i].tail);
        items[i].gold = mix[i].gold;
        total_bytes += strlen(items[i].completion);
    }
    printf("bench_reward: %d completions of %zu bytes on average, one core, %.1f s per row\n", n,
           total_bytes / (size_t)n, seconds);

    long count = 0, correct = 0;
    double t0 = now(), t;
    char a[1024], b[1024];
    do { /* baseline: extract, then exact string match */
        for (int i = 0; i < n; i++, count++) {
            reward_math_extract(items[i].completion, 1, a, sizeof a);
            reward_math_extract(items[i].gold, 1, b, sizeof b);
            correct += strcmp(a, b) == 0;
        }
        t = now() - t0;
    } while (t < seconds);
    double base = count / t;
    printf("  %-44s %10.0f verdicts/s  (%ld of %d right per pass)\n",
           "baseline: extract + exact string match", base, correct * n / count, n);

    count = correct = 0;
    t0 = now();
    do {
        for (int i = 0; i < n; i++, count++)
            correct += reward_math_grade(items[i].completion, items[i].gold, 1, 1e-6);
        t = now() - t0;
    } while (t < seconds);
    double full = count / t;
    printf("  %-44s %10.0f verdicts/s  (%ld of %d right per pass)\n",
           "math verifier: extract + normalise + equiv", full, correct * n / count, n);
    printf("  ratio verifier/baseline: %.2f; target >= 20000 verdicts/s: %s\n", full / base,
           full >= 20000 ? "met" : "NOT met");
    for (int i = 0; i < n; i++) free(items[i].completion);
    free(items);
    return 0;
}
