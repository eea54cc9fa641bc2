#!/usr/bin/env bash
# Step time of `rlvr train` with 1 and with 2 ranks on the same global batch, side by side:
# the mean seconds per step (and per phase) over the steps after the first, and the ratio.
# The two runs sample the same rollouts (the design's contract), so the comparison is like for
# like. Usage: bench/bench_train_steps.sh BUILD_DIR [STEPS] [PROMPTS] [GROUP] [HIDDEN]
set -euo pipefail
build=${1:?usage: bench/bench_train_steps.sh BUILD_DIR [STEPS] [PROMPTS] [GROUP] [HIDDEN]}
steps=${2:-6} prompts=${3:-16} group=${4:-8} hidden=${5:-128}
rlvr="$build/rlvr"
[ -x "$rlvr" ] || { echo "no $rlvr: build the project first" >&2; exit 1; }
mpirun=(mpirun --oversubscribe)
[ "$(id -u)" -eq 0 ] && mpirun+=(--allow-run-as-root)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
"$rlvr" init-model --arch qwen2 --out "$out/m" --hidden "$hidden" --layers 4 --heads 4 --tie >/dev/null
cat > "$out/cfg.json" <<JSON
{"run": {"log_level": "warn"}, "model": {"path": "$out/m", "chat_template": "none"},
 "data": {"source": "addition"}, "rollout": {"max_new_tokens": 32},
 "reward": {"verifier": "math", "cosine": {"weight": 1, "max_len": 32}},
 "train": {"steps": $steps, "prompts_per_step": $prompts, "group_size": $group, "save_every": 0}}
JSON
"$rlvr" train "$out/cfg.json" --set run.dir="$out/r1"
"${mpirun[@]}" -np 2 "$rlvr" train "$out/cfg.json" --set run.dir="$out/r2"
echo "rlvr train: $prompts prompts x $group samples per step, D $hidden, 4 layers, $steps steps (first left out)"
/usr/bin/python3 - "$out/r1/metrics.jsonl" "$out/r2/metrics.jsonl" <<'PY'
import json, sys
def mean(path, key):
    rows = [json.loads(l) for l in open(path)][1:]
    return sum(r[key] for r in rows) / len(rows)
print("%-10s %10s %10s %8s" % ("seconds", "1 rank", "2 ranks", "2r/1r"))
for key in ("rollout_s", "train_s", "step_s"):
    a, b = mean(sys.argv[1], key), mean(sys.argv[2], key)
    print("%-10s %10.3f %10.3f %8.2f" % (key, a, b, b / a))
PY
