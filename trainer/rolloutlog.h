/* rolloutlog — the rollout log of a run: every prompt and completion of every step, in one HDF5
 * file that grows step by step and that h5py reads directly.
 *
 * The file has the root attributes format ("rlvr.rollouts") and format_version
 * (ROLLOUTLOG_FORMAT_VERSION, checked when an existing log is reopened), and two groups of
 * one-dimensional, chunked datasets with unlimited length, one row per item:
 *   prompts/      step, index (in the dataset), text, answer, ids (variable-length int32)
 *   completions/  step, prompt_row (row in prompts/), sample (0..G-1), text, ids, length (tokens),
 *                 finish_reason, reward, advantage, and subscores/<name> (one float64 column per
 *                 reward sub-score; NaN in rows that lack it)
 * Strings are variable-length UTF-8. Each append is flushed to disk before it returns. A resumed
 * run reopens the log and drops the rows of the steps it will redo, so the log of a stopped and
 * resumed run has the same rows as that of a straight run. docs/DATA.md shows it from h5py.
 * Deliberately not here: reading the log back in C (analysis is done in Python), compression,
 * concurrent readers while the run writes (HDF5 SWMR). */
#ifndef RLVR_ROLLOUTLOG_H
#define RLVR_ROLLOUTLOG_H

#include "rewards/reward.h"

#include <stdint.h>

#define ROLLOUTLOG_FORMAT "rlvr.rollouts"
#define ROLLOUTLOG_FORMAT_VERSION 1

typedef struct rolloutlog_prompt {
    int64_t index;       /* the example's index in its dataset */
    const char *text;    /* the prompt as given to the chat template */
    const char *answer;  /* reference answer; NULL is stored as "" */
    const int32_t *ids;  /* (n_ids,) prompt tokens after the chat template */
    int n_ids;
} rolloutlog_prompt;

typedef struct rolloutlog_completion {
    int prompt;                 /* index into this append's prompts */
    int sample;                 /* 0..G-1 within the prompt's group */
    const char *text;           /* decoded completion */
    const int32_t *ids;         /* (n_ids,) completion tokens; n_ids is stored as its length */
    int n_ids;
    const char *finish_reason;  /* "stop", "length", ...; NULL is stored as "" */
    double reward, advantage;
    const reward_subscore *sub; /* n_sub named sub-scores of the reward */
    int n_sub;
} rolloutlog_completion;

typedef struct rolloutlog rolloutlog;

/* next_step 0: create a new log at path (replacing any file there). next_step > 0: continue the
 * log at path (created if missing), first dropping its rows of steps >= next_step. NULL with
 * err_set naming the file. */
rolloutlog *rolloutlog_open(const char *path, int64_t next_step);
/* Append one step: np prompts and nc completions. Steps must not decrease. Returns 0 or -1 with
 * err_set. */
int rolloutlog_append(rolloutlog *l, int64_t step, const rolloutlog_prompt *p, int np,
                      const rolloutlog_completion *c, int nc);
/* Rows in prompts/ and completions/. */
int64_t rolloutlog_prompt_rows(const rolloutlog *l);
int64_t rolloutlog_completion_rows(const rolloutlog *l);
/* Flush and close; 0, or -1 with err_set when the last writes failed. NULL is a no-op. */
int rolloutlog_close(rolloutlog *l);

#endif
