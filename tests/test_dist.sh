#!/usr/bin/env bash
# test_dist (shell) — test_dist's worker modes as ranks of real mpirun jobs with 1 and 2 ranks:
# exact collectives across bucket edges, bit-identical repeated runs, the same weights within
# rounding from 1 and 2 ranks on one global batch, the replica-mismatch error, a killed rank and a
# hung rank ending the job with a clear message within a bound, and the NCCL set-up failing cleanly
# (on a machine without a GPU). Every mpirun is bounded by `timeout`.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BIN="$(dirname "${RLVR_BIN:?set RLVR_BIN to the rlvr binary}")/test_dist"
[ -x "$BIN" ] || { echo "no test_dist next to $RLVR_BIN" >&2; exit 1; }
command -v mpirun >/dev/null || { echo "mpirun not found (Debian: openmpi-bin)" >&2; exit 1; }
MPIRUN=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && MPIRUN+=(--allow-run-as-root)
# Under AddressSanitizer: OpenMPI unloads its plugins at MPI_Finalize, so LeakSanitizer only sees
# that its process-lifetime allocations are OpenMPI's (tests/lsan.supp) with the slow unwinder,
# about 5x slower. One job (coll2) checks leaks that way; the others check memory errors only.
if ldd "$BIN" | grep -q libasan; then
  src=${RLVR_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
  leak_env=(env "ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=1:fast_unwind_on_malloc=0"
            "LSAN_OPTIONS=suppressions=$src/tests/lsan.supp:${LSAN_OPTIONS:-}")
  export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
else
  leak_env=()
fi

# run NAME LIMIT NP ARGS...: one bounded job; output in $tmp/NAME, exit status in $status,
# seconds taken in $took. LEAKS=1 in front checks leaks under AddressSanitizer.
run() {
  local name=$1 limit=$2 np=$3; shift 3
  local t0=$SECONDS
  local pre=()
  [ "${LEAKS:-0}" = 1 ] && pre=("${leak_env[@]}")
  timeout "$limit" "${pre[@]}" "${MPIRUN[@]}" -np "$np" "$BIN" worker "$@" > "$tmp/$name" 2>&1
  status=$?
  took=$((SECONDS - t0))
}
# expect NAME STATUS FRAGMENT: the last run exited STATUS (any non-zero for "fail") with FRAGMENT
expect() {
  local name=$1 want=$2 frag=$3
  if [ "$want" = fail ]; then
    [ "$status" -ne 0 ] || { bad "$name exited 0, expected a failure: $(cat "$tmp/$name")"; return; }
  elif [ "$status" -ne "$want" ]; then
    bad "$name exited $status, expected $want: $(cat "$tmp/$name")"; return
  fi
  grep -qF -- "$frag" "$tmp/$name" || { bad "$name output lacks '$frag': $(cat "$tmp/$name")"; return; }
  ok
}

# exact results, buckets of 104 bytes (tensors span several) and of the default 25 MiB
LEAKS=1 run coll2 300 2 collectives dist.bucket_mb=0.0001
expect coll2 0 "26 passed, 0 failed"
[ "$(grep -c '0 failed' "$tmp/coll2")" -eq 2 ] && ok || bad "coll2: not every rank passed"
run coll2big 120 2 collectives
expect coll2big 0 "26 passed, 0 failed"
run coll1 120 1 collectives dist.backend=mpi dist.bucket_mb=0.0001
expect coll1 0 "26 passed, 0 failed"

# determinism: two 2-rank runs give the same bits, whatever the bucket size; 1 rank agrees
# within rounding
run dig_a 120 2 digest dist.bucket_mb=0.0001
expect dig_a 0 "digest "
run dig_b 120 2 digest dist.bucket_mb=0.0001
expect dig_b 0 "digest "
run dig_c 120 2 digest
expect dig_c 0 "digest "
run dig_1 120 1 digest dist.backend=mpi
expect dig_1 0 "digest "
grep -E '^(digest|value)' "$tmp/dig_a" > "$tmp/a.txt"
grep -E '^(digest|value)' "$tmp/dig_b" > "$tmp/b.txt"
grep -E '^(digest|value)' "$tmp/dig_c" > "$tmp/c.txt"
grep -E '^value' "$tmp/dig_1" > "$tmp/one.txt"
cmp -s "$tmp/a.txt" "$tmp/b.txt" && ok || bad "two identical 2-rank runs differ: $(diff "$tmp/a.txt" "$tmp/b.txt")"
cmp -s "$tmp/a.txt" "$tmp/c.txt" && ok || bad "2-rank runs with other buckets differ: $(diff "$tmp/a.txt" "$tmp/c.txt")"
grep -E '^value' "$tmp/a.txt" > "$tmp/two.txt"
if [ "$(wc -l < "$tmp/two.txt")" -eq 8 ] &&
   paste "$tmp/one.txt" "$tmp/two.txt" | awk '{ d = $3 - $6; if (d < 0) d = -d; s = $3 < 0 ? -$3 : $3;
                                              if ($2 != $5 || d > 1e-6 * (s + 1e-3)) exit 1 }'; then
  ok
else
  bad "1-rank and 2-rank weights differ beyond rounding: $(paste "$tmp/one.txt" "$tmp/two.txt")"
fi

# the replica check names the diverged tensor and rank
run mismatch 120 2 mismatch
expect mismatch 0 "9 passed, 0 failed"

# a rank killed with SIGKILL after a barrier: mpirun tears the job down and says which rank died
run kill 60 2 kill dist.timeout_s=20
expect kill fail "process rank 1 with PID"
expect kill fail "exited on signal 9 (Killed)"
[ "$took" -lt 20 ] && ok || bad "a killed rank took $took s to end the job"

# a rank that hangs: the watchdog of the other ends the job with the operation, rank and timeout
run hang 60 2 hang dist.timeout_s=1
expect hang fail "rank 0 of 2: dist: all-reduce of bucket 0 (1000 f32 elements from tensors 0-0) timed out after 1 s on rank 0 of 2 (dist.timeout_s)"
[ "$took" -lt 20 ] && ok || bad "a hung rank took $took s to end the job"

# NCCL: a missing library, and (with the library but without a GPU) no CUDA device, fail on every
# rank with one message, no crash, no hang
run nccl_missing 60 2 init-error "cannot load the NCCL library '/nonexistent/libnccl.so.2' (dist.nccl_lib)" \
  dist.backend=nccl dist.nccl_lib=/nonexistent/libnccl.so.2
expect nccl_missing 0 "2 passed, 0 failed"
nccl_lib=${RLVR_NCCL_LIB:-/usr/local/cuda-13.0/lib/libnccl.so.2}
if [ -r "$nccl_lib" ] && [ ! -e /dev/nvidiactl ]; then
  run nccl_nogpu 60 2 init-error "libtorch sees no CUDA device" dist.backend=nccl "dist.nccl_lib=$nccl_lib"
  expect nccl_nogpu 0 "is loaded but libtorch sees no CUDA device on rank 1"
else
  echo "test_dist.sh: NCCL without a GPU not tested (no $nccl_lib, or a GPU is present)"
fi

finish test_dist.sh
