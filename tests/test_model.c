/* test_model — the C forward against the PyTorch reference, and the model's error paths.
 *
 * tests/model/reference.json holds, for tiny Llama (llama3 RoPE scaling, GQA, untied, sharded),
 * Qwen2 (GQA, tied, bf16 weights), Qwen3 (GQA, head_dim != D/H) and Llama (MHA, tied, attention
 * biases) models, the log-probs, entropies, gradient norms and greedy ids that tests/model_ref.py
 * computed from the same safetensors; each model is rebuilt here by `rlvr init-model` with the
 * recorded arguments (weights are a function of the seed). Checked: log-probs and entropies within
 * 1e-4 of their scale (close_scaled), alone and in left- and right-padded batches; gradient norms
 * within 1e-3 relative; KV-cache prefill + decode logits equal full-sequence logits within 1e-5 of
 * the row's scale, with padding, rows of different lengths, rows expanded to a group and
 * compacted; greedy ids exactly; activation checkpointing's gradients equal the plain forward's;
 * no handle leaks. Then bad config.json fields, unsupported values, missing, mis-shaped and
 * truncated weights, and bad arguments. The reference cases run on RLVR_TEST_DEVICE
 * (check_device.h); the error paths on the CPU. */
#include "check.h"
#include "check_device.h"

#include "common/err.h"
#include "common/io.h"
#include "model/model.h"
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#define RTOL 1e-4
#define CACHE_TOL 1e-5

static ts_device test_dev; /* RLVR_TEST_DEVICE */

static void write_text(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (fp) {
        fputs(text, fp);
        fclose(fp);
    }
}

static int run(const char *cmd) {
    int rc = system(cmd);
    if (rc) fprintf(stderr, "command failed (%d): %s\n", rc, cmd);
    return rc;
}

/* (rows, T) i64 tensor from a row-major host array */
static ts_tensor *ids_tensor(const int64_t *v, int64_t rows, int64_t T) {
    return check_from_host(v, (int64_t[]){rows, T}, 2, TS_I64);
}

static float *host_f32(const ts_tensor *t) {
    int64_t n = ts_numel(t);
    float *v = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    if (!t || !v || ts_to_host(t, v, sizeof(float) * (size_t)n)) {
        free(v);
        return NULL;
    }
    return v;
}

static int close_rel(double got, double want, double rtol) { return fabs(got - want) <= rtol * fabs(want) + 1e-6; }

/* Log-probs and entropies are checked relative to their scale: the larger of the value and the
 * range of the position's logits. Both are differences of terms on the scale of the logits (a
 * log-prob is a logit minus the log-sum-exp; an entropy is the log-sum-exp minus the mean logit
 * under p), and each logit carries fp32 rounding proportional to its magnitude, so the error of a
 * small entropy of a sharp row is bounded by the logit range times the logits' relative error, not
 * by the entropy itself. Measured over every OpenBLAS core type and ATen capability of an AVX-512
 * machine (tests/test_cpu_variants.sh runs them all): at most 1.6e-6 of the scale. */
static int close_scaled(double got, double want, double range, double rtol) {
    return fabs(got - want) <= rtol * fmax(fabs(want), range) + 1e-6;
}

typedef struct seqs {
    int n;
    int64_t len[8];
    int64_t *ids[8];
    double *range[8]; /* per position: max - min of the logits predicting the next token */
    const cJSON *lp[8], *ent[8];
} seqs;

/* s->range[i]: the logit range of every position of sequence i, from its full forward. */
static int logit_ranges(model *m, seqs *s) {
    int64_t V = model_get_config(m)->vocab_size;
    for (int i = 0; i < s->n; i++) {
        ts_scope_begin();
        float *l = host_f32(model_forward_logits(m, ids_tensor(s->ids[i], 1, s->len[i]), NULL));
        ts_scope_end();
        s->range[i] = malloc(sizeof(double) * (size_t)s->len[i]);
        if (!l || !s->range[i]) {
            free(l);
            return -1;
        }
        for (int64_t t = 0; t < s->len[i]; t++) {
            float lo = l[t * V], hi = l[t * V];
            for (int64_t v = 1; v < V; v++) {
                lo = fminf(lo, l[t * V + v]);
                hi = fmaxf(hi, l[t * V + v]);
            }
            s->range[i][t] = (double)hi - lo;
        }
        free(l);
    }
    return 0;
}

static int64_t max_len(const seqs *s) {
    int64_t m = 0;
    for (int i = 0; i < s->n; i++) m = s->len[i] > m ? s->len[i] : m;
    return m;
}

/* Every sequence alone, then all in one batch padded on the left or right. */
static void check_logprobs(model *m, const seqs *s, const char *name) {
    int bad = 0;
    for (int i = 0; i < s->n; i++) {
        ts_scope_begin();
        ts_tensor *lp, *ent;
        if (model_forward_logprobs(m, ids_tensor(s->ids[i], 1, s->len[i]), NULL, 0, &lp, &ent)) {
            fprintf(stderr, "%s: %s\n", name, err_msg());
            bad++;
        } else {
            float *a = host_f32(lp), *e = host_f32(ent);
            for (int64_t t = 0; a && e && t < s->len[i] - 1; t++) {
                bad += !close_scaled(a[t], cJSON_GetArrayItem(s->lp[i], (int)t)->valuedouble, s->range[i][t], RTOL);
                bad += !close_scaled(e[t], cJSON_GetArrayItem(s->ent[i], (int)t)->valuedouble, s->range[i][t], RTOL);
            }
            free(a);
            free(e);
        }
        ts_scope_end();
    }
    if (bad) fprintf(stderr, "%s: %d single-sequence values differ\n", name, bad);
    CHECK(bad == 0);
    int64_t B = s->n, T = max_len(s);
    int64_t *ids = calloc((size_t)(B * T), sizeof *ids), *mask = calloc((size_t)(B * T), sizeof *mask);
    for (int left = 0; left < 2; left++) {
        bad = 0;
        for (int64_t r = 0; r < B; r++) {
            int64_t pad = left ? T - s->len[r] : 0;
            for (int64_t t = 0; t < T; t++) {
                int64_t k = t - pad;
                int real = k >= 0 && k < s->len[r];
                ids[r * T + t] = real ? s->ids[r][k] : 7; /* any id works as padding */
                mask[r * T + t] = real;
            }
        }
        ts_scope_begin();
        ts_tensor *lp, *ent;
        if (model_forward_logprobs(m, ids_tensor(ids, B, T), ids_tensor(mask, B, T), 0, &lp, &ent)) {
            fprintf(stderr, "%s: %s\n", name, err_msg());
            bad++;
        } else {
            float *a = host_f32(lp), *e = host_f32(ent);
            for (int64_t r = 0; a && e && r < B; r++) {
                int64_t pad = left ? T - s->len[r] : 0;
                for (int64_t t = 0; t < T - 1; t++) {
                    int64_t k = t - pad;
                    if (k >= 0 && k < s->len[r] - 1) {
                        double range = s->range[r][k];
                        bad += !close_scaled(a[r * (T - 1) + t], cJSON_GetArrayItem(s->lp[r], (int)k)->valuedouble, range, RTOL);
                        bad += !close_scaled(e[r * (T - 1) + t], cJSON_GetArrayItem(s->ent[r], (int)k)->valuedouble, range, RTOL);
                    } else {
                        bad += a[r * (T - 1) + t] != 0 || e[r * (T - 1) + t] != 0; /* padding is zeroed */
                    }
                }
            }
            /* from a later column on: the same columns, the head run on those positions only */
            int64_t first = (T - 1) / 2, C = T - 1 - first;
            ts_tensor *lp2, *ent2;
            CHECK(model_forward_logprobs_from(m, ids_tensor(ids, B, T), ids_tensor(mask, B, T), first, 0, &lp2, &ent2) == 0);
            float *a2 = host_f32(lp2), *e2 = host_f32(ent2);
            for (int64_t r = 0; a && e && a2 && e2 && r < B; r++)
                for (int64_t t = 0; t < C; t++) {
                    bad += fabsf(a2[r * C + t] - a[r * (T - 1) + first + t]) > 1e-5f * (1 + fabsf(a[r * (T - 1) + first + t]));
                    bad += fabsf(e2[r * C + t] - e[r * (T - 1) + first + t]) > 1e-5f * (1 + fabsf(e[r * (T - 1) + first + t]));
                }
            CHECK(a2 && e2);
            free(a2);
            free(e2);
            free(a);
            free(e);
        }
        ts_scope_end();
        if (bad) fprintf(stderr, "%s: %d values differ in the %s-padded batch\n", name, bad, left ? "left" : "right");
        CHECK(bad == 0);
    }
    free(ids);
    free(mask);
}

/* d(sum of log-probs of sequence 0)/d(tensor): norms equal autograd's in PyTorch. */
static void check_gradients(model *m, const seqs *s, const cJSON *norms, const char *name) {
    ts_scope_begin();
    model_param_table pt = model_params(m);
    for (int i = 0; i < pt.n; i++) ts_set_requires_grad(pt.t[i], 1);
    ts_tensor *lp, *ent;
    int ok = !model_forward_logprobs(m, ids_tensor(s->ids[0], 1, s->len[0]), NULL, 1, &lp, &ent);
    ok = ok && ts_requires_grad(lp) && ts_requires_grad(ent) && !ts_backward(ts_sum(lp));
    CHECK(ok);
    int bad = 0, seen = 0;
    for (int i = 0; ok && i < pt.n; i++) {
        const char *pname = pt.names[i];
        ts_tensor *p = pt.t[i];
        const cJSON *want = cJSON_GetObjectItemCaseSensitive(norms, pname);
        double got = -1;
        if (ts_has_grad(p)) ts_item_f64(ts_norm(ts_grad(p)), &got);
        if (!cJSON_IsNumber(want) || !close_rel(got, want->valuedouble, 1e-3)) {
            fprintf(stderr, "%s: gradient norm of %s = %g, reference %g\n", name, pname, got,
                    cJSON_IsNumber(want) ? want->valuedouble : -1);
            bad++;
        }
        seen++;
        ts_grad_clear(p);
        ts_set_requires_grad(p, 0);
    }
    CHECK(bad == 0 && seen == cJSON_GetArraySize(norms));
    ts_scope_end();
}

/* Activation checkpointing gives the gradients of the plain forward within rounding (1e-4 of the
 * largest element of each gradient), for a loss of log-probs and entropies with the entropy's
 * gradient on, over all sequences in one right-padded batch. Not bit for bit: the checkpointed
 * forward runs without gradients and takes the fused attention kernel, the replay in backward
 * ATen's composite, and the two round differently; seen: 1.1e-5 on the bf16-valued Qwen2 model. */
static void check_checkpointing(model *m, const seqs *s, const char *name) {
    int64_t T = max_len(s), B = s->n;
    int64_t *ids = calloc((size_t)(B * T), sizeof *ids), *mask = calloc((size_t)(B * T), sizeof *mask);
    for (int i = 0; i < B; i++)
        for (int64_t t = 0; t < s->len[i]; t++) {
            ids[i * T + t] = s->ids[i][t];
            mask[i * T + t] = 1;
        }
    ts_scope_begin();
    model_param_table pt = model_params(m);
    ts_tensor **plain = calloc((size_t)pt.n, sizeof *plain);
    for (int i = 0; i < pt.n; i++) ts_set_requires_grad(pt.t[i], 1);
    int bad = 0;
    for (int on = 0; on < 2; on++) {
        model_set_activation_checkpointing(m, on);
        ts_tensor *lp, *ent;
        if (model_forward_logprobs(m, ids_tensor(ids, B, T), ids_tensor(mask, B, T), 1, &lp, &ent) ||
            ts_backward(ts_add(ts_sum(lp), ts_mul_scalar(ts_sum(ent), 0.1)))) {
            fprintf(stderr, "%s: checkpointing %d: %s\n", name, on, err_msg());
            bad++;
            break;
        }
        for (int i = 0; i < pt.n; i++) {
            ts_tensor *g = ts_clone(ts_grad(pt.t[i]));
            ts_grad_clear(pt.t[i]);
            if (!on) {
                plain[i] = g;
                continue;
            }
            double d = 1, scale = 0;
            ts_item_f64(ts_max(ts_abs(ts_sub(g, plain[i]))), &d);
            ts_item_f64(ts_max(ts_abs(plain[i])), &scale);
            if (!(d <= 1e-4 * scale + 1e-9)) {
                fprintf(stderr, "%s: checkpointed gradient of %s differs by %g (largest element %g)\n", name,
                        pt.names[i], d, scale);
                bad++;
            }
        }
    }
    model_set_activation_checkpointing(m, 0);
    for (int i = 0; i < pt.n; i++) ts_set_requires_grad(pt.t[i], 0);
    CHECK(bad == 0);
    free(plain);
    ts_scope_end();
    free(ids);
    free(mask);
}

/* max |a - b| / max(1, max |b|): the error relative to the scale of the logit row (f32 rounding
 * grows with the row's magnitude, not with each element's). */
static double max_diff(const float *a, const float *b, int64_t n) {
    double d = 0, scale = 1;
    for (int64_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - b[i]));
        scale = fmax(scale, fabs((double)b[i]));
    }
    return d / scale;
}

/* Logits (V) of sequence ids[0..upto] (its last position), full forward, no cache. */
static float *full_last_logits(model *m, const int64_t *ids, int64_t upto) {
    ts_scope_begin();
    ts_tensor *l = model_forward_logits(m, ids_tensor(ids, 1, upto), NULL);
    float *v = host_f32(ts_select(ts_select(l, 0, 0), 0, upto - 1));
    ts_scope_end();
    return v;
}

/* Two prompts of different lengths, right-padded (a hole in the cache of the shorter), prefilled,
 * expanded to two samples each, decoded with different tokens per row, finished rows dropped
 * twice by moving the last rows into their places; every logit row equals the full forward of
 * that row's own sequence. */
static void check_cache(model *m, const seqs *s, const char *name) {
    int64_t V = model_get_config(m)->vocab_size;
    int64_t la = s->len[0] / 2 + 1, lb = s->len[1] / 2 + 1, T = la > lb ? la : lb, steps = 4;
    /* sequences of the four samples: prompt then per-row continuations */
    int64_t seq[4][64];
    for (int r = 0; r < 4; r++) {
        const int64_t *src = s->ids[r < 2 ? 0 : 1];
        int64_t pl = r < 2 ? la : lb;
        for (int64_t t = 0; t < pl; t++) seq[r][t] = src[t];
        for (int64_t t = 0; t < steps; t++) seq[r][pl + t] = (17 * r + 5 * t + 3) % V;
    }
    int64_t ids[2 * 64] = {0}, mask[2 * 64] = {0};
    for (int64_t t = 0; t < T; t++) {
        ids[t] = t < la ? seq[0][t] : 0;
        mask[t] = t < la;
        ids[T + t] = t < lb ? seq[2][t] : 0;
        mask[T + t] = t < lb;
    }
    int64_t before = ts_live_handles();
    model_cache *c = model_cache_init(m, 2, T + steps);
    CHECK(c != NULL);
    if (!c) return;
    double worst = 0;
    ts_scope_begin();
    ts_tensor *logits = model_prefill(m, c, ids_tensor(ids, 2, T), ids_tensor(mask, 2, T));
    float *got = host_f32(logits), *want0 = full_last_logits(m, seq[0], la), *want1 = full_last_logits(m, seq[2], lb);
    CHECK(got && want0 && want1);
    if (got && want0 && want1) {
        worst = fmax(max_diff(got, want0, V), max_diff(got + V, want1, V));
    }
    free(got);
    free(want0);
    free(want1);
    CHECK(model_cache_index_select(c, check_from_host((int64_t[]){0, 0, 1, 1}, (int64_t[]){4}, 1, TS_I64)) == 0);
    CHECK(model_cache_batch(c) == 4);
    int rows[4] = {0, 1, 2, 3};
    int nrows = 4;
    for (int64_t t = 0; t < steps; t++) {
        if (t == 1) { /* rows 0 and 2 finish: 3 moves into 0's place, 1 stays */
            CHECK(model_cache_move_rows(c, 2, (int64_t[]){0}, (int64_t[]){3}, 1) == 0);
            rows[0] = 3;
            nrows = 2;
        }
        if (t == 3) { /* row 3 finishes: 1 moves into its place */
            CHECK(model_cache_move_rows(c, 1, (int64_t[]){0}, (int64_t[]){1}, 1) == 0);
            rows[0] = 1;
            nrows = 1;
        }
        CHECK(model_cache_batch(c) == nrows);
        int64_t next[4];
        for (int r = 0; r < nrows; r++) next[r] = seq[rows[r]][(rows[r] < 2 ? la : lb) + t];
        ts_tensor *l = model_decode_step(m, c, check_from_host(next, (int64_t[]){nrows}, 1, TS_I64));
        got = host_f32(l);
        CHECK(got != NULL);
        for (int r = 0; got && r < nrows; r++) {
            float *want = full_last_logits(m, seq[rows[r]], (rows[r] < 2 ? la : lb) + t + 1);
            if (want) worst = fmax(worst, max_diff(got + r * V, want, V));
            CHECK(want != NULL);
            free(want);
        }
        free(got);
    }
    ts_scope_end();
    if (worst > CACHE_TOL) fprintf(stderr, "%s: cache logits differ by %g\n", name, worst);
    CHECK(worst <= CACHE_TOL);
    printf("%s: KV-cache logits within %.2g of the full forward\n", name, worst);
    CHECK(model_cache_len(c) == T + steps);
    ts_scope_begin();
    CHECK(model_decode_step(m, c, check_from_host((int64_t[]){1}, (int64_t[]){1}, 1, TS_I64)) == NULL);
    CHECK_CONTAINS(err_msg(), "cache is full");
    CHECK(model_decode_step(m, c, check_from_host((int64_t[]){1, 2}, (int64_t[]){2}, 1, TS_I64)) == NULL);
    CHECK_CONTAINS(err_msg(), "holds 1 rows");
    /* bad moves are refused before anything moves */
    CHECK(model_cache_move_rows(c, 2, NULL, NULL, 0) == -1);
    CHECK_CONTAINS(err_msg(), "n_keep must be in [1, 1], got 2");
    CHECK(model_cache_move_rows(c, 1, (int64_t[]){0}, (int64_t[]){0}, 1) == -1);
    CHECK_CONTAINS(err_msg(), "move 0 takes row 0 to row 0; expected a row in [1, 1) to one in [0, 1)");
    CHECK(model_cache_batch(c) == 1);
    if (test_dev.type == TS_CPU) { /* on CUDA a bad index is a device-side assert, the end of the process */
        CHECK(model_cache_index_select(c, check_from_host((int64_t[]){9}, (int64_t[]){1}, 1, TS_I64)) == -1);
        CHECK_CONTAINS(err_msg(), "model_cache_index_select");
        CHECK(model_cache_batch(c) == 1); /* a failed select leaves the cache as it was */
    }
    ts_scope_end();
    model_cache_free(c);
    CHECK(ts_live_handles() == before);
}

/* Greedy decoding over the cache gives exactly the reference ids (EOS stops, not included). */
static void check_greedy(model *m, const cJSON *prompt, const cJSON *want, int64_t max_new, const char *name) {
    int64_t T = cJSON_GetArraySize(prompt), ids[64];
    for (int64_t t = 0; t < T; t++) ids[t] = (int64_t)cJSON_GetArrayItem(prompt, (int)t)->valuedouble;
    const model_config *cfg = model_get_config(m);
    model_cache *c = model_cache_init(m, 1, T + max_new);
    ts_scope_begin();
    ts_tensor *logits = model_prefill(m, c, ids_tensor(ids, 1, T), NULL);
    int n = 0, same = logits != NULL;
    while (same && n < max_new) {
        int64_t next;
        if (ts_item_i64(ts_argmax(logits, 1, 0), &next)) break;
        int eos = 0;
        for (int i = 0; i < cfg->n_eos; i++) eos |= cfg->eos_token_ids[i] == next;
        if (eos) break;
        same = n < cJSON_GetArraySize(want) && cJSON_GetArrayItem(want, n)->valuedouble == (double)next;
        n++;
        logits = model_decode_step(m, c, check_from_host(&next, (int64_t[]){1}, 1, TS_I64));
    }
    ts_scope_end();
    model_cache_free(c);
    if (!same || n != cJSON_GetArraySize(want)) fprintf(stderr, "%s: greedy ids differ at token %d\n", name, n);
    CHECK(same && n == cJSON_GetArraySize(want));
}

static void test_reference(const char *src, const char *bin) {
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/model/reference.json", src);
    char *txt = io_read_file(path, 0, NULL);
    cJSON *ref = txt ? cJSON_Parse(txt) : NULL;
    CHECK(ref != NULL);
    if (!ref) {
        free(txt);
        return;
    }
    const cJSON *ver = cJSON_GetObjectItem(ref, "format_version");
    CHECK(cJSON_IsNumber(ver) && ver->valueint == 1);
    const cJSON *kase;
    cJSON_ArrayForEach(kase, cJSON_GetObjectItem(ref, "cases")) {
        const char *name = cJSON_GetObjectItem(kase, "name")->valuestring;
        char dir[] = "/tmp/rlvr_test_model_XXXXXX", cmd[4096];
        if (!mkdtemp(dir)) continue;
        int n = snprintf(cmd, sizeof cmd, "%s init-model --out %s/m", bin, dir);
        const cJSON *a;
        cJSON_ArrayForEach(a, cJSON_GetObjectItem(kase, "init_args")) n += snprintf(cmd + n, sizeof cmd - (size_t)n, " %s", a->valuestring);
        snprintf(cmd + n, sizeof cmd - (size_t)n, " > /dev/null");
        CHECK(run(cmd) == 0);
        snprintf(path, sizeof path, "%s/m", dir);
        int64_t handles = ts_live_handles();
        model *m = model_load(path, test_dev, TS_F32);
        if (!m) fprintf(stderr, "%s: %s\n", name, err_msg());
        CHECK(m != NULL);
        seqs s = {0};
        const cJSON *sq, *lps = cJSON_GetObjectItem(kase, "logprobs"), *ents = cJSON_GetObjectItem(kase, "entropy");
        cJSON_ArrayForEach(sq, cJSON_GetObjectItem(kase, "sequences")) {
            int i = s.n++;
            s.len[i] = cJSON_GetArraySize(sq);
            s.ids[i] = malloc(sizeof(int64_t) * (size_t)s.len[i]);
            for (int64_t t = 0; t < s.len[i]; t++) s.ids[i][t] = (int64_t)cJSON_GetArrayItem(sq, (int)t)->valuedouble;
            s.lp[i] = cJSON_GetArrayItem(lps, i);
            s.ent[i] = cJSON_GetArrayItem(ents, i);
        }
        if (m) {
            CHECK(logit_ranges(m, &s) == 0);
            check_logprobs(m, &s, name);
            check_gradients(m, &s, cJSON_GetObjectItem(kase, "grad_norms_seq0"), name);
            check_checkpointing(m, &s, name);
            check_cache(m, &s, name);
            check_greedy(m, cJSON_GetObjectItem(kase, "prompt"), cJSON_GetObjectItem(kase, "greedy"),
                         (int64_t)cJSON_GetObjectItem(kase, "max_new")->valuedouble, name);
        }
        model_free(m);
        CHECK(ts_live_handles() == handles);
        for (int i = 0; i < s.n; i++) {
            free(s.ids[i]);
            free(s.range[i]);
        }
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        CHECK(run(cmd) == 0);
    }
    cJSON_Delete(ref);
    free(txt);
}

/* ---- bad input ---- */

static const char base_config[] =
    "{\"model_type\": \"qwen2\", \"vocab_size\": 300, \"hidden_size\": 32, \"intermediate_size\": 64,"
    " \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, \"rms_norm_eps\": 1e-6,"
    " \"rope_theta\": 10000.0, \"tie_word_embeddings\": true, \"eos_token_id\": [3, 4]%s}";

/* Parse base_config with the fields in `extra` added (keys base_config lacks). */
static int parse_with(const char *extra, model_config *c) {
    char buf[2048];
    snprintf(buf, sizeof buf, base_config, extra);
    return model_config_parse(buf, strlen(buf), "dir/config.json", c);
}

static void test_config_errors(void) {
    model_config c;
    CHECK(parse_with("", &c) == 0);
    CHECK(c.arch == MODEL_QWEN2 && c.qkv_bias && !c.o_bias && c.head_dim == 8 && c.n_eos == 2 && c.eos_token_ids[1] == 4);
    CHECK(c.tie_word_embeddings && c.bos_token_id == -1 && !c.rope_llama3);
    CHECK(parse_with(", \"head_dim\": 16, \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0,"
                     " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}",
                     &c) == 0);
    CHECK(c.head_dim == 16 && c.rope_llama3 && c.rope_factor == 8 && c.rope_original_max_position == 8192);
    /* transformers 5 writes rope_parameters, rope_theta inside it, in place of rope_scaling */
    CHECK(parse_with(", \"rope_parameters\": {\"rope_type\": \"llama3\", \"rope_theta\": 500000.0, \"factor\": 8.0,"
                     " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0, \"original_max_position_embeddings\": 8192}",
                     &c) == 0);
    CHECK(c.rope_theta == 500000 && c.rope_llama3 && c.rope_factor == 8 && c.rope_high_freq_factor == 4);
    CHECK(parse_with(", \"rope_parameters\": {\"rope_type\": \"default\", \"rope_theta\": 1e6}", &c) == 0);
    CHECK(c.rope_theta == 1e6 && !c.rope_llama3);
    struct {
        const char *extra, *want;
    } bad[] = {
        {", \"head_dim\": \"16\"", "dir/config.json: field \"head_dim\" is a string, expected an integer"},
        {", \"head_dim\": 7.5", "field \"head_dim\" is 7.5, expected an integer"},
        {", \"head_dim\": 7", "head_dim 7 must be even"},
        {", \"hidden_act\": \"gelu\"", "dir/config.json: hidden_act \"gelu\" is not supported"},
        {", \"use_sliding_window\": true", "use_sliding_window true is not supported"},
        {", \"use_sliding_window\": 1", "field \"use_sliding_window\" is a number, expected true or false"},
        {", \"mlp_bias\": true", "mlp_bias true is not supported"},
        {", \"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}", "rope_scaling: rope type \"yarn\" is not supported"},
        {", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}", "rope_scaling: missing field \"low_freq_factor\""},
        {", \"rope_scaling\": [1]", "field \"rope_scaling\" is an array, expected an object or null"},
        {", \"rope_parameters\": {\"rope_type\": \"yarn\"}", "rope_parameters: rope type \"yarn\" is not supported"},
        {", \"rope_parameters\": {\"rope_theta\": \"1e6\"}", "rope_parameters: field \"rope_theta\" is a string, expected a number"},
        {", \"bos_token_id\": \"<s>\"", "field \"bos_token_id\" is a string, expected an integer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(parse_with(bad[i].extra, &c) == -1);
        CHECK_CONTAINS(err_msg(), bad[i].want);
    }
    const char *texts[][2] = {
        {"{\"model_type\": \"mistral\", \"vocab_size\": 3}", "dir/config.json: model_type \"mistral\" is not supported (supported: llama, qwen2, qwen3)"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 300}", "dir/config.json: missing field \"hidden_size\" (an integer)"},
        {"{\"vocab_size\": 300}", "missing field \"model_type\""},
        {"{\"model_type\": \"llama\", \"vocab_size\": 300, \"hidden_size\": 30, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 4}", "hidden_size 30 is not a multiple of num_attention_heads 4"},
        {"{\"model_type\": \"llama\", \"vocab_size\": 300, \"hidden_size\": 32, \"intermediate_size\": 8,"
         " \"num_hidden_layers\": 1, \"num_attention_heads\": 4, \"num_key_value_heads\": 3}", "not a multiple of num_key_value_heads 3"},
        {"[1, 2]", "dir/config.json: not a JSON object"},
        {"{\"model_type\": ", "not a JSON object"},
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        CHECK(model_config_parse(texts[i][0], strlen(texts[i][0]), "dir/config.json", &c) == -1);
        CHECK_CONTAINS(err_msg(), texts[i][1]);
    }
    CHECK(model_config_load("/nonexistent/config.json", &c) == -1);
    CHECK_CONTAINS(err_msg(), "/nonexistent/config.json: cannot open");
}

/* Rewrite dir/model.safetensors from a good copy: drop tensor `drop`, or give `reshape` the shape
 * with its two dimensions swapped. */
static int rewrite_weights(const char *good, const char *dir, const char *drop, const char *reshape) {
    st_file *f = st_open(good);
    if (!f) return -1;
    int n = st_count(f), k = 0;
    st_tensor *t = calloc((size_t)n, sizeof *t);
    for (int i = 0; i < n; i++) {
        const st_tensor *s = st_get(f, i);
        if (drop && !strcmp(s->name, drop)) continue;
        t[k] = *s;
        if (reshape && !strcmp(s->name, reshape)) {
            t[k].shape[0] = s->shape[1];
            t[k].shape[1] = s->shape[0];
        }
        k++;
    }
    char path[1024];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc = st_write(path, t, k, NULL);
    free(t);
    st_close(f);
    return rc;
}

static void test_weight_errors(void) {
    char dir[] = "/tmp/rlvr_test_model_XXXXXX", path[1024], good[1024], cmd[4096];
    if (!mkdtemp(dir)) return;
    model_config c;
    CHECK(parse_with("", &c) == 0);
    c.tie_word_embeddings = 0;
    int64_t handles = ts_live_handles();
    model *m = model_init_random(&c, 7, 0.02);
    CHECK(m && model_save(m, dir, TS_F32, 1 << 30) == 0);
    CHECK(m && model_params(m).n == 15); /* embed, 12 per layer with q/k/v biases, norm, lm_head */
    model_free(m);
    snprintf(good, sizeof good, "%s/good.safetensors", dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    CHECK(rename(path, good) == 0);

    CHECK(rewrite_weights(good, dir, "model.layers.0.self_attn.k_proj.bias", NULL) == 0);
    CHECK(model_load(dir, TS_CPU_DEVICE, TS_F32) == NULL);
    CHECK_CONTAINS(err_msg(), "tensor \"model.layers.0.self_attn.k_proj.bias\" is missing (expected shape (16))");
    CHECK_CONTAINS(err_msg(), dir);

    CHECK(rewrite_weights(good, dir, NULL, "model.layers.0.mlp.up_proj.weight") == 0);
    CHECK(model_load(dir, TS_CPU_DEVICE, TS_F32) == NULL);
    CHECK_CONTAINS(err_msg(), "tensor \"model.layers.0.mlp.up_proj.weight\" has shape (32, 64), expected (64, 32) from config.json");

    CHECK(rewrite_weights(good, dir, "lm_head.weight", NULL) == 0); /* untied needs lm_head */
    CHECK(model_load(dir, TS_CPU_DEVICE, TS_F32) == NULL);
    CHECK_CONTAINS(err_msg(), "tensor \"lm_head.weight\" is missing");

    snprintf(cmd, sizeof cmd, "head -c 5000 %s > %s", good, path); /* truncated */
    CHECK(run(cmd) == 0);
    CHECK(model_load(dir, TS_CPU_DEVICE, TS_F32) == NULL);
    CHECK_CONTAINS(err_msg(), "model.safetensors");

    CHECK(rewrite_weights(good, dir, NULL, NULL) == 0);
    m = model_load(dir, TS_CPU_DEVICE, TS_F32);
    CHECK(m != NULL);
    model_free(m);

    snprintf(path, sizeof path, "%s/config.json", dir);
    write_text(path, "{\"model_type\": \"qwen2\", \"vocab_size\": true}");
    CHECK(model_load(dir, TS_CPU_DEVICE, TS_F32) == NULL);
    CHECK_CONTAINS(err_msg(), "config.json: field \"vocab_size\" is a boolean, expected an integer");
    CHECK(ts_live_handles() == handles);

    ts_scope_begin();
    m = model_init_random(&c, 7, 0.02);
    ts_tensor *lp;
    CHECK(model_forward_logprobs(m, ts_zeros((int64_t[]){1, 4}, 2, TS_F32, TS_CPU_DEVICE), NULL, 0, &lp, NULL) == -1);
    CHECK_CONTAINS(err_msg(), "ids must be (B, T) i64, got (1, 4) f32");
    CHECK(model_forward_logprobs(m, ts_zeros((int64_t[]){1, 1}, 2, TS_I64, TS_CPU_DEVICE), NULL, 0, &lp, NULL) == -1);
    CHECK_CONTAINS(err_msg(), "T >= 2");
    CHECK(model_forward_logprobs(m, ts_zeros((int64_t[]){1, 4}, 2, TS_I64, TS_CPU_DEVICE),
                                 ts_ones((int64_t[]){1, 3}, 2, TS_I64, TS_CPU_DEVICE), 0, &lp, NULL) == -1);
    CHECK_CONTAINS(err_msg(), "mask must have the shape of ids");
    CHECK(model_forward_logprobs(m, ts_full((int64_t[]){1, 4}, 2, 300, TS_I64, TS_CPU_DEVICE), NULL, 0, &lp, NULL) == -1);
    CHECK_CONTAINS(err_msg(), "model_forward_logprobs");
    CHECK(model_forward_logprobs_from(m, ts_zeros((int64_t[]){1, 4}, 2, TS_I64, TS_CPU_DEVICE), NULL, 3, 0, &lp, NULL) == -1);
    CHECK_CONTAINS(err_msg(), "first column 3 is outside [0, 3)");
    CHECK(model_forward_logprobs_from(m, ts_zeros((int64_t[]){1, 4}, 2, TS_I64, TS_CPU_DEVICE), NULL, -1, 0, &lp, NULL) == -1);
    CHECK_CONTAINS(err_msg(), "first column -1 is outside [0, 3)");
    CHECK(model_cache_init(m, 0, 4) == NULL);
    model_free(m);
    ts_scope_end();
    CHECK(ts_live_handles() == handles);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(run(cmd) == 0);
}

/* model_set_logprob_temperature: the full-sequence log-probs and entropies are those of
 * softmax(logits / t), the logits being model_forward_logits' (checked against PyTorch above);
 * t = 1 gives back the plain ones, and a lower t a lower entropy here. */
static void test_logprob_temperature(void) {
    model_config c;
    CHECK(parse_with("", &c) == 0);
    model *m = model_init_random(&c, 5, 0.5);
    CHECK(m != NULL);
    if (!m) return;
    ts_scope_begin();
    const int64_t ids[6] = {5, 17, 200, 3, 42, 9};
    ts_tensor *x = ts_from_data(ids, (int64_t[]){1, 6}, 2, TS_I64);
    ts_tensor *logits = ts_narrow(model_forward_logits(m, x, NULL), 1, 0, 5); /* (1, 5, V) */
    ts_tensor *next = ts_unsqueeze(ts_narrow(x, 1, 1, 5), -1);
    double ent_prev = INFINITY;
    const double temps[3] = {1.3, 1.0, 0.6};
    for (int k = 0; k < 3; k++) {
        model_set_logprob_temperature(m, temps[k]);
        ts_tensor *lp, *ent;
        CHECK(model_forward_logprobs(m, x, NULL, 0, &lp, &ent) == 0);
        ts_tensor *lsm = ts_log_softmax(ts_div_scalar(logits, temps[k]), -1);
        ts_tensor *want_lp = ts_squeeze(ts_gather(lsm, 2, next), -1);
        ts_tensor *want_ent = ts_neg(ts_sum_dim(ts_mul(ts_exp(lsm), lsm), -1, 0));
        double dl = 1, de = 1, e = 0;
        CHECK(ts_item_f64(ts_max(ts_abs(ts_sub(lp, want_lp))), &dl) == 0 && dl < 1e-5);
        CHECK(ts_item_f64(ts_max(ts_abs(ts_sub(ent, want_ent))), &de) == 0 && de < 1e-5);
        CHECK(ts_item_f64(ts_sum(ent), &e) == 0 && e < ent_prev);
        ent_prev = e;
    }
    ts_scope_end();
    model_free(m);
}

int main(void) {
    ts_set_num_threads(1);
    test_dev = check_device();
    const char *src = getenv("RLVR_SRC"), *bin = getenv("RLVR_BIN");
    if (!src) src = ".";
    int64_t start = ts_live_handles();
    test_config_errors();
    test_weight_errors();
    test_logprob_temperature();
    if (bin) test_reference(src, bin);
    else fprintf(stderr, "RLVR_BIN is not set (ctest sets it): the reference cases need `rlvr init-model`\n");
    CHECK(bin != NULL);
    CHECK(ts_live_handles() == start);
    CHECK_DONE();
}
