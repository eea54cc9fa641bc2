// ts_ops — the tensor operations of the C API (ts.h), each a thin wrapper named after the ATen op
// it calls, with ATen's semantics. Handles and errors are in ts_core.cpp.
#include "tensor/ts_impl.hpp"

#include <string>
#include <vector>

using namespace ts_detail;

#define UNARY(name, expr)                   \
    ts_tensor *ts_##name(const ts_tensor *a) { \
        TS_NEED(a);                         \
        TS_RETURN_TENSOR(expr);             \
    }
// The debug device check (ts_check_devices) of a tensor-returning or a status-returning op.
#define SAME_DEVICE(...)                                                    \
    do {                                                                    \
        if (devices_differ(__func__, {__VA_ARGS__})) return nullptr;        \
    } while (0)
#define SAME_DEVICE_STATUS(...)                                             \
    do {                                                                    \
        if (devices_differ(__func__, {__VA_ARGS__})) return -1;             \
    } while (0)
#define BINARY(name, expr)                                        \
    ts_tensor *ts_##name(const ts_tensor *a, const ts_tensor *b) { \
        TS_NEED(a);                                               \
        TS_NEED(b);                                               \
        SAME_DEVICE(a, b);                                        \
        TS_RETURN_TENSOR(expr);                                   \
    }
#define SCALAR(name, expr)                            \
    ts_tensor *ts_##name(const ts_tensor *a, double s) { \
        TS_NEED(a);                                   \
        TS_RETURN_TENSOR(expr);                       \
    }
#define DIM_KEEP(name, expr)                                         \
    ts_tensor *ts_##name(const ts_tensor *t, int dim, int keepdim) { \
        TS_NEED(t);                                                  \
        TS_RETURN_TENSOR(expr);                                      \
    }

static std::vector<at::Tensor> unwrap_list(ts_tensor *const *ts, int n) {
    if (n <= 0) throw std::invalid_argument("needs at least one tensor, got " + std::to_string(n));
    if (!ts) throw std::invalid_argument("tensor list is NULL");
    std::vector<at::Tensor> v;
    v.reserve((size_t)n);
    for (int i = 0; i < n; i++) {
        if (!ts[i]) throw std::invalid_argument("tensor " + std::to_string(i) + " is NULL");
        v.push_back(ts[i]->t);
    }
    return v;
}

// ts_linear's product: our kernel where it applies (ts_linear.cpp), else ATen's.
static at::Tensor linear(const at::Tensor &x, const at::Tensor &w, const at::Tensor *b) {
    at::Tensor y;
    if (ts_detail::linear_few_rows(x, w, b, y)) return y;
    return b ? at::linear(x, w, *b) : at::linear(x, w);
}

static bool list_devices_differ(const char *fn, ts_tensor *const *ts, int n) {
    for (int i = 1; ts && i < n; i++)
        if (devices_differ(fn, {ts[0], ts[i]})) return true;
    return false;
}

extern "C" {

// ---- views and indexing ----

ts_tensor *ts_reshape(const ts_tensor *t, const int64_t *shape, int ndim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.reshape(at::IntArrayRef(shape, (size_t)(ndim < 0 ? 0 : ndim))));
}
ts_tensor *ts_view(const ts_tensor *t, const int64_t *shape, int ndim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.view(at::IntArrayRef(shape, (size_t)(ndim < 0 ? 0 : ndim))));
}
ts_tensor *ts_permute(const ts_tensor *t, const int64_t *dims, int ndim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.permute(at::IntArrayRef(dims, (size_t)(ndim < 0 ? 0 : ndim))));
}
ts_tensor *ts_transpose(const ts_tensor *t, int d0, int d1) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.transpose(d0, d1));
}
ts_tensor *ts_narrow(const ts_tensor *t, int dim, int64_t start, int64_t length) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.narrow(dim, start, length));
}
ts_tensor *ts_slice(const ts_tensor *t, int dim, int64_t start, int64_t end, int64_t step) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.slice(dim, start, end, step));
}
ts_tensor *ts_select(const ts_tensor *t, int dim, int64_t index) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.select(dim, index));
}
ts_tensor *ts_unsqueeze(const ts_tensor *t, int dim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.unsqueeze(dim));
}
ts_tensor *ts_squeeze(const ts_tensor *t, int dim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.squeeze(dim));
}
ts_tensor *ts_flatten(const ts_tensor *t, int start_dim, int end_dim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.flatten(start_dim, end_dim));
}
ts_tensor *ts_expand(const ts_tensor *t, const int64_t *shape, int ndim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.expand(at::IntArrayRef(shape, (size_t)(ndim < 0 ? 0 : ndim))));
}
ts_tensor *ts_index_select(const ts_tensor *t, int dim, const ts_tensor *index) {
    TS_NEED(t);
    TS_NEED(index);
    SAME_DEVICE(t, index);
    TS_RETURN_TENSOR(t->t.index_select(dim, index->t));
}
ts_tensor *ts_repeat_interleave(const ts_tensor *t, int64_t repeats, int dim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.repeat_interleave(repeats, dim));
}
ts_tensor *ts_masked_fill(const ts_tensor *t, const ts_tensor *mask, double value) {
    TS_NEED(t);
    TS_NEED(mask);
    SAME_DEVICE(t, mask);
    TS_RETURN_TENSOR(t->t.masked_fill(mask->t, value));
}
ts_tensor *ts_tril(const ts_tensor *t, int64_t diagonal) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.tril(diagonal));
}
ts_tensor *ts_triu(const ts_tensor *t, int64_t diagonal) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.triu(diagonal));
}
ts_tensor *ts_cat(ts_tensor *const *ts, int n, int dim) {
    if (list_devices_differ(__func__, ts, n)) return nullptr;
    TS_RETURN_TENSOR(at::cat(unwrap_list(ts, n), dim));
}
ts_tensor *ts_stack(ts_tensor *const *ts, int n, int dim) {
    if (list_devices_differ(__func__, ts, n)) return nullptr;
    TS_RETURN_TENSOR(at::stack(unwrap_list(ts, n), dim));
}
ts_tensor *ts_gather(const ts_tensor *t, int dim, const ts_tensor *index) {
    TS_NEED(t);
    TS_NEED(index);
    SAME_DEVICE(t, index);
    TS_RETURN_TENSOR(at::gather(t->t, dim, index->t));
}
ts_tensor *ts_scatter(const ts_tensor *t, int dim, const ts_tensor *index, const ts_tensor *src) {
    TS_NEED(t);
    TS_NEED(index);
    TS_NEED(src);
    SAME_DEVICE(t, index, src);
    TS_RETURN_TENSOR(at::scatter(t->t, dim, index->t, src->t));
}
ts_tensor *ts_scatter_add(const ts_tensor *t, int dim, const ts_tensor *index, const ts_tensor *src) {
    TS_NEED(t);
    TS_NEED(index);
    TS_NEED(src);
    SAME_DEVICE(t, index, src);
    TS_RETURN_TENSOR(at::scatter_add(t->t, dim, index->t, src->t));
}

// ---- elementwise ----

BINARY(add, a->t + b->t)
BINARY(sub, a->t - b->t)
BINARY(mul, a->t * b->t)
BINARY(div, a->t / b->t)
BINARY(minimum, at::minimum(a->t, b->t))
BINARY(maximum, at::maximum(a->t, b->t))
SCALAR(add_scalar, a->t + s)
SCALAR(mul_scalar, a->t * s)
SCALAR(div_scalar, a->t / s)
SCALAR(pow_scalar, a->t.pow(s))
SCALAR(rsub_scalar, at::rsub(a->t, s))
SCALAR(clamp_min, a->t.clamp_min(s))
SCALAR(clamp_max, a->t.clamp_max(s))

ts_tensor *ts_clamp(const ts_tensor *a, double lo, double hi) {
    TS_NEED(a);
    TS_RETURN_TENSOR(a->t.clamp(lo, hi));
}
ts_tensor *ts_where(const ts_tensor *cond, const ts_tensor *a, const ts_tensor *b) {
    TS_NEED(cond);
    TS_NEED(a);
    TS_NEED(b);
    SAME_DEVICE(cond, a, b);
    TS_RETURN_TENSOR(at::where(cond->t, a->t, b->t));
}

UNARY(neg, a->t.neg())
UNARY(abs, a->t.abs())
UNARY(exp, a->t.exp())
UNARY(expm1, a->t.expm1())
UNARY(log, a->t.log())
UNARY(sqrt, a->t.sqrt())
UNARY(rsqrt, a->t.rsqrt())
UNARY(sin, a->t.sin())
UNARY(cos, a->t.cos())
UNARY(tanh, a->t.tanh())
UNARY(sigmoid, a->t.sigmoid())
UNARY(silu, at::silu(a->t))
UNARY(isfinite, at::isfinite(a->t))

BINARY(eq, a->t.eq(b->t))
BINARY(ne, a->t.ne(b->t))
BINARY(lt, a->t.lt(b->t))
BINARY(le, a->t.le(b->t))
BINARY(gt, a->t.gt(b->t))
BINARY(ge, a->t.ge(b->t))
SCALAR(eq_scalar, a->t.eq(s))
SCALAR(ne_scalar, a->t.ne(s))
SCALAR(lt_scalar, a->t.lt(s))
SCALAR(gt_scalar, a->t.gt(s))
BINARY(logical_and, at::logical_and(a->t, b->t))
BINARY(logical_or, at::logical_or(a->t, b->t))
UNARY(logical_not, at::logical_not(a->t))

// ---- in place ----

int ts_copy_(ts_tensor *dst, const ts_tensor *src) {
    TS_NEED_STATUS(dst);
    TS_NEED_STATUS(src);
    TS_RETURN_STATUS(dst->t.copy_(src->t));
}
int ts_fill_(ts_tensor *t, double value) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS(t->t.fill_(value));
}
int ts_zero_(ts_tensor *t) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS(t->t.zero_());
}
int ts_add_(ts_tensor *t, const ts_tensor *other, double alpha) {
    TS_NEED_STATUS(t);
    TS_NEED_STATUS(other);
    SAME_DEVICE_STATUS(t, other);
    TS_RETURN_STATUS(t->t.add_(other->t, alpha));
}
int ts_mul_scalar_(ts_tensor *t, double s) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS(t->t.mul_(s));
}
int ts_addcmul_(ts_tensor *t, const ts_tensor *a, const ts_tensor *b, double value) {
    TS_NEED_STATUS(t);
    TS_NEED_STATUS(a);
    TS_NEED_STATUS(b);
    SAME_DEVICE_STATUS(t, a, b);
    TS_RETURN_STATUS(t->t.addcmul_(a->t, b->t, value));
}
int ts_addcdiv_(ts_tensor *t, const ts_tensor *a, const ts_tensor *b, double value) {
    TS_NEED_STATUS(t);
    TS_NEED_STATUS(a);
    TS_NEED_STATUS(b);
    SAME_DEVICE_STATUS(t, a, b);
    TS_RETURN_STATUS(t->t.addcdiv_(a->t, b->t, value));
}
int ts_lerp_(ts_tensor *t, const ts_tensor *end, double weight) {
    TS_NEED_STATUS(t);
    TS_NEED_STATUS(end);
    SAME_DEVICE_STATUS(t, end);
    TS_RETURN_STATUS(t->t.lerp_(end->t, weight));
}

// ---- reductions ----

UNARY(sum, a->t.sum())
UNARY(mean, a->t.mean())
UNARY(max, a->t.max())
UNARY(min, a->t.min())
UNARY(norm, a->t.norm())
DIM_KEEP(sum_dim, t->t.sum(dim, keepdim != 0))
DIM_KEEP(mean_dim, t->t.mean(dim, keepdim != 0))
DIM_KEEP(amax, t->t.amax(dim, keepdim != 0))
DIM_KEEP(amin, t->t.amin(dim, keepdim != 0))
DIM_KEEP(argmax, t->t.argmax(dim, keepdim != 0))
DIM_KEEP(logsumexp, t->t.logsumexp(dim, keepdim != 0))

ts_tensor *ts_var_dim(const ts_tensor *t, int dim, int64_t correction, int keepdim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(at::var(t->t, at::OptionalIntArrayRef(at::IntArrayRef{dim}), correction, keepdim != 0));
}
ts_tensor *ts_std_dim(const ts_tensor *t, int dim, int64_t correction, int keepdim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(at::std(t->t, at::OptionalIntArrayRef(at::IntArrayRef{dim}), correction, keepdim != 0));
}
ts_tensor *ts_cumsum(const ts_tensor *t, int dim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(t->t.cumsum(dim));
}

int ts_topk(const ts_tensor *t, int64_t k, int dim, int largest, ts_tensor **values,
            ts_tensor **indices) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS({
        auto r = t->t.topk(k, dim, largest != 0, true);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    });
}

int ts_sort(const ts_tensor *t, int dim, int descending, ts_tensor **values, ts_tensor **indices) {
    TS_NEED_STATUS(t);
    TS_RETURN_STATUS({
        auto r = t->t.sort(true, dim, descending != 0);
        *values = wrap(std::get<0>(r));
        *indices = wrap(std::get<1>(r));
    });
}

// ---- linear algebra and neural-network ops ----

BINARY(matmul, at::matmul(a->t, b->t))

ts_tensor *ts_linear(const ts_tensor *x, const ts_tensor *w, const ts_tensor *b) {
    TS_NEED(x);
    TS_NEED(w);
    SAME_DEVICE(x, w, b);
    TS_RETURN_TENSOR(linear(x->t, w->t, b ? &b->t : nullptr));
}
ts_tensor *ts_embedding(const ts_tensor *weight, const ts_tensor *ids) {
    TS_NEED(weight);
    TS_NEED(ids);
    SAME_DEVICE(weight, ids);
    TS_RETURN_TENSOR(at::embedding(weight->t, ids->t));
}
ts_tensor *ts_softmax(const ts_tensor *t, int dim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(at::softmax(t->t, dim));
}
ts_tensor *ts_log_softmax(const ts_tensor *t, int dim) {
    TS_NEED(t);
    TS_RETURN_TENSOR(at::log_softmax(t->t, dim));
}

} // extern "C"
