#!/usr/bin/env bash
# bench_rollout.sh — `rlvr bench rollout` beside its PyTorch eager twin (bench/rollout_ref.py), in one
# run, on the same model files, with the same P x G, prompt length, new tokens and thread count.
#
# Usage: bench/bench_rollout.sh [RLVR_BINARY]   (run from the repository root; default build/rlvr)
# Environment: THREADS (1), REPEATS (3), P (8), G (8), L (32), N (64).
# Makes a small and a larger random Qwen2 model with `rlvr init-model`, runs each side REPEATS times
# in one process (the fastest run counts, so both sides are warm) and prints tokens/s per wall second
# and per CPU second of the process, with the ratio rlvr.c / PyTorch. OPENBLAS_NUM_THREADS is set
# to THREADS for both: libtorch's set_num_threads does not reach OpenBLAS's own thread pool, whose
# spinning workers otherwise steal the one core the measurement runs on.
# Not here: the KV-cache and prefix-sharing comparisons (build/bench_rollout).
set -eu
BIN=${1:-build/rlvr}
THREADS=${THREADS:-1} REPEATS=${REPEATS:-3} P=${P:-8} G=${G:-8} L=${L:-32} N=${N:-64}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=$THREADS
[ -x "$BIN" ] || { echo "bench_rollout.sh: no rlvr binary at $BIN" >&2; exit 2; }
"$PY" -c 'import torch' 2> /dev/null || { echo "bench_rollout.sh: $PY has no torch (apt-get install python3-torch)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$BIN" init-model --arch qwen2 --out "$tmp/small" --hidden 64 --layers 2 --heads 4 --tie --seed 1 > /dev/null
"$BIN" init-model --arch qwen2 --out "$tmp/larger" --hidden 512 --layers 8 --heads 8 --kv-heads 2 --seed 1 > /dev/null

echo "bench_rollout.sh: $P prompts x $G samples, prompt $L tokens, $N new tokens (EOS ignored), $THREADS thread(s), fastest of $REPEATS"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-8s %-10s %12s %12s %8s   %12s %12s %8s\n' model params "rlvr tok/s" "torch tok/s" ratio \
    "rlvr tok/cpu" "torch tok/cpu" ratio
for name in small larger; do
    d="$tmp/$name"
    c=$("$BIN" bench rollout --model "$d" --prompts "$P" --group "$G" --prompt-len "$L" --max-new "$N" \
        --threads "$THREADS" --repeats "$REPEATS")
    c_wall=$(echo "$c" | awk '/^total:/ {print $(NF-1)}')
    c_cpu=$(echo "$c" | awk '/^cpu:/ {print $(NF-4)}')
    params=$(echo "$c" | sed -n 's/.*, \([0-9.]*M\) parameters.*/\1/p')
    py=$("$PY" bench/rollout_ref.py "$d" --prompts "$P" --group "$G" --prompt-len "$L" --max-new "$N" \
        --threads "$THREADS" --repeats "$REPEATS" --check)
    read -r p_wall p_cpu <<< "$(echo "$py" | "$PY" -c '
import json, sys
runs = [json.loads(l) for l in sys.stdin if l.strip()]
print(max(r["tok_s_wall"] for r in runs), max(r["tok_s_cpu"] for r in runs))')"
    awk -v n="$name" -v p="$params" -v cw="$c_wall" -v pw="$p_wall" -v cc="$c_cpu" -v pc="$p_cpu" 'BEGIN {
        printf "%-8s %-10s %12.0f %12.0f %7.2fx   %12.0f %12.0f %7.2fx\n", n, p, cw, pw, cw / pw, cc, pc, cc / pc }'
    echo "$c" | sed -n 's/^\(prefill\|decode\|sampling\|compute\):/    rlvr \1:/p'
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
