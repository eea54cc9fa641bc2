/* check — the few macros every C test uses. A failed CHECK prints file:line and the expression,
 * counts, and the test program exits non-zero from CHECK_DONE(). Header-only on purpose: each test
 * is one translation unit. */
#ifndef RLVR_CHECK_H
#define RLVR_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) check_passed++;                                                    \
        else {                                                                       \
            check_failed++;                                                          \
            fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond);       \
        }                                                                            \
    } while (0)

/* |a - b| <= atol + rtol * |b| */
#define CHECK_CLOSE(a, b, atol, rtol)                                                        \
    do {                                                                                     \
        double check_a_ = (a), check_b_ = (b);                                               \
        if (fabs(check_a_ - check_b_) <= (atol) + (rtol) * fabs(check_b_)) check_passed++;   \
        else {                                                                               \
            check_failed++;                                                                  \
            fprintf(stderr, "%s:%d: FAILED: %s = %.9g, expected %.9g\n", __FILE__, __LINE__, \
                    #a, check_a_, check_b_);                                                 \
        }                                                                                    \
    } while (0)

#define CHECK_STR(a, b)                                                                  \
    do {                                                                                 \
        const char *check_a_ = (a), *check_b_ = (b);                                     \
        if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) check_passed++;     \
        else {                                                                           \
            check_failed++;                                                              \
            fprintf(stderr, "%s:%d: FAILED: %s = \"%s\", expected \"%s\"\n", __FILE__,   \
                    __LINE__, #a, check_a_ ? check_a_ : "(null)",                        \
                    check_b_ ? check_b_ : "(null)");                                     \
        }                                                                                \
    } while (0)

/* The message contains the fragment (error texts are part of the contract). */
#define CHECK_CONTAINS(msg, frag)                                                          \
    do {                                                                                   \
        const char *check_m_ = (msg);                                                      \
        if (check_m_ && strstr(check_m_, (frag))) check_passed++;                          \
        else {                                                                             \
            check_failed++;                                                                \
            fprintf(stderr, "%s:%d: FAILED: \"%s\" does not contain \"%s\"\n", __FILE__,   \
                    __LINE__, check_m_ ? check_m_ : "(null)", (frag));                     \
        }                                                                                  \
    } while (0)

#define CHECK_DONE()                                                                  \
    do {                                                                              \
        printf("%s: %d passed, %d failed\n", __FILE__, check_passed, check_failed);   \
        return check_failed ? 1 : 0;                                                  \
    } while (0)

#endif
