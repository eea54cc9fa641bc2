/* train — the jobs of the trainer: the policy it trains (model, tokenizer, prompt format), the RL
 * loop of `rlvr train`, the supervised warm-up of `rlvr sft`, evaluation, and the run directory.
 *
 * A job reads everything from the resolved config, writes into run.dir, and returns 0 or -1
 * with err_set; only cli/ turns that into an exit status. SIGINT and SIGTERM make a running job
 * save a checkpoint at the end of the current step and return normally.
 * Deliberately not here: the maths of advantages and losses (adv.h, loss.h), the checkpoint file
 * format (ckpt.h), sampling (rollout/), verifiers (rewards/). */
#ifndef RLVR_TRAIN_H
#define RLVR_TRAIN_H

#include "common/cfg.h"
#include "common/tboard.h"
#include "model/chat.h"
#include "model/model.h"
#include "model/tokenizer.h"

#include <stdio.h>

#define TRAINER_MAX_EOS 8

/* The model with what turns text into its input and its output back into text. */
typedef struct trainer_policy {
    model *m;
    tok_tokenizer *tok;
    int use_template;          /* 0: prompt text as is */
    chat_template tmpl;
    int32_t eos[TRAINER_MAX_EOS]; /* generation ends on any of these (config + tokenizer EOS) */
    int n_eos;
    char arch_hash[17];        /* hex FNV-1a of the architecture fields of config.json */
    char *config_json;         /* the model directory's config.json text */
    char dir[1024];
} trainer_policy;

/* Load model.path (or `dir` when non-NULL) in model.dtype on model.device (or *dev when
 * non-NULL: the GPU a rank was given). */
int trainer_policy_load(trainer_policy *p, const rlvr_config *c, const char *dir, const ts_device *dev);
/* The config names of model.dtype (cfg_choice): f32 and bf16 as ts_dtype values. */
extern const cfg_choice trainer_dtype_choices[];
void trainer_policy_free(trainer_policy *p);
/* Make every parameter a leaf that requires grad (the policy being trained; a frozen reference
 * stays without). With LoRA (model.lora.targets, or an adapter from model.adapter) the
 * parameters are the adapters, created here when model.adapter gave none; the base stays frozen. */
int trainer_policy_trainable(trainer_policy *p, const rlvr_config *c);
/* model.lora.* as model_lora_opts (targets empty: LoRA off); -1 with err_set naming the key. */
int trainer_lora_opts(const rlvr_config *c, model_lora_opts *o);
/* The training state of model.path estimated from its config.json (and model.adapter's
 * adapter_config.json) before any weight is read: the weights in model.dtype, a second copy as the
 * KL reference when kl_reference and not LoRA, the trained tensors' gradients, AdamW's two moments
 * and f32 master weights. Logged with the machine's memory; over train.memory_limit_gib (when
 * set): -1 with err_set giving the parts. */
int trainer_memory_check(const rlvr_config *c, int kl_reference);
/* Prompt text to token ids: the chat template's user turn with the generation prompt, or the
 * text itself. */
int trainer_policy_prompt(const trainer_policy *p, const char *text, tok_ids *out);

/* Create run.dir (and parents). Refuses a directory that holds checkpoints when resuming is off. */
int trainer_run_dir_prepare(const rlvr_config *c, int may_resume);
/* Once a job knows the step it starts from: cut metrics.jsonl and eval.jsonl back to their lines
 * of steps 0..step (a killed run may have logged steps past its last checkpoint; a fresh start
 * keeps no evaluation, as it makes its step-0 one anew), write the resolved config as
 * config.json (atomically) and append the build, libraries and machine to environment.jsonl
 * (runenv.h). */
int trainer_run_dir_sync(const rlvr_config *c, int64_t step);
/* 1 when run.dir/model holds the model of step: it exists (a model directory is put in place
 * whole, so it is complete) and was written after run.dir's checkpoint of step (a model/ from
 * before it is that of an earlier, shorter run). */
int trainer_run_has_model(const rlvr_config *c, int64_t step);
/* Open run.dir/name for appending; NULL with err_set. */
FILE *trainer_run_file(const rlvr_config *c, const char *name);
/* Append `, "key": v` to a JSON line being written, v printed with the printf format fmt (one
 * double), or null when v is not finite: JSON has no inf or NaN. key is ASCII without quotes or backslashes. */
void trainer_json_number(FILE *f, const char *key, const char *fmt, double v);
/* With run.tensorboard, a new TensorBoard event file in run.dir (common/tboard.h) that starts
 * with the resolved config as text at step `step`, the step the job continues after (0 when
 * fresh); *out is NULL when run.tensorboard is off. Returns 0, or -1 with err_set. */
int trainer_tboard_open(const rlvr_config *c, int64_t step, tboard **out);

/* Set by SIGINT, SIGTERM or SIGUSR1 once trainer_catch_signals() is installed. SIGUSR1 is the
 * one to send to Open MPI's mpirun: it forwards it to every rank, whereas on SIGTERM or SIGINT it
 * aborts the job (SIGTERM to the ranks, SIGKILL a second later, exit status 1 whatever they do). */
extern volatile int trainer_stop_requested;
void trainer_catch_signals(void);

/* `rlvr sft`: supervised warm-up on prompt/response pairs, loss on response tokens only; writes
 * checkpoints and, at the end, the model as a Hugging Face directory in run.dir/model. */
int trainer_sft(const rlvr_config *c);

/* `rlvr train`: the RL loop; resumes from run.dir's newest checkpoint when train.resume is auto. */
int trainer_rl(const rlvr_config *c);

/* Evaluate p on the test split (eval.*) with the verifiers of rw: a JSON report (caller frees),
 * or NULL with err_set. */
struct reward;
char *trainer_eval(const rlvr_config *c, trainer_policy *p, struct reward *rw);
/* `rlvr eval`: load model.path, evaluate, print the report and write it to out_path (if not
 * NULL). */
int trainer_eval_job(const rlvr_config *c, const char *out_path);
/* `rlvr export`: a checkpoint's model as a Hugging Face directory, which replaces dir whole. The
 * checkpoint's seal and every item read are checked against their CRC-32. A LoRA checkpoint is
 * read onto its base model (lora/base_path, whose fingerprint must still match) and written
 * merged, or with peft as a PEFT adapter directory. */
int trainer_export_checkpoint(const char *ckpt_path, const char *dir, int peft);

#endif
