/* test_safetensors — the safetensors reader and writer: round trips of a single file and of a
 * sharded directory, an independent parse of the written files by tests/safetensors_check.py
 * (hand-rolled parser + torch, run with /usr/bin/python3 when it is there), a file written by that
 * script read back here, and hostile headers that must fail with a message naming file and tensor. */
#include "model/safetensors.h"

#include "common/err.h"
#include "tests/check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static float fa[6], fscalar = 3.5f;
static uint16_t bf[12], hf[5] = {0x0000, 0xB000, 0xB400, 0xB600, 0xB800};
static int64_t i64[4];
static int32_t i32[3];

/* The tensors of tests/safetensors_check.py's expected(); bf16 values are exact in bf16. */
static int make_tensors(st_tensor *t) {
    for (int i = 0; i < 6; i++) fa[i] = (float)i * 0.5f - 1.0f;
    for (int i = 0; i < 12; i++) {
        float v = (float)i * 0.25f - 1.0f;
        uint32_t u;
        memcpy(&u, &v, 4);
        bf[i] = (uint16_t)(u >> 16);
    }
    for (int i = 0; i < 4; i++) i64[i] = ((int64_t)1 << 40) + i;
    for (int i = 0; i < 3; i++) i32[i] = -7 * i;
    t[0] = (st_tensor){.name = "a.weight", .dtype = ST_F32, .ndim = 2, .shape = {2, 3}, .data = fa};
    t[1] = (st_tensor){.name = "b.bf16", .dtype = ST_BF16, .ndim = 2, .shape = {3, 4}, .data = bf};
    t[2] = (st_tensor){.name = "c.f16", .dtype = ST_F16, .ndim = 1, .shape = {5}, .data = hf};
    t[3] = (st_tensor){.name = "d.i64", .dtype = ST_I64, .ndim = 1, .shape = {4}, .data = i64};
    t[4] = (st_tensor){.name = "e.i32", .dtype = ST_I32, .ndim = 1, .shape = {3}, .data = i32};
    t[5] = (st_tensor){.name = "f.scalar", .dtype = ST_F32, .ndim = 0, .data = &fscalar};
    t[6] = (st_tensor){.name = "g.empty", .dtype = ST_F32, .ndim = 2, .shape = {0, 4}, .data = NULL};
    return 7;
}

static void check_same(const st_file *f, const st_tensor *want, int n) {
    CHECK(st_count(f) == n);
    for (int i = 0; i < n; i++) {
        const st_tensor *g = st_find(f, want[i].name);
        CHECK(g != NULL);
        if (!g) continue;
        CHECK(g->dtype == want[i].dtype);
        CHECK(g->ndim == want[i].ndim);
        size_t nb = st_dtype_size(want[i].dtype);
        for (int d = 0; d < want[i].ndim; d++) {
            CHECK(g->shape[d] == want[i].shape[d]);
            nb *= (size_t)want[i].shape[d];
        }
        CHECK(g->nbytes == nb);
        CHECK(nb == 0 || memcmp(g->data, want[i].data, nb) == 0);
    }
    CHECK(st_find(f, "no.such.tensor") == NULL);
}

static void test_round_trip(const char *dir) {
    st_tensor t[8];
    int n = make_tensors(t);
    char path[512];
    const char *meta[] = {"format", "pt", "note", "quote\" backslash\\", NULL};
    snprintf(path, sizeof path, "%s/single.safetensors", dir);
    CHECK(st_write(path, t, n, meta) == 0);
    st_file *f = st_open(path);
    CHECK(f != NULL);
    if (f) {
        check_same(f, t, n);
        CHECK_STR(st_metadata(f, "format"), "pt");
        CHECK_STR(st_metadata(f, "note"), "quote\" backslash\\");
        CHECK(st_metadata(f, "absent") == NULL);
        CHECK_STR(st_get(f, 0)->name, "a.weight"); /* file order kept */
        CHECK(((uintptr_t)st_get(f, 0)->data & 7) == 0);
        st_close(f);
    }
    /* a directory with a single model.safetensors: below the threshold */
    snprintf(path, sizeof path, "%s/one", dir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(st_write_dir(path, t, n, 1 << 20, meta) == 0);
    f = st_open(path);
    CHECK(f != NULL);
    if (f) check_same(f, t, n);
    st_close(f);
    /* sharded: 40 bytes per shard splits the 150 bytes into several files */
    snprintf(path, sizeof path, "%s/sharded", dir);
    CHECK(mkdir(path, 0755) == 0);
    CHECK(st_write_dir(path, t, n, 40, meta) == 0);
    char idx[600];
    snprintf(idx, sizeof idx, "%s/model.safetensors.index.json", path);
    CHECK(access(idx, F_OK) == 0);
    snprintf(idx, sizeof idx, "%s/model-00001-of-00004.safetensors", path);
    CHECK(access(idx, F_OK) == 0);
    f = st_open(path);
    CHECK(f != NULL);
    if (f) {
        check_same(f, t, n);
        CHECK_STR(st_metadata(f, "format"), "pt");
    }
    st_close(f);
}

/* Files checked by the hand-rolled Python parser, and the file it writes read back here. */
static void test_python(const char *dir) {
    if (access("/usr/bin/python3", X_OK) != 0) {
        printf("skipping the Python cross-check: /usr/bin/python3 not found\n");
        return;
    }
    const char *src = getenv("RLVR_SRC");
    char cmd[1200], path[600];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s/tests/safetensors_check.py %s", src ? src : ".", dir);
    CHECK(system(cmd) == 0);
    snprintf(path, sizeof path, "%s/from_python.safetensors", dir);
    st_file *f = st_open(path);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "%s\n", err_msg());
        return;
    }
    const st_tensor *x = st_find(f, "x.bf16"), *y = st_find(f, "y.f32"), *z = st_find(f, "z.i64");
    CHECK(x && x->dtype == ST_BF16 && x->ndim == 1 && x->shape[0] == 3);
    if (x) {
        uint16_t want[3] = {0x3FC0, 0xC000, 0x477F}; /* 1.5, -2, 65280 */
        CHECK(memcmp(x->data, want, 6) == 0);
    }
    CHECK(y && y->dtype == ST_F32 && y->ndim == 3 && y->shape[2] == 4 && y->nbytes == 96);
    if (y) {
        float last;
        memcpy(&last, (const char *)y->data + 92, 4); /* unaligned: it follows 6 bytes of bf16 */
        CHECK(last == 23.0f / 8);
    }
    CHECK(z && z->dtype == ST_I64);
    if (z) {
        int64_t v[2];
        memcpy(v, z->data, 16);
        CHECK(v[0] == -1 && v[1] == (int64_t)1 << 50);
    }
    CHECK(st_metadata(f, "made_by") && !strncmp(st_metadata(f, "made_by"), "torch ", 6));
    st_close(f);
}

/* A safetensors image: 8-byte length, the header text, then ndata zero bytes. */
static size_t image(uint8_t *buf, uint64_t hlen_field, const char *hdr, size_t ndata) {
    size_t h = strlen(hdr);
    for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(hlen_field >> (8 * i));
    memcpy(buf + 8, hdr, h);
    memset(buf + 8 + h, 0, ndata);
    return 8 + h + ndata;
}

static void expect_bad(const char *hdr, uint64_t hlen_field, size_t ndata, const char *frag) {
    static uint8_t buf[4096];
    size_t len = image(buf, hlen_field ? hlen_field : strlen(hdr), hdr, ndata);
    err_clear();
    st_file *f = st_open_mem(buf, len, "bad.safetensors");
    CHECK(f == NULL);
    CHECK_CONTAINS(err_msg(), "bad.safetensors");
    CHECK_CONTAINS(err_msg(), frag);
    st_close(f);
}

/* Hostile files: truncations, bad JSON, bad dtypes and shapes, overlapping, holey and
 * out-of-range offsets, each refused with its reason. Longer than 80 lines on purpose: a table of
 * cases, one expect_bad each, read as a list. */
static void test_hostile(const char *dir) {
    /* a good one first, to show the helper builds valid images */
    uint8_t buf[256];
    const char *good = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    st_file *f = st_open_mem(buf, image(buf, strlen(good), good, 8), "good");
    CHECK(f && st_count(f) == 1 && st_find(f, "w")->nbytes == 8);
    st_close(f);
    /* no tensors: "{}" and six NUL bytes of header padding, no data (the reorder of no tensors
       once offset a NULL pointer: fuzz/corpus/fuzz_safetensors/crash_no_tensors_null_offset) */
    f = st_open_mem(buf, image(buf, 8, "{}", 6), "none");
    CHECK(f && st_count(f) == 0 && st_find(f, "w") == NULL);
    st_close(f);

    err_clear();
    CHECK(st_open_mem(good, 4, "short.safetensors") == NULL);
    CHECK_CONTAINS(err_msg(), "short.safetensors: truncated: 4 bytes");
    expect_bad("", 0, 0, "not a JSON object");
    expect_bad("{}", 1ull << 40, 0, "exceeds");
    expect_bad("{}", 4000, 0, "truncated: header says 4000");
    expect_bad("[1,2]", 0, 0, "not a JSON object");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 0, 8,
               "not well-formed JSON");
    expect_bad("{\"w\":{\"dtype\":\"F33\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 8,
               "tensor \"w\": unknown dtype \"F33\"");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 0, 12,
               "tensor \"w\": data_offsets [0, 12] span 12 bytes, but F32 x shape needs 8");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
               "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
               0, 12, "tensor \"b\": data_offsets begin 4 overlaps");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 0, 8,
               "leaves a hole");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 0, 4,
               "past the data section");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 16,
               "cover 4 data bytes but the file has 16");
    expect_bad("{\"huge\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
               "\"data_offsets\":[0,0]}}",
               0, 0, "tensor \"huge\": shape overflows");
    expect_bad("{\"huge\":{\"dtype\":\"I64\",\"shape\":[4611686018427387904],"
               "\"data_offsets\":[0,0]}}",
               0, 0, "not a non-negative integer");
    expect_bad("{\"huge\":{\"dtype\":\"I64\",\"shape\":[1125899906842624,2048],"
               "\"data_offsets\":[0,0]}}",
               0, 0, "tensor \"huge\": byte size overflows");
    expect_bad("{\"n\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,0]}}", 0, 0,
               "tensor \"n\": shape[0] is not a non-negative integer");
    expect_bad("{\"n\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,0]}}", 0, 0,
               "shape[0]");
    expect_bad("{\"n\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 0, 4,
               "\"data_offsets\" must be [begin, end]");
    expect_bad("{\"n\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 0, 4, "missing string \"dtype\"");
    expect_bad("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
               "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
               0, 8, "tensor \"a\" appears twice");
    expect_bad("{\"__metadata__\":{\"k\":1}}", 0, 0, "__metadata__ key \"k\" must be a string");
    expect_bad("{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}",
               0, 4, "9 dimensions");
    expect_bad("{}  x", 0, 0, "trailing bytes");

    /* on disk: a truncated copy of a real file names the file */
    char path[600], cut[700];
    snprintf(path, sizeof path, "%s/single.safetensors", dir);
    snprintf(cut, sizeof cut, "%s/cut.safetensors", dir);
    FILE *in = fopen(path, "rb"), *out = fopen(cut, "wb");
    CHECK(in && out);
    if (in && out) {
        char b[4096];
        size_t n = fread(b, 1, sizeof b, in);
        fwrite(b, 1, n - 10, out);
    }
    if (in) fclose(in);
    if (out) fclose(out);
    CHECK(st_open(cut) == NULL);
    CHECK_CONTAINS(err_msg(), "cut.safetensors");
    CHECK_CONTAINS(err_msg(), "truncated");
    CHECK(st_open("/nonexistent/x.safetensors") == NULL);
    CHECK_CONTAINS(err_msg(), "/nonexistent/x.safetensors: cannot open");
    CHECK(st_open(dir) == NULL); /* a directory without model files */
    CHECK_CONTAINS(err_msg(), "no model.safetensors");

    /* an index that points outside its directory */
    snprintf(path, sizeof path, "%s/evil", dir);
    CHECK(mkdir(path, 0755) == 0);
    snprintf(cut, sizeof cut, "%s/model.safetensors.index.json", path);
    out = fopen(cut, "w");
    if (out) {
        fputs("{\"weight_map\": {\"w\": \"../single.safetensors\"}}", out);
        fclose(out);
    }
    CHECK(st_open(path) == NULL);
    CHECK_CONTAINS(err_msg(), "not a plain file name");
    out = fopen(cut, "w");
    if (out) {
        fputs("{\"weight_map\": {\"missing\": \"../single.safetensors\"", out);
        fclose(out);
    }
    CHECK(st_open(path) == NULL);
    CHECK_CONTAINS(err_msg(), "not well-formed JSON");
}

int main(void) {
    char dir[] = "/tmp/rlvr_test_st_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    test_round_trip(dir);
    test_python(dir);
    test_hostile(dir);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    CHECK_DONE();
}
