/* rlvr doctor — what this machine gives rlvr.c: libtorch build, devices, the BLAS actually
 * loaded and its measured GEMM speed, threads, MPI, NCCL and HDF5. Prints facts, changes nothing. */
#define _GNU_SOURCE
#include "cli.h"

#include "common/err.h"
#include "common/log.h"
#include "tensor/ts.h"

#include <dlfcn.h>
#include <hdf5.h>
#include <limits.h>
#include <link.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr doctor [--threads N]\n\n"
    "Prints the libtorch in use (version, CUDA or CPU-only build, where it came from and the\n"
    "library file loaded), visible devices, the BLAS library that serves\n"
    "matrix products and its measured fp32 GEMM GFLOP/s (1024x1024x1024, one thread and N\n"
    "threads), the MPI library, whether libnccl.so.2 can be loaded, and the HDF5 version.\n";

/* The value of KEY=value in libtorch's build settings into buf ("" if absent). */
static const char *build_setting(const char *key, char *buf, size_t cap) {
    const char *cfg = ts_build_config(), *at = cfg;
    size_t n = strlen(key);
    buf[0] = '\0';
    while ((at = strstr(at, key)) && !((at == cfg || at[-1] == ' ') && at[n] == '=')) at += n;
    if (at) snprintf(buf, cap, "%.*s", (int)strcspn(at + n + 1, ", \n"), at + n + 1);
    return buf;
}

/* The libtorch in use: version, CUDA or CPU-only build, and where the loaded library came from. */
static void print_libtorch(void) {
    char use_cuda[16], cuda[32];
    build_setting("USE_CUDA", use_cuda, sizeof use_cuda);
    build_setting("CUDA_VERSION", cuda, sizeof cuda);
    const char *path = ts_library_path();
    const char *origin = !path[0]                                  ? "not found among the loaded libraries"
                         : strstr(path, "/site-packages/torch/lib/") ? "PyPI's torch wheel"
                         : strstr(path, "/dist-packages/torch/lib/") ? "a system torch Python package"
                         : !strncmp(path, "/usr/lib/", 9)          ? "the system (Debian's libtorch)"
                                                                   : "a libtorch install";
    if (!strcmp(use_cuda, "ON") || !strcmp(use_cuda, "1"))
        printf("libtorch:   %s, CUDA %s build, from %s\n", ts_version(), cuda[0] ? cuda : "(version unknown)", origin);
    else
        printf("libtorch:   %s, CPU-only build, from %s\n", ts_version(), origin);
    if (path[0]) printf("            %s\n", path);
}

/* The file that provides the symbol sgemm_ in this process (the BLAS libtorch calls); when that
 * is libtorch itself, the BLAS it was built with. */
static void print_blas(void) {
    void *sym = dlsym(RTLD_DEFAULT, "sgemm_");
    Dl_info info;
    char real[PATH_MAX], blas[32];
    if (!sym || !dladdr(sym, &info) || !info.dli_fname) {
        printf("blas:       not found as a shared library (libtorch may embed its own BLAS)\n");
        return;
    }
    const char *path = realpath(info.dli_fname, real) ? real : info.dli_fname;
    if (!strcmp(path, ts_library_path()) && build_setting("BLAS_INFO", blas, sizeof blas)[0]) {
        printf("blas:       %s, linked into libtorch (BLAS_INFO=%s)\n", !strcmp(blas, "mkl") ? "MKL" : blas, blas);
        return;
    }
    const char *kind = strstr(path, "openblas") ? "OpenBLAS"
                       : strstr(path, "mkl")    ? "MKL"
                       : strstr(path, "blis")   ? "BLIS"
                       : strstr(path, "atlas")  ? "ATLAS"
                       : strstr(path, "/blas/") ? "reference BLAS (slow: run scripts/setup.sh)"
                                                : "unknown";
    printf("blas:       %s (%s)\n", kind, path);
    const char *(*cfg)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_config");
    if (cfg) printf("            %s\n", cfg());
}

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

static void print_mpi(void) {
    char ver[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(ver, &len);
    char *nl = strchr(ver, '\n');
    if (nl) *nl = '\0';
    char *comma = strchr(ver, ',');
    if (comma && strlen(ver) > 80) *comma = '\0';
    printf("mpi:        %s\n", ver);
}

static void print_nccl(void) {
    void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        printf("nccl:       libnccl.so.2 not loadable (fine on CPU; GPU runs need it)\n");
        return;
    }
    int (*get_version)(int *) = (int (*)(int *))dlsym(h, "ncclGetVersion");
    int v = 0;
    struct link_map *map = NULL;
    const char *where = dlinfo(h, RTLD_DI_LINKMAP, &map) == 0 && map ? map->l_name : "?";
    if (get_version && get_version(&v) == 0)
        printf("nccl:       %d.%d.%d (%s)\n", v / 10000, (v / 100) % 100, v % 100, where);
    else
        printf("nccl:       loaded from %s, version unknown\n", where);
    dlclose(h);
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
    printf("rlvr:       %s\n", RLVR_VERSION);
    print_libtorch();
    int ngpu = ts_cuda_device_count();
    printf("devices:    cpu%s", ngpu ? "" : "\n");
    for (int i = 0; i < ngpu; i++) printf(", cuda:%d%s", i, i + 1 == ngpu ? "\n" : "");
    print_blas();
    int all = ts_get_num_threads();
    if (threads == 0) threads = all;
    ts_set_num_threads(1);
    double g1 = gemm_gflops(1024);
    ts_set_num_threads(threads);
    double gn = gemm_gflops(1024);
    if (g1 < 0 || gn < 0) return cli_fail(NULL);
    printf("gemm:       %.1f GFLOP/s fp32 on 1 thread, %.1f GFLOP/s on %d threads (1024^3)\n", g1, gn, threads);
    printf("threads:    libtorch default %d intra-op threads; rlvr uses run.threads (default 1)\n", all);
    print_mpi();
    print_nccl();
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    printf("hdf5:       %u.%u.%u\n", maj, min, rel);
    return 0;
}
