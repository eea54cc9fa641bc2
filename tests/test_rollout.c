/* test_rollout — the sampler's filters and the generation engine on a tiny random Qwen2 model:
 * greedy output equals argmax over full-sequence logits, a completion does not depend on its
 * batch (other prompts, prefix sharing, cache-cap splits), rollout log-probs equal the trainer's
 * recomputed ones, at temperature 1 and at 0.6, within the fp32 rounding bound derived below,
 * every stop condition, and every
 * bad request. On RLVR_TEST_DEVICE (check_device.h); the fused CPU kernel's variants on the CPU. */
#include "check.h"
#include "check_device.h"

#include "common/err.h"
#include "common/rng.h"
#include "model/model.h"
#include "model/tokenizer.h"
#include "rollout/rollout.h"

#include <stdlib.h>

static const sampler_params greedy = {0, 0, 1, 0}, plain = {1, 0, 1, 0};
static ts_device test_dev; /* RLVR_TEST_DEVICE */

/* ---- sampler ---- */

/* Draw for R rows of logits (R, V) given on the host (as f32, or as f64 so that the composite ATen
 * path runs instead of the fused CPU kernel), uniforms u (R); ids and log-probs back on the host.
 * Draws from ids [0, n); log-probs at lp_t. */
static int draw(const float *logits, int64_t R, int64_t V, int64_t n, const sampler_params *p, const double *u,
                int composite, double lp_t, int64_t *ids, float *lp) {
    ts_scope_begin();
    ts_tensor *x = check_from_host(logits, (int64_t[]){R, V}, 2, TS_F32), *i = NULL, *l = NULL;
    if (composite) x = ts_to_dtype(x, TS_F64);
    int ok = sampler_sample(x, n, p, check_from_host(u, (int64_t[]){R}, 1, TS_F64), lp_t, &i, &l) == 0 &&
             ts_to_host(i, ids, sizeof(int64_t) * (size_t)R) == 0 && ts_to_host(l, lp, sizeof(float) * (size_t)R) == 0;
    ts_free(i);
    ts_free(l);
    ts_scope_end();
    return ok ? 0 : -1;
}

/* One row: the id drawn with uniform u (both paths must agree); its log-prob in *lp. */
static int64_t pick(const float *logits, int64_t V, const sampler_params *p, double u, double *lp) {
    int64_t id[2] = {-1, -2};
    float l[2];
    CHECK(draw(logits, 1, V, V, p, &u, 0, 1, &id[0], &l[0]) == 0);
    CHECK(draw(logits, 1, V, V, p, &u, 1, 1, &id[1], &l[1]) == 0);
    CHECK(id[0] == id[1] && fabsf(l[0] - l[1]) < 1e-6f);
    *lp = l[0];
    return id[0];
}

/* splitmix64's (counter + 1)-th output from state key, on the host: the reference of
 * ts_counter_uniform. */
static double counter_uniform_ref(uint64_t key, uint64_t counter) {
    uint64_t z = key + (counter + 1) * 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

/* The uniforms: bit for bit the host reference, whatever else is in the batch. */
static void test_counter_uniform(void) {
    int64_t keys[6] = {0, 1, -1, INT64_MIN, sampler_row_key(99, 3, 1000, 0), sampler_row_key(99, 3, 1000, 1)};
    double u[6], alone;
    int ok = 1;
    for (uint64_t c = 0; c < 300; c += 37) {
        ts_scope_begin();
        ts_tensor *k = check_from_host(keys, (int64_t[]){6}, 1, TS_I64);
        ok &= ts_to_host(ts_counter_uniform(k, c), u, sizeof u) == 0;
        ok &= ts_to_host(ts_counter_uniform(ts_narrow(k, 0, 4, 1), c), &alone, sizeof alone) == 0;
        ts_scope_end();
        for (int i = 0; i < 6; i++) ok &= u[i] == counter_uniform_ref((uint64_t)keys[i], c) && u[i] >= 0 && u[i] < 1;
        ok &= alone == u[4];
    }
    CHECK(ok);
    CHECK(sampler_row_key(99, 3, 1000, 0) != sampler_row_key(99, 3, 1000, 1));
    CHECK(sampler_row_key(99, 3, 1000, 0) != sampler_row_key(99, 4, 1000, 0));
    CHECK(sampler_row_key(99, 3, 1000, 0) != sampler_row_key(99, 3, 1001, 0));
    CHECK(sampler_row_key(99, 3, 1000, 0) != sampler_row_key(98, 3, 1000, 0));
}

static void test_sampler(void) {
    /* probabilities 0.1, 0.2, 0.3, 0.4 */
    float lg[4] = {logf(1), logf(2), logf(3), logf(4)};
    double lp;
    CHECK(pick(lg, 4, &greedy, 0.9, &lp) == 3);
    CHECK_CLOSE(lp, log(0.4), 1e-6, 0);
    /* inverse CDF in id order: cumulative 0.1 0.3 0.6 1.0 */
    CHECK(pick(lg, 4, &plain, 0.05, &lp) == 0);
    CHECK_CLOSE(lp, log(0.1), 1e-6, 0);
    CHECK(pick(lg, 4, &plain, 0.29, &lp) == 1);
    CHECK(pick(lg, 4, &plain, 0.31, &lp) == 2);
    CHECK(pick(lg, 4, &plain, 0.999, &lp) == 3);
    /* top-k 2 keeps {2, 3} with mass 3:4, drawn in id order */
    sampler_params k2 = {1, 2, 1, 0};
    CHECK(pick(lg, 4, &k2, 0.42, &lp) == 2 && pick(lg, 4, &k2, 0.43, &lp) == 3);
    CHECK_CLOSE(lp, log(0.4), 1e-6, 0); /* log-prob stays unfiltered, temperature 1 */
    /* top-p 0.5: 0.4 < 0.5 so 0.3 joins, mass 0.7 >= 0.5 stops; drawn by probability: 3 then 2 */
    sampler_params p5 = {1, 0, 0.5, 0};
    CHECK(pick(lg, 4, &p5, 0.0, &lp) == 3 && pick(lg, 4, &p5, 0.57, &lp) == 3);
    CHECK(pick(lg, 4, &p5, 0.58, &lp) == 2 && pick(lg, 4, &p5, 0.99, &lp) == 2);
    sampler_params p4 = {1, 0, 0.35, 0}; /* the top token alone reaches 0.35 */
    CHECK(pick(lg, 4, &p4, 0.99, &lp) == 3);
    /* top-p on a boundary, exactly: four equal tokens, top_p 0.5: the mass before the third is
     * 0.5, which reaches it, so ids 0 and 1 stay (ties in id order) */
    float flat[4] = {0, 0, 0, 0};
    sampler_params half = {1, 0, 0.5, 0};
    CHECK(pick(flat, 4, &half, 0.49, &lp) == 0 && pick(flat, 4, &half, 0.51, &lp) == 1 &&
          pick(flat, 4, &half, 0.999, &lp) == 1);
    /* min-p relative to the top: probabilities over the top's are 0.25 0.5 0.75 1 */
    sampler_params mp = {1, 0, 1, 0.6};
    CHECK(pick(lg, 4, &mp, 0.0, &lp) == 2 && pick(lg, 4, &mp, 0.999, &lp) == 3);
    sampler_params mp_in = {1, 0, 1, 0.74}, mp_out = {1, 0, 1, 0.76};
    CHECK(pick(lg, 4, &mp_in, 0.0, &lp) == 2 && pick(lg, 4, &mp_out, 0.0, &lp) == 3);
    /* temperature 0.5 squares the odds: 1 4 9 16 over 30 */
    sampler_params t5 = {0.5, 0, 1, 0};
    CHECK(pick(lg, 4, &t5, 13.5 / 30, &lp) == 2 && pick(lg, 4, &t5, 14.5 / 30, &lp) == 3);
    /* ties: greedy takes the lowest id, top-k keeps every tie with the k-th */
    float tie[3] = {1, 1, 0};
    CHECK(pick(tie, 3, &greedy, 0.5, &lp) == 0);
    sampler_params k1 = {1, 1, 1, 0};
    CHECK(pick(tie, 3, &k1, 0.49, &lp) == 0 && pick(tie, 3, &k1, 0.51, &lp) == 1 && pick(tie, 3, &k1, 0.999, &lp) == 1);
    float tie5[5] = {3, 2, 2, 2, 0}; /* top-k 2: the k-th is 2, tied three times: ids 0..3 stay */
    sampler_params k2b = {1, 2, 1, 0};
    int seen5[5] = {0};
    for (int i = 0; i < 200; i++) seen5[pick(tie5, 5, &k2b, (i + 0.5) / 200, &lp)]++;
    CHECK(seen5[0] > 0 && seen5[1] > 0 && seen5[2] > 0 && seen5[3] > 0 && seen5[4] == 0);
}

/* Frequencies over a fine grid of u, 1000 rows in one batch, reproduce the distribution exactly,
 * on both paths; log-probs at the sampling temperature; bad parameters and ids; a NaN row. */
static void test_sampler_batch(void) {
    float lg[4] = {logf(1), logf(2), logf(3), logf(4)};
    sampler_params t5 = {0.5, 0, 1, 0};
    enum { N = 1000 };
    static float rows[N * 4];
    static double us[N];
    static int64_t ids[N];
    static float lps[N];
    for (int i = 0; i < N; i++) {
        memcpy(rows + i * 4, lg, sizeof lg);
        us[i] = (i + 0.5) / N;
    }
    for (int composite = 0; composite < 2; composite++) {
        int counts[4] = {0};
        CHECK(draw(rows, N, 4, 4, &plain, us, composite, 1, ids, lps) == 0);
        for (int i = 0; i < N; i++) counts[ids[i]]++;
        CHECK(counts[0] == 100 && counts[1] == 200 && counts[2] == 300 && counts[3] == 400);
    }
    /* log-probs at the sampling temperature on request: log_softmax(logits / 0.5) */
    double u1 = 0.99;
    int64_t id;
    float l;
    CHECK(draw(lg, 1, 4, 4, &t5, &u1, 0, 0.5, &id, &l) == 0 && id == 3);
    CHECK_CLOSE(l, log(16.0 / 30), 1e-6, 0);

    sampler_params bad[] = {{-1, 0, 1, 0}, {1, -1, 1, 0}, {1, 0, 0, 0}, {1, 0, 1.5, 0}, {1, 0, 1, 1}};
    const char *what[] = {"temperature", "top_k", "top_p", "top_p", "min_p"};
    for (int i = 0; i < 5; i++) {
        CHECK(sampler_params_check(&bad[i]) == -1);
        CHECK_CONTAINS(err_msg(), what[i]);
    }
    CHECK(draw(lg, 1, 4, 5, &plain, &u1, 0, 1, &id, &l) == -1);
    CHECK_CONTAINS(err_msg(), "outside [1, 4]");
    float nan_row[4] = {0, NAN, 0, 0};
    CHECK(draw(nan_row, 1, 4, 4, &plain, &u1, 0, 1, &id, &l) == 0 && isnan(l));
}

/* A padded vocabulary: ids at n and past it are never drawn, however likely, with or without
 * filters; the log-prob is over all V rows, as the trainer computes it. */
static void test_sampler_padding(void) {
    float lg[6] = {0, logf(2), 0, logf(1), 5, 5}; /* ids 4, 5 are padding */
    const sampler_params ps[] = {plain, greedy, {1, 2, 1, 0}, {1, 0, 0.9, 0}, {1, 0, 1, 0.1}, {0.7, 3, 0.95, 0.05}};
    int ok = 1;
    double z = 1 + 2 + 1 + 1 + 2 * exp(5.0);
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++)
        for (int i = 0; i < 50; i++) {
            double u = (i + 0.5) / 50;
            for (int composite = 0; composite < 2; composite++) {
                int64_t id;
                float l;
                ok &= draw(lg, 1, 6, 4, &ps[k], &u, composite, 1, &id, &l) == 0 && id >= 0 && id < 4;
                ok &= fabs(l - (lg[id] - log(z))) < 1e-5;
            }
        }
    CHECK(ok);
}

/* The fused CPU kernel and the composite of ATen ops draw the same ids from the same keys over a
 * real-sized vocabulary (a uniform within rounding of a boundary could split them: none does
 * here), and a row's draw does not depend on the rows around it. */
static void test_sampler_paths_agree(void) {
    enum { R = 16, V = 50000, NV = 49000 };
    float *x = malloc(sizeof(float) * R * V);
    double u[R];
    int64_t a[R], b[R], one;
    float la[R], lb[R], l1;
    rng_stream r;
    rng_stream_init(&r, 7, 0);
    for (int i = 0; i < R * V; i++) x[i] = (float)(6 * rng_next_double(&r) - 3);
    for (int i = 0; i < R; i++) u[i] = rng_next_double(&r);
    const sampler_params ps[] = {plain, greedy, {0.6, 0, 1, 0}, {1, 40, 0.9, 0}};
    int same = 1, alone = 1;
    double worst = 0;
    for (size_t k = 0; k < sizeof ps / sizeof ps[0]; k++) {
        for (int lp_at_t = 0; lp_at_t < 2; lp_at_t++) {
            double lp_t = lp_at_t && ps[k].temperature > 0 ? ps[k].temperature : 1;
            CHECK(draw(x, R, V, NV, &ps[k], u, 0, lp_t, a, la) == 0);
            CHECK(draw(x, R, V, NV, &ps[k], u, 1, lp_t, b, lb) == 0);
            for (int i = 0; i < R; i++) {
                same &= a[i] == b[i] && a[i] < NV;
                if (fabsf(la[i] - lb[i]) > worst) worst = fabsf(la[i] - lb[i]);
            }
            CHECK(draw(x + 5 * V, 1, V, NV, &ps[k], &u[5], 0, lp_t, &one, &l1) == 0);
            alone &= one == a[5] && l1 == la[5];
        }
    }
    CHECK(same && alone && worst < 1e-5);
    /* the fused kernel's two CPU builds give the same bits (instruction set, not order, differs) */
    const char *was = getenv("RLVR_CPU_KERNELS");
    char saved[64] = "";
    if (was) snprintf(saved, sizeof saved, "%s", was);
    int variants_same = 1;
    for (int v = 0; v < 2 && __builtin_cpu_supports("avx2"); v++) {
        setenv("RLVR_CPU_KERNELS", v ? "avx2" : "default", 1);
        CHECK(draw(x, R, V, NV, &ps[2], u, 0, 1, b, lb) == 0);
        if (v == 0) {
            memcpy(a, b, sizeof a);
            memcpy(la, lb, sizeof la);
        }
        for (int i = 0; i < R; i++) variants_same &= a[i] == b[i] && la[i] == lb[i];
    }
    if (was) setenv("RLVR_CPU_KERNELS", saved, 1);
    else unsetenv("RLVR_CPU_KERNELS");
    CHECK(variants_same);
    free(x);
}

/* The repetition penalty on one row: positive logits of seen ids divided, negative multiplied, each
 * id once however often it repeats, the others untouched. */
static void test_repetition_penalty_op(void) {
    float l[6] = {2.0f, -1.0f, 0.5f, -3.0f, 4.0f, 0.0f}, got[6];
    const int64_t seen[6] = {0, 1, 1, 3, 0, 5};
    ts_scope_begin();
    ts_tensor *x = check_from_host(l, (int64_t[]){1, 6}, 2, TS_F32), *ids = check_from_host(seen, (int64_t[]){1, 6}, 2, TS_I64);
    CHECK(ts_to_host(sampler_repetition_penalty(x, ids, 2.0), got, sizeof got) == 0);
    ts_scope_end();
    const float want[6] = {1.0f, -2.0f, 0.5f, -6.0f, 4.0f, 0.0f};
    CHECK(memcmp(got, want, sizeof want) == 0);
}

/* ---- engine ---- */

static tok_tokenizer *tok;
static model *m;

/* cpu, made on the CPU (model_init_random), on the test device: saved, and loaded there. */
static model *on_test_device(model *cpu) {
    if (!cpu || test_dev.type == TS_CPU) return cpu;
    char dir[] = "/tmp/rlvr_test_rollout_XXXXXX", cmd[64];
    model *placed = mkdtemp(dir) && model_save(cpu, dir, TS_F32, (size_t)1 << 30) == 0 ? model_load(dir, test_dev, TS_F32) : NULL;
    if (!placed) fprintf(stderr, "on_test_device: %s\n", err_msg());
    model_free(cpu);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    return placed;
}

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
    return on_test_device(model_init_random(&c, 11, 0.5)); /* a wide init gives peaked, varied distributions */
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
        ts_tensor *x = check_from_host(ids, (int64_t[]){1, len + k}, 2, TS_I64);
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

/* The trainer's full-sequence log-probs of prompt + completion, at temperature t, equal the
 * rollout's recorded at t (sampled at t too, as the RL trainer does). Dividing the logits by t
 * scales their rounding error by 1 / t, and so the bound. */
static void logprobs_agree_with_trainer_at(double t) {
    rollout_options o = base_options();
    o.sampling.temperature = t;
    o.logprob_temperature = t;
    model_set_logprob_temperature(m, t);
    rollout_result r;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 3, &r) == 0);
    double worst = 0, bound = lp_bound / t;
    for (int i = 0; i < r.n; i++) {
        const rollout_sample *s = &r.samples[i];
        int L = lens[s->prompt], T = L + s->len;
        int64_t ids[64];
        for (int t = 0; t < L; t++) ids[t] = prompts[s->prompt][t];
        for (int t = 0; t < s->len; t++) ids[L + t] = s->ids[t];
        ts_scope_begin();
        ts_tensor *lp = NULL;
        ts_no_grad_begin();
        CHECK(model_forward_logprobs(m, check_from_host(ids, (int64_t[]){1, T}, 2, TS_I64), NULL, 0, &lp, NULL) == 0);
        ts_no_grad_end();
        float host[64];
        CHECK(ts_to_host(lp, host, sizeof(float) * (size_t)(T - 1)) == 0);
        for (int t = 0; t < s->len; t++) {
            double d = fabs(host[L - 1 + t] - s->logprobs[t]);
            if (d > worst) worst = d;
        }
        ts_scope_end();
    }
    model_set_logprob_temperature(m, 1);
    CHECK(worst <= bound);
    fprintf(stderr, "  temperature %g: worst log-prob gap to the trainer %.3g, fp32 rounding bound %.3g\n", t, worst,
            bound);
    rollout_result_free(&r);
}

static void test_logprobs_agree_with_trainer(void) {
    logprobs_agree_with_trainer_at(1);
    logprobs_agree_with_trainer_at(0.6);
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

/* The repetition penalty in the engine. */
static void test_repetition_penalty(void) {
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

/* A model with more embedding rows than the tokenizer has tokens (Qwen's padding): with the
 * tokenizer in the options no padding id is drawn, even when the padding rows are made the most
 * likely; without it they are (so the check can fail). Log-probs stay the trainer's, over all
 * rows. */
static void test_padded_vocabulary(void) {
    int n = tok_vocab_size(tok);
    model *big = tiny_model(n + 40, 64);
    CHECK(big != NULL);
    if (!big) return;
    model_param_table pt = model_params(big);
    for (int i = 0; i < pt.n; i++)
        if (!strcmp(pt.names[i], "model.embed_tokens.weight")) {
            ts_no_grad_begin();
            ts_scope_begin();
            CHECK(ts_mul_scalar_(ts_narrow(pt.t[i], 0, n, 40), 30) == 0);
            ts_scope_end();
            ts_no_grad_end();
        }
    rollout_options o = base_options();
    rollout_result r;
    int pads[2] = {0, 0};
    for (int with_tok = 0; with_tok < 2; with_tok++) {
        o.tok = with_tok ? tok : NULL;
        CHECK(rollout_generate(big, &o, 3, prompts, lens, keys, 4, &r) == 0);
        for (int i = 0; i < r.n; i++)
            for (int t = 0; t < r.samples[i].len; t++) pads[with_tok] += r.samples[i].ids[t] >= n;
        for (int i = 0; with_tok && i < r.n; i++) CHECK(r.samples[i].text != NULL);
        rollout_result_free(&r);
    }
    CHECK(pads[0] > 0 && pads[1] == 0);
    fprintf(stderr, "  padding ids drawn: %d without the tokenizer's size, %d with it\n", pads[0], pads[1]);
    model_free(big);
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
    o.logprob_temperature = -1;
    CHECK(rollout_generate(m, &o, 3, prompts, lens, keys, 1, &r) == -1);
    CHECK_CONTAINS(err_msg(), "logprob_temperature must be > 0 (0 = 1), got -1");
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
    test_dev = check_device();
    test_counter_uniform();
    test_sampler();
    test_sampler_batch();
    test_sampler_padding();
    test_sampler_paths_agree();
    test_repetition_penalty_op();
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
        test_padded_vocabulary();
        test_context_limit_and_bad_requests();
    }
    model_free(m);
    tok_free(tok);
    CHECK(ts_live_handles() == handles);
    CHECK_DONE();
}
