/* fuzz_ckpt_file — libFuzzer target for the checkpoint reader on raw file bytes: the input is
 * written as the checkpoint file and read as fuzz_ckpt_read.h reads every checkpoint. The bytes
 * are parsed by HDF5 itself first, so this mostly exercises libhdf5's own parser (not built with
 * coverage feedback here); fuzz_ckpt builds well-formed HDF5 files to reach our layer. */
#include "fuzz/fuzz_file.h"

#include "fuzz/fuzz_ckpt_read.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_ckpt_init();
    fuzz_ckpt_read(fuzz_file_write(data, size), 1);
    return 0;
}
