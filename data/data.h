/* data — the prompts a run trains and evaluates on: JSONL datasets, built-in synthetic tasks with
 * step-by-step solutions for SFT, and a deterministic, resumable order over them.
 *
 * A dataset is loaded whole into memory. A JSONL file has one JSON object per line; its field names
 * come from the config (data.fields.*), and a bad line (not JSON, a missing field, a wrong type) is
 * an error naming the file and line. The built-in tasks (hybrid addition, multi-digit arithmetic,
 * countdown, knights-and-knaves) generate example i of a split from (seed, task, split, i) alone,
 * so a train and a test split are fixed by the seed on every machine. Every dataset carries an FNV-1a 64
 * checksum (of the file's bytes, or of the generated examples) that checkpoints record.
 *
 * The order of examples is a cursor (epoch, position) over a permutation of the dataset drawn from
 * (seed, epoch) by the project's counter-based generator (common/rng.h: a splitmix64 stream whose
 * start is Philox of the key): no hidden state, the same permutation on every machine, and a saved
 * cursor continues the identical stream. docs/DATA.md shows the formats and every built-in task
 * with examples.
 *
 * Deliberately not here: tokenisation and chat templates (model/), scoring (rewards/, which
 * grades the knights-and-knaves answers of the puzzles made here), batching into tensors
 * (trainer/), datasets too large for memory. */
#ifndef RLVR_DATA_H
#define RLVR_DATA_H

#include "common/cfg.h"

#include <stddef.h>
#include <stdint.h>

/* ---- examples and datasets ---- */

typedef struct data_example {
    char *prompt;         /* the text the model is given */
    char *answer;         /* reference answer; NULL when the dataset has none (SFT pairs) */
    char *metadata;       /* JSON object text, or NULL. Built-ins: {"task": verifier name,
                             "builtin": task name, "difficulty": ..., task fields} */
    char *response;       /* SFT target: the step-by-step solution (<think> mode for built-ins);
                             NULL when the dataset has none */
    char *response_short; /* SFT target in <short> mode (built-ins); NULL otherwise */
    char *group;          /* the row's data.fields.group value as text (evaluation breakdown); or NULL */
    int64_t line;         /* 1-based line in the JSONL file; 0 for built-ins */
} data_example;

typedef struct data_set {
    char name[256];       /* the file path, or "builtin:<task>/<split>" */
    int64_t n;            /* examples, >= 1 */
    data_example *ex;     /* n examples, owned */
    uint64_t checksum;    /* FNV-1a 64 of the file's bytes, or of the built-in examples' fields */
} data_set;

/* Field names of a JSONL row. prompt is required; answer is required in every row when named
 * (NULL or "" = not read); response, metadata (a JSON object), task (a string, stored as the
 * metadata's "task") and group (a string or number, kept as text) are optional per row. */
typedef struct data_fields {
    const char *prompt, *answer, *response, *metadata, *task, *group;
} data_fields;

/* Read a JSONL file. NULL with err_set: "path:LINE: what was expected" for a bad row, or naming
 * the file when it cannot be read or holds no example. Blank lines are skipped. */
data_set *data_load_jsonl(const char *path, const data_fields *f);

typedef enum { DATA_TASK_ADDITION, DATA_TASK_ARITHMETIC, DATA_TASK_COUNTDOWN, DATA_TASK_KK } data_task;
typedef enum { DATA_SPLIT_TRAIN, DATA_SPLIT_TEST } data_split;

/* Name of a task ("addition", ...) and the reverse; -1 with err_set on an unknown name. */
const char *data_task_name(data_task t);
int data_task_parse(const char *name, data_task *out);

/* Example `index` of a built-in task's split, a pure function of its arguments. Fills *out with
 * owned strings (free with data_example_clear). Returns 0, or -1 with err_set. */
int data_builtin_example(data_task task, data_split split, uint64_t seed, int64_t index,
                         data_example *out);
/* Examples 0..n-1 of a built-in task's split. NULL with err_set. */
data_set *data_builtin(data_task task, data_split split, uint64_t seed, int64_t n);

/* The dataset of a split as the config's data section describes it (data.source, paths, fields,
 * sizes; built-ins use seed run.seed + data.seed_offset). NULL with err_set naming the key. */
data_set *data_open(const rlvr_config *c, data_split split);

void data_example_clear(data_example *e);
void data_set_free(data_set *d);

/* ---- the hybrid addition task's symbols (docs/DATA.md) ----
 * Its texts are written in 19 symbols: <pad> <bos> <eos>, the digits, "+", "=", ";", <short>,
 * <think>, </think>; ids are the positions in data_addition_symbols. */
#define DATA_ADDITION_NSYM 19
extern const char *const data_addition_symbols[DATA_ADDITION_NSYM];
/* Split text into symbol ids (no <bos>/<eos> added). Returns the count, or -1 with err_set on a
 * character outside the symbols or more than cap symbols. */
int data_addition_split(const char *text, int32_t *ids, int cap);

/* ---- knights and knaves (the "kk" task): knights always tell the truth, knaves always lie ---- */

#define DATA_KK_MAX 8
typedef struct data_kk_puzzle {
    int n;                               /* people, 2..DATA_KK_MAX */
    char names[DATA_KK_MAX][16];
    char statements[DATA_KK_MAX][160];   /* what each person says, in words */
    int knight[DATA_KK_MAX];             /* the unique solution: 1 knight, 0 knave */
} data_kk_puzzle;

/* A random puzzle with n people and exactly one solution, deterministic in seed. Returns 0, or -1
 * with err_set on a bad n. */
int data_kk_generate(uint64_t seed, int n, data_kk_puzzle *p);
/* The prompt text of a puzzle and its reference answer ("Alice: knight, Bob: knave"). */
int data_kk_format(const data_kk_puzzle *p, char *prompt, size_t pcap, char *answer, size_t acap);

/* ---- order: deterministic shuffling and epochs ---- */

/* The permutation of epoch `epoch`: Fisher-Yates over 0..n-1 driven by the rng_stream
 * (common/rng.h) of (seed, epoch), so it is a pure function of its arguments. */
void data_permutation(uint64_t seed, int64_t epoch, int64_t n, int64_t *perm);

typedef struct data_sampler {
    uint64_t seed;
    int64_t n;
    int shuffle;      /* 0: 0, 1, ..., n-1 every epoch */
    int64_t epoch;    /* epochs completed */
    int64_t pos;      /* examples taken in this epoch, 0..n-1 */
    int64_t *perm;    /* the permutation of `epoch`, n entries */
} data_sampler;

/* A sampler at (epoch 0, position 0). NULL with err_set when n < 1. */
data_sampler *data_sampler_init(int64_t n, uint64_t seed, int shuffle);
/* The sampler of a config's training set of n examples: seed run.seed + data.seed_offset,
 * data.shuffle. */
data_sampler *data_sampler_open(const rlvr_config *c, int64_t n);
void data_sampler_free(data_sampler *s);
/* Index of the next example; moves to the next epoch (a new permutation) after the last one. */
int64_t data_sampler_next(data_sampler *s);

/* The cursor as bytes, for a checkpoint: "RLVRCUR1", then seed, n, shuffle, epoch, pos as
 * little-endian 64-bit integers. */
#define DATA_CURSOR_BYTES 48
void data_sampler_save(const data_sampler *s, uint8_t out[DATA_CURSOR_BYTES]);
/* Continue from saved bytes. -1 with err_set when they are not a cursor or were saved for another
 * dataset size, seed or shuffle setting (named in the message). */
int data_sampler_restore(data_sampler *s, const uint8_t *buf, size_t len);

/* ---- checksums ---- */

#define DATA_FNV_OFFSET 0xcbf29ce484222325ull
/* FNV-1a 64 of n bytes, continuing from h (DATA_FNV_OFFSET to start). */
uint64_t data_fnv1a64(uint64_t h, const void *p, size_t n);

#endif
