/* log — leveled messages and progress display; see log.h. */
#include "log.h"

#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static log_level log_threshold = LOG_INFO;
static const char *const log_names[] = {"debug", "info", "warn", "error", "quiet"};

void log_set_level(log_level level) { log_threshold = level; }

log_level log_get_level(void) { return log_threshold; }

int log_level_parse(const char *name, log_level *out) {
    for (int i = 0; i <= LOG_QUIET; i++) {
        if (strcmp(name, log_names[i]) == 0) {
            *out = (log_level)i;
            return 0;
        }
    }
    return err_set("unknown log level '%s': expected debug, info, warn, error or quiet", name);
}

void log_msg(log_level level, const char *fmt, ...) {
    if (level < log_threshold) return;
    char line[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "[rlvr] %-5s %s\n", log_names[level], line);
}

double log_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fmt_duration(char *buf, size_t n, double s) {
    if (s < 0 || s > 1e7) {
        snprintf(buf, n, "--:--");
        return;
    }
    long t = (long)(s + 0.5);
    if (t >= 3600)
        snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, (t / 60) % 60, t % 60);
    else
        snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
}

static void progress_draw(log_progress *p, int final) {
    double now = log_now(), dt = now - p->t_start;
    double rate = dt > 0 ? (double)p->done / dt : 0.0;
    char el[32], eta[32] = "";
    fmt_duration(el, sizeof el, dt);
    if (p->total > 0 && !final && rate > 0) {
        char r[24];
        fmt_duration(r, sizeof r, (double)(p->total - p->done) / rate);
        snprintf(eta, sizeof eta, " eta %s", r);
    }
    if (p->tty) {
        char bar[26] = "";
        if (p->total > 0) {
            int fill = (int)(24.0 * (double)p->done / (double)p->total);
            if (fill > 24) fill = 24;
            for (int i = 0; i < 24; i++) bar[i] = i < fill ? '#' : '.';
            bar[24] = ' ';
            bar[25] = '\0';
        }
        fprintf(stderr, "\r\033[K[rlvr] %s %s%lld/%lld %s  %.1f %s/s  %s%s%s", p->label, bar,
                (long long)p->done, (long long)p->total, p->unit, rate, p->unit, el, eta,
                final ? "\n" : "");
    } else {
        fprintf(stderr, "[rlvr] %s %lld/%lld %s  %.1f %s/s  %s%s\n", p->label, (long long)p->done,
                (long long)p->total, p->unit, rate, p->unit, el, eta);
    }
    fflush(stderr);
    p->t_last_draw = now;
}

void log_progress_begin(log_progress *p, const char *label, int64_t total, const char *unit) {
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = unit;
    p->total = total;
    p->t_start = p->t_last_draw = log_now();
    p->tty = isatty(STDERR_FILENO);
}

void log_progress_add(log_progress *p, int64_t n) {
    p->done += n;
    if (log_threshold > LOG_INFO) return;
    double gap = p->tty ? 0.1 : 5.0;
    if (log_now() - p->t_last_draw >= gap) progress_draw(p, 0);
}

void log_progress_end(log_progress *p) {
    if (log_threshold > LOG_INFO) return;
    progress_draw(p, 1);
}
