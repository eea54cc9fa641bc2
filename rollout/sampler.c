/* sampler — one token from one row of logits, on the host, sums in double precision; see rollout.h.
 * Filters follow the order and tie rules of Hugging Face's logits warpers (temperature, top-k
 * keeping ties with the k-th value, top-p keeping the most likely tokens until their mass reaches
 * top_p, min-p relative to the top probability). */
#include "rollout.h"

#include "common/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct cand {
    double p;
    int32_t id;
} cand;

struct sampler_scratch {
    int64_t V;
    double *p;     /* (V) unnormalised probabilities at the sampling temperature */
    double *sel;   /* (V) copy for selection */
    cand *sorted;  /* (V) candidates for top-p */
    unsigned char *keep;
};

int sampler_params_check(const sampler_params *p) {
    if (!(p->temperature >= 0) || !isfinite(p->temperature))
        return err_set("sampling temperature must be >= 0 and finite, got %g", p->temperature);
    if (p->top_k < 0) return err_set("sampling top_k must be >= 0 (0 = off), got %lld", (long long)p->top_k);
    if (!(p->top_p > 0 && p->top_p <= 1))
        return err_set("sampling top_p must be in (0, 1] (1 = off), got %g", p->top_p);
    if (!(p->min_p >= 0 && p->min_p < 1))
        return err_set("sampling min_p must be in [0, 1) (0 = off), got %g", p->min_p);
    return 0;
}

sampler_scratch *sampler_scratch_init(int64_t V) {
    sampler_scratch *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->V = V;
    s->p = malloc(sizeof(double) * (size_t)V);
    s->sel = malloc(sizeof(double) * (size_t)V);
    s->sorted = malloc(sizeof(cand) * (size_t)V);
    s->keep = malloc((size_t)V);
    if (!s->p || !s->sel || !s->sorted || !s->keep) {
        sampler_scratch_free(s);
        err_set("out of memory for a sampler over %lld tokens", (long long)V);
        return NULL;
    }
    return s;
}

void sampler_scratch_free(sampler_scratch *s) {
    if (!s) return;
    free(s->p);
    free(s->sel);
    free(s->sorted);
    free(s->keep);
    free(s);
}

/* The k-th largest (1-based) of a[0..n), reordering a (Hoare quickselect). */
static double kth_largest(double *a, int64_t n, int64_t k) {
    int64_t lo = 0, hi = n - 1, want = k - 1;
    while (lo < hi) {
        double pivot = a[lo + (hi - lo) / 2];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (a[i] > pivot) i++;
            while (a[j] < pivot) j--;
            if (i <= j) {
                double t = a[i];
                a[i] = a[j];
                a[j] = t;
                i++;
                j--;
            }
        }
        if (want <= j) hi = j;
        else if (want >= i) lo = i;
        else return a[want];
    }
    return a[want];
}

static int cand_desc(const void *x, const void *y) {
    const cand *a = x, *b = y;
    if (a->p != b->p) return a->p > b->p ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

int32_t sampler_pick(sampler_scratch *s, const float *logits, int64_t V, const sampler_params *p,
                     double u, double *logprob) {
    int32_t best = 0;
    for (int64_t i = 1; i < V; i++)
        if (logits[i] > logits[best]) best = (int32_t)i;
    float m1 = logits[best];
    double z1 = 0;
    int32_t tok = best;
    if (p->temperature == 1) { /* the sampling weights are the temperature-1 ones: one pass */
        for (int64_t i = 0; i < V; i++) z1 += s->p[i] = expf(logits[i] - m1);
    } else {
        for (int64_t i = 0; i < V; i++) z1 += expf(logits[i] - m1);
    }
    double log_z = m1 + log(z1);
    if (p->temperature > 0) {
        double inv_t = 1.0 / p->temperature, total = 0;
        for (int64_t i = 0; i < V; i++) {
            if (p->temperature != 1) s->p[i] = exp(((double)logits[i] - m1) * inv_t); /* top token has 1 */
            s->keep[i] = 1;
        }
        if (p->top_k > 0 && p->top_k < V) {
            memcpy(s->sel, s->p, sizeof(double) * (size_t)V);
            double kth = kth_largest(s->sel, V, p->top_k);
            for (int64_t i = 0; i < V; i++) s->keep[i] = s->p[i] >= kth;
        }
        if (p->top_p < 1) {
            int64_t n = 0;
            double mass = 0;
            for (int64_t i = 0; i < V; i++)
                if (s->keep[i]) {
                    s->sorted[n++] = (cand){s->p[i], (int32_t)i};
                    mass += s->p[i];
                }
            qsort(s->sorted, (size_t)n, sizeof(cand), cand_desc);
            double cum = 0;
            for (int64_t j = 0; j < n; j++) {
                if (cum >= p->top_p * mass) s->keep[s->sorted[j].id] = 0;
                cum += s->sorted[j].p;
            }
        }
        for (int64_t i = 0; i < V; i++) {
            if (s->keep[i] && s->p[i] < p->min_p) s->keep[i] = 0; /* min_p x top probability (1) */
            if (s->keep[i]) total += s->p[i];
        }
        double target = u * total, acc = 0;
        tok = -1;
        for (int64_t i = 0; i < V; i++) {
            if (!s->keep[i]) continue;
            acc += s->p[i];
            tok = (int32_t)i;
            if (acc > target) break;
        }
    }
    *logprob = (double)logits[tok] - log_z;
    return tok;
}
