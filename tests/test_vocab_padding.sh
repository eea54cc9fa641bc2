#!/usr/bin/env bash
# test_vocab_padding — a model with more embedding rows than its tokenizer has tokens (as Qwen's
# 151,936 rows for 151,669 tokens): `rlvr init-model --model-vocab` makes one, `rlvr generate`
# never emits an id past the tokenizer (the padding rows hold most of the probability here), and
# `rlvr train` runs its steps on it; a --model-vocab below the tokenizer's size is refused.
set -u
RLVR=${RLVR_BIN:?set RLVR_BIN to the rlvr binary}
PY=/usr/bin/python3
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*" >&2; }

"$RLVR" init-model --arch qwen2 --out "$tmp/m" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --tie --seed 3 \
    --model-vocab 2048 > /dev/null && ok || bad "init-model --model-vocab 2048"
rows=$($PY -c "import json; print(json.load(open('$tmp/m/config.json'))['vocab_size'])")
tokens=$($PY -c "import json; t = json.load(open('$tmp/m/tokenizer.json')); print(len(t['model']['vocab']) + len(t['added_tokens']))")
[ "$rows" = 2048 ] && [ "$tokens" -lt 1024 ] && ok || bad "expected 2048 rows over fewer than 1024 tokens, got $rows over $tokens"

# 64 samples of 32 tokens: with 2048 near-uniform rows, most of the mass is padding
out=$("$RLVR" generate --model "$tmp/m" --prompt "1+2=" --raw --n 64 --max-new-tokens 32 --json 2> "$tmp/err") \
    && ok || bad "generate on the padded model: $(tail -2 "$tmp/err")"
echo "$out" | $PY -c "
import json, sys
ids = [i for line in sys.stdin for i in json.loads(line)['ids']]
sys.exit(0 if len(ids) > 1000 and max(ids) < $tokens else 1)" && ok || bad "generate drew an id past the tokenizer's $tokens"

cat > "$tmp/cfg.json" <<JSON
{
  "run": {"dir": "$tmp/run", "seed": 5},
  "model": {"path": "$tmp/m", "chat_template": "none"},
  "data": {"source": "addition", "train_size": 64, "test_size": 8},
  "rollout": {"max_new_tokens": 16},
  "reward": {"verifier": "math"},
  "optim": {"lr": 1e-3},
  "train": {"steps": 2, "prompts_per_step": 4, "group_size": 4, "save_every": 0}
}
JSON
out=$("$RLVR" train "$tmp/cfg.json" 2>&1) && ok || bad "train on the padded model: $(echo "$out" | tail -3)"
[ "$(wc -l < "$tmp/run/metrics.jsonl" 2>/dev/null)" = 2 ] && ok || bad "expected 2 metrics lines"

out=$("$RLVR" init-model --arch qwen2 --out "$tmp/small" --model-vocab 100 2>&1)
[ $? -ne 0 ] && [[ "$out" == *"--model-vocab 100 is below the tokenizer's"* ]] && ok || bad "--model-vocab 100: $out"

echo "test_vocab_padding: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
