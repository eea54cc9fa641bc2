/* model — Llama / Qwen2 / Qwen3 from a Hugging Face directory, forward over ts_ ops.
 *
 * The file reads top to bottom: weights (the one table of HF names and shapes, load, random init,
 * save; config.json is model_config.c's), forward pieces (RMSNorm, RoPE, attention, MLP,
 * layer), the full-sequence forward with chunked log-probs, and the KV cache. Dimension letters
 * are those of model.h. The layer maths follows the HF transformers modeling files (LlamaRMSNorm,
 * rotate_half RoPE, repeat_kv, eager attention with the softmax in f32); tests/model_ref.py is the
 * independent PyTorch twin the tests compare against.
 * Deliberately not here: fused kernels, paged caches, tensor parallelism. */
#include "model.h"

#include "common/err.h"
#include "common/io.h"
#include "common/mem.h"
#include "common/rng.h"
#include "model/safetensors.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOGIT_CHUNK_ELEMS ((int64_t)1 << 26) /* rows x V of one LM-head chunk: 256 MiB in f32 */
#define LOGIT_KEEP_ELEMS ((int64_t)1 << 28)  /* up to 1 GiB of f32 log-softmax kept for backward */

/* ---------------------------------------------------------------- weights */

typedef struct layer {
    const struct model *owner;                  /* for ts_checkpoint's callback */
    int index;                                  /* in the stack: names, dropout streams */
    ts_tensor *input_norm, *post_norm;          /* (D) */
    ts_tensor *wq, *wk, *wv, *wo;               /* (H*E, D), (Hkv*E, D), (Hkv*E, D), (D, H*E) */
    ts_tensor *bq, *bk, *bv, *bo;               /* (H*E), (Hkv*E), (Hkv*E), (D); NULL when absent */
    ts_tensor *q_norm, *k_norm;                 /* (E), Qwen3 only */
    ts_tensor *gate, *up, *down;                /* (F, D), (F, D), (D, F) */
    ts_tensor *lora_a[MODEL_LORA_NTARGETS];     /* (r, in) per targeted projection, else NULL */
    ts_tensor *lora_b[MODEL_LORA_NTARGETS];     /* (out, r) */
} layer;

struct model {
    model_config cfg;
    ts_device device;
    ts_dtype dtype;
    double logprob_temp; /* model_set_logprob_temperature */
    ts_tensor *embed;      /* (V, D) */
    ts_tensor *norm;       /* (D) */
    ts_tensor *lm_head;    /* (V, D); the same handle as embed when tied */
    layer *layers;         /* L */
    int nparams;
    ts_tensor **params;    /* owned, HF order */
    char **names;          /* owned */
    ts_tensor *inv_freq;   /* (E/2) f32 on device, RoPE frequencies after scaling */
    int checkpointing;     /* recompute each layer in backward (model_set_activation_checkpointing) */
    model_lora_opts lora;  /* rank 0: no adapters */
    double lora_scale;     /* alpha / r */
    int lora_off;          /* model_lora_set_enabled(m, 0): the base model */
    uint64_t dropout_key;  /* model_lora_set_dropout_key; 0: no dropout */
    int nlora;             /* adapter tensors: A and B per targeted projection and layer */
    ts_tensor **lora_params; /* owned, layer by layer, targets in model_lora_target order, A then B */
    char **lora_names;     /* owned, PEFT's names */
};

typedef enum { P_MATRIX, P_NORM, P_BIAS } param_kind;

typedef struct param_spec {
    char name[96];
    int ndim;
    int64_t shape[2];
    param_kind kind;
    ts_tensor **slot;
} param_spec;

static void spec(param_spec *s, int *n, param_kind kind, ts_tensor **slot, int64_t d0, int64_t d1, const char *fmt,
                 int layer_index) {
    if (s) {
        param_spec *p = &s[*n];
        snprintf(p->name, sizeof p->name, fmt, layer_index);
        p->kind = kind;
        p->slot = slot;
        p->ndim = d1 ? 2 : 1;
        p->shape[0] = d0;
        p->shape[1] = d1;
    }
    (*n)++;
}

/* The one table of tensor names and shapes; fills s (when not NULL) and returns the count. */
static int param_specs(model *m, param_spec *s) {
    const model_config *c = &m->cfg;
    int64_t D = c->hidden_size, E = c->head_dim, qd = c->num_heads * E, kd = c->num_kv_heads * E,
            F = c->intermediate_size;
    int n = 0;
    spec(s, &n, P_MATRIX, &m->embed, c->vocab_size, D, "model.embed_tokens.weight", 0);
    for (int i = 0; i < c->num_layers; i++) {
        layer *l = &m->layers[i];
        spec(s, &n, P_NORM, &l->input_norm, D, 0, "model.layers.%d.input_layernorm.weight", i);
        spec(s, &n, P_MATRIX, &l->wq, qd, D, "model.layers.%d.self_attn.q_proj.weight", i);
        if (c->qkv_bias) spec(s, &n, P_BIAS, &l->bq, qd, 0, "model.layers.%d.self_attn.q_proj.bias", i);
        spec(s, &n, P_MATRIX, &l->wk, kd, D, "model.layers.%d.self_attn.k_proj.weight", i);
        if (c->qkv_bias) spec(s, &n, P_BIAS, &l->bk, kd, 0, "model.layers.%d.self_attn.k_proj.bias", i);
        spec(s, &n, P_MATRIX, &l->wv, kd, D, "model.layers.%d.self_attn.v_proj.weight", i);
        if (c->qkv_bias) spec(s, &n, P_BIAS, &l->bv, kd, 0, "model.layers.%d.self_attn.v_proj.bias", i);
        spec(s, &n, P_MATRIX, &l->wo, D, qd, "model.layers.%d.self_attn.o_proj.weight", i);
        if (c->o_bias) spec(s, &n, P_BIAS, &l->bo, D, 0, "model.layers.%d.self_attn.o_proj.bias", i);
        if (c->arch == MODEL_QWEN3) {
            spec(s, &n, P_NORM, &l->q_norm, E, 0, "model.layers.%d.self_attn.q_norm.weight", i);
            spec(s, &n, P_NORM, &l->k_norm, E, 0, "model.layers.%d.self_attn.k_norm.weight", i);
        }
        spec(s, &n, P_NORM, &l->post_norm, D, 0, "model.layers.%d.post_attention_layernorm.weight", i);
        spec(s, &n, P_MATRIX, &l->gate, F, D, "model.layers.%d.mlp.gate_proj.weight", i);
        spec(s, &n, P_MATRIX, &l->up, F, D, "model.layers.%d.mlp.up_proj.weight", i);
        spec(s, &n, P_MATRIX, &l->down, D, F, "model.layers.%d.mlp.down_proj.weight", i);
    }
    spec(s, &n, P_NORM, &m->norm, D, 0, "model.norm.weight", 0);
    if (!c->tie_word_embeddings) spec(s, &n, P_MATRIX, &m->lm_head, c->vocab_size, D, "lm_head.weight", 0);
    return n;
}

/* The slot of the base weight a LoRA target adapts in layer l. */
static ts_tensor **target_slot(layer *l, int t) {
    ts_tensor **w[MODEL_LORA_NTARGETS] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->gate, &l->up, &l->down};
    return w[t];
}

static ts_tensor *target_weight(const layer *l, int t) { return *target_slot((layer *)l, t); }

/* HF module paths of the targets under model.layers.N, in model_lora_target order. */
static const char *const target_module[MODEL_LORA_NTARGETS] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};

/* Inverse RoPE frequencies theta^(-2i/E), i < E/2, with Llama-3.1's scaling: wavelengths longer
 * than original/low_freq_factor are divided by factor, shorter than original/high_freq_factor
 * kept, those between interpolated (HF _compute_llama3_parameters). */
static ts_tensor *rope_inv_freq(const model_config *c, ts_device dev) {
    int64_t half = c->head_dim / 2;
    float *f = mem_alloc(sizeof(float) * (size_t)half);
    for (int64_t i = 0; i < half; i++) {
        double inv = 1.0 / pow(c->rope_theta, (double)(2 * i) / (double)c->head_dim);
        if (c->rope_llama3) {
            double old = (double)c->rope_original_max_position, wavelen = 2 * M_PI / inv;
            double low_wavelen = old / c->rope_low_freq_factor, high_wavelen = old / c->rope_high_freq_factor;
            if (wavelen > low_wavelen) inv /= c->rope_factor;
            else if (wavelen >= high_wavelen) {
                double smooth = (old / wavelen - c->rope_low_freq_factor) /
                                (c->rope_high_freq_factor - c->rope_low_freq_factor);
                inv = (1 - smooth) * inv / c->rope_factor + smooth * inv;
            }
        }
        f[i] = (float)inv;
    }
    ts_scope_begin();
    ts_tensor *t = ts_unscope(ts_to_device(ts_from_data(f, &half, 1, TS_F32), dev));
    ts_scope_end();
    free(f);
    return t;
}

int model_device_check(ts_device dev) {
    if (dev.type != TS_CUDA) return 0;
    int n = ts_cuda_device_count();
    if (n == 0 && !strstr(ts_build_config(), "USE_CUDA=ON"))
        return err_set("device cuda:%d: this build of libtorch has no CUDA support (CPU only): use cpu", dev.index);
    if (n == 0) return err_set("device cuda:%d: no CUDA device is visible (driver, CUDA_VISIBLE_DEVICES?)", dev.index);
    if (dev.index >= n)
        return err_set("device cuda:%d: no such device, %d visible (cuda:0 to cuda:%d)", dev.index, n, n - 1);
    return 0;
}

/* A model struct with its parameter table laid out but no tensors yet. */
static model *model_alloc(const model_config *c, ts_device dev, ts_dtype dtype) {
    if (model_config_check(c) || model_device_check(dev)) return NULL;
    if (dtype != TS_F32 && dtype != TS_BF16) {
        err_set("model dtype %s is not supported (f32 or bf16)", ts_dtype_name(dtype));
        return NULL;
    }
    model *m = mem_calloc(1, sizeof *m);
    m->cfg = *c;
    m->device = dev;
    m->dtype = dtype;
    m->logprob_temp = 1;
    m->layers = mem_calloc((size_t)c->num_layers, sizeof *m->layers);
    for (int i = 0; i < c->num_layers; i++) {
        m->layers[i].owner = m;
        m->layers[i].index = i;
    }
    m->nparams = param_specs(m, NULL);
    m->params = mem_calloc((size_t)m->nparams, sizeof *m->params);
    m->names = mem_calloc((size_t)m->nparams, sizeof *m->names);
    m->inv_freq = rope_inv_freq(c, dev);
    if (!m->inv_freq) {
        model_free(m);
        return NULL;
    }
    return m;
}

/* Record the tensor of spec i (taking ownership) and wire it into its slot. */
static void set_param(model *m, const param_spec *s, int i, ts_tensor *t) {
    m->params[i] = t;
    m->names[i] = mem_strdup(s[i].name);
    *s[i].slot = t;
}

static void tie(model *m) {
    if (m->cfg.tie_word_embeddings) m->lm_head = m->embed;
}

static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && n < cap; i++) n += (size_t)snprintf(buf + n, cap - n, i ? ", %lld" : "%lld", (long long)shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, ")");
    return buf;
}

/* One weight from the file as a ts tensor on the model's device and dtype, outside any scope. */
static ts_tensor *load_tensor(const model *m, const st_file *f, const char *dir, const param_spec *s) {
    const st_tensor *t = st_find(f, s->name);
    char want[64], got[64];
    if (!t) {
        err_set("%s: tensor \"%s\" is missing (expected shape %s)", dir, s->name, shape_str(want, sizeof want, s->ndim, s->shape));
        return NULL;
    }
    int same = t->ndim == s->ndim;
    for (int d = 0; same && d < s->ndim; d++) same = t->shape[d] == s->shape[d];
    if (!same) {
        err_set("%s: tensor \"%s\" has shape %s, expected %s from config.json", dir, s->name,
                shape_str(got, sizeof got, t->ndim, t->shape), shape_str(want, sizeof want, s->ndim, s->shape));
        return NULL;
    }
    ts_dtype dt;
    switch (t->dtype) {
    case ST_F32: dt = TS_F32; break;
    case ST_BF16: dt = TS_BF16; break;
    case ST_F16: dt = TS_F16; break;
    default:
        err_set("%s: tensor \"%s\" has dtype %s, expected F32, BF16 or F16", dir, s->name, st_dtype_name(t->dtype));
        return NULL;
    }
    ts_scope_begin();
    ts_tensor *x = ts_unscope(ts_to_device(ts_to_dtype(ts_from_data(t->data, t->shape, t->ndim, dt), m->dtype), m->device));
    ts_scope_end();
    if (!x) err_prefix("%s: tensor \"%s\"", dir, s->name);
    return x;
}

model *model_load(const char *dir, ts_device dev, ts_dtype dtype) {
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    model_config c;
    if (model_config_load(path, &c)) return NULL;
    model *m = model_alloc(&c, dev, dtype);
    if (!m) return NULL;
    st_file *f = st_open(dir);
    param_spec *s = mem_calloc((size_t)m->nparams, sizeof *s);
    param_specs(m, s);
    int ok = f != NULL;
    for (int i = 0; ok && i < m->nparams; i++) {
        ts_tensor *t = load_tensor(m, f, dir, &s[i]);
        if (t) set_param(m, s, i, t);
        ok = t != NULL;
    }
    free(s);
    st_close(f);
    if (!ok) {
        model_free(m);
        return NULL;
    }
    tie(m);
    return m;
}

model *model_init_random(const model_config *c, uint64_t seed, double std) {
    model *m = model_alloc(c, TS_CPU_DEVICE, TS_F32);
    if (!m) return NULL;
    param_spec *s = mem_calloc((size_t)m->nparams, sizeof *s);
    param_specs(m, s);
    int ok = 1;
    for (int i = 0; ok && i < m->nparams; i++) {
        int64_t n = 1;
        for (int d = 0; d < s[i].ndim; d++) n *= s[i].shape[d];
        float *v = mem_alloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
        double mean = s[i].kind == P_NORM ? 1.0 : 0.0;
        rng_stream r;
        rng_stream_init(&r, seed, (uint64_t)i); /* a stream per tensor: the same on every CPU */
        for (int64_t k = 0; k < n; k++) v[k] = (float)(mean + std * rng_normal(&r));
        ts_tensor *t = ts_unscope(ts_from_data(v, s[i].shape, s[i].ndim, TS_F32));
        free(v);
        ok = t != NULL;
        if (t) set_param(m, s, i, t);
    }
    free(s);
    if (!ok) {
        model_free(m);
        return NULL;
    }
    m->cfg.initializer_range = std;
    tie(m);
    return m;
}

void model_free(model *m) {
    if (!m) return;
    for (int i = 0; i < m->nparams; i++) {
        ts_free(m->params[i]);
        free(m->names[i]);
    }
    for (int i = 0; i < m->nlora; i++) {
        ts_free(m->lora_params[i]);
        free(m->lora_names[i]);
    }
    free(m->params);
    free(m->names);
    free(m->lora_params);
    free(m->lora_names);
    free(m->layers);
    ts_free(m->inv_freq);
    free(m);
}

/* w, or w + (alpha / r) B A computed in f32 when w is a projection with an adapter (in scope). */
static ts_tensor *merged_weight(const model *m, const ts_tensor *w) {
    for (int i = 0; m->nlora && i < m->cfg.num_layers; i++)
        for (int t = 0; t < MODEL_LORA_NTARGETS; t++) {
            const layer *l = &m->layers[i];
            if (l->lora_a[t] && target_weight(l, t) == w) {
                ts_tensor *ba = ts_matmul(ts_to_dtype(l->lora_b[t], TS_F32), ts_to_dtype(l->lora_a[t], TS_F32));
                return ts_add(ts_to_dtype(w, TS_F32), ts_mul_scalar(ba, m->lora_scale));
            }
        }
    return ts_alias(w);
}

int model_save(const model *m, const char *dir, ts_dtype dtype, size_t shard_bytes) {
    if (dtype != TS_F32 && dtype != TS_BF16) return err_set("model_save: dtype %s, expected f32 or bf16", ts_dtype_name(dtype));
    int rc = model_config_save(&m->cfg, dtype, dir);
    st_tensor *ts = mem_calloc((size_t)m->nparams, sizeof *ts);
    for (int i = 0; !rc && i < m->nparams; i++) {
        st_tensor *t = &ts[i];
        t->name = m->names[i];
        t->dtype = dtype == TS_BF16 ? ST_BF16 : ST_F32;
        t->ndim = ts_shape(m->params[i], t->shape);
        t->nbytes = (size_t)ts_numel(m->params[i]) * ts_dtype_size(dtype);
        void *buf = mem_alloc(t->nbytes);
        t->data = buf;
        ts_scope_begin();
        rc = ts_to_host(ts_to_dtype(merged_weight(m, m->params[i]), dtype), buf, t->nbytes);
        ts_scope_end();
    }
    static const char *const meta[] = {"format", "pt", NULL};
    if (!rc) rc = st_write_dir(dir, ts, m->nparams, shard_bytes, meta);
    for (int i = 0; i < m->nparams; i++) free((void *)ts[i].data);
    free(ts);
    return rc;
}

const model_config *model_get_config(const model *m) { return &m->cfg; }
ts_device model_device(const model *m) { return m->device; }
ts_dtype model_dtype(const model *m) { return m->dtype; }
model_param_table model_params(const model *m) {
    if (m->nlora)
        return (model_param_table){.n = m->nlora, .t = m->lora_params, .names = (const char *const *)m->lora_names};
    return model_base_params(m);
}
model_param_table model_base_params(const model *m) {
    return (model_param_table){.n = m->nparams, .t = m->params, .names = (const char *const *)m->names};
}

void model_set_activation_checkpointing(model *m, int on) { m->checkpointing = on != 0; }

void model_zero_grad(const model *m) {
    model_param_table pt = model_params(m);
    for (int i = 0; i < pt.n; i++) ts_grad_clear(pt.t[i]);
}

int64_t model_num_elements(const model *m) {
    int64_t n = 0;
    for (int i = 0; i < m->nparams; i++) n += ts_numel(m->params[i]);
    return n;
}

void model_config_num_elements(const model_config *c, const model_lora_opts *o, int64_t *weights, int64_t *adapters) {
    model shell = {.cfg = *c}; /* the table's slots only: no tensor is made */
    shell.layers = mem_calloc((size_t)c->num_layers, sizeof *shell.layers);
    int n = param_specs(&shell, NULL);
    param_spec *s = mem_alloc(sizeof *s * (size_t)n);
    param_specs(&shell, s);
    *weights = *adapters = 0;
    for (int i = 0; i < n; i++) {
        int64_t out = s[i].shape[0], in = s[i].ndim == 2 ? s[i].shape[1] : 1;
        *weights += out * in;
        for (int t = 0; o && t < MODEL_LORA_NTARGETS; t++) /* A (r, in) and B (out, r) */
            if (o->targets >> t & 1 && s[i].ndim == 2)
                for (int64_t l = 0; l < c->num_layers; l++)
                    if (s[i].slot == target_slot(&shell.layers[l], t)) *adapters += o->rank * (in + out);
    }
    free(s);
    free(shell.layers);
}

/* ---------------------------------------------------------------- LoRA */

const char *const model_lora_target_names[MODEL_LORA_NTARGETS] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                                  "gate_proj", "up_proj", "down_proj"};

/* "q" or "q_proj" (any target) -> its index; -1 when none. */
static int target_index(const char *name, size_t len) {
    for (int t = 0; t < MODEL_LORA_NTARGETS; t++) {
        const char *full = model_lora_target_names[t];
        size_t short_len = strlen(full) - strlen("_proj");
        if ((len == strlen(full) && !strncmp(name, full, len)) || (len == short_len && !strncmp(name, full, len)))
            return t;
    }
    return -1;
}

int model_lora_parse_targets(const char *const *names, int n, unsigned *mask) {
    *mask = 0;
    for (int i = 0; i < n; i++) {
        const char *p = names[i];
        while (*p) { /* each name may itself be a comma-separated list */
            size_t len = strcspn(p, ",");
            while (len && p[0] == ' ') p++, len--;
            while (len && p[len - 1] == ' ') len--;
            int t = target_index(p, len);
            if (len && t < 0)
                return err_set("LoRA target '%.*s' names no layer: expected q, k, v, o, gate, up, down or "
                               "q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj", (int)len, p);
            if (len) *mask |= 1u << t;
            p += strcspn(p, ",");
            if (*p == ',') p++;
        }
    }
    return 0;
}

/* A (r, in) as PEFT initialises it (kaiming_uniform_ with a = sqrt(5)): U(-1/sqrt(in), 1/sqrt(in)),
 * drawn from its own stream of seed, in f32 on the CPU like model_init_random, then placed. */
static ts_tensor *lora_a_init(const model *m, int64_t r, int64_t in, uint64_t seed, uint64_t stream) {
    int64_t n = r * in, shape[2] = {r, in};
    float *v = mem_alloc(sizeof(float) * (size_t)n);
    double bound = 1 / sqrt((double)in);
    rng_stream st;
    rng_stream_init(&st, seed, stream);
    for (int64_t k = 0; k < n; k++) v[k] = (float)(bound * (2 * rng_next_double(&st) - 1));
    ts_scope_begin();
    ts_tensor *t = ts_unscope(ts_to_device(ts_to_dtype(ts_from_data(v, shape, 2, TS_F32), m->dtype), m->device));
    ts_scope_end();
    free(v);
    return t;
}

static int lora_check(const model *m, const model_lora_opts *o) {
    if (m->nlora) return err_set("LoRA: the model has adapters already");
    if (o->targets == 0 || o->targets >> MODEL_LORA_NTARGETS)
        return err_set("LoRA targets name no layer: expected some of q, k, v, o, gate, up, down");
    if (o->rank < 1) return err_set("LoRA rank %lld: expected at least 1", (long long)o->rank);
    if (!(o->alpha > 0)) return err_set("LoRA alpha %g: expected > 0", o->alpha);
    if (!(o->dropout >= 0 && o->dropout < 1)) return err_set("LoRA dropout %g: expected in [0, 1)", o->dropout);
    for (int t = 0; t < MODEL_LORA_NTARGETS; t++) {
        if (!(o->targets >> t & 1)) continue;
        int64_t out = ts_size(target_weight(&m->layers[0], t), 0), in = ts_size(target_weight(&m->layers[0], t), 1);
        int64_t width = out < in ? out : in;
        if (o->rank > width)
            return err_set("LoRA rank %lld exceeds the width of %s (%lld x %lld): expected at most %lld",
                           (long long)o->rank, model_lora_target_names[t], (long long)out, (long long)in,
                           (long long)width);
    }
    return 0;
}

int model_lora_init(model *m, const model_lora_opts *o, uint64_t seed) {
    if (lora_check(m, o)) return -1;
    int per = __builtin_popcount(o->targets), L = (int)m->cfg.num_layers, n = 0;
    m->lora_params = mem_calloc((size_t)(2 * per * L), sizeof *m->lora_params);
    m->lora_names = mem_calloc((size_t)(2 * per * L), sizeof *m->lora_names);
    int ok = 1;
    for (int i = 0; ok && i < L; i++)
        for (int t = 0; ok && t < MODEL_LORA_NTARGETS; t++) {
            if (!(o->targets >> t & 1)) continue;
            layer *l = &m->layers[i];
            int64_t out = ts_size(target_weight(l, t), 0), in = ts_size(target_weight(l, t), 1);
            l->lora_a[t] = lora_a_init(m, o->rank, in, seed, (uint64_t)n);
            l->lora_b[t] = ts_unscope(ts_zeros((int64_t[]){out, o->rank}, 2, m->dtype, m->device));
            for (int ab = 0; ab < 2; ab++) {
                char name[128];
                snprintf(name, sizeof name, "base_model.model.model.layers.%d.%s.lora_%c.weight", i, target_module[t],
                         ab ? 'B' : 'A');
                m->lora_params[n] = ab ? l->lora_b[t] : l->lora_a[t];
                m->lora_names[n++] = mem_strdup(name);
            }
            ok = l->lora_a[t] && l->lora_b[t];
        }
    m->nlora = n;
    m->lora = *o;
    m->lora_scale = o->alpha / (double)o->rank;
    return ok ? 0 : err_prefix("LoRA adapters");
}

const model_lora_opts *model_lora(const model *m) { return m->nlora ? &m->lora : NULL; }
void model_lora_set_enabled(model *m, int on) { m->lora_off = !on; }
void model_lora_set_dropout_key(model *m, uint64_t key) { m->dropout_key = key; }

/* Inverted dropout of x (..., in) with the run's counter-based draws: element k of the call's x
 * keeps its value / (1 - p) when the uniform of key k at a counter mixed from the dropout key and
 * stream is at least p, so a replay of the forward (activation checkpointing, a resumed run)
 * drops the same elements. */
static ts_tensor *lora_dropout(const model *m, const ts_tensor *x, uint64_t stream) {
    int64_t shape[TS_MAX_DIMS];
    int nd = ts_shape(x, shape);
    ts_tensor *key = ts_view(ts_arange(0, (double)ts_numel(x), 1, TS_I64, m->device), shape, nd);
    rng_stream st;
    rng_stream_init(&st, m->dropout_key, stream);
    double p = m->lora.dropout;
    ts_tensor *mask = ts_to_dtype(ts_logical_not(ts_lt_scalar(ts_counter_uniform(key, rng_next_u64(&st)), p)),
                                  ts_get_dtype(x));
    return ts_mul(x, ts_mul_scalar(mask, 1 / (1 - p)));
}

/* A projection of layer l: linear(x, w, b) plus, with an adapter on target t that is enabled,
 * (alpha / r) B A dropout(x) (Hu et al. 2021, eq. 3; PEFT's Linear.forward). Dropout applies in
 * updates only: with gradients recorded and a dropout key set. */
static ts_tensor *proj(const model *m, const layer *l, int t, const ts_tensor *x, const ts_tensor *w, const ts_tensor *b) {
    ts_tensor *y = ts_linear(x, w, b);
    if (!l->lora_a[t] || m->lora_off) return y;
    const ts_tensor *xd = x;
    if (m->lora.dropout > 0 && m->dropout_key && ts_grad_enabled())
        xd = lora_dropout(m, x, (uint64_t)(l->index * MODEL_LORA_NTARGETS + t));
    ts_tensor *ba = ts_linear(ts_linear(xd, l->lora_a[t], NULL), l->lora_b[t], NULL);
    return ts_add(y, ts_mul_scalar(ba, m->lora_scale));
}

/* ---------------------------------------------------------------- forward pieces */

/* x (..., N) -> w * x / sqrt(mean(x^2) + eps), the statistics in f32 (LlamaRMSNorm). */
static ts_tensor *rms_norm(const ts_tensor *x, const ts_tensor *w, double eps) {
    if (!x) return NULL;
    ts_tensor *xf = ts_to_dtype(x, TS_F32);
    ts_tensor *var = ts_mean_dim(ts_mul(xf, xf), -1, 1);
    ts_tensor *y = ts_mul(xf, ts_rsqrt(ts_add_scalar(var, eps)));
    return ts_mul(w, ts_to_dtype(y, ts_get_dtype(x)));
}

/* Per-row positions pos (B, T) i64 -> cos, sin (B, 1, T, E) in the model dtype. */
static int rope_tables(const model *m, const ts_tensor *pos, ts_tensor **cos, ts_tensor **sin) {
    ts_tensor *freqs = ts_mul(ts_unsqueeze(ts_to_dtype(pos, TS_F32), -1), m->inv_freq); /* (B, T, E/2) */
    ts_tensor *both[2] = {freqs, freqs};
    ts_tensor *emb = freqs ? ts_unsqueeze(ts_cat(both, 2, -1), 1) : NULL;
    *cos = ts_to_dtype(ts_cos(emb), m->dtype);
    *sin = ts_to_dtype(ts_sin(emb), m->dtype);
    TS_CHECK(*cos && *sin);
    return 0;
}

/* True where query i (at slot off+i) may see key slot j: j at or before it and not padding; a
 * query always sees its own slot, so a padding query's softmax has a finite row. valid (B, S) bool
 * -> (B, 1, T, S) bool. */
static ts_tensor *allowed_mask(const ts_tensor *valid, int64_t off, int64_t T, ts_device dev) {
    int64_t S = ts_size(valid, 1);
    if (T == 1 && S == off + 1) /* one new token that sees every slot: the mask is valid itself */
        return ts_view(valid, (int64_t[]){ts_size(valid, 0), 1, 1, S}, 4);
    ts_tensor *j = ts_view(ts_arange(0, (double)S, 1, TS_I64, dev), (int64_t[]){1, S}, 2);
    ts_tensor *i = ts_view(ts_arange((double)off, (double)(off + T), 1, TS_I64, dev), (int64_t[]){T, 1}, 2);
    ts_tensor *causal = ts_le(j, i); /* (T, S) */
    ts_tensor *keys = ts_reshape(valid, (int64_t[]){ts_size(valid, 0), 1, 1, S}, 4);
    return ts_logical_or(ts_logical_and(causal, keys), ts_eq(j, i));
}

/* The queries, keys and values of normalised x (B, T, D), RoPE applied (cos, sin broadcast to
 * (B, 1, T, E)): q (B, H, T, E), k and v (B, Hkv, T, E). */
static int qkv(const model *m, const layer *l, const ts_tensor *x, const ts_tensor *cos, const ts_tensor *sin,
               ts_tensor **q, ts_tensor **k, ts_tensor **v) {
    const model_config *c = &m->cfg;
    int64_t B = ts_size(x, 0), T = ts_size(x, 1), H = c->num_heads, Hkv = c->num_kv_heads, E = c->head_dim;
    ts_tensor *qh = ts_view(proj(m, l, MODEL_LORA_Q, x, l->wq, l->bq), (int64_t[]){B, T, H, E}, 4);
    ts_tensor *kh = ts_view(proj(m, l, MODEL_LORA_K, x, l->wk, l->bk), (int64_t[]){B, T, Hkv, E}, 4);
    ts_tensor *vh = ts_view(proj(m, l, MODEL_LORA_V, x, l->wv, l->bv), (int64_t[]){B, T, Hkv, E}, 4);
    if (c->arch == MODEL_QWEN3) {
        qh = rms_norm(qh, l->q_norm, c->rms_norm_eps);
        kh = rms_norm(kh, l->k_norm, c->rms_norm_eps);
    }
    *q = ts_rope(ts_transpose(qh, 1, 2), cos, sin);
    *k = ts_rope(ts_transpose(kh, 1, 2), cos, sin);
    *v = ts_transpose(vh, 1, 2);
    TS_CHECK(*q && *k && *v);
    return 0;
}

/* Self-attention of one layer. x (B, T, D) normalised; allowed (B, 1, T, S); kc, vc: the layer's
 * cache (B, Hkv, max_len, E) written at slots off..off+T-1 and read over 0..S-1, or NULL (S = T).
 * Grouped heads are read in place (ts_scaled_dot_product_attention), not repeated. */
static ts_tensor *attention(const model *m, const layer *l, const ts_tensor *x, const ts_tensor *cos,
                            const ts_tensor *sin, const ts_tensor *allowed, ts_tensor *kc, ts_tensor *vc,
                            int64_t off) {
    int64_t B = ts_size(x, 0), T = ts_size(x, 1), E = m->cfg.head_dim;
    ts_tensor *q, *k, *v;
    if (qkv(m, l, x, cos, sin, &q, &k, &v)) return NULL;
    if (kc) {
        if (ts_copy_(ts_narrow(kc, 2, off, T), k) || ts_copy_(ts_narrow(vc, 2, off, T), v)) return NULL;
        k = ts_narrow(kc, 2, 0, off + T);
        v = ts_narrow(vc, 2, 0, off + T);
    }
    ts_tensor *a = ts_scaled_dot_product_attention(q, k, v, allowed, 1.0 / sqrt((double)E)); /* (B, H, T, E) */
    ts_tensor *o = ts_reshape(ts_transpose(a, 1, 2), (int64_t[]){B, T, m->cfg.num_heads * E}, 3);
    return proj(m, l, MODEL_LORA_O, o, l->wo, l->bo);
}

/* SwiGLU: down(silu(gate(x)) * up(x)). */
static ts_tensor *mlp(const model *m, const layer *l, const ts_tensor *x) {
    ts_tensor *g = ts_silu(proj(m, l, MODEL_LORA_GATE, x, l->gate, NULL));
    return proj(m, l, MODEL_LORA_DOWN, ts_mul(g, proj(m, l, MODEL_LORA_UP, x, l->up, NULL)), l->down, NULL);
}

/* The decoder layer, for training, prefill and decode alike: x (B, T, D) ->
 * h = x + attn(norm(x)), h + mlp(norm(h)). */
static ts_tensor *layer_forward(const model *m, const layer *l, const ts_tensor *x, const ts_tensor *cos,
                                const ts_tensor *sin, const ts_tensor *allowed, ts_tensor *kc, ts_tensor *vc,
                                int64_t off) {
    double eps = m->cfg.rms_norm_eps;
    ts_tensor *h = ts_add(x, attention(m, l, rms_norm(x, l->input_norm, eps), cos, sin, allowed, kc, vc, off));
    return ts_add(h, mlp(m, l, rms_norm(h, l->post_norm, eps)));
}

struct model_cache {
    int64_t batch, max_len, len;
    int nlayers;
    ts_tensor **k, **v;   /* per layer (B, Hkv, max_len, E) in the model dtype */
    ts_tensor *valid;     /* (B, max_len) bool: slot holds a real token */
    ts_tensor *next_pos;  /* (B) i64: position of each row's next real token */
    ts_tensor *cos, *sin; /* (>= max_len, E) model dtype: RoPE tables by position */
};

#define ROPE_CHUNK 256

/* RoPE tables for positions 0..n-1 and up, built ROPE_CHUNK positions at a time so that a
 * position's values never depend on n (vectorised and scalar cos round differently, and which one
 * a position gets depends on the shape): the same prompt then gives the same cache in any batch. */
static int rope_table(const model *m, int64_t n, ts_tensor **cos, ts_tensor **sin) {
    int64_t chunks = (n + ROPE_CHUNK - 1) / ROPE_CHUNK, E = m->cfg.head_dim;
    ts_tensor **cs = mem_calloc((size_t)(2 * chunks), sizeof *cs);
    int rc = 0;
    for (int64_t k = 0; !rc && k < chunks; k++) {
        ts_tensor *pos = ts_view(ts_arange((double)(k * ROPE_CHUNK), (double)((k + 1) * ROPE_CHUNK), 1, TS_I64, m->device),
                                 (int64_t[]){1, ROPE_CHUNK}, 2);
        if (!pos || rope_tables(m, pos, &cs[k], &cs[chunks + k])) rc = -1;
    }
    *cos = rc ? NULL : ts_reshape(ts_cat(cs, (int)chunks, 2), (int64_t[]){chunks * ROPE_CHUNK, E}, 2);
    *sin = rc ? NULL : ts_reshape(ts_cat(cs + chunks, (int)chunks, 2), (int64_t[]){chunks * ROPE_CHUNK, E}, 2);
    free(cs);
    TS_CHECK(*cos && *sin);
    return 0;
}

/* The cache's table rows at pos (any shape, i64) -> cos, sin (pos shape..., E). */
static int rope_lookup(const model_cache *c, const ts_tensor *pos, ts_tensor **cos, ts_tensor **sin) {
    int64_t shape[TS_MAX_DIMS + 1];
    int nd = ts_shape(pos, shape);
    shape[nd] = ts_size(c->cos, 1);
    ts_tensor *flat = ts_reshape(ts_to_dtype(pos, TS_I64), (int64_t[]){-1}, 1);
    *cos = ts_view(ts_index_select(c->cos, 0, flat), shape, nd + 1);
    *sin = ts_view(ts_index_select(c->sin, 0, flat), shape, nd + 1);
    TS_CHECK(*cos && *sin);
    return 0;
}

/* ts_checkpoint's callback: in = {x, cos, sin, allowed} -> the layer's output, without a cache. */
static ts_tensor *layer_checkpointed(void *arg, ts_tensor *const *in, int n) {
    const layer *l = arg;
    (void)n;
    return layer_forward(l->owner, l, in[0], in[1], in[2], in[3], NULL, NULL, 0);
}

/* ids (B, T) i64, pos (B, T) i64, valid (B, S) bool over key slots -> final-norm hidden (B, T, D).
 * With a cache, the new keys and values go to slots off..off+T-1. Each layer runs in its own
 * scope so that only what autograd saved outlives it; with checkpointing on (and gradients to
 * take) that is the layer's input alone, and backward runs the layer again. */
static ts_tensor *forward_hidden(const model *m, const ts_tensor *ids, const ts_tensor *pos, const ts_tensor *valid,
                                 model_cache *cache, int64_t off) {
    ts_tensor *cos, *sin;
    if (cache ? rope_lookup(cache, ts_unsqueeze(pos, 1), &cos, &sin) : rope_tables(m, pos, &cos, &sin)) return NULL;
    ts_tensor *allowed = allowed_mask(valid, off, ts_size(ids, 1), m->device);
    ts_tensor *x = ts_embedding(m->embed, ids);
    if (!allowed || !x) return NULL;
    /* with LoRA the embeddings are frozen: the layer input takes a gradient of its own (unused) so
     * that ts_checkpoint records the layer and backward reaches the adapters inside it */
    if (m->checkpointing && m->nlora && !cache && ts_grad_enabled() && !ts_requires_grad(x) &&
        ((x = ts_detach(x)) == NULL || ts_set_requires_grad(x, 1)))
        return NULL;
    for (int i = 0; i < m->cfg.num_layers; i++) {
        layer *l = &m->layers[i];
        ts_scope_begin();
        ts_tensor *y;
        if (m->checkpointing && !cache && ts_grad_enabled() && ts_requires_grad(x))
            y = ts_checkpoint(layer_checkpointed, l, (ts_tensor *const[]){x, cos, sin, allowed}, 4);
        else
            y = layer_forward(m, l, x, cos, sin, allowed, cache ? cache->k[i] : NULL, cache ? cache->v[i] : NULL, off);
        ts_keep(y);
        ts_scope_end();
        ts_free(x);
        if (!y) return NULL;
        x = y;
    }
    return rms_norm(x, m->norm, m->cfg.rms_norm_eps);
}

/* ids and mask moved to the model's device; valid (B, T) bool from mask (all true when NULL). */
static int prepare_inputs(const model *m, const ts_tensor *ids, const ts_tensor *mask, ts_tensor **ids_dev,
                          ts_tensor **valid) {
    char buf[64];
    if (!ids || ts_ndim(ids) != 2 || ts_get_dtype(ids) != TS_I64)
        return err_set("model: ids must be (B, T) i64, got %s", ids ? ts_describe(ids, buf, sizeof buf) : "NULL");
    if (mask && (ts_ndim(mask) != 2 || ts_size(mask, 0) != ts_size(ids, 0) || ts_size(mask, 1) != ts_size(ids, 1)))
        return err_set("model: mask must have the shape of ids, got %s", ts_describe(mask, buf, sizeof buf));
    *ids_dev = ts_to_device(ids, m->device);
    *valid = mask ? ts_ne_scalar(ts_to_device(mask, m->device), 0)
                  : ts_ones((int64_t[]){ts_size(ids, 0), ts_size(ids, 1)}, 2, TS_BOOL, m->device);
    TS_CHECK(*ids_dev && *valid);
    return 0;
}

/* Position of each real token among its row's real tokens, starting at start (B) i64 or 0;
 * padding gets its predecessor's position (or start). valid (B, T) bool -> (B, T) i64. */
static ts_tensor *positions(const ts_tensor *valid, const ts_tensor *start) {
    ts_tensor *p = ts_add_scalar(ts_cumsum(ts_to_dtype(valid, TS_I64), 1), -1);
    if (start) p = ts_add(p, ts_unsqueeze(start, 1));
    return ts_clamp_min(p, 0);
}

/* ---------------------------------------------------------------- full sequence */

int model_forward_logprobs_from(model *m, const ts_tensor *ids, const ts_tensor *mask, int64_t first,
                                int entropy_grad, ts_tensor **logprobs, ts_tensor **entropy) {
    *logprobs = NULL;
    if (entropy) *entropy = NULL;
    if (ids && ts_ndim(ids) == 2 && ts_size(ids, 1) < 2) return err_set("model_forward_logprobs: needs T >= 2 tokens per row");
    if (ids && ts_ndim(ids) == 2 && (first < 0 || first >= ts_size(ids, 1) - 1))
        return err_set("model_forward_logprobs: first column %lld is outside [0, %lld)", (long long)first,
                       (long long)ts_size(ids, 1) - 1);
    ts_scope_begin();
    ts_tensor *ids_d, *valid, *lp = NULL, *ent = NULL;
    int rc = -1;
    if (prepare_inputs(m, ids, mask, &ids_d, &valid)) goto out;
    int64_t B = ts_size(ids, 0), T = ts_size(ids, 1), D = m->cfg.hidden_size, V = m->cfg.vocab_size;
    int64_t C = T - 1 - first, N = B * C;
    ts_tensor *h = forward_hidden(m, ids_d, positions(valid, NULL), valid, NULL, 0);
    ts_tensor *hs = ts_reshape(ts_narrow(h, 1, first, C), (int64_t[]){N, D}, 2);
    ts_tensor *tgt = ts_reshape(ts_narrow(ids_d, 1, first + 1, C), &N, 1);
    /* log-probs at a temperature t: the head has no bias, so head(h / t) = head(h) / t */
    if (m->logprob_temp != 1) hs = ts_div_scalar(hs, m->logprob_temp);
    int64_t rows = LOGIT_CHUNK_ELEMS / V > 0 ? LOGIT_CHUNK_ELEMS / V : 1;
    if (ts_linear_logprob_entropy(hs, m->lm_head, tgt, rows, LOGIT_KEEP_ELEMS, entropy_grad, &lp,
                                  entropy ? &ent : NULL))
        goto out;
    /* 1 where both the input token t and the target t+1 are real */
    ts_tensor *pair = ts_to_dtype(ts_logical_and(ts_narrow(valid, 1, first, C), ts_narrow(valid, 1, first + 1, C)), TS_F32);
    lp = ts_mul(ts_view(lp, (int64_t[]){B, C}, 2), pair);
    if (entropy) ent = ts_mul(ts_view(ent, (int64_t[]){B, C}, 2), pair);
    if (!lp || (entropy && !ent)) goto out;
    *logprobs = ts_keep(lp);
    if (entropy) *entropy = ts_keep(ent);
    rc = 0;
out:
    ts_scope_end();
    if (rc) err_prefix("model_forward_logprobs");
    return rc;
}

int model_forward_logprobs(model *m, const ts_tensor *ids, const ts_tensor *mask, int entropy_grad,
                           ts_tensor **logprobs, ts_tensor **entropy) {
    return model_forward_logprobs_from(m, ids, mask, 0, entropy_grad, logprobs, entropy);
}

void model_set_logprob_temperature(model *m, double t) { m->logprob_temp = t; }

ts_tensor *model_forward_logits(model *m, const ts_tensor *ids, const ts_tensor *mask) {
    ts_scope_begin();
    ts_tensor *ids_d, *valid, *out = NULL;
    if (!prepare_inputs(m, ids, mask, &ids_d, &valid)) {
        ts_tensor *h = forward_hidden(m, ids_d, positions(valid, NULL), valid, NULL, 0);
        out = ts_keep(ts_to_dtype(ts_linear(h, m->lm_head, NULL), TS_F32));
    }
    ts_scope_end();
    if (!out) err_prefix("model_forward_logits");
    return out;
}

/* ---------------------------------------------------------------- KV cache */

model_cache *model_cache_init(const model *m, int64_t batch, int64_t max_len) {
    if (batch <= 0 || max_len <= 0) {
        err_set("model_cache_init: batch %lld and max_len %lld must be positive", (long long)batch, (long long)max_len);
        return NULL;
    }
    model_cache *c = mem_calloc(1, sizeof *c);
    int L = (int)m->cfg.num_layers;
    c->k = mem_calloc((size_t)L, sizeof *c->k);
    c->v = mem_calloc((size_t)L, sizeof *c->v);
    c->nlayers = L;
    c->batch = batch;
    c->max_len = max_len;
    int64_t kv[] = {batch, m->cfg.num_kv_heads, max_len, m->cfg.head_dim};
    int ok = 1;
    for (int i = 0; i < L; i++) {
        c->k[i] = ts_unscope(ts_zeros(kv, 4, m->dtype, m->device));
        c->v[i] = ts_unscope(ts_zeros(kv, 4, m->dtype, m->device));
        ok = ok && c->k[i] && c->v[i];
    }
    c->valid = ts_unscope(ts_zeros((int64_t[]){batch, max_len}, 2, TS_BOOL, m->device));
    c->next_pos = ts_unscope(ts_zeros(&batch, 1, TS_I64, m->device));
    ts_scope_begin();
    ts_tensor *cos = NULL, *sin = NULL;
    if (!rope_table(m, max_len, &cos, &sin)) {
        c->cos = ts_unscope(cos);
        c->sin = ts_unscope(sin);
    }
    ts_scope_end();
    if (!ok || !c->valid || !c->next_pos || !c->cos || !c->sin) {
        err_prefix("model_cache_init (%lld x %lld slots)", (long long)batch, (long long)max_len);
        model_cache_free(c);
        return NULL;
    }
    return c;
}

void model_cache_free(model_cache *c) {
    if (!c) return;
    for (int i = 0; i < c->nlayers; i++) {
        if (c->k) ts_free(c->k[i]);
        if (c->v) ts_free(c->v[i]);
    }
    free(c->k);
    free(c->v);
    ts_free(c->valid);
    ts_free(c->next_pos);
    ts_free(c->cos);
    ts_free(c->sin);
    free(c);
}

int64_t model_cache_batch(const model_cache *c) { return c->batch; }
int64_t model_cache_len(const model_cache *c) { return c->len; }
int64_t model_cache_max_len(const model_cache *c) { return c->max_len; }

ts_tensor *model_prefill(model *m, model_cache *c, const ts_tensor *ids, const ts_tensor *mask) {
    ts_tensor *ids_d, *valid, *out = NULL;
    ts_no_grad_begin();
    ts_scope_begin();
    if (prepare_inputs(m, ids, mask, &ids_d, &valid)) goto out;
    int64_t B = ts_size(ids, 0), T = ts_size(ids, 1), D = m->cfg.hidden_size, off = c->len;
    if (B != c->batch) {
        err_set("the cache holds %lld rows, the ids %lld", (long long)c->batch, (long long)B);
        goto out;
    }
    if (off + T > c->max_len) {
        err_set("the cache is full: %lld + %lld tokens exceed its %lld slots", (long long)off, (long long)T,
                (long long)c->max_len);
        goto out;
    }
    ts_tensor *pos = positions(valid, c->next_pos);
    if (!pos || ts_copy_(ts_narrow(c->valid, 1, off, T), valid)) goto out;
    ts_tensor *h = forward_hidden(m, ids_d, pos, ts_narrow(c->valid, 1, 0, off + T), c, off);
    /* each row's last real column of this call (0 when none) */
    ts_tensor *vi = ts_to_dtype(valid, TS_I64);
    ts_tensor *col = ts_mul(ts_view(ts_arange(0, (double)T, 1, TS_I64, m->device), (int64_t[]){1, T}, 2), vi);
    ts_tensor *last = ts_expand(ts_view(ts_amax(col, 1, 0), (int64_t[]){B, 1, 1}, 3), (int64_t[]){B, 1, D}, 3);
    ts_tensor *logits = ts_to_dtype(ts_linear(ts_squeeze(ts_gather(h, 1, last), 1), m->lm_head, NULL), TS_F32);
    if (!logits || ts_copy_(c->next_pos, ts_add(c->next_pos, ts_sum_dim(vi, 1, 0)))) goto out;
    c->len += T;
    out = ts_keep(logits);
out:
    ts_scope_end();
    ts_no_grad_end();
    if (!out) err_prefix("model_prefill");
    return out;
}

ts_tensor *model_decode_step(model *m, model_cache *c, const ts_tensor *ids) {
    char buf[64];
    if (!ids || ts_ndim(ids) != 1 || ts_get_dtype(ids) != TS_I64) {
        err_set("model_decode_step: ids must be (B) i64, got %s", ids ? ts_describe(ids, buf, sizeof buf) : "NULL");
        return NULL;
    }
    if (ts_size(ids, 0) != c->batch) {
        err_set("model_decode_step: the cache holds %lld rows, the ids %lld", (long long)c->batch,
                (long long)ts_size(ids, 0));
        return NULL;
    }
    if (c->len >= c->max_len) {
        err_set("model_decode_step: the cache is full (%lld slots)", (long long)c->max_len);
        return NULL;
    }
    int64_t B = c->batch, off = c->len;
    ts_tensor *out = NULL;
    ts_no_grad_begin();
    ts_scope_begin();
    ts_tensor *col = ts_view(ts_to_device(ids, m->device), (int64_t[]){B, 1}, 2);
    ts_tensor *pos = ts_view(c->next_pos, (int64_t[]){B, 1}, 2);
    if (!col || !pos || ts_fill_(ts_select(c->valid, 1, off), 1)) goto out;
    ts_tensor *h = forward_hidden(m, col, pos, ts_narrow(c->valid, 1, 0, off + 1), c, off); /* (B, 1, D) */
    ts_tensor *logits = ts_to_dtype(ts_linear(ts_select(h, 1, 0), m->lm_head, NULL), TS_F32);
    if (!logits || ts_copy_(c->next_pos, ts_add_scalar(c->next_pos, 1))) goto out;
    c->len++;
    out = ts_keep(logits);
out:
    ts_scope_end();
    ts_no_grad_end();
    if (!out) err_prefix("model_decode_step");
    return out;
}

int model_cache_index_select(model_cache *c, const ts_tensor *rows) {
    char buf[64];
    if (!rows || ts_ndim(rows) != 1 || ts_get_dtype(rows) != TS_I64 || ts_numel(rows) == 0)
        return err_set("model_cache_index_select: rows must be a non-empty (B') i64, got %s",
                       rows ? ts_describe(rows, buf, sizeof buf) : "NULL");
    int n = 2 * c->nlayers + 2, ok = 1;
    ts_tensor **slots = mem_alloc(sizeof *slots * (size_t)n), **fresh = mem_calloc((size_t)n, sizeof *fresh);
    for (int i = 0; i < c->nlayers; i++) {
        slots[2 * i] = c->k[i];
        slots[2 * i + 1] = c->v[i];
    }
    slots[n - 2] = c->valid;
    slots[n - 1] = c->next_pos;
    ts_scope_begin();
    ts_tensor *r = ts_to_device(rows, ts_get_device(c->valid));
    /* keys and values: only the used slots are copied (the rest is never read before written) */
    for (int i = 0; ok && i < n - 2; i++) {
        int64_t shape[4];
        ts_shape(slots[i], shape);
        shape[0] = ts_numel(rows);
        fresh[i] = ts_empty(shape, 4, ts_get_dtype(slots[i]), ts_get_device(slots[i]));
        ok = fresh[i] && (c->len == 0 || !ts_copy_(ts_narrow(fresh[i], 2, 0, c->len),
                                                   ts_index_select(ts_narrow(slots[i], 2, 0, c->len), 0, r)));
    }
    for (int i = n - 2; ok && i < n; i++) ok = (fresh[i] = ts_index_select(slots[i], 0, r)) != NULL;
    if (ok)
        for (int i = 0; i < n; i++) {
            ts_free(slots[i]);
            ts_unscope(fresh[i]);
        }
    ts_scope_end();
    if (ok) {
        for (int i = 0; i < c->nlayers; i++) {
            c->k[i] = fresh[2 * i];
            c->v[i] = fresh[2 * i + 1];
        }
        c->valid = fresh[n - 2];
        c->next_pos = fresh[n - 1];
        c->batch = ts_numel(rows);
    }
    free(slots);
    free(fresh);
    return ok ? 0 : err_prefix("model_cache_index_select");
}

int model_cache_move_rows(model_cache *c, int64_t n_keep, const int64_t *dst, const int64_t *src, int n) {
    if (n_keep < 1 || n_keep > c->batch)
        return err_set("model_cache_move_rows: n_keep must be in [1, %lld], got %lld", (long long)c->batch,
                       (long long)n_keep);
    for (int i = 0; i < n; i++)
        if (dst[i] < 0 || dst[i] >= n_keep || src[i] < n_keep || src[i] >= c->batch)
            return err_set("model_cache_move_rows: move %d takes row %lld to row %lld; expected a row in [%lld, %lld) "
                           "to one in [0, %lld)", i, (long long)src[i], (long long)dst[i], (long long)n_keep,
                           (long long)c->batch, (long long)n_keep);
    int n_t = 2 * c->nlayers + 2, ok = 1;
    ts_tensor ***slots = mem_alloc(sizeof *slots * (size_t)n_t), **kept = mem_calloc((size_t)n_t, sizeof *kept);
    for (int i = 0; i < c->nlayers; i++) {
        slots[2 * i] = &c->k[i];
        slots[2 * i + 1] = &c->v[i];
    }
    slots[n_t - 2] = &c->valid;
    slots[n_t - 1] = &c->next_pos;
    ts_scope_begin();
    for (int t = 0; ok && t < n_t; t++) {
        /* keys and values: only the used slots move (the rest is never read before written) */
        int kv = t < n_t - 2;
        ts_tensor *used = kv ? ts_narrow(*slots[t], 2, 0, c->len) : *slots[t];
        for (int i = 0; ok && i < n && (!kv || c->len > 0); i++)
            ok = used && !ts_copy_(ts_narrow(used, 0, dst[i], 1), ts_narrow(used, 0, src[i], 1));
        ok = ok && (kept[t] = ts_narrow(*slots[t], 0, 0, n_keep)) != NULL;
    }
    if (ok)
        for (int t = 0; t < n_t; t++) {
            ts_free(*slots[t]);
            *slots[t] = ts_unscope(kept[t]);
        }
    ts_scope_end();
    if (ok) c->batch = n_keep;
    free(slots);
    free(kept);
    return ok ? 0 : err_prefix("model_cache_move_rows");
}
