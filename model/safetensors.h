/* safetensors — read and write Hugging Face .safetensors files.
 *
 * The format: 8 bytes little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ..., "__metadata__": {..}},
 * then the raw little-endian tensor bytes, offsets relative to the end of the header.
 * Reading maps the file read-only and hands out pointers into the mapping, no copies. The header is
 * untrusted: its size is bounded, its JSON must be well formed, every tensor's byte range must lie
 * inside the file, the ranges must tile the data section in order without holes or overlaps, and
 * byte length must equal product(shape) x dtype size, computed without overflow.
 * A model directory is either one model.safetensors or shards listed in
 * model.safetensors.index.json; st_open takes a file or such a directory.
 * Deliberately not here: dtype conversion and tensors (model/ builds ts_ tensors from the bytes),
 * big-endian hosts, the float8 dtypes. */
#ifndef RLVR_SAFETENSORS_H
#define RLVR_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER (100u << 20) /* bytes; the reference implementation's limit too */

typedef enum { ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL } st_dtype;

typedef struct st_tensor {
    const char *name;
    st_dtype dtype;
    int ndim;                     /* 0 for a scalar */
    int64_t shape[ST_MAX_DIMS];
    const void *data;             /* little-endian bytes, into the mapping when read; not
                                     necessarily aligned to the dtype size in foreign files */
    size_t nbytes;                /* product(shape) x st_dtype_size(dtype) */
} st_tensor;

typedef struct st_file st_file;

/* Open a .safetensors file, or a directory holding model.safetensors or
 * model.safetensors.index.json with its shards. NULL with err_set naming the file and tensor. */
st_file *st_open(const char *path);
/* Parse a safetensors image already in memory (borrowed; must outlive the result). `label` names
 * it in errors. */
st_file *st_open_mem(const void *buf, size_t len, const char *label);
void st_close(st_file *f);

/* Tensors in file order (shard by shard, by offset). */
int st_count(const st_file *f);
const st_tensor *st_get(const st_file *f, int i);
/* By name; NULL (no error set) when absent. */
const st_tensor *st_find(const st_file *f, const char *name);
/* A __metadata__ value of the (first) file; NULL when absent. */
const char *st_metadata(const st_file *f, const char *key);

size_t st_dtype_size(st_dtype dt);
const char *st_dtype_name(st_dtype dt); /* "F32", "BF16", ... as in the header */
/* Parse a header dtype string; -1 with err_set when unknown. */
int st_dtype_parse(const char *s, st_dtype *out);

/* Write tensors (name, dtype, ndim, shape, data; nbytes is computed) to one file, in the given
 * order. meta: NULL or a NULL-terminated list of key, value strings for __metadata__. The file is
 * written under a temporary name and renamed into place. */
int st_write(const char *path, const st_tensor *t, int n, const char *const *meta);
/* Write a model directory: one model.safetensors when the tensors total at most shard_bytes,
 * otherwise model-0000i-of-0000n.safetensors shards (each at most shard_bytes unless one tensor
 * is larger, filled in order) plus model.safetensors.index.json. The directory must exist. */
int st_write_dir(const char *dir, const st_tensor *t, int n, size_t shard_bytes,
                 const char *const *meta);

#endif
