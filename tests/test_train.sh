#!/usr/bin/env bash
# test_train — `rlvr sft`, `rlvr train`, `rlvr eval` and `rlvr export` end to end on a tiny model
# and the built-in addition task: the determinism contract (two runs give identical metrics and
# weights), exact resume (N steps = k steps + resume + N-k steps, bit for bit), micro-batch
# invariance within rounding, export round trip, SFT learning, and every bad input's message;
# damaged checkpoints (resume falls back to the newest that verifies), crash windows (kill -9
# between steps, a finish without model/, a stop on a save step), a full disk at several fill
# levels (a real tmpfs) for train and sft, and export / init-model refusing a non-empty directory.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cleanup() { umount "$tmp/disk" 2>/dev/null; }
# metrics lines without the timing fields
same_weights() { cmp -s "$1/model.safetensors" "$2/model.safetensors"; }
# XOR 16 bytes in the middle of a checkpoint item's data (as a bad disk or a stray write would)
flip16() {
  $PY - "$1" "$2" <<'PYEOF'
import sys
import h5py
path, item = sys.argv[1], sys.argv[2]
with h5py.File(path, "r") as f:
    at = f[item].id.get_offset() + 16
with open(path, "r+b") as fp:
    fp.seek(at)
    b = fp.read(16)
    fp.seek(at)
    fp.write(bytes(x ^ 0x5A for x in b))
PYEOF
}
steps_of() { sed -E 's/^\{"step": ([0-9]+).*/\1/' "$1" | tr '\n' ' '; }
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
# every start records its build, libraries and machine; refused starts record nothing
want_commit=$(git -C "$SRC" rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
/usr/bin/python3 - "$tmp/r/environment.jsonl" "$want_commit" "$(nproc)" <<'PY' && ok || bad "environment.jsonl: see above"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
steps = [l["step"] for l in lines]
assert steps == [0, 2], f"starts recorded at steps {steps}, expected [0, 2]"
for l in lines:
    assert l["commit"].removesuffix("-dirty") == sys.argv[2], f"commit {l['commit']}, source tree at {sys.argv[2]}"
    assert l["machine"]["cores"] == int(sys.argv[3]), l["machine"]
    assert " train " in l["command"] and l["world_size"] == 1, l
    for k in ("libtorch", "libtorch_path", "blas", "mpi", "nccl", "hdf5", "cjson", "pcre2", "utf8proc", "zlib"):
        assert l["libraries"][k] and l["libraries"][k] != "unknown", (k, l["libraries"])
    assert l["machine"]["cpu"] and l["machine"]["memory_gib"] > 0, l["machine"]
PY

# ---- damaged checkpoints: resume takes the newest that verifies, says so, deletes nothing ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/s6" --set model.path="$MODEL" --set train.steps=6
for item in model/model.embed_tokens.weight optim/model.embed_tokens.weight.exp_avg data/cursor; do
  d="$tmp/dmg-${item%%/*}"; cp -r "$tmp/a" "$d"   # checkpoints of steps 2 and 4, model/, metrics
  flip16 "$d/ckpt-00000004.h5" "$item"
  out=$("$RLVR" train "$tmp/cfg.json" --set run.dir="$d" --set model.path="$MODEL" --set train.steps=6 2>&1); status=$?
  if [ $status -eq 0 ] && [[ "$out" == *"ckpt-00000004.h5' is damaged: its bytes have CRC-32"* ]] &&
     [[ "$out" == *"resumed from $d/ckpt-00000002.h5, the newest checkpoint that verifies"* ]]; then ok
  else bad "damaged $item: status $status: $(echo "$out" | grep -v ' step ' | tail -4)"; fi
  [ -f "$d/ckpt-00000004.h5.damaged" ] && [ -f "$d/ckpt-00000002.h5" ] && [ -f "$d/ckpt-00000006.h5" ] && ok \
    || bad "damaged $item: checkpoints left: $(ls "$d" | tr '\n' ' ')"
  same_weights "$d/model" "$tmp/s6/model" && ok || bad "damaged $item: the run from step 2 differs from a straight one"
  diff <(metrics "$d/metrics.jsonl") <(metrics "$tmp/s6/metrics.jsonl") >/dev/null && ok \
    || bad "damaged $item: metrics steps $(steps_of "$d/metrics.jsonl")"
done
expect 1 "is damaged: its bytes have CRC-32" -- "$RLVR" export "$tmp/dmg-model/ckpt-00000004.h5.damaged" "$tmp/xdmg"
[ ! -e "$tmp/xdmg" ] && ok || bad "a failed export left $tmp/xdmg"
d="$tmp/dmg2"; cp -r "$tmp/a" "$d"
flip16 "$d/ckpt-00000002.h5" model/model.norm.weight
flip16 "$d/ckpt-00000004.h5" optim/model.norm.weight.exp_avg_sq
cp "$d/config.json" "$tmp/config.before"
expect 1 "has 2 checkpoints and none verifies (the newest: checkpoint '$d/ckpt-00000004.h5' is damaged" -- \
  "$RLVR" train "$tmp/cfg.json" --set run.dir="$d" --set model.path="$MODEL" --set train.steps=6 --set optim.lr=5e-4
cmp -s "$d/config.json" "$tmp/config.before" && ok || bad "a failed resume rewrote config.json"
[ -f "$d/ckpt-00000002.h5" ] && [ -f "$d/ckpt-00000004.h5" ] && ok || bad "a failed resume moved checkpoints: $(ls "$d")"
expect 1 "is damaged: its bytes have CRC-32" -- "$RLVR" export "$d/ckpt-00000004.h5" "$tmp/xopt" # the seal covers every byte

# ---- crash windows ----
# killed after the final checkpoint, before model/ was in place (the state such a kill leaves):
# the rerun writes model/ from the checkpoint, writes no checkpoint, and then has nothing to do
d="$tmp/fin"; cp -r "$tmp/a" "$d"; rm -rf "$d/model"
out=$("$RLVR" train "$tmp/cfg.json" --set run.dir="$d" --set model.path="$MODEL" 2>&1); status=$?
[ $status -eq 0 ] && [[ "$out" == *"model written to $d/model"* ]] && [[ "$out" != *"checkpoint $d"* ]] && ok \
  || bad "finishing without model/: status $status: $(echo "$out" | tail -3)"
same_weights "$d/model" "$tmp/a/model" && ok || bad "the model/ written on finishing differs"
expect 1 "already at step 4 of train.steps 4" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$d" --set model.path="$MODEL"
# a model/ older than the final checkpoint is that of an earlier, shorter run: it is replaced
d="$tmp/fin2"; cp -r "$tmp/a" "$d"; rm -rf "$d/model"; cp -r "$MODEL" "$d/model"; touch -d '1 hour ago' "$d/model/config.json"
expect 0 "model written to $d/model" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$d" --set model.path="$MODEL"
same_weights "$d/model" "$tmp/a/model" && ok || bad "a stale model/ was kept"
d="$tmp/sfin"; cp -r "$tmp/sft" "$d"; rm -rf "$d/model"
expect 0 "model written to $d/model" -- "$RLVR" sft "$tmp/cfg.json" --set run.dir="$d"
same_weights "$d/model" "$tmp/sft/model" && ok || bad "the SFT model/ written on finishing differs"
expect 1 "already at step 40 of sft.steps 40" -- "$RLVR" sft "$tmp/cfg.json" --set run.dir="$d"

# kill -9 between checkpoints (step 5, 6 or 7 logged, the checkpoint of step 4 the newest): the
# resumed run cuts metrics.jsonl back to step 4 and ends as a straight run does
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/s8" --set model.path="$MODEL" --set train.steps=8
KILL=(--set model.path="$MODEL" --set train.steps=8 --set train.save_every=4)
hit=0
for try in 1 2 3 4 5 6 7 8; do
  rm -rf "$tmp/k"
  "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/k" "${KILL[@]}" > "$tmp/k.log" 2>&1 &
  pid=$!
  while kill -0 $pid 2>/dev/null; do
    if [ -f "$tmp/k/ckpt-00000004.h5" ] && [ "$(wc -l < "$tmp/k/metrics.jsonl")" -ge 5 ]; then kill -9 $pid; break; fi
    sleep 0.005
  done
  wait $pid 2>/dev/null
  n=$(wc -l < "$tmp/k/metrics.jsonl")
  if [ "$n" -ge 5 ] && [ ! -e "$tmp/k/ckpt-00000008.h5" ]; then hit=1; break; fi
done
[ $hit -eq 1 ] && ok || bad "no kill landed between the checkpoints of steps 4 and 8 in 8 tries"
echo "killed with steps $(steps_of "$tmp/k/metrics.jsonl")logged (try $try)"
expect 0 "resumed from $tmp/k/ckpt-00000004.h5" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/k" "${KILL[@]}"
[ "$(steps_of "$tmp/k/metrics.jsonl")" = "1 2 3 4 5 6 7 8 " ] && ok || bad "metrics steps after kill and resume: $(steps_of "$tmp/k/metrics.jsonl")"
diff <(metrics "$tmp/k/metrics.jsonl") <(metrics "$tmp/s8/metrics.jsonl") >/dev/null && ok || bad "metrics after kill and resume differ"
same_weights "$tmp/k/model" "$tmp/s8/model" && ok || bad "weights after kill and resume differ"

# a stop that falls on a save_every step writes that checkpoint once (train and sft)
for job in train sft; do
  "$RLVR" $job "$tmp/cfg.json" --set run.dir="$tmp/st-$job" --set model.path="$MODEL" --set train.steps=100000 \
    --set sft.steps=100000 --set train.save_every=1 --set sft.save_every=1 > "$tmp/st-$job.log" 2>&1 &
  pid=$!
  # a background job of a script ignores SIGINT until the run installs its handler, which is before
  # its first step: wait for steps (slow under sanitizers), or the signal is lost
  for _ in $(seq 3000); do [ -f "$tmp/st-$job/metrics.jsonl" ] && [ "$(wc -l < "$tmp/st-$job/metrics.jsonl")" -ge 3 ] && break; sleep 0.1; done
  kill -INT $pid
  wait $pid; status=$?
  twice=$(grep -o "checkpoint $tmp/st-$job/ckpt-[0-9]*.h5" "$tmp/st-$job.log" | sort | uniq -d)
  [ $status -eq 0 ] && [ -z "$twice" ] && grep -q "checkpoint $tmp/st-$job/ckpt" "$tmp/st-$job.log" && ok \
    || bad "$job stopped on a save step: status $status, written twice: $twice"
done

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

# ---- export and init-model refuse a non-empty directory; --force replaces it whole ----
touch "$tmp/exp/stale.bin"; cp "$tmp/exp/config.json" "$tmp/exp.config"
expect 1 "export: '$tmp/exp' is not empty: pass --force to replace it whole" -- "$RLVR" export "$ck" "$tmp/exp"
[ -f "$tmp/exp/stale.bin" ] && cmp -s "$tmp/exp/config.json" "$tmp/exp.config" && ok || bad "a refused export touched the directory"
expect 0 "exported" -- "$RLVR" export "$ck" "$tmp/exp" --force
[ ! -e "$tmp/exp/stale.bin" ] && [ -f "$tmp/exp/model.safetensors" ] && ok || bad "export --force kept a stale file: $(ls "$tmp/exp")"
expect 2 "usage: rlvr export" -- "$RLVR" export "$ck" "$tmp/exp" --forced
INIT=(init-model --arch qwen2 --hidden 32 --layers 1 --heads 4 --tie --seed 9)
"$RLVR" "${INIT[@]}" --out "$tmp/im" --shard-mb 1 >/dev/null && touch "$tmp/im/notes.txt" && ok || bad "init-model"
expect 1 "--out: '$tmp/im' is not empty: pass --force to replace it whole" -- "$RLVR" "${INIT[@]}" --out "$tmp/im"
[ -f "$tmp/im/notes.txt" ] && ok || bad "a refused init-model touched the directory"
expect 0 "wrote $tmp/im" -- "$RLVR" "${INIT[@]}" --out "$tmp/im" --force
[ "$(ls "$tmp/im" | tr '\n' ' ')" = "config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json " ] \
  && ok || bad "init-model --force left: $(ls "$tmp/im" | tr '\n' ' ')"
[ -z "$(ls -d "$tmp"/*.tmp-* 2>/dev/null)" ] && ok || bad "staging directories left: $(ls -d "$tmp"/*.tmp-*)"

# ---- eval: the report has what it promises ----
out=$("$RLVR" eval "$tmp/cfg.json" --set model.path="$tmp/a/model" --out "$tmp/ev.json" 2>&1)
[ -f "$tmp/ev.json" ] && ok || bad "eval wrote no report: $out"
for key in '"pass_at_k"' '"majority_at_k"' '"accuracy"' '"think_ratio"' '"groups"' '"easy"' '"hard"' '"4":'; do
  grep -q "$key" "$tmp/ev.json" && ok || bad "eval report lacks $key"
done
# a numeric difficulty (countdown's count of numbers) groups as well as a string one
expect 0 "" -- "$RLVR" eval "$tmp/cfg.json" --set model.path="$tmp/a/model" --set data.source=countdown \
  --set reward.verifier=countdown --set eval.problems=16 --set eval.samples=1 --out "$tmp/ev-cd.json"
$PY - "$tmp/ev-cd.json" <<'PYEOF' && ok || bad "countdown's eval has no per-difficulty groups: $(cat "$tmp/ev-cd.json")"
import json, sys
g = json.load(open(sys.argv[1]))["groups"]
assert set(g) == {"3", "4"} and g["3"]["problems"] + g["4"]["problems"] == 16, sorted(g)
PYEOF

# ---- train.eval_every appends test-set reports during training, from a step-0 baseline ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/ev" --set model.path="$MODEL" \
  --set train.eval_every=2 --set eval.problems=8 --set eval.samples=2
$PY - "$tmp/ev/eval.jsonl" <<'PYEOF' && ok || bad "eval.jsonl is not one report per 2 steps"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["step"] for r in rows] == [0, 2, 4], rows
assert all(r["eval"]["all"]["problems"] == 8 and "1" in r["eval"]["all"]["pass_at_k"] for r in rows)
PYEOF
# a resumed run goes on from its checkpoint without a second baseline
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/ev" --set model.path="$MODEL" \
  --set train.eval_every=2 --set eval.problems=8 --set eval.samples=2 --set train.steps=6
steps=$(steps_of "$tmp/ev/eval.jsonl")
[ "$steps" = "0 2 4 6 " ] && ok || bad "resumed eval.jsonl has steps '$steps', expected '0 2 4 6'"

# ---- a full disk (a real tmpfs, filled to several levels down to 0 bytes free): one clear error
# naming the file and the cause, exit 1, the earlier checkpoint intact; once space is freed the
# run resumes and ends as a straight run does ----
mkdir -p "$tmp/disk"
if mount -t tmpfs -o size=3m tmpfs "$tmp/disk" 2>/dev/null; then
  # leave $1 bytes free on the tmpfs (0: fill until a write fails)
  fill() {
    $PY - "$tmp/disk/filler" "$1" <<'PYEOF'
import os, sys
path, left = sys.argv[1], int(sys.argv[2])
page = bytes(4096)
with open(path, "wb") as f:
    try:
        while True:
            v = os.statvfs(os.path.dirname(path))
            if v.f_bavail * v.f_frsize <= left:
                break
            f.write(page)
            f.flush()
    except OSError:
        pass
v = os.statvfs(os.path.dirname(path))
print(v.f_bavail * v.f_frsize)
PYEOF
  }
  FULL=(--set run.dir="$tmp/disk/run" --set model.path="$MODEL")
  for left in 0 16384 131072 393216 573440; do
    rm -rf "$tmp/disk/run" "$tmp/disk/filler"
    expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" "${FULL[@]}" --set train.steps=2
    free=$(fill $left)
    out=$("$RLVR" train "$tmp/cfg.json" "${FULL[@]}" 2>&1); status=$?
    echo "full disk, $free bytes free: status $status: $(echo "$out" | tail -1)"
    [ $status -eq 1 ] && [[ "$(echo "$out" | tail -1)" == "rlvr: error: "*"$tmp/disk/run/"*"No space left on device"* ]] && ok \
      || bad "full disk ($free bytes free): status $status: $(echo "$out" | tail -2)"
    [ -z "$(ls "$tmp/disk/run" | grep '\.tmp')" ] && ok || bad "full disk ($free bytes free) left $(ls "$tmp/disk/run")"
    rm -f "$tmp/disk/filler"
    ck2=$(ls "$tmp/disk/run"/ckpt-*.h5 | head -1)
    [ "$ck2" = "$tmp/disk/run/ckpt-00000002.h5" ] && "$RLVR" export "$ck2" "$tmp/disk/x" >/dev/null 2>&1 && ok \
      || bad "full disk ($free bytes free): the checkpoint of step 2 is not intact"
    rm -rf "$tmp/disk/x"
    expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" "${FULL[@]}"
    same_weights "$tmp/disk/run/model" "$tmp/a/model" && diff <(metrics "$tmp/disk/run/metrics.jsonl") <(metrics "$tmp/a/metrics.jsonl") >/dev/null \
      && ok || bad "full disk ($free bytes free): resumed after freeing space, the run differs from a straight one"
  done
  # sft: the checkpoint does not fit; metrics.jsonl keeps every step logged; with space it completes
  rm -rf "$tmp/disk/run"
  free=$(fill 262144)
  out=$("$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/disk/sft" 2>&1); status=$?
  echo "sft on a full disk, $free bytes free: status $status: $(echo "$out" | tail -1)"
  [ $status -eq 1 ] && [[ "$(echo "$out" | tail -1)" == *"ckpt-00000040.h5.tmp"*"No space left on device"* ]] && ok \
    || bad "sft, full disk: status $status: $(echo "$out" | tail -2)"
  [ "$(wc -l < "$tmp/disk/sft/metrics.jsonl")" -eq 40 ] && ok || bad "sft, full disk: metrics.jsonl has $(wc -l < "$tmp/disk/sft/metrics.jsonl") lines"
  rm -f "$tmp/disk/filler"; free=$(fill 0)
  expect 1 "No space left on device" -- "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/disk/sft"
  rm -f "$tmp/disk/filler"
  expect 0 "model written" -- "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/disk/sft"
  same_weights "$tmp/disk/sft/model" "$tmp/sft/model" && [ "$(wc -l < "$tmp/disk/sft/metrics.jsonl")" -eq 40 ] && ok \
    || bad "sft after freeing space differs from a straight run"
  umount "$tmp/disk"
else
  echo "skipping the full-disk runs: cannot mount a tmpfs here (needs root)"
fi

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
for _ in $(seq 3000); do [ -s "$tmp/sig/metrics.jsonl" ] && break; sleep 0.1; done # see the stop on a save step
kill -INT $pid
wait $pid; status=$?
[ $status -eq 0 ] && grep -q "stopping at step" "$tmp/sig.log" && ls "$tmp/sig"/ckpt-*.h5 >/dev/null 2>&1 && ok \
  || bad "SIGINT: status $status, $(tail -2 "$tmp/sig.log")"

finish test_train
