/* runenv — what a run ran on: the rlvr build (version, git commit), the libraries in the process
 * (libtorch, BLAS, MPI, NCCL, HDF5, cJSON, PCRE2, utf8proc, zlib) and the machine (CPU, ATen's
 * kernel path, cores, memory, GPUs, host). `rlvr doctor` prints it; every start of `rlvr train`
 * and `rlvr sft` appends it as one line to run.dir/environment.jsonl, so a run resumed on another
 * machine or with another build says so.
 * Deliberately not here: timing the machine (doctor measures GEMM speed itself). */
#ifndef RLVR_RUNENV_H
#define RLVR_RUNENV_H

#include "common/cfg.h"

#include <stdint.h>

typedef struct run_env {
    char version[32];          /* rlvr's version */
    char commit[64];           /* git describe of the source tree at build time, or "unknown" */
    char libtorch[160];        /* "1.13.1, CPU-only build, from the system (Debian's libtorch)" */
    char libtorch_path[512];   /* the libtorch library file loaded */
    char blas[160];            /* "OpenBLAS", "MKL, linked into libtorch (BLAS_INFO=mkl)", ... */
    char blas_path[512];       /* the library file that serves sgemm_ */
    char blas_config[256];     /* OpenBLAS's own build and core description, when it is OpenBLAS */
    char mpi[256];             /* MPI_Get_library_version's first line */
    char nccl[256];            /* "2.21.5 (path)" or why it cannot be loaded */
    char hdf5[32], cjson[32], pcre2[64], utf8proc[32], zlib[32];
    char cpu[160];             /* /proc/cpuinfo's model name */
    char aten_cpu[32];         /* ATen's CPU capability in use ("AVX512", "AVX2", "NO AVX") */
    int cores;                 /* online cores */
    double memory_gib;         /* physical memory */
    int gpus;                  /* CUDA devices visible to libtorch */
    char host[256];
} run_env;

/* Physical memory of this machine in GiB; 0 when unknown. */
double run_env_memory_gib(void);
/* Fills e; every field that cannot be found reads "unknown" (or 0). */
void run_env_probe(run_env *e);

/* Appends one JSON line to run.dir/environment.jsonl: the time, the step the job starts from,
 * the command line, the world size and every field of run_env. -1 with err_set when the file
 * cannot be written. */
int run_env_append(const rlvr_config *c, int64_t step);

#endif
