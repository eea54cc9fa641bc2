/* loss — the policy loss of the GRPO family over tensors, so autograd gives its gradient
 * (docs/ALGORITHMS.md sections 1.1, 1.3-1.6, 2-6).
 *
 * Per token: the clipped surrogate with separate low/high clip ranges, optional dual clip, the
 * importance ratio per token or per sequence (GSPO), the log-ratio clamped before exp, optionally
 * weighted by the truncated importance ratio of the old policy to the sampler (TIS, docs/
 * ALGORITHMS-IMPL.md "Old log-probs"); plus a KL estimator to a frozen reference (k1, k2, k3,
 * abs) and an entropy bonus. Per step: the
 * aggregation weights of section 1.3, whose normalisers are GLOBAL counts over the whole
 * optimiser step (every micro-batch on every rank), gathered first with loss_count. The loss of a
 * micro-batch is then its exact share of the step's loss: summing the micro-batch losses (and
 * their gradients) gives the full-batch loss, whatever the micro-batch split or world size.
 *
 * Layout: tensors are (n, T) over completion positions only, the first generated token at t = 0,
 * right-padded (the DeGRPO control token is at t = 0 or at the row's ctrl_pos); padded positions
 * must hold finite numbers. Rows are the n completions of this micro-batch.
 * Deliberately not here: log-probs and entropies from logits (the model's job), advantages
 * (trainer/adv.h), all-reducing the counts (dist/), truncation detection (rollout/). */
#ifndef RLVR_LOSS_H
#define RLVR_LOSS_H

#include "common/cfg.h"
#include "tensor/ts.h"

#include <stdint.h>

/* AUTO is resolved by loss_opts_from_cfg. */
typedef enum {
    LOSS_AGG_AUTO,
    LOSS_AGG_SEQ_MEAN_TOKEN_MEAN, /* 1 / (B_nonempty * T_i) */
    LOSS_AGG_TOKEN_MEAN,          /* 1 / N */
    LOSS_AGG_CONSTANT,            /* 1 / (B * L_c)  (Dr. GRPO) */
    LOSS_AGG_SEQ_MEAN_TOKEN_SUM,  /* 1 / B_nonempty */
    LOSS_AGG_DEGRPO               /* control token: alpha / B_ctrl; others: 1 / sum_j (T_j - 1) */
} loss_agg;

typedef enum { LOSS_KL_K1, LOSS_KL_K2, LOSS_KL_K3, LOSS_KL_ABS } loss_kl;
typedef enum { LOSS_RATIO_TOKEN, LOSS_RATIO_SEQUENCE } loss_ratio_level;

/* The config names of each (cfg_choice): algo.aggregation, algo.kl.type, algo.ratio_level, and
 * algo.degrpo.resp_norm (1: a mean per sample). */
extern const cfg_choice loss_agg_choices[];
extern const cfg_choice loss_kl_choices[];
extern const cfg_choice loss_ratio_level_choices[];
extern const cfg_choice loss_resp_norm_choices[];

typedef struct loss_opts {
    double eps_low, eps_high;   /* ratio clipped to [1 - eps_low, 1 + eps_high] */
    double dual_clip;           /* c > 1 caps negative-advantage losses at -A*c; 0 = off */
    double log_ratio_clamp;     /* log-ratios clamped to [-x, x] before exp; > 0 */
    loss_ratio_level ratio_level;
    loss_agg agg;               /* never AUTO here */
    int64_t constant_divisor;   /* L_c of LOSS_AGG_CONSTANT */
    double degrpo_alpha;
    int degrpo_per_sample;      /* response tokens: mean per row, then over rows (the paper) */
    double kl_coef;             /* beta; 0 = no KL, ref_logp not needed */
    loss_kl kl_type;
    double entropy_coef;        /* 0 = no bonus, entropy not needed */
    int mask_truncated;         /* truncated rows leave the loss and the token counts */
    double tis_cap;             /* C: per-token loss times min(pi_old / pi_sampler, C); 0 = off */
} loss_opts;

/* The algo.* settings of the loss; aggregation "auto" becomes the estimator's own (constant for
 * drgrpo, degrpo for degrpo, token_mean otherwise). Returns 0, or -1 with err_set. */
int loss_opts_from_cfg(const rlvr_config *c, loss_opts *o);
int loss_opts_check(const loss_opts *o);

/* One micro-batch. Tensors are borrowed; host arrays have n entries. */
typedef struct loss_batch {
    const ts_tensor *logp;     /* (n, T) float: log pi_theta of the sampled tokens, with autograd */
    const ts_tensor *old_logp; /* (n, T) log pi_old; NULL = on-policy (logp detached) */
    const ts_tensor *ref_logp; /* (n, T) log pi_ref; needed when kl_coef != 0 */
    const ts_tensor *entropy;  /* (n, T) per-token entropy; needed when entropy_coef != 0 */
    const ts_tensor *sampler_logp; /* (n, T) log-probs the sampler recorded; needed when tis_cap != 0 */
    const ts_tensor *mask;     /* (n, T) 1 on completion tokens, 0 on padding (any dtype) */
    const double *adv;         /* (n) advantage of each completion (adv_compute) */
    const unsigned char *keep; /* (n) 0 = the row is not part of the step (adv_compute keep); NULL = all */
    const unsigned char *truncated; /* (n) 1 = the completion hit the length cap; NULL = none */
    const int32_t *ctrl_pos;   /* (n) position of the DeGRPO control token, the one that opens the
                                  mode tag after any leading whitespace tokens; NULL = 0 */
} loss_batch;

/* The normalisers of a step; sums over micro-batches and ranks (doubles, exact to 2^53). */
typedef struct loss_counts {
    double seqs;          /* kept rows, empty or truncated-and-masked ones included: constant */
    double seqs_nonempty; /* rows with at least one loss token: seq-mean modes */
    double tokens;        /* loss tokens: token mean, metrics, DeGRPO KL/entropy */
    double ctrl_tokens;   /* rows whose control token is a loss token: DeGRPO control term */
    double resp_tokens;   /* the other loss tokens: DeGRPO response term (batch) */
    double resp_seqs;     /* rows with a loss token besides the control token: DeGRPO per sample */
} loss_counts;

/* Add this micro-batch's counts to *acc (zero it before the first micro-batch; all-reduce by sum
 * across ranks afterwards). Returns 0, or -1 with err_set. */
int loss_count(const loss_opts *o, const loss_batch *b, loss_counts *acc);

/* What the step did, each a micro-batch's share: add them up over micro-batches and ranks. The
 * means are token means over the step (divided by counts.tokens). */
typedef struct loss_metrics {
    double pg_loss;       /* the policy-gradient part of the loss */
    double kl_loss;       /* the aggregated KL (before the coefficient); needs ref_logp */
    double entropy_loss;  /* the aggregated entropy (before the coefficient); needs entropy */
    double clip_low;      /* fraction of tokens with A < 0 and r < 1 - eps_low */
    double clip_high;     /* fraction of tokens with A > 0 and r > 1 + eps_high */
    double clip_dual;     /* fraction of tokens where the dual clip -A*c is the loss */
    double ratio_mean;    /* mean importance ratio */
    double kl_mean;       /* mean per-token KL estimate; needs ref_logp */
    double entropy_mean;  /* mean per-token entropy; needs entropy */
    double tis_mean;      /* mean truncated importance weight min(pi_old / pi_sampler, C); with tis_cap */
    double tis_capped;    /* fraction of tokens whose weight the cap cut */
    double tis_max;       /* the largest weight before the cap: combine by max, not by sum */
} loss_metrics;

/* The micro-batch's share of the step loss:
 *   sum_{i,t} w_pg * m * c * l  +  kl_coef * sum w_aux * m * kl  -  entropy_coef * sum w_aux * m * H
 * with c = min(exp(old_logp - sampler_logp), tis_cap), without gradient, when tis_cap > 0 (else 1),
 * w_pg the aggregation weights from the global counts and w_aux = w_pg, except for DeGRPO
 * where KL and entropy are a token mean over all tokens (the Thinkless code). A zero count gives
 * a zero weight (0/0 := 0). Returns a new one-element tensor of logp's dtype, in the current
 * scope, or NULL with err_set; m (may be NULL) gets this micro-batch's metrics added. */
ts_tensor *loss_compute(const loss_opts *o, const loss_batch *b, const loss_counts *counts,
                        loss_metrics *m);

#endif
