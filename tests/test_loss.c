/* test_loss — the policy loss against the vectors of docs/ALGORITHMS.md: clipped surrogate,
 * clip-higher and dual clip with their gradients (1.1), every aggregation mode (1.3), the KL
 * estimators and their gradients (1.4), the DeGRPO control-token weighting (5), PSR/NSR/W-REINFORCE
 * rows (6) and the edge cases of section 11 (empty rows, truncated rows, all-masked and empty
 * micro-batches, KL on zero-advantage tokens). Gradients of the clipped surrogate + dual clip + KL
 * + entropy are checked against central finite differences, and the loss, gradients and metrics
 * of a batch computed in one piece equal the sums over 2, 3 and uneven micro-batch splits within
 * 1e-12 in f64, for every aggregation mode and both ratio levels. On RLVR_TEST_DEVICE
 * (check_device.h). */
#include "check.h"
#include "check_device.h"

#include "common/cfg.h"
#include "common/err.h"
#include "common/io.h"
#include "tensor/ts.h"
#include "trainer/adv.h"
#include "trainer/loss.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static ts_device test_dev; /* RLVR_TEST_DEVICE */

static ts_tensor *mk(const double *v, int64_t n, int64_t t) {
    return check_from_host(v, (int64_t[]){n, t}, 2, TS_F64);
}

static loss_opts base_opts(loss_agg agg) {
    loss_opts o = {0};
    o.eps_low = 0.2;
    o.eps_high = 0.2;
    o.log_ratio_clamp = 20;
    o.agg = agg;
    o.constant_divisor = 8;
    o.degrpo_alpha = 0.001;
    o.kl_type = LOSS_KL_K3;
    return o;
}

static double item(const ts_tensor *t) {
    double v = NAN;
    if (!t || ts_item_f64(t, &v)) fprintf(stderr, "  item: %s\n", err_msg());
    return v;
}

/* Loss of one micro-batch that is the whole step. */
static double step_loss(const loss_opts *o, const loss_batch *b, loss_metrics *m) {
    loss_counts c = {0};
    if (loss_count(o, b, &c)) {
        fprintf(stderr, "  loss_count: %s\n", err_msg());
        return NAN;
    }
    return item(loss_compute(o, b, &c, m));
}

/* One token with ratio r and advantage a: the loss and d loss / d logp. */
static void one_token(const loss_opts *o, double r, double a, double *loss, double *grad) {
    ts_scope_begin();
    ts_tensor *lp = ts_unscope(mk((double[]){log(r)}, 1, 1));
    ts_set_requires_grad(lp, 1);
    loss_batch b = {.logp = lp, .old_logp = ts_zeros((int64_t[]){1, 1}, 2, TS_F64, test_dev),
                    .mask = ts_ones((int64_t[]){1, 1}, 2, TS_F64, test_dev), .adv = &a};
    loss_counts c = {0};
    loss_count(o, &b, &c);
    ts_tensor *l = loss_compute(o, &b, &c, NULL);
    *loss = item(l);
    *grad = NAN;
    if (l && ts_backward(l) == 0) *grad = item(ts_grad(lp));
    ts_scope_end();
    ts_free(lp);
}

static void test_clipped_surrogate_vectors(void) {
    loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
    o.eps_high = 0.28;
    struct { double r, a, loss, grad; } v[] = {
        {1.5, 1, -1.28, 0},   /* clipped high: no gradient */
        {1.5, -1, 1.5, 1.5},  /* upward clipping never binds for A < 0: grad -A r */
        {0.5, 1, -0.5, -0.5}, /* downward clipping never binds for A > 0 */
        {0.5, -1, 0.8, 0},    /* clipped low */
        {1.1, 1, -1.1, -1.1}, /* inside the interval */
        {1.0, 0.7, -0.7, -0.7}, /* on-policy: plain REINFORCE with a baseline */
    };
    for (int i = 0; i < LEN(v); i++) {
        double l, g;
        one_token(&o, v[i].r, v[i].a, &l, &g);
        CHECK_CLOSE(l, v[i].loss, 1e-12, 0);
        CHECK_CLOSE(g, v[i].grad, 1e-12, 0);
    }
    /* dual clip, eps 0.2, c = 3 */
    o = base_opts(LOSS_AGG_TOKEN_MEAN);
    o.dual_clip = 3;
    struct { double r, a, loss, grad; } d[] = {
        {5, -1, 3.0, 0}, {2, -1, 2.0, 2.0}, {5, 1, -1.2, 0}, {0.9, 1, -0.9, -0.9},
    };
    for (int i = 0; i < LEN(d); i++) {
        double l, g;
        one_token(&o, d[i].r, d[i].a, &l, &g);
        CHECK_CLOSE(l, d[i].loss, 1e-12, 0);
        CHECK_CLOSE(g, d[i].grad, 1e-12, 0);
    }
    /* the log-ratio clamp guards exp: log r = 50 acts as 20, with no gradient */
    o = base_opts(LOSS_AGG_TOKEN_MEAN);
    double l, g;
    one_token(&o, exp(50), -1, &l, &g);
    CHECK_CLOSE(l, exp(20), 0, 1e-12);
    CHECK(g == 0);
}

/* Per-token losses [1, 2] and [3, 4, 5, 6] (A = -1, on the unclipped branch: l = r). */
static double agg_vector(loss_opts o) {
    double lp[] = {log(1), log(2), 0, 0, log(3), log(4), log(5), log(6)};
    double mask[] = {1, 1, 0, 0, 1, 1, 1, 1}, adv[] = {-1, -1};
    ts_scope_begin();
    loss_batch b = {.logp = mk(lp, 2, 4), .old_logp = ts_zeros((int64_t[]){2, 4}, 2, TS_F64, test_dev),
                    .mask = mk(mask, 2, 4), .adv = adv};
    double v = step_loss(&o, &b, NULL);
    ts_scope_end();
    return v;
}

static void test_aggregation_vectors(void) {
    CHECK_CLOSE(agg_vector(base_opts(LOSS_AGG_SEQ_MEAN_TOKEN_MEAN)), 3.0, 1e-12, 0);
    CHECK_CLOSE(agg_vector(base_opts(LOSS_AGG_TOKEN_MEAN)), 3.5, 1e-12, 0);
    CHECK_CLOSE(agg_vector(base_opts(LOSS_AGG_CONSTANT)), 1.3125, 1e-12, 0);
    CHECK_CLOSE(agg_vector(base_opts(LOSS_AGG_SEQ_MEAN_TOKEN_SUM)), 10.5, 1e-12, 0);
    /* DeGRPO: 0.001 * mean(1, 3) + (2 + 4 + 5 + 6) / 4 */
    CHECK_CLOSE(agg_vector(base_opts(LOSS_AGG_DEGRPO)), 4.252, 1e-12, 0);
    /* the paper's per-sample response mean: 0.001 * 2 + (2 / 1 + 15 / 3) / 2 */
    loss_opts ps = base_opts(LOSS_AGG_DEGRPO);
    ps.degrpo_per_sample = 1;
    CHECK_CLOSE(agg_vector(ps), 3.502, 1e-12, 0);
}

/* KL alone (A = 0, coefficient 1, token mean) on d = logp - ref = {0.5, -0.3, 2, 1e-8}. */
static void kl_case(loss_kl type, double *val, double *grad) {
    loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
    o.kl_coef = 1;
    o.kl_type = type;
    double d[] = {0.5, -0.3, 2, 1e-8}, zero = 0;
    ts_scope_begin();
    ts_tensor *lp = ts_unscope(mk((double[]){-1, -1, -1, -1}, 1, 4));
    ts_set_requires_grad(lp, 1);
    ts_tensor *ref = ts_sub(ts_detach(lp), mk(d, 1, 4));
    loss_batch b = {.logp = lp, .ref_logp = ref, .mask = ts_ones((int64_t[]){1, 4}, 2, TS_F64, test_dev),
                    .adv = &zero};
    loss_counts c = {0};
    loss_count(&o, &b, &c);
    loss_metrics m = {0};
    ts_tensor *l = loss_compute(&o, &b, &c, &m);
    *val = item(l);
    CHECK_CLOSE(m.kl_mean, *val, 1e-15, 0);
    CHECK(ts_backward(l) == 0 && ts_to_host(ts_grad(lp), grad, 4 * sizeof(double)) == 0);
    ts_scope_end();
    ts_free(lp);
}

static void test_kl_estimators(void) {
    double d[] = {0.5, -0.3, 2, 1e-8}, v, g[4];
    kl_case(LOSS_KL_K1, &v, g);
    CHECK_CLOSE(v, (0.5 - 0.3 + 2 + 1e-8) / 4, 1e-15, 0);
    for (int i = 0; i < 4; i++) CHECK_CLOSE(g[i], 0.25, 1e-15, 0);
    kl_case(LOSS_KL_K2, &v, g);
    CHECK_CLOSE(v, (0.125 + 0.045 + 2 + 5e-17) / 4, 1e-15, 0);
    for (int i = 0; i < 4; i++) CHECK_CLOSE(g[i], d[i] / 4, 1e-15, 0);
    kl_case(LOSS_KL_ABS, &v, g);
    CHECK_CLOSE(v, (0.5 + 0.3 + 2 + 1e-8) / 4, 1e-15, 0);
    CHECK(g[0] == 0.25 && g[1] == -0.25 && g[2] == 0.25);
    kl_case(LOSS_KL_K3, &v, g);
    /* exp(-d) + d - 1 by hand: 0.1065306597, 0.0498588076, 1.1353352832, 5e-17 */
    double k3 = (exp(-0.5) - 0.5) + (exp(0.3) - 1.3) + (exp(-2) + 1) + 5e-17;
    CHECK_CLOSE(v, k3 / 4, 1e-15, 0);
    for (int i = 0; i < 4; i++) CHECK_CLOSE(g[i], (1 - exp(-d[i])) / 4, 1e-15, 0);
    /* near d = 0, expm1 keeps k3 = d^2/2 accurate; exp(-d) - 1 + d would give 0 or 1e-16 noise */
    loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
    o.kl_coef = 1;
    double zero = 0;
    ts_scope_begin();
    ts_tensor *lp = mk((double[]){1e-8}, 1, 1);
    loss_batch b = {.logp = lp, .ref_logp = ts_zeros((int64_t[]){1, 1}, 2, TS_F64, test_dev),
                    .mask = ts_ones((int64_t[]){1, 1}, 2, TS_F64, test_dev), .adv = &zero};
    CHECK_CLOSE(step_loss(&o, &b, NULL), 5e-17, 0, 1e-6);
    ts_scope_end();
}

static void test_entropy_bonus(void) {
    loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
    o.entropy_coef = 0.01;
    double zero = 0, h[] = {0.5, 1.5, 2.0};
    ts_scope_begin();
    ts_tensor *ent = ts_unscope(mk(h, 1, 3));
    ts_set_requires_grad(ent, 1);
    loss_batch b = {.logp = ts_zeros((int64_t[]){1, 3}, 2, TS_F64, test_dev), .entropy = ent,
                    .mask = mk((double[]){1, 1, 0}, 1, 3), .adv = &zero};
    loss_counts c = {0};
    loss_count(&o, &b, &c);
    loss_metrics m = {0};
    ts_tensor *l = loss_compute(&o, &b, &c, &m);
    CHECK_CLOSE(item(l), -0.01, 1e-15, 0); /* -c * mean(0.5, 1.5); the padded 2.0 is ignored */
    CHECK_CLOSE(m.entropy_mean, 1.0, 1e-15, 0);
    double g[3];
    CHECK(ts_backward(l) == 0 && ts_to_host(ts_grad(ent), g, sizeof g) == 0);
    CHECK(g[0] == -0.005 && g[1] == -0.005 && g[2] == 0);
    /* counting needs no entropies; the loss does, and says which setting wants them */
    loss_counts c2 = {0};
    CHECK(loss_count(&o, &(loss_batch){.logp = b.logp, .mask = b.mask, .adv = &zero}, &c2) == 0);
    CHECK(loss_compute(&o, &(loss_batch){.logp = b.logp, .mask = b.mask, .adv = &zero}, &c2, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "algo.entropy_coef");
    ts_scope_end();
    ts_free(ent);
}

/* Gradient of a (2, T) batch, rows of lengths 2 and 6, advantages +1 / -1, on-policy. */
static void control_grads(loss_agg agg, double *g0, double *g1) {
    loss_opts o = base_opts(agg);
    double mask[] = {1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}, adv[] = {1, -1}, g[12];
    ts_scope_begin();
    ts_tensor *lp = ts_unscope(ts_full((int64_t[]){2, 6}, 2, -0.5, TS_F64, test_dev));
    ts_set_requires_grad(lp, 1);
    loss_batch b = {.logp = lp, .mask = mk(mask, 2, 6), .adv = adv};
    loss_counts c = {0};
    loss_count(&o, &b, &c);
    CHECK(ts_backward(loss_compute(&o, &b, &c, NULL)) == 0);
    ts_to_host(ts_grad(lp), g, sizeof g);
    *g0 = g[0];
    *g1 = g[6];
    CHECK(g[1] == (agg == LOSS_AGG_DEGRPO ? -1.0 / 6 : -1.0 / 4)); /* response token of row 0 */
    ts_scope_end();
    ts_free(lp);
}

static void test_degrpo_control_token(void) {
    /* section 5: per-sequence means weight the control token 1/(B T_i), so a short and a long
     * completion pull on the mode decision unequally; DeGRPO gives every control token alpha/B */
    double a, b;
    control_grads(LOSS_AGG_SEQ_MEAN_TOKEN_MEAN, &a, &b);
    CHECK_CLOSE(a, -1.0 / 4, 1e-15, 0);
    CHECK_CLOSE(b, 1.0 / 12, 1e-15, 0);
    control_grads(LOSS_AGG_DEGRPO, &a, &b);
    CHECK_CLOSE(a, -0.001 / 2, 1e-15, 0);
    CHECK_CLOSE(b, 0.001 / 2, 1e-15, 0);
}

/* The control token is the one that opens the mode tag: after leading whitespace tokens it sits
 * at ctrl_pos, which gets the alpha / B_ctrl weight, and the whitespace joins the response term. */
static void test_degrpo_control_token_after_whitespace(void) {
    loss_opts o = base_opts(LOSS_AGG_DEGRPO);
    double mask[] = {1, 1, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1}, adv[] = {1, -1}, g[12];
    int32_t ctrl[] = {1, 2};
    ts_scope_begin();
    ts_tensor *lp = ts_unscope(ts_full((int64_t[]){2, 6}, 2, -0.5, TS_F64, test_dev));
    ts_set_requires_grad(lp, 1);
    loss_batch b = {.logp = lp, .mask = mk(mask, 2, 6), .adv = adv, .ctrl_pos = ctrl};
    loss_counts c = {0};
    CHECK(loss_count(&o, &b, &c) == 0);
    CHECK(c.ctrl_tokens == 2 && c.resp_tokens == 6 && c.resp_seqs == 2);
    CHECK(ts_backward(loss_compute(&o, &b, &c, NULL)) == 0);
    CHECK(ts_to_host(ts_grad(lp), g, sizeof g) == 0);
    CHECK_CLOSE(g[1], -0.001 / 2, 1e-15, 0); /* control tokens */
    CHECK_CLOSE(g[8], 0.001 / 2, 1e-15, 0);
    CHECK_CLOSE(g[0], -1.0 / 6, 1e-15, 0); /* the whitespace before them is response */
    CHECK_CLOSE(g[6], 1.0 / 6, 1e-15, 0);
    CHECK_CLOSE(g[9], 1.0 / 6, 1e-15, 0);
    /* a control position past the row's end (or on padding) leaves the row without one */
    int32_t none[] = {1, 9};
    b.ctrl_pos = none;
    loss_counts c2 = {0};
    CHECK(loss_count(&o, &b, &c2) == 0 && c2.ctrl_tokens == 1 && c2.resp_tokens == 7);
    ts_scope_end();
    ts_free(lp);
}

/* Rows: correct (2 tokens), wrong (3 tokens); estimator from adv_compute; on-policy token mean. */
static double signed_rows(adv_estimator e, double *grad_wrong_row) {
    adv_opts ao = {.estimator = e, .std_ddof = 1, .wreinforce_lambda = 0.1};
    double reward[] = {1, 0}, adv[2];
    unsigned char keep[2];
    CHECK(adv_compute(&ao, 1, 2, reward, NULL, adv, keep) == 0);
    loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
    ts_scope_begin();
    ts_tensor *lp = ts_unscope(ts_full((int64_t[]){2, 3}, 2, -1, TS_F64, test_dev));
    ts_set_requires_grad(lp, 1);
    loss_batch b = {.logp = lp, .mask = mk((double[]){1, 1, 0, 1, 1, 1}, 2, 3), .adv = adv, .keep = keep};
    loss_counts c = {0};
    loss_count(&o, &b, &c);
    ts_tensor *l = loss_compute(&o, &b, &c, NULL);
    double v = item(l), g[6];
    ts_backward(l);
    ts_to_host(ts_grad(lp), g, sizeof g);
    *grad_wrong_row = g[3];
    ts_scope_end();
    ts_free(lp);
    return v;
}

static void test_psr_nsr_rows(void) {
    double g;
    CHECK_CLOSE(signed_rows(ADV_PSR, &g), -1, 1e-15, 0); /* only the 2 correct tokens count */
    CHECK(g == 0);
    CHECK_CLOSE(signed_rows(ADV_NSR, &g), 1, 1e-15, 0);  /* only the 3 wrong tokens count */
    CHECK_CLOSE(g, 1.0 / 3, 1e-15, 0);
    CHECK_CLOSE(signed_rows(ADV_WREINFORCE, &g), (2 * -0.1 + 3 * 1.0) / 5, 1e-15, 0);
}

static void test_sequence_level_ratio(void) {
    /* GSPO: one ratio per row from the mean token log-ratio */
    loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
    o.ratio_level = LOSS_RATIO_SEQUENCE;
    o.eps_high = 0.28;
    double one = 1, g[3];
    ts_scope_begin();
    ts_tensor *lp = ts_unscope(mk((double[]){0.1, 0.3, 7}, 1, 3));
    ts_set_requires_grad(lp, 1);
    loss_batch b = {.logp = lp, .old_logp = ts_zeros((int64_t[]){1, 3}, 2, TS_F64, test_dev),
                    .mask = mk((double[]){1, 1, 0}, 1, 3), .adv = &one};
    loss_counts c = {0};
    loss_count(&o, &b, &c);
    loss_metrics m = {0};
    ts_tensor *l = loss_compute(&o, &b, &c, &m);
    CHECK_CLOSE(item(l), -exp(0.2), 1e-15, 0);
    CHECK_CLOSE(m.ratio_mean, exp(0.2), 1e-15, 0);
    CHECK(ts_backward(l) == 0 && ts_to_host(ts_grad(lp), g, sizeof g) == 0);
    /* the two tokens' weights sum to 1, so d/dlp_t = -exp(mean log-ratio) / 2 */
    CHECK_CLOSE(g[0], -exp(0.2) / 2, 1e-15, 0);
    CHECK_CLOSE(g[1], -exp(0.2) / 2, 1e-15, 0);
    CHECK(g[2] == 0);
    /* a sequence ratio above 1 + eps_high with A > 0 is clipped as a whole */
    b.logp = mk((double[]){0.5, 0.5, 0}, 1, 3);
    CHECK_CLOSE(step_loss(&o, &b, &m), -1.28, 1e-15, 0);
    ts_scope_end();
    ts_free(lp);
}

/* Rows [1, 2] and an empty one (A = -1, r = per-token loss). */
static double empty_row_loss(loss_agg agg) {
    loss_opts o = base_opts(agg);
    o.constant_divisor = 4;
    double adv[] = {-1, -1};
    ts_scope_begin();
    loss_batch b = {.logp = mk((double[]){0, log(2), 0, 0}, 2, 2),
                    .old_logp = ts_zeros((int64_t[]){2, 2}, 2, TS_F64, test_dev),
                    .mask = mk((double[]){1, 1, 0, 0}, 2, 2), .adv = adv};
    double v = step_loss(&o, &b, NULL);
    ts_scope_end();
    return v;
}

static void test_edge_cases(void) {
    /* section 1.6/11: an empty row counts in B for the constant divisor, not for seq means */
    CHECK_CLOSE(empty_row_loss(LOSS_AGG_SEQ_MEAN_TOKEN_MEAN), 1.5, 1e-15, 0);
    CHECK_CLOSE(empty_row_loss(LOSS_AGG_SEQ_MEAN_TOKEN_SUM), 3, 1e-15, 0);
    CHECK_CLOSE(empty_row_loss(LOSS_AGG_CONSTANT), 3.0 / 8, 1e-15, 0);
    CHECK_CLOSE(empty_row_loss(LOSS_AGG_TOKEN_MEAN), 1.5, 1e-15, 0);

    /* truncated rows: masked out of the loss and N when mask_truncated, kept in B (constant) */
    loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
    double adv[] = {-1, -1};
    unsigned char trunc[] = {0, 1};
    ts_scope_begin();
    loss_batch b = {.logp = mk((double[]){0, log(2), log(3), log(5)}, 2, 2),
                    .old_logp = ts_zeros((int64_t[]){2, 2}, 2, TS_F64, test_dev),
                    .mask = ts_ones((int64_t[]){2, 2}, 2, TS_F64, test_dev), .adv = adv,
                    .truncated = trunc};
    CHECK_CLOSE(step_loss(&o, &b, NULL), (1 + 2 + 3 + 5) / 4.0, 1e-15, 0);
    o.mask_truncated = 1;
    CHECK_CLOSE(step_loss(&o, &b, NULL), 1.5, 1e-15, 0);
    loss_counts c = {0};
    CHECK(loss_count(&o, &b, &c) == 0);
    CHECK(c.seqs == 2 && c.seqs_nonempty == 1 && c.tokens == 2 && c.ctrl_tokens == 1 && c.resp_tokens == 1);
    o.agg = LOSS_AGG_CONSTANT;
    o.constant_divisor = 4;
    CHECK_CLOSE(step_loss(&o, &b, NULL), 3.0 / 8, 1e-15, 0);

    /* KL still acts on zero-advantage tokens (an all-equal group) */
    o = base_opts(LOSS_AGG_TOKEN_MEAN);
    o.kl_coef = 0.1;
    double zeros[] = {0, 0}, g[4];
    ts_tensor *lp = ts_unscope(mk((double[]){-1, -2, -1, -2}, 2, 2));
    ts_set_requires_grad(lp, 1);
    loss_batch k = {.logp = lp, .ref_logp = mk((double[]){-1.5, -2, -1, -1}, 2, 2),
                    .mask = ts_ones((int64_t[]){2, 2}, 2, TS_F64, test_dev), .adv = zeros};
    loss_counts kc = {0};
    loss_count(&o, &k, &kc);
    CHECK(ts_backward(loss_compute(&o, &k, &kc, NULL)) == 0);
    ts_to_host(ts_grad(lp), g, sizeof g);
    CHECK_CLOSE(g[0], 0.1 * (1 - exp(-0.5)) / 4, 1e-15, 0);
    CHECK(g[1] == 0 && g[2] == 0);
    CHECK_CLOSE(g[3], 0.1 * (1 - exp(1.0)) / 4, 1e-15, 0);
    ts_free(lp);

    /* every token masked: 0/0 := 0, a zero loss and zero gradient, never NaN */
    for (int agg = LOSS_AGG_SEQ_MEAN_TOKEN_MEAN; agg <= LOSS_AGG_DEGRPO; agg++) {
        loss_opts z = base_opts((loss_agg)agg);
        loss_batch e = {.logp = mk((double[]){-1, -1}, 1, 2), .mask = ts_zeros((int64_t[]){1, 2}, 2, TS_F64, test_dev),
                        .adv = adv};
        loss_metrics m = {0};
        CHECK(step_loss(&z, &e, &m) == 0 && m.ratio_mean == 0 && m.clip_low == 0);
    }
    /* an empty micro-batch (a rank with nothing left) still gives a loss backward accepts */
    ts_tensor *none = ts_unscope(ts_zeros((int64_t[]){0, 4}, 2, TS_F64, test_dev));
    ts_set_requires_grad(none, 1);
    loss_batch nb = {.logp = none, .mask = ts_zeros((int64_t[]){0, 4}, 2, TS_F64, test_dev)};
    loss_counts nc = {1, 1, 4, 1, 3, 1};
    o = base_opts(LOSS_AGG_TOKEN_MEAN);
    ts_tensor *nl = loss_compute(&o, &nb, &nc, NULL);
    CHECK(item(nl) == 0 && ts_backward(nl) == 0);
    ts_free(none);
    ts_scope_end();
}

/* ---- finite differences and micro-batch invariance on a (6, 5) batch ---- */

enum { N = 6, T = 5 };

typedef struct fixture {
    double lp[N * T], old[N * T], ref[N * T], ent[N * T], mask[N * T], adv[N];
    unsigned char keep[N], trunc[N];
} fixture;

static double uniform(uint64_t *s) {
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(*s >> 11) / 9007199254740992.0;
}

static void fixture_init(fixture *f) {
    uint64_t s = 42;
    int lens[N] = {5, 3, 0, 4, 1, 2};
    for (int i = 0; i < N; i++) {
        for (int t = 0; t < T; t++) {
            f->old[i * T + t] = -0.3 - 2 * uniform(&s);
            f->lp[i * T + t] = f->old[i * T + t] + 1.0 * (uniform(&s) - 0.5);
            f->ref[i * T + t] = f->old[i * T + t] + 0.4 * (uniform(&s) - 0.5);
            f->ent[i * T + t] = 0.2 + 2 * uniform(&s);
            f->mask[i * T + t] = t < lens[i];
        }
        f->adv[i] = 2 * uniform(&s) - 1;
        f->keep[i] = i != 4;
        f->trunc[i] = i == 3;
    }
}

static loss_opts full_opts(loss_agg agg, loss_ratio_level level) {
    loss_opts o = base_opts(agg);
    o.eps_high = 0.28;
    o.dual_clip = 1.15;
    o.ratio_level = level;
    o.kl_coef = 0.3;
    o.entropy_coef = 0.05;
    o.mask_truncated = 1;
    return o;
}

/* Loss and gradients (w.r.t. logp and entropy) of rows [0, N) split into micro-batches of the
 * given sizes; counts gathered over all micro-batches first, as the trainer must. */
static double split_loss(const loss_opts *o, const fixture *f, const int *sizes, int nsplit,
                         double *glp, double *gent, loss_metrics *m, loss_counts *c) {
    ts_scope_begin();
    ts_tensor *lp = ts_unscope(mk(f->lp, N, T)), *ent = ts_unscope(mk(f->ent, N, T));
    ts_set_requires_grad(lp, 1);
    ts_set_requires_grad(ent, 1);
    ts_tensor *old = mk(f->old, N, T), *ref = mk(f->ref, N, T), *mask = mk(f->mask, N, T);
    loss_batch mb[N];
    for (int k = 0, start = 0; k < nsplit; start += sizes[k], k++) {
        int len = sizes[k];
        mb[k] = (loss_batch){.logp = ts_narrow(lp, 0, start, len), .old_logp = ts_narrow(old, 0, start, len),
                             .ref_logp = ts_narrow(ref, 0, start, len), .entropy = ts_narrow(ent, 0, start, len),
                             .mask = ts_narrow(mask, 0, start, len), .adv = f->adv + start,
                             .keep = f->keep + start, .truncated = f->trunc + start};
        CHECK(loss_count(o, &mb[k], c) == 0);
    }
    double total = 0;
    for (int k = 0; k < nsplit; k++) {
        ts_tensor *l = loss_compute(o, &mb[k], c, m);
        total += item(l);
        CHECK(ts_backward(l) == 0);
    }
    ts_to_host(ts_grad(lp), glp, sizeof(double) * N * T);
    ts_to_host(ts_grad(ent), gent, sizeof(double) * N * T);
    ts_scope_end();
    ts_free(lp);
    ts_free(ent);
    return total;
}

static void test_finite_differences(void) {
    fixture f;
    fixture_init(&f);
    const loss_agg aggs[] = {LOSS_AGG_SEQ_MEAN_TOKEN_MEAN, LOSS_AGG_CONSTANT, LOSS_AGG_DEGRPO};
    for (int level = 0; level < 2; level++) {
        for (int a = 0; a < LEN(aggs); a++) {
            loss_opts o = full_opts(aggs[a], (loss_ratio_level)level);
            double glp[N * T], gent[N * T], worst = 0;
            loss_metrics m = {0};
            loss_counts c = {0};
            split_loss(&o, &f, (int[]){N}, 1, glp, gent, &m, &c);
            CHECK(m.clip_low + m.clip_high + m.clip_dual > 0); /* the kinks are exercised */
            for (int k = 0; k < N * T; k++) {
                const double h = 1e-6;
                double saved = f.lp[k], up, down;
                ts_scope_begin();
                f.lp[k] = saved + h;
                loss_batch b = {.logp = mk(f.lp, N, T), .old_logp = mk(f.old, N, T), .ref_logp = mk(f.ref, N, T),
                                .entropy = mk(f.ent, N, T), .mask = mk(f.mask, N, T), .adv = f.adv,
                                .keep = f.keep, .truncated = f.trunc};
                up = item(loss_compute(&o, &b, &c, NULL));
                f.lp[k] = saved - h;
                b.logp = mk(f.lp, N, T);
                down = item(loss_compute(&o, &b, &c, NULL));
                f.lp[k] = saved;
                ts_scope_end();
                worst = fmax(worst, fabs((up - down) / (2 * h) - glp[k]));
            }
            if (worst > 1e-7) fprintf(stderr, "  agg %d level %d: max |fd - autograd| = %g\n", aggs[a], level, worst);
            CHECK(worst <= 1e-7);
        }
    }
}

static double metrics_diff(const loss_metrics *a, const loss_metrics *b) {
    double d[] = {a->pg_loss - b->pg_loss,     a->kl_loss - b->kl_loss,
                  a->entropy_loss - b->entropy_loss, a->clip_low - b->clip_low,
                  a->clip_high - b->clip_high, a->clip_dual - b->clip_dual,
                  a->ratio_mean - b->ratio_mean, a->kl_mean - b->kl_mean,
                  a->entropy_mean - b->entropy_mean};
    double worst = 0;
    for (int k = 0; k < LEN(d); k++) worst = fmax(worst, fabs(d[k]));
    return worst;
}

static void test_micro_batch_invariance(void) {
    fixture f;
    fixture_init(&f);
    const int one[] = {6}, two[] = {3, 3}, three[] = {2, 2, 2}, uneven[] = {1, 2, 3};
    const int *splits[] = {two, three, uneven};
    const int nsplits[] = {2, 3, 3};
    for (int level = 0; level < 2; level++) {
        for (int agg = LOSS_AGG_SEQ_MEAN_TOKEN_MEAN; agg <= LOSS_AGG_DEGRPO + 1; agg++) {
            loss_opts o = full_opts(agg > LOSS_AGG_DEGRPO ? LOSS_AGG_DEGRPO : (loss_agg)agg,
                                    (loss_ratio_level)level);
            o.degrpo_per_sample = agg > LOSS_AGG_DEGRPO;
            double g1[N * T], e1[N * T];
            loss_metrics m1 = {0};
            loss_counts c1 = {0};
            double l1 = split_loss(&o, &f, one, 1, g1, e1, &m1, &c1);
            CHECK(isfinite(l1) && l1 != 0);
            for (int s = 0; s < 3; s++) {
                double g2[N * T], e2[N * T], worst = 0;
                loss_metrics m2 = {0};
                loss_counts c2 = {0};
                double l2 = split_loss(&o, &f, splits[s], nsplits[s], g2, e2, &m2, &c2);
                CHECK(memcmp(&c1, &c2, sizeof c1) == 0);
                worst = fabs(l1 - l2);
                for (int k = 0; k < N * T; k++) worst = fmax(worst, fmax(fabs(g1[k] - g2[k]), fabs(e1[k] - e2[k])));
                worst = fmax(worst, metrics_diff(&m1, &m2));
                if (worst > 1e-12) fprintf(stderr, "  agg %d level %d split %d: max diff %g\n", agg, level, s, worst);
                CHECK(worst <= 1e-12);
            }
        }
    }
}

static void test_config_and_errors(void) {
    rlvr_config c;
    CHECK(cfg_init(&c) == 0);
    loss_opts o;
    CHECK(loss_opts_from_cfg(&c, &o) == 0);
    CHECK(o.eps_low == 0.2 && o.eps_high == 0.2 && o.dual_clip == 0 && o.log_ratio_clamp == 20);
    CHECK(o.agg == LOSS_AGG_TOKEN_MEAN && o.ratio_level == LOSS_RATIO_TOKEN && o.constant_divisor == 512);
    CHECK(o.kl_coef == 0 && o.kl_type == LOSS_KL_K3 && o.entropy_coef == 0 && !o.mask_truncated);
    CHECK(o.degrpo_alpha == 0.001 && !o.degrpo_per_sample);
    CHECK(cfg_set(&c, "algo.estimator=drgrpo") == 0 && loss_opts_from_cfg(&c, &o) == 0);
    CHECK(o.agg == LOSS_AGG_CONSTANT);
    CHECK(cfg_set(&c, "algo.estimator=degrpo") == 0 && loss_opts_from_cfg(&c, &o) == 0);
    CHECK(o.agg == LOSS_AGG_DEGRPO);
    CHECK(cfg_set(&c, "algo.aggregation=seq_mean_token_mean") == 0 && loss_opts_from_cfg(&c, &o) == 0);
    CHECK(o.agg == LOSS_AGG_SEQ_MEAN_TOKEN_MEAN);
    CHECK(cfg_set(&c, "algo.clip.dual=0.5") == 0 && loss_opts_from_cfg(&c, &o) == -1);
    CHECK_CONTAINS(err_msg(), "algo.clip.dual");
    cfg_free(&c);

    o = base_opts(LOSS_AGG_TOKEN_MEAN);
    double adv[2] = {1, 1};
    loss_counts cnt = {0};
    ts_scope_begin();
    ts_tensor *lp = ts_zeros((int64_t[]){2, 3}, 2, TS_F32, test_dev);
    loss_batch bad = {.logp = lp, .mask = ts_ones((int64_t[]){2, 4}, 2, TS_F32, test_dev), .adv = adv};
    CHECK(loss_count(&o, &bad, &cnt) == -1);
    CHECK_CONTAINS(err_msg(), "mask is (2, 4)");
    bad.mask = ts_ones((int64_t[]){2, 3}, 2, TS_BOOL, test_dev);
    o.kl_coef = 0.1;
    CHECK(loss_compute(&o, &bad, &cnt, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "reference log-probs");
    o.kl_coef = 0;
    CHECK(loss_compute(&o, &bad, NULL, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "loss_count");
    bad.logp = ts_zeros((int64_t[]){6}, 1, TS_F32, test_dev);
    CHECK(loss_count(&o, &bad, &cnt) == -1);
    CHECK_CONTAINS(err_msg(), "expected (n, T)");
    /* f32 and a bool mask work, and the result keeps the dtype */
    bad.logp = lp;
    CHECK(loss_count(&o, &bad, &cnt) == 0 && cnt.tokens == 6);
    ts_tensor *l = loss_compute(&o, &bad, &cnt, NULL);
    CHECK(l && ts_get_dtype(l) == TS_F32 && item(l) == -1);
    o.agg = LOSS_AGG_AUTO;
    CHECK(loss_compute(&o, &bad, &cnt, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "algo.aggregation");
    ts_scope_end();
}

/* Truncated importance sampling, the vectors of docs/ALGORITHMS-IMPL.md ("Old log-probs"): one
 * token, A = 1, on-policy ratio (logp = old), old - sampler = log 3, log 1.5 and log 0.5, cap 2:
 * the weight is 2, 1.5 and 0.5, the loss -A r w and its gradient the same (r = 1). */
static void test_tis_vectors(void) {
    loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
    o.tis_cap = 2;
    const double gaps[3] = {log(3), log(1.5), log(0.5)}, want[3] = {2, 1.5, 0.5};
    for (int k = 0; k < 3; k++) {
        ts_scope_begin();
        double a = 1;
        ts_tensor *lp = ts_unscope(mk((double[]){-1.0}, 1, 1));
        ts_set_requires_grad(lp, 1);
        loss_batch b = {.logp = lp, .old_logp = mk((double[]){-1.0}, 1, 1),
                        .sampler_logp = mk((double[]){-1.0 - gaps[k]}, 1, 1),
                        .mask = ts_ones((int64_t[]){1, 1}, 2, TS_F64, test_dev), .adv = &a};
        loss_metrics m = {0};
        loss_counts c = {0};
        loss_count(&o, &b, &c);
        ts_tensor *l = loss_compute(&o, &b, &c, &m);
        CHECK_CLOSE(item(l), -want[k], 1e-12, 0);
        CHECK(l && ts_backward(l) == 0);
        CHECK_CLOSE(item(ts_grad(lp)), -want[k], 1e-12, 0);
        CHECK_CLOSE(m.tis_mean, want[k], 1e-12, 0);
        CHECK_CLOSE(m.tis_max, exp(gaps[k]), 1e-12, 0);
        CHECK(m.tis_capped == (k == 0));
        ts_scope_end();
        ts_free(lp);
    }
    /* TIS needs the sampler's log-probs */
    ts_scope_begin();
    double a = 1;
    loss_batch b = {.logp = mk((double[]){-1.0}, 1, 1), .old_logp = mk((double[]){-1.0}, 1, 1),
                    .mask = ts_ones((int64_t[]){1, 1}, 2, TS_F64, test_dev), .adv = &a};
    loss_counts c = {.tokens = 1, .seqs = 1, .seqs_nonempty = 1};
    CHECK(loss_compute(&o, &b, &c, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "algo.tis_cap is 2 but the sampler's");
    o.tis_cap = 0.5;
    CHECK(loss_opts_check(&o) == -1);
    CHECK_CONTAINS(err_msg(), "algo.tis_cap: expected 0 (off) or a cap >= 1");
    ts_scope_end();
}

static ts_tensor *json_tensor(const cJSON *c, const char *key, int64_t n, int64_t t) {
    const cJSON *a = cJSON_GetObjectItem(c, key);
    int len = cJSON_GetArraySize(a);
    double *v = malloc(sizeof *v * (size_t)len);
    for (int i = 0; i < len; i++) v[i] = cJSON_GetNumberValue(cJSON_GetArrayItem(a, i));
    ts_tensor *out = len == n * t ? mk(v, n, t) : NULL;
    free(v);
    return out;
}

static double json_num(const cJSON *c, const char *key) { return cJSON_GetNumberValue(cJSON_GetObjectItem(c, key)); }

/* The clipped surrogate with TIS against tests/loss_ref.py (PyTorch, verl's formula): loss,
 * gradient and metrics of log-probs taken at the rollout temperature. */
static void test_tis_against_torch(void) {
    char path[1024];
    const char *src = getenv("RLVR_SRC");
    snprintf(path, sizeof path, "%s/tests/loss/tis_ref.json", src ? src : ".");
    size_t len = 0;
    char *text = io_read_file(path, 1 << 20, &len);
    cJSON *fx = text ? cJSON_ParseWithLength(text, len) : NULL;
    free(text);
    CHECK(fx && json_num(fx, "format_version") == 1);
    const cJSON *cs;
    int ncases = 0;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(fx, "cases")) {
        ncases++;
        int64_t n = (int64_t)json_num(cs, "n"), t = (int64_t)json_num(cs, "T");
        loss_opts o = base_opts(LOSS_AGG_TOKEN_MEAN);
        o.tis_cap = json_num(cs, "tis_cap");
        o.eps_low = json_num(cs, "eps_low");
        o.eps_high = json_num(cs, "eps_high");
        double adv[16];
        for (int64_t i = 0; i < n; i++) adv[i] = cJSON_GetNumberValue(cJSON_GetArrayItem(cJSON_GetObjectItem(cs, "adv"), (int)i));
        ts_scope_begin();
        ts_tensor *lp = ts_unscope(json_tensor(cs, "logp", n, t));
        CHECK(lp && ts_set_requires_grad(lp, 1) == 0);
        loss_batch b = {.logp = lp, .old_logp = json_tensor(cs, "old_logp", n, t),
                        .sampler_logp = json_tensor(cs, "sampler_logp", n, t),
                        .mask = json_tensor(cs, "mask", n, t), .adv = adv};
        loss_metrics m = {0};
        loss_counts c = {0};
        CHECK(loss_count(&o, &b, &c) == 0);
        ts_tensor *l = loss_compute(&o, &b, &c, &m);
        CHECK_CLOSE(item(l), json_num(cs, "loss"), 1e-12, 0);
        CHECK(l && ts_backward(l) == 0);
        ts_tensor *want = json_tensor(cs, "grad", n, t);
        CHECK_CLOSE(item(ts_max(ts_abs(ts_sub(ts_grad(lp), want)))), 0, 1e-12, 0);
        CHECK_CLOSE(m.tis_mean, json_num(cs, "tis_mean"), 1e-12, 0);
        CHECK_CLOSE(m.tis_capped, json_num(cs, "tis_capped"), 1e-12, 0);
        CHECK_CLOSE(m.tis_max, json_num(cs, "tis_max"), 1e-12, 0);
        ts_scope_end();
        ts_free(lp);
    }
    CHECK(ncases == 2);
    cJSON_Delete(fx);
}

int main(void) {
    test_dev = check_device();
    int64_t live = ts_live_handles();
    test_clipped_surrogate_vectors();
    test_aggregation_vectors();
    test_kl_estimators();
    test_entropy_bonus();
    test_degrpo_control_token();
    test_degrpo_control_token_after_whitespace();
    test_psr_nsr_rows();
    test_sequence_level_ratio();
    test_edge_cases();
    test_finite_differences();
    test_micro_batch_invariance();
    test_config_and_errors();
    test_tis_vectors();
    test_tis_against_torch();
    CHECK(ts_live_handles() == live);
    CHECK_DONE();
}
