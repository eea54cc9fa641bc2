/* mem — the checked allocator: malloc, calloc, realloc and strdup that never return NULL.
 *
 * Running out of host memory is not an error a caller can do anything useful about, so unlike
 * bad input, I/O and collectives it does not travel up the stack as a status: when the system
 * allocator fails, the out-of-memory handler is called with the size that was asked for. The
 * default handler prints "rlvr: out of memory allocating N bytes" on stderr and exits with status
 * 1. A replaced handler must not return — it exits or longjmps out; if it returns, the allocator
 * calls abort(). A size that cannot be represented (calloc's n * size overflowing) is a bug in the
 * caller and is reported to the handler as SIZE_MAX. A zero-size request returns a valid, unique
 * pointer. Memory from here is released with free().
 * Every program that uses this allocator also allocates cJSON's nodes and printed text here (the
 * hooks are installed before main), so cJSON_Create*, cJSON_Add* and cJSON_Print* never return
 * NULL for want of memory, and a NULL from cJSON_Parse* means bad input.
 * Text built with stdio goes into a checked memory stream (mem_memstream), which grows through
 * the same allocator.
 * Deliberately not here: arenas, memory accounting, the tensors' memory (libtorch's, reported by
 * tensor/ through its status returns). */
#ifndef RLVR_MEM_H
#define RLVR_MEM_H

#include <stddef.h>
#include <stdio.h>

/* Called with the size of the request the system allocator refused; must not return. */
typedef void (*mem_oom_handler)(size_t size);

/* Replace the out-of-memory handler; NULL restores the default. Set it before starting threads. */
void mem_set_oom_handler(mem_oom_handler handler);

void *mem_alloc(size_t size);
/* Zeroed n * size bytes; an overflowing product goes to the handler as SIZE_MAX. */
void *mem_calloc(size_t n, size_t size);
/* Resize p (NULL allocates); a zero size keeps a valid pointer rather than freeing p. */
void *mem_realloc(void *p, size_t size);
char *mem_strdup(const char *s);
/* At most n bytes of s, always NUL-terminated. */
char *mem_strndup(const char *s, size_t n);

/* A stream like open_memstream(3) whose writes never fail: what is written is in *buf, *len
 * bytes plus a NUL, once the stream is flushed or closed with mem_memstream_close (release *buf
 * with free()). Its growth, like every allocation here, goes to the handler when refused. */
FILE *mem_memstream(char **buf, size_t *len);
void mem_memstream_close(FILE *f);

/* Keep freed memory in the process for reuse instead of handing it back to the kernel (glibc;
 * elsewhere a no-op). A training step frees and reallocates the same tensors every step; glibc by
 * default serves big blocks with mmap and returns them, and trims a freed heap top past 128 KiB,
 * so each step faults every page in and zeroes it again. Here every block comes from the heap and
 * the heap is never trimmed: the resident size stays at the run's peak, which does not grow
 * (measured: the same peak at the 0.5B shape over 5 steps), and the update ran 8-15% faster at
 * the demo's shape and about 2x faster at the 0.5B shape (22.7 -> 11.3-12.6 s a step), the time
 * having gone to page faults. Threads other than the first allocate from glibc's secondary arenas,
 * whose heaps hold at most 64 MiB: bigger blocks there are still mmapped (the tensors are made on
 * the main thread). A GLIBC_TUNABLES that sets a malloc tunable is left to rule. Call before
 * threads start. */
void mem_keep_heap(void);

#endif
