/* genconfig — sampling defaults from a model directory's generation_config.json, under the values
 * the user gave; see rollout.h (rollout_sampling). */
#include "rollout.h"

#include "common/err.h"
#include "common/io.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GEN_FILE "generation_config.json"

static const char *const gen_names[ROLLOUT_GEN_N] = {"temperature", "top_k", "top_p", "min_p",
                                                     "repetition_penalty"};

/* The file's number at key, range-checked: 1 with *out set, 0 when absent or null, -1 on error. */
static int number_at(const cJSON *root, const char *path, const char *key, int integer, double lo,
                     int lo_closed, double hi, int hi_closed, double *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    double x = cJSON_IsNumber(v) ? v->valuedouble : NAN;
    int ok = cJSON_IsNumber(v) && isfinite(x) && (!integer || x == floor(x)) &&
             (lo_closed ? x >= lo : x > lo) && (hi_closed ? x <= hi : x < hi);
    if (!ok) {
        char want[96];
        if (isinf(hi)) snprintf(want, sizeof want, "%s %s %g", integer ? "an integer" : "a number", lo_closed ? ">=" : ">", lo);
        else snprintf(want, sizeof want, "a number in %c%g, %g%c", lo_closed ? '[' : '(', lo, hi, hi_closed ? ']' : ')');
        char *got = cJSON_PrintUnformatted(v);
        err_set("%s: %s is %s, expected %s", path, key, got ? got : "?", want);
        cJSON_free(got);
        return -1;
    }
    *out = x;
    return 1;
}

static int read_eos(const cJSON *root, const char *path, rollout_sampling *s) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "eos_token_id");
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsNumber(v) || cJSON_IsArray(v)) {
        const cJSON *it = cJSON_IsArray(v) ? v->child : v;
        for (; it; it = cJSON_IsArray(v) ? it->next : NULL) {
            if (!cJSON_IsNumber(it) || it->valuedouble != floor(it->valuedouble) || it->valuedouble < 0 ||
                it->valuedouble > 2147483647.0)
                return err_set("%s: eos_token_id must be a token id or a list of them (integers >= 0)", path);
            if (s->n_eos == ROLLOUT_GEN_MAX_EOS)
                return err_set("%s: eos_token_id lists more than %d ids", path, ROLLOUT_GEN_MAX_EOS);
            s->eos[s->n_eos++] = (int32_t)it->valuedouble;
        }
        return 0;
    }
    return err_set("%s: eos_token_id must be a token id or a list of them (integers >= 0)", path);
}

int rollout_sampling_from_model(const char *dir, rollout_sampling *s) {
    for (int i = 0; i < ROLLOUT_GEN_N; i++) s->from[i] = s->given[i] ? ROLLOUT_FROM_USER : ROLLOUT_FROM_DEFAULT;
    s->greedy_by_model = 0;
    s->top_k_hf_default = 0;
    s->n_eos = 0;
    s->have_file = 0;
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", dir, GEN_FILE);
    FILE *probe = fopen(path, "rb");
    if (!probe) return 0; /* no file: rlvr's defaults */
    fclose(probe);
    char *text = io_read_file(path, 1 << 20, NULL);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return err_set("%s: not a JSON object", path);
    }
    s->have_file = 1;
    int rc = -1;
    double v[ROLLOUT_GEN_N];
    int have[ROLLOUT_GEN_N];
    if ((have[ROLLOUT_GEN_TEMPERATURE] = number_at(root, path, "temperature", 0, 0, 1, INFINITY, 0, &v[0])) < 0 ||
        (have[ROLLOUT_GEN_TOP_K] = number_at(root, path, "top_k", 1, 0, 1, INFINITY, 0, &v[1])) < 0 ||
        (have[ROLLOUT_GEN_TOP_P] = number_at(root, path, "top_p", 0, 0, 0, 1, 1, &v[2])) < 0 ||
        (have[ROLLOUT_GEN_MIN_P] = number_at(root, path, "min_p", 0, 0, 1, 1, 0, &v[3])) < 0 ||
        (have[ROLLOUT_GEN_REPETITION_PENALTY] = number_at(root, path, "repetition_penalty", 0, 0, 0, INFINITY, 0, &v[4])) < 0)
        goto out;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(root, "do_sample");
    if (ds && !cJSON_IsNull(ds) && !cJSON_IsBool(ds)) {
        err_set("%s: do_sample must be true or false", path);
        goto out;
    }
    if (read_eos(root, path, s)) goto out;
    int sample = ds && cJSON_IsTrue(ds), greedy = ds && cJSON_IsFalse(ds);
    if (sample && !have[ROLLOUT_GEN_TOP_K]) { /* Hugging Face's GenerationConfig default */
        have[ROLLOUT_GEN_TOP_K] = 1;
        v[ROLLOUT_GEN_TOP_K] = 50;
        s->top_k_hf_default = !s->given[ROLLOUT_GEN_TOP_K];
    }
    if (greedy) {
        have[ROLLOUT_GEN_TEMPERATURE] = 1;
        v[ROLLOUT_GEN_TEMPERATURE] = 0;
    }
    for (int i = 0; i < ROLLOUT_GEN_N; i++) {
        if (s->given[i] || !have[i]) continue;
        s->from[i] = ROLLOUT_FROM_MODEL;
        switch (i) {
        case ROLLOUT_GEN_TEMPERATURE: s->p.temperature = v[i]; break;
        case ROLLOUT_GEN_TOP_K: s->p.top_k = (int64_t)v[i]; break;
        case ROLLOUT_GEN_TOP_P: s->p.top_p = v[i]; break;
        case ROLLOUT_GEN_MIN_P: s->p.min_p = v[i]; break;
        default: s->repetition_penalty = v[i]; break;
        }
    }
    s->greedy_by_model = greedy && !s->given[ROLLOUT_GEN_TEMPERATURE];
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

void rollout_sampling_describe(const rollout_sampling *s, const char *user, char *buf, size_t cap) {
    double v[ROLLOUT_GEN_N] = {s->p.temperature, (double)s->p.top_k, s->p.top_p, s->p.min_p,
                               s->repetition_penalty};
    size_t at = 0;
    buf[0] = '\0';
    for (int i = 0; i < ROLLOUT_GEN_N && at < cap; i++) {
        const char *from = s->from[i] == ROLLOUT_FROM_USER ? user
                           : s->from[i] == ROLLOUT_FROM_DEFAULT ? "default"
                           : i == ROLLOUT_GEN_TEMPERATURE && s->greedy_by_model ? GEN_FILE ": do_sample false"
                           : i == ROLLOUT_GEN_TOP_K && s->top_k_hf_default ? GEN_FILE ": do_sample true, Hugging Face's default"
                                                                            : GEN_FILE;
        int n = snprintf(buf + at, cap - at, "%s%s %g (%s)", i ? ", " : "", gen_names[i], v[i], from);
        if (n < 0) break;
        at += (size_t)n;
    }
}
