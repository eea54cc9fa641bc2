#!/bin/sh
# Build the libFuzzer targets in fuzz/ with clang (-fsanitize=fuzzer,address,undefined) and run each
# for a bounded time. Not part of CI: run it by hand after changing rewards/.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...]
# Needs clang and its fuzzer runtime (Debian: clang, libclang-rt-14-dev). Crashes are written to
# $RLVR_FUZZ_DIR (default build-fuzz/) as crash-*, with the corpus in build-fuzz/corpus-<target>/.
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
targets=${*:-"fuzz_extract fuzz_normalize fuzz_countdown"}
out=${RLVR_FUZZ_DIR:-$root/build-fuzz}
mkdir -p "$out"
cc=${CLANG:-clang}
command -v "$cc" >/dev/null || { echo "fuzz.sh: $cc not found (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
srcs="$root/rewards/reward_math.c $root/rewards/reward_tasks.c $root/common/err.c $root/common/mem.c"
status=0
for t in $targets; do
    echo "== $t: building"
    $cc -std=gnu11 -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
        -fno-sanitize-recover=undefined -I"$root" "$root/fuzz/$t.c" $srcs -lcjson -lm -o "$out/$t"
    mkdir -p "$out/corpus-$t"
    echo "== $t: running for $secs s"
    if ! (cd "$out" && "./$t" -max_total_time="$secs" -max_len=4096 -timeout=10 -rss_limit_mb=2048 \
            -print_final_stats=1 "corpus-$t"); then
        echo "== $t: FAILED (see $out/crash-* or leak-*)" >&2
        status=1
    fi
done
exit $status
