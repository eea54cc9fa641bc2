/* fuzz_tokenizer_json — libFuzzer target for the tokenizer loader: the input up to its first NUL
 * is a tokenizer.json, the rest (when there is a NUL) a tokenizer_config.json. It must load or be
 * refused with a message, never crash; a tokenizer that loads must encode a fixed text to ids
 * inside its vocabulary and decode them again. */
#include "common/err.h"
#include "model/tokenizer.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *json = (const char *)data;
    const char *nul = memchr(data, '\0', size);
    size_t json_len = nul ? (size_t)(nul - json) : size;
    const char *config = nul ? nul + 1 : NULL;
    size_t config_len = nul ? size - json_len - 1 : 0;
    err_clear();
    tok_tokenizer *t = tok_load_mem(json, json_len, config, config_len, "fuzz/tokenizer.json");
    if (!t) {
        if (!err_msg()[0]) abort(); /* a refusal always says why */
        return 0;
    }
    static const char text[] = "Hello <|im_end|> wörld 123  \n\n 你好 🎉";
    tok_ids ids = {0};
    if (tok_encode(t, text, sizeof text - 1, 1, &ids) == 0) {
        for (int i = 0; i < ids.n; i++)
            if (ids.v[i] < 0 || ids.v[i] >= tok_vocab_size(t)) abort();
        free(tok_decode(t, ids.v, ids.n, 0));
    }
    tok_ids_free(&ids);
    tok_free(t);
    return 0;
}
