/* bench_tokenizer — encode throughput of model/tokenizer on one core, in MB/s of UTF-8 input.
 *
 * Usage: bench_tokenizer [TOKENIZER_DIR [TEXT_FILE]]
 * Defaults: tests/tokenizer/qwen3 and the English licence texts in /usr/share/common-licenses
 * (present on every Debian system). Prints, side by side: the first pass over the text on a fresh
 * tokenizer (every pre-token goes through BPE), later passes (the pre-token cache warm), and
 * decode; then the ratio warm/cold. Not here: multi-threaded encoding. */
#include "common/err.h"
#include "common/mem.h"
#include "model/tokenizer.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int append_file(const char *path, char **buf, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return -1;
    char chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, fp)) > 0) {
        *buf = mem_realloc(*buf, *len + r + 1);
        memcpy(*buf + *len, chunk, r);
        *len += r;
        (*buf)[*len] = '\0';
    }
    fclose(fp);
    return 0;
}

int main(int argc, char **argv) {
    const char *dir = argc > 1 ? argv[1] : "tests/tokenizer/qwen3";
    char *text = NULL;
    size_t len = 0;
    if (argc > 2) append_file(argv[2], &text, &len);
    else {
        const char *lic = "/usr/share/common-licenses";
        DIR *d = opendir(lic);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            char p[1024];
            if (e->d_name[0] == '.') continue;
            snprintf(p, sizeof p, "%s/%s", lic, e->d_name);
            append_file(p, &text, &len);
        }
        if (d) closedir(d);
    }
    if (!text || len == 0) {
        fprintf(stderr, "bench_tokenizer: no input text\n");
        return 1;
    }
    double t0 = now();
    tok_tokenizer *t = tok_load(dir);
    if (!t) {
        fprintf(stderr, "bench_tokenizer: %s\n", err_msg());
        return 1;
    }
    double t_load = now() - t0;
    tok_ids ids = {0};
    t0 = now();
    if (tok_encode(t, text, len, 0, &ids)) {
        fprintf(stderr, "bench_tokenizer: %s\n", err_msg());
        return 1;
    }
    double cold = now() - t0;
    int ntok = ids.n, reps = 0;
    t0 = now();
    do {
        ids.n = 0;
        tok_encode(t, text, len, 0, &ids);
        reps++;
    } while (now() - t0 < 2.0);
    double warm = (now() - t0) / reps;
    t0 = now();
    char *back = tok_decode(t, ids.v, ids.n, 0);
    double dec = now() - t0;
    double mb = (double)len / 1e6;
    printf("tokenizer %s (load %.2f s), text %.2f MB -> %d tokens (%.2f bytes/token)\n", dir, t_load, mb,
           ntok, (double)len / ntok);
    printf("encode, first pass (cold cache): %8.2f MB/s\n", mb / cold);
    printf("encode, later passes (warm):     %8.2f MB/s  (%d passes)\n", mb / warm, reps);
    printf("decode:                          %8.2f MB/s\n", mb / dec);
    printf("warm / cold: %.2fx; round trip %s\n", cold / warm, back && !strcmp(back, text) ? "exact" : "DIFFERS");
    free(back);
    tok_ids_free(&ids);
    tok_free(t);
    free(text);
    return 0;
}
