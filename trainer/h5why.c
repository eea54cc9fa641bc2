/* h5why — see h5why.h. */
#include "h5why.h"

#include <hdf5.h>
#include <stdio.h>
#include <string.h>

typedef struct why_ctx {
    char msg[512];
    int found;
} why_ctx;

static herr_t why_walk(unsigned n, const H5E_error2_t *e, void *data) {
    (void)n;
    why_ctx *w = data;
    if (w->found || !e->desc) return 0;
    const char *m = strstr(e->desc, "error message = '");
    if (m) {
        m += strlen("error message = '");
        const char *end = strchr(m, '\'');
        snprintf(w->msg, sizeof w->msg, "%.*s", (int)(end ? end - m : (ptrdiff_t)strlen(m)), m);
    } else {
        snprintf(w->msg, sizeof w->msg, "%s", e->desc);
    }
    w->found = 1;
    return 0;
}

const char *h5_why(char *buf, size_t cap) {
    why_ctx w = {"", 0};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, why_walk, &w);
    H5Eclear2(H5E_DEFAULT);
    snprintf(buf, cap, "%s", w.found ? w.msg : "unknown HDF5 error");
    return buf;
}
