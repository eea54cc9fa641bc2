/* bench_update — one policy update (forward + backward + AdamW) at the Qwen2.5-0.5B shape (D 896,
 * L 24, H 14, Hkv 2, F 4864, V 151,936, tied, q/k/v biases; random weights), beside its PyTorch
 * eager twin (bench/update_ref.py) in one run, with this machine's GEMM peak measured first.
 *
 * Usage: bench_update [THREADS [ROWS [TOKENS [LAYERS [REPEATS]]]]]  (defaults 1 8 64 24 2)
 * Run from the repository root (the twin is found there). The update is the trainer's: log-probs
 * of ROWS x TOKENS tokens and their entropies (no gradient, for the metric), the loss
 * -mean(logprob x advantage), backward, AdamW. It runs REPEATS times without and then with
 * activation checkpointing, then without it and with AdamW op by op (optim_opts.op_by_op, the
 * sequence the fused step replaces), each in a process of its own; the fastest update counts.
 * Printed: seconds of forward + backward and of the AdamW step, model GFLOP/s (the forward's matmul and
 * attention FLOPs x 3, recomputation not counted) against the GEMM peak (sgemm of the MLP's
 * shape, 2048 rows), and the peak resident memory of each phase (VmHWM, reset through
 * /proc/self/clear_refs) beside weights + gradients + AdamW state. OpenBLAS's kernels are chosen
 * as rlvr chooses them (ts_blas_pick_kernels), for both sides. Times are CPU-seconds of the
 * process, so that other work on a shared machine does not skew the comparison; THREADS threads
 * on a free machine give the same ratio in wall time.
 * Not here: CUDA, bf16, the rollout (bench_rollout.sh), a whole RL step (bench_rl_step.sh). */
#include "common/err.h"
#include "model/model.h"
#include "optim/optim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#define GEMM_ROWS 2048 /* rows of the sgemm whose rate is the peak: the MLP's shape, large enough to saturate */

static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Start a new peak-RSS window (Linux: writing 5 to clear_refs resets VmHWM). */
static void peak_reset(void) {
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f) {
        fputs("5", f);
        fclose(f);
    }
}

/* The "VmHWM:" (peak) or "VmRSS:" (now) line of /proc/self/status, in GiB. */
static double status_gib(const char *key) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, key, strlen(key))) kib = atof(line + strlen(key));
    if (f) fclose(f);
    return kib / (1024.0 * 1024.0);
}

/* Best GFLOP per CPU-second of an (M, K) x (K, N) f32 matmul over a few runs. */
static double gemm_peak(int64_t M, int64_t K, int64_t N) {
    double best = 0;
    ts_scope_begin();
    ts_tensor *a = ts_randn((int64_t[]){M, K}, 2, NULL, TS_F32), *b = ts_randn((int64_t[]){K, N}, 2, NULL, TS_F32);
    for (int r = 0; r < 5; r++) {
        double t0 = cpu_now();
        ts_scope_begin();
        ts_tensor *c = ts_matmul(a, b);
        ts_scope_end();
        double dt = cpu_now() - t0, g = 2.0 * (double)(M * K * N) / dt * 1e-9;
        if (c && g > best) best = g;
    }
    ts_scope_end();
    return best;
}

/* Matmul and attention FLOPs of one forward over B x T tokens (all keys of a row, as computed). */
static double forward_flops(const model_config *c, int64_t B, int64_t T) {
    double D = (double)c->hidden_size, E = (double)c->head_dim, H = (double)c->num_heads;
    double q = H * E, kv = (double)c->num_kv_heads * E, F = (double)c->intermediate_size;
    double per_token = 2.0 * (D * q + 2 * D * kv + q * D + 3 * D * F) * (double)c->num_layers + 2.0 * D * (double)c->vocab_size;
    double attention = 4.0 * (double)T * (double)T * H * E * (double)c->num_layers * (double)B;
    return per_token * (double)(B * T) + attention;
}

typedef struct timing {
    double fwd_bwd, optim, peak_gib, rest_gib; /* best seconds; peak and at-rest resident GiB */
    double peak_fb_gib, peak_opt_gib;          /* peak resident GiB during fwd+bwd, during AdamW */
    double params;
} timing;

/* One update; its phase times and peaks into t. */
static int update(model *m, optim *o, const ts_tensor *ids, const ts_tensor *adv, timing *t) {
    ts_scope_begin();
    peak_reset();
    double t0 = cpu_now();
    ts_tensor *lp, *ent;
    int rc = model_forward_logprobs(m, ids, NULL, 0, &lp, &ent) || ts_backward(ts_neg(ts_mean(ts_mul(lp, adv))));
    double t1 = cpu_now();
    t->peak_fb_gib = status_gib("VmHWM:");
    peak_reset();
    rc = rc || optim_step(o, 1e-6, NULL);
    t->peak_opt_gib = status_gib("VmHWM:");
    model_zero_grad(m);
    t->fwd_bwd = t1 - t0;
    t->optim = cpu_now() - t1;
    ts_scope_end();
    return rc ? -1 : 0;
}

/* The model, optimiser and batch built afresh, then `repeats` updates, the fastest kept. In a
 * process of its own (the caller forks), so that each setting's peak memory is its own. */
static int measure(const model_config *c, int64_t B, int64_t T, int checkpointing, int op_by_op, int repeats,
                   timing *best) {
    model *m = model_init_random(c, 1, 0.02);
    if (!m) return -1;
    model_set_activation_checkpointing(m, checkpointing);
    model_param_table pt = model_params(m);
    for (int i = 0; i < pt.n; i++) ts_set_requires_grad(pt.t[i], 1);
    optim_opts oo = {.lr = 1e-6, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01, .grad_clip = 1.0,
                     .schedule = OPTIM_SCHED_CONSTANT, .total_steps = 1, .op_by_op = op_by_op};
    optim *o = optim_init(pt.t, pt.names, pt.n, &oo);
    ts_scope_begin();
    ts_tensor *ids = ts_randint(0, c->vocab_size, (int64_t[]){B, T}, 2, NULL);
    ts_tensor *adv = ts_randn((int64_t[]){B, 1}, 2, NULL, TS_F32);
    int rc = o && ids && adv ? 0 : -1;
    *best = (timing){.fwd_bwd = 1e30, .rest_gib = status_gib("VmRSS:"), .params = (double)model_num_elements(m)};
    for (int r = 0; !rc && r < repeats; r++) {
        timing t;
        rc = update(m, o, ids, adv, &t);
        if (!rc && t.peak_fb_gib > best->peak_fb_gib) best->peak_fb_gib = t.peak_fb_gib;
        if (!rc && t.peak_opt_gib > best->peak_opt_gib) best->peak_opt_gib = t.peak_opt_gib;
        if (!rc && t.fwd_bwd + t.optim < best->fwd_bwd + best->optim) {
            best->fwd_bwd = t.fwd_bwd;
            best->optim = t.optim;
        }
    }
    best->peak_gib = best->peak_fb_gib > best->peak_opt_gib ? best->peak_fb_gib : best->peak_opt_gib;
    ts_scope_end();
    optim_free(o);
    model_free(m);
    return rc;
}

int main(int argc, char **argv) {
    ts_blas_pick_kernels(argv); /* as rlvr does; the twin inherits the choice (ts.h) */
    int threads = argc > 1 ? atoi(argv[1]) : 1;
    int64_t B = argc > 2 ? atoll(argv[2]) : 8, T = argc > 3 ? atoll(argv[3]) : 64, L = argc > 4 ? atoll(argv[4]) : 24;
    int repeats = argc > 5 ? atoi(argv[5]) : 2;
    if (threads < 1 || B < 1 || T < 2 || L < 1 || repeats < 1) {
        fprintf(stderr, "usage: bench_update [THREADS [ROWS [TOKENS>=2 [LAYERS [REPEATS]]]]], all positive\n");
        return 2;
    }
    ts_set_num_threads(threads);
    ts_manual_seed(0);
    model_config c = {.arch = MODEL_QWEN2, .vocab_size = 151936, .hidden_size = 896, .intermediate_size = 4864,
                      .num_layers = L, .num_heads = 14, .num_kv_heads = 2, .head_dim = 64,
                      .max_position_embeddings = 32768, .rope_theta = 1e6, .rms_norm_eps = 1e-6,
                      .tie_word_embeddings = 1, .qkv_bias = 1, .bos_token_id = -1};
    double peak = gemm_peak(GEMM_ROWS, c.hidden_size, c.intermediate_size);
    double flops = 3 * forward_flops(&c, B, T - 1);
    timing best[3]; /* plain, checkpointed, AdamW op by op */
    for (int ck = 0; ck < 3; ck++) {
        int fd[2];
        if (pipe(fd)) return 1;
        pid_t pid = fork();
        if (pid == 0) {
            close(fd[0]);
            int rc = measure(&c, B, T, ck == 1, ck == 2, repeats, &best[ck]);
            if (rc) fprintf(stderr, "bench_update: %s\n", err_msg());
            _exit(rc || write(fd[1], &best[ck], sizeof best[ck]) != (ssize_t)sizeof best[ck] ? 1 : 0);
        }
        close(fd[1]);
        ssize_t got = pid > 0 ? read(fd[0], &best[ck], sizeof best[ck]) : -1;
        int status = 1;
        if (pid > 0) waitpid(pid, &status, 0);
        close(fd[0]);
        if (got != (ssize_t)sizeof best[ck] || status) {
            fprintf(stderr, "bench_update: the %s update failed\n", (const char *[]){"plain", "checkpointed", "op-by-op"}[ck]);
            return 1;
        }
    }
    double params = best[0].params, state_gib = 4 * params * 4 / (1 << 30);
    char cmd[512];
    double py[4] = {0, 0, 0, 0};
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 bench/update_ref.py %d %lld %lld %lld %d", threads, (long long)B,
             (long long)T, (long long)L, repeats);
    FILE *p = popen(cmd, "r");
    if (!p || fscanf(p, "%lf %lf %lf %lf", &py[0], &py[1], &py[2], &py[3]) != 4)
        fprintf(stderr, "bench_update: the PyTorch twin did not run (run from the repository root with python3-torch)\n");
    if (p) pclose(p);

    const char *kernels = getenv("OPENBLAS_CORETYPE");
    printf("OPENBLAS_CORETYPE=%s (both sides)\n", kernels ? kernels : "(unset: OpenBLAS's own pick)");
    printf("bench_update: libtorch %s, %d thread(s), %.0fM parameters (L %lld), %lld x %lld tokens; CPU-seconds\n",
           ts_version(), threads, params / 1e6, (long long)L, (long long)B, (long long)T);
    printf("GEMM peak (%d x %d x %d sgemm): %.1f GFLOP/s; model work per update %.2f TFLOP\n", GEMM_ROWS, 896, 4864,
           peak, flops / 1e12);
    printf("weights + gradients + AdamW state: %.2f GiB\n\n", state_gib);
    printf("%-22s %10s %8s %8s %10s %9s %9s   %s\n", "update", "fwd+bwd s", "AdamW s", "GFLOP/s", "% of peak",
           "rest GiB", "peak GiB", "(peak in fwd+bwd, in AdamW)");
    const char *label[4] = {"rlvr.c", "rlvr.c checkpointed", "rlvr.c AdamW op by op", "PyTorch eager"};
    timing rows[4] = {best[0], best[1], best[2], {.fwd_bwd = py[0], .optim = py[1], .peak_gib = py[2], .rest_gib = py[3]}};
    for (int i = 0; i < 4; i++) {
        double total = rows[i].fwd_bwd + rows[i].optim, g = total > 0 ? flops / total * 1e-9 : 0;
        printf("%-22s %10.2f %8.2f %8.1f %9.0f%% %9.2f %9.2f", label[i], rows[i].fwd_bwd, rows[i].optim, g,
               100 * g / peak, rows[i].rest_gib, rows[i].peak_gib);
        if (i < 3) printf("   (%.2f, %.2f)", rows[i].peak_fb_gib, rows[i].peak_opt_gib);
        printf("\n");
    }
    printf("\nAdamW step: fused %.2f s, op by op %.2f s (fused %.2fx faster)", best[0].optim, best[2].optim,
           best[2].optim / best[0].optim);
    if (py[1] > 0) printf(", torch.optim.AdamW %.2f s (fused %.2fx faster)", py[1], py[1] / best[0].optim);
    printf("\n");
    if (py[0] > 0)
        printf("speed-up over PyTorch eager (update time): %.2fx, checkpointed %.2fx; peak memory %.2fx, %.2fx of it\n",
               (py[0] + py[1]) / (best[0].fwd_bwd + best[0].optim), (py[0] + py[1]) / (best[1].fwd_bwd + best[1].optim),
               best[0].peak_gib / py[2], best[1].peak_gib / py[2]);
    return 0;
}
