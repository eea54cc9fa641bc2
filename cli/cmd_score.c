/* rlvr score — per-token log-probs of given sequences under a model.
 *
 * {"ids": [...]} or {"text": ...} per line on stdin -> {"logprobs": [...], "total": x} per line:
 * logprobs[t] = log p(ids[t+1] | ids[..t]), total their sum. Text is tokenized with the model's
 * tokenizer and the special tokens its post-processor adds (Llama-3's BOS). Blank lines are
 * skipped; the first bad line stops the run with an error naming its line number.
 * Not here: batching several lines into one forward, chat templates. */
#include "cli.h"

#include "common/err.h"
#include "common/mem.h"
#include "model/model.h"
#include "model/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr score --model DIR [--adapter DIR] [--device cpu|cuda:N] [--threads N] < in.jsonl > out.jsonl\n\n"
    "Reads {\"ids\": [...]} or {\"text\": ...} lines and writes {\"logprobs\": [...], \"total\": x}:\n"
    "the log-probability of each token after the first given the ones before it, and their sum.\n"
    "--adapter: a LoRA adapter directory (PEFT's layout, `rlvr export --peft`) applied to the model.\n";

/* ids of one line into out; -1 with err_set. */
static int line_ids(const cJSON *j, tok_tokenizer *tok, const char *tok_err, int64_t vocab, tok_ids *out) {
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
    const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "ids");
    out->n = 0;
    if (cJSON_IsString(text)) {
        if (!tok) return err_set("a {\"text\"} line needs the model's tokenizer: %s", tok_err);
        return tok_encode(tok, text->valuestring, strlen(text->valuestring), 1, out);
    }
    if (!cJSON_IsArray(arr)) return err_set("expected {\"ids\": [integers]} or {\"text\": string}");
    int k = 0;
    for (const cJSON *e = arr->child; e; e = e->next, k++) {
        if (!cJSON_IsNumber(e) || e->valuedouble != (double)(int32_t)e->valuedouble)
            return err_set("ids[%d] is not an integer", k);
        if (e->valuedouble < 0 || e->valuedouble >= (double)vocab)
            return err_set("ids[%d] = %d is outside the vocabulary 0..%lld", k, (int)e->valuedouble, (long long)vocab - 1);
        tok_ids_push(out, (int32_t)e->valuedouble);
    }
    return 0;
}

static int score_line(model *m, tok_tokenizer *tok, const char *tok_err, const char *line, size_t len, tok_ids *ids) {
    cJSON *j = cJSON_ParseWithLength(line, len);
    int rc = -1;
    if (!cJSON_IsObject(j)) err_set("not a JSON object");
    else if (!line_ids(j, tok, tok_err, model_get_config(m)->vocab_size, ids)) rc = 0;
    cJSON_Delete(j);
    if (rc) return -1;
    if (ids->n < 2) {
        puts("{\"logprobs\": [], \"total\": 0}");
        return 0;
    }
    int64_t T = ids->n, *buf = mem_alloc(sizeof *buf * (size_t)T);
    float *lp = mem_alloc(sizeof *lp * (size_t)(T - 1));
    for (int64_t t = 0; t < T; t++) buf[t] = ids->v[t];
    ts_scope_begin();
    ts_tensor *x = ts_from_data(buf, (int64_t[]){1, T}, 2, TS_I64), *out = NULL;
    if (x && !model_forward_logprobs(m, x, NULL, 0, &out, NULL))
        rc = ts_to_host(out, lp, sizeof *lp * (size_t)(T - 1));
    else rc = -1;
    ts_scope_end();
    if (!rc) {
        double total = 0;
        fputs("{\"logprobs\": [", stdout);
        for (int64_t t = 0; t < T - 1; t++) {
            printf(t ? ", %.9g" : "%.9g", lp[t]);
            total += lp[t];
        }
        printf("], \"total\": %.9g}\n", total);
    }
    free(buf);
    free(lp);
    return rc;
}

int cmd_score(int argc, char **argv) {
    const char *dir = NULL, *adapter = NULL, *device = "cpu";
    int64_t threads = 0;
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--model") && i + 1 < argc) dir = argv[++i];
        else if (!strcmp(argv[i], "--adapter") && i + 1 < argc) adapter = argv[++i];
        else if (!strcmp(argv[i], "--device") && i + 1 < argc) device = argv[++i];
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            if (cli_parse_int("--threads", argv[++i], 1, 1024, &threads)) return cli_fail(NULL);
        }
        else {
            fprintf(stderr, "rlvr score: unknown or incomplete option '%s'\n\n%s", argv[i], usage);
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "rlvr score: --model DIR is required\n\n%s", usage);
        return 2;
    }
    ts_device dev;
    if (ts_device_parse(device, &dev)) return cli_fail(NULL);
    if (threads > 0) ts_set_num_threads((int)threads);
    model *m = model_load_adapted(dir, adapter, dev, TS_F32);
    if (!m) return cli_fail(NULL);
    tok_tokenizer *tok = tok_load(dir); /* optional: only {"text"} lines need it */
    char tok_err[ERR_MSG_MAX];
    snprintf(tok_err, sizeof tok_err, "%s", tok ? "" : err_msg());
    tok_ids ids = {0};
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int status = 0;
    ts_no_grad_begin();
    while ((len = getline(&line, &cap, stdin)) > 0) {
        lineno++;
        if (strspn(line, " \t\r\n") == (size_t)len) continue;
        if (score_line(m, tok, tok_err, line, (size_t)len, &ids)) {
            err_prefix("stdin line %ld", lineno);
            status = cli_fail(NULL);
            break;
        }
    }
    ts_no_grad_end();
    if (fflush(stdout)) status = cli_fail("cannot write to stdout");
    free(line);
    tok_ids_free(&ids);
    tok_free(tok);
    model_free(m);
    return status;
}
