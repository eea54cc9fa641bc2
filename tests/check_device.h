/* check_device — the device the tensor tests run on: RLVR_TEST_DEVICE names it (cpu, cuda or
 * cuda:N; cpu when unset or empty), so that on a GPU machine `RLVR_TEST_DEVICE=cuda ctest -R ...`
 * takes the same checks through CUDA. A value that names no device, or a CUDA device this build or
 * machine lacks, is one message and exit 2. Checks that are about the CPU itself (its fused
 * kernels, raw host pointers, the host-side generators) keep TS_CPU_DEVICE. */
#ifndef RLVR_CHECK_DEVICE_H
#define RLVR_CHECK_DEVICE_H

#include "common/err.h"
#include "tensor/ts.h"

#include <stdio.h>
#include <stdlib.h>

static ts_device check_device(void) {
    static int known;
    static ts_device dev;
    if (known) return dev;
    const char *s = getenv("RLVR_TEST_DEVICE");
    if (!s || !s[0]) s = "cpu";
    if (ts_device_parse(s, &dev)) {
        fprintf(stderr, "RLVR_TEST_DEVICE=%s: %s\n", s, err_msg());
        exit(2);
    }
    if (dev.type == TS_CUDA && dev.index >= ts_cuda_device_count()) {
        fprintf(stderr, "RLVR_TEST_DEVICE=%s: this process sees %d CUDA device(s) (libtorch %s, %s)\n", s,
                ts_cuda_device_count(), ts_version(), ts_cuda_available() ? "built with CUDA" : "no usable CUDA");
        exit(2);
    }
    if (dev.type != TS_CPU) fprintf(stderr, "tensors on %s (RLVR_TEST_DEVICE)\n", s);
    known = 1;
    return dev;
}

/* Host data as a tensor on the test device. */
static inline ts_tensor *check_from_host(const void *data, const int64_t *shape, int ndim, ts_dtype dt) {
    return ts_from_host(data, shape, ndim, dt, check_device());
}

#endif
