/* fuzz_jsonl — libFuzzer target for JSONL dataset reading. The first byte picks which optional
 * fields are named (answer, response, metadata, task; prompt always); the rest is the file. A
 * refusal must say why; an accepted dataset must hold at least one example, each with a prompt,
 * an answer when one is named, metadata that is a JSON object, and strictly increasing line
 * numbers. */
#include "fuzz/fuzz_file.h"

#include "common/err.h"
#include "data/data.h"

#include <cjson/cJSON.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    uint8_t pick = data[0];
    data_fields f = {
        .prompt = pick & 16 ? "question" : "prompt",
        .answer = pick & 1 ? "answer" : NULL,
        .response = pick & 2 ? "response" : NULL,
        .metadata = pick & 4 ? "metadata" : NULL,
        .task = pick & 8 ? "task" : NULL,
    };
    err_clear();
    data_set *d = data_load_jsonl(fuzz_file_write(data + 1, size - 1), &f);
    if (!d) {
        if (!err_msg()[0]) abort();
        return 0;
    }
    if (d->n < 1) abort();
    int64_t line = 0;
    for (int64_t i = 0; i < d->n; i++) {
        const data_example *e = &d->ex[i];
        if (!e->prompt || (f.answer && !e->answer) || e->line <= line) abort();
        line = e->line;
        if (e->metadata) {
            cJSON *m = cJSON_Parse(e->metadata);
            if (!cJSON_IsObject(m)) abort();
            cJSON_Delete(m);
        }
    }
    data_set_free(d);
    return 0;
}
