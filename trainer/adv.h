/* adv — advantages of the GRPO family from scalar rewards, the DAPO dynamic-sampling filter and
 * the unbiased pass@k estimator (docs/ALGORITHMS.md sections 1.2, 3, 4, 5, 6, 10, 11).
 *
 * Plain C on double arrays: a batch is n_groups prompts x group_size completions, stored group
 * after group (completion j of prompt g at index g * group_size + j). Group statistics are
 * accumulated in double. Rules every estimator shares (our decisions, docs/ALGORITHMS-IMPL.md):
 * a NaN reward (unscorable completion) is left out of the group statistics and gets A = 0; a
 * group whose valid rewards are all equal, a singleton included, gets A = 0 exactly.
 * Deliberately not here: tensors, the loss (trainer/loss.h), drawing more prompts (the trainer
 * loop does that; adv_dynamic_need_more says when), token-level rewards. */
#ifndef RLVR_ADV_H
#define RLVR_ADV_H

#include "common/cfg.h"

#include <stdint.h>

typedef enum {
    ADV_GRPO,       /* (R - group mean) / (group std + eps) */
    ADV_DRGRPO,     /* R - group mean */
    ADV_BATCH,      /* (R - group mean) / (std over the whole batch + eps) */
    ADV_NONE,       /* A = R: no baseline, no scaling */
    ADV_PSR,        /* correct: +1; wrong: dropped from the step */
    ADV_NSR,        /* wrong: -1; correct: dropped from the step */
    ADV_WREINFORCE, /* correct: +lambda; wrong: -1 */
    ADV_DEGRPO      /* R - group mean, optionally / (group std + eps) */
} adv_estimator;

typedef enum { ADV_METRIC_ACC, ADV_METRIC_REWARD } adv_metric;

/* The config names of each: algo.estimator and algo.dynamic_sampling.metric (cfg_choice). */
extern const cfg_choice adv_estimator_choices[];
extern const cfg_choice adv_metric_choices[];

typedef struct adv_opts {
    adv_estimator estimator;
    int std_ddof;          /* 0 or 1 */
    double std_eps;        /* >= 0 */
    int degrpo_std;        /* ADV_DEGRPO: divide by the group std + eps */
    double wreinforce_lambda;
    int dynamic_sampling;  /* drop groups with no spread in `dynamic_metric` */
    adv_metric dynamic_metric;
    int64_t max_draws;     /* generation batches per step; 0 = unlimited */
} adv_opts;

/* The algo.* settings that concern advantages. Returns 0, or -1 with err_set. */
int adv_opts_from_cfg(const rlvr_config *c, adv_opts *o);

/* Advantages of a batch.
 * reward:  (n_groups * group_size) scalar rewards; NaN = unscorable.
 * correct: (n_groups * group_size) 1 when the verifier accepted the answer, else 0; read by psr,
 *          nsr and wreinforce. NULL: correct means reward > 0, and a NaN reward is dropped.
 * adv:     (n_groups * group_size) out.
 * keep:    (n_groups * group_size) out: 0 for a completion that leaves the step entirely (psr
 *          drops wrong ones, nsr correct ones); the loss must not count it. 1 otherwise.
 * Returns 0, or -1 with err_set on bad sizes or NULL arrays. */
int adv_compute(const adv_opts *o, int64_t n_groups, int64_t group_size, const double *reward,
                const unsigned char *correct, double *adv, unsigned char *keep);

/* DAPO dynamic sampling: keep_group[g] = 1 when group g's metric (o->dynamic_metric: the correct
 * flags, or reward > 0 when correct is NULL; or the rewards, NaN ignored) is not the same for
 * every completion; singleton groups are kept (verl). Returns the number of groups kept, or -1
 * with err_set. */
int64_t adv_informative_groups(const adv_opts *o, int64_t n_groups, int64_t group_size,
                               const double *reward, const unsigned char *correct,
                               unsigned char *keep_group);

/* Whether a step must draw another generation batch: 1 while kept < target and the draw limit
 * allows another, 0 once kept >= target, -1 with err_set when draws_done generation batches
 * reached o->max_draws (not 0) without enough informative groups. */
int adv_dynamic_need_more(const adv_opts *o, int64_t kept, int64_t target, int64_t draws_done);

/* Unbiased pass@k of one problem with n samples of which c are correct (Chen et al. 2021;
 * ALGORITHMS.md 10): 1 - C(n-c, k) / C(n, k), as a product in double. Returns 0, or -1 with
 * err_set unless 0 <= c <= n and 1 <= k <= n. */
int adv_pass_at_k(int64_t n, int64_t c, int64_t k, double *out);

#endif
