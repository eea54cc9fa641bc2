// ts_linear — the kernel behind ts_linear (ts.h) for a few rows without gradients: y = x W^T
// (+ b) in f32 on the CPU, as a decode step computes it (one row per sequence against each weight
// matrix). Elsewhere — more rows, gradients, CUDA, other dtypes, a CPU without AVX2 and FMA —
// ts_linear runs at::linear.
//
// Why: the BLAS packs W into panels on every call, so with few rows a product reads the weights
// from memory, writes the packed copy and reads it again; a decode step is bound by those passes
// over the model's weights. This kernel reads each weight row once, in place, against every row
// of x while it is in cache (docs/PERFORMANCE.md, "Rollout"). Measured on the development machine
// (one thread, OpenBLAS's SkylakeX kernels, the Qwen2.5-0.5B shape's products at 16 rows): 1.8-2.2x
// at.linear's speed; from 32 rows on the BLAS is as fast, so FEW_ROWS stops at 24. Each block of
// weight rows prefetches the next one while it computes: on an AMD EPYC (Zen 4, one thread) a
// 0.5B decode step of 8 rows went from 147-155 to 105-109 ms (47-60% to 68% of its roofline).
//
// Numerics: each output is one dot product, lanes accumulated with fused multiply-adds in order
// of k and summed in a fixed order, so a row's result does not depend on the other rows, the
// thread count or its place in the batch (a sequence's tokens do not depend on its batch). It
// differs from the BLAS's in the last bits. RLVR_CPU_KERNELS (ts_impl.hpp) picks the build:
// avx512 (16 lanes, 6 rows a tile), avx2 (8 lanes with FMA, 2 rows), default (at::linear).
// Deliberately not here: bf16 weights, the backward, more rows (the BLAS's packing pays off).
#include "tensor/ts_impl.hpp"

#include <ATen/Parallel.h>
#include <ATen/core/grad_mode.h>

#include <immintrin.h>

#include <cstdint>
#include <vector>

#ifdef TS_HAVE_AVX2_CLONE

using namespace ts_detail;

namespace {

constexpr int64_t FEW_ROWS = 24;      // at most this many rows take the kernel
constexpr int64_t GRAIN_COLS = 64;    // output columns per task: weight rows of kilobytes each

// GCC 12's AVX-512 intrinsics pass _mm512_undefined_ps() as the unused merge operand, which its
// own -Wmaybe-uninitialized reports at every call: not a fault of this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#define KERNEL __attribute__((target("avx512f")))
namespace k512 {
typedef __m512 vec;
constexpr int LANES = 16, MR = 6; // 6 x 4 accumulators + 4 weight vectors + 1 input of 32 registers
KERNEL TS_INLINE vec vzero() { return _mm512_setzero_ps(); }
KERNEL TS_INLINE vec vload(const float *p) { return _mm512_loadu_ps(p); }
KERNEL TS_INLINE vec vload_head(const float *p, int n) {
    return _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1), p);
}
KERNEL TS_INLINE vec vfma(vec a, vec b, vec c) { return _mm512_fmadd_ps(a, b, c); }
KERNEL TS_INLINE float vsum(vec a) { // halves, then quarters, then the 4 lanes left (no undefined lanes)
    a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, 0x4E));
    a = _mm512_add_ps(a, _mm512_shuffle_f32x4(a, a, 0xB1));
    __m128 s = _mm512_castps512_ps128(a);
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
#include "tensor/ts_linear_tile.inc"
} // namespace k512
#undef KERNEL

#define KERNEL __attribute__((target("avx2,fma")))
namespace k256 {
typedef __m256 vec;
constexpr int LANES = 8, MR = 2; // 2 x 4 accumulators + 4 weight vectors + 1 input of 16 registers
KERNEL TS_INLINE vec vzero() { return _mm256_setzero_ps(); }
KERNEL TS_INLINE vec vload(const float *p) { return _mm256_loadu_ps(p); }
KERNEL TS_INLINE vec vload_head(const float *p, int n) {
    __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_maskload_ps(p, _mm256_cmpgt_epi32(_mm256_set1_epi32(n), lane));
}
KERNEL TS_INLINE vec vfma(vec a, vec b, vec c) { return _mm256_fmadd_ps(a, b, c); }
KERNEL TS_INLINE float vsum(vec a) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
#include "tensor/ts_linear_tile.inc"
} // namespace k256
#undef KERNEL

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

typedef void (*columns_fn)(const float *, int64_t, int64_t, const float *, int64_t, float *, int64_t, int64_t,
                           int64_t);

// The build RLVR_CPU_KERNELS picks, or NULL for at::linear.
columns_fn columns_variant() {
    switch (cpu_kernels()) {
    case TS_KERNELS_AVX512: return k512::columns;
    case TS_KERNELS_AVX2: return __builtin_cpu_supports("fma") ? k256::columns : nullptr;
    default: return nullptr;
    }
}

} // namespace

bool ts_detail::linear_few_rows(const at::Tensor &x, const at::Tensor &w, const at::Tensor *b, at::Tensor &out) {
    if (!x.device().is_cpu() || !w.device().is_cpu() || x.scalar_type() != at::kFloat ||
        w.scalar_type() != at::kFloat || w.dim() != 2 || x.dim() < 1 || !x.is_contiguous() || !w.is_contiguous())
        return false;
    if (b && (!b->device().is_cpu() || b->scalar_type() != at::kFloat || b->dim() != 1))
        return false;
    if (at::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad() || (b && b->requires_grad())))
        return false;
    int64_t K = w.size(1), N = w.size(0);
    if (K == 0 || N == 0 || x.size(-1) != K || (b && b->size(0) != N)) return false;
    int64_t M = x.numel() / K;
    if (M == 0 || M > FEW_ROWS) return false;
    columns_fn run = columns_variant();
    if (!run) return false;
    std::vector<int64_t> shape(x.sizes().begin(), x.sizes().end());
    shape.back() = N;
    out = at::empty(shape, x.options());
    const float *xp = x.data_ptr<float>(), *wp = w.data_ptr<float>();
    float *yp = out.data_ptr<float>();
    at::parallel_for(0, N, GRAIN_COLS, [&](int64_t n0, int64_t n1) { run(xp, M, K, wp, K, yp, N, n0, n1); });
    if (b) out.add_(*b);
    return true;
}

#else

bool ts_detail::linear_few_rows(const at::Tensor &, const at::Tensor &, const at::Tensor *, at::Tensor &) {
    return false;
}

#endif
