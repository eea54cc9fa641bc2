/* model — the transformer policy: Llama (2, 3, 3.1 with llama3 RoPE scaling), Qwen2/Qwen2.5 (q/k/v
 * biases) and Qwen3 (per-head q/k RMSNorm) from a Hugging Face model directory (config.json and
 * safetensors weights under their HF names), with grouped-query attention, SwiGLU MLP, RMSNorm,
 * rotary position embeddings and tied or untied embeddings. Forward passes are ts_ ops, so
 * libtorch's autograd gives gradients.
 *
 * Two forwards: the full sequence for training (per-token log-probs of the given next tokens and
 * per-token entropy, the LM head taken in chunks of rows so that no (B, T, V) logits tensor is
 * held) and incremental decoding over a KV cache (prefill, decode steps, cache rows gathered with
 * index_select to expand a prompt to G samples or drop finished rows). Rows may be left- or
 * right-padded: a row's positions count its real tokens only, and padding is never attended to.
 *
 * Dimension letters: B rows, T tokens in the call, S key slots (cached + new), V vocabulary,
 * D hidden width, H query heads, Hkv key/value heads, E head dim, F MLP width, L layers.
 * Deliberately not here: sliding-window attention, mixture-of-experts, other RoPE scalings (yarn,
 * linear, dynamic), quantised weights, sampling (rollout/ owns it), tokenization (tokenizer.h). */
#ifndef RLVR_MODEL_H
#define RLVR_MODEL_H

#include "tensor/ts.h"

#include <stdint.h>

#define MODEL_MAX_EOS 8

typedef enum { MODEL_LLAMA, MODEL_QWEN2, MODEL_QWEN3 } model_arch;

/* What config.json says, after defaults. */
typedef struct model_config {
    model_arch arch;
    int64_t vocab_size;              /* V */
    int64_t hidden_size;             /* D */
    int64_t intermediate_size;       /* F */
    int64_t num_layers;              /* L */
    int64_t num_heads;               /* H */
    int64_t num_kv_heads;            /* Hkv; divides H */
    int64_t head_dim;                /* E; config "head_dim" or D / H */
    int64_t max_position_embeddings;
    double rope_theta;
    double rms_norm_eps;
    double initializer_range;
    int tie_word_embeddings;         /* lm_head shares model.embed_tokens.weight */
    int qkv_bias;                    /* q/k/v projections have biases (Qwen2; attention_bias) */
    int o_bias;                      /* o_proj has a bias (Llama/Qwen3 attention_bias) */
    int rope_llama3;                 /* rope_scaling {"rope_type": "llama3", ...} */
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int64_t rope_original_max_position;
    int64_t bos_token_id;            /* -1 when absent */
    int64_t eos_token_ids[MODEL_MAX_EOS];
    int n_eos;
} model_config;

typedef struct model model;
typedef struct model_cache model_cache;

/* "llama", "qwen2", "qwen3" (the config.json model_type). */
const char *model_arch_name(model_arch a);
/* Parse config.json text; `label` (the file name) starts every error, which names the field and
 * what was expected. An unsupported model_type, hidden_act, rope_scaling type or sliding window
 * is an error naming the value. */
int model_config_parse(const char *json, size_t len, const char *label, model_config *c);
int model_config_load(const char *path, model_config *c);
/* Write dir/config.json (HF's fields for the architecture; torch_dtype from dtype) and
 * dir/generation_config.json (BOS and EOS ids). dir must exist. Returns 0, or -1 with err_set. */
int model_config_save(const model_config *c, ts_dtype dtype, const char *dir);
/* Check the sizes of c (positive, H divisible by Hkv, even E); -1 with err_set. */
int model_config_check(const model_config *c);

/* 0 when this process can place tensors on dev: the CPU, or a CUDA device that libtorch was built
 * for and that is visible; else -1 with err_set saying which and why. */
int model_device_check(ts_device dev);
/* Load dir/config.json and the weights (dir/model.safetensors or a sharded index) onto dev in
 * dtype (f32 or bf16; f32, bf16 and f16 files are converted). Shapes are checked against the
 * config: an error names the file, the tensor and the expected shape. The weights live outside
 * every scope until model_free. */
model *model_load(const char *dir, ts_device dev, ts_dtype dtype);
/* A randomly initialised model on the CPU in f32, a function of seed alone (common/rng.h's normal
 * draws, one stream per tensor: the same weights on every CPU and libtorch): projections and
 * embeddings N(0, std^2), norm weights 1 + N(0, std^2) and biases N(0, std^2) (HF starts those at
 * exactly 1 and 0; the noise makes a test model exercise every tensor). */
model *model_init_random(const model_config *c, uint64_t seed, double std);
void model_free(model *m);

/* Write dir/config.json, dir/generation_config.json and the weights in dtype (f32 or bf16) as
 * dir/model.safetensors, or shards of at most shard_bytes with an index. dir must exist. */
int model_save(const model *m, const char *dir, ts_dtype dtype, size_t shard_bytes);

const model_config *model_get_config(const model *m);
ts_device model_device(const model *m);
ts_dtype model_dtype(const model *m);
/* The parameter table, lent: n trainable tensors in HF order (a tied lm_head is not listed twice)
 * beside their HF names, or with LoRA the adapters alone (PEFT's names), valid until model_free. The optimiser, checkpoints, the all-reduce and
 * the replica check all read this one table. */
typedef struct model_param_table {
    int n;
    ts_tensor *const *t;
    const char *const *names;
} model_param_table;
model_param_table model_params(const model *m);
/* The base weights' table (HF names), whatever model_params lists: what model_save writes
 * (merged with the adapters) and what identifies the base an adapter was trained on. */
model_param_table model_base_params(const model *m);
/* Activation checkpointing (off at load): a forward with gradients then keeps only each decoder
 * layer's input, and backward runs the layer again; the gradients are the same within rounding.
 * It applies when the layer input takes a gradient: the embeddings are trained, or LoRA adapters. */
void model_set_activation_checkpointing(model *m, int on);
/* Drop every parameter's gradient (the next backward starts from none, as zero_grad(set_to_none)). */
void model_zero_grad(const model *m);
int64_t model_num_elements(const model *m);

/* ---- LoRA (Hu et al. 2021, as Hugging Face PEFT lays it out) ----
 * A targeted projection y = W x + b becomes y = W x + b + (alpha / r) B A dropout(x), A (r, in)
 * initialised as PEFT does (uniform in +-1/sqrt(in)), B (out, r) zero, so a fresh adapter leaves
 * the model unchanged. With adapters, model_params lists them alone (PEFT's tensor names,
 * base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight ...): the base weights are
 * frozen, and the optimiser, checkpoints and the all-reduce see only the adapters. model_save
 * writes the merged weights W + (alpha / r) B A. */

typedef enum {
    MODEL_LORA_Q, MODEL_LORA_K, MODEL_LORA_V, MODEL_LORA_O, MODEL_LORA_GATE, MODEL_LORA_UP, MODEL_LORA_DOWN,
    MODEL_LORA_NTARGETS
} model_lora_target;
/* PEFT's module names of the targets: "q_proj" ... "down_proj". */
extern const char *const model_lora_target_names[MODEL_LORA_NTARGETS];

typedef struct model_lora_opts {
    int64_t rank;     /* r >= 1, at most the smaller side of every targeted weight */
    double alpha;     /* > 0; the update is scaled by alpha / r */
    double dropout;   /* [0, 1), on the adapters' input in updates */
    unsigned targets; /* bit model_lora_target set for each adapted projection */
} model_lora_opts;

/* Target names, short (q, k, v, o, gate, up, down) or PEFT's (q_proj ...), each element possibly
 * a comma-separated list, -> a bit set. A name that is neither is an error naming it. */
int model_lora_parse_targets(const char *const *names, int n, unsigned *targets);
/* Give m adapters (in its dtype and on its device; A drawn from seed). An empty target set, a rank
 * of 0 or above a targeted layer's smaller side: -1 with err_set saying which. */
int model_lora_init(model *m, const model_lora_opts *o, uint64_t seed);
/* The adapters' options, NULL when m has none. */
const model_lora_opts *model_lora(const model *m);
/* Off: forwards ignore the adapters, giving the base model (the KL reference without a second copy
 * of the weights). On at model_lora_init. */
void model_lora_set_enabled(model *m, int on);
/* The key of the adapters' dropout draws of the next forwards with gradients (each update sets its
 * own, so that a replay draws the same); 0: no dropout. */
void model_lora_set_dropout_key(model *m, uint64_t key);
/* Hex FNV-1a of the base weights (names, shapes and a strided sample of each, at bf16
 * resolution): the same for a base loaded in f32 or bf16, another for another base. */
int model_base_fingerprint(const model *m, char out[17]);
/* Write m's adapters as a PEFT adapter directory into dir (which exists): adapter_model.safetensors
 * (f32, PEFT's names, the base fingerprint in its metadata) and adapter_config.json naming
 * base_path as base_model_name_or_path. */
int model_lora_save(const model *m, const char *dir, const char *base_path);
/* Give m (without adapters) those of the PEFT adapter directory dir. An adapter of another base
 * (fingerprint, tensor names or shapes), or with options rlvr does not implement (DoRA, rsLoRA,
 * trained biases, rank_pattern): -1 with err_set saying which. */
int model_lora_load(model *m, const char *dir);
/* The options of the PEFT adapter directory dir (its adapter_config.json), checked as
 * model_lora_load checks them; -1 with err_set. */
int model_lora_config_load(const char *dir, model_lora_opts *o);
/* What a model of config c would hold, from the parameter table alone, before any weight is read:
 * *weights the elements of its weights (a tied head once), *adapters those of LoRA adapters o on
 * it (0 when o is NULL or targets nothing). c must pass model_config_check. */
void model_config_num_elements(const model_config *c, const model_lora_opts *o, int64_t *weights, int64_t *adapters);
/* model_load(dir, ...), then the adapter directory `adapter` on it when that is neither NULL nor
 * empty; NULL with err_set. */
model *model_load_adapted(const char *dir, const char *adapter, ts_device dev, ts_dtype dtype);

/* ---- full sequence (training, scoring) ---- */

/* ids (B, T) i64; mask (B, T) any dtype, nonzero on real tokens, NULL for none. *logprobs gets
 * (B, T-1) f32: log p(ids[:, t+1] | ids[:, :t+1]), 0 where token t or t+1 is padding. entropy:
 * NULL to skip, else (B, T-1) f32 entropy of the next-token distribution at t, 0 on padding;
 * it carries gradients only when entropy_grad. Gradients flow to the parameters when grad mode
 * is on. The logits are computed chunk by chunk; for backward, the log-softmax is kept while it
 * fits 1 GiB and computed again chunk by chunk beyond (ts_linear_logprob_entropy). Results are in
 * the caller's scope. */
int model_forward_logprobs(model *m, const ts_tensor *ids, const ts_tensor *mask, int entropy_grad,
                           ts_tensor **logprobs, ts_tensor **entropy);
/* The same for the columns t >= first only, (B, T-1-first), 0 <= first < T-1: the head runs on
 * those positions alone (a prompt's own log-probs, which a policy loss never reads, cost nothing),
 * and each column equals model_forward_logprobs' column first + t within rounding. */
int model_forward_logprobs_from(model *m, const ts_tensor *ids, const ts_tensor *mask, int64_t first,
                                int entropy_grad, ts_tensor **logprobs, ts_tensor **entropy);
/* The temperature t > 0 of the full-sequence log-probs and entropies: those of softmax(logits / t),
 * as TRL and verl score a completion at its rollout temperature; 1 until set. The logits of
 * model_forward_logits and of decoding are not affected. */
void model_set_logprob_temperature(model *m, double t);
/* All logits (B, T, V) f32 of a full sequence: for tests and small jobs only. */
ts_tensor *model_forward_logits(model *m, const ts_tensor *ids, const ts_tensor *mask);

/* ---- incremental decoding (no gradients) ---- */

/* A cache for `batch` rows of at most max_len slots each, on the model's device and dtype;
 * outside every scope until model_cache_free. */
model_cache *model_cache_init(const model *m, int64_t batch, int64_t max_len);
void model_cache_free(model_cache *c);
int64_t model_cache_batch(const model_cache *c);
int64_t model_cache_len(const model_cache *c);     /* slots used, the same for every row */
int64_t model_cache_max_len(const model_cache *c);

/* Append T tokens per row: ids (B, T) i64, mask (B, T) nonzero on real tokens (NULL: all real;
 * padding may sit anywhere and is never attended to). Returns the logits (B, V) f32 after each
 * row's last real token of this call (the last column for a row with none), in the caller's
 * scope. */
ts_tensor *model_prefill(model *m, model_cache *c, const ts_tensor *ids, const ts_tensor *mask);
/* One token per row: ids (B) i64 -> logits (B, V) f32. */
ts_tensor *model_decode_step(model *m, model_cache *c, const ts_tensor *ids);
/* Keep the rows listed in rows (B') i64, in that order, repeats allowed: [0,0,1,1] gives two
 * copies of each of two prefilled prompts, a subset drops finished rows. */
int model_cache_index_select(model_cache *c, const ts_tensor *rows);
/* Keep the first n_keep rows after moving row src[i] into row dst[i] for each of the n moves
 * (dst[i] < n_keep <= src[i]): rows that finished leave at the cost of copying the rows that take
 * their places, in place, where model_cache_index_select copies every row kept. */
int model_cache_move_rows(model_cache *c, int64_t n_keep, const int64_t *dst, const int64_t *src, int n);

#endif
