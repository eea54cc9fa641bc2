/* io — whole-file reads and writes and directory creation, with errors that name the path.
 * A directory written as a whole (an exported model) is built under a temporary name beside its
 * place and then swapped in, so that no reader ever sees half of it or a stale file of the old.
 * Deliberately not here: streaming, memory maps (model/safetensors.c maps its own files),
 * atomic replacement of single files (trainer/ckpt.c does fsync and rename for checkpoints). */
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
/* 1 when path is a directory with entries (or not a directory), 0 when it is missing or an empty
 * directory, -1 with err_set when it cannot be read. */
int io_dir_nonempty(const char *path);
/* rm -rf path: 0, or -1 with err_set naming what could not be removed. A missing path is fine. */
int io_remove_tree(const char *path);
/* A fresh, empty directory beside dir to build its replacement in: "<dir>.tmp-<pid>" into tmp
 * (cap bytes; an old one of that name is removed first, missing parents are created). 0, or -1
 * with err_set. */
int io_dir_stage(const char *dir, char *tmp, size_t cap);
/* Put the staged directory tmp in place of dir: swapped atomically with an existing dir (whose
 * old contents are then removed whole), renamed when there is none. 0, or -1 with err_set (tmp is
 * then removed and dir left as it was). */
int io_dir_commit(const char *tmp, const char *dir);

#endif
