/* tboard — see tboard.h. Field numbers are those of TensorFlow's event.proto, summary.proto,
 * tensor.proto and tensor_shape.proto; wire types: 0 varint, 1 fixed64, 2 length-delimited,
 * 5 fixed32. Fields go out in field-number order, as protobuf libraries serialize them, so a
 * decoded event re-encodes to the same bytes. */
#include "tboard.h"

#include "err.h"
#include "io.h"
#include "mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct tboard {
    FILE *fp;
    char *path;
    int failed;    /* a write failed: the file may end in a torn record, so nothing more is written */
    char why[512]; /* the failed write's message, repeated by every later call */
};

/* ---- CRC-32C and the TFRecord mask ---- */

uint32_t tboard_crc32c(uint32_t crc, const void *data, size_t n) {
    const uint8_t *p = data;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int b = 0; b < 8; b++) crc = (crc >> 1) ^ (0x82f63b78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

uint32_t tboard_crc_mask(uint32_t crc) {
    return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
}

/* ---- protobuf encoding into a growing buffer ---- */

typedef struct pb_buf {
    uint8_t *p;
    size_t n, cap;
} pb_buf;

static void pb_raw(pb_buf *b, const void *data, size_t n) {
    if (n == 0) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->n + n) cap *= 2;
        b->p = mem_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

static void pb_varint(pb_buf *b, uint64_t v) {
    uint8_t out[10];
    int n = 0;
    do {
        out[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) out[n] |= 0x80;
        n++;
    } while (v);
    pb_raw(b, out, (size_t)n);
}

static void pb_key(pb_buf *b, int field, int wire) {
    pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}

static void pb_le(pb_buf *b, uint64_t v, int bytes) {
    uint8_t out[8];
    for (int i = 0; i < bytes; i++) out[i] = (uint8_t)(v >> (8 * i));
    pb_raw(b, out, (size_t)bytes);
}

static void pb_uint(pb_buf *b, int field, uint64_t v) {
    pb_key(b, field, 0);
    pb_varint(b, v);
}

static void pb_bytes(pb_buf *b, int field, const void *data, size_t n) {
    pb_key(b, field, 2);
    pb_varint(b, n);
    pb_raw(b, data, n);
}

static void pb_str(pb_buf *b, int field, const char *s) {
    pb_bytes(b, field, s, strlen(s));
}

/* A nested message: field, length, then the bytes of sub (which it frees). */
static void pb_msg(pb_buf *b, int field, pb_buf *sub) {
    pb_bytes(b, field, sub->p, sub->n);
    free(sub->p);
    *sub = (pb_buf){0};
}

static void pb_double(pb_buf *b, int field, double v) {
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    pb_key(b, field, 1);
    pb_le(b, u, 8);
}

static void pb_float(pb_buf *b, int field, float v) {
    uint32_t u;
    memcpy(&u, &v, sizeof u);
    pb_key(b, field, 5);
    pb_le(b, u, 4);
}

enum { /* message Event */
    EVENT_WALL_TIME = 1, EVENT_STEP = 2, EVENT_FILE_VERSION = 3, EVENT_SUMMARY = 5,
    EVENT_SESSION_LOG = 7,
};
enum { SESSION_LOG_STATUS = 1, SESSION_LOG_START = 1 };
enum { SUMMARY_VALUE = 1 };
enum { VALUE_TAG = 1, VALUE_SIMPLE_VALUE = 2, VALUE_TENSOR = 8, VALUE_METADATA = 9 };
enum { METADATA_PLUGIN_DATA = 1, METADATA_DATA_CLASS = 4, DATA_CLASS_TENSOR = 2 };
enum { PLUGIN_DATA_NAME = 1 };
enum { TENSOR_DTYPE = 1, TENSOR_SHAPE = 2, TENSOR_STRING_VAL = 8, DT_STRING = 7 };

static double wall_time(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* An Event's header fields; the caller appends what the event carries. */
static void event_begin(pb_buf *e, int64_t step) {
    pb_double(e, EVENT_WALL_TIME, wall_time());
    if (step) pb_uint(e, EVENT_STEP, (uint64_t)step);
}

/* ---- records ---- */

static int write_failed(tboard *t, const char *what) {
    t->failed = 1;
    snprintf(t->why, sizeof t->why, "%s: cannot %s: %s", t->path, what, errno ? strerror(errno) : "write error");
    return err_set("%s", t->why);
}

/* One TFRecord holding the event e (which it frees). */
static int write_record(tboard *t, pb_buf *e) {
    uint8_t head[12], foot[4];
    uint64_t n = e->n;
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)(n >> (8 * i));
    uint32_t hcrc = tboard_crc_mask(tboard_crc32c(0, head, 8));
    uint32_t dcrc = tboard_crc_mask(tboard_crc32c(0, e->p, e->n));
    for (int i = 0; i < 4; i++) {
        head[8 + i] = (uint8_t)(hcrc >> (8 * i));
        foot[i] = (uint8_t)(dcrc >> (8 * i));
    }
    int rc = 0;
    if (t->failed) {
        rc = err_set("%s; nothing more is written to it", t->why);
    } else {
        errno = 0;
        if (fwrite(head, 1, sizeof head, t->fp) != sizeof head || fwrite(e->p, 1, e->n, t->fp) != e->n ||
            fwrite(foot, 1, sizeof foot, t->fp) != sizeof foot)
            rc = write_failed(t, "write an event");
    }
    free(e->p);
    *e = (pb_buf){0};
    return rc;
}

static int check_tag(const tboard *t, const char *tag) {
    if (!t) return err_set("tboard: no event file (tboard_open failed or was not called)");
    if (!tag || !*tag) return err_set("%s: an event needs a non-empty tag", t->path);
    return 0;
}

/* ---- the API ---- */

/* dir/events.out.tfevents.<time>.<host>, with ".<n>" added if that name is taken (two files
 * opened in the same second); created exclusively, so no earlier file is ever overwritten. */
static FILE *create_file(const char *dir, char **path_out) {
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) || !host[0]) strcpy(host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *h = host; *h; h++)
        if (*h == '/') *h = '_';
    long sec = (long)wall_time();
    size_t cap = strlen(dir) + strlen(host) + 64;
    char *path = mem_alloc(cap);
    for (int n = 0; n < 1000; n++) {
        if (n) snprintf(path, cap, "%s/events.out.tfevents.%010ld.%s.%d", dir, sec, host, n);
        else snprintf(path, cap, "%s/events.out.tfevents.%010ld.%s", dir, sec, host);
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0 && errno == EEXIST) continue;
        FILE *fp = fd < 0 ? NULL : fdopen(fd, "wb");
        if (!fp) {
            err_set("%s: cannot create the TensorBoard event file: %s", path, strerror(errno));
            if (fd >= 0) close(fd);
            free(path);
            return NULL;
        }
        *path_out = path;
        return fp;
    }
    err_set("%s: 1000 event files of this second and host exist already", dir);
    free(path);
    return NULL;
}

tboard *tboard_open(const char *dir, int64_t resume_step) {
    if (resume_step < 0) {
        err_set("%s: tboard_open: resume step %lld is negative", dir, (long long)resume_step);
        return NULL;
    }
    if (io_mkdir_p(dir)) return NULL;
    tboard *t = mem_calloc(1, sizeof *t);
    if (!(t->fp = create_file(dir, &t->path))) {
        free(t);
        return NULL;
    }
    pb_buf e = {0};
    event_begin(&e, 0);
    pb_str(&e, EVENT_FILE_VERSION, "brain.Event:2");
    int rc = write_record(t, &e);
    if (!rc) { /* TensorBoard takes every START after the first one it reads as a restart */
        pb_buf log = {0};
        pb_uint(&log, SESSION_LOG_STATUS, SESSION_LOG_START);
        event_begin(&e, resume_step + 1);
        pb_msg(&e, EVENT_SESSION_LOG, &log);
        rc = write_record(t, &e);
    }
    if (rc || tboard_flush(t)) {
        tboard_close(t);
        return NULL;
    }
    return t;
}

int tboard_scalar(tboard *t, const char *tag, int64_t step, double value) {
    if (check_tag(t, tag)) return -1;
    pb_buf v = {0}, s = {0}, e = {0};
    pb_str(&v, VALUE_TAG, tag);
    pb_float(&v, VALUE_SIMPLE_VALUE, (float)value);
    pb_msg(&s, SUMMARY_VALUE, &v);
    event_begin(&e, step);
    pb_msg(&e, EVENT_SUMMARY, &s);
    return write_record(t, &e);
}

int tboard_text(tboard *t, const char *tag, int64_t step, const char *text) {
    if (check_tag(t, tag)) return -1;
    if (!text) return err_set("%s: text '%s' is NULL", t->path, tag);
    pb_buf plugin = {0}, meta = {0}, shape = {0}, tensor = {0}, v = {0}, s = {0}, e = {0};
    pb_str(&plugin, PLUGIN_DATA_NAME, "text");
    pb_msg(&meta, METADATA_PLUGIN_DATA, &plugin);
    pb_uint(&meta, METADATA_DATA_CLASS, DATA_CLASS_TENSOR);
    pb_uint(&tensor, TENSOR_DTYPE, DT_STRING);
    pb_msg(&tensor, TENSOR_SHAPE, &shape); /* no dimensions: a scalar string */
    pb_str(&tensor, TENSOR_STRING_VAL, text);
    pb_str(&v, VALUE_TAG, tag);
    pb_msg(&v, VALUE_TENSOR, &tensor);
    pb_msg(&v, VALUE_METADATA, &meta);
    pb_msg(&s, SUMMARY_VALUE, &v);
    event_begin(&e, step);
    pb_msg(&e, EVENT_SUMMARY, &s);
    return write_record(t, &e);
}

int tboard_flush(tboard *t) {
    if (!t) return err_set("tboard: no event file to flush");
    if (t->failed) return err_set("%s; nothing more is written to it", t->why);
    errno = 0;
    return fflush(t->fp) ? write_failed(t, "flush") : 0;
}

int tboard_close(tboard *t) {
    if (!t) return 0;
    int rc = 0;
    if (t->failed) rc = err_set("%s", t->why);
    else if (fflush(t->fp)) rc = write_failed(t, "flush");
    errno = 0;
    if (fclose(t->fp) && !rc) rc = write_failed(t, "close");
    free(t->path);
    free(t);
    return rc;
}

const char *tboard_path(const tboard *t) {
    return t ? t->path : NULL;
}
