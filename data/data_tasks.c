/* data_tasks — the built-in synthetic tasks, each with a step-by-step solution writer for SFT:
 *   addition   — the hybrid addition task (docs/DATA.md; Thinkless in miniature): zero-padded
 *                4-digit operands, a <short> answer or a <think> per-digit trace;
 *   arithmetic — +, - and * on numbers of 1-4 digits, solved column by column;
 *   countdown  — reach a target from 3-4 numbers with + - * /, solved one operation at a time;
 *   kk         — knights-and-knaves puzzles (data_kk.c), with a trace that checks every
 *                statement against the solution.
 * Example i of a split is drawn from its own rng_stream of (seed, task, split, i): no state is
 * shared between examples, so any example can be made alone and every machine makes the same.
 * Deliberately not here: a search-style trace for knights-and-knaves (the generator's statement
 * structure is internal to data_kk.c, so the trace verifies the solution instead of finding it),
 * deduplication between splits (a small problem space such as 1-digit addition repeats). */
#include "data.h"

#include "common/err.h"
#include "common/mem.h"
#include "common/rng.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const task_names[] = {"addition", "arithmetic", "countdown", "kk"};
#define NTASKS ((int)(sizeof task_names / sizeof task_names[0]))

const char *data_task_name(data_task t) {
    return (int)t >= 0 && (int)t < NTASKS ? task_names[t] : "unknown";
}

int data_task_parse(const char *name, data_task *out) {
    for (int i = 0; i < NTASKS; i++)
        if (name && strcmp(name, task_names[i]) == 0) return *out = (data_task)i, 0;
    return err_set("data: unknown built-in task '%s' (expected addition, arithmetic, countdown or kk)",
                   name ? name : "");
}

/* ---- a counter-based stream per example ---- */

/* [lo, hi) */
static int64_t uniform(rng_stream *g, int64_t lo, int64_t hi) { return lo + (int64_t)rng_below(g, (uint64_t)(hi - lo)); }

static int64_t pow10i(int d) {
    int64_t p = 1;
    while (d-- > 0) p *= 10;
    return p;
}

/* ---- text building: a growable string; a formatting failure sticks and is reported once ---- */

typedef struct sb {
    char *s;
    size_t len, cap;
    int failed;
} sb;

static void sb_printf(sb *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sb *b, const char *fmt, ...) {
    if (b->failed) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->failed = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        b->cap = (b->cap ? b->cap * 2 : 128) + (size_t)n;
        b->s = mem_realloc(b->s, b->cap);
    }
}

/* Hand the text over (NULL after a formatting failure, which frees it). */
static char *sb_take(sb *b) {
    if (b->failed) {
        free(b->s);
        b->s = NULL;
    }
    char *s = b->s;
    memset(b, 0, sizeof *b);
    return s;
}

static int64_t digit(int64_t x, int i) { return x / pow10i(i) % 10; }

static int ndigits(int64_t x) {
    int d = 1;
    while (x >= 10) x /= 10, d++;
    return d;
}

/* ---- addition: the hybrid task ---- */

static void make_addition(rng_stream *g, int64_t index, sb *prompt, sb *answer, sb *meta, sb *think, sb *shrt) {
    int d = index % 2 == 0 ? 1 : 2 + (int)rng_below(g, 3); /* easy and hard, half and half */
    int64_t a, b, lim = pow10i(d);
    do {
        a = uniform(g, 0, lim);
        b = uniform(g, 0, lim);
    } while (d > 1 && a < lim / 10 && b < lim / 10); /* a d-digit problem has a d-digit operand */
    sb_printf(prompt, "%04lld+%04lld=", (long long)a, (long long)b);
    sb_printf(answer, "%lld", (long long)(a + b));
    sb_printf(meta, "{\"task\":\"math\",\"builtin\":\"addition\",\"difficulty\":\"%s\",\"digits\":%d}",
              d == 1 ? "easy" : "hard", d);
    sb_printf(think, "<think>");
    int64_t carry = 0;
    for (int i = 0; i < d; i++) {
        int64_t ai = digit(a, i), bi = digit(b, i), s = ai + bi + carry;
        carry = s / 10;
        sb_printf(think, "%lld%lld%lld%lld;", (long long)ai, (long long)bi, (long long)(s % 10),
                  (long long)carry);
    }
    sb_printf(think, "</think>%lld", (long long)(a + b));
    sb_printf(shrt, "<short>%lld", (long long)(a + b));
}

const char *const data_addition_symbols[DATA_ADDITION_NSYM] = {
    "<pad>", "<bos>", "<eos>", "0", "1", "2", "3", "4", "5", "6", "7",
    "8",     "9",     "+",     "=", ";", "<short>", "<think>", "</think>"};

int data_addition_split(const char *text, int32_t *ids, int cap) {
    int n = 0;
    for (const char *p = text; *p;) {
        int best = -1;
        size_t best_len = 0;
        for (int k = 0; k < DATA_ADDITION_NSYM; k++) {
            size_t len = strlen(data_addition_symbols[k]);
            if (len > best_len && strncmp(p, data_addition_symbols[k], len) == 0) best = k, best_len = len;
        }
        if (best < 0)
            return err_set("addition symbols: '%c' at offset %zu is not one of the 19 symbols", *p,
                           (size_t)(p - text));
        if (n == cap) return err_set("addition symbols: more than %d symbols", cap);
        ids[n++] = best;
        p += best_len;
    }
    return n;
}

/* ---- arithmetic: + - * column by column ---- */

static void add_steps(sb *t, int64_t a, int64_t b) {
    int d = ndigits(a > b ? a : b);
    int64_t carry = 0;
    sb_printf(t, "Add the digits from the right, carrying.\n");
    for (int i = 0; i < d; i++) {
        int64_t ai = digit(a, i), bi = digit(b, i), s = ai + bi + carry;
        sb_printf(t, "%lld + %lld + %lld = %lld: write %lld, carry %lld\n", (long long)ai, (long long)bi,
                  (long long)carry, (long long)s, (long long)(s % 10), (long long)(s / 10));
        carry = s / 10;
    }
    if (carry) sb_printf(t, "The last carry %lld leads.\n", (long long)carry);
}

static void sub_steps(sb *t, int64_t a, int64_t b) {
    int d = ndigits(a);
    int64_t borrow = 0;
    sb_printf(t, "Subtract the digits from the right, borrowing.\n");
    for (int i = 0; i < d; i++) {
        int64_t ai = digit(a, i), bi = digit(b, i), s = ai - bi - borrow;
        if (s >= 0) {
            sb_printf(t, "%lld - %lld - %lld = %lld: write %lld, borrow 0\n", (long long)ai, (long long)bi,
                      (long long)borrow, (long long)s, (long long)s);
            borrow = 0;
        } else {
            sb_printf(t, "%lld - %lld - %lld < 0: 1%lld - %lld - %lld = %lld: write %lld, borrow 1\n",
                      (long long)ai, (long long)bi, (long long)borrow, (long long)ai, (long long)bi,
                      (long long)borrow, (long long)(s + 10), (long long)(s + 10));
            borrow = 1;
        }
    }
}

static void mul_steps(sb *t, int64_t a, int64_t b) {
    int d = ndigits(b);
    int64_t total = 0;
    sb_printf(t, "Multiply %lld by each digit of %lld from the right, then add.\n", (long long)a, (long long)b);
    for (int i = 0; i < d; i++) {
        int64_t bi = digit(b, i), p = a * bi * pow10i(i);
        sb_printf(t, "%lld * %lld", (long long)a, (long long)bi);
        if (i) sb_printf(t, " * %lld", (long long)pow10i(i));
        sb_printf(t, " = %lld\n", (long long)p);
        if (i) sb_printf(t, "%lld + %lld = %lld\n", (long long)total, (long long)p, (long long)(total + p));
        total += p;
    }
}

static void make_arithmetic(rng_stream *g, sb *prompt, sb *answer, sb *meta, sb *think, sb *shrt) {
    int d = 1 + (int)rng_below(g, 4);
    int op = (int)rng_below(g, 3);
    int64_t a = uniform(g, pow10i(d - 1), pow10i(d)), b, r;
    if (op == 2) {
        int e = 1 + (int)rng_below(g, d < 2 ? 1 : 2);
        b = uniform(g, pow10i(e - 1), pow10i(e));
    } else {
        b = uniform(g, pow10i(d - 1), pow10i(d));
    }
    if (op == 1 && a < b) {
        int64_t t = a;
        a = b;
        b = t;
    }
    const char opc = "+-*"[op];
    r = op == 0 ? a + b : op == 1 ? a - b : a * b;
    sb_printf(prompt, "What is %lld %c %lld?", (long long)a, opc, (long long)b);
    sb_printf(answer, "%lld", (long long)r);
    sb_printf(meta, "{\"task\":\"math\",\"builtin\":\"arithmetic\",\"difficulty\":%d,\"op\":\"%c\"}", d, opc);
    sb_printf(think, "<think>\n");
    if (op == 0) add_steps(think, a, b);
    else if (op == 1) sub_steps(think, a, b);
    else mul_steps(think, a, b);
    sb_printf(think, "So %lld %c %lld = %lld.\n</think>\n%lld", (long long)a, opc, (long long)b,
              (long long)r, (long long)r);
    sb_printf(shrt, "<short>%lld", (long long)r);
}

/* ---- countdown ---- */

#define CD_MAX 4
#define CD_EXPR 160

typedef struct cd_item {
    int64_t v;
    int compound;
    char expr[CD_EXPR];
} cd_item;

/* Combine the pool into one value by random operations with integer results; records each step.
 * Returns 1 when the final value is an acceptable target. */
static int cd_try(rng_stream *g, const int64_t *nums, int k, sb *steps, cd_item *out) {
    cd_item pool[CD_MAX];
    int n = k;
    for (int i = 0; i < k; i++) {
        pool[i].v = nums[i];
        pool[i].compound = 0;
        snprintf(pool[i].expr, CD_EXPR, "%lld", (long long)nums[i]);
    }
    while (n > 1) {
        int i = (int)rng_below(g, (uint64_t)n), j = (int)rng_below(g, (uint64_t)n - 1);
        if (j >= i) j++;
        cd_item x = pool[i], y = pool[j];
        int op = (int)rng_below(g, 4);
        if ((op == 1 || op == 3) && x.v < y.v) {
            cd_item t = x;
            x = y;
            y = t;
        }
        int64_t v;
        if (op == 0) v = x.v + y.v;
        else if (op == 1) v = x.v - y.v;
        else if (op == 2) v = x.v * y.v;
        else v = y.v > 1 && x.v % y.v == 0 ? x.v / y.v : 0;
        if (v <= 0 || v > 100000) return 0; /* zero, negative, a non-exact division or too big */
        const char opc = "+-*/"[op];
        sb_printf(steps, "%lld %c %lld = %lld\n", (long long)x.v, opc, (long long)y.v, (long long)v);
        cd_item z = {.v = v, .compound = 1, .expr = ""};
        if (strlen(x.expr) > CD_EXPR / 2 - 4 || strlen(y.expr) > CD_EXPR / 2 - 4) return 0;
        snprintf(z.expr, CD_EXPR, "%s%.*s%s %c %s%.*s%s", x.compound ? "(" : "", CD_EXPR / 2 - 4, x.expr,
                 x.compound ? ")" : "", opc, y.compound ? "(" : "", CD_EXPR / 2 - 4, y.expr,
                 y.compound ? ")" : "");
        int lo = i < j ? i : j, hi = i < j ? j : i;
        pool[lo] = z;
        pool[hi] = pool[--n];
    }
    *out = pool[0];
    if (out->v < 10 || out->v > 999) return 0;
    for (int i = 0; i < k; i++)
        if (nums[i] == out->v) return 0;
    return 1;
}

static int make_countdown(rng_stream *g, sb *prompt, sb *answer, sb *meta, sb *think, sb *shrt) {
    int k = 3 + (int)rng_below(g, 2);
    int64_t nums[CD_MAX];
    cd_item res;
    sb steps = {0};
    for (int attempt = 0;; attempt++) {
        if (attempt == 10000) {
            free(sb_take(&steps));
            return err_set("countdown: no target found in 10000 attempts");
        }
        for (int i = 0; i < k; i++) nums[i] = uniform(g, 1, 100);
        steps.len = 0;
        if (steps.s) steps.s[0] = 0;
        if (cd_try(g, nums, k, &steps, &res)) break;
    }
    sb_printf(prompt, "Using the numbers");
    for (int i = 0; i < k; i++) sb_printf(prompt, "%s %lld", i ? "," : "", (long long)nums[i]);
    sb_printf(prompt,
              ", write an expression that equals %lld. You may use +, -, *, / and parentheses, and "
              "each number at most once. Give the expression between <answer> and </answer>.",
              (long long)res.v);
    sb_printf(answer, "%s", res.expr);
    sb_printf(meta, "{\"task\":\"countdown\",\"builtin\":\"countdown\",\"difficulty\":%d,\"numbers\":[", k);
    for (int i = 0; i < k; i++) sb_printf(meta, "%s%lld", i ? "," : "", (long long)nums[i]);
    sb_printf(meta, "],\"target\":%lld}", (long long)res.v);
    char *st = sb_take(&steps);
    sb_printf(think, "<think>\n%s</think>\n<answer>%s</answer>", st ? st : "", res.expr);
    sb_printf(shrt, "<short><answer>%s</answer>", res.expr);
    if (!st) think->failed = 1;
    free(st);
    return 0;
}

/* ---- knights and knaves ---- */

static int make_kk(rng_stream *g, sb *prompt, sb *answer, sb *meta, sb *think, sb *shrt) {
    int n = 2 + (int)rng_below(g, 3);
    data_kk_puzzle p;
    char ptext[2048], atext[512];
    if (data_kk_generate(rng_next_u64(g), n, &p) ||
        data_kk_format(&p, ptext, sizeof ptext, atext, sizeof atext))
        return -1;
    sb_printf(prompt, "%s", ptext);
    sb_printf(answer, "%s", atext);
    sb_printf(meta, "{\"task\":\"kk\",\"builtin\":\"kk\",\"difficulty\":%d}", n);
    sb_printf(think, "<think>\nTry");
    for (int i = 0; i < n; i++)
        sb_printf(think, "%s %s is a %s", i == 0 ? "" : i == n - 1 ? " and" : ",", p.names[i],
                  p.knight[i] ? "knight" : "knave");
    sb_printf(think, ".\n");
    for (int i = 0; i < n; i++)
        sb_printf(think, "%s is a %s, so the statement \"%s\" must be %s. It is.\n", p.names[i],
                  p.knight[i] ? "knight" : "knave", p.statements[i], p.knight[i] ? "true" : "false");
    sb_printf(think, "Every statement fits, and the puzzle has one solution.\n</think>\n%s", atext);
    sb_printf(shrt, "<short>%s", atext);
    return 0;
}

/* ---- examples and sets ---- */

int data_builtin_example(data_task task, data_split split, uint64_t seed, int64_t index, data_example *out) {
    memset(out, 0, sizeof *out);
    if ((int)task < 0 || (int)task >= NTASKS) return err_set("data: unknown built-in task %d", (int)task);
    if (index < 0) return err_set("data: negative example index %lld", (long long)index);
    rng_stream g; /* 'T', the task and the split in the top 16 bits, the index below */
    rng_stream_init(&g, seed, (0x54ull << 56) | ((uint64_t)task << 52) | ((uint64_t)split << 48) |
                                  ((uint64_t)index & 0xffffffffffffull));
    sb prompt = {0}, answer = {0}, meta = {0}, think = {0}, shrt = {0};
    int rc = 0;
    switch (task) {
    case DATA_TASK_ADDITION: make_addition(&g, index, &prompt, &answer, &meta, &think, &shrt); break;
    case DATA_TASK_ARITHMETIC: make_arithmetic(&g, &prompt, &answer, &meta, &think, &shrt); break;
    case DATA_TASK_COUNTDOWN: rc = make_countdown(&g, &prompt, &answer, &meta, &think, &shrt); break;
    case DATA_TASK_KK: rc = make_kk(&g, &prompt, &answer, &meta, &think, &shrt); break;
    }
    out->prompt = sb_take(&prompt);
    out->answer = sb_take(&answer);
    out->metadata = sb_take(&meta);
    out->response = sb_take(&think);
    out->response_short = sb_take(&shrt);
    if (rc == 0 && (!out->prompt || !out->answer || !out->metadata || !out->response || !out->response_short))
        rc = err_set("data: formatting the example text failed");
    if (rc) {
        err_prefix("builtin:%s example %lld", task_names[task], (long long)index);
        data_example_clear(out);
    }
    return rc;
}

/* Fold one field (or its absence) into a checksum. */
static uint64_t fold(uint64_t h, const char *s) {
    return s ? data_fnv1a64(h, s, strlen(s) + 1) : data_fnv1a64(h, "\xff", 1);
}

data_set *data_builtin(data_task task, data_split split, uint64_t seed, int64_t n) {
    if (n < 1) return err_set("data: a built-in dataset needs at least one example, got %lld", (long long)n), NULL;
    data_set *d = mem_calloc(1, sizeof *d);
    d->ex = mem_calloc((size_t)n, sizeof *d->ex);
    snprintf(d->name, sizeof d->name, "builtin:%s/%s", data_task_name(task),
             split == DATA_SPLIT_TRAIN ? "train" : "test");
    d->checksum = DATA_FNV_OFFSET;
    for (int64_t i = 0; i < n; i++) {
        data_example *e = &d->ex[i];
        if (data_builtin_example(task, split, seed, i, e)) {
            data_set_free(d);
            return NULL;
        }
        d->n++;
        const char *fields[] = {e->prompt, e->answer, e->metadata, e->response, e->response_short};
        for (int k = 0; k < 5; k++) d->checksum = fold(d->checksum, fields[k]);
    }
    return d;
}
