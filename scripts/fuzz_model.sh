#!/usr/bin/env bash
# fuzz_model.sh — build and run the libFuzzer targets of model/ (safetensors header parser,
# tokenizer loader and encoder) under AddressSanitizer + UBSan for a bounded time each.
# Usage: scripts/fuzz_model.sh [SECONDS_PER_TARGET (default 60)] [OUT_DIR (default build-fuzz)]
# Needs clang and libclang-rt-dev (Debian: clang, libclang-rt-14-dev). Not part of CI.
# Binaries go to OUT_DIR/bin; corpora and crash reproducers stay in OUT_DIR/<target>/; a crash makes the script exit non-zero.
set -euo pipefail
secs=${1:-60}
root=$(cd "$(dirname "$0")/.." && pwd)
out=${2:-$root/build-fuzz}
mkdir -p "$out/bin"
cflags="-std=gnu11 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined -I$root"
libs="-lcjson -lpcre2-8 -lutf8proc -lz"

build() { # target, sources...
    local t=$1
    shift
    clang $cflags "$root/fuzz/$t.c" "$@" "$root/common/err.c" "$root/common/mem.c" $libs -o "$out/bin/$t"
}
build fuzz_safetensors "$root/model/safetensors.c"
build fuzz_tokenizer "$root/model/tokenizer.c"

# seeds: a real safetensors file and the tiny tokenizer, written by the project's own code
mkdir -p "$out/fuzz_safetensors/corpus" "$out/fuzz_tokenizer/corpus"
printf '\x38\x00\x00\x00\x00\x00\x00\x00{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}  \x00\x00\x80\x3f' \
    > "$out/fuzz_safetensors/corpus/seed_one_tensor"
{ printf '\x00'; cat "$root/tests/tokenizer/tiny/tokenizer.json"; } > "$out/fuzz_tokenizer/corpus/seed_tokenizer_json"
printf '\x01Hello world, 123 <|im_start|>user\n' > "$out/fuzz_tokenizer/corpus/seed_text"

status=0
for t in fuzz_safetensors fuzz_tokenizer; do
    echo "== $t: ${secs}s"
    (cd "$out/$t" && RLVR_SRC=$root "$out/bin/$t" -max_total_time="$secs" -max_len=65536 -rss_limit_mb=2048 \
        -print_final_stats=1 corpus) || status=1
done
exit $status
