/* bench_model — tokens/s of model/model.c beside a PyTorch eager reference, in one run.
 *
 * Usage: bench_model [THREADS [SECONDS]]  (defaults 1 thread, about 2 CPU-seconds per measurement)
 * For a small and a larger random Llama-style model (GQA), measures: the training step's
 * forward + backward of summed log-probs (B x T tokens per step), the no-grad scoring forward, and
 * KV-cache decoding (B rows, one token per step, after a prefill). Then runs bench/model_bench.py
 * with Debian's /usr/bin/python3 on the same weights and thread count (plain torch: the forward of
 * tests/model_ref.py, a concatenating KV cache) and prints both with the ratio C / PyTorch.
 * Rates are tokens per CPU-second of the process (both sides), so that other work on a shared
 * machine does not skew the comparison; with one thread that is tokens/s on a free core.
 * Not here: CUDA, bf16 compute, batched sampling (rollout/). */
#include "common/err.h"
#include "model/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct bench_size {
    const char *name;
    int64_t D, L, H, Hkv, F, V;
    int64_t B, T;           /* training / scoring batch */
    int64_t rows, prompt, steps; /* decoding */
} bench_size;

static const bench_size sizes[] = {
    {"small", 64, 2, 4, 2, 192, 512, 8, 128, 8, 32, 64},
    {"larger", 256, 4, 8, 2, 768, 8192, 8, 256, 8, 64, 64},
};

/* CPU seconds of this process: on a shared machine, waiting for a core does not count. */
static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static ts_tensor *random_ids(int64_t rows, int64_t T, int64_t V) {
    return ts_randint(0, V, (int64_t[]){rows, T}, 2, NULL);
}

/* One training step: forward + backward of the summed log-probs. */
static int train_step(model *m, const ts_tensor *ids) {
    ts_scope_begin();
    ts_tensor *lp;
    int rc = model_forward_logprobs(m, ids, NULL, 0, &lp, NULL) || ts_backward(ts_sum(lp)) ? -1 : 0;
    model_zero_grad(m);
    ts_scope_end();
    return rc;
}

static int score_step(model *m, const ts_tensor *ids) {
    ts_scope_begin();
    ts_no_grad_begin();
    ts_tensor *lp;
    int rc = model_forward_logprobs(m, ids, NULL, 0, &lp, NULL);
    ts_no_grad_end();
    ts_scope_end();
    return rc;
}

/* Prefill rows x prompt, then `steps` decode steps; returns the decode seconds or -1. */
static double decode_run(model *m, const bench_size *s) {
    model_cache *c = model_cache_init(m, s->rows, s->prompt + s->steps);
    if (!c) return -1;
    ts_scope_begin();
    ts_tensor *l = model_prefill(m, c, random_ids(s->rows, s->prompt, s->V), NULL);
    double t0 = now();
    for (int64_t i = 0; l && i < s->steps; i++) {
        ts_scope_begin();
        ts_tensor *next = ts_argmax(l, 1, 0);
        ts_tensor *nl = ts_keep(model_decode_step(m, c, next));
        ts_scope_end();
        ts_free(l);
        l = nl;
    }
    double dt = now() - t0;
    ts_scope_end();
    model_cache_free(c);
    return l ? dt : -1;
}

/* Calls of fn per second over about `seconds` (after one warm-up call). */
static double rate(int (*fn)(model *, const ts_tensor *), model *m, const ts_tensor *ids, double seconds) {
    if (fn(m, ids)) return -1;
    int n = 0;
    double t0 = now(), dt;
    do {
        if (fn(m, ids)) return -1;
        n++;
    } while ((dt = now() - t0) < seconds);
    return n / dt;
}

int main(int argc, char **argv) {
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    double seconds = argc > 2 ? atof(argv[2]) : 2.0;
    ts_set_num_threads(threads);
    ts_manual_seed(0);
    printf("bench_model: libtorch %s, %d thread(s); tokens per CPU-second, higher is better\n\n", ts_version(), threads);
    printf("%-7s %-30s %12s %12s %8s\n", "model", "phase", "rlvr.c", "PyTorch", "ratio");
    for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
        const bench_size *s = &sizes[k];
        model_config c = {.arch = MODEL_LLAMA, .vocab_size = s->V, .hidden_size = s->D, .intermediate_size = s->F,
                          .num_layers = s->L, .num_heads = s->H, .num_kv_heads = s->Hkv, .head_dim = s->D / s->H,
                          .max_position_embeddings = 4096, .rope_theta = 500000.0, .rms_norm_eps = 1e-5,
                          .bos_token_id = -1};
        model *m = model_init_random(&c, 1, 0.02);
        char dir[] = "/tmp/rlvr_bench_model_XXXXXX";
        if (!m || !mkdtemp(dir) || model_save(m, dir, TS_F32, (size_t)1 << 32)) {
            fprintf(stderr, "bench_model: %s\n", err_msg());
            return 1;
        }
        model_param_table pt = model_params(m);
        for (int i = 0; i < pt.n; i++) ts_set_requires_grad(pt.t[i], 1);
        ts_tensor *ids = random_ids(s->B, s->T, s->V);
        double tokens = (double)(s->B * s->T);
        double c_train = rate(train_step, m, ids, seconds) * tokens;
        double c_score = rate(score_step, m, ids, seconds) * tokens;
        double c_decode = 0;
        int reps = 0;
        for (double t0 = now(); now() - t0 < seconds; reps++) c_decode += decode_run(m, s);
        c_decode = (double)(s->rows * s->steps) * reps / c_decode;
        ts_free(ids);
        model_free(m);

        char cmd[2048];
        double py[3] = {0, 0, 0};
        snprintf(cmd, sizeof cmd,
                 "/usr/bin/python3 bench/model_bench.py %s %d %g %lld %lld %lld %lld %lld 2>/dev/null", dir,
                 threads, seconds, (long long)s->B, (long long)s->T, (long long)s->rows, (long long)s->prompt,
                 (long long)s->steps);
        FILE *p = popen(cmd, "r");
        if (!p || fscanf(p, "%lf %lf %lf", &py[0], &py[1], &py[2]) != 3)
            fprintf(stderr, "bench_model: the PyTorch reference did not run (run from the repository root with python3-torch)\n");
        if (p) pclose(p);
        snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
        if (system(cmd)) fprintf(stderr, "bench_model: could not remove %s\n", dir);

        char label[96];
        const char *phase[3] = {"train fwd+bwd", "score fwd (no grad)", "decode (KV cache)"};
        double cv[3] = {c_train, c_score, c_decode};
        for (int i = 0; i < 3; i++) {
            if (i == 0) snprintf(label, sizeof label, "%s B=%lld T=%lld", phase[i], (long long)s->B, (long long)s->T);
            else if (i == 1) snprintf(label, sizeof label, "%s", phase[i]);
            else snprintf(label, sizeof label, "%s B=%lld", phase[i], (long long)s->rows);
            printf("%-7s %-30s %12.0f %12.0f %8.2f\n", i ? "" : s->name, label, cv[i], py[i], py[i] > 0 ? cv[i] / py[i] : 0);
        }
        printf("%-7s D=%lld L=%lld H=%lld Hkv=%lld F=%lld V=%lld\n\n", "", (long long)s->D, (long long)s->L,
               (long long)s->H, (long long)s->Hkv, (long long)s->F, (long long)s->V);
    }
    return 0;
}
