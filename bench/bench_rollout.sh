#!/usr/bin/env bash
# bench_rollout.sh — `rlvr bench rollout` beside its PyTorch eager twin (bench/rollout_ref.py), in one
# run, on the same model files, with the same P x G, prompt length, new tokens and thread count.
#
# Usage: bench/bench_rollout.sh [RLVR_BINARY]   (run from the repository root; default build/rlvr)
# Environment: THREADS (1), REPEATS (3), P (8), G (8), L (32), N (64), SHAPES (all four below),
# DEVICE (cpu; cuda or cuda:N puts both sides on that GPU), PYTHON (/usr/bin/python3: the twin's,
# which needs a CUDA torch for a GPU).
# Makes random Qwen2 models with `rlvr init-model`: small (D 64, L 2, tied, the tiny tokenizer's
# 261 tokens), larger (D 512, L 8, 8/2 heads), vocab (small's body with Qwen's 151,936 embedding
# rows) and qwen0.5b (Qwen2.5-0.5B's shape: D 896, L 24, 14/2 heads, F 4864, V 151,936, tied; 2 GB
# of f32 weights; run with P2_05B x G_05B samples of N_05B tokens, defaults 2 x 8 x 32, to keep it
# within minutes). Runs each side REPEATS times in one process (the fastest run counts, so both
# sides are warm) and prints tokens/s per wall second and per CPU second of the process, with the
# ratio rlvr.c / PyTorch, then rlvr's time split and its decode step's distance to the roofline.
# OPENBLAS_NUM_THREADS is set to THREADS for both: libtorch's set_num_threads does not reach
# OpenBLAS's own thread pool, whose spinning workers otherwise steal the one core the measurement
# runs on; OPENBLAS_CORETYPE is the kernel set rlvr picks, for both.
# Not here: the KV-cache and prefix-sharing comparisons (build/bench_rollout).
set -eu
BIN=${1:-build/rlvr}
THREADS=${THREADS:-1} REPEATS=${REPEATS:-3} P=${P:-8} G=${G:-8} L=${L:-32} N=${N:-64}
SHAPES=${SHAPES:-small larger vocab qwen0.5b} P2_05B=${P2_05B:-2} G_05B=${G_05B:-8} N_05B=${N_05B:-32}
DEVICE=${DEVICE:-cpu}
PY=${PYTHON:-/usr/bin/python3}
export OPENBLAS_NUM_THREADS=$THREADS
# the twin runs on the OpenBLAS kernels rlvr picks for itself (rlvr doctor says when it picks)
core=$("$BIN" doctor 2> /dev/null | sed -n 's/.*rlvr chose \([A-Za-z0-9]*\).*/\1/p')
[ -z "${OPENBLAS_CORETYPE:-}" ] && [ -n "$core" ] && export OPENBLAS_CORETYPE=$core
[ -x "$BIN" ] || { echo "bench_rollout.sh: no rlvr binary at $BIN" >&2; exit 2; }
"$PY" -c 'import torch' 2> /dev/null || { echo "bench_rollout.sh: $PY has no torch (apt-get install python3-torch)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

init() { # NAME ARGS...
    local name=$1
    shift
    "$BIN" init-model --arch qwen2 --out "$tmp/$name" --seed 1 "$@" > /dev/null
}
echo "bench_rollout.sh: $P prompts x $G samples, prompt $L tokens, $N new tokens (EOS ignored; qwen0.5b: $P2_05B x $G_05B, $N_05B new), $THREADS thread(s), fastest of $REPEATS, on $DEVICE"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
printf '%-8s %-10s %12s %12s %8s   %12s %12s %8s\n' model params "rlvr tok/s" "torch tok/s" ratio \
    "rlvr tok/cpu" "torch tok/cpu" ratio
for name in $SHAPES; do
    d="$tmp/$name" p=$P g=$G n=$N
    case $name in
    small) init small --hidden 64 --layers 2 --heads 4 --tie ;;
    larger) init larger --hidden 512 --layers 8 --heads 8 --kv-heads 2 ;;
    vocab) init vocab --hidden 64 --layers 2 --heads 4 --tie --model-vocab 151936 ;;
    qwen0.5b) init qwen0.5b --hidden 896 --layers 24 --heads 14 --kv-heads 2 --intermediate 4864 --tie \
        --model-vocab 151936
        p=$P2_05B g=$G_05B n=$N_05B ;;
    *) echo "bench_rollout.sh: unknown shape '$name' (small, larger, vocab, qwen0.5b)" >&2; exit 2 ;;
    esac
    c=$("$BIN" bench rollout --model "$d" --prompts "$p" --group "$g" --prompt-len "$L" --max-new "$n" \
        --threads "$THREADS" --repeats "$REPEATS" --device "$DEVICE")
    c_wall=$(echo "$c" | awk '/^total:/ {print $(NF-1)}')
    c_cpu=$(echo "$c" | awk '/^cpu:/ {print $(NF-4)}')
    params=$(echo "$c" | sed -n 's/.*, \([0-9.]*M\) parameters.*/\1/p')
    py=$("$PY" bench/rollout_ref.py "$d" --prompts "$p" --group "$g" --prompt-len "$L" --max-new "$n" \
        --threads "$THREADS" --repeats "$REPEATS" --device "$DEVICE" --check)
    read -r p_wall p_cpu <<< "$(echo "$py" | "$PY" -c '
import json, sys
runs = [json.loads(l) for l in sys.stdin if l.strip()]
print(max(r["tok_s_wall"] for r in runs), max(r["tok_s_cpu"] for r in runs))')"
    awk -v n="$name" -v p="$params" -v cw="$c_wall" -v pw="$p_wall" -v cc="$c_cpu" -v pc="$p_cpu" 'BEGIN {
        printf "%-8s %-10s %12.0f %12.0f %7.2fx   %12.0f %12.0f %7.2fx\n", n, p, cw, pw, cw / pw, cc, pc, cc / pc }'
    echo "$c" | sed -n 's/^\(prefill\|decode\|sampling\|compute\|roofline\):/    rlvr \1:/p'
    rm -rf "$d"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
