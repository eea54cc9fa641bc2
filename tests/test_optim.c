/* test_optim — AdamW, clipping and schedules against torch: tests/optim/adamw_ref.json (written by
 * tests/optim_ref.py with torch.optim.AdamW, clip_grad_norm_ and torch's LR schedulers) is
 * replayed step by step and every learning rate, pre-clip norm, parameter and final moment must
 * agree within 1e-6. Also: a NaN or infinite gradient skips the step and changes nothing, state
 * saved and restored mid-run continues bit for bit, schedule edge values, config defaults and
 * errors, and no tensor handle leaks. On RLVR_TEST_DEVICE (check_device.h), but for the fused
 * CPU step against the op sequence. */
#include "check.h"
#include "check_device.h"

#include "common/cfg.h"
#include "common/err.h"
#include "common/io.h"
#include "optim/optim.h"
#include "tensor/ts.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#define MAXP 4

static ts_device test_dev; /* RLVR_TEST_DEVICE */

static cJSON *load_fixture(void) {
    const char *src = getenv("RLVR_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/optim/adamw_ref.json", src ? src : ".");
    size_t got = 0;
    char *buf = io_read_file(path, 0, &got);
    cJSON *j = buf ? cJSON_ParseWithLength(buf, got) : NULL;
    free(buf);
    return j;
}

static double num(const cJSON *o, const char *key) {
    return cJSON_GetNumberValue(cJSON_GetObjectItem(o, key));
}

/* A JSON array of numbers as a malloc'ed double array; *n gets its length. */
static double *doubles(const cJSON *a, int *n) {
    *n = cJSON_GetArraySize(a);
    double *v = malloc(sizeof(double) * (size_t)(*n ? *n : 1));
    int i = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, a) v[i++] = cJSON_GetNumberValue(e);
    return v;
}

/* Every element of t (any float dtype) within tol * (1 + |want|) of the JSON array want. */
static int tensor_matches(const ts_tensor *t, const cJSON *want, double tol, const char *what) {
    int n;
    double *w = doubles(want, &n);
    double *got = malloc(sizeof(double) * (size_t)(n ? n : 1));
    ts_tensor *d = ts_to_dtype(t, TS_F64);
    int ok = d && ts_numel(d) == n && ts_to_host(d, got, sizeof(double) * (size_t)n) == 0;
    for (int i = 0; ok && i < n; i++) {
        if (!(fabs(got[i] - w[i]) <= tol * (1 + fabs(w[i])))) {
            fprintf(stderr, "  %s[%d] = %.10g, torch %.10g\n", what, i, got[i], w[i]);
            ok = 0;
        }
    }
    ts_free(d);
    free(w);
    free(got);
    return ok;
}

typedef struct run {
    int n;
    ts_dtype dt;
    ts_tensor *p[MAXP];
    optim *opt;
    optim_opts opts;
} run;

static optim_opts case_opts(const cJSON *c) {
    optim_opts o = {0};
    o.lr = num(c, "lr");
    o.beta1 = num(c, "beta1");
    o.beta2 = num(c, "beta2");
    o.eps = num(c, "eps");
    o.weight_decay = num(c, "weight_decay");
    o.grad_clip = num(c, "grad_clip");
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(c, "schedule"));
    o.schedule = !strcmp(s, "cosine") ? OPTIM_SCHED_COSINE
                 : !strcmp(s, "linear") ? OPTIM_SCHED_LINEAR : OPTIM_SCHED_CONSTANT;
    o.warmup_steps = (int64_t)num(c, "warmup_steps");
    o.total_steps = (int64_t)num(c, "total_steps");
    o.min_lr = num(c, "min_lr");
    return o;
}

/* Parameters from the case's initial values (or from saved host copies) and a fresh optimiser. */
static int run_init(run *r, const cJSON *cs, double *const *saved) {
    const cJSON *c = cJSON_GetObjectItem(cs, "config");
    const char *names[MAXP] = {"model.w0", "model.w1", "model.w2", "model.w3"};
    r->dt = !strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(c, "dtype")), "f64") ? TS_F64 : TS_F32;
    r->n = cJSON_GetArraySize(cJSON_GetObjectItem(c, "shapes"));
    r->opts = case_opts(c);
    for (int i = 0; i < r->n; i++) {
        const cJSON *shape = cJSON_GetArrayItem(cJSON_GetObjectItem(c, "shapes"), i);
        int64_t dims[4];
        int nd = cJSON_GetArraySize(shape), nv;
        for (int d = 0; d < nd; d++) dims[d] = (int64_t)cJSON_GetNumberValue(cJSON_GetArrayItem(shape, d));
        double *v = doubles(cJSON_GetArrayItem(cJSON_GetObjectItem(cs, "init"), i), &nv);
        ts_tensor *f = check_from_host(saved ? saved[i] : v, dims, nd, TS_F64);
        r->p[i] = ts_to_dtype(f, r->dt);
        ts_free(f);
        free(v);
        if (!r->p[i] || ts_set_requires_grad(r->p[i], 1)) return -1;
    }
    r->opt = optim_init(r->p, names, r->n, &r->opts);
    return r->opt ? 0 : -1;
}

static void run_free(run *r) {
    optim_free(r->opt);
    for (int i = 0; i < r->n; i++) ts_free(r->p[i]);
}

/* Give parameter i the gradient g (JSON array; NULL = none) through a backward of sum(p * g). */
static int set_grad(run *r, int i, const cJSON *g, double poison) {
    if (ts_grad_clear(r->p[i])) return -1;
    if (!g || cJSON_IsNull(g)) return 0;
    int n;
    double *v = doubles(g, &n);
    if (poison != 0) v[n / 2] = poison;
    ts_scope_begin();
    ts_tensor *gt = ts_to_dtype(check_from_host(v, (int64_t[]){n}, 1, TS_F64), r->dt);
    ts_tensor *flat = ts_reshape(r->p[i], (int64_t[]){n}, 1);
    int rc = ts_backward(ts_sum(ts_mul(flat, gt)));
    ts_scope_end();
    free(v);
    return rc;
}

/* Replay steps [from, to) of a case; returns the number of mismatching checks. */
static int replay(run *r, const cJSON *cs, int from, int to) {
    const cJSON *steps = cJSON_GetObjectItem(cs, "steps");
    int bad = 0;
    for (int s = from; s < to; s++) {
        const cJSON *st = cJSON_GetArrayItem(steps, s);
        for (int i = 0; i < r->n; i++)
            if (set_grad(r, i, cJSON_GetArrayItem(cJSON_GetObjectItem(st, "grads"), i), 0)) return 1;
        double lr = optim_lr_at(&r->opts, s);
        if (fabs(lr - num(st, "lr")) > 1e-12 * r->opts.lr) {
            fprintf(stderr, "  step %d: lr %.12g, torch %.12g\n", s, lr, num(st, "lr"));
            bad++;
        }
        optim_step_info info;
        if (optim_step(r->opt, lr, &info) || info.skipped) {
            fprintf(stderr, "  step %d failed: %s\n", s, err_msg());
            return bad + 1;
        }
        if (fabs(info.grad_norm - num(st, "grad_norm")) > 1e-6 * (1 + num(st, "grad_norm"))) {
            fprintf(stderr, "  step %d: grad norm %.9g, torch %.9g\n", s, info.grad_norm,
                    num(st, "grad_norm"));
            bad++;
        }
        for (int i = 0; i < r->n; i++)
            bad += !tensor_matches(r->p[i], cJSON_GetArrayItem(cJSON_GetObjectItem(st, "params"), i),
                                   1e-6, "param");
    }
    return bad;
}

static int state_matches(run *r, const cJSON *cs) {
    const cJSON *state = cJSON_GetObjectItem(cs, "state");
    int ok = optim_state_count(r->opt) == 1 + 2 * r->n;
    int64_t steps[MAXP];
    ok = ok && !strcmp(optim_state_name(r->opt, 0), "step") &&
         ts_to_host(optim_state_tensor(r->opt, 0), steps, sizeof(int64_t) * (size_t)r->n) == 0;
    for (int i = 0; ok && i < r->n; i++) {
        const cJSON *s = cJSON_GetArrayItem(state, i);
        ok = steps[i] == (int64_t)num(s, "step") &&
             tensor_matches(optim_state_tensor(r->opt, 1 + 2 * i), cJSON_GetObjectItem(s, "exp_avg"), 1e-6, "exp_avg") &&
             tensor_matches(optim_state_tensor(r->opt, 2 + 2 * i), cJSON_GetObjectItem(s, "exp_avg_sq"), 1e-6, "exp_avg_sq");
    }
    CHECK_STR(optim_state_name(r->opt, 1), "model.w0.exp_avg");
    CHECK_STR(optim_state_name(r->opt, 2), "model.w0.exp_avg_sq");
    CHECK(optim_state_name(r->opt, 1 + 2 * r->n) == NULL);
    return ok;
}

static void test_against_torch(const cJSON *fx) {
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(fx, "cases")) {
        const cJSON *c = cJSON_GetObjectItem(cs, "config");
        run r = {0};
        CHECK(run_init(&r, cs, NULL) == 0);
        int nsteps = cJSON_GetArraySize(cJSON_GetObjectItem(cs, "steps"));
        int bad = replay(&r, cs, 0, nsteps);
        if (bad) fprintf(stderr, "  case %s: %d mismatches\n", cJSON_GetStringValue(cJSON_GetObjectItem(c, "name")), bad);
        CHECK(bad == 0);
        CHECK(state_matches(&r, cs));
        run_free(&r);
    }
}

/* Host copies of every parameter and state tensor, as raw bytes. */
typedef struct snapshot {
    int n;
    void *bytes[1 + 3 * MAXP];
    size_t len[1 + 3 * MAXP];
} snapshot;

static void snap_take(snapshot *s, run *r) {
    s->n = 0;
    for (int i = 0; i < r->n + optim_state_count(r->opt); i++) {
        const ts_tensor *t = i < r->n ? r->p[i] : optim_state_tensor(r->opt, i - r->n);
        s->len[s->n] = (size_t)ts_numel(t) * ts_dtype_size(ts_get_dtype(t));
        s->bytes[s->n] = malloc(s->len[s->n]);
        ts_to_host(t, s->bytes[s->n], s->len[s->n]);
        s->n++;
    }
}

static int snap_equal(const snapshot *a, const snapshot *b) {
    if (a->n != b->n) return 0;
    for (int i = 0; i < a->n; i++)
        if (a->len[i] != b->len[i] || memcmp(a->bytes[i], b->bytes[i], a->len[i])) return 0;
    return 1;
}

static void snap_free(snapshot *s) {
    for (int i = 0; i < s->n; i++) free(s->bytes[i]);
    s->n = 0;
}

static void test_nonfinite_step_is_skipped(const cJSON *fx) {
    const cJSON *cs = cJSON_GetArrayItem(cJSON_GetObjectItem(fx, "cases"), 0);
    const cJSON *steps = cJSON_GetObjectItem(cs, "steps");
    run r = {0};
    CHECK(run_init(&r, cs, NULL) == 0);
    CHECK(replay(&r, cs, 0, 3) == 0);
    double poisons[] = {NAN, INFINITY, -INFINITY};
    for (int k = 0; k < 3; k++) {
        snapshot before, after;
        snap_take(&before, &r);
        const cJSON *st = cJSON_GetArrayItem(steps, 3);
        CHECK(set_grad(&r, 0, cJSON_GetArrayItem(cJSON_GetObjectItem(st, "grads"), 0), 0) == 0);
        CHECK(set_grad(&r, 1, cJSON_GetArrayItem(cJSON_GetObjectItem(st, "grads"), 1), poisons[k]) == 0);
        optim_step_info info;
        CHECK(optim_step(r.opt, 1e-2, &info) == 0);
        CHECK(info.skipped == 1 && !isfinite(info.grad_norm));
        snap_take(&after, &r);
        CHECK(snap_equal(&before, &after));
        snap_free(&before);
        snap_free(&after);
    }
    /* the skipped steps left no trace: the rest of the run still matches torch */
    CHECK(replay(&r, cs, 3, cJSON_GetArraySize(steps)) == 0);
    CHECK(state_matches(&r, cs));
    run_free(&r);
}

static void test_state_restore_continues_bit_exactly(const cJSON *fx) {
    const cJSON *cs;
    cJSON_ArrayForEach(cs, cJSON_GetObjectItem(fx, "cases")) {
        int nsteps = cJSON_GetArraySize(cJSON_GetObjectItem(cs, "steps")), k = nsteps / 2;
        run a = {0}, b = {0}, c = {0};
        CHECK(run_init(&a, cs, NULL) == 0);
        replay(&a, cs, 0, nsteps);
        snapshot straight;
        snap_take(&straight, &a);

        CHECK(run_init(&b, cs, NULL) == 0);
        replay(&b, cs, 0, k);
        /* "checkpoint": parameters as f64 host copies (exact for f32) plus the raw state */
        double *saved[MAXP];
        for (int i = 0; i < b.n; i++) {
            ts_tensor *d = ts_to_dtype(b.p[i], TS_F64);
            saved[i] = malloc(sizeof(double) * (size_t)ts_numel(d));
            ts_to_host(d, saved[i], sizeof(double) * (size_t)ts_numel(d));
            ts_free(d);
        }
        snapshot mid;
        snap_take(&mid, &b);
        run_free(&b);

        CHECK(run_init(&c, cs, saved) == 0);
        for (int i = 0; i < optim_state_count(c.opt); i++) {
            ts_tensor *t = optim_state_tensor(c.opt, i);
            int64_t shape[TS_MAX_DIMS];
            int nd = ts_shape(t, shape);
            ts_tensor *src = check_from_host(mid.bytes[c.n + i], shape, nd, ts_get_dtype(t));
            CHECK(ts_copy_(t, src) == 0);
            ts_free(src);
        }
        replay(&c, cs, k, nsteps);
        snapshot resumed;
        snap_take(&resumed, &c);
        CHECK(snap_equal(&straight, &resumed));
        for (int i = 0; i < c.n; i++) free(saved[i]);
        snap_free(&straight);
        snap_free(&mid);
        snap_free(&resumed);
        run_free(&a);
        run_free(&c);
    }
}

static void test_schedules(void) {
    optim_opts o = {.lr = 1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    CHECK(optim_lr_at(&o, 0) == 1 && optim_lr_at(&o, 1000) == 1);
    o.warmup_steps = 4;
    CHECK(optim_lr_at(&o, 0) == 0.25 && optim_lr_at(&o, 2) == 0.75 && optim_lr_at(&o, 3) == 1);
    CHECK(optim_lr_at(&o, 50) == 1);
    o.schedule = OPTIM_SCHED_COSINE;
    o.total_steps = 14;
    o.min_lr = 0.1;
    CHECK(optim_lr_at(&o, 4) == 1);
    CHECK_CLOSE(optim_lr_at(&o, 9), 0.55, 1e-15, 0); /* halfway: min + (max - min) / 2 */
    CHECK_CLOSE(optim_lr_at(&o, 14), 0.1, 1e-15, 0);
    CHECK_CLOSE(optim_lr_at(&o, 400), 0.1, 1e-15, 0);
    o.schedule = OPTIM_SCHED_LINEAR;
    CHECK_CLOSE(optim_lr_at(&o, 6), 0.82, 1e-15, 0);
    CHECK_CLOSE(optim_lr_at(&o, 20), 0.1, 1e-15, 0);
}

static void test_config_and_errors(void) {
    rlvr_config c;
    CHECK(cfg_init(&c) == 0);
    optim_opts o;
    CHECK(optim_opts_from_cfg(&c, &o) == 0);
    CHECK(o.lr == 1e-6 && o.beta1 == 0.9 && o.beta2 == 0.999 && o.eps == 1e-8);
    CHECK(o.weight_decay == 0.01 && o.grad_clip == 1 && o.schedule == OPTIM_SCHED_CONSTANT);
    CHECK(o.warmup_steps == 0 && o.min_lr == 0);
    CHECK(cfg_set(&c, "optim.schedule=cosine") == 0 && cfg_set(&c, "optim.warmup_steps=5") == 0);
    /* total_steps 0 is the caller's to fill in (the run's steps); until then the check refuses */
    CHECK(optim_opts_from_cfg(&c, &o) == 0 && o.total_steps == 0);
    CHECK(optim_opts_check(&o) == -1);
    CHECK_CONTAINS(err_msg(), "optim.total_steps");
    CHECK(cfg_set(&c, "optim.total_steps=5") == 0 && optim_opts_from_cfg(&c, &o) == -1);
    CHECK_CONTAINS(err_msg(), "optim.total_steps");
    CHECK(cfg_set(&c, "optim.total_steps=100") == 0 && optim_opts_from_cfg(&c, &o) == 0);
    CHECK(cfg_set(&c, "optim.min_lr=1") == 0 && optim_opts_from_cfg(&c, &o) == -1);
    CHECK_CONTAINS(err_msg(), "optim.min_lr");
    CHECK(cfg_set(&c, "optim.beta1=1") == -1);
    cfg_free(&c);

    optim_opts ok = {.lr = 1e-3, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8};
    ts_tensor *p = ts_zeros((int64_t[]){3}, 1, TS_F32, test_dev);
    ts_tensor *two[] = {p, p};
    const char *names[] = {"a", "b"}, *same[] = {"a", "a"};
    CHECK(optim_init(two, names, 2, &ok) == NULL);
    CHECK_CONTAINS(err_msg(), "appears twice");
    ts_tensor *q = ts_zeros((int64_t[]){2}, 1, TS_F32, test_dev);
    ts_tensor *pq[] = {p, q};
    CHECK(optim_init(pq, same, 2, &ok) == NULL);
    CHECK(optim_init(pq, names, 0, &ok) == NULL);
    ts_tensor *pnull[] = {p, NULL};
    CHECK(optim_init(pnull, names, 2, &ok) == NULL);
    CHECK_CONTAINS(err_msg(), "parameter 1");
    optim *opt = optim_init(pq, names, 2, &ok);
    CHECK(opt != NULL);
    /* no gradients at all: nothing to do, nothing changes, no error */
    optim_step_info info;
    CHECK(optim_step(opt, 1e-3, &info) == 0 && !info.skipped && info.grad_norm == 0);
    CHECK(optim_step(opt, NAN, &info) == -1);
    CHECK(optim_state_tensor(opt, 5) == NULL);
    optim_free(opt);
    optim_free(NULL);
    ts_free(p);
    ts_free(q);
}

/* Backward of sum(p * g), g (n) given in f64: p's gradient is g rounded to bf16, whatever p's dtype. */
static int give_grad(ts_tensor *p, const double *g, int64_t n) {
    ts_scope_begin();
    ts_tensor *gb = ts_to_dtype(ts_to_dtype(check_from_host(g, &n, 1, TS_F64), TS_BF16), ts_get_dtype(p));
    int rc = ts_grad_clear(p) || ts_backward(ts_sum(ts_mul(p, gb)));
    ts_scope_end();
    return rc;
}

static int equal_f32(const ts_tensor *a, const ts_tensor *b) {
    ts_scope_begin();
    double d = -1;
    int rc = ts_item_f64(ts_max(ts_abs(ts_sub(ts_to_dtype(a, TS_F32), ts_to_dtype(b, TS_F32)))), &d);
    ts_scope_end();
    return rc == 0 && d == 0;
}

/* bf16 weights at |w| in [0.01, 0.03] and lr 1e-6: a bf16 half-ulp there is 3e-5 to 6e-5, so the
 * plain update rounds away and the weights never move; with master weights AdamW runs in f32 on
 * the master, op for op the f32 optimiser fed the same (bf16-rounded) gradients, and after 200
 * steps every bf16 weight has moved, to the f32 run's weights rounded. */
static void test_master_weights_learn_at_small_lr(void) {
    enum { N = 256, STEPS = 200 };
    double w0[N], g[N];
    for (int i = 0; i < N; i++) w0[i] = 0.02 + 0.01 * sin(i);
    int64_t n = N;
    ts_tensor *w0t = check_from_host(w0, &n, 1, TS_F64), *init = ts_to_dtype(w0t, TS_BF16);
    ts_free(w0t);
    ts_tensor *wb = ts_clone(init), *wplain = ts_clone(init), *wref = ts_to_dtype(init, TS_F32);
    CHECK(ts_set_requires_grad(wb, 1) == 0 && ts_set_requires_grad(wplain, 1) == 0 &&
          ts_set_requires_grad(wref, 1) == 0);
    optim_opts o = {.lr = 1e-6, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.01,
                    .grad_clip = 1, .master_weights = 1};
    const char *name[] = {"w"};
    optim *mixed = optim_init(&wb, name, 1, &o), *ref = optim_init(&wref, name, 1, &o);
    o.master_weights = 0;
    optim *plain = optim_init(&wplain, name, 1, &o);
    CHECK(mixed && ref && plain);
    if (!mixed || !ref || !plain) return;
    CHECK(optim_state_count(mixed) == 4 && optim_state_count(ref) == 3 && optim_state_count(plain) == 3);
    CHECK_STR(optim_state_name(mixed, 3), "w.master");
    ts_tensor *master = optim_state_tensor(mixed, 3);
    CHECK(ts_get_dtype(master) == TS_F32 && ts_get_dtype(optim_state_tensor(mixed, 1)) == TS_F32);
    CHECK(ts_get_dtype(optim_state_tensor(plain, 1)) == TS_BF16);
    int bad = 0;
    for (int s = 0; s < STEPS; s++) {
        for (int i = 0; i < N; i++) g[i] = 0.5 + 0.1 * cos(i + s);
        bad += give_grad(wb, g, n) || give_grad(wplain, g, n) || give_grad(wref, g, n);
        bad += optim_step(mixed, 1e-6, NULL) || optim_step(ref, 1e-6, NULL) || optim_step(plain, 1e-6, NULL);
        if (s == 0) CHECK(!equal_f32(master, init)); /* the master moves from the first step */
    }
    CHECK(bad == 0);
    CHECK(equal_f32(master, wref));
    ts_tensor *rounded = ts_to_dtype(wref, TS_BF16);
    CHECK(equal_f32(wb, rounded));
    double unchanged = -1;
    ts_scope_begin();
    CHECK(ts_item_f64(ts_sum(ts_to_dtype(ts_eq(wb, init), TS_F64)), &unchanged) == 0 && unchanged == 0);
    ts_scope_end();
    CHECK(equal_f32(wplain, init)); /* without masters none moved */
    ts_free(rounded);
    optim_free(mixed);
    optim_free(ref);
    optim_free(plain);
    ts_free(init);
    ts_free(wb);
    ts_free(wplain);
    ts_free(wref);
}

/* The tensor's bytes equal the other's (same dtype and size). */
static int same_bits(const ts_tensor *a, const ts_tensor *b) {
    size_t nb = (size_t)ts_numel(a) * ts_dtype_size(ts_get_dtype(a));
    char *x = malloc(nb + 1), *y = malloc(nb + 1);
    int same = ts_get_dtype(a) == ts_get_dtype(b) && ts_numel(a) == ts_numel(b) && ts_to_host(a, x, nb) == 0 &&
               ts_to_host(b, y, nb) == 0 && memcmp(x, y, nb) == 0;
    free(x);
    free(y);
    return same;
}

/* STEPS updates of parameters of dtype dt (bf16: with f32 master weights) by the fused step and by
 * the op sequence, from the same values and gradients; returns the number of differences in the
 * parameters and the optimiser state, or of steps the fused kernel did not take. */
static int fused_against_ops(ts_dtype dt) {
    enum { NP = 3, STEPS = 5 };
    const int64_t sizes[NP] = {1, 37, 70001};
    const char *names[NP] = {"a", "b", "c"};
    ts_tensor *pf[NP], *po[NP];
    ts_scope_begin();
    for (int i = 0; i < NP; i++) {
        ts_tensor *init = ts_to_dtype(ts_mul_scalar(ts_randn(&sizes[i], 1, NULL, TS_F32), 0.1), dt);
        pf[i] = ts_unscope(ts_clone(init));
        po[i] = ts_unscope(ts_clone(init));
        ts_set_requires_grad(pf[i], 1);
        ts_set_requires_grad(po[i], 1);
    }
    optim_opts o = {.lr = 1e-2, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1, .grad_clip = 0.5,
                    .master_weights = dt == TS_BF16};
    optim *fused = optim_init(pf, names, NP, &o);
    o.op_by_op = 1;
    optim *ops = optim_init(po, names, NP, &o);
    int bad = !fused || !ops;
    for (int s = 0; !bad && s < STEPS; s++) {
        for (int i = 0; i < NP; i++) {
            ts_tensor *g = ts_to_dtype(ts_randn(&sizes[i], 1, NULL, TS_F32), dt);
            bad += ts_grad_clear(pf[i]) || ts_grad_clear(po[i]) || ts_backward(ts_sum(ts_mul(pf[i], g))) ||
                   ts_backward(ts_sum(ts_mul(po[i], g)));
        }
        optim_step_info fi, oi;
        double lr = o.lr * (s + 1) / STEPS;
        bad += optim_step(fused, lr, &fi) || optim_step(ops, lr, &oi);
        bad += fi.fused != NP || oi.fused != 0 || fi.grad_norm != oi.grad_norm || !(fi.grad_norm > o.grad_clip);
        for (int i = 0; i < NP; i++) bad += !same_bits(pf[i], po[i]);
        for (int k = 1; k < optim_state_count(fused); k++) {
            if (same_bits(optim_state_tensor(fused, k), optim_state_tensor(ops, k))) continue;
            fprintf(stderr, "  %s, step %d: %s differs\n", ts_dtype_name(dt), s + 1, optim_state_name(fused, k));
            bad++;
        }
    }
    ts_scope_end();
    optim_free(fused);
    optim_free(ops);
    for (int i = 0; i < NP; i++) {
        ts_free(pf[i]);
        ts_free(po[i]);
    }
    return bad;
}

/* The fused step (ts_adamw_) gives the op sequence's bits: f32, f64 and bf16 with f32 master
 * weights; sizes 1, 37 and 70001 (no multiple of a vector width; the last over two of ATen's
 * parallel grains, so on 2 threads its kernels split it, a tail per thread); weight decay, a
 * clipping coefficient below 1 and bias correction over 5 steps; on 1 and 2 threads.
 * tests/test_cpu_variants.sh runs it on each of ATen's CPU kernels (ATEN_CPU_CAPABILITY). */
static void test_fused_step_matches_op_sequence(void) {
    int threads = ts_get_num_threads();
    const ts_dtype dts[] = {TS_F32, TS_F64, TS_BF16};
    for (int t = 1; t <= 2; t++) {
        ts_set_num_threads(t);
        for (int d = 0; d < 3; d++) {
            int bad = fused_against_ops(dts[d]);
            if (bad) fprintf(stderr, "  %s on %d thread(s): %d differences\n", ts_dtype_name(dts[d]), t, bad);
            CHECK(bad == 0);
        }
    }
    ts_set_num_threads(threads);
}

static void test_bf16_without_master_is_refused(void) {
    rlvr_config c;
    CHECK(cfg_init(&c) == 0);
    optim_opts o;
    CHECK(cfg_set(&c, "model.dtype=bf16") == 0 && optim_opts_from_cfg(&c, &o) == 0 && o.master_weights == 1);
    CHECK(cfg_set(&c, "optim.master_weights=false") == 0 && optim_opts_from_cfg(&c, &o) == -1);
    CHECK_CONTAINS(err_msg(), "optim.master_weights is false with model.dtype bf16");
    CHECK(cfg_set(&c, "model.dtype=f32") == 0 && optim_opts_from_cfg(&c, &o) == 0);
    cfg_free(&c);
}

int main(void) {
    test_dev = check_device();
    int64_t live = ts_live_handles();
    cJSON *fx = load_fixture();
    CHECK(fx != NULL);
    if (!fx) CHECK_DONE();
    CHECK(num(fx, "format_version") == 1);
    test_against_torch(fx);
    test_nonfinite_step_is_skipped(fx);
    test_state_restore_continues_bit_exactly(fx);
    test_schedules();
    test_config_and_errors();
    test_master_weights_learn_at_small_lr();
    test_bf16_without_master_is_refused();
    test_fused_step_matches_op_sequence();
    cJSON_Delete(fx);
    CHECK(ts_live_handles() == live);
    CHECK_DONE();
}
