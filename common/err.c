/* err — thread-local error message; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_buf[ERR_MSG_MAX];

int err_set(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err_buf, sizeof err_buf, fmt, ap);
    va_end(ap);
    return -1;
}

int err_prefix(const char *fmt, ...) {
    char head[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(head, sizeof head - 2, fmt, ap);
    va_end(ap);
    if (n < 0) return -1;
    if ((size_t)n > sizeof head - 3) n = (int)sizeof head - 3;
    memcpy(head + n, ": ", 3);
    n += 2;
    size_t old = strnlen(err_buf, sizeof err_buf - 1);
    if (old + (size_t)n > sizeof err_buf - 1) old = sizeof err_buf - 1 - (size_t)n;
    memmove(err_buf + n, err_buf, old);
    memcpy(err_buf, head, (size_t)n);
    err_buf[n + old] = '\0';
    return -1;
}

const char *err_msg(void) { return err_buf; }

void err_clear(void) { err_buf[0] = '\0'; }
