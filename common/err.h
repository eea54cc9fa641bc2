/* err — the one error channel of the C modules.
 *
 * Library code never prints and never exits on failure: it records one message with err_set()
 * and returns -1 (or NULL) up the stack; cli/ and tests read err_msg() and decide. The buffer is
 * thread-local and fixed-size, so setting an error never allocates and never fails.
 * Deliberately not here: error codes by number (the message is the contract), stack traces. */
#ifndef RLVR_ERR_H
#define RLVR_ERR_H

#include <stddef.h>

#define ERR_MSG_MAX 2048

/* Replace the current message (printf-style). Returns -1 so callers can `return err_set(...)`. */
int err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Put "prefix: " in front of the current message, for context added on the way up. Returns -1. */
int err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The current message; "" when none. Borrowed, valid until the next err_set on this thread. */
const char *err_msg(void);
void err_clear(void);

#endif
