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
    "                        that no token names, as in Qwen's 151,936 (the tokenizer's size)\n"
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

int cmd_init_model(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    const char *arch = NULL, *out = NULL, *corpus_path = NULL, *chat = NULL, *scaling = NULL, *dtype_s = "f32";
    int64_t hidden = 64, layers = 2, heads = 4, kv_heads = 0, head_dim = 0, inter = 0, vocab = 512, max_pos = 4096,
            original = 8192, seed = 0, shard_mb = 4096, model_vocab = 0;
    double theta = 0, eps = 0, std = 0.02;
    int tie = 0, attn_bias = 0, force = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int rc = 0, takes = 1;
        if (!strcmp(a, "--tie")) tie = 1, takes = 0;
        else if (!strcmp(a, "--attention-bias")) attn_bias = 1, takes = 0;
        else if (!strcmp(a, "--force")) force = 1, takes = 0;
        else if (!v) {
            fprintf(stderr, "rlvr init-model: unknown or incomplete option '%s'\n\n%s", a, usage);
            return 2;
        } else if (!strcmp(a, "--arch")) arch = v;
        else if (!strcmp(a, "--out")) out = v;
        else if (!strcmp(a, "--vocab-corpus")) corpus_path = v;
        else if (!strcmp(a, "--chat")) chat = v;
        else if (!strcmp(a, "--rope-scaling")) scaling = v;
        else if (!strcmp(a, "--dtype")) dtype_s = v;
        else if (!strcmp(a, "--hidden")) rc = cli_parse_int(a, v, 1, INT64_MAX, &hidden);
        else if (!strcmp(a, "--layers")) rc = cli_parse_int(a, v, 1, INT64_MAX, &layers);
        else if (!strcmp(a, "--heads")) rc = cli_parse_int(a, v, 1, INT64_MAX, &heads);
        else if (!strcmp(a, "--kv-heads")) rc = cli_parse_int(a, v, 1, INT64_MAX, &kv_heads);
        else if (!strcmp(a, "--head-dim")) rc = cli_parse_int(a, v, 2, INT64_MAX, &head_dim);
        else if (!strcmp(a, "--intermediate")) rc = cli_parse_int(a, v, 1, INT64_MAX, &inter);
        else if (!strcmp(a, "--vocab-size")) rc = cli_parse_int(a, v, 256, INT64_MAX, &vocab);
        else if (!strcmp(a, "--model-vocab")) rc = cli_parse_int(a, v, 1, INT64_MAX, &model_vocab);
        else if (!strcmp(a, "--max-pos")) rc = cli_parse_int(a, v, 1, INT64_MAX, &max_pos);
        else if (!strcmp(a, "--rope-original")) rc = cli_parse_int(a, v, 1, INT64_MAX, &original);
        else if (!strcmp(a, "--seed")) rc = cli_parse_int(a, v, 0, INT64_MAX, &seed);
        else if (!strcmp(a, "--shard-mb")) rc = cli_parse_int(a, v, 1, INT64_MAX, &shard_mb);
        else if (!strcmp(a, "--rope-theta")) rc = parse_f64(a, v, &theta);
        else if (!strcmp(a, "--rms-eps")) rc = parse_f64(a, v, &eps);
        else if (!strcmp(a, "--init-std")) rc = parse_f64(a, v, &std);
        else {
            fprintf(stderr, "rlvr init-model: unknown option '%s'\n\n%s", a, usage);
            return 2;
        }
        if (rc) return cli_fail(NULL);
        i += takes;
    }
    if (!arch || !out) {
        fprintf(stderr, "rlvr init-model: --arch and --out are required\n\n%s", usage);
        return 2;
    }
    model_config c = {0};
    if (!strcmp(arch, "llama")) c.arch = MODEL_LLAMA;
    else if (!strcmp(arch, "qwen2")) c.arch = MODEL_QWEN2;
    else if (!strcmp(arch, "qwen3")) c.arch = MODEL_QWEN3;
    else return cli_fail("--arch: expected llama, qwen2 or qwen3");
    if (attn_bias && c.arch == MODEL_QWEN2) return cli_fail("--attention-bias: qwen2 has q/k/v biases and no o bias, always");
    if (scaling && strcmp(scaling, "llama3")) return cli_fail("--rope-scaling: only llama3 is supported");
    ts_dtype dtype = !strcmp(dtype_s, "bf16") ? TS_BF16 : TS_F32;
    if (strcmp(dtype_s, "bf16") && strcmp(dtype_s, "f32")) return cli_fail("--dtype: expected f32 or bf16");
    tok_style style = c.arch == MODEL_LLAMA ? TOK_STYLE_LLAMA3 : TOK_STYLE_CHATML;
    if (chat && !strcmp(chat, "llama3")) style = TOK_STYLE_LLAMA3;
    else if (chat && !strcmp(chat, "chatml")) style = TOK_STYLE_CHATML;
    else if (chat) return cli_fail("--chat: expected chatml or llama3");

    int full = io_dir_nonempty(out);
    if (full < 0) return cli_fail(NULL);
    if (full && !force) {
        err_set("--out: '%s' is not empty: pass --force to replace it whole", out);
        return cli_fail(NULL);
    }
    size_t corpus_len = 0;
    char *corpus = corpus_path ? io_read_file(corpus_path, 0, &corpus_len) : NULL;
    if (corpus_path && !corpus) return cli_fail(NULL);
    char tmp[4200]; /* the model is built here, then put in place of out whole */
    int rc = io_dir_stage(out, tmp, sizeof tmp) || tok_write_tiny(tmp, corpus, corpus_len, (int)vocab, style);
    free(corpus);
    tok_tokenizer *tok = rc ? NULL : tok_load(tmp);
    if (!tok) {
        io_remove_tree(tmp);
        return cli_fail(NULL);
    }
    c.vocab_size = tok_vocab_size(tok);
    if (model_vocab && model_vocab < c.vocab_size) {
        tok_free(tok);
        io_remove_tree(tmp);
        err_set("--model-vocab %lld is below the tokenizer's %lld tokens", (long long)model_vocab,
                (long long)c.vocab_size);
        return cli_fail(NULL);
    }
    if (model_vocab) c.vocab_size = model_vocab;
    c.bos_token_id = tok_bos_id(tok);
    c.eos_token_ids[c.n_eos++] = tok_eos_id(tok);
    if (tok_pad_id(tok) >= 0 && tok_pad_id(tok) != tok_eos_id(tok)) c.eos_token_ids[c.n_eos++] = tok_pad_id(tok);
    tok_free(tok);
    c.hidden_size = hidden;
    c.num_layers = layers;
    c.num_heads = heads;
    c.num_kv_heads = kv_heads ? kv_heads : heads;
    c.head_dim = head_dim ? head_dim : hidden / heads;
    c.intermediate_size = inter ? inter : 3 * hidden;
    c.max_position_embeddings = max_pos;
    c.rope_theta = theta ? theta : c.arch == MODEL_LLAMA ? 500000.0 : 1000000.0;
    c.rms_norm_eps = eps ? eps : c.arch == MODEL_LLAMA ? 1e-5 : 1e-6;
    c.tie_word_embeddings = tie;
    c.qkv_bias = c.arch == MODEL_QWEN2 || attn_bias;
    c.o_bias = attn_bias;
    if (scaling) {
        c.rope_llama3 = 1;
        c.rope_factor = 8;
        c.rope_low_freq_factor = 1;
        c.rope_high_freq_factor = 4;
        c.rope_original_max_position = original;
    }
    model *m = model_init_random(&c, (uint64_t)seed, std);
    if (!m || model_save(m, tmp, dtype, (size_t)shard_mb << 20) || io_dir_commit(tmp, out)) {
        model_free(m);
        io_remove_tree(tmp);
        err_prefix("init-model %s", out);
        return cli_fail(NULL);
    }
    printf("wrote %s: %s, %lld parameters, vocabulary %lld, %s weights\n", out, model_arch_name(c.arch),
           (long long)model_num_elements(m), (long long)c.vocab_size, ts_dtype_name(dtype));
    model_free(m);
    return 0;
}
