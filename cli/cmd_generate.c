/* rlvr generate — sample completions from a model for a prompt, with the chat template applied
 * (recognised from tokenizer_config.json, or named with --chat), through the rollout engine
 * (rollout/): one prefill, --n samples sharing it, decoding over the KV cache until an EOS id
 * (config.json's eos_token_id and the tokenizer's eos token) or --max-new-tokens. The sampler is
 * the engine's (temperature, top-k, top-p, min-p, greedy, repetition penalty), its draws keyed by
 * --seed and the sample index, so a seed fixes every sample. Sampling defaults come from the
 * model's generation_config.json as Hugging Face's generate takes them (rollout/genconfig.c), the
 * options overriding them; a log line names each value's origin.
 * Not here: batches of prompts (rlvr train and eval do those), stop strings, streaming output. */
#include "cli.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
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
    "  --repetition-penalty X  divide positive logits of tokens already in the sequence by X,\n"
    "                      multiply negative ones (1.0: off)\n"
    "  --greedy            take the most likely token (temperature, top-k, top-p, min-p unused)\n"
    "  --no-generation-config  ignore the model's generation_config.json (whose temperature,\n"
    "                      top_k, top_p, min_p, repetition_penalty, do_sample and eos_token_id\n"
    "                      are otherwise the defaults of the options above)\n"
    "  --seed N            key of the sampler's random draws (0)\n"
    "  --system TEXT       a system message before the prompt\n"
    "  --chat NAME         chat template: auto, chatml, qwen2, qwen2.5, qwen3, llama3 (auto)\n"
    "  --no-think          Qwen3: start the answer with an empty think block\n"
    "  --raw               no chat template: the prompt is the text to continue\n"
    "  --json              print {\"prompt_ids\", \"ids\", \"text\", \"finish\"} per sample, one a line,\n"
    "                      instead of the texts\n"
    "  --adapter DIR       a LoRA adapter directory (PEFT's layout) applied to the model\n"
    "  --device D          cpu or cuda:N (cpu)\n";

/* Sample n completions of prompt; EOS ids are the model's, the tokenizer's and
 * generation_config.json's. */
static int generate(model *m, const tok_tokenizer *tok, const tok_ids *prompt, int64_t max_new, const rollout_sampling *sp,
                    uint64_t seed, int n, rollout_result *out) {
    if (prompt->n == 0) return err_set("the prompt encodes to no tokens");
    const model_config *c = model_get_config(m);
    int32_t eos[MODEL_MAX_EOS + 1 + ROLLOUT_GEN_MAX_EOS];
    int n_eos = 0;
    for (int i = 0; i < c->n_eos; i++) eos[n_eos++] = (int32_t)c->eos_token_ids[i];
    if (tok_eos_id(tok) >= 0) eos[n_eos++] = tok_eos_id(tok);
    for (int i = 0; i < sp->n_eos; i++) eos[n_eos++] = sp->eos[i];
    rollout_options o;
    memset(&o, 0, sizeof o);
    o.sampling = sp->p;
    o.repetition_penalty = sp->repetition_penalty;
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

/* The command line. */
typedef struct gen_args {
    const char *dir, *adapter, *prompt, *system, *chat, *device;
    rollout_sampling smp;
    int64_t max_new, seed, n;
    int raw, json, think, greedy, use_gen_config;
} gen_args;

/* An option that takes a value: 0 taken, 1 a bad value (err_set), 2 not an option of ours. */
static int take_value(gen_args *g, const char *a, const char *v) {
    sampler_params *s = &g->smp.p;
    int *given = g->smp.given;
    if (!strcmp(a, "--model")) g->dir = v;
    else if (!strcmp(a, "--adapter")) g->adapter = v;
    else if (!strcmp(a, "--prompt")) g->prompt = v;
    else if (!strcmp(a, "--system")) g->system = v;
    else if (!strcmp(a, "--chat")) g->chat = v;
    else if (!strcmp(a, "--device")) g->device = v;
    else if (!strcmp(a, "--max-new-tokens")) return cli_parse_int(a, v, 1, INT64_MAX, &g->max_new) != 0;
    else if (!strcmp(a, "--seed")) return cli_parse_int(a, v, 0, INT64_MAX, &g->seed) != 0;
    else if (!strcmp(a, "--n")) return cli_parse_int(a, v, 1, 65536, &g->n) != 0;
    else if (!strcmp(a, "--top-k")) {
        given[ROLLOUT_GEN_TOP_K] = 1;
        return cli_parse_int(a, v, 0, INT64_MAX, &s->top_k) != 0;
    } else if (!strcmp(a, "--temperature")) {
        given[ROLLOUT_GEN_TEMPERATURE] = 1;
        return parse_real(a, v, 0, 0, INFINITY, 0, &s->temperature) != 0;
    } else if (!strcmp(a, "--top-p")) {
        given[ROLLOUT_GEN_TOP_P] = 1;
        return parse_real(a, v, 0, 0, 1, 1, &s->top_p) != 0;
    } else if (!strcmp(a, "--min-p")) {
        given[ROLLOUT_GEN_MIN_P] = 1;
        return parse_real(a, v, 1, 0, 1, 0, &s->min_p) != 0;
    } else if (!strcmp(a, "--repetition-penalty")) {
        given[ROLLOUT_GEN_REPETITION_PENALTY] = 1;
        return parse_real(a, v, 0, 0, INFINITY, 0, &g->smp.repetition_penalty) != 0;
    } else return 2;
    return 0;
}

/* Parse the options into *g: 0, or the exit status (usage errors print the usage). */
static int parse_args(int argc, char **argv, gen_args *g) {
    *g = (gen_args){.device = "cpu",
                    .smp = {.p = {.temperature = 1.0, .top_k = 0, .top_p = 1.0, .min_p = 0},
                            .repetition_penalty = 1.0},
                    .max_new = 128, .n = 1, .think = 1, .use_gen_config = 1};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--greedy")) g->greedy = 1;
        else if (!strcmp(a, "--raw")) g->raw = 1;
        else if (!strcmp(a, "--json")) g->json = 1;
        else if (!strcmp(a, "--no-think")) g->think = 0;
        else if (!strcmp(a, "--no-generation-config")) g->use_gen_config = 0;
        else if (!v) {
            fprintf(stderr, "rlvr generate: unknown or incomplete option '%s'\n\n%s", a, usage);
            return 2;
        } else {
            i++;
            int r = take_value(g, a, v);
            if (r == 2) {
                fprintf(stderr, "rlvr generate: unknown option '%s'\n\n%s", a, usage);
                return 2;
            }
            if (r) return cli_fail(NULL);
        }
    }
    if (!g->dir || !g->prompt) {
        fprintf(stderr, "rlvr generate: --model DIR and --prompt TEXT are required\n\n%s", usage);
        return 2;
    }
    if (g->greedy) {
        g->smp.p = (sampler_params){.temperature = 0, .top_k = 0, .top_p = 1, .min_p = 0};
        for (int i = 0; i < ROLLOUT_GEN_REPETITION_PENALTY; i++) g->smp.given[i] = 1;
    }
    return 0;
}

/* The text the model continues: the prompt itself with --raw, else the chat template's rendering
 * of the system message (if any) and the prompt. NULL with err_set. */
static char *prompt_text(const gen_args *g, const tok_tokenizer *tok, chat_template *ct) {
    if (g->raw) return mem_strdup(g->prompt);
    if (chat_template_init(ct, g->chat, tok)) return NULL;
    chat_msg msgs[2] = {{"system", g->system}, {"user", g->prompt}};
    return g->system ? chat_render(ct, msgs, 2, 1, g->think) : chat_render(ct, msgs + 1, 1, 1, g->think);
}

/* Each sample: its text on a line, or with --json its ids (without a final EOS, as the text). */
static void print_samples(const rollout_result *res, const tok_ids *prompt, int json) {
    for (int i = 0; i < res->n; i++) {
        const rollout_sample *r = &res->samples[i];
        if (!json) {
            printf("%s\n", r->text);
            continue;
        }
        tok_ids ids = {.v = (int32_t *)r->ids, .n = r->len - (r->finish == ROLLOUT_EOS), .cap = 0};
        cJSON *t = cJSON_CreateString(r->text);
        char *ts = cJSON_PrintUnformatted(t);
        putchar('{');
        print_ids("prompt_ids", prompt);
        fputs(", ", stdout);
        print_ids("ids", &ids);
        printf(", \"text\": %s, \"finish\": \"%s\"}\n", ts, rollout_finish_name(r->finish));
        free(ts);
        cJSON_Delete(t);
    }
}

int cmd_generate(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    gen_args g;
    int bad_args = parse_args(argc, argv, &g);
    if (bad_args) return bad_args;
    rollout_sampling *smp = &g.smp;
    ts_device dev;
    if (ts_device_parse(g.device, &dev)) return cli_fail(NULL);
    if (g.use_gen_config && rollout_sampling_from_model(g.dir, smp)) return cli_fail(NULL);
    if (!g.use_gen_config)
        for (int i = 0; i < ROLLOUT_GEN_N; i++) smp->from[i] = smp->given[i] ? ROLLOUT_FROM_USER : ROLLOUT_FROM_DEFAULT;
    tok_tokenizer *tok = tok_load(g.dir);
    model *m = tok ? model_load_adapted(g.dir, g.adapter, dev, TS_F32) : NULL;
    char line[512];
    rollout_sampling_describe(smp, "command line", line, sizeof line);
    if (m) log_info("sampling: %s", line);
    chat_template ct = {0};
    char *text = m ? prompt_text(&g, tok, &ct) : NULL;
    tok_ids in = {0};
    rollout_result res = {0};
    int rc = !text || tok_encode(tok, text, strlen(text), g.raw, &in) ||
             generate(m, tok, &in, g.max_new, smp, (uint64_t)g.seed, (int)g.n, &res);
    if (!rc) print_samples(&res, &in, g.json);
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
