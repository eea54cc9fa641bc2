#!/usr/bin/env bash
# Run bench_dist (all-reduce throughput on the CPU) with 1 and with 2 ranks and print the results
# side by side: per size, time per call and MiB/s of dist_allreduce_tensors for each world size,
# the 2-rank/1-rank time ratio, and plain MPI_Allreduce with 2 ranks as the baseline.
# Usage: bench/bench_dist.sh BUILD_DIR [MiB...]
set -euo pipefail
build=${1:?usage: bench/bench_dist.sh BUILD_DIR [MiB...]}
shift
bin="$build/bench_dist"
[ -x "$bin" ] || { echo "no $bin: build the project first" >&2; exit 1; }
mpirun=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"${mpirun[@]}" -np 1 "$bin" "$@" > "$out/1"
"${mpirun[@]}" -np 2 "$bin" "$@" > "$out/2"
head -1 "$out/2" | sed 's/, 2 rank(s)//'
printf '%6s | %10s %10s | %10s %10s | %7s | %10s %10s\n' "" "1 rank" "" "2 ranks" "" "2r/1r" \
  "2 ranks," "MPI_Allreduce"
printf '%6s | %10s %10s | %10s %10s | %7s | %10s %10s\n' MiB "ms/MiB" "MiB/s" "ms/MiB" "MiB/s" \
  "time" "ms/MiB" "MiB/s"
join <(tail -n +3 "$out/1") <(tail -n +3 "$out/2") |
  awk '{ printf "%6d | %10.3f %10.1f | %10.3f %10.1f | %7.2f | %10.3f %10.1f\n",
         $1, $2 / $1, $3, $7 / $1, $8, $7 / $2, $9 / $1, $10 }'
