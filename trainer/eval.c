/* eval — `rlvr eval` and train.eval_every: n samples for each of the first eval.problems test
 * problems, scored by the run's verifier; unbiased pass@k for k = 1, 2, 4, ... n (ALGORITHMS.md
 * 10), mean length, Thinkless mode ratios, all overall and per difficulty (the example's
 * metadata "difficulty", when it has one). The draws use their own RNG step key, so evaluation
 * never shares randomness with training. */
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
#define EVAL_MAX_GROUPS 16
#define EVAL_MAX_K 16

typedef struct eval_acc {
    char name[32];
    int64_t problems, samples, correct, tokens, think, shrt;
    double pass[EVAL_MAX_K]; /* sums over problems of pass@2^i */
} eval_acc;

static eval_acc *group_of(eval_acc *g, int *ng, const char *name) {
    for (int i = 0; i < *ng; i++)
        if (!strcmp(g[i].name, name)) return &g[i];
    if (*ng == EVAL_MAX_GROUPS) return NULL;
    memset(&g[*ng], 0, sizeof g[*ng]);
    snprintf(g[*ng].name, sizeof g[*ng].name, "%s", name);
    return &g[(*ng)++];
}

static cJSON *acc_json(const eval_acc *a, int n_samples) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "problems", (double)a->problems);
    cJSON_AddNumberToObject(o, "accuracy", a->samples ? (double)a->correct / (double)a->samples : 0);
    cJSON *pk = cJSON_AddObjectToObject(o, "pass_at_k");
    for (int i = 0, k = 1; k <= n_samples; i++, k *= 2) {
        char key[16];
        snprintf(key, sizeof key, "%d", k);
        cJSON_AddNumberToObject(pk, key, a->problems ? a->pass[i] / (double)a->problems : 0);
    }
    cJSON_AddNumberToObject(o, "length", a->samples ? (double)a->tokens / (double)a->samples : 0);
    cJSON_AddNumberToObject(o, "think_ratio", a->samples ? (double)a->think / (double)a->samples : 0);
    cJSON_AddNumberToObject(o, "short_ratio", a->samples ? (double)a->shrt / (double)a->samples : 0);
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

char *trainer_eval(const rlvr_config *c, trainer_policy *p, reward *rw) {
    data_set *ds = data_open(c, DATA_SPLIT_TEST);
    if (!ds) return NULL;
    int P = (int)(c->eval.problems < ds->n ? c->eval.problems : ds->n), G = (int)c->eval.samples;
    tok_ids *prompts = calloc((size_t)P, sizeof *prompts);
    const int32_t **ids = malloc(sizeof(int32_t *) * (size_t)P);
    int *lens = malloc(sizeof(int) * (size_t)P);
    uint64_t *keys = malloc(sizeof(uint64_t) * (size_t)P);
    reward_input *in = malloc(sizeof *in * (size_t)G);
    reward_result *res = malloc(sizeof *res * (size_t)G);
    char *out = NULL;
    rollout_result r;
    memset(&r, 0, sizeof r);
    if (!prompts || !ids || !lens || !keys || !in || !res) {
        err_set("out of memory");
        goto done;
    }
    for (int i = 0; i < P; i++) {
        if (trainer_policy_prompt(p, ds->ex[i].prompt, &prompts[i])) goto done;
        ids[i] = prompts[i].v;
        lens[i] = prompts[i].n;
        keys[i] = (uint64_t)i;
    }
    rollout_options ro;
    rollout_options_from_cfg(c, &ro);
    ro.sampling.temperature = c->eval.temperature;
    ro.eos_ids = p->eos;
    ro.n_eos = p->n_eos;
    ro.tok = p->tok;
    ro.seed = (uint64_t)c->run.seed;
    ro.step = EVAL_STEP_KEY;
    double t0 = log_now();
    if (rollout_generate(p->m, &ro, P, ids, lens, keys, G, &r)) goto done;
    eval_acc groups[EVAL_MAX_GROUPS];
    int ng = 0;
    group_of(groups, &ng, "all");
    for (int i = 0; i < P; i++) {
        const data_example *e = &ds->ex[i];
        for (int g = 0; g < G; g++) {
            const rollout_sample *s = &r.samples[i * G + g];
            in[g] = (reward_input){e->prompt, s->text, e->answer, e->metadata, s->len};
        }
        if (reward_score_group(rw, in, G, res)) goto done;
        char diff[32];
        difficulty(e->metadata, diff, sizeof diff);
        eval_acc *targets[2] = {&groups[0], diff[0] ? group_of(groups, &ng, diff) : NULL};
        int64_t correct = 0;
        for (int g = 0; g < G; g++) correct += res[g].correct != 0;
        for (int t = 0; t < 2; t++) {
            eval_acc *a = targets[t];
            if (!a) continue;
            a->problems++;
            a->samples += G;
            a->correct += correct;
            for (int g = 0; g < G; g++) {
                const rollout_sample *s = &r.samples[i * G + g];
                a->tokens += s->len;
                reward_mode mode = reward_thinkless_mode(s->text);
                a->think += mode == REWARD_MODE_THINK;
                a->shrt += mode == REWARD_MODE_SHORT;
            }
            for (int q = 0, k = 1; k <= G && q < EVAL_MAX_K; q++, k *= 2) {
                double v;
                if (adv_pass_at_k(G, correct, k, &v)) goto done;
                a->pass[q] += v;
            }
        }
    }
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "model", p->dir);
    cJSON_AddStringToObject(root, "dataset", ds->name);
    cJSON_AddNumberToObject(root, "samples_per_problem", G);
    cJSON_AddNumberToObject(root, "temperature", c->eval.temperature);
    cJSON_AddNumberToObject(root, "seconds", log_now() - t0);
    for (int i = 0; i < ng; i++) cJSON_AddItemToObject(root, groups[i].name, acc_json(&groups[i], G));
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
    rollout_result_free(&r);
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
