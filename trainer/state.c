/* state — what a job saves and restores: the trainer's side of checkpoints (which items, under
 * which names), resuming, and exporting a model as a Hugging Face directory. The file format is
 * ckpt.h's. Layout of one checkpoint:
 *   model/<HF name>          every trained parameter, in its dtype: with LoRA the adapters alone
 *                            (PEFT's names), the frozen base staying in model.path
 *   lora/options, lora/base_fingerprint, lora/base_path   with LoRA: rank, alpha, dropout and
 *                            targets; the fingerprint of the base weights (model.h), checked on
 *                            resume and export; the base model directory, which export reads
 *   optim/<state name>       AdamW state (optim.h names: step, <name>.exp_avg, <name>.exp_avg_sq,
 *                            and <name>.master, the f32 master weights of a bf16 run: export
 *                            writes those)
 *   data/cursor              the training sampler's cursor (epoch, position)
 *   config                   the resolved run config (JSON)
 *   model_config.json        the model directory's config.json text
 *   tokenizer/tokenizer.json, tokenizer/tokenizer_config.json   for export
 *   data_checksums/<name>    the training set's checksum
 * Every item carries its CRC-32 (ckpt.h): resuming takes the newest checkpoint that verifies. */
#include "state.h"

#include "common/err.h"
#include "common/io.h"
#include "common/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a of the resolved config text, as hex. */
static void config_hash(const rlvr_config *c, char out[17]) {
    char *json = cfg_to_json(c);
    uint64_t h = json ? data_fnv1a64(DATA_FNV_OFFSET, json, strlen(json)) : 0;
    free(json);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

/* The "lora/options" text of m's adapters. */
static void lora_options(const model_lora_opts *o, char *buf, size_t cap) {
    snprintf(buf, cap, "%lld %.17g %.17g %u", (long long)o->rank, o->alpha, o->dropout, o->targets);
}

/* lora_options' text back into *o; -1 with err_set when it is not such a text. */
static int parse_lora_options(const char *text, model_lora_opts *o) {
    long long rank;
    if (sscanf(text, "%lld %lf %lf %u", &rank, &o->alpha, &o->dropout, &o->targets) != 4)
        return err_set("item lora/options '%s': expected rank, alpha, dropout and targets", text);
    o->rank = rank;
    return 0;
}

/* "rank 4, alpha 8, dropout 0.1, targets q_proj v_proj" into buf; returns buf. */
static const char *describe_lora(const model_lora_opts *o, char *buf, size_t cap) {
    size_t n = (size_t)snprintf(buf, cap, "rank %lld, alpha %g, dropout %g, targets", (long long)o->rank, o->alpha, o->dropout);
    for (int t = 0; t < MODEL_LORA_NTARGETS && n < cap; t++)
        if (o->targets >> t & 1) n += (size_t)snprintf(buf + n, cap - n, " %s", model_lora_target_names[t]);
    return buf;
}

/* The LoRA items of a checkpoint: what rebuilds the adapters on their base. */
static int put_lora(ckpt_writer *w, const trainer_policy *p) {
    char opts[128], fp[17];
    lora_options(model_lora(p->m), opts, sizeof opts);
    return model_base_fingerprint(p->m, fp) || ckpt_put_string(w, "lora/options", opts) ||
                   ckpt_put_string(w, "lora/base_fingerprint", fp) || ckpt_put_string(w, "lora/base_path", p->dir)
               ? -1
               : 0;
}

/* The checkpoint must be of the policy's kind: full fine-tuning, or LoRA with the same options on
 * the same base (its fingerprint). */
static int check_lora(ckpt_reader *r, const model *m) {
    const model_lora_opts *o = model_lora(m);
    int had = ckpt_has(r, "lora/options");
    if (!o && had)
        return err_set("the run trained LoRA adapters; resume it with its model.lora settings (config.json of "
                       "run.dir)");
    if (o && !had)
        return err_set("the run fine-tuned every weight; resume it without model.lora.targets, or use another "
                       "run.dir");
    if (!o) return 0;
    char *opts = ckpt_get_string(r, "lora/options"), *want = ckpt_get_string(r, "lora/base_fingerprint");
    char now[128], have[17], a[256], b[256];
    lora_options(o, now, sizeof now);
    model_lora_opts then;
    int rc = opts && want && !model_base_fingerprint(m, have) && !parse_lora_options(opts, &then) ? 0 : -1;
    if (!rc && strcmp(opts, now))
        rc = err_set("its LoRA options (%s) differ from model.lora's (%s)", describe_lora(&then, a, sizeof a),
                     describe_lora(o, b, sizeof b));
    if (!rc && strcmp(want, have))
        rc = err_set("its LoRA adapters were trained on another base model (base fingerprint %s, model.path's %s): "
                     "resume with the model.path it was started from", want, have);
    free(opts);
    free(want);
    return rc;
}

int trainer_save(const rlvr_config *c, const trainer_policy *p, optim *o, const data_sampler *s,
                 const data_set *ds, int64_t step, int keep_last) {
    char chash[17];
    config_hash(c, chash);
    ckpt_meta meta = {.step = step, .arch_hash = p->arch_hash, .config_hash = chash};
    ckpt_writer *w = ckpt_writer_open(c->run.dir, &meta);
    if (!w) return -1;
    int rc = -1;
    char path[512];
    model_param_table pt = model_params(p->m);
    for (int i = 0; i < pt.n; i++) {
        snprintf(path, sizeof path, "model/%s", pt.names[i]);
        if (ckpt_put_tensor(w, path, pt.t[i])) goto out;
    }
    for (int i = 0; o && i < optim_state_count(o); i++) {
        snprintf(path, sizeof path, "optim/%s", optim_state_name(o, i));
        if (ckpt_put_tensor(w, path, optim_state_tensor(o, i))) goto out;
    }
    if (model_lora(p->m) && put_lora(w, p)) goto out;
    uint8_t cur[DATA_CURSOR_BYTES];
    data_sampler_save(s, cur);
    char *json = cfg_to_json(c);
    int bad = !json || ckpt_put_bytes(w, "data/cursor", cur, sizeof cur) ||
              ckpt_put_string(w, "config", json) ||
              ckpt_put_string(w, "model_config.json", p->config_json) ||
              ckpt_put_checksum(w, ds->name, ds->checksum);
    free(json);
    if (bad) goto out;
    static const char *const tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char src[1200];
        snprintf(src, sizeof src, "%s/%s", p->dir, tok_files[i]);
        char *text = io_read_file(src, 0, NULL);
        if (!text) continue; /* a gzipped tokenizer.json is exported from its model dir by hand */
        snprintf(path, sizeof path, "tokenizer/%s", tok_files[i]);
        int r = ckpt_put_string(w, path, text);
        free(text);
        if (r) goto out;
    }
    char done[1100];
    if (ckpt_writer_commit(w, keep_last, done, sizeof done)) goto out;
    log_info("checkpoint %s", done);
    rc = 0;
out:
    ckpt_writer_free(w);
    if (rc) err_prefix("checkpoint of step %lld not written (the earlier ones in '%s' are kept)", (long long)step,
                       c->run.dir);
    return rc;
}

/* Load the checkpoint at path, which verified. 1, or -1 with err_set. */
static int load(const rlvr_config *c, const char *path, trainer_policy *p, optim *o, data_sampler *s,
                const data_set *ds, int64_t *step) {
    ckpt_reader *r = ckpt_open(path, p->arch_hash);
    if (!r) return -1;
    int rc = -1;
    model_param_table pt = model_params(p->m);
    uint8_t *cur = NULL;
    size_t cur_len = 0;
    uint64_t sum = 0;
    if (ckpt_get_checksum(r, ds->name, &sum)) goto out;
    if (sum != ds->checksum) {
        err_set("%s: the training data '%s' changed since this checkpoint was written (checksum "
                "%016llx, now %016llx); resume with the same data or start a new run.dir",
                path, ds->name, (unsigned long long)sum, (unsigned long long)ds->checksum);
        goto out;
    }
    if (check_lora(r, p->m) || ckpt_load_tensors(r, "model", pt.names, pt.t, pt.n)) goto out;
    if (o) {
        int k = optim_state_count(o);
        for (int i = 0; i < k; i++) {
            char item[512];
            snprintf(item, sizeof item, "optim/%s", optim_state_name(o, i));
            if (ckpt_get_tensor(r, item, optim_state_tensor(o, i))) goto out;
        }
    }
    if (ckpt_get_bytes(r, "data/cursor", &cur, &cur_len) || data_sampler_restore(s, cur, cur_len))
        goto out;
    *step = ckpt_step(r);
    char chash[17];
    config_hash(c, chash);
    if (strcmp(chash, ckpt_config_hash(r)))
        log_warn("resuming %s with a config that differs from the one it was written with "
                 "(compare %s/config.json with the checkpoint's 'config' item)", path, c->run.dir);
    rc = 1;
out:
    free(cur);
    ckpt_close(r);
    return rc;
}

/* Rename the checkpoints of run.dir above step to <name>.damaged: they failed to verify, and
 * out of the way they neither count towards keep_last nor get resumed from. */
static void set_aside(const rlvr_config *c, int64_t step) {
    char path[1100], aside[1200];
    int64_t s;
    while (ckpt_previous(c->run.dir, INT64_MAX, path, sizeof path, &s) == 1 && s > step) {
        snprintf(aside, sizeof aside, "%s.damaged", path);
        if (rename(path, aside) != 0) {
            log_warn("cannot rename the damaged %s: %s", path, strerror(errno));
            return;
        }
        log_warn("kept the damaged %s as %s", path, aside);
    }
}

int trainer_resume(const rlvr_config *c, trainer_policy *p, optim *o, data_sampler *s,
                   const data_set *ds, int lead, int64_t *step) {
    char path[1100], newest_why[ERR_MSG_MAX] = "";
    int64_t before = INT64_MAX, at = 0;
    int damaged = 0, found;
    while ((found = ckpt_previous(c->run.dir, before, path, sizeof path, &at)) == 1) {
        ckpt_fault f = ckpt_check_file(path, p->arch_hash);
        if (f == CKPT_INCOMPATIBLE) return err_prefix("resume from %s", path);
        if (f == CKPT_FINE) break;
        log_warn("%s; trying the checkpoint before it", err_msg());
        if (!damaged++) snprintf(newest_why, sizeof newest_why, "%s", err_msg());
        before = at;
    }
    if (found < 0) return -1;
    if (found == 0 && damaged)
        return err_set("run.dir '%s' has %d checkpoint%s and none verifies (the newest: %s); move them away "
                       "to start afresh, or use another run.dir",
                       c->run.dir, damaged, damaged > 1 ? "s" : "", newest_why);
    if (found == 0) return 0;
    if (load(c, path, p, o, s, ds, step) < 0) return err_prefix("resume from %s", path);
    if (damaged) {
        log_warn("resumed from %s, the newest checkpoint that verifies (%d newer one%s did not)", path, damaged,
                 damaged > 1 ? "s" : "");
        if (lead) set_aside(c, *step);
    } else {
        log_info("resumed from %s at step %lld", path, (long long)*step);
    }
    return 1;
}

static int write_text(const char *dir, const char *name, const char *text) {
    char path[1300];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return io_write_file(path, text, strlen(text));
}

/* The policy's files into dir, which exists. */
static int write_policy(const trainer_policy *p, const char *dir) {
    if (model_save(p->m, dir, model_dtype(p->m), (size_t)5 << 30)) return -1;
    static const char *const tok_files[] = {"tokenizer.json", "tokenizer_config.json"};
    for (int i = 0; i < 2; i++) {
        char src[1200];
        snprintf(src, sizeof src, "%s/%s", p->dir, tok_files[i]);
        char *text = io_read_file(src, 0, NULL);
        if (!text) {
            if (i == 0) return err_set("cannot read '%s' to export it", src);
            continue;
        }
        int rc = write_text(dir, tok_files[i], text);
        free(text);
        if (rc) return -1;
    }
    return 0;
}

int trainer_export_policy(const trainer_policy *p, const char *dir) {
    char tmp[1200];
    if (io_dir_stage(dir, tmp, sizeof tmp)) return -1;
    if (write_policy(p, tmp)) {
        io_remove_tree(tmp);
        return -1;
    }
    return io_dir_commit(tmp, dir);
}

/* The f32 weights of a checkpoint into pt: the optimiser's master copies where the run kept them
 * (model.dtype bf16), else the model's tensors. */
static int load_master_or_model(ckpt_reader *r, model_param_table pt) {
    char path[512];
    snprintf(path, sizeof path, "optim/%s.master", pt.names[0]);
    if (!ckpt_has(r, path)) return ckpt_load_tensors(r, "model", pt.names, pt.t, pt.n);
    for (int i = 0; i < pt.n; i++) {
        snprintf(path, sizeof path, "optim/%s.master", pt.names[i]);
        if (ckpt_get_tensor(r, path, pt.t[i])) return -1;
    }
    return 0;
}

/* The model of a LoRA checkpoint: its base (lora/base_path, which must still be the base it was
 * trained on) with the checkpoint's adapters. */
static model *lora_model(ckpt_reader *r) {
    char *base = ckpt_get_string(r, "lora/base_path"), *opts = ckpt_get_string(r, "lora/options");
    char *want = ckpt_get_string(r, "lora/base_fingerprint"), have[17];
    model_lora_opts o = {0};
    model *m = base && opts && want ? model_load(base, TS_CPU_DEVICE, TS_F32) : NULL;
    int ok = m && !model_base_fingerprint(m, have);
    if (ok && strcmp(want, have))
        ok = !err_set("the base model %s has changed since the run (base fingerprint %s, now %s): the adapters "
                      "belong to the weights it had then", base, want, have);
    ok = ok && !parse_lora_options(opts, &o) && !model_lora_init(m, &o, 0) && !load_master_or_model(r, model_params(m));
    free(base);
    free(opts);
    free(want);
    if (!ok) {
        model_free(m);
        return NULL;
    }
    return m;
}

/* A full fine-tuning checkpoint's model: its architecture, and its weights. */
static model *full_model(ckpt_reader *r, const char *cfg) {
    model_config mc;
    if (model_config_parse(cfg, strlen(cfg), "checkpoint model/config.json", &mc)) return NULL;
    model *m = model_init_random(&mc, 0, 0.02);
    if (m && load_master_or_model(r, model_params(m))) {
        model_free(m);
        return NULL;
    }
    return m;
}

/* The merged model as a Hugging Face directory into tmp. */
static int write_merged(ckpt_reader *r, const model *m, const char *cfg, const char *tmp) {
    char *tj = ckpt_get_string(r, "tokenizer/tokenizer.json"), *tc = NULL;
    if (tj && ckpt_has(r, "tokenizer/tokenizer_config.json")) tc = ckpt_get_string(r, "tokenizer/tokenizer_config.json");
    int rc = !tj || model_save(m, tmp, TS_F32, (size_t)5 << 30) || write_text(tmp, "config.json", cfg) ||
             write_text(tmp, "tokenizer.json", tj) || (tc && write_text(tmp, "tokenizer_config.json", tc));
    free(tj);
    free(tc);
    return rc ? -1 : 0;
}

int trainer_export_checkpoint(const char *ckpt_path, const char *dir, int peft) {
    ckpt_reader *r = ckpt_open(ckpt_path, NULL);
    if (!r) return -1;
    int rc = -1, lora = ckpt_has(r, "lora/options");
    char *cfg = ckpt_get_string(r, "model_config.json"), tmp[1200];
    model *m = NULL;
    if (peft && !lora) {
        err_set("--peft: the checkpoint holds no LoRA adapters (a full fine-tuning run); export the model without it");
        goto out;
    }
    if (!cfg || !(m = lora ? lora_model(r) : full_model(r, cfg)) || io_dir_stage(dir, tmp, sizeof tmp)) goto out;
    char *base = peft ? ckpt_get_string(r, "lora/base_path") : NULL;
    int bad = peft ? !base || model_lora_save(m, tmp, base) : write_merged(r, m, cfg, tmp);
    free(base);
    if (bad) {
        io_remove_tree(tmp);
        goto out;
    }
    rc = io_dir_commit(tmp, dir);
out:
    if (rc) err_prefix("export %s", ckpt_path);
    free(cfg);
    model_free(m);
    ckpt_close(r);
    return rc;
}

int trainer_export_run(const rlvr_config *c, const trainer_policy *p, const char *job) {
    char dir[1100], tmp[1200];
    snprintf(dir, sizeof dir, "%s/model", c->run.dir);
    if (trainer_export_policy(p, dir)) return -1;
    log_info("%s: model written to %s%s", job, dir, model_lora(p->m) ? " (merged with the LoRA adapters)" : "");
    if (!model_lora(p->m)) return 0;
    snprintf(dir, sizeof dir, "%s/adapter", c->run.dir);
    if (io_dir_stage(dir, tmp, sizeof tmp)) return -1;
    if (model_lora_save(p->m, tmp, p->dir)) {
        io_remove_tree(tmp);
        return -1;
    }
    if (io_dir_commit(tmp, dir)) return -1;
    log_info("%s: LoRA adapter written to %s", job, dir);
    return 0;
}
