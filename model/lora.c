/* lora — LoRA adapter directories as Hugging Face PEFT writes and reads them: adapter_config.json
 * (peft_type LORA, r, lora_alpha, lora_dropout, target_modules, ...) beside
 * adapter_model.safetensors (PEFT's tensor names, model_params' table of a model with adapters),
 * and the fingerprint of the base weights an adapter belongs to, kept in the safetensors metadata
 * (PEFT ignores it) so that loading onto another base is refused. The adapters themselves live in
 * model.c (model.h's LoRA section); this file only uses the public model API.
 * Deliberately not here: DoRA, rsLoRA scaling, per-layer ranks (rank_pattern), bias training,
 * adapters on the embeddings or the LM head: an adapter asking for them is refused. */
#include "model.h"

#include "common/err.h"
#include "common/io.h"
#include "common/mem.h"
#include "model/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FINGERPRINT_SAMPLES 4096 /* elements read from each base tensor */
#define FINGERPRINT_KEY "rlvr_base_fingerprint"

static uint64_t fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

/* FNV-1a of every base tensor's name, shape and up to FINGERPRINT_SAMPLES evenly strided elements
 * rounded to bf16: cheap on a large model, equal for the same weights loaded in f32 or bf16 (the
 * rounding is libtorch's in both cases), and different for another base or a fine-tune of it. */
int model_base_fingerprint(const model *m, char out[17]) {
    model_param_table pt = model_base_params(m);
    uint64_t h = 0xcbf29ce484222325ULL;
    uint16_t *buf = mem_alloc(sizeof(uint16_t) * FINGERPRINT_SAMPLES);
    int rc = 0;
    ts_no_grad_begin();
    for (int i = 0; !rc && i < pt.n; i++) {
        int64_t n = ts_numel(pt.t[i]), stride = (n + FINGERPRINT_SAMPLES - 1) / FINGERPRINT_SAMPLES;
        int64_t k = (n + stride - 1) / stride, shape[TS_MAX_DIMS];
        int nd = ts_shape(pt.t[i], shape);
        h = fnv1a(fnv1a(h, pt.names[i], strlen(pt.names[i])), shape, sizeof(int64_t) * (size_t)nd);
        ts_scope_begin();
        ts_tensor *flat = ts_reshape(pt.t[i], (int64_t[]){-1}, 1);
        ts_tensor *idx = ts_arange(0, (double)(k * stride), (double)stride, TS_I64, ts_get_device(pt.t[i]));
        rc = ts_to_host(ts_to_dtype(ts_index_select(flat, 0, idx), TS_BF16), buf, sizeof(uint16_t) * (size_t)k);
        ts_scope_end();
        h = fnv1a(h, buf, sizeof(uint16_t) * (size_t)k);
    }
    ts_no_grad_end();
    free(buf);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return rc ? err_prefix("fingerprint of the base weights") : 0;
}

static cJSON *adapter_config(const model_lora_opts *o, const char *base) {
    cJSON *j = cJSON_CreateObject(), *targets = cJSON_CreateArray();
    for (int t = 0; t < MODEL_LORA_NTARGETS; t++)
        if (o->targets >> t & 1) cJSON_AddItemToArray(targets, cJSON_CreateString(model_lora_target_names[t]));
    cJSON_AddStringToObject(j, "peft_type", "LORA");
    cJSON_AddStringToObject(j, "task_type", "CAUSAL_LM");
    cJSON_AddStringToObject(j, "base_model_name_or_path", base ? base : "");
    cJSON_AddNumberToObject(j, "r", (double)o->rank);
    cJSON_AddNumberToObject(j, "lora_alpha", o->alpha);
    cJSON_AddNumberToObject(j, "lora_dropout", o->dropout);
    cJSON_AddItemToObject(j, "target_modules", targets);
    cJSON_AddStringToObject(j, "bias", "none");
    cJSON_AddFalseToObject(j, "fan_in_fan_out");
    cJSON_AddFalseToObject(j, "use_rslora");
    cJSON_AddFalseToObject(j, "use_dora");
    cJSON_AddTrueToObject(j, "inference_mode");
    return j;
}

int model_lora_save(const model *m, const char *dir, const char *base_path) {
    const model_lora_opts *o = model_lora(m);
    if (!o) return err_set("%s: the model has no LoRA adapters to save", dir);
    char fp[17];
    if (model_base_fingerprint(m, fp)) return -1;
    model_param_table pt = model_params(m);
    st_tensor *ts = mem_calloc((size_t)pt.n, sizeof *ts);
    int rc = 0;
    for (int i = 0; !rc && i < pt.n; i++) {
        st_tensor *t = &ts[i];
        t->name = pt.names[i];
        t->dtype = ST_F32;
        t->ndim = ts_shape(pt.t[i], t->shape);
        t->nbytes = (size_t)ts_numel(pt.t[i]) * sizeof(float);
        void *buf = mem_alloc(t->nbytes);
        t->data = buf;
        ts_scope_begin();
        rc = ts_to_host(ts_to_dtype(pt.t[i], TS_F32), buf, t->nbytes);
        ts_scope_end();
    }
    const char *const meta[] = {"format", "pt", FINGERPRINT_KEY, fp, NULL};
    char path[4200];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    if (!rc) rc = st_write(path, ts, pt.n, meta);
    for (int i = 0; i < pt.n; i++) free((void *)ts[i].data);
    free(ts);
    cJSON *j = adapter_config(o, base_path);
    if (!rc) rc = io_write_json(dir, "adapter_config.json", j);
    cJSON_Delete(j);
    return rc;
}

/* The LoRA options of adapter_config.json (label: its path); what this file does not implement
 * is an error naming the field. */
static int parse_config(const cJSON *j, const char *label, model_lora_opts *o) {
    const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "peft_type");
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(j, "r"), *alpha = cJSON_GetObjectItemCaseSensitive(j, "lora_alpha");
    const cJSON *drop = cJSON_GetObjectItemCaseSensitive(j, "lora_dropout");
    const cJSON *tm = cJSON_GetObjectItemCaseSensitive(j, "target_modules");
    if (!cJSON_IsString(type) || strcmp(type->valuestring, "LORA"))
        return err_set("%s: peft_type must be \"LORA\"", label);
    if (!cJSON_IsNumber(r) || r->valuedouble != floor(r->valuedouble))
        return err_set("%s: field \"r\" must be an integer", label);
    if (!cJSON_IsNumber(alpha)) return err_set("%s: field \"lora_alpha\" must be a number", label);
    static const char *const unsupported[] = {"use_dora", "use_rslora", "fan_in_fan_out"};
    for (int i = 0; i < 3; i++)
        if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, unsupported[i])))
            return err_set("%s: \"%s\" is true, which rlvr does not implement", label, unsupported[i]);
    const cJSON *bias = cJSON_GetObjectItemCaseSensitive(j, "bias");
    if (cJSON_IsString(bias) && strcmp(bias->valuestring, "none"))
        return err_set("%s: bias \"%s\", expected \"none\" (trained biases are not implemented)", label,
                       bias->valuestring);
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(j, "rank_pattern");
    if (rp && cJSON_GetArraySize(rp) > 0) return err_set("%s: a rank_pattern is not implemented", label);
    int n = cJSON_IsArray(tm) ? cJSON_GetArraySize(tm) : 1;
    const char **names = mem_calloc((size_t)n, sizeof *names);
    int ok = cJSON_IsString(tm);
    if (ok) names[0] = tm->valuestring;
    for (int i = 0; cJSON_IsArray(tm) && i < n; i++) {
        const cJSON *e = cJSON_GetArrayItem(tm, i);
        ok = cJSON_IsString(e);
        if (!ok) break;
        names[i] = e->valuestring;
    }
    int rc = ok ? model_lora_parse_targets(names, n, &o->targets) : err_set("%s: target_modules must be a list of names", label);
    free(names);
    if (rc) return err_prefix("%s: target_modules", label);
    o->rank = (int64_t)r->valuedouble;
    o->alpha = alpha->valuedouble;
    o->dropout = cJSON_IsNumber(drop) ? drop->valuedouble : 0;
    return 0;
}

/* Copy the adapter tensors of f into m's, each by name, after checking that f holds exactly
 * those, with the shapes of m's. */
static int load_tensors(model *m, const st_file *f, const char *label) {
    model_param_table pt = model_params(m);
    if (st_count(f) != pt.n)
        return err_set("%s: %d tensors, expected %d for the targets and rank of adapter_config.json on this "
                       "base model: the adapter was trained on another base", label, st_count(f), pt.n);
    int rc = 0;
    for (int i = 0; !rc && i < pt.n; i++) {
        const st_tensor *t = st_find(f, pt.names[i]);
        int64_t shape[TS_MAX_DIMS];
        int nd = ts_shape(pt.t[i], shape);
        if (!t) return err_set("%s: tensor \"%s\" is missing: the adapter was trained on another base", label, pt.names[i]);
        if (t->ndim != nd || t->shape[0] != shape[0] || t->shape[1] != shape[1])
            return err_set("%s: tensor \"%s\" has shape (%lld, %lld), expected (%lld, %lld) on this base model: the "
                           "adapter was trained on another base", label, pt.names[i], (long long)t->shape[0],
                           (long long)(t->ndim > 1 ? t->shape[1] : 0), (long long)shape[0], (long long)shape[1]);
        ts_dtype dt = t->dtype == ST_F32 ? TS_F32 : t->dtype == ST_BF16 ? TS_BF16 : TS_F16;
        if (t->dtype != ST_F32 && t->dtype != ST_BF16 && t->dtype != ST_F16)
            return err_set("%s: tensor \"%s\" has dtype %s, expected F32, BF16 or F16", label, pt.names[i],
                           st_dtype_name(t->dtype));
        ts_no_grad_begin();
        ts_scope_begin();
        rc = ts_copy_(pt.t[i], ts_from_data(t->data, t->shape, t->ndim, dt));
        ts_scope_end();
        ts_no_grad_end();
    }
    return rc;
}

int model_lora_config_load(const char *dir, model_lora_opts *o) {
    char path[4200];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    char *text = io_read_file(path, 1 << 20, NULL);
    if (!text) return err_prefix("LoRA adapter");
    cJSON *j = cJSON_Parse(text);
    free(text);
    *o = (model_lora_opts){0};
    int rc = j ? parse_config(j, path, o) : err_set("%s: not valid JSON", path);
    cJSON_Delete(j);
    return rc;
}

int model_lora_load(model *m, const char *dir) {
    char path[4200], label[4200];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    model_lora_opts o;
    if (model_lora_config_load(dir, &o)) return -1;
    if (model_lora_init(m, &o, 0)) return err_prefix("%s", path);
    snprintf(label, sizeof label, "%s/adapter_model.safetensors", dir);
    st_file *f = st_open(label);
    if (!f) return -1;
    const char *want = st_metadata(f, FINGERPRINT_KEY);
    char have[17];
    int rc = want ? model_base_fingerprint(m, have) : 0;
    if (!rc && want && strcmp(want, have))
        rc = err_set("%s: the adapter was trained on another base model (base fingerprint %s, this model's %s): "
                     "load it on the model it was trained from", label, want, have);
    if (!rc) rc = load_tensors(m, f, label);
    st_close(f);
    return rc;
}

model *model_load_adapted(const char *dir, const char *adapter, ts_device dev, ts_dtype dtype) {
    model *m = model_load(dir, dev, dtype);
    if (m && adapter && adapter[0] && model_lora_load(m, adapter)) {
        model_free(m);
        return NULL;
    }
    return m;
}
