/* policy — loading the policy a job trains and the run directory it writes; see train.h. */
#include "train.h"

#include "common/err.h"
#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "data/data.h"
#include "trainer/ckpt.h"
#include "trainer/runenv.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

volatile int trainer_stop_requested;

static void on_signal(int sig) {
    (void)sig;
    trainer_stop_requested = 1;
}

void trainer_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL); /* what Open MPI's mpirun forwards: it aborts on the other two */
}

/* Hash of the fields that decide the shapes and meaning of the weights. */
static void arch_hash(const model_config *mc, char out[17]) {
    char buf[512];
    int n = snprintf(buf, sizeof buf, "%s V%lld D%lld F%lld L%lld H%lld K%lld E%lld tie%d qkvb%d ob%d",
                     model_arch_name(mc->arch), (long long)mc->vocab_size, (long long)mc->hidden_size,
                     (long long)mc->intermediate_size, (long long)mc->num_layers,
                     (long long)mc->num_heads, (long long)mc->num_kv_heads, (long long)mc->head_dim,
                     mc->tie_word_embeddings, mc->qkv_bias, mc->o_bias);
    snprintf(out, 17, "%016llx", (unsigned long long)data_fnv1a64(DATA_FNV_OFFSET, buf, (size_t)n));
}

const cfg_choice trainer_dtype_choices[] = {{"f32", TS_F32}, {"bf16", TS_BF16}, {NULL, 0}};

int trainer_policy_load(trainer_policy *p, const rlvr_config *c, const char *dir, const ts_device *pick) {
    memset(p, 0, sizeof *p);
    const char *adapter = dir ? NULL : c->model.adapter; /* model.adapter belongs to model.path */
    if (!dir) dir = c->model.path;
    if (!dir || !dir[0]) return err_set("model.path is not set: the model directory to start from");
    snprintf(p->dir, sizeof p->dir, "%s", dir);
    ts_device dev;
    if (pick) dev = *pick;
    else if (ts_device_parse(c->model.device, &dev)) return err_prefix("model.device");
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (!(p->config_json = io_read_file(path, 1 << 20, NULL))) goto fail;
    int dtype;
    if (cfg_choice_value(c, "model.dtype", trainer_dtype_choices, &dtype)) goto fail;
    if (!(p->m = model_load_adapted(dir, adapter, dev, (ts_dtype)dtype))) goto fail;
    if (!(p->tok = tok_load(dir))) goto fail;
    const model_config *mc = model_get_config(p->m);
    if (tok_vocab_size(p->tok) > mc->vocab_size) {
        err_set("%s: the tokenizer has %d tokens, more than the model's vocab_size %lld", dir,
                tok_vocab_size(p->tok), (long long)mc->vocab_size);
        goto fail;
    }
    for (int i = 0; i < mc->n_eos && p->n_eos < TRAINER_MAX_EOS; i++) p->eos[p->n_eos++] = (int32_t)mc->eos_token_ids[i];
    int32_t te = tok_eos_id(p->tok);
    int have = 0;
    for (int i = 0; i < p->n_eos; i++) have |= p->eos[i] == te;
    if (te >= 0 && !have && p->n_eos < TRAINER_MAX_EOS) p->eos[p->n_eos++] = te;
    if (p->n_eos == 0) {
        err_set("%s: no EOS token in config.json (eos_token_id) or tokenizer_config.json (eos_token)", dir);
        goto fail;
    }
    const char *tmpl = cfg_enum_name(c, "model.chat_template"); /* a name chat_template_init knows */
    if (!strcmp(tmpl, "auto")) {
        const char *jinja = tok_chat_template(p->tok);
        if (jinja && jinja[0]) {
            if (chat_template_detect(&p->tmpl, jinja, NULL)) goto fail;
            p->use_template = 1;
        }
    } else if (strcmp(tmpl, "none")) {
        if (chat_template_init(&p->tmpl, tmpl, p->tok)) goto fail;
        p->use_template = 1;
    }
    arch_hash(mc, p->arch_hash);
    return 0;
fail:
    trainer_policy_free(p);
    return -1;
}

void trainer_policy_free(trainer_policy *p) {
    if (!p) return;
    model_free(p->m);
    tok_free(p->tok);
    if (p->use_template) chat_template_free(&p->tmpl);
    free(p->config_json);
    memset(p, 0, sizeof *p);
}

int trainer_lora_opts(const rlvr_config *c, model_lora_opts *o) {
    *o = (model_lora_opts){.rank = c->model.lora.rank, .alpha = c->model.lora.alpha, .dropout = c->model.lora.dropout};
    const cfg_strlist *t = &c->model.lora.targets;
    return model_lora_parse_targets((const char *const *)t->v, t->n, &o->targets) ? err_prefix("model.lora.targets") : 0;
}

int trainer_memory_check(const rlvr_config *c, int kl_reference) {
    const char *dir = c->model.path, *adapter = c->model.adapter;
    if (!dir || !dir[0]) return err_set("model.path is not set: the model directory to start from");
    char path[1200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    model_config mc;
    model_lora_opts lo;
    if (model_config_load(path, &mc) || (adapter && adapter[0] ? model_lora_config_load(adapter, &lo) : trainer_lora_opts(c, &lo)))
        return -1;
    int lora = lo.targets != 0;
    int64_t n, a;
    model_config_num_elements(&mc, lora ? &lo : NULL, &n, &a);
    double w = strcmp(cfg_enum_name(c, "model.dtype"), "f32") ? 2 : 4; /* bytes of a weight */
    int masters = c->optim.master_weights && w < 4;                    /* optim.h: state in f32 */
    double gib = 1024.0 * 1024 * 1024, trained = (double)(lora ? a : n);
    double part[] = {(double)(n + a) * w, kl_reference && !lora ? (double)n * w : 0, trained * w,
                     2 * trained * (masters ? 4 : w), masters ? trained * 4 : 0};
    double total = 0;
    for (int i = 0; i < 5; i++) total += part[i] /= gib;
    char parts[256];
    snprintf(parts, sizeof parts, "weights %.3g, KL reference %.3g, gradients %.3g, AdamW moments %.3g, f32 masters %.3g GiB",
             part[0], part[1], part[2], part[3], part[4]);
    log_info("memory: the training state is about %.3g GiB on %s (%s; activations, logits and the KV cache come on "
             "top); this machine has %.0f GiB", total, c->model.device, parts, run_env_memory_gib());
    double cap = c->train.memory_limit_gib;
    if (cap > 0 && total > cap)
        return err_set("train.memory_limit_gib %g: the training state of %s is estimated at %.3g GiB (%s), more than "
                       "the cap before activations, logits and the KV cache; train LoRA adapters (model.lora.targets)"
                       "%s, or raise the cap", cap, dir, total, parts, part[1] > 0 ? ", drop the KL term (algo.kl.coef 0)" : "");
    return 0;
}

/* model.lora.targets given: the adapters the run trains. A policy that came with an adapter
 * (model.adapter) trains that one, with its own rank and targets. */
static int add_adapters(trainer_policy *p, const rlvr_config *c) {
    model_lora_opts o;
    if (trainer_lora_opts(c, &o)) return -1;
    if (model_lora(p->m)) {
        if (o.targets) log_info("LoRA: training the adapter of model.adapter %s with its own rank and targets", c->model.adapter);
        return 0;
    }
    if (!o.targets) return 0;
    if (model_lora_init(p->m, &o, (uint64_t)c->run.seed)) return err_prefix("model.lora");
    model_param_table pt = model_params(p->m);
    int64_t n = 0;
    for (int i = 0; i < pt.n; i++) n += ts_numel(pt.t[i]);
    log_info("LoRA: rank %lld, alpha %g, %d adapter tensors, %lld trained parameters of %lld (%.3f%%)",
             (long long)o.rank, o.alpha, pt.n, (long long)n, (long long)model_num_elements(p->m),
             100.0 * (double)n / (double)model_num_elements(p->m));
    return 0;
}

int trainer_policy_trainable(trainer_policy *p, const rlvr_config *c) {
    if (add_adapters(p, c)) return -1;
    model_param_table pt = model_params(p->m);
    for (int i = 0; i < pt.n; i++)
        if (ts_set_requires_grad(pt.t[i], 1)) return -1;
    return 0;
}

int trainer_policy_prompt(const trainer_policy *p, const char *text, tok_ids *out) {
    out->n = 0;
    if (!p->use_template) return tok_encode(p->tok, text, strlen(text), 1, out);
    chat_msg msg = {"user", text};
    char *rendered = chat_render(&p->tmpl, &msg, 1, 1, 1);
    if (!rendered) return -1;
    int rc = tok_encode(p->tok, rendered, strlen(rendered), 0, out);
    free(rendered);
    return rc;
}

int trainer_run_dir_prepare(const rlvr_config *c, int may_resume) {
    if (io_mkdir_p(c->run.dir)) return err_prefix("run.dir");
    char path[1100];
    if (!may_resume && ckpt_latest(c->run.dir, path, sizeof path) == 1)
        return err_set("run.dir '%s' already holds checkpoints (%s) and train.resume is never: choose "
                       "another run.dir or set train.resume=auto", c->run.dir, path);
    return 0;
}

/* Cut run.dir/name back to its lines of steps 0..step ({"step": N, ...}, N rising); a line cut
 * short by a crash, and every line after it, goes too. A missing file is fine. */
static int trim_steps(const rlvr_config *c, const char *name, int64_t step) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", c->run.dir, name);
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : err_set("cannot read '%s': %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    off_t keep = 0;
    long long s, prev = -1;
    while ((n = getline(&line, &cap, f)) > 0 && line[n - 1] == '\n' &&
           sscanf(line, "{\"step\": %lld", &s) == 1 && s > prev && s <= step) {
        keep += n;
        prev = s;
    }
    free(line);
    fclose(f);
    if (truncate(path, keep) != 0) return err_set("cannot cut '%s' back to step %lld: %s", path, (long long)step,
                                                  strerror(errno));
    return 0;
}

int trainer_run_dir_sync(const rlvr_config *c, int64_t step) {
    /* a fresh start (step 0) drops every evaluation, its own step-0 one included, as it makes that anew */
    if (trim_steps(c, "metrics.jsonl", step) || trim_steps(c, "eval.jsonl", step ? step : -1)) return -1;
    char *json = cfg_to_json(c);
    char path[1100], tmp[1200];
    snprintf(path, sizeof path, "%s/config.json", c->run.dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int rc = io_write_file(tmp, json, strlen(json));
    free(json);
    if (rc == 0 && rename(tmp, path) != 0) rc = err_set("cannot write '%s': %s", path, strerror(errno));
    if (rc) unlink(tmp);
    return rc ? rc : run_env_append(c, step);
}

int trainer_run_has_model(const rlvr_config *c, int64_t step) {
    char model[1100], ckpt[1100];
    struct stat m, k;
    snprintf(model, sizeof model, "%s/model/config.json", c->run.dir);
    snprintf(ckpt, sizeof ckpt, "%s/ckpt-%08lld.h5", c->run.dir, (long long)step);
    if (stat(model, &m) != 0) return 0;
    if (stat(ckpt, &k) != 0) return 1;
    return m.st_mtim.tv_sec > k.st_mtim.tv_sec ||
           (m.st_mtim.tv_sec == k.st_mtim.tv_sec && m.st_mtim.tv_nsec >= k.st_mtim.tv_nsec);
}

FILE *trainer_run_file(const rlvr_config *c, const char *name) {
    char path[1100];
    snprintf(path, sizeof path, "%s/%s", c->run.dir, name);
    FILE *f = fopen(path, "a");
    if (!f) err_set("cannot open '%s' for writing: %s", path, strerror(errno));
    return f;
}

void trainer_json_number(FILE *f, const char *key, const char *fmt, double v) {
    fprintf(f, ", \"%s\": ", key);
    if (isfinite(v)) fprintf(f, fmt, v);
    else fputs("null", f);
}

int trainer_tboard_open(const rlvr_config *c, int64_t step, tboard **out) {
    *out = NULL;
    if (!c->run.tensorboard) return 0;
    tboard *t = tboard_open(c->run.dir, step);
    if (!t) return err_prefix("run.tensorboard");
    char *json = cfg_to_json(c);
    size_t n = strlen(json) + 16;
    char *md = mem_alloc(n);
    snprintf(md, n, "```json\n%s\n```", json); /* a code block for the Markdown renderer */
    int rc = tboard_text(t, "config", step, md);
    free(md);
    free(json);
    if (rc || tboard_flush(t)) {
        tboard_close(t);
        return -1;
    }
    *out = t;
    return 0;
}
