/* sampler — one token per row of a batch of logits, with tensor ops on the logits' device; see
 * rollout.h. Filters follow the order and tie rules of Hugging Face's logits warpers (temperature,
 * top-k keeping ties with the k-th value, top-p keeping the most likely tokens until their mass
 * reaches top_p, min-p relative to the top probability). Without filters the draw runs over the
 * vocabulary in id order (ts_sample_inverse_cdf); with any, over the kept candidates ordered by
 * probability, highest first, ties by id. Only the chosen ids and their log-probs leave the
 * device, and that is the caller's copy. */
#include "rollout.h"

#include "common/err.h"
#include "common/rng.h"

#include <math.h>

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

int64_t sampler_row_key(uint64_t seed, uint64_t step, uint64_t prompt_key, uint64_t index) {
    uint32_t w[4];
    rng_philox(seed, step ^ (prompt_key * 0x9E3779B97F4A7C15ull), index, w);
    return (int64_t)(((uint64_t)w[0] << 32) | w[1]);
}

/* The candidates of the filters, in the current scope: *vals (R, C) their logits, -inf where a
 * filter dropped one, in id order, or by value (highest first, ties by id) when top_p is on;
 * *idx (R, C) i64 their ids, NULL when the candidates are ids 0..n-1 in order. */
static int filter(const ts_tensor *logits, int64_t n, const sampler_params *p, ts_tensor **vals, ts_tensor **idx) {
    ts_tensor *x = ts_narrow(logits, 1, 0, n), *v = x, *ix = NULL;
    if (p->top_k > 0 && p->top_k < n) { /* the k-th value, then every id that reaches it */
        ts_tensor *kv, *ki, *cv, *ci;
        int64_t count;
        TS_CHECK(ts_topk(x, p->top_k, 1, 1, &kv, &ki) == 0);
        ts_tensor *kth = ts_narrow(kv, 1, p->top_k - 1, 1);
        TS_CHECK(ts_item_i64(ts_max(ts_sum_dim(ts_ge(x, kth), 1, 0)), &count) == 0);
        TS_CHECK(ts_topk(x, count, 1, 1, &cv, &ci) == 0);
        ts_tensor *by_id, *order;
        TS_CHECK(ts_sort(ci, 1, 0, &by_id, &order) == 0); /* topk leaves ties in no set order */
        v = ts_masked_fill(ts_gather(cv, 1, order), ts_lt(ts_gather(cv, 1, order), kth), -INFINITY);
        ix = by_id;
    }
    if (p->top_p < 1) {
        ts_tensor *sv, *si;
        TS_CHECK(ts_sort(v, 1, 1, &sv, &si) == 0); /* stable: ties stay in id order */
        ix = ix ? ts_gather(ix, 1, si) : si;
        v = sv;
    }
    if (p->top_p < 1 || p->min_p > 0) {
        /* probabilities relative to the top one (1), at the sampling temperature */
        ts_tensor *w = ts_to_dtype(ts_exp(ts_div_scalar(ts_sub(v, ts_amax(v, 1, 1)), p->temperature)), TS_F64);
        ts_tensor *drop = ts_lt_scalar(w, p->min_p);
        if (p->top_p < 1) { /* drop a token once the mass before it reaches top_p of the kept mass */
            ts_tensor *before = ts_sub(ts_cumsum(w, 1), w);
            ts_tensor *mass = ts_mul_scalar(ts_sum_dim(w, 1, 1), p->top_p);
            drop = ts_logical_or(drop, ts_ge(before, mass));
        }
        v = ts_masked_fill(v, drop, -INFINITY);
    }
    int reordered = (p->top_k > 0 && p->top_k < n) || p->top_p < 1;
    *vals = v;
    *idx = ix;
    TS_CHECK(v && (ix || !reordered));
    return 0;
}

int sampler_sample(const ts_tensor *logits, int64_t n, const sampler_params *p, const ts_tensor *u,
                   double lp_temperature, ts_tensor **ids, ts_tensor **logprobs) {
    int filtered = p->temperature > 0 && ((p->top_k > 0 && p->top_k < n) || p->top_p < 1 || p->min_p > 0);
    if (!filtered) return ts_sample_inverse_cdf(logits, n, p->temperature, u, lp_temperature, ids, logprobs);
    ts_scope_begin();
    ts_tensor *vals = NULL, *idx = NULL, *pick = NULL, *unused = NULL, *tok = NULL, *lp = NULL;
    ts_tensor *x = ts_to_dtype(logits, TS_F32); /* the filters' sums in f32 at least, for bf16 models */
    if (filter(x, n, p, &vals, &idx) == 0 &&
        ts_sample_inverse_cdf(vals, ts_size(vals, 1), p->temperature, u, 1, &pick, &unused) == 0) {
        tok = idx ? ts_squeeze(ts_gather(idx, 1, ts_unsqueeze(pick, 1)), 1) : pick;
        ts_tensor *xs = ts_div_scalar(x, lp_temperature);
        lp = ts_sub(ts_squeeze(ts_gather(xs, 1, ts_unsqueeze(tok, 1)), 1), ts_logsumexp(xs, 1, 0));
    }
    *ids = tok ? ts_keep(tok) : NULL;
    *logprobs = lp ? ts_keep(lp) : NULL;
    ts_scope_end();
    TS_CHECK(*ids && *logprobs);
    return 0;
}

ts_tensor *sampler_repetition_penalty(const ts_tensor *logits, const ts_tensor *ids, double penalty) {
    ts_scope_begin();
    ts_tensor *seen = ts_gather(logits, 1, ids);
    ts_tensor *pen = ts_where(ts_lt_scalar(seen, 0), ts_mul_scalar(seen, penalty), ts_div_scalar(seen, penalty));
    ts_tensor *out = ts_keep(ts_scatter(logits, 1, ids, pen));
    ts_scope_end();
    return out;
}
