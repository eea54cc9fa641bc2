/* fuzz_extract — libFuzzer target for reward_math_extract (with and without the fallback) and
 * the full grade against a fixed reference. Built and run by scripts/fuzz.sh. */
#include "rewards/reward.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char out[512];
    reward_math_extract(s, 0, out, sizeof out);
    reward_math_extract(s, 1, out, sizeof out);
    reward_math_grade(s, "\\frac{1}{2}", 1, 1e-6);
    free(s);
    return 0;
}
