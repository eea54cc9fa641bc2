/* reward_shape — format checks and length shaping terms, each a pure function of the text or the
 * length, implemented as docs/ALGORITHMS.md states them: DAPO's soft overlong punishment (§4),
 * the Thinkless control-token detection used by the DeGRPO reward table (§5), and the cosine
 * length-scaled reward (§8). L-GRPO (§7) needs the whole group and lives in reward.c.
 * Deliberately not here: repetition penalties, token counting. */
#include "reward.h"

#include <ctype.h>
#include <math.h>
#include <string.h>

static const char *skip_space(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    return s;
}

int reward_format_check(const char *completion) {
    if (!completion) return 0;
    const char *s = skip_space(completion);
    if (strncmp(s, "<think>", 7) != 0) return 0;
    const char *close = strstr(s + 7, "</think>"), *again = strstr(s + 7, "<think>");
    if (!close || (again && again < close)) return 0;
    const char *rest = close + 8;
    if (strstr(rest, "<think>") || strstr(rest, "</think>")) return 0;
    return *skip_space(rest) != '\0';
}

reward_mode reward_thinkless_mode(const char *completion) {
    if (!completion) return REWARD_MODE_NONE;
    const char *s = skip_space(completion);
    if (strncmp(s, "<short>", 7) == 0) return REWARD_MODE_SHORT;
    if (strncmp(s, "<think>", 7) == 0) return REWARD_MODE_THINK;
    return REWARD_MODE_NONE;
}

/* DAPO eq. 13 (ALGORITHMS.md §4). */
double reward_overlong(int64_t length, int64_t max_len, int64_t buffer) {
    if (length <= max_len - buffer) return 0.0;
    if (length <= max_len) return (double)((max_len - buffer) - length) / (double)buffer;
    return -1.0;
}

/* Demystifying Long CoT, cosine.py (ALGORITHMS.md §8). */
double reward_cosine(int64_t length, int correct, const reward_cosine_params *p) {
    if (length + p->margin >= p->max_len) return p->exceed;
    double a0 = correct ? p->correct_at_0 : p->wrong_at_0;
    double aL = correct ? p->correct_at_max : p->wrong_at_max;
    double progress = (double)length / (double)p->max_len;
    return aL + 0.5 * (a0 - aL) * (1.0 + cos(M_PI * progress));
}
