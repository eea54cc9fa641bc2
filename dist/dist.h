/* dist — the ranks of a data-parallel run and the collectives between them.
 *
 * Each rank holds one replica of the policy. Under mpirun/srun the rank and world size come from
 * MPI and one GPU is used per rank (chosen by the node-local rank); a plain launch is a single
 * process that never touches MPI. Gradients are all-reduced in fixed-size flat buckets: with MPI
 * for CPU tensors (staged through host memory, so CUDA tensors work too, slowly), with NCCL for
 * CUDA tensors. NCCL is loaded at run time (dlopen of dist.nccl_lib) and bootstrapped by
 * broadcasting its unique id over MPI, so one binary serves CPU-only and GPU machines.
 *
 * Results are deterministic: the MPI path reduces every element in rank order,
 * ((x0 + x1) + x2) + ..., on the rank that owns its chunk, and copies the result to the others,
 * so every rank holds the same bits and two runs with the same world size give the same bits.
 * NCCL's all-reduce is deterministic for a fixed world size, topology and NCCL version.
 *
 * Every collective waits at most dist.timeout_s: a rank that died or hangs makes the others
 * return an error naming the operation, the rank and the timeout instead of waiting forever; the
 * caller then ends the job with dist_abort(), since MPI cannot finish a collective a rank left.
 * Host-side collectives (metrics, gathers, barriers, byte broadcasts) always go over MPI.
 *
 * Deliberately not here: which rank samples which prompts, logging and checkpoint policy (the
 * trainer), model or pipeline parallelism, overlapping communication with the backward pass. */
#ifndef RLVR_DIST_H
#define RLVR_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "common/cfg.h"
#include "tensor/ts.h"

typedef struct dist dist;

typedef enum { DIST_SINGLE, DIST_MPI, DIST_NCCL } dist_backend;
/* DIST_MEAN is the sum divided by the world size; MAX and MIN only for host buffers. */
typedef enum { DIST_SUM, DIST_MEAN, DIST_MAX, DIST_MIN } dist_op;

/* ---- the communicator ---- */

/* Join the job. Under mpirun/srun (detected from the launcher's environment: OpenMPI, PMI, PMIx,
 * MVAPICH) MPI is initialised and the backend picked from c->backend: auto gives nccl when
 * libtorch sees a CUDA device and there are several ranks, else mpi. A plain launch gives a
 * one-rank DIST_SINGLE communicator without calling MPI. Every rank fails together when one
 * cannot set up its backend. NULL with err_set on failure. */
dist *dist_init(const cfg_dist *c);
/* Leave the job (MPI_Finalize when dist_init started MPI). After a failed collective MPI is left
 * as it is: finalising would wait for the rank that is gone, and the caller should use
 * dist_abort() instead. NULL is a no-op. */
void dist_free(dist *d);
/* End every rank of the job now, for cli/ when a rank cannot go on: prints msg on stderr with the
 * rank, then MPI_Abort under MPI, exit(code) otherwise. d may be NULL. */
_Noreturn void dist_abort(dist *d, int code, const char *msg);

int dist_rank(const dist *d);
int dist_world(const dist *d);
int dist_local_rank(const dist *d); /* rank among the ranks on this node */
dist_backend dist_get_backend(const dist *d);
const char *dist_backend_name(dist_backend b); /* "single", "mpi", "nccl" */
/* The config names of dist.backend (cfg_choice): auto, mpi, nccl. */
extern const cfg_choice dist_backend_choices[];
/* Where this rank's tensors should live: cuda:<local rank mod device count> with NCCL, else
 * the CPU. */
ts_device dist_device(const dist *d);
/* 1 when the replica check is due at this step (dist.check_every > 0 divides step), else 0. */
int dist_check_due(const dist *d, int64_t step);

/* ---- collectives over tensors; every rank passes the same list (same order, shapes, dtypes) ---- */

/* Sum or average (op DIST_SUM or DIST_MEAN) the n tensors across ranks, in place. The tensors
 * must be contiguous; runs of tensors with the same dtype are packed into flat buckets of
 * dist.bucket_mb, one collective per bucket. MPI reduces f32 and f64; NCCL also bf16 and f16, and
 * needs every tensor on dist_device(). */
int dist_allreduce_tensors(dist *d, ts_tensor *const *ts, int n, dist_op op);
/* Overwrite the n tensors on every rank with root's values (initial weights from rank 0). */
int dist_broadcast_tensors(dist *d, ts_tensor *const *ts, int n, int root);

/* ---- collectives over host memory (always MPI) ---- */

/* Reduce n values across ranks in place with the same fixed order as the tensors. */
int dist_allreduce_f64(dist *d, double *v, int64_t n, dist_op op);
int dist_allreduce_f32(dist *d, float *v, int64_t n, dist_op op);
/* recv (world x nbytes) receives every rank's nbytes of send, in rank order. */
int dist_allgather(dist *d, const void *send, size_t nbytes, void *recv);
/* Overwrite buf on every rank with root's nbytes. */
int dist_broadcast(dist *d, void *buf, size_t nbytes, int root);
int dist_barrier(dist *d);

/* ---- replica check ---- */

/* A 64-bit hash per tensor of its dtype, shape and bytes (row-major), into out[n]. Any device;
 * deterministic across runs and machines of the same endianness. */
int dist_hash_tensors(ts_tensor *const *ts, int n, uint64_t *out);
/* Compare the hashes of the n tensors across ranks. Every rank returns 0 when all replicas
 * agree, else -1 with one error naming the first tensor that differs (its index, and its name
 * when names is not NULL) and the ranks that disagree. */
int dist_check_replicas(dist *d, ts_tensor *const *ts, const char *const *names, int n);

/* ---- NCCL ---- */

/* Load the NCCL library at lib (a name on the loader path or a file), resolve every function
 * dist uses and read its version code (major*10000 + minor*100 + patch); the library is closed
 * again. For `rlvr doctor` and tests; -1 with err_set when the library is missing, lacks a
 * function or is older than 2.10. */
int dist_nccl_version(const char *lib, int *version);

#endif
