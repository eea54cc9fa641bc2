/* io — whole-file reads and writes and directory creation, with errors that name the path.
 * Deliberately not here: streaming, memory maps (model/safetensors.c maps its own files),
 * atomic replacement (trainer/ckpt.c does fsync and rename for checkpoints). */
#ifndef RLVR_IO_H
#define RLVR_IO_H

#include <stddef.h>

/* The whole file, NUL-terminated (bytes after an embedded NUL are kept; *len is the size).
 * Refuses a file larger than max bytes (0: no limit). Caller frees; NULL with err_set. */
char *io_read_file(const char *path, size_t max, size_t *len);
/* Create or replace path with len bytes of data. Returns 0, or -1 with err_set. */
int io_write_file(const char *path, const void *data, size_t len);
/* dir/name as pretty-printed JSON and a final newline. Returns 0, or -1 with err_set. */
struct cJSON;
int io_write_json(const char *dir, const char *name, const struct cJSON *j);
/* What a JSON value is, for messages: "a string", "a number", "a boolean", "null", "an array",
 * "an object". */
const char *io_json_kind(const struct cJSON *j);
/* mkdir -p: create path and its missing parents (mode 0755). Returns 0, or -1 with err_set. */
int io_mkdir_p(const char *path);

#endif
