/* rolloutlog — append-only HDF5 log of prompts and completions; see rolloutlog.h.
 * Deliberately not here: HDF5's own error printing (switched off; failures come back through
 * err_set), buffering across steps (each append is written and flushed at once). */
#include "rolloutlog.h"

#include "h5space.h"
#include "h5why.h"

#include "common/err.h"
#include "common/mem.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CHUNK_ROWS 1024
#define META_SLACK ((uint64_t)64 << 10)         /* room for the metadata of one open or append */
#define SUBSCORES "subscores"

typedef enum { COL_I64, COL_I32, COL_F64, COL_STR, COL_IDS } col_type;

typedef struct col_spec {
    const char *name;
    col_type type;
} col_spec;

static const col_spec prompt_cols[] = {
    {"step", COL_I64}, {"index", COL_I64}, {"text", COL_STR}, {"answer", COL_STR}, {"ids", COL_IDS},
};
static const col_spec completion_cols[] = {
    {"step", COL_I64},  {"prompt_row", COL_I64},    {"sample", COL_I32}, {"text", COL_STR},    {"ids", COL_IDS},
    {"length", COL_I32}, {"finish_reason", COL_STR}, {"reward", COL_F64}, {"advantage", COL_F64},
};
#define NPCOL ((int)(sizeof prompt_cols / sizeof prompt_cols[0]))
#define NCCOL ((int)(sizeof completion_cols / sizeof completion_cols[0]))

struct rolloutlog {
    hid_t file, prompts, completions, subscores;
    hid_t str_type, ids_file_type, ids_mem_type;
    int64_t prompt_rows, completion_rows, last_step;
    int nsub;
    char (*sub)[REWARD_NAME_MAX]; /* sub-score columns, as named in the file */
    uint64_t reserved;            /* disk blocks of the file reserved so far (h5space.h) */
    int failed;                   /* an operation failed since the last flush: closing discards it */
    char path[1024];
};

static int fail(rolloutlog *l, const char *what) {
    char why[512];
    l->failed = 1;
    return err_set("rollout log '%s': %s failed: %s", l->path, what, h5_why(why, sizeof why));
}

/* Reserve the disk space of an operation that needs at most `bytes` (h5space.h). */
static int reserve(rolloutlog *l, uint64_t bytes) {
    uint64_t more = bytes + META_SLACK;
    if (h5space_reserve(l->file, more, &l->reserved) == 0) return 0;
    l->failed = 1;
    return err_set("rollout log '%s': no room for the next %llu bytes: %s", l->path, (unsigned long long)more,
                   strerror(errno));
}

static hid_t file_type(const rolloutlog *l, col_type t) {
    switch (t) {
    case COL_I64: return H5T_STD_I64LE;
    case COL_I32: return H5T_STD_I32LE;
    case COL_F64: return H5T_IEEE_F64LE;
    case COL_STR: return l->str_type;
    case COL_IDS: return l->ids_file_type;
    }
    return -1;
}

static hid_t mem_type(const rolloutlog *l, col_type t) {
    switch (t) {
    case COL_I64: return H5T_NATIVE_INT64;
    case COL_I32: return H5T_NATIVE_INT32;
    case COL_F64: return H5T_NATIVE_DOUBLE;
    case COL_STR: return l->str_type;
    case COL_IDS: return l->ids_mem_type;
    }
    return -1;
}

static hid_t untimed(hid_t cls) {
    hid_t p = H5Pcreate(cls);
    if (p >= 0) H5Pset_obj_track_times(p, 0);
    return p;
}

/* A chunked, unlimited 1-D dataset of `rows` rows; float columns are filled with NaN. */
static int create_col(const rolloutlog *l, hid_t g, const char *name, col_type t, hsize_t rows) {
    hsize_t dims = rows, maxdims = H5S_UNLIMITED, chunk = CHUNK_ROWS;
    hid_t space = H5Screate_simple(1, &dims, &maxdims);
    hid_t dcpl = untimed(H5P_DATASET_CREATE);
    H5Pset_chunk(dcpl, 1, &chunk);
    if (t == COL_F64) {
        double nan = NAN;
        H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &nan);
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC);
    }
    hid_t d = H5Dcreate2(g, name, file_type(l, t), space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    H5Pclose(dcpl);
    H5Sclose(space);
    if (d < 0) return -1;
    H5Dclose(d);
    return 0;
}

/* Write n rows of buf at row `at`, growing the dataset to at + n. */
static int write_col(hid_t g, const char *name, hid_t mtype, hsize_t at, hsize_t n, const void *buf) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hsize_t size = at + n;
    int rc = -1;
    if (H5Dset_extent(d, &size) >= 0) {
        hid_t fs = H5Dget_space(d), ms = H5Screate_simple(1, &n, NULL);
        if (n == 0 || (H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &n, NULL) >= 0 &&
                       H5Dwrite(d, mtype, ms, fs, H5P_DEFAULT, buf) >= 0))
            rc = 0;
        H5Sclose(ms);
        H5Sclose(fs);
    }
    H5Dclose(d);
    return rc;
}

static int set_rows(hid_t g, const char *name, hsize_t rows) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return -1;
    int rc = H5Dset_extent(d, &rows) >= 0 ? 0 : -1;
    H5Dclose(d);
    return rc;
}

static int64_t rows_of(hid_t g, const char *name) {
    hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t s = H5Dget_space(d);
    hsize_t n = 0;
    int ok = H5Sget_simple_extent_ndims(s) == 1 && H5Sget_simple_extent_dims(s, &n, NULL) == 1;
    H5Sclose(s);
    H5Dclose(d);
    return ok ? (int64_t)n : -1;
}

/* Rows of column "step" (n of them) before the first with step >= next_step; *last gets the step
 * of the last row kept (-1 when none). Reads a chunk at a time: n is the file's word, and a
 * damaged file's is no reason to run out of memory. -1 when the column cannot be read. */
static int64_t rows_before(hid_t g, int64_t n, int64_t next_step, int64_t *last) {
    *last = -1;
    if (n == 0) return 0;
    hid_t d = H5Dopen2(g, "step", H5P_DEFAULT);
    if (d < 0) return -1;
    hid_t fs = H5Dget_space(d);
    int64_t steps[CHUNK_ROWS], keep = 0;
    for (hsize_t at = 0; at < (hsize_t)n && keep == (int64_t)at;) {
        hsize_t k = (hsize_t)n - at < CHUNK_ROWS ? (hsize_t)n - at : CHUNK_ROWS;
        hid_t ms = H5Screate_simple(1, &k, NULL);
        int ok = H5Sselect_hyperslab(fs, H5S_SELECT_SET, &at, NULL, &k, NULL) >= 0 &&
                 H5Dread(d, H5T_NATIVE_INT64, ms, fs, H5P_DEFAULT, steps) >= 0;
        H5Sclose(ms);
        if (!ok) {
            keep = -1;
            break;
        }
        for (hsize_t i = 0; i < k && steps[i] < next_step; i++, keep++) *last = steps[i];
        at += k;
    }
    H5Sclose(fs);
    H5Dclose(d);
    return keep;
}

static herr_t list_sub(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)g;
    (void)info;
    rolloutlog *l = data;
    l->sub = mem_realloc(l->sub, (size_t)(l->nsub + 1) * sizeof *l->sub);
    snprintf(l->sub[l->nsub++], REWARD_NAME_MAX, "%s", name);
    return 0;
}

static int attr_str(hid_t obj, const char *name, hid_t str_type, const char *value) {
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, str_type, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, str_type, &value) >= 0 ? 0 : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    return rc;
}

static hid_t make_group(hid_t loc, const char *name) {
    hid_t gcpl = untimed(H5P_GROUP_CREATE);
    hid_t g = H5Gcreate2(loc, name, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    H5Pclose(gcpl);
    return g;
}

/* A new, empty log in l->file. */
static int init_file(rolloutlog *l) {
    int64_t version = ROLLOUTLOG_FORMAT_VERSION;
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(l->file, "format_version", H5T_STD_I64LE, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, H5T_NATIVE_INT64, &version) >= 0 ? 0 : -1;
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    if (rc || attr_str(l->file, "format", l->str_type, ROLLOUTLOG_FORMAT)) return -1;
    l->prompts = make_group(l->file, "prompts");
    l->completions = make_group(l->file, "completions");
    l->subscores = l->completions >= 0 ? make_group(l->completions, SUBSCORES) : -1;
    if (l->prompts < 0 || l->completions < 0 || l->subscores < 0) return -1;
    for (int i = 0; i < NPCOL; i++)
        if (create_col(l, l->prompts, prompt_cols[i].name, prompt_cols[i].type, 0)) return -1;
    for (int i = 0; i < NCCOL; i++)
        if (create_col(l, l->completions, completion_cols[i].name, completion_cols[i].type, 0)) return -1;
    return 0;
}

/* An existing log: check it, drop the rows of steps >= next_step. */
static int reopen_file(rolloutlog *l, int64_t next_step) {
    char fmt[64] = "";
    int64_t version = -1;
    if (H5Aexists(l->file, "format") > 0) {
        hid_t a = H5Aopen(l->file, "format", H5P_DEFAULT);
        char *s = NULL;
        if (a >= 0 && H5Aread(a, l->str_type, &s) >= 0 && s) snprintf(fmt, sizeof fmt, "%s", s);
        H5free_memory(s);
        if (a >= 0) H5Aclose(a);
    }
    if (strcmp(fmt, ROLLOUTLOG_FORMAT) != 0)
        return err_set("rollout log '%s': not an rlvr rollout log (no format \"%s\")", l->path, ROLLOUTLOG_FORMAT);
    if (H5Aexists(l->file, "format_version") > 0) {
        hid_t a = H5Aopen(l->file, "format_version", H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &version) < 0) version = -1;
        if (a >= 0) H5Aclose(a);
    }
    if (version != ROLLOUTLOG_FORMAT_VERSION)
        return err_set("rollout log '%s': format version %lld, but this build writes version %d", l->path,
                       (long long)version, ROLLOUTLOG_FORMAT_VERSION);
    l->prompts = H5Gopen2(l->file, "prompts", H5P_DEFAULT);
    l->completions = H5Gopen2(l->file, "completions", H5P_DEFAULT);
    l->subscores = l->completions >= 0 ? H5Gopen2(l->completions, SUBSCORES, H5P_DEFAULT) : -1;
    if (l->prompts < 0 || l->completions < 0 || l->subscores < 0)
        return err_set("rollout log '%s': missing the prompts, completions or subscores group", l->path);
    if (H5Literate(l->subscores, H5_INDEX_NAME, H5_ITER_INC, NULL, list_sub, l) < 0)
        return err_set("rollout log '%s': cannot list the sub-scores", l->path);
    if (reserve(l, 0)) return -1;
    int64_t np = rows_of(l->prompts, "step"), nc = rows_of(l->completions, "step"), lp, lc;
    int64_t kp = np < 0 ? -1 : rows_before(l->prompts, np, next_step, &lp);
    int64_t kc = nc < 0 ? -1 : rows_before(l->completions, nc, next_step, &lc);
    if (kp < 0 || kc < 0) return err_set("rollout log '%s': cannot read the step columns", l->path);
    for (int i = 0; i < NPCOL; i++)
        if (set_rows(l->prompts, prompt_cols[i].name, (hsize_t)kp)) return fail(l, "trimming prompts");
    for (int i = 0; i < NCCOL; i++)
        if (set_rows(l->completions, completion_cols[i].name, (hsize_t)kc)) return fail(l, "trimming completions");
    for (int i = 0; i < l->nsub; i++)
        if (set_rows(l->subscores, l->sub[i], (hsize_t)kc)) return fail(l, "trimming sub-scores");
    l->prompt_rows = kp;
    l->completion_rows = kc;
    l->last_step = lp > lc ? lp : lc;
    return 0;
}

rolloutlog *rolloutlog_open(const char *path, int64_t next_step) {
    if (!path || !*path) return err_set("rollout log: no path"), NULL;
    if (next_step < 0) return err_set("rollout log '%s': next step must be >= 0", path), NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    rolloutlog *l = mem_calloc(1, sizeof *l);
    l->file = l->prompts = l->completions = l->subscores = -1;
    l->last_step = -1;
    snprintf(l->path, sizeof l->path, "%s", path);
    l->str_type = H5Tcopy(H5T_C_S1);
    H5Tset_size(l->str_type, H5T_VARIABLE);
    H5Tset_cset(l->str_type, H5T_CSET_UTF8);
    l->ids_file_type = H5Tvlen_create(H5T_STD_I32LE);
    l->ids_mem_type = H5Tvlen_create(H5T_NATIVE_INT32);
    struct stat st;
    int reopen = next_step > 0 && stat(path, &st) == 0;
    int rc;
    if (reopen) {
        l->file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
        rc = l->file < 0 ? fail(l, "opening") : reopen_file(l, next_step);
    } else {
        char dir[1024];
        const char *slash = strrchr(path, '/');
        snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path + 1) : 1, slash ? path : ".");
        if (h5space_check(dir, META_SLACK)) {
            err_set("rollout log '%s': cannot create it: %s", path, strerror(errno));
            rolloutlog_close(l);
            return NULL;
        }
        l->file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
        rc = l->file < 0  ? fail(l, "creating")
             : reserve(l, 0) ? -1
             : init_file(l)  ? fail(l, "creating the datasets")
                             : 0;
    }
    if (rc == 0 && H5Fflush(l->file, H5F_SCOPE_GLOBAL) < 0) rc = fail(l, "flushing");
    if (rc) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err_msg());
        l->failed = 1;
        rolloutlog_close(l);
        if (!reopen) unlink(path); /* a log never completed would make the next resume fail */
        err_set("%s", msg);
        return NULL;
    }
    return l;
}

int64_t rolloutlog_prompt_rows(const rolloutlog *l) { return l ? l->prompt_rows : 0; }
int64_t rolloutlog_completion_rows(const rolloutlog *l) { return l ? l->completion_rows : 0; }

/* The file name of a sub-score column: '/' would make a group, so it becomes '_'. */
static void sub_column(const char *name, char out[REWARD_NAME_MAX]) {
    snprintf(out, REWARD_NAME_MAX, "%s", name[0] && strcmp(name, ".") && strcmp(name, "..") ? name : "_");
    for (char *p = out; *p; p++)
        if (*p == '/') *p = '_';
}

static int sub_index(const rolloutlog *l, const char *col) {
    for (int i = 0; i < l->nsub; i++)
        if (strcmp(l->sub[i], col) == 0) return i;
    return -1;
}

/* Every column of a step, written in the order of the specs. */
typedef struct step_cols {
    int64_t *i64a, *i64b;
    int32_t *i32a, *i32b;
    double *f64a, *f64b;
    const char **stra, **strb;
    hvl_t *ids;
} step_cols;

static void cols_free(step_cols *s) {
    free(s->i64a);
    free(s->i64b);
    free(s->i32a);
    free(s->i32b);
    free(s->f64a);
    free(s->f64b);
    free(s->stra);
    free(s->strb);
    free(s->ids);
}

static void cols_alloc(step_cols *s, int n) {
    size_t m = (size_t)n;
    s->i64a = mem_alloc(m * sizeof(int64_t));
    s->i64b = mem_alloc(m * sizeof(int64_t));
    s->i32a = mem_alloc(m * sizeof(int32_t));
    s->i32b = mem_alloc(m * sizeof(int32_t));
    s->f64a = mem_alloc(m * sizeof(double));
    s->f64b = mem_alloc(m * sizeof(double));
    s->stra = mem_alloc(m * sizeof(char *));
    s->strb = mem_alloc(m * sizeof(char *));
    s->ids = mem_alloc(m * sizeof(hvl_t));
}

static int append_prompts(rolloutlog *l, int64_t step, const rolloutlog_prompt *p, int np) {
    step_cols s;
    cols_alloc(&s, np);
    for (int i = 0; i < np; i++) {
        s.i64a[i] = step;
        s.i64b[i] = p[i].index;
        s.stra[i] = p[i].text ? p[i].text : "";
        s.strb[i] = p[i].answer ? p[i].answer : "";
        s.ids[i].len = (size_t)p[i].n_ids;
        s.ids[i].p = (void *)p[i].ids;
    }
    const void *bufs[NPCOL] = {s.i64a, s.i64b, s.stra, s.strb, s.ids};
    int rc = 0;
    for (int i = 0; i < NPCOL && rc == 0; i++)
        if (write_col(l->prompts, prompt_cols[i].name, mem_type(l, prompt_cols[i].type), (hsize_t)l->prompt_rows,
                      (hsize_t)np, bufs[i]))
            rc = fail(l, "writing prompts");
    cols_free(&s);
    return rc;
}

static int append_completions(rolloutlog *l, int64_t step, int64_t first_prompt_row, const rolloutlog_completion *c,
                              int nc) {
    step_cols s;
    cols_alloc(&s, nc);
    for (int i = 0; i < nc; i++) {
        s.i64a[i] = step;
        s.i64b[i] = first_prompt_row + c[i].prompt;
        s.i32a[i] = c[i].sample;
        s.stra[i] = c[i].text ? c[i].text : "";
        s.ids[i].len = (size_t)c[i].n_ids;
        s.ids[i].p = (void *)c[i].ids;
        s.i32b[i] = c[i].n_ids;
        s.strb[i] = c[i].finish_reason ? c[i].finish_reason : "";
        s.f64a[i] = c[i].reward;
        s.f64b[i] = c[i].advantage;
    }
    const void *bufs[NCCOL] = {s.i64a, s.i64b, s.i32a, s.stra, s.ids, s.i32b, s.strb, s.f64a, s.f64b};
    int rc = 0;
    for (int i = 0; i < NCCOL && rc == 0; i++)
        if (write_col(l->completions, completion_cols[i].name, mem_type(l, completion_cols[i].type),
                      (hsize_t)l->completion_rows, (hsize_t)nc, bufs[i]))
            rc = fail(l, "writing completions");
    /* sub-scores: new columns start as NaN for the rows before; absent values stay NaN */
    char col[REWARD_NAME_MAX];
    for (int i = 0; i < nc && rc == 0; i++)
        for (int k = 0; k < c[i].n_sub && rc == 0; k++) {
            sub_column(c[i].sub[k].name, col);
            if (sub_index(l, col) >= 0) continue;
            if (create_col(l, l->subscores, col, COL_F64, (hsize_t)l->completion_rows)) {
                rc = fail(l, "creating a sub-score column");
                break;
            }
            l->sub = mem_realloc(l->sub, (size_t)(l->nsub + 1) * sizeof *l->sub);
            memcpy(l->sub[l->nsub++], col, REWARD_NAME_MAX);
        }
    for (int j = 0; j < l->nsub && rc == 0; j++) {
        for (int i = 0; i < nc; i++) {
            s.f64a[i] = NAN;
            for (int k = 0; k < c[i].n_sub; k++) {
                sub_column(c[i].sub[k].name, col);
                if (strcmp(col, l->sub[j]) == 0) s.f64a[i] = c[i].sub[k].value;
            }
        }
        if (write_col(l->subscores, l->sub[j], H5T_NATIVE_DOUBLE, (hsize_t)l->completion_rows, (hsize_t)nc, s.f64a))
            rc = fail(l, "writing sub-scores");
    }
    cols_free(&s);
    return rc;
}

static uint64_t chunks(int64_t rows) { return (uint64_t)((rows + CHUNK_ROWS - 1) / CHUNK_ROWS); }

/* Bytes of one row of n columns in the file (a variable-length item takes 16: length, heap id). */
static uint64_t row_bytes(const col_spec *cols, int n) {
    static const uint64_t size[] = {[COL_I64] = 8, [COL_I32] = 4, [COL_F64] = 8, [COL_STR] = 16, [COL_IDS] = 16};
    uint64_t b = 0;
    for (int i = 0; i < n; i++) b += size[cols[i].type];
    return b;
}

/* Sub-score columns an append would add. */
static int new_columns(const rolloutlog *l, const rolloutlog_completion *c, int nc) {
    int total = 0, n = 0;
    for (int i = 0; i < nc; i++) total += c[i].n_sub;
    char (*seen)[REWARD_NAME_MAX] = mem_alloc((size_t)total * sizeof *seen);
    for (int i = 0; i < nc; i++)
        for (int k = 0; k < c[i].n_sub; k++) {
            sub_column(c[i].sub[k].name, seen[n]);
            int dup = sub_index(l, seen[n]) >= 0;
            for (int m = 0; m < n && !dup; m++) dup = strcmp(seen[m], seen[n]) == 0;
            n += !dup;
        }
    free(seen);
    return n;
}

/* The most disk space an append can take: variable-length items twice over (global heap
 * collections are at least half full), with their 16-byte headers and alignment; every column's
 * new chunks; new sub-score columns, filled for every row. */
static uint64_t append_bound(const rolloutlog *l, const rolloutlog_prompt *p, int np, const rolloutlog_completion *c,
                             int nc, int new_cols) {
    uint64_t vl = 4096;
    for (int i = 0; i < np; i++)
        vl += 3 * 32 + strlen(p[i].text ? p[i].text : "") + strlen(p[i].answer ? p[i].answer : "") +
              4 * (uint64_t)p[i].n_ids;
    for (int i = 0; i < nc; i++)
        vl += 3 * 32 + strlen(c[i].text ? c[i].text : "") + strlen(c[i].finish_reason ? c[i].finish_reason : "") +
              4 * (uint64_t)c[i].n_ids;
    uint64_t pc = chunks(l->prompt_rows + np) - chunks(l->prompt_rows);
    uint64_t cc = chunks(l->completion_rows + nc) - chunks(l->completion_rows);
    uint64_t sub = CHUNK_ROWS * sizeof(double);
    return 2 * vl + pc * CHUNK_ROWS * row_bytes(prompt_cols, NPCOL) +
           cc * (CHUNK_ROWS * row_bytes(completion_cols, NCCOL) + (uint64_t)l->nsub * sub) +
           (uint64_t)new_cols * chunks(l->completion_rows + nc) * sub;
}

int rolloutlog_append(rolloutlog *l, int64_t step, const rolloutlog_prompt *p, int np,
                      const rolloutlog_completion *c, int nc) {
    if (!l || step < 0 || np < 0 || nc < 0 || (np && !p) || (nc && !c))
        return err_set("rollout log: bad arguments to append");
    if (step < l->last_step)
        return err_set("rollout log '%s': step %lld after step %lld (steps must not decrease)", l->path,
                       (long long)step, (long long)l->last_step);
    for (int i = 0; i < np; i++)
        if (p[i].n_ids < 0 || (p[i].n_ids && !p[i].ids))
            return err_set("rollout log '%s': prompt %d has no ids for its %d tokens", l->path, i, p[i].n_ids);
    for (int i = 0; i < nc; i++) {
        if (c[i].prompt < 0 || c[i].prompt >= np)
            return err_set("rollout log '%s': completion %d refers to prompt %d of %d", l->path, i, c[i].prompt, np);
        if (c[i].n_ids < 0 || (c[i].n_ids && !c[i].ids) || c[i].n_sub < 0 || (c[i].n_sub && !c[i].sub))
            return err_set("rollout log '%s': completion %d has inconsistent ids or sub-scores", l->path, i);
    }
    if (l->failed) return err_set("rollout log '%s': an earlier write failed; reopen the log", l->path);
    if (reserve(l, append_bound(l, p, np, c, nc, new_columns(l, c, nc)))) return -1;
    int64_t first = l->prompt_rows;
    if (append_prompts(l, step, p, np) || append_completions(l, step, first, c, nc)) {
        l->failed = 1;
        return -1;
    }
    l->prompt_rows += np;
    l->completion_rows += nc;
    l->last_step = step;
    if (H5Fflush(l->file, H5F_SCOPE_GLOBAL) < 0) return fail(l, "flushing");
    h5space_release(l->file, &l->reserved);
    return 0;
}

int rolloutlog_close(rolloutlog *l) {
    if (!l) return 0;
    int rc = 0;
    hid_t groups[3] = {l->subscores, l->completions, l->prompts};
    for (int i = 0; i < 3; i++)
        if (groups[i] >= 0) H5Gclose(groups[i]);
    if (l->file >= 0 && l->failed) {
        h5space_discard(l->file); /* the file keeps its state of the last flush */
    } else if (l->file >= 0) {
        if (H5Fclose(l->file) < 0) rc = fail(l, "closing");
        h5space_trim(l->path);
    }
    H5Tclose(l->str_type);
    H5Tclose(l->ids_file_type);
    H5Tclose(l->ids_mem_type);
    H5Eclear2(H5E_DEFAULT);
    free(l->sub);
    free(l);
    return rc;
}
