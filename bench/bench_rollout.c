/* bench_rollout — what the rollout engine's two structural choices buy, measured side by side in
 * one run on random Qwen2-style models (a small and a larger one, built in memory).
 *
 * Usage: bench_rollout [THREADS [REPEATS]]  (defaults 1 thread, best of 3)
 *   1. KV cache against recomputing the full sequence: R rows decode N greedy tokens after an
 *      L-token prompt, once with rollout_generate (prefill, then one cached step per token) and
 *      once by running the whole prompt + completion through a fresh prefill at every token (the
 *      LM head on the last position only, so the baseline wastes no logits).
 *   2. Prefix sharing against prefilling G copies: P prompts of a long L, G samples each, with
 *      rollout_options.share_prefix 1 and 0; the decode work is identical, the prefill G times.
 * Each is timed in wall seconds and in CPU seconds of the process (getrusage), the best of REPEATS
 * runs; the ratio is baseline / engine. Not here: the PyTorch comparison (bench/bench_rollout.sh),
 * stop conditions (EOS is ignored so every row does the same work). */
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "model/model.h"
#include "rollout/rollout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

typedef struct timing {
    double wall, cpu;
} timing;

static double cpu_now(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

typedef struct size_spec {
    const char *name;
    int64_t D, L, H, Hkv, F, V;
} size_spec;

static const size_spec sizes[] = {
    {"small", 64, 2, 4, 4, 176, 512},
    {"larger", 512, 8, 8, 2, 1376, 512},
};

static model *make_model(const size_spec *s) {
    model_config c = {.arch = MODEL_QWEN2, .vocab_size = s->V, .hidden_size = s->D, .intermediate_size = s->F,
                      .num_layers = s->L, .num_heads = s->H, .num_kv_heads = s->Hkv, .head_dim = s->D / s->H,
                      .max_position_embeddings = 4096, .rope_theta = 10000.0, .rms_norm_eps = 1e-6,
                      .qkv_bias = 1, .tie_word_embeddings = 1, .bos_token_id = -1};
    return model_init_random(&c, 1, 0.02);
}

/* P random prompts of L tokens in one buffer. */
typedef struct prompts {
    int32_t *ids;
    const int32_t **rows;
    int *lens;
    uint64_t *keys;
} prompts;

static void prompts_init(prompts *p, int P, int L, int64_t V) {
    p->ids = mem_alloc(sizeof(int32_t) * (size_t)(P * L));
    p->rows = mem_alloc(sizeof(*p->rows) * (size_t)P);
    p->lens = mem_alloc(sizeof(int) * (size_t)P);
    p->keys = mem_alloc(sizeof(uint64_t) * (size_t)P);
    for (int i = 0; i < P * L; i++) p->ids[i] = (int32_t)((i * 7919 + 13) % V);
    for (int i = 0; i < P; i++) {
        p->rows[i] = p->ids + i * L;
        p->lens[i] = L;
        p->keys[i] = (uint64_t)i;
    }
}

static void prompts_free(prompts *p) {
    free(p->ids);
    free(p->rows);
    free(p->lens);
    free(p->keys);
}

static int engine_run(model *m, const prompts *pr, int P, int G, int N, int share, timing *t,
                      rollout_result *keep) {
    rollout_options o;
    memset(&o, 0, sizeof o);
    o.sampling = (sampler_params){0, 0, 1, 0};
    o.max_new_tokens = N;
    o.seed = 1;
    o.share_prefix = share;
    rollout_result r;
    double w0 = log_now(), c0 = cpu_now();
    if (rollout_generate(m, &o, P, pr->rows, pr->lens, pr->keys, G, &r)) return -1;
    t->wall = log_now() - w0;
    t->cpu = cpu_now() - c0;
    if (keep) *keep = r;
    else rollout_result_free(&r);
    return 0;
}

/* Greedy decoding of R = P*G rows by a full forward of prompt + completion at every token. */
static int recompute_run(model *m, const prompts *pr, int P, int G, int L, int N, timing *t) {
    int R = P * G;
    int64_t V = model_get_config(m)->vocab_size;
    int64_t *ids = mem_alloc(sizeof(int64_t) * (size_t)(R * (L + N)));
    float *logits = mem_alloc(sizeof(float) * (size_t)(R * V));
    int rc = 0;
    for (int r = 0; r < R; r++)
        for (int i = 0; i < L; i++) ids[r * (L + N) + i] = pr->rows[r / G][i];
    double w0 = log_now(), c0 = cpu_now();
    for (int step = 0; !rc && step < N; step++) {
        int T = L + step;
        ts_scope_begin();
        int64_t *packed = mem_alloc(sizeof(int64_t) * (size_t)(R * T));
        for (int r = 0; r < R; r++) memcpy(packed + r * T, ids + r * (L + N), sizeof(int64_t) * (size_t)T);
        model_cache *c = model_cache_init(m, R, T);
        ts_tensor *l = c ? model_prefill(m, c, ts_from_data(packed, (int64_t[]){R, T}, 2, TS_I64), NULL) : NULL;
        if (!l || ts_to_host(l, logits, sizeof(float) * (size_t)(R * V))) rc = -1;
        for (int r = 0; !rc && r < R; r++) {
            int64_t best = 0;
            for (int64_t v = 1; v < V; v++)
                if (logits[r * V + v] > logits[r * V + best]) best = v;
            ids[r * (L + N) + T] = best;
        }
        model_cache_free(c);
        free(packed);
        ts_scope_end();
    }
    t->wall = log_now() - w0;
    t->cpu = cpu_now() - c0;
    free(ids);
    free(logits);
    return rc;
}

static void best_of(timing *best, const timing *t) {
    if (t->wall < best->wall) best->wall = t->wall;
    if (t->cpu < best->cpu) best->cpu = t->cpu;
}

static void row(const char *what, double tokens, const timing *base, const timing *eng) {
    printf("  %-34s %9.3f s %9.3f s %9.3f s %9.3f s %7.2fx %7.2fx  (%.0f vs %.0f tok/s CPU)\n", what, base->wall,
           eng->wall, base->cpu, eng->cpu, base->wall / eng->wall, base->cpu / eng->cpu, tokens / base->cpu,
           tokens / eng->cpu);
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1, repeats = argc > 2 ? atoi(argv[2]) : 3;
    if (threads < 1 || repeats < 1) {
        fprintf(stderr, "usage: bench_rollout [THREADS [REPEATS]]\n");
        return 2;
    }
    ts_set_num_threads(threads);
    printf("bench_rollout: libtorch %s, %d thread(s), best of %d; columns: baseline and engine wall time, "
           "baseline and engine CPU time, ratios baseline/engine (wall, CPU)\n",
           ts_version(), threads, repeats);
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const size_spec *s = &sizes[k];
        model *m = make_model(s);
        prompts pr = {0}, lp = {0};
        const int P = 4, G = 2, L = 32, N = 24, P2 = 2, G2 = 8, L2 = 256, N2 = 16;
        if (!m) {
            fprintf(stderr, "bench_rollout: %s\n", err_msg());
            return 1;
        }
        prompts_init(&pr, P, L, s->V);
        prompts_init(&lp, P2, L2, s->V);
        printf("\n%s: D %lld, L %lld, H %lld/%lld, F %lld, V %lld, %.2fM parameters\n", s->name, (long long)s->D,
               (long long)s->L, (long long)s->H, (long long)s->Hkv, (long long)s->F, (long long)s->V,
               (double)model_num_elements(m) / 1e6);
        timing kv = {1e30, 1e30}, full = {1e30, 1e30}, shared = {1e30, 1e30}, copies = {1e30, 1e30}, t;
        rollout_result a, b;
        int ok = 1;
        for (int r = 0; ok && r < repeats; r++) {
            ok = !engine_run(m, &pr, P, G, N, 1, &t, NULL);
            best_of(&kv, &t);
            ok = ok && !recompute_run(m, &pr, P, G, L, N, &t);
            best_of(&full, &t);
            ok = ok && !engine_run(m, &lp, P2, G2, N2, 1, &t, r ? NULL : &a);
            best_of(&shared, &t);
            ok = ok && !engine_run(m, &lp, P2, G2, N2, 0, &t, r ? NULL : &b);
            best_of(&copies, &t);
        }
        if (!ok) {
            fprintf(stderr, "bench_rollout: %s\n", err_msg());
            return 1;
        }
        char what[96];
        snprintf(what, sizeof what, "recompute vs KV cache (%dx%d, L %d, N %d)", P, G, L, N);
        row(what, (double)(P * G * N), &full, &kv);
        snprintf(what, sizeof what, "G copies vs shared (%dx%d, L %d, N %d)", P2, G2, L2, N2);
        row(what, (double)(P2 * G2 * N2), &copies, &shared);
        printf("  prefix sharing, prefill phase of the first run: %lld vs %lld prompt tokens, %.3f vs %.3f s wall (%.2fx)\n",
               (long long)b.prefill_tokens, (long long)a.prefill_tokens, b.prefill_s, a.prefill_s,
               b.prefill_s / a.prefill_s);
        rollout_result_free(&a);
        rollout_result_free(&b);
        prompts_free(&pr);
        prompts_free(&lp);
        model_free(m);
    }
    return 0;
}
