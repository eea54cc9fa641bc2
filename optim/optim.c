/* optim — AdamW, gradient clipping and learning-rate schedules. See optim.h.
 * Deliberately not here: fused or multi-tensor kernels (the per-tensor ops mirror torch's
 * single-tensor AdamW so results can be compared exactly), AMSGrad, maximise mode. */
#include "optim/optim.h"

#include "common/err.h"
#include "common/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct optim {
    int n;
    optim_opts opts;
    ts_tensor **params;     /* n, borrowed */
    ts_tensor *steps;       /* (n) i64 cpu: updates applied to each parameter */
    ts_tensor **exp_avg;    /* n, like params */
    ts_tensor **exp_avg_sq; /* n, like params */
    char **state_names;     /* 1 + 2n: "step", then "<name>.exp_avg", "<name>.exp_avg_sq" */
};

int optim_opts_check(const optim_opts *o) {
    if (!o) return err_set("optim options: NULL");
    if (!(o->lr > 0) || !isfinite(o->lr)) return err_set("optim.lr: expected > 0, got %g", o->lr);
    if (!(o->beta1 >= 0 && o->beta1 < 1) || !(o->beta2 >= 0 && o->beta2 < 1))
        return err_set("optim.beta1/beta2: expected in [0,1), got %g, %g", o->beta1, o->beta2);
    if (!(o->eps > 0)) return err_set("optim.eps: expected > 0, got %g", o->eps);
    if (!(o->weight_decay >= 0)) return err_set("optim.weight_decay: expected >= 0, got %g", o->weight_decay);
    if (!(o->grad_clip >= 0)) return err_set("optim.grad_clip: expected >= 0, got %g", o->grad_clip);
    if (o->schedule < OPTIM_SCHED_CONSTANT || o->schedule > OPTIM_SCHED_LINEAR)
        return err_set("optim.schedule: unknown value %d", (int)o->schedule);
    if (o->warmup_steps < 0) return err_set("optim.warmup_steps: expected >= 0");
    if (!(o->min_lr >= 0 && o->min_lr <= o->lr))
        return err_set("optim.min_lr: expected in [0, optim.lr = %g], got %g", o->lr, o->min_lr);
    if (o->schedule != OPTIM_SCHED_CONSTANT && o->total_steps <= o->warmup_steps)
        return err_set("optim.total_steps: schedule %s decays from warmup_steps (%lld) to "
                       "total_steps, so it must be larger; got %lld",
                       o->schedule == OPTIM_SCHED_COSINE ? "cosine" : "linear",
                       (long long)o->warmup_steps, (long long)o->total_steps);
    return 0;
}

const cfg_choice optim_schedule_choices[] = {
    {"constant", OPTIM_SCHED_CONSTANT}, {"cosine", OPTIM_SCHED_COSINE}, {"linear", OPTIM_SCHED_LINEAR}, {NULL, 0}};

int optim_opts_from_cfg(const rlvr_config *c, optim_opts *o) {
    if (!c || !o) return err_set("optim_opts_from_cfg: NULL argument");
    const cfg_optim *k = &c->optim;
    int schedule;
    if (cfg_choice_value(c, "optim.schedule", optim_schedule_choices, &schedule)) return -1;
    o->lr = k->lr;
    o->beta1 = k->beta1;
    o->beta2 = k->beta2;
    o->eps = k->eps;
    o->weight_decay = k->weight_decay;
    o->grad_clip = k->grad_clip;
    o->schedule = (optim_schedule)schedule;
    o->warmup_steps = k->warmup_steps;
    o->total_steps = k->total_steps;
    o->min_lr = k->min_lr;
    optim_opts resolved = *o; /* 0 stands for the run's step count, known to the caller */
    if (resolved.total_steps == 0) resolved.total_steps = resolved.warmup_steps + 1;
    return optim_opts_check(&resolved);
}

double optim_lr_at(const optim_opts *o, int64_t step) {
    if (step < 0) step = 0;
    if (step < o->warmup_steps) return o->lr * (double)(step + 1) / (double)o->warmup_steps;
    if (o->schedule == OPTIM_SCHED_CONSTANT) return o->lr;
    double p = (double)(step - o->warmup_steps) / (double)(o->total_steps - o->warmup_steps);
    if (p > 1) p = 1;
    double shape = o->schedule == OPTIM_SCHED_COSINE ? 0.5 * (1 + cos(M_PI * p)) : 1 - p;
    return o->min_lr + (o->lr - o->min_lr) * shape;
}

/* clip_grad_norm_ inside the caller's scope and no-grad region. */
static int clip_in_scope(ts_tensor *const *params, int n, double max_norm, double *norm) {
    ts_tensor **grads = mem_calloc((size_t)n, sizeof *grads);
    ts_tensor **norms = mem_calloc((size_t)n, sizeof *norms);
    int k = 0, rc = -1;
    *norm = 0;
    for (int i = 0; i < n; i++) {
        if (!params[i]) {
            err_set("optim_clip_grad_norm: parameter %d is NULL", i);
            goto done;
        }
        if (!ts_has_grad(params[i])) continue;
        grads[k] = ts_grad(params[i]);
        ts_tensor *nm = ts_norm(grads[k]);
        norms[k] = k ? ts_to_device(ts_to_dtype(nm, ts_get_dtype(grads[0])), ts_get_device(grads[0])) : nm;
        if (!norms[k]) goto done;
        k++;
    }
    if (k == 0) {
        rc = 0;
        goto done;
    }
    ts_tensor *total = ts_norm(ts_stack(norms, k, 0));
    if (!total || ts_item_f64(total, norm)) goto done;
    if (max_norm > 0 && isfinite(*norm)) {
        ts_tensor *coef = ts_clamp_max(ts_div(ts_full_like(total, max_norm), ts_add_scalar(total, 1e-6)), 1.0);
        double c;
        if (!coef || ts_item_f64(coef, &c)) goto done;
        for (int i = 0; i < k && c < 1; i++)
            if (ts_mul_scalar_(grads[i], c)) goto done;
    }
    rc = 0;
done:
    free(grads);
    free(norms);
    return rc;
}

int optim_clip_grad_norm(ts_tensor *const *params, int n, double max_norm, double *norm) {
    if ((!params && n) || n < 0 || !norm) return err_set("optim_clip_grad_norm: bad arguments");
    ts_scope_begin();
    ts_no_grad_begin();
    int rc = clip_in_scope(params, n, max_norm, norm);
    ts_no_grad_end();
    ts_scope_end();
    return rc;
}

void optim_free(optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        if (o->exp_avg) ts_free(o->exp_avg[i]);
        if (o->exp_avg_sq) ts_free(o->exp_avg_sq[i]);
    }
    for (int i = 0; o->state_names && i < 1 + 2 * o->n; i++) free(o->state_names[i]);
    ts_free(o->steps);
    free(o->exp_avg);
    free(o->exp_avg_sq);
    free(o->state_names);
    free(o->params);
    free(o);
}

static char *name_with(const char *name, const char *suffix) {
    size_t len = strlen(name) + strlen(suffix) + 1;
    char *s = mem_alloc(len);
    snprintf(s, len, "%s%s", name, suffix);
    return s;
}

optim *optim_init(ts_tensor *const *params, const char *const *names, int n, const optim_opts *opts) {
    if (!params || !names || n < 1) {
        err_set("optim_init: need at least one parameter with a name");
        return NULL;
    }
    if (optim_opts_check(opts)) return NULL;
    for (int i = 0; i < n; i++) {
        if (!params[i] || !names[i] || !names[i][0]) {
            err_set("optim_init: parameter %d has no tensor or no name", i);
            return NULL;
        }
        for (int j = 0; j < i; j++) {
            if (!strcmp(names[i], names[j]) || params[i] == params[j]) {
                err_set("optim_init: parameter '%s' appears twice", names[i]);
                return NULL;
            }
        }
    }
    optim *o = mem_calloc(1, sizeof *o);
    o->n = n;
    o->opts = *opts;
    o->params = mem_calloc((size_t)n, sizeof *o->params);
    o->exp_avg = mem_calloc((size_t)n, sizeof *o->exp_avg);
    o->exp_avg_sq = mem_calloc((size_t)n, sizeof *o->exp_avg_sq);
    o->state_names = mem_calloc((size_t)(1 + 2 * n), sizeof *o->state_names);
    o->steps = ts_unscope(ts_zeros((int64_t[]){n}, 1, TS_I64, TS_CPU_DEVICE));
    o->state_names[0] = name_with("step", "");
    int ok = o->steps != NULL;
    for (int i = 0; ok && i < n; i++) {
        o->params[i] = params[i];
        o->exp_avg[i] = ts_unscope(ts_zeros_like(params[i]));
        o->exp_avg_sq[i] = ts_unscope(ts_zeros_like(params[i]));
        o->state_names[1 + 2 * i] = name_with(names[i], ".exp_avg");
        o->state_names[2 + 2 * i] = name_with(names[i], ".exp_avg_sq");
        ok = o->exp_avg[i] && o->exp_avg_sq[i];
    }
    if (ok) return o;
    err_prefix("optim_init");
    optim_free(o);
    return NULL;
}

/* torch 1.13 _single_tensor_adamw for parameter i, whose step count is now `step`. */
static int adamw_update(optim *o, int i, int64_t step, double lr) {
    const optim_opts *p = &o->opts;
    ts_tensor *param = o->params[i], *m = o->exp_avg[i], *v = o->exp_avg_sq[i];
    ts_tensor *g = ts_grad(param);
    if (!g) return -1;
    double bc1 = 1 - pow(p->beta1, (double)step), bc2 = 1 - pow(p->beta2, (double)step);
    double step_size = lr / bc1;
    if (ts_mul_scalar_(param, 1 - lr * p->weight_decay) || ts_mul_scalar_(m, p->beta1) ||
        ts_add_(m, g, 1 - p->beta1) || ts_mul_scalar_(v, p->beta2) ||
        ts_addcmul_(v, g, g, 1 - p->beta2))
        return -1;
    ts_tensor *denom = ts_add_scalar(ts_div_scalar(ts_sqrt(v), sqrt(bc2)), p->eps);
    if (!denom) return -1;
    return ts_addcdiv_(param, m, denom, -step_size);
}

int optim_step(optim *o, double lr, optim_step_info *info) {
    if (!o) return err_set("optim_step: NULL optimiser");
    if (!(lr >= 0) || !isfinite(lr)) return err_set("optim_step: learning rate %g is not >= 0", lr);
    optim_step_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    info->lr = lr;
    int64_t *steps = mem_alloc(sizeof *steps * (size_t)o->n);
    int rc = -1;
    ts_scope_begin();
    ts_no_grad_begin();
    if (clip_in_scope(o->params, o->n, o->opts.grad_clip, &info->grad_norm)) goto done;
    if (!isfinite(info->grad_norm)) {
        info->skipped = 1;
        rc = 0;
        goto done;
    }
    if (ts_to_host(o->steps, steps, sizeof *steps * (size_t)o->n)) goto done;
    for (int i = 0; i < o->n; i++) {
        if (!ts_has_grad(o->params[i])) continue;
        steps[i]++;
        if (adamw_update(o, i, steps[i], lr)) {
            err_prefix("optim_step: parameter '%.*s'",
                       (int)(strlen(o->state_names[1 + 2 * i]) - strlen(".exp_avg")),
                       o->state_names[1 + 2 * i]);
            goto done;
        }
    }
    rc = ts_copy_(o->steps, ts_from_data(steps, (int64_t[]){o->n}, 1, TS_I64));
done:
    ts_no_grad_end();
    ts_scope_end();
    free(steps);
    return rc;
}

int optim_state_count(const optim *o) { return o ? 1 + 2 * o->n : 0; }

const char *optim_state_name(const optim *o, int i) {
    if (!o || i < 0 || i >= 1 + 2 * o->n) return NULL;
    return o->state_names[i];
}

ts_tensor *optim_state_tensor(optim *o, int i) {
    if (!o || i < 0 || i >= 1 + 2 * o->n) {
        err_set("optim_state_tensor: index %d out of range", i);
        return NULL;
    }
    if (i == 0) return o->steps;
    return (i - 1) % 2 == 0 ? o->exp_avg[(i - 1) / 2] : o->exp_avg_sq[(i - 1) / 2];
}
