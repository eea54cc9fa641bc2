/* rlvr bench — throughput measurements users run on their own machine and model.
 * `rlvr bench rollout`: P x G sampling with the KV cache, time split between prefill, decode
 * and sampling, the achieved fraction of the GEMM peak measured in the same run, and the decode
 * step's distance to this machine's roofline (bytes read against the measured memory bandwidth,
 * FLOPs against the measured GEMM peak). */
#include "cli.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rng.h"
#include "model/model.h"
#include "rollout/rollout.h"
#include "tensor/ts.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const char usage[] =
    "usage: rlvr bench rollout --model DIR [--prompts P] [--group G] [--prompt-len L]\n"
    "                          [--max-new N] [--threads T] [--temperature X] [--no-share]\n"
    "                          [--repeats R] [--device DEV]\n\n"
    "Samples G completions for each of P random prompts of L tokens, N new tokens each (EOS\n"
    "ignored, so every row runs to N), and prints tokens/s (per wall second and per CPU second of\n"
    "the process), the time split between prefill, decode and sampling, the achieved GFLOP/s\n"
    "against the fp32 GEMM peak measured now, and the decode step against its roofline: the bytes\n"
    "it reads (weights and KV cache) over the memory bandwidth measured now, and its FLOPs over the\n"
    "GEMM peak. With R repeats the fastest run is reported. DEV (cpu, cuda, cuda:N) holds the\n"
    "model, and the peak and bandwidth are measured there.\n"
    "Defaults: P 8, G 8, L 32, N 64, T 1, temperature 1, R 1, DEV cpu.\n";

static double cpu_seconds(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
           1e-6 * (double)ru.ru_stime.tv_usec;
}

/* Seconds of op(a, b), its result's first element read back: a GPU runs ops asynchronously, and
 * the read waits for them. */
static double timed(ts_tensor *(*op)(const ts_tensor *, const ts_tensor *), const ts_tensor *a, const ts_tensor *b) {
    double t0 = log_now(), first;
    ts_scope_begin();
    int ok = ts_item_f64(ts_select(ts_flatten(op(a, b), 0, -1), 0, 0), &first) == 0;
    ts_scope_end();
    return ok ? log_now() - t0 : INFINITY;
}

static ts_tensor *sum_of(const ts_tensor *a, const ts_tensor *unused) {
    (void)unused;
    return ts_sum(a);
}

/* Best-of-3 fp32 GEMM GFLOP/s at n^3 on dev (the current thread count on the CPU; a GPU gets a
 * size that keeps it busy). */
static double gemm_peak(ts_device dev) {
    const int64_t n = dev.type == TS_CPU ? 512 : 8192, shape[2] = {n, n};
    double best = 0;
    ts_scope_begin();
    ts_tensor *a = ts_to_device(ts_randn(shape, 2, NULL, TS_F32), dev), *b = ts_to_device(ts_randn(shape, 2, NULL, TS_F32), dev);
    timed(ts_matmul, a, b);
    for (int i = 0; i < 3; i++) {
        double g = 2.0 * (double)(n * n * n) / timed(ts_matmul, a, b) / 1e9;
        if (g > best) best = g;
    }
    ts_scope_end();
    return best;
}

/* Best-of-3 read bandwidth in GB/s on dev: the sum of an f32 tensor larger than any cache (256 MiB,
 * on a GPU 2 GiB). */
static double memory_bandwidth(ts_device dev) {
    const int64_t n = dev.type == TS_CPU ? 64 << 20 : (int64_t)512 << 20;
    double best = 0;
    ts_scope_begin();
    ts_tensor *a = ts_ones(&n, 1, TS_F32, dev);
    timed(sum_of, a, NULL);
    for (int i = 0; i < 3; i++) {
        double g = 4.0 * (double)n / timed(sum_of, a, NULL) / 1e9;
        if (g > best) best = g;
    }
    ts_scope_end();
    return best;
}

/* The decode step's roofline: per step of R rows at an average context of ctx tokens, the bytes
 * read (every weight the step uses once, the embedding's R rows aside when it is not the LM head,
 * and the KV cache) and the FLOPs (2 per weight per row, and attention's); the step cannot take
 * less than the larger of bytes / bandwidth and FLOPs / peak. */
static void print_roofline(const model *m, const rollout_result *res, double rows, double ctx, double bw, double peak) {
    const model_config *c = model_get_config(m);
    double steps = (double)res->decode_tokens / rows, step_s = res->decode_s / steps;
    double weights = (double)model_num_elements(m) - (c->tie_word_embeddings ? 0.0 : (double)(c->vocab_size * c->hidden_size));
    double kv = 2.0 * (double)(c->num_layers * c->num_kv_heads * c->head_dim) * ctx * rows;
    double bytes = (weights + kv) * (double)ts_dtype_size(model_dtype(m));
    double flops = 2.0 * weights * rows + 4.0 * (double)(c->num_layers * c->num_heads * c->head_dim) * ctx * rows;
    double t_mem = bytes / (bw * 1e9), t_flop = flops / (peak * 1e9), bound = t_mem > t_flop ? t_mem : t_flop;
    printf("roofline: decode step of %.0f rows %.1f ms; reads %.1f MB (%.1f ms at %.1f GB/s), %.2f GFLOP "
           "(%.1f ms at %.1f GFLOP/s): %.0f%% of the roofline's %.0f tok/s\n",
           rows, 1e3 * step_s, bytes / 1e6, 1e3 * t_mem, bw, flops / 1e9, 1e3 * t_flop, peak,
           100 * bound / step_s, rows / bound);
}

/* The command line of `bench rollout`. */
typedef struct bench_args {
    const char *dir;
    ts_device device;
    int64_t P, G, L, N, threads, repeats; /* prompts, samples each, prompt and new tokens */
    double temperature;
    int share;
} bench_args;

/* Parse the options into *b: 0, -1 after printing --help, or the exit status of a bad option. */
static int parse_args(int argc, char **argv, bench_args *b) {
    *b = (bench_args){.device = TS_CPU_DEVICE, .P = 8, .G = 8, .L = 32, .N = 64, .threads = 1, .repeats = 1, .temperature = 1.0, .share = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage, stdout);
            return -1;
        } else if (!strcmp(a, "--no-share")) {
            b->share = 0;
            continue;
        }
        if (!v) return cli_fail("an option needs a value (see `rlvr bench --help`)");
        if (!strcmp(a, "--model")) b->dir = v;
        else if (!strcmp(a, "--device")) rc = ts_device_parse(v, &b->device) || model_device_check(b->device) ? err_prefix("--device") : 0;
        else if (!strcmp(a, "--prompts")) rc = cli_parse_int(a, v, 1, 100000, &b->P);
        else if (!strcmp(a, "--group")) rc = cli_parse_int(a, v, 1, 10000, &b->G);
        else if (!strcmp(a, "--prompt-len")) rc = cli_parse_int(a, v, 1, 1 << 20, &b->L);
        else if (!strcmp(a, "--max-new")) rc = cli_parse_int(a, v, 1, 1 << 20, &b->N);
        else if (!strcmp(a, "--threads")) rc = cli_parse_int(a, v, 1, 1024, &b->threads);
        else if (!strcmp(a, "--repeats")) rc = cli_parse_int(a, v, 1, 1000, &b->repeats);
        else if (!strcmp(a, "--temperature")) {
            char *end;
            b->temperature = strtod(v, &end);
            if (*end || b->temperature < 0) rc = err_set("--temperature: expected a number >= 0, got '%s'", v);
        } else {
            fprintf(stderr, "rlvr: error: unknown option '%s'\n%s", a, usage);
            return 2;
        }
        if (rc) return cli_fail(NULL);
        i++;
    }
    if (!b->dir) return cli_fail("--model DIR is required (see `rlvr bench --help`)");
    return 0;
}

/* The fastest of b->repeats runs of the same batch into *res, its wall and CPU seconds. */
static int fastest_run(model *m, const bench_args *b, const rollout_options *o, const int32_t **prompts,
                       const int *lens, const uint64_t *keys, rollout_result *res, double *wall, double *cpu) {
    *res = (rollout_result){0};
    for (long r = 0; r < b->repeats; r++) {
        rollout_result run;
        double t0 = log_now(), c0 = cpu_seconds();
        if (rollout_generate(m, o, (int)b->P, prompts, lens, keys, (int)b->G, &run)) {
            rollout_result_free(res);
            return -1;
        }
        double w = log_now() - t0;
        if (r == 0 || w < *wall) {
            rollout_result_free(res);
            *res = run;
            *wall = w;
            *cpu = cpu_seconds() - c0;
        } else {
            rollout_result_free(&run);
        }
    }
    return 0;
}

/* The figures of a run: the work, each phase's tokens/s, CPU time and the share of the GEMM peak. */
static void print_report(const model *m, const bench_args *b, const rollout_result *res, double total, double cpu,
                         double peak, double bw) {
    const model_config *c = model_get_config(m);
    int64_t generated = 0, L = b->L, N = b->N;
    for (int i = 0; i < res->n; i++) generated += res->samples[i].len;
    /* forward FLOPs per token: 2 x every weight used (embedding lookup excluded, LM head
     * included) + attention scores and mixing over the average context */
    double weights = (double)model_num_elements(m) -
                     (c->tie_word_embeddings ? 0.0 : (double)(c->vocab_size * c->hidden_size));
    double attn = 4.0 * (double)(c->num_layers * c->num_heads * c->head_dim);
    double flops = 2.0 * weights * (double)(res->prefill_tokens + res->decode_tokens) +
                   attn * (double)res->prefill_tokens * (double)L / 2 +
                   attn * (double)res->decode_tokens * ((double)L + (double)N / 2);
    printf("model:    %s, D %lld, L %lld, H %lld/%lld, V %lld, %.2fM parameters; %ld thread%s\n",
           model_arch_name(c->arch), (long long)c->hidden_size, (long long)c->num_layers,
           (long long)c->num_heads, (long long)c->num_kv_heads, (long long)c->vocab_size,
           (double)model_num_elements(m) / 1e6, b->threads, b->threads > 1 ? "s" : "");
    printf("work:     %ld prompts x %ld samples, prompt %ld tokens, %ld new tokens, prefix %s, %d batch%s%s\n",
           b->P, b->G, L, N, b->share ? "shared" : "prefilled per sample", res->batches,
           res->batches > 1 ? "es" : "", b->repeats > 1 ? "; the fastest of the repeats" : "");
    printf("prefill:  %lld tokens in %.3f s (%.0f tok/s)\n", (long long)res->prefill_tokens, res->prefill_s,
           (double)res->prefill_tokens / res->prefill_s);
    printf("decode:   %lld row-steps in %.3f s (%.0f tok/s)\n", (long long)res->decode_tokens, res->decode_s,
           (double)res->decode_tokens / res->decode_s);
    printf("sampling: %.3f s, the sampler's ops and the ids to the host (%.1f%% of the total)\n", res->sample_s,
           100 * res->sample_s / total);
    printf("total:    %lld tokens generated in %.3f s: %.0f tok/s\n", (long long)generated, total,
           (double)generated / total);
    printf("cpu:      %.3f s of process CPU time: %.0f tok/s per CPU second\n", cpu, (double)generated / cpu);
    printf("compute:  %.2f GFLOP/s achieved, %.1f%% of the %.1f GFLOP/s fp32 GEMM peak measured now\n",
           flops / total / 1e9, 100 * flops / total / 1e9 / peak, peak);
    print_roofline(m, res, (double)(b->P * b->G), (double)L + (double)N / 2, bw, peak);
}

static int bench_rollout(int argc, char **argv) {
    bench_args b;
    int parsed = parse_args(argc, argv, &b);
    if (parsed) return parsed < 0 ? 0 : parsed;
    ts_set_num_threads((int)b.threads);
    model *m = model_load(b.dir, b.device, TS_F32);
    if (!m) return cli_fail(NULL);
    int64_t P = b.P, L = b.L;
    int32_t *ids = mem_alloc(sizeof(int32_t) * (size_t)(P * L));
    const int32_t **prompts = mem_alloc(sizeof(*prompts) * (size_t)P);
    int *lens = mem_alloc(sizeof(int) * (size_t)P);
    uint64_t *keys = mem_alloc(sizeof(uint64_t) * (size_t)P);
    rng_stream r;
    rng_stream_init(&r, 1, 0);
    for (long p = 0; p < P; p++) {
        for (long t = 0; t < L; t++) ids[p * L + t] = (int32_t)rng_below(&r, (uint64_t)model_get_config(m)->vocab_size);
        prompts[p] = ids + p * L;
        lens[p] = (int)L;
        keys[p] = (uint64_t)p;
    }
    rollout_options o;
    memset(&o, 0, sizeof o);
    o.sampling = (sampler_params){.temperature = b.temperature, .top_k = 0, .top_p = 1, .min_p = 0};
    o.max_new_tokens = b.N;
    o.seed = 1;
    o.share_prefix = b.share;
    double peak = gemm_peak(b.device), bw = memory_bandwidth(b.device), total = 0, cpu = 0;
    rollout_result res;
    int status = fastest_run(m, &b, &o, prompts, lens, keys, &res, &total, &cpu) ? cli_fail(NULL) : 0;
    if (!status) print_report(m, &b, &res, total, cpu, peak, bw);
    rollout_result_free(&res);
    free(ids);
    free(prompts);
    free(lens);
    free(keys);
    model_free(m);
    return status;
}

int cmd_bench(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "rollout")) return bench_rollout(argc - 1, argv + 1);
    fprintf(stderr, "rlvr: error: unknown benchmark '%s'\n%s", argv[1], usage);
    return 2;
}
