/* rlvr init-model — write a randomly initialised Llama / Qwen2 / Qwen3 model directory in the
 * Hugging Face layout (config.json, generation_config.json, model.safetensors or shards,
 * tokenizer.json, tokenizer_config.json), for tests, benchmarks and the demo. The weights are a
 * function of the seed; the byte-level BPE tokenizer is trained on --vocab-corpus (bytes only
 * without one).
 * Not here: copying or converting an existing model (rlvr export writes trained ones). */
#include "cli.h"

#include "common/err.h"
#include "common/io.h"
#include "model/model.h"
#include "model/tokenizer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: rlvr init-model --arch llama|qwen2|qwen3 --out DIR [options]\n\n"
    "  --force               replace a non-empty DIR whole (else DIR must be empty or missing)\n"
    "  --hidden N            hidden width D (64)\n"
    "  --layers N            decoder layers L (2)\n"
    "  --heads N             query heads H (4)\n"
    "  --kv-heads N          key/value heads, dividing H (H)\n"
    "  --head-dim N          head dim E (D / H)\n"
    "  --intermediate N      MLP width F (3 D)\n"
    "  --vocab-corpus FILE   UTF-8 text the BPE merges are learned from (none: byte tokens only)\n"
    "  --vocab-size N        tokenizer size before special tokens, at least 256 (512)\n"
    "  --model-vocab N       embedding rows, at least the tokenizer's size: rows past it are padding\n"
    "  --max-pos N           max_position_embeddings (4096)\n"
    "  --rope-theta X        RoPE base (llama 500000, qwen 1000000)\n"
    "  --rope-scaling llama3 Llama-3.1 scaling: factor 8, low 1, high 4\n"
    "  --rope-original N     its original_max_position_embeddings (8192)\n"
    "  --rms-eps X           RMSNorm epsilon (llama 1e-5, qwen 1e-6)\n"
    "  --tie                 tie lm_head to the input embedding\n"
    "  --attention-bias      q/k/v/o biases (llama, qwen3; qwen2 always has q/k/v biases)\n"
    "  --chat chatml|llama3  tokenizer specials and chat template (llama: llama3, qwen: chatml)\n"
    "  --init-std X          standard deviation of the random weights (0.02)\n"
    "  --seed N              weights are a function of it (0)\n"
    "  --dtype f32|bf16      dtype of the saved weights (f32)\n"
    "  --shard-mb N          shard the weights above N MiB (4096)\n";

static int parse_f64(const char *opt, const char *v, double *out) {
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || end == v || *end || !(x > 0)) return err_set("%s: expected a positive number, got '%s'", opt, v);
    *out = x;
    return 0;
}

/* The command line. */
typedef struct init_args {
    const char *arch, *out, *corpus_path, *chat, *scaling, *dtype;
    int64_t hidden, layers, heads, kv_heads, head_dim, inter, vocab, model_vocab, max_pos, original, seed, shard_mb;
    double theta, eps, std;
    int tie, attn_bias, force;
} init_args;

/* An option that takes a value: 0 taken, 1 a bad value (err_set), 2 not an option of ours. */
static int take_value(init_args *g, const char *a, const char *v) {
    if (!strcmp(a, "--arch")) g->arch = v;
    else if (!strcmp(a, "--out")) g->out = v;
    else if (!strcmp(a, "--vocab-corpus")) g->corpus_path = v;
    else if (!strcmp(a, "--chat")) g->chat = v;
    else if (!strcmp(a, "--rope-scaling")) g->scaling = v;
    else if (!strcmp(a, "--dtype")) g->dtype = v;
    else if (!strcmp(a, "--hidden")) return cli_parse_int(a, v, 1, INT64_MAX, &g->hidden) != 0;
    else if (!strcmp(a, "--layers")) return cli_parse_int(a, v, 1, INT64_MAX, &g->layers) != 0;
    else if (!strcmp(a, "--heads")) return cli_parse_int(a, v, 1, INT64_MAX, &g->heads) != 0;
    else if (!strcmp(a, "--kv-heads")) return cli_parse_int(a, v, 1, INT64_MAX, &g->kv_heads) != 0;
    else if (!strcmp(a, "--head-dim")) return cli_parse_int(a, v, 2, INT64_MAX, &g->head_dim) != 0;
    else if (!strcmp(a, "--intermediate")) return cli_parse_int(a, v, 1, INT64_MAX, &g->inter) != 0;
    else if (!strcmp(a, "--vocab-size")) return cli_parse_int(a, v, 256, INT64_MAX, &g->vocab) != 0;
    else if (!strcmp(a, "--model-vocab")) return cli_parse_int(a, v, 1, INT64_MAX, &g->model_vocab) != 0;
    else if (!strcmp(a, "--max-pos")) return cli_parse_int(a, v, 1, INT64_MAX, &g->max_pos) != 0;
    else if (!strcmp(a, "--rope-original")) return cli_parse_int(a, v, 1, INT64_MAX, &g->original) != 0;
    else if (!strcmp(a, "--seed")) return cli_parse_int(a, v, 0, INT64_MAX, &g->seed) != 0;
    else if (!strcmp(a, "--shard-mb")) return cli_parse_int(a, v, 1, INT64_MAX, &g->shard_mb) != 0;
    else if (!strcmp(a, "--rope-theta")) return parse_f64(a, v, &g->theta) != 0;
    else if (!strcmp(a, "--rms-eps")) return parse_f64(a, v, &g->eps) != 0;
    else if (!strcmp(a, "--init-std")) return parse_f64(a, v, &g->std) != 0;
    else return 2;
    return 0;
}

/* Parse the options into *g: 0, or the exit status (usage errors print the usage). */
static int parse_args(int argc, char **argv, init_args *g) {
    *g = (init_args){.dtype = "f32", .hidden = 64, .layers = 2, .heads = 4, .vocab = 512, .max_pos = 4096,
                     .original = 8192, .shard_mb = 4096, .std = 0.02};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tie")) g->tie = 1;
        else if (!strcmp(a, "--attention-bias")) g->attn_bias = 1;
        else if (!strcmp(a, "--force")) g->force = 1;
        else if (!v) {
            fprintf(stderr, "rlvr init-model: unknown or incomplete option '%s'\n\n%s", a, usage);
            return 2;
        } else {
            int r = take_value(g, a, v);
            if (r == 2) {
                fprintf(stderr, "rlvr init-model: unknown option '%s'\n\n%s", a, usage);
                return 2;
            }
            if (r) return cli_fail(NULL);
            i++;
        }
    }
    if (!g->arch || !g->out) {
        fprintf(stderr, "rlvr init-model: --arch and --out are required\n\n%s", usage);
        return 2;
    }
    return 0;
}

/* The architecture, dtype and tokenizer style the options name; -1 with err_set. */
static int parse_choices(const init_args *g, model_config *c, ts_dtype *dtype, tok_style *style) {
    if (!strcmp(g->arch, "llama")) c->arch = MODEL_LLAMA;
    else if (!strcmp(g->arch, "qwen2")) c->arch = MODEL_QWEN2;
    else if (!strcmp(g->arch, "qwen3")) c->arch = MODEL_QWEN3;
    else return err_set("--arch: expected llama, qwen2 or qwen3");
    if (g->attn_bias && c->arch == MODEL_QWEN2)
        return err_set("--attention-bias: qwen2 has q/k/v biases and no o bias, always");
    if (g->scaling && strcmp(g->scaling, "llama3")) return err_set("--rope-scaling: only llama3 is supported");
    *dtype = !strcmp(g->dtype, "bf16") ? TS_BF16 : TS_F32;
    if (strcmp(g->dtype, "bf16") && strcmp(g->dtype, "f32")) return err_set("--dtype: expected f32 or bf16");
    *style = c->arch == MODEL_LLAMA ? TOK_STYLE_LLAMA3 : TOK_STYLE_CHATML;
    if (g->chat && !strcmp(g->chat, "llama3")) *style = TOK_STYLE_LLAMA3;
    else if (g->chat && !strcmp(g->chat, "chatml")) *style = TOK_STYLE_CHATML;
    else if (g->chat) return err_set("--chat: expected chatml or llama3");
    return 0;
}

/* Train the tokenizer on corpus (NULL: bytes only) and write it into dir; its vocabulary and
 * special ids go into *c. */
static int write_tokenizer(const init_args *g, const char *corpus, size_t corpus_len, const char *dir,
                           tok_style style, model_config *c) {
    tok_tokenizer *tok = tok_write_tiny(dir, corpus, corpus_len, (int)g->vocab, style) ? NULL : tok_load(dir);
    if (!tok) return -1;
    c->vocab_size = tok_vocab_size(tok);
    if (g->model_vocab && g->model_vocab < c->vocab_size) {
        tok_free(tok);
        return err_set("--model-vocab %lld is below the tokenizer's %lld tokens", (long long)g->model_vocab,
                       (long long)c->vocab_size);
    }
    if (g->model_vocab) c->vocab_size = g->model_vocab; /* rows past the tokenizer are padding */
    c->bos_token_id = tok_bos_id(tok);
    c->eos_token_ids[c->n_eos++] = tok_eos_id(tok);
    if (tok_pad_id(tok) >= 0 && tok_pad_id(tok) != tok_eos_id(tok)) c->eos_token_ids[c->n_eos++] = tok_pad_id(tok);
    tok_free(tok);
    return 0;
}

/* The model's shape from the options, with each architecture's defaults. */
static void set_shape(const init_args *g, model_config *c) {
    c->hidden_size = g->hidden;
    c->num_layers = g->layers;
    c->num_heads = g->heads;
    c->num_kv_heads = g->kv_heads ? g->kv_heads : g->heads;
    c->head_dim = g->head_dim ? g->head_dim : g->hidden / g->heads;
    c->intermediate_size = g->inter ? g->inter : 3 * g->hidden;
    c->max_position_embeddings = g->max_pos;
    c->rope_theta = g->theta ? g->theta : c->arch == MODEL_LLAMA ? 500000.0 : 1000000.0;
    c->rms_norm_eps = g->eps ? g->eps : c->arch == MODEL_LLAMA ? 1e-5 : 1e-6;
    c->tie_word_embeddings = g->tie;
    c->qkv_bias = c->arch == MODEL_QWEN2 || g->attn_bias;
    c->o_bias = g->attn_bias;
    if (g->scaling) {
        c->rope_llama3 = 1;
        c->rope_factor = 8;
        c->rope_low_freq_factor = 1;
        c->rope_high_freq_factor = 4;
        c->rope_original_max_position = g->original;
    }
}

int cmd_init_model(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    init_args g;
    int bad_args = parse_args(argc, argv, &g);
    if (bad_args) return bad_args;
    model_config c = {0};
    ts_dtype dtype = TS_F32;
    tok_style style = TOK_STYLE_CHATML;
    if (parse_choices(&g, &c, &dtype, &style)) return cli_fail(NULL);
    int full = io_dir_nonempty(g.out);
    if (full < 0) return cli_fail(NULL);
    if (full && !g.force) {
        err_set("--out: '%s' is not empty: pass --force to replace it whole", g.out);
        return cli_fail(NULL);
    }
    size_t corpus_len = 0;
    char *corpus = g.corpus_path ? io_read_file(g.corpus_path, 0, &corpus_len) : NULL;
    if (g.corpus_path && !corpus) return cli_fail(NULL);
    char tmp[4200]; /* the model is built here, then put in place of out whole */
    int rc = io_dir_stage(g.out, tmp, sizeof tmp) || write_tokenizer(&g, corpus, corpus_len, tmp, style, &c);
    free(corpus);
    if (rc) {
        io_remove_tree(tmp);
        return cli_fail(NULL);
    }
    set_shape(&g, &c);
    model *m = model_init_random(&c, (uint64_t)g.seed, g.std);
    if (!m || model_save(m, tmp, dtype, (size_t)g.shard_mb << 20) || io_dir_commit(tmp, g.out)) {
        model_free(m);
        io_remove_tree(tmp);
        err_prefix("init-model %s", g.out);
        return cli_fail(NULL);
    }
    printf("wrote %s: %s, %lld parameters, vocabulary %lld, %s weights\n", g.out, model_arch_name(c.arch),
           (long long)model_num_elements(m), (long long)c.vocab_size, ts_dtype_name(dtype));
    model_free(m);
    return 0;
}
