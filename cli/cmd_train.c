/* rlvr train / rlvr sft / rlvr export — the trainer's jobs from the command line. */
#include "cli.h"

#include "common/err.h"
#include "common/io.h"
#include "common/log.h"
#include "common/mem.h"
#include "rollout/rollout.h"
#include "trainer/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char train_usage[] =
    "usage: rlvr train CONFIG.json [--set key=value ...]\n\n"
    "RL from verifiable rewards: each step samples train.group_size completions for each of\n"
    "train.prompts_per_step prompts, scores them, computes advantages (algo.estimator) and\n"
    "updates the policy. Writes run.dir/{config.json,metrics.jsonl,rollouts.h5,ckpt-*.h5}.\n"
    "Resumes from run.dir's newest checkpoint (train.resume=auto). Ctrl-C saves and stops.\n";

static const char sft_usage[] =
    "usage: rlvr sft CONFIG.json [--set key=value ...]\n\n"
    "Supervised warm-up on prompt/response pairs (data.*), loss on response tokens only.\n"
    "Writes checkpoints and the final model as a Hugging Face directory in run.dir/model.\n";

static const char eval_usage[] =
    "usage: rlvr eval CONFIG.json [--set key=value ...] [--out FILE]\n\n"
    "Samples eval.samples completions for each of the first eval.problems test problems with\n"
    "model.path, scores them with the config's verifier and prints JSON: accuracy, unbiased\n"
    "pass@k for k = 1, 2, 4, ... n, mean length and Thinkless mode ratios, overall and per\n"
    "difficulty. --out also writes it to FILE.\n";

static const char export_usage[] =
    "usage: rlvr export CHECKPOINT.h5 DIR [--peft] [--force]\n\n"
    "Writes the checkpoint's model as a Hugging Face directory: config.json,\n"
    "model.safetensors, generation_config.json and the tokenizer files. DIR must be empty or\n"
    "missing; --force replaces a non-empty DIR whole (no file of the old one is kept).\n"
    "A LoRA run's checkpoint is read onto its base model (model.path of the run) and written\n"
    "merged (W + alpha/r B A); --peft writes the adapters instead as a PEFT adapter directory\n"
    "(adapter_model.safetensors, adapter_config.json) for --adapter, model.adapter or PEFT.\n";

/* Load the config and run a job; unknown arguments are an error. */
static int run_job(int argc, char **argv, const char *usage, int (*job)(const rlvr_config *)) {
    if (cli_wants_help(argc, argv)) {
        fputs(usage, stdout);
        return 0;
    }
    rlvr_config c;
    char **rest = mem_calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0, status = 1;
    if (cli_load_config(argc, argv, &c, 1, rest, &nrest)) status = cli_fail(NULL);
    else if (nrest > 1) {
        fprintf(stderr, "rlvr: error: unexpected argument '%s'\n%s", rest[1], usage);
        status = 2;
    } else status = job(&c) ? cli_fail(NULL) : 0;
    cfg_free(&c);
    free(rest);
    return status;
}

/* RL rollouts sample with rollout.* alone: say so when the model's generation_config.json asks for
 * other settings, which `rlvr generate` and `rlvr eval` would follow. A repetition penalty is
 * never applied here: the sampler's log-probs would no longer be the policy's. */
static void note_generation_config(const rlvr_config *c) {
    if (!c->model.path || !c->model.path[0]) return;
    rollout_sampling s = {.p = {.temperature = c->rollout.temperature, .top_k = c->rollout.top_k,
                                .top_p = c->rollout.top_p, .min_p = c->rollout.min_p},
                          .repetition_penalty = 1};
    if (rollout_sampling_from_model(c->model.path, &s)) {
        log_warn("%s (not used by rlvr train)", err_msg());
        return;
    }
    int differs = 0;
    for (int i = 0; i < ROLLOUT_GEN_N; i++) differs |= s.from[i] == ROLLOUT_FROM_MODEL;
    if (!differs) return;
    char line[512];
    rollout_sampling_describe(&s, "config", line, sizeof line);
    log_info("%s/generation_config.json is not followed by RL rollouts, which sample with rollout.* "
             "(temperature %g, top_k %lld, top_p %g, min_p %g); generate and eval would use: %s",
             c->model.path, c->rollout.temperature, (long long)c->rollout.top_k, c->rollout.top_p,
             c->rollout.min_p, line);
    if (s.repetition_penalty != 1)
        log_warn("%s/generation_config.json asks for repetition_penalty %g: not applied to RL rollouts, "
                 "where it would make the sampler's log-probs differ from the policy's",
                 c->model.path, s.repetition_penalty);
}

static int train_job(const rlvr_config *c) {
    note_generation_config(c);
    return trainer_rl(c);
}

int cmd_train(int argc, char **argv) { return run_job(argc, argv, train_usage, train_job); }

int cmd_sft(int argc, char **argv) { return run_job(argc, argv, sft_usage, trainer_sft); }

/* Take --out FILE (or --out=FILE) out of argv, before the config options are read, so that FILE
 * is never taken for the config file; *argc shrinks, the order of the rest is kept. */
static int take_out_option(int *argc, char **argv, const char **out) {
    int n = 1;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], "--out")) {
            if (i + 1 >= *argc || !argv[i + 1][0] || !strncmp(argv[i + 1], "--", 2))
                return err_set("--out needs a value: the file to write the JSON report to");
            *out = argv[++i];
        } else if (!strncmp(argv[i], "--out=", 6)) {
            if (!argv[i][6]) return err_set("--out needs a value: the file to write the JSON report to");
            *out = argv[i] + 6;
        } else {
            argv[n++] = argv[i];
        }
    }
    *argc = n;
    return 0;
}

/* The report file of `rlvr eval` (--out), for eval_job. */
static const char *eval_out;

static int eval_job(const rlvr_config *c) { return trainer_eval_job(c, eval_out); }

int cmd_eval(int argc, char **argv) {
    if (!cli_wants_help(argc, argv) && take_out_option(&argc, argv, &eval_out)) return cli_fail(NULL);
    return run_job(argc, argv, eval_usage, eval_job);
}

int cmd_export(int argc, char **argv) {
    if (cli_wants_help(argc, argv)) {
        fputs(export_usage, stdout);
        return 0;
    }
    int force = 0, peft = 0, bad = argc < 3;
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--force")) force = 1;
        else if (!strcmp(argv[i], "--peft")) peft = 1;
        else bad = 1;
    }
    if (bad) {
        fputs(export_usage, stderr);
        return 2;
    }
    int full = io_dir_nonempty(argv[2]);
    if (full < 0) return cli_fail(NULL);
    if (full && !force) {
        err_set("export: '%s' is not empty: pass --force to replace it whole", argv[2]);
        return cli_fail(NULL);
    }
    if (trainer_export_checkpoint(argv[1], argv[2], peft)) return cli_fail(NULL);
    printf("exported %s to %s\n", argv[1], argv[2]);
    return 0;
}
