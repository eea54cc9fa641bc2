/* sft — `rlvr sft`: supervised warm-up on prompt/response pairs, the cold start Thinkless and
 * "Warm Up Before You Train" use before RL. The loss is the mean negative log-likelihood of the
 * response tokens (and the EOS that ends them) over the batch; prompt tokens carry no loss.
 * Built-in tasks offer each problem in <think> and <short> form; sft.mode picks one or both
 * (each example's form then drawn by a counter-based coin, so the mix is half and half). */
#include "train.h"

#include "batch.h"
#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "common/rng.h"
#include "dist/dist.h"
#include "state.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct sft_row {
    tok_ids prompt, resp;
} sft_row;

/* Tokens of example i: the prompt as the policy renders it; the response, then EOS. */
static int make_row(const trainer_policy *p, const rlvr_config *c, const data_example *e,
                    uint64_t draw, sft_row *row) {
    const char *resp = e->response, *mode = cfg_enum_name(c, "sft.mode");
    int short_only = !strcmp(mode, "short"), both = !strcmp(mode, "both");
    if (short_only || (both && e->response_short && (rng_uniform(c->run.seed, 0x5f7, draw, 0, 0) < 0.5)))
        resp = e->response_short ? e->response_short : NULL;
    if (!resp)
        return err_set("example %lld of the training set has no %s response: SFT needs targets "
                       "(data.fields.response for JSONL)", (long long)draw, short_only ? "<short>" : "");
    if (trainer_policy_prompt(p, e->prompt, &row->prompt)) return -1;
    row->resp.n = 0;
    if (tok_encode(p->tok, resp, strlen(resp), 0, &row->resp)) return -1;
    tok_ids_push(&row->resp, p->eos[0]);
    return 0;
}

/* One optimiser step on a batch; *loss and *tokens get the mean NLL and the response tokens. */
static int sft_step(trainer_policy *p, optim *o, double lr, sft_row *rows, int n, double *loss,
                    int64_t *tokens, optim_step_info *info) {
    trainer_seq *seqs = mem_alloc(sizeof *seqs * (size_t)n);
    for (int i = 0; i < n; i++)
        seqs[i] = (trainer_seq){rows[i].prompt.v, rows[i].prompt.n, rows[i].resp.v, rows[i].resp.n};
    int rc = -1;
    ts_scope_begin();
    ts_tensor *ids, *mask, *lp;
    int64_t P, T = trainer_pack(seqs, n, model_device(p->m), &ids, &mask, &P);
    if (T <= 0) goto out;
    /* log-prob column P - 1 + j predicts response token j; the prompt's own columns are skipped */
    float *w = mem_calloc((size_t)(n * (T - P)), sizeof *w);
    int64_t count = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < seqs[i].rlen; j++, count++) w[i * (T - P) + j] = 1;
    ts_tensor *wt = ts_from_host(w, (int64_t[]){n, T - P}, 2, TS_F32, model_device(p->m));
    free(w);
    if (model_forward_logprobs_from(p->m, ids, mask, P - 1, 0, &lp, NULL)) goto out;
    ts_tensor *l = ts_div_scalar(ts_neg(ts_sum(ts_mul(lp, wt))), (double)count);
    if (!l || ts_backward(l) || ts_item_f64(l, loss)) goto out;
    *tokens = count;
    rc = optim_step(o, lr, info);
out:
    ts_scope_end();
    model_zero_grad(p->m);
    free(seqs);
    return rc;
}

/* The optimiser's options: optim.* with sft's learning rate, warm-up and cosine schedule. */
static int sft_optim_opts(const rlvr_config *c, optim_opts *oo) {
    if (optim_opts_from_cfg(c, oo)) return -1;
    oo->lr = c->sft.lr;
    oo->min_lr = c->sft.min_lr;
    oo->warmup_steps = c->sft.warmup_steps;
    oo->total_steps = c->sft.steps;
    oo->schedule = OPTIM_SCHED_COSINE;
    return optim_opts_check(oo);
}

/* The next n examples of the sampler, as rows. */
static int sft_draw(const trainer_policy *p, const rlvr_config *c, const data_set *ds, data_sampler *smp,
                    sft_row *rows, int n) {
    for (int i = 0; i < n; i++) {
        uint64_t draw = (uint64_t)(smp->epoch * ds->n + smp->pos);
        int64_t idx = data_sampler_next(smp);
        if (make_row(p, c, &ds->ex[idx], draw, &rows[i])) return -1;
    }
    return 0;
}

/* One step's figures. */
typedef struct sft_figures {
    double loss, lr, seconds;
    int64_t tokens;
    optim_step_info info;
} sft_figures;

/* One step's line of metrics.jsonl and its TensorBoard scalars. */
static int sft_record(const rlvr_config *c, FILE *mf, tboard *tb, int64_t step, const sft_figures *f) {
    double tps = (double)f->tokens / f->seconds;
    fprintf(mf, "{\"step\": %lld", (long long)step);
    trainer_json_number(mf, "loss", "%.6f", f->loss);
    trainer_json_number(mf, "lr", "%.6g", f->lr);
    trainer_json_number(mf, "grad_norm", "%.6g", f->info.grad_norm);
    trainer_json_number(mf, "skipped", "%.0f", f->info.skipped);
    trainer_json_number(mf, "tokens", "%.0f", (double)f->tokens);
    trainer_json_number(mf, "tokens_per_s", "%.1f", tps);
    trainer_json_number(mf, "step_s", "%.4f", f->seconds);
    fputs("}\n", mf);
    if (fflush(mf) != 0 || ferror(mf))
        return err_set("cannot write '%s/metrics.jsonl': %s", c->run.dir, strerror(errno));
    if (!tb) return 0;
    if (tboard_scalar(tb, "loss", step, f->loss) || tboard_scalar(tb, "lr", step, f->lr) ||
        tboard_scalar(tb, "grad_norm", step, f->info.grad_norm) || tboard_scalar(tb, "tokens_per_s", step, tps))
        return -1;
    return step % c->train.log_every == 0 ? tboard_flush(tb) : 0;
}

/* After the last step: the final checkpoint unless the last step saved one, then (unless stopped
 * by a signal) the model in run.dir/model. */
static int sft_finish(const rlvr_config *c, trainer_policy *p, optim *o, data_sampler *smp, const data_set *ds,
                      int64_t step, int64_t saved) {
    if (step != saved && trainer_save(c, p, o, smp, ds, step, (int)c->train.keep_last)) return -1;
    if (trainer_stop_requested) return 0;
    return trainer_export_run(c, p, "sft");
}

/* The training loop from step to sft.steps (or a signal); *step and *saved follow it. */
static int sft_loop(const rlvr_config *c, trainer_policy *p, optim *o, const optim_opts *oo, data_set *ds,
                    data_sampler *smp, FILE *mf, tboard *tb, sft_row *rows, int64_t *step, int64_t *saved) {
    int n_rows = (int)c->sft.batch_size;
    log_info("sft: %s, %lld examples, %lld steps of %d, lr %g -> %g", ds->name, (long long)ds->n,
             (long long)c->sft.steps, n_rows, oo->lr, oo->min_lr);
    log_progress prog;
    log_progress_begin(&prog, "sft", c->sft.steps - *step, "steps");
    double t_start = log_now(), ema = NAN;
    while (*step < c->sft.steps && !trainer_stop_requested) {
        double t0 = log_now();
        sft_figures f = {.lr = optim_lr_at(oo, *step)};
        if (sft_draw(p, c, ds, smp, rows, n_rows) ||
            sft_step(p, o, f.lr, rows, n_rows, &f.loss, &f.tokens, &f.info))
            return -1;
        if (f.info.skipped) log_warn("sft step %lld: non-finite gradient, update skipped", (long long)*step);
        ++*step;
        ema = isnan(ema) ? f.loss : 0.95 * ema + 0.05 * f.loss;
        f.seconds = log_now() - t0;
        if (sft_record(c, mf, tb, *step, &f)) return -1;
        if (*step % c->train.log_every == 0) {
            log_progress_add(&prog, c->train.log_every);
            log_debug("sft step %lld loss %.4f (ema %.4f) lr %.3g grad %.3g", (long long)*step, f.loss, ema, f.lr,
                      f.info.grad_norm);
        }
        if (c->sft.save_every && *step % c->sft.save_every == 0) {
            if (trainer_save(c, p, o, smp, ds, *step, (int)c->train.keep_last)) return -1;
            *saved = *step;
        }
    }
    log_progress_end(&prog);
    log_info("sft: %lld steps, loss (ema) %.4f, %.1f s", (long long)*step, ema, log_now() - t_start);
    return 0;
}

int trainer_sft(const rlvr_config *c) {
    trainer_policy p;
    data_set *ds = NULL;
    data_sampler *smp = NULL;
    optim *o = NULL;
    FILE *mf = NULL;
    tboard *tb = NULL;
    sft_row *rows = NULL;
    int rc = -1, n_rows = (int)c->sft.batch_size;
    dist *d = dist_init(&c->dist);
    int world = d ? dist_world(d) : 0;
    dist_free(d);
    if (world != 1)
        return world ? err_set("rlvr sft runs as one process, not %d ranks: launch it without mpirun", world) : -1;
    if (trainer_memory_check(c, 0) || trainer_run_dir_prepare(c, !strcmp(cfg_enum_name(c, "train.resume"), "auto")))
        return -1;
    if (trainer_policy_load(&p, c, NULL, NULL)) return -1;
    optim_opts oo;
    if (trainer_policy_trainable(&p, c) || sft_optim_opts(c, &oo)) goto out;
    model_param_table pt = model_params(p.m);
    if (!(o = optim_init(pt.t, pt.names, pt.n, &oo))) goto out;
    if (!(ds = data_open(c, DATA_SPLIT_TRAIN)) || !(smp = data_sampler_open(c, ds->n))) goto out;
    int64_t step = 0, saved = -1; /* saved: the step of the newest checkpoint */
    int resumed = trainer_resume(c, &p, o, smp, ds, 1, &step);
    if (resumed < 0) goto out;
    if (resumed) saved = step;
    /* a run stopped after its last checkpoint but before model/ was in place ends below */
    if (step >= c->sft.steps && trainer_run_has_model(c, step)) {
        err_set("run.dir '%s' is already at step %lld of sft.steps %lld: nothing to do (raise sft.steps to "
                "continue, or use another run.dir)", c->run.dir, (long long)step, (long long)c->sft.steps);
        goto out;
    }
    if (trainer_run_dir_sync(c, step) || !(mf = trainer_run_file(c, "metrics.jsonl")) ||
        trainer_tboard_open(c, step, &tb))
        goto out;
    rows = mem_calloc((size_t)n_rows, sizeof *rows);
    trainer_catch_signals();
    if (sft_loop(c, &p, o, &oo, ds, smp, mf, tb, rows, &step, &saved) || sft_finish(c, &p, o, smp, ds, step, saved))
        goto out;
    tboard *done = tb;
    tb = NULL;
    rc = tboard_close(done);
out:
    for (int i = 0; rows && i < n_rows; i++) {
        tok_ids_free(&rows[i].prompt);
        tok_ids_free(&rows[i].resp);
    }
    free(rows);
    if (mf && fclose(mf) != 0 && rc == 0)
        rc = err_set("cannot write '%s/metrics.jsonl': %s", c->run.dir, strerror(errno));
    tboard_close(tb);
    optim_free(o);
    data_sampler_free(smp);
    data_set_free(ds);
    trainer_policy_free(&p);
    return rc;
}
