/* fuzz_file — hands a fuzz input to code that reads a path: the bytes go into one file per
 * process, in /dev/shm when it is writable (else $TMPDIR or /tmp), rewritten for every input and
 * removed at exit (a crashed run leaves its rlvr-fuzz-<pid> behind). An anonymous memfd's
 * /proc/self/fd path would leave nothing, but HDF5 resolves the link and refuses it. Not a
 * module: included by fuzz/ only. */
#ifndef RLVR_FUZZ_FILE_H
#define RLVR_FUZZ_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char fuzz_file_name[1024];

static void fuzz_file_remove(void) { unlink(fuzz_file_name); }

/* The path of the process's file, emptied (abort when it cannot be: the fuzzer cannot run). */
static inline const char *fuzz_file_path(void) {
    if (!fuzz_file_name[0]) {
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
        snprintf(fuzz_file_name, sizeof fuzz_file_name, "%s/rlvr-fuzz-%ld", dir, (long)getpid());
        atexit(fuzz_file_remove);
    }
    FILE *fp = fopen(fuzz_file_name, "wb");
    if (!fp || fclose(fp) != 0) abort();
    return fuzz_file_name;
}

/* The path of the process's file holding exactly the n bytes of data. */
static inline const char *fuzz_file_write(const void *data, size_t n) {
    const char *path = fuzz_file_path();
    FILE *fp = fopen(path, "wb");
    if (!fp) abort();
    if (n && fwrite(data, 1, n, fp) != n) abort();
    if (fclose(fp) != 0) abort();
    return path;
}

#endif
