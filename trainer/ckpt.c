/* ckpt — HDF5 checkpoints written atomically and read back with every check; see ckpt.h.
 * Deliberately not here: HDF5's own error printing (switched off: errors come back through
 * err_set with the innermost HDF5 reason), parallel HDF5. */
#include "ckpt.h"

#include "h5space.h"
#include "h5why.h"

#include "common/err.h"
#include "common/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#define PATH_CAP 4096
#define CHECKSUM_GROUP "data_checksums"
/* Disk space reserved beyond an item's data for the metadata HDF5 may allocate with it. */
#define META_SLACK ((uint64_t)64 << 10)

/* ---- HDF5 helpers ---- */

static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/* A path of non-empty components without "." or "..". */
static int path_ok(const char *path) {
    if (!path || !*path || *path == '/') return 0;
    const char *p = path;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.')) return 0;
        if (!e) return 1;
        p = e + 1;
    }
}

/* 1 if every component of path exists as a link from loc, else 0. */
static int path_exists(hid_t loc, const char *path) {
    char buf[PATH_CAP];
    if (!path_ok(path) || strlen(path) >= sizeof buf) return 0;
    strcpy(buf, path);
    for (char *p = buf;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            htri_t ex = H5Lexists(loc, buf, H5P_DEFAULT);
            *p = c;
            if (ex <= 0) {
                H5Eclear2(H5E_DEFAULT);
                return 0;
            }
            if (!c) return 1;
        }
    }
}

/* Object-creation properties without timestamps, so equal content gives equal bytes. */
static hid_t plist_untimed(hid_t cls) {
    hid_t p = H5Pcreate(cls);
    if (p >= 0) H5Pset_obj_track_times(p, 0);
    return p;
}

/* Create the groups above the last component of path. */
static int make_parents(hid_t file, const char *path) {
    char buf[PATH_CAP];
    if (strlen(path) >= sizeof buf) return -1;
    strcpy(buf, path);
    int rc = 0;
    for (char *p = strchr(buf, '/'); p && rc == 0; p = strchr(p + 1, '/')) {
        *p = 0;
        if (!path_exists(file, buf)) {
            hid_t gcpl = plist_untimed(H5P_GROUP_CREATE);
            hid_t g = H5Gcreate2(file, buf, H5P_DEFAULT, gcpl, H5P_DEFAULT);
            if (g < 0) rc = -1;
            else H5Gclose(g);
            H5Pclose(gcpl);
        }
        *p = '/';
    }
    return rc;
}

static hid_t str_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

static int attr_write(hid_t obj, const char *name, hid_t type, const void *value) {
    hid_t s = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, s, H5P_DEFAULT, H5P_DEFAULT);
    int rc = a >= 0 && H5Awrite(a, type, value) >= 0 ? 0 : -1;
    hid_t stack = rc ? H5Eget_current_stack() : -1; /* kept across the closes below */
    if (a >= 0) H5Aclose(a);
    H5Sclose(s);
    if (stack >= 0) H5Eset_current_stack(stack);
    return rc;
}

static int attr_str(hid_t obj, const char *name, const char *value) {
    hid_t t = str_type();
    int rc = attr_write(obj, name, t, &value);
    hid_t stack = rc ? H5Eget_current_stack() : -1;
    H5Tclose(t);
    if (stack >= 0) H5Eset_current_stack(stack);
    return rc;
}

/* 1 when a dataspace holds exactly one element (scalar, or an extent of one), else 0; closes it.
 * Every read of one value checks this first: HDF5 writes as many elements as the file holds. */
static int single(hid_t space) {
    int ok = space >= 0 && H5Sget_simple_extent_npoints(space) == 1;
    if (space >= 0) H5Sclose(space);
    return ok;
}

/* A string attribute into buf; -1 when absent or not a single string. */
static int attr_read_str(hid_t obj, const char *name, char *buf, size_t cap) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = H5Aget_type(a);
    int rc = -1;
    if (single(H5Aget_space(a)) && H5Tget_class(ft) == H5T_STRING && H5Tis_variable_str(ft) > 0) {
        hid_t t = str_type();
        char *s = NULL;
        if (H5Aread(a, t, &s) >= 0 && s) {
            snprintf(buf, cap, "%s", s);
            rc = 0;
        }
        H5free_memory(s);
        H5Tclose(t);
    }
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

static int attr_read_i64(hid_t obj, const char *name, int64_t *v) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = H5Aget_type(a);
    int rc = single(H5Aget_space(a)) && H5Tget_class(ft) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_INT64, v) >= 0 ? 0 : -1;
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* CRC-32 (zlib's, the one of Python's zlib.crc32) of an item's data as stored: a tensor's or a
 * scalar's bytes in the file's little-endian layout, a string's UTF-8 bytes. */
static uint32_t item_crc(const void *data, size_t n) {
    return (uint32_t)crc32_z(crc32_z(0, Z_NULL, 0), data, n);
}

/* CRC-32 of the identity attributes: step (8 bytes, little-endian), arch_hash, NUL, config_hash. */
static uint32_t meta_crc(int64_t step, const char *arch, const char *chash) {
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)step >> (8 * i));
    uLong c = crc32_z(crc32_z(0, Z_NULL, 0), le, 8);
    c = crc32_z(c, (const Bytef *)arch, strlen(arch) + 1);
    return (uint32_t)crc32_z(c, (const Bytef *)chash, strlen(chash));
}

/* The HDF5 file type of a tensor dtype (caller closes it). */
static hid_t tensor_type(ts_dtype dt) {
    switch (dt) {
    case TS_F32: return H5Tcopy(H5T_IEEE_F32LE);
    case TS_F64: return H5Tcopy(H5T_IEEE_F64LE);
    case TS_F16: { /* IEEE binary16: sign bit 15, exponent bits 10-14 (bias 15), mantissa 0-9 */
        hid_t t = H5Tcopy(H5T_IEEE_F32LE);
        H5Tset_fields(t, 15, 10, 5, 0, 10);
        H5Tset_size(t, 2);
        H5Tset_ebias(t, 15);
        return t;
    }
    case TS_BF16: return H5Tcopy(H5T_STD_U16LE);
    case TS_I64: return H5Tcopy(H5T_STD_I64LE);
    case TS_I32: return H5Tcopy(H5T_STD_I32LE);
    case TS_U8:
    case TS_BOOL: return H5Tcopy(H5T_STD_U8LE);
    }
    return -1;
}

/* ---- writing ---- */

struct ckpt_writer {
    hid_t file;
    int committed, failed;
    uint64_t reserved;   /* disk blocks of the file reserved so far (h5space.h) */
    uint64_t names;      /* bytes of item names so far: groups' name heaps grow with them */
    char dir[PATH_CAP], tmp[PATH_CAP], final[PATH_CAP];
};

/* Drop an uncommitted file: closed without writing to the disk (h5space.h), then removed. */
static void abandon(ckpt_writer *w) {
    if (w->file >= 0) h5space_discard(w->file);
    w->file = -1;
    unlink(w->tmp);
}

/* Reserve the disk space for `bytes` of data and the metadata that comes with them. */
static int reserve(ckpt_writer *w, uint64_t bytes, const char *what) {
    uint64_t more = bytes + META_SLACK + 4 * w->names;
    if (h5space_reserve(w->file, more, &w->reserved) == 0) return 0;
    w->failed = 1;
    return err_set("checkpoint '%s': no room for %s (%llu bytes more): %s", w->tmp, what,
                   (unsigned long long)more, strerror(errno));
}

static int wfail(ckpt_writer *w, const char *what, const char *path) {
    char why[512];
    w->failed = 1;
    h5_why(why, sizeof why);
    return err_set("checkpoint '%s': %s '%s' failed: %s", w->tmp, what, path, why);
}

ckpt_writer *ckpt_writer_open(const char *dir, const ckpt_meta *m) {
    if (!dir || !*dir || !m) return err_set("checkpoint: a directory and metadata are required"), NULL;
    if (m->step < 0) return err_set("checkpoint: step must be >= 0, got %lld", (long long)m->step), NULL;
    if (!m->arch_hash || !*m->arch_hash) return err_set("checkpoint: an architecture hash is required"), NULL;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return err_set("checkpoint: cannot create directory '%s': %s", dir, strerror(errno)), NULL;
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return err_set("checkpoint: '%s' is not a directory", dir), NULL;
    ckpt_writer *w = mem_calloc(1, sizeof *w);
    w->file = -1;
    int n1 = snprintf(w->dir, sizeof w->dir, "%s", dir);
    int n2 = snprintf(w->final, sizeof w->final, "%s/ckpt-%08lld.h5", dir, (long long)m->step);
    int n3 = snprintf(w->tmp, sizeof w->tmp, "%s.tmp", w->final);
    if (n1 >= PATH_CAP || n2 >= PATH_CAP || n3 >= PATH_CAP) {
        free(w);
        return err_set("checkpoint: directory path too long: '%s'", dir), NULL;
    }
    h5_quiet();
    if (h5space_check(dir, META_SLACK)) {
        err_set("checkpoint: cannot create '%s': %s", w->tmp, strerror(errno));
        free(w);
        return NULL;
    }
    w->file = H5Fcreate(w->tmp, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (w->file < 0) {
        char why[512];
        err_set("checkpoint: cannot create '%s': %s", w->tmp, h5_why(why, sizeof why));
        unlink(w->tmp);
        free(w);
        return NULL;
    }
    int64_t version = CKPT_FORMAT_VERSION;
    const char *chash = m->config_hash ? m->config_hash : "";
    uint32_t crc = meta_crc(m->step, m->arch_hash, chash);
    if (reserve(w, 0, "the root attributes")) {
        ckpt_writer_free(w);
        return NULL;
    }
    if (attr_str(w->file, "format", CKPT_FORMAT) || attr_write(w->file, "format_version", H5T_STD_I64LE, &version) ||
        attr_write(w->file, "step", H5T_STD_I64LE, &m->step) || attr_str(w->file, "arch_hash", m->arch_hash) ||
        attr_str(w->file, "config_hash", chash) || attr_write(w->file, "crc32", H5T_STD_U32LE, &crc)) {
        wfail(w, "writing", "root attributes");
        ckpt_writer_free(w);
        return NULL;
    }
    return w;
}

/* One dataset: type, rank-0 or rank-n shape, the data in the file type's layout (for a string,
 * a pointer to it), its kind. */
static int put(ckpt_writer *w, const char *path, const char *kind, hid_t type, int rank, const hsize_t *dims,
               const void *data, const char *dtype) {
    if (w->failed || w->committed)
        return err_set("checkpoint '%s': writer already %s", w->tmp, w->failed ? "failed" : "committed");
    if (!path_ok(path))
        return err_set("checkpoint '%s': bad item path '%s' (expected a/b/c without empty, '.' or '..' parts)",
                       w->tmp, path ? path : "(null)");
    if (path_exists(w->file, path)) return err_set("checkpoint '%s': item '%s' written twice", w->tmp, path);
    hsize_t numel = 1;
    for (int i = 0; i < rank; i++) numel *= dims[i];
    int is_str = H5Tget_class(type) == H5T_STRING;
    const void *bytes = is_str ? *(const char *const *)data : data;
    size_t nbytes = is_str ? strlen(bytes) : (size_t)numel * H5Tget_size(type);
    uint32_t crc = item_crc(bytes, nbytes);
    w->names += strlen(path) + 16;
    char what[PATH_CAP + 8];
    snprintf(what, sizeof what, "'%s'", path);
    if (reserve(w, nbytes, what)) return -1;
    if (make_parents(w->file, path)) return wfail(w, "creating the groups of", path);
    hid_t space = rank == 0 ? H5Screate(H5S_SCALAR) : H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = plist_untimed(H5P_DATASET_CREATE);
    hid_t d = H5Dcreate2(w->file, path, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    int ok = d >= 0 && (numel == 0 || H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0) &&
             attr_str(d, "kind", kind) == 0 && (!dtype || attr_str(d, "dtype", dtype) == 0) &&
             attr_write(d, "crc32", H5T_STD_U32LE, &crc) == 0;
    /* the reason now: every later HDF5 call clears the error stack */
    int rc = ok ? 0 : wfail(w, "writing", path);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    return rc;
}

int ckpt_put_tensor(ckpt_writer *w, const char *path, const ts_tensor *t) {
    if (!w || !t) return err_set("checkpoint: no writer or no tensor for '%s'", path ? path : "(null)");
    int64_t shape[TS_MAX_DIMS];
    int nd = ts_shape(t, shape);
    int64_t numel = ts_numel(t);
    if (nd < 0 || numel < 0) return err_prefix("checkpoint: tensor '%s'", path);
    ts_dtype dt = ts_get_dtype(t);
    size_t nbytes = (size_t)numel * ts_dtype_size(dt);
    void *buf = mem_alloc(nbytes);
    if (nbytes && ts_to_host(t, buf, nbytes)) {
        free(buf);
        return err_prefix("checkpoint: tensor '%s'", path);
    }
    hsize_t dims[TS_MAX_DIMS];
    for (int i = 0; i < nd; i++) dims[i] = (hsize_t)shape[i];
    hid_t type = tensor_type(dt);
    int rc = put(w, path, "tensor", type, nd, dims, buf, ts_dtype_name(dt));
    H5Tclose(type);
    free(buf);
    return rc;
}

int ckpt_put_bytes(ckpt_writer *w, const char *path, const void *data, size_t n) {
    if (!w || (n && !data)) return err_set("checkpoint: no writer or no data for '%s'", path ? path : "(null)");
    hsize_t dims[1] = {(hsize_t)n};
    return put(w, path, "bytes", H5T_STD_U8LE, 1, dims, data, NULL);
}

int ckpt_put_string(ckpt_writer *w, const char *path, const char *s) {
    if (!w || !s) return err_set("checkpoint: no writer or no string for '%s'", path ? path : "(null)");
    hid_t t = str_type();
    int rc = put(w, path, "string", t, 0, NULL, &s, NULL);
    H5Tclose(t);
    return rc;
}

int ckpt_put_i64(ckpt_writer *w, const char *path, int64_t v) {
    if (!w) return err_set("checkpoint: no writer");
    return put(w, path, "i64", H5T_STD_I64LE, 0, NULL, &v, NULL);
}

int ckpt_put_f64(ckpt_writer *w, const char *path, double v) {
    if (!w) return err_set("checkpoint: no writer");
    return put(w, path, "f64", H5T_IEEE_F64LE, 0, NULL, &v, NULL);
}

int ckpt_put_checksum(ckpt_writer *w, const char *dataset, uint64_t checksum) {
    if (!w || !dataset || !*dataset) return err_set("checkpoint: no writer or no dataset name");
    if (w->failed || w->committed) return err_set("checkpoint '%s': writer already used up", w->tmp);
    w->names += strlen(dataset) + 16;
    if (reserve(w, 0, "a dataset checksum")) return -1;
    hid_t g;
    if (path_exists(w->file, CHECKSUM_GROUP)) {
        g = H5Gopen2(w->file, CHECKSUM_GROUP, H5P_DEFAULT);
    } else {
        hid_t gcpl = plist_untimed(H5P_GROUP_CREATE);
        g = H5Gcreate2(w->file, CHECKSUM_GROUP, H5P_DEFAULT, gcpl, H5P_DEFAULT);
        H5Pclose(gcpl);
    }
    if (g < 0) return wfail(w, "creating", CHECKSUM_GROUP);
    int rc;
    if (H5Aexists(g, dataset) > 0) rc = err_set("checkpoint '%s': checksum of '%s' written twice", w->tmp, dataset);
    else rc = attr_write(g, dataset, H5T_STD_U64LE, &checksum) ? wfail(w, "writing the checksum of", dataset) : 0;
    H5Gclose(g);
    return rc;
}

static int fsync_path(const char *path, int flags) {
    int fd = open(path, flags);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* "ckpt-<step>.h5" as the writer names it gives 1 and the step; "ckpt-<step>.h5.tmp" gives 2;
 * anything else 0. */
static int ckpt_name(const char *name, int64_t *step) {
    if (strncmp(name, "ckpt-", 5) != 0) return 0;
    const char *p = name + 5;
    int64_t s = 0;
    int nd = 0;
    for (; *p >= '0' && *p <= '9' && nd < 18; p++, nd++) s = s * 10 + (*p - '0');
    char canon[48];
    snprintf(canon, sizeof canon, "ckpt-%08lld", (long long)s);
    if (nd == 0 || strncmp(name, canon, strlen(canon)) != 0 || p != name + strlen(canon)) return 0;
    *step = s;
    if (strcmp(p, ".h5") == 0) return 1;
    if (strcmp(p, ".h5.tmp") == 0) return 2;
    return 0;
}

static int cmp_desc(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Remove all but the newest keep_last checkpoints (0 = keep all) and stale temporary files. */
static int prune(const char *dir, int keep_last) {
    DIR *d = opendir(dir);
    if (!d) return err_set("checkpoint: cannot list '%s': %s", dir, strerror(errno));
    int64_t *steps = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    char path[PATH_CAP];
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t s;
        int kind = ckpt_name(e->d_name, &s);
        if (kind == 2) {
            if (snprintf(path, sizeof path, "%s/%s", dir, e->d_name) >= (int)sizeof path) continue;
            if (unlink(path) != 0 && errno != ENOENT)
                rc = err_set("checkpoint: cannot remove stale '%s': %s", path, strerror(errno));
        } else if (kind == 1) {
            if (n == cap) {
                cap = cap ? cap * 2 : 16;
                steps = mem_realloc(steps, cap * sizeof *steps);
            }
            steps[n++] = s;
        }
    }
    closedir(d);
    if (rc == 0 && keep_last > 0 && n > (size_t)keep_last) {
        qsort(steps, n, sizeof *steps, cmp_desc);
        for (size_t i = (size_t)keep_last; i < n; i++) {
            if (snprintf(path, sizeof path, "%s/ckpt-%08lld.h5", dir, (long long)steps[i]) >= (int)sizeof path)
                continue;
            if (unlink(path) != 0 && errno != ENOENT)
                rc = err_set("checkpoint: cannot remove old '%s': %s", path, strerror(errno));
        }
    }
    free(steps);
    return rc;
}

int ckpt_writer_commit(ckpt_writer *w, int keep_last, char *path, size_t cap) {
    if (!w) return err_set("checkpoint: no writer");
    if (w->failed || w->committed)
        return err_set("checkpoint '%s': writer already %s", w->tmp, w->failed ? "failed" : "committed");
    if (reserve(w, 0, "its metadata")) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err_msg());
        abandon(w);
        return err_set("%s; it was removed and the earlier checkpoints in '%s' are untouched", msg, w->dir);
    }
    char why[512] = "";
    const char *step = NULL;
    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0) {
        step = "flushing";
        h5_why(why, sizeof why);
    } else if (H5Fclose(w->file) < 0) {
        step = "closing";
        h5_why(why, sizeof why);
        w->file = -1; /* a file whose close failed is never touched again */
    } else {
        w->file = -1;
    }
    if (step) {
        w->failed = 1;
        abandon(w);
        return err_set("checkpoint: %s '%s' failed: %s; it was removed and the earlier checkpoints in '%s' "
                       "are untouched",
                       step, w->tmp, why, w->dir);
    }
    h5space_trim(w->tmp);
    if (ckpt_seal(w->tmp)) {
        w->failed = 1;
        unlink(w->tmp);
        return err_prefix("the earlier checkpoints in '%s' are untouched", w->dir);
    }
    if (fsync_path(w->tmp, O_RDONLY) != 0 || rename(w->tmp, w->final) != 0) {
        int e = errno;
        w->failed = 1;
        unlink(w->tmp);
        return err_set("checkpoint: making '%s' durable failed: %s; the earlier checkpoints in '%s' are "
                       "untouched",
                       w->final, strerror(e), w->dir);
    }
    w->committed = 1;
    if (fsync_path(w->dir, O_RDONLY | O_DIRECTORY) != 0)
        return err_set("checkpoint: '%s' was written but fsync of its directory failed: %s", w->final,
                       strerror(errno));
    if (path && cap) snprintf(path, cap, "%s", w->final);
    if (prune(w->dir, keep_last)) return err_prefix("checkpoint '%s' was written, but", w->final);
    return 0;
}

void ckpt_writer_free(ckpt_writer *w) {
    if (!w) return;
    if (!w->committed) abandon(w);
    free(w);
}

/* ---- reading ---- */

struct ckpt_reader {
    hid_t file;
    int64_t step;
    char path[PATH_CAP];
    char arch[256], cfg_hash[256];
    uint64_t file_bytes; /* the file's size: no item it stores can be larger */
};

static int attr_read_u32(hid_t obj, const char *name, uint32_t *v) {
    if (H5Aexists(obj, name) <= 0) return -1;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t ft = H5Aget_type(a);
    int rc = H5Tget_class(ft) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_UINT32, v) >= 0 ? 0 : -1;
    H5Tclose(ft);
    H5Aclose(a);
    return rc;
}

/* Compare an item's data as read with the CRC-32 stored with it. */
static int check_crc(const ckpt_reader *r, hid_t d, const char *path, const void *data, size_t n) {
    uint32_t want = 0, have = item_crc(data, n);
    if (attr_read_u32(d, "crc32", &want)) {
        H5Eclear2(H5E_DEFAULT);
        return err_set("checkpoint '%s' is damaged: item '%s' has no crc32 attribute", r->path, path);
    }
    if (have != want)
        return err_set("checkpoint '%s' is damaged: the data of '%s' have CRC-32 %08x, not the %08x stored with "
                       "them",
                       r->path, path, (unsigned)have, (unsigned)want);
    return 0;
}

#define SEAL_MAGIC "rlvrseal"
#define SEAL_BYTES 16

static void put_le32(unsigned char *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_le32(const unsigned char *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The CRC-32 of the first n bytes of the open file f. */
static int crc_prefix(FILE *f, long n, uint32_t *crc) {
    unsigned char buf[1 << 16];
    uLong c = crc32(0L, Z_NULL, 0);
    if (fseek(f, 0, SEEK_SET) != 0) return -1;
    for (long left = n; left > 0;) {
        size_t want = left < (long)sizeof buf ? (size_t)left : sizeof buf;
        if (fread(buf, 1, want, f) != want) return -1;
        c = crc32(c, buf, (uInt)want);
        left -= (long)want;
    }
    *crc = (uint32_t)c;
    return 0;
}

int ckpt_seal(const char *path) {
    FILE *f = fopen(path, "r+b");
    if (!f) return err_set("checkpoint '%s': cannot open to seal: %s", path, strerror(errno));
    unsigned char seal[SEAL_BYTES];
    uint32_t crc = 0;
    int ok = fseek(f, 0, SEEK_END) == 0;
    long n = ok ? ftell(f) : -1;
    ok = ok && n >= 0 && crc_prefix(f, n, &crc) == 0;
    memcpy(seal, SEAL_MAGIC, 8);
    put_le32(seal + 8, crc);
    put_le32(seal + 12, CKPT_FORMAT_VERSION);
    ok = ok && fseek(f, 0, SEEK_END) == 0 && fwrite(seal, 1, SEAL_BYTES, f) == SEAL_BYTES;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    return ok ? 0 : err_set("checkpoint '%s': sealing failed: %s", path, strerror(e));
}

/* The seal at the end of path matches the bytes before it (*incompatible 1: it names another
 * format version). */
static int check_seal(const char *path, int *incompatible) {
    FILE *f = fopen(path, "rb");
    if (!f) return err_set("checkpoint '%s': %s", path, strerror(errno));
    unsigned char seal[SEAL_BYTES];
    uint32_t crc = 0;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    int rc = 0;
    if (n < SEAL_BYTES || fseek(f, n - SEAL_BYTES, SEEK_SET) != 0 || fread(seal, 1, SEAL_BYTES, f) != SEAL_BYTES ||
        memcmp(seal, SEAL_MAGIC, 8) != 0) {
        rc = err_set("checkpoint '%s' is damaged or not an rlvr checkpoint: it does not end with the seal of "
                     "format %d", path, CKPT_FORMAT_VERSION);
    } else if (get_le32(seal + 12) != CKPT_FORMAT_VERSION) {
        *incompatible = 1;
        rc = err_set("checkpoint '%s': format version %u, but this build reads version %d", path,
                     (unsigned)get_le32(seal + 12), CKPT_FORMAT_VERSION);
    } else if (crc_prefix(f, n - SEAL_BYTES, &crc) != 0) {
        rc = err_set("checkpoint '%s': reading it failed: %s", path, strerror(errno));
    } else if (crc != get_le32(seal + 8)) {
        rc = err_set("checkpoint '%s' is damaged: its bytes have CRC-32 %08x, not the %08x sealed with them", path,
                     (unsigned)crc, (unsigned)get_le32(seal + 8));
    }
    fclose(f);
    return rc;
}

/* ckpt_open, telling a damaged file (*incompatible 0) from one of another format version or
 * architecture (*incompatible 1). */
static ckpt_reader *open_reader(const char *path, const char *arch_hash, int *incompatible) {
    *incompatible = 0;
    if (!path) return err_set("checkpoint: no path"), NULL;
    struct stat st;
    if (stat(path, &st) != 0) return err_set("checkpoint '%s': %s", path, strerror(errno)), NULL;
    if (check_seal(path, incompatible)) return NULL;
    h5_quiet();
    ckpt_reader *r = mem_calloc(1, sizeof *r);
    r->file_bytes = (uint64_t)st.st_size;
    snprintf(r->path, sizeof r->path, "%s", path);
    r->file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (r->file < 0) {
        char why[512];
        err_set("checkpoint '%s': not a readable HDF5 file: %s", path, h5_why(why, sizeof why));
        free(r);
        return NULL;
    }
    char fmt[64];
    int64_t version = 0;
    uint32_t crc = 0;
    if (attr_read_str(r->file, "format", fmt, sizeof fmt) || strcmp(fmt, CKPT_FORMAT) != 0) {
        err_set("checkpoint '%s': not an rlvr checkpoint (no format attribute \"%s\")", path, CKPT_FORMAT);
    } else if (attr_read_i64(r->file, "format_version", &version) || version != CKPT_FORMAT_VERSION) {
        err_set("checkpoint '%s': format version %lld, but this build reads version %d", path, (long long)version,
                CKPT_FORMAT_VERSION);
        *incompatible = 1;
    } else if (attr_read_i64(r->file, "step", &r->step) || attr_read_str(r->file, "arch_hash", r->arch, sizeof r->arch) ||
               attr_read_str(r->file, "config_hash", r->cfg_hash, sizeof r->cfg_hash) ||
               attr_read_u32(r->file, "crc32", &crc)) {
        err_set("checkpoint '%s': missing step, arch_hash, config_hash or crc32 attribute", path);
    } else if (crc != meta_crc(r->step, r->arch, r->cfg_hash)) {
        err_set("checkpoint '%s' is damaged: its step, arch_hash and config_hash do not match their CRC-32", path);
    } else if (arch_hash && strcmp(arch_hash, r->arch) != 0) {
        err_set("checkpoint '%s' is of another architecture: its arch_hash is %s, the model's is %s", path, r->arch,
                arch_hash);
        *incompatible = 1;
    } else {
        return r;
    }
    H5Eclear2(H5E_DEFAULT);
    ckpt_close(r);
    return NULL;
}

ckpt_reader *ckpt_open(const char *path, const char *arch_hash) {
    int incompatible;
    return open_reader(path, arch_hash, &incompatible);
}

void ckpt_close(ckpt_reader *r) {
    if (!r) return;
    if (r->file >= 0) H5Fclose(r->file);
    free(r);
}

int64_t ckpt_step(const ckpt_reader *r) { return r->step; }
const char *ckpt_arch_hash(const ckpt_reader *r) { return r->arch; }
const char *ckpt_config_hash(const ckpt_reader *r) { return r->cfg_hash; }

int ckpt_has(const ckpt_reader *r, const char *path) { return r && path_exists(r->file, path); }

/* Open the dataset at path and check its kind; -1 with err_set. */
static hid_t open_item(ckpt_reader *r, const char *path, const char *kind) {
    if (!path_exists(r->file, path)) return err_set("checkpoint '%s' has no item '%s'", r->path, path);
    hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
    char k[32];
    if (d < 0 || attr_read_str(d, "kind", k, sizeof k) || strcmp(k, kind) != 0) {
        if (d >= 0) H5Dclose(d);
        H5Eclear2(H5E_DEFAULT);
        return err_set("checkpoint '%s': item '%s' is not a %s", r->path, path, kind);
    }
    return d;
}

static void shape_text(char *buf, size_t cap, int nd, const int64_t *s) {
    size_t o = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < nd && o < cap; i++) o += (size_t)snprintf(buf + o, cap - o, "%s%lld", i ? ", " : "", (long long)s[i]);
    if (o < cap) snprintf(buf + o, cap - o, ")");
}

/* Check the tensor at path against dst's dtype and shape; returns the open dataset or -1. */
static hid_t check_tensor(ckpt_reader *r, const char *path, const ts_tensor *dst) {
    hid_t d = open_item(r, path, "tensor");
    if (d < 0) return -1;
    char dtype[16] = "";
    attr_read_str(d, "dtype", dtype, sizeof dtype);
    hid_t space = H5Dget_space(d), ft = H5Dget_type(d);
    int nd = H5Sget_simple_extent_ndims(space);
    hsize_t dims[TS_MAX_DIMS];
    int64_t shape[TS_MAX_DIMS], want[TS_MAX_DIMS];
    int ok = nd >= 0 && nd <= TS_MAX_DIMS && H5Sget_simple_extent_dims(space, dims, NULL) == nd;
    for (int i = 0; ok && i < nd; i++) shape[i] = (int64_t)dims[i];
    ts_dtype dt = ts_get_dtype(dst);
    int wnd = ts_shape(dst, want);
    /* the file type is read as is, so it must be plain numbers (not strings, sequences, references) */
    int numeric = H5Tget_class(ft) == (dt == TS_F32 || dt == TS_F64 || dt == TS_F16 ? H5T_FLOAT : H5T_INTEGER);
    int same = ok && wnd == nd && strcmp(dtype, ts_dtype_name(dt)) == 0 && H5Tget_size(ft) == ts_dtype_size(dt);
    for (int i = 0; same && i < nd; i++) same = shape[i] == want[i];
    H5Tclose(ft);
    H5Sclose(space);
    if (same && !numeric) {
        H5Dclose(d);
        return err_set("checkpoint '%s': tensor '%s' is tagged %s but not stored as %s numbers (a damaged file)", r->path,
                       path, dtype, dt == TS_F32 || dt == TS_F64 || dt == TS_F16 ? "floating-point" : "integer");
    }
    if (!same) {
        char have[160] = "?", need[160] = "?";
        if (ok) shape_text(have, sizeof have, nd, shape);
        if (wnd >= 0) shape_text(need, sizeof need, wnd, want);
        H5Dclose(d);
        return err_set("checkpoint '%s': tensor '%s' is %s %s, but the model's is %s %s", r->path, path,
                       dtype[0] ? dtype : "?", have, ts_dtype_name(dt), need);
    }
    return d;
}

/* Read a checked dataset into dst. Closes d. */
static int read_tensor(ckpt_reader *r, const char *path, hid_t d, ts_tensor *dst) {
    int64_t shape[TS_MAX_DIMS];
    int nd = ts_shape(dst, shape);
    ts_dtype dt = ts_get_dtype(dst);
    size_t nbytes = (size_t)ts_numel(dst) * ts_dtype_size(dt);
    void *buf = mem_alloc(nbytes);
    hid_t ft = H5Dget_type(d);
    int rc = -1;
    char why[512];
    if (nbytes && H5Dread(d, ft, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        err_set("checkpoint '%s': reading tensor '%s' failed: %s", r->path, path, h5_why(why, sizeof why));
    else if (check_crc(r, d, path, buf, nbytes) == 0) {
        ts_tensor *src = ts_from_data(buf, shape, nd, dt);
        ts_no_grad_begin();
        rc = src && ts_copy_(dst, src) == 0 ? 0 : err_prefix("checkpoint '%s': tensor '%s'", r->path, path);
        ts_no_grad_end();
        ts_free(src);
    }
    H5Tclose(ft);
    H5Dclose(d);
    free(buf);
    return rc;
}

int ckpt_get_tensor(ckpt_reader *r, const char *path, ts_tensor *dst) {
    if (!r || !path || !dst) return err_set("checkpoint: no reader, path or tensor");
    hid_t d = check_tensor(r, path, dst);
    return d < 0 ? -1 : read_tensor(r, path, d, dst);
}

typedef struct extra_ctx {
    const char *const *names;
    int n;
    char found[PATH_CAP];
} extra_ctx;

/* H5Lvisit callback: stop at the first dataset whose relative path is not among the names. */
static herr_t find_extra(hid_t g, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    extra_ctx *x = data;
    hid_t o = H5Oopen(g, name, H5P_DEFAULT);
    int is_ds = o >= 0 && H5Iget_type(o) == H5I_DATASET;
    if (o >= 0) H5Oclose(o);
    if (!is_ds) return 0;
    for (int i = 0; i < x->n; i++)
        if (strcmp(x->names[i], name) == 0) return 0;
    snprintf(x->found, sizeof x->found, "%s", name);
    return 1;
}

int ckpt_load_tensors(ckpt_reader *r, const char *prefix, const char *const *names, ts_tensor *const *dst, int n) {
    if (!r || !prefix || (n > 0 && (!names || !dst)) || n < 0) return err_set("checkpoint: bad arguments to load tensors");
    char path[PATH_CAP];
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", prefix, names[i]);
        hid_t d = check_tensor(r, path, dst[i]);
        if (d < 0) return -1;
        H5Dclose(d);
    }
    if (path_exists(r->file, prefix)) {
        hid_t g = H5Gopen2(r->file, prefix, H5P_DEFAULT);
        extra_ctx x = {.names = names, .n = n, .found = ""};
        herr_t v = g >= 0 ? H5Lvisit(g, H5_INDEX_NAME, H5_ITER_INC, find_extra, &x) : -1;
        if (g >= 0) H5Gclose(g);
        H5Eclear2(H5E_DEFAULT);
        if (v < 0) return err_set("checkpoint '%s': cannot list '%s'", r->path, prefix);
        if (v > 0)
            return err_set("checkpoint '%s' has tensor '%s/%s', which the model does not have", r->path, prefix, x.found);
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%s", prefix, names[i]);
        hid_t d = H5Dopen2(r->file, path, H5P_DEFAULT);
        if (d < 0 || read_tensor(r, path, d, dst[i])) return d < 0 ? err_set("checkpoint: reopening '%s'", path) : -1;
    }
    return 0;
}

int ckpt_get_bytes(ckpt_reader *r, const char *path, uint8_t **data, size_t *n) {
    if (!r || !path || !data || !n) return err_set("checkpoint: bad arguments to read bytes");
    *data = NULL;
    *n = 0;
    hid_t d = open_item(r, path, "bytes");
    if (d < 0) return -1;
    hid_t space = H5Dget_space(d);
    hsize_t len = 0;
    int ok = H5Sget_simple_extent_ndims(space) == 1 && H5Sget_simple_extent_dims(space, &len, NULL) == 1;
    H5Sclose(space);
    /* the extent is the file's word: allocate only what it really stores */
    hsize_t stored = ok ? H5Dget_storage_size(d) : 0;
    uint8_t *buf = ok && stored == len ? mem_alloc((size_t)len) : NULL;
    int rc = -1;
    if (!ok) err_set("checkpoint '%s': bytes item '%s' is not one-dimensional", r->path, path);
    else if (stored != len)
        err_set("checkpoint '%s': bytes item '%s' declares %llu bytes but stores %llu (a damaged file)", r->path, path,
                (unsigned long long)len, (unsigned long long)stored);
    else if (len && H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        err_set("checkpoint '%s': reading '%s' failed", r->path, path);
    else if (check_crc(r, d, path, buf, (size_t)len) == 0) {
        *data = buf;
        *n = (size_t)len;
        buf = NULL;
        rc = 0;
    }
    free(buf);
    H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

char *ckpt_get_string(ckpt_reader *r, const char *path) {
    if (!r || !path) return err_set("checkpoint: bad arguments to read a string"), NULL;
    hid_t d = open_item(r, path, "string");
    if (d < 0) return NULL;
    hid_t t = str_type();
    char *s = NULL, *out = NULL;
    if (!single(H5Dget_space(d)))
        err_set("checkpoint '%s': string item '%s' does not hold exactly one string", r->path, path);
    else if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) < 0 || !s)
        err_set("checkpoint '%s': reading string '%s' failed", r->path, path);
    else if (check_crc(r, d, path, s, strlen(s)) == 0)
        out = mem_strdup(s);
    H5free_memory(s);
    H5Tclose(t);
    H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return out;
}

static int get_scalar(ckpt_reader *r, const char *path, const char *kind, hid_t mem, void *v) {
    if (!r || !path || !v) return err_set("checkpoint: bad arguments to read a scalar");
    hid_t d = open_item(r, path, kind);
    if (d < 0) return -1;
    int rc = !single(H5Dget_space(d))
                 ? err_set("checkpoint '%s': %s item '%s' does not hold exactly one value", r->path, kind, path)
             : H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0
                 ? err_set("checkpoint '%s': reading '%s' failed", r->path, path)
                 : check_crc(r, d, path, v, 8);
    H5Dclose(d);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

int ckpt_get_i64(ckpt_reader *r, const char *path, int64_t *v) { return get_scalar(r, path, "i64", H5T_NATIVE_INT64, v); }
int ckpt_get_f64(ckpt_reader *r, const char *path, double *v) { return get_scalar(r, path, "f64", H5T_NATIVE_DOUBLE, v); }

int ckpt_get_checksum(ckpt_reader *r, const char *dataset, uint64_t *checksum) {
    if (!r || !dataset || !checksum) return err_set("checkpoint: bad arguments to read a checksum");
    int rc = -1;
    if (path_exists(r->file, CHECKSUM_GROUP)) {
        hid_t g = H5Gopen2(r->file, CHECKSUM_GROUP, H5P_DEFAULT);
        if (g >= 0 && H5Aexists(g, dataset) > 0) {
            hid_t a = H5Aopen(g, dataset, H5P_DEFAULT);
            rc = a >= 0 && single(H5Aget_space(a)) && H5Aread(a, H5T_NATIVE_UINT64, checksum) >= 0 ? 0 : -1;
            if (a >= 0) H5Aclose(a);
        }
        if (g >= 0) H5Gclose(g);
    }
    H5Eclear2(H5E_DEFAULT);
    return rc ? err_set("checkpoint '%s' has no checksum for dataset '%s'", r->path, dataset) : 0;
}

/* ---- verifying ---- */

typedef struct verify_ctx {
    ckpt_reader *r;
    int failed;
} verify_ctx;

/* One dataset's data against its CRC-32: a string's bytes, anything else as stored. */
static int verify_item(ckpt_reader *r, hid_t d, const char *path) {
    char kind[32] = "";
    if (attr_read_str(d, "kind", kind, sizeof kind))
        return err_set("checkpoint '%s' is damaged: item '%s' has no kind", r->path, path);
    hid_t ft = H5Dget_type(d), space = H5Dget_space(d);
    hssize_t n = H5Sget_simple_extent_npoints(space);
    size_t size = H5Tget_size(ft);
    int rc = -1;
    if (strcmp(kind, "string") == 0) {
        hid_t t = str_type();
        char *s = NULL;
        if (H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, &s) >= 0 && s) rc = check_crc(r, d, path, s, strlen(s));
        else err_set("checkpoint '%s' is damaged: reading string '%s' failed", r->path, path);
        H5free_memory(s);
        H5Tclose(t);
    } else if (n < 0 || size == 0 || H5Tget_class(ft) == H5T_STRING || H5Tis_variable_str(ft) > 0) {
        err_set("checkpoint '%s' is damaged: item '%s' has no readable shape or type", r->path, path);
    } else if ((uint64_t)n > r->file_bytes / size) {
        /* the extent is the file's word: allocate only what the file can hold */
        err_set("checkpoint '%s' is damaged: item '%s' declares %lld elements of %zu bytes, more than the file's %llu "
                "bytes", r->path, path, (long long)n, size, (unsigned long long)r->file_bytes);
    } else {
        size_t nbytes = (size_t)n * size;
        void *buf = mem_alloc(nbytes);
        if (nbytes && H5Dread(d, ft, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
            err_set("checkpoint '%s' is damaged: reading '%s' failed", r->path, path);
        else rc = check_crc(r, d, path, buf, nbytes);
        free(buf);
    }
    H5Sclose(space);
    H5Tclose(ft);
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

/* H5Ovisit callback: verify every dataset, stop at the first that fails. */
static herr_t verify_visit(hid_t root, const char *name, const H5O_info_t *info, void *data) {
    verify_ctx *x = data;
    if (info->type != H5O_TYPE_DATASET) return 0;
    hid_t d = H5Dopen2(root, name, H5P_DEFAULT);
    int rc = d < 0 ? err_set("checkpoint '%s' is damaged: cannot open item '%s'", x->r->path, name)
                   : verify_item(x->r, d, name);
    if (d >= 0) H5Dclose(d);
    x->failed = rc != 0;
    return rc ? 1 : 0;
}

int ckpt_verify(ckpt_reader *r) {
    if (!r) return err_set("checkpoint: no reader to verify");
    verify_ctx x = {r, 0};
    herr_t v = H5Ovisit2(r->file, H5_INDEX_NAME, H5_ITER_INC, verify_visit, &x, H5O_INFO_BASIC);
    H5Eclear2(H5E_DEFAULT);
    if (x.failed) return -1;
    return v < 0 ? err_set("checkpoint '%s' is damaged: its items cannot be listed", r->path) : 0;
}

ckpt_fault ckpt_check_file(const char *path, const char *arch_hash) {
    int incompatible;
    ckpt_reader *r = open_reader(path, arch_hash, &incompatible);
    if (!r) return incompatible ? CKPT_INCOMPATIBLE : CKPT_DAMAGED;
    int rc = ckpt_verify(r);
    ckpt_close(r);
    return rc ? CKPT_DAMAGED : CKPT_FINE;
}

/* ---- finding ---- */

int ckpt_latest(const char *dir, char *path, size_t cap) { return ckpt_previous(dir, INT64_MAX, path, cap, NULL); }

int ckpt_previous(const char *dir, int64_t before, char *path, size_t cap, int64_t *step) {
    if (!dir || !path || !cap) return err_set("checkpoint: bad arguments to find the latest");
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT) return 0;
        return err_set("checkpoint: cannot list '%s': %s", dir, strerror(errno));
    }
    int64_t best = -1, s;
    struct dirent *e;
    while ((e = readdir(d)))
        if (ckpt_name(e->d_name, &s) == 1 && s > best && s < before) best = s;
    closedir(d);
    if (best < 0) return 0;
    if ((size_t)snprintf(path, cap, "%s/ckpt-%08lld.h5", dir, (long long)best) >= cap)
        return err_set("checkpoint: path of the latest checkpoint in '%s' does not fit", dir);
    if (step) *step = best;
    return 1;
}
