/* data_kk — knights-and-knaves puzzles for the built-in task "kk": a generator of puzzles with
 * exactly one solution (checked by enumerating all 2^n assignments), deterministic in its seed,
 * and their prompt and reference answer. rewards/ grades the answers (reward_kk_grade).
 * Deliberately not here: a solver; the statements' structure stays inside this file. */
#include "data.h"

#include "common/err.h"

#include <stdio.h>
#include <string.h>

static const char *kk_names[] = {"Alice", "Bob",   "Carol", "David", "Emma",  "Frank",
                                 "Grace", "Henry", "Iris",  "Jack",  "Kate",  "Liam",
                                 "Mia",   "Noah",  "Olivia", "Peter"};

enum { KK_IS, KK_AND, KK_OR, KK_IFF };

typedef struct kk_stmt {
    int kind, x, rx, y, ry; /* person x has role rx (1 knight), and y has role ry */
} kk_stmt;

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int kk_truth(const kk_stmt *st, unsigned assign) {
    int a = (int)((assign >> st->x) & 1) == st->rx, b = (int)((assign >> st->y) & 1) == st->ry;
    switch (st->kind) {
    case KK_IS: return a;
    case KK_AND: return a && b;
    case KK_OR: return a || b;
    default: return a == b;
    }
}

static void kk_words(const data_kk_puzzle *p, const kk_stmt *st, char *out, size_t cap) {
    const char *r1 = st->rx ? "a knight" : "a knave", *r2 = st->ry ? "a knight" : "a knave";
    char x[16], y[16]; /* copies: out is inside *p too */
    memcpy(x, p->names[st->x], sizeof x);
    memcpy(y, p->names[st->y], sizeof y);
    switch (st->kind) {
    case KK_IS: snprintf(out, cap, "%s is %s.", x, r1); break;
    case KK_AND: snprintf(out, cap, "%s is %s and %s is %s.", x, r1, y, r2); break;
    case KK_OR: snprintf(out, cap, "%s is %s or %s is %s.", x, r1, y, r2); break;
    default: snprintf(out, cap, "%s is %s if and only if %s is %s.", x, r1, y, r2);
    }
}

int data_kk_generate(uint64_t seed, int n, data_kk_puzzle *p) {
    if (!p || n < 2 || n > DATA_KK_MAX)
        return err_set("knights and knaves: expected 2..%d people, got %d", DATA_KK_MAX, n);
    uint64_t rng = seed * 0x2545F4914F6CDD1Dull + 1;
    int nnames = (int)(sizeof kk_names / sizeof kk_names[0]);
    for (int attempt = 0;; attempt++) {
        memset(p, 0, sizeof *p);
        p->n = n;
        int order[16];
        for (int i = 0; i < nnames; i++) order[i] = i;
        for (int i = nnames - 1; i > 0; i--) { /* Fisher-Yates */
            int j = (int)(splitmix(&rng) % (uint64_t)(i + 1)), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        for (int i = 0; i < n; i++) snprintf(p->names[i], sizeof p->names[i], "%s", kk_names[order[i]]);
        unsigned solution = (unsigned)(splitmix(&rng) & ((1u << n) - 1));
        kk_stmt st[DATA_KK_MAX];
        for (int i = 0; i < n; i++) {
            int knight = (solution >> i) & 1;
            do { /* a random statement about others whose truth matches the speaker's role */
                st[i].kind = (int)(splitmix(&rng) % 4);
                st[i].x = (int)(splitmix(&rng) % (uint64_t)(n - 1));
                if (st[i].x >= i) st[i].x++;
                st[i].y = (int)(splitmix(&rng) % (uint64_t)n);
                if (st[i].y == st[i].x) st[i].y = (st[i].y + 1) % n;
                st[i].rx = (int)(splitmix(&rng) & 1);
                st[i].ry = (int)(splitmix(&rng) & 1);
            } while (kk_truth(&st[i], solution) != knight);
        }
        int nsol = 0;
        for (unsigned a = 0; a < (1u << n) && nsol < 2; a++) {
            int ok = 1;
            for (int i = 0; i < n && ok; i++) ok = kk_truth(&st[i], a) == (int)((a >> i) & 1);
            nsol += ok;
        }
        if (nsol == 1 || attempt > 10000) {
            if (nsol != 1) return err_set("knights and knaves: no unique puzzle found for n=%d", n);
            for (int i = 0; i < n; i++) {
                p->knight[i] = (solution >> i) & 1;
                kk_words(p, &st[i], p->statements[i], sizeof p->statements[i]);
            }
            return 0;
        }
    }
}

int data_kk_format(const data_kk_puzzle *p, char *prompt, size_t pcap, char *answer, size_t acap) {
    if (!p || !prompt || !answer || pcap == 0 || acap == 0) return err_set("knights and knaves: no buffer");
    size_t o = 0;
    o += (size_t)snprintf(prompt + o, pcap - o,
                          "A very special island is inhabited only by knights and knaves. Knights "
                          "always tell the truth, and knaves always lie. You meet %d inhabitants:",
                          p->n);
    for (int i = 0; i < p->n && o < pcap; i++)
        o += (size_t)snprintf(prompt + o, pcap - o, "%s %s%s", i == p->n - 1 ? " and" : "",
                              p->names[i], i == p->n - 1 ? "." : ",");
    for (int i = 0; i < p->n && o < pcap; i++)
        o += (size_t)snprintf(prompt + o, pcap - o, " %s says: \"%s\"", p->names[i], p->statements[i]);
    if (o < pcap)
        o += (size_t)snprintf(prompt + o, pcap - o, " Who is a knight and who is a knave?");
    size_t q = 0;
    for (int i = 0; i < p->n && q < acap; i++)
        q += (size_t)snprintf(answer + q, acap - q, "%s%s: %s", i ? ", " : "", p->names[i],
                              p->knight[i] ? "knight" : "knave");
    if (o >= pcap || q >= acap) return err_set("knights and knaves: buffer too small");
    return 0;
}
