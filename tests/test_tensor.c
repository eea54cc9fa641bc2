/* test_tensor — every op of the C tensor API against hand-computed values, composite gradients
 * against central finite differences, scopes and handle accounting, and the error paths (no C++
 * exception may escape; a failing call names the op and the problem). On RLVR_TEST_DEVICE
 * (check_device.h); the host generators, the fused CPU kernels and raw pointers stay on the CPU. */
#include "check.h"
#include "check_device.h"

#include "common/err.h"
#include "tensor/ts.h"

#include <stdlib.h>

#define LEN(a) ((int)(sizeof(a) / sizeof((a)[0])))

static ts_device test_dev; /* RLVR_TEST_DEVICE */

/* An f64 tensor on the test device of the given shape from literal values. */
static ts_tensor *mk(const double *v, const int64_t *shape, int ndim) {
    return check_from_host(v, shape, ndim, TS_F64);
}

/* True when t has exactly n elements equal (within 1e-6) to want, printing the first mismatch. */
static int values_are(const ts_tensor *t, const double *want, int n) {
    if (!t) {
        fprintf(stderr, "  tensor is NULL: %s\n", ts_last_error());
        return 0;
    }
    if (ts_numel(t) != n) {
        fprintf(stderr, "  numel %lld, expected %d\n", (long long)ts_numel(t), n);
        return 0;
    }
    ts_tensor *d = ts_to_dtype(t, TS_F64);
    double *got = malloc(sizeof(double) * (size_t)(n ? n : 1));
    int ok = d && ts_to_host(d, got, sizeof(double) * (size_t)n) == 0;
    for (int i = 0; ok && i < n; i++) {
        if (fabs(got[i] - want[i]) > 1e-6 * (1 + fabs(want[i]))) {
            fprintf(stderr, "  element %d = %.9g, expected %.9g\n", i, got[i], want[i]);
            ok = 0;
        }
    }
    free(got);
    ts_free(d);
    return ok;
}

static int shape_is(const ts_tensor *t, const int64_t *want, int ndim) {
    int64_t got[TS_MAX_DIMS];
    if (!t || ts_shape(t, got) != ndim) return 0;
    for (int i = 0; i < ndim; i++)
        if (got[i] != want[i]) return 0;
    return 1;
}

static void test_creation_and_info(void) {
    ts_scope_begin();
    int64_t s23[] = {2, 3};
    ts_tensor *z = ts_zeros(s23, 2, TS_F32, test_dev);
    CHECK(values_are(z, (double[]){0, 0, 0, 0, 0, 0}, 6));
    CHECK(ts_get_dtype(z) == TS_F32 && ts_ndim(z) == 2 && ts_size(z, -1) == 3);
    CHECK(values_are(ts_ones(s23, 2, TS_I64, test_dev), (double[]){1, 1, 1, 1, 1, 1}, 6));
    CHECK(values_are(ts_full(s23, 2, 2.5, TS_F64, test_dev), (double[]){2.5, 2.5, 2.5, 2.5, 2.5, 2.5}, 6));
    CHECK(values_are(ts_arange(0, 5, 2, TS_I64, test_dev), (double[]){0, 2, 4}, 3));
    CHECK(ts_numel(ts_empty(s23, 2, TS_BF16, test_dev)) == 6);
    ts_tensor *a = mk((double[]){1, 2, 3, 4, 5, 6}, s23, 2);
    CHECK(values_are(ts_zeros_like(a), (double[]){0, 0, 0, 0, 0, 0}, 6));
    CHECK(values_are(ts_full_like(a, -1), (double[]){-1, -1, -1, -1, -1, -1}, 6));
    char buf[64];
    char want[64];
    snprintf(want, sizeof want, "(2, 3) f64 %s", test_dev.type == TS_CPU ? "cpu" : "cuda");
    CHECK_STR(ts_describe(a, buf, sizeof buf), want);
    double host[6];
    CHECK(ts_to_host(a, host, sizeof host) == 0 && host[5] == 6);
    CHECK(ts_to_host(a, host, 8) == -1);
    CHECK_CONTAINS(ts_last_error(), "destination holds 8 bytes");
    /* host copy of a non-contiguous view is laid out C-contiguously */
    ts_tensor *at = ts_transpose(a, 0, 1);
    CHECK(!ts_is_contiguous(at) && ts_to_host(at, host, sizeof host) == 0 && host[1] == 4 && host[2] == 2);
    /* the raw buffer of a contiguous CPU tensor is its storage: reads and writes go through */
    ts_tensor *ac = ts_to_device(a, TS_CPU_DEVICE);
    double *raw = ts_data_ptr(ac);
    CHECK(raw && raw[0] == 1 && raw[5] == 6);
    raw[5] = 60;
    CHECK(ts_to_host(ac, host, sizeof host) == 0 && host[5] == 60);
    raw[5] = 6;
    CHECK(ts_data_ptr(ts_transpose(ac, 0, 1)) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_data_ptr: the tensor is not contiguous");
    CHECK(ts_data_ptr(NULL) == NULL);
    /* dtype round trips: bf16 keeps 8 bits of mantissa, i32 truncates */
    ts_tensor *h = ts_to_dtype(mk((double[]){1.00390625, 3.7}, (int64_t[]){2}, 1), TS_BF16);
    CHECK(values_are(h, (double[]){1.0, 3.703125}, 2));
    CHECK(values_are(ts_to_dtype(mk((double[]){1.9, -1.9}, (int64_t[]){2}, 1), TS_I32), (double[]){1, -1}, 2));
    double item;
    int64_t ii;
    CHECK(ts_item_f64(ts_sum(a), &item) == 0 && item == 21);
    CHECK(ts_item_i64(ts_to_dtype(ts_sum(a), TS_I64), &ii) == 0 && ii == 21);
    CHECK(ts_item_f64(a, &item) == -1);
    ts_tensor *sc = ts_full(NULL, 0, 7, TS_F32, test_dev);
    CHECK(ts_ndim(sc) == 0 && ts_numel(sc) == 1);
    CHECK(ts_dtype_size(TS_BF16) == 2 && ts_dtype_size(TS_I64) == 8);
    ts_device dev;
    CHECK(ts_device_parse("cuda:3", &dev) == 0 && dev.type == TS_CUDA && dev.index == 3);
    CHECK(ts_device_parse("cpu", &dev) == 0 && dev.type == TS_CPU);
    CHECK(ts_device_parse("gpu", &dev) == -1);
    CHECK_CONTAINS(err_msg(), "expected cpu, cuda or cuda:N");
    ts_scope_end();
}

static void test_views_and_indexing(void) {
    ts_scope_begin();
    int64_t s23[] = {2, 3};
    ts_tensor *a = mk((double[]){1, 2, 3, 4, 5, 6}, s23, 2);
    CHECK(values_are(ts_transpose(a, 0, 1), (double[]){1, 4, 2, 5, 3, 6}, 6));
    CHECK(values_are(ts_permute(a, (int64_t[]){1, 0}, 2), (double[]){1, 4, 2, 5, 3, 6}, 6));
    ts_tensor *r = ts_reshape(a, (int64_t[]){3, -1}, 2);
    CHECK(shape_is(r, (int64_t[]){3, 2}, 2));
    CHECK(shape_is(ts_view(a, (int64_t[]){6}, 1), (int64_t[]){6}, 1));
    CHECK(values_are(ts_narrow(a, 1, 1, 2), (double[]){2, 3, 5, 6}, 4));
    CHECK(values_are(ts_slice(a, 1, 0, 3, 2), (double[]){1, 3, 4, 6}, 4));
    CHECK(values_are(ts_select(a, 0, -1), (double[]){4, 5, 6}, 3));
    CHECK(shape_is(ts_unsqueeze(a, 1), (int64_t[]){2, 1, 3}, 3));
    CHECK(shape_is(ts_squeeze(ts_unsqueeze(a, 0), 0), s23, 2));
    CHECK(shape_is(ts_flatten(ts_unsqueeze(a, 2), 0, -1), (int64_t[]){6}, 1));
    CHECK(values_are(ts_expand(ts_select(a, 0, 0), (int64_t[]){2, 3}, 2), (double[]){1, 2, 3, 1, 2, 3}, 6));
    ts_tensor *idx = check_from_host((int64_t[]){2, 0}, (int64_t[]){2}, 1, TS_I64);
    CHECK(values_are(ts_index_select(a, 1, idx), (double[]){3, 1, 6, 4}, 4));
    CHECK(values_are(ts_repeat_interleave(a, 2, 0), (double[]){1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}, 12));
    ts_tensor *mask = ts_gt_scalar(a, 3.5);
    CHECK(values_are(ts_masked_fill(a, mask, -9), (double[]){1, 2, 3, -9, -9, -9}, 6));
    ts_tensor *sq = ts_ones((int64_t[]){3, 3}, 2, TS_F64, test_dev);
    CHECK(values_are(ts_tril(sq, 0), (double[]){1, 0, 0, 1, 1, 0, 1, 1, 1}, 9));
    CHECK(values_are(ts_triu(sq, 1), (double[]){0, 1, 1, 0, 0, 1, 0, 0, 0}, 9));
    ts_tensor *pair[] = {a, a};
    CHECK(values_are(ts_cat(pair, 2, 1), (double[]){1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6}, 12));
    CHECK(shape_is(ts_stack(pair, 2, 0), (int64_t[]){2, 2, 3}, 3));
    ts_tensor *gi = check_from_host((int64_t[]){2, 0, 1, 1}, (int64_t[]){2, 2}, 2, TS_I64);
    CHECK(values_are(ts_gather(a, 1, gi), (double[]){3, 1, 5, 5}, 4));
    ts_tensor *src = mk((double[]){10, 20, 30, 40}, (int64_t[]){2, 2}, 2);
    CHECK(values_are(ts_scatter(a, 1, gi, src), (double[]){20, 2, 10, 4, 40, 6}, 6));
    CHECK(values_are(ts_scatter_add(a, 1, gi, src), (double[]){21, 2, 13, 4, 75, 6}, 6));
    /* writes through a view reach the base tensor (the KV cache relies on it) */
    ts_tensor *base = ts_zeros((int64_t[]){2, 3}, 2, TS_F64, test_dev);
    ts_tensor *col = ts_narrow(base, 1, 1, 1);
    CHECK(ts_copy_(col, mk((double[]){7, 8}, (int64_t[]){2, 1}, 2)) == 0);
    CHECK(values_are(base, (double[]){0, 7, 0, 0, 8, 0}, 6));
    ts_scope_end();
}

static void test_elementwise(void) {
    ts_scope_begin();
    int64_t s2[] = {2}, s22[] = {2, 2};
    ts_tensor *a = mk((double[]){1, -2, 3, 4}, s22, 2), *row = mk((double[]){10, 20}, s2, 1);
    CHECK(values_are(ts_add(a, row), (double[]){11, 18, 13, 24}, 4)); /* broadcast over rows */
    CHECK(values_are(ts_sub(a, row), (double[]){-9, -22, -7, -16}, 4));
    CHECK(values_are(ts_mul(a, row), (double[]){10, -40, 30, 80}, 4));
    CHECK(values_are(ts_div(a, row), (double[]){0.1, -0.1, 0.3, 0.2}, 4));
    CHECK(values_are(ts_add_scalar(a, 1), (double[]){2, -1, 4, 5}, 4));
    CHECK(values_are(ts_mul_scalar(a, -2), (double[]){-2, 4, -6, -8}, 4));
    CHECK(values_are(ts_div_scalar(a, 4), (double[]){0.25, -0.5, 0.75, 1}, 4));
    CHECK(values_are(ts_pow_scalar(a, 2), (double[]){1, 4, 9, 16}, 4));
    CHECK(values_are(ts_rsub_scalar(a, 1), (double[]){0, 3, -2, -3}, 4));
    ts_tensor *b = mk((double[]){0, 0, 5, 5}, s22, 2);
    CHECK(values_are(ts_minimum(a, b), (double[]){0, -2, 3, 4}, 4));
    CHECK(values_are(ts_maximum(a, b), (double[]){1, 0, 5, 5}, 4));
    CHECK(values_are(ts_clamp(a, -1, 3), (double[]){1, -1, 3, 3}, 4));
    CHECK(values_are(ts_clamp_min(a, 2), (double[]){2, 2, 3, 4}, 4));
    CHECK(values_are(ts_clamp_max(a, 2), (double[]){1, -2, 2, 2}, 4));
    CHECK(values_are(ts_where(ts_gt(a, b), a, b), (double[]){1, 0, 5, 5}, 4));
    CHECK(values_are(ts_neg(a), (double[]){-1, 2, -3, -4}, 4));
    CHECK(values_are(ts_abs(a), (double[]){1, 2, 3, 4}, 4));
    ts_tensor *p = mk((double[]){0, 1, 4, 0.25}, s22, 2);
    CHECK(values_are(ts_sqrt(p), (double[]){0, 1, 2, 0.5}, 4));
    CHECK(values_are(ts_rsqrt(ts_narrow(ts_flatten(p, 0, -1), 0, 1, 3)), (double[]){1, 0.5, 2}, 3));
    CHECK(values_are(ts_exp(p), (double[]){1, exp(1), exp(4), exp(0.25)}, 4));
    CHECK(values_are(ts_log(ts_add_scalar(p, 1)), (double[]){0, log(2), log(5), log(1.25)}, 4));
    CHECK(values_are(ts_expm1(ts_neg(p)), (double[]){0, exp(-1) - 1, exp(-4) - 1, exp(-0.25) - 1}, 4));
    double tiny;
    /* exp(x) - 1 would lose half the digits here; expm1 keeps them all */
    CHECK(ts_item_f64(ts_expm1(ts_full((int64_t[]){1}, 1, 1e-10, TS_F64, test_dev)), &tiny) == 0 &&
          tiny == expm1(1e-10));
    CHECK(values_are(ts_sin(p), (double[]){0, sin(1), sin(4), sin(0.25)}, 4));
    CHECK(values_are(ts_cos(p), (double[]){1, cos(1), cos(4), cos(0.25)}, 4));
    CHECK(values_are(ts_tanh(a), (double[]){tanh(1), tanh(-2), tanh(3), tanh(4)}, 4));
    CHECK(values_are(ts_sigmoid(a), (double[]){1 / (1 + exp(-1)), 1 / (1 + exp(2)), 1 / (1 + exp(-3)), 1 / (1 + exp(-4))}, 4));
    CHECK(values_are(ts_silu(a), (double[]){1 / (1 + exp(-1)), -2 / (1 + exp(2)), 3 / (1 + exp(-3)), 4 / (1 + exp(-4))}, 4));
    CHECK(values_are(ts_isfinite(ts_log(a)), (double[]){1, 0, 1, 1}, 4)); /* log(-2) is NaN */
    CHECK(values_are(ts_eq(a, b), (double[]){0, 0, 0, 0}, 4));
    CHECK(values_are(ts_ne(a, b), (double[]){1, 1, 1, 1}, 4));
    CHECK(values_are(ts_lt(a, b), (double[]){0, 1, 1, 1}, 4));
    CHECK(values_are(ts_le(a, a), (double[]){1, 1, 1, 1}, 4));
    CHECK(values_are(ts_ge(a, b), (double[]){1, 0, 0, 0}, 4));
    CHECK(values_are(ts_eq_scalar(a, 3), (double[]){0, 0, 1, 0}, 4));
    CHECK(values_are(ts_ne_scalar(a, 3), (double[]){1, 1, 0, 1}, 4));
    CHECK(values_are(ts_lt_scalar(a, 3), (double[]){1, 1, 0, 0}, 4));
    CHECK(ts_get_dtype(ts_gt_scalar(a, 0)) == TS_BOOL);
    ts_tensor *m1 = ts_gt_scalar(a, 0), *m2 = ts_lt_scalar(a, 4);
    CHECK(values_are(ts_logical_and(m1, m2), (double[]){1, 0, 1, 0}, 4));
    CHECK(values_are(ts_logical_or(m1, m2), (double[]){1, 1, 1, 1}, 4));
    CHECK(values_are(ts_logical_not(m1), (double[]){0, 1, 0, 0}, 4));
    ts_scope_end();
}

static void test_in_place(void) {
    ts_scope_begin();
    int64_t s3[] = {3};
    ts_tensor *t = mk((double[]){1, 2, 3}, s3, 1), *o = mk((double[]){10, 20, 30}, s3, 1);
    CHECK(ts_add_(t, o, 0.5) == 0 && values_are(t, (double[]){6, 12, 18}, 3));
    CHECK(ts_mul_scalar_(t, 0.5) == 0 && values_are(t, (double[]){3, 6, 9}, 3));
    CHECK(ts_addcmul_(t, o, o, 0.01) == 0 && values_are(t, (double[]){4, 10, 18}, 3));
    CHECK(ts_addcdiv_(t, o, o, -2) == 0 && values_are(t, (double[]){2, 8, 16}, 3));
    CHECK(ts_lerp_(t, o, 0.25) == 0 && values_are(t, (double[]){4, 11, 19.5}, 3));
    CHECK(ts_fill_(t, 7) == 0 && values_are(t, (double[]){7, 7, 7}, 3));
    CHECK(ts_zero_(t) == 0 && values_are(t, (double[]){0, 0, 0}, 3));
    CHECK(ts_add_(t, mk((double[]){1, 2}, (int64_t[]){2}, 1), 1) == -1);
    CHECK_CONTAINS(ts_last_error(), "ts_add_");
    ts_scope_end();
}

static void test_reductions(void) {
    ts_scope_begin();
    int64_t s23[] = {2, 3};
    ts_tensor *a = mk((double[]){1, 5, 3, 4, 2, 6}, s23, 2);
    CHECK(values_are(ts_sum(a), (double[]){21}, 1));
    CHECK(values_are(ts_mean(a), (double[]){3.5}, 1));
    CHECK(values_are(ts_max(a), (double[]){6}, 1));
    CHECK(values_are(ts_min(a), (double[]){1}, 1));
    CHECK(values_are(ts_sum_dim(a, 1, 0), (double[]){9, 12}, 2));
    CHECK(shape_is(ts_sum_dim(a, 1, 1), (int64_t[]){2, 1}, 2));
    CHECK(values_are(ts_mean_dim(a, 0, 0), (double[]){2.5, 3.5, 4.5}, 3));
    CHECK(values_are(ts_amax(a, -1, 0), (double[]){5, 6}, 2));
    CHECK(values_are(ts_amin(a, -1, 0), (double[]){1, 2}, 2));
    CHECK(values_are(ts_argmax(a, 1, 0), (double[]){1, 2}, 2));
    CHECK(values_are(ts_logsumexp(a, 1, 0), (double[]){log(exp(1) + exp(5) + exp(3)), log(exp(4) + exp(2) + exp(6))}, 2));
    /* row 0: mean 3, squared deviations 4+4+0 = 8 */
    CHECK(values_are(ts_var_dim(a, 1, 1, 0), (double[]){4, 4}, 2));
    CHECK(values_are(ts_var_dim(a, 1, 0, 0), (double[]){8.0 / 3, 8.0 / 3}, 2));
    CHECK(values_are(ts_std_dim(a, 1, 1, 0), (double[]){2, 2}, 2));
    CHECK(values_are(ts_norm(mk((double[]){3, 4}, (int64_t[]){2}, 1)), (double[]){5}, 1));
    CHECK(values_are(ts_cumsum(a, 1), (double[]){1, 6, 9, 4, 6, 12}, 6));
    ts_tensor *v = NULL, *i = NULL;
    CHECK(ts_topk(a, 2, 1, 1, &v, &i) == 0);
    CHECK(values_are(v, (double[]){5, 3, 6, 4}, 4) && values_are(i, (double[]){1, 2, 2, 0}, 4));
    CHECK(ts_topk(a, 1, 1, 0, &v, &i) == 0 && values_are(v, (double[]){1, 2}, 2));
    /* stable sort keeps the order of ties */
    ts_tensor *ties = mk((double[]){2, 1, 2, 1}, (int64_t[]){4}, 1);
    CHECK(ts_sort(ties, 0, 1, &v, &i) == 0);
    CHECK(values_are(v, (double[]){2, 2, 1, 1}, 4) && values_are(i, (double[]){0, 2, 1, 3}, 4));
    CHECK(ts_topk(a, 4, 1, 1, &v, &i) == -1);
    CHECK_CONTAINS(ts_last_error(), "ts_topk");
    ts_scope_end();
}

static void test_nn_ops(void) {
    ts_scope_begin();
    ts_tensor *x = mk((double[]){1, 2, 3, 4}, (int64_t[]){2, 2}, 2);
    ts_tensor *w = mk((double[]){1, 0, 0, 1, 1, 1}, (int64_t[]){3, 2}, 2);
    ts_tensor *b = mk((double[]){0.5, -0.5, 0}, (int64_t[]){3}, 1);
    CHECK(values_are(ts_matmul(x, x), (double[]){7, 10, 15, 22}, 4));
    CHECK(values_are(ts_linear(x, w, b), (double[]){1.5, 1.5, 3, 3.5, 3.5, 7}, 6));
    CHECK(values_are(ts_linear(x, w, NULL), (double[]){1, 2, 3, 3, 4, 7}, 6));
    ts_tensor *ids = check_from_host((int64_t[]){2, 0, 2}, (int64_t[]){3}, 1, TS_I64);
    CHECK(values_are(ts_embedding(w, ids), (double[]){1, 1, 1, 0, 1, 1}, 6));
    ts_tensor *l = mk((double[]){0, log(3)}, (int64_t[]){1, 2}, 2);
    CHECK(values_are(ts_softmax(l, -1), (double[]){0.25, 0.75}, 2));
    CHECK(values_are(ts_log_softmax(l, -1), (double[]){log(0.25), log(0.75)}, 2));
    /* batched matmul broadcasts the leading dim */
    ts_tensor *bx = ts_stack((ts_tensor *[]){x, ts_mul_scalar(x, 2)}, 2, 0);
    CHECK(values_are(ts_matmul(bx, x), (double[]){7, 10, 15, 22, 14, 20, 30, 44}, 8));
    CHECK(ts_matmul(x, w) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_matmul");
    ts_scope_end();
}

static void test_generators(void) {
    ts_scope_begin();
    int64_t s[] = {5};
    ts_generator *g1 = ts_generator_init(42), *g2 = ts_generator_init(42);
    ts_tensor *a = ts_randn(s, 1, g1, TS_F32), *b = ts_randn(s, 1, g2, TS_F32);
    CHECK(values_are(ts_eq(a, b), (double[]){1, 1, 1, 1, 1}, 5));
    size_t len = 0;
    CHECK(ts_generator_get_state(g1, NULL, 0, &len) == 0 && len > 0);
    uint8_t *state = malloc(len);
    CHECK(ts_generator_get_state(g1, state, len, &len) == 0);
    ts_tensor *c = ts_rand(s, 1, g1, TS_F32);
    CHECK(ts_generator_set_state(g1, state, len) == 0);
    ts_tensor *d = ts_rand(s, 1, g1, TS_F32);
    CHECK(values_are(ts_eq(c, d), (double[]){1, 1, 1, 1, 1}, 5)); /* restored state replays */
    CHECK(ts_generator_set_state(g1, state, 3) == -1);
    free(state);
    ts_tensor *ri = ts_randint(3, 7, (int64_t[]){100}, 1, g2);
    CHECK(values_are(ts_lt_scalar(ts_max(ri), 7), (double[]){1}, 1));
    CHECK(values_are(ts_gt_scalar(ts_min(ri), 2.5), (double[]){1}, 1));
    ts_tensor *u = ts_uniform_(ts_empty(s, 1, TS_F64, TS_CPU_DEVICE), 2, 3, g2);
    CHECK(values_are(ts_gt_scalar(ts_min(u), 2), (double[]){1}, 1));
    CHECK(ts_normal_(ts_empty(s, 1, TS_F64, TS_CPU_DEVICE), 0, 1, g2) != NULL);
    ts_tensor *probs = mk((double[]){0, 0, 1, 0}, (int64_t[]){4}, 1);
    CHECK(values_are(ts_multinomial(probs, 3, 1, g2), (double[]){2, 2, 2}, 3));
    ts_manual_seed(7);
    ts_tensor *e = ts_rand(s, 1, NULL, TS_F32);
    ts_manual_seed(7);
    CHECK(values_are(ts_eq(e, ts_rand(s, 1, NULL, TS_F32)), (double[]){1, 1, 1, 1, 1}, 5));
    ts_generator_free(g1);
    ts_generator_free(g2);
    ts_generator_free(NULL);
    ts_scope_end();
}

/* ---- gradients: libtorch's autograd against central differences in f64 ---- */

typedef ts_tensor *(*scalar_fn)(const ts_tensor *x, const void *ctx);

/* Compare d f / d x from backward with (f(x+h e_i) - f(x-h e_i)) / 2h for every element. */
static int grad_matches_fd(scalar_fn f, const double *x0, const int64_t *shape, int ndim,
                           const void *ctx) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) n *= shape[i];
    ts_scope_begin();
    ts_tensor *x = check_from_host(x0, shape, ndim, TS_F64);
    ts_set_requires_grad(x, 1);
    int ok = ts_backward(f(x, ctx)) == 0;
    double *g = malloc(sizeof(double) * (size_t)n), *xp = malloc(sizeof(double) * (size_t)n);
    ok = ok && ts_to_host(ts_grad(x), g, sizeof(double) * (size_t)n) == 0;
    const double h = 1e-6;
    ts_no_grad_begin();
    for (int64_t i = 0; ok && i < n; i++) {
        double fp, fm;
        memcpy(xp, x0, sizeof(double) * (size_t)n);
        xp[i] += h;
        ts_item_f64(f(check_from_host(xp, shape, ndim, TS_F64), ctx), &fp);
        xp[i] -= 2 * h;
        ts_item_f64(f(check_from_host(xp, shape, ndim, TS_F64), ctx), &fm);
        double fd = (fp - fm) / (2 * h);
        if (fabs(fd - g[i]) > 1e-6 * (1 + fabs(fd))) {
            fprintf(stderr, "  d/dx[%lld]: autograd %.10g, finite difference %.10g\n", (long long)i, g[i], fd);
            ok = 0;
        }
    }
    ts_no_grad_end();
    free(g);
    free(xp);
    ts_scope_end();
    return ok;
}

/* Sum of the log-probs of chosen tokens: the trainer's core quantity. ctx: (2,) i64 targets. */
static ts_tensor *f_token_logprob(const ts_tensor *logits, const void *ctx) {
    ts_tensor *lp = ts_log_softmax(logits, -1);
    ts_tensor *tgt = ts_unsqueeze(ctx, -1);
    return ts_sum(ts_mul(ts_squeeze(ts_gather(lp, -1, tgt), -1), ts_full(NULL, 0, 1.5, TS_F64, test_dev)));
}

/* Entropy of softmax rows, summed. */
static ts_tensor *f_entropy(const ts_tensor *logits, const void *ctx) {
    (void)ctx;
    ts_tensor *lp = ts_log_softmax(logits, -1);
    return ts_neg(ts_sum(ts_mul(ts_exp(lp), lp)));
}

/* RMSNorm then a SwiGLU-style gate: x * rsqrt(mean(x^2) + eps), silu(a) * b. */
static ts_tensor *f_rmsnorm_swiglu(const ts_tensor *x, const void *ctx) {
    (void)ctx;
    ts_tensor *n = ts_mul(x, ts_rsqrt(ts_add_scalar(ts_mean_dim(ts_pow_scalar(x, 2), -1, 1), 1e-5)));
    ts_tensor *a = ts_narrow(n, -1, 0, 2), *b = ts_narrow(n, -1, 2, 2);
    return ts_sum(ts_mul(ts_silu(a), b));
}

/* The clipped surrogate min(r A, clip(r, 1-e, 1+e) A) with r = exp(x - old), A = +-1. */
static ts_tensor *f_clipped_surrogate(const ts_tensor *x, const void *ctx) {
    const ts_tensor *old = ctx;
    ts_tensor *r = ts_exp(ts_sub(x, old));
    ts_tensor *adv = check_from_host((double[]){1, -1, 1, -1}, (int64_t[]){4}, 1, TS_F64);
    ts_tensor *s1 = ts_mul(r, adv), *s2 = ts_mul(ts_clamp(r, 0.8, 1.28), adv);
    return ts_neg(ts_mean(ts_minimum(s1, s2)));
}

/* Attention-shaped composite: softmax(q k^T / sqrt(d) masked causally) v, through matmul/where. */
static ts_tensor *f_attention(const ts_tensor *q, const void *ctx) {
    (void)ctx;
    ts_tensor *s = ts_div_scalar(ts_matmul(q, ts_transpose(q, 0, 1)), sqrt(2.0));
    ts_tensor *causal = ts_tril(ts_ones((int64_t[]){3, 3}, 2, TS_BOOL, test_dev), 0);
    ts_tensor *neg = ts_full((int64_t[]){3, 3}, 2, -1e9, TS_F64, test_dev);
    ts_tensor *p = ts_softmax(ts_where(causal, s, neg), -1);
    return ts_sum(ts_tanh(ts_matmul(p, q)));
}

static void test_gradients(void) {
    ts_tensor *tgt = check_from_host((int64_t[]){2, 0}, (int64_t[]){2}, 1, TS_I64);
    double logits[] = {0.3, -1.2, 2.0, 0.5, 0.1, -0.4, 1.1, 0.9};
    CHECK(grad_matches_fd(f_token_logprob, logits, (int64_t[]){2, 4}, 2, tgt));
    CHECK(grad_matches_fd(f_entropy, logits, (int64_t[]){2, 4}, 2, NULL));
    CHECK(grad_matches_fd(f_rmsnorm_swiglu, logits, (int64_t[]){2, 4}, 2, NULL));
    /* ratios 1.1 (inside), 1.5 and 0.5 (clipped on the side that binds), 0.9 */
    ts_tensor *old = check_from_host((double[]){0, 0, 0, 0}, (int64_t[]){4}, 1, TS_F64);
    double lx[] = {log(1.1), log(0.5), log(1.5), log(0.9)};
    CHECK(grad_matches_fd(f_clipped_surrogate, lx, (int64_t[]){4}, 1, old));
    double q[] = {0.2, -0.1, 0.4, 0.3, -0.5, 0.8};
    CHECK(grad_matches_fd(f_attention, q, (int64_t[]){3, 2}, 2, NULL));
    ts_free(tgt);
    ts_free(old);
}

/* The fused kernel's CPU variants (RLVR_CPU_KERNELS) give the same bits as the one chosen by
 * default: they differ in instruction set, not in summation order. A name that is no variant is an
 * error naming the choices. The caller's setting (the variant sweep's) is restored. */
static void test_attention_variants(const ts_tensor *q, const ts_tensor *k, const ts_tensor *v,
                                    const ts_tensor *m, double scale, const ts_tensor *chosen) {
    const char *was = getenv("RLVR_CPU_KERNELS");
    char saved[64] = "";
    if (was) snprintf(saved, sizeof saved, "%s", was);
    const char *variants[] = {"default", "avx2"};
    ts_no_grad_begin();
    for (int i = 0; i < 2; i++) {
        if (i == 1 && !__builtin_cpu_supports("avx2")) continue;
        setenv("RLVR_CPU_KERNELS", variants[i], 1);
        ts_tensor *out = ts_scaled_dot_product_attention(q, k, v, m, scale);
        double d = 1;
        CHECK(ts_item_f64(ts_max(ts_abs(ts_sub(out, chosen))), &d) == 0 && d == 0);
    }
    setenv("RLVR_CPU_KERNELS", "sse9", 1);
    CHECK(ts_scaled_dot_product_attention(q, k, v, m, scale) == NULL);
    CHECK_CONTAINS(ts_last_error(), "RLVR_CPU_KERNELS=sse9: expected auto, default, avx2 or avx512");
    ts_no_grad_end();
    if (was) setenv("RLVR_CPU_KERNELS", saved, 1);
    else unsetenv("RLVR_CPU_KERNELS");
}

/* What ts_linear.cpp's kernel computes for one output of `lanes` lanes: lane l accumulates
 * x[k] w[k] for k = l, l + lanes, ... with fused multiply-adds, then the lanes are summed pairwise,
 * halves first (the fixed tree of its vsum). */
static float few_rows_dot(const float *x, const float *w, int64_t K, int lanes) {
    float a[16] = {0};
    for (int64_t k = 0; k < K; k++) a[k % lanes] = fmaf(x[k], w[k], a[k % lanes]);
    for (int half = lanes / 2; half >= 1; half /= 2)
        for (int l = 0; l < half; l++) a[l] = a[l] + a[l + half];
    return a[0];
}

/* ts_linear with few rows and no gradients (tensor/ts_linear.cpp): under each of our kernel builds
 * every output equals the emulation above bit for bit (so the kernel ran, and a row's result cannot
 * depend on the other rows, the thread count or the N and K tails), and it agrees with the f64
 * product; the default build, more than 24 rows and a weight that needs its gradient take ATen's
 * path, also checked against the f64 product. */
static void test_linear_few_rows(void) {
    const char *was = getenv("RLVR_CPU_KERNELS");
    char saved[64] = "";
    if (was) snprintf(saved, sizeof saved, "%s", was);
    ts_generator *g = ts_generator_init(11);
    const int64_t shapes[][3] = {{1, 37, 5}, {7, 100, 13}, {24, 33, 9}, {16, 896, 6}, {25, 64, 8}};
    const char *variants[] = {"default", "avx2", "avx512"};
    int lanes[] = {0, 8, 16};
    int have[] = {1, __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"),
                  __builtin_cpu_supports("avx512f")};
    for (int v = 0; v < 3; v++) {
        if (!have[v]) continue;
        setenv("RLVR_CPU_KERNELS", variants[v], 1);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int64_t M = shapes[s][0], K = shapes[s][1], N = shapes[s][2];
            ts_scope_begin();
            ts_tensor *x = ts_randn((int64_t[]){M, 1, K}, 3, g, TS_F32);
            ts_tensor *w = ts_randn((int64_t[]){N, K}, 2, g, TS_F32);
            ts_tensor *b = ts_randn((int64_t[]){N}, 1, g, TS_F32);
            for (int threads = 1; threads <= 2; threads++) {
                ts_set_num_threads(threads);
                ts_no_grad_begin();
                ts_tensor *y = ts_linear(x, w, b);
                ts_no_grad_end();
                CHECK(y && ts_ndim(y) == 3 && ts_size(y, 0) == M && ts_size(y, 2) == N);
                ts_tensor *ref = ts_add(ts_matmul(ts_to_dtype(ts_reshape(x, (int64_t[]){M, K}, 2), TS_F64),
                                                  ts_transpose(ts_to_dtype(w, TS_F64), 0, 1)),
                                        ts_to_dtype(b, TS_F64));
                double err = 1, scale = 1;
                ts_tensor *y64 = ts_to_dtype(ts_reshape(y, (int64_t[]){M, N}, 2), TS_F64);
                CHECK(ts_item_f64(ts_max(ts_abs(ts_sub(y64, ref))), &err) == 0 &&
                      ts_item_f64(ts_max(ts_abs(ref)), &scale) == 0 && err <= 1e-5 * scale);
                if (lanes[v] && M <= 24) {
                    float *xs = malloc((size_t)(M * K + N * K + N + M * N) * sizeof(float));
                    float *ws = xs + M * K, *bs = ws + N * K, *ys = bs + N;
                    CHECK(ts_to_host(x, xs, (size_t)(M * K) * sizeof(float)) == 0 &&
                          ts_to_host(w, ws, (size_t)(N * K) * sizeof(float)) == 0 &&
                          ts_to_host(b, bs, (size_t)N * sizeof(float)) == 0 &&
                          ts_to_host(y, ys, (size_t)(M * N) * sizeof(float)) == 0);
                    int same = 1;
                    for (int64_t i = 0; i < M; i++)
                        for (int64_t j = 0; j < N; j++)
                            same &= ys[i * N + j] == few_rows_dot(xs + i * K, ws + j * K, K, lanes[v]) + bs[j];
                    CHECK(same);
                    free(xs);
                }
            }
            ts_set_num_threads(1);
            /* a weight that needs its gradient: ATen's path, differentiable */
            CHECK(ts_set_requires_grad(w, 1) == 0);
            ts_tensor *yg = ts_linear(x, w, NULL);
            CHECK(yg && ts_requires_grad(yg) == 1);
            ts_scope_end();
        }
    }
    setenv("RLVR_CPU_KERNELS", "sse9", 1);
    ts_tensor *x = ts_ones((int64_t[]){2, 4}, 2, TS_F32, TS_CPU_DEVICE);
    ts_no_grad_begin();
    CHECK(ts_linear(x, x, NULL) == NULL);
    ts_no_grad_end();
    CHECK_CONTAINS(ts_last_error(), "RLVR_CPU_KERNELS=sse9: expected auto, default, avx2 or avx512");
    ts_free(x);
    ts_generator_free(g);
    if (was) setenv("RLVR_CPU_KERNELS", saved, 1);
    else unsetenv("RLVR_CPU_KERNELS");
}

/* ts_scaled_dot_product_attention: a hand case, then the fused kernel (no gradients, f32 CPU)
 * against the differentiable composite (q requires grad) and against the same maths spelled out
 * with matmul/masked_fill/softmax, with grouped heads, a broadcast padding mask, a head dim that is
 * not a multiple of 8 and a non-contiguous key view; then gradients flow and bad shapes fail. With
 * libtorch 2.5+ the differentiable path is ATen's own op, which a row with no key allowed tells
 * apart (0, where our two paths give NaN). */
static void test_attention(void) {
    ts_scope_begin();
    /* scores 0 and ln 3 -> p = 1/4, 3/4 over values 1 and 5 -> 4; the masked key drops out */
    ts_tensor *q1 = check_from_host((float[]){1}, (int64_t[]){1, 1, 1, 1}, 4, TS_F32);
    ts_tensor *k1 = check_from_host((float[]){0, logf(3), 9}, (int64_t[]){1, 1, 3, 1}, 4, TS_F32);
    ts_tensor *v1 = check_from_host((float[]){1, 5, 100}, (int64_t[]){1, 1, 3, 1}, 4, TS_F32);
    ts_tensor *m1 = check_from_host((uint8_t[]){1, 1, 0}, (int64_t[]){1, 1, 1, 3}, 4, TS_BOOL);
    CHECK(values_are(ts_scaled_dot_product_attention(q1, k1, v1, m1, 1.0), (double[]){4}, 1));
    int major = 0, minor = 0;
    CHECK(sscanf(ts_version(), "%d.%d", &major, &minor) == 2);
    int native = major > 2 || (major == 2 && minor >= 5);
    ts_tensor *none = ts_zeros((int64_t[]){1, 1, 1, 3}, 4, TS_BOOL, test_dev), *q1g = ts_detach(q1);
    CHECK(ts_set_requires_grad(q1g, 1) == 0);
    for (int with_grad = 0; with_grad <= 1; with_grad++) {
        float got = 1;
        CHECK(ts_to_host(ts_scaled_dot_product_attention(with_grad ? q1g : q1, k1, v1, none, 1.0), &got, 4) == 0);
        CHECK(with_grad && native ? got == 0 : isnan(got));
    }

    int64_t B = 2, H = 4, Hkv = 2, L = 3, S = 11, E = 12, Ev = 10;
    ts_manual_seed(7);
    ts_tensor *q = ts_to_device(ts_randn((int64_t[]){B, H, L, E}, 4, NULL, TS_F32), test_dev);
    ts_tensor *kbig = ts_to_device(ts_randn((int64_t[]){B, Hkv, S + 5, E}, 4, NULL, TS_F32), test_dev);
    ts_tensor *k = ts_narrow(kbig, 2, 0, S); /* a cache-like view */
    ts_tensor *v = ts_to_device(ts_randn((int64_t[]){B, Hkv, S, Ev}, 4, NULL, TS_F32), test_dev);
    /* (B, 1, L, S): causal over the last L keys, and row 1's first 4 keys are padding */
    uint8_t mask[2 * 3 * 11];
    for (int b = 0; b < 2; b++)
        for (int l = 0; l < 3; l++)
            for (int s = 0; s < 11; s++) mask[(b * 3 + l) * 11 + s] = s <= 8 + l && !(b == 1 && s < 4);
    ts_tensor *m = check_from_host(mask, (int64_t[]){B, 1, L, S}, 4, TS_BOOL);
    double scale = 1 / sqrt((double)E);
    ts_no_grad_begin();
    ts_tensor *fused = ts_scaled_dot_product_attention(q, k, v, m, scale);
    ts_no_grad_end();
    ts_tensor *qg = ts_detach(q);
    CHECK(ts_set_requires_grad(qg, 1) == 0);
    ts_tensor *comp = ts_scaled_dot_product_attention(qg, k, v, m, scale);
    CHECK(comp && ts_requires_grad(comp)); /* the differentiable path ran */
    ts_tensor *kk = ts_repeat_interleave(k, H / Hkv, 1), *vv = ts_repeat_interleave(v, H / Hkv, 1);
    ts_tensor *sc = ts_mul_scalar(ts_matmul(q, ts_transpose(kk, 2, 3)), scale);
    ts_tensor *want = ts_matmul(ts_softmax(ts_masked_fill(sc, ts_logical_not(m), -INFINITY), -1), vv);
    CHECK(shape_is(fused, (int64_t[]){B, H, L, Ev}, 4));
    double d1 = 1, d2 = 1;
    CHECK(ts_item_f64(ts_max(ts_abs(ts_sub(fused, want))), &d1) == 0);
    CHECK(ts_item_f64(ts_max(ts_abs(ts_sub(ts_detach(comp), want))), &d2) == 0);
    CHECK(d1 < 1e-5 && d2 < 1e-6);
    /* no mask: every key */
    ts_no_grad_begin();
    ts_tensor *open = ts_scaled_dot_product_attention(q, k, v, NULL, scale);
    ts_no_grad_end();
    ts_tensor *want_open = ts_matmul(ts_softmax(sc, -1), vv);
    CHECK(ts_item_f64(ts_max(ts_abs(ts_sub(open, want_open))), &d1) == 0 && d1 < 1e-5);
    CHECK(ts_backward(ts_sum(comp)) == 0 && ts_has_grad(qg));
    if (test_dev.type == TS_CPU) test_attention_variants(q, k, v, m, scale, fused);
    /* bad shapes */
    CHECK(ts_scaled_dot_product_attention(q, ts_narrow(k, 1, 0, 1), ts_narrow(v, 1, 0, 1), NULL, 1) != NULL);
    CHECK(ts_scaled_dot_product_attention(ts_narrow(q, 1, 0, 3), k, v, NULL, 1) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_scaled_dot_product_attention: q's 3 heads are not a multiple of k's 2");
    CHECK(ts_scaled_dot_product_attention(q, k, ts_narrow(v, 2, 0, 5), NULL, 1) == NULL);
    CHECK_CONTAINS(ts_last_error(), "shapes do not fit");
    CHECK(ts_scaled_dot_product_attention(ts_select(q, 0, 0), k, v, NULL, 1) == NULL);
    CHECK_CONTAINS(ts_last_error(), "must be 4-d");
    ts_scope_end();
}

static void test_autograd_api(void) {
    ts_scope_begin();
    ts_tensor *w = check_from_host((double[]){1, 2}, (int64_t[]){2}, 1, TS_F64);
    CHECK(!ts_has_grad(w) && ts_grad(w) == NULL);
    CHECK_CONTAINS(ts_last_error(), "has no gradient");
    CHECK(ts_set_requires_grad(w, 1) == 0 && ts_requires_grad(w));
    CHECK(ts_backward(ts_sum(ts_mul(w, w))) == 0);
    CHECK(values_are(ts_grad(w), (double[]){2, 4}, 2));
    CHECK(ts_backward(ts_sum(w)) == 0); /* gradients accumulate */
    CHECK(values_are(ts_grad(w), (double[]){3, 5}, 2));
    CHECK(ts_grad_clear(w) == 0 && !ts_has_grad(w));
    ts_no_grad_begin();
    CHECK(!ts_grad_enabled());
    ts_no_grad_begin();
    ts_no_grad_end();
    CHECK(!ts_grad_enabled()); /* nesting restores the outer state */
    CHECK(!ts_requires_grad(ts_mul(w, w)));
    ts_no_grad_end();
    CHECK(ts_grad_enabled() && ts_requires_grad(ts_mul(w, w)));
    CHECK(!ts_requires_grad(ts_detach(w)));
    CHECK(ts_backward(ts_mul(w, w)) == -1);
    CHECK_CONTAINS(ts_last_error(), "one-element loss");
    CHECK(ts_set_requires_grad(ts_mul(w, w), 0) == -1); /* not a leaf */
    ts_scope_end();
}

/* max |a - b| over max(1e-6, max |b|), with b the reference; 1 when a shape or a value is missing. */
static double rel_diff(const ts_tensor *a, const ts_tensor *b) {
    double d = 1, scale = 0;
    if (a && b && ts_numel(a) == ts_numel(b) && !ts_item_f64(ts_max(ts_abs(ts_sub(a, b))), &d) &&
        !ts_item_f64(ts_max(ts_abs(b)), &scale))
        return d / (scale > 1e-6 ? scale : 1e-6);
    return 1;
}

/* Loss a . logprob + b . entropy through the fused head (chunk_rows rows at a time, keeping the
 * log-softmax when N x V <= keep, entropy_grad)
 * or the composite of ATen ops; values and the gradients of x and w into out[0..3]. */
static int head_loss(int fused, int64_t chunk_rows, int64_t keep, int entropy_grad, ts_tensor *x, ts_tensor *w,
                     const ts_tensor *tgt, const ts_tensor *a, const ts_tensor *b, ts_tensor **out) {
    ts_tensor *lp, *ent;
    if (fused) {
        if (ts_linear_logprob_entropy(x, w, tgt, chunk_rows, keep, entropy_grad, &lp, &ent)) return -1;
    } else {
        ts_tensor *lsm = ts_log_softmax(ts_linear(x, w, NULL), -1);
        lp = ts_squeeze(ts_gather(lsm, 1, ts_unsqueeze(tgt, 1)), 1);
        if (!entropy_grad) ts_no_grad_begin();
        ent = ts_neg(ts_sum_dim(ts_mul(ts_exp(lsm), lsm), -1, 0));
        if (!entropy_grad) ts_no_grad_end();
    }
    ts_tensor *loss = ts_add(ts_sum(ts_mul(lp, a)), ts_sum(ts_mul(ent, b)));
    if (!loss || ts_requires_grad(ent) != (entropy_grad != 0) || ts_backward(loss)) return -1;
    out[0] = lp;
    out[1] = ent;
    out[2] = ts_clone(ts_grad(x));
    out[3] = ts_clone(ts_grad(w));
    ts_grad_clear(x);
    ts_grad_clear(w);
    return 0;
}

/* ts_linear_logprob_entropy equals log_softmax(x w^T) gathered, the entropy and both gradients
 * of the composite, with the rows split into chunks unevenly and not at all, the log-softmax
 * recomputed in backward or kept, with and without the entropy's gradient; bad shapes are an
 * error naming what was expected. */
static void test_linear_logprob_entropy(void) {
    ts_scope_begin();
    int64_t N = 7, D = 5, V = 11;
    ts_manual_seed(3);
    ts_tensor *x = ts_to_device(ts_randn((int64_t[]){N, D}, 2, NULL, TS_F32), test_dev);
    ts_tensor *w = ts_to_device(ts_randn((int64_t[]){V, D}, 2, NULL, TS_F32), test_dev);
    ts_tensor *tgt = ts_to_device(ts_randint(0, V, &N, 1, NULL), test_dev);
    ts_tensor *a = ts_to_device(ts_randn(&N, 1, NULL, TS_F32), test_dev);
    ts_tensor *b = ts_to_device(ts_randn(&N, 1, NULL, TS_F32), test_dev);
    ts_set_requires_grad(x, 1);
    ts_set_requires_grad(w, 1);
    for (int eg = 0; eg < 2; eg++) {
        ts_tensor *want[4], *got[4];
        CHECK(head_loss(0, 0, 0, eg, x, w, tgt, a, b, want) == 0);
        for (int k = 0; k < 4; k++) {
            int64_t rows = k % 2 ? N + 1 : 3, keep = k < 2 ? 0 : N * V;
            int ok = head_loss(1, rows, keep, eg, x, w, tgt, a, b, got) == 0;
            if (!ok) fprintf(stderr, "  fused head: %s\n", ts_last_error());
            CHECK(ok);
            for (int i = 0; ok && i < 4; i++) {
                double d = rel_diff(got[i], want[i]);
                if (d > 1e-5)
                    fprintf(stderr, "  chunk %lld, keep %lld, entropy_grad %d, output %d: relative difference %g\n",
                            (long long)rows, (long long)keep, eg, i, d);
                CHECK(d <= 1e-5);
            }
        }
    }
    ts_tensor *lp, *ent;
    CHECK(ts_linear_logprob_entropy(x, ts_zeros((int64_t[]){V, D + 1}, 2, TS_F32, test_dev), tgt, 4, 0, 0, &lp, &ent) == -1);
    CHECK_CONTAINS(ts_last_error(), "expected x (N, D), w (V, D) and target (N) i64");
    CHECK(lp == NULL && ent == NULL);
    CHECK(ts_linear_logprob_entropy(x, w, tgt, 0, 0, 0, &lp, NULL) == -1);
    CHECK_CONTAINS(ts_last_error(), "chunk_rows must be positive");
    ts_scope_end();
}

/* x * cos + rotate_half(x) * sin in ATen's ops, and sum(y * w) backward: the reference of ts_rope. */
static ts_tensor *rope_ops(const ts_tensor *x, const ts_tensor *cos, const ts_tensor *sin) {
    int64_t h = ts_size(x, 3) / 2;
    ts_tensor *parts[2] = {ts_neg(ts_narrow(x, 3, h, h)), ts_narrow(x, 3, 0, h)};
    return ts_add(ts_mul(x, cos), ts_mul(ts_cat(parts, 2, 3), sin));
}

/* ts_rope equals the op sequence bit for bit, values and the input's gradient, in f32, bf16 and
 * f64, on a transposed (strided) input with cos and sin broadcast over heads; bad shapes, a table
 * that wants a gradient and a dtype mismatch are errors. */
static void test_rope(void) {
    ts_scope_begin();
    const ts_dtype dts[3] = {TS_F32, TS_BF16, TS_F64};
    int64_t B = 2, T = 5, N = 3, E = 8;
    for (int d = 0; d < 3; d++) {
        ts_manual_seed(11 + d);
        ts_tensor *base = ts_to_device(ts_randn((int64_t[]){B, T, N, E}, 4, NULL, dts[d]), test_dev);
        ts_tensor *cos = ts_to_device(ts_randn((int64_t[]){B, 1, T, E}, 4, NULL, dts[d]), test_dev);
        ts_tensor *sin = ts_to_device(ts_randn((int64_t[]){B, 1, T, E}, 4, NULL, dts[d]), test_dev);
        ts_tensor *w = ts_to_device(ts_randn((int64_t[]){B, N, T, E}, 4, NULL, dts[d]), test_dev);
        ts_set_requires_grad(base, 1);
        ts_tensor *y[2], *g[2];
        for (int fused = 0; fused < 2; fused++) {
            ts_tensor *x = ts_transpose(base, 1, 2);
            y[fused] = fused ? ts_rope(x, cos, sin) : rope_ops(x, cos, sin);
            CHECK(ts_backward(ts_sum(ts_mul(y[fused], w))) == 0);
            g[fused] = ts_clone(ts_grad(base));
            ts_grad_clear(base);
        }
        double dy = rel_diff(y[1], y[0]), dg = rel_diff(g[1], g[0]);
        if (dy != 0 || dg != 0) fprintf(stderr, "  ts_rope, dtype %d: values differ by %g, gradients by %g\n", d, dy, dg);
        CHECK(dy == 0 && dg == 0);
    }
    ts_tensor *x = ts_zeros((int64_t[]){1, 2, 3, 4}, 4, TS_F32, test_dev);
    ts_tensor *t = ts_zeros((int64_t[]){1, 1, 3, 4}, 4, TS_F32, test_dev);
    CHECK(ts_rope(ts_zeros((int64_t[]){1, 2, 3, 5}, 4, TS_F32, test_dev), t, t) == NULL);
    CHECK_CONTAINS(ts_last_error(), "expected x (B, N, T, E) with E even");
    CHECK(ts_rope(x, ts_zeros((int64_t[]){1, 1, 3, 4}, 4, TS_BF16, test_dev), t) == NULL);
    CHECK_CONTAINS(ts_last_error(), "cos and sin must have x's dtype");
    ts_tensor *tg = ts_zeros((int64_t[]){1, 1, 3, 4}, 4, TS_F32, test_dev);
    ts_set_requires_grad(tg, 1);
    CHECK(ts_rope(x, t, tg) == NULL);
    CHECK_CONTAINS(ts_last_error(), "they take no gradient");
    ts_scope_end();
}

static int checkpoint_calls;

/* in = {x, c}, arg = w: tanh(x * w) + c, or an error when c holds a negative first element. */
static ts_tensor *f_checkpointed(void *arg, ts_tensor *const *in, int n) {
    double c0 = 0;
    checkpoint_calls++;
    if (n != 2 || ts_item_f64(ts_select(in[1], 0, 0), &c0)) return NULL;
    if (c0 < 0) {
        err_set("c is negative");
        return NULL;
    }
    return ts_add(ts_tanh(ts_mul(in[0], (ts_tensor *)arg)), in[1]);
}

/* ts_checkpoint runs its function once in forward and once more in backward, and gives the
 * gradients of the plain computation to its input and to what the function reads (w); a constant
 * input that needs a gradient and a failing function are errors. */
static void test_checkpoint(void) {
    ts_scope_begin();
    ts_tensor *x0 = check_from_host((double[]){0.3, -1.2, 0.7}, (int64_t[]){3}, 1, TS_F64);
    ts_tensor *w = check_from_host((double[]){1.5, 0.2, -0.8}, (int64_t[]){3}, 1, TS_F64);
    ts_tensor *c = check_from_host((double[]){0.1, 0.2, 0.3}, (int64_t[]){3}, 1, TS_F64);
    ts_set_requires_grad(x0, 1);
    ts_set_requires_grad(w, 1);
    ts_tensor *in[2] = {ts_mul_scalar(x0, 2), c};
    CHECK(ts_backward(ts_sum(ts_pow_scalar(f_checkpointed(w, in, 2), 2))) == 0);
    ts_tensor *gx = ts_clone(ts_grad(x0)), *gw = ts_clone(ts_grad(w));
    ts_grad_clear(x0);
    ts_grad_clear(w);
    checkpoint_calls = 0;
    in[0] = ts_mul_scalar(x0, 2);
    ts_tensor *y = ts_checkpoint(f_checkpointed, w, in, 2);
    CHECK(y && ts_requires_grad(y) && checkpoint_calls == 1);
    CHECK(ts_backward(ts_sum(ts_pow_scalar(y, 2))) == 0 && checkpoint_calls == 2);
    CHECK(rel_diff(ts_grad(x0), gx) <= 1e-12 && rel_diff(ts_grad(w), gw) <= 1e-12);
    ts_tensor *bad[2] = {in[0], w};
    CHECK(ts_checkpoint(f_checkpointed, w, bad, 2) == NULL);
    CHECK_CONTAINS(ts_last_error(), "input 1 requires a gradient");
    bad[1] = ts_neg(c);
    CHECK(ts_checkpoint(f_checkpointed, w, bad, 2) == NULL);
    CHECK_CONTAINS(ts_last_error(), "c is negative");
    ts_scope_end();
}

static void test_scopes_and_errors(void) {
    int64_t before = ts_live_handles();
    ts_scope_begin();
    ts_tensor *a = ts_ones((int64_t[]){2}, 1, TS_F32, test_dev);
    ts_tensor *kept = NULL;
    ts_scope_begin();
    ts_tensor *tmp = ts_add(a, a);
    kept = ts_keep(ts_mul(tmp, tmp)); /* survives the inner scope */
    ts_free(tmp);                     /* explicit free inside a scope is fine */
    ts_scope_end();
    CHECK(values_are(kept, (double[]){4, 4}, 2));
    ts_tensor *own = ts_keep(ts_alias(kept)); /* leaves the outer scope too */
    ts_scope_end();
    CHECK(ts_live_handles() == before + 1);
    CHECK(values_are(own, (double[]){4, 4}, 2));
    ts_free(own);
    CHECK(ts_live_handles() == before);
    ts_scope_begin();
    ts_scope_begin();
    ts_tensor *free_standing = ts_unscope(ts_ones((int64_t[]){3}, 1, TS_F32, test_dev));
    ts_scope_end();
    ts_scope_end();
    CHECK(ts_live_handles() == before + 1); /* out of both scopes at once */
    CHECK(values_are(free_standing, (double[]){1, 1, 1}, 3));
    ts_free(free_standing);
    CHECK(ts_live_handles() == before);
    CHECK(ts_unscope(NULL) == NULL);
    ts_scope_end(); /* unmatched end is a no-op */
    ts_free(NULL);

    /* failures never throw: NULL plus a message naming the op and the problem */
    ts_scope_begin();
    ts_tensor *x = ts_ones((int64_t[]){2, 3}, 2, TS_F32, test_dev);
    CHECK(ts_reshape(x, (int64_t[]){4, 2}, 2) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_reshape");
    CHECK(ts_zeros((int64_t[]){-1}, 1, TS_F32, test_dev) == NULL);
    CHECK_CONTAINS(ts_last_error(), "negative size -1");
    CHECK(ts_zeros((int64_t[]){1}, 9, TS_F32, test_dev) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ndim 9");
    CHECK(ts_select(x, 5, 0) == NULL);
    /* on the CPU: a bad index on CUDA is a device-side assert that ends the process's CUDA context */
    CHECK(ts_index_select(ts_to_device(x, TS_CPU_DEVICE), 1, ts_from_data((int64_t[]){7}, (int64_t[]){1}, 1, TS_I64)) == NULL);
    CHECK(ts_cat(NULL, 0, 0) == NULL);
    CHECK_CONTAINS(ts_last_error(), "at least one tensor");
    CHECK(ts_to_device(x, (ts_device){TS_CUDA, 0}) == NULL || ts_cuda_available());
    /* NULL propagates through a chain, keeping the first cause */
    ts_tensor *chain = ts_add(ts_matmul(x, x), x);
    CHECK(chain == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_add: argument 'a' is NULL");
    CHECK_CONTAINS(ts_last_error(), "ts_matmul");
    ts_scope_end();
}

/* ts_from_host puts host data on the named device (meta stands in for a GPU: no CUDA needed), and
 * the debug check refuses an op whose inputs sit on two devices, also where ATen would let a CPU
 * scalar tensor meet a tensor elsewhere. */
static void test_device_placement(void) {
    ts_scope_begin();
    const float v[6] = {1, 2, 3, 4, 5, 6};
    const int64_t shape[2] = {2, 3};
    ts_device meta = {TS_META, 0};
    ts_tensor *c = ts_from_host(v, shape, 2, TS_F32, TS_CPU_DEVICE);
    float back[6] = {0};
    CHECK(c && ts_get_device(c).type == TS_CPU && ts_to_host(c, back, sizeof back) == 0 && !memcmp(v, back, sizeof v));
    ts_tensor *m = ts_from_host(v, shape, 2, TS_F32, meta);
    char d[64];
    CHECK(m && ts_get_device(m).type == TS_META && ts_get_dtype(m) == TS_F32 && ts_size(m, 1) == 3);
    CHECK_STR(ts_describe(m, d, sizeof d), "(2, 3) f32 meta");
    CHECK(ts_from_host(NULL, shape, 2, TS_F32, meta) == NULL);
    ts_device parsed;
    CHECK(ts_device_parse("meta", &parsed) == -1); /* never from a config */
    ts_tensor *scalar = ts_from_host(v, NULL, 0, TS_F32, TS_CPU_DEVICE);
    ts_check_devices(0);
    CHECK(ts_mul(m, scalar) != NULL); /* ATen lets a CPU scalar tensor in */
    ts_check_devices(1);
    CHECK(ts_mul(m, scalar) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_mul: inputs on different devices: (2, 3) f32 meta and () f32 cpu");
    CHECK(ts_sub(c, m) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_sub: inputs on different devices");
    ts_tensor *pair[2] = {c, m};
    CHECK(ts_cat(pair, 2, 0) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_cat: inputs on different devices");
    CHECK(ts_where(ts_gt_scalar(m, 0), m, c) == NULL);
    CHECK_CONTAINS(ts_last_error(), "ts_where: inputs on different devices");
    CHECK(ts_add_(m, c, 1) == -1);
    CHECK_CONTAINS(ts_last_error(), "ts_add_: inputs on different devices");
    CHECK(ts_sub(m, m) != NULL && ts_copy_(c, c) == 0); /* one device: fine */
    ts_check_devices(0);
    ts_scope_end();
}

static int check_macro_user(const ts_tensor *x) {
    TS_CHECK(ts_reshape(x, (int64_t[]){5}, 1) != NULL);
    return 0;
}

int main(void) {
    ts_set_num_threads(1);
    test_dev = check_device();
    test_creation_and_info();
    test_views_and_indexing();
    test_elementwise();
    test_in_place();
    test_reductions();
    test_nn_ops();
    test_generators();
    test_gradients();
    test_attention();
    test_linear_few_rows();
    test_autograd_api();
    test_linear_logprob_entropy();
    test_rope();
    test_checkpoint();
    test_scopes_and_errors();
    test_device_placement();
    ts_tensor *x = ts_ones((int64_t[]){2}, 1, TS_F32, test_dev);
    CHECK(check_macro_user(x) == -1);
    CHECK_CONTAINS(err_msg(), "test_tensor.c:");
    ts_free(x);
    CHECK(ts_live_handles() == 0);
    CHECK(strlen(ts_version()) > 0 && ts_get_num_threads() == 1);
    CHECK_DONE();
}
