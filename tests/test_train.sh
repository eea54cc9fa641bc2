#!/usr/bin/env bash
# test_train — `rlvr sft`, `rlvr train`, `rlvr eval` and `rlvr export` end to end on a tiny model
# and the built-in addition task: the determinism contract (two runs give identical metrics and
# weights), exact resume (N steps = k steps + resume + N-k steps, bit for bit), micro-batch
# invariance within rounding, export round trip, SFT learning, and every bad input's message.
set -u
RLVR=${RLVR_BIN:?set RLVR_BIN to the rlvr binary}
SRC=${RLVR_SRC:-.}
PY=/usr/bin/python3
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*" >&2; }
expect() { # STATUS FRAGMENT -- CMD...
  local want=$1 frag=$2; shift 3
  local out status
  out=$("$@" 2>&1); status=$?
  if [ "$status" -ne "$want" ]; then bad "'$*' exited $status, expected $want: $(echo "$out" | tail -3)"; return; fi
  if [[ "$out" != *"$frag"* ]]; then bad "'$*' output lacks '$frag': $(echo "$out" | tail -3)"; return; fi
  ok
}
# metrics lines without the timing fields
metrics() { sed -E 's/"(gen_tok_s|train_tok_s|rollout_s|reward_s|train_s|step_s|tokens_per_s)": [0-9.e+-]+//g' "$1"; }
same_weights() { cmp -s "$1/model.safetensors" "$2/model.safetensors"; }
# max |a - b| over every tensor of two model directories, printed
weight_diff() {
  $PY - "$1/model.safetensors" "$2/model.safetensors" <<'PYEOF'
import json, struct, sys
import numpy as np
def read(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); base = 8 + n
    return {k: np.frombuffer(b[base + v["data_offsets"][0]:base + v["data_offsets"][1]], dtype=np.float32)
            for k, v in h.items() if k != "__metadata__"}
a, b = read(sys.argv[1]), read(sys.argv[2])
assert a.keys() == b.keys()
print(max(float(np.max(np.abs(a[k] - b[k]))) for k in a))
PYEOF
}

# The fp32 rounding bound of tests/test_rollout.c on the log-prob gap between the sampler and the
# trainer, 4 (2L + 1) gamma_D max_j |w_j|_2 max|g| sqrt(D), the largest over the model directories.
lp_bound() {
  $PY - "$@" <<'PYEOF'
import json, struct, sys
import numpy as np
worst = 0
for d in sys.argv[1:]:
    b = open(d + "/model.safetensors", "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    t = lambda k: np.frombuffer(b[8 + n + h[k]["data_offsets"][0]:8 + n + h[k]["data_offsets"][1]], np.float32).astype(np.float64).reshape(h[k]["shape"])
    c = json.load(open(d + "/config.json"))
    D, L = c["hidden_size"], c["num_hidden_layers"]
    w = t("lm_head.weight" if "lm_head.weight" in h else "model.embed_tokens.weight")
    u = 2.0 ** -24; gamma = D * u / (1 - D * u)
    eps = gamma * np.sqrt((w * w).sum(1)).max() * np.abs(t("model.norm.weight")).max() * np.sqrt(D)
    worst = max(worst, 4 * (2 * L + 1) * eps)
print(worst)
PYEOF
}

"$RLVR" init-model --arch qwen2 --out "$tmp/init" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --tie --seed 3 >/dev/null || bad "init-model"
cat > "$tmp/cfg.json" <<JSON
{
  "run": {"dir": "$tmp/run", "seed": 5},
  "model": {"path": "$tmp/init", "chat_template": "none"},
  "data": {"source": "addition", "train_size": 256, "test_size": 32},
  "sft": {"steps": 40, "batch_size": 32, "lr": 3e-3, "warmup_steps": 5},
  "rollout": {"max_new_tokens": 24},
  "reward": {"verifier": "math", "accuracy": {"weight": 0}, "thinkless": {"weight": 1}},
  "algo": {"estimator": "degrpo", "degrpo": {"alpha": 1.0}},
  "optim": {"lr": 1e-3, "weight_decay": 0.01},
  "train": {"steps": 4, "prompts_per_step": 4, "group_size": 4, "save_every": 2, "keep_last": 3},
  "eval": {"problems": 16, "samples": 4}
}
JSON

# ---- SFT learns: the loss of the last steps is well below the first ----
expect 0 "model written to $tmp/sft/model" -- "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/sft"
first=$(head -1 "$tmp/sft/metrics.jsonl" | sed -E 's/.*"loss": ([0-9.]+).*/\1/')
last=$(tail -1 "$tmp/sft/metrics.jsonl" | sed -E 's/.*"loss": ([0-9.]+).*/\1/')
$PY -c "import sys; sys.exit(0 if $last < 0.8 * $first else 1)" && ok || bad "SFT loss $first -> $last did not fall"
MODEL="$tmp/sft/model"

# ---- determinism: the same config twice gives identical metrics and weights ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/a" --set model.path="$MODEL"
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/b" --set model.path="$MODEL"
[ "$(wc -l < "$tmp/a/metrics.jsonl")" -eq 4 ] && ok || bad "expected 4 metrics lines"
diff <(metrics "$tmp/a/metrics.jsonl") <(metrics "$tmp/b/metrics.jsonl") >/dev/null && ok || bad "two runs' metrics differ"
same_weights "$tmp/a/model" "$tmp/b/model" && ok || bad "two runs' weights differ"
! same_weights "$tmp/a/model" "$MODEL" && ok || bad "training did not change the weights"
grep -q '"logprob_gap_max": [0-9.e-]*' "$tmp/a/metrics.jsonl" && ok || bad "no log-prob gap metric"
gap=$(sed -E 's/.*"logprob_gap_max": ([0-9.e+-]+).*/\1/' "$tmp/a/metrics.jsonl" | sort -g | tail -1)
bound=$(lp_bound "$MODEL" "$tmp/a/model")
$PY -c "import sys; sys.exit(0 if 0 < $gap <= $bound else 1)" && ok || bad "rollout vs trainer log-prob gap $gap, fp32 rounding bound $bound"
ls "$tmp/a"/ckpt-*.h5 >/dev/null 2>&1 && [ -f "$tmp/a/rollouts.h5" ] && [ -f "$tmp/a/config.json" ] && ok || bad "run dir lacks checkpoints, rollout log or config"

# ---- exact resume: 2 steps, stop, resume to 4 == 4 straight ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/r" --set model.path="$MODEL" --set train.steps=2
expect 0 "resumed from" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/r" --set model.path="$MODEL" --set train.steps=4
same_weights "$tmp/a/model" "$tmp/r/model" && ok || bad "2 + resume + 2 steps differ from 4 steps"
diff <(metrics "$tmp/a/metrics.jsonl") <(metrics "$tmp/r/metrics.jsonl") >/dev/null && ok || bad "resumed metrics differ"
expect 1 "already at step 4 of train.steps 4" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/r" --set model.path="$MODEL"
expect 1 "already holds checkpoints" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/r" --set model.path="$MODEL" --set train.resume=never --set train.steps=6

# ---- micro-batches and mini-batches: the same update within rounding ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/m" --set model.path="$MODEL" --set train.micro_batch_tokens=60
d=$(weight_diff "$tmp/a/model" "$tmp/m/model")
$PY -c "import sys; sys.exit(0 if $d < 1e-5 else 1)" && ok || bad "micro-batching changed the weights by $d"

# ---- KL to the frozen reference and the entropy bonus take part in the update ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/kl" --set model.path="$MODEL" \
  --set algo.kl.coef=0.5 --set algo.entropy_coef=0.01 --set algo.estimator=grpo --set reward.accuracy.weight=1 \
  --set reward.cosine.weight=1 --set reward.cosine.max_len=24
$PY - "$tmp/kl/metrics.jsonl" <<'PYEOF' && ok || bad "KL/entropy metrics are not what a reference model gives"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert rows[0]["kl"] < 1e-9, rows[0]["kl"]          # step 1: the policy is the reference
assert any(r["kl"] > 1e-9 for r in rows[1:]), [r["kl"] for r in rows]
assert all(r["entropy"] > 0 for r in rows)
PYEOF
! same_weights "$tmp/kl/model" "$tmp/a/model" && ok || bad "KL and entropy terms changed nothing"

# ---- DAPO dynamic sampling: a step draws again until every group's rewards differ ----
DS=(--set algo.dynamic_sampling.enabled=true --set algo.dynamic_sampling.metric=reward --set reward.cosine.weight=1 --set reward.cosine.max_len=24)
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/ds" --set model.path="$MODEL" "${DS[@]}"
$PY - "$tmp/ds/metrics.jsonl" <<'PYEOF' && ok || bad "dynamic sampling metrics are inconsistent"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 4
for r in rows:
    assert r["draws"] >= 1 and (r["zero_std_groups"] == 0 or r["draws"] >= 2), r
    assert r["reward_std"] > 0, r
PYEOF
expect 1 "only 0 of 4 prompts had differing accuracy after 3 generation batches" -- "$RLVR" train "$tmp/cfg.json" \
  --set run.dir="$tmp/ds2" --set model.path="$tmp/init" --set algo.dynamic_sampling.enabled=true --set algo.dynamic_sampling.max_draws=3

# ---- advantages after the filter: the batch std is over the kept groups only (verl) ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/dsb" --set model.path="$MODEL" "${DS[@]}" \
  --set algo.estimator=batch
$PY - "$tmp/dsb/rollouts.h5" <<'PYEOF' && ok || bad "dynamic sampling's batch-std advantages include dropped groups"
import sys
import h5py, numpy as np
c = h5py.File(sys.argv[1])["completions"]
step, r, a = c["step"][()], c["reward"][()], c["advantage"][()]
assert len(set(step.tolist())) == 4
for s in set(step.tolist()):
    rs, as_ = r[step == s].reshape(-1, 4), a[step == s].reshape(-1, 4)
    want = (rs - rs.mean(1, keepdims=True)) / (rs.std(ddof=1) + 1e-4)
    assert np.allclose(as_, want, rtol=0, atol=1e-9), (s, as_, want)
PYEOF

# ---- mini-batches inside epochs (verl, TRL): epoch 0 sees every mini-batch before epoch 1 ----
out=$("$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/ep" --set model.path="$MODEL" --set train.steps=1 \
  --set train.epochs=2 --set train.mini_batches=2 --set run.log_level=debug 2>&1)
order=$(echo "$out" | sed -n -E 's/.*step 1: (epoch [0-9]+ mini-batch [0-9]+):.*/\1/p' | tr '\n' ';')
[ "$order" = "epoch 0 mini-batch 0;epoch 0 mini-batch 1;epoch 1 mini-batch 0;epoch 1 mini-batch 1;" ] && ok || bad "update order: $order"
grep -q '"updates": 4, "skipped": 0, "empty_updates": 0' "$tmp/ep/metrics.jsonl" && ok || bad "4 updates not counted: $(cat "$tmp/ep/metrics.jsonl")"

# ---- the LR schedule counts optimiser steps, or RL steps (optim.schedule_unit) ----
for unit in optimizer_step rl_step; do
  expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/lr-$unit" --set model.path="$MODEL" \
    --set train.mini_batches=2 --set optim.warmup_steps=4 --set optim.schedule_unit=$unit
done
lrs() { sed -E 's/.*"lr": ([0-9.e+-]+).*/\1/' "$1" | tr '\n' ' '; }
[ "$(lrs "$tmp/lr-optimizer_step/metrics.jsonl")" = "0.0005 0.001 0.001 0.001 " ] && ok || bad "optimiser-step schedule: $(lrs "$tmp/lr-optimizer_step/metrics.jsonl")"
[ "$(lrs "$tmp/lr-rl_step/metrics.jsonl")" = "0.00025 0.0005 0.00075 0.001 " ] && ok || bad "RL-step schedule: $(lrs "$tmp/lr-rl_step/metrics.jsonl")"

# ---- PSR with no correct completion: no update at all (ALGORITHMS.md 6), the weights stay ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/psr" --set model.path="$tmp/init" \
  --set algo.estimator=psr --set train.steps=2 --set train.mini_batches=2
grep -c '"updates": 0, "skipped": 0, "empty_updates": 2' "$tmp/psr/metrics.jsonl" | grep -qx 2 && ok || bad "PSR empty steps: $(cat "$tmp/psr/metrics.jsonl")"
[ "$(weight_diff "$tmp/init" "$tmp/psr/model")" = "0.0" ] && ok || bad "PSR without a correct sample moved the weights"

# ---- export: the checkpoint as a HF directory scores like the run's own model ----
ck=$(ls "$tmp/a"/ckpt-*.h5 | sort | tail -1)
expect 0 "exported" -- "$RLVR" export "$ck" "$tmp/exp"
for f in config.json model.safetensors tokenizer.json tokenizer_config.json generation_config.json; do
  [ -f "$tmp/exp/$f" ] && ok || bad "export lacks $f"
done
echo '{"text": "0012+0034=<think>2460;1340;</think>46"}' > "$tmp/s.jsonl"
"$RLVR" score --model "$tmp/a/model" < "$tmp/s.jsonl" > "$tmp/s1" 2>/dev/null
"$RLVR" score --model "$tmp/exp" < "$tmp/s.jsonl" > "$tmp/s2" 2>/dev/null
[ -s "$tmp/s1" ] && cmp -s "$tmp/s1" "$tmp/s2" && ok || bad "exported model scores differently"

# ---- eval: the report has what it promises ----
out=$("$RLVR" eval "$tmp/cfg.json" --set model.path="$tmp/a/model" --out "$tmp/ev.json" 2>&1)
[ -f "$tmp/ev.json" ] && ok || bad "eval wrote no report: $out"
for key in '"pass_at_k"' '"majority_at_k"' '"accuracy"' '"think_ratio"' '"groups"' '"easy"' '"hard"' '"4":'; do
  grep -q "$key" "$tmp/ev.json" && ok || bad "eval report lacks $key"
done

# ---- train.eval_every appends test-set reports during training ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/ev" --set model.path="$MODEL" \
  --set train.eval_every=2 --set eval.problems=8 --set eval.samples=2
$PY - "$tmp/ev/eval.jsonl" <<'PYEOF' && ok || bad "eval.jsonl is not one report per 2 steps"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows] == [2, 4], rows
assert all(r["eval"]["all"]["problems"] == 8 and "1" in r["eval"]["all"]["pass_at_k"] for r in rows)
PYEOF

# ---- bad input ----
expect 1 "train.prompts_per_step (4) must be a multiple of train.mini_batches (3)" -- \
  "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/x1" --set train.mini_batches=3
expect 1 "model.path is not set" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/x2" --set model.path=
expect 1 "cannot open" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/x3" --set model.path="$tmp/nope"
printf '{"prompt": "1+1=", "answer": "2"}\nnot json\n' > "$tmp/bad.jsonl"
expect 1 "bad.jsonl:2" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/x4" --set data.source=jsonl --set data.train_path="$tmp/bad.jsonl"
: > "$tmp/empty.jsonl"
expect 1 "empty.jsonl" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/x5" --set data.source=jsonl --set data.train_path="$tmp/empty.jsonl"
"$RLVR" init-model --arch qwen2 --out "$tmp/other" --hidden 48 --layers 2 --heads 4 --tie >/dev/null
expect 1 "architecture" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/a" --set model.path="$tmp/other" --set train.steps=6
expect 1 "missing config file" -- "$RLVR" train
expect 2 "unexpected argument 'extra'" -- "$RLVR" train "$tmp/cfg.json" extra
expect 1 "none.h5': No such file" -- "$RLVR" export "$tmp/none.h5" "$tmp/e2"

# ---- a signal stops the run at a step boundary with a checkpoint ----
"$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/sig" --set model.path="$MODEL" --set train.steps=100000 --set train.save_every=0 > "$tmp/sig.log" 2>&1 &
pid=$!
for _ in $(seq 100); do [ -s "$tmp/sig/metrics.jsonl" ] && break; sleep 0.1; done
kill -INT $pid
wait $pid; status=$?
[ $status -eq 0 ] && grep -q "stopping at step" "$tmp/sig.log" && ls "$tmp/sig"/ckpt-*.h5 >/dev/null 2>&1 && ok \
  || bad "SIGINT: status $status, $(tail -2 "$tmp/sig.log")"

echo "test_train: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
