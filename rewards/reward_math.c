/* reward_math — the math answer verifier: final-answer extraction, normalisation, and equivalence
 * by canonical string, exact rational, number within a tolerance, or evaluation at random points.
 *
 * Pipeline: reward_math_extract() finds the answer in a completion; reward_math_normalize()
 * rewrites it into a canonical ASCII string (styling, units, degrees and currency removed,
 * \frac34 -> \frac{3}{4}); a bounded recursive-descent parser turns that string into a small tree
 * (numbers, variables, + - * / ^ !, functions, \frac, \sqrt, tuples, intervals, sets, unions,
 * relations, ±, matrices, ratios) in a fixed-size arena; reward_math_equiv() compares two trees.
 * reward_math_grade() also grades multiple choice (a reference letter against the letter the
 * completion chooses).
 * Every buffer is fixed-size and every recursion depth-limited, so hostile text costs bounded time
 * and memory and cannot crash: what does not parse is compared as a canonical string.
 * Deliberately not here: computer algebra (no simplification; expressions with variables are
 * compared by value at random points), inequalities beyond identical or mirrored ones,
 * decimal commas ("1,5" reads as the pair 1, 5). */
#include "reward.h"

#include "common/mem.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NORM_CAP 1024   /* canonical answers longer than this are not compared by value */
#define MAX_NODES 256
#define MAX_KIDS 512
#define MAX_DEPTH 48
#define MAX_VARS 16
#define EVAL_POINTS 8
#define MAX_MAT 8       /* rows and columns of a matrix */

/* ---- a string builder over a caller's buffer; overflow is remembered, never written past ---- */

typedef struct sbuf {
    char *p;
    size_t n, cap;
    int overflow;
} sbuf;

static void sb_init(sbuf *s, char *p, size_t cap) {
    s->p = p;
    s->n = 0;
    s->cap = cap;
    s->overflow = cap == 0;
    if (cap) p[0] = '\0';
}

static void sb_putn(sbuf *s, const char *t, size_t n) {
    if (s->overflow) return;
    if (s->n + n + 1 > s->cap) {
        s->overflow = 1;
        return;
    }
    memcpy(s->p + s->n, t, n);
    s->n += n;
    s->p[s->n] = '\0';
}

static void sb_puts(sbuf *s, const char *t) { sb_putn(s, t, strlen(t)); }
static void sb_putc(sbuf *s, char c) { sb_putn(s, &c, 1); }

static char sb_last(const sbuf *s) { return s->n ? s->p[s->n - 1] : '\0'; }

/* ---- searching ---- */

/* Last occurrence of needle in [s, s+n), or NULL. case_fold compares ASCII letters caselessly. */
static unsigned char fold(unsigned char c, int case_fold) {
    return case_fold && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Last occurrence of needle in [s, s+n), or NULL. case_fold compares ASCII letters caselessly
 * (needle in lower case). */
static const char *find_last(const char *s, size_t n, const char *needle, int case_fold) {
    size_t m = strlen(needle);
    if (m == 0 || m > n) return NULL;
    const unsigned char *u = (const unsigned char *)s, *w = (const unsigned char *)needle;
    if (!case_fold) { /* the common case: jump between occurrences of the first byte */
        for (size_t lim = n - m + 1; lim > 0;) {
            const unsigned char *p = u + lim;
            while (p > u && *--p != w[0]) {}
            if (*p != w[0]) return NULL;
            if (memcmp(p, w, m) == 0) return (const char *)p;
            lim = (size_t)(p - u);
        }
        return NULL;
    }
    for (size_t i = n - m + 1; i-- > 0;) {
        if (fold(u[i], case_fold) != w[0]) continue;
        size_t j = 1;
        while (j < m && fold(u[i + j], case_fold) == w[j]) j++;
        if (j == m) return s + i;
    }
    return NULL;
}

static const char *find_first(const char *s, size_t n, const char *needle) {
    size_t m = strlen(needle);
    if (m == 0 || m > n) return NULL;
    for (const char *p = s, *end = s + n - m + 1; (p = memchr(p, needle[0], (size_t)(end - p)));
         p++)
        if (memcmp(p, needle, m) == 0) return p;
    return NULL;
}

/* Index just past the group that opens at s[i] == '{', skipping \{ and \}; -1 if unbalanced. */
static long match_brace(const char *s, size_t n, size_t i) {
    int depth = 0;
    for (size_t j = i; j < n; j++) {
        if (s[j] == '\\' && j + 1 < n && (s[j + 1] == '{' || s[j + 1] == '}')) {
            j++;
            continue;
        }
        if (s[j] == '{') depth++;
        else if (s[j] == '}' && --depth == 0) return (long)j + 1;
    }
    return -1;
}

static int copy_out(const char *s, size_t n, char *out, size_t cap) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (cap == 0) return -1;
    if (n >= cap) n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
    return n ? (int)n : -1;
}

/* ================================ parser ================================ */

enum {
    N_NUM, N_VAR, N_CONST, N_ADD, N_SUB, N_MUL, N_DIV, N_POW, N_NEG, N_FUNC, N_FACT, N_PM, N_PCT,
    N_ABS, N_BINOM, N_TUPLE, N_SET, N_UNION, N_REL, N_DOTS, N_MAT, N_MOD
};
enum { F_SQRT, F_SIN, F_COS, F_TAN, F_SEC, F_CSC, F_COT, F_ASIN, F_ACOS, F_ATAN, F_SINH, F_COSH,
       F_TANH, F_LN, F_LOG, F_EXP, F_NFUNCS };
enum { C_PI, C_INF };
enum { R_EQ, R_LT, R_GT, R_LE, R_GE, R_NE };

typedef struct mnode {
    uint8_t kind, op; /* op: function or constant; MAT: 1 for a determinant; MUL: 1 for f(x) */
    char lb, rb;      /* tuple brackets, 0 when written without */
    int16_t a, b;     /* children of unary/binary nodes */
    int16_t first, n; /* list nodes: kids[first .. first+n) */
    int16_t var;      /* N_VAR slot */
    uint32_t rops;    /* N_REL: relation ops, 3 bits each */
    double v;         /* N_NUM value */
    int exact;        /* N_NUM: num/den exact */
    int64_t num, den;
    int16_t canon;    /* N_NUM: offset of the canonical digits in the pool, -1 if none */
} mnode;

typedef struct menv { /* variable names shared by the two sides of a comparison */
    int n;
    char names[MAX_VARS][16];
} menv;

typedef struct mparse {
    const char *s;
    size_t n, pos;
    mnode nodes[MAX_NODES];
    int nn;
    int16_t kids[MAX_KIDS];
    int nk;
    char pool[NORM_CAP + 64];
    int npool;
    menv *env;
    int depth, err;
} mparse;

static const char *func_names[F_NFUNCS] = {"sqrt", "sin", "cos", "tan", "sec", "csc", "cot",
                                           "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
                                           "ln", "log", "exp"};

static int new_node(mparse *P, int kind) {
    if (P->nn >= MAX_NODES) {
        P->err = 1;
        return 0;
    }
    mnode *m = &P->nodes[P->nn];
    memset(m, 0, sizeof *m);
    m->kind = (uint8_t)kind;
    m->canon = -1;
    return P->nn++;
}

static int bin(mparse *P, int kind, int a, int b) {
    int i = new_node(P, kind);
    P->nodes[i].a = (int16_t)a;
    P->nodes[i].b = (int16_t)b;
    return i;
}

/* ---- lexer ---- */

enum { T_END, T_NUM, T_VAR, T_WORD, T_FUNC, T_FRAC, T_SQRT, T_CONST, T_CUP, T_PM, T_BINOM,
       T_LSET, T_RSET, T_REL, T_DOTS, T_MAT, T_MOD, T_CHAR, T_BAD };

typedef struct mtok {
    int type;
    size_t start, end;
    int ch;        /* T_CHAR character, T_FUNC/T_CONST id, T_REL op */
    char name[16]; /* T_VAR */
    double v;
    int exact;
    int64_t num, den;
    char canon[64];
} mtok;

/* Reduce n/d (d != 0) into num and den with den > 0; 0 if it does not fit in int64. */
static int rat_make(__int128 n, __int128 d, int64_t *num, int64_t *den) {
    if (d == 0) return 0;
    if (d < 0) n = -n, d = -d;
    __int128 a = n < 0 ? -n : n, b = d;
    while (b) {
        __int128 t = a % b;
        a = b;
        b = t;
    }
    if (a > 1) n /= a, d /= a;
    if (n > INT64_MAX || n < -INT64_MAX || d > INT64_MAX) return 0;
    *num = (int64_t)n;
    *den = (int64_t)d;
    return 1;
}

static int is_digit_at(const char *s, size_t n, size_t i) { return i < n && isdigit((unsigned char)s[i]); }

/* A run of exactly three digits at i, not followed by another digit. */
static int three_digits(const char *s, size_t n, size_t i) {
    return is_digit_at(s, n, i) && is_digit_at(s, n, i + 1) && is_digit_at(s, n, i + 2) &&
           !is_digit_at(s, n, i + 3);
}

/* Lex a number at s[i] (a digit, or '.' then a digit): thousands separators (",ddd", " ddd"),
 * decimals, an exponent, a mixed number "4 4/9", a base subscript "204_5". Returns the end.
 * Longer than 80 lines on purpose: one pass over the characters whose phases (marked below) share
 * the digit buffer, its overflow flag and the cursor; split, they would pass all of it around. */
static size_t lex_number(const char *s, size_t n, size_t i, mtok *t) {
    char digits[512];
    size_t nd = 0, nfrac = 0, j = i, intlen = 0;
    int overflow = 0;
    while (is_digit_at(s, n, j)) {
        if (nd < sizeof digits) digits[nd++] = s[j];
        else overflow = 1;
        j++, intlen++;
    }
    if (intlen >= 1 && intlen <= 3) { /* thousands groups, one kind of separator per number */
        char sep = 0;
        while (j < n && (s[j] == ',' || s[j] == ' ') && (!sep || s[j] == sep) &&
               three_digits(s, n, j + 1) &&
               !(s[j] == ' ' && j + 4 < n && (s[j + 4] == '/' || s[j + 4] == '.'))) {
            sep = s[j];
            for (int k = 1; k <= 3; k++)
                if (nd < sizeof digits) digits[nd++] = s[j + k];
                else overflow = 1;
            j += 4;
        }
    }
    size_t int_digits = nd;
    if (j + 1 < n + 1 && j < n && s[j] == '.' && is_digit_at(s, n, j + 1)) {
        j++;
        while (is_digit_at(s, n, j)) {
            if (nd < sizeof digits) digits[nd++] = s[j], nfrac++;
            else overflow = 1;
            j++;
        }
    }
    long expo = 0;
    if (j < n && (s[j] == 'e' || s[j] == 'E') && nd > 0) {
        size_t k = j + 1;
        int sign = 1;
        if (k < n && (s[k] == '+' || s[k] == '-')) sign = s[k] == '-' ? -1 : 1, k++;
        if (is_digit_at(s, n, k) && !(k + 1 < n && isalpha((unsigned char)s[k + 1]))) {
            long e = 0;
            while (is_digit_at(s, n, k)) {
                if (e < 100000) e = e * 10 + (s[k] - '0');
                k++;
            }
            expo = sign * e;
            j = k;
        }
    }
    /* value: exact when it fits, double always */
    t->type = T_NUM;
    t->exact = 0;
    t->v = 0;
    for (size_t k = 0; k < nd; k++) t->v = t->v * 10 + (digits[k] - '0');
    t->v = nfrac ? t->v / pow(10, (double)nfrac) : t->v;
    if (expo) t->v *= pow(10, (double)expo);
    if (overflow) t->v = INFINITY;
    {
        size_t k = 0;
        while (k < nd && digits[k] == '0') k++;
        if (nd - k <= 18 && nfrac <= 18 && labs(expo) <= 18 && !overflow) {
            __int128 num = 0, den = 1;
            for (size_t q = k; q < nd; q++) num = num * 10 + (digits[q] - '0');
            for (size_t q = 0; q < nfrac; q++) den *= 10;
            for (long q = 0; q < labs(expo); q++) {
                if (expo > 0) num *= 10;
                else den *= 10;
            }
            t->exact = rat_make(num, den, &t->num, &t->den);
        }
    }
    /* canonical digits: no leading zeros, no trailing fractional zeros */
    {
        size_t a = 0, b = nd, o = 0;
        while (a + 1 < int_digits && digits[a] == '0') a++;
        while (b > int_digits && digits[b - 1] == '0') b--;
        for (size_t k = a; k < b && o + 24 < sizeof t->canon; k++) {
            if (k == int_digits && int_digits < b) t->canon[o++] = '.';
            t->canon[o++] = digits[k];
        }
        if (int_digits == 0 && o == 0) t->canon[o++] = '0';
        if (expo && o + 12 < sizeof t->canon) o += (size_t)snprintf(t->canon + o, 12, "e%ld", expo);
        t->canon[o] = '\0';
        if (overflow || b - a + 24 > sizeof t->canon) t->canon[0] = '\0';
    }
    /* base subscript: 204_5 or 204_{5} */
    if (j < n && s[j] == '_' && nfrac == 0 && expo == 0) {
        size_t k = j + 1, braced = k < n && s[k] == '{';
        if (braced) k++;
        int base = 0;
        while (is_digit_at(s, n, k) && base < 100) base = base * 10 + (s[k++] - '0');
        if (base >= 2 && base <= 36 && (!braced || (k < n && s[k] == '}'))) {
            double v = 0;
            int ok = 1;
            for (size_t q = 0; q < nd; q++) {
                int dg = digits[q] - '0';
                if (dg >= base) ok = 0;
                v = v * base + dg;
            }
            t->v = ok ? v : NAN;
            t->exact = ok && v < 9e15;
            t->num = t->exact ? (int64_t)v : 0;
            t->den = 1;
            t->canon[0] = '\0';
            return braced ? k + 1 : k;
        }
    }
    /* mixed number: an integer, one space, then p/q ending the number */
    if (nfrac == 0 && expo == 0 && j + 3 < n && s[j] == ' ' && is_digit_at(s, n, j + 1)) {
        size_t k = j + 1;
        while (is_digit_at(s, n, k)) k++;
        if (k < n && s[k] == '/' && is_digit_at(s, n, k + 1)) {
            size_t q = k + 1;
            while (is_digit_at(s, n, q)) q++;
            if (q >= n || !(isalnum((unsigned char)s[q]) || s[q] == '.' || s[q] == '^' ||
                            s[q] == '/' || s[q] == '_')) {
                double p = strtod(s + j + 1, NULL), d = strtod(s + k + 1, NULL);
                int64_t pn = 0, dn = 0;
                int ok = (k - j - 1) < 18 && (q - k - 1) < 18 && d != 0 && p < d;
                if (ok) {
                    pn = (int64_t)p;
                    dn = (int64_t)d;
                }
                t->v = ok ? t->v + p / d : NAN;
                if (ok && t->exact)
                    t->exact = rat_make((__int128)t->num * dn + (__int128)pn * t->den,
                                        (__int128)t->den * dn, &t->num, &t->den);
                else t->exact = 0;
                t->canon[0] = '\0';
                return q;
            }
        }
    }
    return j;
}

static int func_id(const char *w, size_t len) {
    for (int f = 0; f < F_NFUNCS; f++)
        if (strlen(func_names[f]) == len && strncmp(func_names[f], w, len) == 0) return f;
    return -1;
}

static int word_is(const char *w, size_t len, const char *lit) {
    return strlen(lit) == len && strncmp(w, lit, len) == 0;
}

/* The next token at P->pos, without consuming it. Longer than 80 lines on purpose: one case per
 * kind of token, read as a table of what the lexer accepts. */
static void lex(mparse *P, mtok *t) {
    const char *s = P->s;
    size_t n = P->n, i = P->pos;
    while (i < n && (s[i] == ' ' || s[i] == '\n')) i++;
    memset(t, 0, sizeof *t);
    t->start = i;
    if (i >= n) {
        t->type = T_END;
        t->end = i;
        return;
    }
    char c = s[i];
    if (isdigit((unsigned char)c) || (c == '.' && is_digit_at(s, n, i + 1))) {
        t->end = lex_number(s, n, i, t);
        return;
    }
    if (c == '.' && i + 2 < n && s[i + 1] == '.' && s[i + 2] == '.') {
        t->type = T_DOTS;
        t->end = i + 3;
        return;
    }
    if (isalpha((unsigned char)c)) {
        size_t j = i;
        while (j < n && isalpha((unsigned char)s[j])) j++;
        int f = func_id(s + i, j - i);
        if (f >= 0) {
            t->type = T_FUNC;
            t->ch = f;
            t->end = j;
        } else if (j - i >= 4) {
            t->type = T_WORD;
            t->end = j;
        } else { /* a short run is a product of one-letter variables: take one letter */
            t->type = T_VAR;
            t->name[0] = c;
            t->end = i + 1;
        }
        return;
    }
    if (c == '\\') {
        size_t j = i + 1;
        while (j < n && isalpha((unsigned char)s[j])) j++;
        const char *w = s + i + 1;
        size_t len = j - i - 1;
        t->end = j;
        if (len == 0) {
            if (i + 1 < n && s[i + 1] == '{') t->type = T_LSET, t->end = i + 2;
            else if (i + 1 < n && s[i + 1] == '}') t->type = T_RSET, t->end = i + 2;
            else t->type = T_BAD;
            return;
        }
        int f = func_id(w, len);
        if (f == F_SQRT) t->type = T_SQRT;
        else if (f >= 0) t->type = T_FUNC, t->ch = f;
        else if (word_is(w, len, "frac")) t->type = T_FRAC;
        else if (word_is(w, len, "binom") || word_is(w, len, "dbinom") || word_is(w, len, "tbinom"))
            t->type = T_BINOM;
        else if (word_is(w, len, "pi")) t->type = T_CONST, t->ch = C_PI;
        else if (word_is(w, len, "infty") || word_is(w, len, "infinity")) t->type = T_CONST, t->ch = C_INF;
        else if (word_is(w, len, "cup")) t->type = T_CUP;
        else if (word_is(w, len, "matrix") || word_is(w, len, "vmatrix"))
            t->type = T_MAT, t->ch = w[0] == 'v';
        else if (word_is(w, len, "bmod") || word_is(w, len, "mod")) t->type = T_MOD;
        else if (word_is(w, len, "pm") || word_is(w, len, "mp")) t->type = T_PM;
        else if (word_is(w, len, "dots") || word_is(w, len, "ldots") || word_is(w, len, "cdots"))
            t->type = T_DOTS;
        else if (word_is(w, len, "boxed") || word_is(w, len, "fbox")) t->type = T_CHAR, t->ch = 'B';
        else if (len < sizeof t->name) { /* \alpha, \theta, and any other name: a variable */
            t->type = T_VAR;
            t->name[0] = '\\';
            memcpy(t->name + 1, w, len < sizeof t->name - 2 ? len : sizeof t->name - 2);
        } else t->type = T_BAD;
        return;
    }
    t->end = i + 1;
    if ((c == '<' || c == '>' || c == '!') && i + 1 < n && s[i + 1] == '=') {
        t->type = T_REL;
        t->ch = c == '<' ? R_LE : c == '>' ? R_GE : R_NE;
        t->end = i + 2;
        return;
    }
    if (c == '<' || c == '>' || c == '=') {
        t->type = T_REL;
        t->ch = c == '<' ? R_LT : c == '>' ? R_GT : R_EQ;
        return;
    }
    if (strchr("+-*/^()[]{},!|_%:", c)) {
        t->type = T_CHAR;
        t->ch = c;
        return;
    }
    t->type = T_BAD;
}

static void consume(mparse *P, const mtok *t) { P->pos = t->end; }

static int at_char(mparse *P, int c) {
    mtok t;
    lex(P, &t);
    return t.type == T_CHAR && t.ch == c;
}

static int expect_char(mparse *P, int c) {
    mtok t;
    lex(P, &t);
    if (t.type != T_CHAR || t.ch != c) return P->err = 1, 0;
    consume(P, &t);
    return 1;
}

static int var_slot(mparse *P, const char *name) {
    menv *e = P->env;
    for (int i = 0; i < e->n; i++)
        if (strcmp(e->names[i], name) == 0) return i;
    if (e->n >= MAX_VARS) return P->err = 1, 0;
    snprintf(e->names[e->n], sizeof e->names[0], "%s", name);
    return e->n++;
}

static int parse_relation(mparse *P);
static int parse_expr(mparse *P);
static int parse_unary(mparse *P);
static int parse_power(mparse *P);

static int enter(mparse *P) {
    if (++P->depth > MAX_DEPTH) P->err = 1;
    return !P->err;
}

static int list_node(mparse *P, int kind, const int *items, int n) {
    int i = new_node(P, kind);
    if (P->err) return i;
    if (P->nk + n > MAX_KIDS) return P->err = 1, i;
    P->nodes[i].first = (int16_t)P->nk;
    P->nodes[i].n = (int16_t)n;
    for (int k = 0; k < n; k++) P->kids[P->nk++] = (int16_t)items[k];
    return i;
}

/* Elements separated by commas up to (not including) a closing token. */
static int parse_items(mparse *P, int *items, int cap) {
    int n = 0;
    for (;;) {
        if (n >= cap) return P->err = 1, n;
        items[n++] = parse_relation(P);
        if (P->err || !at_char(P, ',')) return n;
        expect_char(P, ',');
    }
}

/* { expr } as a LaTeX argument. */
static int braced(mparse *P) {
    if (!expect_char(P, '{')) return 0;
    int e = parse_relation(P);
    expect_char(P, '}');
    return e;
}

/* primary: a number, variable, constant, function application, \frac, \binom, \sqrt, set,
 * dots, matrix, bracketed expression or tuple, |absolute value| or a stray \boxed{}. Longer than
 * 80 lines on purpose: the grammar's primary rule as one switch with a case per token kind, as a
 * grammar is read. */
static int parse_primary(mparse *P) {
    if (!enter(P)) return 0;
    mtok t;
    lex(P, &t);
    int r = 0;
    switch (t.type) {
    case T_NUM: {
        consume(P, &t);
        r = new_node(P, N_NUM);
        if (P->err) break;
        mnode *m = &P->nodes[r];
        m->v = t.v;
        m->exact = t.exact;
        m->num = t.num;
        m->den = t.den;
        size_t cl = strlen(t.canon);
        if (cl && P->npool + (int)cl + 1 <= (int)sizeof P->pool) {
            m->canon = (int16_t)P->npool;
            memcpy(P->pool + P->npool, t.canon, cl + 1);
            P->npool += (int)cl + 1;
        }
        break;
    }
    case T_VAR: {
        consume(P, &t);
        char name[16];
        snprintf(name, sizeof name, "%s", t.name);
        if (at_char(P, '_')) { /* subscript: x_1, a_{n} */
            expect_char(P, '_');
            size_t i = P->pos, len = strlen(name);
            const char *s = P->s;
            if (i < P->n && s[i] == '{') {
                long e = match_brace(s, P->n, i);
                if (e < 0) return P->err = 1, 0;
                for (size_t k = i; k < (size_t)e && len + 1 < sizeof name; k++) name[len++] = s[k];
                P->pos = (size_t)e;
            } else if (i < P->n && isalnum((unsigned char)s[i])) {
                if (len + 2 < sizeof name) name[len++] = '_', name[len++] = s[i];
                P->pos = i + 1;
            } else return P->err = 1, 0;
            name[len] = '\0';
        }
        r = new_node(P, N_VAR);
        if (!P->err) P->nodes[r].var = (int16_t)var_slot(P, name);
        break;
    }
    case T_CONST:
        consume(P, &t);
        r = new_node(P, N_CONST);
        P->nodes[r].op = (uint8_t)t.ch;
        break;
    case T_FUNC: {
        consume(P, &t);
        int expo = -1;
        if (at_char(P, '_')) { /* \log_2 x: the base is read and the value taken as log_b */
            expect_char(P, '_');
            int base = at_char(P, '{') ? braced(P) : parse_primary(P);
            if (at_char(P, '^')) {
                expect_char(P, '^');
                expo = parse_unary(P);
            }
            int x = parse_power(P);
            int ln_x = new_node(P, N_FUNC), ln_b = new_node(P, N_FUNC);
            P->nodes[ln_x].op = F_LN, P->nodes[ln_x].a = (int16_t)x;
            P->nodes[ln_b].op = F_LN, P->nodes[ln_b].a = (int16_t)base;
            r = bin(P, N_DIV, ln_x, ln_b);
        } else {
            if (at_char(P, '^')) {
                expect_char(P, '^');
                expo = parse_unary(P);
            }
            int arg = parse_power(P);
            r = new_node(P, N_FUNC);
            P->nodes[r].op = (uint8_t)t.ch;
            P->nodes[r].a = (int16_t)arg;
        }
        if (expo >= 0 && !P->err) r = bin(P, N_POW, r, expo);
        break;
    }
    case T_FRAC: {
        consume(P, &t);
        int a = braced(P);
        int b = braced(P);
        r = bin(P, N_DIV, a, b);
        break;
    }
    case T_BINOM: {
        consume(P, &t);
        int a = braced(P);
        int b = braced(P);
        r = bin(P, N_BINOM, a, b);
        break;
    }
    case T_SQRT: {
        consume(P, &t);
        int idx = -1;
        if (at_char(P, '[')) {
            expect_char(P, '[');
            idx = parse_expr(P);
            expect_char(P, ']');
        }
        int x = braced(P);
        if (idx >= 0) {
            int one = new_node(P, N_NUM);
            P->nodes[one].v = 1, P->nodes[one].exact = 1, P->nodes[one].num = 1,
            P->nodes[one].den = 1;
            r = bin(P, N_POW, x, bin(P, N_DIV, one, idx));
        } else {
            r = new_node(P, N_FUNC);
            P->nodes[r].op = F_SQRT;
            P->nodes[r].a = (int16_t)x;
        }
        break;
    }
    case T_LSET: {
        consume(P, &t);
        int items[64], n = 0;
        mtok u;
        lex(P, &u);
        if (u.type != T_RSET) n = parse_items(P, items, 64);
        lex(P, &t);
        if (t.type != T_RSET) return P->err = 1, 0;
        consume(P, &t);
        r = list_node(P, N_SET, items, n);
        break;
    }
    case T_DOTS:
        consume(P, &t);
        r = new_node(P, N_DOTS);
        break;
    case T_MAT: { /* \matrix{{a,b},{c,d}}, as the normaliser writes every matrix environment */
        consume(P, &t);
        int rows[MAX_MAT], n = 0;
        if (!expect_char(P, '{')) break;
        do {
            if (n >= MAX_MAT) return P->err = 1, 0;
            int items[MAX_MAT], k = 0;
            if (!expect_char(P, '{')) break;
            k = parse_items(P, items, MAX_MAT);
            expect_char(P, '}');
            rows[n++] = list_node(P, N_TUPLE, items, k);
        } while (!P->err && at_char(P, ',') && expect_char(P, ','));
        expect_char(P, '}');
        r = list_node(P, N_MAT, rows, n);
        if (!P->err) P->nodes[r].op = (uint8_t)t.ch;
        break;
    }
    case T_CHAR:
        if (t.ch == '(' || t.ch == '[' || t.ch == '{') {
            consume(P, &t);
            int items[64];
            int n = parse_items(P, items, 64);
            mtok u;
            lex(P, &u);
            int close = u.type == T_CHAR ? u.ch : 0;
            if (P->err || !((t.ch == '{' && close == '}') ||
                            (t.ch != '{' && (close == ')' || close == ']'))))
                return P->err = 1, 0;
            consume(P, &u);
            if (n == 1 && (t.ch == '{' || (t.ch == '(' && close == ')') ||
                           (t.ch == '[' && close == ']')))
                r = items[0];
            else {
                r = list_node(P, N_TUPLE, items, n);
                P->nodes[r].lb = t.ch == '{' ? 0 : (char)t.ch;
                P->nodes[r].rb = t.ch == '{' ? 0 : (char)close;
            }
        } else if (t.ch == '|') {
            consume(P, &t);
            int x = parse_expr(P);
            expect_char(P, '|');
            r = new_node(P, N_ABS);
            P->nodes[r].a = (int16_t)x;
        } else if (t.ch == 'B') { /* a \boxed{} left inside an answer */
            consume(P, &t);
            r = braced(P);
        } else P->err = 1;
        break;
    default:
        P->err = 1;
    }
    P->depth--;
    return r;
}

static int parse_postfix(mparse *P) {
    int p = parse_primary(P);
    while (!P->err) {
        if (at_char(P, '!')) {
            expect_char(P, '!');
            int f = new_node(P, N_FACT);
            P->nodes[f].a = (int16_t)p;
            p = f;
        } else if (at_char(P, '%')) {
            expect_char(P, '%');
            int f = new_node(P, N_PCT);
            P->nodes[f].a = (int16_t)p;
            p = f;
        } else break;
    }
    return p;
}

static int parse_power(mparse *P) {
    if (!enter(P)) return 0;
    int b = parse_postfix(P);
    if (!P->err && at_char(P, '^')) {
        expect_char(P, '^');
        int e = parse_unary(P);
        b = bin(P, N_POW, b, e);
    }
    P->depth--;
    return b;
}

static int parse_unary(mparse *P) {
    if (!enter(P)) return 0;
    int r;
    if (at_char(P, '-')) {
        expect_char(P, '-');
        int x = parse_unary(P);
        r = new_node(P, N_NEG);
        P->nodes[r].a = (int16_t)x;
    } else if (at_char(P, '+')) {
        expect_char(P, '+');
        r = parse_unary(P);
    } else {
        mtok t;
        lex(P, &t);
        if (t.type == T_PM) { /* \pm 2021: the pair 0 ± 2021 */
            consume(P, &t);
            int zero = new_node(P, N_NUM);
            if (!P->err) P->nodes[zero].exact = 1, P->nodes[zero].den = 1;
            r = bin(P, N_PM, zero, parse_unary(P));
        } else r = parse_power(P);
    }
    P->depth--;
    return r;
}

/* Tokens that can start a factor written next to another (2x, (x-2)(x+2), 10\sqrt{3}). */
static int starts_factor(const mtok *t) {
    switch (t->type) {
    case T_NUM: case T_VAR: case T_FUNC: case T_FRAC: case T_SQRT: case T_CONST: case T_BINOM:
    case T_MAT:
        return 1;
    case T_CHAR: return t->ch == '(' || t->ch == '{';
    default: return 0;
    }
}

static int parse_term(mparse *P) {
    int a = parse_unary(P);
    while (!P->err) {
        mtok t;
        lex(P, &t);
        if (t.type == T_CHAR && (t.ch == '*' || t.ch == '/')) {
            consume(P, &t);
            int b = parse_unary(P);
            a = bin(P, t.ch == '*' ? N_MUL : N_DIV, a, b);
        } else if (t.type == T_MOD) {
            consume(P, &t);
            a = bin(P, N_MOD, a, parse_unary(P));
        } else if (starts_factor(&t)) {
            if (t.type == T_NUM) { /* "4 4/9 2": two numbers side by side are not a product */
                size_t k = t.start;
                while (k > 0 && (P->s[k - 1] == ' ' || P->s[k - 1] == '\n')) k--;
                if (k < t.start && k > 0 && (isdigit((unsigned char)P->s[k - 1]) || P->s[k - 1] == '.'))
                    return P->err = 1, a;
            }
            /* f(3), g(x): a letter right before a parenthesis applies a function (the value is
             * still the product; only rel_value reads the mark) */
            int applied = t.type == T_CHAR && t.ch == '(' && t.start > 0 &&
                          isalpha((unsigned char)P->s[t.start - 1]) && P->nodes[a].kind == N_VAR;
            int b = parse_power(P);
            a = bin(P, N_MUL, a, b);
            if (!P->err) P->nodes[a].op = (uint8_t)applied;
        } else break;
    }
    return a;
}

static int parse_expr(mparse *P) {
    if (!enter(P)) return 0;
    int a = parse_term(P);
    while (!P->err) {
        mtok t;
        lex(P, &t);
        if (t.type == T_CHAR && (t.ch == '+' || t.ch == '-')) {
            consume(P, &t);
            a = bin(P, t.ch == '+' ? N_ADD : N_SUB, a, parse_term(P));
        } else if (t.type == T_PM) {
            consume(P, &t);
            a = bin(P, N_PM, a, parse_term(P));
        } else break;
    }
    P->depth--;
    return a;
}

static int parse_union(mparse *P) {
    int items[32], n = 0;
    items[n++] = parse_expr(P);
    while (!P->err) {
        mtok t;
        lex(P, &t);
        if (t.type != T_CUP) break;
        consume(P, &t);
        if (n >= 32) return P->err = 1, 0;
        items[n++] = parse_expr(P);
    }
    return n == 1 ? items[0] : list_node(P, N_UNION, items, n);
}

/* a:b (:c...), a ratio: kept as a list with ':' for brackets, compared element by element */
static int parse_ratio(mparse *P) {
    int items[8], n = 0;
    items[n++] = parse_union(P);
    while (!P->err && at_char(P, ':')) {
        expect_char(P, ':');
        if (n >= 8) return P->err = 1, 0;
        items[n++] = parse_union(P);
    }
    if (n == 1) return items[0];
    int r = list_node(P, N_TUPLE, items, n);
    if (!P->err) P->nodes[r].lb = P->nodes[r].rb = ':';
    return r;
}

static int parse_relation(mparse *P) {
    if (!enter(P)) return 0;
    int items[10], n = 0;
    uint32_t ops = 0;
    items[n++] = parse_ratio(P);
    while (!P->err) {
        mtok t;
        lex(P, &t);
        if (t.type != T_REL) break;
        consume(P, &t);
        if (n >= 10) return P->err = 1, 0;
        ops |= (uint32_t)t.ch << (3 * (n - 1));
        items[n++] = parse_ratio(P);
    }
    int r = items[0];
    if (n > 1) {
        r = list_node(P, N_REL, items, n);
        P->nodes[r].rops = ops;
    }
    P->depth--;
    return r;
}

/* Parse a canonical answer; the root is a bare comma list (a tuple without brackets) when there
 * are top-level commas. Returns the root, or -1 when the text is not a math answer. */
static int parse_answer(mparse *P, const char *s, menv *env) {
    P->s = s;
    P->n = strlen(s);
    P->pos = 0;
    P->nn = P->nk = P->npool = 0;
    P->env = env;
    P->depth = P->err = 0;
    if (P->n == 0) return -1;
    int items[64];
    int n = parse_items(P, items, 64);
    mtok t;
    lex(P, &t);
    if (P->err || t.type != T_END) return -1;
    return n == 1 ? items[0] : list_node(P, N_TUPLE, items, n);
}

/* ================================ evaluation ================================ */

static double eval(const mparse *P, int i, const double *vals, int depth);

/* Entry (r, c) of a matrix node. */
static int mat_entry(const mparse *P, const mnode *m, int r, int c) {
    const mnode *row = &P->nodes[P->kids[m->first + r]];
    return P->kids[row->first + c];
}

/* Determinant of a square matrix node up to 3 x 3; NaN otherwise. */
static double eval_det(const mparse *P, const mnode *m, const double *vals, int depth) {
    int n = m->n;
    double a[3][3];
    if (n < 1 || n > 3) return NAN;
    for (int r = 0; r < n; r++) {
        if (P->nodes[P->kids[m->first + r]].n != n) return NAN;
        for (int c = 0; c < n; c++) a[r][c] = eval(P, mat_entry(P, m, r, c), vals, depth + 1);
    }
    if (n == 1) return a[0][0];
    if (n == 2) return a[0][0] * a[1][1] - a[0][1] * a[1][0];
    return a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
           a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
           a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
}

static double eval(const mparse *P, int i, const double *vals, int depth) {
    if (depth > MAX_DEPTH * 4) return NAN;
    const mnode *m = &P->nodes[i];
    double a, b;
    switch (m->kind) {
    case N_NUM: return m->v;
    case N_VAR: return vals ? vals[m->var] : NAN;
    case N_CONST: return m->op == C_PI ? M_PI : INFINITY;
    case N_NEG: return -eval(P, m->a, vals, depth + 1);
    case N_PCT: return eval(P, m->a, vals, depth + 1) / 100.0;
    case N_ABS: return fabs(eval(P, m->a, vals, depth + 1));
    case N_FACT:
        a = eval(P, m->a, vals, depth + 1);
        return a >= 0 && a <= 170 && a == floor(a) ? tgamma(a + 1) : NAN;
    case N_MAT: return m->op ? eval_det(P, m, vals, depth) : NAN;
    case N_ADD: case N_SUB: case N_MUL: case N_DIV: case N_POW: case N_BINOM: case N_MOD:
        a = eval(P, m->a, vals, depth + 1);
        b = eval(P, m->b, vals, depth + 1);
        switch (m->kind) {
        case N_MOD: return b != 0 && a == floor(a) && b == floor(b) ? a - b * floor(a / b) : NAN;
        case N_ADD: return a + b;
        case N_SUB: return a - b;
        case N_MUL: return a * b;
        case N_DIV: return a / b;
        case N_POW: return pow(a, b);
        default:
            if (b < 0 || a < b || a > 1e6 || b != floor(b) || a != floor(a)) return NAN;
            return exp(lgamma(a + 1) - lgamma(b + 1) - lgamma(a - b + 1));
        }
    case N_FUNC:
        a = eval(P, m->a, vals, depth + 1);
        switch (m->op) {
        case F_SQRT: return sqrt(a);
        case F_SIN: return sin(a);
        case F_COS: return cos(a);
        case F_TAN: return tan(a);
        case F_SEC: return 1 / cos(a);
        case F_CSC: return 1 / sin(a);
        case F_COT: return 1 / tan(a);
        case F_ASIN: return asin(a);
        case F_ACOS: return acos(a);
        case F_ATAN: return atan(a);
        case F_SINH: return sinh(a);
        case F_COSH: return cosh(a);
        case F_TANH: return tanh(a);
        case F_LN: return log(a);
        case F_LOG: return log10(a);
        default: return exp(a);
        }
    default: return NAN; /* lists and relations have no scalar value */
    }
}

/* Exact rational value of a tree of numbers and + - * / ^integer; 0 if it has none. */
static int eval_rat(const mparse *P, int i, int64_t *num, int64_t *den, int depth) {
    if (depth > MAX_DEPTH) return 0;
    const mnode *m = &P->nodes[i];
    int64_t an, ad, bn, bd;
    switch (m->kind) {
    case N_NUM:
        if (!m->exact) return 0;
        *num = m->num, *den = m->den;
        return 1;
    case N_NEG:
        if (!eval_rat(P, m->a, &an, &ad, depth + 1)) return 0;
        *num = -an, *den = ad;
        return 1;
    case N_PCT:
        if (!eval_rat(P, m->a, &an, &ad, depth + 1)) return 0;
        return rat_make(an, (__int128)ad * 100, num, den);
    case N_ADD: case N_SUB: case N_MUL: case N_DIV:
        if (!eval_rat(P, m->a, &an, &ad, depth + 1) || !eval_rat(P, m->b, &bn, &bd, depth + 1))
            return 0;
        switch (m->kind) {
        case N_ADD: return rat_make((__int128)an * bd + (__int128)bn * ad, (__int128)ad * bd, num, den);
        case N_SUB: return rat_make((__int128)an * bd - (__int128)bn * ad, (__int128)ad * bd, num, den);
        case N_MUL: return rat_make((__int128)an * bn, (__int128)ad * bd, num, den);
        default: return bn != 0 && rat_make((__int128)an * bd, (__int128)ad * bn, num, den);
        }
    case N_POW: {
        if (!eval_rat(P, m->a, &an, &ad, depth + 1) || !eval_rat(P, m->b, &bn, &bd, depth + 1))
            return 0;
        if (bd != 1 || bn > 64 || bn < -64) return 0;
        int64_t rn = 1, rd = 1;
        int64_t e = bn < 0 ? -bn : bn;
        for (int64_t k = 0; k < e; k++)
            if (!rat_make((__int128)rn * an, (__int128)rd * ad, &rn, &rd)) return 0;
        if (bn < 0) return rn != 0 && rat_make(rd, rn, num, den);
        *num = rn, *den = rd;
        return 1;
    }
    default: return 0;
    }
}

static uint32_t vars_used(const mparse *P, int i, int depth) {
    if (depth > MAX_DEPTH * 4) return 0;
    const mnode *m = &P->nodes[i];
    uint32_t u = 0;
    switch (m->kind) {
    case N_VAR: return 1u << m->var;
    case N_NUM: case N_CONST: case N_DOTS: return 0;
    case N_TUPLE: case N_SET: case N_UNION: case N_REL: case N_MAT:
        for (int k = 0; k < m->n; k++) u |= vars_used(P, P->kids[m->first + k], depth + 1);
        return u;
    case N_NEG: case N_PCT: case N_ABS: case N_FACT: case N_FUNC:
        return vars_used(P, m->a, depth + 1);
    default: return vars_used(P, m->a, depth + 1) | vars_used(P, m->b, depth + 1);
    }
}

/* ================================ comparison ================================ */

typedef struct side {
    mparse *P;
    int root;
} side;

static int close_to(double a, double b, double tol) {
    if (isnan(a) || isnan(b)) return 0;
    if (isinf(a) || isinf(b)) return a == b;
    double s = fabs(a) > fabs(b) ? fabs(a) : fabs(b);
    return fabs(a - b) <= tol * (s > 1 ? s : 1);
}

/* Deterministic point k for variable v, in [0.3, 2.3). */
static double point(int k, int v) {
    uint64_t x = (uint64_t)(k * 131 + v * 7919 + 17) * 0x9E3779B97F4A7C15ull;
    x ^= x >> 29;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 32;
    return 0.3 + 2.0 * (double)(x >> 11) / 9007199254740992.0;
}

/* Unwraps a literal number (possibly negated) for exact comparison of long digit strings. */
static const char *literal(const mparse *P, int i, int *neg) {
    *neg = 0;
    while (P->nodes[i].kind == N_NEG) *neg ^= 1, i = P->nodes[i].a;
    const mnode *m = &P->nodes[i];
    return m->kind == N_NUM && m->canon >= 0 ? P->pool + m->canon : NULL;
}

/* A prediction written as a decimal with at least 4 significant digits that is the reference (an
 * exact value, not itself a decimal literal) rounded to the places the prediction gives: 0.6667 for
 * 2/3, 1.4286 for 10/7 (but not 0.333 for 1/3, nor 2.23 for 2.232). */
static int rounded_from(side A, side B, double a, double b) {
    int na, nb;
    const char *la = literal(A.P, A.root, &na);
    if (!la || literal(B.P, B.root, &nb) || strchr(la, 'e') || !isfinite(a) || !isfinite(b)) return 0;
    const char *dot = strchr(la, '.');
    if (!dot) return 0;
    int places = (int)strlen(dot + 1), sig = 0, lead = 1;
    for (const char *c = la; *c; c++) {
        if (*c == '.') continue;
        if (*c != '0') lead = 0;
        if (!lead) sig++;
    }
    return sig >= 4 && places <= 15 && fabs(a - b) <= 0.5 * pow(10, -places) * (1 + 1e-9);
}

static int scalar_equal(side A, side B, double tol) {
    const mparse *PA = A.P, *PB = B.P;
    int na, nb;
    const char *la = literal(PA, A.root, &na), *lb = literal(PB, B.root, &nb);
    if (la && lb && strchr(la, '.') == NULL && strchr(lb, '.') == NULL && !strchr(la, 'e') &&
        !strchr(lb, 'e'))
        return (na == nb || (strcmp(la, "0") == 0)) && strcmp(la, lb) == 0;
    int64_t an, ad, bn, bd;
    if (eval_rat(PA, A.root, &an, &ad, 0) && eval_rat(PB, B.root, &bn, &bd, 0)) {
        if (an == bn && ad == bd) return 1;
        if (ad == 1 && bd == 1) return 0;
    }
    uint32_t used = vars_used(PA, A.root, 0) | vars_used(PB, B.root, 0);
    if (!used) {
        double a = eval(PA, A.root, NULL, 0), b = eval(PB, B.root, NULL, 0);
        return close_to(a, b, tol) || rounded_from(A, B, a, b);
    }
    double vals[MAX_VARS];
    int valid = 0;
    for (int k = 0; k < EVAL_POINTS * 2 && valid < EVAL_POINTS; k++) {
        for (int v = 0; v < MAX_VARS; v++) vals[v] = point(k, v);
        double a = eval(PA, A.root, vals, 0), b = eval(PB, B.root, vals, 0);
        if (!isfinite(a) || !isfinite(b)) continue;
        if (!close_to(a, b, tol)) return 0;
        valid++;
    }
    return valid >= 3;
}

static int is_list(int kind) { return kind == N_TUPLE || kind == N_SET || kind == N_UNION; }

static int items_equal(side A, side B, double tol, int depth);

static side child(side s, int k) {
    side c = {s.P, s.P->kids[s.P->nodes[s.root].first + k]};
    return c;
}

static side sub(side s, int i) {
    side c = {s.P, i};
    return c;
}

static const char *const operator_names[] = {"\\lim", "\\sum", "\\prod", "\\int", "\\det",
                                             "\\max", "\\min", "\\gcd", "\\lcm", "\\deg",
                                             "\\angle", "\\overline", "\\vec", NULL};

/* The left side names a quantity rather than poses an equation: a variable (x, a_3, AB), a
 * function applied (f(x), g(3)), |PQ|, \frac{AM}{MC}, a ratio a:b, \lim_{...} ..., \angle ABC.
 * 2x + 1 and x^2 are not names: `2x+1 = 5` is an equation to solve, not the answer 5. */
static int names_quantity(const mparse *P, int i, int depth) {
    const mnode *m = &P->nodes[i];
    if (depth > MAX_DEPTH) return 0;
    switch (m->kind) {
    case N_VAR: return 1;
    case N_ABS: return names_quantity(P, m->a, depth + 1);
    case N_DIV: return names_quantity(P, m->a, depth + 1) && names_quantity(P, m->b, depth + 1);
    case N_MUL: {
        const mnode *l = &P->nodes[m->a];
        if (l->kind == N_VAR) {
            const char *name = P->env->names[l->var];
            for (int k = 0; operator_names[k]; k++)
                if (strncmp(name, operator_names[k], strlen(operator_names[k])) == 0) return 1;
        }
        if (m->op) return names_quantity(P, m->a, depth + 1);
        return names_quantity(P, m->a, depth + 1) && names_quantity(P, m->b, depth + 1);
    }
    case N_TUPLE:
        if (m->lb != ':') return 0;
        for (int k = 0; k < m->n; k++)
            if (!names_quantity(P, P->kids[m->first + k], depth + 1)) return 0;
        return 1;
    default: return 0;
    }
}

/* A relation that reads as a value: `x = 5` -> 5, `a = b = 7` -> 7, `f(3) = 7` -> 7,
 * `\cos\pi = -1` -> -1; -1 otherwise. */
static int rel_value(side s) {
    const mnode *m = &s.P->nodes[s.root];
    for (int k = 0; k + 1 < m->n; k++)
        if (((m->rops >> (3 * k)) & 7) != R_EQ) return -1;
    int last = s.P->kids[m->first + m->n - 1];
    if (m->n >= 3) return last;
    int l = s.P->kids[m->first];
    const mnode *lhs = &s.P->nodes[l];
    if (names_quantity(s.P, l, 0)) return last;
    if (!vars_used(s.P, l, 0) && !vars_used(s.P, last, 0)) return last; /* 1/2 + 5/9 = 19/18 */
    if (lhs->kind == N_TUPLE) {
        for (int k = 0; k < lhs->n; k++)
            if (s.P->nodes[s.P->kids[lhs->first + k]].kind != N_VAR) return -1;
        return last;
    }
    return -1;
}

/* Two relations lhs op rhs are the same when lhs − rhs of one is a constant non-zero multiple of
 * the other's (a positive one for inequalities, after writing both as "... > 0" or "... >= 0"),
 * checked at random points. */
static int relations_proportional(side A, side B, double tol, int sa, int sb, int positive) {
    const mparse *PA = A.P, *PB = B.P;
    const mnode *ma = &PA->nodes[A.root], *mb = &PB->nodes[B.root];
    int al = PA->kids[ma->first], ar = PA->kids[ma->first + 1];
    int bl = PB->kids[mb->first], br = PB->kids[mb->first + 1];
    double vals[MAX_VARS], ratio = NAN;
    int valid = 0;
    for (int k = 0; k < EVAL_POINTS * 2 && valid < EVAL_POINTS; k++) {
        for (int v = 0; v < MAX_VARS; v++) vals[v] = point(k, v);
        double f = sa * (eval(PA, al, vals, 0) - eval(PA, ar, vals, 0));
        double g = sb * (eval(PB, bl, vals, 0) - eval(PB, br, vals, 0));
        if (!isfinite(f) || !isfinite(g)) continue;
        if (fabs(f) < 1e-12 || fabs(g) < 1e-12) {
            if (fabs(f) < 1e-12 && fabs(g) < 1e-12) continue;
            return 0;
        }
        if (isnan(ratio)) ratio = g / f;
        else if (!close_to(g / f, ratio, tol)) return 0;
        valid++;
    }
    return valid >= 3 && (!positive || ratio > 0);
}

static int relations_equal(side A, side B, double tol, int depth) {
    const mnode *ma = &A.P->nodes[A.root], *mb = &B.P->nodes[B.root];
    int va = rel_value(A), vb = rel_value(B);
    if (va >= 0 && vb >= 0) {
        if (ma->n >= 3 || mb->n >= 3) return items_equal(sub(A, va), sub(B, vb), tol, depth + 1);
        const mnode *la = &A.P->nodes[A.P->kids[ma->first]], *lb = &B.P->nodes[B.P->kids[mb->first]];
        if (la->kind == N_VAR && lb->kind == N_VAR &&
            strcmp(A.P->env->names[la->var], B.P->env->names[lb->var]) == 0)
            return items_equal(sub(A, va), sub(B, vb), tol, depth + 1);
    }
    if (ma->n == 2 && mb->n == 2) {
        int oa = (int)(ma->rops & 7), ob = (int)(mb->rops & 7);
        if (oa == R_EQ && ob == R_EQ) return relations_proportional(A, B, tol, 1, 1, 0);
        static const int mirror[] = {R_EQ, R_GT, R_LT, R_GE, R_LE, R_NE};
        if (oa == ob && items_equal(child(A, 0), child(B, 0), tol, depth + 1) &&
            items_equal(child(A, 1), child(B, 1), tol, depth + 1))
            return 1;
        if (mirror[oa] == ob && items_equal(child(A, 0), child(B, 1), tol, depth + 1) &&
            items_equal(child(A, 1), child(B, 0), tol, depth + 1))
            return 1;
        if (oa == R_EQ || ob == R_EQ || oa == R_NE || ob == R_NE) return 0;
        int stricta = oa == R_LT || oa == R_GT, strictb = ob == R_LT || ob == R_GT;
        int sa = oa == R_GT || oa == R_GE ? 1 : -1, sb = ob == R_GT || ob == R_GE ? 1 : -1;
        return stricta == strictb && relations_proportional(A, B, tol, sa, sb, 1);
    }
    if (ma->n != mb->n || ma->rops != mb->rops) return 0;
    for (int k = 0; k < ma->n; k++)
        if (!items_equal(child(A, k), child(B, k), tol, depth + 1)) return 0;
    return 1;
}

/* Elements of two lists matched in any order (each used once). */
static int unordered_equal(side A, side B, double tol, int depth) {
    const mnode *ma = &A.P->nodes[A.root], *mb = &B.P->nodes[B.root];
    if (ma->n != mb->n || ma->n > 64) return 0;
    int used[64] = {0};
    for (int i = 0; i < ma->n; i++) {
        int found = 0;
        for (int j = 0; j < mb->n && !found; j++)
            if (!used[j] && items_equal(child(A, i), child(B, j), tol, depth + 1))
                used[j] = found = 1;
        if (!found) return 0;
    }
    return 1;
}

/* Two lists as sets: every element of each is equal to one of the other (order and repeats free). */
static int set_equal(side A, side B, double tol, int depth) {
    const mnode *ma = &A.P->nodes[A.root], *mb = &B.P->nodes[B.root];
    if (ma->n > 64 || mb->n > 64 || ma->n == 0 || mb->n == 0) return ma->n == mb->n;
    for (int pass = 0; pass < 2; pass++) {
        side X = pass ? B : A, Y = pass ? A : B;
        const mnode *mx = pass ? mb : ma, *my = pass ? ma : mb;
        for (int i = 0; i < mx->n; i++) {
            int found = 0;
            for (int j = 0; j < my->n && !found; j++)
                found = pass ? items_equal(child(Y, j), child(X, i), tol, depth + 1)
                             : items_equal(child(X, i), child(Y, j), tol, depth + 1);
            if (!found) return 0;
        }
    }
    return 1;
}

/* A list written without brackets whose elements are all bracketed tuples: (2,5), (5,2). */
static int tuple_list(const mparse *P, const mnode *m) {
    if (m->kind != N_TUPLE || m->lb || m->n < 2) return 0;
    for (int k = 0; k < m->n; k++) {
        const mnode *c = &P->nodes[P->kids[m->first + k]];
        if (c->kind != N_TUPLE || !(c->lb == '(' || c->lb == '[')) return 0;
    }
    return 1;
}

/* The value of a matrix expression (matrices, sums, products, scalar multiples, negation) with
 * constant entries, into v (rows x cols); 0 when it has none. */
static int mat_value(const mparse *P, int i, double v[MAX_MAT][MAX_MAT], int *rows, int *cols,
                     int depth) {
    const mnode *m = &P->nodes[i];
    if (depth > MAX_DEPTH) return 0;
    if (m->kind == N_MAT) {
        if (m->op || m->n < 1 || m->n > MAX_MAT) return 0;
        *rows = m->n;
        *cols = P->nodes[P->kids[m->first]].n;
        for (int r = 0; r < *rows; r++) {
            if (P->nodes[P->kids[m->first + r]].n != *cols) return 0;
            for (int c = 0; c < *cols; c++) {
                int e = mat_entry(P, m, r, c);
                if (vars_used(P, e, 0)) return 0;
                v[r][c] = eval(P, e, NULL, depth + 1);
            }
        }
        return 1;
    }
    double x[MAX_MAT][MAX_MAT], y[MAX_MAT][MAX_MAT];
    int xr, xc, yr, yc;
    if (m->kind == N_NEG) {
        if (!mat_value(P, m->a, v, rows, cols, depth + 1)) return 0;
        for (int r = 0; r < *rows; r++)
            for (int c = 0; c < *cols; c++) v[r][c] = -v[r][c];
        return 1;
    }
    if (m->kind != N_ADD && m->kind != N_SUB && m->kind != N_MUL) return 0;
    int ma = mat_value(P, m->a, x, &xr, &xc, depth + 1), mb = mat_value(P, m->b, y, &yr, &yc, depth + 1);
    if (ma && mb && m->kind != N_MUL) {
        if (xr != yr || xc != yc) return 0;
        for (int r = 0; r < xr; r++)
            for (int c = 0; c < xc; c++) v[r][c] = m->kind == N_ADD ? x[r][c] + y[r][c] : x[r][c] - y[r][c];
        *rows = xr, *cols = xc;
        return 1;
    }
    if (ma && mb) { /* product */
        if (xc != yr) return 0;
        for (int r = 0; r < xr; r++)
            for (int c = 0; c < yc; c++) {
                double t = 0;
                for (int k = 0; k < xc; k++) t += x[r][k] * y[k][c];
                v[r][c] = t;
            }
        *rows = xr, *cols = yc;
        return 1;
    }
    if (m->kind != N_MUL || ma == mb) return 0;
    int scalar = ma ? m->b : m->a; /* a number times a matrix */
    if (vars_used(P, scalar, 0)) return 0;
    double k = eval(P, scalar, NULL, depth + 1);
    if (!isfinite(k)) return 0;
    *rows = ma ? xr : yr, *cols = ma ? xc : yc;
    for (int r = 0; r < *rows; r++)
        for (int c = 0; c < *cols; c++) v[r][c] = k * (ma ? x[r][c] : y[r][c]);
    return 1;
}

/* A matrix (not a determinant) or arithmetic on one. */
static int matrix_valued(const mparse *P, int i, int depth) {
    const mnode *m = &P->nodes[i];
    if (depth > MAX_DEPTH) return 0;
    if (m->kind == N_MAT) return !m->op;
    if (m->kind == N_NEG) return matrix_valued(P, m->a, depth + 1);
    if (m->kind == N_ADD || m->kind == N_SUB || m->kind == N_MUL)
        return matrix_valued(P, m->a, depth + 1) || matrix_valued(P, m->b, depth + 1);
    return 0;
}

static int matrices_equal(side A, side B, double tol, int depth) {
    const mnode *ma = &A.P->nodes[A.root], *mb = &B.P->nodes[B.root];
    if (ma->kind == N_MAT && mb->kind == N_MAT) { /* entry by entry, as answers */
        if (ma->op != mb->op || ma->n != mb->n) return 0;
        for (int r = 0; r < ma->n; r++)
            if (!items_equal(child(A, r), child(B, r), tol, depth + 1)) return 0;
        return 1;
    }
    double x[MAX_MAT][MAX_MAT], y[MAX_MAT][MAX_MAT];
    int xr, xc, yr, yc;
    if (!mat_value(A.P, A.root, x, &xr, &xc, 0) || !mat_value(B.P, B.root, y, &yr, &yc, 0) ||
        xr != yr || xc != yc)
        return 0;
    for (int r = 0; r < xr; r++)
        for (int c = 0; c < xc; c++)
            if (!close_to(x[r][c], y[r][c], tol)) return 0;
    return 1;
}

static int items_equal(side A, side B, double tol, int depth) {
    if (depth > MAX_DEPTH) return 0;
    const mnode *ma = &A.P->nodes[A.root], *mb = &B.P->nodes[B.root];
    if (ma->kind == N_REL && mb->kind == N_REL) return relations_equal(A, B, tol, depth);
    if (ma->kind == N_REL) {
        int v = rel_value(A);
        return v >= 0 && items_equal(sub(A, v), B, tol, depth + 1);
    }
    if (mb->kind == N_REL) {
        int v = rel_value(B);
        return v >= 0 && items_equal(A, sub(B, v), tol, depth + 1);
    }
    if (ma->kind == N_PCT || mb->kind == N_PCT) {
        /* A is the prediction, B the reference. A reference 28% accepts 28% and 0.28 and 28; a
         * predicted x% means x/100, and also x when x is whole (20\% for a reference of 20). */
        side a2 = ma->kind == N_PCT ? sub(A, ma->a) : A, b2 = mb->kind == N_PCT ? sub(B, mb->a) : B;
        if (scalar_equal(A, B, tol)) return 1;
        if (ma->kind == N_PCT && mb->kind == N_PCT) return scalar_equal(a2, b2, tol);
        if (mb->kind == N_PCT) return scalar_equal(A, b2, tol);
        double x = eval(A.P, a2.root, NULL, 0);
        return isfinite(x) && x == floor(x) && scalar_equal(a2, B, tol);
    }
    if (ma->kind == N_DOTS || mb->kind == N_DOTS) return ma->kind == mb->kind;
    if (matrix_valued(A.P, A.root, 0) || matrix_valued(B.P, B.root, 0))
        return matrices_equal(A, B, tol, depth);
    if (is_list(ma->kind) || is_list(mb->kind)) {
        if (ma->kind == N_SET && ma->n == 1 && !is_list(mb->kind))
            return items_equal(child(A, 0), B, tol, depth + 1);
        if (mb->kind == N_SET && mb->n == 1 && !is_list(ma->kind))
            return items_equal(A, child(B, 0), tol, depth + 1);
        if (!is_list(ma->kind) || !is_list(mb->kind)) return 0;
        if ((ma->lb == ':') != (mb->lb == ':')) return 0; /* a ratio equals only a ratio */
        if (ma->kind == N_UNION || mb->kind == N_UNION) {
            if (ma->kind != mb->kind) return 0;
            return unordered_equal(A, B, tol, depth);
        }
        if (ma->kind == N_SET || mb->kind == N_SET) {
            if ((ma->kind == N_TUPLE && ma->lb) || (mb->kind == N_TUPLE && mb->lb)) return 0;
            return set_equal(A, B, tol, depth);
        }
        if (tuple_list(A.P, ma) && tuple_list(B.P, mb)) return set_equal(A, B, tol, depth);
        if (ma->n != mb->n) return 0;
        if (ma->lb && mb->lb && (ma->lb != mb->lb || ma->rb != mb->rb)) return 0;
        for (int k = 0; k < ma->n; k++)
            if (!items_equal(child(A, k), child(B, k), tol, depth + 1)) return 0;
        return 1;
    }
    return scalar_equal(A, B, tol);
}

/* Replace a ± in the tree by the set of its two readings (one ± per answer is expanded). */
static int find_pm(const mparse *P, int i, int depth) {
    if (depth > MAX_DEPTH * 2) return -1;
    const mnode *m = &P->nodes[i];
    if (m->kind == N_PM) return i;
    switch (m->kind) {
    case N_NUM: case N_VAR: case N_CONST: case N_DOTS: return -1;
    case N_TUPLE: case N_SET: case N_UNION: case N_REL: case N_MAT: return -1;
    case N_NEG: case N_PCT: case N_ABS: case N_FACT: case N_FUNC: return find_pm(P, m->a, depth + 1);
    default: {
        int r = find_pm(P, m->a, depth + 1);
        return r >= 0 ? r : find_pm(P, m->b, depth + 1);
    }
    }
}

static int expand_pm(mparse *P, int root) {
    const mnode *m = &P->nodes[root];
    if (is_list(m->kind)) {
        for (int k = 0; k < m->n; k++) {
            int c = P->kids[m->first + k];
            int e = expand_pm(P, c);
            if (e != c && m->kind == N_SET && P->nodes[e].kind == N_SET) {
                /* flatten {1 ± √5, -2} into {1+√5, 1-√5, -2} */
                int items[64], n = 0;
                for (int j = 0; j < m->n && n < 62; j++) {
                    int cj = P->kids[m->first + j];
                    if (j == k) {
                        items[n++] = P->kids[P->nodes[e].first];
                        items[n++] = P->kids[P->nodes[e].first + 1];
                    } else items[n++] = cj;
                }
                return list_node(P, N_SET, items, n);
            }
            P->kids[m->first + k] = (int16_t)e;
        }
        return root;
    }
    int pm = find_pm(P, root, 0);
    if (pm < 0 || P->err) return root;
    /* the two readings share every node except the ± itself, which becomes + then − */
    int items[2];
    for (int s = 0; s < 2; s++) {
        int copy = new_node(P, N_NUM);
        if (P->err) return root;
        P->nodes[copy] = P->nodes[pm];
        P->nodes[copy].kind = s == 0 ? N_ADD : N_SUB;
        items[s] = copy;
    }
    if (pm == root) return list_node(P, N_SET, items, 2);
    /* ± below the root: rebuild the path from the root with each reading */
    int out[2];
    for (int s = 0; s < 2; s++) {
        int path[MAX_DEPTH * 2 + 2], np = 0, cur = root;
        while (cur != pm && np < MAX_DEPTH * 2) {
            path[np++] = cur;
            const mnode *c = &P->nodes[cur];
            int in_a = find_pm(P, c->a, 0) >= 0 || c->a == pm;
            cur = in_a ? c->a : c->b;
        }
        int sub_i = items[s];
        for (int k = np - 1; k >= 0; k--) {
            int cp = new_node(P, N_NUM);
            if (P->err) return root;
            P->nodes[cp] = P->nodes[path[k]];
            const mnode *orig = &P->nodes[path[k]];
            int next = k + 1 < np ? path[k + 1] : pm;
            if (orig->a == next) P->nodes[cp].a = (int16_t)sub_i;
            else P->nodes[cp].b = (int16_t)sub_i;
            sub_i = cp;
        }
        out[s] = sub_i;
    }
    return list_node(P, N_SET, out, 2);
}

/* ================================ normalisation ================================ */

static int macro_is(const char *w, size_t len, const char *const *names) {
    for (; *names; names++)
        if (strlen(*names) == len && strncmp(*names, w, len) == 0) return 1;
    return 0;
}

static const char *const skip_macros[] = {"left", "right", "big", "Big", "bigl", "bigr", "Bigl",
                                          "Bigr", "bigg", "Bigg", "displaystyle", "textstyle",
                                          "limits", "nolimits", "hline", "mathstrut", NULL};
static const char *const text_macros[] = {"text", "textbf", "textit", "textnormal", "textrm",
                                          "textsf", "texttt", "mbox", "mathrm", "mathbf",
                                          "mathit", "mathsf", "boldsymbol", "operatorname",
                                          "mathbb", "hbox", NULL};

static int only_letters(const char *s, size_t n) {
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isalpha(c)) any = 1;
        else if (c != ' ' && c != '.' && c != '^' && !isdigit(c) && c != '{' && c != '}' && c < 0x80)
            return 0;
    }
    return any;
}

static void norm_span(sbuf *o, const char *s, size_t n, int depth);

/* One LaTeX argument of \frac or \sqrt at s[*i]: a braced group, or a single character or macro,
 * written back braced. */
static void norm_arg(sbuf *o, const char *s, size_t n, size_t *i, int depth) {
    while (*i < n && s[*i] == ' ') (*i)++;
    sb_putc(o, '{');
    if (*i < n && s[*i] == '{') {
        long e = match_brace(s, n, *i);
        size_t end = e < 0 ? n : (size_t)e - 1;
        norm_span(o, s + *i + 1, end - *i - 1, depth + 1);
        *i = e < 0 ? n : (size_t)e;
    } else if (*i < n && s[*i] == '\\') {
        size_t j = *i + 1;
        while (j < n && isalpha((unsigned char)s[j])) j++;
        if (j == *i + 1 && j < n) j++;
        norm_span(o, s + *i, j - *i, depth + 1);
        *i = j;
    } else if (*i < n) {
        sb_putc(o, s[*i]);
        (*i)++;
    }
    sb_putc(o, '}');
}

/* Output so far, trimmed, ends where a value was written (a unit may follow it). */
static int after_value(const sbuf *o) {
    size_t k = o->n;
    while (k && o->p[k - 1] == ' ') k--;
    if (!k) return 0;
    char c = o->p[k - 1];
    return isalnum((unsigned char)c) || c == '}' || c == ')' || c == ']';
}

static const char *const matrix_envs[] = {"pmatrix", "bmatrix", "Bmatrix", "vmatrix", "Vmatrix",
                                          "matrix", "smallmatrix", "array", NULL};

/* A matrix environment whose \begin ends at s[*i]: written as \matrix{{a,b},{c,d}} (\vmatrix for
 * a determinant), each entry normalised; rows split at \\ and entries at & outside braces, an
 * array's column spec and an empty last row dropped. Returns 0 (nothing written) when s[*i] does
 * not open one of these environments or it is not closed. */
static int norm_matrix(sbuf *o, const char *s, size_t n, size_t *i, int depth) {
    size_t k = *i;
    if (k >= n || s[k] != '{') return 0;
    long e = match_brace(s, n, k);
    if (e < 0 || (size_t)e - k - 2 >= 16) return 0;
    char env[16], endtag[32];
    memcpy(env, s + k + 1, (size_t)e - k - 2);
    env[(size_t)e - k - 2] = '\0';
    if (!macro_is(env, strlen(env), matrix_envs)) return 0;
    size_t body = (size_t)e;
    if (strcmp(env, "array") == 0 && body < n && s[body] == '{') { /* {cc}: the column spec */
        long ce = match_brace(s, n, body);
        if (ce < 0) return 0;
        body = (size_t)ce;
    }
    snprintf(endtag, sizeof endtag, "\\end{%s}", env);
    const char *end = find_first(s + body, n - body, endtag);
    if (!end) return 0;
    size_t stop = (size_t)(end - s);
    sb_puts(o, env[0] == 'v' || env[0] == 'V' ? "\\vmatrix{" : "\\matrix{");
    int rows = 0;
    for (size_t a = body; a < stop;) { /* one row per pass */
        size_t b = a;
        int d = 0;
        while (b < stop && !(d == 0 && s[b] == '\\' && b + 1 < stop && s[b + 1] == '\\')) {
            if (s[b] == '\\' && b + 1 < stop) b++;
            else if (s[b] == '{') d++;
            else if (s[b] == '}') d--;
            b++;
        }
        size_t q = a;
        while (q < b && isspace((unsigned char)s[q])) q++;
        if (q < b) { /* a row that is not empty */
            sb_puts(o, rows++ ? ",{" : "{");
            for (size_t c = a; c <= b;) { /* entries split at & */
                size_t f = c;
                int dd = 0;
                while (f < b && !(dd == 0 && s[f] == '&')) {
                    if (s[f] == '\\' && f + 1 < b) f++;
                    else if (s[f] == '{') dd++;
                    else if (s[f] == '}') dd--;
                    f++;
                }
                if (c > a) sb_putc(o, ',');
                norm_span(o, s + c, f - c, depth + 1);
                c = f + 1;
            }
            sb_putc(o, '}');
        }
        a = b + 2;
    }
    sb_putc(o, '}');
    *i = stop + strlen(endtag);
    return 1;
}

/* A backslash at s[i] that starts no macro name: a spacing command or an escaped character.
 * Returns the index after it. */
static size_t norm_escape(sbuf *o, const char *s, size_t n, size_t i) {
    char d = i + 1 < n ? s[i + 1] : '\0';
    if (d == '!') { /* 10,\!000: the thin space of a thousands separator */
        i += 2;
        if (sb_last(o) == ',')
            while (i < n && s[i] == ' ') i++;
    } else if (d == ',' || d == ';' || d == ':' || d == ' ' || d == '\\') {
        sb_putc(o, ' ');
        i += 2;
    } else if (d == '%') {
        sb_putc(o, '%');
        i += 2;
    } else if (d == '$') {
        i += 2;
    } else if (d == '[' || d == ']' || d == '(' || d == ')') {
        sb_putc(o, ' ');
        i += 2;
    } else if (d == '{' || d == '}') {
        sb_putc(o, '\\');
        sb_putc(o, d);
        i += 2;
    } else {
        sb_putc(o, '\\');
        i++;
    }
    return i;
}

/* The argument of a text macro (\text, \mathrm, ...) at s[i]: dropped when it is a unit or an
 * annotation after a value, else normalised as text. Returns the index after it. */
static size_t norm_text_arg(sbuf *o, const char *s, size_t n, size_t i, int depth) {
    while (i < n && s[i] == ' ') i++;
    if (i < n && s[i] == '{') {
        long e = match_brace(s, n, i);
        size_t end = e < 0 ? n : (size_t)e - 1;
        const char *in = s + i + 1;
        size_t inlen = end - i - 1;
        i = e < 0 ? n : (size_t)e;
        if (after_value(o) && only_letters(in, inlen)) {
            /* a unit or annotation after a value: 10\text{ cm} */
            if (i < n && s[i] == '^') {
                i++;
                if (i < n && s[i] == '{') {
                    long e2 = match_brace(s, n, i);
                    i = e2 < 0 ? n : (size_t)e2;
                } else if (i < n) i++;
            }
            return i;
        }
        norm_span(o, in, inlen, depth + 1);
    }
    return i;
}

/* A backslash at s[i]: an escaped character or a macro, written to o normalised. Returns the
 * index after it; *stop is set when the rest of the span is dropped (an approximation after an
 * equation). */
static size_t norm_backslash(sbuf *o, const char *s, size_t n, size_t i, int depth, int *stop) {
    size_t j = i + 1;
    /* "\\frac" written with a doubled backslash reads as \frac */
    if (j < n && s[j] == '\\' && j + 1 < n && isalpha((unsigned char)s[j + 1])) i++, j++;
    while (j < n && isalpha((unsigned char)s[j])) j++;
    const char *w = s + i + 1;
    size_t len = j - i - 1;
    if (len == 0) return norm_escape(o, s, n, i);
    i = j;
    if (word_is(w, len, "begin") && norm_matrix(o, s, n, &i, depth)) return i;
    if (macro_is(w, len, skip_macros)) {
        if (i < n && s[i] == '.') i++; /* \left. */
        return i;
    }
    if (macro_is(w, len, text_macros)) return norm_text_arg(o, s, n, i, depth);
    if (word_is(w, len, "dfrac") || word_is(w, len, "tfrac") || word_is(w, len, "cfrac") ||
        word_is(w, len, "frac")) {
        sb_puts(o, "\\frac");
        norm_arg(o, s, n, &i, depth);
        norm_arg(o, s, n, &i, depth);
        return i;
    }
    if (word_is(w, len, "sqrt")) {
        sb_puts(o, "\\sqrt");
        while (i < n && s[i] == ' ') i++;
        if (i < n && s[i] == '[') {
            size_t k = i;
            while (k < n && s[k] != ']') k++;
            sb_putc(o, '[');
            norm_span(o, s + i + 1, (k < n ? k : n) - i - 1, depth + 1);
            sb_putc(o, ']');
            i = k < n ? k + 1 : n;
        }
        norm_arg(o, s, n, &i, depth);
        return i;
    }
    if (word_is(w, len, "quad") || word_is(w, len, "qquad")) sb_putc(o, ' ');
    else if (word_is(w, len, "cdot") || word_is(w, len, "times") || word_is(w, len, "ast"))
        sb_putc(o, '*');
    else if (word_is(w, len, "div")) sb_putc(o, '/');
    else if (word_is(w, len, "le") || word_is(w, len, "leq") || word_is(w, len, "leqslant"))
        sb_puts(o, "<=");
    else if (word_is(w, len, "ge") || word_is(w, len, "geq") || word_is(w, len, "geqslant"))
        sb_puts(o, ">=");
    else if (word_is(w, len, "lt")) sb_putc(o, '<');
    else if (word_is(w, len, "gt")) sb_putc(o, '>');
    else if (word_is(w, len, "ne") || word_is(w, len, "neq")) sb_puts(o, "!=");
    else if (word_is(w, len, "circ") || word_is(w, len, "degree")) {
    } else if (word_is(w, len, "approx")) {
        /* x = 1/3 \approx 0.33: the approximation is dropped; x \approx 11 reads x = 11 */
        if (memchr(o->p, '=', o->n)) {
            *stop = 1;
            return i;
        }
        sb_putc(o, '=');
    } else if (word_is(w, len, "in")) {
        o->n = 0; /* x \in [0,1): the set is the answer */
        o->p[0] = '\0';
    } else {
        sb_putc(o, '\\');
        sb_putn(o, w, len);
        if (i < n && isalpha((unsigned char)s[i])) sb_putc(o, ' ');
    }
    return i;
}

static void norm_span(sbuf *o, const char *s, size_t n, int depth) {
    if (depth > MAX_DEPTH) {
        o->overflow = 1;
        return;
    }
    for (size_t i = 0; i < n && !o->overflow;) {
        unsigned char c = (unsigned char)s[i];
        if (c == '$') {
            i++;
            continue;
        }
        if (c == '{' && i + 2 < n && s[i + 1] == ',' && s[i + 2] == '}') { /* 14{,}916 */
            i += 3;
            continue;
        }
        if (c == '^' && i + 1 < n) { /* ^\circ, ^{\circ}: degrees */
            const char *deg[] = {"^\\circ", "^{\\circ}", "^{\\circ }", "^\\degree", "^{\\degree}", NULL};
            int hit = 0;
            for (int k = 0; deg[k]; k++) {
                size_t L = strlen(deg[k]);
                if (i + L <= n && strncmp(s + i, deg[k], L) == 0) {
                    i += L;
                    hit = 1;
                    break;
                }
            }
            if (hit) continue;
        }
        if (c == '\\') {
            int stop = 0;
            i = norm_backslash(o, s, n, i, depth, &stop);
            if (stop) return;
            continue;
        }
        if (c == '\n' || c == '\r') { /* kept: 11\n5/6 is not a mixed number */
            if (o->n && sb_last(o) == ' ') o->p[--o->n] = '\0';
            if (o->n && sb_last(o) != '\n') sb_putc(o, '\n');
            i++;
            continue;
        }
        if (c == ' ' || c == '\t' || c == '~') {
            if (o->n && sb_last(o) != ' ' && sb_last(o) != '\n') sb_putc(o, ' ');
            i++;
            continue;
        }
        if (c >= 0x80) { /* a few Unicode symbols models write */
            static const struct { const char *u, *ascii; } uni[] = {
                {"\xc2\xb0", ""},         {"\xc2\xb2", "^2"},       {"\xc2\xb3", "^3"},
                {"\xe2\x82\xac", ""},     {"\xc2\xa3", ""},         {"\xe2\x88\x92", "-"},
                {"\xc3\x97", "*"},        {"\xc3\xb7", "/"},        {"\xe2\x88\x9e", "\\infty "},
                {"\xcf\x80", "\\pi "},    {"\xe2\x89\xa4", "<="},   {"\xe2\x89\xa5", ">="},
                {"\xe2\x89\xa0", "!="},   {"\xe2\x88\x9a", "\\sqrt"}, {"\xc2\xa0", " "},
                {"\xe2\x80\xaf", ""},     {"\xe2\x80\x89", ""},     {NULL, NULL}};
            int hit = 0;
            for (int k = 0; uni[k].u; k++) {
                size_t L = strlen(uni[k].u);
                if (i + L <= n && strncmp(s + i, uni[k].u, L) == 0) {
                    if (strcmp(uni[k].ascii, "\\sqrt") == 0) {
                        i += L;
                        sb_puts(o, "\\sqrt");
                        norm_arg(o, s, n, &i, depth);
                    } else {
                        sb_puts(o, uni[k].ascii);
                        i += L;
                    }
                    hit = 1;
                    break;
                }
            }
            if (!hit) sb_putc(o, (char)s[i++]);
            continue;
        }
        sb_putc(o, (char)c);
        i++;
    }
}

static int ends_with_word(const char *s, size_t n, const char *w, size_t *start) {
    size_t L = strlen(w);
    if (n < L) return 0;
    for (size_t k = 0; k < L; k++)
        if (tolower((unsigned char)s[n - L + k]) != w[k]) return 0;
    if (n > L && isalpha((unsigned char)s[n - L - 1])) return 0;
    *start = n - L;
    return 1;
}

int reward_math_normalize(const char *answer, char *out, size_t cap) {
    if (!out || cap == 0) return -1;
    out[0] = '\0';
    if (!answer) return -1;
    sbuf o;
    sb_init(&o, out, cap);
    norm_span(&o, answer, strlen(answer), 0);
    if (o.overflow) {
        out[0] = '\0';
        return -1;
    }
    /* trim, then drop sentence punctuation at the end (but not an ellipsis) */
    size_t a = 0, n = o.n;
    while (a < n && (out[a] == ' ' || out[a] == '\n')) a++;
    for (;;) {
        while (n > a && (out[n - 1] == ' ' || out[n - 1] == '\n')) n--;
        if (n > a && (out[n - 1] == ',' || out[n - 1] == ';' || out[n - 1] == ':')) {
            n--;
            continue;
        }
        if (n > a && out[n - 1] == '.' && !(n >= a + 2 && out[n - 2] == '.')) {
            n--;
            continue;
        }
        break;
    }
    memmove(out, out + a, n - a);
    n -= a;
    out[n] = '\0';
    /* percentages in words become '%' */
    static const char *const pct[] = {"percentage", "percent", "pct", NULL};
    for (int k = 0; pct[k]; k++) {
        size_t st;
        if (ends_with_word(out, n, pct[k], &st)) {
            n = st;
            while (n && out[n - 1] == ' ') n--;
            out[n++] = '%';
            out[n] = '\0';
            break;
        }
    }
    /* units: words after a number ("125 miles", "15 cm^2", "1,000.99m^2") */
    {
        int has_pct = n && out[n - 1] == '%';
        size_t end = has_pct ? n - 1 : n, k = end;
        while (k && out[k - 1] == ' ') k--;
        size_t e2 = k;
        if (e2 >= 2 && out[e2 - 2] == '^' && (out[e2 - 1] == '2' || out[e2 - 1] == '3')) e2 -= 2;
        size_t w = e2;
        while (w && (isalpha((unsigned char)out[w - 1]) || out[w - 1] == ' ')) w--;
        int squared = e2 != k;
        if (w < e2 && w > 0 && e2 - w >= 2) {
            size_t ws = w;
            while (ws < e2 && out[ws] == ' ') ws++;
            int spaced = ws > w;
            if (isdigit((unsigned char)out[w - 1]) && (spaced || squared) && ws < e2 &&
                isalpha((unsigned char)out[ws])) {
                int letters = 0; /* a word of two letters at least: "2 x" is not a unit */
                for (size_t q = ws; q < e2; q++)
                    if (isalpha((unsigned char)out[q])) letters++;
                    else if (out[q] != ' ') letters = -1000;
                if (letters >= 2 || (letters == 1 && squared && out[e2 - 1] == 'm')) { /* m^2 */
                    size_t keep = w;
                    if (has_pct) out[keep++] = '%';
                    out[keep] = '\0';
                    n = keep;
                }
            }
        }
    }
    while (n && out[n - 1] == ' ') out[--n] = '\0';
    return (int)n;
}

/* ================================ equivalence ================================ */

/* Canonical string for the last-resort comparison: no spaces, lower case, no braces (kept in a
 * matrix, where they mark the rows). */
static void squash(const char *s, char *out, size_t cap) {
    size_t o = 0;
    int rows = strstr(s, "matrix{") != NULL;
    for (; *s && o + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == ' ' || c == '\n' || (!rows && (c == '{' || c == '}'))) continue;
        out[o++] = (char)tolower(c);
    }
    out[o] = '\0';
}

/* A multiple-choice letter A-E, written as C, (C), C), C. or \text{(C)}; 0 if not one. */
static int choice_letter(const char *s) {
    char t[16];
    size_t o = 0;
    for (; *s && o + 1 < sizeof t; s++)
        if (*s != '(' && *s != ')' && *s != ' ' && *s != '.' && *s != '{' && *s != '}') t[o++] = *s;
    if (*s) return 0;
    t[o] = '\0';
    return o == 1 && t[0] >= 'A' && t[0] <= 'E' ? t[0] : 0;
}

typedef struct equiv_work {
    char na[NORM_CAP], nb[NORM_CAP];
    mparse pa, pb;
    menv env;
} equiv_work;

static int equiv_normalized(equiv_work *w, double tol) {
    char sa[NORM_CAP], sb2[NORM_CAP];
    squash(w->na, sa, sizeof sa);
    squash(w->nb, sb2, sizeof sb2);
    if (sa[0] && strcmp(sa, sb2) == 0) return 1;
    int ca = choice_letter(w->nb);
    if (ca) return choice_letter(w->na) == ca;
    w->env.n = 0;
    int ra = parse_answer(&w->pa, w->na, &w->env);
    int rb = ra < 0 ? -1 : parse_answer(&w->pb, w->nb, &w->env);
    if (ra < 0 || rb < 0) return 0;
    ra = expand_pm(&w->pa, ra);
    rb = expand_pm(&w->pb, rb);
    if (w->pa.err || w->pb.err) return 0;
    side A = {&w->pa, ra}, B = {&w->pb, rb};
    return items_equal(A, B, tol, 0);
}

int reward_math_equiv(const char *pred, const char *gold, double tolerance) {
    if (!pred || !gold) return 0;
    equiv_work *w = mem_alloc(sizeof *w);
    int r = 0;
    if (reward_math_normalize(pred, w->na, sizeof w->na) > 0 &&
        reward_math_normalize(gold, w->nb, sizeof w->nb) > 0)
        r = equiv_normalized(w, tolerance);
    free(w);
    return r;
}

/* ================================ extraction ================================ */

/* True when the text reads as a single answer (it normalises and parses with no stray words). */
static int reads_as_answer(const char *s, size_t n) {
    while (n && isspace((unsigned char)*s)) s++, n--;
    while (n && isspace((unsigned char)s[n - 1])) n--;
    if (n == 0 || n > 256 || memchr(s, '\n', n)) return 0; /* one answer is one line */
    char raw[260], norm[NORM_CAP];
    memcpy(raw, s, n);
    raw[n] = '\0';
    if (reward_math_normalize(raw, norm, sizeof norm) <= 0) return 0;
    for (size_t i = 0; norm[i]; i++) { /* words ("so 3 + 4 = 7") make it a sentence */
        if (!isalpha((unsigned char)norm[i])) continue;
        size_t j = i;
        while (isalpha((unsigned char)norm[j])) j++;
        if (j - i >= 2 && (i == 0 || norm[i - 1] != '\\') && func_id(norm + i, j - i) < 0) return 0;
        i = j - 1;
    }
    mparse *P = mem_alloc(sizeof *P);
    menv env = {0};
    int ok = parse_answer(P, norm, &env) >= 0;
    free(P);
    return ok;
}

/* Last math span ($...$ on one line, $$...$$, \(...\), \[...\]) in [s, s+n): sets *a, *b to its
 * content; returns the index just past it, or 0 if none. */
static size_t last_math_span(const char *s, size_t n, size_t *a, size_t *b) {
    size_t best_end = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && (s[i + 1] == '(' || s[i + 1] == '[')) {
            const char *close = s[i + 1] == '(' ? "\\)" : "\\]";
            const char *e = find_first(s + i + 2, n - i - 2, close);
            /* inline \( ... \) split over lines is not an answer (display \[ \] may be) */
            if (e && s[i + 1] == '(' && memchr(s + i, '\n', (size_t)(e - s) - i)) {
                i = (size_t)(e - s) + 1;
            } else if (e) {
                *a = i + 2, *b = (size_t)(e - s), best_end = *b + 2;
                i = best_end - 1;
            }
        } else if (s[i] == '\\' && i + 1 < n) {
            i++;
        } else if (s[i] == '$') {
            int dbl = i + 1 < n && s[i + 1] == '$';
            size_t st = i + (dbl ? 2 : 1), k = st;
            while (k < n) {
                if (s[k] == '\\' && k + 1 < n) {
                    k += 2;
                    continue;
                }
                if (s[k] == '$') break;
                if (!dbl && s[k] == '\n') break;
                k++;
            }
            if (k < n && s[k] == '$' && (!dbl || (k + 1 < n && s[k + 1] == '$'))) {
                *a = st, *b = k, best_end = k + (dbl ? 2 : 1);
                i = best_end - 1;
            } else if (k < n && s[k] == '\n') i = k;
            else break;
        }
    }
    return best_end;
}

/* Last number-like run (digits with separators, a fraction p/q, a mixed number, a sign, a
 * percent sign) in [s, s+n): returns the index just past it, 0 if none. */
static size_t last_number(const char *s, size_t n, size_t *a, size_t *b) {
    size_t best = 0;
    for (size_t i = 0; i < n;) {
        int starts = isdigit((unsigned char)s[i]) &&
                     (i == 0 || !(isalpha((unsigned char)s[i - 1]) || s[i - 1] == '_'));
        if (!starts) {
            i++;
            continue;
        }
        mtok t;
        size_t e = lex_number(s, n, i, &t);
        if (e + 1 < n && s[e] == '/' && isdigit((unsigned char)s[e + 1])) e = lex_number(s, n, e + 1, &t);
        size_t st = i;
        if (st > 0 && s[st - 1] == '-' && (st == 1 || !isalnum((unsigned char)s[st - 2]))) st--;
        size_t pe = e;
        while (pe < n && s[pe] == ' ') pe++;
        if (pe < n && s[pe] == '%') e = pe + 1;
        else if (pe + 1 < n && s[pe] == '\\' && s[pe + 1] == '%') e = pe + 2;
        *a = st, *b = e, best = e;
        i = e > i ? e : i + 1;
    }
    return best;
}

static int lenient(const char *s, size_t n, char *out, size_t cap) {
    if (reads_as_answer(s, n)) return copy_out(s, n, out, cap);
    size_t ma = 0, mb = 0, na = 0, nb = 0;
    size_t mend = last_math_span(s, n, &ma, &mb);
    size_t nend = last_number(s, n, &na, &nb);
    size_t t = n; /* text that ends with a math delimiter no span closes: a broken answer, none */
    while (t && (isspace((unsigned char)s[t - 1]) || s[t - 1] == '.')) t--;
    if (t && (s[t - 1] == '$' || (t >= 2 && s[t - 2] == '\\' && s[t - 1] == ')')) && mend != t)
        return -1;
    if (mend && mend >= nend) return copy_out(s + ma, mb - ma, out, cap);
    if (nend) return copy_out(s + na, nb - na, out, cap);
    return -1;
}

/* The sentence after an "answer is" anchor: up to a newline or a full stop outside $...$. */
static size_t answer_sentence(const char *s, size_t n) {
    int in_math = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            i++;
            continue;
        }
        if (s[i] == '$') in_math = !in_math;
        if (s[i] == '\n' && !in_math) return i;
        if (s[i] == '.' && !in_math && (i + 1 == n || isspace((unsigned char)s[i + 1])))
            return i;
    }
    return n;
}

/* Only separators between two boxes: spaces, $, commas, "and", "or", \quad. */
static int joinable(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        if (strchr(" \n$,", s[i])) i++;
        else if (i + 3 <= n && strncmp(s + i, "and", 3) == 0) i += 3;
        else if (i + 2 <= n && strncmp(s + i, "or", 2) == 0) i += 2;
        else if (i + 5 <= n && strncmp(s + i, "\\quad", 5) == 0) i += 5;
        else if (i + 2 <= n && s[i] == '\\' && strchr(" ,;[]()", s[i + 1])) i += 2;
        else if (i + 6 <= n && strncmp(s + i, "\\text{", 6) == 0) i += 6; /* \text{ and } */
        else if (s[i] == '}') i++;
        else return 0;
    }
    return 1;
}

/* The content of the box at [open, end) — with the boxes right before it that only separators
 * part from it ("\boxed{-2} and \boxed{1}" gives "-2, 1"). */
static int boxed_list(const char *s, size_t box, size_t open, size_t end, char *out, size_t cap) {
    size_t starts[8], ends[8];
    int k = 0;
    starts[k] = open + 1, ends[k++] = end - 1;
    while (k < 8) {
        const char *p = find_last(s, box, "\\boxed{", 0);
        if (!p) break;
        size_t o = (size_t)(p - s) + 6;
        long e = match_brace(s, box, o);
        if (e < 0 || !joinable(s + e, box - (size_t)e)) break;
        starts[k] = o + 1, ends[k++] = (size_t)e - 1;
        box = (size_t)(p - s);
    }
    if (k == 1) return copy_out(s + open + 1, end - open - 2, out, cap);
    sbuf o;
    sb_init(&o, out, cap);
    for (int j = k - 1; j >= 0; j--) {
        sb_putn(&o, s + starts[j], ends[j] - starts[j]);
        if (j) sb_puts(&o, ", ");
    }
    return o.overflow ? -1 : (int)o.n;
}

int reward_math_extract(const char *text, int fallback, char *out, size_t cap) {
    if (!out || cap == 0) return -1;
    out[0] = '\0';
    if (!text) return -1;
    size_t len = strlen(text);
    const char *s = text, *end = text + len;
    const char *close = find_last(s, len, "</think>", 0);
    if (close) s = close + 8;
    else if (find_first(s, len, "<think>")) return -1; /* still thinking: no answer yet */
    const char *ans = find_last(s, (size_t)(end - s), "<answer>", 0);
    if (ans) {
        s = ans + 8;
        const char *ae = find_first(s, (size_t)(end - s), "</answer>");
        if (ae) end = ae;
    }
    size_t n = (size_t)(end - s);
    /* the last \boxed{...} or \fbox{...} whose braces balance, unless "the final answer is" comes
     * after it */
    const char *final_anchor = NULL;
    int final_searched = 0;
    for (size_t lim = n, tries = 0; lim > 0 && tries < 16; tries++) { /* bounded: hostile text */
        const char *b1 = find_last(s, lim, "\\boxed", 0), *b2 = find_last(s, lim, "\\fbox", 0);
        const char *b = b1 > b2 ? b1 : b2;
        if (!b) break;
        size_t i = (size_t)(b - s) + (b == b1 ? 6 : 5);
        while (i < n && s[i] == ' ') i++;
        if (i < n && s[i] == '{') {
            long e = match_brace(s, n, i);
            if (e > 0 && !final_searched) {
                final_anchor = find_last(s + e, n - (size_t)e, "final answer is", 1);
                final_searched = 1;
            }
            if (e > 0 && final_anchor) break;
            if (e > 0) return boxed_list(s, (size_t)(b - s), i, (size_t)e, out, cap);
        } else if (b == b1 && i > (size_t)(b - s) + 6) { /* \boxed 5 */
            size_t k = i;
            while (k < n && !isspace((unsigned char)s[k]) && s[k] != '$') k++;
            if (k > i) return copy_out(s + i, k - i, out, cap);
        }
        lim = (size_t)(b - s);
    }
    /* "the answer is X", "Final Answer: X" */
    const char *a1 = find_last(s, n, "answer is", 1), *a2 = find_last(s, n, "answer:", 1);
    const char *a = a1 > a2 ? a1 : a2;
    if (a) {
        const char *p = a + (a == a1 ? 9 : 7);
        while (p < end && (*p == ' ' || *p == ':')) p++;
        size_t m = answer_sentence(p, (size_t)(end - p));
        if (m > 0) {
            if (fallback) {
                int r = lenient(p, m, out, cap);
                if (r > 0) return r;
            }
            return copy_out(p, m, out, cap);
        }
    }
    const char *h = find_last(s, n, "####", 0);
    if (h) {
        const char *p = h + 4, *q = p;
        while (q < end && *q != '\n') q++;
        int r = copy_out(p, (size_t)(q - p), out, cap);
        if (r > 0) return r;
    }
    if (!fallback) return -1;
    return lenient(s, n, out, cap);
}

/* ================================ multiple choice ================================ */

/* A capital A-E at s[i] standing alone (not part of a word, a macro or a subscript). */
static int lone_letter(const char *s, size_t n, size_t i) {
    if (i >= n || s[i] < 'A' || s[i] > 'E') return 0;
    if (i > 0 && (isalnum((unsigned char)s[i - 1]) || strchr("\\_^'", s[i - 1]))) return 0;
    return i + 1 >= n || !(isalnum((unsigned char)s[i + 1]) || strchr("_^'=", s[i + 1]));
}

/* Skips spaces and the marks that wrap a letter: quotes, ( ) * $ { } and \text. */
static size_t skip_wrap(const char *s, size_t n, size_t i) {
    for (;;) {
        if (i < n && strchr(" \t\n\"()*${}", s[i]) && s[i]) i++;
        else if (i + 5 <= n && strncmp(s + i, "\\text", 5) == 0) i += 5;
        else return i;
    }
}

/* After the letter at s[i]: another letter joined to it (", C", "or C", "and (C)", "/C") makes
 * the answer name two options. */
static int joined_letter(const char *s, size_t n, size_t i) {
    size_t k = skip_wrap(s, n, i + 1);
    if (k < n && (s[k] == ',' || s[k] == '/' || s[k] == '&' || s[k] == ';')) k++;
    else if (k + 2 <= n && strncmp(s + k, "or", 2) == 0 && !isalpha((unsigned char)s[k + 2])) k += 2;
    else if (k + 3 <= n && strncmp(s + k, "and", 3) == 0 && !isalpha((unsigned char)s[k + 3])) k += 3;
    else return 0;
    return lone_letter(s, n, skip_wrap(s, n, k));
}

/* A letter that opens an option with its text: "(A) Oslo", "D Marta", "B. Paris"; 0 if none. */
static int option_with_text(const char *s) {
    while (isspace((unsigned char)*s) || *s == ':') s++;
    int paren = *s == '(';
    s += paren;
    if (*s < 'A' || *s > 'E') return 0;
    char c = *s++;
    int mark = 0;
    if (paren && *s++ != ')') return 0;
    if (!paren && (*s == ')' || *s == '.' || *s == ':')) s++, mark = 1;
    if (*s != ' ') return 0;
    while (*s == ' ') s++;
    return isalpha((unsigned char)*s) && (paren || mark || isupper((unsigned char)*s)) ? c : 0;
}

/* The choice a reference names: a letter alone (C, (C), \text{C}) or a letter with its option's
 * text, possibly after "the answer is"; 0 when the reference is not a choice. */
static int reference_choice(const char *gold, const char *extracted) {
    char norm[NORM_CAP];
    if (extracted[0] && reward_math_normalize(extracted, norm, sizeof norm) > 0) {
        int c = choice_letter(norm);
        if (c) return c;
    }
    size_t len = strlen(gold);
    const char *a1 = find_last(gold, len, "answer is", 1), *a2 = find_last(gold, len, "answer:", 1);
    const char *a = a1 > a2 ? a1 : a2;
    return option_with_text(a ? a + (a == a1 ? 9 : 7) : gold);
}

/* The option a completion chooses, 0 if none or if it names two: the letter of its final answer
 * (a box, "the answer is D, because..."), else the letter it opens with ("B. Since C fails"),
 * else the last letter standing alone (not the article "A" before a word). */
static int completion_choice(const char *text) {
    char ex[NORM_CAP], norm[NORM_CAP];
    if (reward_math_extract(text, 0, ex, sizeof ex) > 0) {
        if (reward_math_normalize(ex, norm, sizeof norm) > 0 && choice_letter(norm))
            return choice_letter(norm);
        size_t n = strlen(ex), i = skip_wrap(ex, n, 0);
        while (i < n && !lone_letter(ex, n, i)) i++;
        return i < n && !joined_letter(ex, n, i) ? ex[i] : 0;
    }
    size_t len = strlen(text);
    const char *s = text, *close = find_last(s, len, "</think>", 0);
    if (close) s = close + 8;
    else if (find_first(s, len, "<think>")) return 0;
    size_t n = strlen(s), i = skip_wrap(s, n, 0);
    if (lone_letter(s, n, i) && (i + 1 >= n || strchr(".):\n", s[i + 1]) || s[i - (i > 0)] == '('))
        return joined_letter(s, n, i) ? 0 : s[i];
    for (size_t k = n; k-- > 0;) {
        if (!lone_letter(s, n, k)) continue;
        if (s[k] == 'A' && k + 2 < n && s[k + 1] == ' ' && islower((unsigned char)s[k + 2]) &&
            strncmp(s + k + 2, "is", 2) != 0)
            continue; /* "A triangle": the article */
        if (joined_letter(s, n, k)) return 0;
        size_t p = k; /* "B or C": the letter before it joins it too */
        while (p > 0 && strchr(" \t\"()*$", s[p - 1])) p--;
        while (p > 0 && isalpha((unsigned char)s[p - 1])) p--;
        while (p > 0 && strchr(" \t\"()*$,/", s[p - 1])) p--;
        if (p > 0 && lone_letter(s, n, p - 1) && joined_letter(s, n, p - 1)) return 0;
        return s[k];
    }
    return 0;
}

int reward_math_grade(const char *completion, const char *gold, int fallback, double tolerance) {
    char pa[NORM_CAP], ga[NORM_CAP];
    if (!completion || !gold) return 0;
    /* The reference is an answer by definition: when no extraction rule finds one in it (to the
     * fallback, which guards completions against prose, a word such as Evelyn or \text{blue} is
     * none), the whole reference is the answer. */
    if (reward_math_extract(gold, 1, ga, sizeof ga) <= 0) snprintf(ga, sizeof ga, "%s", gold);
    int choice = reference_choice(gold, ga);
    if (choice) return completion_choice(completion) == choice;
    if (!ga[0]) return 0;
    if (reward_math_extract(completion, fallback, pa, sizeof pa) <= 0) return 0;
    return reward_math_equiv(pa, ga, tolerance);
}
