/* test_lora — LoRA adapters of model.h on a tiny random Qwen2 (q/k/v biases, GQA, untied head).
 *
 * Checked: a fresh adapter (B = 0) leaves the log-probs bit for bit; with adapters only they get
 * gradients, the base none; those gradients against central finite differences of the loss (the
 * model runs in f32, so each difference is taken over a step of 1e-2 on the elements with the
 * largest gradients, where the f32 rounding of the loss, ~1e-6 relative, divided by the step stays
 * far below the 1e-2 relative tolerance: measured worst below), and with activation checkpointing
 * the same within 1e-5; the merged model that model_save
 * writes scores as base + adapter within 1e-5 and, with the adapters switched off, the model is
 * the base bit for bit; a PEFT directory written and read back gives the same log-probs, and is
 * refused on another base; dropout draws follow their key; the optimiser state shrinks to the
 * adapters' (printed: bytes with and without LoRA); bad ranks, targets and adapter configs give
 * one error each; no handle leaks. */
#include "check.h"

#include "common/err.h"
#include "common/io.h"
#include "model/model.h"
#include "optim/optim.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define TARGETS_ALL ((1u << MODEL_LORA_NTARGETS) - 1)

static model *tiny(uint64_t seed) {
    static const char json[] =
        "{\"model_type\": \"qwen2\", \"vocab_size\": 64, \"hidden_size\": 32, \"intermediate_size\": 48, "
        "\"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2, "
        "\"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, \"max_position_embeddings\": 64, "
        "\"tie_word_embeddings\": false}";
    model_config c;
    if (model_config_parse(json, strlen(json), "tiny", &c)) return NULL;
    return model_init_random(&c, seed, 0.3);
}

static ts_tensor *batch_ids(void) {
    static const int64_t ids[2 * 7] = {3, 17, 40, 5, 9, 22, 61, 8, 1, 33, 12, 50, 7, 2};
    return ts_from_data(ids, (int64_t[]){2, 7}, 2, TS_I64);
}

/* A fixed scalar of the log-probs: sum of lp * w with w from -1 to 1, so every token counts. */
static ts_tensor *loss_of(model *m) {
    ts_tensor *lp = NULL;
    if (model_forward_logprobs(m, batch_ids(), NULL, 0, &lp, NULL)) return NULL;
    ts_tensor *w = ts_view(ts_arange(-1, 1, 2.0 / 12, TS_F32, TS_CPU_DEVICE), (int64_t[]){2, 6}, 2);
    return ts_sum(ts_mul(lp, w));
}

static double loss_value(model *m) {
    double v = NAN;
    ts_no_grad_begin();
    ts_scope_begin();
    if (ts_item_f64(loss_of(m), &v)) v = NAN;
    ts_scope_end();
    ts_no_grad_end();
    return v;
}

static double max_abs_diff(const ts_tensor *a, const ts_tensor *b) {
    double d = INFINITY;
    if (ts_item_f64(ts_max(ts_abs(ts_sub(a, b))), &d)) return INFINITY;
    return d;
}

static ts_tensor *logprobs(model *m) {
    ts_tensor *lp = NULL;
    ts_no_grad_begin();
    if (model_forward_logprobs(m, batch_ids(), NULL, 0, &lp, NULL)) lp = NULL;
    ts_no_grad_end();
    return lp;
}

/* Give every B a random value (a fresh adapter's B is zero and A would get no gradient). */
static void randomise_b(model *m, uint64_t seed) {
    model_param_table pt = model_params(m);
    ts_generator *g = ts_generator_init(seed);
    ts_no_grad_begin();
    for (int i = 1; i < pt.n; i += 2) CHECK(ts_normal_(pt.t[i], 0, 0.2, g) != NULL);
    ts_no_grad_end();
    ts_generator_free(g);
}

static model *tiny_lora(uint64_t seed, unsigned targets, int64_t rank) {
    model *m = tiny(seed);
    model_lora_opts o = {.rank = rank, .alpha = 2.0 * (double)rank, .dropout = 0, .targets = targets};
    if (!m || model_lora_init(m, &o, seed)) {
        fprintf(stderr, "tiny_lora: %s\n", err_msg());
        model_free(m);
        return NULL;
    }
    randomise_b(m, seed + 100);
    return m;
}

/* B = 0 at init: the adapted model is the base model, bit for bit. */
static void test_fresh_adapter_is_identity(void) {
    model *m = tiny(1);
    CHECK(m != NULL);
    if (!m) return;
    ts_scope_begin();
    ts_tensor *base = logprobs(m);
    model_lora_opts o = {.rank = 4, .alpha = 8, .targets = TARGETS_ALL};
    CHECK(model_lora_init(m, &o, 1) == 0);
    CHECK(model_params(m).n == 2 * 7 * 2); /* A and B, 7 targets, 2 layers */
    CHECK(model_base_params(m).n == 2 + 2 * 12 + 1);
    CHECK(max_abs_diff(logprobs(m), base) == 0);
    ts_scope_end();
    model_free(m);
}

/* Only the adapters get gradients; each against central differences on its largest entries. */
static void test_gradients_fd(void) {
    model *m = tiny_lora(2, TARGETS_ALL, 4);
    CHECK(m != NULL);
    if (!m) return;
    model_param_table pt = model_params(m), base = model_base_params(m);
    for (int i = 0; i < pt.n; i++) CHECK(ts_set_requires_grad(pt.t[i], 1) == 0);
    ts_scope_begin();
    CHECK(ts_backward(loss_of(m)) == 0);
    ts_scope_end();
    int base_grads = 0;
    for (int i = 0; i < base.n; i++) base_grads += ts_has_grad(base.t[i]);
    CHECK(base_grads == 0);
    const double step = 1e-2;
    double worst = 0;
    for (int i = 0; i < pt.n; i++) {
        CHECK(ts_has_grad(pt.t[i]));
        ts_scope_begin();
        ts_tensor *g = ts_reshape(ts_grad(pt.t[i]), (int64_t[]){-1}, 1), *vals, *idx;
        CHECK(ts_topk(ts_abs(g), 2, 0, 1, &vals, &idx) == 0);
        int64_t at[2];
        CHECK(ts_to_host(idx, at, sizeof at) == 0);
        ts_tensor *flat = ts_reshape(pt.t[i], (int64_t[]){-1}, 1);
        for (int k = 0; k < 2; k++) {
            double want, w0;
            ts_tensor *e = ts_select(flat, 0, at[k]);
            CHECK(ts_item_f64(ts_select(g, 0, at[k]), &want) == 0 && ts_item_f64(e, &w0) == 0);
            ts_no_grad_begin();
            ts_fill_(e, w0 + step);
            double up = loss_value(m);
            ts_fill_(e, w0 - step);
            double down = loss_value(m);
            ts_fill_(e, w0);
            ts_no_grad_end();
            double fd = (up - down) / (2 * step), rel = fabs(fd - want) / fabs(want);
            if (rel > worst) worst = rel;
            CHECK_CLOSE(fd, want, 1e-4, 1e-2);
        }
        ts_scope_end();
    }
    printf("LoRA gradients vs finite differences: worst relative difference %.3g over %d entries\n", worst, 2 * pt.n);
    /* activation checkpointing: the same gradients, recomputed inside each layer */
    ts_scope_begin();
    ts_tensor **plain = calloc(pt.n > 0 ? (size_t)pt.n : 1, sizeof *plain);
    for (int i = 0; i < pt.n; i++) plain[i] = ts_clone(ts_grad(pt.t[i]));
    model_zero_grad(m);
    model_set_activation_checkpointing(m, 1);
    CHECK(ts_backward(loss_of(m)) == 0);
    double dmax = 0;
    for (int i = 0; i < pt.n; i++) dmax = fmax(dmax, ts_has_grad(pt.t[i]) ? max_abs_diff(ts_grad(pt.t[i]), plain[i]) : INFINITY);
    CHECK(dmax < 1e-5);
    free(plain);
    ts_scope_end();
    model_zero_grad(m);
    for (int i = 0; i < pt.n; i++) CHECK(!ts_has_grad(pt.t[i]));
    model_free(m);
}

static void remove_dir(const char *dir) {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
}

/* The merged model model_save writes scores as base + adapter; switched off, the base. */
static void test_merged_and_switch(void) {
    model *m = tiny_lora(3, (1u << MODEL_LORA_Q) | (1u << MODEL_LORA_V) | (1u << MODEL_LORA_DOWN), 8);
    model *base = tiny(3);
    CHECK(m && base);
    if (!m || !base) goto out;
    char dir[] = "/tmp/test_lora_merged_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(model_save(m, dir, TS_F32, (size_t)1 << 30) == 0);
    model *merged = model_load(dir, TS_CPU_DEVICE, TS_F32);
    CHECK(merged != NULL);
    ts_scope_begin();
    ts_tensor *with = logprobs(m);
    double d = merged ? max_abs_diff(logprobs(merged), with) : INFINITY;
    printf("merged model vs base + adapter: max |log-prob difference| %.3g\n", d);
    CHECK(d < 1e-5);
    CHECK(max_abs_diff(logprobs(base), with) > 1e-2); /* the adapter changes the model */
    model_lora_set_enabled(m, 0);
    CHECK(max_abs_diff(logprobs(m), logprobs(base)) == 0);
    model_lora_set_enabled(m, 1);
    CHECK(max_abs_diff(logprobs(m), with) == 0);
    ts_scope_end();
    model_free(merged);
    remove_dir(dir);
out:
    model_free(m);
    model_free(base);
}

static void write_text(const char *dir, const char *name, const char *text) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    CHECK(io_write_file(path, text, strlen(text)) == 0);
}

/* A PEFT directory read back onto the same base gives the same model; onto another base, a
 * config rlvr does not implement, or a second adapter: one error each. */
static void test_peft_dir(void) {
    model *m = tiny_lora(4, (1u << MODEL_LORA_K) | (1u << MODEL_LORA_O) | (1u << MODEL_LORA_UP), 3);
    model *same = tiny(4), *other = tiny(5);
    CHECK(m && same && other);
    if (!m || !same || !other) goto out;
    char dir[] = "/tmp/test_lora_peft_XXXXXX";
    CHECK(mkdtemp(dir) != NULL);
    CHECK(model_lora_save(m, dir, "tiny-base") == 0);
    CHECK(model_lora_load(same, dir) == 0);
    ts_scope_begin();
    CHECK(max_abs_diff(logprobs(same), logprobs(m)) == 0);
    ts_scope_end();
    CHECK(model_lora_load(same, dir) == -1);
    CHECK_CONTAINS(err_msg(), "has adapters already");
    CHECK(model_lora_load(other, dir) == -1);
    CHECK_CONTAINS(err_msg(), "trained on another base model");
    char path[128];
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    char *cfg = io_read_file(path, 0, NULL);
    CHECK(cfg && strstr(cfg, "\"peft_type\":\t\"LORA\"") && strstr(cfg, "\"r\":\t3"));
    free(cfg);
    model_free(other);
    other = tiny(4);
    write_text(dir, "adapter_config.json",
               "{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"k_proj\"], "
               "\"use_dora\": true}");
    CHECK(model_lora_load(other, dir) == -1);
    CHECK_CONTAINS(err_msg(), "\"use_dora\" is true");
    write_text(dir, "adapter_config.json",
               "{\"peft_type\": \"LORA\", \"r\": 3, \"lora_alpha\": 6, \"target_modules\": [\"k_proj\"]}");
    model_free(other);
    other = tiny(4);
    CHECK(model_lora_load(other, dir) == -1); /* the file holds k, o and up: not this config's */
    CHECK_CONTAINS(err_msg(), "tensors, expected 4");
    remove_dir(dir);
out:
    model_free(m);
    model_free(same);
    model_free(other);
}

/* Dropout draws: none without a key or without gradients; the same key drops the same inputs. */
static void test_dropout(void) {
    model *m = tiny(6);
    model_lora_opts o = {.rank = 4, .alpha = 4, .dropout = 0.5, .targets = TARGETS_ALL};
    CHECK(m && model_lora_init(m, &o, 6) == 0);
    if (!m) return;
    randomise_b(m, 7);
    ts_scope_begin();
    ts_tensor *plain = logprobs(m), *a, *b, *c;
    model_lora_set_dropout_key(m, 99);
    CHECK(max_abs_diff(logprobs(m), plain) == 0); /* no gradients recorded: no dropout */
    CHECK(model_forward_logprobs(m, batch_ids(), NULL, 0, &a, NULL) == 0);
    CHECK(model_forward_logprobs(m, batch_ids(), NULL, 0, &b, NULL) == 0);
    model_lora_set_dropout_key(m, 100);
    CHECK(model_forward_logprobs(m, batch_ids(), NULL, 0, &c, NULL) == 0);
    CHECK(max_abs_diff(a, b) == 0);
    CHECK(max_abs_diff(a, plain) > 1e-3);
    CHECK(max_abs_diff(a, c) > 1e-3);
    ts_scope_end();
    model_free(m);
}

static size_t state_bytes(model *m) {
    model_param_table pt = model_params(m);
    optim_opts oo = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .total_steps = 1};
    optim *o = optim_init(pt.t, pt.names, pt.n, &oo);
    CHECK(o != NULL);
    size_t bytes = 0;
    for (int i = 0; o && i < optim_state_count(o); i++) {
        ts_tensor *t = optim_state_tensor(o, i);
        bytes += (size_t)ts_numel(t) * ts_dtype_size(ts_get_dtype(t));
    }
    optim_free(o);
    return bytes;
}

static int64_t elements(model_param_table pt) {
    int64_t n = 0;
    for (int i = 0; i < pt.n; i++) n += ts_numel(pt.t[i]);
    return n;
}

/* AdamW keeps two f32 moments per trained element and a step count per tensor: with adapters,
 * those of the adapters alone. */
static void test_optimizer_state(void) {
    model *full = tiny(8), *lora = tiny_lora(8, TARGETS_ALL, 4);
    CHECK(full && lora);
    if (!full || !lora) goto out;
    size_t fb = state_bytes(full), lb = state_bytes(lora);
    model_param_table fp = model_params(full), lp = model_params(lora);
    printf("optimiser state: %zu bytes full fine-tuning (%lld parameters), %zu bytes LoRA r=4 on all 7 "
           "projections (%lld parameters), %.1f%%\n", fb, (long long)elements(fp), lb, (long long)elements(lp),
           100.0 * (double)lb / (double)fb);
    CHECK(fb == (size_t)(8 * elements(fp) + 8 * fp.n));
    CHECK(lb == (size_t)(8 * elements(lp) + 8 * lp.n));
    CHECK(lb * 4 < fb);
out:
    model_free(full);
    model_free(lora);
}

/* model_config_num_elements, from the config alone, counts what a made model holds: its weights
 * (this one untied, with q/k/v biases) and the adapters of each target set. */
static void test_config_counts(void) {
    const unsigned sets[] = {1u << MODEL_LORA_Q, (1u << MODEL_LORA_K) | (1u << MODEL_LORA_DOWN), TARGETS_ALL};
    int same = 1;
    for (int k = 0; k < 3; k++) {
        model *m = tiny_lora(10, sets[k], 3);
        CHECK(m != NULL);
        if (!m) return;
        model_lora_opts o = {.rank = 3, .alpha = 6, .targets = sets[k]};
        int64_t w, a, w0, a0;
        model_config_num_elements(model_get_config(m), &o, &w, &a);
        model_config_num_elements(model_get_config(m), NULL, &w0, &a0);
        same &= w == elements(model_base_params(m)) && w == model_num_elements(m) &&
                a == elements(model_params(m)) && w0 == w && a0 == 0;
        model_free(m);
    }
    CHECK(same);
}

/* Each bad input: one error that names it. */
static void test_bad_inputs(void) {
    model *m = tiny(9);
    CHECK(m != NULL);
    if (!m) return;
    model_lora_opts o = {.rank = 0, .alpha = 8, .targets = 1u << MODEL_LORA_Q};
    CHECK(model_lora_init(m, &o, 1) == -1);
    CHECK_CONTAINS(err_msg(), "LoRA rank 0: expected at least 1");
    o.rank = 33; /* q_proj is (32, 32) */
    CHECK(model_lora_init(m, &o, 1) == -1);
    CHECK_CONTAINS(err_msg(), "LoRA rank 33 exceeds the width of q_proj (32 x 32): expected at most 32");
    o.rank = 17;
    o.targets = 1u << MODEL_LORA_K; /* k_proj is (16, 32) with 2 of 4 heads */
    CHECK(model_lora_init(m, &o, 1) == -1);
    CHECK_CONTAINS(err_msg(), "k_proj (16 x 32): expected at most 16");
    o.targets = 0;
    CHECK(model_lora_init(m, &o, 1) == -1);
    CHECK_CONTAINS(err_msg(), "LoRA targets name no layer");
    CHECK(model_params(m).n == model_base_params(m).n); /* nothing was added */
    unsigned t;
    const char *good[] = {"q, v_proj", "gate"};
    CHECK(model_lora_parse_targets(good, 2, &t) == 0);
    CHECK(t == ((1u << MODEL_LORA_Q) | (1u << MODEL_LORA_V) | (1u << MODEL_LORA_GATE)));
    const char *bad[] = {"q,lm_head"};
    CHECK(model_lora_parse_targets(bad, 1, &t) == -1);
    CHECK_CONTAINS(err_msg(), "LoRA target 'lm_head' names no layer");
    model_free(m);
}

int main(void) {
    ts_set_num_threads(1);
    int64_t start = ts_live_handles();
    test_fresh_adapter_is_identity();
    test_gradients_fd();
    test_merged_and_switch();
    test_peft_dir();
    test_dropout();
    test_optimizer_state();
    test_config_counts();
    test_bad_inputs();
    CHECK(ts_live_handles() == start);
    CHECK_DONE();
}
