#!/usr/bin/env bash
# fuzz — build every libFuzzer target in fuzz/ (CMake, RLVR_FUZZ=ON: clang, ASan + UBSan, every
# module with coverage feedback) into build-fuzz/ and run each for SECONDS, one after another.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET (default 60)] [TARGET...] (default: every fuzz/fuzz_*.c)
# Needs clang and its fuzzer runtime (scripts/setup.sh installs them). Each target's corpus grows
# in build-fuzz/corpus/<target>/, seeded from the committed fuzz/corpus/<target>/; its log is
# build-fuzz/<target>.log; a crash or leak is written as build-fuzz/<target>-crash-* (add it to
# fuzz/corpus/<target>/ once fixed) and makes the script exit non-zero. CI builds the same targets
# and replays the committed corpora (ctest in build-fuzz, see scripts/test.sh).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-60}
[ $# -gt 0 ] && shift
out=${RLVR_FUZZ_DIR:-$root/build-fuzz}
command -v clang >/dev/null || { echo "fuzz.sh: clang not found (run scripts/setup.sh)" >&2; exit 1; }
CC=clang CXX=clang++ cmake -S "$root" -B "$out" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRLVR_FUZZ=ON \
    -DRLVR_TESTS=OFF >/dev/null
targets=${*:-$(cd "$root/fuzz" && ls fuzz_*.c | sed 's/\.c$//')}
cmake --build "$out" -j "$(nproc)" --target $targets
export RLVR_SRC=$root
# libtorch and OpenMPI allocate process-lifetime singletons; tests/lsan.supp names them.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:detect_odr_violation=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$root/tests/lsan.supp:print_suppressions=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in $targets; do
    mkdir -p "$out/corpus/$t"
    echo "== $t: ${secs}s (log: $out/$t.log)"
    # HDF5 keeps process-wide caches, so nearly every checkpoint input would trigger libFuzzer's
    # per-input leak scan (25x slower); fuzz/fuzz_ckpt_read.h checks for leaks once at exit instead.
    # libhdf5 itself crashes and hangs on damaged files (docs/FUZZING.md): the raw-bytes target
    # runs in fork mode, which records each such input and goes on; check every recorded stack
    # for frames outside libhdf5.
    flags=(-detect_leaks=1)
    case $t in
        fuzz_ckpt_file) flags=(-detect_leaks=0 -fork=1 -ignore_timeouts=1 -ignore_crashes=1) ;;
        fuzz_ckpt*) flags=(-detect_leaks=0) ;;
    esac
    if ! "$out/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 "${flags[@]}" \
            -print_final_stats=1 -artifact_prefix="$out/$t-" "$out/corpus/$t" "$root/fuzz/corpus/$t" \
            >"$out/$t.log" 2>&1; then
        echo "== $t: FAILED (see $out/$t.log and $out/$t-crash-*)" >&2
        status=1
    fi
    grep -E '^(#[0-9]+.*(DONE|pulse|NEW|REDUCE)|stat::number_of_executed_units|Done)' "$out/$t.log" | tail -3
done
exit $status
