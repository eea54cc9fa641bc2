/* io — see io.h. */
#include "io.h"

#include "err.h"
#include "mem.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
