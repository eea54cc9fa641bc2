/* test_adv — advantages of every estimator against the vectors of docs/ALGORITHMS.md 1.2, 5, 6
 * and the edge cases of section 11 (equal groups exactly 0, NaN rewards, singletons), the DAPO
 * dynamic-sampling filter and draw limit, unbiased pass@k (section 10), config defaults and the
 * error paths. */
#include "check.h"

#include "common/cfg.h"
#include "common/err.h"
#include "trainer/adv.h"

#include <math.h>

#define LEN(a) ((int64_t)(sizeof(a) / sizeof((a)[0])))

static adv_opts opts(adv_estimator e, double eps) {
    adv_opts o = {0};
    o.estimator = e;
    o.std_ddof = 1;
    o.std_eps = eps;
    o.wreinforce_lambda = 0.1;
    return o;
}

/* Advantages of one group of n rewards (n <= 16), compared element by element within atol. */
static int group_is(const adv_opts *o, const double *r, int64_t n, const double *want, double atol) {
    double a[16];
    unsigned char keep[16];
    if (adv_compute(o, 1, n, r, NULL, a, keep)) {
        fprintf(stderr, "  adv_compute: %s\n", err_msg());
        return 0;
    }
    for (int64_t i = 0; i < n; i++) {
        if (!(fabs(a[i] - want[i]) <= atol) || !keep[i]) {
            fprintf(stderr, "  A[%lld] = %.9g (keep %d), expected %.9g\n", (long long)i, a[i],
                    keep[i], want[i]);
            return 0;
        }
    }
    return 1;
}

static void test_grpo_vectors(void) {
    double r1000[] = {1, 0, 0, 0};
    adv_opts trl = opts(ADV_GRPO, 1e-4), verl = opts(ADV_GRPO, 1e-6);
    CHECK(group_is(&trl, r1000, 4, (double[]){1.499700, -0.499900, -0.499900, -0.499900}, 5e-7));
    CHECK(group_is(&verl, r1000, 4, (double[]){1.499997, -0.499999, -0.499999, -0.499999}, 5e-7));
    CHECK(group_is(&trl, (double[]){1, -1}, 2, (double[]){0.707057, -0.707057}, 5e-7));
    /* ddof matters for small groups: a population std gives +-1 (up to eps) */
    adv_opts pop = opts(ADV_GRPO, 0);
    pop.std_ddof = 0;
    CHECK(group_is(&pop, (double[]){1, -1}, 2, (double[]){1, -1}, 1e-15));
    adv_opts dr = opts(ADV_DRGRPO, 1e-4);
    CHECK(group_is(&dr, r1000, 4, (double[]){0.75, -0.25, -0.25, -0.25}, 1e-15));
}

static void test_degrpo_thinkless(void) {
    /* section 5: Thinkless rewards 1 (short correct), 0.5 (think correct), -1, -1; no std */
    double r[] = {1, 0.5, -1, -1};
    adv_opts o = opts(ADV_DEGRPO, 1e-6);
    CHECK(group_is(&o, r, 4, (double[]){1.125, 0.625, -0.875, -0.875}, 1e-15));
    /* std_normalizer on: Bessel std of r = sqrt(4.1875 / 3) */
    o.degrpo_std = 1;
    double sd = sqrt((1.125 * 1.125 + 0.625 * 0.625 + 2 * 0.875 * 0.875) / 3);
    CHECK(group_is(&o, r, 4,
                   (double[]){1.125 / (sd + 1e-6), 0.625 / (sd + 1e-6), -0.875 / (sd + 1e-6),
                              -0.875 / (sd + 1e-6)}, 1e-12));
    /* a group of identical rewards (all short-correct) carries no mode signal */
    CHECK(group_is(&o, (double[]){1, 1, 1, 1}, 4, (double[]){0, 0, 0, 0}, 0));
}

static void test_equal_groups_exactly_zero(void) {
    /* 0.1 * 3 / 3 rounds to 0.10000000000000002: without the equality rule the residue divided
     * by std + eps would leave about 2e-13 */
    double r[] = {0.1, 0.1, 0.1};
    for (int e = ADV_GRPO; e <= ADV_DEGRPO; e++) {
        if (e == ADV_NONE || e == ADV_PSR || e == ADV_NSR || e == ADV_WREINFORCE) continue;
        adv_opts o = opts((adv_estimator)e, 1e-8);
        double a[3];
        unsigned char keep[3];
        CHECK(adv_compute(&o, 1, 3, r, NULL, a, keep) == 0);
        CHECK(a[0] == 0.0 && a[1] == 0.0 && a[2] == 0.0);
    }
    /* singleton groups get 0 (trl eval; our rule for every group estimator) */
    adv_opts o = opts(ADV_GRPO, 1e-4);
    CHECK(group_is(&o, (double[]){0.7}, 1, (double[]){0}, 0));
}

static void test_nan_rewards_excluded(void) {
    /* stats over {1, 0, 0}: mean 1/3, Bessel std sqrt(1/3); the NaN gets A = 0 but stays in the
     * step (keep = 1), as trl */
    double r[] = {1, NAN, 0, 0};
    double sd = sqrt(1.0 / 3);
    adv_opts o = opts(ADV_GRPO, 1e-4);
    CHECK(group_is(&o, r, 4,
                   (double[]){(2.0 / 3) / (sd + 1e-4), 0, (-1.0 / 3) / (sd + 1e-4),
                              (-1.0 / 3) / (sd + 1e-4)}, 1e-12));
    /* one valid reward left: nothing to compare with, A = 0 */
    CHECK(group_is(&o, (double[]){NAN, 1, NAN}, 3, (double[]){0, 0, 0}, 0));
    adv_opts none = opts(ADV_NONE, 0);
    CHECK(group_is(&none, (double[]){2, NAN, -1}, 3, (double[]){2, 0, -1}, 0));
}

static void test_batch_std(void) {
    /* group means 0.5 and 1; std of {1,0,1,1} (ddof 1) = 0.5 */
    double r[] = {1, 0, 1, 1}, a[4];
    unsigned char keep[4];
    adv_opts o = opts(ADV_BATCH, 1e-4);
    CHECK(adv_compute(&o, 2, 2, r, NULL, a, keep) == 0);
    CHECK_CLOSE(a[0], 0.5 / 0.5001, 1e-15, 0);
    CHECK_CLOSE(a[1], -0.5 / 0.5001, 1e-15, 0);
    CHECK(a[2] == 0 && a[3] == 0);
}

static void test_psr_nsr_wreinforce(void) {
    /* section 6: 0/1 scores; psr keeps correct (+1), nsr keeps wrong (-1), W-REINFORCE keeps all
     * with +lambda / -1; a group that is all correct still trains */
    double r[] = {1, 0, 1, 0, 1, 1}, a[6];
    unsigned char keep[6], correct[] = {1, 0, 1, 0, 1, 1};
    adv_opts psr = opts(ADV_PSR, 0), nsr = opts(ADV_NSR, 0), wr = opts(ADV_WREINFORCE, 0);
    CHECK(adv_compute(&psr, 3, 2, r, correct, a, keep) == 0);
    CHECK(a[0] == 1 && a[1] == 0 && a[4] == 1 && a[5] == 1);
    CHECK(keep[0] == 1 && keep[1] == 0 && keep[2] == 1 && keep[3] == 0 && keep[5] == 1);
    CHECK(adv_compute(&nsr, 3, 2, r, correct, a, keep) == 0);
    CHECK(a[0] == 0 && a[1] == -1 && a[3] == -1 && a[4] == 0);
    CHECK(keep[0] == 0 && keep[1] == 1 && keep[3] == 1 && keep[4] == 0 && keep[5] == 0);
    CHECK(adv_compute(&wr, 3, 2, r, correct, a, keep) == 0);
    CHECK(a[0] == 0.1 && a[1] == -1 && a[4] == 0.1 && a[5] == 0.1);
    CHECK(keep[0] && keep[1] && keep[2] && keep[3] && keep[4] && keep[5]);
    /* without flags: correct means reward > 0 (DAPO +-1 rewards); a NaN reward is dropped */
    double pm[] = {1, -1, NAN};
    CHECK(adv_compute(&wr, 1, 3, pm, NULL, a, keep) == 0);
    CHECK(a[0] == 0.1 && a[1] == -1 && a[2] == 0 && keep[0] && keep[1] && !keep[2]);
    /* the flags decide, not the shaped reward: a correct answer with an overlong penalty */
    double shaped[] = {-0.2, -1};
    unsigned char flags[] = {1, 0};
    CHECK(adv_compute(&psr, 1, 2, shaped, flags, a, keep) == 0);
    CHECK(a[0] == 1 && keep[0] && !keep[1]);
}

static void test_dynamic_sampling(void) {
    /* groups: all correct, mixed, all wrong, and a second mixed one */
    double r[] = {1, 1, 0, 1, 0, 0, 1, 0};
    unsigned char keep[4];
    adv_opts o = opts(ADV_GRPO, 1e-4);
    CHECK(adv_informative_groups(&o, 4, 2, r, NULL, keep) == 2);
    CHECK(!keep[0] && keep[1] && !keep[2] && keep[3]);
    /* acc filter ignores shaping: rewards differ (overlong penalty) but accuracy does not */
    double shaped[] = {1, 0.5};
    unsigned char both_correct[] = {1, 1};
    CHECK(adv_informative_groups(&o, 1, 2, shaped, both_correct, keep) == 0);
    o.dynamic_metric = ADV_METRIC_REWARD;
    CHECK(adv_informative_groups(&o, 1, 2, shaped, both_correct, keep) == 1);
    /* NaN rewards do not count as a difference; singletons are kept (verl) */
    CHECK(adv_informative_groups(&o, 1, 3, (double[]){1, NAN, 1}, NULL, keep) == 0);
    CHECK(adv_informative_groups(&o, 2, 1, (double[]){1, 0}, NULL, keep) == 2);

    o.max_draws = 3;
    CHECK(adv_dynamic_need_more(&o, 5, 8, 1) == 1);
    CHECK(adv_dynamic_need_more(&o, 9, 8, 3) == 0);
    CHECK(adv_dynamic_need_more(&o, 5, 8, 3) == -1);
    CHECK_CONTAINS(err_msg(), "only 5 of 8 prompts");
    CHECK_CONTAINS(err_msg(), "algo.dynamic_sampling.max_draws");
    o.max_draws = 0;
    CHECK(adv_dynamic_need_more(&o, 5, 8, 1000) == 1);
}

static void test_pass_at_k(void) {
    double p;
    struct { int64_t n, c, k; double want; } v[] = {
        {10, 3, 1, 0.3},        {10, 3, 5, 1 - 21.0 / 252}, {256, 1, 1, 0.00390625},
        {256, 1, 128, 0.5},     {256, 0, 1, 0},             {256, 0, 256, 0},
        {256, 1, 256, 1},       {256, 10, 16, 0.481810},
    };
    for (int i = 0; i < LEN(v); i++) {
        CHECK(adv_pass_at_k(v[i].n, v[i].c, v[i].k, &p) == 0);
        CHECK_CLOSE(p, v[i].want, 5e-7, 0);
    }
    CHECK(adv_pass_at_k(4, 5, 1, &p) == -1);
    CHECK_CONTAINS(err_msg(), "0 <= c <= n");
    CHECK(adv_pass_at_k(4, 1, 5, &p) == -1);
    CHECK(adv_pass_at_k(4, 1, 0, &p) == -1);
}

static void test_config_and_errors(void) {
    rlvr_config c;
    CHECK(cfg_init(&c) == 0);
    adv_opts o;
    CHECK(adv_opts_from_cfg(&c, &o) == 0);
    CHECK(o.estimator == ADV_GRPO && o.std_ddof == 1 && o.std_eps == 1e-4);
    CHECK(!o.degrpo_std && o.wreinforce_lambda == 0.1 && !o.dynamic_sampling);
    CHECK(o.dynamic_metric == ADV_METRIC_ACC && o.max_draws == 10);
    CHECK(cfg_set(&c, "algo.estimator=wreinforce") == 0 && cfg_set(&c, "algo.std_eps=1e-6") == 0);
    CHECK(cfg_set(&c, "algo.dynamic_sampling.metric=reward") == 0);
    CHECK(adv_opts_from_cfg(&c, &o) == 0);
    CHECK(o.estimator == ADV_WREINFORCE && o.std_eps == 1e-6 && o.dynamic_metric == ADV_METRIC_REWARD);
    CHECK(cfg_set(&c, "algo.std_ddof=2") == -1);
    CHECK_CONTAINS(err_msg(), "algo.std_ddof");
    CHECK(cfg_set(&c, "algo.estimator=ppo") == -1);
    cfg_free(&c);

    double r[2] = {1, 0}, a[2];
    unsigned char keep[2];
    adv_opts g = opts(ADV_GRPO, 1e-4);
    CHECK(adv_compute(&g, 1, 0, r, NULL, a, keep) == -1);
    CHECK_CONTAINS(err_msg(), "group_size >= 1");
    CHECK(adv_compute(&g, 1, 2, r, NULL, NULL, keep) == -1);
    CHECK(adv_compute(&g, INT64_MAX, 2, r, NULL, a, keep) == -1);
    CHECK_CONTAINS(err_msg(), "overflow");
    g.std_ddof = 3;
    CHECK(adv_compute(&g, 1, 2, r, NULL, a, keep) == -1);
    CHECK_CONTAINS(err_msg(), "std_ddof");
    /* an empty batch is no error */
    g.std_ddof = 1;
    CHECK(adv_compute(&g, 0, 4, r, NULL, a, keep) == 0);
}

int main(void) {
    test_grpo_vectors();
    test_degrpo_thinkless();
    test_equal_groups_exactly_zero();
    test_nan_rewards_excluded();
    test_batch_std();
    test_psr_nsr_wreinforce();
    test_dynamic_sampling();
    test_pass_at_k();
    test_config_and_errors();
    CHECK_DONE();
}
