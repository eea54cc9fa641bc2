/* fuzz_ckpt_read — what the checkpoint fuzzers do with a file once it exists: open it through
 * trainer/ckpt.h (the only reading entry point) and ask for every kind of item at every path the
 * builder can use, into tensors of every dtype. A refusal must say why, and when the reader is
 * closed HDF5 must hold no open object (a leaked handle would keep the file open for good). Not a
 * module: included by fuzz/fuzz_ckpt*.c only. */
#ifndef RLVR_FUZZ_CKPT_READ_H
#define RLVR_FUZZ_CKPT_READ_H

#include "common/err.h"
#include "tensor/ts.h"
#include "trainer/ckpt.h"

#include <hdf5.h>
#include <sanitizer/lsan_interface.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* Item paths the structured fuzzer writes at and the reader asks for. */
static const char *const fuzz_ckpt_paths[] = {"model/w", "model/b", "model/sub/x", "optim/step", "optim/lr",
                                              "rng", "config", "cursor", "data_checksums", "model"};
#define FUZZ_CKPT_NPATHS ((int)(sizeof fuzz_ckpt_paths / sizeof fuzz_ckpt_paths[0]))
/* Dataset names that checksums are asked for. */
static const char *const fuzz_ckpt_datasets[] = {"x", "builtin:addition/train", "y"};
#define FUZZ_CKPT_NDATASETS 3
#define FUZZ_CKPT_NDST 9

/* At exit: HDF5 keeps process-wide caches, so nearly every input would trigger libFuzzer's
 * per-input leak scan (25x slower); the checkpoint targets run with it off (-detect_leaks=0, which
 * also stops LeakSanitizer's own check at exit), and this checks the whole run once instead. */
static void fuzz_ckpt_leak_check(void) {
    if (__lsan_do_recoverable_leak_check()) {
        fprintf(stderr, "fuzz_ckpt: memory leaked during the run (see above)\n");
        _exit(1);
    }
}

/* Once per process: HDF5 prints no errors (ckpt.c reports them); the leak check at exit. */
static inline void fuzz_ckpt_init(void) {
    static int done;
    if (done) return;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    atexit(fuzz_ckpt_leak_check);
    done = 1;
}

/* Call after a refusal: a refusal without a message is a defect. */
static inline void fuzz_ckpt_must_say_why(int failed) {
    if (failed && !err_msg()[0]) abort();
    err_clear();
}

/* The tensors items are read into, made once: one per dtype, small shapes (one empty). */
static inline ts_tensor **fuzz_ckpt_dst(void) {
    static ts_tensor *dst[FUZZ_CKPT_NDST];
    if (!dst[0]) {
        static const int64_t two[] = {2}, one_two[] = {1, 2}, three[] = {3}, none[] = {0};
        const struct { ts_dtype dt; const int64_t *shape; int nd; } spec[FUZZ_CKPT_NDST] = {
            {TS_F32, two, 1}, {TS_F64, two, 1}, {TS_F16, two, 1}, {TS_BF16, two, 1}, {TS_I64, two, 0},
            {TS_I32, one_two, 2}, {TS_U8, three, 1}, {TS_BOOL, two, 1}, {TS_F32, none, 1},
        };
        for (int i = 0; i < FUZZ_CKPT_NDST; i++)
            if (!(dst[i] = ts_zeros(spec[i].shape, spec[i].nd, spec[i].dt, TS_CPU_DEVICE))) abort();
    }
    return dst;
}

/* Open path as a checkpoint (with the architecture "arch" when check_arch) and read everything. */
static inline void fuzz_ckpt_read(const char *path, int check_arch) {
    ts_tensor **dst = fuzz_ckpt_dst();
    err_clear();
    ckpt_reader *r = ckpt_open(path, check_arch ? "arch" : NULL);
    fuzz_ckpt_must_say_why(!r);
    if (r) {
        if (!ckpt_arch_hash(r) || !ckpt_config_hash(r)) abort();
        for (int i = 0; i < FUZZ_CKPT_NPATHS; i++) {
            const char *p = fuzz_ckpt_paths[i];
            int64_t v;
            double f;
            uint8_t *bytes;
            size_t n;
            ckpt_has(r, p);
            fuzz_ckpt_must_say_why(ckpt_get_i64(r, p, &v) != 0);
            fuzz_ckpt_must_say_why(ckpt_get_f64(r, p, &f) != 0);
            char *s = ckpt_get_string(r, p);
            fuzz_ckpt_must_say_why(!s);
            free(s);
            int failed = ckpt_get_bytes(r, p, &bytes, &n) != 0;
            fuzz_ckpt_must_say_why(failed);
            if (!failed && n && !bytes) abort();
            free(bytes);
            for (int k = 0; k < FUZZ_CKPT_NDST; k++) fuzz_ckpt_must_say_why(ckpt_get_tensor(r, p, dst[k]) != 0);
        }
        for (int i = 0; i < FUZZ_CKPT_NDATASETS; i++) {
            uint64_t sum;
            fuzz_ckpt_must_say_why(ckpt_get_checksum(r, fuzz_ckpt_datasets[i], &sum) != 0);
        }
        static const char *const names[] = {"w", "b"};
        ts_tensor *const pair[] = {dst[0], dst[1]};
        fuzz_ckpt_must_say_why(ckpt_load_tensors(r, "model", names, pair, 2) != 0);
        ckpt_close(r);
    }
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) abort();
}

#endif
