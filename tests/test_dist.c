/* test_dist — the distributed layer. Without arguments: the single-process communicator of a
 * plain launch (no MPI touched), config keys, argument errors, the replica hash (pinned value,
 * sensitivity to every bit, shape and dtype) and the NCCL loader's messages. With
 * `worker MODE [key=value...]` it is one rank of an mpirun job driven by tests/test_dist.sh:
 *   collectives         exact sums, means, max/min, broadcasts, gathers across bucket edges
 *   mismatch            the replica check names the diverged tensor and the rank
 *   digest              a few data-parallel SGD steps on a global batch split over the ranks;
 *                       prints the weights' hash and values (compared across runs and world sizes)
 *   kill                rank 1 kills itself with SIGKILL after a barrier; rank 0 keeps reducing
 *   hang                rank 1 sleeps instead of reducing; rank 0's watchdog must fire
 *   init-error FRAGMENT dist_init must fail on every rank with a message containing FRAGMENT
 * Each worker rank prints its own "N passed, N failed" and exits non-zero on a failure. */
#include "check.h"

#include "common/cfg.h"
#include "common/err.h"
#include "dist/dist.h"

#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* The values of t as doubles (any device, any dtype); n must be its numel. */
static int values(const ts_tensor *t, double *out, int64_t n) {
    ts_scope_begin();
    ts_tensor *h = ts_to_dtype(ts_to_device(t, TS_CPU_DEVICE), TS_F64);
    int rc = h && ts_numel(h) == n ? ts_to_host(h, out, sizeof(double) * (size_t)n) : -1;
    ts_scope_end();
    return rc;
}

/* A 1-D tensor of n elements v(i) of dtype dt on dev. */
static ts_tensor *filled(int64_t n, ts_dtype dt, ts_device dev, double (*v)(int64_t, void *),
                         void *ctx) {
    double *buf = malloc(sizeof(double) * (size_t)(n ? n : 1));
    for (int64_t i = 0; i < n; i++) buf[i] = v(i, ctx);
    ts_scope_begin();
    ts_tensor *t = ts_keep(ts_to_device(ts_to_dtype(ts_from_data(buf, &n, 1, TS_F64), dt), dev));
    ts_scope_end();
    free(buf);
    return t;
}

static int config(rlvr_config *c, int argc, char **argv) {
    if (cfg_init(c) < 0) return -1;
    for (int i = 0; i < argc; i++)
        if (cfg_set(c, argv[i]) < 0) return -1;
    return 0;
}

/* ================= single process ================= */

static void test_plain_launch(void) {
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_SIZE",
                                       "MV2_COMM_WORLD_SIZE"};
    for (int i = 0; i < LEN(vars); i++) unsetenv(vars[i]);
    rlvr_config c;
    CHECK(config(&c, 0, NULL) == 0);
    dist *d = dist_init(&c.dist);
    CHECK(d != NULL);
    CHECK(dist_rank(d) == 0 && dist_world(d) == 1 && dist_local_rank(d) == 0);
    CHECK(dist_get_backend(d) == DIST_SINGLE);
    CHECK_STR(dist_backend_name(dist_get_backend(d)), "single");
    CHECK(dist_device(d).type == TS_CPU);
    int inited = 1;
    MPI_Initialized(&inited);
    CHECK(inited == 0); /* a plain launch never starts MPI */

    /* with one rank every collective leaves the values as they are */
    int64_t s3 = 3;
    ts_tensor *a = ts_from_data((float[]){1.5f, -2, 3}, &s3, 1, TS_F32);
    ts_tensor *b = ts_from_data((double[]){4, 5, 6}, &s3, 1, TS_F64);
    ts_tensor *list[] = {a, b};
    double got[3];
    CHECK(dist_allreduce_tensors(d, list, 2, DIST_SUM) == 0);
    CHECK(dist_allreduce_tensors(d, list, 2, DIST_MEAN) == 0);
    CHECK(values(a, got, 3) == 0 && got[0] == 1.5 && got[1] == -2 && got[2] == 3);
    CHECK(dist_broadcast_tensors(d, list, 2, 0) == 0);
    CHECK(values(b, got, 3) == 0 && got[0] == 4 && got[2] == 6);
    double m[3] = {0.25, -1, 7};
    CHECK(dist_allreduce_f64(d, m, 3, DIST_MEAN) == 0 && m[0] == 0.25 && m[2] == 7);
    CHECK(dist_allreduce_f64(d, m, 3, DIST_MAX) == 0 && m[1] == -1);
    int send[2] = {7, 8}, recv[2] = {0, 0};
    CHECK(dist_allgather(d, send, sizeof send, recv) == 0 && recv[0] == 7 && recv[1] == 8);
    char msg[8] = "abc";
    CHECK(dist_broadcast(d, msg, sizeof msg, 0) == 0);
    CHECK_STR(msg, "abc");
    CHECK(dist_barrier(d) == 0);
    CHECK(dist_check_replicas(d, list, NULL, 2) == 0);

    /* bad arguments: one clear error each, nothing touched */
    ts_tensor *with_null[] = {a, NULL};
    CHECK(dist_allreduce_tensors(d, with_null, 2, DIST_SUM) == -1);
    CHECK_CONTAINS(err_msg(), "dist_allreduce_tensors: tensor 1 of 2 is NULL");
    int64_t s23[] = {2, 3};
    ts_tensor *mat = ts_zeros(s23, 2, TS_F32, TS_CPU_DEVICE);
    ts_tensor *tr = ts_transpose(mat, 0, 1);
    CHECK(dist_allreduce_tensors(d, &tr, 1, DIST_SUM) == -1);
    CHECK_CONTAINS(err_msg(), "tensor 0 (3, 2) f32 cpu is not contiguous");
    CHECK(dist_allreduce_tensors(d, list, 2, DIST_MAX) == -1);
    CHECK_CONTAINS(err_msg(), "reduced with DIST_SUM or DIST_MEAN");
    CHECK(dist_broadcast_tensors(d, list, 2, 1) == -1);
    CHECK_CONTAINS(err_msg(), "root 1 is not a rank of 1");
    CHECK(dist_allreduce_tensors(NULL, list, 2, DIST_SUM) == -1);
    CHECK_CONTAINS(err_msg(), "the communicator is NULL");
    CHECK(dist_allreduce_f64(d, NULL, 3, DIST_SUM) == -1);
    CHECK(dist_broadcast(d, msg, sizeof msg, 2) == -1);
    CHECK(dist_check_replicas(d, with_null, NULL, 2) == -1);
    CHECK_CONTAINS(err_msg(), "tensor 1 of 2 is NULL");

    /* the replica check is due at step 0 and every check_every steps */
    CHECK(dist_check_due(d, 0) && dist_check_due(d, 200) && !dist_check_due(d, 150));
    ts_free(a);
    ts_free(b);
    ts_free(tr);
    ts_free(mat);
    dist_free(d);
    dist_free(NULL);
    cfg_free(&c);

    CHECK(config(&c, 1, (char *[]){"dist.check_every=0"}) == 0);
    d = dist_init(&c.dist);
    CHECK(d && !dist_check_due(d, 0) && !dist_check_due(d, 100));
    dist_free(d);
    cfg_free(&c);
}

static void test_config(void) {
    rlvr_config c;
    CHECK(cfg_init(&c) == 0);
    CHECK(c.dist.backend == 0 && c.dist.bucket_mb == 25 && c.dist.timeout_s == 1800);
    CHECK(c.dist.check_every == 100);
    CHECK_STR(c.dist.nccl_lib, "libnccl.so.2");
    CHECK_STR(cfg_enum_name(&c, "dist.backend"), "auto");
    CHECK(cfg_set(&c, "dist.backend=nccl") == 0 && c.dist.backend == 2);
    CHECK(cfg_set(&c, "dist.backend=gloo") == -1);
    CHECK_CONTAINS(err_msg(), "dist.backend");
    CHECK(cfg_set(&c, "dist.bucket_mb=0") == -1);
    CHECK(cfg_set(&c, "dist.bucket_mb=2048") == -1);
    CHECK(cfg_set(&c, "dist.timeout_s=-1") == -1);
    CHECK(cfg_set(&c, "dist.check_every=-5") == -1);
    /* a bucket smaller than one f64 element is refused by dist_init */
    CHECK(cfg_set(&c, "dist.bucket_mb=1e-7") == 0);
    CHECK(dist_init(&c.dist) == NULL);
    CHECK_CONTAINS(err_msg(), "dist.bucket_mb = 1e-07: a bucket must hold 8 bytes to 1024 MiB");
    CHECK(dist_init(NULL) == NULL);
    cfg_free(&c);
}

static double ramp(int64_t i, void *ctx) { return (double)i * 0.25 - *(double *)ctx; }

static void test_hash(void) {
    double off = 1.0;
    ts_tensor *t = filled(10, TS_F32, TS_CPU_DEVICE, ramp, &off);
    uint64_t h[4];
    CHECK(dist_hash_tensors(&t, 1, h) == 0 && dist_hash_tensors(&t, 1, h + 1) == 0);
    CHECK(h[0] == h[1]);
    /* pinned: the hash is part of no file, but a change of the function should be deliberate */
    printf("hash of (-1, -0.75, ..., 1.25) f32: %016llx\n", (unsigned long long)h[0]);
    CHECK(h[0] == 0x94f4e7751fe96b48ULL);

    /* the same bytes under another shape or dtype hash differently */
    int64_t s25[] = {2, 5};
    ts_tensor *t25 = ts_reshape(t, s25, 2);
    ts_tensor *as_i32 = ts_from_data(ts_data_ptr(t), (int64_t[]){10}, 1, TS_I32);
    ts_tensor *set1[] = {t25, as_i32};
    CHECK(dist_hash_tensors(set1, 2, h + 1) == 0 && h[1] != h[0] && h[2] != h[0] && h[1] != h[2]);

    /* a non-contiguous view hashes as its row-major copy */
    ts_tensor *tt = ts_transpose(t25, 0, 1);
    ts_tensor *ttc = ts_contiguous(tt);
    ts_tensor *set2[] = {tt, ttc};
    CHECK(dist_hash_tensors(set2, 2, h) == 0 && h[0] == h[1]);

    /* every single-bit flip of a 72-byte buffer (two stripes and a tail) changes the hash, and
     * every prefix length gives a different hash */
    unsigned char bytes[72];
    for (int i = 0; i < LEN(bytes); i++) bytes[i] = (unsigned char)(i * 37 + 11);
    int64_t n72 = 72;
    ts_tensor *u = ts_from_data(bytes, &n72, 1, TS_U8);
    uint64_t base;
    CHECK(dist_hash_tensors(&u, 1, &base) == 0);
    unsigned char *raw = ts_data_ptr(u);
    int same = 0;
    for (int bit = 0; bit < 72 * 8; bit++) {
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
        uint64_t hb;
        same += dist_hash_tensors(&u, 1, &hb) != 0 || hb == base;
        raw[bit / 8] ^= (unsigned char)(1u << (bit % 8));
    }
    CHECK(same == 0);
    uint64_t prefix[73];
    for (int64_t len = 0; len <= 72; len++) {
        ts_tensor *p = ts_narrow(u, 0, 0, len);
        CHECK(dist_hash_tensors(&p, 1, &prefix[len]) == 0);
        ts_free(p);
    }
    int dup = 0;
    for (int i = 0; i <= 72; i++)
        for (int j = 0; j < i; j++) dup += prefix[i] == prefix[j];
    CHECK(dup == 0);

    ts_tensor *bad[] = {t, NULL};
    CHECK(dist_hash_tensors(bad, 2, h) == -1);
    CHECK_CONTAINS(err_msg(), "tensor 1 of 2 is NULL");
    ts_free(t);
    ts_free(t25);
    ts_free(as_i32);
    ts_free(tt);
    ts_free(ttc);
    ts_free(u);
}

/* The NCCL loader: a missing file, a library that is not NCCL, and the real one when installed
 * (this machine's CUDA toolkit ships one; loading needs no GPU). */
static void test_nccl_loader(void) {
    int v = 0;
    CHECK(dist_nccl_version("/nonexistent/libnccl.so.2", &v) == -1);
    CHECK_CONTAINS(err_msg(), "cannot load the NCCL library '/nonexistent/libnccl.so.2' (dist.nccl_lib)");
    CHECK(dist_nccl_version("libm.so.6", &v) == -1);
    CHECK_CONTAINS(err_msg(), "'libm.so.6' has no function ncclGetVersion: not an NCCL >= 2.10 library?");
    CHECK(dist_nccl_version("", &v) == -1);
    CHECK_CONTAINS(err_msg(), "dist.nccl_lib is empty");
    const char *lib = getenv("RLVR_NCCL_LIB");
    if (!lib && access("/usr/local/cuda-13.0/lib/libnccl.so.2", R_OK) == 0)
        lib = "/usr/local/cuda-13.0/lib/libnccl.so.2";
    if (!lib) {
        printf("test_nccl_loader: no NCCL library here (set RLVR_NCCL_LIB); loading not tested\n");
        return;
    }
    CHECK(dist_nccl_version(lib, &v) == 0);
    CHECK(v >= 21000);
    printf("test_nccl_loader: %s is NCCL %d.%d.%d\n", lib, v / 10000, v / 100 % 100, v % 100);
}

/* ================= MPI worker ================= */

static dist *worker_dist(rlvr_config *c, int argc, char **argv) {
    if (config(c, argc, argv) < 0) dist_abort(NULL, 1, err_msg());
    dist *d = dist_init(&c->dist);
    if (!d) dist_abort(NULL, 1, err_msg());
    return d;
}

typedef struct { int rank, tensor; } seed_ctx;

/* Rank r's value of element j of tensor i: small integers, so every sum and mean is exact. */
static double contribution(int64_t j, void *ctx) {
    seed_ctx *s = ctx;
    return (double)((s->rank + 1) * (j + 1) + s->tensor);
}

/* Sums, means, max/min and broadcasts against their exact values, with buckets smaller than
 * most tensors (dist.bucket_mb is set small by the caller), mixed dtypes and an empty tensor.
 * Longer than 80 lines on purpose: every rank runs the same sequence of collectives, and the
 * sequence is easiest to check against the other ranks' when it reads as one list. */
static void worker_collectives(dist *d) {
    int W = dist_world(d), R = dist_rank(d);
    ts_device dev = dist_device(d);
    static const int64_t sizes[] = {1, 7, 0, 30, 100, 3};
    static const ts_dtype types[] = {TS_F32, TS_F32, TS_F32, TS_F64, TS_F64, TS_F32};
    enum { N = 6 };
    ts_tensor *ts[N];
    for (int i = 0; i < N; i++) {
        seed_ctx s = {R, i};
        ts[i] = filled(sizes[i], types[i], dev, contribution, &s);
    }
    double got[100];
    for (int pass = 0; pass < 2; pass++) {
        dist_op op = pass ? DIST_MEAN : DIST_SUM;
        if (dist_allreduce_tensors(d, ts, N, op) < 0) dist_abort(d, 1, err_msg());
        int wrong = 0;
        for (int i = 0; i < N; i++) {
            CHECK(values(ts[i], got, sizes[i]) == 0);
            for (int64_t j = 0; j < sizes[i]; j++) {
                double sum = (double)(j + 1) * W * (W + 1) / 2 + (double)W * i;
                /* the second pass reduces the sums: mean of W equal sums is the sum */
                wrong += got[j] != sum;
            }
        }
        CHECK(wrong == 0);
    }

    /* broadcast from rank 0 and from the last rank; any dtype travels */
    seed_ctx s0 = {R == 0 ? 0 : R + 5, 0}; /* rank 0 holds j + 1, exact in bf16 too */
    ts_tensor *b[] = {filled(40, TS_F32, dev, contribution, &s0), filled(5, TS_I64, dev, contribution, &s0),
                      filled(9, TS_BF16, dev, contribution, &s0)};
    if (dist_broadcast_tensors(d, b, 3, 0) < 0) dist_abort(d, 1, err_msg());
    int wrong = 0;
    for (int i = 0; i < 3; i++) {
        int64_t n = ts_numel(b[i]);
        CHECK(values(b[i], got, n) == 0);
        for (int64_t j = 0; j < n; j++) wrong += got[j] != (double)(j + 1);
    }
    CHECK(wrong == 0);
    seed_ctx sl = {R, 0};
    ts_tensor *last = filled(33, TS_F32, dev, contribution, &sl);
    if (dist_broadcast_tensors(d, &last, 1, W - 1) < 0) dist_abort(d, 1, err_msg());
    CHECK(values(last, got, 33) == 0 && got[0] == W && got[32] == 33.0 * W);

    /* host metrics: rank r contributes r + 0.5 */
    double m[4];
    for (int k = 0; k < 4; k++) m[k] = R + 0.5;
    if (dist_allreduce_f64(d, m, 1, DIST_SUM) < 0 || dist_allreduce_f64(d, m + 1, 1, DIST_MEAN) < 0 ||
        dist_allreduce_f64(d, m + 2, 1, DIST_MAX) < 0 || dist_allreduce_f64(d, m + 3, 1, DIST_MIN) < 0)
        dist_abort(d, 1, err_msg());
    CHECK(m[0] == W * W / 2.0 && m[1] == W / 2.0 && m[2] == W - 0.5 && m[3] == 0.5);
    /* a long f32 host array crosses many windows of the small bucket */
    enum { F = 1000 };
    float *f = malloc(sizeof(float) * F);
    for (int i = 0; i < F; i++) f[i] = (float)(i * (R + 1));
    if (dist_allreduce_f32(d, f, F, DIST_SUM) < 0) dist_abort(d, 1, err_msg());
    wrong = 0;
    for (int i = 0; i < F; i++) wrong += f[i] != (float)i * (float)(W * (W + 1) / 2);
    CHECK(wrong == 0);
    free(f);

    /* gathers and byte broadcasts */
    int mine[2] = {R, 10 * R}, *all = malloc(sizeof(int) * 2 * (size_t)W);
    if (dist_allgather(d, mine, sizeof mine, all) < 0) dist_abort(d, 1, err_msg());
    wrong = 0;
    for (int r = 0; r < W; r++) wrong += all[2 * r] != r || all[2 * r + 1] != 10 * r;
    CHECK(wrong == 0);
    free(all);
    char word[16] = "other";
    if (R == 0) snprintf(word, sizeof word, "from rank 0");
    if (dist_broadcast(d, word, sizeof word, 0) < 0 || dist_barrier(d) < 0) dist_abort(d, 1, err_msg());
    CHECK_STR(word, "from rank 0");

    /* identical replicas pass the check; an i64 gradient is refused before any communication */
    CHECK(dist_check_replicas(d, ts, NULL, N) == 0);
    if (dist_get_backend(d) == DIST_MPI) {
        CHECK(dist_allreduce_tensors(d, b + 1, 1, DIST_SUM) == -1);
        CHECK_CONTAINS(err_msg(), "the mpi backend adds f32 and f64 tensors only");
    }
    for (int i = 0; i < N; i++) ts_free(ts[i]);
    for (int i = 0; i < 3; i++) ts_free(b[i]);
    ts_free(last);
}

static double one_third(int64_t j, void *ctx) {
    (void)ctx;
    return (double)(j + 1) / 3.0;
}

/* Rank 1 perturbs one tensor by one ulp; then passes one tensor fewer. */
static void worker_mismatch(dist *d) {
    int zero = 0;
    ts_tensor *ts[4];
    for (int i = 0; i < 4; i++) ts[i] = filled(8 + i, TS_F32, dist_device(d), one_third, &zero);
    const char *names[] = {"embed", "layer0.w", "layer0.b", "head"};
    CHECK(dist_check_replicas(d, ts, names, 4) == 0);
    if (dist_rank(d) == 1) {
        ts_tensor *bumped = ts_add_scalar(ts[2], 1e-7); /* a few ulps of 1/3 in f32 */
        ts_copy_(ts[2], bumped);
        ts_free(bumped);
    }
    CHECK(dist_check_replicas(d, ts, names, 4) == -1);
    CHECK_CONTAINS(err_msg(), "dist: replicas differ: tensor 2 (layer0.b) of 4 hashes to");
    CHECK_CONTAINS(err_msg(), "on rank 1");
    CHECK(dist_check_replicas(d, ts, NULL, dist_rank(d) == 1 ? 3 : 4) == -1);
    CHECK_CONTAINS(err_msg(), "tensors");
    CHECK_CONTAINS(err_msg(), "rank 1 has 3");
    /* a rank that cannot hash fails with its own message, the others name it */
    ts_tensor *holed[] = {ts[0], dist_rank(d) == 1 ? NULL : ts[1]};
    CHECK(dist_check_replicas(d, holed, NULL, 2) == -1);
    CHECK_CONTAINS(err_msg(), dist_rank(d) == 1 ? "tensor 1 of 2 is NULL"
                                                : "rank 1 of 2 failed to hash its tensors (see its message)");
    for (int i = 0; i < 4; i++) ts_free(ts[i]);
}

/* Data-parallel SGD on a global batch of S samples split evenly over the ranks. Sample s pulls
 * the weights w with gradient sin(w * c_s) * g_s; each rank sums its shard's gradients, the
 * all-reduce sums the shards and every rank divides by S. Rank 0 prints the weights' hash and
 * a few values: equal bits across runs, equal values within rounding across world sizes. */
static void worker_digest(dist *d) {
    enum { S = 12, STEPS = 5, NT = 3 };
    int W = dist_world(d), R = dist_rank(d);
    if (S % W) dist_abort(d, 1, "the global batch of 12 samples does not split evenly");
    static const int64_t sizes[NT] = {37, 64, 5};
    ts_tensor *w[NT], *g[NT];
    for (int i = 0; i < NT; i++) {
        int seed = i;
        w[i] = filled(sizes[i], TS_F32, dist_device(d), one_third, &seed);
        ts_mul_scalar_(w[i], 1.0 + 0.1 * i);
    }
    if (dist_broadcast_tensors(d, w, NT, 0) < 0) dist_abort(d, 1, err_msg());
    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < NT; i++) g[i] = ts_zeros_like(w[i]);
        for (int s = R * (S / W); s < (R + 1) * (S / W); s++)
            for (int i = 0; i < NT; i++) {
                ts_scope_begin();
                ts_tensor *gs = ts_mul_scalar(ts_sin(ts_mul_scalar(w[i], 0.7 + 0.13 * s)), 1.0 / (s + 3));
                if (!gs || ts_add_(g[i], gs, 1.0) < 0) dist_abort(d, 1, err_msg());
                ts_scope_end();
            }
        if (dist_allreduce_tensors(d, g, NT, DIST_SUM) < 0) dist_abort(d, 1, err_msg());
        for (int i = 0; i < NT; i++) {
            ts_add_(w[i], g[i], -0.5 / S);
            ts_free(g[i]);
        }
        if (dist_check_replicas(d, w, NULL, NT) < 0) dist_abort(d, 1, err_msg());
    }
    uint64_t h[NT], digest = 0;
    CHECK(dist_hash_tensors(w, NT, h) == 0);
    for (int i = 0; i < NT; i++) digest = digest * 1000003u ^ h[i];
    double v[64];
    CHECK(values(w[1], v, 64) == 0);
    if (R == 0) {
        printf("digest %016llx\n", (unsigned long long)digest);
        for (int j = 0; j < 64; j += 9) printf("value %d %.9e\n", j, v[j]);
    }
    for (int i = 0; i < NT; i++) ts_free(w[i]);
}

/* After a barrier rank 1 dies; rank 0 reduces until the launcher or the watchdog ends it. */
static void worker_kill(dist *d) {
    if (dist_barrier(d) < 0) dist_abort(d, 1, err_msg());
    if (dist_rank(d) == 1) raise(SIGKILL);
    int64_t n = 1000;
    ts_tensor *t = ts_ones(&n, 1, TS_F32, TS_CPU_DEVICE);
    for (;;)
        if (dist_allreduce_tensors(d, &t, 1, DIST_SUM) < 0) dist_abort(d, 1, err_msg());
}

/* After a barrier rank 1 sleeps instead of reducing: rank 0's collective must time out. */
static void worker_hang(dist *d) {
    if (dist_barrier(d) < 0) dist_abort(d, 1, err_msg());
    if (dist_rank(d) == 1) {
        sleep(60);
        return;
    }
    int64_t n = 1000;
    ts_tensor *t = ts_ones(&n, 1, TS_F32, TS_CPU_DEVICE);
    if (dist_allreduce_tensors(d, &t, 1, DIST_SUM) < 0) dist_abort(d, 1, err_msg());
    ts_free(t);
}

static int worker(int argc, char **argv) {
    if (argc < 1) {
        fprintf(stderr, "usage: test_dist worker MODE [key=value...]\n");
        return 2;
    }
    const char *mode = argv[0];
    rlvr_config c;
    if (strcmp(mode, "init-error") == 0) {
        if (argc < 2 || config(&c, argc - 2, argv + 2) < 0) {
            fprintf(stderr, "test_dist worker init-error FRAGMENT [key=value...]: %s\n", err_msg());
            return 2;
        }
        dist *d = dist_init(&c.dist);
        CHECK(d == NULL);
        CHECK_CONTAINS(err_msg(), argv[1]);
        printf("dist_init failed as expected: %s\n", err_msg());
        dist_free(d);
        cfg_free(&c);
        CHECK_DONE();
    }
    dist *d = worker_dist(&c, argc - 1, argv + 1);
    if (strcmp(mode, "collectives") == 0) worker_collectives(d);
    else if (strcmp(mode, "mismatch") == 0) worker_mismatch(d);
    else if (strcmp(mode, "digest") == 0) worker_digest(d);
    else if (strcmp(mode, "kill") == 0) worker_kill(d);
    else if (strcmp(mode, "hang") == 0) worker_hang(d);
    else dist_abort(d, 2, "unknown worker mode");
    dist_free(d);
    cfg_free(&c);
    CHECK_DONE();
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "worker") == 0) return worker(argc - 2, argv + 2);
    test_config();
    test_plain_launch();
    test_hash();
    test_nccl_loader();
    CHECK(ts_live_handles() == 0);
    CHECK_DONE();
}
