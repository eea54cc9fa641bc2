#!/usr/bin/env bash
# qwen05b_model.sh — a random model of the Qwen2.5-0.5B body with the real Qwen tokenizer, for the
# benchmarks of whole RL steps (bench_rl_step.sh, peers/run.sh).
#
# Usage: bench/qwen05b_model.sh RLVR_BINARY OUT_DIR [LAYERS [V]]   (from the repository root)
# The body is Qwen2.5-0.5B's (D 896, H 14, Hkv 2, F 4864, tied, q/k/v biases; LAYERS layers, 24);
# the tokenizer is Qwen3's from tests/tokenizer/qwen3 (151,669 ids with the added tokens), and the
# embedding has V rows (151669): Qwen2.5's 151,936 needs a sampler that never draws a row the
# tokenizer lacks. The weights are random (std 0.02), so completions rarely stop early.
set -eu
BIN=$1 OUT=$2 LAYERS=${3:-24} V=${4:-151669}
PY=/usr/bin/python3
"$PY" -c 'import torch' 2> /dev/null || { echo "qwen05b_model.sh: $PY has no torch (apt-get install python3-torch)" >&2; exit 2; }
"$BIN" init-model --arch qwen2 --out "$OUT" --hidden 896 --layers "$LAYERS" --heads 14 --kv-heads 2 \
    --intermediate 4864 --tie --max-pos 32768 > /dev/null
# The real tokenizer, and an embedding with a row for each of its ids (random, std 0.02).
zcat tests/tokenizer/qwen3/tokenizer.json.gz > "$OUT/tokenizer.json"
cp tests/tokenizer/qwen3/tokenizer_config.json "$OUT/"
"$PY" - "$OUT" "$V" <<'PY'
import json, os, struct, sys
import torch
d, V = sys.argv[1], int(sys.argv[2])
raw = open(os.path.join(d, "model.safetensors"), "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head = json.loads(raw[8:8 + n])
meta = head.pop("__metadata__", None)
out, blobs, off = {}, [], 0
for name in sorted(head, key=lambda k: head[k]["data_offsets"][0]):
    h = head[name]
    a, b = h["data_offsets"]
    blob = raw[8 + n + a:8 + n + b]
    if name == "model.embed_tokens.weight":
        torch.manual_seed(0)
        blob = (torch.randn(V, h["shape"][1]) * 0.02).numpy().tobytes()
        h = dict(h, shape=[V, h["shape"][1]])
    out[name] = dict(h, data_offsets=[off, off + len(blob)])
    blobs.append(blob)
    off += len(blob)
if meta:
    out["__metadata__"] = meta
hj = json.dumps(out).encode()
hj += b" " * (-len(hj) % 8)
with open(os.path.join(d, "model.safetensors"), "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj)
    for blob in blobs:
        f.write(blob)
for fn in ("config.json", "generation_config.json"):
    c = json.load(open(os.path.join(d, fn)))
    if "vocab_size" in c:
        c["vocab_size"] = V
    c["bos_token_id"], c["eos_token_id"] = 151643, [151645, 151643]
    json.dump(c, open(os.path.join(d, fn), "w"))
PY
