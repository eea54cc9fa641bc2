/* optim — AdamW, gradient clipping and learning-rate schedules, with f32 master weights for
 * lower-precision parameters. See optim.h.
 * The update of a CPU parameter runs as one fused pass (ts_adamw_), rounded element for element as
 * the per-tensor ops that mirror torch's single-tensor AdamW (adamw_ops), which run where the pass
 * declines (CUDA, other dtypes) and when opts.op_by_op asks for them.
 * Deliberately not here: multi-tensor kernels, AMSGrad, maximise mode. */
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
    ts_tensor **master;     /* n: f32 copy of a lower-precision parameter (opts.master_weights), else NULL */
    int n_master;           /* non-NULL entries of master */
    ts_tensor **exp_avg;    /* n, like the master copy where there is one, else like params */
    ts_tensor **exp_avg_sq; /* n, likewise */
    char **state_names;     /* 1 + 2n + n_master: "step", "<name>.exp_avg", "<name>.exp_avg_sq",
                               then "<name>.master" of each parameter with a master copy */
    ts_tensor **state;      /* the tensors of state_names, borrowed from the fields above */
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
    o->master_weights = k->master_weights;
    if (!o->master_weights && strcmp(cfg_enum_name(c, "model.dtype"), "f32"))
        return err_set("optim.master_weights is false with model.dtype %s: AdamW would update the %s weights "
                       "in place, where a step below half a unit in the last place (6e-05 at |w| = 0.02; "
                       "AdamW steps about lr, RL's usual 1e-6, here optim.lr = %g) and the weight decay round "
                       "away, so the model does not learn; set optim.master_weights=true (f32 master weights "
                       "and AdamW state)",
                       cfg_enum_name(c, "model.dtype"), cfg_enum_name(c, "model.dtype"), k->lr);
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

/* clip_grad_norm_'s norm over the n gradients grads (NULL entries skipped) and the coefficient
 * min(1, max_norm / (norm + 1e-6)) it scales them by (1: no clipping), inside the caller's scope
 * and no-grad region. The gradients are not changed. */
static int clip_scale(ts_tensor *const *grads, int n, double max_norm, double *norm, double *scale) {
    ts_tensor **norms = mem_calloc((size_t)n, sizeof *norms), *first = NULL;
    int k = 0, rc = -1;
    *norm = 0;
    *scale = 1;
    for (int i = 0; i < n; i++) {
        if (!grads[i]) continue;
        if (!first) first = grads[i];
        ts_tensor *nm = ts_norm(grads[i]);
        norms[k] = k ? ts_to_device(ts_to_dtype(nm, ts_get_dtype(first)), ts_get_device(first)) : nm;
        if (!norms[k++]) goto done;
    }
    if (k == 0) {
        rc = 0;
        goto done;
    }
    ts_tensor *total = ts_norm(ts_stack(norms, k, 0));
    if (!total || ts_item_f64(total, norm)) goto done;
    if (max_norm > 0 && isfinite(*norm)) {
        ts_tensor *coef = ts_clamp_max(ts_div(ts_full_like(total, max_norm), ts_add_scalar(total, 1e-6)), 1.0);
        if (!coef || ts_item_f64(coef, scale)) goto done;
    }
    rc = 0;
done:
    free(norms);
    return rc;
}

/* The gradient of every parameter that has one, NULL for the others; as f32 where master[i] is
 * set (master may be NULL). In the caller's scope. */
static int gather_grads(ts_tensor *const *params, ts_tensor *const *master, int n, ts_tensor **grads) {
    for (int i = 0; i < n; i++) {
        if (!params[i]) return err_set("optim: parameter %d is NULL", i);
        grads[i] = NULL;
        if (!ts_has_grad(params[i])) continue;
        grads[i] = ts_grad(params[i]);
        if (master && master[i]) grads[i] = ts_to_dtype(grads[i], TS_F32);
        if (!grads[i]) return -1;
    }
    return 0;
}

int optim_clip_grad_norm(ts_tensor *const *params, int n, double max_norm, double *norm) {
    if ((!params && n) || n < 0 || !norm) return err_set("optim_clip_grad_norm: bad arguments");
    ts_tensor **grads = mem_calloc((size_t)n, sizeof *grads);
    ts_scope_begin();
    ts_no_grad_begin();
    double scale;
    int rc = gather_grads(params, NULL, n, grads) || clip_scale(grads, n, max_norm, norm, &scale) ? -1 : 0;
    for (int i = 0; !rc && i < n && scale < 1; i++)
        if (grads[i] && ts_mul_scalar_(grads[i], scale)) rc = -1;
    ts_no_grad_end();
    ts_scope_end();
    free(grads);
    if (rc) err_prefix("optim_clip_grad_norm");
    return rc;
}

void optim_free(optim *o) {
    if (!o) return;
    for (int i = 0; i < o->n; i++) {
        if (o->exp_avg) ts_free(o->exp_avg[i]);
        if (o->exp_avg_sq) ts_free(o->exp_avg_sq[i]);
        if (o->master) ts_free(o->master[i]);
    }
    for (int i = 0; o->state_names && i < optim_state_count(o); i++) free(o->state_names[i]);
    ts_free(o->steps);
    free(o->master);
    free(o->state);
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
    o->master = mem_calloc((size_t)n, sizeof *o->master);
    o->exp_avg = mem_calloc((size_t)n, sizeof *o->exp_avg);
    o->exp_avg_sq = mem_calloc((size_t)n, sizeof *o->exp_avg_sq);
    for (int i = 0; opts->master_weights && i < n; i++) o->n_master += ts_get_dtype(params[i]) != TS_F32;
    o->state_names = mem_calloc((size_t)optim_state_count(o), sizeof *o->state_names);
    o->state = mem_calloc((size_t)optim_state_count(o), sizeof *o->state);
    o->steps = ts_unscope(ts_zeros((int64_t[]){n}, 1, TS_I64, TS_CPU_DEVICE));
    o->state_names[0] = name_with("step", "");
    o->state[0] = o->steps;
    int ok = o->steps != NULL;
    ts_scope_begin();
    ts_no_grad_begin();
    for (int i = 0, k = 1 + 2 * n; ok && i < n; i++) {
        o->params[i] = params[i];
        int want = opts->master_weights && ts_get_dtype(params[i]) != TS_F32;
        if (want) {
            o->master[i] = ts_unscope(ts_to_dtype(ts_detach(params[i]), TS_F32));
            o->state_names[k] = name_with(names[i], ".master");
            o->state[k++] = o->master[i];
        }
        const ts_tensor *like = o->master[i] ? o->master[i] : params[i];
        o->exp_avg[i] = o->state[1 + 2 * i] = ts_unscope(ts_zeros_like(like));
        o->exp_avg_sq[i] = o->state[2 + 2 * i] = ts_unscope(ts_zeros_like(like));
        o->state_names[1 + 2 * i] = name_with(names[i], ".exp_avg");
        o->state_names[2 + 2 * i] = name_with(names[i], ".exp_avg_sq");
        ok = o->exp_avg[i] && o->exp_avg_sq[i] && (!want || o->master[i]);
    }
    ts_no_grad_end();
    ts_scope_end();
    if (ok) return o;
    err_prefix("optim_init");
    optim_free(o);
    return NULL;
}

/* The scalars of torch 1.13 _single_tensor_adamw's update at step count `step` (1 for the first),
 * after clipping by grad_scale. */
static ts_adamw_step adamw_scalars(const optim_opts *p, double lr, int64_t step, double grad_scale) {
    double bc1 = 1 - pow(p->beta1, (double)step), bc2 = 1 - pow(p->beta2, (double)step);
    return (ts_adamw_step){.grad_scale = grad_scale, .decay = 1 - lr * p->weight_decay, .beta1 = p->beta1,
                           .alpha1 = 1 - p->beta1, .beta2 = p->beta2, .alpha2 = 1 - p->beta2,
                           .bias2_sqrt = sqrt(bc2), .eps = p->eps, .step = -(lr / bc1)};
}

/* The update of parameter i with gradient g (scaled in place first when clipped), op by op as
 * torch's single-tensor AdamW; on the master copy, which the parameter then takes rounded, where
 * there is one. The reference the fused step (ts_adamw_) is held to, and its path where that
 * declines. */
static int adamw_ops(optim *o, int i, ts_tensor *g, const ts_adamw_step *s) {
    ts_tensor *param = o->master[i] ? o->master[i] : o->params[i], *m = o->exp_avg[i], *v = o->exp_avg_sq[i];
    if ((s->grad_scale != 1 && ts_mul_scalar_(g, s->grad_scale)) || ts_mul_scalar_(param, s->decay) ||
        ts_mul_scalar_(m, s->beta1) || ts_add_(m, g, s->alpha1) || ts_mul_scalar_(v, s->beta2) ||
        ts_addcmul_(v, g, g, s->alpha2))
        return -1;
    ts_tensor *denom = ts_add_scalar(ts_div_scalar(ts_sqrt(v), s->bias2_sqrt), s->eps);
    if (!denom || ts_addcdiv_(param, m, denom, s->step)) return -1;
    return o->master[i] ? ts_copy_(o->params[i], o->master[i]) : 0;
}

/* The update of parameter i: fused in one pass where ts_adamw_ can round as the ops do (*fused
 * counts it), else op by op. */
static int adamw_update(optim *o, int i, ts_tensor *g, const ts_adamw_step *s, int *fused) {
    if (!o->opts.op_by_op) {
        ts_tensor *param = o->master[i] ? o->master[i] : o->params[i];
        int rc = ts_adamw_(param, o->exp_avg[i], o->exp_avg_sq[i], g, o->master[i] ? o->params[i] : NULL, s);
        if (rc <= 0) {
            *fused += rc == 0;
            return rc;
        }
    }
    return adamw_ops(o, i, g, s);
}

int optim_step(optim *o, double lr, optim_step_info *info) {
    if (!o) return err_set("optim_step: NULL optimiser");
    if (!(lr >= 0) || !isfinite(lr)) return err_set("optim_step: learning rate %g is not >= 0", lr);
    optim_step_info local;
    if (!info) info = &local;
    memset(info, 0, sizeof *info);
    info->lr = lr;
    int64_t *steps = mem_alloc(sizeof *steps * (size_t)o->n);
    ts_tensor **grads = mem_calloc((size_t)o->n, sizeof *grads);
    int rc = -1;
    ts_scope_begin();
    ts_no_grad_begin();
    double scale;
    if (gather_grads(o->params, o->master, o->n, grads) ||
        clip_scale(grads, o->n, o->opts.grad_clip, &info->grad_norm, &scale))
        goto done;
    if (!isfinite(info->grad_norm)) {
        info->skipped = 1;
        rc = 0;
        goto done;
    }
    if (ts_to_host(o->steps, steps, sizeof *steps * (size_t)o->n)) goto done;
    for (int i = 0; i < o->n; i++) {
        if (!grads[i]) continue;
        steps[i]++;
        ts_adamw_step s = adamw_scalars(&o->opts, lr, steps[i], scale < 1 ? scale : 1);
        if (adamw_update(o, i, grads[i], &s, &info->fused)) {
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
    free(grads);
    return rc;
}

int optim_state_count(const optim *o) { return o ? 1 + 2 * o->n + o->n_master : 0; }

const char *optim_state_name(const optim *o, int i) {
    if (!o || i < 0 || i >= optim_state_count(o)) return NULL;
    return o->state_names[i];
}

ts_tensor *optim_state_tensor(optim *o, int i) {
    if (!o || i < 0 || i >= optim_state_count(o)) {
        err_set("optim_state_tensor: index %d out of range", i);
        return NULL;
    }
    return o->state[i];
}
