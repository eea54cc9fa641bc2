/* test_mem — the checked allocator: ordinary requests behave like the C library's (zero sizes
 * give valid unique pointers, realloc keeps the contents, strndup truncates); an impossible request
 * reaches a replaced out-of-memory handler with its size (a calloc whose n * size overflows with
 * SIZE_MAX) and leaves a realloc'd block intact; the default handler prints one line and exits 1,
 * in a forked child; a handler that returns makes the allocator abort. A checked memory stream
 * holds what was written to it, and one whose growth fails (the address space limited, in a
 * child; not under AddressSanitizer, which needs its own) reaches the handler. mem_keep_heap
 * (glibc, not under AddressSanitizer, whose allocator is its own): a 64 MiB block comes from the
 * heap and stays there once freed, and a GLIBC_TUNABLES naming a malloc tunable leaves glibc's
 * default (the block mmapped), each in a child so the parent's allocator is untouched. */
#include "check.h"

#include "common/mem.h"

#include <cjson/cJSON.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

/* Under AddressSanitizer a refused request returns NULL (after a warning on stderr), as the C
 * library's does, instead of ending the process in the sanitizer's own report. */
const char *__asan_default_options(void) { return "allocator_may_return_null=1"; }

#define HUGE (SIZE_MAX / 2)

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

static jmp_buf oom_jump;
static size_t oom_size;

static void catch_oom(size_t size) {
    oom_size = size;
    longjmp(oom_jump, 1);
}

static void return_from_oom(size_t size) { (void)size; }

/* The size the handler received for request(), or 0 when the request was granted. */
static size_t refused_size(void *(*request)(void)) {
    oom_size = 0;
    if (setjmp(oom_jump)) return oom_size;
    free(request());
    return 0;
}

static void *huge_alloc(void) { return mem_alloc(HUGE); }
static void *huge_calloc(void) { return mem_calloc(HUGE, 1); }
static void *overflowing_calloc(void) { return mem_calloc(HUGE, 4); }
static void *small_calloc(void) { return mem_calloc(4, 8); }

static char *kept;
static void *huge_realloc(void) { return mem_realloc(kept, HUGE); }

/* Runs body in a forked child with stderr captured into err; returns the wait status. */
static int in_child(void (*body)(void), char *err, size_t cap) {
    int fd[2];
    if (pipe(fd)) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        dup2(fd[1], 2);
        body();
        _exit(0);
    }
    close(fd[1]);
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd[0], err + n, cap - 1 - n)) > 0) n += (size_t)r;
    err[n] = '\0';
    close(fd[0]);
    int status = -1;
    waitpid(pid, &status, 0);
    return status;
}

/* The last line of text (a sanitizer build warns on stderr before the handler's line). */
static const char *last_line(const char *text) {
    const char *end = text + strlen(text), *p = end > text ? end - 1 : end;
    while (p > text && p[-1] != '\n') p--;
    return p;
}

static void default_handler_body(void) { free(mem_alloc(HUGE)); }

static void restored_handler_body(void) {
    mem_set_oom_handler(catch_oom);
    mem_set_oom_handler(NULL);
    free(mem_alloc(HUGE));
}

static void returning_handler_body(void) {
    mem_set_oom_handler(return_from_oom);
    free(mem_alloc(HUGE));
}

#ifndef UNDER_ASAN
/* A memory stream written past an address space of what is mapped now plus 64 MiB. */
static void memstream_limit_body(void) {
    long pages = 0;
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm || fscanf(statm, "%ld", &pages) != 1) _exit(3);
    fclose(statm);
    rlim_t limit = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)64 << 20);
    if (setrlimit(RLIMIT_AS, &(struct rlimit){.rlim_cur = limit, .rlim_max = limit})) _exit(3);
    static char chunk[1 << 20];
    memset(chunk, 'x', sizeof chunk);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = mem_memstream(&buf, &len);
    for (int i = 0; i < 1024 && fwrite(chunk, 1, sizeof chunk, f) == sizeof chunk; i++) continue;
    mem_memstream_close(f);
    _exit(4); /* not reached: 1 GiB does not fit */
}
#endif

/* A checked memory stream holds the text and its length, NUL-terminated; one that outgrows the
 * address space reaches the handler. */
static void check_memstream(void) {
    char *text = NULL;
    size_t text_len = 0;
    FILE *ms = mem_memstream(&text, &text_len);
    fprintf(ms, "%s %d", "seven", 7);
    mem_memstream_close(ms);
    CHECK(text_len == 7);
    CHECK_STR(text, "seven 7");
    free(text);
#ifndef UNDER_ASAN
    char err[512];
    int st = in_child(memstream_limit_body, err, sizeof err);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK_CONTAINS(last_line(err), "rlvr: out of memory allocating ");
#endif
}

#if defined(__GLIBC__) && !defined(UNDER_ASAN)
#define BLOCK (64 << 20)

/* Exit status 0 when a BLOCK-sized allocation is served as the settings say: from the heap and
 * kept there after free (kept = 1), or mmapped (kept = 0). */
static void block_placement(int kept) {
    struct mallinfo2 before = mallinfo2();
    char *volatile p = malloc(BLOCK); /* volatile: the compiler may drop a malloc-free pair */
    if (!p) _exit(2);
    memset(p, 1, BLOCK);
    struct mallinfo2 in_use = mallinfo2();
    free(p);
    struct mallinfo2 after = mallinfo2();
    if (kept) _exit(in_use.hblks == before.hblks && after.fordblks >= before.fordblks + BLOCK ? 0 : 3);
    _exit(in_use.hblks == before.hblks + 1 && after.fordblks < before.fordblks + BLOCK ? 0 : 4);
}

static void keep_heap_body(void) {
    mem_keep_heap();
    block_placement(1);
}

static void tunables_rule_body(void) {
    setenv("GLIBC_TUNABLES", "glibc.malloc.check=0", 1);
    mem_keep_heap();
    block_placement(0);
}

static void check_keep_heap(void) {
    char err[512];
    int st = in_child(keep_heap_body, err, sizeof err);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = in_child(tunables_rule_body, err, sizeof err);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
#endif

int main(void) {
#if defined(__GLIBC__) && !defined(UNDER_ASAN)
    /* first: a refused request below moves this thread to a secondary arena (glibc retries there),
     * and a secondary arena's heaps hold at most 64 MiB, so a block this big is mmapped anyway */
    check_keep_heap();
#endif

    /* ordinary requests */
    char *a = mem_alloc(100);
    memset(a, 'x', 100);
    uint64_t *z = mem_calloc(16, sizeof *z);
    int zeroed = 1;
    for (int i = 0; i < 16; i++) zeroed &= z[i] == 0;
    CHECK(zeroed);
    a = mem_realloc(a, 1 << 20);
    CHECK(a[0] == 'x' && a[99] == 'x');
    a[(1 << 20) - 1] = 'y';
    free(a);
    free(z);
    char *grown = mem_realloc(NULL, 8);
    memcpy(grown, "abcdefg", 8);
    CHECK_STR(grown, "abcdefg");
    free(grown);
    char *d = mem_strdup("hello"), *t = mem_strndup("hello", 3), *s = mem_strndup("hi", 10);
    CHECK_STR(d, "hello");
    CHECK_STR(t, "hel");
    CHECK_STR(s, "hi");
    free(d);
    free(t);
    free(s);

    /* zero sizes: valid, distinct pointers that free() accepts */
    void *z0 = mem_alloc(0), *z1 = mem_alloc(0), *c0 = mem_calloc(0, 8), *c1 = mem_calloc(8, 0);
    CHECK(z0 && z1 && z0 != z1);
    CHECK(c0 && c1 && c0 != c1);
    void *r0 = mem_realloc(mem_alloc(32), 0);
    CHECK(r0 != NULL);
    free(z0);
    free(z1);
    free(c0);
    free(c1);
    free(r0);

    /* cJSON allocates through the checked allocator and still works */
    cJSON *j = cJSON_CreateObject();
    cJSON_AddNumberToObject(j, "n", 3);
    cJSON_AddStringToObject(j, "s", "x");
    char *txt = cJSON_PrintUnformatted(j);
    CHECK_STR(txt, "{\"n\":3,\"s\":\"x\"}");
    free(txt);
    cJSON_Delete(j);

    /* a replaced handler receives the size that was refused */
    mem_set_oom_handler(catch_oom);
    CHECK(refused_size(huge_alloc) == HUGE);
    CHECK(refused_size(huge_calloc) == HUGE);
    CHECK(refused_size(overflowing_calloc) == SIZE_MAX);
    CHECK(refused_size(small_calloc) == 0);
    kept = mem_strdup("still here");
    CHECK(refused_size(huge_realloc) == HUGE);
    CHECK_STR(kept, "still here");
    free(kept);
    mem_set_oom_handler(NULL);

    /* the default handler: one line on stderr, exit status 1 */
    char want[96], err[512];
    snprintf(want, sizeof want, "rlvr: out of memory allocating %zu bytes\n", (size_t)HUGE);
    int st = in_child(default_handler_body, err, sizeof err);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK_STR(last_line(err), want);
    st = in_child(restored_handler_body, err, sizeof err);
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 1);
    CHECK_STR(last_line(err), want);

    check_memstream();

    /* a handler that returns: the allocator aborts rather than hand back NULL */
    st = in_child(returning_handler_body, err, sizeof err);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGABRT);

    CHECK_DONE();
}
