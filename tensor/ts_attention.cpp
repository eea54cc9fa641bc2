// ts_attention — ts_scaled_dot_product_attention (ts.h): the maths of torch 2.x's
// at::scaled_dot_product_attention with grouped-query heads (its enable_gqa), for libtorch 1.13,
// which has no such op, and 2.x alike.
//
// Two paths, the same maths. When no gradient is needed and the inputs are f32 on the CPU, a
// fused kernel walks each query row once over its keys: no (B, H, L, S) scores tensor, no copies
// of the key/value heads for the query groups, and no per-head GEMM calls (ATen's CPU bmm runs one
// GEMM per batch entry, which dominates a decode step with a KV cache). Otherwise — gradients,
// CUDA, bf16 — libtorch 2.5 and later run their own at::scaled_dot_product_attention (fused CUDA
// and CPU kernels with their backward); older ones the composite of ATen ops that autograd
// differentiates: repeat_interleave of the key/value heads, matmul, masked_fill, softmax in f32,
// matmul. The fused kernel stays on 2.x too: a row's arithmetic does not depend on how many
// queries come with it, so the rollout's log-probs stay within 1e-5 of the trainer's (ATen's op
// blocks by query count: 1.4e-5 apart in test_rollout; docs/LIBTORCH.md).
// Deliberately not here: dropout, an is_causal flag (pass a mask), tiling for long queries.
#include "tensor/ts_impl.hpp"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>
#include <torch/csrc/api/include/torch/version.h>

#include <algorithm>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace ts_detail;

namespace {

// The row kernel is built twice, for the baseline ISA and for AVX2 (without FMA, so both round
// alike within one reduction order), and chosen by the CPU's features. The environment variable
// RLVR_CPU_KERNELS=default|avx2 forces one (avx512 runs the AVX2 build here), so that the tests
// run each variant on any machine that has it (tests/test_cpu_variants.sh).
typedef float vec8 __attribute__((vector_size(32)));

TS_INLINE float dot(const float *a, const float *b, int64_t n) {
    vec8 acc = {0, 0, 0, 0, 0, 0, 0, 0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vec8 x, y;
        std::memcpy(&x, a + i, sizeof x);
        std::memcpy(&y, b + i, sizeof y);
        acc += x * y;
    }
    float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

// y += a * x over n floats
TS_INLINE void axpy(float *y, float a, const float *x, int64_t n) {
    vec8 av = {a, a, a, a, a, a, a, a};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vec8 xv, yv;
        std::memcpy(&xv, x + i, sizeof xv);
        std::memcpy(&yv, y + i, sizeof yv);
        yv += av * xv;
        std::memcpy(y + i, &yv, sizeof yv);
    }
    for (; i < n; i++) y[i] += a * x[i];
}

// Strided views of the operands, element strides; the last dim of q, k, v has stride 1.
struct attn_args {
    const float *q, *k, *v;
    const bool *mask; // expanded to (B, H, L, S); nullptr: every key
    float *out;       // (B, H, L, Ev) contiguous
    int64_t qs[3], ks[3], vs[3], ms[4];
    int64_t H, L, S, E, Ev, group;
    float scale;
};

// Query rows begin..end of the flattened (B, H, L); scores: S floats of scratch.
TS_INLINE void attend_rows(const attn_args &a, int64_t begin, int64_t end, float *scores) {
    const float neg_inf = -std::numeric_limits<float>::infinity();
    for (int64_t r = begin; r < end; r++) {
        int64_t b = r / (a.H * a.L), h = r / a.L % a.H, l = r % a.L, hk = h / a.group;
        const float *q = a.q + b * a.qs[0] + h * a.qs[1] + l * a.qs[2];
        const float *k = a.k + b * a.ks[0] + hk * a.ks[1];
        const float *v = a.v + b * a.vs[0] + hk * a.vs[1];
        const bool *m = a.mask ? a.mask + b * a.ms[0] + h * a.ms[1] + l * a.ms[2] : nullptr;
        float top = neg_inf;
        for (int64_t s = 0; s < a.S; s++) {
            if (m && !m[s * a.ms[3]]) {
                scores[s] = neg_inf;
                continue;
            }
            scores[s] = dot(q, k + s * a.ks[2], a.E) * a.scale;
            if (scores[s] > top) top = scores[s];
        }
        float *o = a.out + r * a.Ev;
        if (top == neg_inf) { // no key allowed: softmax of -inf everywhere, NaN as in torch
            for (int64_t e = 0; e < a.Ev; e++) o[e] = std::numeric_limits<float>::quiet_NaN();
            continue;
        }
        std::memset(o, 0, sizeof(float) * (size_t)a.Ev);
        float total = 0;
        for (int64_t s = 0; s < a.S; s++) {
            if (scores[s] == neg_inf) continue;
            float p = std::exp(scores[s] - top);
            total += p;
            axpy(o, p, v + s * a.vs[2], a.Ev);
        }
        float inv = 1.0f / total;
        for (int64_t e = 0; e < a.Ev; e++) o[e] *= inv;
    }
}

typedef void (*attend_fn)(const attn_args &, int64_t, int64_t, float *);

void attend_rows_default(const attn_args &a, int64_t begin, int64_t end, float *scores) {
    attend_rows(a, begin, end, scores);
}

#ifdef TS_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) void attend_rows_avx2(const attn_args &a, int64_t begin, int64_t end,
                                                        float *scores) {
    attend_rows(a, begin, end, scores);
}
#endif

attend_fn attend_variant() {
#ifdef TS_HAVE_AVX2_CLONE
    if (cpu_kernels_avx2()) return attend_rows_avx2;
#endif
    return attend_rows_default;
}

} // namespace

// The variant RLVR_CPU_KERNELS names (unset or "auto": the best this CPU runs); an unknown name or
// one this CPU cannot run is an error.
ts_detail::ts_kernels ts_detail::cpu_kernels() {
    const char *want = std::getenv("RLVR_CPU_KERNELS");
    bool auto_pick = !want || !*want || !std::strcmp(want, "auto");
#ifdef TS_HAVE_AVX2_CLONE
    bool avx512 = __builtin_cpu_supports("avx512f"), avx2 = __builtin_cpu_supports("avx2");
    if (auto_pick) return avx512 ? TS_KERNELS_AVX512 : avx2 ? TS_KERNELS_AVX2 : TS_KERNELS_DEFAULT;
    if (!std::strcmp(want, "avx512") || !std::strcmp(want, "avx2")) {
        bool wide = want[3] == '5';
        if (wide ? avx512 : avx2) return wide ? TS_KERNELS_AVX512 : TS_KERNELS_AVX2;
        throw std::invalid_argument(std::string("RLVR_CPU_KERNELS=") + want + ", but this CPU has no " +
                                    (wide ? "AVX-512" : "AVX2") + " (use default or auto)");
    }
#endif
    if (auto_pick || !std::strcmp(want, "default")) return TS_KERNELS_DEFAULT;
    throw std::invalid_argument(std::string("RLVR_CPU_KERNELS=") + want + ": expected auto, default, avx2 or avx512");
}

const char *ts_cpu_kernels(void) {
    static const char *names[] = {"default", "avx2", "avx512"};
    try {
        return names[ts_detail::cpu_kernels()];
    } catch (const std::exception &e) {
        ts_detail::fail(__func__, e.what());
        return nullptr;
    }
}

namespace {

at::Tensor fused(const at::Tensor &q0, const at::Tensor &k0, const at::Tensor &v0, const at::Tensor *mask,
                 double scale) {
    at::Tensor q = q0.stride(3) == 1 ? q0 : q0.contiguous();
    at::Tensor k = k0.stride(3) == 1 ? k0 : k0.contiguous();
    at::Tensor v = v0.stride(3) == 1 ? v0 : v0.contiguous();
    int64_t B = q.size(0), H = q.size(1), L = q.size(2), S = k.size(2);
    at::Tensor out = at::empty({B, H, L, v.size(3)}, q.options());
    at::Tensor m;
    attn_args a{};
    a.q = q.data_ptr<float>();
    a.k = k.data_ptr<float>();
    a.v = v.data_ptr<float>();
    a.out = out.data_ptr<float>();
    for (int d = 0; d < 3; d++) {
        a.qs[d] = q.stride(d);
        a.ks[d] = k.stride(d);
        a.vs[d] = v.stride(d);
    }
    if (mask) {
        m = mask->to(at::kBool).expand({B, H, L, S});
        a.mask = m.data_ptr<bool>();
        for (int d = 0; d < 4; d++) a.ms[d] = m.stride(d);
    }
    a.H = H;
    a.L = L;
    a.S = S;
    a.E = q.size(3);
    a.Ev = v.size(3);
    a.group = H / k.size(1);
    a.scale = (float)scale;
    int64_t rows = B * H * L, grain = std::max<int64_t>(1, 4096 / std::max<int64_t>(1, S * a.E));
    attend_fn attend = attend_variant();
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
        std::vector<float> scores((size_t)S);
        attend(a, begin, end, scores.data());
    });
    return out;
}

// The differentiable path: ATen's op where it takes scale (2.1) and enable_gqa (2.5).
at::Tensor composite(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v, const at::Tensor *mask,
                     double scale) {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 5)
    c10::optional<at::Tensor> m;
    if (mask) m = mask->to(at::kBool);
    return at::scaled_dot_product_attention(q, k, v, m, 0.0, false, scale, k.size(1) != q.size(1));
#else
    int64_t group = q.size(1) / k.size(1);
    at::Tensor kk = group > 1 ? k.repeat_interleave(group, 1) : k;
    at::Tensor vv = group > 1 ? v.repeat_interleave(group, 1) : v;
    at::Tensor s = at::matmul(q, kk.transpose(2, 3)).mul(scale).to(at::kFloat);
    if (mask) s = s.masked_fill(mask->to(at::kBool).logical_not(), -std::numeric_limits<double>::infinity());
    return at::matmul(at::softmax(s, -1).to(q.scalar_type()), vv);
#endif
}

void check_shapes(const at::Tensor &q, const at::Tensor &k, const at::Tensor &v) {
    if (q.dim() != 4 || k.dim() != 4 || v.dim() != 4)
        throw std::invalid_argument("q, k and v must be 4-d (B, heads, tokens, head dim)");
    if (k.size(0) != q.size(0) || v.size(0) != q.size(0) || v.size(1) != k.size(1) || v.size(2) != k.size(2) ||
        k.size(3) != q.size(3))
        throw std::invalid_argument("shapes do not fit: q " + std::string(c10::str(q.sizes())) + ", k " +
                                    c10::str(k.sizes()) + ", v " + c10::str(v.sizes()));
    if (k.size(1) < 1 || q.size(1) % k.size(1))
        throw std::invalid_argument("q's " + std::to_string(q.size(1)) + " heads are not a multiple of k's " +
                                    std::to_string(k.size(1)));
}

} // namespace

extern "C" {

ts_tensor *ts_scaled_dot_product_attention(const ts_tensor *q, const ts_tensor *k, const ts_tensor *v,
                                           const ts_tensor *mask, double scale) {
    TS_NEED(q);
    TS_NEED(k);
    TS_NEED(v);
    try {
        check_shapes(q->t, k->t, v->t);
        const at::Tensor *m = mask ? &mask->t : nullptr;
        bool grad = at::GradMode::is_enabled() && (q->t.requires_grad() || k->t.requires_grad() || v->t.requires_grad());
        bool cpu_f32 = q->t.device().is_cpu() && q->t.scalar_type() == at::kFloat && k->t.scalar_type() == at::kFloat &&
                       v->t.scalar_type() == at::kFloat && k->t.device().is_cpu() && v->t.device().is_cpu() &&
                       (!m || m->device().is_cpu());
        return wrap(!grad && cpu_f32 ? fused(q->t, k->t, v->t, m, scale) : composite(q->t, k->t, v->t, m, scale));
    } catch (const c10::Error &e) {
        fail(__func__, e.what_without_backtrace());
    } catch (const std::exception &e) {
        fail(__func__, e.what());
    }
    return nullptr;
}

} // extern "C"
