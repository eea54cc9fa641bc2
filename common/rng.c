/* rng — Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011)
 * and splitmix64 (Steele et al., OOPSLA 2014); see rng.h. */
#include "rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static inline void mulhilo(uint32_t a, uint32_t b, uint32_t *hi, uint32_t *lo) {
    uint64_t p = (uint64_t)a * b;
    *hi = (uint32_t)(p >> 32);
    *lo = (uint32_t)p;
}

void rng_philox(uint64_t key, uint64_t c0, uint64_t c1, uint32_t out[4]) {
    uint32_t x0 = (uint32_t)c0, x1 = (uint32_t)(c0 >> 32), x2 = (uint32_t)c1, x3 = (uint32_t)(c1 >> 32);
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    for (int round = 0; round < 10; round++) {
        uint32_t hi0, lo0, hi1, lo1;
        mulhilo(PHILOX_M0, x0, &hi0, &lo0);
        mulhilo(PHILOX_M1, x2, &hi1, &lo1);
        x0 = hi1 ^ x1 ^ k0;
        x1 = lo1;
        x2 = hi0 ^ x3 ^ k1;
        x3 = lo0;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = x0;
    out[1] = x1;
    out[2] = x2;
    out[3] = x3;
}

static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double rng_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d) {
    /* Fold the four counters into the 128-bit Philox counter; a and b (step, prompt) and c and d
     * (sample, position) each get 64 bits, mixed so that small values do not collide. */
    uint64_t s0 = a, s1 = c;
    uint64_t c0 = splitmix64(&s0) ^ b, c1 = splitmix64(&s1) ^ d;
    uint32_t w[4];
    rng_philox(seed, c0, c1, w);
    uint64_t bits = ((uint64_t)w[0] << 21) ^ ((uint64_t)w[1] >> 11);
    return (double)(bits & ((1ull << 53) - 1)) * 0x1.0p-53;
}

void rng_stream_init(rng_stream *r, uint64_t seed, uint64_t stream) {
    uint32_t w[4];
    rng_philox(seed, stream, 0x5EEDull, w);
    r->state = ((uint64_t)w[0] << 32) | w[1];
}

uint64_t rng_next_u64(rng_stream *r) { return splitmix64(&r->state); }

uint64_t rng_below(rng_stream *r, uint64_t n) {
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = rng_next_u64(r);
    while (x >= limit);
    return x % n;
}

double rng_next_double(rng_stream *r) { return (double)(rng_next_u64(r) >> 11) * 0x1.0p-53; }

/* ln x for finite x > 0 with basic arithmetic only: x = m 2^k with m in [sqrt(1/2), sqrt(2)), then
 * ln m = 2 atanh(z), z = (m - 1) / (m + 1), |z| < 0.172, whose series has converged to double
 * precision by z^41 (0.172^42 / 43 < 2^-110). */
static double ln_portable(double x) {
    int k = 0;
    while (x >= 1.4142135623730951) {
        x *= 0.5;
        k++;
    }
    while (x < 0.7071067811865476) {
        x *= 2;
        k--;
    }
    double z = (x - 1) / (x + 1), z2 = z * z, term = z, sum = 0;
    for (int n = 1; n <= 41; n += 2) {
        sum += term / n;
        term *= z2;
    }
    return 2 * sum + k * 0.6931471805599453;
}

double rng_normal(rng_stream *r) {
    for (;;) {
        double u = 2 * rng_next_double(r) - 1, v = 2 * rng_next_double(r) - 1, s = u * u + v * v;
        if (s > 0 && s < 1) return u * sqrt(-2 * ln_portable(s) / s);
    }
}
