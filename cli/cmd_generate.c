/* rlvr generate — sample one completion from a model for a prompt, with the chat template applied
 * (recognised from tokenizer_config.json, or named with --chat), decoding over the KV cache:
 * one prefill, then one decode step per token until an EOS id (config.json's eos_token_id and the
 * tokenizer's eos token) or --max-new-tokens.
 * The sampler here is the single-sequence one: temperature, top-k, top-p (nucleus), greedy; the
 * random stream is a generator seeded by --seed.
 * Not here: batches of prompts and groups of samples (rollout/), stop strings, streaming output. */
#include "cli.h"

#include "common/err.h"
#include "model/chat.h"
#include "model/model.h"
#include "model/tokenizer.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr generate --model DIR --prompt TEXT [options]\n\n"
    "  --max-new-tokens N  stop after N tokens (128)\n"
    "  --temperature X     divide the logits by X (1.0)\n"
    "  --top-k N           sample among the N most likely tokens (0: all)\n"
    "  --top-p X           sample from the smallest set of probability >= X (1.0: all)\n"
    "  --greedy            take the most likely token (temperature, top-k, top-p unused)\n"
    "  --seed N            random stream of the sampler (0)\n"
    "  --system TEXT       a system message before the prompt\n"
    "  --chat NAME         chat template: auto, chatml, qwen2, qwen2.5, qwen3, llama3 (auto)\n"
    "  --no-think          Qwen3: start the answer with an empty think block\n"
    "  --raw               no chat template: the prompt is the text to continue\n"
    "  --json              print {\"prompt_ids\", \"ids\", \"text\"} instead of the text\n"
    "  --device D          cpu or cuda:N (cpu)\n";

typedef struct sampling {
    double temperature, top_p;
    int64_t top_k;
    int greedy;
} sampling;

/* logits (1, V) f32 -> the next token id; -1 with err_set. */
static int sample(const ts_tensor *logits, const sampling *s, ts_generator *gen, int64_t *next) {
    ts_scope_begin();
    ts_tensor *x = ts_squeeze(logits, 0), *pick; /* (V) */
    int64_t V = ts_size(x, 0);
    if (s->greedy) {
        pick = ts_argmax(x, 0, 0);
    } else {
        x = ts_div_scalar(x, s->temperature);
        if (s->top_k > 0 && s->top_k < V) {
            ts_tensor *vals, *idx;
            if (!ts_topk(x, s->top_k, 0, 1, &vals, &idx)) x = ts_masked_fill(x, ts_lt(x, ts_select(vals, 0, s->top_k - 1)), -INFINITY);
            else x = NULL;
        }
        if (s->top_p < 1) {
            ts_tensor *sorted, *idx;
            if (!ts_sort(x, 0, 1, &sorted, &idx)) {
                ts_tensor *p = ts_softmax(sorted, 0);
                /* drop a token when the tokens before it already reach top_p (the first is kept) */
                ts_tensor *drop = ts_gt_scalar(ts_sub(ts_cumsum(p, 0), p), s->top_p);
                x = ts_scatter(x, 0, idx, ts_masked_fill(sorted, drop, -INFINITY));
            } else {
                x = NULL;
            }
        }
        pick = ts_multinomial(ts_softmax(x, 0), 1, 0, gen);
    }
    int rc = pick ? ts_to_host(ts_to_dtype(pick, TS_I64), next, sizeof *next) : -1;
    ts_scope_end();
    return rc;
}

static int is_eos(const model_config *c, int32_t tok_eos, int64_t id) {
    if (id == tok_eos) return 1;
    for (int i = 0; i < c->n_eos; i++)
        if (c->eos_token_ids[i] == id) return 1;
    return 0;
}

/* Prefill prompt, then decode until EOS or max_new; the new ids go to out. */
static int generate(model *m, const tok_ids *prompt, int64_t max_new, const sampling *s, uint64_t seed,
                    int32_t tok_eos, tok_ids *out) {
    int64_t T = prompt->n;
    if (T == 0) return err_set("the prompt encodes to no tokens");
    int64_t *buf = malloc(sizeof *buf * (size_t)T);
    model_cache *c = buf ? model_cache_init(m, 1, T + max_new) : NULL;
    ts_generator *gen = ts_generator_init(seed);
    int rc = c && gen ? 0 : -1;
    if (!buf) err_set("out of memory");
    for (int64_t t = 0; !rc && t < T; t++) buf[t] = prompt->v[t];
    ts_scope_begin();
    ts_tensor *logits = rc ? NULL : model_prefill(m, c, ts_from_data(buf, (int64_t[]){1, T}, 2, TS_I64), NULL);
    if (!logits) rc = -1;
    for (int64_t i = 0; !rc && i < max_new; i++) {
        int64_t next;
        if (sample(logits, s, gen, &next)) rc = -1;
        else if (is_eos(model_get_config(m), tok_eos, next)) break;
        else if (tok_ids_push(out, (int32_t)next)) rc = -1;
        else if (i + 1 < max_new) {
            ts_free(logits);
            logits = model_decode_step(m, c, ts_from_data(&next, (int64_t[]){1}, 1, TS_I64));
            if (!logits) rc = -1;
        }
    }
    ts_scope_end();
    ts_generator_free(gen);
    model_cache_free(c);
    free(buf);
    return rc;
}

static void print_ids(const char *key, const tok_ids *ids) {
    printf("\"%s\": [", key);
    for (int i = 0; i < ids->n; i++) printf(i ? ", %d" : "%d", ids->v[i]);
    putchar(']');
}

int cmd_generate(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    const char *dir = NULL, *prompt = NULL, *system = NULL, *chat = NULL, *device = "cpu";
    sampling s = {1.0, 1.0, 0, 0};
    int64_t max_new = 128, seed = 0;
    int raw = 0, json = 0, think = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (!strcmp(a, "--greedy")) s.greedy = 1;
        else if (!strcmp(a, "--raw")) raw = 1;
        else if (!strcmp(a, "--json")) json = 1;
        else if (!strcmp(a, "--no-think")) think = 0;
        else if (!v) {
            fprintf(stderr, "rlvr generate: unknown or incomplete option '%s'\n\n%s", a, usage);
            return 2;
        } else {
            i++;
            if (!strcmp(a, "--model")) dir = v;
            else if (!strcmp(a, "--prompt")) prompt = v;
            else if (!strcmp(a, "--system")) system = v;
            else if (!strcmp(a, "--chat")) chat = v;
            else if (!strcmp(a, "--device")) device = v;
            else if (!strcmp(a, "--max-new-tokens")) max_new = strtoll(v, &end, 10);
            else if (!strcmp(a, "--seed")) seed = strtoll(v, &end, 10);
            else if (!strcmp(a, "--top-k")) s.top_k = strtoll(v, &end, 10);
            else if (!strcmp(a, "--temperature")) s.temperature = strtod(v, &end);
            else if (!strcmp(a, "--top-p")) s.top_p = strtod(v, &end);
            else {
                fprintf(stderr, "rlvr generate: unknown option '%s'\n\n%s", a, usage);
                return 2;
            }
            if (end && (*end || end == v)) {
                fprintf(stderr, "rlvr generate: %s: '%s' is not a number\n", a, v);
                return 2;
            }
        }
    }
    if (!dir || !prompt) {
        fprintf(stderr, "rlvr generate: --model DIR and --prompt TEXT are required\n\n%s", usage);
        return 2;
    }
    if (max_new < 1 || seed < 0 || s.top_k < 0 || !(s.temperature > 0) || !(s.top_p > 0 && s.top_p <= 1))
        return cli_fail("need --max-new-tokens >= 1, --seed >= 0, --top-k >= 0, --temperature > 0, 0 < --top-p <= 1");
    ts_device dev;
    if (ts_device_parse(device, &dev)) return cli_fail(NULL);
    tok_tokenizer *tok = tok_load(dir);
    model *m = tok ? model_load(dir, dev, TS_F32) : NULL;
    chat_template ct = {0};
    char *text = NULL;
    int rc = m ? 0 : -1;
    if (!rc && raw) text = strdup(prompt);
    else if (!rc && !chat_template_init(&ct, chat, tok)) {
        chat_msg msgs[2] = {{"system", system}, {"user", prompt}};
        text = system ? chat_render(&ct, msgs, 2, 1, think) : chat_render(&ct, msgs + 1, 1, 1, think);
    }
    tok_ids in = {0}, out = {0};
    if (!rc) rc = !text || tok_encode(tok, text, strlen(text), raw, &in) ? -1 : 0;
    ts_no_grad_begin();
    if (!rc) rc = generate(m, &in, max_new, &s, (uint64_t)seed, tok_eos_id(tok), &out);
    ts_no_grad_end();
    char *completion = rc ? NULL : tok_decode(tok, out.v, out.n, 0);
    if (completion && json) {
        cJSON *t = cJSON_CreateString(completion);
        char *ts = cJSON_PrintUnformatted(t);
        putchar('{');
        print_ids("prompt_ids", &in);
        fputs(", ", stdout);
        print_ids("ids", &out);
        printf(", \"text\": %s}\n", ts ? ts : "null");
        free(ts);
        cJSON_Delete(t);
    } else if (completion) {
        printf("%s\n", completion);
    }
    int status = completion ? 0 : cli_fail(NULL);
    if (fflush(stdout)) status = cli_fail("cannot write to stdout");
    free(completion);
    free(text);
    tok_ids_free(&in);
    tok_ids_free(&out);
    chat_template_free(&ct);
    model_free(m);
    tok_free(tok);
    return status;
}
