#!/usr/bin/env bash
# test_model.sh — rlvr init-model, score and generate end to end.
# With Debian's python3-torch present, tests/model_ref.py rebuilds the reference cases and checks
# `rlvr score` log-probs (1e-4 relative) and `rlvr generate --greedy` ids (exact) against its own
# PyTorch forward, live; test_model.c checks the same numbers from the committed fixture without
# Python. Then: text scoring, sampling determinism, and each bad input gets one clear error and a
# non-zero exit (bad lines, a missing directory, an unsupported model_type, a truncated
# safetensors file, bad options).
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BIN=${RLVR_BIN:?RLVR_BIN must name the rlvr binary}

# expect STATUS FRAGMENT CMD... : exit status STATUS and FRAGMENT in stderr
expect() {
    local want=$1 frag=$2
    shift 2
    "$@" > "$tmp/out" 2> "$tmp/err"
    local rc=$?
    if [ "$rc" -eq "$want" ] && grep -qF -- "$frag" "$tmp/err"; then ok; else
        bad "$* -> status $rc, stderr: $(cat "$tmp/err") (wanted $want and '$frag')"
    fi
}

if /usr/bin/python3 -c 'import torch' 2> /dev/null; then
    if /usr/bin/python3 "$SRC/tests/model_ref.py" check "$BIN"; then ok; else bad "model_ref.py check"; fi
else
    echo "note: /usr/bin/python3 has no torch; the live PyTorch comparison is skipped (test_model uses the fixture)"
fi

m="$tmp/m"
for i in 1 2 3 4 5 6 7 8; do echo "The answer is $((i * 7)). What is $i times 7? Think step by step."; done > "$tmp/corpus"
"$BIN" init-model --arch qwen3 --out "$m" --kv-heads 2 --init-std 0.3 --seed 5 \
    --vocab-corpus "$tmp/corpus" --vocab-size 300 > /dev/null || bad "init-model"
for f in config.json generation_config.json model.safetensors tokenizer.json tokenizer_config.json; do
    if [ -s "$m/$f" ]; then ok; else bad "init-model did not write $f"; fi
done

# the same seed gives the same weights
"$BIN" init-model --arch qwen3 --out "$tmp/m2" --kv-heads 2 --init-std 0.3 --seed 5 \
    --vocab-corpus "$tmp/corpus" --vocab-size 300 > /dev/null
if cmp -s "$m/model.safetensors" "$tmp/m2/model.safetensors"; then ok; else bad "init-model is not deterministic"; fi

# text lines are tokenized; a text and its ids score the same
printf '{"text": "The answer is 42."}\n\n{"ids": [1, 2]}\n' | "$BIN" score --model "$m" > "$tmp/s1" || bad "score text"
ids=$(echo '{"text": "The answer is 42."}' | "$BIN" tokenize --tokenizer "$m")
echo "$ids" | "$BIN" score --model "$m" > "$tmp/s2" || bad "score ids"
if [ "$(head -1 "$tmp/s1")" = "$(cat "$tmp/s2")" ] && [ "$(wc -l < "$tmp/s1")" -eq 2 ]; then ok; else
    bad "text and ids scores differ: $(cat "$tmp/s1") / $(cat "$tmp/s2")"
fi
echo '{"ids": [5]}' | "$BIN" score --model "$m" | grep -qF '{"logprobs": [], "total": 0}' && ok || bad "one-token score"

# sampling: a seed fixes the sample; top-k 1 is greedy
gen() { "$BIN" generate --model "$m" --prompt "What is 6 times 7?" --max-new-tokens 12 --json "$@"; }
a=$(gen --seed 3 --temperature 0.8 --top-p 0.9) b=$(gen --seed 3 --temperature 0.8 --top-p 0.9)
[ -n "$a" ] && [ "$a" = "$b" ] && ok || bad "same seed, different samples: $a / $b"
g=$(gen --greedy) k=$(gen --top-k 1 --seed 9)
[ -n "$g" ] && [ "$g" = "$k" ] && ok || bad "top-k 1 differs from greedy: $g / $k"
echo "$g" | grep -q '"prompt_ids": \[' && ok || bad "generate --json: $g"
"$BIN" generate --model "$m" --prompt "hi" --max-new-tokens 4 --no-think --system "Be brief." > /dev/null && ok || bad "generate --no-think --system"

# bad input: one clear error, non-zero exit
expect 1 "stdin line 2: ids[1] is not an integer" sh -c "printf '{\"ids\": [1, 2]}\n{\"ids\": [1, \"x\"]}\n' | '$BIN' score --model '$m'"
expect 1 "stdin line 1: ids[0] = 9999 is outside the vocabulary" sh -c "echo '{\"ids\": [9999, 1]}' | '$BIN' score --model '$m'"
expect 1 "stdin line 1: not a JSON object" sh -c "echo 'nonsense' | '$BIN' score --model '$m'"
expect 1 "$tmp/none/config.json: cannot open" "$BIN" score --model "$tmp/none"
cp -r "$m" "$tmp/mistral"
sed -i 's/"qwen3"/"mistral"/' "$tmp/mistral/config.json"
expect 1 'model_type "mistral" is not supported' "$BIN" generate --model "$tmp/mistral" --prompt hi
cp -r "$m" "$tmp/trunc"
head -c 3000 "$m/model.safetensors" > "$tmp/trunc/model.safetensors"
expect 1 "$tmp/trunc/model.safetensors" sh -c "echo '{\"ids\": [1, 2]}' | '$BIN' score --model '$tmp/trunc'"
expect 1 "--arch: expected llama, qwen2 or qwen3" "$BIN" init-model --arch gpt2 --out "$tmp/x"
expect 1 "--hidden: expected an integer >= 1, got 'wide'" "$BIN" init-model --arch llama --out "$tmp/x" --hidden wide
expect 1 "num_attention_heads 4 is not a multiple of num_key_value_heads 3" "$BIN" init-model --arch llama --out "$tmp/x" --kv-heads 3
expect 2 "--arch and --out are required" "$BIN" init-model --arch llama
expect 2 "--model DIR and --prompt TEXT are required" "$BIN" generate --model "$m"
expect 1 "--temperature: expected a number > 0, got '0'" "$BIN" generate --model "$m" --prompt hi --temperature 0
# each bad option value is named alone, with its own range
expect 1 "rlvr: error: --max-new-tokens: expected an integer >= 1, got '-1'" "$BIN" generate --model "$m" --prompt hi --max-new-tokens -1
expect 1 "--seed: expected an integer >= 0, got 'x'" "$BIN" generate --model "$m" --prompt hi --seed x
expect 1 "--n: expected an integer in [1,65536], got '70000'" "$BIN" generate --model "$m" --prompt hi --n 70000
expect 1 "--top-k: expected an integer >= 0, got '-3'" "$BIN" generate --model "$m" --prompt hi --top-k -3
expect 1 "--top-p: expected a number in (0,1], got '1.5'" "$BIN" generate --model "$m" --prompt hi --top-p 1.5
expect 1 "--min-p: expected a number in [0,1), got '1'" "$BIN" generate --model "$m" --prompt hi --min-p 1
if grep -q -- "--max-new-tokens >= 1, --seed" "$tmp/err"; then bad "a bad option still lists every constraint"; else ok; fi
cp -r "$m" "$tmp/notok"
rm "$tmp/notok/tokenizer.json"
expect 1 "$tmp/notok: no tokenizer.json (nor tokenizer.json.gz): expected a Hugging Face model directory" "$BIN" generate --model "$tmp/notok" --prompt hi
cp -r "$m" "$tmp/kv0"
sed -i 's/"num_key_value_heads":[^,]*,/"num_key_value_heads": 0,/' "$tmp/kv0/config.json"
expect 1 "$tmp/kv0/config.json: num_key_value_heads must be a positive integer, got 0" "$BIN" generate --model "$tmp/kv0" --prompt hi
# a CUDA device this process cannot use: one line saying why, not libtorch's dispatcher table
expect 1 "rlvr: error: device cuda:7: " "$BIN" generate --model "$m" --prompt hi --device cuda:7
grep -qE "device cuda:7: (this build of libtorch has no CUDA support \(CPU only\): use cpu|no CUDA device is visible|no such device, [0-7] visible)" "$tmp/err" \
    && [ "$(wc -l < "$tmp/err")" -eq 1 ] && ok || bad "--device cuda:7: $(head -c 300 "$tmp/err")"
expect 2 "unknown or incomplete option '--bogus'" "$BIN" score --model "$m" --bogus

finish test_model.sh
