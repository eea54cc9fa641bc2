/* reward — verifiable rewards: turn (prompt, completion, reference answer, metadata) into a score
 * and named sub-scores.
 *
 * A `reward` is built once from the `reward` section of the config. It runs one verifier (math,
 * gsm8k, countdown, knights-and-knaves, or none; a row's metadata may name another with
 * {"task": ...}) to decide whether a completion is correct, then adds weighted terms:
 *
 *   score = Σ_term weight_term · value_term
 *
 * terms: accuracy (correct/wrong values), format (<think>...</think> then an answer), thinkless
 * (the DeGRPO reward table, docs/ALGORITHMS.md §5), cosine (§8), overlong (DAPO soft overlong
 * punishment, §4), lgrpo (ConciseR's length reward, only in all-correct groups, §7), external (a
 * long-lived subprocess speaking JSON lines) and plugin (a shared object loaded with dlopen).
 * A term whose weight is 0 is not computed. Every term's unweighted value is reported as a
 * sub-score, and reward_metrics() gives their means and the failure counters for logging.
 *
 * The parts (extractor, normaliser, equivalence, countdown parser, knights-and-knaves generator)
 * are exported so that tests, fuzzers and benchmarks reach them directly.
 *
 * Deliberately not here: token counting (callers pass lengths in tokens), advantages (trainer/),
 * learned reward models, code execution sandboxes (use the external command), thread safety (one
 * `reward` per thread: the external subprocess is a single pipe). */
#ifndef RLVR_REWARD_H
#define RLVR_REWARD_H

#include "common/cfg.h"

#include <stddef.h>
#include <stdint.h>

/* ---- scoring ---- */

#define REWARD_MAX_SUB 24
#define REWARD_NAME_MAX 32

typedef struct reward_input {
    const char *prompt;     /* may be NULL */
    const char *completion; /* the generated text; NULL counts as empty */
    const char *answer;     /* reference answer; may be NULL for tasks that need none */
    const char *metadata;   /* JSON object text or NULL: {"task": "countdown", "numbers": [..]} */
    int64_t length;         /* completion length in tokens; < 0: use its length in bytes */
} reward_input;

typedef struct reward_subscore {
    char name[REWARD_NAME_MAX]; /* "accuracy", "format", "external.<name>", ... */
    double value;               /* unweighted */
} reward_subscore;

typedef struct reward_result {
    double score;  /* the weighted sum */
    int correct;   /* the verifier's verdict: 1 correct, 0 not (always 0 with verifier none) */
    int n_sub;
    reward_subscore sub[REWARD_MAX_SUB];
} reward_result;

typedef struct reward reward;

/* Build from c->reward: starts the external command and loads the plugin when their weights are
 * non-zero. Returns NULL with err_set (naming the config key) on a bad setting or a failed start. */
reward *reward_init(const rlvr_config *c);
/* Stops the external command (SIGTERM, then SIGKILL after a grace period), unloads the plugin.
 * reward_free(NULL) is a no-op. */
void reward_free(reward *r);

/* Score one completion. Never fails on bad text: unparsable answers score as wrong and external
 * failures score reward.external.failure_score. Group-level terms (lgrpo) are 0 here. Returns 0,
 * or -1 with err_set only when `in` itself is unusable (NULL). */
int reward_score(reward *r, const reward_input *in, reward_result *out);
/* Score the G completions of one prompt, out[0..g-1]; applies the group-level terms (L-GRPO adds
 * weight · (1 − L_i / max_len) to each completion when all G are correct). Returns 0 or -1. */
int reward_score_group(reward *r, const reward_input *in, int g, reward_result *out);

/* ---- metrics: means of every sub-score and failure counts since the last reset ---- */

/* The config names of reward.verifier (cfg_choice); also the names a row's metadata "task" may
 * give to pick its verifier. */
extern const cfg_choice reward_verifier_choices[];

#define REWARD_MAX_METRICS 48

typedef struct reward_metric {
    char name[48]; /* "reward/accuracy", "reward/external_timeouts", ... */
    double value;
} reward_metric;

/* Fill up to cap metrics; returns how many. Means are over the completions scored since the last
 * reward_metrics_reset (0 when none); counters are totals over the same span. */
int reward_metrics(const reward *r, reward_metric *out, int cap);
void reward_metrics_reset(reward *r);

/* ---- math answer verification ---- */

/* The final answer of a completion: text after the last </think> if any (none if <think> was
 * opened and never closed), inside the last <answer>...</answer> if any, then the last
 * \boxed{}/\fbox{} (nested braces), else "the (final) answer is ...", else GSM8K "#### N", else —
 * when `fallback` is set — the whole text if it reads as one answer, or whichever ends later of the
 * last $...$/\(...\)/\[...\] span and the last number. Writes a NUL-terminated copy of at most
 * cap-1 bytes; returns its length, or -1 when there is no answer (out is then ""). */
int reward_math_extract(const char *text, int fallback, char *out, size_t cap);

/* The canonical string of an answer: styling, spacing, \left/\right, \text{} wrappers, units,
 * degrees, currency and trailing punctuation removed, \dfrac/\tfrac -> \frac. Used as the
 * parser's input and for the final string comparison. Returns the length, or -1 if it does not
 * fit in cap (out is then ""). */
int reward_math_normalize(const char *answer, char *out, size_t cap);

/* 1 if two extracted answers are equivalent: equal canonical strings, multiple-choice letters,
 * exact rationals, numbers within tolerance (relative, against max(1,|a|,|b|)), expressions equal
 * at random points, equations proportional, tuples/intervals element-wise, sets in any order;
 * `x = 5` matches `5`; a percentage matches its number and its hundredth. 0 otherwise. */
int reward_math_equiv(const char *pred, const char *gold, double tolerance);

/* Extract from both (gold too, so "$\boxed{3}$" works as a reference) and compare. */
int reward_math_grade(const char *completion, const char *gold, int fallback, double tolerance);

/* ---- gsm8k: the last number of the completion (or its "#### N") equals the reference number ---- */
int reward_gsm8k_grade(const char *completion, const char *gold);

/* ---- countdown: an arithmetic expression over the given numbers (+ - * / and parentheses), each
 * used at most once, equal to the target. Parsed by a bounded recursive-descent parser; no eval. */

#define REWARD_COUNTDOWN_MAX 16
/* 1 if expr is valid and equals target, 0 if it is valid and does not, or uses a number not
 * offered / more often than offered, or is malformed. */
int reward_countdown_check(const char *expr, const int64_t *numbers, int n, int64_t target);
/* Find the expression in a completion (last <answer>...</answer>, else the last line with an
 * operator, left of any '=') and check it. */
int reward_countdown_grade(const char *completion, const int64_t *numbers, int n, int64_t target);

/* ---- knights and knaves: knights always tell the truth, knaves always lie ---- */

/* 1 if the completion names every person of the reference answer with the right role (the last
 * mention of each name wins), 0 otherwise. */
int reward_kk_grade(const char *completion, const char *answer);

/* ---- format and length shaping (docs/ALGORITHMS.md §4, §5, §7, §8) ---- */

/* 1 if the completion is <think>...</think> followed by a non-empty answer, else 0. */
int reward_format_check(const char *completion);

typedef enum { REWARD_MODE_NONE, REWARD_MODE_SHORT, REWARD_MODE_THINK } reward_mode;
/* The Thinkless control token at the start (after leading whitespace). */
reward_mode reward_thinkless_mode(const char *completion);

/* DAPO soft overlong punishment: 0 up to max_len − buffer, then linear down to −1 at max_len,
 * −1 beyond. */
double reward_overlong(int64_t length, int64_t max_len, int64_t buffer);

typedef struct reward_cosine_params {
    double correct_at_0, correct_at_max; /* r_0^c, r_L^c */
    double wrong_at_0, wrong_at_max;     /* r_0^w, r_L^w */
    double exceed;                       /* r_e, given when length + margin >= max_len */
    int64_t margin, max_len;
} reward_cosine_params;
/* CosFn(L; a_0, a_L) = a_L + ½(a_0 − a_L)(1 + cos(π L / L_max)) with the correct or wrong pair. */
double reward_cosine(int64_t length, int correct, const reward_cosine_params *p);

/* ---- external reward command: a long-lived subprocess speaking JSON lines ----
 * Request, one line on its stdin:
 *     {"id": n, "prompt": s, "completion": s, "reference": s, "metadata": v}
 * Reply, one line on its stdout:
 *     {"id": n, "score": x, "subscores": {"name": x, ...}}   (the request's id; subscores optional)
 * Scores are finite numbers; sub-score names are 1 to REWARD_EXTERNAL_NAME_MAX characters from
 * [A-Za-z0-9_.-]. Started with execve (no shell; argv[0] is looked up in PATH when it has no '/'),
 * with RLIMIT_CPU, RLIMIT_AS and RLIMIT_NOFILE set. A crash, a timeout, a malformed reply or a
 * reply to another request kills the process and is counted; the next call starts a new one. */

#define REWARD_EXTERNAL_NAME_MAX (REWARD_NAME_MAX - 10) /* room for "external." and the NUL */

typedef struct reward_external reward_external;

typedef struct reward_external_stats {
    int64_t calls, failures, crashes, timeouts, malformed, mismatched, restarts;
} reward_external_stats;

/* argv: argc strings, copied. Returns NULL with err_set when the program cannot be started. */
reward_external *reward_external_start(char *const *argv, int argc, double timeout_s, int64_t cpu_s,
                                       int64_t memory_mb, int64_t max_files);
/* 0 with *score and up to cap sub-scores ("name", value) set; -1 on any failure (counted, and the
 * message is in err_msg()). */
int reward_external_call(reward_external *x, const reward_input *in, double *score,
                         reward_subscore *sub, int *nsub, int cap);
reward_external_stats reward_external_get_stats(const reward_external *x);
void reward_external_free(reward_external *x);

/* ---- C plugin ABI (see examples/rewards/plugin_example.c and docs/REWARDS.md) ----
 * A plugin is a shared object exporting:
 *   int  rlvr_reward_plugin_abi(void);              returns REWARD_PLUGIN_ABI
 *   void *rlvr_reward_plugin_init(const char *arg); reward.plugin.arg; NULL = failure
 *   int  rlvr_reward_plugin_score(void *state, const char *prompt, const char *completion,
 *                                 const char *answer, const char *metadata, double *score);
 *                                                   0 = ok, non-zero = failure
 *   void rlvr_reward_plugin_free(void *state);
 * Strings are NUL-terminated UTF-8 (possibly invalid), borrowed for the call only. */
#define REWARD_PLUGIN_ABI 1

typedef struct reward_plugin reward_plugin;
/* dlopen the shared object, check its ABI version, call its init. NULL with err_set on failure. */
reward_plugin *reward_plugin_load(const char *path, const char *arg);
/* 0 with *score set, or -1 when the plugin reports a failure. */
int reward_plugin_score(reward_plugin *p, const reward_input *in, double *score);
void reward_plugin_free(reward_plugin *p);

#endif
