/* ts — the C API over ATen: the only door from rlvr.c's C code into libtorch.
 *
 * Handles are typed and opaque (ts_tensor *). Every function that returns a tensor returns a new
 * handle that the caller owns; tensor arguments are borrowed. A handle is released by ts_free(),
 * or in bulk by ts_scope_end() when it was created inside a scope. No C++ exception crosses this
 * API: a failing call returns NULL (or -1) and leaves its message in the thread's error buffer
 * (common/err.h; ts_last_error() reads it). A NULL tensor argument makes the call fail and keeps
 * the earlier message, so a chain like ts_add(ts_mul(a, b), c) can be checked once at the end.
 *
 * Ops are named after the ATen op they wrap and follow its semantics (broadcasting, negative
 * dims counting from the end), so C reads line for line against a PyTorch reference.
 * Deliberately not here: modules, optimisers (ts_adamw_ is only an update's arithmetic), data
 * loading, anything with state beyond a handle; ops the project does not use. */
#ifndef RLVR_TS_H
#define RLVR_TS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_tensor ts_tensor;
typedef struct ts_generator ts_generator;

typedef enum { TS_F32, TS_F64, TS_BF16, TS_F16, TS_I64, TS_I32, TS_U8, TS_BOOL } ts_dtype;
/* TS_META is ATen's meta device: shapes and dtypes without storage. Tests place tensors there to
 * see where a function puts them without a GPU; ts_device_parse never gives it. */
typedef enum { TS_CPU, TS_CUDA, TS_META } ts_device_type;
typedef struct ts_device {
    ts_device_type type;
    int index; /* CUDA ordinal; 0 for the CPU */
} ts_device;

#define TS_CPU_DEVICE ((ts_device){TS_CPU, 0})
#define TS_MAX_DIMS 8

/* ---- errors ---- */

/* The message of the last failure on this thread (the same buffer as err_msg()). */
const char *ts_last_error(void);
/* In a function returning int: return -1 with "file:line: " prefixed to the message if x is
 * NULL/false. */
#define TS_CHECK(x)                                                      \
    do {                                                                 \
        if (!(x)) return ts_error_at(__FILE__, __LINE__);                \
    } while (0)
int ts_error_at(const char *file, int line);

/* ---- library, threads, devices ---- */

const char *ts_version(void);        /* libtorch version, "1.13.1" */
int ts_cuda_available(void);         /* 1 when built with CUDA and a device is visible */
int ts_cuda_device_count(void);
/* libtorch's build configuration (compiler, BLAS, CUDA, ...) as text; static storage. */
const char *ts_build_config(void);
/* The file of the libtorch_cpu library this process loaded (resolved path), "" if none is found;
 * static storage. */
const char *ts_library_path(void);
/* Intra-op threads of libtorch and, when it is the BLAS in use, of OpenBLAS; n <= 0 is ignored. */
void ts_set_num_threads(int n);
int ts_get_num_threads(void);
/* OpenBLAS (libtorch's BLAS on Debian) picks its kernels by the CPU's model number and falls back
 * to its oldest, SSE3 ones (Prescott) on a model it does not know, as on many virtual machines:
 * sgemm then runs at about a quarter of what AVX-512 kernels reach (docs/PERFORMANCE.md). When
 * OpenBLAS is loaded, OPENBLAS_CORETYPE is unset and the kernels chosen lack AVX2 although the CPU
 * has it, sets OPENBLAS_CORETYPE to the kernels that fit ("SkylakeX" with AVX-512, "Haswell" with
 * AVX2 and FMA), and RLVR_BLAS_CORE_CHOSEN to the same, and executes the program's own file again
 * with argv (OpenBLAS reads the variable only when it loads). Returns when nothing is to be done
 * or the exec fails. Call it first in main. */
void ts_blas_pick_kernels(char **argv);
/* The build of rlvr's own CPU kernels in use (fused attention, sampling, AdamW, the few-rows
 * linear): "default", "avx2" or "avx512", the best this CPU runs or the one RLVR_CPU_KERNELS
 * names; NULL (ts_last_error says why) when RLVR_CPU_KERNELS names none or one this CPU lacks. */
const char *ts_cpu_kernels(void);
size_t ts_dtype_size(ts_dtype dt);
const char *ts_dtype_name(ts_dtype dt);
/* Parse "cpu", "cuda", "cuda:N"; -1 with err_set otherwise. */
int ts_device_parse(const char *s, ts_device *out);

/* ---- lifetime ---- */

void ts_free(ts_tensor *t);           /* NULL is a no-op; also leaves its scope */
void ts_scope_begin(void);
/* Free every handle created since the matching ts_scope_begin on this thread, except those
 * passed to ts_keep. */
void ts_scope_end(void);
/* Move t out of the innermost scope into the enclosing one (or to the caller's explicit
 * ownership when there is none). Returns t. */
ts_tensor *ts_keep(ts_tensor *t);
/* Take t out of every scope: the caller owns it until ts_free. For state that outlives the calls
 * that create it (model weights, KV caches) whatever scopes the caller has open. Returns t. */
ts_tensor *ts_unscope(ts_tensor *t);
/* Number of live handles on all threads; tests use it to prove nothing leaks. */
int64_t ts_live_handles(void);

/* ---- creation ---- */

ts_tensor *ts_empty(const int64_t *shape, int ndim, ts_dtype dt, ts_device dev);
ts_tensor *ts_zeros(const int64_t *shape, int ndim, ts_dtype dt, ts_device dev);
ts_tensor *ts_ones(const int64_t *shape, int ndim, ts_dtype dt, ts_device dev);
ts_tensor *ts_full(const int64_t *shape, int ndim, double value, ts_dtype dt, ts_device dev);
ts_tensor *ts_arange(double start, double end, double step, ts_dtype dt, ts_device dev);
/* A CPU tensor holding a copy of nbytes = numel x dtype size bytes at data. For host-side work
 * only (indices into host arrays, file I/O): a tensor that meets the model's goes through
 * ts_from_host. */
ts_tensor *ts_from_data(const void *data, const int64_t *shape, int ndim, ts_dtype dt);
ts_tensor *ts_zeros_like(const ts_tensor *a);
ts_tensor *ts_ones_like(const ts_tensor *a);
ts_tensor *ts_full_like(const ts_tensor *a, double value);
/* Random values from gen (NULL: libtorch's default CPU generator, seeded by ts_manual_seed). */
ts_tensor *ts_rand(const int64_t *shape, int ndim, ts_generator *gen, ts_dtype dt);
ts_tensor *ts_randn(const int64_t *shape, int ndim, ts_generator *gen, ts_dtype dt);
ts_tensor *ts_randint(int64_t low, int64_t high, const int64_t *shape, int ndim, ts_generator *gen);
ts_tensor *ts_normal_(ts_tensor *t, double mean, double std, ts_generator *gen); /* in place */
ts_tensor *ts_uniform_(ts_tensor *t, double lo, double hi, ts_generator *gen);  /* in place */
ts_tensor *ts_multinomial(const ts_tensor *probs, int64_t n, int replacement, ts_generator *gen);

/* ---- generators: explicit random streams whose state can be saved and restored ---- */

ts_generator *ts_generator_init(uint64_t seed);
void ts_generator_free(ts_generator *g);
void ts_manual_seed(uint64_t seed);
/* Opaque state bytes. get: writes up to cap bytes, sets *len to the full size (call with cap 0
 * to ask). set: -1 if the bytes are not a state of this libtorch. */
int ts_generator_get_state(const ts_generator *g, uint8_t *buf, size_t cap, size_t *len);
int ts_generator_set_state(ts_generator *g, const uint8_t *buf, size_t len);

/* ---- information and host copies ---- */

int ts_ndim(const ts_tensor *t);
int64_t ts_size(const ts_tensor *t, int dim); /* dim may be negative; -1 on error */
int64_t ts_numel(const ts_tensor *t);
int ts_shape(const ts_tensor *t, int64_t *out); /* fills ndim entries, returns ndim */
ts_dtype ts_get_dtype(const ts_tensor *t);
ts_device ts_get_device(const ts_tensor *t);
int ts_is_contiguous(const ts_tensor *t);
/* "(2, 3) f32 cpu" into buf; returns buf. For error messages. */
const char *ts_describe(const ts_tensor *t, char *buf, size_t cap);
/* Copy all elements (any device, any layout) into dst as a C-contiguous array; nbytes must equal
 * numel x dtype size. */
int ts_to_host(const ts_tensor *t, void *dst, size_t nbytes);
/* The address of the first element of a contiguous tensor: host memory for a CPU tensor, device
 * memory for a CUDA one. For handing a buffer to a communication library (dist/). Borrowed: valid
 * while any handle to the storage lives. NULL with an error if t is not contiguous; an empty
 * tensor may give NULL without one. */
void *ts_data_ptr(ts_tensor *t);
/* The single element of a one-element tensor, converted. */
int ts_item_f64(const ts_tensor *t, double *out);
int ts_item_i64(const ts_tensor *t, int64_t *out);
ts_tensor *ts_to_dtype(const ts_tensor *t, ts_dtype dt);
ts_tensor *ts_to_device(const ts_tensor *t, ts_device dev);
ts_tensor *ts_contiguous(const ts_tensor *t);
ts_tensor *ts_clone(const ts_tensor *t);
ts_tensor *ts_detach(const ts_tensor *t);
/* A new handle to the same tensor (shares storage and autograd identity). */
ts_tensor *ts_alias(const ts_tensor *t);

/* ---- views and indexing ---- */

ts_tensor *ts_reshape(const ts_tensor *t, const int64_t *shape, int ndim);
ts_tensor *ts_view(const ts_tensor *t, const int64_t *shape, int ndim);
ts_tensor *ts_permute(const ts_tensor *t, const int64_t *dims, int ndim);
ts_tensor *ts_transpose(const ts_tensor *t, int d0, int d1);
ts_tensor *ts_narrow(const ts_tensor *t, int dim, int64_t start, int64_t length);
ts_tensor *ts_slice(const ts_tensor *t, int dim, int64_t start, int64_t end, int64_t step);
ts_tensor *ts_select(const ts_tensor *t, int dim, int64_t index);
ts_tensor *ts_unsqueeze(const ts_tensor *t, int dim);
ts_tensor *ts_squeeze(const ts_tensor *t, int dim);
ts_tensor *ts_flatten(const ts_tensor *t, int start_dim, int end_dim);
ts_tensor *ts_expand(const ts_tensor *t, const int64_t *shape, int ndim);
ts_tensor *ts_index_select(const ts_tensor *t, int dim, const ts_tensor *index);
ts_tensor *ts_repeat_interleave(const ts_tensor *t, int64_t repeats, int dim);
ts_tensor *ts_masked_fill(const ts_tensor *t, const ts_tensor *mask, double value);
ts_tensor *ts_tril(const ts_tensor *t, int64_t diagonal);
ts_tensor *ts_triu(const ts_tensor *t, int64_t diagonal);
ts_tensor *ts_cat(ts_tensor *const *ts, int n, int dim);
ts_tensor *ts_stack(ts_tensor *const *ts, int n, int dim);
ts_tensor *ts_gather(const ts_tensor *t, int dim, const ts_tensor *index);
ts_tensor *ts_scatter(const ts_tensor *t, int dim, const ts_tensor *index, const ts_tensor *src);
ts_tensor *ts_scatter_add(const ts_tensor *t, int dim, const ts_tensor *index, const ts_tensor *src);

/* ---- elementwise, broadcasting ---- */

ts_tensor *ts_add(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_sub(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_mul(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_div(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_add_scalar(const ts_tensor *a, double s);
ts_tensor *ts_mul_scalar(const ts_tensor *a, double s);
ts_tensor *ts_div_scalar(const ts_tensor *a, double s);
ts_tensor *ts_pow_scalar(const ts_tensor *a, double exponent);
ts_tensor *ts_rsub_scalar(const ts_tensor *a, double s); /* s - a */
ts_tensor *ts_minimum(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_maximum(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_clamp(const ts_tensor *a, double lo, double hi);
ts_tensor *ts_clamp_min(const ts_tensor *a, double lo);
ts_tensor *ts_clamp_max(const ts_tensor *a, double hi);
ts_tensor *ts_where(const ts_tensor *cond, const ts_tensor *a, const ts_tensor *b);

ts_tensor *ts_neg(const ts_tensor *a);
ts_tensor *ts_abs(const ts_tensor *a);
ts_tensor *ts_exp(const ts_tensor *a);
ts_tensor *ts_expm1(const ts_tensor *a); /* exp(a) - 1, accurate near 0 */
ts_tensor *ts_log(const ts_tensor *a);
ts_tensor *ts_sqrt(const ts_tensor *a);
ts_tensor *ts_rsqrt(const ts_tensor *a);
ts_tensor *ts_sin(const ts_tensor *a);
ts_tensor *ts_cos(const ts_tensor *a);
ts_tensor *ts_tanh(const ts_tensor *a);
ts_tensor *ts_sigmoid(const ts_tensor *a);
ts_tensor *ts_silu(const ts_tensor *a);
ts_tensor *ts_isfinite(const ts_tensor *a);

/* comparisons give TS_BOOL */
ts_tensor *ts_eq(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_ne(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_lt(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_le(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_gt(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_ge(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_eq_scalar(const ts_tensor *a, double s);
ts_tensor *ts_ne_scalar(const ts_tensor *a, double s);
ts_tensor *ts_lt_scalar(const ts_tensor *a, double s);
ts_tensor *ts_gt_scalar(const ts_tensor *a, double s);
ts_tensor *ts_logical_and(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_logical_or(const ts_tensor *a, const ts_tensor *b);
ts_tensor *ts_logical_not(const ts_tensor *a);

/* ---- in place (optimiser state, caches); return 0 or -1 ---- */

int ts_copy_(ts_tensor *dst, const ts_tensor *src);               /* dst may be a view */
int ts_fill_(ts_tensor *t, double value);
int ts_zero_(ts_tensor *t);
int ts_add_(ts_tensor *t, const ts_tensor *other, double alpha);   /* t += alpha * other */
int ts_mul_scalar_(ts_tensor *t, double s);
int ts_addcmul_(ts_tensor *t, const ts_tensor *a, const ts_tensor *b, double value);
int ts_addcdiv_(ts_tensor *t, const ts_tensor *a, const ts_tensor *b, double value);
int ts_lerp_(ts_tensor *t, const ts_tensor *end, double weight);

/* ---- AdamW's arithmetic in one pass (the optimiser itself is optim/'s) ---- */

/* The scalars of one AdamW update, as doubles: what optim.c's op sequence hands ATen. */
typedef struct ts_adamw_step {
    double grad_scale;    /* g = grad * grad_scale: the clipping coefficient, 1 for none */
    double decay;         /* p = p * decay: 1 - lr * weight_decay */
    double beta1, alpha1; /* m = m * beta1 + alpha1 * g: alpha1 = 1 - beta1 */
    double beta2, alpha2; /* v = v * beta2 + alpha2 * g * g: alpha2 = 1 - beta2 */
    double bias2_sqrt;    /* sqrt(1 - beta2^t) at the parameter's step count t */
    double eps;
    double step;          /* p = p + step * m / (sqrt(v) / bias2_sqrt + eps): -lr / (1 - beta1^t) */
} ts_adamw_step;
/* One AdamW update of param, exp_avg and exp_avg_sq (same shape and dtype, f32 or f64, contiguous,
 * on the CPU) from grad, in one pass that rounds every element as the op sequence mul_, add_,
 * mul_, addcmul_, sqrt, div, add, addcdiv_ on this libtorch and CPU does (ATen is asked once how it
 * rounds add_ and addcmul_, and computes the square roots; tensor/ts_optim.cpp). copy, when not
 * NULL, is a bf16 tensor of the same size that gets param rounded to nearest even (ts_copy_'s
 * rounding). grad is read, not changed. Returns 0 when done; 1 when it cannot promise the op
 * sequence's rounding (another device, dtype or layout, or an ATen whose kernels round add_
 * differently from one element to another), having changed nothing, so that the caller runs the
 * ops; -1 on error. */
int ts_adamw_(ts_tensor *param, ts_tensor *exp_avg, ts_tensor *exp_avg_sq, const ts_tensor *grad, ts_tensor *copy,
              const ts_adamw_step *s);

/* ---- reductions; dim may be negative ---- */

ts_tensor *ts_sum(const ts_tensor *t);
ts_tensor *ts_mean(const ts_tensor *t);
ts_tensor *ts_max(const ts_tensor *t);
ts_tensor *ts_min(const ts_tensor *t);
ts_tensor *ts_sum_dim(const ts_tensor *t, int dim, int keepdim);
ts_tensor *ts_mean_dim(const ts_tensor *t, int dim, int keepdim);
ts_tensor *ts_amax(const ts_tensor *t, int dim, int keepdim);
ts_tensor *ts_amin(const ts_tensor *t, int dim, int keepdim);
ts_tensor *ts_argmax(const ts_tensor *t, int dim, int keepdim);
ts_tensor *ts_logsumexp(const ts_tensor *t, int dim, int keepdim);
/* variance with Bessel-style correction: divides by (n - correction) */
ts_tensor *ts_var_dim(const ts_tensor *t, int dim, int64_t correction, int keepdim);
ts_tensor *ts_std_dim(const ts_tensor *t, int dim, int64_t correction, int keepdim);
ts_tensor *ts_norm(const ts_tensor *t); /* L2 norm of all elements */
ts_tensor *ts_cumsum(const ts_tensor *t, int dim);
/* k largest (or smallest) along dim; both outputs owned by the caller. */
int ts_topk(const ts_tensor *t, int64_t k, int dim, int largest, ts_tensor **values,
            ts_tensor **indices);
/* Stable sort along dim. */
int ts_sort(const ts_tensor *t, int dim, int descending, ts_tensor **values, ts_tensor **indices);

/* ---- linear algebra and neural-network ops ---- */

ts_tensor *ts_matmul(const ts_tensor *a, const ts_tensor *b);
/* x (..., in) @ w (out, in)^T + b (out); b may be NULL. */
ts_tensor *ts_linear(const ts_tensor *x, const ts_tensor *w, const ts_tensor *b);
/* Rows of weight (V, D) at ids (any shape, i64): (..., D). */
ts_tensor *ts_embedding(const ts_tensor *weight, const ts_tensor *ids);
ts_tensor *ts_softmax(const ts_tensor *t, int dim);
ts_tensor *ts_log_softmax(const ts_tensor *t, int dim);
/* softmax(q k^T * scale, masked) v, as at::scaled_dot_product_attention with enable_gqa (torch
 * 2.x): q (B, H, L, E), k (B, Hkv, S, E), v (B, Hkv, S, Ev) -> (B, H, L, Ev), Hkv dividing H (query
 * head h reads key head h / (H / Hkv)); mask NULL or bool broadcastable to (B, H, L, S), true where
 * a query may attend (a row with none gives NaN; 0 from ATen's op). The softmax is in f32. Without
 * gradients on the CPU in f32 a fused kernel runs; otherwise ATen's op (libtorch 2.5+) or ATen ops
 * that autograd differentiates. */
ts_tensor *ts_scaled_dot_product_attention(const ts_tensor *q, const ts_tensor *k, const ts_tensor *v,
                                           const ts_tensor *mask, double scale);

/* Rotary position embedding (rotate-half form): x (B, N, T, E), E even, any strides -> x * cos +
 * rotate_half(x) * sin with rotate_half([a, b]) = [-b, a] over the last dim, as a new contiguous
 * tensor; cos, sin in x's dtype, broadcastable to x, without gradient. On the CPU one kernel each
 * way (x's gradient by the transpose map), equal bit for bit to the op sequence; elsewhere that
 * sequence. */
ts_tensor *ts_rope(const ts_tensor *x, const ts_tensor *cos, const ts_tensor *sin);

/* Per row of x (N, D): the log-prob of target (N) i64 and the entropy under softmax(x w^T), w (V, D),
 * as log_softmax(linear(x, w)).gather(target) and -(p * log p).sum(-1) in f32 -> *logprob (N) f32
 * and, when entropy is not NULL, *entropy (N) f32 (differentiable only when entropy_grad). The
 * logits are computed chunk_rows rows at a time and w's gradient accumulates in one (V, D) f32
 * buffer. For backward, the (N, V) log-softmax is kept when N x V <= keep_elems; otherwise only
 * the (N) log-sum-exps are, and backward computes each chunk's logits again (one more GEMM over
 * the vocabulary, no (N, V) tensor). Both results are new handles; 0, or -1 with an error. */
int ts_linear_logprob_entropy(const ts_tensor *x, const ts_tensor *w, const ts_tensor *target, int64_t chunk_rows,
                              int64_t keep_elems, int entropy_grad, ts_tensor **logprob, ts_tensor **entropy);

/* ---- sampling: rlvr's own ops, not ATen's (tensor/ts_sample.cpp) ---- */

/* Uniform numbers in [0, 1) with 53 random bits, one per element of key (any shape, i64), on
 * key's device: the (counter + 1)-th output of a splitmix64 stream seeded with the key (Steele et
 * al., OOPSLA 2014), computed with wrapping int64 ops, so a (key, counter) gives the same bits on
 * every device and whatever else is in the tensor. f64, key's shape. */
ts_tensor *ts_counter_uniform(const ts_tensor *key, uint64_t counter);
/* One categorical draw per row of logits (R, V) (f32, bf16 or f16; any device) from the ids
 * [0, n): with temperature > 0, id j is drawn with probability proportional to
 * exp(logits[j] / temperature) by inverse CDF: the first id in id order whose cumulative weight
 * exceeds u[r] x the row's total (u (R) f64 in [0, 1)); -inf logits are never drawn. temperature
 * 0 is greedy: the first id of the row's largest logit. *ids gets (R) i64, *logprobs (R) f32 the
 * log-prob of each drawn id under log_softmax(logits / lp_temperature) over all V entries (NaN
 * when the row has a NaN). On the CPU in f32 a fused kernel, elsewhere ATen ops; the two round
 * differently, so a uniform within rounding of a boundary between two ids may pick either. Both
 * outputs owned by the caller. */
int ts_sample_inverse_cdf(const ts_tensor *logits, int64_t n, double temperature, const ts_tensor *u,
                          double lp_temperature, ts_tensor **ids, ts_tensor **logprobs);

/* ---- autograd (libtorch's) ---- */

/* A function for ts_checkpoint: inputs borrowed -> a new tensor, or NULL with an error. */
typedef ts_tensor *(*ts_checkpoint_fn)(void *arg, ts_tensor *const *inputs, int n);
/* Activation checkpointing: fn(arg, inputs, n) computed without keeping its intermediate tensors;
 * the backward computes it again with gradients and backpropagates through it. inputs[0] gets a
 * gradient; the others must not need one. The tensors fn reads besides its inputs (parameters)
 * get their gradients accumulated during that nested backward, as torch.utils.checkpoint's
 * reentrant variant does, so use it under ts_backward only. arg, and whatever fn reads through it,
 * must outlive the backward; fn must compute the same thing both times (no randomness). */
ts_tensor *ts_checkpoint(ts_checkpoint_fn fn, void *arg, ts_tensor *const *inputs, int n);

int ts_set_requires_grad(ts_tensor *t, int on); /* leaves only */
int ts_requires_grad(const ts_tensor *t);
/* Backpropagate from a one-element tensor; gradients accumulate into leaves' .grad. */
int ts_backward(const ts_tensor *loss);
/* The accumulated gradient of a leaf (shares storage with it); NULL with an error if none. */
ts_tensor *ts_grad(const ts_tensor *t);
int ts_has_grad(const ts_tensor *t);
/* Drop the gradient (the next backward starts from none, as set_to_none=True). */
int ts_grad_clear(ts_tensor *t);
/* No-grad regions nest; the state is per thread. */
void ts_no_grad_begin(void);
void ts_no_grad_end(void);
int ts_grad_enabled(void);

/* ---- device placement ----
 * Every tensor of a training step lives on the model's device. Host data become tensors there in
 * one call, and a debug check makes an op whose tensor inputs sit on different devices fail with
 * a message naming the op and both devices (stricter than ATen, which lets a CPU scalar tensor
 * meet a CUDA one). The check is off unless RLVR_TS_CHECK_DEVICES is set to a value other than 0,
 * or ts_check_devices turns it on; it covers the elementwise binary ops, where, the indexing ops
 * (index_select, gather, scatter, masked_fill), cat, stack, matmul, linear, embedding and the
 * in-place arithmetic (ts_copy_ copies across devices by design). */

/* A tensor on dev holding a copy of the numel x dtype size bytes at data. */
ts_tensor *ts_from_host(const void *data, const int64_t *shape, int ndim, ts_dtype dt, ts_device dev);
/* Turn the device check on (1) or off (0) for every thread. */
void ts_check_devices(int on);

#ifdef __cplusplus
}
#endif

#endif
