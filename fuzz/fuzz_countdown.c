/* fuzz_countdown — libFuzzer target for the countdown expression parser and answer finder. The
 * first byte picks the target; the numbers offered are fixed. Built and run by scripts/fuzz.sh. */
#include "rewards/reward.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    static const int64_t numbers[] = {1, 2, 3, 4, 25, 50, 75, 100};
    char *s = malloc(size);
    if (!s) return 0;
    memcpy(s, data + 1, size - 1);
    s[size - 1] = '\0';
    int64_t target = data[0] * 4;
    reward_countdown_check(s, numbers, 8, target);
    reward_countdown_grade(s, numbers, 8, target);
    free(s);
    return 0;
}
