#!/usr/bin/env bash
# test_train_precision — `rlvr train` end to end on a tiny model and the built-in addition task, for
# what the real shapes need: bf16 with f32 master weights follows the f32 run (a reward that
# favours the short mode: both runs learn it at the same pace), resumes bit for bit with the
# masters in the checkpoint, and exports them; the old log-probs recomputed by the trainer (ratio
# exactly 1 on the first update), truncated importance sampling's metrics, log-probs at the
# rollout temperature (lower entropy at 0.6 than at 1 on the same rollouts, the sampler's log-probs
# at the trainer's temperature: a rounding gap, TIS weights 1); and the bad settings, a model over
# the memory cap among them
# refused before any work (no run directory is made). Every run has the device check on (RLVR_TS_CHECK_DEVICES).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export RLVR_TS_CHECK_DEVICES=1
# the values of one metric over the steps of a run, as a JSON list
series() { $PY -c "import json, sys; print(json.dumps([json.loads(l)['$2'] for l in open('$1/metrics.jsonl')]))"; }
check() { $PY -c "import sys; from math import *; a = $1; sys.exit(0 if ($2) else 1)"; }

"$RLVR" init-model --arch qwen2 --out "$tmp/init" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --tie --seed 3 >/dev/null || bad "init-model"
cat > "$tmp/cfg.json" <<JSON
{
  "run": {"dir": "$tmp/run", "seed": 5},
  "model": {"path": "$tmp/sft/model", "chat_template": "none"},
  "data": {"source": "addition", "train_size": 256, "test_size": 32},
  "sft": {"steps": 300, "batch_size": 32, "lr": 3e-3, "warmup_steps": 5},
  "rollout": {"max_new_tokens": 24},
  "reward": {"verifier": "math", "accuracy": {"weight": 0}, "thinkless": {"weight": 1, "correct_short": 1,
             "wrong_short": 1, "correct_think": -1, "wrong_think": -1}},
  "algo": {"estimator": "degrpo", "degrpo": {"alpha": 1.0}},
  "optim": {"lr": 2e-3, "weight_decay": 0.01},
  "train": {"steps": 10, "prompts_per_step": 8, "group_size": 8, "save_every": 0},
  "eval": {"problems": 16, "samples": 4}
}
JSON

# ---- bad settings: one clear error each, before any work ----
refuse() { # FRAGMENT SETTINGS...
  local frag=$1; shift
  local sets=()
  for s in "$@"; do sets+=(--set "$s"); done
  expect 1 "$frag" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/refused" "${sets[@]}"
  [ ! -e "$tmp/refused" ] && ok || bad "refusing '$*' left $tmp/refused"
}
refuse "optim.master_weights is false with model.dtype bf16: AdamW would update the bf16 weights in place" model.dtype=bf16 optim.master_weights=false
refuse "model.device: bad device 'gpu': expected cpu, cuda or cuda:N" model.device=gpu
if ! "$RLVR" doctor 2>&1 | grep -q '^devices:.*cuda'; then # no GPU here: any CUDA device is refused
  refuse "model.device: device cuda:7:" model.device=cuda:7
fi
refuse "algo.tis_cap 2 with algo.old_logprobs sampler" algo.tis_cap=2
refuse "algo.tis_cap: expected 0 (off) or a cap >= 1, got 0.5" algo.tis_cap=0.5 algo.old_logprobs=recompute
# the memory cap: the estimate's parts from the weights the file holds, f32 for SFT; bf16 with f32
# masters and a KL reference copy for RL
parts() { # BYTES_PER_WEIGHT REFERENCE MASTERS
  $PY - "$tmp/init/model.safetensors" "$@" <<'PYEOF'
import json, struct, sys
from math import prod
f = open(sys.argv[1], "rb"); h = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
n = sum(prod(v["shape"]) for k, v in h.items() if k != "__metadata__") / 2**30
w, ref, mst = float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
g = lambda x: "%.3g" % x
print(f"weights {g(n * w)}, KL reference {g(n * w * ref)}, gradients {g(n * w)}, AdamW moments "
      f"{g(2 * n * (4 if mst else w))}, f32 masters {g(4 * n * mst)} GiB")
PYEOF
}
expect 1 "train.memory_limit_gib 1e-05: the training state of $tmp/init is estimated at" -- \
  "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/refused" --set model.path="$tmp/init" --set train.memory_limit_gib=1e-5
expect 1 "($(parts 4 0 0)), more than the cap" -- \
  "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/refused" --set model.path="$tmp/init" --set train.memory_limit_gib=1e-5
[ ! -e "$tmp/refused" ] && ok || bad "the memory cap's refusal left $tmp/refused"
refuse "($(parts 2 1 1)), more than the cap before activations, logits and the KV cache; train LoRA adapters (model.lora.targets), drop the KL term" \
  model.path="$tmp/init" model.dtype=bf16 algo.kl.coef=0.01 train.memory_limit_gib=1e-5

expect 0 "model written to $tmp/sft/model" -- "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/sft" --set model.path="$tmp/init" \
  --set train.memory_limit_gib=0.01

# ---- bf16 with f32 master weights learns as f32 does ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/f32"
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/bf16" --set model.dtype=bf16
for run in f32 bf16; do
  r=$(series "$tmp/$run" reward) t=$(series "$tmp/$run" think_ratio)
  check "($r, $t)" "sum(a[0][-3:]) / 3 - a[0][0] > 0.25 and sum(a[1][-3:]) / 3 < 0.5 * a[1][0]" && ok ||
    bad "$run: reward $r and think ratio $t do not show the short mode being learnt"
done
# once the weights differ the two runs draw different completions, so a step's mean reward (64
# samples) differs by sampling noise alone (a standard error near 0.1 each): compared over windows
# of 3 steps, and over the whole run, where the difference of two 10-step means has a standard
# error near 0.045 and the bound, 0.12, is 2.7 of them (0.05, tried first, failed on noise alone
# after a change of rounding), while a run that does not learn, its reward staying near the first
# step's -0.19, would average about 0.38 below the f32 run's 0.19
check "($(series "$tmp/f32" reward), $(series "$tmp/bf16" reward))" \
  "max(abs(sum(a[0][i:i + 3]) - sum(a[1][i:i + 3])) / 3 for i in range(len(a[0]) - 2)) < 0.2 and abs(sum(a[0]) - sum(a[1])) / len(a[0]) < 0.12" && ok ||
  bad "bf16 rewards $(series "$tmp/bf16" reward) stray from f32's $(series "$tmp/f32" reward)"

# ---- bf16 resumes exactly: the checkpoint holds the f32 masters ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/b4" --set model.dtype=bf16 --set train.steps=4
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/b22" --set model.dtype=bf16 --set train.steps=2
expect 0 "resumed from" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/b22" --set model.dtype=bf16 --set train.steps=4
cmp -s "$tmp/b4/model/model.safetensors" "$tmp/b22/model/model.safetensors" && ok || bad "bf16: 2 + resume + 2 steps differ from 4"
diff <(metrics "$tmp/b4/metrics.jsonl") <(metrics "$tmp/b22/metrics.jsonl") >/dev/null && ok || bad "bf16: resumed metrics differ"
$PY - "$tmp/b22/ckpt-00000002.h5" <<'PYEOF' && ok || bad "the bf16 checkpoint lacks f32 master weights"
import sys
import h5py
with h5py.File(sys.argv[1], "r") as f:
    m, w = f["optim/model.embed_tokens.weight.master"], f["model/model.embed_tokens.weight"]
    sys.exit(0 if m.dtype.name == "float32" and m.shape == w.shape and w.dtype.itemsize == 2 else 1)
PYEOF

expect 0 "" -- "$RLVR" export "$tmp/b22/ckpt-00000002.h5" "$tmp/b22x"
$PY - "$tmp/b22/ckpt-00000002.h5" "$tmp/b22x/model.safetensors" <<'PYEOF' && ok || bad "the export of a bf16 checkpoint is not its f32 masters"
import json, struct, sys
import h5py
import numpy as np
b = open(sys.argv[2], "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
with h5py.File(sys.argv[1], "r") as f:
    for k, v in h.items():
        if k == "__metadata__":
            continue
        got = np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], np.float32)
        if v["dtype"] != "F32" or not np.array_equal(got, f["optim/" + k + ".master"][()].ravel()):
            sys.exit(1)
PYEOF

# ---- old log-probs recomputed: on-policy ratio exactly 1, TIS weights near 1 ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/rc" --set train.steps=3 --set algo.old_logprobs=recompute
check "$(series "$tmp/rc" ratio)" "all(x == 1 for x in a)" && ok || bad "recompute: ratio $(series "$tmp/rc" ratio), expected 1"
check "$(series "$tmp/rc" logprob_gap_max)" "all(0 < x < 1e-4 for x in a)" && ok || bad "recompute: gap $(series "$tmp/rc" logprob_gap_max)"
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/tis" --set train.steps=3 --set algo.old_logprobs=recompute --set algo.tis_cap=2
check "($(series "$tmp/tis" tis_weight_mean), $(series "$tmp/tis" tis_ratio_max), $(series "$tmp/tis" tis_capped))" \
  "all(abs(x - 1) < 1e-4 for x in a[0]) and all(1 <= x < 1 + 1e-3 for x in a[1]) and all(x == 0 for x in a[2])" && ok ||
  bad "TIS metrics: mean $(series "$tmp/tis" tis_weight_mean) max $(series "$tmp/tis" tis_ratio_max) capped $(series "$tmp/tis" tis_capped)"
check "$(series "$tmp/rc" tis_weight_mean)" "all(x == 0 for x in a)" && ok || bad "TIS metrics without TIS"

# ---- log-probs at the rollout temperature: the same rollouts, a sharper distribution; the sampler
# records its log-probs at the trainer's temperature, so the gap stays a rounding difference and
# TIS weighs like with like (recorded at 1 instead, the gap at 0.6 is about 2 on this model) ----
for lt in rollout one; do
  expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/t-$lt" --set train.steps=1 \
    --set rollout.temperature=0.6 --set algo.old_logprobs=recompute --set algo.tis_cap=2 --set algo.logprob_temperature=$lt
done
check "($(series "$tmp/t-rollout" entropy), $(series "$tmp/t-one" entropy), $(series "$tmp/t-rollout" length), $(series "$tmp/t-one" length))" \
  "a[0][0] < a[1][0] and a[2] == a[3]" && ok || bad "entropy at 0.6 $(series "$tmp/t-rollout" entropy) is not below that at 1 $(series "$tmp/t-one" entropy)"
for lt in rollout one; do
  check "($(series "$tmp/t-$lt" logprob_gap_max), $(series "$tmp/t-$lt" tis_weight_mean))" \
    "all(0 < x < 1e-4 for x in a[0]) and all(abs(x - 1) < 1e-4 for x in a[1])" && ok ||
    bad "temperature 0.6, log-probs at $lt: gap $(series "$tmp/t-$lt" logprob_gap_max), TIS weight $(series "$tmp/t-$lt" tis_weight_mean)"
done
# the sampler's log-probs as pi_old at 0.6: the first update is on-policy up to rounding
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/t-sampler" --set train.steps=1 --set rollout.temperature=0.6
check "($(series "$tmp/t-sampler" logprob_gap_max), $(series "$tmp/t-sampler" ratio))" \
  "all(0 < x < 1e-4 for x in a[0]) and all(abs(x - 1) < 1e-4 for x in a[1])" && ok ||
  bad "sampler mode at 0.6: gap $(series "$tmp/t-sampler" logprob_gap_max), ratio $(series "$tmp/t-sampler" ratio)"

finish test_train_precision
