/* rlvr — command-line entry: global flags, the subcommand table, shared option handling.
 * Each subcommand lives in cmd_<name>.c and is listed in `commands` below. */
#include "cli.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"
#include "tensor/ts.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_bench(int argc, char **argv);
int cmd_config(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_sft(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_generate(int argc, char **argv);
int cmd_init_model(int argc, char **argv);
int cmd_reward(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

static const cli_command commands[] = {
    {"bench", "measure throughput: `bench rollout` (P x G sampling, time split, GEMM fraction)", cmd_bench},
    {"config", "show the resolved config, list keys, or write the config reference", cmd_config},
    {"doctor", "check the machine: libtorch, devices, BLAS speed, MPI, NCCL, HDF5", cmd_doctor},
    {"eval", "n samples per test problem: accuracy, unbiased pass@k, length, mode ratios (JSON)", cmd_eval},
    {"export", "write a checkpoint's model as a Hugging Face directory (safetensors, config, tokenizer)", cmd_export},
    {"generate", "sample a completion for a prompt (chat template, KV cache, temperature/top-k/top-p)", cmd_generate},
    {"init-model", "write a randomly initialised Llama/Qwen2/Qwen3 model directory (HF layout)", cmd_init_model},
    {"reward", "score saved completions (JSON lines on stdin) with the config's reward setup", cmd_reward},
    {"score", "per-token log-probs of {\"ids\"} / {\"text\"} JSON lines under a model", cmd_score},
    {"sft", "supervised warm-up on prompt/response pairs (loss on response tokens only)", cmd_sft},
    {"tokenize", "encode {\"text\"} / decode {\"ids\"} JSON lines with a model's tokenizer", cmd_tokenize},
    {"train", "RL training from a config: rollout, rewards, advantages, policy update, checkpoints", cmd_train},
};
static const int ncommands = (int)(sizeof commands / sizeof commands[0]);

int cli_fail(const char *msg) {
    fprintf(stderr, "rlvr: error: %s\n", msg ? msg : err_msg());
    return 1;
}

int cli_parse_int(const char *opt, const char *v, int64_t lo, int64_t hi, int64_t *out) {
    char *end;
    errno = 0;
    long long x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        if (hi == INT64_MAX) return err_set("%s: expected an integer >= %lld, got '%s'", opt, (long long)lo, v);
        return err_set("%s: expected an integer in [%lld,%lld], got '%s'", opt, (long long)lo, (long long)hi, v);
    }
    *out = x;
    return 0;
}

int cli_wants_help(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
    return 0;
}

void cli_put_json(cJSON *o) {
    char *s = cJSON_PrintUnformatted(o);
    puts(s);
    free(s);
    cJSON_Delete(o);
}

int cli_load_config(int argc, char **argv, rlvr_config *c, int need_file, char **rest, int *nrest) {
    const char *file = NULL;
    const char **sets = mem_calloc((size_t)argc + 1, sizeof *sets);
    int nsets = 0;
    *nrest = 0;
    rest[(*nrest)++] = argv[0];
    int rc = -1;
    if (cfg_init(c)) {
        free(sets);
        return -1;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--set") || !strcmp(a, "--config")) {
            if (i + 1 >= argc) {
                err_set("%s needs a value", a);
                goto out;
            }
            if (a[2] == 's') sets[nsets++] = argv[++i];
            else file = argv[++i];
        } else if (!strncmp(a, "--set=", 6)) {
            sets[nsets++] = a + 6;
        } else if (a[0] != '-' && !file) {
            file = a;
        } else {
            rest[(*nrest)++] = argv[i];
        }
    }
    if (need_file && !file) {
        err_set("missing config file (usage: rlvr %s CONFIG.json [--set key=value ...])", argv[0]);
        goto out;
    }
    if (file && cfg_load_file(c, file)) goto out;
    for (int i = 0; i < nsets; i++)
        if (cfg_set(c, sets[i])) goto out;
    log_level level;
    if (log_level_parse(cfg_enum_name(c, "run.log_level"), &level)) goto out;
    log_set_level(level);
    if (c->run.threads > 0) ts_set_num_threads((int)c->run.threads);
    ts_manual_seed((uint64_t)c->run.seed);
    rc = 0;
out:
    free(sets);
    return rc;
}

static void usage(FILE *out) {
    fprintf(out, "rlvr %s — RL post-training for reasoning LLMs, in C on libtorch\n\n"
                 "usage: rlvr [--version] [--help] COMMAND [ARGS]\n\ncommands:\n",
            RLVR_VERSION);
    for (int i = 0; i < ncommands; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n`rlvr COMMAND --help` describes one command.\n");
}

int main(int argc, char **argv) {
    ts_blas_pick_kernels(argv); /* OpenBLAS's fast kernels on a CPU it does not know (ts.h) */
    mem_keep_heap();
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("rlvr %s (libtorch %s)\n", RLVR_VERSION, ts_version());
        return 0;
    }
    for (int i = 0; i < ncommands; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "rlvr: error: unknown command '%s' (`rlvr --help` lists them)\n", argv[1]);
    return 2;
}
