/* bench_dist — all-reduce throughput of gradient tensors on the CPU: dist_allreduce_tensors
 * (fixed-order reduction in flat buckets, packing included) against a plain in-place
 * MPI_Allreduce of the same bytes, side by side in one run. Run it under mpirun; bench/bench_dist.sh
 * runs 1 and 2 ranks and prints the two tables side by side.
 * Usage: mpirun -np N bench_dist [MiB...]   (default sizes 1 4 16 64; buckets of dist.bucket_mb)
 * Deliberately not here: NCCL (needs GPUs; see scripts/gpu_check.sh), step time of training. */
#include "common/cfg.h"
#include "common/err.h"
#include "common/log.h"
#include "dist/dist.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

/* Seconds per call of fn over enough calls to last ~1 s (at least 3), after one warm-up call;
 * every rank runs the same number of calls (rank 0's count is broadcast). */
typedef int (*bench_fn)(dist *d, void *arg);

static double timed(dist *d, bench_fn fn, void *arg) {
    if (fn(d, arg) < 0) dist_abort(d, 1, err_msg());
    dist_barrier(d);
    double t0 = log_now();
    if (fn(d, arg) < 0) dist_abort(d, 1, err_msg());
    double once = log_now() - t0;
    int reps = once > 0 ? (int)(1.0 / once) : 100;
    reps = reps < 3 ? 3 : reps > 200 ? 200 : reps;
    if (dist_broadcast(d, &reps, sizeof reps, 0) < 0 || dist_barrier(d) < 0) dist_abort(d, 1, err_msg());
    t0 = log_now();
    for (int i = 0; i < reps; i++)
        if (fn(d, arg) < 0) dist_abort(d, 1, err_msg());
    double per = (log_now() - t0) / reps;
    if (dist_allreduce_f64(d, &per, 1, DIST_MAX) < 0) dist_abort(d, 1, err_msg());
    return per;
}

static int run_dist(dist *d, void *arg) { return dist_allreduce_tensors(d, (ts_tensor **)arg, 1, DIST_SUM); }

static int run_mpi(dist *d, void *arg) {
    (void)d;
    ts_tensor *t = *(ts_tensor **)arg;
    int rc = MPI_Allreduce(MPI_IN_PLACE, ts_data_ptr(t), (int)ts_numel(t), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    return rc == MPI_SUCCESS ? 0 : err_set("MPI_Allreduce failed");
}

int main(int argc, char **argv) {
    rlvr_config c;
    if (cfg_init(&c) < 0 || cfg_set(&c, "dist.backend=mpi") < 0) dist_abort(NULL, 1, err_msg());
    log_set_level(LOG_WARN);
    dist *d = dist_init(&c.dist);
    if (!d) dist_abort(NULL, 1, err_msg());
    int default_sizes[] = {1, 4, 16, 64}, nsizes = argc > 1 ? argc - 1 : 4;
    if (dist_rank(d) == 0) {
        printf("all-reduce of one f32 tensor, %d rank(s), buckets of %g MiB\n", dist_world(d), c.dist.bucket_mb);
        printf("%8s  %12s %12s  %12s %12s  %6s\n", "MiB", "dist ms", "dist MiB/s", "MPI ms",
               "MPI MiB/s", "ratio");
    }
    for (int k = 0; k < nsizes; k++) {
        int mib = argc > 1 ? atoi(argv[k + 1]) : default_sizes[k];
        if (mib <= 0 || mib > 1024) dist_abort(d, 2, "sizes are whole MiB in 1..1024");
        int64_t n = (int64_t)mib * 1048576 / 4;
        ts_tensor *t = ts_full(&n, 1, 1.0 + dist_rank(d), TS_F32, TS_CPU_DEVICE);
        double td = timed(d, run_dist, &t), tm = timed(d, run_mpi, &t);
        if (dist_rank(d) == 0)
            printf("%8d  %12.3f %12.1f  %12.3f %12.1f  %6.2f\n", mib, td * 1e3, mib / td, tm * 1e3,
                   mib / tm, td / tm);
        ts_free(t);
    }
    dist_free(d);
    cfg_free(&c);
    return 0;
}
