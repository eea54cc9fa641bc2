// ts_sample — rlvr's two sampling ops (ts.h): counter-based uniforms from integer keys, and a
// categorical draw by inverse CDF with the log-prob of the drawn id, one row per sample.
//
// Both run where their inputs live. The uniforms are integer ATen ops (a splitmix64 step and its
// finaliser in wrapping int64 arithmetic), so a key gives the same bits on every device. The draw
// has two paths with one definition: on the CPU in f32 a fused kernel reads each row of logits
// from memory once (its max, then exp-and-sum and the search while the row sits in cache), which
// is what makes a 151,936-token vocabulary cheap to sample; elsewhere (CUDA, bf16) the composite
// of ATen ops amax, exp, cumsum in f64, searchsorted and logsumexp. The two round differently
// (blocked against prefix sums, a polynomial exp against ATen's), so a draw whose uniform falls
// within rounding of a boundary between two ids can differ between them; test_rollout measures
// how rarely.
// Deliberately not here: the filters (top-k, top-p, min-p: rollout/sampler.c composes them from
// ATen ops), Gumbel-max (it needs a random number per vocabulary entry, the inverse CDF one per
// row).
#include "tensor/ts_impl.hpp"

#include <ATen/Parallel.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

using namespace ts_detail;

namespace {

// ---- counter-based uniforms ----

constexpr int64_t GOLDEN = (int64_t)0x9E3779B97F4A7C15ull, MIX1 = (int64_t)0xBF58476D1CE4E5B9ull,
                  MIX2 = (int64_t)0x94D049BB133111EBull;

// x >> s as unsigned 64-bit: ATen's shift of int64 is arithmetic, so mask the sign copies away.
at::Tensor shr(const at::Tensor &x, int s) {
    return at::bitwise_and(at::bitwise_right_shift(x, s), (int64_t)((~0ull) >> s));
}

at::Tensor counter_uniform(const at::Tensor &key, uint64_t counter) {
    if (key.scalar_type() != at::kLong) throw std::invalid_argument("key must be i64");
    at::Tensor z = key.add((int64_t)((counter + 1) * (uint64_t)GOLDEN));
    z = at::bitwise_xor(z, shr(z, 30)).mul(MIX1);
    z = at::bitwise_xor(z, shr(z, 27)).mul(MIX2);
    z = at::bitwise_xor(z, shr(z, 31));
    return shr(z, 11).to(at::kDouble).mul(std::ldexp(1.0, -53));
}

// ---- the draw: fused CPU kernel ----

typedef float vec8 __attribute__((vector_size(32)));
typedef int32_t vec8i __attribute__((vector_size(32)));

constexpr int64_t BLOCK = 64; // elements per partial sum of the search

// exp(x) for x <= 0 (Cephes' expf: range reduction by ln 2, a degree-5 polynomial; within 2 ulp),
// exactly 0 below -87.3 where f32 would go subnormal, NaN for NaN.
TS_INLINE void exp_nonpos(const vec8 &x, vec8 &out) {
    const vec8 zero = {};
    vec8i under = x < -87.3f;
    vec8 xc = under ? zero - 87.3f : x;
    vec8 fx = xc * 1.44269504088896341f + 0.5f;
    vec8i n = __builtin_convertvector(fx, vec8i); // truncates toward 0
    n += __builtin_convertvector(n, vec8) > fx;   // floor: true is -1
    vec8 fn = __builtin_convertvector(n, vec8);
    xc = xc - fn * 0.693359375f - fn * -2.12194440e-4f;
    vec8 y = zero + 1.9875691500e-4f;
    y = y * xc + 1.3981999507e-3f;
    y = y * xc + 8.3334519073e-3f;
    y = y * xc + 4.1665795894e-2f;
    y = y * xc + 1.6666665459e-1f;
    y = y * xc + 5.0000001201e-1f;
    y = y * xc * xc + xc + 1.0f;
    vec8i bits = (n + 127) << 23;
    vec8 scale;
    std::memcpy(&scale, &bits, sizeof scale);
    vec8 r = under ? zero : y * scale;
    out = x != x ? x : r;
}

TS_INLINE float exp_nonpos1(float x) {
    vec8 e;
    exp_nonpos((vec8){} + x, e);
    return e[0];
}

TS_INLINE float row_max(const float *x, int64_t n) {
    const float ninf = -std::numeric_limits<float>::infinity();
    vec8 m = (vec8){} + ninf;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vec8 v;
        std::memcpy(&v, x + i, sizeof v);
        m = v > m ? v : m;
    }
    float r = ninf;
    for (int k = 0; k < 8; k++) r = m[k] > r ? m[k] : r;
    for (; i < n; i++) r = x[i] > r ? x[i] : r;
    return r;
}

// Sum of exp((x - m) * s) over x[0..n) in f64, blocks of BLOCK summed in f32 lanes; when blocks is
// not null, each block's sum is stored there.
TS_INLINE double exp_sum(const float *x, int64_t n, float m, float s, double *blocks) {
    double total = 0;
    for (int64_t b = 0; b * BLOCK < n; b++) {
        int64_t i = b * BLOCK, end = std::min(n, i + BLOCK);
        vec8 acc = {};
        for (; i + 8 <= end; i += 8) {
            vec8 v;
            std::memcpy(&v, x + i, sizeof v);
            vec8 e;
            exp_nonpos((v - m) * s, e);
            acc += e;
        }
        double sum = ((double)acc[0] + acc[4]) + ((double)acc[1] + acc[5]) + (((double)acc[2] + acc[6]) + ((double)acc[3] + acc[7]));
        for (; i < end; i++) sum += exp_nonpos1((x[i] - m) * s);
        if (blocks) blocks[b] = sum;
        total += sum;
    }
    return total;
}

struct draw_args {
    const float *x;       // (R, V) rows at stride
    int64_t stride, V, n; // rows draw from [0, n)
    double temperature, lp_temperature;
    const double *u; // (R)
    int64_t *ids;    // (R)
    float *lp;       // (R)
};

TS_INLINE void draw_rows(const draw_args &a, int64_t begin, int64_t end, double *blocks) {
    for (int64_t r = begin; r < end; r++) {
        const float *x = a.x + r * a.stride;
        float m_n = row_max(x, a.n), m_pad = row_max(x + a.n, a.V - a.n), m = m_pad > m_n ? m_pad : m_n;
        int64_t tok = -1;
        double sum_n = 0;
        if (a.temperature == 0) {
            for (int64_t i = 0; i < a.n && tok < 0; i++)
                if (x[i] == m_n) tok = i;
        } else {
            float s = (float)(1.0 / a.temperature);
            sum_n = exp_sum(x, a.n, m_n, s, blocks);
            double target = a.u[r] * sum_n, acc = 0;
            int64_t nb = (a.n + BLOCK - 1) / BLOCK, b = 0, last = -1;
            for (; b < nb; b++) {
                if (blocks[b] > 0) last = b;
                if (acc + blocks[b] > target) break;
                acc += blocks[b];
            }
            if (b == nb) b = last; // u x total rounded up to the total: the last id with weight
            for (int64_t i = b * BLOCK, e = std::min(a.n, i + BLOCK); b >= 0 && i < e; i++) {
                float w = exp_nonpos1((x[i] - m_n) * s);
                if (w > 0) tok = i;
                acc += w;
                if (w > 0 && acc > target) break;
            }
        }
        // log-prob of tok under log_softmax(x / lp_temperature) over all V entries
        double lse;
        float ls = (float)(1.0 / a.lp_temperature);
        if (a.temperature == a.lp_temperature && m_pad <= m_n) // reuse the sampling sum
            lse = (double)m_n * ls + std::log(sum_n + exp_sum(x + a.n, a.V - a.n, m_n, ls, nullptr));
        else
            lse = (double)m * ls + std::log(exp_sum(x, a.V, m, ls, nullptr));
        a.ids[r] = tok < 0 ? 0 : tok;
        a.lp[r] = tok < 0 ? std::numeric_limits<float>::quiet_NaN() : (float)((double)x[tok] * ls - lse);
    }
}

typedef void (*draw_fn)(const draw_args &, int64_t, int64_t, double *);

void draw_rows_default(const draw_args &a, int64_t begin, int64_t end, double *blocks) {
    draw_rows(a, begin, end, blocks);
}

#ifdef TS_HAVE_AVX2_CLONE
__attribute__((target("avx2"))) void draw_rows_avx2(const draw_args &a, int64_t begin, int64_t end, double *blocks) {
    draw_rows(a, begin, end, blocks);
}
#endif

void fused(const at::Tensor &logits, int64_t n, double temperature, const at::Tensor &u, double lp_temperature,
           at::Tensor &ids, at::Tensor &lp) {
    at::Tensor x = logits.stride(1) == 1 ? logits : logits.contiguous();
    at::Tensor uu = u.to(at::kDouble).contiguous();
    int64_t R = x.size(0);
    ids = at::empty({R}, x.options().dtype(at::kLong));
    lp = at::empty({R}, x.options());
    draw_args a{x.data_ptr<float>(), x.stride(0), x.size(1), n, temperature, lp_temperature,
                uu.data_ptr<double>(), ids.data_ptr<int64_t>(), lp.data_ptr<float>()};
    draw_fn draw = draw_rows_default;
#ifdef TS_HAVE_AVX2_CLONE
    if (cpu_kernels_avx2()) draw = draw_rows_avx2;
#endif
    at::parallel_for(0, R, 1, [&](int64_t begin, int64_t end) {
        std::vector<double> blocks((size_t)((n + BLOCK - 1) / BLOCK));
        draw(a, begin, end, blocks.data());
    });
}

// ---- the draw: composite of ATen ops ----

void composite(const at::Tensor &logits, int64_t n, double temperature, const at::Tensor &u,
               double lp_temperature, at::Tensor &ids, at::Tensor &lp) {
    at::Tensor x = logits.to(at::kFloat), xn = x.narrow(1, 0, n);
    if (temperature == 0) {
        ids = xn.argmax(1);
    } else {
        at::Tensor w = xn.sub(xn.amax(1, true)).mul_(1.0 / temperature).exp_();
        at::Tensor cum = w.cumsum(1, at::kDouble), total = cum.narrow(1, n - 1, 1).contiguous();
        at::Tensor target = u.to(cum.device(), at::kDouble).unsqueeze(1).mul(total).contiguous();
        at::Tensor hit = at::searchsorted(cum, target, false, true), last = at::searchsorted(cum, total, false, false);
        ids = at::minimum(hit, last).squeeze(1);
    }
    at::Tensor xs = x.mul(1.0 / lp_temperature);
    lp = xs.gather(1, ids.unsqueeze(1)).squeeze(1).sub(xs.logsumexp(1));
}

void sample_inverse_cdf(const at::Tensor &x, int64_t n, double temperature, const at::Tensor &u,
                        double lp_temperature, ts_tensor **ids, ts_tensor **logprobs) {
    if (x.dim() != 2) throw std::invalid_argument("logits must be 2-d (rows, vocabulary)");
    if (n < 1 || n > x.size(1))
        throw std::invalid_argument("n = " + std::to_string(n) + " outside [1, " + std::to_string(x.size(1)) + "]");
    if (u.dim() != 1 || u.size(0) != x.size(0)) throw std::invalid_argument("u must hold one number per row of logits");
    if (!(temperature >= 0) || !(lp_temperature > 0))
        throw std::invalid_argument("temperature must be >= 0 and lp_temperature > 0");
    at::Tensor i, l;
    if (x.device().is_cpu() && x.scalar_type() == at::kFloat && x.size(0) > 0)
        fused(x, n, temperature, u, lp_temperature, i, l);
    else
        composite(x, n, temperature, u, lp_temperature, i, l);
    ts_tensor *wi = wrap(i), *wl = wrap(l);
    *ids = wi;
    *logprobs = wl;
}

} // namespace

extern "C" {

ts_tensor *ts_counter_uniform(const ts_tensor *key, uint64_t counter) {
    TS_NEED(key);
    TS_RETURN_TENSOR(counter_uniform(key->t, counter));
}

int ts_sample_inverse_cdf(const ts_tensor *logits, int64_t n, double temperature, const ts_tensor *u,
                          double lp_temperature, ts_tensor **ids, ts_tensor **logprobs) {
    TS_NEED_STATUS(logits);
    TS_NEED_STATUS(u);
    TS_RETURN_STATUS(sample_inverse_cdf(logits->t, n, temperature, u->t, lp_temperature, ids, logprobs));
}

} // extern "C"
