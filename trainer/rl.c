/* rl — `rlvr train`: the RL loop of the GRPO family (docs/ALGORITHMS.md), one step at a time:
 *
 *   draw B prompts -> sample G completions each (rollout/, the policy's own weights)
 *   -> score each group (rewards/) -> advantages (adv.h) -> epochs x mini-batches of updates,
 *   each accumulated over token-budget micro-batches with the loss normalised by the step's
 *   global counts (loss.h), so micro-batching changes nothing but rounding
 *   -> metrics.jsonl, the rollout log, a checkpoint every train.save_every steps.
 *
 * The old log-probs of the ratio are the ones the sampler recorded (algo.old_logprobs sampler:
 * there is no second copy of the weights), or one no-grad forward of the trainer before the
 * step's first update (recompute, as verl), optionally corrected towards the sampler by truncated
 * importance sampling (algo.tis_cap). The trainer's log-probs, entropy and KL are at the rollout
 * temperature unless algo.logprob_temperature is one, and the sampler records its log-probs at the
 * same temperature. The gap between the trainer's and the sampler's log-probs is a metric of every
 * step. Every tensor of the update lives on the model's device: host data become tensors there
 * (ts_from_host). */
#include "train.h"

#include "adv.h"
#include "batch.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rng.h"
#include "dist/dist.h"
#include "loss.h"
#include "rewards/reward.h"
#include "rollout/rollout.h"
#include "rolloutlog.h"
#include "state.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Everything one step produced, host side. */
typedef struct step_data {
    int P, G, n;               /* prompts, group size, n = P * G completions */
    int64_t *index;            /* (P) dataset index of each prompt */
    tok_ids *prompt;           /* (P) prompt tokens */
    rollout_result roll;
    reward_result *rew;        /* (n) */
    double *reward, *adv;      /* (n) */
    unsigned char *correct, *keep, *truncated; /* (n) */
    double *all_reward;        /* (P_global * G) every rank's rewards, global prompt order */
    unsigned char *all_correct; /* (P_global * G) likewise */
    int draws;                 /* generation batches drawn for the step (dynamic sampling) */
    double zero_std;           /* fraction of drawn groups whose rewards were all equal */
} step_data;

static void step_data_free(step_data *d) {
    for (int p = 0; d->prompt && p < d->P; p++) tok_ids_free(&d->prompt[p]);
    free(d->prompt);
    free(d->index);
    rollout_result_free(&d->roll);
    free(d->rew);
    free(d->reward);
    free(d->adv);
    free(d->correct);
    free(d->keep);
    free(d->truncated);
    free(d->all_reward);
    free(d->all_correct);
    memset(d, 0, sizeof *d);
}

typedef struct rl_job {
    const rlvr_config *c;
    trainer_policy pol, ref;   /* ref loaded only when algo.kl.coef > 0, and not with LoRA */
    int have_ref;
    int ref_is_base;           /* LoRA: the reference is the policy with its adapters off */
    reward *rw;
    adv_opts ao;
    loss_opts lo;
    optim_opts oo;
    optim *opt;
    data_set *ds;
    data_sampler *smp;
    rollout_options ro;
    dist *dist;
    int rank, world;
    int P;                     /* prompts per step over all ranks */
    int *owner;                /* (P) the rank that samples and trains on global prompt g */
    int lr_per_rl_step;        /* optim.schedule_unit rl_step: the schedule counts RL steps */
    int recompute_old;         /* algo.old_logprobs recompute */
    double lp_temp;            /* temperature of the trainer's log-probs, and of the sampler's */
    reward_metric rm[REWARD_MAX_METRICS];
    int n_rm;
} rl_job;

/* ---- the metrics of a step: one table drives the all-reduce, metrics.jsonl, TensorBoard and the
 * console line ---- */

typedef enum {
    M_NONE, /* "no denominator" in metric_def.per */
    M_REWARD, M_REWARD_STD, M_ACCURACY, M_LENGTH, M_LENGTH_MAX, M_TRUNCATED, M_THINK_RATIO, M_SHORT_RATIO,
    M_ZERO_STD_GROUPS, M_DRAWS, M_KEPT, M_PG_LOSS, M_KL, M_ENTROPY, M_CLIP_LOW, M_CLIP_HIGH, M_CLIP_DUAL,
    M_RATIO, M_GRAD_NORM, M_LR, M_UPDATES, M_SKIPPED, M_EMPTY_UPDATES, M_GAP_MAX, M_GAP_MEAN,
    M_TIS_MEAN, M_TIS_MAX, M_TIS_CAPPED, M_GEN_TOKENS,
    M_GEN_TOK_S, M_TRAIN_TOK_S, M_ROLLOUT_S, M_REWARD_S, M_TRAIN_S, M_STEP_S,
    M_ROWS, M_REWARD_SQ, M_GAP_TOKENS, M_TRAIN_TOKENS, /* unnamed: denominators and parts */
    M_COUNT
} metric_id;

/* How the ranks' values of a metric combine: each holds a share to be summed, the step's value is
 * the largest, or every rank holds the same value (rank 0's is written). */
typedef enum { RED_SUM, RED_MAX, RED_SAME } metric_reduce;

typedef struct metric_def {
    const char *name;    /* key in metrics.jsonl and TensorBoard; NULL: internal */
    metric_reduce red;
    metric_id per;       /* after the reduction, divided by this metric (M_NONE: not) */
    const char *fmt;     /* printf format in metrics.jsonl */
    const char *console; /* format on the console line; NULL: not shown */
} metric_def;

static const metric_def metric_defs[M_COUNT] = {
    [M_REWARD] = {.name = "reward", .red = RED_SUM, .per = M_ROWS, .fmt = "%.6f", .console = "reward %.3f"},
    [M_REWARD_STD] = {.name = "reward_std", .red = RED_SAME, .fmt = "%.6f"},
    [M_ACCURACY] = {.name = "accuracy", .red = RED_SUM, .per = M_ROWS, .fmt = "%.6f", .console = "acc %.3f"},
    [M_LENGTH] = {.name = "length", .red = RED_SUM, .per = M_ROWS, .fmt = "%.3f", .console = "len %.1f"},
    [M_LENGTH_MAX] = {.name = "length_max", .red = RED_MAX, .fmt = "%.0f"},
    [M_TRUNCATED] = {.name = "truncated", .red = RED_SUM, .per = M_ROWS, .fmt = "%.4f"},
    [M_THINK_RATIO] = {.name = "think_ratio", .red = RED_SUM, .per = M_ROWS, .fmt = "%.4f", .console = "think %.2f"},
    [M_SHORT_RATIO] = {.name = "short_ratio", .red = RED_SUM, .per = M_ROWS, .fmt = "%.4f"},
    [M_ZERO_STD_GROUPS] = {.name = "zero_std_groups", .red = RED_SAME, .fmt = "%.4f"},
    [M_DRAWS] = {.name = "draws", .red = RED_SAME, .fmt = "%.0f"},
    [M_KEPT] = {.name = "kept", .red = RED_SUM, .per = M_ROWS, .fmt = "%.4f"},
    [M_PG_LOSS] = {.name = "pg_loss", .red = RED_SUM, .fmt = "%.6g"},
    [M_KL] = {.name = "kl", .red = RED_SUM, .fmt = "%.6g"},
    [M_ENTROPY] = {.name = "entropy", .red = RED_SUM, .fmt = "%.6g"},
    [M_CLIP_LOW] = {.name = "clip_low", .red = RED_SUM, .fmt = "%.6f"},
    [M_CLIP_HIGH] = {.name = "clip_high", .red = RED_SUM, .fmt = "%.6f"},
    [M_CLIP_DUAL] = {.name = "clip_dual", .red = RED_SUM, .fmt = "%.6f"},
    [M_RATIO] = {.name = "ratio", .red = RED_SUM, .fmt = "%.6f"},
    [M_GRAD_NORM] = {.name = "grad_norm", .red = RED_SAME, .fmt = "%.6g", .console = "grad %.3f"},
    [M_LR] = {.name = "lr", .red = RED_SAME, .fmt = "%.6g"},
    [M_UPDATES] = {.name = "updates", .red = RED_SAME, .fmt = "%.0f"},
    [M_SKIPPED] = {.name = "skipped", .red = RED_SAME, .fmt = "%.0f"},
    [M_EMPTY_UPDATES] = {.name = "empty_updates", .red = RED_SAME, .fmt = "%.0f"},
    [M_GAP_MAX] = {.name = "logprob_gap_max", .red = RED_MAX, .fmt = "%.3g", .console = "gap %.1e"},
    [M_GAP_MEAN] = {.name = "logprob_gap_mean", .red = RED_SUM, .per = M_GAP_TOKENS, .fmt = "%.3g"},
    [M_TIS_MEAN] = {.name = "tis_weight_mean", .red = RED_SUM, .fmt = "%.6f"},
    [M_TIS_MAX] = {.name = "tis_ratio_max", .red = RED_MAX, .fmt = "%.4g"},
    [M_TIS_CAPPED] = {.name = "tis_capped", .red = RED_SUM, .fmt = "%.6f"},
    [M_GEN_TOKENS] = {.name = "gen_tokens", .red = RED_SUM, .fmt = "%.0f"},
    [M_GEN_TOK_S] = {.name = "gen_tok_s", .red = RED_SAME, .fmt = "%.1f"},
    [M_TRAIN_TOK_S] = {.name = "train_tok_s", .red = RED_SAME, .fmt = "%.1f"},
    [M_ROLLOUT_S] = {.name = "rollout_s", .red = RED_SAME, .fmt = "%.4f"},
    [M_REWARD_S] = {.name = "reward_s", .red = RED_SAME, .fmt = "%.4f"},
    [M_TRAIN_S] = {.name = "train_s", .red = RED_SAME, .fmt = "%.4f"},
    [M_STEP_S] = {.name = "step_s", .red = RED_SAME, .fmt = "%.4f"},
    [M_ROWS] = {.red = RED_SUM},
    [M_REWARD_SQ] = {.red = RED_SUM, .per = M_ROWS},
    [M_GAP_TOKENS] = {.red = RED_SUM},
    [M_TRAIN_TOKENS] = {.red = RED_SUM},
};

/* Metrics of one step: this rank's values until reduce_metrics, then the step's. */
typedef struct step_metrics {
    double v[M_COUNT];
    loss_metrics lm; /* the update's loss terms, before they land in v */
} step_metrics;

/* ---- rollout and rewards ---- */

/* Draw the step's prompts (every rank draws all of them, so the data stream does not depend on
 * the world size) and sample this rank's share. */
static int draw_and_sample(rl_job *j, int64_t step, step_data *d) {
    const rlvr_config *c = j->c;
    d->G = (int)c->train.group_size;
    d->index = mem_alloc(sizeof(int64_t) * (size_t)j->P);
    d->prompt = mem_calloc((size_t)j->P, sizeof(tok_ids));
    uint64_t *keys = mem_alloc(sizeof(uint64_t) * (size_t)j->P);
    const int32_t **ids = mem_alloc(sizeof(int32_t *) * (size_t)j->P);
    int *lens = mem_alloc(sizeof(int) * (size_t)j->P), rc = -1;
    d->P = 0;
    for (int g = 0; g < j->P; g++) {
        uint64_t key = (uint64_t)(j->smp->epoch * j->smp->n + j->smp->pos); /* unique per draw */
        int64_t idx = data_sampler_next(j->smp);
        if (j->owner[g] != j->rank) continue;
        int p = d->P++;
        keys[p] = key;
        d->index[p] = idx;
        if (trainer_policy_prompt(&j->pol, j->ds->ex[idx].prompt, &d->prompt[p])) goto out;
        ids[p] = d->prompt[p].v;
        lens[p] = d->prompt[p].n;
    }
    d->n = d->P * d->G;
    j->ro.step = (uint64_t)step;
    rc = rollout_generate(j->pol.m, &j->ro, d->P, ids, lens, keys, d->G, &d->roll);
out:
    free(keys);
    free(ids);
    free(lens);
    return rc;
}

/* Advantages need whole groups and, for batch std, the whole batch: every rank gathers every
 * reward and verdict, computes the advantages of the step in global order, and keeps its own. */
static int global_advantages(rl_job *j, step_data *d) {
    int n_all = j->P * d->G, per = d->n, rc = -1;
    double *send = mem_alloc(sizeof(double) * (size_t)(2 * per));
    double *recv = mem_alloc(sizeof(double) * (size_t)(2 * per * j->world));
    double *adv = mem_alloc(sizeof(double) * (size_t)n_all);
    unsigned char *correct = d->all_correct = mem_alloc((size_t)n_all), *keep = mem_alloc((size_t)n_all);
    int *seen = mem_calloc((size_t)j->world, sizeof(int));
    d->all_reward = mem_alloc(sizeof(double) * (size_t)n_all);
    for (int i = 0; i < per; i++) {
        send[i] = d->reward[i];
        send[per + i] = d->correct[i];
    }
    if (dist_allgather(j->dist, send, sizeof(double) * (size_t)(2 * per), recv)) goto out;
    for (int g = 0; g < j->P; g++) {
        int q = j->owner[g], k = seen[q]++;
        const double *blk = recv + (size_t)q * (size_t)(2 * per);
        for (int s = 0; s < d->G; s++) {
            d->all_reward[g * d->G + s] = blk[k * d->G + s];
            correct[g * d->G + s] = (unsigned char)blk[per + k * d->G + s];
        }
    }
    if (adv_compute(&j->ao, j->P, d->G, d->all_reward, correct, adv, keep)) goto out;
    for (int g = 0, k = 0; g < j->P; g++) {
        if (j->owner[g] != j->rank) continue;
        memcpy(d->adv + k * d->G, adv + g * d->G, sizeof(double) * (size_t)d->G);
        memcpy(d->keep + k * d->G, keep + g * d->G, (size_t)d->G);
        k++;
    }
    rc = 0;
out:
    free(send);
    free(recv);
    free(adv);
    free(keep);
    free(seen);
    return rc;
}

static int score(rl_job *j, step_data *d) {
    d->rew = mem_calloc((size_t)d->n, sizeof *d->rew);
    d->reward = mem_alloc(sizeof(double) * (size_t)d->n);
    d->adv = mem_alloc(sizeof(double) * (size_t)d->n);
    d->correct = mem_alloc((size_t)d->n);
    d->keep = mem_alloc((size_t)d->n);
    d->truncated = mem_alloc((size_t)d->n);
    reward_input *in = mem_alloc(sizeof *in * (size_t)d->G);
    int rc = -1;
    for (int p = 0; p < d->P; p++) {
        const data_example *e = &j->ds->ex[d->index[p]];
        for (int g = 0; g < d->G; g++) {
            const rollout_sample *s = &d->roll.samples[p * d->G + g];
            in[g] = (reward_input){e->prompt, s->text, e->answer, e->metadata, s->len};
        }
        if (reward_score_group(j->rw, in, d->G, d->rew + p * d->G)) goto out;
    }
    for (int i = 0; i < d->n; i++) {
        d->reward[i] = d->rew[i].score;
        d->correct[i] = (unsigned char)d->rew[i].correct;
        d->truncated[i] = d->roll.samples[i].finish == ROLLOUT_LENGTH;
    }
    rc = global_advantages(j, d);
    d->draws = 1;
    for (int p = 0; rc == 0 && p < j->P; p++) {
        int same = 1;
        for (int g = 1; g < d->G; g++) same &= d->all_reward[p * d->G + g] == d->all_reward[p * d->G];
        d->zero_std += (double)same / j->P;
    }
out:
    free(in);
    return rc;
}

/* ---- DAPO dynamic sampling (ALGORITHMS.md 4): draw until every rank holds its share of groups
 * whose outcomes differ; each rank keeps the first informative groups of its own draws, and the
 * advantages are computed again over the kept groups ---- */

static void step_data_alloc(step_data *d, int P, int G) {
    memset(d, 0, sizeof *d);
    d->P = P;
    d->G = G;
    d->n = P * G;
    d->index = mem_alloc(sizeof(int64_t) * (size_t)P);
    d->prompt = mem_calloc((size_t)P, sizeof(tok_ids));
    d->roll.samples = mem_calloc((size_t)d->n, sizeof(rollout_sample));
    d->roll.n = d->n;
    d->rew = mem_calloc((size_t)d->n, sizeof(reward_result));
    d->reward = mem_alloc(sizeof(double) * (size_t)d->n);
    d->adv = mem_alloc(sizeof(double) * (size_t)d->n);
    d->correct = mem_alloc((size_t)d->n);
    d->keep = mem_alloc((size_t)d->n);
    d->truncated = mem_alloc((size_t)d->n);
}

/* Move local group k of src into slot `to` of dst (src gives up its completions). */
static void move_group(step_data *dst, int to, step_data *src, int k) {
    int G = src->G;
    dst->index[to] = src->index[k];
    dst->prompt[to] = src->prompt[k];
    memset(&src->prompt[k], 0, sizeof(tok_ids));
    for (int g = 0; g < G; g++) {
        int a = to * G + g, b = k * G + g;
        dst->roll.samples[a] = src->roll.samples[b];
        dst->roll.samples[a].prompt = to;
        memset(&src->roll.samples[b], 0, sizeof(rollout_sample));
        dst->rew[a] = src->rew[b];
        dst->reward[a] = src->reward[b];
        dst->adv[a] = src->adv[b];
        dst->correct[a] = src->correct[b];
        dst->keep[a] = src->keep[b];
        dst->truncated[a] = src->truncated[b];
    }
}

static int sample_dynamic(rl_job *j, int64_t step, step_data *out) {
    int G = (int)j->c->train.group_size, target = j->P / j->world, have = 0;
    unsigned char *informative = mem_alloc((size_t)j->P);
    step_data_alloc(out, target, G);
    int rc = -1;
    double drawn = 0, zero = 0;
    for (int draws = 1;; draws++) {
        step_data d;
        memset(&d, 0, sizeof d);
        if (draw_and_sample(j, step, &d) || score(j, &d) ||
            adv_informative_groups(&j->ao, j->P, G, d.all_reward, d.all_correct, informative) < 0) {
            step_data_free(&d);
            goto done;
        }
        drawn += j->P;
        zero += d.zero_std * j->P;
        for (int g = 0, k = 0; g < j->P; g++) {
            if (j->owner[g] != j->rank) continue;
            if (informative[g] && have < target) move_group(out, have++, &d, k);
            k++;
        }
        step_data_free(&d);
        double least = have;
        if (dist_allreduce_f64(j->dist, &least, 1, DIST_MIN)) goto done;
        int more = adv_dynamic_need_more(&j->ao, (int64_t)least * j->world, j->P, draws);
        if (more < 0) goto done;
        if (!more) {
            out->draws = draws;
            break;
        }
    }
    out->zero_std = zero / drawn; /* over every drawn group, the kept ones' draws included */
    /* advantages of the kept batch alone, as verl computes them after the filter: a batch-wide
     * std (algo.estimator batch) must not count the groups that were dropped */
    rc = global_advantages(j, out);
done:
    free(informative);
    return rc;
}

/* ---- the update ---- */

/* Tensors of one micro-batch (completions first..first+n-1 of the step), built once and reused by
 * every epoch. */
typedef struct micro {
    int n;
    int64_t P, Tc;             /* prompt width, completion width */
    ts_tensor *ids, *mask;     /* (n, P + Tc) i64, bool */
    ts_tensor *sampler_logp;   /* (n, Tc) f32: the sampler's log-probs, 0 on padding */
    ts_tensor *old_logp;       /* (n, Tc) f32: pi_old, the sampler's or recomputed */
    ts_tensor *cmask;          /* (n, Tc) f32: 1 on completion tokens */
    ts_tensor *ref_logp;       /* (n, Tc) f32 or NULL */
    double *adv;
    unsigned char *keep, *truncated;
    int32_t *ctrl_pos;         /* (n) the DeGRPO control token of each row; NULL for other losses */
} micro;

static void micro_free(micro *m) {
    free(m->ctrl_pos);
    free(m->adv);
    free(m->keep);
    free(m->truncated);
    ts_free(m->ids);
    ts_free(m->mask);
    ts_free(m->sampler_logp);
    ts_free(m->old_logp);
    ts_free(m->cmask);
    ts_free(m->ref_logp);
}

/* The model's log-probs of the completion tokens of m: (n, Tc), optionally entropy. */
static int completion_logp(model *mod, const micro *m, int entropy_grad, ts_tensor **lp, ts_tensor **ent) {
    /* the packed batch is P prompt columns then Tc completion columns: log-prob column P - 1
     * predicts the first completion token */
    return model_forward_logprobs_from(mod, m->ids, m->mask, m->P - 1, entropy_grad, lp, ent);
}

/* Where the Thinkless mode tag opens: the first token whose text is not all whitespace, as the
 * reward reads the mode after leading whitespace (reward_thinkless_mode); 0 when every token is. */
static int mode_token_pos(const tok_tokenizer *tok, const int32_t *ids, int len, int32_t *pos) {
    *pos = 0;
    for (int t = 0; t < len; t++) {
        char *text = tok_decode(tok, &ids[t], 1, 0);
        if (!text) return -1;
        int blank = 1;
        for (const char *c = text; *c && blank; c++) blank = isspace((unsigned char)*c) != 0;
        free(text);
        if (!blank) {
            *pos = t;
            break;
        }
    }
    return 0;
}

/* The log-probs (n, Tc) f32 of m's completions under mod, without gradient; owned by the caller's
 * scope (or the caller, outside every scope). NULL with err_set. */
static ts_tensor *scored_logp(model *mod, const micro *m) {
    ts_scope_begin();
    ts_no_grad_begin();
    ts_tensor *lp = NULL;
    int bad = completion_logp(mod, m, 0, &lp, NULL);
    ts_no_grad_end();
    ts_tensor *out = bad ? NULL : ts_keep(ts_to_dtype(lp, TS_F32));
    ts_scope_end();
    return out;
}

/* The sampler's log-probs and the completion mask of rows first..first+n-1 as (n, Tc) f32 tensors
 * on the model's device. */
static int completion_tensors(rl_job *j, const step_data *d, int first, micro *m) {
    int n = m->n;
    int64_t Tc = m->Tc;
    float *lp = mem_calloc((size_t)(n * Tc), sizeof *lp), *cm = mem_calloc((size_t)(n * Tc), sizeof *cm);
    for (int r = 0; r < n; r++) {
        const rollout_sample *s = &d->roll.samples[first + r];
        for (int t = 0; t < s->len; t++) {
            lp[r * Tc + t] = s->logprobs[t];
            cm[r * Tc + t] = 1;
        }
    }
    ts_device dev = model_device(j->pol.m);
    m->sampler_logp = ts_keep(ts_from_host(lp, (int64_t[]){n, Tc}, 2, TS_F32, dev));
    m->cmask = ts_keep(ts_from_host(cm, (int64_t[]){n, Tc}, 2, TS_F32, dev));
    free(lp);
    free(cm);
    return m->sampler_logp && m->cmask ? 0 : -1;
}

/* The DeGRPO control token of each row (loss.h ctrl_pos). */
static int control_positions(rl_job *j, const step_data *d, int first, micro *m) {
    m->ctrl_pos = mem_alloc(sizeof(int32_t) * (size_t)m->n);
    for (int r = 0; r < m->n; r++) {
        const rollout_sample *s = &d->roll.samples[first + r];
        if (mode_token_pos(j->pol.tok, s->ids, s->len, &m->ctrl_pos[r])) return -1;
    }
    return 0;
}

/* The reference's log-probs: the frozen copy's or, with LoRA, the base model's (the policy with its
 * adapters switched off: no second copy of the weights). */
static ts_tensor *ref_logp(rl_job *j, const micro *m) {
    if (!j->ref_is_base) return scored_logp(j->ref.m, m);
    model_lora_set_enabled(j->pol.m, 0);
    ts_tensor *lp = scored_logp(j->pol.m, m);
    model_lora_set_enabled(j->pol.m, 1);
    return lp;
}

static int micro_build(rl_job *j, const step_data *d, int first, int n, micro *m) {
    memset(m, 0, sizeof *m);
    m->n = n;
    m->adv = mem_alloc(sizeof(double) * (size_t)n);
    m->keep = mem_alloc((size_t)n);
    m->truncated = mem_alloc((size_t)n);
    trainer_seq *seqs = mem_alloc(sizeof *seqs * (size_t)n);
    for (int r = 0; r < n; r++) {
        const rollout_sample *s = &d->roll.samples[first + r];
        m->adv[r] = d->adv[first + r];
        m->keep[r] = d->keep[first + r];
        m->truncated[r] = d->truncated[first + r];
        seqs[r] = (trainer_seq){d->prompt[s->prompt].v, d->prompt[s->prompt].n, s->ids, s->len};
        if (s->len > m->Tc) m->Tc = s->len; /* >= 1: the sampler gives every completion a token */
    }
    int bad = trainer_pack(seqs, n, model_device(j->pol.m), &m->ids, &m->mask, &m->P) < 0;
    free(seqs);
    if (bad) return -1;
    m->ids = ts_keep(m->ids);
    m->mask = ts_keep(m->mask);
    if (completion_tensors(j, d, first, m) || (j->lo.agg == LOSS_AGG_DEGRPO && control_positions(j, d, first, m)))
        return -1;
    m->old_logp = j->recompute_old ? scored_logp(j->pol.m, m) : ts_keep(ts_alias(m->sampler_logp));
    if (!m->old_logp || (j->have_ref && !(m->ref_logp = ref_logp(j, m)))) return -1;
    return 0;
}

static loss_batch micro_batch(const micro *m, const ts_tensor *lp, const ts_tensor *ent) {
    return (loss_batch){.logp = lp,
                        .old_logp = m->old_logp,
                        .ref_logp = m->ref_logp,
                        .entropy = ent,
                        .sampler_logp = m->sampler_logp,
                        .mask = m->cmask,
                        .adv = m->adv,
                        .keep = m->keep,
                        .truncated = m->truncated,
                        .ctrl_pos = m->ctrl_pos};
}

/* Split the rows of groups [g0, g1) into micro-batches of at most micro_batch_tokens padded
 * tokens (at least one row each). */
static int plan_micro(rl_job *j, const step_data *d, int g0, int g1, micro **out, int *n_out) {
    int n = 0;
    micro *ms = mem_calloc((size_t)((g1 - g0) * d->G), sizeof *ms);
    int64_t budget = j->c->train.micro_batch_tokens;
    int start = g0 * d->G, end = g1 * d->G;
    while (start < end) {
        int stop = start;
        int64_t pw = 0, cw = 0;
        while (stop < end) {
            const rollout_sample *s = &d->roll.samples[stop];
            int64_t p2 = pw > d->prompt[s->prompt].n ? pw : d->prompt[s->prompt].n;
            int64_t c2 = cw > s->len ? cw : s->len;
            if (budget > 0 && stop > start && (stop - start + 1) * (p2 + c2) > budget) break;
            pw = p2;
            cw = c2;
            stop++;
        }
        if (micro_build(j, d, start, stop - start, &ms[n])) {
            for (int i = 0; i <= n; i++) micro_free(&ms[i]);
            free(ms);
            return -1;
        }
        n++;
        start = stop;
    }
    *out = ms;
    *n_out = n;
    return 0;
}

/* Sum the gradients over ranks: with the loss normalised by global counts, the sum is the
 * gradient of the whole step. */
static int allreduce_grads(rl_job *j) {
    model_param_table p = model_params(j->pol.m);
    int rc = -1;
    ts_tensor **g = mem_alloc(sizeof(ts_tensor *) * (size_t)p.n);
    ts_scope_begin();
    int ok = 1;
    for (int i = 0; i < p.n && ok; i++) ok = (g[i] = ts_grad(p.t[i])) != NULL;
    if (ok) rc = dist_allreduce_tensors(j->dist, g, p.n, DIST_SUM);
    ts_scope_end();
    free(g);
    return rc;
}

/* A mini-batch: its micro-batches, built once and reused by every epoch, and its global counts. */
typedef struct minibatch {
    micro *ms;
    int nm;
    loss_counts counts;
} minibatch;

static void minibatches_free(minibatch *mbs, int n) {
    for (int i = 0; mbs && i < n; i++) {
        for (int k = 0; k < mbs[i].nm; k++) micro_free(&mbs[i].ms[k]);
        free(mbs[i].ms);
    }
    free(mbs);
}

/* This rank's groups split into train.mini_batches mini-batches, each with the counts of the
 * loss normalisers over every rank. */
static int plan_minibatches(rl_job *j, const step_data *d, minibatch **out) {
    int nmb = (int)j->c->train.mini_batches, per = d->P / nmb;
    minibatch *mbs = mem_calloc((size_t)nmb, sizeof *mbs);
    for (int mb = 0; mb < nmb; mb++) {
        minibatch *b = &mbs[mb];
        if (plan_micro(j, d, mb * per, (mb + 1) * per, &b->ms, &b->nm)) goto fail;
        for (int k = 0; k < b->nm; k++) {
            loss_batch lb = micro_batch(&b->ms[k], b->ms[k].old_logp, NULL);
            if (loss_count(&j->lo, &lb, &b->counts)) goto fail;
        }
        if (dist_allreduce_f64(j->dist, (double *)&b->counts, sizeof b->counts / sizeof(double), DIST_SUM))
            goto fail;
    }
    *out = mbs;
    return 0;
fail:
    minibatches_free(mbs, nmb);
    return -1;
}

/* The gap |trainer - sampler| of the log-probs of m's completions, added to the step's metrics;
 * trainer_lp (n, Tc) without gradient. */
static int add_gap(step_metrics *sm, const micro *m, const ts_tensor *trainer_lp) {
    ts_tensor *gap = ts_mul(ts_abs(ts_sub(trainer_lp, m->sampler_logp)), m->cmask);
    double mx = 0, sum = 0, tokens = 0;
    if (ts_item_f64(ts_max(gap), &mx) || ts_item_f64(ts_sum(gap), &sum) || ts_item_f64(ts_sum(m->cmask), &tokens))
        return -1;
    if (mx > sm->v[M_GAP_MAX]) sm->v[M_GAP_MAX] = mx;
    sm->v[M_GAP_MEAN] += sum;
    sm->v[M_GAP_TOKENS] += tokens;
    return 0;
}

/* The key of the LoRA dropout of micro-batch k of optimiser update update_index on this rank: a
 * function of run.seed and those indices, so a resumed run draws the same. Never 0 (no dropout). */
static uint64_t dropout_key(const rl_job *j, int64_t update_index, int k) {
    rng_stream s;
    rng_stream_init(&s, (uint64_t)j->c->run.seed, ((uint64_t)update_index * (uint64_t)j->world + (uint64_t)j->rank) << 24 | (uint64_t)k);
    return rng_next_u64(&s) | 1;
}

/* Forward and backward of one mini-batch, accumulating gradients over its micro-batches; the
 * first epoch also measures the gap between the trainer's log-probs (the recomputed old ones, or
 * this forward's) and the sampler's. */
static int minibatch_backward(rl_job *j, const minibatch *b, int64_t update_index, int first_epoch, loss_metrics *lm,
                              step_metrics *sm) {
    int ent_grad = j->lo.entropy_coef != 0; /* entropy is always computed, for the metric */
    for (int k = 0; k < b->nm; k++) {
        const micro *m = &b->ms[k];
        model_lora_set_dropout_key(j->pol.m, dropout_key(j, update_index, k));
        ts_scope_begin();
        ts_tensor *lp = NULL, *ent = NULL;
        int bad = completion_logp(j->pol.m, m, ent_grad, &lp, &ent);
        if (!bad && first_epoch) {
            bad = add_gap(sm, m, j->recompute_old ? m->old_logp : ts_detach(lp));
            sm->v[M_TRAIN_TOKENS] += (double)ts_numel(m->ids);
        }
        loss_batch lb = micro_batch(m, lp, ent);
        ts_tensor *loss = bad ? NULL : loss_compute(&j->lo, &lb, &b->counts, lm);
        bad = bad || !loss || ts_backward(loss);
        ts_scope_end();
        if (bad) return -1;
    }
    return 0;
}

/* The policy update of one RL step (ALGORITHMS.md 1.7): train.epochs passes over the batch, each
 * pass one optimiser step per mini-batch, mini-batches inside epochs as verl and TRL loop them. A
 * mini-batch in which no token carries loss (PSR with no correct completion, NSR with no wrong
 * one, every row truncated and masked) takes no step: its gradient is zero, and AdamW's momentum
 * and weight decay would still move the weights (ALGORITHMS.md 6). The loss metrics and the
 * gradient norm are means over the last epoch's steps; lr is the last step's. */
static int update(rl_job *j, const step_data *d, int64_t step, step_metrics *sm) {
    const rlvr_config *c = j->c;
    int nmb = (int)c->train.mini_batches, last_steps = 0;
    int64_t epochs = c->train.epochs;
    minibatch *mbs = NULL;
    if (plan_minibatches(j, d, &mbs)) return -1;
    int rc = -1;
    for (int64_t ep = 0; ep < epochs; ep++) {
        for (int mb = 0; mb < nmb; mb++) {
            if (mbs[mb].counts.tokens == 0) {
                sm->v[M_EMPTY_UPDATES]++;
                continue;
            }
            loss_metrics lm;
            memset(&lm, 0, sizeof lm);
            model_zero_grad(j->pol.m);
            if (minibatch_backward(j, &mbs[mb], (step * epochs + ep) * nmb + mb, ep == 0, &lm, sm)) goto out;
            if (j->world > 1 && allreduce_grads(j)) goto out;
            int64_t at = j->lr_per_rl_step ? step : (step * epochs + ep) * nmb + mb;
            double lr = optim_lr_at(&j->oo, at);
            optim_step_info info;
            if (optim_step(j->opt, lr, &info)) goto out;
            sm->v[M_UPDATES] += !info.skipped;
            sm->v[M_SKIPPED] += info.skipped;
            sm->v[M_LR] = lr;
            if (info.skipped) log_warn("step %lld: non-finite gradient, update skipped", (long long)step);
            log_debug("step %lld: epoch %lld mini-batch %d: lr %.4g, grad norm %.4g", (long long)step + 1,
                      (long long)ep, mb, lr, info.grad_norm);
            if (ep == epochs - 1) {
                loss_metrics *t = &sm->lm;
                t->pg_loss += lm.pg_loss;
                t->kl_loss += lm.kl_loss;
                t->entropy_loss += lm.entropy_loss;
                t->clip_low += lm.clip_low;
                t->clip_high += lm.clip_high;
                t->clip_dual += lm.clip_dual;
                t->ratio_mean += lm.ratio_mean;
                t->kl_mean += lm.kl_mean;
                t->entropy_mean += lm.entropy_mean;
                t->tis_mean += lm.tis_mean;
                t->tis_capped += lm.tis_capped;
                if (lm.tis_max > t->tis_max) t->tis_max = lm.tis_max;
                sm->v[M_GRAD_NORM] += info.grad_norm;
                last_steps++;
            }
        }
    }
    const loss_metrics *t = &sm->lm;
    double inv = last_steps ? 1.0 / last_steps : 0;
    sm->v[M_PG_LOSS] = t->pg_loss * inv;
    sm->v[M_KL] = t->kl_mean * inv;
    sm->v[M_ENTROPY] = t->entropy_mean * inv;
    sm->v[M_CLIP_LOW] = t->clip_low * inv;
    sm->v[M_CLIP_HIGH] = t->clip_high * inv;
    sm->v[M_CLIP_DUAL] = t->clip_dual * inv;
    sm->v[M_RATIO] = t->ratio_mean * inv;
    sm->v[M_TIS_MEAN] = t->tis_mean * inv;
    sm->v[M_TIS_CAPPED] = t->tis_capped * inv;
    sm->v[M_TIS_MAX] = t->tis_max;
    sm->v[M_GRAD_NORM] *= inv;
    rc = 0;
out:
    model_zero_grad(j->pol.m);
    minibatches_free(mbs, nmb);
    return rc;
}

/* ---- metrics ---- */

/* This rank's values of the step's completions. */
static void completion_metrics(const step_data *d, double *v) {
    for (int i = 0; i < d->n; i++) {
        const rollout_sample *s = &d->roll.samples[i];
        reward_mode mode = reward_thinkless_mode(s->text);
        v[M_REWARD] += d->reward[i];
        v[M_REWARD_SQ] += d->reward[i] * d->reward[i];
        v[M_ACCURACY] += d->correct[i];
        v[M_LENGTH] += s->len;
        if (s->len > v[M_LENGTH_MAX]) v[M_LENGTH_MAX] = s->len;
        v[M_TRUNCATED] += s->finish == ROLLOUT_LENGTH;
        v[M_THINK_RATIO] += mode == REWARD_MODE_THINK;
        v[M_SHORT_RATIO] += mode == REWARD_MODE_SHORT;
        v[M_KEPT] += d->keep[i];
    }
    v[M_GEN_TOKENS] = v[M_LENGTH];
    v[M_ROWS] = d->n;
    v[M_ZERO_STD_GROUPS] = d->zero_std;
    v[M_DRAWS] = d->draws;
}

/* The step's metrics over every rank, as metric_defs says: sums and maxima all-reduced (in table
 * order, so the same on every run), then the divisions. */
static int reduce_metrics(rl_job *j, double *v) {
    double sum[M_COUNT], max[M_COUNT];
    int ns = 0, nx = 0;
    for (int i = 1; i < M_COUNT; i++) {
        if (metric_defs[i].red == RED_SUM) sum[ns++] = v[i];
        if (metric_defs[i].red == RED_MAX) max[nx++] = v[i];
    }
    if (dist_allreduce_f64(j->dist, sum, ns, DIST_SUM) || dist_allreduce_f64(j->dist, max, nx, DIST_MAX)) return -1;
    ns = nx = 0;
    for (int i = 1; i < M_COUNT; i++) {
        if (metric_defs[i].red == RED_SUM) v[i] = sum[ns++];
        if (metric_defs[i].red == RED_MAX) v[i] = max[nx++];
    }
    double per[M_COUNT];
    memcpy(per, v, sizeof per); /* denominators as reduced, before any division */
    for (int i = 1; i < M_COUNT; i++) {
        metric_id d = metric_defs[i].per;
        if (d != M_NONE) v[i] = per[d] > 0 ? v[i] / per[d] : 0;
    }
    v[M_REWARD_STD] = sqrt(fmax(0, v[M_REWARD_SQ] - v[M_REWARD] * v[M_REWARD]));
    return 0;
}

static int write_metrics(FILE *f, rl_job *j, int64_t step, const double *v) {
    fprintf(f, "{\"step\": %lld", (long long)step);
    for (int i = 1; i < M_COUNT; i++)
        if (metric_defs[i].name) trainer_json_number(f, metric_defs[i].name, metric_defs[i].fmt, v[i]);
    for (int i = 0; i < j->n_rm; i++) trainer_json_number(f, j->rm[i].name, "%.6g", j->rm[i].value);
    fputs("}\n", f);
    if (fflush(f) != 0 || ferror(f))
        return err_set("cannot write '%s/metrics.jsonl': %s", j->c->run.dir, strerror(errno));
    return 0;
}

/* Every named metric and reward sub-score as a TensorBoard scalar. */
static int write_tboard(tboard *tb, rl_job *j, int64_t step, const double *v) {
    for (int i = 1; i < M_COUNT; i++)
        if (metric_defs[i].name && tboard_scalar(tb, metric_defs[i].name, step, v[i])) return -1;
    for (int i = 0; i < j->n_rm; i++)
        if (tboard_scalar(tb, j->rm[i].name, step, j->rm[i].value)) return -1;
    return tboard_flush(tb);
}

/* The console line: progress, the metrics the table marks, the time split and the ETA. */
static void log_step(const rlvr_config *c, int64_t step, int64_t first, double t_start, const double *v) {
    char line[512];
    int n = snprintf(line, sizeof line, "step %lld/%lld", (long long)step, (long long)c->train.steps);
    for (int i = 1; i < M_COUNT && n < (int)sizeof line; i++)
        if (metric_defs[i].console) {
            n += snprintf(line + n, sizeof line - (size_t)n, " ");
            n += snprintf(line + n, sizeof line - (size_t)n, metric_defs[i].console, v[i]);
        }
    double per_step = (log_now() - t_start) / (double)(step - first), eta = per_step * (double)(c->train.steps - step);
    log_info("%s %.2fs (rollout %.2f reward %.2f train %.2f), eta %.0fm%02.0fs", line, v[M_STEP_S], v[M_ROLLOUT_S],
             v[M_REWARD_S], v[M_TRAIN_S], floor(eta / 60), fmod(eta, 60));
}

/* The reward module's sub-score means and counters over every rank (ranks score the same terms,
 * so their lists match; counters are summed, means averaged over equal shares). */
static int reward_stats(rl_job *j) {
    j->n_rm = reward_metrics(j->rw, j->rm, REWARD_MAX_METRICS);
    reward_metrics_reset(j->rw);
    double nn[2] = {j->n_rm, -j->n_rm}, v[REWARD_MAX_METRICS];
    if (dist_allreduce_f64(j->dist, nn, 2, DIST_MAX)) return -1;
    if (nn[0] != -nn[1]) return err_set("ranks report different reward metrics (%g vs %g)", nn[0], -nn[1]);
    for (int i = 0; i < j->n_rm; i++) v[i] = j->rm[i].value;
    if (dist_allreduce_f64(j->dist, v, j->n_rm, DIST_SUM)) return -1;
    for (int i = 0; i < j->n_rm; i++) {
        const char *name = j->rm[i].name;
        int counter = !strcmp(name, "reward/scored") || !strcmp(name, "reward/no_answer") ||
                      !strncmp(name, "reward/external_", 16) || !strcmp(name, "reward/plugin_failures");
        j->rm[i].value = counter ? v[i] : v[i] / j->world;
    }
    return 0;
}

static int log_rollouts(rolloutlog *l, rl_job *j, int64_t step, const step_data *d) {
    rolloutlog_prompt *lp = mem_alloc(sizeof *lp * (size_t)d->P);
    rolloutlog_completion *lc = mem_alloc(sizeof *lc * (size_t)d->n);
    for (int p = 0; p < d->P; p++) {
        const data_example *e = &j->ds->ex[d->index[p]];
        lp[p] = (rolloutlog_prompt){d->index[p], e->prompt, e->answer, d->prompt[p].v, d->prompt[p].n};
    }
    for (int i = 0; i < d->n; i++) {
        const rollout_sample *s = &d->roll.samples[i];
        lc[i] = (rolloutlog_completion){s->prompt, s->index, s->text, s->ids, s->len,
                                        rollout_finish_name(s->finish), d->reward[i], d->adv[i],
                                        d->rew[i].sub, d->rew[i].n_sub};
    }
    int rc = rolloutlog_append(l, step, lp, d->P, lc, d->n);
    free(lp);
    free(lc);
    return rc;
}

/* ---- the job ---- */

static int check_batch(const rlvr_config *c, int world) {
    int64_t unit = c->train.mini_batches * world;
    if (c->train.prompts_per_step % unit)
        return err_set("train.prompts_per_step (%lld) must be a multiple of train.mini_batches (%lld) "
                       "x ranks (%d): every rank takes an equal share of every mini-batch",
                       (long long)c->train.prompts_per_step, (long long)c->train.mini_batches, world);
    return 0;
}

/* Global prompt g belongs to mini-batch g / (P / M); inside it the ranks take equal consecutive
 * shares, so a mini-batch holds the same groups whatever the world size. */
static int plan_owners(rl_job *j) {
    j->P = (int)j->c->train.prompts_per_step;
    j->owner = mem_alloc(sizeof(int) * (size_t)j->P);
    int mb = j->P / (int)j->c->train.mini_batches, share = mb / j->world;
    for (int g = 0; g < j->P; g++) j->owner[g] = (g % mb) / share;
    return 0;
}

/* Every rank starts from rank 0's weights, and says so if it did not before. */
static int sync_replicas(rl_job *j) {
    model_param_table p = model_params(j->pol.m);
    ts_no_grad_begin();
    int rc = dist_broadcast_tensors(j->dist, p.t, p.n, 0);
    ts_no_grad_end();
    return rc;
}

static int check_replicas(rl_job *j) {
    model_param_table p = model_params(j->pol.m);
    return dist_check_replicas(j->dist, p.t, p.names, p.n);
}

/* algo.old_logprobs, algo.tis_cap and algo.logprob_temperature: the trainer's log-probs are at the
 * rollout temperature (greedy: 1) or at 1, and the sampler records its own at the same one, so
 * that they serve as pi_old and TIS compares like with like. */
static int logprob_setup(rl_job *j) {
    const rlvr_config *c = j->c;
    double t = j->ro.sampling.temperature;
    j->recompute_old = !strcmp(cfg_enum_name(c, "algo.old_logprobs"), "recompute");
    j->lp_temp = !strcmp(cfg_enum_name(c, "algo.logprob_temperature"), "rollout") && t > 0 ? t : 1;
    j->ro.logprob_temperature = j->lp_temp;
    if (j->lo.tis_cap > 0 && !j->recompute_old)
        return err_set("algo.tis_cap %g with algo.old_logprobs sampler: TIS weighs the recomputed old "
                       "log-probs against the sampler's, and with sampler they are the same; set "
                       "algo.old_logprobs=recompute or algo.tis_cap=0", j->lo.tis_cap);
    return 0;
}

/* model.device names a device this process can use (under NCCL the communicator picks it). */
static int device_setup(rl_job *j, ts_device **pick, ts_device *dev) {
    *dev = dist_device(j->dist);
    if (dist_get_backend(j->dist) == DIST_NCCL) {
        *pick = dev;
        return 0;
    }
    *pick = NULL;
    ts_device want;
    if (ts_device_parse(j->c->model.device, &want)) return err_prefix("model.device");
    return model_device_check(want) ? err_prefix("model.device") : 0;
}

static int job_init(rl_job *j, const rlvr_config *c) {
    memset(j, 0, sizeof *j);
    j->c = c;
    if (!(j->dist = dist_init(&c->dist))) return -1;
    j->rank = dist_rank(j->dist);
    j->world = dist_world(j->dist);
    rollout_options_from_cfg(c, &j->ro);
    ts_device dev, *pick;
    if (check_batch(c, j->world) || plan_owners(j) || adv_opts_from_cfg(c, &j->ao) ||
        loss_opts_from_cfg(c, &j->lo) || optim_opts_from_cfg(c, &j->oo) || logprob_setup(j) ||
        device_setup(j, &pick, &dev) || trainer_memory_check(c, j->lo.kl_coef > 0))
        return -1;
    j->lr_per_rl_step = !strcmp(cfg_enum_name(c, "optim.schedule_unit"), "rl_step");
    if (j->oo.total_steps == 0)
        j->oo.total_steps = c->train.steps * (j->lr_per_rl_step ? 1 : c->train.mini_batches * c->train.epochs);
    if (optim_opts_check(&j->oo)) return -1;
    /* rank 0 prepares the run directory; the others wait, then check it the same way */
    if (j->rank == 0 && trainer_run_dir_prepare(c, !strcmp(cfg_enum_name(c, "train.resume"), "auto"))) return -1;
    if (dist_barrier(j->dist)) return -1;
    if (trainer_policy_load(&j->pol, c, NULL, pick) || trainer_policy_trainable(&j->pol, c)) return -1;
    model_set_logprob_temperature(j->pol.m, j->lp_temp);
    model_set_activation_checkpointing(j->pol.m, c->train.activation_checkpointing);
    if (j->lo.kl_coef > 0 && model_lora(j->pol.m)) {
        j->have_ref = j->ref_is_base = 1;
    } else if (j->lo.kl_coef > 0) {
        if (trainer_policy_load(&j->ref, c, NULL, pick)) return -1;
        model_set_logprob_temperature(j->ref.m, j->lp_temp);
        j->have_ref = 1;
    }
    if (!(j->rw = reward_init(c))) return -1;
    model_param_table p = model_params(j->pol.m);
    if (!(j->opt = optim_init(p.t, p.names, p.n, &j->oo))) return -1;
    if (!(j->ds = data_open(c, DATA_SPLIT_TRAIN)) || !(j->smp = data_sampler_open(c, j->ds->n))) return -1;
    j->ro.eos_ids = j->pol.eos;
    j->ro.n_eos = j->pol.n_eos;
    j->ro.tok = j->pol.tok;
    j->ro.seed = (uint64_t)c->run.seed;
    return 0;
}

static void job_free(rl_job *j) {
    optim_free(j->opt);
    reward_free(j->rw);
    data_sampler_free(j->smp);
    data_set_free(j->ds);
    trainer_policy_free(&j->pol);
    if (j->have_ref && !j->ref_is_base) trainer_policy_free(&j->ref);
    free(j->owner);
    dist_free(j->dist);
}

/* A stop asked of any rank (Ctrl-C reaches them at different moments) is a stop of all. */
static int stop_agreed(rl_job *j, int *stop) {
    double v = trainer_stop_requested;
    if (dist_allreduce_f64(j->dist, &v, 1, DIST_MAX)) return -1;
    *stop = v != 0;
    return 0;
}

/* Rank 0 writes the checkpoint; every rank waits for it. */
static int save(rl_job *j, int64_t step) {
    int rc = j->rank == 0 ? trainer_save(j->c, &j->pol, j->opt, j->smp, j->ds, step,
                                         (int)j->c->train.keep_last) : 0;
    double v = rc;
    if (dist_allreduce_f64(j->dist, &v, 1, DIST_MIN)) return -1;
    return v < 0 && rc == 0 ? err_set("rank 0 failed to write the checkpoint of step %lld", (long long)step) : rc;
}

/* train.eval_every: rank 0 evaluates on the test split and appends to run.dir/eval.jsonl. */
static int periodic_eval(rl_job *j, int64_t step) {
    int rc = 0;
    if (j->rank == 0) {
        char *json = trainer_eval(j->c, &j->pol, j->rw);
        FILE *f = json ? trainer_run_file(j->c, "eval.jsonl") : NULL;
        if (f) {
            for (char *p = json; *p; p++)
                if (*p == '\n' || *p == '\t') *p = ' ';
            fprintf(f, "{\"step\": %lld, \"eval\": %s}\n", (long long)step, json);
            rc = fclose(f) ? err_set("cannot write %s/eval.jsonl", j->c->run.dir) : 0;
        } else {
            rc = -1;
        }
        free(json);
        reward_metrics_reset(j->rw);
    }
    double v = rc;
    if (dist_allreduce_f64(j->dist, &v, 1, DIST_MIN)) return -1;
    return v < 0 && rc == 0 ? err_set("rank 0 failed to evaluate at step %lld", (long long)step) : rc;
}

/* Where a step's results go: the rollout log (every rank), metrics.jsonl and TensorBoard (rank 0),
 * and the last step's metrics for the console. */
typedef struct step_io {
    rolloutlog *rollouts;
    FILE *metrics;
    tboard *tb;
    double last[M_COUNT];
} step_io;

/* Sample, score and compute advantages; with dynamic sampling the three interleave over draws.
 * t gets the seconds of the rollout and of the rewards. */
static int rollout_and_rewards(rl_job *j, int64_t step, step_data *d, double *t) {
    double t0 = log_now();
    if (j->ao.dynamic_sampling) {
        int rc = sample_dynamic(j, step, d);
        t[0] = log_now() - t0;
        t[1] = 0;
        return rc;
    }
    int rc = draw_and_sample(j, step, d);
    t[0] = log_now() - t0;
    rc = rc || score(j, d);
    t[1] = log_now() - t0 - t[0];
    return rc;
}

/* RL step `step` (from 1), as ALGORITHMS.md lays it out: rollout -> rewards -> advantages ->
 * update -> metrics, then the step's records. */
static int rl_step(rl_job *j, int64_t step, step_io *io) {
    step_data d = {0};
    step_metrics sm = {0};
    double t0 = log_now(), t[2];
    int bad = rollout_and_rewards(j, step - 1, &d, t);
    double t1 = log_now();
    bad = bad || update(j, &d, step - 1, &sm);
    double *v = sm.v;
    v[M_ROLLOUT_S] = t[0];
    v[M_REWARD_S] = t[1];
    v[M_TRAIN_S] = log_now() - t1;
    if (!bad) completion_metrics(&d, v);
    bad = bad || reduce_metrics(j, v) || reward_stats(j) || log_rollouts(io->rollouts, j, step, &d);
    v[M_GEN_TOK_S] = v[M_GEN_TOKENS] / v[M_ROLLOUT_S];
    v[M_TRAIN_TOK_S] = v[M_TRAIN_TOKENS] * (double)j->c->train.epochs / v[M_TRAIN_S];
    v[M_STEP_S] = log_now() - t0;
    bad = bad || (io->metrics && write_metrics(io->metrics, j, step, v)) || (io->tb && write_tboard(io->tb, j, step, v));
    memcpy(io->last, v, sizeof io->last);
    step_data_free(&d);
    return bad ? -1 : 0;
}

int trainer_rl(const rlvr_config *c) {
    rl_job j;
    step_io io = {0};
    int rc = -1, stop = 0;
    int64_t step = 0, saved = -1; /* saved: the step of the newest checkpoint */
    if (job_init(&j, c)) goto out;
    int resumed = trainer_resume(c, &j.pol, j.opt, j.smp, j.ds, j.rank == 0, &step);
    if (resumed < 0 || sync_replicas(&j)) goto out;
    if (resumed) saved = step;
    /* a run stopped after its last checkpoint but before model/ was in place ends below */
    if (step >= c->train.steps && trainer_run_has_model(c, step)) {
        err_set("run.dir '%s' is already at step %lld of train.steps %lld: nothing to do (raise "
                "train.steps to continue, or use another run.dir)", c->run.dir, (long long)step,
                (long long)c->train.steps);
        goto out;
    }
    if (j.rank == 0 && trainer_run_dir_sync(c, step)) goto out;
    char path[1100];
    /* one rollout log per rank: each holds the prompts that rank sampled */
    if (j.rank == 0) snprintf(path, sizeof path, "%s/rollouts.h5", c->run.dir);
    else snprintf(path, sizeof path, "%s/rollouts.rank%d.h5", c->run.dir, j.rank);
    if (!(io.rollouts = rolloutlog_open(path, resumed ? step + 1 : 0))) goto out;
    if (j.rank == 0 && (!(io.metrics = trainer_run_file(c, "metrics.jsonl")) || trainer_tboard_open(c, step, &io.tb)))
        goto out;
    trainer_catch_signals();
    if (j.rank == 0)
        log_info("train: %s, %lld x %lld completions per step on %d rank%s (%s), steps %lld..%lld, "
                 "run.dir %s", j.ds->name, (long long)c->train.prompts_per_step,
                 (long long)c->train.group_size, j.world, j.world > 1 ? "s" : "",
                 dist_backend_name(dist_get_backend(j.dist)), (long long)step + 1,
                 (long long)c->train.steps, c->run.dir);
    /* a fresh run's evaluation at step 0 is the baseline the curves in eval.jsonl start from */
    if (c->train.eval_every && !resumed && periodic_eval(&j, 0)) goto out;
    double t_start = log_now();
    int64_t first = step;
    while (step < c->train.steps) {
        if (stop_agreed(&j, &stop)) goto out;
        if (stop) break;
        if (rl_step(&j, ++step, &io)) goto out;
        if (j.rank == 0 && (step % c->train.log_every == 0 || step == c->train.steps))
            log_step(c, step, first, t_start, io.last);
        if (dist_check_due(j.dist, step) && check_replicas(&j)) goto out;
        if (c->train.eval_every && step % c->train.eval_every == 0 && periodic_eval(&j, step)) goto out;
        if (c->train.save_every && step % c->train.save_every == 0 && step < c->train.steps) {
            if (save(&j, step)) goto out;
            saved = step;
        }
    }
    if (stop && j.rank == 0) log_warn("stopping at step %lld on a signal", (long long)step);
    if (step != saved && save(&j, step)) goto out;
    if (!stop && j.rank == 0) {
        if (trainer_export_run(c, &j.pol, "train")) goto out;
    }
    rc = 0;
out:
    if (io.metrics && fclose(io.metrics) != 0 && rc == 0)
        rc = err_set("cannot write '%s/metrics.jsonl': %s", c->run.dir, strerror(errno));
    if (rc == 0) {
        rc = tboard_close(io.tb) || rolloutlog_close(io.rollouts) ? -1 : 0;
    } else { /* the first error is the one to report */
        char first[ERR_MSG_MAX];
        snprintf(first, sizeof first, "%s", err_msg());
        tboard_close(io.tb);
        rolloutlog_close(io.rollouts);
        err_set("%s", first);
    }
    if (rc && j.world > 1) { /* the other ranks may be waiting in a collective: end them all */
        char msg[ERR_MSG_MAX + 32];
        snprintf(msg, sizeof msg, "rank %d: %s", j.rank, err_msg());
        dist_abort(j.dist, 1, msg);
    }
    job_free(&j);
    return rc;
}
