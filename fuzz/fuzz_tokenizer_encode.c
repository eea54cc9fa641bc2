/* fuzz_tokenizer_encode — libFuzzer target for encoding and decoding text with the three test
 * tokenizers of tests/tokenizer/ (tiny, qwen3 with its NFC normaliser, cl100k), each loaded once
 * from $RLVR_SRC. The first byte picks the tokenizer (its value mod 3) and whether special tokens
 * are added (bit 2); the rest is the text. Invalid UTF-8 must be refused with a message; otherwise
 * every id lies in the vocabulary and decodes, and without added specials the ids decode back to
 * the text whenever NFC cannot change it (every code point below U+0300, no NUL). */
#include "common/err.h"
#include "model/tokenizer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static tok_tokenizer *load(int which) {
    static tok_tokenizer *loaded[3];
    static const char *const names[3] = {"tiny", "qwen3", "cl100k"};
    if (!loaded[which]) {
        const char *src = getenv("RLVR_SRC");
        char path[1024];
        snprintf(path, sizeof path, "%s/tests/tokenizer/%s", src ? src : ".", names[which]);
        loaded[which] = tok_load(path);
        if (!loaded[which]) {
            fprintf(stderr, "fuzz_tokenizer_encode: %s (set RLVR_SRC to the source tree)\n", err_msg());
            abort();
        }
    }
    return loaded[which];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    tok_tokenizer *t = load(data[0] % 3);
    int add_special = (data[0] >> 2) & 1;
    const char *text = (const char *)data + 1;
    size_t n = size - 1;
    tok_ids ids = {0};
    err_clear();
    if (tok_encode(t, text, n, add_special, &ids) != 0) {
        if (!err_msg()[0]) abort();
        tok_ids_free(&ids);
        return 0;
    }
    for (int i = 0; i < ids.n; i++)
        if (ids.v[i] < 0 || ids.v[i] >= tok_vocab_size(t)) abort();
    char *back = tok_decode(t, ids.v, ids.n, 0);
    if (!back) abort();
    int nfc_stable = 1;
    for (size_t i = 0; i < n; i++) nfc_stable &= (uint8_t)text[i] < 0xCC && text[i] != '\0';
    if (!add_special && nfc_stable && (strlen(back) != n || memcmp(back, text, n) != 0)) {
        fprintf(stderr, "fuzz_tokenizer_encode: %d ids decode to %zu bytes, not the %zu of the text\n", ids.n,
                strlen(back), n);
        abort();
    }
    free(back);
    tok_ids_free(&ids);
    return 0;
}
