/* adv — group-relative advantages, dynamic-sampling filter, pass@k. See adv.h.
 * Deliberately not here: anything that needs tensors or the model. */
#include "trainer/adv.h"

#include "common/err.h"

#include <math.h>

const cfg_choice adv_estimator_choices[] = {
    {"grpo", ADV_GRPO}, {"drgrpo", ADV_DRGRPO}, {"batch", ADV_BATCH},           {"none", ADV_NONE},
    {"psr", ADV_PSR},   {"nsr", ADV_NSR},       {"wreinforce", ADV_WREINFORCE}, {"degrpo", ADV_DEGRPO},
    {NULL, 0}};
const cfg_choice adv_metric_choices[] = {{"acc", ADV_METRIC_ACC}, {"reward", ADV_METRIC_REWARD}, {NULL, 0}};

int adv_opts_from_cfg(const rlvr_config *c, adv_opts *o) {
    if (!c || !o) return err_set("adv_opts_from_cfg: NULL argument");
    const cfg_algo *a = &c->algo;
    int estimator, metric;
    if (cfg_choice_value(c, "algo.estimator", adv_estimator_choices, &estimator) ||
        cfg_choice_value(c, "algo.dynamic_sampling.metric", adv_metric_choices, &metric))
        return -1;
    o->estimator = (adv_estimator)estimator;
    o->std_ddof = (int)a->std_ddof;
    o->std_eps = a->std_eps;
    o->degrpo_std = a->degrpo.std;
    o->wreinforce_lambda = a->wreinforce.lambda;
    o->dynamic_sampling = a->dynamic_sampling.enabled;
    o->dynamic_metric = (adv_metric)metric;
    o->max_draws = a->dynamic_sampling.max_draws;
    return 0;
}

static int check_sizes(const char *fn, int64_t n_groups, int64_t group_size) {
    if (n_groups < 0 || group_size < 1)
        return err_set("%s: need n_groups >= 0 and group_size >= 1, got %lld x %lld", fn,
                       (long long)n_groups, (long long)group_size);
    if (n_groups > INT64_MAX / group_size)
        return err_set("%s: %lld x %lld completions overflow", fn, (long long)n_groups,
                       (long long)group_size);
    return 0;
}

/* Mean and spread of the non-NaN values of x[0..n): *count, *mean, *equal (max == min, also when
 * there are none), and the std with ddof (0 when count <= ddof). */
typedef struct stats {
    int64_t count;
    double mean, std;
    int equal;
} stats;

static stats stats_of(const double *x, int64_t n, int ddof) {
    stats s = {.count = 0, .mean = 0, .std = 0, .equal = 1};
    double sum = 0, lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        if (isnan(x[i])) continue;
        s.count++;
        sum += x[i];
        lo = fmin(lo, x[i]);
        hi = fmax(hi, x[i]);
    }
    if (s.count == 0) return s;
    s.mean = sum / (double)s.count;
    s.equal = lo == hi;
    if (s.count > ddof) {
        double ss = 0;
        for (int64_t i = 0; i < n; i++)
            if (!isnan(x[i])) ss += (x[i] - s.mean) * (x[i] - s.mean);
        s.std = sqrt(ss / (double)(s.count - ddof));
    }
    return s;
}

/* Is completion i correct, wrong, or unknown (-1: no flags and a NaN reward)? */
static int outcome(const double *reward, const unsigned char *correct, int64_t i) {
    if (correct) return correct[i] != 0;
    if (isnan(reward[i])) return -1;
    return reward[i] > 0;
}

/* psr / nsr / wreinforce: constant advantages from correctness, no baseline (section 6). */
static void signed_advantages(const adv_opts *o, int64_t n, const double *reward,
                              const unsigned char *correct, double *adv, unsigned char *keep) {
    for (int64_t i = 0; i < n; i++) {
        int ok = outcome(reward, correct, i);
        if (ok < 0) keep[i] = 0;
        else if (o->estimator == ADV_PSR) keep[i] = ok;
        else if (o->estimator == ADV_NSR) keep[i] = !ok;
        else keep[i] = 1;
        adv[i] = !keep[i] ? 0 : ok ? (o->estimator == ADV_WREINFORCE ? o->wreinforce_lambda : 1) : -1;
    }
}

int adv_compute(const adv_opts *o, int64_t n_groups, int64_t group_size, const double *reward,
                const unsigned char *correct, double *adv, unsigned char *keep) {
    if (!o || !adv || !keep || (!reward && !correct))
        return err_set("adv_compute: NULL options, output or input array");
    if (check_sizes("adv_compute", n_groups, group_size)) return -1;
    if (o->std_ddof < 0 || o->std_ddof > 1 || !(o->std_eps >= 0))
        return err_set("adv_compute: std_ddof must be 0 or 1 and std_eps >= 0 (got %d, %g)",
                       o->std_ddof, o->std_eps);
    int64_t n = n_groups * group_size;
    if (o->estimator == ADV_PSR || o->estimator == ADV_NSR || o->estimator == ADV_WREINFORCE) {
        signed_advantages(o, n, reward, correct, adv, keep);
        return 0;
    }
    if (!reward) return err_set("adv_compute: estimator %d needs rewards", (int)o->estimator);
    int scale = o->estimator == ADV_GRPO || o->estimator == ADV_BATCH ||
                (o->estimator == ADV_DEGRPO && o->degrpo_std);
    double batch_std = o->estimator == ADV_BATCH ? stats_of(reward, n, o->std_ddof).std : 0;
    for (int64_t g = 0; g < n_groups; g++) {
        const double *r = reward + g * group_size;
        double *a = adv + g * group_size;
        stats s = stats_of(r, group_size, o->std_ddof);
        double std = o->estimator == ADV_BATCH ? batch_std : s.std;
        for (int64_t j = 0; j < group_size; j++) {
            keep[g * group_size + j] = 1;
            if (isnan(r[j])) a[j] = 0;
            else if (o->estimator == ADV_NONE) a[j] = r[j];
            else if (s.equal) a[j] = 0;
            else if (scale) a[j] = (r[j] - s.mean) / (std + o->std_eps);
            else a[j] = r[j] - s.mean;
        }
    }
    return 0;
}

int64_t adv_informative_groups(const adv_opts *o, int64_t n_groups, int64_t group_size,
                               const double *reward, const unsigned char *correct,
                               unsigned char *keep_group) {
    if (!o || !keep_group || (!reward && !correct))
        return err_set("adv_informative_groups: NULL options, output or input array");
    if (check_sizes("adv_informative_groups", n_groups, group_size)) return -1;
    int by_reward = o->dynamic_metric == ADV_METRIC_REWARD;
    if (by_reward && !reward)
        return err_set("adv_informative_groups: metric 'reward' needs the rewards");
    int64_t kept = 0;
    for (int64_t g = 0; g < n_groups; g++) {
        int spread = 0;
        double first = NAN;
        for (int64_t j = 0; j < group_size && !spread; j++) {
            int64_t i = g * group_size + j;
            double v = by_reward ? reward[i] : (double)outcome(reward, correct, i);
            if (by_reward ? isnan(v) : v < 0) continue;
            if (isnan(first)) first = v;
            else spread = v != first;
        }
        keep_group[g] = group_size == 1 || spread;
        kept += keep_group[g];
    }
    return kept;
}

int adv_dynamic_need_more(const adv_opts *o, int64_t kept, int64_t target, int64_t draws_done) {
    if (!o) return err_set("adv_dynamic_need_more: NULL options");
    if (kept >= target) return 0;
    if (o->max_draws > 0 && draws_done >= o->max_draws)
        return err_set("dynamic sampling: only %lld of %lld prompts had differing %s after %lld "
                       "generation batches (algo.dynamic_sampling.max_draws); the task is too "
                       "easy or too hard for the model, or raise the limit",
                       (long long)kept, (long long)target,
                       o->dynamic_metric == ADV_METRIC_REWARD ? "rewards" : "accuracy",
                       (long long)draws_done);
    return 1;
}

int adv_pass_at_k(int64_t n, int64_t c, int64_t k, double *out) {
    if (!out) return err_set("adv_pass_at_k: NULL output");
    if (n < 1 || c < 0 || c > n || k < 1 || k > n)
        return err_set("pass@k: need 0 <= c <= n and 1 <= k <= n, got n=%lld c=%lld k=%lld",
                       (long long)n, (long long)c, (long long)k);
    if (n - c < k) {
        *out = 1;
        return 0;
    }
    double miss = 1;
    for (int64_t i = n - c + 1; i <= n; i++) miss *= 1 - (double)k / (double)i;
    *out = 1 - miss;
    return 0;
}
