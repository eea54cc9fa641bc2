/* rlvr generate — sample completions from a model for a prompt, with the chat template applied
 * (recognised from tokenizer_config.json, or named with --chat), through the rollout engine
 * (rollout/): one prefill, --n samples sharing it, decoding over the KV cache until an EOS id
 * (config.json's eos_token_id and the tokenizer's eos token) or --max-new-tokens. The sampler is
 * the engine's (temperature, top-k, top-p, min-p, greedy), its draws keyed by --seed and the
 * sample index, so a seed fixes every sample.
 * Not here: batches of prompts (rlvr train and eval do those), stop strings, streaming output. */
#include "cli.h"

#include "common/err.h"
#include "model/chat.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "rollout/rollout.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr generate --model DIR --prompt TEXT [options]\n\n"
    "  --max-new-tokens N  stop after N tokens (128)\n"
    "  --n N               samples of the prompt, drawn independently (1)\n"
    "  --temperature X     divide the logits by X (1.0)\n"
    "  --top-k N           sample among the N most likely tokens (0: all)\n"
    "  --top-p X           sample from the smallest set of probability >= X (1.0: all)\n"
    "  --min-p X           drop tokens below X times the top probability (0: none)\n"
    "  --greedy            take the most likely token (temperature, top-k, top-p, min-p unused)\n"
    "  --seed N            key of the sampler's random draws (0)\n"
    "  --system TEXT       a system message before the prompt\n"
    "  --chat NAME         chat template: auto, chatml, qwen2, qwen2.5, qwen3, llama3 (auto)\n"
    "  --no-think          Qwen3: start the answer with an empty think block\n"
    "  --raw               no chat template: the prompt is the text to continue\n"
    "  --json              print {\"prompt_ids\", \"ids\", \"text\", \"finish\"} per sample, one a line,\n"
    "                      instead of the texts\n"
    "  --device D          cpu or cuda:N (cpu)\n";

/* Sample n completions of prompt; EOS ids are the model's and the tokenizer's. */
static int generate(model *m, const tok_tokenizer *tok, const tok_ids *prompt, int64_t max_new, const sampler_params *sp,
                    uint64_t seed, int n, rollout_result *out) {
    if (prompt->n == 0) return err_set("the prompt encodes to no tokens");
    const model_config *c = model_get_config(m);
    int32_t eos[MODEL_MAX_EOS + 1];
    int n_eos = 0;
    for (int i = 0; i < c->n_eos; i++) eos[n_eos++] = (int32_t)c->eos_token_ids[i];
    if (tok_eos_id(tok) >= 0) eos[n_eos++] = tok_eos_id(tok);
    rollout_options o;
    memset(&o, 0, sizeof o);
    o.sampling = *sp;
    o.max_new_tokens = max_new;
    o.eos_ids = eos;
    o.n_eos = n_eos;
    o.tok = tok;
    o.seed = seed;
    o.share_prefix = 1;
    const int32_t *ids = prompt->v;
    int len = prompt->n;
    uint64_t key = 0;
    return rollout_generate(m, &o, 1, &ids, &len, &key, n, out);
}

/* A number for option opt in the interval from lo to hi, each end closed when its flag is set;
 * -1 with err_set naming the option and the interval. */
static int parse_real(const char *opt, const char *v, int lo_closed, double lo, double hi, int hi_closed,
                      double *out) {
    char *end;
    double x = strtod(v, &end);
    int ok = end != v && !*end && (lo_closed ? x >= lo : x > lo) && (hi_closed ? x <= hi : x < hi);
    if (ok) {
        *out = x;
        return 0;
    }
    if (isinf(hi)) return err_set("%s: expected a number %s %g, got '%s'", opt, lo_closed ? ">=" : ">", lo, v);
    return err_set("%s: expected a number in %c%g,%g%c, got '%s'", opt, lo_closed ? '[' : '(', lo, hi,
                   hi_closed ? ']' : ')', v);
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
    sampler_params s = {1.0, 0, 1.0, 0};
    int64_t max_new = 128, seed = 0, n = 1;
    int raw = 0, json = 0, think = 1, greedy = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (!strcmp(a, "--greedy")) greedy = 1;
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
            else if (!strcmp(a, "--max-new-tokens")) bad = cli_parse_int(a, v, 1, INT64_MAX, &max_new);
            else if (!strcmp(a, "--seed")) bad = cli_parse_int(a, v, 0, INT64_MAX, &seed);
            else if (!strcmp(a, "--n")) bad = cli_parse_int(a, v, 1, 65536, &n);
            else if (!strcmp(a, "--top-k")) bad = cli_parse_int(a, v, 0, INT64_MAX, &s.top_k);
            else if (!strcmp(a, "--temperature")) bad = parse_real(a, v, 0, 0, INFINITY, 0, &s.temperature);
            else if (!strcmp(a, "--top-p")) bad = parse_real(a, v, 0, 0, 1, 1, &s.top_p);
            else if (!strcmp(a, "--min-p")) bad = parse_real(a, v, 1, 0, 1, 0, &s.min_p);
            else {
                fprintf(stderr, "rlvr generate: unknown option '%s'\n\n%s", a, usage);
                return 2;
            }
        }
        if (bad) return cli_fail(NULL);
    }
    if (!dir || !prompt) {
        fprintf(stderr, "rlvr generate: --model DIR and --prompt TEXT are required\n\n%s", usage);
        return 2;
    }
    if (greedy) s = (sampler_params){0, 0, 1, 0};
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
    tok_ids in = {0};
    rollout_result res = {0};
    if (!rc) rc = !text || tok_encode(tok, text, strlen(text), raw, &in) ? -1 : 0;
    if (!rc) rc = generate(m, tok, &in, max_new, &s, (uint64_t)seed, (int)n, &res);
    for (int i = 0; !rc && i < res.n; i++) {
        const rollout_sample *r = &res.samples[i];
        if (json) {
            /* ids without a final EOS, as the text */
            tok_ids ids = {(int32_t *)r->ids, r->len - (r->finish == ROLLOUT_EOS), 0};
            cJSON *t = cJSON_CreateString(r->text);
            char *ts = cJSON_PrintUnformatted(t);
            putchar('{');
            print_ids("prompt_ids", &in);
            fputs(", ", stdout);
            print_ids("ids", &ids);
            printf(", \"text\": %s, \"finish\": \"%s\"}\n", ts ? ts : "null", rollout_finish_name(r->finish));
            free(ts);
            cJSON_Delete(t);
        } else {
            printf("%s\n", r->text);
        }
    }
    int status = rc ? cli_fail(NULL) : 0;
    if (fflush(stdout)) status = cli_fail("cannot write to stdout");
    rollout_result_free(&res);
    free(text);
    tok_ids_free(&in);
    chat_template_free(&ct);
    model_free(m);
    tok_free(tok);
    return status;
}
