/* fuzz_tokenizer — libFuzzer target for the tokenizer loader and encoder. The first byte picks
 * the mode: even — the rest is a tokenizer.json to load (and, if it loads, to encode a fixed text
 * with); odd — the rest is text for the tiny tokenizer in tests/tokenizer/tiny (loaded once), whose
 * ids must decode back to the text whenever it is valid UTF-8 without NFC-changing characters.
 * Built and run by scripts/fuzz_model.sh; not part of CI. */
#include "common/err.h"
#include "model/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tok_tokenizer *tiny;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const char *rest = (const char *)data + 1;
    size_t n = size - 1;
    tok_ids ids = {0};
    if (data[0] % 2 == 0) {
        tok_tokenizer *t = tok_load_mem(rest, n, NULL, 0, "fuzz/tokenizer.json");
        if (!t) {
            if (!err_msg()[0]) abort();
            return 0;
        }
        static const char text[] = "Hello <|im_end|> wörld 123  \n\n 你好 🎉";
        if (tok_encode(t, text, sizeof text - 1, 1, &ids) == 0) {
            char *back = tok_decode(t, ids.v, ids.n, 0);
            free(back);
        }
        tok_ids_free(&ids);
        tok_free(t);
        return 0;
    }
    if (!tiny) {
        const char *src = getenv("RLVR_SRC");
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/tokenizer/tiny", src ? src : ".");
        tiny = tok_load(path);
        if (!tiny) abort();
    }
    if (tok_encode(tiny, rest, n, 0, &ids) == 0) {
        for (int i = 0; i < ids.n; i++)
            if (ids.v[i] < 0 || ids.v[i] >= tok_vocab_size(tiny)) abort();
        char *back = tok_decode(tiny, ids.v, ids.n, 0);
        if (!back) abort();
        int nfc_stable = 1; /* below U+0300 NFC changes nothing */
        for (size_t i = 0; i < n; i++) nfc_stable &= (uint8_t)rest[i] < 0xCC && rest[i] != '\0';
        if (nfc_stable && (strlen(back) != n || memcmp(back, rest, n))) abort();
        free(back);
    } else if (!err_msg()[0]) {
        abort();
    }
    tok_ids_free(&ids);
    return 0;
}
