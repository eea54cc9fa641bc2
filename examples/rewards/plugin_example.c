/* plugin_example — a reward plugin for rlvr.c, loaded with dlopen (reward.plugin.path).
 *
 * Build:  cc -O2 -shared -fPIC -o plugin_example.so plugin_example.c
 * Config: "reward": {"plugin": {"weight": 1, "path": "./plugin_example.so", "arg": "nocase"}}
 *
 * The ABI (version 1, see rewards/reward.h): four exported functions.
 *   int   rlvr_reward_plugin_abi(void)          -> 1
 *   void *rlvr_reward_plugin_init(const char *arg)  reward.plugin.arg ("" if unset); NULL = failure
 *   int   rlvr_reward_plugin_score(void *state, const char *prompt, const char *completion,
 *                                  const char *answer, const char *metadata, double *score)
 *         0 = *score is set; non-zero = failure (scored as reward.plugin.failure_score, counted)
 *   void  rlvr_reward_plugin_free(void *state)
 * Strings are NUL-terminated, borrowed for the call, and may hold invalid UTF-8. Calls come from
 * one thread at a time per loaded reward. The plugin runs inside the training process.
 *
 * This one scores 1 when the last non-empty line of the completion equals the answer (ignoring
 * surrounding spaces; ignoring case when arg is "nocase"), else 0. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef struct state {
    int nocase;
} state;

int rlvr_reward_plugin_abi(void) { return 1; }

void *rlvr_reward_plugin_init(const char *arg) {
    if (arg[0] && strcmp(arg, "nocase") != 0) return NULL; /* unknown option */
    state *s = calloc(1, sizeof *s);
    if (s) s->nocase = arg[0] != '\0';
    return s;
}

static void trim(const char **a, const char **b) {
    while (*a < *b && isspace((unsigned char)**a)) (*a)++;
    while (*b > *a && isspace((unsigned char)(*b)[-1])) (*b)--;
}

int rlvr_reward_plugin_score(void *st, const char *prompt, const char *completion,
                             const char *answer, const char *metadata, double *score) {
    (void)prompt;
    (void)metadata;
    const state *s = st;
    const char *end = completion + strlen(completion), *a = end, *b = end;
    trim(&completion, &b); /* drop trailing blank lines */
    a = b;
    while (a > completion && a[-1] != '\n') a--;
    trim(&a, &b);
    const char *x = answer, *y = answer + strlen(answer);
    trim(&x, &y);
    size_t n = (size_t)(b - a);
    int same = n == (size_t)(y - x) && (s->nocase ? strncasecmp(a, x, n) == 0 : memcmp(a, x, n) == 0);
    *score = same ? 1.0 : 0.0;
    return 0;
}

void rlvr_reward_plugin_free(void *st) { free(st); }
