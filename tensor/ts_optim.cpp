// ts_optim — AdamW's arithmetic as one pass over parameter, gradient and moments (ts_adamw_),
// rounded element for element as optim/optim.c's sequence of ATen ops rounds it, so that choosing
// the fused step changes the speed of an update, not its result.
//
// The op sequence reads and writes every tensor several times (mul_, add_, mul_, addcmul_, sqrt,
// div, add, addcdiv_, copy_), and makes three temporaries as large as the parameter; this pass
// reads p, g, m, v once and writes p, m, v (and the rounded copy) once, a block at a time.
//
// Equality with the op sequence: the ops but sqrt are one IEEE operation per element, so a correctly
// rounded C++ expression of the same operations in the same order matches them, except where ATen
// fuses a multiply and an add into one rounding: add_(g, alpha) and addcmul_ do on the AVX2 and
// AVX-512 kernels (vector and scalar loops alike), not on the baseline ones (docs/PERFORMANCE.md,
// "The fused AdamW step"). Rather than guess ATen's kernel choice, the first call asks ATen: it
// runs both ops on inputs where a fused and an unfused result differ, and mirrors what it sees.
// The square root is ATen's own, called on cache-sized blocks (aten_sqrt). Where ATen's answer is
// mixed (some elements fused, some not) or the tensors are not plain contiguous CPU f32/f64,
// ts_adamw_ declines and the caller runs the op sequence.
// This file is built with -ffp-contract=off: the compiler fuses nothing; std::fma fuses explicitly.
// Deliberately not here: CUDA (the op sequence runs there), moments in a precision other than the
// master's, AMSGrad.
#include "tensor/ts_impl.hpp"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

using namespace ts_detail;

namespace {

constexpr int64_t GRAIN = 1 << 16; // elements per task: large enough that scheduling is noise
constexpr int64_t BLOCK = 1 << 14; // elements per block: p, m, v, g and the roots in 320 KiB of f32

// ATen's rounding of add_(other, alpha) and addcmul_ for one dtype: 1 fused (one rounding of
// self + alpha * other), 0 unfused (the product rounded, then the sum), -1 mixed or unknown.
template <typename T> int aten_fuses(at::ScalarType st) {
    try {
        // a * a needs twice T's digits; rounded, it drops a low bit that only a fused add keeps
        const T a = T(1) + std::ldexp(T(1), -(std::numeric_limits<T>::digits / 2 + 1));
        const T prod = a * a, lost = std::fma(a, a, -prod);
        const int64_t n = 67; // two AVX-512 blocks of f32 and a tail: ATen's vector and scalar loops
        at::Tensor base = at::full({n}, -prod, at::TensorOptions().dtype(st)), x = at::full_like(base, a);
        at::Tensor sum = base.clone().add_(x, a), cmul = base.clone().addcmul_(x, x, 1);
        int fused = 0, plain = 0;
        for (const at::Tensor &r : {sum, cmul}) {
            const T *d = r.data_ptr<T>();
            for (int64_t i = 0; i < n; i++) {
                fused += d[i] == lost;
                plain += d[i] == 0;
            }
        }
        return fused == 2 * n ? 1 : plain == 2 * n ? 0 : -1;
    } catch (...) {
        return -1;
    }
}

// ATen's answer, asked once per process (its kernel choice is fixed at start-up).
int fuses(at::ScalarType st) {
    static const int f32 = aten_fuses<float>(at::kFloat), f64 = aten_fuses<double>(at::kDouble);
    return st == at::kFloat ? f32 : f64;
}

template <typename T> struct adamw_args {
    T *__restrict p, *__restrict m, *__restrict v;
    const T *__restrict g;
    uint16_t *__restrict copy; // bf16 bits of the rounded parameter, or NULL
    T scale, decay, beta1, alpha1, beta2, alpha2, bias2, eps, step;
};

// f32 -> bf16, rounding to nearest even, as c10::BFloat16 does.
TS_INLINE uint16_t bf16_bits(float f) {
    uint32_t u;
    std::memcpy(&u, &f, sizeof u);
    uint16_t r = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    return f != f ? (uint16_t)0x7fc0 : r;
}
TS_INLINE uint16_t bf16_bits(double) { return 0; } // never called: a copy has an f32 master

// ATen's sqrt of n elements at v into out. Not IEEE's on every build: libtorch 2.x with MKL takes
// MKL's vector sqrt, which differs from the correctly rounded one in the last bit of about one
// element in 170 (docs/PERFORMANCE.md); asking ATen gives its rounding whatever it is.
template <typename T> __attribute__((noinline)) void aten_sqrt(const T *v, T *out, int64_t n) {
    at::TensorOptions f = at::TensorOptions().dtype(c10::CppTypeToScalarType<T>::value);
    at::Tensor dst = at::from_blob(out, {n}, f);
    at::sqrt_out(dst, at::from_blob(const_cast<T *>(v), {n}, f));
}

// The op sequence of optim.c's adamw_ops over elements [begin, end), a block small enough to stay
// in cache: the moments, ATen's sqrt of v into root, then the parameter, in the ops' order and
// rounding.
template <typename T, bool FMA, bool COPY>
TS_INLINE void adamw_elems(const adamw_args<T> &a, int64_t begin, int64_t end, T *__restrict root) {
    T *__restrict pp = a.p, *__restrict mp = a.m, *__restrict vp = a.v;
    const T *__restrict gp = a.g;
    uint16_t *__restrict cp = a.copy;
    for (int64_t i = begin; i < end; i++) {
        T g = gp[i] * a.scale;                                    // clip: g.mul_(scale)
        pp[i] = pp[i] * a.decay;                                  // p.mul_(1 - lr wd)
        T m = mp[i] * a.beta1;                                    // m.mul_(beta1)
        mp[i] = FMA ? std::fma(g, a.alpha1, m) : m + a.alpha1 * g; //   .add_(g, 1 - beta1)
        T v = vp[i] * a.beta2, ag = a.alpha2 * g;                 // v.mul_(beta2)
        vp[i] = FMA ? std::fma(ag, g, v) : v + ag * g;            //   .addcmul_(g, g, 1 - beta2)
    }
    aten_sqrt(vp + begin, root, end - begin);                     // sqrt(v)
    for (int64_t i = begin; i < end; i++) {
        T denom = root[i - begin] / a.bias2 + a.eps;              // / sqrt(bc2) + eps
        T p = pp[i] + a.step * mp[i] / denom;                     // p.addcdiv_(m, denom, -lr / bc1)
        pp[i] = p;
        if (COPY) cp[i] = bf16_bits(p);
    }
}

template <typename T> using adamw_fn = void (*)(const adamw_args<T> &, int64_t, int64_t, T *);

template <typename T, bool FMA, bool COPY>
void adamw_default(const adamw_args<T> &a, int64_t begin, int64_t end, T *root) {
    adamw_elems<T, FMA, COPY>(a, begin, end, root);
}

#ifdef TS_HAVE_AVX2_CLONE
template <typename T, bool FMA, bool COPY>
__attribute__((target("avx2,fma"))) void adamw_avx2(const adamw_args<T> &a, int64_t begin, int64_t end, T *root) {
    adamw_elems<T, FMA, COPY>(a, begin, end, root);
}
#endif

// The clone for this CPU (RLVR_CPU_KERNELS as for the attention kernel; FMA needed besides AVX2).
template <typename T, bool FMA, bool COPY> adamw_fn<T> adamw_variant() {
#ifdef TS_HAVE_AVX2_CLONE
    if (cpu_kernels_avx2() && __builtin_cpu_supports("fma")) return adamw_avx2<T, FMA, COPY>;
#endif
    return adamw_default<T, FMA, COPY>;
}

template <typename T> void adamw_run(const adamw_args<T> &a, int64_t n, bool fma) {
    adamw_fn<T> fn = fma ? (a.copy ? adamw_variant<T, true, true>() : adamw_variant<T, true, false>())
                         : (a.copy ? adamw_variant<T, false, true>() : adamw_variant<T, false, false>());
    at::parallel_for(0, n, GRAIN, [&](int64_t begin, int64_t end) {
        std::vector<T> root(BLOCK);
        for (int64_t b = begin; b < end; b += BLOCK) fn(a, b, std::min(end, b + BLOCK), root.data());
    });
}

template <typename T> void adamw(at::Tensor &p, at::Tensor &m, at::Tensor &v, const at::Tensor &g, at::Tensor *copy,
                                 const ts_adamw_step &s, bool fma) {
    adamw_args<T> a = {p.data_ptr<T>(), m.data_ptr<T>(), v.data_ptr<T>(), g.data_ptr<T>(),
                       copy ? (uint16_t *)copy->data_ptr() : nullptr,
                       // each scalar rounded to T from the double the op sequence hands ATen
                       (T)s.grad_scale, (T)s.decay, (T)s.beta1, (T)s.alpha1, (T)s.beta2, (T)s.alpha2,
                       (T)s.bias2_sqrt, (T)s.eps, (T)s.step};
    adamw_run(a, p.numel(), fma);
}

// Whether the fused pass can promise the op sequence's result for these tensors.
bool fusable(const at::Tensor &p, const at::Tensor &m, const at::Tensor &v, const at::Tensor &g, const at::Tensor *copy) {
    at::ScalarType st = p.scalar_type();
    if (st != at::kFloat && st != at::kDouble) return false;
    for (const at::Tensor *t : {&p, &m, &v, &g})
        if (!t->device().is_cpu() || t->scalar_type() != st || !t->is_contiguous() || t->numel() != p.numel())
            return false;
    if (copy && (st != at::kFloat || !copy->device().is_cpu() || copy->scalar_type() != at::kBFloat16 ||
                 !copy->is_contiguous() || copy->numel() != p.numel()))
        return false;
    return fuses(st) >= 0;
}

} // namespace

int ts_adamw_(ts_tensor *param, ts_tensor *exp_avg, ts_tensor *exp_avg_sq, const ts_tensor *grad, ts_tensor *copy,
              const ts_adamw_step *s) {
    TS_NEED_STATUS(param);
    TS_NEED_STATUS(exp_avg);
    TS_NEED_STATUS(exp_avg_sq);
    TS_NEED_STATUS(grad);
    TS_NEED_STATUS(s);
    at::Tensor *c = copy ? &copy->t : nullptr;
    try {
        if (!fusable(param->t, exp_avg->t, exp_avg_sq->t, grad->t, c)) return 1;
    } catch (...) {
        return 1; // a question about the tensors failed: let the op sequence say what is wrong
    }
    bool f32 = param->t.scalar_type() == at::kFloat, fma = fuses(param->t.scalar_type()) == 1;
    TS_RETURN_STATUS(f32 ? adamw<float>(param->t, exp_avg->t, exp_avg_sq->t, grad->t, c, *s, fma)
                         : adamw<double>(param->t, exp_avg->t, exp_avg_sq->t, grad->t, c, *s, fma));
}
