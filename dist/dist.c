/* dist — ranks, bucketed collectives, replica hashes and the watchdog over MPI and NCCL. See
 * dist.h for the contract.
 *
 * Sections: launch detection and the communicator; waiting with a deadline; the fixed-order MPI
 * reduction of host buffers; NCCL loaded with dlopen; packing tensors into flat buckets; host
 * collectives; hashes. Every MPI collective is started non-blocking and polled, so no call can
 * wait longer than dist.timeout_s.
 * Deliberately not here: NCCL or CUDA headers (the few declarations NCCL's documented API needs
 * are below), collectives on user streams (NCCL runs on CUDA's default stream, libtorch's default
 * too), point-to-point messages. */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "dist/dist.h"

#include <dlfcn.h>
#include <limits.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"

/* ---- NCCL's documented C API, declared here so that building needs no NCCL ---- */

#define NCCL_ID_BYTES 128
typedef struct { char internal[NCCL_ID_BYTES]; } nccl_unique_id;
typedef struct nccl_comm *nccl_comm; /* opaque ncclComm_t */
enum { NCCL_SUCCESS = 0, NCCL_IN_PROGRESS = 7 };
enum { NCCL_SUM = 0 };
enum { NCCL_UINT8 = 1, NCCL_INT32 = 2, NCCL_INT64 = 4, NCCL_FLOAT16 = 6, NCCL_FLOAT32 = 7,
       NCCL_FLOAT64 = 8, NCCL_BFLOAT16 = 9 };
#define NCCL_MIN_VERSION 21000 /* 2.10: bfloat16 */
enum { CUDA_SUCCESS = 0, CUDA_NOT_READY = 600 };

typedef struct nccl_api {
    void *lib, *cudart; /* dlopen handles; cudart NULL when libtorch already loaded the runtime */
    int version;
    int (*get_version)(int *version);
    int (*get_unique_id)(nccl_unique_id *id);
    int (*comm_init_rank)(nccl_comm *comm, int nranks, nccl_unique_id id, int rank);
    int (*all_reduce)(const void *send, void *recv, size_t count, int dtype, int op, nccl_comm comm,
                      void *stream);
    int (*broadcast)(const void *send, void *recv, size_t count, int dtype, int root,
                     nccl_comm comm, void *stream);
    int (*comm_destroy)(nccl_comm comm);
    int (*comm_abort)(nccl_comm comm);
    const char *(*get_error_string)(int result);
    int (*comm_get_async_error)(nccl_comm comm, int *result);
    int (*cuda_set_device)(int device);
    int (*cuda_stream_query)(void *stream);
} nccl_api;

struct dist {
    dist_backend backend;
    int rank, world, local_rank, local_world;
    int mpi_started; /* dist_init called MPI_Init, so dist_free finalises */
    int broken;      /* a collective failed half-way: MPI can no longer be finalised */
    double timeout_s;
    int64_t check_every;
    size_t bucket_bytes;
    ts_device device;
    MPI_Comm comm, local;
    int *send_counts, *send_displs, *recv_counts, *recv_displs; /* world entries each */
    void *scratch;                                               /* reduction receive buffer */
    size_t scratch_cap;
    ts_tensor *bucket; /* (n) flat, kept between calls: a fresh one would fault its pages in */
    nccl_api nccl;
    nccl_comm nccl_comm;
};

/* What dist.backend asks for. */
enum { WANT_AUTO, WANT_MPI, WANT_NCCL };
const cfg_choice dist_backend_choices[] = {{"auto", WANT_AUTO}, {"mpi", WANT_MPI}, {"nccl", WANT_NCCL}, {NULL, 0}};

/* A rank that waits longer than this for one collective stops spinning and sleeps between polls. */
#define DIST_SPIN_S 2.0

/* ---- launch detection and the communicator ---- */

/* Environment variables that mpirun, mpiexec or srun (with an MPI plugin) set in every rank. */
static int launched_by_mpi(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE",
                                       "MV2_COMM_WORLD_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

static int mpi_error(dist *d, int rc, const char *what) {
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "MPI error %d", rc);
    d->broken = 1;
    return err_set("dist: %s failed on rank %d of %d: %s", what, d->rank, d->world, s);
}

/* Wait for req, polling, at most d->timeout_s. */
static int mpi_wait(dist *d, MPI_Request *req, const char *what) {
    double t0 = log_now();
    for (;;) {
        int done = 0, rc = MPI_Test(req, &done, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) return mpi_error(d, rc, what);
        if (done) return 0;
        double waited = log_now() - t0;
        if (waited > d->timeout_s) {
            d->broken = 1;
            return err_set("dist: %s timed out after %g s on rank %d of %d (dist.timeout_s): "
                           "another rank died, hangs, or never reached this call",
                           what, d->timeout_s, d->rank, d->world);
        }
        if (waited < DIST_SPIN_S) sched_yield();
        else nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

/* Finish a non-blocking call that returned rc and filled req. */
static int mpi_finish(dist *d, int rc, MPI_Request *req, const char *what) {
    if (rc != MPI_SUCCESS) return mpi_error(d, rc, what);
    return mpi_wait(d, req, what);
}

/* Whether every rank's ok is 1. A rank whose own step failed keeps its message; the others get
 * one naming the first rank that failed. */
static int mpi_agree(dist *d, int ok, const char *what) {
    int *all = mem_alloc(sizeof(int) * (size_t)d->world);
    char own[ERR_MSG_MAX];
    snprintf(own, sizeof own, "%s", err_msg());
    MPI_Request req;
    int rc = mpi_finish(d, MPI_Iallgather(&ok, 1, MPI_INT, all, 1, MPI_INT, d->comm, &req), &req, what);
    int failed = -1;
    for (int r = 0; rc == 0 && r < d->world && failed < 0; r++)
        if (!all[r]) failed = r;
    free(all);
    if (rc < 0) return -1;
    if (failed < 0) return 0;
    if (!ok) return err_set("%s", own);
    return err_set("dist: rank %d of %d failed to %s (see its message); rank %d stops too", failed,
                   d->world, what, d->rank);
}

static int nccl_setup(dist *d, const cfg_dist *c);
static void nccl_unload(nccl_api *a);

static int mpi_setup(dist *d) {
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (finalized) return err_set("dist: MPI was already finalised in this process");
    if (!inited) {
        int provided;
        if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
            return err_set("dist: MPI_Init_thread failed");
        d->mpi_started = 1;
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    int rc = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
    if (rc != MPI_SUCCESS) return mpi_error(d, rc, "duplicating MPI_COMM_WORLD");
    MPI_Comm_rank(d->comm, &d->rank);
    MPI_Comm_size(d->comm, &d->world);
    rc = MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, d->rank, MPI_INFO_NULL, &d->local);
    if (rc != MPI_SUCCESS) return mpi_error(d, rc, "splitting the node-local communicator");
    MPI_Comm_rank(d->local, &d->local_rank);
    MPI_Comm_size(d->local, &d->local_world);
    size_t w = (size_t)d->world;
    d->send_counts = mem_calloc(w, sizeof(int));
    d->send_displs = mem_calloc(w, sizeof(int));
    d->recv_counts = mem_calloc(w, sizeof(int));
    d->recv_displs = mem_calloc(w, sizeof(int));
    return 0;
}

/* Release what dist_init built. MPI is finalised only when nothing failed half-way. */
static void dist_release(dist *d) {
    if (d->nccl_comm) {
        if (d->broken) d->nccl.comm_abort(d->nccl_comm);
        else d->nccl.comm_destroy(d->nccl_comm);
    }
    nccl_unload(&d->nccl);
    ts_free(d->bucket);
    if (!d->broken) {
        if (d->local != MPI_COMM_NULL) MPI_Comm_free(&d->local);
        if (d->comm != MPI_COMM_NULL) MPI_Comm_free(&d->comm);
        if (d->mpi_started) MPI_Finalize();
    }
    free(d->send_counts);
    free(d->send_displs);
    free(d->recv_counts);
    free(d->recv_displs);
    free(d->scratch);
    free(d);
}

dist *dist_init(const cfg_dist *c) {
    if (!c) {
        err_set("dist_init: config is NULL");
        return NULL;
    }
    dist *d = mem_calloc(1, sizeof *d);
    d->backend = DIST_SINGLE;
    d->world = d->local_world = 1;
    d->comm = d->local = MPI_COMM_NULL;
    d->device = TS_CPU_DEVICE;
    d->timeout_s = c->timeout_s;
    d->check_every = c->check_every;
    double bytes = c->bucket_mb * 1048576.0;
    if (!(bytes >= 8 && bytes <= (double)(1 << 30))) {
        err_set("dist.bucket_mb = %g: a bucket must hold 8 bytes to 1024 MiB", c->bucket_mb);
        free(d);
        return NULL;
    }
    d->bucket_bytes = (size_t)bytes / 8 * 8;
    int want;
    if (cfg_choice_of("dist.backend", c->backend, dist_backend_choices, &want)) {
        free(d);
        return NULL;
    }
    if (!launched_by_mpi()) return d;

    if (mpi_setup(d) < 0) {
        dist_release(d);
        return NULL;
    }
    int want_nccl = want == WANT_NCCL || (want == WANT_AUTO && d->world > 1 && ts_cuda_available());
    if (want_nccl) d->backend = DIST_NCCL;
    else d->backend = want == WANT_AUTO && d->world == 1 ? DIST_SINGLE : DIST_MPI;
    if (d->backend == DIST_NCCL && nccl_setup(d, c) < 0) {
        dist_release(d);
        return NULL;
    }
    if (d->rank == 0)
        log_info("dist: %d ranks (%d on this node), backend %s, buckets of %g MiB", d->world,
                 d->local_world, dist_backend_name(d->backend), (double)d->bucket_bytes / 1048576.0);
    return d;
}

void dist_free(dist *d) {
    if (d) dist_release(d);
}

_Noreturn void dist_abort(dist *d, int code, const char *msg) {
    if (d && d->world > 1) log_error("rank %d of %d: %s", d->rank, d->world, msg ? msg : "");
    else log_error("%s", msg ? msg : "");
    fflush(stderr);
    int inited = 0, finalized = 0;
    MPI_Initialized(&inited);
    MPI_Finalized(&finalized);
    if (d && d->comm != MPI_COMM_NULL && inited && !finalized) MPI_Abort(MPI_COMM_WORLD, code);
    exit(code);
}

int dist_rank(const dist *d) { return d ? d->rank : 0; }
int dist_world(const dist *d) { return d ? d->world : 1; }
int dist_local_rank(const dist *d) { return d ? d->local_rank : 0; }
dist_backend dist_get_backend(const dist *d) { return d ? d->backend : DIST_SINGLE; }
ts_device dist_device(const dist *d) { return d ? d->device : TS_CPU_DEVICE; }

const char *dist_backend_name(dist_backend b) {
    switch (b) {
    case DIST_SINGLE: return "single";
    case DIST_MPI: return "mpi";
    case DIST_NCCL: return "nccl";
    }
    return "?";
}

int dist_check_due(const dist *d, int64_t step) {
    return d && d->check_every > 0 && step % d->check_every == 0;
}

/* ---- the fixed-order MPI reduction ----
 * A window of len elements is cut into world chunks; rank r owns chunk r. An all-to-all brings
 * every rank's copy of chunk r to rank r, which folds them in rank order, and an all-gather hands
 * the folded chunks back. Each element is reduced once, in one order, on one rank: the same bits
 * everywhere, every run, whatever algorithm MPI picks for moving bytes. */

static int64_t chunk_lo(int64_t len, int world, int c) { return len * c / world; }

/* dst[i] = src[0][i] (op) src[1][i] (op) ... over world rows of len elements. */
#define DIST_FOLD(T)                                                                     \
    do {                                                                                 \
        T *o = dst;                                                                      \
        const T *s = src;                                                                \
        memcpy(o, s, sizeof(T) * (size_t)len);                                           \
        for (int r = 1; r < world; r++) {                                                \
            const T *x = s + (size_t)r * (size_t)len;                                    \
            if (op == DIST_MAX)                                                          \
                for (int64_t i = 0; i < len; i++) o[i] = x[i] > o[i] ? x[i] : o[i];      \
            else if (op == DIST_MIN)                                                     \
                for (int64_t i = 0; i < len; i++) o[i] = x[i] < o[i] ? x[i] : o[i];      \
            else                                                                         \
                for (int64_t i = 0; i < len; i++) o[i] += x[i];                          \
        }                                                                                \
        if (op == DIST_MEAN)                                                             \
            for (int64_t i = 0; i < len; i++) o[i] /= (T)world;                          \
    } while (0)

static void fold(void *dst, const void *src, int64_t len, int world, ts_dtype dt, dist_op op) {
    if (dt == TS_F64) DIST_FOLD(double);
    else DIST_FOLD(float);
}

static int mpi_reduce_window(dist *d, void *x, int64_t len, ts_dtype dt, dist_op op,
                             const char *what) {
    int w = d->world, me = d->rank;
    size_t es = dt == TS_F64 ? sizeof(double) : sizeof(float);
    MPI_Datatype mt = dt == TS_F64 ? MPI_DOUBLE : MPI_FLOAT;
    int64_t mine = chunk_lo(len, w, me + 1) - chunk_lo(len, w, me);
    size_t need = (size_t)w * (size_t)mine * es;
    if (need > d->scratch_cap) {
        d->scratch = mem_realloc(d->scratch, need);
        d->scratch_cap = need;
    }
    for (int c = 0; c < w; c++) {
        d->send_displs[c] = (int)chunk_lo(len, w, c);
        d->send_counts[c] = (int)(chunk_lo(len, w, c + 1) - d->send_displs[c]);
        d->recv_counts[c] = (int)mine;
        d->recv_displs[c] = (int)(c * mine);
    }
    MPI_Request req;
    int rc = MPI_Ialltoallv(x, d->send_counts, d->send_displs, mt, d->scratch, d->recv_counts,
                            d->recv_displs, mt, d->comm, &req);
    if (mpi_finish(d, rc, &req, what) < 0) return -1;
    if (mine > 0) fold((char *)x + (size_t)d->send_displs[me] * es, d->scratch, mine, w, dt, op);
    rc = MPI_Iallgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, d->send_counts, d->send_displs, mt,
                         d->comm, &req);
    return mpi_finish(d, rc, &req, what);
}

/* Reduce count elements at x in windows of one bucket. */
static int mpi_reduce_host(dist *d, void *x, int64_t count, ts_dtype dt, dist_op op,
                           const char *what) {
    size_t es = dt == TS_F64 ? sizeof(double) : sizeof(float);
    int64_t window = (int64_t)(d->bucket_bytes / es);
    char label[160];
    for (int64_t off = 0, k = 0; off < count; off += window, k++) {
        int64_t len = count - off < window ? count - off : window;
        snprintf(label, sizeof label, "%s (window %lld of %lld elements)", what, (long long)k,
                 (long long)len);
        if (mpi_reduce_window(d, (char *)x + (size_t)off * es, len, dt, op, label) < 0) return -1;
    }
    return 0;
}

/* ---- NCCL, loaded at run time ---- */

static void nccl_unload(nccl_api *a) {
    if (a->lib) dlclose(a->lib);
    if (a->cudart) dlclose(a->cudart);
    memset(a, 0, sizeof *a);
}

static int load_symbol(void *lib, const char *name, void *slot, size_t size, const char *from) {
    void *sym = dlsym(lib, name);
    if (!sym) return err_set("dist: '%s' has no function %s: not an NCCL >= 2.10 library?", from, name);
    memcpy(slot, &sym, size);
    return 0;
}

#define NCCL_SYM(field, name) load_symbol(a->lib, name, &a->field, sizeof a->field, path)

static int nccl_load(nccl_api *a, const char *path) {
    memset(a, 0, sizeof *a);
    if (!path || !*path) return err_set("dist: dist.nccl_lib is empty: name the NCCL library");
    a->lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!a->lib)
        return err_set("dist: cannot load the NCCL library '%s' (dist.nccl_lib): %s", path, dlerror());
    if (NCCL_SYM(get_version, "ncclGetVersion") < 0 ||
        NCCL_SYM(get_unique_id, "ncclGetUniqueId") < 0 ||
        NCCL_SYM(comm_init_rank, "ncclCommInitRank") < 0 ||
        NCCL_SYM(all_reduce, "ncclAllReduce") < 0 || NCCL_SYM(broadcast, "ncclBroadcast") < 0 ||
        NCCL_SYM(comm_destroy, "ncclCommDestroy") < 0 ||
        NCCL_SYM(comm_abort, "ncclCommAbort") < 0 ||
        NCCL_SYM(get_error_string, "ncclGetErrorString") < 0 ||
        NCCL_SYM(comm_get_async_error, "ncclCommGetAsyncError") < 0) {
        nccl_unload(a);
        return -1;
    }
    int v = 0;
    if (a->get_version(&v) != NCCL_SUCCESS || v < NCCL_MIN_VERSION) {
        err_set("dist: '%s' is NCCL version code %d; rlvr needs 2.10 or newer (21000)", path, v);
        nccl_unload(a);
        return -1;
    }
    a->version = v;
    return 0;
}

/* cudaSetDevice and cudaStreamQuery: from the runtime libtorch loaded, else from libcudart. */
static int cuda_load(nccl_api *a) {
    static const char *const names[] = {"libcudart.so", "libcudart.so.13", "libcudart.so.12",
                                        "libcudart.so.11.0"};
    void *set = dlsym(RTLD_DEFAULT, "cudaSetDevice"), *query = dlsym(RTLD_DEFAULT, "cudaStreamQuery");
    for (size_t i = 0; (!set || !query) && i < sizeof names / sizeof names[0]; i++) {
        a->cudart = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
        if (a->cudart) {
            set = dlsym(a->cudart, "cudaSetDevice");
            query = dlsym(a->cudart, "cudaStreamQuery");
        }
    }
    if (!set || !query)
        return err_set("dist: the CUDA runtime (cudaSetDevice) is neither loaded by libtorch nor "
                       "found as libcudart.so");
    memcpy(&a->cuda_set_device, &set, sizeof set);
    memcpy(&a->cuda_stream_query, &query, sizeof query);
    return 0;
}

static int nccl_fail(dist *d, int rc, const char *what) {
    return err_set("dist: %s failed on rank %d of %d: NCCL error %d (%s)", what, d->rank, d->world,
                   rc, d->nccl.get_error_string ? d->nccl.get_error_string(rc) : "?");
}

/* This rank's part: the library, one device, the runtime. */
static int nccl_setup_local(dist *d, const cfg_dist *c) {
    if (nccl_load(&d->nccl, c->nccl_lib) < 0) return -1;
    int ndev = ts_cuda_device_count();
    int v = d->nccl.version;
    if (ndev < 1)
        return err_set("dist: NCCL %d.%d.%d is loaded but libtorch sees no CUDA device on rank %d "
                       "(a CPU build of libtorch, or no GPU): use dist.backend=mpi for CPU tensors",
                       v / 10000, v / 100 % 100, v % 100, d->rank);
    /* one visible device per rank (Slurm --gpus-per-task, CUDA_VISIBLE_DEVICES) is fine; several
     * visible devices fewer than the ranks means ranks would share one */
    if (ndev > 1 && d->local_world > ndev)
        return err_set("dist: %d ranks on this node but %d CUDA devices: NCCL needs one GPU per "
                       "rank", d->local_world, ndev);
    if (cuda_load(&d->nccl) < 0) return -1;
    d->device = (ts_device){TS_CUDA, d->local_rank % ndev};
    int rc = d->nccl.cuda_set_device(d->device.index);
    if (rc != CUDA_SUCCESS)
        return err_set("dist: cudaSetDevice(%d) failed with CUDA error %d on rank %d",
                       d->device.index, rc, d->rank);
    return 0;
}

static int nccl_setup(dist *d, const cfg_dist *c) {
    if (mpi_agree(d, nccl_setup_local(d, c) == 0, "load NCCL and pick its GPU") < 0) return -1;
    nccl_unique_id id;
    memset(&id, 0, sizeof id);
    int rc = d->rank == 0 ? d->nccl.get_unique_id(&id) : NCCL_SUCCESS;
    if (rc != NCCL_SUCCESS) nccl_fail(d, rc, "ncclGetUniqueId");
    if (mpi_agree(d, rc == NCCL_SUCCESS, "create the NCCL unique id") < 0) return -1;
    if (dist_broadcast(d, &id, sizeof id, 0) < 0) return -1;
    rc = d->nccl.comm_init_rank(&d->nccl_comm, d->world, id, d->rank);
    if (rc != NCCL_SUCCESS) {
        d->nccl_comm = NULL;
        nccl_fail(d, rc, "ncclCommInitRank");
    }
    return mpi_agree(d, rc == NCCL_SUCCESS, "create the NCCL communicator");
}

/* Wait for the collective just queued on the default stream, at most d->timeout_s. */
static int nccl_wait(dist *d, int rc, const char *what) {
    if (rc != NCCL_SUCCESS) return nccl_fail(d, rc, what);
    double t0 = log_now();
    for (;;) {
        int q = d->nccl.cuda_stream_query(NULL);
        if (q == CUDA_SUCCESS) return 0;
        if (q != CUDA_NOT_READY)
            return err_set("dist: %s failed on rank %d of %d: CUDA error %d", what, d->rank,
                           d->world, q);
        int async = NCCL_SUCCESS;
        d->nccl.comm_get_async_error(d->nccl_comm, &async);
        double waited = log_now() - t0;
        if ((async != NCCL_SUCCESS && async != NCCL_IN_PROGRESS) || waited > d->timeout_s) {
            d->nccl.comm_abort(d->nccl_comm);
            d->nccl_comm = NULL;
            d->broken = 1;
            if (async != NCCL_SUCCESS && async != NCCL_IN_PROGRESS) return nccl_fail(d, async, what);
            return err_set("dist: %s timed out after %g s on rank %d of %d (dist.timeout_s): "
                           "another rank died, hangs, or never reached this call",
                           what, d->timeout_s, d->rank, d->world);
        }
        if (waited < DIST_SPIN_S) sched_yield();
        else nanosleep(&(struct timespec){0, 1000000}, NULL);
    }
}

static int nccl_dtype(ts_dtype dt) {
    switch (dt) {
    case TS_F32: return NCCL_FLOAT32;
    case TS_F64: return NCCL_FLOAT64;
    case TS_BF16: return NCCL_BFLOAT16;
    case TS_F16: return NCCL_FLOAT16;
    case TS_I64: return NCCL_INT64;
    case TS_I32: return NCCL_INT32;
    case TS_U8:
    case TS_BOOL: return NCCL_UINT8;
    }
    return NCCL_UINT8;
}

int dist_nccl_version(const char *lib, int *version) {
    nccl_api a;
    if (nccl_load(&a, lib) < 0) return -1;
    if (version) *version = a.version;
    nccl_unload(&a);
    return 0;
}

/* ---- tensors in flat buckets ---- */

/* Every tensor non-NULL and contiguous; for a reduction, a dtype the backend can add; with NCCL,
 * on this rank's GPU. */
static int check_tensors(const dist *d, ts_tensor *const *ts, int n, int reduce, const char *fn) {
    if (!d) return err_set("%s: the communicator is NULL", fn);
    if (n < 0 || (n > 0 && !ts)) return err_set("%s: %d tensors at %p", fn, n, (const void *)ts);
    char desc[128];
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return err_set("%s: tensor %d of %d is NULL", fn, i, n);
        if (!ts_is_contiguous(ts[i]))
            return err_set("%s: tensor %d %s is not contiguous", fn, i,
                           ts_describe(ts[i], desc, sizeof desc));
        ts_dtype dt = ts_get_dtype(ts[i]);
        if (reduce && d->backend == DIST_MPI && dt != TS_F32 && dt != TS_F64)
            return err_set("%s: tensor %d %s: the mpi backend adds f32 and f64 tensors only", fn,
                           i, ts_describe(ts[i], desc, sizeof desc));
        if (reduce && d->backend == DIST_NCCL && dt != TS_F32 && dt != TS_F64 && dt != TS_BF16 &&
            dt != TS_F16)
            return err_set("%s: tensor %d %s: the nccl backend adds floating-point tensors only",
                           fn, i, ts_describe(ts[i], desc, sizeof desc));
        ts_device dev = ts_get_device(ts[i]);
        if (d->backend == DIST_NCCL && (dev.type != TS_CUDA || dev.index != d->device.index))
            return err_set("%s: tensor %d %s is not on this rank's NCCL device cuda:%d", fn, i,
                           ts_describe(ts[i], desc, sizeof desc), d->device.index);
    }
    return 0;
}

/* The collective on the first len elements of the bucket: all-reduce with op when root < 0,
 * else broadcast from root. */
static int bucket_collective(dist *d, ts_tensor *bucket, int64_t len, ts_dtype dt, dist_op op,
                             int root, const char *what) {
    void *p = ts_data_ptr(bucket);
    if (!p) return err_prefix("dist: %s", what);
    if (d->backend == DIST_MPI) {
        if (root < 0) return mpi_reduce_window(d, p, len, dt, op, what);
        MPI_Request req;
        int rc = MPI_Ibcast(p, (int)((size_t)len * ts_dtype_size(dt)), MPI_BYTE, root, d->comm, &req);
        return mpi_finish(d, rc, &req, what);
    }
    int rc = root < 0 ? d->nccl.all_reduce(p, p, (size_t)len, nccl_dtype(dt), NCCL_SUM, d->nccl_comm, NULL)
                      : d->nccl.broadcast(p, p, (size_t)len, nccl_dtype(dt), root, d->nccl_comm, NULL);
    if (nccl_wait(d, rc, what) < 0) return -1;
    if (root < 0 && op == DIST_MEAN) {
        ts_tensor *head = ts_narrow(bucket, 0, 0, len);
        if (!head || ts_mul_scalar_(head, 1.0 / d->world) < 0) return err_prefix("dist: %s", what);
    }
    return 0;
}

/* Copy elements [pos, pos + len) of the concatenation of the flat tensors to (to_bucket) or from
 * the bucket. */
static int bucket_copy(ts_tensor *bucket, ts_tensor *const *flat, int n, int64_t pos, int64_t len,
                       int to_bucket) {
    int64_t start = 0, done = 0;
    for (int i = 0; i < n && done < len; i++) {
        int64_t numel = ts_numel(flat[i]);
        int64_t lo = pos + done - start;
        if (lo < numel) {
            int64_t take = numel - lo < len - done ? numel - lo : len - done;
            ts_tensor *b = ts_narrow(bucket, 0, done, take), *t = ts_narrow(flat[i], 0, lo, take);
            if ((to_bucket ? ts_copy_(b, t) : ts_copy_(t, b)) < 0) return -1;
            done += take;
        }
        start += numel;
    }
    return 0;
}

/* The kept bucket, reallocated when the dtype or device changes or it holds fewer than n
 * elements. Borrowed. */
static ts_tensor *bucket_get(dist *d, int64_t n, ts_dtype dt, ts_device where) {
    ts_tensor *b = d->bucket;
    if (b && ts_get_dtype(b) == dt && ts_get_device(b).type == where.type &&
        ts_get_device(b).index == where.index && ts_numel(b) >= n)
        return b;
    ts_free(b);
    d->bucket = b = ts_empty(&n, 1, dt, where);
    return b ? ts_unscope(b) : NULL;
}

/* One run of tensors with the same dtype: tensors first..first+n-1 of the caller's list. */
static int bucket_run(dist *d, ts_tensor *const *ts, int n, int first, dist_op op, int root,
                      const char *verb) {
    ts_dtype dt = ts_get_dtype(ts[0]);
    int64_t total = 0;
    for (int i = 0; i < n; i++) total += ts_numel(ts[i]);
    if (total == 0) return 0;
    int64_t window = (int64_t)(d->bucket_bytes / ts_dtype_size(dt));
    int64_t blen = total < window ? total : window;
    ts_device where = d->backend == DIST_NCCL ? d->device : TS_CPU_DEVICE;
    int rc = 0;
    ts_scope_begin();
    ts_tensor *bucket = bucket_get(d, blen, dt, where);
    ts_tensor **flat = mem_alloc(sizeof(ts_tensor *) * (size_t)n);
    if (!bucket) rc = err_set("dist: cannot allocate a %lld-element bucket", (long long)blen);
    int64_t minus1 = -1;
    for (int i = 0; rc == 0 && i < n; i++)
        if (!(flat[i] = ts_view(ts[i], &minus1, 1))) rc = err_prefix("dist: flattening tensor %d", first + i);
    char what[160];
    for (int64_t pos = 0, k = 0; rc == 0 && pos < total; pos += blen, k++) {
        int64_t len = total - pos < blen ? total - pos : blen;
        snprintf(what, sizeof what, "%s of bucket %lld (%lld %s elements from tensors %d-%d)", verb,
                 (long long)k, (long long)len, ts_dtype_name(dt), first, first + n - 1);
        ts_scope_begin();
        if ((root < 0 || root == d->rank) && bucket_copy(bucket, flat, n, pos, len, 1) < 0)
            rc = err_prefix("dist: packing the %s", what);
        if (rc == 0) rc = bucket_collective(d, bucket, len, dt, op, root, what);
        if (rc == 0 && root != d->rank && bucket_copy(bucket, flat, n, pos, len, 0) < 0)
            rc = err_prefix("dist: unpacking the %s", what);
        ts_scope_end();
    }
    free(flat);
    ts_scope_end();
    return rc;
}

/* Walk the list in runs of equal dtype. */
static int bucket_walk(dist *d, ts_tensor *const *ts, int n, dist_op op, int root, const char *verb) {
    for (int i = 0, j; i < n; i = j) {
        ts_dtype dt = ts_get_dtype(ts[i]);
        for (j = i + 1; j < n && ts_get_dtype(ts[j]) == dt; j++) {}
        if (bucket_run(d, ts + i, j - i, i, op, root, verb) < 0) return -1;
    }
    return 0;
}

int dist_allreduce_tensors(dist *d, ts_tensor *const *ts, int n, dist_op op) {
    if (check_tensors(d, ts, n, 1, __func__) < 0) return -1;
    if (op != DIST_SUM && op != DIST_MEAN)
        return err_set("%s: tensors are reduced with DIST_SUM or DIST_MEAN", __func__);
    if (d->backend == DIST_SINGLE) return 0;
    return bucket_walk(d, ts, n, op, -1, "all-reduce");
}

int dist_broadcast_tensors(dist *d, ts_tensor *const *ts, int n, int root) {
    if (check_tensors(d, ts, n, 0, __func__) < 0) return -1;
    if (root < 0 || root >= d->world)
        return err_set("%s: root %d is not a rank of %d", __func__, root, d->world);
    if (d->backend == DIST_SINGLE) return 0;
    char verb[48];
    snprintf(verb, sizeof verb, "broadcast from rank %d", root);
    return bucket_walk(d, ts, n, DIST_SUM, root, verb);
}

/* ---- host collectives ---- */

static int host_reduce(dist *d, void *v, int64_t n, ts_dtype dt, dist_op op, const char *fn) {
    if (!d) return err_set("%s: the communicator is NULL", fn);
    if (n < 0 || (n > 0 && !v)) return err_set("%s: %lld values at %p", fn, (long long)n, v);
    if (op < DIST_SUM || op > DIST_MIN) return err_set("%s: unknown operation %d", fn, (int)op);
    if (d->comm == MPI_COMM_NULL || n == 0) return 0;
    char what[64];
    snprintf(what, sizeof what, "all-reduce of %lld host values", (long long)n);
    return mpi_reduce_host(d, v, n, dt, op, what);
}

int dist_allreduce_f64(dist *d, double *v, int64_t n, dist_op op) {
    return host_reduce(d, v, n, TS_F64, op, __func__);
}

int dist_allreduce_f32(dist *d, float *v, int64_t n, dist_op op) {
    return host_reduce(d, v, n, TS_F32, op, __func__);
}

int dist_allgather(dist *d, const void *send, size_t nbytes, void *recv) {
    if (!d) return err_set("dist_allgather: the communicator is NULL");
    if (nbytes > INT_MAX) return err_set("dist_allgather: %zu bytes per rank; at most %d", nbytes, INT_MAX);
    if (nbytes > 0 && (!send || !recv)) return err_set("dist_allgather: NULL buffer");
    if (d->comm == MPI_COMM_NULL) {
        if (nbytes) memmove(recv, send, nbytes);
        return 0;
    }
    MPI_Request req;
    int rc = MPI_Iallgather(send, (int)nbytes, MPI_BYTE, recv, (int)nbytes, MPI_BYTE, d->comm, &req);
    return mpi_finish(d, rc, &req, "all-gather");
}

int dist_broadcast(dist *d, void *buf, size_t nbytes, int root) {
    if (!d) return err_set("dist_broadcast: the communicator is NULL");
    if (root < 0 || root >= d->world)
        return err_set("dist_broadcast: root %d is not a rank of %d", root, d->world);
    if (nbytes > 0 && !buf) return err_set("dist_broadcast: NULL buffer");
    if (d->comm == MPI_COMM_NULL) return 0;
    char what[64];
    snprintf(what, sizeof what, "broadcast of %zu bytes from rank %d", nbytes, root);
    for (size_t off = 0; off < nbytes; off += (size_t)1 << 30) {
        size_t len = nbytes - off < ((size_t)1 << 30) ? nbytes - off : (size_t)1 << 30;
        MPI_Request req;
        int rc = MPI_Ibcast((char *)buf + off, (int)len, MPI_BYTE, root, d->comm, &req);
        if (mpi_finish(d, rc, &req, what) < 0) return -1;
    }
    return 0;
}

int dist_barrier(dist *d) {
    if (!d) return err_set("dist_barrier: the communicator is NULL");
    if (d->comm == MPI_COMM_NULL) return 0;
    MPI_Request req;
    return mpi_finish(d, MPI_Ibarrier(d->comm, &req), &req, "barrier");
}

/* ---- hashes ----
 * Four 64-bit lanes of multiply-rotate rounds over 32-byte stripes, then the tail and a final
 * avalanche, in the style of xxHash64 (same primes, not the same output). */

static const uint64_t H1 = 11400714785074694791ULL, H2 = 14029467366897019727ULL,
                      H3 = 1609587929392839161ULL, H4 = 9650029242287828579ULL,
                      H5 = 2870177450012600261ULL;

static uint64_t rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static uint64_t hash_round(uint64_t acc, uint64_t w) { return rotl64(acc + w * H2, 31) * H1; }
static uint64_t load64(const unsigned char *p) {
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static uint64_t hash_bytes(uint64_t seed, const unsigned char *p, size_t n) {
    uint64_t h;
    size_t i = 0;
    if (n >= 32) {
        uint64_t v[4] = {seed + H1 + H2, seed + H2, seed, seed - H1};
        for (; i + 32 <= n; i += 32)
            for (int k = 0; k < 4; k++) v[k] = hash_round(v[k], load64(p + i + 8 * k));
        h = rotl64(v[0], 1) + rotl64(v[1], 7) + rotl64(v[2], 12) + rotl64(v[3], 18);
    } else {
        h = seed + H5;
    }
    h += (uint64_t)n;
    for (; i + 8 <= n; i += 8) h = rotl64(h ^ hash_round(0, load64(p + i)), 27) * H1 + H4;
    for (; i < n; i++) h = rotl64(h ^ (p[i] * H5), 11) * H1;
    h ^= h >> 33;
    h *= H2;
    h ^= h >> 29;
    h *= H3;
    h ^= h >> 32;
    return h;
}

int dist_hash_tensors(ts_tensor *const *ts, int n, uint64_t *out) {
    if (n < 0 || (n > 0 && (!ts || !out)))
        return err_set("dist_hash_tensors: %d tensors at %p", n, (const void *)ts);
    for (int i = 0; i < n; i++) {
        if (!ts[i]) return err_set("dist_hash_tensors: tensor %d of %d is NULL", i, n);
        int64_t head[1 + 1 + TS_MAX_DIMS] = {(int64_t)ts_get_dtype(ts[i]), ts_ndim(ts[i])};
        ts_shape(ts[i], head + 2);
        uint64_t h = hash_bytes(0, (const unsigned char *)head, sizeof head);
        ts_scope_begin();
        ts_tensor *host = ts[i];
        if (ts_get_device(host).type != TS_CPU || !ts_is_contiguous(host))
            host = ts_contiguous(ts_to_device(host, TS_CPU_DEVICE));
        size_t nbytes = (size_t)ts_numel(ts[i]) * ts_dtype_size(ts_get_dtype(ts[i]));
        const void *p = host ? ts_data_ptr(host) : NULL;
        if (nbytes && !p) {
            ts_scope_end();
            return err_prefix("dist_hash_tensors: tensor %d", i);
        }
        out[i] = hash_bytes(h, p, nbytes);
        ts_scope_end();
    }
    return 0;
}

int dist_check_replicas(dist *d, ts_tensor *const *ts, const char *const *names, int n) {
    if (!d) return err_set("dist_check_replicas: the communicator is NULL");
    uint64_t *mine = mem_alloc(sizeof(uint64_t) * (size_t)(n > 0 ? n : 0));
    int64_t *counts = mem_alloc(sizeof(int64_t) * (size_t)d->world);
    uint64_t *all = NULL;
    int rc = dist_hash_tensors(ts, n, mine);
    int64_t n64 = n;
    /* every rank joins the gathers even when its own hashing failed, so none is left waiting */
    if (d->comm != MPI_COMM_NULL) {
        int ok = rc == 0;
        if (mpi_agree(d, ok, "hash its tensors") < 0) rc = -1;
        if (rc == 0 && dist_allgather(d, &n64, sizeof n64, counts) < 0) rc = -1;
        for (int r = 0; rc == 0 && r < d->world; r++)
            if (counts[r] != n64)
                rc = err_set("dist: replica check: rank %d has %lld tensors, rank %d has %d", r,
                             (long long)counts[r], d->rank, n);
        if (rc == 0) all = mem_alloc(sizeof(uint64_t) * (size_t)n * (size_t)d->world);
        if (rc == 0 && dist_allgather(d, mine, sizeof(uint64_t) * (size_t)n, all) < 0) rc = -1;
        for (int i = 0; rc == 0 && i < n; i++)
            for (int r = 1; rc == 0 && r < d->world; r++) {
                uint64_t h0 = all[i], hr = all[(size_t)r * (size_t)n + (size_t)i];
                if (h0 != hr)
                    rc = err_set("dist: replicas differ: tensor %d%s%s%s of %d hashes to %016llx "
                                 "on rank 0 but %016llx on rank %d; the weights diverged (a "
                                 "missed all-reduce, a rank that skipped a step, or a "
                                 "nondeterministic update)",
                                 i, names ? " (" : "", names && names[i] ? names[i] : "",
                                 names ? ")" : "", n, (unsigned long long)h0,
                                 (unsigned long long)hr, r);
            }
    }
    free(all);
    free(counts);
    free(mine);
    return rc;
}
