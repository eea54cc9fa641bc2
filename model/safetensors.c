/* safetensors — reader (mmap, validated header) and writer (single file or sharded directory).
 * See safetensors.h for the format and the checks. Deliberately not here: dtype conversion,
 * writing through a mapping, parallel reads. */
#define _GNU_SOURCE /* qsort_r */
#include "safetensors.h"

#include "common/err.h"
#include "common/io.h"
#include "common/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define ST_INDEX_NAME "model.safetensors.index.json"
#define ST_SINGLE_NAME "model.safetensors"
#define ST_MAX_INDEX (64u << 20) /* bytes of index JSON we agree to read */
#define ST_MAX_INT 9007199254740992.0 /* 2^53: larger JSON numbers are not exact */

typedef struct st_shard {
    char *path;       /* owned; the label used in errors */
    void *map;        /* NULL for st_open_mem */
    size_t map_len;
} st_shard;

struct st_file {
    st_shard *shards;
    int nshards;
    st_tensor *t;     /* file order; names owned */
    int n, cap;
    int *by_name;     /* indices into t, sorted by name */
    char **meta;      /* key, value, key, value ... of the first file's __metadata__ */
    int nmeta;
};

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4}, [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4}, [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};
#define ST_NDTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

size_t st_dtype_size(st_dtype dt) { return (int)dt >= 0 && (int)dt < ST_NDTYPES ? dtypes[dt].size : 0; }

const char *st_dtype_name(st_dtype dt) {
    return (int)dt >= 0 && (int)dt < ST_NDTYPES ? dtypes[dt].name : "?";
}

int st_dtype_parse(const char *s, st_dtype *out) {
    for (int i = 0; i < ST_NDTYPES; i++)
        if (!strcmp(s, dtypes[i].name)) {
            *out = (st_dtype)i;
            return 0;
        }
    return err_set("unknown dtype \"%s\" (expected one of F64 F32 F16 BF16 I64 I32 I16 I8 U8 BOOL)",
                   s);
}

/* ---- reading ---- */

static uint64_t read_le64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* A JSON number that is an exact non-negative integer <= 2^53. */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0 && d <= ST_MAX_INT) || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

static void push_tensor(st_file *f, const st_tensor *t) {
    if (f->n == f->cap) {
        f->cap = f->cap ? 2 * f->cap : 64;
        f->t = mem_realloc(f->t, (size_t)f->cap * sizeof *f->t);
    }
    f->t[f->n++] = *t;
}

static int parse_metadata(st_file *f, const cJSON *m, const char *label, int keep) {
    if (!cJSON_IsObject(m)) return err_set("%s: __metadata__ must be an object of strings", label);
    for (const cJSON *kv = m->child; kv; kv = kv->next) {
        if (!cJSON_IsString(kv))
            return err_set("%s: __metadata__ key \"%s\" must be a string", label, kv->string);
        if (!keep) continue;
        f->meta = mem_realloc(f->meta, (size_t)(f->nmeta + 2) * sizeof *f->meta);
        f->meta[f->nmeta] = mem_strdup(kv->string);
        f->meta[f->nmeta + 1] = mem_strdup(kv->valuestring);
        f->nmeta += 2;
    }
    return 0;
}

/* One tensor entry of the header; fills t (name owned by the caller's array afterwards) and its
 * [begin, end) in the data section. */
static int parse_entry(const cJSON *e, const char *label, st_tensor *t, uint64_t *begin,
                       uint64_t *end) {
    const char *name = e->string;
    if (!cJSON_IsObject(e)) return err_set("%s: tensor \"%s\": entry must be an object", label, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt)) return err_set("%s: tensor \"%s\": missing string \"dtype\"", label, name);
    if (st_dtype_parse(dt->valuestring, &t->dtype))
        return err_prefix("%s: tensor \"%s\"", label, name);
    if (!cJSON_IsArray(sh)) return err_set("%s: tensor \"%s\": missing array \"shape\"", label, name);
    int nd = cJSON_GetArraySize(sh);
    if (nd > ST_MAX_DIMS)
        return err_set("%s: tensor \"%s\": %d dimensions, at most %d supported", label, name, nd,
                       ST_MAX_DIMS);
    t->ndim = nd;
    uint64_t numel = 1;
    int i = 0;
    for (const cJSON *d = sh->child; d; d = d->next, i++) {
        uint64_t v;
        if (json_uint(d, &v))
            return err_set("%s: tensor \"%s\": shape[%d] is not a non-negative integer", label,
                           name, i);
        if (__builtin_mul_overflow(numel, v, &numel) || numel > (uint64_t)INT64_MAX)
            return err_set("%s: tensor \"%s\": shape overflows 64 bits", label, name);
        t->shape[i] = (int64_t)v;
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(numel, (uint64_t)st_dtype_size(t->dtype), &nbytes) ||
        nbytes > SIZE_MAX)
        return err_set("%s: tensor \"%s\": byte size overflows 64 bits", label, name);
    t->nbytes = (size_t)nbytes;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || json_uint(off->child, begin) ||
        json_uint(off->child->next, end))
        return err_set("%s: tensor \"%s\": \"data_offsets\" must be [begin, end], integers", label,
                       name);
    if (*end < *begin || *end - *begin != nbytes)
        return err_set("%s: tensor \"%s\": data_offsets [%llu, %llu] span %lld bytes, but %s x "
                       "shape needs %llu",
                       label, name, (unsigned long long)*begin, (unsigned long long)*end,
                       (long long)(*end - *begin), st_dtype_name(t->dtype),
                       (unsigned long long)nbytes);
    return 0;
}

typedef struct span {
    uint64_t begin, end;
    int idx;
} span;

static int span_cmp(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Parse one image (header + data) and append its tensors to f. */
static int parse_image(st_file *f, const uint8_t *buf, size_t len, const char *label, int first) {
    if (len < 8) return err_set("%s: truncated: %zu bytes, a safetensors file has at least 8", label, len);
    uint64_t hlen = read_le64(buf);
    if (hlen > ST_MAX_HEADER)
        return err_set("%s: header length %llu exceeds the %u-byte limit (not a safetensors file?)",
                       label, (unsigned long long)hlen, ST_MAX_HEADER);
    if (hlen > len - 8)
        return err_set("%s: truncated: header says %llu bytes, the file has %zu after the length",
                       label, (unsigned long long)hlen, len - 8);
    if (hlen < 2 || buf[8] != '{')
        return err_set("%s: header is not a JSON object (must start with '{')", label);
    const uint8_t *data = buf + 8 + hlen;
    size_t dlen = len - 8 - (size_t)hlen;
    const char *end_ptr = NULL;
    cJSON *h = cJSON_ParseWithLengthOpts((const char *)buf + 8, (size_t)hlen, &end_ptr, 0);
    if (!h || !cJSON_IsObject(h)) {
        cJSON_Delete(h);
        return err_set("%s: header is not well-formed JSON (near byte %lld)", label,
                       end_ptr ? (long long)(end_ptr - (const char *)buf) : 8LL);
    }
    /* what follows the JSON inside the header may only be padding spaces */
    for (const char *p = end_ptr; p && p < (const char *)buf + 8 + hlen; p++)
        if (*p != ' ' && *p != '\0') {
            cJSON_Delete(h);
            return err_set("%s: trailing bytes after the header JSON", label);
        }
    int start = f->n, rc = -1;
    int nentries = cJSON_GetArraySize(h);
    span *sp = mem_calloc((size_t)nentries, sizeof *sp);
    int nsp = 0;
    for (const cJSON *e = h->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (parse_metadata(f, e, label, first)) goto out;
            continue;
        }
        st_tensor t = {0};
        uint64_t b = 0, en = 0;
        if (parse_entry(e, label, &t, &b, &en)) goto out;
        if (en > dlen) {
            err_set("%s: tensor \"%s\": data_offsets end %llu is past the data section (%zu bytes; "
                    "truncated file?)",
                    label, e->string, (unsigned long long)en, dlen);
            goto out;
        }
        t.data = data + b;
        t.name = mem_strdup(e->string);
        push_tensor(f, &t);
        sp[nsp++] = (span){b, en, f->n - 1};
    }
    qsort(sp, (size_t)nsp, sizeof *sp, span_cmp);
    uint64_t pos = 0;
    for (int i = 0; i < nsp; i++) {
        if (sp[i].begin != pos) {
            const char *what = sp[i].begin < pos ? "overlaps the previous tensor" : "leaves a hole before it";
            err_set("%s: tensor \"%s\": data_offsets begin %llu %s (expected %llu)", label,
                    f->t[sp[i].idx].name, (unsigned long long)sp[i].begin, what,
                    (unsigned long long)pos);
            goto out;
        }
        pos = sp[i].end;
    }
    if (pos != dlen) {
        err_set("%s: the tensors cover %llu data bytes but the file has %zu", label,
                (unsigned long long)pos, dlen);
        goto out;
    }
    /* file order = offset order (a header without tensors leaves f->t NULL: nothing to move) */
    if (nsp > 0) {
        st_tensor *tmp = mem_alloc((size_t)nsp * sizeof *tmp);
        for (int i = 0; i < nsp; i++) tmp[i] = f->t[sp[i].idx];
        memcpy(f->t + start, tmp, (size_t)nsp * sizeof *tmp);
        free(tmp);
    }
    rc = 0;
out:
    free(sp);
    cJSON_Delete(h);
    return rc;
}

static int name_cmp(const void *a, const void *b, void *ctx) {
    const st_file *f = ctx;
    return strcmp(f->t[*(const int *)a].name, f->t[*(const int *)b].name);
}

/* Build the by-name index; duplicate names (within or across shards) are an error. */
static int index_names(st_file *f) {
    f->by_name = mem_alloc((size_t)f->n * sizeof *f->by_name);
    for (int i = 0; i < f->n; i++) f->by_name[i] = i;
    qsort_r(f->by_name, (size_t)f->n, sizeof *f->by_name, name_cmp, f);
    for (int i = 1; i < f->n; i++)
        if (!strcmp(f->t[f->by_name[i]].name, f->t[f->by_name[i - 1]].name))
            return err_set("%s: tensor \"%s\" appears twice", f->shards[0].path,
                           f->t[f->by_name[i]].name);
    return 0;
}

static void add_shard(st_file *f, const char *path, void *map, size_t len) {
    f->shards = mem_realloc(f->shards, (size_t)(f->nshards + 1) * sizeof *f->shards);
    f->shards[f->nshards++] = (st_shard){mem_strdup(path), map, len};
}

st_file *st_open_mem(const void *buf, size_t len, const char *label) {
    st_file *f = mem_calloc(1, sizeof *f);
    add_shard(f, label, NULL, 0);
    if (parse_image(f, buf, len, label, 1) || index_names(f)) {
        st_close(f);
        return NULL;
    }
    return f;
}

/* Map one file and parse it into f. */
static int open_one(st_file *f, const char *path, int first) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return err_set("%s: cannot open: %s", path, strerror(errno));
    struct stat s;
    if (fstat(fd, &s) || !S_ISREG(s.st_mode)) {
        close(fd);
        return err_set("%s: not a regular file", path);
    }
    size_t len = (size_t)s.st_size;
    void *map = NULL;
    if (len > 0) {
        map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            close(fd);
            return err_set("%s: mmap failed: %s", path, strerror(errno));
        }
    }
    close(fd);
    add_shard(f, path, map, len);
    return parse_image(f, map ? map : (const void *)"", len, path, first);
}

static char *path_join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = mem_alloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

/* A directory with model.safetensors.index.json: open each shard named in weight_map once, then
 * check that every listed tensor is in the shard the index names. */
static int open_index(st_file *f, const char *dir, const char *index_path) {
    size_t len;
    char *txt = io_read_file(index_path, ST_MAX_INDEX, &len);
    if (!txt) return -1;
    cJSON *j = cJSON_ParseWithLength(txt, len);
    free(txt);
    int rc = -1;
    const cJSON *wm = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    if (!cJSON_IsObject(wm)) {
        err_set("%s: %s", index_path, j ? "missing object \"weight_map\"" : "not well-formed JSON");
        goto out;
    }
    for (const cJSON *e = wm->child; e; e = e->next) {
        if (!cJSON_IsString(e)) {
            err_set("%s: weight_map[\"%s\"] must be a file name", index_path, e->string);
            goto out;
        }
        const char *shard = e->valuestring;
        if (!shard[0] || strchr(shard, '/') || !strcmp(shard, "..") || !strcmp(shard, ".")) {
            err_set("%s: weight_map[\"%s\"] = \"%s\" is not a plain file name", index_path,
                    e->string, shard);
            goto out;
        }
        int seen = 0;
        for (const cJSON *p = wm->child; p != e && !seen; p = p->next)
            seen = !strcmp(p->valuestring, shard);
        if (seen) continue;
        char *sp = path_join(dir, shard);
        int r = open_one(f, sp, f->nshards == 0);
        free(sp);
        if (r) goto out;
    }
    if (index_names(f)) goto out;
    for (const cJSON *e = wm->child; e; e = e->next) {
        const st_tensor *t = st_find(f, e->string);
        int s = -1;
        if (t) {
            for (int i = 0; i < f->nshards; i++) {
                const uint8_t *base = f->shards[i].map;
                if (base && (const uint8_t *)t->data >= base &&
                    (const uint8_t *)t->data <= base + f->shards[i].map_len)
                    s = i;
            }
        }
        const char *file = s >= 0 ? strrchr(f->shards[s].path, '/') + 1 : NULL;
        if (!t || strcmp(file, e->valuestring)) {
            err_set("%s: tensor \"%s\" is listed in %s but not found there", index_path, e->string,
                    e->valuestring);
            goto out;
        }
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

st_file *st_open(const char *path) {
    struct stat s;
    if (stat(path, &s)) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    st_file *f = mem_calloc(1, sizeof *f);
    int rc;
    if (S_ISDIR(s.st_mode)) {
        char *idx = path_join(path, ST_INDEX_NAME), *single = path_join(path, ST_SINGLE_NAME);
        if (access(idx, F_OK) == 0) rc = open_index(f, path, idx);
        else if (access(single, F_OK) == 0) rc = open_one(f, single, 1) || index_names(f);
        else rc = err_set("%s: no %s or %s in this directory", path, ST_SINGLE_NAME, ST_INDEX_NAME);
        free(idx);
        free(single);
    } else {
        rc = open_one(f, path, 1) || index_names(f);
    }
    if (rc) {
        st_close(f);
        return NULL;
    }
    return f;
}

void st_close(st_file *f) {
    if (!f) return;
    for (int i = 0; i < f->n; i++) free((char *)f->t[i].name);
    for (int i = 0; i < f->nshards; i++) {
        if (f->shards[i].map) munmap(f->shards[i].map, f->shards[i].map_len);
        free(f->shards[i].path);
    }
    for (int i = 0; i < f->nmeta; i++) free(f->meta[i]);
    free(f->meta);
    free(f->shards);
    free(f->t);
    free(f->by_name);
    free(f);
}

int st_count(const st_file *f) { return f->n; }

const st_tensor *st_get(const st_file *f, int i) { return i >= 0 && i < f->n ? &f->t[i] : NULL; }

const st_tensor *st_find(const st_file *f, const char *name) {
    int lo = 0, hi = f->n - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2, c = strcmp(name, f->t[f->by_name[mid]].name);
        if (!c) return &f->t[f->by_name[mid]];
        if (c < 0) hi = mid - 1;
        else lo = mid + 1;
    }
    return NULL;
}

const char *st_metadata(const st_file *f, const char *key) {
    for (int i = 0; i + 1 < f->nmeta; i += 2)
        if (!strcmp(f->meta[i], key)) return f->meta[i + 1];
    return NULL;
}

/* ---- writing ---- */

/* Append s as a JSON string literal. */
static void json_str(FILE *fp, const char *s) {
    fputc('"', fp);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(fp, "\\%c", *p);
        else if (*p < 0x20) fprintf(fp, "\\u%04x", *p);
        else fputc(*p, fp);
    }
    fputc('"', fp);
}

static int tensor_bytes(const st_tensor *t, uint64_t *out) {
    uint64_t n = st_dtype_size(t->dtype);
    if (!n) return err_set("tensor \"%s\": invalid dtype %d", t->name, (int)t->dtype);
    if (t->ndim < 0 || t->ndim > ST_MAX_DIMS)
        return err_set("tensor \"%s\": %d dimensions, expected 0..%d", t->name, t->ndim, ST_MAX_DIMS);
    for (int i = 0; i < t->ndim; i++)
        if (t->shape[i] < 0 || __builtin_mul_overflow(n, (uint64_t)t->shape[i], &n))
            return err_set("tensor \"%s\": invalid shape", t->name);
    *out = n;
    return 0;
}

/* The header JSON (without length prefix or padding) into a memory stream. */
static char *make_header(const st_tensor *t, int n, const char *const *meta, size_t *len) {
    char *buf = NULL;
    FILE *fp = mem_memstream(&buf, len);
    fputc('{', fp);
    int comma = 0;
    if (meta && meta[0]) {
        fputs("\"__metadata__\":{", fp);
        for (int i = 0; meta[i] && meta[i + 1]; i += 2) {
            if (i) fputc(',', fp);
            json_str(fp, meta[i]);
            fputc(':', fp);
            json_str(fp, meta[i + 1]);
        }
        fputc('}', fp);
        comma = 1;
    }
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        uint64_t nb;
        if (tensor_bytes(&t[i], &nb)) {
            mem_memstream_close(fp);
            free(buf);
            return NULL;
        }
        if (comma) fputc(',', fp);
        comma = 1;
        json_str(fp, t[i].name);
        fprintf(fp, ":{\"dtype\":\"%s\",\"shape\":[", st_dtype_name(t[i].dtype));
        for (int d = 0; d < t[i].ndim; d++)
            fprintf(fp, "%s%lld", d ? "," : "", (long long)t[i].shape[d]);
        fprintf(fp, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)off,
                (unsigned long long)(off + nb));
        off += nb;
    }
    fputc('}', fp);
    mem_memstream_close(fp);
    return buf;
}

int st_write(const char *path, const st_tensor *t, int n, const char *const *meta) {
    size_t hlen;
    char *hdr = make_header(t, n, meta, &hlen);
    if (!hdr) return err_prefix("%s", path);
    size_t padded = (hlen + 7) & ~(size_t)7; /* data starts 8-byte aligned */
    size_t tlen = strlen(path) + 8;
    char *tmp = mem_alloc(tlen);
    FILE *fp = NULL;
    int rc = -1;
    snprintf(tmp, tlen, "%s.tmp", path);
    fp = fopen(tmp, "wb");
    if (!fp) {
        err_set("%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    uint8_t le[8];
    for (int i = 0; i < 8; i++) le[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(le, 1, 8, fp) == 8 && fwrite(hdr, 1, hlen, fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++) ok = fputc(' ', fp) != EOF;
    for (int i = 0; ok && i < n; i++) {
        uint64_t nb;
        tensor_bytes(&t[i], &nb);
        ok = nb == 0 || fwrite(t[i].data, 1, (size_t)nb, fp) == nb;
    }
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    if (fclose(fp) || !ok) {
        fp = NULL;
        err_set("%s: write failed: %s", tmp, strerror(errno));
        unlink(tmp);
        goto out;
    }
    fp = NULL;
    if (rename(tmp, path)) {
        err_set("%s: cannot rename to %s: %s", tmp, path, strerror(errno));
        unlink(tmp);
        goto out;
    }
    rc = 0;
out:
    free(tmp);
    free(hdr);
    return rc;
}

int st_write_dir(const char *dir, const st_tensor *t, int n, size_t shard_bytes,
                 const char *const *meta) {
    uint64_t total = 0;
    for (int i = 0; i < n; i++) {
        uint64_t nb;
        if (tensor_bytes(&t[i], &nb)) return err_prefix("%s", dir);
        total += nb;
    }
    if (total <= shard_bytes) {
        char *p = path_join(dir, ST_SINGLE_NAME);
        int rc = st_write(p, t, n, meta);
        free(p);
        return rc;
    }
    /* shard boundaries: start a new shard when the next tensor would overflow a non-empty one */
    int *first = mem_alloc(((size_t)n + 1) * sizeof *first);
    int nsh = 0;
    uint64_t cur = 0;
    for (int i = 0; i < n; i++) {
        uint64_t nb;
        tensor_bytes(&t[i], &nb);
        if (i == 0 || (cur > 0 && cur + nb > shard_bytes)) {
            first[nsh++] = i;
            cur = 0;
        }
        cur += nb;
    }
    first[nsh] = n;
    char name[64];
    int rc = -1;
    char *ipath = path_join(dir, ST_INDEX_NAME);
    FILE *fp = NULL;
    for (int s = 0; s < nsh; s++) {
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, nsh);
        char *p = path_join(dir, name);
        int r = st_write(p, t + first[s], first[s + 1] - first[s], meta);
        free(p);
        if (r) goto out;
    }
    fp = fopen(ipath, "w");
    if (!fp) {
        err_set("%s: cannot create: %s", ipath, strerror(errno));
        goto out;
    }
    fprintf(fp, "{\n  \"metadata\": {\"total_size\": %llu},\n  \"weight_map\": {",
            (unsigned long long)total);
    for (int s = 0; s < nsh; s++) {
        snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", s + 1, nsh);
        for (int i = first[s]; i < first[s + 1]; i++) {
            fputs(i ? ",\n    " : "\n    ", fp);
            json_str(fp, t[i].name);
            fprintf(fp, ": \"%s\"", name);
        }
    }
    fputs("\n  }\n}\n", fp);
    if (fclose(fp)) {
        fp = NULL;
        err_set("%s: write failed: %s", ipath, strerror(errno));
        goto out;
    }
    fp = NULL;
    rc = 0;
out:
    free(ipath);
    free(first);
    return rc;
}
