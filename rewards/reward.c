/* reward — the reward registry: builds the configured terms from the `reward` config section,
 * scores one completion or a whole group, and keeps the means of every sub-score and the failure
 * counters for the metrics log. See reward.h for the formula.
 * Deliberately not here: the verifiers and shaping functions themselves (reward_math.c,
 * reward_tasks.c, reward_shape.c, reward_external.c, reward_plugin.c), token counting. */
#include "reward.h"

#include "common/err.h"
#include "common/mem.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { V_MATH, V_GSM8K, V_COUNTDOWN, V_KK, V_NONE };
const cfg_choice reward_verifier_choices[] = {
    {"math", V_MATH}, {"gsm8k", V_GSM8K}, {"countdown", V_COUNTDOWN}, {"kk", V_KK}, {"none", V_NONE}, {NULL, 0}};

typedef struct accum {
    char name[REWARD_NAME_MAX];
    double sum;
    int64_t count;
} accum;

struct reward {
    cfg_reward cfg; /* a copy of the numbers; strings are read only in reward_init */
    int verifier;   /* V_*: reward.verifier */
    reward_external *ext;
    reward_plugin *plugin;
    int64_t scored, plugin_failures, no_answer;
    double score_sum;
    accum acc[REWARD_MAX_METRICS];
    int nacc;
};

reward *reward_init(const rlvr_config *c) {
    reward *r = mem_calloc(1, sizeof *r);
    r->cfg = c->reward;
    r->cfg.external.command.v = NULL;
    r->cfg.plugin.path = r->cfg.plugin.arg = NULL;
    const cfg_reward *rc = &c->reward;
    if (cfg_choice_value(c, "reward.verifier", reward_verifier_choices, &r->verifier)) {
        reward_free(r);
        return NULL;
    }
    if (rc->overlong.buffer > rc->overlong.max_len) {
        err_set("reward.overlong.buffer: expected at most reward.overlong.max_len (%lld), got %lld",
                (long long)rc->overlong.max_len, (long long)rc->overlong.buffer);
        reward_free(r);
        return NULL;
    }
    if (rc->external.weight != 0) {
        r->ext = reward_external_start(rc->external.command.v, rc->external.command.n,
                                       rc->external.timeout_s, rc->external.cpu_s,
                                       rc->external.memory_mb, rc->external.max_files);
        if (!r->ext) {
            reward_free(r);
            return NULL;
        }
    }
    if (rc->plugin.weight != 0) {
        r->plugin = reward_plugin_load(rc->plugin.path, rc->plugin.arg);
        if (!r->plugin) {
            reward_free(r);
            return NULL;
        }
    }
    return r;
}

void reward_free(reward *r) {
    if (!r) return;
    reward_external_free(r->ext);
    reward_plugin_free(r->plugin);
    free(r);
}

static void copy_name(char *dst, const char *name) {
    size_t len = strnlen(name, REWARD_NAME_MAX - 1);
    memcpy(dst, name, len);
    dst[len] = '\0';
}

static void add_sub(reward_result *out, const char *name, double value) {
    if (out->n_sub >= REWARD_MAX_SUB) return;
    copy_name(out->sub[out->n_sub].name, name);
    out->sub[out->n_sub].value = value;
    out->n_sub++;
}

static void term(reward_result *out, const char *name, double weight, double value) {
    add_sub(out, name, value);
    out->score += weight * value;
}

/* Countdown numbers and target from the metadata, else from the answer written as JSON. */
static int countdown_spec(const cJSON *meta, const char *answer, int64_t *nums, int *n, int64_t *target) {
    cJSON *own = NULL;
    const cJSON *src = meta;
    if (!src || !cJSON_GetObjectItemCaseSensitive(src, "numbers")) src = own = answer ? cJSON_Parse(answer) : NULL;
    const cJSON *arr = src ? cJSON_GetObjectItemCaseSensitive(src, "numbers") : NULL;
    const cJSON *t = src ? cJSON_GetObjectItemCaseSensitive(src, "target") : NULL;
    int ok = cJSON_IsArray(arr) && cJSON_IsNumber(t) && cJSON_GetArraySize(arr) >= 1 &&
             cJSON_GetArraySize(arr) <= REWARD_COUNTDOWN_MAX;
    ok = ok && fabs(t->valuedouble) <= 1e15;
    *n = 0;
    for (const cJSON *it = ok ? arr->child : NULL; it; it = it->next) {
        if (!cJSON_IsNumber(it) || fabs(it->valuedouble) > 1e15) ok = 0; /* must fit int64 */
        else nums[(*n)++] = (int64_t)it->valuedouble;
    }
    if (ok) *target = (int64_t)t->valuedouble;
    cJSON_Delete(own);
    return ok;
}

static void score_one(reward *r, const reward_input *in, reward_result *out) {
    const cfg_reward *c = &r->cfg;
    const char *text = in->completion ? in->completion : "";
    memset(out, 0, sizeof *out);
    cJSON *meta = in->metadata ? cJSON_Parse(in->metadata) : NULL;
    int verifier = r->verifier;
    const cJSON *task = meta ? cJSON_GetObjectItemCaseSensitive(meta, "task") : NULL;
    if (cJSON_IsString(task))
        for (const cfg_choice *v = reward_verifier_choices; v->name; v++)
            if (strcmp(task->valuestring, v->name) == 0) verifier = v->value;
    int correct = 0, has_answer = 1;
    switch (verifier) {
    case V_MATH: {
        char buf[64];
        has_answer = reward_math_extract(text, c->math.fallback, buf, sizeof buf) > 0;
        correct = in->answer && reward_math_grade(text, in->answer, c->math.fallback, c->math.tolerance);
        break;
    }
    case V_GSM8K: correct = in->answer && reward_gsm8k_grade(text, in->answer); break;
    case V_COUNTDOWN: {
        int64_t nums[REWARD_COUNTDOWN_MAX], target = 0;
        int n = 0;
        correct = countdown_spec(meta, in->answer, nums, &n, &target) &&
                  reward_countdown_grade(text, nums, n, target);
        break;
    }
    case V_KK: correct = in->answer && reward_kk_grade(text, in->answer); break;
    default: break;
    }
    cJSON_Delete(meta);
    if (!has_answer) r->no_answer++;
    out->correct = correct;
    add_sub(out, "correct", correct);
    int64_t len = in->length >= 0 ? in->length : (int64_t)strlen(text);
    if (c->accuracy.weight != 0)
        term(out, "accuracy", c->accuracy.weight, correct ? c->accuracy.correct : c->accuracy.wrong);
    if (c->format.weight != 0) term(out, "format", c->format.weight, reward_format_check(text));
    if (c->thinkless.weight != 0) {
        reward_mode m = reward_thinkless_mode(text);
        double v = c->thinkless.format_error;
        if (m != REWARD_MODE_NONE && has_answer)
            v = m == REWARD_MODE_SHORT ? (correct ? c->thinkless.correct_short : c->thinkless.wrong_short)
                                       : (correct ? c->thinkless.correct_think : c->thinkless.wrong_think);
        term(out, "thinkless", c->thinkless.weight, v);
        add_sub(out, "think_mode", m == REWARD_MODE_THINK);
    }
    if (c->cosine.weight != 0) {
        reward_cosine_params p = {c->cosine.correct_at_0, c->cosine.correct_at_max,
                                  c->cosine.wrong_at_0,   c->cosine.wrong_at_max,
                                  c->cosine.exceed,       c->cosine.margin,
                                  c->cosine.max_len};
        term(out, "cosine", c->cosine.weight, reward_cosine(len, correct, &p));
    }
    if (c->overlong.weight != 0)
        term(out, "overlong", c->overlong.weight,
             reward_overlong(len, c->overlong.max_len, c->overlong.buffer));
    if (c->lgrpo.weight != 0) add_sub(out, "lgrpo", 0);
    if (r->ext) {
        double v;
        reward_subscore subs[8];
        int nsub = 0;
        if (reward_external_call(r->ext, in, &v, subs, &nsub, 8)) v = c->external.failure_score;
        term(out, "external", c->external.weight, v);
        for (int k = 0; k < nsub; k++) add_sub(out, subs[k].name, subs[k].value);
    }
    if (r->plugin) {
        double v;
        if (reward_plugin_score(r->plugin, in, &v)) {
            v = c->plugin.failure_score;
            r->plugin_failures++;
        }
        term(out, "plugin", c->plugin.weight, v);
    }
}

static void account(reward *r, const reward_result *out) {
    r->scored++;
    r->score_sum += out->score;
    for (int k = 0; k < out->n_sub; k++) {
        int i = 0;
        while (i < r->nacc && strcmp(r->acc[i].name, out->sub[k].name) != 0) i++;
        if (i == r->nacc) {
            if (r->nacc >= REWARD_MAX_METRICS) continue;
            copy_name(r->acc[i].name, out->sub[k].name);
            r->nacc++;
        }
        r->acc[i].sum += out->sub[k].value;
        r->acc[i].count++;
    }
}

int reward_score(reward *r, const reward_input *in, reward_result *out) {
    if (!r || !in || !out) return err_set("reward_score: NULL argument");
    score_one(r, in, out);
    account(r, out);
    return 0;
}

/* L-GRPO (ALGORITHMS.md §7): R_i += λ (1 − |o_i| / L_max) when all G completions are correct. */
int reward_score_group(reward *r, const reward_input *in, int g, reward_result *out) {
    if (!r || !in || !out || g < 1) return err_set("reward_score_group: expected g >= 1 and buffers");
    int all_correct = 1;
    for (int i = 0; i < g; i++) {
        score_one(r, &in[i], &out[i]);
        all_correct = all_correct && out[i].correct;
    }
    if (r->cfg.lgrpo.weight != 0)
        for (int i = 0; i < g; i++) {
            const char *t = in[i].completion ? in[i].completion : "";
            int64_t len = in[i].length >= 0 ? in[i].length : (int64_t)strlen(t);
            double v = all_correct ? 1.0 - (double)len / (double)r->cfg.lgrpo.max_len : 0.0;
            for (int k = 0; k < out[i].n_sub; k++)
                if (strcmp(out[i].sub[k].name, "lgrpo") == 0) out[i].sub[k].value = v;
            out[i].score += r->cfg.lgrpo.weight * v;
        }
    for (int i = 0; i < g; i++) account(r, &out[i]);
    return 0;
}

static int put(reward_metric *out, int n, int cap, const char *name, double v) {
    if (n >= cap) return n;
    snprintf(out[n].name, sizeof out[n].name, "reward/%s", name);
    out[n].value = v;
    return n + 1;
}

int reward_metrics(const reward *r, reward_metric *out, int cap) {
    if (!r || !out) return 0;
    int n = 0;
    n = put(out, n, cap, "score", r->scored ? r->score_sum / (double)r->scored : 0);
    for (int i = 0; i < r->nacc; i++)
        n = put(out, n, cap, r->acc[i].name, r->acc[i].count ? r->acc[i].sum / (double)r->acc[i].count : 0);
    n = put(out, n, cap, "scored", (double)r->scored);
    n = put(out, n, cap, "no_answer", (double)r->no_answer);
    if (r->ext) {
        reward_external_stats s = reward_external_get_stats(r->ext);
        n = put(out, n, cap, "external_failures", (double)s.failures);
        n = put(out, n, cap, "external_timeouts", (double)s.timeouts);
        n = put(out, n, cap, "external_crashes", (double)s.crashes);
        n = put(out, n, cap, "external_malformed", (double)s.malformed);
        n = put(out, n, cap, "external_mismatched", (double)s.mismatched);
        n = put(out, n, cap, "external_restarts", (double)s.restarts);
    }
    if (r->plugin) n = put(out, n, cap, "plugin_failures", (double)r->plugin_failures);
    return n;
}

void reward_metrics_reset(reward *r) {
    if (!r) return;
    r->scored = r->plugin_failures = r->no_answer = 0;
    r->score_sum = 0;
    r->nacc = 0;
    memset(r->acc, 0, sizeof r->acc); /* a name added again starts from zero */
}
