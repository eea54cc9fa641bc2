/* test_ckpt — checkpoints: every kind of item written and read back bit for bit, the h5py view
 * (tests/ckpt_check.py, which also recomputes every CRC-32), refusal of another architecture and
 * of wrong shapes or dtypes (with nothing loaded), format versions, damaged data (16 flipped bytes
 * in a weight, in an AdamW moment, in the data cursor; a rewritten string; a changed step) caught
 * on every read and by ckpt_verify, keep-last-N, temporary files, byte-identical files for equal
 * content, and a full disk during a write at several fill levels down to 0 bytes free (a real
 * small tmpfs when the test may mount one, else a real RLIMIT_FSIZE limit): the error is clear,
 * the previous checkpoint stays intact, and once space is freed the same write succeeds. */
#include "check.h"

#include "common/err.h"
#include "data/data.h"
#include "tensor/ts.h"
#include "trainer/ckpt.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static const ckpt_meta meta42 = {42, "arch-abc", "cfg-123"};

static ts_tensor *arange_f32(int64_t n, double scale, const int64_t *shape, int nd) {
    ts_tensor *a = ts_arange(0, (double)n, 1, TS_F32, TS_CPU_DEVICE);
    ts_tensor *s = ts_mul_scalar(a, scale);
    ts_tensor *r = ts_reshape(s, shape, nd);
    ts_free(a);
    ts_free(s);
    return r;
}

static ts_tensor *from_f32(const float *v, int64_t n, ts_dtype dt) {
    ts_tensor *a = ts_from_data(v, &n, 1, TS_F32);
    ts_tensor *b = ts_to_dtype(a, dt);
    ts_free(a);
    return b;
}

/* 1 if both tensors hold the same bytes. */
static int same_bytes(const ts_tensor *a, const ts_tensor *b) {
    size_t na = (size_t)ts_numel(a) * ts_dtype_size(ts_get_dtype(a));
    size_t nb = (size_t)ts_numel(b) * ts_dtype_size(ts_get_dtype(b));
    if (na != nb || ts_get_dtype(a) != ts_get_dtype(b)) return 0;
    char *x = malloc(na + 1), *y = malloc(nb + 1);
    int same = ts_to_host(a, x, na) == 0 && ts_to_host(b, y, nb) == 0 && memcmp(x, y, na) == 0;
    free(x);
    free(y);
    return same;
}

typedef struct fixture {
    ts_tensor *emb, *norm, *m, *v, *mask;
} fixture;

static void fixture_init(fixture *f) {
    const int64_t s43[2] = {4, 3};
    const float norm[3] = {1, 2, 3}, v[3] = {0.5f, 1, 2}, mask[3] = {1, 0, 1};
    f->emb = arange_f32(12, 1, s43, 2);
    f->norm = from_f32(norm, 3, TS_BF16);
    f->m = arange_f32(12, 0.5, s43, 2);
    f->v = from_f32(v, 3, TS_F16);
    f->mask = from_f32(mask, 3, TS_BOOL);
}

static void fixture_free(fixture *f) {
    ts_free(f->emb);
    ts_free(f->norm);
    ts_free(f->m);
    ts_free(f->v);
    ts_free(f->mask);
}

/* The checkpoint tests/ckpt_check.py expects, committed into dir. */
static int write_fixture(const char *dir, int keep_last, char *path, size_t cap) {
    fixture f;
    fixture_init(&f);
    data_sampler *s = data_sampler_init(10, 3, 1);
    uint8_t cursor[DATA_CURSOR_BYTES];
    data_sampler_next(s);
    data_sampler_save(s, cursor);
    data_sampler_free(s);
    ckpt_writer *w = ckpt_writer_open(dir, &meta42);
    int rc = !w || ckpt_put_tensor(w, "model/model.embed_tokens.weight", f.emb) ||
             ckpt_put_tensor(w, "model/model.norm.weight", f.norm) || ckpt_put_tensor(w, "model/mask", f.mask) ||
             ckpt_put_tensor(w, "optim/exp_avg/model.embed_tokens.weight", f.m) ||
             ckpt_put_tensor(w, "optim/exp_avg_sq/model.norm.weight", f.v) || ckpt_put_i64(w, "optim/step", 7) ||
             ckpt_put_f64(w, "train/lr", 0.25) || ckpt_put_bytes(w, "state/rng/sampler", "\x00\x01\x02\xff", 4) ||
             ckpt_put_bytes(w, "state/data_cursor", cursor, sizeof cursor) || ckpt_put_bytes(w, "state/empty", "", 0) ||
             ckpt_put_string(w, "config", "{\"run\": {\"seed\": 1}}") ||
             ckpt_put_checksum(w, "builtin:addition/train", 0x0123456789abcdefull) ||
             ckpt_writer_commit(w, keep_last, path, cap);
    ckpt_writer_free(w);
    fixture_free(&f);
    return rc ? -1 : 0;
}

/* A reader refuses an item of the wrong kind, a missing item, a wrong shape and a wrong dtype. */
static void check_refusals(ckpt_reader *r, const fixture *f) {
    int64_t i = 0;
    CHECK(ckpt_get_string(r, "optim/step") == NULL);
    CHECK_CONTAINS(err_msg(), "item 'optim/step' is not a string");
    CHECK(ckpt_get_i64(r, "optim/nothing", &i) == -1);
    CHECK_CONTAINS(err_msg(), "has no item 'optim/nothing'");
    const int64_t s34[2] = {3, 4};
    ts_tensor *wrong = ts_zeros(s34, 2, TS_F32, TS_CPU_DEVICE), *wrong_dt = ts_zeros_like(f->norm);
    ts_tensor *wrong_dt2 = ts_to_dtype(wrong_dt, TS_F32);
    CHECK(ckpt_get_tensor(r, "model/model.embed_tokens.weight", wrong) == -1);
    CHECK_CONTAINS(err_msg(), "tensor 'model/model.embed_tokens.weight' is f32 (4, 3), but the model's is f32 (3, 4)");
    CHECK(ckpt_get_tensor(r, "model/model.norm.weight", wrong_dt2) == -1);
    CHECK_CONTAINS(err_msg(), "is bf16 (3), but the model's is f32 (3)");
    ts_free(wrong);
    ts_free(wrong_dt);
    ts_free(wrong_dt2);
}

/* ckpt_load_tensors checks everything before it copies anything. */
static void check_load_tensors(ckpt_reader *r, const fixture *f) {
    const char *names[3] = {"model.embed_tokens.weight", "model.norm.weight", "mask"};
    ts_tensor *z[3] = {ts_zeros_like(f->emb), ts_zeros_like(f->norm), ts_zeros_like(f->mask)};
    ts_tensor *zero_emb = ts_zeros_like(f->emb);
    CHECK(ckpt_load_tensors(r, "model", names, z, 2) == -1); /* "mask" is in the file, not in the list */
    CHECK_CONTAINS(err_msg(), "has tensor 'model/mask', which the model does not have");
    CHECK(same_bytes(z[0], zero_emb));
    const char *missing[3] = {"model.embed_tokens.weight", "model.norm.weight", "lm_head.weight"};
    CHECK(ckpt_load_tensors(r, "model", missing, z, 3) == -1);
    CHECK_CONTAINS(err_msg(), "has no item 'model/lm_head.weight'");
    CHECK(same_bytes(z[0], zero_emb));
    CHECK(ckpt_load_tensors(r, "model", names, z, 3) == 0);
    CHECK(same_bytes(z[0], f->emb) && same_bytes(z[1], f->norm) && same_bytes(z[2], f->mask));
    for (int k = 0; k < 3; k++) ts_free(z[k]);
    ts_free(zero_emb);
}

static void test_round_trip_bit_for_bit(const char *dir) {
    char path[512];
    CHECK(write_fixture(dir, 0, path, sizeof path) == 0);
    char want[512];
    snprintf(want, sizeof want, "%s/ckpt-00000042.h5", dir);
    CHECK_STR(path, want);
    ckpt_reader *r = ckpt_open(path, "arch-abc");
    CHECK(r != NULL);
    if (!r) return;
    CHECK(ckpt_step(r) == 42);
    CHECK_STR(ckpt_arch_hash(r), "arch-abc");
    CHECK_STR(ckpt_config_hash(r), "cfg-123");
    fixture f;
    fixture_init(&f);
    ts_tensor *emb = ts_zeros_like(f.emb), *norm = ts_zeros_like(f.norm), *m = ts_zeros_like(f.m),
              *v = ts_zeros_like(f.v), *mask = ts_zeros_like(f.mask);
    CHECK(ckpt_get_tensor(r, "model/model.embed_tokens.weight", emb) == 0 && same_bytes(emb, f.emb));
    CHECK(ckpt_get_tensor(r, "model/model.norm.weight", norm) == 0 && same_bytes(norm, f.norm));
    CHECK(ckpt_get_tensor(r, "optim/exp_avg/model.embed_tokens.weight", m) == 0 && same_bytes(m, f.m));
    CHECK(ckpt_get_tensor(r, "optim/exp_avg_sq/model.norm.weight", v) == 0 && same_bytes(v, f.v));
    CHECK(ckpt_get_tensor(r, "model/mask", mask) == 0 && same_bytes(mask, f.mask));
    int64_t i = 0;
    double x = 0;
    CHECK(ckpt_get_i64(r, "optim/step", &i) == 0 && i == 7);
    CHECK(ckpt_get_f64(r, "train/lr", &x) == 0 && x == 0.25);
    uint8_t *bytes = NULL;
    size_t n = 0;
    CHECK(ckpt_get_bytes(r, "state/rng/sampler", &bytes, &n) == 0 && n == 4 && memcmp(bytes, "\x00\x01\x02\xff", 4) == 0);
    free(bytes);
    CHECK(ckpt_get_bytes(r, "state/empty", &bytes, &n) == 0 && n == 0);
    free(bytes);
    /* the saved cursor resumes a sampler */
    CHECK(ckpt_get_bytes(r, "state/data_cursor", &bytes, &n) == 0);
    data_sampler *s = data_sampler_init(10, 3, 1), *ref = data_sampler_init(10, 3, 1);
    CHECK(data_sampler_restore(s, bytes, n) == 0);
    data_sampler_next(ref);
    int same = 1;
    for (int k = 0; k < 25; k++) same &= data_sampler_next(s) == data_sampler_next(ref);
    CHECK(same);
    data_sampler_free(s);
    data_sampler_free(ref);
    free(bytes);
    char *cfg = ckpt_get_string(r, "config");
    CHECK_STR(cfg, "{\"run\": {\"seed\": 1}}");
    free(cfg);
    uint64_t sum = 0;
    CHECK(ckpt_get_checksum(r, "builtin:addition/train", &sum) == 0 && sum == 0x0123456789abcdefull);
    CHECK(ckpt_get_checksum(r, "other.jsonl", &sum) == -1);
    CHECK_CONTAINS(err_msg(), "has no checksum for dataset 'other.jsonl'");
    CHECK(ckpt_has(r, "optim/step") && ckpt_has(r, "model/model.norm.weight"));
    CHECK(!ckpt_has(r, "optim/nothing") && !ckpt_has(r, "nothing/at/all") && !ckpt_has(r, "../x"));

    check_refusals(r, &f);
    check_load_tensors(r, &f);
    ts_free(emb);
    ts_free(norm);
    ts_free(m);
    ts_free(v);
    ts_free(mask);
    fixture_free(&f);
    ckpt_close(r);

    /* another architecture is refused, naming both hashes */
    CHECK(ckpt_open(path, "arch-xyz") == NULL);
    CHECK_CONTAINS(err_msg(), "is of another architecture: its arch_hash is arch-abc, the model's is arch-xyz");
    /* h5py reads the same layout */
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("skipping the h5py check: /usr/bin/python3 not found\n");
    } else {
        char cmd[1024];
        const char *src = getenv("RLVR_SRC");
        snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/ckpt_check.py %s", src ? src : ".", path);
        CHECK(system(cmd) == 0);
    }
}

static void test_bad_files_and_arguments(const char *dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/not-hdf5.h5", dir);
    FILE *fp = fopen(path, "w");
    fputs("{\"this is\": \"json\"}\n", fp);
    fclose(fp);
    CHECK(ckpt_open(path, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "does not end with the seal of format");
    unlink(path);
    CHECK(ckpt_open("/nonexistent/ckpt-00000001.h5", NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "No such file or directory");

    /* an HDF5 file that is no checkpoint, and a checkpoint of a future format version */
    snprintf(path, sizeof path, "%s/plain.h5", dir);
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    H5Fclose(f);
    CHECK(ckpt_open(path, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "does not end with the seal of format");
    CHECK(ckpt_seal(path) == 0 && ckpt_open(path, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "not an rlvr checkpoint");
    unlink(path);
    char sub[512], ck[512];
    snprintf(sub, sizeof sub, "%s/future", dir);
    ckpt_meta m = {3, "a", NULL};
    ckpt_writer *w = ckpt_writer_open(sub, &m);
    CHECK(w && ckpt_writer_commit(w, 0, ck, sizeof ck) == 0);
    ckpt_writer_free(w);
    f = H5Fopen(ck, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
    int64_t v4 = CKPT_FORMAT_VERSION + 1;
    H5Awrite(a, H5T_NATIVE_INT64, &v4);
    H5Aclose(a);
    H5Fclose(f);
    CHECK(ckpt_seal(ck) == 0);
    CHECK(ckpt_open(ck, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "format version 4, but this build reads version 3");
    CHECK(ckpt_check_file(ck, NULL) == CKPT_INCOMPATIBLE);
    /* the seal names the version too: a future one is told apart from damage before HDF5 reads */
    FILE *sf = fopen(ck, "r+b");
    CHECK(sf && fseek(sf, -4, SEEK_END) == 0 && fputc(CKPT_FORMAT_VERSION + 1, sf) != EOF && fclose(sf) == 0);
    CHECK(ckpt_check_file(ck, NULL) == CKPT_INCOMPATIBLE);
    CHECK_CONTAINS(err_msg(), "format version 4, but this build reads version 3");
    unlink(ck);
    rmdir(sub);

    ckpt_meta no_arch = {1, "", NULL}, neg = {-1, "a", NULL};
    CHECK(ckpt_writer_open(dir, &no_arch) == NULL);
    CHECK_CONTAINS(err_msg(), "an architecture hash is required");
    CHECK(ckpt_writer_open(dir, &neg) == NULL);
    CHECK(ckpt_writer_open("/proc/rlvr-cannot-be-here", &meta42) == NULL);
    CHECK_CONTAINS(err_msg(), "cannot create directory");
    w = ckpt_writer_open(dir, &meta42);
    CHECK(w != NULL);
    CHECK(ckpt_put_i64(w, "a/../b", 1) == -1);
    CHECK_CONTAINS(err_msg(), "bad item path 'a/../b'");
    CHECK(ckpt_put_i64(w, "a//b", 1) == -1 && ckpt_put_i64(w, "/a", 1) == -1 && ckpt_put_i64(w, "", 1) == -1);
    CHECK(ckpt_put_i64(w, "x/y", 1) == 0);
    CHECK(ckpt_put_i64(w, "x/y", 2) == -1);
    CHECK_CONTAINS(err_msg(), "item 'x/y' written twice");
    CHECK(ckpt_put_checksum(w, "d", 1) == 0 && ckpt_put_checksum(w, "d", 2) == -1);
    CHECK_CONTAINS(err_msg(), "checksum of 'd' written twice");
    /* freed without commit: the temporary file goes, nothing else appears */
    ckpt_writer_free(w);
    ckpt_writer_free(NULL);
    ckpt_close(NULL);
    snprintf(path, sizeof path, "%s/ckpt-00000042.h5.tmp", dir);
    CHECK(access(path, F_OK) != 0);
}

/* XOR n bytes at offset `at` of item's data in the file at path with 0x5a (twice restores them). */
static int flip(const char *path, const char *item, long at, int n) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f >= 0 ? H5Dopen2(f, item, H5P_DEFAULT) : -1;
    haddr_t addr = d >= 0 ? H5Dget_offset(d) : HADDR_UNDEF;
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    FILE *fp = addr == HADDR_UNDEF ? NULL : fopen(path, "r+b");
    if (!fp) return -1;
    unsigned char b[64];
    int ok = n <= 64 && fseek(fp, (long)addr + at, SEEK_SET) == 0 && fread(b, 1, (size_t)n, fp) == (size_t)n;
    for (int i = 0; ok && i < n; i++) b[i] ^= 0x5a;
    ok = ok && fseek(fp, (long)addr + at, SEEK_SET) == 0 && fwrite(b, 1, (size_t)n, fp) == (size_t)n;
    return fclose(fp) == 0 && ok ? 0 : -1;
}

/* Damaged bytes are caught by the seal before HDF5 reads the file. Sealed again (as if the bytes
 * had been damaged before the seal was written), damaged data are caught by the read of the item,
 * by ckpt_verify and by ckpt_check_file, which tells them from an intact checkpoint of another
 * architecture. Longer than 80 lines on purpose: one file damaged and restored in turn, each
 * damage checked by every reader before the next. */
static void test_damage_is_caught(const char *base) {
    char dir[256], path[512];
    snprintf(dir, sizeof dir, "%s/damage", base);
    CHECK(write_fixture(dir, 0, path, sizeof path) == 0);
    CHECK(ckpt_check_file(path, "arch-abc") == CKPT_FINE);
    CHECK(ckpt_check_file(path, "arch-xyz") == CKPT_INCOMPATIBLE);
    CHECK_CONTAINS(err_msg(), "is of another architecture");
    fixture f;
    fixture_init(&f);
    ts_tensor *emb = ts_zeros_like(f.emb), *m = ts_zeros_like(f.m), *zero = ts_zeros_like(f.emb);

    /* 16 bytes inside a weight: 4 of its 12 floats */
    CHECK(flip(path, "model/model.embed_tokens.weight", 16, 16) == 0);
    CHECK(ckpt_check_file(path, "arch-abc") == CKPT_DAMAGED);
    CHECK_CONTAINS(err_msg(), "is damaged: its bytes have CRC-32");
    CHECK(ckpt_seal(path) == 0);
    ckpt_reader *r = ckpt_open(path, "arch-abc");
    CHECK(r != NULL);
    CHECK(ckpt_get_tensor(r, "model/model.embed_tokens.weight", emb) == -1);
    CHECK_CONTAINS(err_msg(), "is damaged: the data of 'model/model.embed_tokens.weight' have CRC-32");
    CHECK(same_bytes(emb, zero)); /* nothing copied */
    CHECK(ckpt_verify(r) == -1);
    CHECK_CONTAINS(err_msg(), "'model/model.embed_tokens.weight'");
    CHECK(ckpt_get_tensor(r, "optim/exp_avg/model.embed_tokens.weight", m) == 0 && same_bytes(m, f.m));
    ckpt_close(r);
    CHECK(ckpt_check_file(path, "arch-abc") == CKPT_DAMAGED);
    CHECK(flip(path, "model/model.embed_tokens.weight", 16, 16) == 0); /* restored: fine again */
    CHECK(ckpt_seal(path) == 0 && ckpt_check_file(path, "arch-abc") == CKPT_FINE);

    /* an AdamW moment, the data cursor */
    CHECK(flip(path, "optim/exp_avg/model.embed_tokens.weight", 0, 16) == 0 && ckpt_seal(path) == 0);
    CHECK(ckpt_check_file(path, NULL) == CKPT_DAMAGED);
    CHECK_CONTAINS(err_msg(), "the data of 'optim/exp_avg/model.embed_tokens.weight'");
    CHECK(flip(path, "optim/exp_avg/model.embed_tokens.weight", 0, 16) == 0);
    CHECK(flip(path, "state/data_cursor", 8, 16) == 0 && ckpt_seal(path) == 0);
    r = ckpt_open(path, NULL);
    uint8_t *bytes = NULL;
    size_t n = 0;
    CHECK(r && ckpt_get_bytes(r, "state/data_cursor", &bytes, &n) == -1 && bytes == NULL);
    CHECK_CONTAINS(err_msg(), "the data of 'state/data_cursor'");
    ckpt_close(r);
    CHECK(flip(path, "state/data_cursor", 8, 16) == 0);

    /* a string rewritten behind the checkpoint's back, then the step */
    hid_t h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = H5Dopen2(h, "config", H5P_DEFAULT), t = H5Dget_type(d);
    const char *other = "{\"run\": {\"seed\": 2}}";
    CHECK(H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &other) >= 0);
    H5Tclose(t);
    H5Dclose(d);
    H5Fclose(h);
    CHECK(ckpt_seal(path) == 0);
    r = ckpt_open(path, NULL);
    CHECK(r && ckpt_get_string(r, "config") == NULL);
    CHECK_CONTAINS(err_msg(), "the data of 'config'");
    ckpt_close(r);
    h = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = H5Aopen(h, "step", H5P_DEFAULT);
    int64_t step = 41;
    CHECK(H5Awrite(a, H5T_NATIVE_INT64, &step) >= 0);
    H5Aclose(a);
    H5Fclose(h);
    CHECK(ckpt_seal(path) == 0);
    CHECK(ckpt_open(path, NULL) == NULL);
    CHECK_CONTAINS(err_msg(), "is damaged: its step, arch_hash and config_hash do not match their CRC-32");
    CHECK(ckpt_check_file(path, "arch-abc") == CKPT_DAMAGED);

    /* not HDF5 at all */
    FILE *fp = fopen(path, "r+b");
    CHECK(fp && fwrite("garbage!", 1, 8, fp) == 8);
    if (fp) fclose(fp);
    CHECK(ckpt_check_file(path, "arch-abc") == CKPT_DAMAGED);
    CHECK_CONTAINS(err_msg(), "is damaged: its bytes have CRC-32");
    CHECK(ckpt_seal(path) == 0 && ckpt_check_file(path, "arch-abc") == CKPT_DAMAGED);
    CHECK_CONTAINS(err_msg(), "not a readable HDF5 file");
    ts_free(emb);
    ts_free(m);
    ts_free(zero);
    fixture_free(&f);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static int count_entries(const char *dir, const char *suffix) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t l = strlen(e->d_name), s = strlen(suffix);
        n += l >= s && strcmp(e->d_name + l - s, suffix) == 0;
    }
    if (d) closedir(d);
    return n;
}

static void test_keep_last_and_latest(const char *base) {
    char dir[256], path[512], latest[512];
    snprintf(dir, sizeof dir, "%s/keep", base);
    CHECK(ckpt_latest(dir, latest, sizeof latest) == 0); /* no directory yet */
    CHECK(mkdir(dir, 0777) == 0);
    CHECK(ckpt_latest(dir, latest, sizeof latest) == 0); /* empty */
    /* a stale temporary file of a crashed write, and an unrelated file */
    snprintf(path, sizeof path, "%s/ckpt-00000099.h5.tmp", dir);
    fclose(fopen(path, "w"));
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    fclose(fopen(path, "w"));
    CHECK(ckpt_latest(dir, latest, sizeof latest) == 0);
    for (int64_t step = 1; step <= 12; step++) {
        ckpt_meta m = {step * 10, "arch", "cfg"};
        ckpt_writer *w = ckpt_writer_open(dir, &m);
        CHECK(w && ckpt_put_i64(w, "step_again", step * 10) == 0 && ckpt_writer_commit(w, 3, NULL, 0) == 0);
        ckpt_writer_free(w);
    }
    CHECK(count_entries(dir, ".h5") == 3);
    CHECK(count_entries(dir, ".tmp") == 0);
    CHECK(count_entries(dir, ".txt") == 1);
    char want[512];
    snprintf(want, sizeof want, "%s/ckpt-00000120.h5", dir);
    CHECK(ckpt_latest(dir, latest, sizeof latest) == 1);
    CHECK_STR(latest, want);
    snprintf(path, sizeof path, "%s/ckpt-00000100.h5", dir);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof path, "%s/ckpt-00000090.h5", dir);
    CHECK(access(path, F_OK) != 0);
    CHECK(ckpt_latest(dir, latest, 8) == -1); /* does not fit */
    int64_t s = 0;
    CHECK(ckpt_previous(dir, 120, latest, sizeof latest, &s) == 1 && s == 110);
    CHECK(ckpt_previous(dir, 100, latest, sizeof latest, &s) == 0);
    /* a checkpoint step past 8 digits keeps its order */
    ckpt_meta big = {123456789, "arch", NULL};
    ckpt_writer *w = ckpt_writer_open(dir, &big);
    CHECK(w && ckpt_writer_commit(w, 0, NULL, 0) == 0);
    ckpt_writer_free(w);
    snprintf(want, sizeof want, "%s/ckpt-123456789.h5", dir);
    CHECK(ckpt_latest(dir, latest, sizeof latest) == 1);
    CHECK_STR(latest, want);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

static void test_same_content_same_bytes(const char *base) {
    char d1[512], d2[512], p1[512], p2[512], cmd[1200];
    snprintf(d1, sizeof d1, "%s/same1", base);
    snprintf(d2, sizeof d2, "%s/same2", base);
    CHECK(write_fixture(d1, 0, p1, sizeof p1) == 0);
    sleep(1); /* a timestamp, if one were stored, would differ */
    CHECK(write_fixture(d2, 0, p2, sizeof p2) == 0);
    snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", p1, p2);
    CHECK(system(cmd) == 0);
    snprintf(cmd, sizeof cmd, "rm -rf '%s' '%s'", d1, d2);
    CHECK(system(cmd) == 0);
}

/* Fill the filesystem of dir with dir/filler until `left` bytes are free (0: until a write
 * fails). Returns the bytes free afterwards, or -1. */
static long long fill_to(const char *dir, long long left) {
    char path[600];
    snprintf(path, sizeof path, "%s/filler", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    static char page[4096];
    struct statvfs v;
    while (statvfs(dir, &v) == 0 && (long long)(v.f_bavail * v.f_frsize) > left)
        if (write(fd, page, sizeof page) != (ssize_t)sizeof page) break;
    close(fd);
    return statvfs(dir, &v) == 0 ? (long long)(v.f_bavail * v.f_frsize) : -1;
}

/* The checkpoint of step 43: the fixture's items and a 256 KiB tensor. */
static int write_big(const char *dir, const ts_tensor *big) {
    ckpt_meta m = {43, "arch-abc", "cfg-123"};
    ckpt_writer *w = ckpt_writer_open(dir, &m);
    int rc = !w || ckpt_put_i64(w, "optim/step", 8) || ckpt_put_tensor(w, "model/big", big) ||
             ckpt_writer_commit(w, 2, NULL, 0);
    ckpt_writer_free(w);
    return rc ? -1 : 0;
}

/* The newest checkpoint of dir is the fixture's, intact, and no temporary file is left. */
static void check_previous_intact(const char *dir, const char *first) {
    char latest[512];
    CHECK(count_entries(dir, ".tmp") == 0);
    CHECK(ckpt_latest(dir, latest, sizeof latest) == 1);
    CHECK_STR(latest, first);
    CHECK(ckpt_check_file(latest, "arch-abc") == CKPT_FINE);
    ckpt_reader *r = ckpt_open(latest, "arch-abc");
    CHECK(r && ckpt_step(r) == 42);
    fixture f;
    fixture_init(&f);
    ts_tensor *emb = ts_zeros_like(f.emb);
    CHECK(r && ckpt_get_tensor(r, "model/model.embed_tokens.weight", emb) == 0 && same_bytes(emb, f.emb));
    ts_free(emb);
    fixture_free(&f);
    ckpt_close(r);
}

/* A full disk in the middle of a checkpoint, at several fill levels down to 0 bytes free: the
 * write fails with the system's reason, the temporary file is gone, the previous checkpoint reads
 * back unchanged, and once the space is freed the same write succeeds. */
static void test_full_disk_keeps_previous(const char *base) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/small", base);
    CHECK(mkdir(dir, 0777) == 0);
    /* RLVR_TEST_NO_MOUNT=1 takes the RLIMIT_FSIZE path even where mounting works */
    int mounted = !getenv("RLVR_TEST_NO_MOUNT") && mount("tmpfs", dir, "tmpfs", 0, "size=1m") == 0;
    struct rlimit old;
    getrlimit(RLIMIT_FSIZE, &old);
    if (!mounted) {
        printf("no tmpfs mounted (%s): limiting the file size with RLIMIT_FSIZE instead\n",
               getenv("RLVR_TEST_NO_MOUNT") ? "RLVR_TEST_NO_MOUNT" : strerror(errno));
        signal(SIGXFSZ, SIG_IGN);
    }
    char first[512], filler[600];
    snprintf(filler, sizeof filler, "%s/filler", dir);
    CHECK(write_fixture(dir, 2, first, sizeof first) == 0);
    const int64_t n = 1 << 16; /* 256 KiB of f32 */
    ts_tensor *big = ts_zeros(&n, 1, TS_F32, TS_CPU_DEVICE);
    if (mounted) {
        const long long levels[] = {0, 4096, 64 << 10, 200 << 10};
        for (int i = 0; i < 4; i++) {
            long long left = fill_to(dir, levels[i]);
            CHECK(left >= 0 && left <= levels[i] + 4096);
            printf("%lld bytes free: ", left);
            CHECK(write_big(dir, big) == -1);
            printf("%s\n", err_msg());
            CHECK_CONTAINS(err_msg(), "No space left on device");
            CHECK_CONTAINS(err_msg(), "ckpt-00000043.h5.tmp");
            check_previous_intact(dir, first);
            CHECK(unlink(filler) == 0);
            CHECK(write_big(dir, big) == 0); /* space freed: the same write succeeds */
            char done[600];
            snprintf(done, sizeof done, "%s/ckpt-00000043.h5", dir);
            CHECK(ckpt_check_file(done, "arch-abc") == CKPT_FINE);
            CHECK(unlink(done) == 0);
        }
    } else {
        /* A size limit also holds for the memory file a given-up checkpoint is closed into
         * (h5space.h), so it is lifted before the writer is freed. */
        struct rlimit lim = {128 * 1024, old.rlim_max};
        setrlimit(RLIMIT_FSIZE, &lim);
        ckpt_meta m = {43, "arch-abc", "cfg-123"};
        ckpt_writer *w = ckpt_writer_open(dir, &m);
        CHECK(w != NULL);
        int rc = w ? ckpt_put_tensor(w, "model/big", big) : -1;
        if (rc == 0) rc = ckpt_writer_commit(w, 2, NULL, 0);
        CHECK(rc == -1);
        CHECK_CONTAINS(err_msg(), "File too large");
        setrlimit(RLIMIT_FSIZE, &old);
        ckpt_writer_free(w);
        check_previous_intact(dir, first);
    }
    ts_free(big);
    if (mounted) CHECK(umount(dir) == 0);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    CHECK(system(cmd) == 0);
}

int main(void) {
    char base[] = "/tmp/rlvr_ckpt_XXXXXX";
    if (!mkdtemp(base)) return 1;
    int64_t live = ts_live_handles();
    test_round_trip_bit_for_bit(base);
    test_bad_files_and_arguments(base);
    test_damage_is_caught(base);
    test_keep_last_and_latest(base);
    test_same_content_same_bytes(base);
    test_full_disk_keeps_previous(base);
    CHECK(ts_live_handles() == live);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", base);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", base);
    H5close();
    CHECK_DONE();
}
