#!/usr/bin/env bash
# test_layers — the modules include one another only downward: README.md's layer line
# ("`cli` > `trainer` > ... > `common`") ranks every folder, and each #include "dir/name.h" in a
# folder's sources must name its own folder or one of a lower layer (never the same layer or
# above), so the include graph is a DAG that matches the documentation. A folder with sources that
# the line does not rank fails too.
set -u
SRC=${RLVR_SRC:-.}
cd "$SRC" || exit 1
pass=0 fail=0
bad() { fail=$((fail + 1)); echo "FAILED: $*" >&2; }

line=$(grep -m1 '^`cli` >' README.md)
[ -n "$line" ] || { echo "FAILED: README.md has no layer line starting with \`cli\` >" >&2; exit 1; }
declare -A rank
n=0
IFS='>' read -ra layers <<<"$line"
for ((i = ${#layers[@]} - 1; i >= 0; i--)); do # bottom layer first: rank 0
  for dir in $(tr -d '`' <<<"${layers[i]}"); do rank[$dir]=$n; done
  n=$((n + 1))
done

for dir in */; do
  dir=${dir%/}
  ls "$dir"/*.c "$dir"/*.cpp >/dev/null 2>&1 || continue
  case $dir in build* | tests | bench | fuzz | examples) continue ;; esac
  [ -n "${rank[$dir]+x}" ] || { bad "$dir/ has sources but no place in README.md's layer line"; continue; }
done

for dir in "${!rank[@]}"; do
  [ -d "$dir" ] || { bad "README.md's layer line names $dir/, which does not exist"; continue; }
  while IFS=: read -r file target; do
    to=${target%%/*}
    [ -n "${rank[$to]+x}" ] || continue # a folder that is not a module (none today)
    if [ "$to" != "$dir" ] && [ "${rank[$to]}" -ge "${rank[$dir]}" ]; then
      bad "$file includes $target: $to/ is not below $dir/ in README.md's layers"
    else
      pass=$((pass + 1))
    fi
  done < <(grep -HoE '^#include "[a-z0-9_]+/[a-z0-9_]+\.h"' "$dir"/*.c "$dir"/*.h "$dir"/*.cpp 2>/dev/null |
           sed -E 's/:#include "(.*)"/:\1/')
done
[ "$pass" -gt 0 ] || bad "no include between modules found to check"
echo "test_layers: $pass includes checked, $fail failed"
[ "$fail" -eq 0 ]
