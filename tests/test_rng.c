/* test_rng — Philox-4x32-10 against the known-answer vectors of its authors' Random123 library,
 * and the properties the sampler relies on: counter-based draws are pure functions of their
 * keys, distinct keys give distinct streams, and the bounded draws are in range and unbiased;
 * normal draws have a standard normal's moments and tails, agree with the polar method computed
 * through libm's log, and match recorded known answers bit for bit (the same on every CPU). */
#include "check.h"

#include "common/rng.h"

#include <math.h>
#include <string.h>

static int philox_is(uint64_t key, uint64_t c0, uint64_t c1, const uint32_t want[4]) {
    uint32_t w[4];
    rng_philox(key, c0, c1, w);
    return w[0] == want[0] && w[1] == want[1] && w[2] == want[2] && w[3] == want[3];
}

/* Normal draws: moments of N(0, 1) within 6 standard errors, the two-sided 5% tail, and each draw
 * equal to the polar method through libm's log within 4 ulps; the first draws of one stream bit
 * for bit as recorded (the same on every CPU). */
static void check_normal(void) {
    rng_stream z, twin;
    rng_stream_init(&z, 7, 3);
    twin = z;
    const int draws = 400000;
    double m1 = 0, m2 = 0, m4 = 0, tail = 0, worst = 0;
    for (int i = 0; i < draws; i++) {
        double x = rng_normal(&z), u, v, q;
        do {
            u = 2 * rng_next_double(&twin) - 1;
            v = 2 * rng_next_double(&twin) - 1;
            q = u * u + v * v;
        } while (!(q > 0 && q < 1));
        double want = u * sqrt(-2 * log(q) / q);
        worst = fmax(worst, fabs(x - want) / fmax(fabs(want), 1e-300));
        m1 += x;
        m2 += x * x;
        m4 += x * x * x * x;
        tail += fabs(x) > 1.959963984540054;
    }
    CHECK_CLOSE(m1 / draws, 0, 6 / sqrt(draws), 0);
    CHECK_CLOSE(m2 / draws, 1, 6 * sqrt(2.0 / draws), 0);
    CHECK_CLOSE(m4 / draws, 3, 6 * sqrt(96.0 / draws), 0);
    CHECK_CLOSE(tail / draws, 0.05, 6 * sqrt(0.05 * 0.95 / draws), 0);
    CHECK(worst <= 4 * 0x1p-52);
    /* known answers: the first draws of stream (42, 0), as hexadecimal doubles */
    rng_stream k;
    rng_stream_init(&k, 42, 0);
    const double known[4] = {-0x1.16d7f6b650725p+0, -0x1.289fc1ce245eep-4, -0x1.60dbb52349b7ep+1, -0x1.2c4c026436a79p-1};
    for (int i = 0; i < 4; i++) {
        double x = rng_normal(&k);
        if (memcmp(&x, &known[i], sizeof x)) fprintf(stderr, "normal draw %d = %a, recorded %a\n", i, x, known[i]);
        CHECK(memcmp(&x, &known[i], sizeof x) == 0);
    }
}

int main(void) {
    /* Random123 kat_vectors, philox4x32 10 rounds: counter words x0..x3, key words k0 k1 */
    CHECK(philox_is(0, 0, 0, (uint32_t[]){0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8}));
    CHECK(philox_is(UINT64_MAX, UINT64_MAX, UINT64_MAX,
                    (uint32_t[]){0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd}));
    CHECK(philox_is(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull,
                    (uint32_t[]){0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1}));

    /* pure function of its keys; each counter matters */
    double u = rng_uniform(7, 1, 2, 3, 4);
    CHECK(u == rng_uniform(7, 1, 2, 3, 4));
    CHECK(u >= 0 && u < 1);
    CHECK(u != rng_uniform(8, 1, 2, 3, 4) && u != rng_uniform(7, 2, 2, 3, 4));
    CHECK(u != rng_uniform(7, 1, 3, 3, 4) && u != rng_uniform(7, 1, 2, 4, 4));
    CHECK(u != rng_uniform(7, 1, 2, 3, 5) && u != rng_uniform(7, 2, 1, 3, 4));

    /* mean and spread of counter-based uniforms over positions */
    double sum = 0, sq = 0;
    int n = 100000, low = 0;
    for (int i = 0; i < n; i++) {
        double x = rng_uniform(1234, 0, 5, 3, (uint64_t)i);
        sum += x;
        sq += x * x;
        low += x < 0.1;
    }
    CHECK_CLOSE(sum / n, 0.5, 0.005, 0);
    CHECK_CLOSE(sq / n - (sum / n) * (sum / n), 1.0 / 12, 0.002, 0);
    CHECK_CLOSE((double)low / n, 0.1, 0.004, 0);

    /* streams: reproducible, distinct, bounded */
    rng_stream a, b, c;
    rng_stream_init(&a, 42, 0);
    rng_stream_init(&b, 42, 0);
    rng_stream_init(&c, 42, 1);
    uint64_t xa = rng_next_u64(&a);
    CHECK(xa == rng_next_u64(&b) && xa != rng_next_u64(&c));
    int counts[3] = {0, 0, 0}, in_range = 1;
    for (int i = 0; i < 30000; i++) {
        uint64_t k = rng_below(&a, 3);
        if (k >= 3) in_range = 0;
        else counts[k]++;
        double d = rng_next_double(&b);
        if (d < 0 || d >= 1) in_range = 0;
    }
    CHECK(in_range);
    for (int k = 0; k < 3; k++) CHECK_CLOSE(counts[k], 10000, 400, 0);

    check_normal();
    CHECK_DONE();
}
