/* rlvr tokenize — encode or decode JSON lines with a Hugging Face tokenizer, to check data.
 *
 * Encode (default): {"text": s} per line on stdin -> {"ids": [...]} per line on stdout.
 * Decode (--decode): {"ids": [...]} -> {"text": s}. Blank lines are skipped. The first bad line
 * (not JSON, missing field, invalid UTF-8, unknown id) stops the run with an error naming its line
 * number and exit status 1; the lines before it have been written.
 * Not here: chat templates (rlvr generate applies them), batching across threads. */
#include "cli.h"

#include "common/err.h"
#include "model/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr tokenize --tokenizer PATH [--decode] [--add-special-tokens] [--skip-special-tokens]\n"
    "                     < in.jsonl > out.jsonl\n\n"
    "PATH is a model directory (tokenizer.json + tokenizer_config.json) or a tokenizer.json file.\n"
    "Encodes {\"text\": ...} lines to {\"ids\": [...]}; with --decode, {\"ids\": [...]} to {\"text\": ...}.\n"
    "--add-special-tokens   add what the tokenizer's post-processor puts around a text (e.g. BOS)\n"
    "--skip-special-tokens  leave special tokens out of decoded text\n";

/* One line; 0, or -1 with err_set. */
static int process_line(tok_tokenizer *t, const char *line, size_t len, int decode, int add_special,
                        int skip_special, tok_ids *ids) {
    cJSON *j = cJSON_ParseWithLength(line, len);
    int rc = -1;
    if (!cJSON_IsObject(j)) {
        err_set("not a JSON object");
        goto out;
    }
    if (!decode) {
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (!cJSON_IsString(text)) {
            err_set("expected {\"text\": string}");
            goto out;
        }
        ids->n = 0;
        if (tok_encode(t, text->valuestring, strlen(text->valuestring), add_special, ids)) goto out;
        fputs("{\"ids\": [", stdout);
        for (int i = 0; i < ids->n; i++) printf(i ? ", %d" : "%d", ids->v[i]);
        fputs("]}\n", stdout);
    } else {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "ids");
        if (!cJSON_IsArray(arr)) {
            err_set("expected {\"ids\": [integers]}");
            goto out;
        }
        ids->n = 0;
        int k = 0;
        for (const cJSON *e = arr->child; e; e = e->next, k++) {
            if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int32_t)e->valuedouble) {
                err_set("ids[%d] is not an integer", k);
                goto out;
            }
            tok_ids_push(ids, (int32_t)e->valuedouble);
        }
        char *text = tok_decode(t, ids->v, ids->n, skip_special);
        if (!text) goto out;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "text", text);
        cli_put_json(o);
        free(text);
    }
    rc = 0;
out:
    cJSON_Delete(j);
    return rc;
}

int cmd_tokenize(int argc, char **argv) {
    const char *path = NULL;
    int decode = 0, add_special = 0, skip_special = 0;
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--tokenizer") && i + 1 < argc) path = argv[++i];
        else if (!strcmp(argv[i], "--decode")) decode = 1;
        else if (!strcmp(argv[i], "--add-special-tokens")) add_special = 1;
        else if (!strcmp(argv[i], "--skip-special-tokens")) skip_special = 1;
        else {
            fprintf(stderr, "rlvr tokenize: unknown or incomplete option '%s'\n\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "rlvr tokenize: --tokenizer PATH is required\n\n%s", usage);
        return 2;
    }
    tok_tokenizer *t = tok_load(path);
    if (!t) return cli_fail(NULL);
    tok_ids ids = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int status = 0;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len) continue;
        if (process_line(t, line, (size_t)len, decode, add_special, skip_special, &ids)) {
            err_prefix("stdin line %ld", lineno);
            status = cli_fail(NULL);
            break;
        }
    }
    if (fflush(stdout)) status = cli_fail("cannot write to stdout");
    free(line);
    tok_ids_free(&ids);
    tok_free(t);
    return status;
}
