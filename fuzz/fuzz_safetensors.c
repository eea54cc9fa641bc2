/* fuzz_safetensors — libFuzzer target for the safetensors header parser: any byte string is
 * parsed as a safetensors image in memory; it must be accepted or refused with a message, never
 * crash, and an accepted image's tensors must lie inside the buffer. Built and run by
 * scripts/fuzz_model.sh (clang -fsanitize=fuzzer,address); not part of CI. */
#include "common/err.h"
#include "model/safetensors.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    st_file *f = st_open_mem(data, size, "fuzz.safetensors");
    if (!f) {
        if (!err_msg()[0]) abort(); /* a refusal always says why */
        return 0;
    }
    for (int i = 0; i < st_count(f); i++) {
        const st_tensor *t = st_get(f, i);
        const uint8_t *p = t->data;
        if (p < data || p + t->nbytes > data + size) abort();
        if (st_find(f, t->name) == NULL) abort();
    }
    st_close(f);
    return 0;
}
