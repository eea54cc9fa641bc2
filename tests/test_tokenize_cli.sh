#!/usr/bin/env bash
# test_tokenize_cli — `rlvr tokenize`: encode and decode JSON lines with the Qwen3 tokenizer
# (ids from the reference vectors), special tokens kept or skipped, and a bad line that must stop
# the run with its line number and a non-zero status.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tok=$SRC/tests/tokenizer/qwen3
check() { # name, got, expected
    if [ "$2" == "$3" ]; then ok; else bad "$1: got [$2], expected [$3]"; fi
}

out=$(printf '{"text": "Hello world"}\n\n{"text": "<|im_start|>user\\n你好<|im_end|>"}\n' | "$RLVR" tokenize --tokenizer "$tok")
check "encode" "$out" $'{"ids": [9707, 1879]}\n{"ids": [151644, 872, 198, 108386, 151645]}'

out=$(printf '{"ids": [9707, 1879]}\n{"ids": [151644, 872, 198, 108386, 151645]}\n' | "$RLVR" tokenize --tokenizer "$tok" --decode)
check "decode" "$out" $'{"text":"Hello world"}\n{"text":"<|im_start|>user\\n你好<|im_end|>"}'

out=$(echo '{"ids": [151644, 872, 198, 108386, 151645]}' | "$RLVR" tokenize --tokenizer "$tok" --decode --skip-special-tokens)
check "decode without special tokens" "$out" '{"text":"user\n你好"}'

out=$(echo '{"ids": [108386]}' | "$RLVR" tokenize --tokenizer "$tok/tokenizer.json.gz" --decode)
check "tokenizer.json path" "$out" '{"text":"你好"}'

err=$(printf '{"text": "ok"}\n{"txt": "oops"}\n{"text": "never"}\n' | "$RLVR" tokenize --tokenizer "$tok" 2>&1 >/dev/null)
rc=$?
check "bad line exits 1" "$rc" "1"
check "bad line message" "$err" 'rlvr: error: stdin line 2: expected {"text": string}'

err=$(echo '{"ids": [1, 99999999]}' | "$RLVR" tokenize --tokenizer "$tok" --decode 2>&1 >/dev/null)
check "unknown id" "$err" 'rlvr: error: stdin line 1: token id 99999999 at position 1 is not in the vocabulary (size 151669)'

err=$(printf '{"text": "a\xffb"}\n' | "$RLVR" tokenize --tokenizer "$tok" 2>&1 >/dev/null)
check "invalid UTF-8" "$err" 'rlvr: error: stdin line 1: invalid UTF-8 at byte 1 (byte 0xff)'

err=$("$RLVR" tokenize --tokenizer /nonexistent </dev/null 2>&1)
check "missing tokenizer" "$err" 'rlvr: error: /nonexistent: cannot open: No such file or directory'

finish test_tokenize_cli
