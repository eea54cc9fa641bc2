#!/usr/bin/env bash
# test_libtorch_config — configuring against a libtorch rlvr.c does not support stops with one
# message naming the version found, where, and the versions supported (cmake/Libtorch.cmake):
# too old and too new through -DRLVR_LIBTORCH and through find_package(Torch), the edges of the
# range accepted, a prefix that is not a libtorch, a version header without its numbers, and
# headers and libtorch.so from two installs. Each case configures this source tree for real
# against a stand-in prefix holding only what the case needs; nothing is built.
set -u
SRC=${RLVR_SRC:-.}
pass=0 fail=0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# a stand-in libtorch prefix: include/ with torch's version header (MAJOR MINOR PATCH), an empty lib/
fake() {
  local dir=$tmp/$1
  mkdir -p "$dir/include/torch/csrc/api/include/torch" "$dir/lib"
  printf '#define TORCH_VERSION_MAJOR %s\n#define TORCH_VERSION_MINOR %s\n#define TORCH_VERSION_PATCH %s\n' \
    "$2" "$3" "$4" > "$dir/include/torch/csrc/api/include/torch/version.h"
  echo "$dir"
}

# configure ARGS...: expect a failure whose message (whitespace folded) contains $want
want_error() {
  local want=$1; shift
  local out status
  out=$(cmake -S "$SRC" -B "$tmp/build" "$@" 2>&1); status=$?
  out=$(echo "$out" | tr -s ' \n' '  ')
  if [ $status -ne 0 ] && [[ "$out" == *"$want"* ]]; then ok; else bad "cmake $* (exit $status): want '$want', got: $out"; fi
}

range="rlvr.c builds against libtorch 1.13 to 2.15"
old=$(fake old 1 12 1)
want_error "libtorch 1.12.1 at $old is not supported: $range" -DRLVR_LIBTORCH="$old"
new=$(fake new 3 0 0)
want_error "libtorch 3.0.0 at $new is not supported: $range" -DRLVR_LIBTORCH="$new"
next=$(fake next 2 16 0)
want_error "libtorch 2.16.0 at $next is not supported: $range" -DRLVR_LIBTORCH="$next"
# the edges pass the version check and stop at the missing library
low=$(fake low 1 13 1)
want_error "RLVR_LIBTORCH=$low: $low/lib/libtorch.so is missing (libtorch 1.13.1)" -DRLVR_LIBTORCH="$low"
high=$(fake high 2 15 9)
want_error "RLVR_LIBTORCH=$high: $high/lib/libtorch.so is missing (libtorch 2.15.9)" -DRLVR_LIBTORCH="$high"
want_error "RLVR_LIBTORCH=$tmp/none: no include/ and lib/ there" -DRLVR_LIBTORCH="$tmp/none"
empty=$(fake empty 2 15 0)
echo "#define TORCH_VERSION_MAJOR 2" > "$empty/include/torch/csrc/api/include/torch/version.h"
want_error "has no TORCH_VERSION_MINOR" -DRLVR_LIBTORCH="$empty"
rm "$empty/include/torch/csrc/api/include/torch/version.h"
want_error "libtorch at $empty: no torch/version.h under" -DRLVR_LIBTORCH="$empty"

# through find_package(Torch): a TorchConfig.cmake that describes the stand-in prefix
config() { # DIR LIBRARY
  mkdir -p "$1/share/cmake/Torch"
  cat > "$1/share/cmake/Torch/TorchConfig.cmake" << EOF
set(TORCH_INSTALL_PREFIX "$1")
set(TORCH_INCLUDE_DIRS "$1/include" "$1/include/torch/csrc/api/include")
set(TORCH_LIBRARY "$2")
set(TORCH_LIBRARIES "$2")
set(Torch_FOUND TRUE)
EOF
}
config "$new" "$new/lib/libtorch.so"
want_error "libtorch 3.0.0 at $new/share/cmake/Torch is not supported: $range" \
  -DRLVR_LIBTORCH= -DTorch_DIR="$new/share/cmake/Torch"
mixed=$(fake mixed 2 15 0)
config "$mixed" "$old/lib/libtorch.so"
want_error "libtorch 2.15.0: the headers are under $mixed but libtorch is $old/lib/libtorch.so" \
  -DRLVR_LIBTORCH= -DTorch_DIR="$mixed/share/cmake/Torch"

echo "test_libtorch_config: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
