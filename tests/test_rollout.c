/* test_rollout — the sampler's filters and the generation engine on a tiny random Qwen2 model:
 * greedy output equals argmax over full-sequence logits, a completion does not depend on its
 * batch (other prompts, prefix sharing, cache-cap splits), rollout log-probs equal the trainer's
 * recomputed ones within the fp32 rounding bound derived below, every stop condition, and every
 * bad request. */
#include "check.h"

#include "common/err.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "rollout/rollout.h"

#include <stdlib.h>

static const sampler_params greedy = {0, 0, 1, 0}, plain = {1, 0, 1, 0};

/* ---- sampler ---- */

static void test_sampler(void) {
    /* probabilities 0.1, 0.2, 0.3, 0.4 */
    float lg[4] = {logf(1), logf(2), logf(3), logf(4)};
    sampler_scratch *s = sampler_scratch_init(4);
    double lp;
    CHECK(sampler_pick(s, lg, 4, &greedy, 0.9, &lp) == 3);
    CHECK_CLOSE(lp, log(0.4), 1e-6, 0);
    /* inverse CDF in id order: cumulative 0.1 0.3 0.6 1.0 */
    CHECK(sampler_pick(s, lg, 4, &plain, 0.05, &lp) == 0);
    CHECK_CLOSE(lp, log(0.1), 1e-6, 0);
    CHECK(sampler_pick(s, lg, 4, &plain, 0.29, &lp) == 1);
    CHECK(sampler_pick(s, lg, 4, &plain, 0.31, &lp) == 2);
    CHECK(sampler_pick(s, lg, 4, &plain, 0.999, &lp) == 3);
    /* top-k 2 keeps {2, 3} with mass 3:4 */
    sampler_params k2 = {1, 2, 1, 0};
    CHECK(sampler_pick(s, lg, 4, &k2, 0.42, &lp) == 2 && sampler_pick(s, lg, 4, &k2, 0.43, &lp) == 3);
    CHECK_CLOSE(lp, log(0.4), 1e-6, 0); /* log-prob stays untruncated, temperature 1 */
    /* top-p 0.5: 0.4 < 0.5 so 0.3 joins, mass 0.7 >= 0.5 stops */
    sampler_params p5 = {1, 0, 0.5, 0};
    CHECK(sampler_pick(s, lg, 4, &p5, 0.0, &lp) == 2 && sampler_pick(s, lg, 4, &p5, 0.99, &lp) == 3);
    sampler_params p4 = {1, 0, 0.35, 0}; /* the top token alone reaches 0.35 */
    CHECK(sampler_pick(s, lg, 4, &p4, 0.0, &lp) == 3);
    /* min-p 0.6: keeps p >= 0.24, i.e. {2, 3} */
    sampler_params mp = {1, 0, 1, 0.6};
    CHECK(sampler_pick(s, lg, 4, &mp, 0.0, &lp) == 2);
    /* temperature 0.5 squares the odds: 1 4 9 16 over 30 */
    sampler_params t5 = {0.5, 0, 1, 0};
    CHECK(sampler_pick(s, lg, 4, &t5, 13.5 / 30, &lp) == 2 && sampler_pick(s, lg, 4, &t5, 14.5 / 30, &lp) == 3);
    /* frequencies over a fine grid of u reproduce the distribution exactly */
    int counts[4] = {0};
    for (int i = 0; i < 1000; i++) counts[sampler_pick(s, lg, 4, &plain, (i + 0.5) / 1000, &lp)]++;
    CHECK(counts[0] == 100 && counts[1] == 200 && counts[2] == 300 && counts[3] == 400);
    /* ties: greedy takes the lowest id, top-k keeps every tie */
    float tie[3] = {1, 1, 0};
    CHECK(sampler_pick(s, tie, 3, &greedy, 0.5, &lp) == 0);
    sampler_params k1 = {1, 1, 1, 0};
    CHECK(sampler_pick(s, tie, 3, &k1, 0.75, &lp) == 1);
    sampler_scratch_free(s);
    sampler_scratch_free(NULL);

    sampler_params bad[] = {{-1, 0, 1, 0}, {1, -1, 1, 0}, {1, 0, 0, 0}, {1, 0, 1.5, 0}, {1, 0, 1, 1}};
    const char *what[] = {"temperature", "top_k", "top_p", "top_p", "min_p"};
    for (int i = 0; i < 5; i++) {
        CHECK(sampler_params_check(&bad[i]) == -1);
        CHECK_CONTAINS(err_msg(), what[i]);
    }
}

/* ---- engine ---- */

static tok_tokenizer *tok;
static model *m;

static model *tiny_model(int vocab, int ctx) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"model_type\": \"qwen2\", \"vocab_size\": %d, \"hidden_size\": 32, "
             "\"intermediate_size\": 64, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "
             "\"num_key_value_heads\": 2, \"rms_norm_eps\": 1e-6, \"rope_theta\": 10000.0, "
             "\"max_position_embeddings\": %d, \"tie_word_embeddings\": true}",
             vocab, ctx);
    model_config c;
    if (model_config_parse(json, strlen(json), "tiny", &c)) return NULL;
    return model_init_random(&c, 11, 0.5); /* a wide init gives peaked, varied distributions */
}

static const int32_t p0[] = {5, 17, 42, 9, 33, 2}, p1[] = {7}, p2[] = {100, 3, 8};
static const int32_t *prompts[] = {p0, p1, p2};
static const int lens[] = {6, 1, 3};
static const uint64_t keys[] = {1000, 1001, 1002};

static rollout_options base_options(void) {
    rollout_options o;
    memset(&o, 0, sizeof o);
    o.sampling = plain;
    o.max_new_tokens = 12;
    o.seed = 99;
    o.step = 3;
    o.share_prefix = 1;
    return o;
}

/* Greedy continuation of one prompt by argmax over full-sequence logits, no cache. */
static int greedy_reference(const int32_t *prompt, int len, int n_new, int32_t *out) {
    int64_t ids[64];
    for (int t = 0; t < len; t++) ids[t] = prompt[t];
    for (int k = 0; k < n_new; k++) {
        ts_scope_begin();
        ts_tensor *x = ts_from_data(ids, (int64_t[]){1, len + k}, 2, TS_I64);
        ts_tensor *last = ts_select(ts_select(model_forward_logits(m, x, NULL), 0, 0), 0, -1);
        int64_t a;
        int ok = ts_item_i64(ts_argmax(last, 0, 0), &a) == 0;
        ts_scope_end();
        if (!ok) return -1;
        out[k] = (int32_t)a;
        ids[len + k] = a;
    }
    return 0;
}

/* How far apart fp32 rounding may put two evaluations of one log-prob that sum in different
 * orders. They do on every path compared here: BLAS picks its GEMM kernel by CPU and by the number
 * of rows (a decode step has B rows, the trainer's forward B*T), ATen's kernels by CPU, and decode
 * attends through the fused kernel while training uses the composite. None of them is wrong, so
 * the tests bound the difference instead of pinning one machine's figure (OpenBLAS's Haswell
 * kernels, those of every AVX2 AMD CPU, give 1.5e-5 on this model where SkylakeX's give 2e-6).
 *
 * The bound. A logit is a D-term reduction z_j = w_j . h over the final normed state h. Summed in
 * any order, with or without FMA, its rounding error is at most gamma_D * sum_i |w_ji h_i| with
 * gamma_n = n u / (1 - n u), u = 2^-24 (Higham, Accuracy and Stability of Numerical Algorithms,
 * 2nd ed., eq. 3.5); by Cauchy-Schwarz that sum is at most |w_j|_2 |h|_2, and RMSNorm makes
 * |h|_2 <= max|g| sqrt(D) for its weight g. Call that eps. h carries the rounding of the 2L
 * blocks below it through the residual stream; RMSNorm turns it into an error relative to the
 * stream's scale, as it does the signal, so each block is allowed one eps more: (2L + 1) eps per
 * logit. A log-prob z_t - logsumexp(z) is 1-Lipschitz in each term's largest logit error, so it
 * moves by at most twice that, and two evaluations differ by at most twice again:
 * 4 (2L + 1) eps. */
static double logprob_rounding_bound(void) {
    const model_config *c = model_get_config(m);
    const ts_tensor *w = NULL, *g = NULL;
    model_param_table pt = model_params(m);
    for (int i = 0; i < pt.n; i++) {
        if (!strcmp(pt.names[i], c->tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight")) w = pt.t[i];
        if (!strcmp(pt.names[i], "model.norm.weight")) g = pt.t[i];
    }
    double u = ldexp(1, -24), n = (double)c->hidden_size, gamma = n * u / (1 - n * u), wmax = 0, gmax = 0;
    ts_scope_begin();
    int ok = ts_item_f64(ts_max(ts_sqrt(ts_sum_dim(ts_mul(w, w), 1, 0))), &wmax) == 0 &&
             ts_item_f64(ts_max(ts_abs(g)), &gmax) == 0;
    ts_scope_end();
    CHECK(ok);
    double eps = gamma * wmax * gmax * sqrt(n);
    return 4 * (2 * (double)c->num_layers + 1) * eps;
}

static double lp_bound;

/* The same tokens and finish, and log-probs equal up to fp32 rounding (logprob_rounding_bound). */
static int same_sample(const rollout_sample *a, const rollout_sample *b) {
    if (a->len != b->len || a->finish != b->finish) return 0;
    for (int t = 0; t < a->len; t++)
        if (a->ids[t] != b->ids[t] || fabsf(a->logprobs[t] - b->logprobs[t]) > lp_bound) return 0;
    return 1;
}

static void test_greedy_matches_full_forward(void) {
    rollout_options o = base_options();
    o.sampling = greedy;
    rollout_result r;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 2, &r) == 0);
    for (int p = 0; p < 3; p++) {
        int32_t want[12];
        CHECK(greedy_reference(prompts[p], lens[p], 12, want) == 0);
        for (int g = 0; g < 2; g++) {
            const rollout_sample *s = &r.samples[p * 2 + g];
            CHECK(s->prompt == p && s->index == g && s->len == 12 && s->finish == ROLLOUT_LENGTH);
            CHECK(memcmp(s->ids, want, sizeof want) == 0);
        }
    }
    CHECK(r.prefill_tokens == 10); /* each prompt once */
    rollout_result_free(&r);
}

static void test_batch_independence(void) {
    rollout_options o = base_options();
    rollout_result all, alone, noshare, split;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 4, &all) == 0);
    /* prompt 2 alone, same key */
    CHECK(rollout_generate(m, &o, 1, prompts + 2, lens + 2, keys + 2, 4, &alone) == 0);
    int same = 1;
    for (int g = 0; g < 4; g++) same &= same_sample(&all.samples[8 + g], &alone.samples[g]);
    CHECK(same);
    /* samples of one prompt differ from each other (the sample index is a key) */
    CHECK(!same_sample(&all.samples[0], &all.samples[1]));
    o.share_prefix = 0;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 4, &noshare) == 0);
    CHECK(noshare.prefill_tokens == 40);
    o.share_prefix = 1;
    o.max_cache_mb = 0.02; /* forces several batches */
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 4, &split) == 0);
    CHECK(split.batches > 2);
    same = 1;
    for (int i = 0; i < 12; i++)
        same &= same_sample(&all.samples[i], &noshare.samples[i]) && same_sample(&all.samples[i], &split.samples[i]);
    CHECK(same);
    /* a different step key changes the draws */
    o.step = 4;
    rollout_result other;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 4, &other) == 0);
    int differs = 0;
    for (int i = 0; i < 12; i++) differs += !same_sample(&all.samples[i], &other.samples[i]);
    CHECK(differs > 6);
    rollout_result_free(&all);
    rollout_result_free(&alone);
    rollout_result_free(&noshare);
    rollout_result_free(&split);
    rollout_result_free(&other);
}

/* The trainer's full-sequence log-probs of prompt + completion equal the rollout's. */
static void test_logprobs_agree_with_trainer(void) {
    rollout_options o = base_options();
    rollout_result r;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 3, &r) == 0);
    double worst = 0;
    for (int i = 0; i < r.n; i++) {
        const rollout_sample *s = &r.samples[i];
        int L = lens[s->prompt], T = L + s->len;
        int64_t ids[64];
        for (int t = 0; t < L; t++) ids[t] = prompts[s->prompt][t];
        for (int t = 0; t < s->len; t++) ids[L + t] = s->ids[t];
        ts_scope_begin();
        ts_tensor *lp = NULL;
        ts_no_grad_begin();
        CHECK(model_forward_logprobs(m, ts_from_data(ids, (int64_t[]){1, T}, 2, TS_I64), NULL, 0, &lp, NULL) == 0);
        ts_no_grad_end();
        float host[64];
        CHECK(ts_to_host(lp, host, sizeof(float) * (size_t)(T - 1)) == 0);
        for (int t = 0; t < s->len; t++) {
            double d = fabs(host[L - 1 + t] - s->logprobs[t]);
            if (d > worst) worst = d;
        }
        ts_scope_end();
    }
    CHECK(worst <= lp_bound);
    fprintf(stderr, "  worst log-prob gap to the trainer %.3g, fp32 rounding bound %.3g\n", worst, lp_bound);
    rollout_result_free(&r);
}

static void test_stops(void) {
    rollout_options o = base_options();
    o.sampling = greedy;
    rollout_result r;
    int32_t want[12];
    CHECK(greedy_reference(p1, 1, 12, want) == 0);
    /* eos on the 4th greedy token, stop id on the 2nd of another run */
    o.eos_ids = &want[3];
    o.n_eos = 1;
    CHECK(rollout_generate(m, &o, 1, prompts + 1, lens + 1, keys + 1, 1, &r) == 0);
    int first = 0;
    while (want[first] != want[3]) first++;
    CHECK(r.samples[0].len == first + 1 && r.samples[0].finish == ROLLOUT_EOS);
    rollout_result_free(&r);
    o.n_eos = 0;
    o.stop_ids = &want[1];
    o.n_stop_ids = 1;
    CHECK(rollout_generate(m, &o, 1, prompts + 1, lens + 1, keys + 1, 1, &r) == 0);
    first = 0;
    while (want[first] != want[1]) first++;
    CHECK(r.samples[0].len == first + 1 && r.samples[0].finish == ROLLOUT_STOP);
    rollout_result_free(&r);
    /* a stop string made of the text of greedy tokens 3..4 */
    o.n_stop_ids = 0;
    o.tok = tok;
    char *full = tok_decode(tok, want, 12, 0), *head = tok_decode(tok, want, 5, 0), *pre = tok_decode(tok, want, 3, 0);
    char *stop = strdup(head + strlen(pre));
    char *stops[] = {(char *)"never-occurs-\x01", stop};
    o.stop_strings = stops;
    o.n_stop_strings = 2;
    CHECK(rollout_generate(m, &o, 1, prompts + 1, lens + 1, keys + 1, 1, &r) == 0);
    CHECK(r.samples[0].finish == ROLLOUT_STOP && r.samples[0].len <= 5);
    CHECK(r.samples[0].text && strstr(r.samples[0].text, stop));
    rollout_result_free(&r);
    /* only the never-occurring stop string: runs to max_new_tokens, text is the decode */
    o.n_stop_strings = 1;
    CHECK(rollout_generate(m, &o, 1, prompts + 1, lens + 1, keys + 1, 1, &r) == 0);
    CHECK(r.samples[0].finish == ROLLOUT_LENGTH && r.samples[0].len == 12);
    CHECK_STR(r.samples[0].text, full);
    rollout_result_free(&r);
    free(full);
    free(head);
    free(pre);
    free(stop);
}

/* Hugging Face's repetition penalty: positive logits of seen tokens divided, negative multiplied,
 * each token once however often it repeats, the others untouched. */
static void test_repetition_penalty(void) {
    float l[6] = {2.0f, -1.0f, 0.5f, -3.0f, 4.0f, 0.0f};
    unsigned char seen[6] = {0};
    const int32_t ids[] = {0, 1, 1, 3, 0, 5};
    rollout_repetition_penalty(l, ids, 6, 2.0, seen);
    const float want[6] = {1.0f, -2.0f, 0.5f, -6.0f, 4.0f, 0.0f};
    CHECK(memcmp(l, want, sizeof want) == 0);
    int clean = 1;
    for (int i = 0; i < 6; i++) clean &= seen[i] == 0;
    CHECK(clean);
    /* in the engine: greedy with a penalty never repeats a token while another has a higher logit,
     * so a greedy run that repeated tokens without it repeats fewer with it */
    rollout_options o = base_options();
    o.sampling = greedy;
    rollout_result plain_r, pen;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 1, &plain_r) == 0);
    o.repetition_penalty = 1e6; /* every seen token's logit goes to about 0 or far below */
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 1, &pen) == 0);
    int differs = 0;
    for (int i = 0; i < 3; i++) differs |= !same_sample(&plain_r.samples[i], &pen.samples[i]);
    CHECK(differs);
    rollout_result_free(&plain_r);
    rollout_result_free(&pen);
    o.repetition_penalty = -1;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 1, &pen) == -1);
    CHECK_CONTAINS(err_msg(), "repetition_penalty must be > 0");
}

/* finish_quota (short-m@k): once m samples of a prompt finished, its other rows end "cancelled"
 * with what they had; the finished samples are the unquota'd run's own, token for token. */
static void test_finish_quota(void) {
    rollout_options o = base_options();
    rollout_result full, cut, split;
    /* an EOS id that the plain samples reach at different lengths: their most common token */
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 8, &full) == 0);
    int count[4096] = {0}, V = tok_vocab_size(tok) < 4096 ? tok_vocab_size(tok) : 4096;
    int32_t eos = 0;
    for (int i = 0; i < full.n; i++)
        for (int t = 0; t < full.samples[i].len; t++)
            if (full.samples[i].ids[t] < V && ++count[full.samples[i].ids[t]] > count[eos]) eos = full.samples[i].ids[t];
    rollout_result_free(&full);
    o.eos_ids = &eos;
    o.n_eos = 1;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 8, &full) == 0);
    o.finish_quota = 2;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 8, &cut) == 0);
    int64_t full_tokens = 0, cut_tokens = 0;
    int ok = 1, cancelled = 0;
    for (int p = 0; p < 3; p++) {
        int finished = 0, longest_finished = 0;
        for (int g = 0; g < 8; g++) {
            const rollout_sample *a = &full.samples[p * 8 + g], *b = &cut.samples[p * 8 + g];
            full_tokens += a->len;
            cut_tokens += b->len;
            if (b->finish == ROLLOUT_CANCELLED) {
                cancelled++;
                ok &= b->len <= a->len && memcmp(a->ids, b->ids, sizeof(int32_t) * (size_t)b->len) == 0;
            } else {
                finished++;
                ok &= same_sample(a, b);
                if (b->len > longest_finished) longest_finished = b->len;
            }
        }
        ok &= finished >= 2; /* the quota, or more when several finished in the same step */
        for (int g = 0; g < 8; g++) /* no row ran past the step at which the quota was met */
            ok &= cut.samples[p * 8 + g].len <= longest_finished;
    }
    CHECK(ok);
    CHECK(cancelled > 0 && cancelled == cut.cancelled);
    CHECK(cut_tokens < full_tokens);
    CHECK(cut.decode_tokens < full.decode_tokens);
    /* the same across cache-sized batches: a later batch of a prompt that met its quota is skipped */
    o.max_cache_mb = 0.02;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 8, &split) == 0);
    int finished_ok = 1;
    for (int i = 0; i < 24; i++)
        if (split.samples[i].finish != ROLLOUT_CANCELLED) finished_ok &= same_sample(&full.samples[i], &split.samples[i]);
    CHECK(finished_ok && split.cancelled > 0);
    rollout_result_free(&full);
    rollout_result_free(&cut);
    rollout_result_free(&split);
    o = base_options();
    o.finish_quota = 9;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 8, &cut) == -1);
    CHECK_CONTAINS(err_msg(), "finish_quota must be in [0, G = 8]");
}

static void test_context_limit_and_bad_requests(void) {
    model *small = tiny_model(tok_vocab_size(tok), 8);
    rollout_options o = base_options();
    rollout_result r;
    /* 6 prompt tokens in a context of 8: two new tokens, finish "length" */
    CHECK(rollout_generate(small, &o, 1, prompts, lens, keys, 2, &r) == 0);
    CHECK(r.samples[0].len == 2 && r.samples[0].finish == ROLLOUT_LENGTH);
    rollout_result_free(&r);
    const int32_t long_prompt[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const int32_t *lp[] = {long_prompt};
    int l8 = 8;
    CHECK(rollout_generate(small, &o, 1, lp, &l8, keys, 1, &r) == -1);
    CHECK_CONTAINS(err_msg(), "prompt 0 has 8 tokens, the model's context is 8");
    model_free(small);

    int l0 = 0;
    CHECK(rollout_generate(m, &o, 1, prompts, &l0, keys, 1, &r) == -1);
    CHECK_CONTAINS(err_msg(), "prompt 0 is empty");
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 0, &r) == -1);
    CHECK_CONTAINS(err_msg(), "group size G must be >= 1, got 0");
    o.max_new_tokens = 0;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 1, &r) == -1);
    CHECK_CONTAINS(err_msg(), "max_new_tokens must be >= 1, got 0");
    o = base_options();
    o.sampling.top_p = 0;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 1, &r) == -1);
    CHECK_CONTAINS(err_msg(), "rollout: sampling top_p");
    o = base_options();
    const int32_t bad_id[] = {5, 99999};
    const int32_t *bp[] = {bad_id};
    int l2 = 2;
    CHECK(rollout_generate(m, &o, 1, bp, &l2, keys, 1, &r) == -1);
    CHECK_CONTAINS(err_msg(), "token 1 is id 99999, outside the vocabulary");
    CHECK(r.n == 0 && r.samples == NULL);
}

int main(void) {
    ts_set_num_threads(1);
    test_sampler();
    const char *src = getenv("RLVR_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/tokenizer/tiny/tokenizer.json", src ? src : ".");
    tok = tok_load(path);
    CHECK(tok != NULL);
    if (!tok) {
        fprintf(stderr, "%s\n", err_msg());
        CHECK_DONE();
    }
    int64_t handles = ts_live_handles();
    m = tiny_model(tok_vocab_size(tok), 64);
    CHECK(m != NULL);
    if (m) {
        lp_bound = logprob_rounding_bound();
        test_greedy_matches_full_forward();
        test_batch_independence();
        test_logprobs_agree_with_trainer();
        test_stops();
        test_repetition_penalty();
        test_finish_quota();
        test_context_limit_and_bad_requests();
    }
    model_free(m);
    tok_free(tok);
    CHECK(ts_live_handles() == handles);
    CHECK_DONE();
}
