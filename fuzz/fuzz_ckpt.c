/* fuzz_ckpt — libFuzzer target for the checkpoint reader, structure-aware: the input is a recipe
 * that builds an HDF5 file through HDF5 itself (so the file is always one HDF5 can parse, and
 * the fuzzing reaches our layer instead of HDF5's byte parser; fuzz_ckpt_file mutates raw bytes).
 * The recipe sets each root attribute (format, format_version, step, arch_hash, config_hash) to
 * the right value, a wrong value, a wrong type, several values or none; adds datasets at the
 * paths the reader asks for, of any type (floats, integers of both byte orders, strings of fixed
 * and variable length, compounds, opaque, variable-length sequences), rank, extent (empty, null,
 * terabytes that are never written), layout and "kind"/"dtype" tags; adds soft, dangling,
 * external and hard links; and fills the data_checksums group. fuzz_ckpt_read.h then reads it. */
#include "fuzz/fuzz_file.h"

#include "fuzz/fuzz_ckpt_read.h"

#include <string.h>

typedef struct recipe {
    const uint8_t *p;
    size_t n;
} recipe;

static uint8_t take(recipe *r) {
    if (!r->n) return 0;
    r->n--;
    return *r->p++;
}

static uint64_t take64(recipe *r) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v = v << 8 | take(r);
    return v;
}

/* A short string of the recipe's bytes (up to 15, no NUL) in buf. */
static const char *take_str(recipe *r, char *buf) {
    int n = take(r) % 16, k = 0;
    for (int i = 0; i < n; i++) {
        uint8_t c = take(r);
        if (c) buf[k++] = (char)c;
    }
    buf[k] = '\0';
    return buf;
}

static hid_t vlen_str(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

enum { T_VSTR = 7, T_VSEQ = 18, T_COUNT = 20 };

/* A file datatype by number (caller closes it). */
static hid_t file_type(int k) {
    hid_t t;
    switch (k) {
    case 0: return H5Tcopy(H5T_IEEE_F32LE);
    case 1: return H5Tcopy(H5T_IEEE_F64LE);
    case 2: /* IEEE binary16, as ckpt.c writes it */
        t = H5Tcopy(H5T_IEEE_F32LE);
        H5Tset_fields(t, 15, 10, 5, 0, 10);
        H5Tset_size(t, 2);
        H5Tset_ebias(t, 15);
        return t;
    case 3: return H5Tcopy(H5T_STD_I64LE);
    case 4: return H5Tcopy(H5T_STD_I32LE);
    case 5: return H5Tcopy(H5T_STD_U8LE);
    case 6: return H5Tcopy(H5T_STD_U16LE);
    case T_VSTR: return vlen_str();
    case 8:
    case 9:
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, k == 8 ? 4 : 8);
        return t;
    case 10: return H5Tcopy(H5T_IEEE_F32BE);
    case 11: return H5Tcopy(H5T_STD_I64BE);
    case 12:
        t = H5Tcreate(H5T_COMPOUND, 8);
        H5Tinsert(t, "a", 0, H5T_STD_I32LE);
        H5Tinsert(t, "b", 4, H5T_IEEE_F32LE);
        return t;
    case 13: return H5Tcreate(H5T_OPAQUE, 4);
    case 14: {
        hsize_t two = 2;
        return H5Tarray_create2(H5T_STD_U8LE, 1, &two);
    }
    case 15: {
        t = H5Tenum_create(H5T_STD_U8LE);
        uint8_t zero = 0, one = 1;
        H5Tenum_insert(t, "off", &zero);
        H5Tenum_insert(t, "on", &one);
        return t;
    }
    case 16: return H5Tcopy(H5T_STD_I8LE);
    case 17: return H5Tcopy(H5T_STD_U64LE);
    case T_VSEQ: return H5Tvlen_create(H5T_STD_U8LE);
    default: return H5Tcopy(H5T_STD_B32LE);
    }
}

/* A dataspace from the recipe; *huge is set for an extent too large to write. */
static hid_t take_space(recipe *r, int *huge, int *rank, hsize_t *dims) {
    int k = take(r) % 8;
    *huge = 0;
    *rank = 0;
    if (k == 0) return H5Screate(H5S_SCALAR);
    if (k == 1) return H5Screate(H5S_NULL);
    if (k == 7) {
        *huge = 1;
        *rank = 1;
        dims[0] = (hsize_t)1 << (20 + take(r) % 24);
        return H5Screate_simple(1, dims, NULL);
    }
    *rank = 1 + k % 3;
    for (int i = 0; i < *rank; i++) dims[i] = take(r) % 4;
    return H5Screate_simple(*rank, dims, NULL);
}

/* Strings that variable-length string values are drawn from: the valid ones and near misses. */
static const char *const words[] = {"rlvr.ckpt", "arch", "cfg", "tensor", "bytes", "string", "i64", "f64",
                                    "f32", "bf16", "f16", "i32", "u8", "bool", "", "rlvr.ckp", "tensor\x01"};
#define NWORDS ((int)(sizeof words / sizeof words[0]))

/* Write n elements of type t (of class cls) filled from the recipe to an attribute or dataset. */
static void fill(recipe *r, hid_t t, size_t n, void *buf, const char **strs, hvl_t *seqs, uint8_t *seqdata) {
    H5T_class_t cls = H5Tget_class(t);
    if (cls == H5T_STRING && H5Tis_variable_str(t) > 0) {
        for (size_t i = 0; i < n; i++) strs[i] = words[take(r) % NWORDS];
        memcpy(buf, strs, n * sizeof *strs);
    } else if (cls == H5T_VLEN) {
        for (size_t i = 0; i < n; i++) {
            seqs[i].len = take(r) % 4;
            seqs[i].p = seqdata;
        }
        memcpy(buf, seqs, n * sizeof *seqs);
    } else {
        size_t bytes = n * H5Tget_size(t);
        for (size_t i = 0; i < bytes; i++) ((uint8_t *)buf)[i] = take(r);
    }
}

/* Set attribute name on obj: the valid value (a string from words[valid_word], or valid_int as an
 * i64), another value, another type, several values, a null space, or nothing. */
static void put_attr(recipe *r, hid_t obj, const char *name, int valid_word, int64_t valid_int) {
    int op = take(r) % 10;
    if (op == 0) return;
    hid_t t, s;
    int64_t v = valid_int;
    const char *str = valid_word >= 0 ? words[valid_word] : NULL;
    char tmp[16];
    const void *value = str ? (const void *)&str : (const void *)&v;
    hsize_t n = 1;
    t = str ? vlen_str() : H5Tcopy(H5T_STD_I64LE);
    s = H5Screate(H5S_SCALAR);
    if (op == 2) {
        if (str) str = words[take(r) % NWORDS];
        else v = (int64_t)take64(r);
    } else if (op == 3) {
        if (str) str = take_str(r, tmp);
        else v = take(r) % 4;
    } else if (op == 4 || op == 5) {
        H5Tclose(t);
        t = file_type(take(r) % T_COUNT);
        if (H5Tget_class(t) == H5T_STRING || H5Tget_class(t) == H5T_VLEN) {
            H5Tclose(t);
            t = op == 4 ? H5Tcopy(H5T_IEEE_F64LE) : H5Tcopy(H5T_STD_I8LE);
        }
        static uint8_t raw[8];
        for (size_t i = 0; i < sizeof raw; i++) raw[i] = take(r);
        value = raw;
    } else if (op == 6) {
        H5Tclose(t);
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, 1 + take(r) % 8);
        static char fixed[9];
        for (size_t i = 0; i < sizeof fixed - 1; i++) fixed[i] = (char)take(r);
        value = fixed;
    } else if (op == 7 || op == 8) {
        H5Sclose(s);
        n = op == 7 ? take(r) % 4 : 3;
        s = H5Screate_simple(1, &n, NULL);
        static const char *strs[3];
        static int64_t ints[3];
        for (hsize_t i = 0; i < n; i++) {
            strs[i] = str ? words[take(r) % NWORDS] : NULL;
            ints[i] = (int64_t)take(r);
        }
        value = str ? (const void *)strs : (const void *)ints;
    } else if (op == 9) {
        H5Sclose(s);
        s = H5Screate(H5S_NULL);
        n = 0;
    }
    hid_t a = H5Acreate2(obj, name, t, s, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        if (n) H5Awrite(a, t, value);
        H5Aclose(a);
    }
    H5Sclose(s);
    H5Tclose(t);
}

/* One dataset at a recipe-chosen path, with its kind and dtype attributes. */
static void put_dataset(recipe *r, hid_t file) {
    const char *path = fuzz_ckpt_paths[take(r) % FUZZ_CKPT_NPATHS];
    int tk = take(r) % T_COUNT, huge, rank;
    hsize_t dims[3];
    hid_t t = file_type(tk), s = take_space(r, &huge, &rank, dims);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    if (rank > 0 && take(r) % 4 == 0) { /* chunked, growable */
        hsize_t chunk[3], maxd[3];
        for (int i = 0; i < rank; i++) chunk[i] = 1, maxd[i] = H5S_UNLIMITED;
        H5Sset_extent_simple(s, rank, dims, maxd);
        H5Pset_chunk(dcpl, rank, chunk);
    }
    hid_t d = H5Dcreate2(file, path, t, s, lcpl, dcpl, H5P_DEFAULT);
    if (d >= 0) {
        hssize_t n = H5Sget_select_npoints(s);
        static const char *strs[64];
        static hvl_t seqs[64];
        static uint8_t seqdata[4] = {1, 2, 3, 4}, buf[64 * 16];
        if (!huge && n > 0 && n <= 64 && take(r) % 4 != 0) {
            fill(r, t, (size_t)n, buf, strs, seqs, seqdata);
            H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        }
        put_attr(r, d, "kind", 3 + take(r) % 5, 0);
        put_attr(r, d, "dtype", 6 + take(r) % 8, 0);
        H5Dclose(d);
    }
    H5Pclose(dcpl);
    H5Pclose(lcpl);
    H5Sclose(s);
    H5Tclose(t);
}

/* A soft link (to an item, or dangling), an external link or a hard link at a reader path. */
static void put_link(recipe *r, hid_t file) {
    const char *at = fuzz_ckpt_paths[take(r) % FUZZ_CKPT_NPATHS];
    const char *to = fuzz_ckpt_paths[take(r) % FUZZ_CKPT_NPATHS];
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    char target[64];
    snprintf(target, sizeof target, "/%s", to);
    switch (take(r) % 4) {
    case 0: H5Lcreate_soft(target, file, at, lcpl, H5P_DEFAULT); break;
    case 1: H5Lcreate_soft("/nowhere", file, at, lcpl, H5P_DEFAULT); break;
    case 2: H5Lcreate_external("no-such-file.h5", target, file, at, lcpl, H5P_DEFAULT); break;
    default: H5Lcreate_hard(file, to, file, at, lcpl, H5P_DEFAULT); break;
    }
    H5Pclose(lcpl);
}

static int build(recipe *r, const char *path) {
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0) abort();
    put_attr(r, file, "format", 0, 0);
    put_attr(r, file, "format_version", -1, CKPT_FORMAT_VERSION);
    put_attr(r, file, "step", -1, 7);
    put_attr(r, file, "arch_hash", 1, 0);
    put_attr(r, file, "config_hash", 2, 0);
    for (int i = take(r) % 8; i > 0; i--) put_dataset(r, file);
    for (int i = take(r) % 4; i > 0; i--) put_link(r, file);
    if (take(r) % 2) {
        hid_t g = H5Gcreate2(file, "data_checksums", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g >= 0) {
            for (int i = 0; i < FUZZ_CKPT_NDATASETS; i++) put_attr(r, g, fuzz_ckpt_datasets[i], -1, (int64_t)take64(r));
            H5Gclose(g);
        }
    }
    H5Fclose(file);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) return -1;
    return ckpt_seal(path); /* a sealed file reaches HDF5, and so the reading code under test */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_ckpt_init();
    recipe r = {.p = data, .n = size};
    int check_arch = take(&r) & 1;
    const char *path = fuzz_file_path();
    if (build(&r, path) != 0) abort();
    H5Eclear2(H5E_DEFAULT);
    fuzz_ckpt_read(path, check_arch);
    return 0;
}
