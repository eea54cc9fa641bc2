// ts_autograd — the two ops of ts.h whose backward is ours, not ATen's: activation checkpointing
// (ts_checkpoint) and the LM head's log-probs and entropy over the vocabulary in chunks of rows
// (ts_linear_logprob_entropy). Both are torch::autograd::Function nodes, which libtorch 1.13 and
// 2.x share. Both trade compute for memory: checkpointing runs a function twice to keep only its
// inputs; the head recomputes each chunk's logits in backward, unless the whole (N, V) fits the
// caller's budget, so that no vocabulary-wide tensor beyond that budget is held.
// Deliberately not here: torch.utils.checkpoint's non-reentrant variant, RNG state replay (the
// functions we checkpoint draw no random numbers), a fused CUDA kernel for the head.
#include "tensor/ts_impl.hpp"

extern "C" {
#include "common/err.h"
}

#include <torch/csrc/autograd/autograd.h>
#include <torch/csrc/autograd/custom_function.h>

#include <stdexcept>
#include <string>
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

} // extern "C"
