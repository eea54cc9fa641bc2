#!/bin/sh
# Build and run bench/bench_reward.c (the math verifier alone, with the checked allocator; needs a C
# compiler, libm and libcjson).
# Usage: bench/bench_reward.sh [SECONDS_PER_ROW]
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
${CC:-cc} -std=gnu11 -O2 -I"$root" "$root/bench/bench_reward.c" "$root/rewards/reward_math.c" "$root/common/mem.c" -lcjson -lm -o "$out/bench_reward"
taskset -c 0 "$out/bench_reward" "$@" 2>/dev/null || "$out/bench_reward" "$@"
