/* state — saving, resuming and exporting a job's state; the layout is described in state.c.
 * Private to trainer/ (train.h is the module's public header). */
#ifndef RLVR_TRAINER_STATE_H
#define RLVR_TRAINER_STATE_H

#include "data/data.h"
#include "optim/optim.h"
#include "trainer/ckpt.h"
#include "trainer/train.h"

/* Write checkpoint `step` into run.dir, keeping the newest keep_last. o may be NULL. */
int trainer_save(const rlvr_config *c, const trainer_policy *p, optim *o, const data_sampler *s,
                 const data_set *ds, int64_t step, int keep_last);
/* Load run.dir's newest checkpoint into p, o (may be NULL) and s; *step gets its step.
 * 1 when resumed, 0 when run.dir has none, -1 with err_set (another architecture, changed data,
 * a damaged file). */
int trainer_resume(const rlvr_config *c, trainer_policy *p, optim *o, data_sampler *s,
                   const data_set *ds, int64_t *step);
/* The policy's weights, config and tokenizer as a Hugging Face directory. */
int trainer_export_policy(const trainer_policy *p, const char *dir);
/* `rlvr export`: a checkpoint's model as a Hugging Face directory. */
int trainer_export_checkpoint(const char *ckpt_path, const char *dir);

#endif
