/* rollout — the batched generation loop over the model's KV cache; see rollout.h.
 *
 * Work is split into batches of whole rows (sample g of prompt p) that fit the cache cap. In a
 * batch: the distinct prompts are left-padded and prefilled once, the cache rows are copied to
 * the samples (index_select), then each decode step samples one token per live row on the
 * model's device (sampler.c; only the ids and log-probs come to the host, for the finish checks)
 * and rows that finished — or were cancelled because their prompt has its quota of finished
 * samples — leave the cache before the next step, their places taken by the batch's last rows. */
#include "rollout.h"

#include "common/err.h"
#include "common/log.h"
#include "common/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *rollout_finish_name(rollout_finish f) {
    static const char *const names[] = {"eos", "stop", "length", "cancelled"};
    return (unsigned)f < 4 ? names[f] : "?";
}

void rollout_options_from_cfg(const rlvr_config *c, rollout_options *opt) {
    memset(opt, 0, sizeof *opt);
    opt->sampling.temperature = c->rollout.temperature;
    opt->sampling.top_k = c->rollout.top_k;
    opt->sampling.top_p = c->rollout.top_p;
    opt->sampling.min_p = c->rollout.min_p;
    opt->max_new_tokens = c->rollout.max_new_tokens;
    opt->stop_strings = c->rollout.stop.v;
    opt->n_stop_strings = c->rollout.stop.n;
    opt->max_cache_mb = c->rollout.max_cache_mb;
    opt->share_prefix = 1;
}

void rollout_result_free(rollout_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n && r->samples; i++) {
        free(r->samples[i].ids);
        free(r->samples[i].logprobs);
        free(r->samples[i].text);
    }
    free(r->samples);
    memset(r, 0, sizeof *r);
}

static int in_list(int32_t tok, const int32_t *list, int n) {
    for (int i = 0; i < n; i++)
        if (list[i] == tok) return 1;
    return 0;
}

/* True when the completion's tail, decoded, contains a stop string. Each token is at least one
 * byte, so the last (longest stop string + 1) tokens cover any match ending at the newest token;
 * matches inside older tokens were seen at an earlier step. */
static int hits_stop_string(const rollout_options *o, const rollout_sample *s, int window) {
    if (!o->n_stop_strings || !o->tok) return 0;
    int from = s->len > window ? s->len - window : 0;
    char *text = tok_decode(o->tok, s->ids + from, s->len - from, 0);
    int hit = 0;
    for (int i = 0; text && i < o->n_stop_strings && !hit; i++)
        hit = o->stop_strings[i][0] && strstr(text, o->stop_strings[i]) != NULL;
    free(text);
    return hit;
}

typedef struct batch_ctx {
    model *m;
    const rollout_options *o;
    const int32_t *const *prompt_ids;
    const int *prompt_lens;
    const uint64_t *prompt_keys;
    int G;
    int64_t *row_cap;     /* per sample: max new tokens allowed (max_new or context room) */
    int stop_window;
    int64_t n_valid;      /* ids [0, n_valid) may be drawn: the tokenizer's, or all the model's rows */
    double lp_temperature;
    rollout_result *out;
    int *finished;        /* per prompt: samples finished so far (finish_quota); NULL when off */
    unsigned char *done;  /* per live row of a step: it finished */
    int64_t *keys;        /* per live row: its sampler_row_key */
    int64_t *keep;        /* per live row: the indices of the rows still running after a step */
    int64_t *move_dst, *move_src; /* per live row: the cache moves that drop the finished rows */
    int64_t *tok;         /* per live row: the token drawn this step */
    float *lp;            /* per live row: its log-prob */
    int64_t *seen;        /* (rows, longest prompt + max new) ids the repetition penalty reads; NULL when off */
} batch_ctx;

/* Left-pad the prompts of `rows` (sample indices) into ids/mask and prefill; returns the logits
 * (n_rows, V) for those rows, in the current scope. With share_prefix, rows of the same prompt
 * share one prefill row and the cache is then expanded. */
static ts_tensor *prefill(batch_ctx *b, model_cache **cache, const int *rows, int n_rows,
                          int64_t max_new) {
    int *uniq = mem_alloc(sizeof(int) * (size_t)n_rows);
    int64_t *expand = mem_alloc(sizeof(int64_t) * (size_t)n_rows);
    ts_tensor *logits = NULL;
    int n_pre = 0;
    for (int r = 0; r < n_rows; r++) {
        int p = b->out->samples[rows[r]].prompt;
        if (!b->o->share_prefix || n_pre == 0 || uniq[n_pre - 1] != p) uniq[n_pre++] = p;
        expand[r] = n_pre - 1;
    }
    int64_t T = 0;
    for (int i = 0; i < n_pre; i++)
        if (b->prompt_lens[uniq[i]] > T) T = b->prompt_lens[uniq[i]];
    int64_t *ids = mem_calloc((size_t)(n_pre * T), sizeof *ids);
    uint8_t *mask = mem_calloc((size_t)(n_pre * T), 1);
    for (int i = 0; i < n_pre; i++) {
        int len = b->prompt_lens[uniq[i]];
        for (int t = 0; t < len; t++) {
            ids[i * T + (T - len) + t] = b->prompt_ids[uniq[i]][t];
            mask[i * T + (T - len) + t] = 1;
        }
        b->out->prefill_tokens += len;
    }
    int64_t shape[2] = {n_pre, T};
    ts_tensor *tids = ts_from_data(ids, shape, 2, TS_I64), *tmask = ts_from_data(mask, shape, 2, TS_BOOL);
    free(ids);
    free(mask);
    *cache = model_cache_init(b->m, n_pre, T + max_new);
    if (!*cache) goto out;
    logits = model_prefill(b->m, *cache, tids, tmask);
    if (logits && n_pre != n_rows) {
        ts_tensor *sel = ts_to_device(ts_from_data(expand, (int64_t[]){n_rows}, 1, TS_I64), model_device(b->m));
        if (model_cache_index_select(*cache, sel)) logits = NULL;
        else logits = ts_index_select(logits, 0, sel);
    }
out:
    free(uniq);
    free(expand);
    return logits;
}

/* The (n_live, K) i64 tensor of each live row's prompt and completion ids, padded with the row's
 * first id (a repeat changes nothing), for the repetition penalty; in the current scope. */
static ts_tensor *seen_ids(batch_ctx *b, const int *rows, int n_live) {
    int64_t K = 0;
    for (int r = 0; r < n_live; r++) {
        const rollout_sample *s = &b->out->samples[rows[r]];
        if (b->prompt_lens[s->prompt] + s->len > K) K = b->prompt_lens[s->prompt] + s->len;
    }
    for (int r = 0; r < n_live; r++) {
        const rollout_sample *s = &b->out->samples[rows[r]];
        int L = b->prompt_lens[s->prompt];
        int64_t *row = b->seen + r * K;
        for (int64_t k = 0; k < K; k++)
            row[k] = k < L ? b->prompt_ids[s->prompt][k] : k < L + s->len ? s->ids[k - L] : b->prompt_ids[s->prompt][0];
    }
    return ts_to_device(ts_from_data(b->seen, (int64_t[]){n_live, K}, 2, TS_I64), model_device(b->m));
}

/* Sample one token for each of the n_live rows from logits (n_live, V) on the model's device and
 * append it to its sample: b->tok and b->lp get the ids and log-probs, on the host. Returns the
 * ids on the device (owned by the caller), or NULL with an error. */
static ts_tensor *sample_step(batch_ctx *b, const int *rows, int n_live, const ts_tensor *logits,
                              const ts_tensor *keys, int64_t position) {
    const rollout_options *o = b->o;
    ts_tensor *ids = NULL, *lp = NULL;
    ts_scope_begin();
    if (b->seen) logits = sampler_repetition_penalty(logits, seen_ids(b, rows, n_live), o->repetition_penalty);
    ts_tensor *u = ts_counter_uniform(keys, (uint64_t)position);
    int ok = sampler_sample(logits, b->n_valid, &o->sampling, u, b->lp_temperature, &ids, &lp) == 0 &&
             ts_to_host(ids, b->tok, sizeof(int64_t) * (size_t)n_live) == 0 &&
             ts_to_host(lp, b->lp, sizeof(float) * (size_t)n_live) == 0;
    ts_keep(ids);
    ts_scope_end();
    if (!ok) {
        ts_free(ids);
        return NULL;
    }
    for (int r = 0; r < n_live; r++) {
        rollout_sample *s = &b->out->samples[rows[r]];
        if (!isfinite(b->lp[r])) {
            err_set("the model produced non-finite logits (prompt %d, sample %d, token %d)", s->prompt, s->index, s->len);
            ts_free(ids);
            return NULL;
        }
        s->ids[s->len] = (int32_t)b->tok[r];
        s->logprobs[s->len] = b->lp[r];
        s->len++;
    }
    return ids;
}

/* The finish reason of each row after its newest token (b->done[r] set when it finished), and the
 * quota's cancellations; returns how many rows finished. */
static int finish_rows(batch_ctx *b, const int *rows, int n_live) {
    const rollout_options *o = b->o;
    int finished = 0;
    for (int r = 0; r < n_live; r++) {
        rollout_sample *s = &b->out->samples[rows[r]];
        int32_t tok = s->ids[s->len - 1];
        b->done[r] = 1;
        if (in_list(tok, o->eos_ids, o->n_eos)) s->finish = ROLLOUT_EOS;
        else if (in_list(tok, o->stop_ids, o->n_stop_ids)) s->finish = ROLLOUT_STOP;
        else if (hits_stop_string(o, s, b->stop_window)) s->finish = ROLLOUT_STOP;
        else if (s->len >= b->row_cap[rows[r]]) s->finish = ROLLOUT_LENGTH;
        else b->done[r] = 0;
        if (b->done[r] && b->finished) b->finished[s->prompt]++;
    }
    for (int r = 0; r < n_live; r++) {
        rollout_sample *s = &b->out->samples[rows[r]];
        if (!b->done[r] && b->finished && b->finished[s->prompt] >= o->finish_quota) {
            s->finish = ROLLOUT_CANCELLED;
            b->out->cancelled++;
            b->done[r] = 1;
        }
        finished += b->done[r];
    }
    return finished;
}

/* Replace *t (owned, in no scope) by its rows sel, freeing the old handle; 0 or -1. */
static int keep_rows(ts_tensor **t, const ts_tensor *sel) {
    ts_tensor *kept = ts_unscope(ts_index_select(*t, 0, sel));
    TS_CHECK(kept);
    ts_free(*t);
    *t = kept;
    return 0;
}

/* After a step in which rows finished, the first n_keep rows take the live ones: each finished
 * row among them is filled by the last live row beyond them (a row's tokens do not depend on its
 * place in the batch). Sets rows[], b->keep (the old row each new one comes from) and the moves
 * for model_cache_move_rows; returns how many. */
static int fill_holes(batch_ctx *b, int *rows, int n_live, int n_keep) {
    int n_moves = 0, src = n_live - 1;
    for (int r = 0; r < n_keep; r++) {
        b->keep[r] = r;
        if (!b->done[r]) continue;
        while (b->done[src]) src--;
        b->keep[r] = src;
        b->move_dst[n_moves] = r;
        b->move_src[n_moves++] = src;
        rows[r] = rows[src--];
    }
    return n_moves;
}

/* Generate for the samples rows[0..n_rows), which fit one cache. */
static int run_batch(batch_ctx *b, int *rows, int n_rows) {
    int64_t max_new = 0;
    ts_device dev = model_device(b->m);
    for (int r = 0; r < n_rows; r++)
        if (b->row_cap[rows[r]] > max_new) max_new = b->row_cap[rows[r]];
    model_cache *cache = NULL;
    int rc = -1, n_live = n_rows;
    ts_tensor *logits = NULL, *keys = NULL, *ids = NULL;
    for (int r = 0; r < n_rows; r++) {
        const rollout_sample *s = &b->out->samples[rows[r]];
        b->keys[r] = sampler_row_key(b->o->seed, b->o->step, b->prompt_keys[s->prompt], (uint64_t)s->index);
    }
    ts_scope_begin();
    double t0 = log_now();
    logits = ts_unscope(prefill(b, &cache, rows, n_rows, max_new));
    keys = ts_unscope(ts_to_device(ts_from_data(b->keys, (int64_t[]){n_rows}, 1, TS_I64), dev));
    ts_scope_end();
    b->out->prefill_s += log_now() - t0;
    for (int64_t step = 0; logits && keys; step++) {
        double ts0 = log_now();
        if (!(ids = sample_step(b, rows, n_live, logits, keys, step))) break;
        int finished = finish_rows(b, rows, n_live), n_keep = n_live - finished;
        b->out->sample_s += log_now() - ts0;
        if (n_keep == 0) {
            rc = 0;
            break;
        }
        double td = log_now();
        if (finished) {
            int n_moves = fill_holes(b, rows, n_live, n_keep);
            ts_scope_begin();
            ts_tensor *sel = ts_to_device(ts_from_data(b->keep, (int64_t[]){n_keep}, 1, TS_I64), dev);
            int bad = !sel || model_cache_move_rows(cache, n_keep, b->move_dst, b->move_src, n_moves) ||
                      keep_rows(&keys, sel) || keep_rows(&ids, sel);
            ts_scope_end();
            if (bad) break;
        }
        ts_free(logits);
        logits = model_decode_step(b->m, cache, ids);
        ts_free(ids);
        ids = NULL;
        n_live = n_keep;
        b->out->decode_tokens += n_keep;
        b->out->decode_s += log_now() - td;
    }
    ts_free(logits);
    ts_free(keys);
    ts_free(ids);
    model_cache_free(cache);
    return rc;
}

static int check_request(const model *m, const rollout_options *o, int P,
                         const int32_t *const *prompt_ids, const int *prompt_lens, int G) {
    const model_config *c = model_get_config(m);
    if (P < 1) return err_set("rollout: no prompts");
    if (G < 1) return err_set("rollout: group size G must be >= 1, got %d", G);
    if (o->max_new_tokens < 1)
        return err_set("rollout: max_new_tokens must be >= 1, got %lld", (long long)o->max_new_tokens);
    if (sampler_params_check(&o->sampling)) return err_prefix("rollout");
    if (o->finish_quota < 0 || o->finish_quota > G)
        return err_set("rollout: finish_quota must be in [0, G = %d] (0 = off), got %d", G, o->finish_quota);
    if (!(o->repetition_penalty >= 0) || !isfinite(o->repetition_penalty))
        return err_set("rollout: repetition_penalty must be > 0 (1 or 0 = off), got %g", o->repetition_penalty);
    if (!(o->logprob_temperature >= 0) || !isfinite(o->logprob_temperature))
        return err_set("rollout: logprob_temperature must be > 0 (0 = 1), got %g", o->logprob_temperature);
    for (int p = 0; p < P; p++) {
        if (prompt_lens[p] < 1 || !prompt_ids[p])
            return err_set("rollout: prompt %d is empty (a prompt needs at least one token, e.g. "
                           "BOS or the chat template)", p);
        if (prompt_lens[p] >= c->max_position_embeddings)
            return err_set("rollout: prompt %d has %d tokens, the model's context is %lld: no room "
                           "for a completion", p, prompt_lens[p], (long long)c->max_position_embeddings);
        for (int t = 0; t < prompt_lens[p]; t++)
            if (prompt_ids[p][t] < 0 || prompt_ids[p][t] >= c->vocab_size)
                return err_set("rollout: prompt %d token %d is id %d, outside the vocabulary [0, %lld)",
                               p, t, prompt_ids[p][t], (long long)c->vocab_size);
    }
    return 0;
}

/* Every sample's slot in out and its room for new tokens (the request's cap, or what the context
 * leaves); the longest prompt and the longest completion a row may reach. */
static void alloc_samples(batch_ctx *b, int n, int64_t *longest_prompt, int64_t *longest_new) {
    const model_config *c = model_get_config(b->m);
    rollout_result *out = b->out;
    out->samples = mem_calloc((size_t)n, sizeof *out->samples);
    out->n = n;
    *longest_prompt = *longest_new = 0;
    for (int i = 0; i < n; i++) {
        rollout_sample *s = &out->samples[i];
        s->prompt = i / b->G;
        s->index = i % b->G;
        int64_t room = c->max_position_embeddings - b->prompt_lens[s->prompt];
        b->row_cap[i] = b->o->max_new_tokens < room ? b->o->max_new_tokens : room;
        s->ids = mem_alloc(sizeof(int32_t) * (size_t)b->row_cap[i]);
        s->logprobs = mem_alloc(sizeof(float) * (size_t)b->row_cap[i]);
        if (b->prompt_lens[s->prompt] > *longest_prompt) *longest_prompt = b->prompt_lens[s->prompt];
        if (b->row_cap[i] > *longest_new) *longest_new = b->row_cap[i];
    }
}

/* Rows per batch from the cache cap: K and V, every layer, every slot of the longest row. */
static int rows_per_batch(const model *m, const rollout_options *o, int n, int64_t longest) {
    const model_config *c = model_get_config(m);
    double row_bytes = 2.0 * (double)c->num_layers * (double)c->num_kv_heads * (double)c->head_dim *
                       (double)longest * (double)ts_dtype_size(model_dtype(m));
    if (o->max_cache_mb <= 0) return n;
    double fit = o->max_cache_mb * 1048576.0 / row_bytes;
    if (fit < 1)
        log_warn("rollout: one row's KV cache (%.1f MB) exceeds rollout.max_cache_mb (%.1f); "
                 "generating one row at a time", row_bytes / 1048576.0, o->max_cache_mb);
    return fit < 1 ? 1 : fit < n ? (int)fit : n;
}

/* The batches of per_batch samples in order; a sample whose prompt met its finish quota in an
 * earlier batch is cancelled instead of run. */
static int run_batches(batch_ctx *b, int n, int per_batch, int *rows) {
    rollout_result *out = b->out;
    int rc = 0;
    ts_no_grad_begin();
    for (int start = 0; start < n && !rc; start += per_batch) {
        int end = n - start < per_batch ? n : start + per_batch, cnt = 0;
        for (int i = start; i < end; i++) {
            rollout_sample *s = &out->samples[i];
            if (b->finished && b->finished[s->prompt] >= b->o->finish_quota) {
                s->finish = ROLLOUT_CANCELLED;
                out->cancelled++;
            } else {
                rows[cnt++] = i;
            }
        }
        if (cnt == 0) continue;
        out->batches++;
        rc = run_batch(b, rows, cnt);
    }
    ts_no_grad_end();
    return rc;
}

/* Each completion's text, without its final EOS or stop token. */
static int decode_texts(const rollout_options *o, rollout_result *out) {
    for (int i = 0; o->tok && i < out->n; i++) {
        rollout_sample *s = &out->samples[i];
        int len = s->len;
        if (len > 0 && (in_list(s->ids[len - 1], o->eos_ids, o->n_eos) ||
                        in_list(s->ids[len - 1], o->stop_ids, o->n_stop_ids)))
            len--;
        s->text = tok_decode(o->tok, s->ids, len, 0);
        if (!s->text) return -1;
    }
    return 0;
}

int rollout_generate(model *m, const rollout_options *o, int P, const int32_t *const *prompt_ids,
                     const int *prompt_lens, const uint64_t *prompt_keys, int G,
                     rollout_result *out) {
    memset(out, 0, sizeof *out);
    if (check_request(m, o, P, prompt_ids, prompt_lens, G)) return -1;
    const model_config *c = model_get_config(m);
    int n = P * G;
    batch_ctx b = {.m = m, .o = o, .prompt_ids = prompt_ids, .prompt_lens = prompt_lens,
                   .prompt_keys = prompt_keys, .G = G, .stop_window = 1, .out = out};
    int *rows = mem_alloc(sizeof(int) * (size_t)n);
    b.row_cap = mem_alloc(sizeof(int64_t) * (size_t)n);
    b.done = mem_alloc((size_t)n);
    b.keys = mem_alloc(sizeof(int64_t) * (size_t)n);
    b.keep = mem_alloc(sizeof(int64_t) * (size_t)n);
    b.move_dst = mem_alloc(sizeof(int64_t) * (size_t)n);
    b.move_src = mem_alloc(sizeof(int64_t) * (size_t)n);
    b.tok = mem_alloc(sizeof(int64_t) * (size_t)n);
    b.lp = mem_alloc(sizeof(float) * (size_t)n);
    if (o->finish_quota > 0) b.finished = mem_calloc((size_t)P, sizeof *b.finished);
    int64_t tok_n = o->tok ? tok_vocab_size(o->tok) : c->vocab_size;
    b.n_valid = tok_n < c->vocab_size ? tok_n : c->vocab_size;
    b.lp_temperature = o->logprob_temperature > 0 ? o->logprob_temperature : 1;
    int64_t longest_prompt, longest_new;
    alloc_samples(&b, n, &longest_prompt, &longest_new);
    for (int i = 0; i < o->n_stop_strings; i++) {
        int len = (int)strlen(o->stop_strings[i]) + 1;
        if (len > b.stop_window) b.stop_window = len;
    }
    int per_batch = rows_per_batch(m, o, n, longest_prompt + longest_new);
    if (o->repetition_penalty > 0 && o->repetition_penalty != 1)
        b.seen = mem_alloc(sizeof(int64_t) * (size_t)per_batch * (size_t)(longest_prompt + longest_new));
    int rc = run_batches(&b, n, per_batch, rows) || decode_texts(o, out) ? -1 : 0;
    if (rc) rollout_result_free(out);
    free(rows);
    free(b.row_cap);
    free(b.done);
    free(b.finished);
    free(b.seen);
    free(b.keys);
    free(b.keep);
    free(b.move_dst);
    free(b.move_src);
    free(b.tok);
    free(b.lp);
    return rc;
}
