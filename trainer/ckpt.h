/* ckpt — checkpoints: everything a run needs to continue bit for bit, in one HDF5 file per step.
 *
 * A checkpoint is dir/ckpt-<step, 8+ digits>.h5. Its root carries the attributes format
 * ("rlvr.ckpt"), format_version (CKPT_FORMAT_VERSION, checked on load), step, arch_hash,
 * config_hash and crc32 (of the three before it); below it every item is a dataset at a path the
 * caller chooses, tagged with its kind and the CRC-32 of its data: tensors (model weights under
 * "model/<HF name>", AdamW moments under "optim/exp_avg/<HF name>" ...), byte blobs (RNG states,
 * the data cursor), strings (the resolved config JSON) and 64-bit scalars; the group
 * "data_checksums" holds one attribute per dataset. docs/DATA.md shows the layout as h5py sees it.
 *
 * The file ends with a seal: 16 bytes after HDF5's own, "rlvrseal", the CRC-32 of every byte
 * before them and the format version. Reading checks the seal before HDF5 parses a byte, so a
 * damaged file is refused by us rather than handed to libhdf5, which crashes or hangs on some
 * damaged metadata (docs/FUZZING.md).
 *
 * Writing is atomic: the file is written under a temporary name in the same directory, flushed,
 * sealed, fsync'ed, renamed into place, and the directory is fsync'ed; then all but the newest keep_last
 * checkpoints are removed. The disk space of each item is reserved before HDF5 writes it, so a
 * full disk is an error like any other: a failure at any point removes the temporary file, leaves
 * every earlier checkpoint as it was and returns -1 with the reason. Reading checks the format
 * version, refuses a checkpoint of another architecture (naming both hashes), checks each
 * tensor's dtype and shape against the tensor it is loaded into, and checks every item it reads
 * against its CRC-32; ckpt_verify checks a whole file.
 *
 * Tensor dtypes map to HDF5 as f32/f64 -> IEEE floats, f16 -> IEEE half (numpy float16 in h5py),
 * i64/i32/u8 -> integers, bf16 -> uint16 bit patterns and bool -> uint8; each tensor dataset has a
 * "dtype" attribute with the ts_ name. Files are little-endian, and two checkpoints of the same
 * content are the same bytes (no timestamps).
 * Deliberately not here: what goes into a checkpoint and when (trainer), sharded or distributed
 * checkpoints (rank 0 writes), compression. */
#ifndef RLVR_CKPT_H
#define RLVR_CKPT_H

#include "tensor/ts.h"

#include <stddef.h>
#include <stdint.h>

#define CKPT_FORMAT "rlvr.ckpt"
#define CKPT_FORMAT_VERSION 3

/* The identity of a checkpoint, stored as root attributes. */
typedef struct ckpt_meta {
    int64_t step;            /* >= 0; names the file */
    const char *arch_hash;   /* hash of the model architecture; required, non-empty */
    const char *config_hash; /* hash of the resolved config; NULL = "" */
} ckpt_meta;

/* ---- writing ---- */

typedef struct ckpt_writer ckpt_writer;

/* Start the checkpoint of m->step in dir (created if missing, one level). NULL with err_set. */
ckpt_writer *ckpt_writer_open(const char *dir, const ckpt_meta *m);
/* Add an item at a path such as "model/model.norm.weight" (groups are created as needed; a path
 * is used once). Tensors may live on any device and in any layout. Each returns 0 or -1 with
 * err_set; after a failure only ckpt_writer_free is useful. */
int ckpt_put_tensor(ckpt_writer *w, const char *path, const ts_tensor *t);
int ckpt_put_bytes(ckpt_writer *w, const char *path, const void *data, size_t n);
int ckpt_put_string(ckpt_writer *w, const char *path, const char *s);
int ckpt_put_i64(ckpt_writer *w, const char *path, int64_t v);
int ckpt_put_f64(ckpt_writer *w, const char *path, double v);
/* The checksum of a dataset, under its name ("builtin:addition/train", a file path). */
int ckpt_put_checksum(ckpt_writer *w, const char *dataset, uint64_t checksum);
/* Make the checkpoint durable and visible: flush, fsync, rename, fsync the directory, then remove
 * all but the newest keep_last checkpoints of dir (0 = keep all) and stale temporary files. The
 * final path goes to path (cap bytes) when path is not NULL. Returns 0 or -1 with err_set; the
 * writer must still be freed. */
int ckpt_writer_commit(ckpt_writer *w, int keep_last, char *path, size_t cap);
/* Close; an uncommitted checkpoint's temporary file is removed. NULL is a no-op. */
void ckpt_writer_free(ckpt_writer *w);

/* ---- reading ---- */

typedef struct ckpt_reader ckpt_reader;

/* Open a checkpoint and check its format and version; with arch_hash non-NULL, refuse one whose
 * architecture hash differs. NULL with err_set naming the file (and both hashes). */
ckpt_reader *ckpt_open(const char *path, const char *arch_hash);
void ckpt_close(ckpt_reader *r);

int64_t ckpt_step(const ckpt_reader *r);
const char *ckpt_arch_hash(const ckpt_reader *r);   /* borrowed */
const char *ckpt_config_hash(const ckpt_reader *r); /* borrowed */
/* 1 if an item exists at path, else 0. */
int ckpt_has(const ckpt_reader *r, const char *path);

/* Copy a stored tensor into dst (any device), which must have the same dtype and shape; done
 * without recording autograd. -1 with err_set naming the tensor and both shapes otherwise. */
int ckpt_get_tensor(ckpt_reader *r, const char *path, ts_tensor *dst);
/* Load n tensors stored under prefix/names[i] into dst[i], after checking first that every one
 * exists with the right dtype and shape and that prefix holds no other tensor: on such a failure
 * no tensor has been touched. A tensor whose data fail their CRC-32 stops the load there (check
 * the file with ckpt_verify first to load all or nothing). */
int ckpt_load_tensors(ckpt_reader *r, const char *prefix, const char *const *names, ts_tensor *const *dst,
                      int n);
/* Byte blob into a new buffer (*data, caller frees; *n bytes). */
int ckpt_get_bytes(ckpt_reader *r, const char *path, uint8_t **data, size_t *n);
/* String into a new NUL-terminated buffer (caller frees); NULL with err_set. */
char *ckpt_get_string(ckpt_reader *r, const char *path);
int ckpt_get_i64(ckpt_reader *r, const char *path, int64_t *v);
int ckpt_get_f64(ckpt_reader *r, const char *path, double *v);
/* The stored checksum of a dataset; -1 with err_set when the checkpoint has none for it. */
int ckpt_get_checksum(ckpt_reader *r, const char *dataset, uint64_t *checksum);

/* ---- verifying ---- */

/* Read every item of r and check it against its CRC-32. 0, or -1 with err_set naming the first
 * damaged item. */
int ckpt_verify(ckpt_reader *r);

typedef enum ckpt_fault {
    CKPT_FINE = 0,      /* opens and every item verifies */
    CKPT_DAMAGED,       /* unreadable, not a checkpoint, or an item that fails its CRC-32 */
    CKPT_INCOMPATIBLE,  /* intact, but of another format version or (arch_hash non-NULL) architecture */
} ckpt_fault;

/* Append the seal to a complete HDF5 file at path (the writer does it; tests and fuzz targets that
 * build checkpoints with HDF5 itself call it). Returns 0, or -1 with err_set naming the file. */
int ckpt_seal(const char *path);

/* Open path as ckpt_open does and verify it; err_set says why when the answer is not CKPT_FINE. */
ckpt_fault ckpt_check_file(const char *path, const char *arch_hash);

/* ---- finding ---- */

/* The newest checkpoint of dir (highest step among ckpt-<step>.h5; temporary files are never
 * complete and are ignored). 1 with its path in path, 0 when dir has none or does not exist, -1
 * with err_set when dir cannot be read or the path does not fit. */
int ckpt_latest(const char *dir, char *path, size_t cap);
/* Likewise, the newest checkpoint of dir whose step is below `before`; its step into *step when
 * step is not NULL. */
int ckpt_previous(const char *dir, int64_t before, char *path, size_t cap, int64_t *step);

#endif
