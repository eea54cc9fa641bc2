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
/* Load the newest checkpoint of run.dir that verifies (ckpt_check_file) into p, o (may be NULL)
 * and s; *step gets its step. A damaged checkpoint is reported and the one before it tried; with
 * lead (rank 0, or the only process) the damaged ones newer than the one loaded are then renamed
 * <name>.damaged. Nothing is deleted. 1 when resumed, 0 when run.dir has no checkpoint, -1 with
 * err_set (another architecture or format version, changed data, no checkpoint verifies). */
int trainer_resume(const rlvr_config *c, trainer_policy *p, optim *o, data_sampler *s,
                   const data_set *ds, int lead, int64_t *step);
/* The policy's weights, config and tokenizer as a Hugging Face directory, which replaces dir
 * whole (io_dir_commit). */
int trainer_export_policy(const trainer_policy *p, const char *dir);
/* At the end of a job: the policy in run.dir/model (merged with its LoRA adapters, if any) and the
 * adapters as a PEFT adapter directory in run.dir/adapter; job names the job in the log lines. */
int trainer_export_run(const rlvr_config *c, const trainer_policy *p, const char *job);

#endif
