/* fuzz_normalize — libFuzzer target for reward_math_normalize and reward_math_equiv: the input is
 * split at its first NUL-free midpoint into a prediction and a reference, and each is also
 * compared with itself. Built and run by scripts/fuzz.sh. */
#include "rewards/reward.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 2);
    if (!s) return 0;
    size_t half = size / 2;
    memcpy(s, data, half);
    s[half] = '\0';
    memcpy(s + half + 1, data + half, size - half);
    s[size + 1] = '\0';
    const char *a = s, *b = s + half + 1;
    char out[1024];
    reward_math_normalize(a, out, sizeof out);
    reward_math_normalize(b, out, sizeof out);
    reward_math_equiv(a, b, 1e-6);
    reward_math_equiv(a, a, 1e-6);
    free(s);
    return 0;
}
