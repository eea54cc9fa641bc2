#!/usr/bin/env bash
# test_metrics_json — metrics.jsonl stays strict JSON whatever the numbers do: an SFT run driven to
# NaN by a huge learning rate writes null where the loss and gradient norm are not finite, and an
# RL run whose external reward command answers 1e999, -1e999 and NaN, or writes two replies for a
# request, scores those completions with failure_score (counted as malformed or mismatched) and
# keeps training with finite rewards. Every line is parsed by Python's json with NaN and Infinity
# refused.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# strict FILE CHECK: every line of FILE is a JSON object without NaN or Infinity, and the Python
# expression CHECK holds over the list `rows`
strict() {
  $PY - "$1" "$2" <<'PYEOF'
import json, sys
def refuse(name):
    raise ValueError("non-JSON constant " + name)
rows = [json.loads(line, parse_constant=refuse) for line in open(sys.argv[1])]
assert rows, "no metrics lines"
assert eval("(" + sys.argv[2] + ")"), rows
PYEOF
}

"$RLVR" init-model --arch qwen2 --out "$tmp/init" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --tie --seed 3 >/dev/null \
  || bad "init-model"
cat > "$tmp/cfg.json" <<JSON
{
  "run": {"dir": "$tmp/run", "seed": 5},
  "model": {"path": "$tmp/init", "chat_template": "none"},
  "data": {"source": "addition", "train_size": 64, "test_size": 8},
  "sft": {"steps": 4, "batch_size": 8, "lr": 1e30, "warmup_steps": 0},
  "rollout": {"max_new_tokens": 6},
  "reward": {"accuracy": {"weight": 0}},
  "train": {"steps": 3, "prompts_per_step": 2, "group_size": 4}
}
JSON

# ---- SFT diverges: the NaN loss and gradient norm are written as null ----
if "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/sft" > "$tmp/sft.log" 2>&1; then ok
else bad "sft exited non-zero: $(tail -2 "$tmp/sft.log")"; fi
strict "$tmp/sft/metrics.jsonl" \
  'len(rows) == 4 and any(r["loss"] is None and r["grad_norm"] is None and r["skipped"] == 1 for r in rows)' \
  && ok || bad "sft metrics.jsonl is not strict JSON with null for the NaN loss"

# ---- RL with a reward command that answers non-finite scores and drifts out of step ----
# It answers by the completion's first byte so that each kind of bad reply comes up in 8
# completions a step: inf, -inf, NaN (Python's NaN literal), two replies, or a good score.
cat > "$tmp/reward.py" <<'PYEOF'
import json, sys
for line in sys.stdin:
    req = json.loads(line)
    i, kind = req["id"], ord((req["completion"] or " ")[0]) % 5
    if kind == 0: out = '{"id": %d, "score": 1e999}' % i
    elif kind == 1: out = '{"id": %d, "score": -1e999}' % i
    elif kind == 2: out = json.dumps({"id": i, "score": float("nan")})
    elif kind == 3: out = '{"id": %d, "score": 0.5}\n{"id": %d, "score": 0.5}' % (i, i)
    else: out = '{"id": %d, "score": %g}' % (i, len(req["completion"]) / 10)
    sys.stdout.write(out + "\n")
    sys.stdout.flush()
PYEOF
if "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/rl" --set reward.external.weight=1 \
     --set "reward.external.command=[\"$PY\", \"$tmp/reward.py\"]" --set reward.external.failure_score=-1 \
     > "$tmp/rl.log" 2>&1; then ok
else bad "train exited non-zero: $(tail -2 "$tmp/rl.log")"; fi
# (the reward/external_* counters are totals since the start)
strict "$tmp/rl/metrics.jsonl" '
len(rows) == 3 and all(r["skipped"] == 0 and -1 <= r["reward"] <= 1 for r in rows) and
rows[-1]["reward/external_malformed"] > 0 and rows[-1]["reward/external_mismatched"] > 0 and
rows[-1]["reward/external_failures"] ==
    rows[-1]["reward/external_malformed"] + rows[-1]["reward/external_mismatched"]' \
  && ok || bad "rl metrics.jsonl: not strict JSON, or bad replies not counted: $(cat "$tmp/rl/metrics.jsonl")"

finish test_metrics_json
