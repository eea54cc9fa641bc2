/* log — leveled messages and progress display on stderr.
 *
 * One line per message: "[rlvr] LEVEL message". Progress for a long phase is a single line that
 * redraws itself (bar, count, rate, ETA) when stderr is a terminal, and a plain line every few
 * seconds otherwise, so CI logs and `tee` stay readable.
 * Deliberately not here: metrics files (trainer), log rotation, colour themes. */
#ifndef RLVR_LOG_H
#define RLVR_LOG_H

#include <stdint.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_QUIET } log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
/* Parse "debug|info|warn|error|quiet"; returns -1 with err_set on anything else. */
int log_level_parse(const char *name, log_level *out);
void log_msg(log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)

/* Seconds from a monotonic clock. */
double log_now(void);

typedef struct log_progress {
    char label[48];
    const char *unit;  /* "tok", "prompts", ...; borrowed, a string literal in practice */
    int64_t total;     /* 0 when unknown: no bar, no ETA */
    int64_t done;
    double t_start, t_last_draw;
    int tty;
} log_progress;

/* Start a phase of `total` units; draws nothing yet. `unit` must outlive the progress. */
void log_progress_begin(log_progress *p, const char *label, int64_t total, const char *unit);
/* Advance by n units; redraws at most ~10 times a second on a terminal, every 5 s otherwise. */
void log_progress_add(log_progress *p, int64_t n);
/* Final line with the total time and mean rate. */
void log_progress_end(log_progress *p);

#endif
