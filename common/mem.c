/* mem — the checked allocator and its out-of-memory handler; see mem.h. */
#define _GNU_SOURCE /* fopencookie */
#include "mem.h"

#include <cjson/cJSON.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void default_oom(size_t size) {
    fprintf(stderr, "rlvr: out of memory allocating %zu bytes\n", size);
    exit(EXIT_FAILURE);
}

static mem_oom_handler oom_handler = default_oom;

void mem_set_oom_handler(mem_oom_handler handler) { oom_handler = handler ? handler : default_oom; }

/* The handler does not return; if it does, there is no memory to hand back. */
static _Noreturn void oom(size_t size) {
    oom_handler(size);
    abort();
}

void *mem_alloc(size_t size) {
    void *p = malloc(size ? size : 1);
    if (!p) oom(size);
    return p;
}

void *mem_calloc(size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) oom(SIZE_MAX);
    void *p = n && size ? calloc(n, size) : calloc(1, 1);
    if (!p) oom(n * size);
    return p;
}

void *mem_realloc(void *p, size_t size) {
    void *q = realloc(p, size ? size : 1);
    if (!q) oom(size);
    return q;
}

char *mem_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    return memcpy(mem_alloc(n), s, n);
}

char *mem_strndup(const char *s, size_t n) {
    size_t len = strnlen(s, n);
    char *d = mem_alloc(len + 1);
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

/* A memory stream is a stdio stream over this allocator (fopencookie): glibc's open_memstream
 * truncates the text without an error when its growth fails. */
typedef struct mem_stream {
    char **buf;
    size_t *len, cap;
} mem_stream;

static ssize_t stream_write(void *cookie, const char *data, size_t n) {
    mem_stream *m = cookie;
    if (*m->len + n + 1 > m->cap) {
        while (*m->len + n + 1 > m->cap) m->cap *= 2;
        *m->buf = mem_realloc(*m->buf, m->cap);
    }
    memcpy(*m->buf + *m->len, data, n);
    *m->len += n;
    (*m->buf)[*m->len] = '\0';
    return (ssize_t)n;
}

static int stream_close(void *cookie) {
    free(cookie);
    return 0;
}

FILE *mem_memstream(char **buf, size_t *len) {
    mem_stream *m = mem_alloc(sizeof *m);
    *m = (mem_stream){.buf = buf, .len = len, .cap = 256};
    *buf = mem_alloc(m->cap);
    (*buf)[0] = '\0';
    *len = 0;
    FILE *f = fopencookie(m, "w", (cookie_io_functions_t){.write = stream_write, .close = stream_close});
    if (!f) oom(sizeof(FILE));
    return f;
}

void mem_memstream_close(FILE *f) {
    fclose(f); /* its writes cannot fail: growth that fails goes to the handler */
}

/* cJSON allocates through the checked allocator in every program that links this file. */
__attribute__((constructor)) static void mem_hook_cjson(void) {
    cJSON_InitHooks(&(cJSON_Hooks){.malloc_fn = mem_alloc, .free_fn = free});
}

void mem_keep_heap(void) {
#ifdef __GLIBC__
    const char *tun = getenv("GLIBC_TUNABLES");
    if (tun && strstr(tun, "glibc.malloc.")) return;
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, -1);
#endif
}
