/* cfg — the configuration of a run: one declarative schema table, typed values, JSON in and out.
 *
 * Every key of every module is a row of the table in cfg_schema.c: its path ("rollout.top_p"),
 * type, default, range or allowed values, and one line of help. The same table drives parsing of
 * JSON config files, `--set key=value` overrides, validation, the printed resolved config and
 * docs/CONFIG.md, so none of them can drift from another. Values land in the plain struct
 * rlvr_config, which modules read directly (c->run.seed).
 * Deliberately not here: cross-key checks that need a module's knowledge (the module does them),
 * environment-variable overrides (one source of truth: file, then --set). */
#ifndef RLVR_CFG_H
#define RLVR_CFG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum { CFG_BOOL, CFG_INT, CFG_FLOAT, CFG_STRING, CFG_ENUM, CFG_STRLIST } cfg_type;

typedef struct cfg_strlist {
    int n;
    char **v; /* n owned strings */
} cfg_strlist;

/* ---- the settings, one struct per section; fields are named after their keys ---- */

typedef struct cfg_run {
    char *dir;       /* run directory: resolved config, metrics, checkpoints, rollout log */
    char *note;      /* free text kept in the resolved config (a recipe's source) */
    int64_t seed;
    int64_t threads; /* intra-op threads; 0 = libtorch's default */
    int log_level;   /* log_level enum order: debug info warn error quiet */
    int tensorboard; /* also write TensorBoard event files into dir */
} cfg_run;

typedef struct cfg_reward {
    int verifier; /* math gsm8k countdown kk none */
    struct { int fallback; double tolerance; } math;
    struct { double weight, correct, wrong; } accuracy;
    struct { double weight; } format;
    struct {
        double weight, correct_short, correct_think, wrong_short, wrong_think, format_error;
    } thinkless;
    struct {
        double weight, correct_at_0, correct_at_max, wrong_at_0, wrong_at_max, exceed;
        int64_t margin, max_len;
    } cosine;
    struct { double weight; int64_t max_len, buffer; } overlong;
    struct { double weight; int64_t max_len; } lgrpo;
    struct {
        double weight, timeout_s, failure_score;
        cfg_strlist command;
        int64_t cpu_s, memory_mb, max_files;
    } external;
    struct { double weight, failure_score; char *path, *arg; } plugin;
} cfg_reward;

typedef struct cfg_dist {
    int backend; /* auto mpi nccl */
    double bucket_mb, timeout_s;
    int64_t check_every;
    char *nccl_lib;
} cfg_dist;

typedef struct cfg_algo {
    int estimator; /* grpo drgrpo batch none psr nsr wreinforce degrpo */
    int64_t std_ddof;
    double std_eps;
    struct { double eps_low, eps_high, dual, log_ratio; } clip;
    int ratio_level; /* token sequence */
    int aggregation; /* auto seq_mean_token_mean token_mean constant seq_mean_token_sum degrpo */
    int64_t constant_divisor;
    struct { double alpha; int std; int resp_norm; /* batch sample */ } degrpo;
    struct { double coef; int type; /* k1 k2 k3 abs */ } kl;
    double entropy_coef;
    int mask_truncated;
    struct { int enabled; int metric; /* acc reward */ int64_t max_draws; } dynamic_sampling;
    struct { double lambda; } wreinforce;
    int old_logprobs;        /* sampler recompute */
    double tis_cap;
    int logprob_temperature; /* rollout one */
} cfg_algo;

typedef struct cfg_optim {
    double lr, beta1, beta2, eps, weight_decay, grad_clip, min_lr;
    int schedule;      /* constant cosine linear */
    int schedule_unit; /* optimizer_step rl_step */
    int64_t warmup_steps, total_steps;
    int master_weights;
} cfg_optim;

typedef struct cfg_rollout {
    double temperature;
    int64_t top_k;
    double top_p;
    double min_p;
    int64_t max_new_tokens;
    cfg_strlist stop;
    double max_cache_mb;
} cfg_rollout;

typedef struct cfg_data {
    int source; /* jsonl addition arithmetic countdown kk */
    char *train_path, *test_path;
    struct { char *prompt, *answer, *response, *metadata, *task, *group; } fields;
    int64_t seed_offset, train_size, test_size;
    int shuffle;
} cfg_data;

typedef struct cfg_model {
    char *path;        /* Hugging Face model directory */
    int chat_template; /* auto none chatml qwen2 qwen2.5 qwen3 llama3 */
    int dtype;         /* f32 bf16 */
    char *device;
    char *adapter;     /* PEFT LoRA adapter directory loaded on top of path */
    struct { int64_t rank; double alpha, dropout; cfg_strlist targets; } lora;
} cfg_model;

typedef struct cfg_train {
    int64_t steps, prompts_per_step, group_size, epochs, mini_batches, micro_batch_tokens;
    int64_t save_every, keep_last, eval_every, log_every;
    int resume;        /* auto never */
    int activation_checkpointing; /* recompute each decoder layer in backward */
    double memory_limit_gib;      /* cap on the estimated training state; 0 = none */
} cfg_train;

typedef struct cfg_sft {
    int64_t steps, batch_size, warmup_steps, save_every;
    double lr, min_lr;
    int mode;          /* both think short */
} cfg_sft;

typedef struct cfg_eval {
    int64_t problems, samples, short_m;
    double temperature;
    int64_t top_k;
    double top_p, min_p, repetition_penalty;
} cfg_eval;

#define CFG_MAX_KEYS 256

typedef struct rlvr_config {
    cfg_run run;
    cfg_model model;
    cfg_train train;
    cfg_sft sft;
    cfg_eval eval;
    cfg_rollout rollout;
    cfg_reward reward;
    cfg_data data;
    cfg_dist dist;
    cfg_algo algo;
    cfg_optim optim;
    unsigned char given[CFG_MAX_KEYS]; /* per schema row: a file or --set gave it a value */
} rlvr_config;

/* ---- the schema ---- */

typedef struct cfg_key {
    const char *path;    /* dotted key, "run.seed" */
    cfg_type type;
    size_t offset;       /* of the field in rlvr_config */
    const char *def;     /* default, written as on the command line; NULL = empty */
    const char *range;   /* "[0,1]", "(0,inf)", ... for INT/FLOAT; NULL = unbounded */
    const char *choices; /* "a|b|c" for ENUM; the value stored is the index */
    const char *help;
} cfg_key;

extern const cfg_key cfg_schema[];
extern const int cfg_schema_len;

/* The row for a dotted path, or NULL. */
const cfg_key *cfg_find(const char *path);

/* Fill every field with its default. Returns 0, or -1 if the table itself is inconsistent. */
int cfg_init(rlvr_config *c);
/* Release owned strings and lists; the struct may be re-initialised. cfg_free(NULL) is a no-op. */
void cfg_free(rlvr_config *c);

/* Merge a JSON file (nested objects) over the current values. Unknown keys, wrong types,
 * out-of-range values, duplicate keys and malformed JSON are errors naming the file and key
 * (and line and column for syntax). Returns 0 or -1 with err_set. */
int cfg_load_file(rlvr_config *c, const char *path);
/* Apply one "a.b.c=value" override, typed by the schema. Returns 0 or -1 with err_set. */
int cfg_set(rlvr_config *c, const char *assignment);

/* 1 when a config file or a --set gave the key at path a value (even one equal to its default),
 * 0 when it holds its schema default or path is unknown. Lets a module put another source (a
 * model's generation_config.json) between the user's values and the defaults. A resolved config
 * written back to a file gives every key. */
int cfg_given(const rlvr_config *c, const char *path);

/* The resolved config as pretty JSON (nested, every key). Caller frees. */
char *cfg_to_json(const rlvr_config *c);
/* Write the reference page (Markdown table of every key) generated from the schema. */
void cfg_write_markdown(FILE *out);

/* Name of the enum value stored at `path` (e.g. "info"); NULL if path is not an enum. */
const char *cfg_enum_name(const rlvr_config *c, const char *path);

/* ---- binding an enum key's choices to a module's values, by name ----
 * A module lists the names it accepts beside its own values, ended by a row with a NULL name:
 *     const cfg_choice adv_estimator_choices[] = {{"grpo", ADV_GRPO}, ..., {NULL, 0}};
 * so reordering the choices in cfg_schema.c can never swap what a name means. */
typedef struct cfg_choice {
    const char *name;
    int value;
} cfg_choice;

/* The value table binds to the name chosen for enum key `path`: 0 with *value set, or -1 with
 * err_set naming the key and the choice when the table has no row for it. */
int cfg_choice_value(const rlvr_config *c, const char *path, const cfg_choice *table, int *value);
/* The same for the value stored in a section's field (`stored`, as cfg keeps it), for modules that
 * are handed one section of the config. */
int cfg_choice_of(const char *path, int stored, const cfg_choice *table, int *value);
/* 0 when table binds every choice of enum key `path` once and nothing else (the tests check each
 * module's table with it); -1 with err_set naming the first choice missing, repeated or unknown. */
int cfg_choices_check(const char *path, const cfg_choice *table);

#endif
