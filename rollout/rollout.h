/* rollout — batched sampling of G completions for each of P prompts from the trainer's own
 * weights, with a KV cache.
 *
 * Each prompt is prefilled once and its cache rows copied to its G samples; prompts of different
 * lengths are left-padded into one batch; rows that finish (EOS, a stop token, a stop string,
 * max_new_tokens, or the model's context) leave the batch, so a long tail does not pay for rows
 * that are done. A configurable cap on KV-cache memory splits the work into batches of whole
 * rows instead of failing. Logits stay on the model's device: the whole batch is sampled there
 * with tensor ops, and only the chosen ids and their log-probs come to the host. Randomness is
 * counter-based, keyed by (seed, step, prompt key, sample index, position): a completion does not
 * depend on what shares its batch. A model with more embedding rows than the tokenizer has tokens
 * (Qwen's padded 151,936) never draws one of the extra ids. Every sampled token comes with its
 * log-prob under the policy at the trainer's log-prob temperature, the number the trainer's
 * importance ratio uses.
 * Deliberately not here: tokenization and chat templates (model/), rewards, beam search,
 * speculative decoding. */
#ifndef RLVR_ROLLOUT_H
#define RLVR_ROLLOUT_H

#include "common/cfg.h"
#include "model/model.h"
#include "model/tokenizer.h"

#include <stdint.h>

/* ---- the sampler: one token per row of logits, on the logits' device ---- */

typedef struct sampler_params {
    double temperature; /* 0 = greedy (argmax, lowest id on ties) */
    int64_t top_k;      /* keep the k most likely and every id tied with the k-th; 0 = off */
    double top_p;       /* keep the smallest most-likely set with mass >= top_p; 1 = off */
    double min_p;       /* drop tokens below min_p x the top probability; 0 = off */
} sampler_params;

/* Check ranges; -1 with err_set naming the field. */
int sampler_params_check(const sampler_params *p);

/* The 64-bit key of one row's random stream (Philox-4x32-10 of the four keys): the uniform of its
 * token at position t is ts_counter_uniform(key, t). */
int64_t sampler_row_key(uint64_t seed, uint64_t step, uint64_t prompt_key, uint64_t index);

/* Draw one token per row of logits (R, V) from the ids [0, n) (n < V: the model has more rows
 * than the tokenizer has tokens; the others are never drawn) with the uniforms u (R) f64: filters
 * in the order temperature, top-k, top-p, min-p, then inverse CDF over the kept tokens: in id
 * order without filters, otherwise in order of probability (ties by id). *ids (R) i64 on the
 * logits' device; *logprobs (R) f32 the log-prob of each under
 * log_softmax(logits / lp_temperature) over all V rows, unfiltered: what the trainer computes.
 * Both owned by the caller; -1 with an error. */
int sampler_sample(const ts_tensor *logits, int64_t n, const sampler_params *p, const ts_tensor *u,
                   double lp_temperature, ts_tensor **ids, ts_tensor **logprobs);

/* Hugging Face's repetition penalty: for each row of logits (R, V), each id in that row of ids
 * (R, K) i64 (repeats allowed) has its logit divided by penalty when positive, multiplied when
 * negative, once. Returns the new (R, V) logits, owned by the caller. */
ts_tensor *sampler_repetition_penalty(const ts_tensor *logits, const ts_tensor *ids, double penalty);

/* ---- the engine ---- */

/* cancelled: the row was stopped because enough other samples of its prompt had finished
 * (rollout_options.finish_quota); its text is a partial completion. */
typedef enum { ROLLOUT_EOS, ROLLOUT_STOP, ROLLOUT_LENGTH, ROLLOUT_CANCELLED } rollout_finish;

const char *rollout_finish_name(rollout_finish f); /* "eos", "stop", "length", "cancelled" */

typedef struct rollout_options {
    sampler_params sampling;
    int64_t max_new_tokens;        /* >= 1 */
    const int32_t *eos_ids;        /* finish reason "eos"; borrowed */
    int n_eos;
    const int32_t *stop_ids;       /* finish reason "stop"; borrowed */
    int n_stop_ids;
    char *const *stop_strings;     /* finish reason "stop" once the text contains one; borrowed */
    int n_stop_strings;
    const tok_tokenizer *tok;      /* decodes text and checks stop strings; NULL: no text */
    uint64_t seed, step;           /* RNG keys */
    double max_cache_mb;           /* KV-cache cap per batch; 0 = no cap */
    int share_prefix;              /* prefill each prompt once for its G samples (1) or G times */
    int finish_quota;              /* > 0: once this many samples of a prompt have finished (eos,
                                      stop or length), its other rows end as "cancelled" and leave
                                      the KV cache (short-m@k); rows finishing in the same step all
                                      count. 0 = every row runs to its own end */
    double repetition_penalty;     /* Hugging Face's, over the prompt's and completion's tokens:
                                      a positive logit is divided by it, a negative one multiplied,
                                      before the sampler; log-probs are then of the penalised
                                      logits (never for training). 0 or 1 = off */
    double logprob_temperature;    /* the log-probs recorded are of log_softmax(logits / this): the
                                      trainer's (the sampling temperature, as TRL and verl compute
                                      them, or 1); 0 = 1 */
} rollout_options;

typedef struct rollout_sample {
    int prompt;           /* index into the request's prompts */
    int index;            /* sample index within its group, 0..G-1 */
    int32_t *ids;         /* (len) completion token ids, the stopping token included */
    float *logprobs;      /* (len) log-prob of each, over all the model's rows, at
                             logprob_temperature */
    int len;
    rollout_finish finish;
    char *text;           /* decoded completion without a final EOS/stop-id token; NULL w/o tok */
} rollout_sample;

typedef struct rollout_result {
    int n;                    /* P x G samples, prompt-major: sample g of prompt p at p*G + g */
    rollout_sample *samples;
    int64_t prefill_tokens;   /* prompt tokens run through the model (padding excluded) */
    int64_t decode_tokens;    /* rows x decode steps actually computed */
    double prefill_s, decode_s, sample_s; /* wall time per phase; sample_s: the sampler's ops,
                                             the copy of ids and log-probs to the host and the
                                             finish checks */
    int batches;              /* how many cache-sized batches the work was split into */
    int cancelled;            /* rows ended by finish_quota */
} rollout_result;

/* Sample G completions for each of the P prompts (prompt p is prompt_ids[p][0..prompt_lens[p]),
 * its RNG key prompt_keys[p], a stable id such as the dataset index). Runs without gradients.
 * Errors (empty prompt, a prompt that fills the model's context, G < 1, max_new_tokens < 1, bad
 * sampler values) are reported before any work. A row that reaches the context limit finishes
 * with "length". Returns 0, or -1 with err_set; out is valid only on success. */
int rollout_generate(model *m, const rollout_options *opt, int P, const int32_t *const *prompt_ids,
                     const int *prompt_lens, const uint64_t *prompt_keys, int G,
                     rollout_result *out);
void rollout_result_free(rollout_result *r);

/* Options from the config's rollout section (sampling, max_new_tokens, stop strings, cache cap);
 * eos/stop ids, tokenizer, seed and step are the caller's. The strings stay owned by c. */
void rollout_options_from_cfg(const rlvr_config *c, rollout_options *opt);

/* ---- sampling defaults from a model directory's generation_config.json ----
 * As Hugging Face's generate: the file's temperature, top_k, top_p, min_p, repetition_penalty
 * and do_sample (false = greedy) are the defaults, and what the user gives (command line,
 * config) overrides them. Departures, deliberate: a file that does not set do_sample leaves the
 * decoding mode alone (Hugging Face would decode greedily: our exports and many base models
 * carry a file with only token ids), and keys the file leaves out keep rlvr's defaults, except
 * that a file with do_sample true and no top_k gets Hugging Face's top_k 50. */

enum { ROLLOUT_GEN_TEMPERATURE, ROLLOUT_GEN_TOP_K, ROLLOUT_GEN_TOP_P, ROLLOUT_GEN_MIN_P,
       ROLLOUT_GEN_REPETITION_PENALTY, ROLLOUT_GEN_N };
typedef enum { ROLLOUT_FROM_DEFAULT, ROLLOUT_FROM_MODEL, ROLLOUT_FROM_USER } rollout_origin;

#define ROLLOUT_GEN_MAX_EOS 8

typedef struct rollout_sampling {
    sampler_params p;
    double repetition_penalty;            /* 1 = off */
    int given[ROLLOUT_GEN_N];             /* input: the user gave this value (ROLLOUT_GEN_*) */
    rollout_origin from[ROLLOUT_GEN_N];   /* output: where each value came from */
    int greedy_by_model;                  /* output: the file's do_sample false made it greedy */
    int top_k_hf_default;                 /* output: top_k 50 because do_sample true and no top_k */
    int32_t eos[ROLLOUT_GEN_MAX_EOS];     /* output: the file's eos_token_id(s) */
    int n_eos;
    int have_file;                        /* output: the directory has generation_config.json */
} rollout_sampling;

/* Fill the values s->given does not mark from dir/generation_config.json (s holds the user's
 * values and rlvr's defaults on entry). A missing file changes nothing; a file that is not a JSON
 * object or has a value of the wrong type or range is an error naming the file and key. */
int rollout_sampling_from_model(const char *dir, rollout_sampling *s);
/* "temperature 0.7 (generation_config.json), top_k 20 (...), ..." naming each value's origin;
 * user names the user's source ("command line", "config"). */
void rollout_sampling_describe(const rollout_sampling *s, const char *user, char *buf, size_t cap);

#endif
