/* rng — the project's own random numbers: counter-based (Philox-4x32-10) and a small sequential
 * generator (splitmix64) built on it.
 *
 * A counter-based draw is a pure function of (key, counter): the uniform used to sample token t
 * of sample g of prompt p at step s is rng_uniform(seed, s, p, g, t), whatever else shares the
 * batch, the micro-batch size or the world size. Results are identical on every machine.
 * rng_normal draws a model's initial weights (model_init_random).
 * Deliberately not here: libtorch's generators (tensor/ts.h has those), cryptographic use. */
#ifndef RLVR_RNG_H
#define RLVR_RNG_H

#include <stdint.h>

/* Philox-4x32-10 of the 128-bit counter (c0, c1) under the 64-bit key; four 32-bit words out. */
void rng_philox(uint64_t key, uint64_t c0, uint64_t c1, uint32_t out[4]);

/* A uniform double in [0, 1) with 53 random bits, keyed by the seed and four counters. */
double rng_uniform(uint64_t seed, uint64_t a, uint64_t b, uint64_t c, uint64_t d);

/* Sequential stream: state advanced by one splitmix64 step per draw. */
typedef struct rng_stream {
    uint64_t state;
} rng_stream;

void rng_stream_init(rng_stream *r, uint64_t seed, uint64_t stream);
uint64_t rng_next_u64(rng_stream *r);
/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t rng_below(rng_stream *r, uint64_t n);
double rng_next_double(rng_stream *r); /* [0, 1), 53 bits */
/* A standard normal draw (Marsaglia's polar method). Only IEEE-754 +, -, *, / and sqrt, which are
 * correctly rounded, and a logarithm built from them: the same draws on every CPU and libm. */
double rng_normal(rng_stream *r);

#endif
