/* rlvr doctor — what this machine gives rlvr.c: the build (version, git commit), libtorch,
 * devices, the CPU, the BLAS actually loaded and its measured GEMM speed, threads, MPI, NCCL, HDF5
 * and the other libraries (trainer/runenv.h finds them). Prints facts, changes nothing. */
#include "cli.h"

#include "common/err.h"
#include "common/log.h"
#include "tensor/ts.h"
#include "trainer/runenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr doctor [--threads N]\n\n"
    "Prints rlvr's version and git commit, the libtorch in use (version, CUDA or CPU-only build,\n"
    "where it came from and the library file loaded), visible devices, the CPU (model, cores,\n"
    "memory, ATen's kernel path), the BLAS library that serves matrix products and its measured\n"
    "fp32 GEMM GFLOP/s (1024x1024x1024, one thread and N threads), the MPI library, whether\n"
    "libnccl.so.2 can be loaded, and the versions of HDF5, cJSON, PCRE2, utf8proc and zlib.\n"
    "rlvr train and rlvr sft record the same facts in run.dir/environment.jsonl.\n";

/* fp32 GEMM GFLOP/s for an n x n x n product, best of a few runs. */
static double gemm_gflops(int n) {
    int64_t shape[2] = {n, n};
    double best = 0;
    ts_scope_begin();
    ts_tensor *a = ts_randn(shape, 2, NULL, TS_F32), *b = ts_randn(shape, 2, NULL, TS_F32);
    ts_tensor *warm = ts_matmul(a, b);
    if (!warm) best = -1;
    for (int rep = 0; rep < 5 && best >= 0; rep++) {
        double t0 = log_now();
        ts_tensor *c = ts_matmul(a, b);
        double dt = log_now() - t0;
        ts_free(c);
        double g = 2.0 * n * n * (double)n / dt / 1e9;
        if (g > best) best = g;
    }
    ts_scope_end();
    return best;
}

int cmd_doctor(int argc, char **argv) {
    int threads = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(usage, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            int64_t v;
            if (cli_parse_int("--threads", argv[++i], 1, 1024, &v)) return cli_fail(NULL);
            threads = (int)v;
        } else {
            fprintf(stderr, "rlvr: error: unknown option '%s'\n%s", argv[i], usage);
            return 2;
        }
    }
    run_env e;
    run_env_probe(&e);
    printf("rlvr:       %s (commit %s)\n", e.version, e.commit);
    printf("libtorch:   %s\n            %s\n", e.libtorch, e.libtorch_path);
    printf("devices:    cpu%s", e.gpus ? "" : "\n");
    for (int i = 0; i < e.gpus; i++) printf(", cuda:%d%s", i, i + 1 == e.gpus ? "\n" : "");
    printf("cpu:        %s, %d cores, %.1f GiB; ATen kernels: %s\n", e.cpu, e.cores, e.memory_gib, e.aten_cpu);
    printf("blas:       %s (%s)\n", e.blas, e.blas_path);
    if (strcmp(e.blas_config, "unknown")) printf("            %s\n", e.blas_config);
    const char *chosen = getenv("RLVR_BLAS_CORE_CHOSEN");
    if (chosen)
        printf("            OpenBLAS picked kernels without AVX2 on this CPU, which has it: rlvr chose %s\n"
               "            (set OPENBLAS_CORETYPE to choose yourself)\n", chosen);
    const char *ours = ts_cpu_kernels();
    if (!ours) return cli_fail(NULL);
    printf("kernels:    rlvr's own CPU kernels: %s (RLVR_CPU_KERNELS=default|avx2|avx512 forces one)\n", ours);
    int all = ts_get_num_threads();
    if (threads == 0) threads = all;
    ts_set_num_threads(1);
    double g1 = gemm_gflops(1024);
    ts_set_num_threads(threads);
    double gn = gemm_gflops(1024);
    if (g1 < 0 || gn < 0) return cli_fail(NULL);
    printf("gemm:       %.1f GFLOP/s fp32 on 1 thread, %.1f GFLOP/s on %d threads (1024^3)\n", g1, gn, threads);
    printf("threads:    libtorch default %d intra-op threads; rlvr uses run.threads (default 1)\n", all);
    printf("mpi:        %s\nnccl:       %s\nhdf5:       %s\n", e.mpi, e.nccl, e.hdf5);
    printf("also:       cJSON %s, PCRE2 %s, utf8proc %s, zlib %s\n", e.cjson, e.pcre2, e.utf8proc, e.zlib);
    return 0;
}
