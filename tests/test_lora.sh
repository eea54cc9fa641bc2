#!/usr/bin/env bash
# test_lora — LoRA end to end on a tiny model and the built-in addition task: `rlvr train` with
# model.lora.* (KL to the base, dropout) writes run.dir/model (merged) and run.dir/adapter (PEFT);
# 2 steps + resume + 1 equal 3 straight, bit for bit (dropout draws included); only the adapters
# change; `rlvr export` writes the merged model and, with --peft, the adapter; `rlvr score` of the
# merged model equals `rlvr score --adapter` on the base within 1e-5; eval and generate take the
# adapter; a run starts from an adapter (model.adapter); every bad input gives one error.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$RLVR" init-model --arch qwen2 --out "$tmp/init" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --seed 3 >/dev/null || bad "init-model"
"$RLVR" init-model --arch qwen2 --out "$tmp/other" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --seed 4 >/dev/null || bad "init-model"
cat > "$tmp/cfg.json" <<JSON
{
  "run": {"dir": "$tmp/run", "seed": 5},
  "sft": {"steps": 40, "batch_size": 32, "lr": 3e-3, "warmup_steps": 5},
  "model": {"path": "$tmp/base", "chat_template": "none",
            "lora": {"targets": ["q", "v", "gate_proj", "down"], "rank": 4, "alpha": 8, "dropout": 0.1}},
  "data": {"source": "addition", "train_size": 256, "test_size": 32},
  "rollout": {"max_new_tokens": 16},
  "reward": {"verifier": "math"},
  "algo": {"kl": {"coef": 0.05}},
  "optim": {"lr": 1e-2, "weight_decay": 0},
  "train": {"steps": 3, "prompts_per_step": 4, "group_size": 4, "save_every": 2, "keep_last": 3},
  "eval": {"problems": 8, "samples": 2}
}
JSON

# the base: a short SFT warm-up (full fine-tuning), so that RL has rewards to learn from
expect 0 "model written" -- "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/sft" --set model.path="$tmp/init" --set model.lora.targets=[]
cp -r "$tmp/sft/model" "$tmp/base"

# ---- training: merged model and adapter written, the adapters alone trained ----
"$RLVR" train "$tmp/cfg.json" > "$tmp/train.log" 2>&1 || bad "train: $(tail -3 "$tmp/train.log")"
grep -q "LoRA: rank 4, alpha 8, 16 adapter tensors" "$tmp/train.log" && grep -q "LoRA adapter written to $tmp/run/adapter" \
  "$tmp/train.log" && ok || bad "train log lacks the LoRA lines: $(grep LoRA "$tmp/train.log")"
[ -f "$tmp/run/adapter/adapter_model.safetensors" ] && [ -f "$tmp/run/adapter/adapter_config.json" ] && ok \
  || bad "run.dir/adapter is incomplete"
$PY - "$tmp/base" "$tmp/run/model" "$tmp/run/adapter" <<'PY' && ok || bad "merged weights: see above"
import json, struct, sys
import numpy as np
def read(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], np.float32).reshape(v["shape"])
            for k, v in h.items() if k != "__metadata__"}, h.get("__metadata__", {})
base, _ = read(sys.argv[1] + "/model.safetensors")
merged, _ = read(sys.argv[2] + "/model.safetensors")
ad, meta = read(sys.argv[3] + "/adapter_model.safetensors")
cfg = json.load(open(sys.argv[3] + "/adapter_config.json"))
assert cfg["peft_type"] == "LORA" and cfg["r"] == 4 and cfg["lora_alpha"] == 8, cfg
assert sorted(cfg["target_modules"]) == ["down_proj", "gate_proj", "q_proj", "v_proj"], cfg
assert "rlvr_base_fingerprint" in meta, meta
changed = sorted(k for k in base if not np.array_equal(base[k], merged[k]))
want = sorted(f"model.layers.{i}.{m}.weight" for i in range(2)
              for m in ("self_attn.q_proj", "self_attn.v_proj", "mlp.gate_proj", "mlp.down_proj"))
assert changed == want, changed
for k in want:  # merged = W + (alpha / r) B A, within f32 rounding
    p = "base_model.model." + k.removesuffix(".weight")
    d = base[k] + 2.0 * ad[p + ".lora_B.weight"] @ ad[p + ".lora_A.weight"]
    assert np.abs(d - merged[k]).max() < 1e-6, (k, np.abs(d - merged[k]).max())
PY

# ---- exact resume with LoRA (dropout draws included): 2 steps + resume + 1 == 3 straight ----
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/r" --set train.steps=2
expect 0 "resumed from" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/r"
cmp -s "$tmp/run/adapter/adapter_model.safetensors" "$tmp/r/adapter/adapter_model.safetensors" && ok \
  || bad "2 + resume + 1 steps give other adapters than 3 steps"
diff <(metrics "$tmp/run/metrics.jsonl") <(metrics "$tmp/r/metrics.jsonl") >/dev/null && ok || bad "resumed metrics differ"

# ---- export: merged and PEFT; merged scores as base + adapter ----
ckpt=$(ls "$tmp/run"/ckpt-*.h5 | sort | tail -1)
expect 0 "exported" -- "$RLVR" export "$ckpt" "$tmp/merged"
expect 0 "exported" -- "$RLVR" export "$ckpt" "$tmp/peft" --peft
cmp -s "$tmp/merged/model.safetensors" "$tmp/run/model/model.safetensors" && ok || bad "exported merged model differs from run.dir/model"
printf '{"ids": [1, 5, 9, 14, 3, 7, 22, 8, 2]}\n{"text": "12+35=47"}\n' > "$tmp/in.jsonl"
"$RLVR" score --model "$tmp/merged" < "$tmp/in.jsonl" > "$tmp/s-merged.jsonl" || bad "score merged"
"$RLVR" score --model "$tmp/base" --adapter "$tmp/peft" < "$tmp/in.jsonl" > "$tmp/s-adapter.jsonl" || bad "score --adapter"
"$RLVR" score --model "$tmp/base" < "$tmp/in.jsonl" > "$tmp/s-base.jsonl" || bad "score base"
$PY - "$tmp/s-merged.jsonl" "$tmp/s-adapter.jsonl" "$tmp/s-base.jsonl" <<'PY' && ok || bad "scores: see above"
import json, sys
m, a, b = ([json.loads(l)["logprobs"] for l in open(p)] for p in sys.argv[1:4])
diff = max(abs(x - y) for r, s in zip(m, a) for x, y in zip(r, s))
moved = max(abs(x - y) for r, s in zip(a, b) for x, y in zip(r, s))
print(f"score merged vs base + adapter: max |log-prob difference| {diff:.3g}; adapter vs base {moved:.3g}")
assert diff <= 1e-5 and moved > 1e-4, (diff, moved)
PY
expect 0 "" -- "$RLVR" generate --model "$tmp/base" --adapter "$tmp/peft" --prompt "1+2=" --raw --greedy --max-new-tokens 4
expect 0 '"accuracy"' -- "$RLVR" eval "$tmp/cfg.json" --set model.adapter="$tmp/peft"

# ---- a run that starts from an adapter trains it ----
expect 0 "training the adapter of model.adapter" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/from" \
  --set model.adapter="$tmp/peft" --set train.steps=1

# ---- bad input: one error each ----
expect 1 "LoRA target 'x_proj' names no layer" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/bad" --set model.lora.targets=q,x_proj
expect 1 "model.lora.rank" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/bad" --set model.lora.rank=0
expect 1 "LoRA rank 33 exceeds the width of q_proj (32 x 32)" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/bad" --set model.lora.rank=33
expect 1 "trained on another base model" -- "$RLVR" score --model "$tmp/other" --adapter "$tmp/peft" < "$tmp/in.jsonl"
expect 1 "trained on another base model" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/run" --set model.path="$tmp/other" --set train.steps=4
expect 1 "its LoRA options (rank 4, alpha 8, dropout 0.1, targets q_proj v_proj gate_proj down_proj) differ from model.lora's (rank 2," -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/run" --set model.lora.rank=2 --set train.steps=4
expect 1 "the run trained LoRA adapters; resume it with its model.lora settings" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/run" --set model.lora.targets=[] --set train.steps=4
expect 1 "adapter_config.json" -- "$RLVR" score --model "$tmp/base" --adapter "$tmp/nowhere" < "$tmp/in.jsonl"
expect 0 "model written" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/full" --set model.lora.targets=[] --set train.steps=1
expect 1 "--peft: the checkpoint holds no LoRA adapters" -- "$RLVR" export "$tmp/full/ckpt-00000001.h5" "$tmp/x" --peft
[ ! -e "$tmp/full/adapter" ] && ok || bad "a full fine-tuning run wrote an adapter"
expect 1 "the run fine-tuned every weight; resume it without model.lora.targets" -- "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/full" --set train.steps=2

finish test_lora
