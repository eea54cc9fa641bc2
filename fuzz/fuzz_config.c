/* fuzz_config — libFuzzer target for the configuration: a JSON config file and --set overrides,
 * typed and checked against the schema. The input up to its first NUL is the file; each further
 * NUL-terminated piece is one "key=value" override. Every refusal must say why, and whatever
 * state the config ends in must print as JSON that loads into a fresh config and prints back the
 * same (the resolved config a run writes is always a config it can read). */
#include "fuzz/fuzz_file.h"

#include "common/cfg.h"
#include "common/err.h"

#include <stdint.h>
#include <string.h>

/* Call after a refusal: a refusal without a message is a defect. */
static void must_say_why(void) {
    if (!err_msg()[0]) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    rlvr_config c, back;
    if (cfg_init(&c) != 0 || cfg_init(&back) != 0) abort();
    size_t file_len = strlen(s);
    err_clear();
    if (cfg_load_file(&c, fuzz_file_write(s, file_len)) != 0) must_say_why();
    for (size_t at = file_len + 1; at < size; at += strlen(s + at) + 1) {
        err_clear();
        if (cfg_set(&c, s + at) != 0) must_say_why();
    }
    char *json = cfg_to_json(&c);
    if (!json) abort();
    if (cfg_load_file(&back, fuzz_file_write(json, strlen(json))) != 0) {
        fprintf(stderr, "fuzz_config: the printed config does not load: %s\n%s\n", err_msg(), json);
        abort();
    }
    char *again = cfg_to_json(&back);
    if (!again || strcmp(json, again) != 0) {
        fprintf(stderr, "fuzz_config: the printed config changes on reload:\n%s\n---\n%s\n", json, again);
        abort();
    }
    free(again);
    free(json);
    cfg_free(&back);
    cfg_free(&c);
    free(s);
    return 0;
}
