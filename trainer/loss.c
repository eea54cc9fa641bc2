/* loss — clipped surrogate, KL, entropy and step-global aggregation. See loss.h.
 * The mask and the aggregation weights are built on the host in double from the global counts
 * (one transfer per micro-batch); the per-token terms are tensor ops, so autograd differentiates
 * them. Deliberately not here: hand-written backward passes, the trl `delta` cap, verl's
 * straight-through "k3+" estimators. */
#include "trainer/loss.h"

#include "common/err.h"
#include "common/mem.h"
#include "trainer/adv.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int loss_opts_check(const loss_opts *o) {
    if (!o) return err_set("loss options: NULL");
    if (!(o->eps_low >= 0 && o->eps_low < 1) || !(o->eps_high >= 0))
        return err_set("algo.clip.eps_low/eps_high: expected eps_low in [0,1) and eps_high >= 0, "
                       "got %g, %g", o->eps_low, o->eps_high);
    if (!(o->dual_clip == 0 || o->dual_clip > 1))
        return err_set("algo.clip.dual: expected 0 (off) or a value > 1, got %g", o->dual_clip);
    if (!(o->log_ratio_clamp > 0))
        return err_set("algo.clip.log_ratio: expected > 0, got %g", o->log_ratio_clamp);
    if (o->agg <= LOSS_AGG_AUTO || o->agg > LOSS_AGG_DEGRPO)
        return err_set("algo.aggregation: unresolved or unknown mode %d", (int)o->agg);
    if (o->agg == LOSS_AGG_CONSTANT && o->constant_divisor < 1)
        return err_set("algo.constant_divisor: expected >= 1, got %lld", (long long)o->constant_divisor);
    if (o->kl_type < LOSS_KL_K1 || o->kl_type > LOSS_KL_ABS)
        return err_set("algo.kl.type: unknown estimator %d", (int)o->kl_type);
    if (o->ratio_level != LOSS_RATIO_TOKEN && o->ratio_level != LOSS_RATIO_SEQUENCE)
        return err_set("algo.ratio_level: unknown level %d", (int)o->ratio_level);
    if (!(o->kl_coef >= 0) || !(o->entropy_coef >= 0) || !(o->degrpo_alpha >= 0))
        return err_set("algo.kl.coef, algo.entropy_coef, algo.degrpo.alpha: expected >= 0");
    if (!(o->tis_cap == 0 || o->tis_cap >= 1))
        return err_set("algo.tis_cap: expected 0 (off) or a cap >= 1, got %g", o->tis_cap);
    return 0;
}

const cfg_choice loss_agg_choices[] = {{"auto", LOSS_AGG_AUTO},
                                       {"seq_mean_token_mean", LOSS_AGG_SEQ_MEAN_TOKEN_MEAN},
                                       {"token_mean", LOSS_AGG_TOKEN_MEAN},
                                       {"constant", LOSS_AGG_CONSTANT},
                                       {"seq_mean_token_sum", LOSS_AGG_SEQ_MEAN_TOKEN_SUM},
                                       {"degrpo", LOSS_AGG_DEGRPO},
                                       {NULL, 0}};
const cfg_choice loss_kl_choices[] = {
    {"k1", LOSS_KL_K1}, {"k2", LOSS_KL_K2}, {"k3", LOSS_KL_K3}, {"abs", LOSS_KL_ABS}, {NULL, 0}};
const cfg_choice loss_ratio_level_choices[] = {
    {"token", LOSS_RATIO_TOKEN}, {"sequence", LOSS_RATIO_SEQUENCE}, {NULL, 0}};
const cfg_choice loss_resp_norm_choices[] = {{"batch", 0}, {"sample", 1}, {NULL, 0}};

int loss_opts_from_cfg(const rlvr_config *c, loss_opts *o) {
    if (!c || !o) return err_set("loss_opts_from_cfg: NULL argument");
    const cfg_algo *a = &c->algo;
    memset(o, 0, sizeof *o);
    int agg, kl, level, per_sample, estimator;
    if (cfg_choice_value(c, "algo.aggregation", loss_agg_choices, &agg) ||
        cfg_choice_value(c, "algo.kl.type", loss_kl_choices, &kl) ||
        cfg_choice_value(c, "algo.ratio_level", loss_ratio_level_choices, &level) ||
        cfg_choice_value(c, "algo.degrpo.resp_norm", loss_resp_norm_choices, &per_sample) ||
        cfg_choice_value(c, "algo.estimator", adv_estimator_choices, &estimator))
        return -1;
    o->eps_low = a->clip.eps_low;
    o->eps_high = a->clip.eps_high;
    o->dual_clip = a->clip.dual;
    o->log_ratio_clamp = a->clip.log_ratio;
    o->ratio_level = (loss_ratio_level)level;
    o->agg = (loss_agg)agg;
    if (o->agg == LOSS_AGG_AUTO)
        o->agg = estimator == ADV_DRGRPO   ? LOSS_AGG_CONSTANT
                 : estimator == ADV_DEGRPO ? LOSS_AGG_DEGRPO
                                           : LOSS_AGG_TOKEN_MEAN;
    o->constant_divisor = a->constant_divisor;
    o->degrpo_alpha = a->degrpo.alpha;
    o->degrpo_per_sample = per_sample;
    o->kl_coef = a->kl.coef;
    o->kl_type = (loss_kl)kl;
    o->entropy_coef = a->entropy_coef;
    o->mask_truncated = a->mask_truncated;
    o->tis_cap = a->tis_cap;
    return loss_opts_check(o);
}

/* Shapes and required inputs; *n and *t get the batch dimensions. */
/* Shapes agree; with for_loss, the tensors the loss terms read are present (counting needs only
 * the mask and the row flags). */
static int check_batch(const loss_opts *o, const loss_batch *b, int64_t *n, int64_t *t, int for_loss) {
    char d1[96], d2[96];
    if (!o || !b || !b->logp || !b->mask) return err_set("loss: NULL options, logp or mask");
    if (ts_ndim(b->logp) != 2)
        return err_set("loss: logp is %s, expected (n, T)", ts_describe(b->logp, d1, sizeof d1));
    *n = ts_size(b->logp, 0);
    *t = ts_size(b->logp, 1);
    const ts_tensor *same[] = {b->old_logp, b->ref_logp, b->entropy, b->mask, b->sampler_logp};
    const char *names[] = {"old_logp", "ref_logp", "entropy", "mask", "sampler_logp"};
    for (int k = 0; k < 5; k++) {
        if (same[k] && (ts_ndim(same[k]) != 2 || ts_size(same[k], 0) != *n || ts_size(same[k], 1) != *t))
            return err_set("loss: %s is %s, expected the shape of logp %s", names[k],
                           ts_describe(same[k], d1, sizeof d1), ts_describe(b->logp, d2, sizeof d2));
    }
    if (for_loss && o->kl_coef != 0 && !b->ref_logp)
        return err_set("loss: algo.kl.coef is %g but no reference log-probs were given", o->kl_coef);
    if (for_loss && o->entropy_coef != 0 && !b->entropy)
        return err_set("loss: algo.entropy_coef is %g but no entropies were given", o->entropy_coef);
    if (for_loss && o->tis_cap != 0 && (!b->sampler_logp || !b->old_logp))
        return err_set("loss: algo.tis_cap is %g but the sampler's or the old log-probs were not given", o->tis_cap);
    if (*n > 0 && !b->adv) return err_set("loss: no advantages");
    return 0;
}

/* The effective 0/1 loss mask on the host: (n*T) doubles, mask != 0, times the row's keep flag,
 * times not-truncated when truncated rows are masked. Caller frees. */
static double *host_mask(const loss_opts *o, const loss_batch *b, int64_t n, int64_t t) {
    size_t len = (size_t)(n * t);
    double *m = mem_alloc(sizeof *m * len);
    ts_tensor *d = ts_to_dtype(b->mask, TS_F64);
    int rc = d ? ts_to_host(d, m, sizeof *m * len) : -1;
    ts_free(d);
    if (rc) {
        free(m);
        return NULL;
    }
    for (int64_t i = 0; i < n; i++) {
        int row = (!b->keep || b->keep[i]) && !(o->mask_truncated && b->truncated && b->truncated[i]);
        for (int64_t j = 0; j < t; j++) m[i * t + j] = row && m[i * t + j] != 0;
    }
    return m;
}

/* The control token's position in row i (ctrl_pos, else 0), or -1 when the row has none. */
static int64_t ctrl_at(const loss_batch *b, int64_t i, int64_t t) {
    int64_t p = b->ctrl_pos ? b->ctrl_pos[i] : 0;
    return p >= 0 && p < t ? p : -1;
}

/* The loss mask at row i's control token: 1 when it is a loss token. */
static double ctrl_mask(const loss_batch *b, const double *m, int64_t i, int64_t t) {
    int64_t p = ctrl_at(b, i, t);
    return p < 0 ? 0 : m[i * t + p];
}

int loss_count(const loss_opts *o, const loss_batch *b, loss_counts *acc) {
    int64_t n, t;
    if (!acc) return err_set("loss_count: NULL counts");
    if (check_batch(o, b, &n, &t, 0)) return -1;
    double *m = host_mask(o, b, n, t);
    if (!m) return -1;
    for (int64_t i = 0; i < n; i++) {
        double row = 0, ctrl = ctrl_mask(b, m, i, t);
        for (int64_t j = 0; j < t; j++) row += m[i * t + j];
        acc->seqs += !b->keep || b->keep[i];
        acc->seqs_nonempty += row > 0;
        acc->tokens += row;
        acc->ctrl_tokens += ctrl;
        acc->resp_tokens += row - ctrl;
        acc->resp_seqs += row - ctrl > 0;
    }
    free(m);
    return 0;
}

static double inv(double x) { return x > 0 ? 1 / x : 0; }

/* Aggregation weights (section 1.3) times the mask, for the policy term (pg) and for KL and
 * entropy (aux), on the host. */
static void weights(const loss_opts *o, const loss_batch *b, const loss_counts *c, const double *m,
                    int64_t n, int64_t t, double *pg, double *aux) {
    for (int64_t i = 0; i < n; i++) {
        const double *mi = m + i * t;
        double row = 0;
        for (int64_t j = 0; j < t; j++) row += mi[j];
        double resp = row - ctrl_mask(b, m, i, t);
        int64_t ctrl = ctrl_at(b, i, t);
        for (int64_t j = 0; j < t; j++) {
            double w;
            switch (o->agg) {
            case LOSS_AGG_SEQ_MEAN_TOKEN_MEAN: w = inv(c->seqs_nonempty * row); break;
            case LOSS_AGG_TOKEN_MEAN: w = inv(c->tokens); break;
            case LOSS_AGG_CONSTANT: w = inv(c->seqs * (double)o->constant_divisor); break;
            case LOSS_AGG_SEQ_MEAN_TOKEN_SUM: w = inv(c->seqs_nonempty); break;
            default: /* DeGRPO */
                if (j == ctrl) w = o->degrpo_alpha * inv(c->ctrl_tokens);
                else if (o->degrpo_per_sample) w = inv(c->resp_seqs * resp);
                else w = inv(c->resp_tokens);
            }
            pg[i * t + j] = w * mi[j];
            aux[i * t + j] = (o->agg == LOSS_AGG_DEGRPO ? inv(c->tokens) : w) * mi[j];
        }
    }
}

/* A host double array as a tensor of logp's dtype and device. */
static ts_tensor *like(const double *v, int64_t n, int64_t t, int ndim, const ts_tensor *logp) {
    int64_t shape[2] = {n, t};
    return ts_to_dtype(ts_from_host(v, shape, ndim, TS_F64, ts_get_device(logp)), ts_get_dtype(logp));
}

/* The truncated importance weights of section "Old log-probs" (docs/ALGORITHMS-IMPL.md): *raw =
 * exp(old - sampler), the log-ratio clamped as the policy ratio's, and the result min(raw, cap);
 * constants to autograd. */
static ts_tensor *tis_weights(const loss_opts *o, const loss_batch *b, ts_tensor **raw) {
    ts_no_grad_begin();
    ts_tensor *d = ts_sub(ts_detach(b->old_logp), b->sampler_logp);
    *raw = ts_exp(ts_clamp(d, -o->log_ratio_clamp, o->log_ratio_clamp));
    ts_tensor *w = ts_clamp_max(*raw, o->tis_cap);
    ts_no_grad_end();
    return w;
}

static ts_tensor *kl_estimate(const loss_opts *o, const ts_tensor *logp, const ts_tensor *ref) {
    ts_tensor *d = ts_sub(logp, ref);
    switch (o->kl_type) {
    case LOSS_KL_K1: return d;
    case LOSS_KL_K2: return ts_mul_scalar(ts_mul(d, d), 0.5);
    case LOSS_KL_ABS: return ts_abs(d);
    default: { /* k3 = exp(-d) + d - 1 = expm1(-d) + d, d clamped (section 1.4) */
        ts_tensor *dc = ts_clamp(d, -o->log_ratio_clamp, o->log_ratio_clamp);
        return ts_add(ts_expm1(ts_neg(dc)), dc);
    }
    }
}

/* Token fraction of the bool tensor cond (n, T) or (n, 1) under the mask, over the step. */
static ts_tensor *frac(const ts_tensor *cond, const ts_tensor *mask, double inv_tokens) {
    return ts_mul_scalar(ts_sum(ts_mul(ts_to_dtype(cond, ts_get_dtype(mask)), mask)), inv_tokens);
}

/* The per-token terms of a micro-batch's loss that its metrics read. */
typedef struct loss_terms {
    const ts_tensor *mask, *a, *r, *s, *pg, *kl, *klsum, *hsum;
    const ts_tensor *tis_raw; /* NULL without TIS */
} loss_terms;

/* The metrics, without gradient, added to *m. */
static int add_metrics(const loss_opts *o, const loss_batch *b, const loss_counts *c, const loss_terms *x,
                       loss_metrics *m) {
    double it = inv(c->tokens);
    const ts_tensor *mask = x->mask, *a = x->a, *r = x->r, *s = x->s, *kl = x->kl;
    ts_no_grad_begin();
    ts_tensor *neg = ts_lt_scalar(a, 0), *pos = ts_gt_scalar(a, 0);
    ts_tensor *zero = ts_zeros((int64_t[]){1}, 1, ts_get_dtype(mask), ts_get_device(mask));
    const ts_tensor *raw = x->tis_raw;
    ts_tensor *vals[12] = {
        ts_reshape(x->pg, (int64_t[]){1}, 1),
        x->klsum ? ts_reshape(x->klsum, (int64_t[]){1}, 1) : zero,
        x->hsum ? ts_reshape(x->hsum, (int64_t[]){1}, 1) : zero,
        frac(ts_logical_and(neg, ts_lt_scalar(r, 1 - o->eps_low)), mask, it),
        frac(ts_logical_and(pos, ts_gt_scalar(r, 1 + o->eps_high)), mask, it),
        o->dual_clip > 0 ? frac(ts_logical_and(neg, ts_lt(ts_mul_scalar(ts_neg(a), o->dual_clip), s)), mask, it) : zero,
        ts_mul_scalar(ts_sum(ts_mul(r, mask)), it),
        kl ? ts_mul_scalar(ts_sum(ts_mul(kl, mask)), it) : zero,
        b->entropy ? ts_mul_scalar(ts_sum(ts_mul(ts_detach(b->entropy), mask)), it) : zero,
        raw ? ts_mul_scalar(ts_sum(ts_mul(ts_clamp_max(raw, o->tis_cap), mask)), it) : zero,
        raw ? frac(ts_gt_scalar(raw, o->tis_cap), mask, it) : zero,
        raw ? ts_max(ts_mul(raw, mask)) : zero, /* weights are > 0, so masked ones (0) never win */
    };
    for (int k = 0; k < 12; k++) vals[k] = ts_reshape(vals[k], (int64_t[]){1}, 1);
    double out[12];
    ts_tensor *all = ts_to_dtype(ts_cat(vals, 12, 0), TS_F64);
    ts_no_grad_end();
    if (!all || ts_to_host(all, out, sizeof out)) return -1;
    m->pg_loss += out[0];
    m->kl_loss += out[1];
    m->entropy_loss += out[2];
    m->clip_low += out[3];
    m->clip_high += out[4];
    m->clip_dual += out[5];
    m->ratio_mean += out[6];
    m->kl_mean += out[7];
    m->entropy_mean += out[8];
    m->tis_mean += out[9];
    m->tis_capped += out[10];
    if (out[11] > m->tis_max) m->tis_max = out[11];
    return 0;
}

/* The loss inside a scope opened by loss_compute; returns the total (kept by the caller). */
static ts_tensor *compute(const loss_opts *o, const loss_batch *b, const loss_counts *c,
                          const double *mh, const double *wpg, const double *waux, int64_t n,
                          int64_t t, loss_metrics *m) {
    ts_tensor *mask = like(mh, n, t, 2, b->logp);
    ts_tensor *w_pg = like(wpg, n, t, 2, b->logp), *w_aux = like(waux, n, t, 2, b->logp);
    ts_tensor *a = like(b->adv, n, 1, 2, b->logp); /* (n, 1) */
    ts_tensor *old = b->old_logp ? ts_alias(b->old_logp) : ts_detach(b->logp);
    ts_tensor *rho = ts_sub(b->logp, old);
    if (o->ratio_level == LOSS_RATIO_SEQUENCE) /* GSPO: mean token log-ratio per row, (n, 1) */
        rho = ts_div(ts_sum_dim(ts_mul(rho, mask), 1, 1), ts_clamp_min(ts_sum_dim(mask, 1, 1), 1));
    ts_tensor *r = ts_exp(ts_clamp(rho, -o->log_ratio_clamp, o->log_ratio_clamp));
    /* l = max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high)) (section 1.1a) */
    ts_tensor *neg_a = ts_neg(a);
    ts_tensor *s = ts_maximum(ts_mul(neg_a, r), ts_mul(neg_a, ts_clamp(r, 1 - o->eps_low, 1 + o->eps_high)));
    ts_tensor *l = s, *tis_raw = NULL;
    if (o->dual_clip > 0) /* A < 0: min(l, -A c) (section 1.1b) */
        l = ts_where(ts_lt_scalar(a, 0), ts_minimum(s, ts_mul_scalar(neg_a, o->dual_clip)), s);
    if (o->tis_cap > 0) l = ts_mul(l, tis_weights(o, b, &tis_raw));
    ts_tensor *pg = ts_sum(ts_mul(w_pg, l));
    ts_tensor *total = pg, *kl = NULL, *klsum = NULL, *hsum = NULL;
    if (b->ref_logp) {
        kl = kl_estimate(o, b->logp, b->ref_logp);
        klsum = ts_sum(ts_mul(w_aux, kl));
        if (o->kl_coef != 0) total = ts_add(total, ts_mul_scalar(klsum, o->kl_coef));
    }
    if (b->entropy) {
        hsum = ts_sum(ts_mul(w_aux, b->entropy));
        if (o->entropy_coef != 0) total = ts_sub(total, ts_mul_scalar(hsum, o->entropy_coef));
    }
    if (!total) return NULL;
    loss_terms x = {.mask = mask, .a = a, .r = r, .s = s, .pg = pg, .kl = kl, .klsum = klsum, .hsum = hsum,
                    .tis_raw = tis_raw};
    if (m && add_metrics(o, b, c, &x, m)) return NULL;
    return total;
}

ts_tensor *loss_compute(const loss_opts *o, const loss_batch *b, const loss_counts *counts,
                        loss_metrics *m) {
    int64_t n, t;
    if (!counts) {
        err_set("loss_compute: NULL counts (call loss_count over the whole step first)");
        return NULL;
    }
    if (loss_opts_check(o) || check_batch(o, b, &n, &t, 1)) return NULL;
    if (n * t == 0) /* nothing to learn from, but still part of the graph for backward */
        return ts_mul_scalar(ts_sum(b->logp), 0);
    size_t len = (size_t)(n * t);
    double *mh = host_mask(o, b, n, t);
    if (!mh) return NULL;
    double *wpg = mem_alloc(sizeof *wpg * len), *waux = mem_alloc(sizeof *waux * len);
    weights(o, b, counts, mh, n, t, wpg, waux);
    ts_scope_begin();
    ts_tensor *total = ts_keep(compute(o, b, counts, mh, wpg, waux, n, t, m));
    ts_scope_end();
    if (!total) err_prefix("loss_compute");
    free(mh);
    free(wpg);
    free(waux);
    return total;
}
