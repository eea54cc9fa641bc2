/* reward_tasks — verifiers of the built-in tasks other than free-form math: GSM8K (numeric),
 * countdown (an expression over given numbers that hits a target) and knights-and-knaves (the
 * named roles; the puzzles come from data/).
 * The countdown parser is a bounded recursive-descent parser over exact rationals: it never
 * evaluates text as code. Deliberately not here: natural-language understanding of answers (a
 * knights-and-knaves answer must name each person with "knight" or "knave" after the name). */
#include "reward.h"

#include "common/err.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* ---- gsm8k ---- */

int reward_gsm8k_grade(const char *completion, const char *gold) {
    char pa[512], ga[512];
    if (reward_math_extract(gold, 1, ga, sizeof ga) <= 0) return 0;
    if (reward_math_extract(completion, 1, pa, sizeof pa) <= 0) return 0;
    return reward_math_equiv(pa, ga, 1e-9);
}

/* ---- countdown ---- */

#define CD_MAX_LEN 512
#define CD_MAX_DEPTH 64

typedef struct cd_parser {
    const char *s;
    size_t n, pos;
    int depth, err;
    int64_t avail[REWARD_COUNTDOWN_MAX];
    int used[REWARD_COUNTDOWN_MAX];
    int navail;
} cd_parser;

typedef struct rat {
    __int128 num, den; /* den > 0; kept reduced and bounded by int64 */
} rat;

static int rat_ok(rat *r) {
    if (r->den == 0) return 0;
    if (r->den < 0) r->num = -r->num, r->den = -r->den;
    __int128 a = r->num < 0 ? -r->num : r->num, b = r->den;
    while (b) {
        __int128 t = a % b;
        a = b;
        b = t;
    }
    if (a > 1) r->num /= a, r->den /= a;
    return r->num <= INT64_MAX && r->num >= -INT64_MAX && r->den <= INT64_MAX;
}

static void cd_skip(cd_parser *P) {
    while (P->pos < P->n && isspace((unsigned char)P->s[P->pos])) P->pos++;
}

/* The operator at the cursor: + - * / (ASCII, or × ÷ in UTF-8); 0 if none. Advances past it. */
static int cd_op(cd_parser *P, const char *allowed) {
    cd_skip(P);
    if (P->pos >= P->n) return 0;
    const char *s = P->s + P->pos;
    int op = 0;
    size_t len = 1;
    if (*s == '+' || *s == '-' || *s == '*' || *s == '/') op = *s;
    else if ((unsigned char)s[0] == 0xC3 && P->pos + 1 < P->n && (unsigned char)s[1] == 0x97) op = '*', len = 2;
    else if ((unsigned char)s[0] == 0xC3 && P->pos + 1 < P->n && (unsigned char)s[1] == 0xB7) op = '/', len = 2;
    if (!op || !strchr(allowed, op)) return 0;
    P->pos += len;
    return op;
}

static rat cd_expr(cd_parser *P);

static rat cd_primary(cd_parser *P) {
    rat r = {0, 1};
    cd_skip(P);
    if (P->pos >= P->n) return P->err = 1, r;
    char c = P->s[P->pos];
    if (c == '(') {
        if (++P->depth > CD_MAX_DEPTH) return P->err = 1, r;
        P->pos++;
        r = cd_expr(P);
        cd_skip(P);
        if (P->pos >= P->n || P->s[P->pos] != ')') return P->err = 1, r;
        P->pos++;
        P->depth--;
        return r;
    }
    if (!isdigit((unsigned char)c)) return P->err = 1, r;
    int64_t v = 0;
    while (P->pos < P->n && isdigit((unsigned char)P->s[P->pos])) {
        if (v > (INT64_MAX - 9) / 10) return P->err = 1, r;
        v = v * 10 + (P->s[P->pos++] - '0');
    }
    for (int i = 0; i < P->navail; i++)
        if (!P->used[i] && P->avail[i] == v) {
            P->used[i] = 1;
            r.num = v;
            return r;
        }
    P->err = 1; /* not offered, or used more often than offered */
    return r;
}

static rat cd_term(cd_parser *P) {
    rat a = cd_primary(P);
    int op;
    while (!P->err && (op = cd_op(P, "*/"))) {
        rat b = cd_primary(P);
        if (op == '*') a.num *= b.num, a.den *= b.den;
        else {
            if (b.num == 0) return P->err = 1, a;
            a.num *= b.den, a.den *= b.num;
        }
        if (!rat_ok(&a)) P->err = 1;
    }
    return a;
}

static rat cd_expr(cd_parser *P) {
    rat a = cd_term(P);
    int op;
    while (!P->err && (op = cd_op(P, "+-"))) {
        rat b = cd_term(P);
        __int128 n = a.num * b.den + (op == '+' ? 1 : -1) * b.num * a.den;
        a.num = n, a.den *= b.den;
        if (!rat_ok(&a)) P->err = 1;
    }
    return a;
}

int reward_countdown_check(const char *expr, const int64_t *numbers, int n, int64_t target) {
    if (!expr || !numbers || n < 1 || n > REWARD_COUNTDOWN_MAX) return 0;
    size_t len = strlen(expr);
    if (len == 0 || len > CD_MAX_LEN) return 0;
    cd_parser P = {.s = expr, .n = len};
    P.navail = n;
    for (int i = 0; i < n; i++) P.avail[i] = numbers[i];
    rat v = cd_expr(&P);
    cd_skip(&P);
    if (P.err || P.pos != P.n) return 0;
    return v.den == 1 && v.num == target;
}

int reward_countdown_grade(const char *completion, const int64_t *numbers, int n, int64_t target) {
    if (!completion) return 0;
    const char *s = completion, *end = s + strlen(s);
    const char *close = NULL;
    for (const char *p = strstr(s, "</think>"); p; p = strstr(p + 1, "</think>")) close = p;
    if (close) s = close + 8;
    const char *ans = NULL;
    for (const char *p = strstr(s, "<answer>"); p; p = strstr(p + 1, "<answer>")) ans = p;
    const char *a = NULL, *b = NULL;
    if (ans) {
        a = ans + 8;
        const char *e = strstr(a, "</answer>");
        b = e ? e : end;
    } else { /* the last line that holds an operator */
        for (const char *line = s; line < end;) {
            const char *nl = memchr(line, '\n', (size_t)(end - line));
            const char *le = nl ? nl : end;
            for (const char *q = line; q < le; q++)
                if (strchr("+-*/", *q)) {
                    a = line, b = le;
                    break;
                }
            line = le + 1;
        }
    }
    if (!a) return 0;
    const char *eq = memchr(a, '=', (size_t)(b - a));
    if (eq) b = eq;
    char buf[CD_MAX_LEN + 1];
    size_t len = (size_t)(b - a);
    if (len > CD_MAX_LEN) return 0;
    memcpy(buf, a, len);
    buf[len] = '\0';
    return reward_countdown_check(buf, numbers, n, target);
}

/* ---- knights and knaves ---- */

/* The role named after the last mention of `name` in [s, end): 1 knight, 0 knave, -1 none. */
static int kk_role_of(const char *s, const char *end, const char *name) {
    size_t len = strlen(name);
    const char *last = NULL;
    for (const char *p = s; p + len <= end; p++)
        if (memcmp(p, name, len) == 0 && (p == s || !isalpha((unsigned char)p[-1])) &&
            (p + len == end || !isalpha((unsigned char)p[len])))
            last = p;
    if (!last) return -1;
    for (const char *p = last + len; p + 5 <= end && p < last + len + 64; p++) {
        if (strchr(",;.\n", *p)) break; /* the role belongs to the same clause */
        if (strncasecmp(p, "knight", 6) == 0 && p + 6 <= end) return 1;
        if (strncasecmp(p, "knave", 5) == 0) return 0;
    }
    return -1;
}

int reward_kk_grade(const char *completion, const char *answer) {
    if (!completion || !answer) return 0;
    const char *s = completion, *end = s + strlen(s);
    const char *close = NULL;
    for (const char *p = strstr(s, "</think>"); p; p = strstr(p + 1, "</think>")) close = p;
    if (close) s = close + 8;
    int people = 0;
    for (const char *a = answer; *a;) { /* "Alice: knight, Bob: knave" */
        while (*a == ' ' || *a == ',') a++;
        const char *colon = strchr(a, ':');
        if (!colon || colon - a >= 32) break;
        char name[32];
        memcpy(name, a, (size_t)(colon - a));
        name[colon - a] = '\0';
        const char *r = colon + 1;
        while (*r == ' ') r++;
        int want = strncasecmp(r, "knight", 6) == 0 ? 1 : strncasecmp(r, "knave", 5) == 0 ? 0 : -1;
        if (want < 0 || kk_role_of(s, end, name) != want) return 0;
        people++;
        const char *next = strchr(r, ',');
        if (!next) break;
        a = next + 1;
    }
    return people > 0;
}
