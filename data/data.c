/* data — JSONL datasets, checksums, the counter-based generator and the resumable sampler; see
 * data.h. The built-in tasks are in data_tasks.c.
 * Deliberately not here: streaming datasets larger than memory, deduplication, filtering. */
#include "data.h"

#include "common/err.h"
#include "common/io.h"
#include "common/mem.h"
#include "common/rng.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

/* ---- checksums ---- */

uint64_t data_fnv1a64(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) {
        h ^= b[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* The shuffle stream of one epoch: 'S' in the top byte keeps it apart from the built-in tasks'. */
#define STREAM_SHUFFLE (0x53ull << 56)

void data_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm) {
    rng_stream r;
    rng_stream_init(&r, seed, STREAM_SHUFFLE | ((uint64_t)epoch & 0x00ffffffffffffffull));
    for (int64_t i = 0; i < n; i++) perm[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)rng_below(&r, (uint64_t)i + 1);
        int64_t t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
}

static void sampler_fill(data_sampler *s) {
    if (s->shuffle) data_permutation(s->seed, s->epoch, s->n, s->perm);
    else
        for (int64_t i = 0; i < s->n; i++) s->perm[i] = i;
}

data_sampler *data_sampler_init(int64_t n, uint64_t seed, int shuffle) {
    if (n < 1) return err_set("data sampler: expected at least one example, got %lld", (long long)n), NULL;
    data_sampler *s = mem_calloc(1, sizeof *s);
    s->perm = mem_alloc((size_t)n * sizeof *s->perm);
    s->seed = seed;
    s->n = n;
    s->shuffle = shuffle != 0;
    sampler_fill(s);
    return s;
}

data_sampler *data_sampler_open(const rlvr_config *c, int64_t n) {
    return data_sampler_init(n, (uint64_t)c->run.seed + (uint64_t)c->data.seed_offset, c->data.shuffle);
}

void data_sampler_free(data_sampler *s) {
    if (!s) return;
    free(s->perm);
    free(s);
}

int64_t data_sampler_next(data_sampler *s) {
    int64_t idx = s->perm[s->pos++];
    if (s->pos == s->n) {
        s->epoch++;
        s->pos = 0;
        sampler_fill(s);
    }
    return idx;
}

static void put_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static uint64_t get_u64(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static const char cursor_magic[8] = {'R', 'L', 'V', 'R', 'C', 'U', 'R', '1'};

void data_sampler_save(const data_sampler *s, uint8_t out[DATA_CURSOR_BYTES]) {
    memcpy(out, cursor_magic, 8);
    put_u64(out + 8, s->seed);
    put_u64(out + 16, (uint64_t)s->n);
    put_u64(out + 24, (uint64_t)s->shuffle);
    put_u64(out + 32, (uint64_t)s->epoch);
    put_u64(out + 40, (uint64_t)s->pos);
}

int data_sampler_restore(data_sampler *s, const uint8_t *buf, size_t len) {
    if (!buf || len != DATA_CURSOR_BYTES || memcmp(buf, cursor_magic, 8) != 0)
        return err_set("data cursor: not a saved cursor (expected %d bytes starting with RLVRCUR1)",
                       DATA_CURSOR_BYTES);
    uint64_t seed = get_u64(buf + 8), n = get_u64(buf + 16), shuffle = get_u64(buf + 24);
    uint64_t epoch = get_u64(buf + 32), pos = get_u64(buf + 40);
    if (n != (uint64_t)s->n)
        return err_set("data cursor: saved for a dataset of %llu examples, this one has %lld",
                       (unsigned long long)n, (long long)s->n);
    if (seed != s->seed)
        return err_set("data cursor: saved with shuffle seed %llu, this run uses %llu",
                       (unsigned long long)seed, (unsigned long long)s->seed);
    if (shuffle != (uint64_t)s->shuffle)
        return err_set("data cursor: saved with shuffle %s, this run has it %s", shuffle ? "on" : "off",
                       s->shuffle ? "on" : "off");
    if (pos >= n || epoch > (uint64_t)INT64_MAX)
        return err_set("data cursor: position %llu of epoch %llu is outside the dataset",
                       (unsigned long long)pos, (unsigned long long)epoch);
    s->epoch = (int64_t)epoch;
    s->pos = (int64_t)pos;
    sampler_fill(s);
    return 0;
}

/* ---- datasets ---- */

void data_example_clear(data_example *e) {
    if (!e) return;
    free(e->prompt);
    free(e->answer);
    free(e->metadata);
    free(e->response);
    free(e->response_short);
    free(e->group);
    memset(e, 0, sizeof *e);
}

void data_set_free(data_set *d) {
    if (!d) return;
    for (int64_t i = 0; i < d->n; i++) data_example_clear(&d->ex[i]);
    free(d->ex);
    free(d);
}

static int named(const char *field) { return field && field[0]; }

/* A string field, copied into *out. required: a missing field is an error; otherwise *out stays
 * NULL. Numbers are accepted where `numbers` is set (answers: 42, 0.5), written back as text. */
/* The offset of the first byte of s that does not start or continue a well-formed UTF-8
 * character (utf8proc's decoder decides: no overlong forms, surrogates or code points above
 * U+10FFFF), or -1 when all of s is valid. */
static long utf8_invalid_at(const char *s) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    utf8proc_ssize_t left = (utf8proc_ssize_t)strlen(s), at = 0;
    while (at < left) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p + at, left - at, &cp);
        if (n <= 0) return (long)at;
        at += n;
    }
    return -1;
}

static int take_string(const cJSON *row, const char *field, int required, int numbers,
                       const char *where, char **out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(row, field);
    if (!v || (!required && cJSON_IsNull(v))) {
        if (required) return err_set("%s: missing field '%s'", where, field);
        return 0;
    }
    char num[64];
    const char *s = NULL;
    if (cJSON_IsString(v)) {
        s = v->valuestring;
        long bad = utf8_invalid_at(s);
        if (bad >= 0)
            return err_set("%s: field '%s' is not valid UTF-8 (byte 0x%02x at offset %ld of the string)",
                           where, field, (unsigned char)s[bad], bad);
    } else if (numbers && cJSON_IsNumber(v)) {
        double x = v->valuedouble;
        if (x == floor(x) && fabs(x) < 9007199254740992.0) snprintf(num, sizeof num, "%lld", (long long)x);
        else snprintf(num, sizeof num, "%.17g", x);
        s = num;
    } else {
        return err_set("%s: field '%s' must be a string%s, got %s", where, field,
                       numbers ? " or a number" : "", io_json_kind(v));
    }
    *out = mem_strdup(s);
    return 0;
}

/* One JSONL row into e. Returns 0 or -1 with err_set prefixed by where ("path:line"). */
static int parse_row(const char *text, size_t len, const data_fields *f, const char *where,
                     data_example *e) {
    const char *end = NULL;
    cJSON *row = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!row) {
        size_t col = end ? (size_t)(end - text) + 1 : (size_t)(cJSON_GetErrorPtr() - text) + 1;
        return err_set("%s: not valid JSON (near column %zu)", where, col);
    }
    for (const char *p = end; p && p < text + len; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r' && *p != '\n') {
            cJSON_Delete(row);
            return err_set("%s: text after the JSON value (column %zu)", where, (size_t)(p - text) + 1);
        }
    int rc = -1;
    if (!cJSON_IsObject(row)) {
        err_set("%s: expected a JSON object, got %s", where, io_json_kind(row));
        goto out;
    }
    if (take_string(row, f->prompt, 1, 0, where, &e->prompt)) goto out;
    if (named(f->answer) && take_string(row, f->answer, 1, 1, where, &e->answer)) goto out;
    if (named(f->response) && take_string(row, f->response, 0, 0, where, &e->response)) goto out;
    if (named(f->group) && take_string(row, f->group, 0, 1, where, &e->group)) goto out;
    cJSON *meta = NULL;
    if (named(f->metadata)) {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(row, f->metadata);
        if (m && !cJSON_IsNull(m)) {
            if (!cJSON_IsObject(m)) {
                err_set("%s: field '%s' must be an object, got %s", where, f->metadata, io_json_kind(m));
                goto out;
            }
            meta = cJSON_DetachItemViaPointer(row, (cJSON *)m);
        }
    }
    if (named(f->task)) {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(row, f->task);
        if (t && !cJSON_IsNull(t)) {
            if (!cJSON_IsString(t)) {
                cJSON_Delete(meta);
                err_set("%s: field '%s' must be a string, got %s", where, f->task, io_json_kind(t));
                goto out;
            }
            if (!meta) meta = cJSON_CreateObject();
            cJSON *s = cJSON_CreateString(t->valuestring);
            if (cJSON_GetObjectItemCaseSensitive(meta, "task")) cJSON_ReplaceItemInObjectCaseSensitive(meta, "task", s);
            else cJSON_AddItemToObject(meta, "task", s);
        }
    }
    if (meta) {
        e->metadata = cJSON_PrintUnformatted(meta);
        cJSON_Delete(meta);
    }
    rc = 0;
out:
    cJSON_Delete(row);
    return rc;
}

static int only_space(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n') return 0;
    return 1;
}

/* Append a zeroed example slot. */
static data_example *grow(data_set *d, int64_t *cap) {
    if (d->n == *cap) {
        *cap = *cap ? *cap * 2 : 64;
        d->ex = mem_realloc(d->ex, (size_t)*cap * sizeof *d->ex);
    }
    data_example *e = &d->ex[d->n];
    memset(e, 0, sizeof *e);
    return e;
}

data_set *data_load_jsonl(const char *path, const data_fields *f) {
    if (!path || !f || !named(f->prompt))
        return err_set("data: a JSONL path and a prompt field name are required"), NULL;
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set("data: cannot open '%s': %s", path, strerror(errno)), NULL;
    data_set *d = mem_calloc(1, sizeof *d);
    snprintf(d->name, sizeof d->name, "%s", path);
    d->checksum = DATA_FNV_OFFSET;
    char *line = NULL;
    size_t lcap = 0;
    int64_t cap = 0, lineno = 0;
    ssize_t len;
    int ok = 1;
    errno = 0;
    while (ok && (len = getline(&line, &lcap, fp)) >= 0) {
        lineno++;
        d->checksum = data_fnv1a64(d->checksum, line, (size_t)len);
        const char *text = line;
        size_t n = (size_t)len;
        if (lineno == 1 && n >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) text += 3, n -= 3;
        if (only_space(text, n)) continue;
        char where[300];
        snprintf(where, sizeof where, "%s:%lld", path, (long long)lineno);
        data_example *e = grow(d, &cap);
        if (parse_row(text, n, f, where, e)) {
            data_example_clear(e);
            ok = 0;
            break;
        }
        e->line = lineno;
        d->n++;
    }
    if (ok && ferror(fp)) ok = !err_set("data: error reading '%s': %s", path, strerror(errno));
    if (ok && d->n == 0) ok = !err_set("data: '%s' holds no example (empty dataset)", path);
    free(line);
    fclose(fp);
    if (!ok) {
        data_set_free(d);
        return NULL;
    }
    return d;
}

data_set *data_open(const rlvr_config *c, data_split split) {
    const cfg_data *dc = &c->data;
    uint64_t seed = (uint64_t)c->run.seed + (uint64_t)dc->seed_offset;
    const char *source = cfg_enum_name(c, "data.source");
    if (!strcmp(source, "jsonl")) {
        const char *path = split == DATA_SPLIT_TRAIN ? dc->train_path : dc->test_path;
        const char *key = split == DATA_SPLIT_TRAIN ? "data.train_path" : "data.test_path";
        if (!path || !path[0])
            return err_set("%s is not set (data.source is jsonl)", key), NULL;
        data_fields f = {dc->fields.prompt, dc->fields.answer, dc->fields.response,
                         dc->fields.metadata, dc->fields.task, dc->fields.group};
        return data_load_jsonl(path, &f);
    }
    data_task task;
    if (data_task_parse(source, &task)) return NULL;
    return data_builtin(task, split, seed, split == DATA_SPLIT_TRAIN ? dc->train_size : dc->test_size);
}
