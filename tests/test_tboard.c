/* test_tboard — TensorBoard event files: CRC-32C against the known vectors of RFC 3720 (B.4) and
 * the classic check value, the TFRecord mask, the record framing (length, masked CRCs) and the
 * exact protobuf bytes of the file-version, scalar, text and restart events, and that bad input
 * and a failed write (file-size limit reached) give an error that names the file, not a crash.
 * tests/test_tboard.sh reads files `rlvr sft` wrote with an independent Python reader. */
#include "check.h"

#include "common/err.h"
#include "common/io.h"
#include "common/tboard.h"

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

typedef struct record {
    const uint8_t *data;
    uint64_t n;
} record;

static uint64_t le(const uint8_t *p, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* Split a TFRecord file into at most cap records; -1 if a length, a CRC or the end is wrong. */
static int split_records(const uint8_t *buf, size_t len, record *out, int cap) {
    size_t pos = 0;
    int n = 0;
    while (pos < len) {
        if (n == cap || len - pos < 12) return -1;
        uint64_t m = le(buf + pos, 8);
        if (le(buf + pos + 8, 4) != tboard_crc_mask(tboard_crc32c(0, buf + pos, 8))) return -1;
        if (len - pos - 12 < m + 4) return -1;
        const uint8_t *d = buf + pos + 12;
        if (le(d + m, 4) != tboard_crc_mask(tboard_crc32c(0, d, m))) return -1;
        out[n++] = (record){d, m};
        pos += 12 + m + 4;
    }
    return n;
}

/* The record is an Event: wall_time (field 1, fixed64) within [t0, t1], then exactly tail. */
static int event_is(record r, double t0, double t1, const uint8_t *tail, size_t n) {
    if (r.n != 9 + n || r.data[0] != 0x09) return 0;
    double wt;
    uint64_t u = le(r.data + 1, 8);
    memcpy(&wt, &u, sizeof wt);
    return wt >= t0 && wt <= t1 && memcmp(r.data + 9, tail, n) == 0;
}

static double now(void) {
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + tv.tv_usec * 1e-6;
}

/* The single event file in dir (its path into out); count of files named events.out.tfevents.* */
static int event_files(const char *dir, char *out, size_t cap) {
    DIR *d = opendir(dir);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));)
        if (strncmp(e->d_name, "events.out.tfevents.", 20) == 0) {
            snprintf(out, cap, "%s/%s", dir, e->d_name);
            n++;
        }
    if (d) closedir(d);
    return n;
}

static void test_crc(void) {
    uint8_t buf[32];
    CHECK(tboard_crc32c(0, "123456789", 9) == 0xe3069283u);
    CHECK(tboard_crc32c(0, "", 0) == 0);
    memset(buf, 0, sizeof buf);
    CHECK(tboard_crc32c(0, buf, 32) == 0x8a9136aau);
    memset(buf, 0xff, sizeof buf);
    CHECK(tboard_crc32c(0, buf, 32) == 0x62a8ab43u);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)i;
    CHECK(tboard_crc32c(0, buf, 32) == 0x46dd794eu);
    for (int i = 0; i < 32; i++) buf[i] = (uint8_t)(31 - i);
    CHECK(tboard_crc32c(0, buf, 32) == 0x113fdb5cu);
    CHECK(tboard_crc32c(tboard_crc32c(0, "1234", 4), "56789", 5) == 0xe3069283u);
    /* mask: rotate right by 15, add 0xa282ead8 */
    CHECK(tboard_crc_mask(0) == 0xa282ead8u);
    CHECK(tboard_crc_mask(0xe3069283u) == 0xc78ab0e5u);
}

static void test_events(const char *tmp) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/run/sub", tmp); /* made by tboard_open */
    char big[70000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    double t0 = now();
    tboard *t = tboard_open(dir, 0);
    CHECK(t != NULL);
    if (!t) return;
    CHECK(tboard_scalar(t, "loss", 3, 0.5) == 0);
    CHECK(tboard_text(t, "config", 0, "a") == 0);
    CHECK(tboard_scalar(t, "lr", -2, 1e-3) == 0);
    CHECK(tboard_text(t, "big", 1, big) == 0);
    CHECK(tboard_flush(t) == 0);
    CHECK(tboard_close(t) == 0);
    double t1 = now();
    CHECK(event_files(dir, path, sizeof path) == 1);
    char host[256];
    gethostname(host, sizeof host);
    host[sizeof host - 1] = '\0';
    CHECK(strstr(path, "/events.out.tfevents.") && strstr(path, host));
    size_t len;
    uint8_t *buf = (uint8_t *)io_read_file(path, 0, &len);
    CHECK(buf != NULL);
    if (!buf) return;
    record r[8];
    CHECK(split_records(buf, len, r, 8) == 6);
    static const uint8_t version[] = {0x1a, 0x0d, 'b', 'r', 'a', 'i', 'n', '.', 'E', 'v', 'e', 'n', 't', ':', '2'};
    CHECK(event_is(r[0], t0, t1, version, sizeof version));
    /* step 1, session_log (field 7) { status START } */
    static const uint8_t start[] = {0x10, 0x01, 0x3a, 0x02, 0x08, 0x01};
    CHECK(event_is(r[1], t0, t1, start, sizeof start));
    memmove(r + 1, r + 2, 4 * sizeof *r); /* the written events, from r[1] */
    /* step 3, summary { value { tag "loss" simple_value 0.5f } } */
    static const uint8_t scalar[] = {0x10, 0x03, 0x2a, 0x0d, 0x0a, 0x0b, 0x0a, 0x04, 'l', 'o', 's', 's',
                                     0x15, 0x00, 0x00, 0x00, 0x3f};
    CHECK(event_is(r[1], t0, t1, scalar, sizeof scalar));
    /* step 0 (omitted), value { tag "config" tensor { dtype DT_STRING tensor_shape {}
     * string_val "a" } metadata { plugin_data { plugin_name "text" } data_class TENSOR } } */
    static const uint8_t text[] = {0x2a, 0x1f, 0x0a, 0x1d, 0x0a, 0x06, 'c', 'o', 'n', 'f', 'i', 'g',
                                   0x42, 0x07, 0x08, 0x07, 0x12, 0x00, 0x42, 0x01, 'a',
                                   0x4a, 0x0a, 0x0a, 0x06, 0x0a, 0x04, 't', 'e', 'x', 't', 0x20, 0x02};
    CHECK(event_is(r[2], t0, t1, text, sizeof text));
    /* a negative step is the 10-byte varint of its two's complement; 1e-3 as float32 */
    CHECK(r[3].n > 20 && memcmp(r[3].data + 9, (uint8_t[]){0x10, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                                           0xff, 0xff, 0x01}, 11) == 0);
    CHECK(r[3].n > 4 && memcmp(r[3].data + r[3].n - 4, (uint8_t[]){0x6f, 0x12, 0x83, 0x3a}, 4) == 0);
    /* the 69,999-byte string_val (key 0x42, length ef a2 04), then the metadata's 12 bytes */
    size_t at = r[4].n - 12 - (sizeof big - 1) - 4;
    CHECK(r[4].n > sizeof big + 16 && memcmp(r[4].data + at, (uint8_t[]){0x42, 0xef, 0xa2, 0x04}, 4) == 0);
    CHECK(r[4].n > sizeof big + 16 && memcmp(r[4].data + at + 4, big, sizeof big - 1) == 0);
    /* one flipped byte and a cut end are both detected by the framing */
    buf[len / 2] ^= 0x10;
    CHECK(split_records(buf, len, r, 8) == -1);
    buf[len / 2] ^= 0x10;
    CHECK(split_records(buf, len - 1, r, 8) == -1);
    CHECK(split_records(buf, len, r, 8) == 6);
    free(buf);
}

/* A run resumed after step 5: a second file, whose START is at step 6. */
static void test_resume(const char *tmp) {
    char dir[512], path[1024];
    snprintf(dir, sizeof dir, "%s/resume", tmp);
    tboard *a = tboard_open(dir, 0), *b = tboard_open(dir, 5);
    CHECK(a && b && strcmp(tboard_path(a), tboard_path(b)) != 0); /* same second: ".1" added */
    snprintf(path, sizeof path, "%s", b ? tboard_path(b) : "");
    CHECK(tboard_close(a) == 0 && tboard_close(b) == 0);
    CHECK(event_files(dir, (char[1024]){0}, 1024) == 2);
    size_t len;
    uint8_t *buf = (uint8_t *)io_read_file(path, 0, &len);
    record r[4];
    CHECK(buf && split_records(buf, len, r, 4) == 2);
    static const uint8_t start[] = {0x10, 0x06, 0x3a, 0x02, 0x08, 0x01};
    CHECK(buf && event_is(r[1], 0, 1e12, start, sizeof start));
    free(buf);
}

static void test_bad_input(const char *tmp) {
    char path[512];
    snprintf(path, sizeof path, "%s/file", tmp);
    CHECK(io_write_file(path, "x", 1) == 0);
    snprintf(path, sizeof path, "%s/file/run", tmp);
    CHECK(tboard_open(path, 0) == NULL);
    CHECK_CONTAINS(err_msg(), path);
    CHECK(tboard_open(tmp, -1) == NULL);
    CHECK_CONTAINS(err_msg(), "negative");
    tboard *t = tboard_open(tmp, 0);
    CHECK(t != NULL);
    CHECK(tboard_scalar(t, "", 1, 1) == -1);
    CHECK_CONTAINS(err_msg(), "non-empty tag");
    CHECK(tboard_text(t, "x", 1, NULL) == -1);
    CHECK(tboard_scalar(NULL, "x", 1, 1) == -1);
    CHECK_CONTAINS(err_msg(), "no event file");
    CHECK(tboard_close(t) == 0);
    CHECK(tboard_close(NULL) == 0);
}

/* A file-size limit makes write(2) fail with EFBIG, as a full disk fails it with ENOSPC. */
static void test_write_error(const char *tmp) {
    char dir[512];
    snprintf(dir, sizeof dir, "%s/full", tmp);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 8192;
    signal(SIGXFSZ, SIG_IGN);
    CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
    tboard *t = tboard_open(dir, 0);
    CHECK(t != NULL);
    int failed_at = -1;
    for (int i = 1; t && i <= 100000 && failed_at < 0; i++)
        if (tboard_scalar(t, "reward", i, i) || (i % 50 == 0 && tboard_flush(t))) failed_at = i;
    CHECK(failed_at > 0);
    CHECK_CONTAINS(err_msg(), "events.out.tfevents.");
    CHECK_CONTAINS(err_msg(), "File too large");
    CHECK(tboard_scalar(t, "reward", 1, 1) == -1);
    CHECK_CONTAINS(err_msg(), "File too large; nothing more is written");
    CHECK(tboard_flush(t) == -1);
    err_set("an unrelated error");
    CHECK(tboard_close(t) == -1);
    CHECK_CONTAINS(err_msg(), "File too large"); /* the cause, whatever happened in between */
    CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
}

int main(void) {
    char tmp[] = "/tmp/test_tboard_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    test_crc();
    test_events(tmp);
    test_resume(tmp);
    test_bad_input(tmp);
    test_write_error(tmp);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    if (system(cmd)) fprintf(stderr, "test_tboard: could not remove %s\n", tmp);
    CHECK_DONE();
}
