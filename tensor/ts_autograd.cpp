// ts_autograd — the ops of ts.h whose backward is ours, not ATen's: activation checkpointing
// (ts_checkpoint), the LM head's log-probs and entropy over the vocabulary in chunks of rows
// (ts_linear_logprob_entropy) and rotary position embedding (ts_rope). All are
// torch::autograd::Function nodes, which libtorch 1.13 and 2.x share. The first two trade compute
// for memory: checkpointing runs a function twice to keep only its inputs; the head recomputes
// each chunk's logits in backward, unless the whole (N, V) fits the caller's budget, so that no
// vocabulary-wide tensor beyond that budget is held. RoPE trades nothing: one pass over the
// tensor each way where ATen's op sequence makes about five forward and eight backward.
// Deliberately not here: torch.utils.checkpoint's non-reentrant variant, RNG state replay (the
// functions we checkpoint draw no random numbers), a fused CUDA kernel for the head.
#include "tensor/ts_impl.hpp"

extern "C" {
#include "common/err.h"
}

#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

using namespace ts_detail;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

namespace {

// ---- activation checkpointing ----

// Runs fn on fresh handles to ins inside a scope of its own; the result's tensor, or throws with
// fn's message.
at::Tensor call_fn(ts_checkpoint_fn fn, void *arg, const std::vector<at::Tensor> &ins) {
    ts_scope_begin();
    std::vector<ts_tensor *> hs;
    for (const at::Tensor &t : ins) hs.push_back(wrap(t));
    ts_tensor *y = fn(arg, hs.data(), (int)hs.size());
    at::Tensor out = y ? y->t : at::Tensor();
    ts_scope_end();
    if (!out.defined()) throw std::runtime_error(std::string("checkpointed function: ") + err_msg());
    return out;
}

struct checkpoint_fn : public torch::autograd::Function<checkpoint_fn> {
    // inputs[0] takes a gradient, the rest are constants; fn and arg travel as integers.
    static at::Tensor forward(AutogradContext *ctx, at::TensorList inputs, int64_t fn, int64_t arg) {
        ctx->save_for_backward(inputs.vec());
        ctx->saved_data["fn"] = fn;
        ctx->saved_data["arg"] = arg;
        return call_fn(reinterpret_cast<ts_checkpoint_fn>(fn), reinterpret_cast<void *>(arg), inputs.vec());
    }

    // Recompute with gradients from a detached copy of inputs[0] and backpropagate through the
    // copy: the tensors fn reads besides its inputs (parameters) get their gradients accumulated
    // here, in this nested backward, as torch.utils.checkpoint's reentrant variant does.
    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        std::vector<at::Tensor> ins = ctx->get_saved_variables();
        ins[0] = ins[0].detach().requires_grad_(true);
        at::Tensor y;
        {
            at::AutoGradMode on(true);
            y = call_fn(reinterpret_cast<ts_checkpoint_fn>(ctx->saved_data["fn"].toInt()),
                        reinterpret_cast<void *>(ctx->saved_data["arg"].toInt()), ins);
        }
        if (y.requires_grad()) torch::autograd::backward({y}, {grads[0]});
        variable_list out(ins.size() + 2);
        out[0] = ins[0].grad();
        return out;
    }
};

// ---- LM head: log-probs of targets and entropies, chunk by chunk ----

// One chunk's logits z = x w^T (n, V) in f32 into buf, computed in the weights' dtype.
void chunk_logits(const at::Tensor &x, const at::Tensor &w, at::Tensor &buf) {
    if (x.scalar_type() == at::kFloat && w.scalar_type() == at::kFloat) at::mm_out(buf, x, w.t());
    else buf.copy_(at::mm(x, w.t()));
}

struct head_fn : public torch::autograd::Function<head_fn> {
    // x (N, D), w (V, D), target (N) i64 -> {logprob (N) f32, entropy (N) f32}; with_entropy 0
    // leaves the entropy empty, entropy_grad 0 marks it non-differentiable; keep: hold the whole
    // (N, V) log-softmax for backward instead of recomputing it.
    static variable_list forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &w,
                                 const at::Tensor &target, int64_t rows, bool with_entropy, bool entropy_grad,
                                 bool keep) {
        int64_t N = x.size(0), V = w.size(0);
        at::TensorOptions f32 = x.options().dtype(at::kFloat);
        at::Tensor lp = at::empty({N}, f32), ent = at::empty({with_entropy ? N : 0}, f32);
        at::Tensor lse = at::empty({N, 1}, f32);
        at::Tensor buf = at::empty({keep ? N : std::min(rows, N), V}, f32), pbuf;
        if (with_entropy) pbuf = at::empty({std::min(rows, N), V}, f32);
        at::Tensor tgt = target.view({N, 1});
        for (int64_t r = 0; r < N; r += rows) {
            int64_t n = std::min(rows, N - r);
            at::Tensor z = buf.narrow(0, keep ? r : 0, n);
            chunk_logits(x.narrow(0, r, n), w, z);
            at::Tensor m = at::logsumexp(z, 1, true);
            lse.narrow(0, r, n).copy_(m);
            z.sub_(m);
            lp.narrow(0, r, n).copy_(z.gather(1, tgt.narrow(0, r, n)).view({n}));
            if (with_entropy) {
                at::Tensor p = pbuf.narrow(0, 0, n);
                at::exp_out(p, z);
                at::Tensor e = ent.narrow(0, r, n);
                at::sum_out(e, p.mul_(z), {1}).neg_();
            }
        }
        if (!entropy_grad) ctx->mark_non_differentiable({ent});
        ctx->set_materialize_grads(false);
        ctx->save_for_backward({x, w, target, lse, ent, keep ? buf : at::Tensor()});
        ctx->saved_data["rows"] = rows;
        return {lp, ent};
    }

    // With z the logits, p = softmax(z), H the entropy and t the target:
    // d logp_t / dz = onehot(t) - p,  dH / dz = -p (log p + H).
    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        variable_list s = ctx->get_saved_variables();
        const at::Tensor &x = s[0], &w = s[1], &target = s[2], &lse = s[3], &ent = s[4], &kept = s[5];
        at::Tensor g_lp = grads[0], g_ent = grads[1];
        int64_t N = x.size(0), V = w.size(0), rows = ctx->saved_data["rows"].toInt();
        at::TensorOptions f32 = x.options().dtype(at::kFloat);
        if (!g_lp.defined()) g_lp = at::zeros({N}, f32);
        at::Tensor gx = at::empty_like(x), gw = at::zeros(w.sizes(), f32);
        at::Tensor buf = at::empty({std::min(rows, N), V}, f32), pbuf = at::empty_like(buf);
        at::Tensor tgt = target.view({N, 1});
        for (int64_t r = 0; r < N; r += rows) {
            int64_t n = std::min(rows, N - r);
            at::Tensor xc = x.narrow(0, r, n), z = buf.narrow(0, 0, n), p = pbuf.narrow(0, 0, n);
            if (kept.defined()) {
                z.copy_(kept.narrow(0, r, n));
            } else {
                chunk_logits(xc, w, z); // the forward's logits again, rounded alike
                z.sub_(lse.narrow(0, r, n));
            }
            at::exp_out(p, z);
            at::Tensor gl = g_lp.narrow(0, r, n).view({n, 1});
            if (g_ent.defined()) // dz = -p (g_lp + g_ent (log p + H)) + g_lp onehot
                z.add_(ent.narrow(0, r, n).view({n, 1})).mul_(g_ent.narrow(0, r, n).view({n, 1})).add_(gl).mul_(p).neg_();
            else
                at::mul_out(z, p, gl).neg_();
            z.scatter_add_(1, tgt.narrow(0, r, n), gl);
            at::Tensor dz = z.to(w.scalar_type());
            gx.narrow(0, r, n).copy_(at::mm(dz, w));
            gw.addmm_(z.t(), xc.to(at::kFloat));
        }
        return {gx, gw.to(w.scalar_type()), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
};

// ---- rotary position embedding ----

// One (b, n, t) row of E elements, halves h = E / 2. Forward: y = x c + rotate_half(x) s with
// rotate_half([a, b]) = [-b, a]; backward (transpose = true, x the incoming gradient): the
// transpose of that map, g c + [(g s)_hi, -(g s)_lo]. Each product and sum is rounded to T, as
// ATen's mul, neg, cat and add would round it (and autograd's sum of the three gradient paths),
// so the result equals the op sequence's bit for bit; the build keeps a * b + c from contracting.
template <typename T>
void rope_row(const T *x, const T *c, const T *s, T *y, int64_t h, bool transpose) {
    using A = typename std::conditional<std::is_same<T, double>::value, double, float>::type; // ATen's op math
    for (int64_t e = 0; e < h; e++) {
        T lo = T(A(x[e]) * A(c[e])), hi = T(A(x[e + h]) * A(c[e + h]));
        if (!transpose) {
            y[e] = T(A(lo) - A(T(A(x[e + h]) * A(s[e]))));
            y[e + h] = T(A(hi) + A(T(A(x[e]) * A(s[e + h]))));
        } else {
            y[e] = T(A(lo) + A(T(A(x[e + h]) * A(s[e + h]))));
            y[e + h] = T(A(hi) - A(T(A(x[e]) * A(s[e]))));
        }
    }
}

// x (B, N, T, E) any strides with the last dim's 1; cos, sin broadcastable to it -> a new
// contiguous (B, N, T, E) tensor.
at::Tensor rope_cpu(const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin, bool transpose) {
    at::Tensor xs = x.stride(3) == 1 ? x : x.contiguous();
    at::Tensor c = cos.expand(x.sizes()), s = sin.expand(x.sizes());
    if (c.stride(3) != 1) c = c.contiguous();
    if (s.stride(3) != 1) s = s.contiguous();
    at::Tensor y = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::Contiguous));
    int64_t B = x.size(0), N = x.size(1), T = x.size(2), E = x.size(3);
    AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "ts_rope", [&] {
        const scalar_t *xp = xs.data_ptr<scalar_t>(), *cp = c.data_ptr<scalar_t>(), *sp = s.data_ptr<scalar_t>();
        scalar_t *yp = y.data_ptr<scalar_t>();
        at::parallel_for(0, B * N * T, 64, [&](int64_t begin, int64_t end) {
            for (int64_t r = begin; r < end; r++) {
                int64_t b = r / (N * T), n = r / T % N, t = r % T;
                rope_row(xp + b * xs.stride(0) + n * xs.stride(1) + t * xs.stride(2),
                         cp + b * c.stride(0) + n * c.stride(1) + t * c.stride(2),
                         sp + b * s.stride(0) + n * s.stride(1) + t * s.stride(2), yp + r * E, E / 2, transpose);
            }
        });
    });
    return y;
}

struct rope_fn : public torch::autograd::Function<rope_fn> {
    static at::Tensor forward(AutogradContext *ctx, const at::Tensor &x, const at::Tensor &cos, const at::Tensor &sin) {
        ctx->save_for_backward({cos, sin});
        return rope_cpu(x, cos, sin, false);
    }
    static variable_list backward(AutogradContext *ctx, variable_list grads) {
        variable_list s = ctx->get_saved_variables();
        return {rope_cpu(grads[0], s[0], s[1], true), at::Tensor(), at::Tensor()};
    }
};

} // namespace

extern "C" {

ts_tensor *ts_checkpoint(ts_checkpoint_fn fn, void *arg, ts_tensor *const *inputs, int n) {
    TS_NEED(fn);
    TS_NEED(inputs);
    if (n < 1) {
        err_set("ts_checkpoint: needs at least one input, got %d", n);
        return nullptr;
    }
    std::vector<at::Tensor> ins;
    for (int i = 0; i < n; i++) {
        TS_NEED(inputs[i]);
        if (i > 0 && inputs[i]->t.requires_grad()) {
            err_set("ts_checkpoint: input %d requires a gradient; only input 0 may", i);
            return nullptr;
        }
        ins.push_back(inputs[i]->t);
    }
    TS_RETURN_TENSOR(checkpoint_fn::apply(at::TensorList(ins), reinterpret_cast<int64_t>(fn),
                                          reinterpret_cast<int64_t>(arg)));
}

int ts_linear_logprob_entropy(const ts_tensor *x, const ts_tensor *w, const ts_tensor *target, int64_t chunk_rows,
                              int64_t keep_elems, int entropy_grad, ts_tensor **logprob, ts_tensor **entropy) {
    *logprob = nullptr;
    if (entropy) *entropy = nullptr;
    TS_NEED_STATUS(x);
    TS_NEED_STATUS(w);
    TS_NEED_STATUS(target);
    try {
        if (x->t.dim() != 2 || w->t.dim() != 2 || x->t.size(1) != w->t.size(1) || target->t.dim() != 1 ||
            target->t.size(0) != x->t.size(0) || target->t.scalar_type() != at::kLong)
            throw std::invalid_argument("expected x (N, D), w (V, D) and target (N) i64, got x " +
                                        std::string(c10::str(x->t.sizes())) + ", w " + c10::str(w->t.sizes()) +
                                        ", target " + c10::str(target->t.sizes()));
        if (chunk_rows < 1) throw std::invalid_argument("chunk_rows must be positive");
        bool grad = at::GradMode::is_enabled() && (x->t.requires_grad() || w->t.requires_grad());
        bool keep = grad && x->t.size(0) * w->t.size(0) <= keep_elems;
        variable_list out = head_fn::apply(x->t.contiguous(), w->t, target->t.contiguous(), chunk_rows,
                                           entropy != nullptr, entropy_grad != 0, keep);
        *logprob = wrap(out[0]);
        if (entropy) *entropy = wrap(out[1]);
        return 0;
    } catch (const c10::Error &e) {
        fail(__func__, e.what_without_backtrace());
    } catch (const std::exception &e) {
        fail(__func__, e.what());
    }
    return -1;
}

ts_tensor *ts_rope(const ts_tensor *x, const ts_tensor *cos, const ts_tensor *sin) {
    TS_NEED(x);
    TS_NEED(cos);
    TS_NEED(sin);
    try {
        const at::Tensor &xt = x->t;
        if (xt.dim() != 4 || xt.size(3) % 2 || cos->t.dim() != 4 || sin->t.dim() != 4)
            throw std::invalid_argument("expected x (B, N, T, E) with E even and cos, sin broadcastable to it, got x " +
                                        std::string(c10::str(xt.sizes())) + ", cos " + c10::str(cos->t.sizes()) +
                                        ", sin " + c10::str(sin->t.sizes()));
        if (cos->t.requires_grad() || sin->t.requires_grad())
            throw std::invalid_argument("cos and sin are tables: they take no gradient");
        if (cos->t.scalar_type() != xt.scalar_type() || sin->t.scalar_type() != xt.scalar_type())
            throw std::invalid_argument("cos and sin must have x's dtype");
        if (xt.is_cpu() && cos->t.is_cpu() && sin->t.is_cpu()) return wrap(rope_fn::apply(xt, cos->t, sin->t));
        int64_t h = xt.size(3) / 2; // other devices: ATen's op sequence, which autograd differentiates
        at::Tensor rot = at::cat({xt.narrow(3, h, h).neg(), xt.narrow(3, 0, h)}, 3);
        return wrap(xt * cos->t + rot * sin->t);
    } catch (const c10::Error &e) {
        fail(__func__, e.what_without_backtrace());
    } catch (const std::exception &e) {
        fail(__func__, e.what());
    }
    return nullptr;
}

} // extern "C"
