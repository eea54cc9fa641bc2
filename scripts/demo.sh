#!/usr/bin/env bash
# demo — the whole loop on a CPU in minutes: a tiny Qwen2-style model learns the hybrid addition
# task of docs/TRAINING.md (Thinkless in miniature). It makes the model, warms it up with SFT on
# answers in both modes, evaluates, trains with DeGRPO, evaluates again, exports the result as a
# Hugging Face directory, and prints the before/after table. Everything lands in runs/demo (or $1).
set -euo pipefail
cd "$(dirname "$0")/.."
RLVR=${RLVR:-./build/rlvr}
out=${1:-runs/demo}
cfg=configs/demo.json
[ -x "$RLVR" ] || { echo "demo: $RLVR not found; run scripts/build.sh first" >&2; exit 1; }
rm -rf "$out"
mkdir -p "$out"
t0=$(date +%s)
"$RLVR" init-model --arch qwen2 --out "$out/init" --hidden 64 --layers 2 --heads 4 --tie --seed 1
"$RLVR" sft "$cfg" --set run.dir="$out/sft" --set model.path="$out/init"
"$RLVR" eval "$cfg" --set model.path="$out/sft/model" --out "$out/eval-before.json" > /dev/null
"$RLVR" train "$cfg" --set run.dir="$out/rl" --set model.path="$out/sft/model"
"$RLVR" eval "$cfg" --set model.path="$out/rl/model" --out "$out/eval-after.json" > /dev/null
"$RLVR" export "$(ls "$out"/rl/ckpt-*.h5 | sort | tail -1)" "$out/export"
/usr/bin/python3 - "$out/eval-before.json" "$out/eval-after.json" <<'PY'
import json, sys
b, a = (json.load(open(p)) for p in sys.argv[1:3])
print("\n%-26s %10s %10s" % ("test set (pass@1 = accuracy)", "after SFT", "after RL"))
for split in ("all", "easy", "hard"):
    for key, name in (("accuracy", "accuracy"), ("think_ratio", "think ratio"), ("length", "length (tokens)")):
        pick = lambda r: r[split] if split == "all" else r["groups"][split]
        print("%-26s %10.3f %10.3f" % ("%s %s" % (split, name), pick(b)[key], pick(a)[key]))
k = max(a["all"]["pass_at_k"], key=int)
print("%-26s %10.3f %10.3f" % ("all pass@%s" % k, b["all"]["pass_at_k"][k], a["all"]["pass_at_k"][k]))
PY
echo "demo: done in $(( $(date +%s) - t0 )) s; results in $out (eval-*.json, rl/metrics.jsonl, export/)"
