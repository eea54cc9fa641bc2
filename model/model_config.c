/* model_config — config.json of a Hugging Face model directory: parse with defaults (every error
 * names the field and what was expected), check the sizes, and write it back (with
 * generation_config.json) for the architectures model.h supports. HF writes null for "not set",
 * so a null field reads as absent.
 * Deliberately not here: weights (model.c), generation settings beyond the EOS and BOS ids. */
#include "model.h"

#include "common/err.h"
#include "common/io.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CONFIG_BYTES (16u << 20)

static const char *const arch_names[] = {"llama", "qwen2", "qwen3"};

const char *model_arch_name(model_arch a) { return arch_names[a]; }

/* A field, or NULL when absent or JSON null (HF writes null for "not set"). */
static const cJSON *field(const cJSON *o, const char *key) {
    const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);
    return j && !cJSON_IsNull(j) ? j : NULL;
}

static int is_integer(const cJSON *j) {
    return cJSON_IsNumber(j) && j->valuedouble == floor(j->valuedouble) && fabs(j->valuedouble) <= 9007199254740992.0;
}

/* where: "config.json" or "config.json: rope_scaling" — the prefix of every message. */
static int get_int(const char *where, const cJSON *o, const char *key, int required, int64_t def, int64_t *out) {
    const cJSON *j = field(o, key);
    if (!j) {
        if (required) return err_set("%s: missing field \"%s\" (an integer)", where, key);
        *out = def;
        return 0;
    }
    if (!is_integer(j)) {
        if (cJSON_IsNumber(j)) return err_set("%s: field \"%s\" is %g, expected an integer", where, key, j->valuedouble);
        return err_set("%s: field \"%s\" is %s, expected an integer", where, key, io_json_kind(j));
    }
    *out = (int64_t)j->valuedouble;
    return 0;
}

static int get_num(const char *where, const cJSON *o, const char *key, int required, double def, double *out) {
    const cJSON *j = field(o, key);
    if (!j) {
        if (required) return err_set("%s: missing field \"%s\" (a number)", where, key);
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(j)) return err_set("%s: field \"%s\" is %s, expected a number", where, key, io_json_kind(j));
    *out = j->valuedouble;
    return 0;
}

static int get_bool(const char *where, const cJSON *o, const char *key, int def, int *out) {
    const cJSON *j = field(o, key);
    if (!j) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(j)) return err_set("%s: field \"%s\" is %s, expected true or false", where, key, io_json_kind(j));
    *out = cJSON_IsTrue(j);
    return 0;
}

/* A string field; *out NULL when absent and not required. */
static int get_str(const char *where, const cJSON *o, const char *key, int required, const char **out) {
    const cJSON *j = field(o, key);
    *out = NULL;
    if (!j) return required ? err_set("%s: missing field \"%s\" (a string)", where, key) : 0;
    if (!cJSON_IsString(j)) return err_set("%s: field \"%s\" is %s, expected a string", where, key, io_json_kind(j));
    *out = j->valuestring;
    return 0;
}

/* The RoPE scaling object named key of root: "rope_scaling" (transformers 4), or "rope_parameters"
 * (transformers 5, which moves rope_theta into it too). */
static int parse_rope_scaling(const char *label, const cJSON *root, const char *key, model_config *c) {
    const cJSON *rs = field(root, key);
    if (!rs) return 0;
    char where[512];
    snprintf(where, sizeof where, "%s: %s", label, key);
    if (!cJSON_IsObject(rs)) return err_set("%s: field \"%s\" is %s, expected an object or null", label, key, io_json_kind(rs));
    if (!strcmp(key, "rope_parameters") && get_num(where, rs, "rope_theta", 0, c->rope_theta, &c->rope_theta)) return -1;
    const char *type;
    if (get_str(where, rs, "rope_type", 0, &type)) return -1;
    if (!type && get_str(where, rs, "type", 1, &type)) return -1;
    if (!strcmp(type, "default")) return 0;
    if (strcmp(type, "llama3"))
        return err_set("%s: rope type \"%s\" is not supported (supported: llama3, default)", where, type);
    c->rope_llama3 = 1;
    if (get_num(where, rs, "factor", 1, 0, &c->rope_factor) ||
        get_num(where, rs, "low_freq_factor", 1, 0, &c->rope_low_freq_factor) ||
        get_num(where, rs, "high_freq_factor", 1, 0, &c->rope_high_freq_factor) ||
        get_int(where, rs, "original_max_position_embeddings", 1, 0, &c->rope_original_max_position))
        return -1;
    if (c->rope_factor <= 0 || c->rope_low_freq_factor <= 0 || c->rope_high_freq_factor <= c->rope_low_freq_factor ||
        c->rope_original_max_position <= 0)
        return err_set("%s: expected factor > 0, 0 < low_freq_factor < high_freq_factor and "
                       "original_max_position_embeddings > 0",
                       where);
    return 0;
}

static int parse_token_ids(const char *label, const cJSON *root, model_config *c) {
    if (get_int(label, root, "bos_token_id", 0, -1, &c->bos_token_id)) return -1;
    const cJSON *eos = field(root, "eos_token_id");
    c->n_eos = 0;
    if (!eos) return 0;
    if (is_integer(eos)) {
        c->eos_token_ids[c->n_eos++] = (int64_t)eos->valuedouble;
        return 0;
    }
    if (!cJSON_IsArray(eos)) return err_set("%s: field \"eos_token_id\" is %s, expected an integer or an array of integers", label, io_json_kind(eos));
    for (const cJSON *e = eos->child; e; e = e->next) {
        if (!is_integer(e)) return err_set("%s: field \"eos_token_id\" holds %s, expected integers", label, io_json_kind(e));
        if (c->n_eos == MODEL_MAX_EOS) return err_set("%s: field \"eos_token_id\" lists more than %d ids", label, MODEL_MAX_EOS);
        c->eos_token_ids[c->n_eos++] = (int64_t)e->valuedouble;
    }
    return 0;
}

int model_config_check(const model_config *c) {
    const struct {
        const char *name;
        int64_t v;
    } sizes[] = {{"vocab_size", c->vocab_size},          {"hidden_size", c->hidden_size},
                 {"intermediate_size", c->intermediate_size}, {"num_hidden_layers", c->num_layers},
                 {"num_attention_heads", c->num_heads},   {"num_key_value_heads", c->num_kv_heads},
                 {"head_dim", c->head_dim}};
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        if (sizes[i].v <= 0)
            return err_set("%s must be a positive integer, got %lld", sizes[i].name, (long long)sizes[i].v);
    if (c->num_heads % c->num_kv_heads)
        return err_set("num_attention_heads %lld is not a multiple of num_key_value_heads %lld",
                       (long long)c->num_heads, (long long)c->num_kv_heads);
    if (c->head_dim % 2) return err_set("head_dim %lld must be even (rotary embedding pairs)", (long long)c->head_dim);
    if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 0)) return err_set("rms_norm_eps and rope_theta must be positive");
    return 0;
}

int model_config_parse(const char *json, size_t len, const char *label, model_config *c) {
    memset(c, 0, sizeof *c);
    cJSON *root = cJSON_ParseWithLength(json, len);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        err_set("%s: not a JSON object", label);
        goto out;
    }
    const char *type, *act;
    if (get_str(label, root, "model_type", 1, &type)) goto out;
    int found = 0;
    for (int a = 0; a < 3; a++)
        if (!strcmp(type, arch_names[a])) {
            c->arch = (model_arch)a;
            found = 1;
        }
    if (!found) {
        err_set("%s: model_type \"%s\" is not supported (supported: llama, qwen2, qwen3)", label, type);
        goto out;
    }
    int mlp_bias, sliding, attn_bias;
    if (get_int(label, root, "vocab_size", 1, 0, &c->vocab_size) ||
        get_int(label, root, "hidden_size", 1, 0, &c->hidden_size) ||
        get_int(label, root, "intermediate_size", 1, 0, &c->intermediate_size) ||
        get_int(label, root, "num_hidden_layers", 1, 0, &c->num_layers) ||
        get_int(label, root, "num_attention_heads", 1, 0, &c->num_heads) ||
        get_int(label, root, "num_key_value_heads", 0, c->num_heads, &c->num_kv_heads) ||
        get_int(label, root, "max_position_embeddings", 0, 2048, &c->max_position_embeddings) ||
        get_num(label, root, "rope_theta", 0, 10000.0, &c->rope_theta) ||
        get_num(label, root, "rms_norm_eps", 0, 1e-6, &c->rms_norm_eps) ||
        get_num(label, root, "initializer_range", 0, 0.02, &c->initializer_range) ||
        get_bool(label, root, "tie_word_embeddings", 0, &c->tie_word_embeddings) ||
        get_bool(label, root, "attention_bias", 0, &attn_bias) ||
        get_bool(label, root, "mlp_bias", 0, &mlp_bias) ||
        get_bool(label, root, "use_sliding_window", 0, &sliding) ||
        get_str(label, root, "hidden_act", 0, &act) ||
        parse_rope_scaling(label, root, field(root, "rope_parameters") ? "rope_parameters" : "rope_scaling", c) ||
        parse_token_ids(label, root, c))
        goto out;
    if (c->num_heads <= 0) {
        err_set("%s: field \"num_attention_heads\" must be positive", label);
        goto out;
    }
    if (get_int(label, root, "head_dim", 0, c->hidden_size / c->num_heads, &c->head_dim)) goto out;
    if (!field(root, "head_dim") && c->hidden_size % c->num_heads) {
        err_set("%s: hidden_size %lld is not a multiple of num_attention_heads %lld and there is no head_dim", label,
                (long long)c->hidden_size, (long long)c->num_heads);
        goto out;
    }
    if (act && strcmp(act, "silu")) {
        err_set("%s: hidden_act \"%s\" is not supported (supported: silu)", label, act);
        goto out;
    }
    if (mlp_bias) {
        err_set("%s: mlp_bias true is not supported", label);
        goto out;
    }
    if (sliding) {
        err_set("%s: use_sliding_window true is not supported (full attention only)", label);
        goto out;
    }
    c->qkv_bias = c->arch == MODEL_QWEN2 || attn_bias;
    c->o_bias = c->arch != MODEL_QWEN2 && attn_bias;
    if (model_config_check(c)) {
        err_prefix("%s", label);
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int model_config_load(const char *path, model_config *c) {
    size_t len;
    char *txt = io_read_file(path, MAX_CONFIG_BYTES, &len);
    if (!txt) return -1;
    int rc = model_config_parse(txt, len, path, c);
    free(txt);
    return rc;
}

static cJSON *config_to_json(const model_config *c, ts_dtype dtype) {
    static const char *const classes[] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Qwen3ForCausalLM"};
    cJSON *j = cJSON_CreateObject();
    cJSON_AddItemToArray(cJSON_AddArrayToObject(j, "architectures"), cJSON_CreateString(classes[c->arch]));
    cJSON_AddStringToObject(j, "model_type", arch_names[c->arch]);
    if (c->arch != MODEL_QWEN2) cJSON_AddBoolToObject(j, "attention_bias", c->o_bias);
    cJSON_AddNumberToObject(j, "attention_dropout", 0.0);
    if (c->bos_token_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", (double)c->bos_token_id);
    else cJSON_AddNullToObject(j, "bos_token_id");
    if (c->n_eos == 1) cJSON_AddNumberToObject(j, "eos_token_id", (double)c->eos_token_ids[0]);
    else if (c->n_eos > 1) {
        cJSON *a = cJSON_AddArrayToObject(j, "eos_token_id");
        for (int i = 0; i < c->n_eos; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)c->eos_token_ids[i]));
    }
    cJSON_AddNumberToObject(j, "head_dim", (double)c->head_dim);
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddNumberToObject(j, "hidden_size", (double)c->hidden_size);
    cJSON_AddNumberToObject(j, "initializer_range", c->initializer_range);
    cJSON_AddNumberToObject(j, "intermediate_size", (double)c->intermediate_size);
    cJSON_AddNumberToObject(j, "max_position_embeddings", (double)c->max_position_embeddings);
    if (c->arch == MODEL_LLAMA) cJSON_AddFalseToObject(j, "mlp_bias");
    cJSON_AddNumberToObject(j, "num_attention_heads", (double)c->num_heads);
    cJSON_AddNumberToObject(j, "num_hidden_layers", (double)c->num_layers);
    cJSON_AddNumberToObject(j, "num_key_value_heads", (double)c->num_kv_heads);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->rms_norm_eps);
    if (c->rope_llama3) {
        cJSON *rs = cJSON_AddObjectToObject(j, "rope_scaling");
        cJSON_AddNumberToObject(rs, "factor", c->rope_factor);
        cJSON_AddNumberToObject(rs, "high_freq_factor", c->rope_high_freq_factor);
        cJSON_AddNumberToObject(rs, "low_freq_factor", c->rope_low_freq_factor);
        cJSON_AddNumberToObject(rs, "original_max_position_embeddings", (double)c->rope_original_max_position);
        cJSON_AddStringToObject(rs, "rope_type", "llama3");
    } else {
        cJSON_AddNullToObject(j, "rope_scaling");
    }
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddStringToObject(j, "torch_dtype", dtype == TS_BF16 ? "bfloat16" : "float32");
    if (c->arch != MODEL_LLAMA) cJSON_AddFalseToObject(j, "use_sliding_window");
    cJSON_AddTrueToObject(j, "use_cache");
    cJSON_AddNumberToObject(j, "vocab_size", (double)c->vocab_size);
    return j;
}

int model_config_save(const model_config *c, ts_dtype dtype, const char *dir) {
    cJSON *cfg = config_to_json(c, dtype), *gen = cJSON_CreateObject();
    cJSON_AddTrueToObject(gen, "_from_model_config");
    if (c->bos_token_id >= 0) cJSON_AddNumberToObject(gen, "bos_token_id", (double)c->bos_token_id);
    if (c->n_eos) cJSON_AddItemReferenceToObject(gen, "eos_token_id", cJSON_GetObjectItem(cfg, "eos_token_id"));
    int rc = io_write_json(dir, "config.json", cfg) || io_write_json(dir, "generation_config.json", gen) ? -1 : 0;
    cJSON_Delete(gen);
    cJSON_Delete(cfg);
    return rc;
}
