/* eval — `rlvr eval` and train.eval_every: n samples for each of the first eval.problems test
 * problems, scored by the run's verifier; unbiased pass@k (ALGORITHMS.md 10) and majority@k for
 * k = 1, 2, 4, ... n, mean length, Thinkless mode ratios, all overall and per group (the row's
 * data.fields.group value, else its metadata "difficulty"). With eval.short_m = m the problems are
 * drawn a second time with the rollout engine's finish quota (a problem's rows stop once m have
 * finished) and the m shortest vote: short-m@k ("Don't Overthink it", ALGORITHMS.md 9), reported
 * with its tokens and wall time beside majority@k's and pass@1.
 * Votes are over final answers (reward_math_extract) grouped by equivalence (reward_math_equiv);
 * the most frequent answer wins, a tie goes to the answer whose shortest completion is shortest
 * (then the lower sample index), and the vote is correct when the verifier judged that completion
 * correct. A completion without an answer does not vote; a problem where none has one is wrong.
 * Sampling settings: eval.* as given in the config or --set, else the model's
 * generation_config.json, else eval.*'s defaults (rollout/genconfig.c); the report and a log line
 * name each value's origin. The draws use their own RNG step key, so evaluation never shares
 * randomness with training, and the short-m draw repeats the full draw's samples exactly (the
 * engine's randomness is keyed per sample and position). */
#include "train.h"

#include "adv.h"
#include "common/err.h"
#include "common/log.h"
#include "data/data.h"
#include "rewards/reward.h"
#include "rollout/rollout.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EVAL_STEP_KEY 0xE7A1000000000000ull
#define EVAL_MAX_K 16
#define EVAL_ANSWER_MAX 512

typedef struct eval_acc {
    char name[64];
    int64_t problems, samples, correct, tokens, think, shrt, short_m_correct;
    double pass[EVAL_MAX_K]; /* sums over problems of pass@2^i */
    int64_t maj[EVAL_MAX_K]; /* problems whose majority vote over the first 2^i samples is right */
    int64_t maj_all;         /* ... over all n samples */
} eval_acc;

typedef struct eval_groups {
    eval_acc *v; /* v[0] is "all" */
    int n, cap;
} eval_groups;

/* The group named name, added when new; v[0] ("all") is never matched by a row's label. */
static eval_acc *group_of(eval_groups *g, const char *name) {
    for (int i = 1; i < g->n; i++)
        if (!strcmp(g->v[i].name, name)) return &g->v[i];
    if (g->n == g->cap) {
        int cap = g->cap ? 2 * g->cap : 16;
        eval_acc *v = realloc(g->v, sizeof *v * (size_t)cap);
        if (!v) return err_set("out of memory"), NULL;
        g->v = v;
        g->cap = cap;
    }
    eval_acc *a = &g->v[g->n++];
    memset(a, 0, sizeof *a);
    snprintf(a->name, sizeof a->name, "%s", name);
    return a;
}

static cJSON *acc_json(const eval_acc *a, int n_samples, int short_m) {
    cJSON *o = cJSON_CreateObject();
    double np = a->problems ? (double)a->problems : 1, ns = a->samples ? (double)a->samples : 1;
    cJSON_AddNumberToObject(o, "problems", (double)a->problems);
    cJSON_AddNumberToObject(o, "accuracy", (double)a->correct / ns);
    cJSON *pk = cJSON_AddObjectToObject(o, "pass_at_k"), *mk = cJSON_AddObjectToObject(o, "majority_at_k");
    for (int i = 0, k = 1; k <= n_samples && i < EVAL_MAX_K; i++, k *= 2) {
        char key[16];
        snprintf(key, sizeof key, "%d", k);
        cJSON_AddNumberToObject(pk, key, a->pass[i] / np);
        cJSON_AddNumberToObject(mk, key, (double)a->maj[i] / np);
    }
    if (short_m) cJSON_AddNumberToObject(o, "short_m_at_k", (double)a->short_m_correct / np);
    cJSON_AddNumberToObject(o, "length", (double)a->tokens / ns);
    cJSON_AddNumberToObject(o, "think_ratio", (double)a->think / ns);
    cJSON_AddNumberToObject(o, "short_ratio", (double)a->shrt / ns);
    return o;
}

/* Difficulty label from an example's metadata JSON ("" when none). */
static void difficulty(const char *meta, char *out, size_t cap) {
    out[0] = '\0';
    cJSON *m = meta ? cJSON_Parse(meta) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "difficulty");
    if (cJSON_IsString(d)) snprintf(out, cap, "%s", d->valuestring);
    cJSON_Delete(m);
}

/* ---- voting ---- */

typedef struct eval_vote {
    char (*answer)[EVAL_ANSWER_MAX]; /* per sample; "" = none */
    int *cluster;                    /* per sample: index of its answer class, -1 = no answer */
    int *count;                      /* per class: votes among the current subset */
    int *best;                       /* per class: shortest voting sample of the subset */
} eval_vote;

static int vote_init(eval_vote *v, int G) {
    v->answer = malloc(sizeof *v->answer * (size_t)G);
    v->cluster = malloc(sizeof(int) * (size_t)G);
    v->count = malloc(sizeof(int) * (size_t)G);
    v->best = malloc(sizeof(int) * (size_t)G);
    return v->answer && v->cluster && v->count && v->best ? 0 : err_set("out of memory");
}

static void vote_free(eval_vote *v) {
    free(v->answer);
    free(v->cluster);
    free(v->count);
    free(v->best);
}

/* Extract the answers of samples smp[0..n) and sort them into classes of equivalent answers;
 * returns the number of classes. */
static int vote_classes(eval_vote *v, const rollout_sample *const *smp, int n, double tolerance) {
    int classes = 0;
    for (int i = 0; i < n; i++) {
        v->cluster[i] = -1;
        if (reward_math_extract(smp[i]->text, 1, v->answer[i], EVAL_ANSWER_MAX) < 0) continue;
        for (int j = 0; j < i && v->cluster[i] < 0; j++)
            if (v->cluster[j] >= 0 && v->best[v->cluster[j]] == j &&
                reward_math_equiv(v->answer[i], v->answer[j], tolerance))
                v->cluster[i] = v->cluster[j];
        if (v->cluster[i] < 0) {
            v->cluster[i] = classes;
            v->best[classes++] = i; /* the class's first member stands for it while sorting */
        }
    }
    return classes;
}

/* The winning sample among the first n of smp (classes from vote_classes): the most frequent
 * answer, ties to the class with the shortest completion, then the lower index; -1 when no sample
 * has an answer. */
static int vote_winner(eval_vote *v, const rollout_sample *const *smp, int n, int classes) {
    for (int c = 0; c < classes; c++) v->count[c] = 0, v->best[c] = -1;
    for (int i = 0; i < n; i++) {
        int c = v->cluster[i];
        if (c < 0) continue;
        v->count[c]++;
        if (v->best[c] < 0 || smp[i]->len < smp[v->best[c]]->len) v->best[c] = i;
    }
    int win = -1;
    for (int c = 0; c < classes; c++) {
        if (!v->count[c]) continue;
        if (win < 0 || v->count[c] > v->count[win]) win = c;
        else if (v->count[c] == v->count[win] && (smp[v->best[c]]->len < smp[v->best[win]]->len ||
                                                  (smp[v->best[c]]->len == smp[v->best[win]]->len &&
                                                   v->best[c] < v->best[win])))
            win = c;
    }
    return win < 0 ? -1 : v->best[win];
}

/* The m samples of one problem's short-m draw that vote: finished (not cancelled), shortest first,
 * then by sample index. Returns how many (fewer than m only when fewer finished). */
static int short_m_pick(const rollout_sample *row, int G, int m, const rollout_sample **pick) {
    int n = 0;
    for (int g = 0; g < G; g++) {
        const rollout_sample *s = &row[g];
        if (s->finish == ROLLOUT_CANCELLED) continue;
        int at = n++;
        while (at > 0 && (pick[at - 1]->len > s->len || (pick[at - 1]->len == s->len && pick[at - 1]->index > s->index))) {
            pick[at] = pick[at - 1];
            at--;
        }
        pick[at] = s;
    }
    return n < m ? n : m;
}

static int64_t generated_tokens(const rollout_result *r) {
    int64_t t = 0;
    for (int i = 0; i < r->n; i++) t += r->samples[i].len;
    return t;
}

/* ---- sampling settings ---- */

static int eval_sampling(const rlvr_config *c, const trainer_policy *p, rollout_sampling *s) {
    memset(s, 0, sizeof *s);
    s->p = (sampler_params){.temperature = c->eval.temperature, .top_k = c->eval.top_k,
                            .top_p = c->eval.top_p, .min_p = c->eval.min_p};
    s->repetition_penalty = c->eval.repetition_penalty;
    static const char *const keys[ROLLOUT_GEN_N] = {"eval.temperature", "eval.top_k", "eval.top_p",
                                                    "eval.min_p", "eval.repetition_penalty"};
    for (int i = 0; i < ROLLOUT_GEN_N; i++) s->given[i] = cfg_given(c, keys[i]);
    if (rollout_sampling_from_model(p->dir, s)) return -1;
    char line[512];
    rollout_sampling_describe(s, "config", line, sizeof line);
    log_info("eval sampling: %s", line);
    return 0;
}

static cJSON *sampling_json(const rollout_sampling *s) {
    cJSON *o = cJSON_CreateObject(), *from = NULL;
    cJSON_AddNumberToObject(o, "temperature", s->p.temperature);
    cJSON_AddNumberToObject(o, "top_k", (double)s->p.top_k);
    cJSON_AddNumberToObject(o, "top_p", s->p.top_p);
    cJSON_AddNumberToObject(o, "min_p", s->p.min_p);
    cJSON_AddNumberToObject(o, "repetition_penalty", s->repetition_penalty);
    from = cJSON_AddObjectToObject(o, "origin");
    static const char *const names[ROLLOUT_GEN_N] = {"temperature", "top_k", "top_p", "min_p",
                                                     "repetition_penalty"};
    for (int i = 0; i < ROLLOUT_GEN_N; i++)
        cJSON_AddStringToObject(from, names[i], s->from[i] == ROLLOUT_FROM_USER    ? "config"
                                                : s->from[i] == ROLLOUT_FROM_MODEL ? "generation_config.json"
                                                                                   : "default");
    return o;
}

/* ---- the evaluation ---- */

typedef struct eval_run {
    rollout_result r;
    double seconds;
    int64_t tokens;
} eval_run;

static int draw(trainer_policy *p, rollout_options *ro, int P, const int32_t **ids, const int *lens,
                const uint64_t *keys, int G, eval_run *run) {
    double t0 = log_now();
    if (rollout_generate(p->m, ro, P, ids, lens, keys, G, &run->r)) return -1;
    run->seconds = log_now() - t0;
    run->tokens = generated_tokens(&run->r);
    return 0;
}

char *trainer_eval(const rlvr_config *c, trainer_policy *p, reward *rw) {
    int G = (int)c->eval.samples, m = (int)c->eval.short_m;
    if (m > G) return err_set("eval.short_m (%d) must not exceed eval.samples (%d): m of the k samples vote", m, G), NULL;
    rollout_sampling smp;
    if (eval_sampling(c, p, &smp)) return NULL;
    data_set *ds = data_open(c, DATA_SPLIT_TEST);
    if (!ds) return NULL;
    int P = (int)(c->eval.problems < ds->n ? c->eval.problems : ds->n);
    tok_ids *prompts = calloc((size_t)P, sizeof *prompts);
    const int32_t **ids = malloc(sizeof(int32_t *) * (size_t)P);
    int *lens = malloc(sizeof(int) * (size_t)P);
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)P);
    reward_input *in = malloc(sizeof *in * (size_t)G);
    reward_result *res = malloc(sizeof *res * (size_t)G);
    const rollout_sample **row = malloc(sizeof *row * (size_t)G);
    char *out = NULL;
    eval_run full, shortm;
    memset(&full, 0, sizeof full);
    memset(&shortm, 0, sizeof shortm);
    eval_groups groups = {0};
    eval_vote vote = {0};
    if (!prompts || !ids || !lens || !keys || !in || !res || !row || vote_init(&vote, G)) {
        err_set("out of memory");
        goto done;
    }
    for (int i = 0; i < P; i++) {
        if (trainer_policy_prompt(p, ds->ex[i].prompt, &prompts[i])) goto done;
        ids[i] = prompts[i].v;
        lens[i] = prompts[i].n;
        keys[i] = (uint64_t)i;
    }
    int32_t eos[TRAINER_MAX_EOS + ROLLOUT_GEN_MAX_EOS];
    int n_eos = 0;
    for (int i = 0; i < p->n_eos; i++) eos[n_eos++] = p->eos[i];
    for (int i = 0; i < smp.n_eos; i++) {
        int have = 0;
        for (int j = 0; j < n_eos; j++) have |= eos[j] == smp.eos[i];
        if (!have) eos[n_eos++] = smp.eos[i];
    }
    rollout_options ro;
    rollout_options_from_cfg(c, &ro);
    ro.sampling = smp.p;
    ro.repetition_penalty = smp.repetition_penalty;
    ro.eos_ids = eos;
    ro.n_eos = n_eos;
    ro.tok = p->tok;
    ro.seed = (uint64_t)c->run.seed;
    ro.step = EVAL_STEP_KEY;
    if (draw(p, &ro, P, ids, lens, keys, G, &full)) goto done;
    if (m > 0) {
        ro.finish_quota = m;
        if (draw(p, &ro, P, ids, lens, keys, G, &shortm)) goto done;
    }
    if (!group_of(&groups, "all")) goto done;
    const char *group_by = c->data.fields.group && c->data.fields.group[0] ? c->data.fields.group : "difficulty";
    for (int i = 0; i < P; i++) {
        const data_example *e = &ds->ex[i];
        for (int g = 0; g < G; g++) {
            const rollout_sample *s = &full.r.samples[i * G + g];
            in[g] = (reward_input){e->prompt, s->text, e->answer, e->metadata, s->len};
            row[g] = s;
        }
        if (reward_score_group(rw, in, G, res)) goto done;
        int64_t correct = 0;
        for (int g = 0; g < G; g++) correct += res[g].correct != 0;
        int maj[EVAL_MAX_K] = {0}, classes = vote_classes(&vote, row, G, c->reward.math.tolerance);
        for (int q = 0, k = 1; k <= G && q < EVAL_MAX_K; q++, k *= 2) {
            int w = vote_winner(&vote, row, k, classes);
            maj[q] = w >= 0 && res[w].correct;
        }
        int w_all = vote_winner(&vote, row, G, classes), maj_all = w_all >= 0 && res[w_all].correct;
        int short_ok = 0;
        if (m > 0) {
            int n = short_m_pick(&shortm.r.samples[i * G], G, m, row);
            for (int j = 0; j < n; j++)
                in[j] = (reward_input){e->prompt, row[j]->text, e->answer, e->metadata, row[j]->len};
            if (n > 0 && reward_score_group(rw, in, n, res)) goto done;
            int w = n > 0 ? vote_winner(&vote, row, n, vote_classes(&vote, row, n, c->reward.math.tolerance)) : -1;
            short_ok = w >= 0 && res[w].correct;
        }
        char label[64];
        if (e->group) snprintf(label, sizeof label, "%s", e->group);
        else difficulty(e->metadata, label, sizeof label);
        eval_acc *grp = NULL;
        if (label[0] && !(grp = group_of(&groups, label))) goto done;
        eval_acc *targets[2] = {&groups.v[0], grp}; /* after group_of, which may move the array */
        for (int t = 0; t < 2; t++) {
            eval_acc *a = targets[t];
            if (!a) continue;
            a->problems++;
            a->samples += G;
            a->correct += correct;
            a->short_m_correct += short_ok;
            a->maj_all += maj_all;
            for (int g = 0; g < G; g++) {
                const rollout_sample *s = &full.r.samples[i * G + g];
                a->tokens += s->len;
                reward_mode mode = reward_thinkless_mode(s->text);
                a->think += mode == REWARD_MODE_THINK;
                a->shrt += mode == REWARD_MODE_SHORT;
            }
            for (int q = 0, k = 1; k <= G && q < EVAL_MAX_K; q++, k *= 2) {
                double v;
                if (adv_pass_at_k(G, correct, k, &v)) goto done;
                a->pass[q] += v;
                a->maj[q] += maj[q];
            }
        }
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", p->dir);
    cJSON_AddStringToObject(root, "dataset", ds->name);
    cJSON_AddNumberToObject(root, "problems", P);
    cJSON_AddNumberToObject(root, "samples_per_problem", G);
    cJSON_AddNumberToObject(root, "temperature", smp.p.temperature);
    cJSON_AddItemToObject(root, "sampling", sampling_json(&smp));
    cJSON_AddNumberToObject(root, "seconds", full.seconds);
    cJSON_AddNumberToObject(root, "tokens", (double)full.tokens);
    cJSON_AddStringToObject(root, "group_by", group_by);
    cJSON_AddItemToObject(root, "all", acc_json(&groups.v[0], G, m));
    cJSON *gs = cJSON_AddObjectToObject(root, "groups");
    for (int i = 1; i < groups.n; i++) cJSON_AddItemToObject(gs, groups.v[i].name, acc_json(&groups.v[i], G, m));
    if (m > 0) {
        const eval_acc *a = &groups.v[0];
        double np = a->problems ? (double)a->problems : 1;
        cJSON *sm = cJSON_AddObjectToObject(root, "short_m");
        cJSON_AddNumberToObject(sm, "m", m);
        cJSON_AddNumberToObject(sm, "k", G);
        cJSON *o = cJSON_AddObjectToObject(sm, "short_m_at_k");
        cJSON_AddNumberToObject(o, "accuracy", (double)a->short_m_correct / np);
        cJSON_AddNumberToObject(o, "tokens", (double)shortm.tokens);
        cJSON_AddNumberToObject(o, "seconds", shortm.seconds);
        cJSON_AddNumberToObject(o, "cancelled_rows", shortm.r.cancelled);
        o = cJSON_AddObjectToObject(sm, "majority_at_k");
        cJSON_AddNumberToObject(o, "accuracy", (double)a->maj_all / np);
        cJSON_AddNumberToObject(o, "tokens", (double)full.tokens);
        cJSON_AddNumberToObject(o, "seconds", full.seconds);
        cJSON_AddNumberToObject(sm, "pass_at_1", a->pass[0] / np);
    }
    out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!out) err_set("out of memory");
done:
    for (int i = 0; prompts && i < P; i++) tok_ids_free(&prompts[i]);
    free(prompts);
    free(ids);
    free(lens);
    free(keys);
    free(in);
    free(res);
    free(row);
    free(groups.v);
    vote_free(&vote);
    rollout_result_free(&full.r);
    rollout_result_free(&shortm.r);
    data_set_free(ds);
    return out;
}

/* Fail before the slow part when the report cannot be written to path: open it for appending,
 * which keeps an existing file as it is, and remove it again if it was not there. */
static int check_writable(const char *path) {
    int existed = access(path, F_OK) == 0;
    FILE *f = fopen(path, "a");
    if (!f) return err_set("cannot write the report to '%s': %s", path, strerror(errno));
    fclose(f);
    if (!existed) remove(path);
    return 0;
}

int trainer_eval_job(const rlvr_config *c, const char *out_path) {
    if (out_path && check_writable(out_path)) return -1;
    trainer_policy p;
    if (trainer_policy_load(&p, c, NULL, NULL)) return -1;
    int rc = -1;
    reward *rw = reward_init(c);
    char *json = rw ? trainer_eval(c, &p, rw) : NULL;
    if (json) {
        puts(json);
        if (out_path) {
            FILE *f = fopen(out_path, "w");
            if (!f || fputs(json, f) < 0 || fputc('\n', f) == EOF)
                err_set("cannot write the report to '%s': %s", out_path, strerror(errno));
            else rc = 0;
            if (f && fclose(f)) rc = err_set("cannot write the report to '%s': %s", out_path, strerror(errno));
        } else {
            rc = 0;
        }
    }
    free(json);
    reward_free(rw);
    trainer_policy_free(&p);
    return rc;
}
