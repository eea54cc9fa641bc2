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
#include "common/mem.h"
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
        g->cap = g->cap ? 2 * g->cap : 16;
        g->v = mem_realloc(g->v, sizeof *g->v * (size_t)g->cap);
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

/* Difficulty label from an example's metadata JSON, a string or a number (countdown's count of
 * numbers: "3", "4"); "" when none. */
static void difficulty(const char *meta, char *out, size_t cap) {
    out[0] = '\0';
    cJSON *m = meta ? cJSON_Parse(meta) : NULL;
    const cJSON *d = cJSON_GetObjectItemCaseSensitive(m, "difficulty");
    if (cJSON_IsString(d)) snprintf(out, cap, "%s", d->valuestring);
    else if (cJSON_IsNumber(d)) snprintf(out, cap, "%.15g", d->valuedouble);
    cJSON_Delete(m);
}

/* ---- voting ---- */

typedef struct eval_vote {
    char (*answer)[EVAL_ANSWER_MAX]; /* per sample; "" = none */
    int *cluster;                    /* per sample: index of its answer class, -1 = no answer */
    int *count;                      /* per class: votes among the current subset */
    int *best;                       /* per class: shortest voting sample of the subset */
} eval_vote;

static void vote_init(eval_vote *v, int G) {
    v->answer = mem_alloc(sizeof *v->answer * (size_t)G);
    v->cluster = mem_alloc(sizeof(int) * (size_t)G);
    v->count = mem_alloc(sizeof(int) * (size_t)G);
    v->best = mem_alloc(sizeof(int) * (size_t)G);
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

/* The run's end-of-sequence ids followed by those of the sampling settings it lacks; returns how
 * many. */
static int eval_eos(const trainer_policy *p, const rollout_sampling *smp, int32_t *eos) {
    int n = 0;
    for (int i = 0; i < p->n_eos; i++) eos[n++] = p->eos[i];
    for (int i = 0; i < smp->n_eos; i++) {
        int have = 0;
        for (int j = 0; j < n; j++) have |= eos[j] == smp->eos[i];
        if (!have) eos[n++] = smp->eos[i];
    }
    return n;
}

/* What scoring one problem needs: the run's settings and buffers for its G samples. */
typedef struct eval_scorer {
    reward *rw;
    int G, m;                        /* samples per problem; short-m's m (0: off) */
    double tolerance;                /* reward.math.tolerance, for grouping answers */
    reward_input *in;                /* [G] */
    reward_result *res;              /* [G] */
    const rollout_sample **row;      /* [G] the samples being voted on */
    eval_vote vote;
} eval_scorer;

/* One problem's outcome. */
typedef struct eval_problem {
    int64_t correct;      /* samples the verifier judged correct */
    int maj[EVAL_MAX_K];  /* the majority vote over the first 2^i samples is correct */
    int maj_all;          /* ... over all G samples */
    int short_ok;         /* short-m@k's vote is correct */
} eval_problem;

static void scorer_init(eval_scorer *sc, reward *rw, int G, int m, double tolerance) {
    *sc = (eval_scorer){.rw = rw, .G = G, .m = m, .tolerance = tolerance};
    sc->in = mem_alloc(sizeof *sc->in * (size_t)G);
    sc->res = mem_alloc(sizeof *sc->res * (size_t)G);
    sc->row = mem_alloc(sizeof *sc->row * (size_t)G);
    vote_init(&sc->vote, G);
}

static void scorer_free(eval_scorer *sc) {
    free(sc->in);
    free(sc->res);
    free(sc->row);
    vote_free(&sc->vote);
}

/* The vote of short-m@k over one problem's short draw: the m shortest finished samples. */
static int score_short_m(eval_scorer *sc, const data_example *e, const rollout_sample *drawn, int *ok) {
    int n = short_m_pick(drawn, sc->G, sc->m, sc->row);
    for (int j = 0; j < n; j++)
        sc->in[j] = (reward_input){e->prompt, sc->row[j]->text, e->answer, e->metadata, sc->row[j]->len};
    if (n > 0 && reward_score_group(sc->rw, sc->in, n, sc->res)) return -1;
    int w = n > 0 ? vote_winner(&sc->vote, sc->row, n, vote_classes(&sc->vote, sc->row, n, sc->tolerance)) : -1;
    *ok = w >= 0 && sc->res[w].correct;
    return 0;
}

/* Score problem e's G samples (full) and, with short-m on, its short draw. */
static int score_problem(eval_scorer *sc, const data_example *e, const rollout_sample *full,
                         const rollout_sample *shortm, eval_problem *out) {
    int G = sc->G;
    *out = (eval_problem){0};
    for (int g = 0; g < G; g++) {
        sc->in[g] = (reward_input){e->prompt, full[g].text, e->answer, e->metadata, full[g].len};
        sc->row[g] = &full[g];
    }
    if (reward_score_group(sc->rw, sc->in, G, sc->res)) return -1;
    for (int g = 0; g < G; g++) out->correct += sc->res[g].correct != 0;
    int classes = vote_classes(&sc->vote, sc->row, G, sc->tolerance);
    for (int q = 0, k = 1; k <= G && q < EVAL_MAX_K; q++, k *= 2) {
        int w = vote_winner(&sc->vote, sc->row, k, classes);
        out->maj[q] = w >= 0 && sc->res[w].correct;
    }
    int w_all = vote_winner(&sc->vote, sc->row, G, classes);
    out->maj_all = w_all >= 0 && sc->res[w_all].correct;
    return sc->m > 0 ? score_short_m(sc, e, shortm, &out->short_ok) : 0;
}

/* Add one problem's outcome over its G samples to a group's sums. */
static int acc_add(eval_acc *a, const eval_problem *pr, const rollout_sample *samples, int G) {
    a->problems++;
    a->samples += G;
    a->correct += pr->correct;
    a->short_m_correct += pr->short_ok;
    a->maj_all += pr->maj_all;
    for (int g = 0; g < G; g++) {
        a->tokens += samples[g].len;
        reward_mode mode = reward_thinkless_mode(samples[g].text);
        a->think += mode == REWARD_MODE_THINK;
        a->shrt += mode == REWARD_MODE_SHORT;
    }
    for (int q = 0, k = 1; k <= G && q < EVAL_MAX_K; q++, k *= 2) {
        double v;
        if (adv_pass_at_k(G, pr->correct, k, &v)) return -1;
        a->pass[q] += v;
        a->maj[q] += pr->maj[q];
    }
    return 0;
}

/* Score every problem of the draws into groups: v[0] "all", then one per label. */
static int score_all(eval_scorer *sc, const data_set *ds, int P, const eval_run *full, const eval_run *shortm,
                     eval_groups *groups) {
    int G = sc->G;
    group_of(groups, "all");
    for (int i = 0; i < P; i++) {
        const data_example *e = &ds->ex[i];
        const rollout_sample *drawn = &full->r.samples[i * G];
        eval_problem pr;
        if (score_problem(sc, e, drawn, sc->m > 0 ? &shortm->r.samples[i * G] : NULL, &pr)) return -1;
        char label[64];
        if (e->group) snprintf(label, sizeof label, "%s", e->group);
        else difficulty(e->metadata, label, sizeof label);
        eval_acc *grp = label[0] ? group_of(groups, label) : NULL;
        if (acc_add(&groups->v[0], &pr, drawn, G) || (grp && acc_add(grp, &pr, drawn, G))) return -1;
    }
    return 0;
}

/* short-m@k beside majority@k over the same problems: accuracy, tokens and seconds of each. */
static cJSON *short_m_json(const eval_acc *a, int m, int G, const eval_run *full, const eval_run *shortm) {
    double np = a->problems ? (double)a->problems : 1;
    cJSON *sm = cJSON_CreateObject();
    cJSON_AddNumberToObject(sm, "m", m);
    cJSON_AddNumberToObject(sm, "k", G);
    cJSON *o = cJSON_AddObjectToObject(sm, "short_m_at_k");
    cJSON_AddNumberToObject(o, "accuracy", (double)a->short_m_correct / np);
    cJSON_AddNumberToObject(o, "tokens", (double)shortm->tokens);
    cJSON_AddNumberToObject(o, "seconds", shortm->seconds);
    cJSON_AddNumberToObject(o, "cancelled_rows", shortm->r.cancelled);
    o = cJSON_AddObjectToObject(sm, "majority_at_k");
    cJSON_AddNumberToObject(o, "accuracy", (double)a->maj_all / np);
    cJSON_AddNumberToObject(o, "tokens", (double)full->tokens);
    cJSON_AddNumberToObject(o, "seconds", full->seconds);
    cJSON_AddNumberToObject(sm, "pass_at_1", a->pass[0] / np);
    return sm;
}

/* The report: what was evaluated, how it was sampled, and the groups' figures. */
static char *eval_report(const trainer_policy *p, const data_set *ds, int P, int G, int m,
                         const rollout_sampling *smp, const char *group_by, const eval_groups *groups,
                         const eval_run *full, const eval_run *shortm) {
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", p->dir);
    cJSON_AddStringToObject(root, "dataset", ds->name);
    cJSON_AddNumberToObject(root, "problems", P);
    cJSON_AddNumberToObject(root, "samples_per_problem", G);
    cJSON_AddNumberToObject(root, "temperature", smp->p.temperature);
    cJSON_AddItemToObject(root, "sampling", sampling_json(smp));
    cJSON_AddNumberToObject(root, "seconds", full->seconds);
    cJSON_AddNumberToObject(root, "tokens", (double)full->tokens);
    cJSON_AddStringToObject(root, "group_by", group_by);
    cJSON_AddItemToObject(root, "all", acc_json(&groups->v[0], G, m));
    cJSON *gs = cJSON_AddObjectToObject(root, "groups");
    for (int i = 1; i < groups->n; i++) cJSON_AddItemToObject(gs, groups->v[i].name, acc_json(&groups->v[i], G, m));
    if (m > 0) cJSON_AddItemToObject(root, "short_m", short_m_json(&groups->v[0], m, G, full, shortm));
    char *out = cJSON_Print(root);
    cJSON_Delete(root);
    return out;
}

char *trainer_eval(const rlvr_config *c, trainer_policy *p, reward *rw) {
    int G = (int)c->eval.samples, m = (int)c->eval.short_m;
    if (m > G) return err_set("eval.short_m (%d) must not exceed eval.samples (%d): m of the k samples vote", m, G), NULL;
    rollout_sampling smp;
    if (eval_sampling(c, p, &smp)) return NULL;
    data_set *ds = data_open(c, DATA_SPLIT_TEST);
    if (!ds) return NULL;
    int P = (int)(c->eval.problems < ds->n ? c->eval.problems : ds->n);
    tok_ids *prompts = mem_calloc((size_t)P, sizeof *prompts);
    const int32_t **ids = mem_alloc(sizeof(int32_t *) * (size_t)P);
    int *lens = mem_alloc(sizeof(int) * (size_t)P);
    uint64_t *keys = mem_alloc(sizeof(uint64_t) * (size_t)P);
    char *out = NULL;
    eval_run full = {0}, shortm = {0};
    eval_groups groups = {0};
    eval_scorer sc;
    scorer_init(&sc, rw, G, m, c->reward.math.tolerance);
    for (int i = 0; i < P; i++) {
        if (trainer_policy_prompt(p, ds->ex[i].prompt, &prompts[i])) goto done;
        ids[i] = prompts[i].v;
        lens[i] = prompts[i].n;
        keys[i] = (uint64_t)i;
    }
    int32_t eos[TRAINER_MAX_EOS + ROLLOUT_GEN_MAX_EOS];
    rollout_options ro;
    rollout_options_from_cfg(c, &ro);
    ro.sampling = smp.p;
    ro.repetition_penalty = smp.repetition_penalty;
    ro.eos_ids = eos;
    ro.n_eos = eval_eos(p, &smp, eos);
    ro.tok = p->tok;
    ro.seed = (uint64_t)c->run.seed;
    ro.step = EVAL_STEP_KEY;
    if (draw(p, &ro, P, ids, lens, keys, G, &full)) goto done;
    if (m > 0) {
        ro.finish_quota = m;
        if (draw(p, &ro, P, ids, lens, keys, G, &shortm)) goto done;
    }
    if (score_all(&sc, ds, P, &full, &shortm, &groups)) goto done;
    const char *group_by = c->data.fields.group && c->data.fields.group[0] ? c->data.fields.group : "difficulty";
    out = eval_report(p, ds, P, G, m, &smp, group_by, &groups, &full, &shortm);
done:
    for (int i = 0; i < P; i++) tok_ids_free(&prompts[i]);
    free(prompts);
    free(ids);
    free(lens);
    free(keys);
    free(groups.v);
    scorer_free(&sc);
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
