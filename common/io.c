/* io — see io.h. */
#define _GNU_SOURCE /* renameat2 */
#include "io.h"

#include "err.h"
#include "mem.h"

#include <cjson/cJSON.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *io_read_file(const char *path, size_t max, size_t *len) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        err_set("%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(fp), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(fp);
        err_set("%s: is a directory, expected a file", path);
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    do {
        if (n == cap) {
            cap = cap ? 2 * cap : 65536;
            buf = mem_realloc(buf, cap + 1);
        }
        got = fread(buf + n, 1, cap - n, fp);
        n += got;
        if (max && n > max) {
            free(buf);
            fclose(fp);
            err_set("%s: larger than the %zu-byte limit", path, max);
            return NULL;
        }
    } while (got);
    int bad = ferror(fp) ? errno : 0;
    fclose(fp);
    if (bad) {
        free(buf);
        err_set("%s: read error: %s", path, strerror(bad));
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

int io_write_file(const char *path, const void *data, size_t len) {
    FILE *fp = fopen(path, "wb");
    int ok = fp && fwrite(data, 1, len, fp) == len;
    if (fp && fclose(fp)) ok = 0;
    return ok ? 0 : err_set("%s: cannot write: %s", path, strerror(errno));
}

const char *io_json_kind(const cJSON *j) {
    if (cJSON_IsString(j)) return "a string";
    if (cJSON_IsNumber(j)) return "a number";
    if (cJSON_IsBool(j)) return "a boolean";
    if (cJSON_IsNull(j)) return "null";
    if (cJSON_IsArray(j)) return "an array";
    if (cJSON_IsObject(j)) return "an object";
    return "an invalid value";
}

int io_write_json(const char *dir, const char *name, const cJSON *j) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    char *txt = cJSON_Print(j);
    size_t n = strlen(txt);
    char *line = mem_realloc(txt, n + 2);
    line[n] = '\n';
    int rc = io_write_file(path, line, n + 1);
    free(line);
    return rc;
}

int io_mkdir_p(const char *path) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) return err_set("path too long: %s", path);
    for (char *s = buf + 1; *s; s++) {
        if (*s != '/') continue;
        *s = '\0';
        if (mkdir(buf, 0755) && errno != EEXIST) return err_set("cannot create '%s': %s", buf, strerror(errno));
        *s = '/';
    }
    if (mkdir(buf, 0755) && errno != EEXIST) return err_set("cannot create '%s': %s", buf, strerror(errno));
    return 0;
}

int io_dir_nonempty(const char *path) {
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT) return 0;
        if (errno == ENOTDIR) return 1;
        return err_set("cannot read directory '%s': %s", path, strerror(errno));
    }
    int n = 0;
    struct dirent *e;
    while (!n && (e = readdir(d))) n = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st;
    (void)ftw;
    int rc = flag == FTW_DP ? rmdir(path) : unlink(path);
    if (rc) err_set("cannot remove '%s': %s", path, strerror(errno));
    return rc;
}

int io_remove_tree(const char *path) {
    struct stat st;
    if (lstat(path, &st) != 0) return errno == ENOENT ? 0 : err_set("cannot remove '%s': %s", path, strerror(errno));
    return nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) == 0 ? 0 : -1;
}

int io_dir_stage(const char *dir, char *tmp, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    if ((size_t)snprintf(tmp, cap, "%.*s.tmp-%ld", (int)n, dir, (long)getpid()) >= cap)
        return err_set("path too long: %s", dir);
    if (io_remove_tree(tmp)) return -1;
    return io_mkdir_p(tmp);
}

int io_dir_commit(const char *tmp, const char *dir) {
    struct stat st;
    int exists = stat(dir, &st) == 0;
    if (exists && !S_ISDIR(st.st_mode)) {
        io_remove_tree(tmp);
        return err_set("'%s' exists and is not a directory", dir);
    }
    if (!exists && rename(tmp, dir) == 0) return 0;
    if (exists && renameat2(AT_FDCWD, tmp, AT_FDCWD, dir, RENAME_EXCHANGE) == 0) {
        io_remove_tree(tmp); /* the old contents, now under the temporary name */
        return 0;
    }
    if (exists && (errno == EINVAL || errno == ENOSYS)) { /* no atomic exchange here: move the old aside */
        char old[4200];
        snprintf(old, sizeof old, "%s.old", tmp);
        if (rename(dir, old) == 0) {
            if (rename(tmp, dir) == 0) {
                io_remove_tree(old);
                return 0;
            }
            int e = errno;
            if (rename(old, dir) != 0) e = errno;
            errno = e;
        }
    }
    int e = errno;
    io_remove_tree(tmp);
    return err_set("cannot put '%s' in place of '%s': %s", tmp, dir, strerror(e));
}
