/* mem — the checked allocator and its out-of-memory handler; see mem.h. */
#include "mem.h"

#include <cjson/cJSON.h>
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

FILE *mem_memstream(char **buf, size_t *len) {
    FILE *f = open_memstream(buf, len);
    if (!f) oom(0);
    return f;
}

void mem_memstream_close(FILE *f, const size_t *len) {
    int failed = ferror(f);
    if (fclose(f) || failed) oom(*len);
}

/* cJSON allocates through the checked allocator in every program that links this file. */
__attribute__((constructor)) static void mem_hook_cjson(void) {
    cJSON_InitHooks(&(cJSON_Hooks){.malloc_fn = mem_alloc, .free_fn = free});
}
