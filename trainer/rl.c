/* rl — `rlvr train`: the RL loop of the GRPO family (docs/ALGORITHMS.md), one step at a time:
 *
 *   draw B prompts -> sample G completions each (rollout/, the policy's own weights)
 *   -> score each group (rewards/) -> advantages (adv.h) -> epochs x mini-batches of updates,
 *   each accumulated over token-budget micro-batches with the loss normalised by the step's
 *   global counts (loss.h), so micro-batching changes nothing but rounding
 *   -> metrics.jsonl, the rollout log, a checkpoint every train.save_every steps.
 *
 * The old log-probs of the ratio are the ones the sampler recorded: there is no second copy of
 * the weights, and the gap between them and the trainer's recomputed log-probs is a metric of
 * every step. */
#include "train.h"

#include "adv.h"
#include "batch.h"
#include "common/err.h"
#include "common/log.h"
#include "dist/dist.h"
#include "loss.h"
#include "rewards/reward.h"
#include "rollout/rollout.h"
#include "rolloutlog.h"
#include "state.h"

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
    trainer_policy pol, ref;   /* ref loaded only when algo.kl.coef > 0 */
    int have_ref;
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
    reward_metric rm[REWARD_MAX_METRICS];
    int n_rm;
} rl_job;

/* Metrics of one step, written as one JSON line. */
typedef struct step_metrics {
    double reward_mean, reward_std, accuracy, len_mean, len_max, truncated, think_ratio, short_ratio;
    double zero_std_groups, kept;
    int draws;
    loss_metrics lm;
    double grad_norm, lr, lp_gap_max, lp_gap_mean;
    int skipped;
    double rollout_s, reward_s, train_s, step_s, gen_tok_s, train_tok_s;
    int64_t gen_tokens, train_tokens;
} step_metrics;

/* ---- rollout and rewards ---- */

/* Draw the step's prompts (every rank draws all of them, so the data stream does not depend on
 * the world size) and sample this rank's share. */
static int draw_and_sample(rl_job *j, int64_t step, step_data *d) {
    const rlvr_config *c = j->c;
    d->G = (int)c->train.group_size;
    d->index = malloc(sizeof(int64_t) * (size_t)j->P);
    d->prompt = calloc((size_t)j->P, sizeof(tok_ids));
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)j->P);
    const int32_t **ids = malloc(sizeof(int32_t *) * (size_t)j->P);
    int *lens = malloc(sizeof(int) * (size_t)j->P), rc = -1;
    if (!d->index || !d->prompt || !keys || !ids || !lens) {
        err_set("out of memory");
        goto out;
    }
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
    double *send = malloc(sizeof(double) * (size_t)(2 * per));
    double *recv = malloc(sizeof(double) * (size_t)(2 * per * j->world));
    double *adv = malloc(sizeof(double) * (size_t)n_all);
    unsigned char *correct = d->all_correct = malloc((size_t)n_all), *keep = malloc((size_t)n_all);
    int *seen = calloc((size_t)j->world, sizeof(int));
    d->all_reward = malloc(sizeof(double) * (size_t)n_all);
    if (!send || !recv || !adv || !correct || !keep || !seen || !d->all_reward) {
        err_set("out of memory");
        goto out;
    }
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
    d->rew = calloc((size_t)d->n, sizeof *d->rew);
    d->reward = malloc(sizeof(double) * (size_t)d->n);
    d->adv = malloc(sizeof(double) * (size_t)d->n);
    d->correct = malloc((size_t)d->n);
    d->keep = malloc((size_t)d->n);
    d->truncated = malloc((size_t)d->n);
    reward_input *in = malloc(sizeof *in * (size_t)d->G);
    int rc = -1;
    if (!d->rew || !d->reward || !d->adv || !d->correct || !d->keep || !d->truncated || !in) {
        err_set("out of memory");
        goto out;
    }
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
 * whose outcomes differ; each rank keeps the first informative groups of its own draws ---- */

static int step_data_alloc(step_data *d, int P, int G) {
    memset(d, 0, sizeof *d);
    d->P = P;
    d->G = G;
    d->n = P * G;
    d->index = malloc(sizeof(int64_t) * (size_t)P);
    d->prompt = calloc((size_t)P, sizeof(tok_ids));
    d->roll.samples = calloc((size_t)d->n, sizeof(rollout_sample));
    d->roll.n = d->n;
    d->rew = calloc((size_t)d->n, sizeof(reward_result));
    d->reward = malloc(sizeof(double) * (size_t)d->n);
    d->adv = malloc(sizeof(double) * (size_t)d->n);
    d->correct = malloc((size_t)d->n);
    d->keep = malloc((size_t)d->n);
    d->truncated = malloc((size_t)d->n);
    if (!d->index || !d->prompt || !d->roll.samples || !d->rew || !d->reward || !d->adv ||
        !d->correct || !d->keep || !d->truncated)
        return err_set("out of memory");
    return 0;
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
    unsigned char *informative = malloc((size_t)j->P);
    if (!informative || step_data_alloc(out, target, G)) {
        free(informative);
        return err_set("out of memory");
    }
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
    rc = 0;
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
    ts_tensor *ids, *mask;     /* (n, P + Tc) */
    ts_tensor *old_logp, *cmask; /* (n, Tc) f32 */
    ts_tensor *ref_logp;       /* (n, Tc) or NULL */
    double *adv;
    unsigned char *keep, *truncated;
} micro;

static void micro_free(micro *m) {
    free(m->adv);
    free(m->keep);
    free(m->truncated);
    ts_free(m->ids);
    ts_free(m->mask);
    ts_free(m->old_logp);
    ts_free(m->cmask);
    ts_free(m->ref_logp);
}

/* The model's log-probs of the completion tokens of m: (n, Tc), optionally entropy. */
static int completion_logp(model *mod, const micro *m, int entropy_grad, ts_tensor **lp, ts_tensor **ent) {
    ts_tensor *full, *fent = NULL;
    if (model_forward_logprobs(mod, m->ids, m->mask, entropy_grad, &full, ent ? &fent : NULL)) return -1;
    *lp = ts_narrow(full, 1, m->P - 1, m->Tc);
    if (ent) *ent = ts_narrow(fent, 1, m->P - 1, m->Tc);
    return *lp && (!ent || *ent) ? 0 : -1;
}

static int micro_build(rl_job *j, const step_data *d, int first, int n, micro *m) {
    memset(m, 0, sizeof *m);
    m->n = n;
    m->adv = malloc(sizeof(double) * (size_t)n);
    m->keep = malloc((size_t)n);
    m->truncated = malloc((size_t)n);
    trainer_seq *seqs = malloc(sizeof *seqs * (size_t)n);
    if (!m->adv || !m->keep || !m->truncated || !seqs) {
        free(seqs);
        return err_set("out of memory");
    }
    int64_t Tc = 0;
    for (int r = 0; r < n; r++) {
        const rollout_sample *s = &d->roll.samples[first + r];
        m->adv[r] = d->adv[first + r];
        m->keep[r] = d->keep[first + r];
        m->truncated[r] = d->truncated[first + r];
        seqs[r] = (trainer_seq){d->prompt[s->prompt].v, d->prompt[s->prompt].n, s->ids, s->len};
        if (s->len > Tc) Tc = s->len;
    }
    float *old = calloc((size_t)(n * Tc), sizeof *old), *cm = calloc((size_t)(n * Tc), sizeof *cm);
    int rc = -1;
    if (!old || !cm) {
        err_set("out of memory");
        goto out;
    }
    for (int r = 0; r < n; r++) {
        const rollout_sample *s = &d->roll.samples[first + r];
        for (int t = 0; t < s->len; t++) {
            old[r * Tc + t] = s->logprobs[t];
            cm[r * Tc + t] = 1;
        }
    }
    if (trainer_pack(seqs, n, &m->ids, &m->mask, &m->P) < 0) goto out;
    m->Tc = Tc; /* >= 1: the sampler gives every completion at least one token */
    m->ids = ts_keep(m->ids);
    m->mask = ts_keep(m->mask);
    m->old_logp = ts_keep(ts_from_data(old, (int64_t[]){n, Tc}, 2, TS_F32));
    m->cmask = ts_keep(ts_from_data(cm, (int64_t[]){n, Tc}, 2, TS_F32));
    if (!m->old_logp || !m->cmask) goto out;
    if (j->have_ref) {
        ts_scope_begin();
        ts_no_grad_begin();
        ts_tensor *lp;
        int bad = completion_logp(j->ref.m, m, 0, &lp, NULL);
        ts_no_grad_end();
        if (!bad) m->ref_logp = ts_keep(ts_to_dtype(lp, TS_F32));
        ts_scope_end();
        if (!m->ref_logp) goto out;
    }
    rc = 0;
out:
    free(seqs);
    free(old);
    free(cm);
    return rc;
}

static loss_batch micro_batch(const micro *m, const ts_tensor *lp, const ts_tensor *ent) {
    return (loss_batch){lp, m->old_logp, m->ref_logp, ent, m->cmask, m->adv, m->keep, m->truncated};
}

/* Split the rows of groups [g0, g1) into micro-batches of at most micro_batch_tokens padded
 * tokens (at least one row each). */
static int plan_micro(rl_job *j, const step_data *d, int g0, int g1, micro **out, int *n_out) {
    int n = 0;
    micro *ms = calloc((size_t)((g1 - g0) * d->G), sizeof *ms);
    if (!ms) return err_set("out of memory");
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

static void clear_grads(model *m) {
    for (int i = 0; i < model_num_params(m); i++) ts_grad_clear(model_param(m, i, NULL));
}

/* Sum the gradients over ranks: with the loss normalised by global counts, the sum is the
 * gradient of the whole step. */
static int allreduce_grads(rl_job *j) {
    int n = model_num_params(j->pol.m), rc = -1;
    ts_tensor **g = malloc(sizeof(ts_tensor *) * (size_t)n);
    if (!g) return err_set("out of memory");
    ts_scope_begin();
    int ok = 1;
    for (int i = 0; i < n && ok; i++) ok = (g[i] = ts_grad(model_param(j->pol.m, i, NULL))) != NULL;
    if (ok) rc = dist_allreduce_tensors(j->dist, g, n, DIST_SUM);
    ts_scope_end();
    free(g);
    return rc;
}

static int update(rl_job *j, const step_data *d, int64_t step, step_metrics *sm) {
    const rlvr_config *c = j->c;
    int nmb = (int)c->train.mini_batches, per = d->P / nmb; /* this rank's groups per mini-batch */
    int ent_grad = j->lo.entropy_coef != 0; /* entropy is always computed, for the metric */
    double lp_gap_sum = 0;
    for (int mb = 0; mb < nmb; mb++) {
        micro *ms = NULL;
        int nm = 0;
        if (plan_micro(j, d, mb * per, (mb + 1) * per, &ms, &nm)) return -1;
        loss_counts counts;
        memset(&counts, 0, sizeof counts);
        for (int k = 0; k < nm; k++) {
            loss_batch b = micro_batch(&ms[k], ms[k].old_logp, NULL);
            if (loss_count(&j->lo, &b, &counts)) goto mb_fail;
        }
        if (dist_allreduce_f64(j->dist, (double *)&counts, sizeof counts / sizeof(double), DIST_SUM))
            goto mb_fail;
        for (int64_t ep = 0; ep < c->train.epochs; ep++) {
            clear_grads(j->pol.m);
            for (int k = 0; k < nm; k++) {
                ts_scope_begin();
                ts_tensor *lp = NULL, *ent = NULL;
                loss_metrics lm;
                memset(&lm, 0, sizeof lm);
                int bad = completion_logp(j->pol.m, &ms[k], ent_grad, &lp, &ent);
                if (!bad && ep == 0) { /* trainer vs sampler log-probs on the same weights */
                    ts_tensor *gap = ts_mul(ts_abs(ts_sub(ts_detach(lp), ms[k].old_logp)), ms[k].cmask);
                    double mx, sum;
                    bad = ts_item_f64(ts_max(gap), &mx) || ts_item_f64(ts_sum(gap), &sum);
                    if (!bad && mx > sm->lp_gap_max) sm->lp_gap_max = mx;
                    lp_gap_sum += sum;
                }
                loss_batch b = micro_batch(&ms[k], lp, ent);
                ts_tensor *loss = bad ? NULL : loss_compute(&j->lo, &b, &counts, &lm);
                bad = bad || !loss || ts_backward(loss);
                ts_scope_end();
                if (bad) goto mb_fail;
                if (ep == c->train.epochs - 1) { /* metrics of the last pass */
                    sm->lm.pg_loss += lm.pg_loss;
                    sm->lm.kl_loss += lm.kl_loss;
                    sm->lm.entropy_loss += lm.entropy_loss;
                    sm->lm.clip_low += lm.clip_low / nmb;
                    sm->lm.clip_high += lm.clip_high / nmb;
                    sm->lm.clip_dual += lm.clip_dual / nmb;
                    sm->lm.ratio_mean += lm.ratio_mean / nmb;
                    sm->lm.kl_mean += lm.kl_mean / nmb;
                    sm->lm.entropy_mean += lm.entropy_mean / nmb;
                }
                if (ep == 0) sm->train_tokens += ts_numel(ms[k].ids);
            }
            if (j->world > 1 && allreduce_grads(j)) goto mb_fail;
            optim_step_info info; /* the schedule counts optimiser steps, epochs x mini-batches per RL step */
            double lr = optim_lr_at(&j->oo, (step * nmb + mb) * c->train.epochs + ep);
            if (optim_step(j->opt, lr, &info)) goto mb_fail;
            sm->grad_norm = info.grad_norm;
            sm->lr = lr;
            sm->skipped += info.skipped;
            if (info.skipped) log_warn("step %lld: non-finite gradient, update skipped", (long long)step);
        }
        for (int k = 0; k < nm; k++) micro_free(&ms[k]);
        free(ms);
        continue;
    mb_fail:
        for (int k = 0; k < nm; k++) micro_free(&ms[k]);
        free(ms);
        clear_grads(j->pol.m);
        return -1;
    }
    clear_grads(j->pol.m);
    double tokens = 0;
    for (int i = 0; i < d->n; i++) tokens += d->roll.samples[i].len;
    sm->lp_gap_mean = tokens > 0 ? lp_gap_sum / tokens : 0;
    return 0;
}

/* ---- metrics ---- */

/* The step's metrics over every rank: sums are all-reduced, maxima too. */
static int step_stats(rl_job *j, const step_data *d, step_metrics *sm) {
    enum { SUM, SQ, LEN, ACC, TRUNC, THINK, SHORT, KEPT, N, PG, KL, ENT, CLO, CHI, CDU, RAT, KLM, ENM, GAP,
           TOK, NSUM };
    double v[NSUM] = {0}, mx[2] = {0, sm->lp_gap_max};
    for (int i = 0; i < d->n; i++) {
        const rollout_sample *s = &d->roll.samples[i];
        v[SUM] += d->reward[i];
        v[SQ] += d->reward[i] * d->reward[i];
        v[LEN] += s->len;
        if (s->len > mx[0]) mx[0] = s->len;
        v[ACC] += d->correct[i];
        v[TRUNC] += s->finish == ROLLOUT_LENGTH;
        reward_mode mode = reward_thinkless_mode(s->text);
        v[THINK] += mode == REWARD_MODE_THINK;
        v[SHORT] += mode == REWARD_MODE_SHORT;
        v[KEPT] += d->keep[i];
    }
    v[N] = d->n;
    const loss_metrics *l = &sm->lm;
    double lv[] = {l->pg_loss, l->kl_loss, l->entropy_loss, l->clip_low, l->clip_high, l->clip_dual,
                   l->ratio_mean, l->kl_mean, l->entropy_mean};
    memcpy(v + PG, lv, sizeof lv);
    v[GAP] = sm->lp_gap_mean * v[LEN];
    v[TOK] = (double)sm->train_tokens;
    if (dist_allreduce_f64(j->dist, v, NSUM, DIST_SUM) || dist_allreduce_f64(j->dist, mx, 2, DIST_MAX)) return -1;
    double n = v[N];
    sm->reward_mean = v[SUM] / n;
    sm->reward_std = sqrt(fmax(0, v[SQ] / n - sm->reward_mean * sm->reward_mean));
    sm->accuracy = v[ACC] / n;
    sm->len_mean = v[LEN] / n;
    sm->len_max = mx[0];
    sm->truncated = v[TRUNC] / n;
    sm->think_ratio = v[THINK] / n;
    sm->short_ratio = v[SHORT] / n;
    sm->zero_std_groups = d->zero_std;
    sm->draws = d->draws;
    sm->kept = v[KEPT] / n;
    sm->lm = (loss_metrics){v[PG], v[KL], v[ENT], v[CLO], v[CHI], v[CDU], v[RAT], v[KLM], v[ENM]};
    sm->lp_gap_max = mx[1];
    sm->lp_gap_mean = v[LEN] > 0 ? v[GAP] / v[LEN] : 0;
    sm->gen_tokens = (int64_t)v[LEN];
    sm->train_tokens = (int64_t)v[TOK];
    return 0;
}

static int write_metrics(FILE *f, rl_job *j, int64_t step, const step_metrics *m) {
    fprintf(f,
            "{\"step\": %lld, \"reward\": %.6f, \"reward_std\": %.6f, \"accuracy\": %.6f, "
            "\"length\": %.3f, \"length_max\": %.0f, \"truncated\": %.4f, \"think_ratio\": %.4f, "
            "\"short_ratio\": %.4f, \"zero_std_groups\": %.4f, \"draws\": %d, \"kept\": %.4f, \"pg_loss\": %.6g, "
            "\"kl\": %.6g, \"entropy\": %.6g, \"clip_low\": %.6f, \"clip_high\": %.6f, "
            "\"clip_dual\": %.6f, \"ratio\": %.6f, \"grad_norm\": %.6g, \"lr\": %.6g, \"skipped\": %d, "
            "\"logprob_gap_max\": %.3g, \"logprob_gap_mean\": %.3g, \"gen_tokens\": %lld, "
            "\"gen_tok_s\": %.1f, \"train_tok_s\": %.1f, \"rollout_s\": %.4f, \"reward_s\": %.4f, "
            "\"train_s\": %.4f, \"step_s\": %.4f",
            (long long)step, m->reward_mean, m->reward_std, m->accuracy, m->len_mean, m->len_max,
            m->truncated, m->think_ratio, m->short_ratio, m->zero_std_groups, m->draws, m->kept, m->lm.pg_loss,
            m->lm.kl_mean, m->lm.entropy_mean, m->lm.clip_low, m->lm.clip_high, m->lm.clip_dual,
            m->lm.ratio_mean, m->grad_norm, m->lr, m->skipped, m->lp_gap_max, m->lp_gap_mean,
            (long long)m->gen_tokens, m->gen_tok_s, m->train_tok_s, m->rollout_s, m->reward_s,
            m->train_s, m->step_s);
    for (int i = 0; i < j->n_rm; i++) fprintf(f, ", \"%s\": %.6g", j->rm[i].name, j->rm[i].value);
    fputs("}\n", f);
    if (fflush(f) != 0 || ferror(f))
        return err_set("cannot write '%s/metrics.jsonl': %s", j->c->run.dir, strerror(errno));
    return 0;
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
    rolloutlog_prompt *lp = malloc(sizeof *lp * (size_t)d->P);
    rolloutlog_completion *lc = malloc(sizeof *lc * (size_t)d->n);
    int rc = -1;
    if (lp && lc) {
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
        rc = rolloutlog_append(l, step, lp, d->P, lc, d->n);
    } else {
        err_set("out of memory");
    }
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
    j->owner = malloc(sizeof(int) * (size_t)j->P);
    if (!j->owner) return err_set("out of memory");
    int mb = j->P / (int)j->c->train.mini_batches, share = mb / j->world;
    for (int g = 0; g < j->P; g++) j->owner[g] = (g % mb) / share;
    return 0;
}

/* Every rank starts from rank 0's weights, and says so if it did not before. */
static int sync_replicas(rl_job *j) {
    int n = model_num_params(j->pol.m), rc = -1;
    ts_tensor **t = malloc(sizeof(ts_tensor *) * (size_t)n);
    const char **names = malloc(sizeof(char *) * (size_t)n);
    if (t && names) {
        for (int i = 0; i < n; i++) t[i] = model_param(j->pol.m, i, &names[i]);
        ts_no_grad_begin();
        rc = dist_broadcast_tensors(j->dist, t, n, 0);
        ts_no_grad_end();
    } else {
        err_set("out of memory");
    }
    free(t);
    free(names);
    return rc;
}

static int check_replicas(rl_job *j) {
    int n = model_num_params(j->pol.m), rc = -1;
    ts_tensor **t = malloc(sizeof(ts_tensor *) * (size_t)n);
    const char **names = malloc(sizeof(char *) * (size_t)n);
    if (t && names) {
        for (int i = 0; i < n; i++) t[i] = model_param(j->pol.m, i, &names[i]);
        rc = dist_check_replicas(j->dist, t, names, n);
    } else {
        err_set("out of memory");
    }
    free(t);
    free(names);
    return rc;
}

static int job_init(rl_job *j, const rlvr_config *c) {
    memset(j, 0, sizeof *j);
    j->c = c;
    if (!(j->dist = dist_init(&c->dist))) return -1;
    j->rank = dist_rank(j->dist);
    j->world = dist_world(j->dist);
    if (check_batch(c, j->world) || plan_owners(j) || adv_opts_from_cfg(c, &j->ao) ||
        loss_opts_from_cfg(c, &j->lo) || optim_opts_from_cfg(c, &j->oo))
        return -1;
    if (j->oo.total_steps == 0) j->oo.total_steps = c->train.steps * c->train.mini_batches * c->train.epochs;
    if (optim_opts_check(&j->oo)) return -1;
    /* rank 0 prepares the run directory; the others wait, then check it the same way */
    if (j->rank == 0 && trainer_run_dir_prepare(c, c->train.resume == 0)) return -1;
    if (dist_barrier(j->dist)) return -1;
    ts_device dev = dist_device(j->dist), *pick = dist_get_backend(j->dist) == DIST_NCCL ? &dev : NULL;
    if (trainer_policy_load(&j->pol, c, NULL, pick) || trainer_policy_trainable(&j->pol)) return -1;
    if (j->lo.kl_coef > 0) {
        if (trainer_policy_load(&j->ref, c, NULL, pick)) return -1;
        j->have_ref = 1;
    }
    if (!(j->rw = reward_init(c))) return -1;
    int np = model_num_params(j->pol.m);
    ts_tensor **params = malloc(sizeof(ts_tensor *) * (size_t)np);
    const char **names = malloc(sizeof(char *) * (size_t)np);
    if (params && names) {
        for (int i = 0; i < np; i++) params[i] = model_param(j->pol.m, i, &names[i]);
        j->opt = optim_init(params, names, np, &j->oo);
    }
    free(params);
    free(names);
    if (!j->opt) return -1;
    if (!(j->ds = data_open(c, DATA_SPLIT_TRAIN)) || !(j->smp = data_sampler_open(c, j->ds->n))) return -1;
    rollout_options_from_cfg(c, &j->ro);
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
    if (j->have_ref) trainer_policy_free(&j->ref);
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

int trainer_rl(const rlvr_config *c) {
    rl_job j;
    FILE *mf = NULL;
    rolloutlog *rlog = NULL;
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
    if (!(rlog = rolloutlog_open(path, resumed ? step + 1 : 0))) goto out;
    if (j.rank == 0 && !(mf = trainer_run_file(c, "metrics.jsonl"))) goto out;
    trainer_catch_signals();
    if (j.rank == 0)
        log_info("train: %s, %lld x %lld completions per step on %d rank%s (%s), steps %lld..%lld, "
                 "run.dir %s", j.ds->name, (long long)c->train.prompts_per_step,
                 (long long)c->train.group_size, j.world, j.world > 1 ? "s" : "",
                 dist_backend_name(dist_get_backend(j.dist)), (long long)step + 1,
                 (long long)c->train.steps, c->run.dir);
    while (step < c->train.steps) {
        if (stop_agreed(&j, &stop)) goto out;
        if (stop) break;
        step_data d;
        step_metrics sm;
        memset(&d, 0, sizeof d);
        memset(&sm, 0, sizeof sm);
        double t0 = log_now(), t1, t2;
        int bad;
        if (j.ao.dynamic_sampling) { /* generation and scoring interleave over the draws */
            bad = sample_dynamic(&j, step, &d);
            t1 = t2 = log_now();
        } else {
            bad = draw_and_sample(&j, step, &d);
            t1 = log_now();
            bad = bad || score(&j, &d);
            t2 = log_now();
        }
        bad = bad || update(&j, &d, step, &sm);
        double t3 = log_now();
        bad = bad || step_stats(&j, &d, &sm) || reward_stats(&j);
        if (!bad) {
            step++;
            sm.rollout_s = t1 - t0;
            sm.reward_s = t2 - t1;
            sm.train_s = t3 - t2;
            sm.gen_tok_s = (double)sm.gen_tokens / sm.rollout_s;
            sm.train_tok_s = (double)sm.train_tokens * c->train.epochs / sm.train_s;
            bad = log_rollouts(rlog, &j, step, &d);
            sm.step_s = log_now() - t0;
            bad = bad || (mf && write_metrics(mf, &j, step, &sm));
            if (j.rank == 0 && (step % c->train.log_every == 0 || step == c->train.steps))
                log_info("step %lld/%lld reward %.3f acc %.3f len %.1f think %.2f gap %.1e grad %.3f "
                         "%.2fs (rollout %.2f reward %.2f train %.2f)",
                         (long long)step, (long long)c->train.steps, sm.reward_mean, sm.accuracy,
                         sm.len_mean, sm.think_ratio, sm.lp_gap_max, sm.grad_norm, sm.step_s,
                         sm.rollout_s, sm.reward_s, sm.train_s);
        }
        step_data_free(&d);
        if (bad) goto out;
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
        snprintf(path, sizeof path, "%s/model", c->run.dir);
        if (trainer_export_policy(&j.pol, path)) goto out;
        log_info("train: model written to %s", path);
    }
    rc = 0;
out:
    if (mf && fclose(mf) != 0 && rc == 0)
        rc = err_set("cannot write '%s/metrics.jsonl': %s", c->run.dir, strerror(errno));
    if (rc == 0) {
        rc = rolloutlog_close(rlog);
    } else { /* the first error is the one to report */
        char first[ERR_MSG_MAX];
        snprintf(first, sizeof first, "%s", err_msg());
        rolloutlog_close(rlog);
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
