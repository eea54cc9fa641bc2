#!/usr/bin/env bash
# peers/run.sh — the same GRPO workload run by `rlvr train` and by TRL's GRPOTrainer on this CPU,
# one after the other ROUNDS times, then a table of step time, steps per hour, rollout tokens/s,
# update time and peak memory with the ratios (bench/peers/README.md says what is matched).
# Not part of CI: it needs the Python environment (scripts/venv.sh) and minutes to hours.
#
# Usage: bench/peers/run.sh [RLVR_BINARY]   (from the repository root; default build/rlvr)
# Environment: SHAPE demo|qwen05b (demo); STEPS per run, the first of each a warm-up left out of
#   the table (demo 6, qwen05b 3); ROUNDS of rlvr-then-TRL (demo 2, qwen05b 1); PROMPTS, GROUP, NEW
#   (demo 32, 8, 40 as configs/demo.json; qwen05b 2, 4, 32); THREADS (1); LR (2e-4, the demo's);
#   OUT (runs/peers/SHAPE: the model, the prompts, each run's metrics, table.md).
# Shapes: demo = configs/demo.json's model (D 64, 2 layers, 4 heads, tied, byte tokenizer), random
# weights as the demo makes them before SFT; qwen05b = bench/qwen05b_model.sh (Qwen2.5-0.5B's body,
# the Qwen tokenizer, random weights).
set -eu
BIN=$(realpath "${1:-build/rlvr}")
SHAPE=${SHAPE:-demo}
case $SHAPE in
demo) d_steps=6 d_rounds=2 d_prompts=32 d_group=8 d_new=40 ;;
qwen05b) d_steps=3 d_rounds=1 d_prompts=2 d_group=4 d_new=32 ;;
*) echo "peers/run.sh: SHAPE must be demo or qwen05b, got '$SHAPE'" >&2; exit 2 ;;
esac
STEPS=${STEPS:-$d_steps} ROUNDS=${ROUNDS:-$d_rounds} PROMPTS=${PROMPTS:-$d_prompts}
GROUP=${GROUP:-$d_group} NEW=${NEW:-$d_new} THREADS=${THREADS:-1} LR=${LR:-2e-4}
OUT=${OUT:-runs/peers/$SHAPE}
[ -x "$BIN" ] || { echo "peers/run.sh: no rlvr binary at $BIN (run scripts/build.sh)" >&2; exit 2; }
VPY=$(bash scripts/venv.sh)/bin/python
HERE=bench/peers
export OMP_NUM_THREADS=$THREADS OPENBLAS_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS

rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
if [ "$SHAPE" = demo ]; then
    "$BIN" init-model --arch qwen2 --out "$OUT/model" --hidden 64 --layers 2 --heads 4 --tie --seed 1 > /dev/null
else
    bench/qwen05b_model.sh "$BIN" "$OUT/model"
fi
"$VPY" $HERE/peers.py data "$OUT/prompts.jsonl" $((STEPS * PROMPTS)) 1
cat > "$OUT/cfg.json" <<JSON
{"run": {"seed": 1, "threads": $THREADS, "log_level": "warn"},
 "model": {"path": "$OUT/model", "chat_template": "none"},
 "data": {"source": "jsonl", "train_path": "$OUT/prompts.jsonl", "shuffle": false},
 "rollout": {"max_new_tokens": $NEW, "temperature": 1.0},
 "reward": {"verifier": "math"},
 "algo": {"estimator": "grpo", "kl": {"coef": 0}},
 "optim": {"lr": $LR, "weight_decay": 0, "grad_clip": 1},
 "train": {"steps": $STEPS, "prompts_per_step": $PROMPTS, "group_size": $GROUP, "save_every": 0}}
JSON
{
    echo "shape $SHAPE: $PROMPTS prompts x $GROUP samples, up to $NEW new tokens, $STEPS steps x $ROUNDS rounds, $THREADS thread(s), lr $LR"
    "$BIN" doctor 2>&1 | grep -i -E "^(rlvr|libtorch|cpu|blas)|chose" || true
    "$VPY" -c 'import trl, transformers, torch
print("trl", trl.__version__, "transformers", transformers.__version__, "torch", torch.__version__,
      "(BLAS: MKL)" if torch.backends.mkl.is_available() else "")'
    echo "$(getconf _NPROCESSORS_ONLN) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) at the start"
} | tee "$OUT/versions.txt"

for r in $(seq 1 "$ROUNDS"); do
    echo "peers/run.sh: round $r: rlvr train"
    mkdir -p "$OUT/$r-rlvr" "$OUT/$r-trl"
    "$VPY" $HERE/peers.py run rlvr "$OUT/$r-rlvr/run.json" "$OUT/$r-rlvr/rlvr-run/metrics.jsonl" -- \
        "$BIN" train "$OUT/cfg.json" --set run.dir="$OUT/$r-rlvr/rlvr-run"
    echo "peers/run.sh: round $r: TRL GRPOTrainer"
    "$VPY" $HERE/peers.py run trl "$OUT/$r-trl/run.json" "$OUT/$r-trl/trl-steps.jsonl" -- \
        "$VPY" $HERE/trl_grpo.py --model "$OUT/model" --data "$OUT/prompts.jsonl" --config "$OUT/cfg.json" \
        --rlvr "$BIN" --out "$OUT/$r-trl/trl-steps.jsonl" --workdir "$OUT/$r-trl/work" --steps "$STEPS" \
        --prompts "$PROMPTS" --group "$GROUP" --new "$NEW" --temperature 1.0 --lr "$LR" --threads "$THREADS" --seed 1
done
"$VPY" $HERE/peers.py table "$OUT" | tee "$OUT/table.md"
