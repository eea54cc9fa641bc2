/* runenv — the build, libraries and machine of a run; see runenv.h. */
#define _GNU_SOURCE
#define PCRE2_CODE_UNIT_WIDTH 8
#include "runenv.h"

#include "common/err.h"
#include "common/io.h"
#include "common/mem.h"
#include "rlvr_commit.h"
#include "tensor/ts.h"

#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <link.h>
#include <mpi.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utf8proc.h>
#include <zlib.h>

/* The value of KEY=value in libtorch's build settings into buf ("" if absent). */
static const char *build_setting(const char *key, char *buf, size_t cap) {
    const char *cfg = ts_build_config(), *at = cfg;
    size_t n = strlen(key);
    buf[0] = '\0';
    while ((at = strstr(at, key)) && !((at == cfg || at[-1] == ' ') && at[n] == '=')) at += n;
    if (at) snprintf(buf, cap, "%.*s", (int)strcspn(at + n + 1, ", \n"), at + n + 1);
    return buf;
}

/* Version, CUDA or CPU-only build, and where the loaded library came from. */
static void probe_libtorch(run_env *e) {
    char use_cuda[16], cuda[32];
    build_setting("USE_CUDA", use_cuda, sizeof use_cuda);
    build_setting("CUDA_VERSION", cuda, sizeof cuda);
    const char *path = ts_library_path();
    const char *origin = !path[0]                                  ? "an unknown file"
                         : strstr(path, "/site-packages/torch/lib/") ? "PyPI's torch wheel"
                         : strstr(path, "/dist-packages/torch/lib/") ? "a system torch Python package"
                         : !strncmp(path, "/usr/lib/", 9)          ? "the system (Debian's libtorch)"
                                                                   : "a libtorch install";
    if (!strcmp(use_cuda, "ON") || !strcmp(use_cuda, "1"))
        snprintf(e->libtorch, sizeof e->libtorch, "%s, CUDA %s build, from %s", ts_version(),
                 cuda[0] ? cuda : "(version unknown)", origin);
    else snprintf(e->libtorch, sizeof e->libtorch, "%s, CPU-only build, from %s", ts_version(), origin);
    snprintf(e->libtorch_path, sizeof e->libtorch_path, "%s", path[0] ? path : "unknown");
    /* at::show_config() names the capability its kernels dispatch to: "CPU capability usage: AVX2" */
    const char *cap = strstr(ts_build_config(), "CPU capability usage: ");
    if (cap) snprintf(e->aten_cpu, sizeof e->aten_cpu, "%.*s", (int)strcspn(cap + 22, "\n"), cap + 22);
}

/* The file that provides sgemm_ in this process (the BLAS libtorch calls); when that is libtorch
 * itself, the BLAS it was built with. */
static void probe_blas(run_env *e) {
    void *sym = dlsym(RTLD_DEFAULT, "sgemm_");
    Dl_info info;
    char real[PATH_MAX], blas[32];
    if (!sym || !dladdr(sym, &info) || !info.dli_fname) {
        snprintf(e->blas, sizeof e->blas, "not found as a shared library (libtorch may embed its own BLAS)");
        return;
    }
    const char *path = realpath(info.dli_fname, real) ? real : info.dli_fname;
    if (!strcmp(path, ts_library_path()) && build_setting("BLAS_INFO", blas, sizeof blas)[0]) {
        snprintf(e->blas, sizeof e->blas, "%s, linked into libtorch (BLAS_INFO=%s)",
                 !strcmp(blas, "mkl") ? "MKL" : blas, blas);
        return;
    }
    const char *kind = strstr(path, "openblas") ? "OpenBLAS"
                       : strstr(path, "mkl")    ? "MKL"
                       : strstr(path, "blis")   ? "BLIS"
                       : strstr(path, "atlas")  ? "ATLAS"
                       : strstr(path, "/blas/") ? "reference BLAS (slow: run scripts/setup.sh)"
                                                : "unknown";
    snprintf(e->blas, sizeof e->blas, "%s", kind);
    snprintf(e->blas_path, sizeof e->blas_path, "%.511s", path);
    const char *(*cfg)(void) = (const char *(*)(void))dlsym(RTLD_DEFAULT, "openblas_get_config");
    if (cfg) snprintf(e->blas_config, sizeof e->blas_config, "%s", cfg());
}

static void probe_mpi(run_env *e) {
    char ver[MPI_MAX_LIBRARY_VERSION_STRING];
    int len = 0;
    MPI_Get_library_version(ver, &len);
    ver[strcspn(ver, "\n")] = '\0';
    char *comma = strchr(ver, ',');
    if (comma && strlen(ver) > 80) *comma = '\0';
    snprintf(e->mpi, sizeof e->mpi, "%s", ver);
}

/* NCCL is loaded at run time (dist/): its version when libnccl.so.2 loads, else why not. */
static void probe_nccl(run_env *e) {
    void *h = dlopen("libnccl.so.2", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(e->nccl, sizeof e->nccl, "libnccl.so.2 not loadable (fine on CPU; GPU runs need it)");
        return;
    }
    int (*get_version)(int *) = (int (*)(int *))dlsym(h, "ncclGetVersion");
    int v = 0;
    struct link_map *map = NULL;
    const char *where = dlinfo(h, RTLD_DI_LINKMAP, &map) == 0 && map ? map->l_name : "?";
    if (get_version && get_version(&v) == 0)
        snprintf(e->nccl, sizeof e->nccl, "%d.%d.%d (%.200s)", v / 10000, (v / 100) % 100, v % 100, where);
    else snprintf(e->nccl, sizeof e->nccl, "loaded from %.200s, version unknown", where);
    dlclose(h);
}

static void probe_machine(run_env *e) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10)) continue;
        const char *v = strchr(line, ':');
        if (v) snprintf(e->cpu, sizeof e->cpu, "%.*s", (int)strcspn(v + 2, "\n"), v + 2);
        break;
    }
    if (f) fclose(f);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    e->cores = cores > 0 ? (int)cores : 0;
    e->memory_gib = run_env_memory_gib();
    e->gpus = ts_cuda_device_count();
    if (gethostname(e->host, sizeof e->host) != 0) snprintf(e->host, sizeof e->host, "unknown");
    e->host[sizeof e->host - 1] = '\0';
}

double run_env_memory_gib(void) {
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (double)pages * (double)page / (1024.0 * 1024 * 1024) : 0;
}

void run_env_probe(run_env *e) {
    memset(e, 0, sizeof *e);
    snprintf(e->version, sizeof e->version, "%s", RLVR_VERSION);
    snprintf(e->commit, sizeof e->commit, "%s", RLVR_GIT_COMMIT);
    probe_libtorch(e);
    probe_blas(e);
    probe_mpi(e);
    probe_nccl(e);
    unsigned maj, min, rel;
    H5get_libversion(&maj, &min, &rel);
    snprintf(e->hdf5, sizeof e->hdf5, "%u.%u.%u", maj, min, rel);
    snprintf(e->cjson, sizeof e->cjson, "%s", cJSON_Version());
    if (pcre2_config(PCRE2_CONFIG_VERSION, NULL) <= (int)sizeof e->pcre2) pcre2_config(PCRE2_CONFIG_VERSION, e->pcre2);
    snprintf(e->utf8proc, sizeof e->utf8proc, "%s", utf8proc_version());
    snprintf(e->zlib, sizeof e->zlib, "%s", zlibVersion());
    probe_machine(e);
    char *fields[] = {e->aten_cpu, e->cpu, e->pcre2, e->blas_path, e->blas_config};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        if (!fields[i][0]) strcpy(fields[i], "unknown");
}

/* The process's command line, arguments joined by spaces ("" when /proc is not there). */
static char *command_line(void) {
    size_t n = 0;
    char *raw = io_read_file("/proc/self/cmdline", 1 << 16, &n);
    if (!raw) {
        err_clear();
        return mem_strdup("");
    }
    while (n > 0 && raw[n - 1] == '\0') n--;
    for (size_t i = 0; i < n; i++)
        if (raw[i] == '\0') raw[i] = ' ';
    raw[n] = '\0';
    return raw;
}

int run_env_append(const rlvr_config *c, int64_t step) {
    run_env e;
    run_env_probe(&e);
    char when[32];
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    int world = 1, up = 0;
    MPI_Initialized(&up);
    if (up) MPI_Comm_size(MPI_COMM_WORLD, &world);
    char *cmd = command_line();
    cJSON *o = cJSON_CreateObject(), *libs = cJSON_CreateObject(), *mach = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "time", when);
    cJSON_AddNumberToObject(o, "step", (double)step);
    cJSON_AddStringToObject(o, "command", cmd);
    cJSON_AddNumberToObject(o, "world_size", world);
    cJSON_AddStringToObject(o, "rlvr", e.version);
    cJSON_AddStringToObject(o, "commit", e.commit);
    const char *lib[][2] = {{"libtorch", e.libtorch}, {"libtorch_path", e.libtorch_path}, {"blas", e.blas},
                            {"blas_path", e.blas_path}, {"blas_config", e.blas_config}, {"mpi", e.mpi}, {"nccl", e.nccl},
                            {"hdf5", e.hdf5}, {"cjson", e.cjson}, {"pcre2", e.pcre2},
                            {"utf8proc", e.utf8proc}, {"zlib", e.zlib}};
    for (size_t i = 0; i < sizeof lib / sizeof *lib; i++) cJSON_AddStringToObject(libs, lib[i][0], lib[i][1]);
    cJSON_AddItemToObject(o, "libraries", libs);
    cJSON_AddStringToObject(mach, "cpu", e.cpu);
    cJSON_AddStringToObject(mach, "aten_cpu_capability", e.aten_cpu);
    cJSON_AddNumberToObject(mach, "cores", e.cores);
    cJSON_AddNumberToObject(mach, "memory_gib", e.memory_gib);
    cJSON_AddNumberToObject(mach, "gpus", e.gpus);
    cJSON_AddStringToObject(mach, "host", e.host);
    cJSON_AddItemToObject(o, "machine", mach);
    char *line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(cmd);
    char path[1100];
    snprintf(path, sizeof path, "%s/environment.jsonl", c->run.dir);
    FILE *f = fopen(path, "a");
    int bad = !f;
    if (f) {
        bad |= fprintf(f, "%s\n", line) < 0;
        bad |= fclose(f) != 0;
    }
    cJSON_free(line);
    return bad ? err_set("cannot append to '%s': %s", path, strerror(errno)) : 0;
}
