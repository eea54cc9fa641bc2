/* optim — AdamW with decoupled weight decay, global-norm gradient clipping and learning-rate
 * schedules, over a list of parameter tensors (autograd leaves whose .grad the backward passes
 * filled).
 *
 * The update is torch.optim.AdamW's (torch 1.13, single-tensor path, amsgrad off) op for op, and
 * the clipping is torch.nn.utils.clip_grad_norm_'s, so the same gradients give the same weights
 * (tests/test_optim.c checks this against fixtures written by tests/optim_ref.py). On the CPU the
 * ops run fused, one pass per parameter, with the ops' rounding (tensor/ts_optim.cpp). A step whose
 * gradients hold a NaN or an infinity is skipped: no weight, moment or step count changes, and
 * the caller is told. The state (per-parameter step counts, first and second moments) is a list
 * of named tensors that a checkpoint saves and restores bit for bit.
 *
 * Mixed precision (master_weights): a parameter held in a lower precision than f32 (bf16) gets an
 * f32 master copy. Its gradient is taken to f32, clipped with the others (the norm in f32), and
 * AdamW updates the master with f32 moments; the parameter then takes the master's value rounded
 * to its dtype. An update of ~lr = 1e-6 accumulates in the master instead of rounding away
 * against bf16's half-ulp (6e-5 at |w| = 0.02). The master copies are part of the state, so a
 * checkpoint keeps them and resuming continues exactly. f32 parameters have no copy: their
 * update is the plain one.
 * Deliberately not here: other optimisers, gradient all-reduce (dist/), loss scaling (bf16 has
 * f32's exponent range), choosing which schedule step the caller is at (the trainer owns the step
 * counter). */
#ifndef RLVR_OPTIM_H
#define RLVR_OPTIM_H

#include "common/cfg.h"
#include "tensor/ts.h"

#include <stdint.h>

typedef enum { OPTIM_SCHED_CONSTANT, OPTIM_SCHED_COSINE, OPTIM_SCHED_LINEAR } optim_schedule;

/* The config names of optim.schedule (cfg_choice). */
extern const cfg_choice optim_schedule_choices[];

typedef struct optim_opts {
    double lr;            /* peak learning rate */
    double beta1, beta2, eps, weight_decay;
    double grad_clip;     /* max global L2 norm; 0 = no clipping */
    optim_schedule schedule;
    int64_t warmup_steps; /* linear warm-up length */
    int64_t total_steps;  /* step at which cosine/linear decay reaches min_lr */
    double min_lr;
    int master_weights;   /* f32 master copies of lower-precision parameters (see above) */
    int op_by_op;         /* 1: the per-tensor op sequence even where the fused step runs (the
                             reference that tests and bench_update hold the fused one to) */
} optim_opts;

/* The optim.* settings, checked, except that total_steps 0 is left for the caller to replace with
 * the run's step count before optim_opts_check (a decaying schedule needs total_steps >
 * warmup_steps). A model.dtype other than f32 without optim.master_weights is refused: such a run
 * cannot learn. Returns 0, or -1 with err_set naming the key. */
int optim_opts_from_cfg(const rlvr_config *c, optim_opts *o);
/* The same checks for options filled by hand. */
int optim_opts_check(const optim_opts *o);

/* Learning rate of the optimiser step with index `step` (0 for the first one):
 *   warm-up, step < W:   lr * (step + 1) / W
 *   constant:            lr
 *   cosine:              min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2
 *   linear:              min_lr + (lr - min_lr) * (1 - p)
 * with p = (step - W) / (total_steps - W) clamped to [0, 1]. */
double optim_lr_at(const optim_opts *o, int64_t step);

/* Global L2 norm of the gradients of params (those that have one), as clip_grad_norm_: the norm of
 * the per-tensor norms, in the gradients' dtype. When max_norm > 0 and the norm is finite, every
 * gradient is multiplied by min(1, max_norm / (norm + 1e-6)). *norm gets the norm before
 * clipping (0 when no parameter has a gradient). Returns 0, or -1 with err_set. */
int optim_clip_grad_norm(ts_tensor *const *params, int n, double max_norm, double *norm);

typedef struct optim optim;

/* AdamW over n parameters (borrowed: they must outlive the optimiser), with names used for the
 * state ("<name>.exp_avg"). Moments start at zero, on each parameter's device, in its dtype or,
 * with a master copy (taken from the parameter now), in f32.
 * Returns NULL with err_set on bad options, a NULL or duplicate parameter or name. */
optim *optim_init(ts_tensor *const *params, const char *const *names, int n,
                  const optim_opts *o);
void optim_free(optim *o);

typedef struct optim_step_info {
    double grad_norm; /* before clipping */
    double lr;        /* the rate applied */
    int skipped;      /* 1: a gradient was not finite, nothing changed */
    int fused;        /* parameters updated by the fused step (ts_adamw_), the others op by op */
} optim_step_info;

/* One update with learning rate lr: clip (opts.grad_clip), then AdamW on every parameter that
 * has a gradient (a parameter without one is left alone, as torch does). Gradients are read (and,
 * when clipped, may be scaled in place); the caller clears them. info may be NULL. Returns 0
 * (applied or skipped, see info->skipped), or -1 with err_set (a failure of the tensor library
 * itself, such as running out of memory, after which the parameters may be partly updated). */
int optim_step(optim *o, double lr, optim_step_info *info);

/* ---- state, for checkpoints ----
 * Entries, in a fixed order: "step" (n,) i64 on the CPU, the number of updates applied to each
 * parameter (host bookkeeping, never part of the device math); then for every parameter i
 * "<name_i>.exp_avg" and "<name_i>.exp_avg_sq" (the parameter's shape and device, f32 with a
 * master copy, else its dtype); then "<name_i>.master" (f32) of each parameter with a master copy,
 * in parameter order. To restore, ts_copy_ saved values into the tensors optim_state_tensor
 * returns (the parameters themselves are restored by their owner). */
int optim_state_count(const optim *o);
const char *optim_state_name(const optim *o, int i);  /* NULL when i is out of range */
ts_tensor *optim_state_tensor(optim *o, int i);       /* borrowed; NULL when out of range */

#endif
