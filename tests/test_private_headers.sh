#!/usr/bin/env bash
# test_private_headers — a header that says "Private to X/" in its opening comment is included
# only by files of X/ (the module's public header is the only way in from outside), checked over
# every source file of the project.
set -u
SRC=${RLVR_SRC:-.}
cd "$SRC" || exit 1
pass=0 fail=0
for h in $(grep -rl --include='*.h' -i 'private to [a-z]*/' --exclude-dir='build*' .); do
  owner=$(grep -io 'private to [a-z]*/' "$h" | head -1 | awk '{print $3}')
  name=$(basename "$h")
  # every file outside the owner that includes it, as "dir/name.h" or "name.h"
  users=$(grep -rlE --include='*.c' --include='*.h' --include='*.cpp' --exclude-dir='build*' \
            "#include \"(${owner}${name}|${name})\"" . | grep -v "^\./${owner}" || true)
  if [ -z "$users" ]; then pass=$((pass + 1)); else
    fail=$((fail + 1)); echo "FAILED: $h is private to $owner but included by: $users" >&2; fi
done
[ "$pass" -gt 0 ] || { echo "FAILED: no private header found to check" >&2; fail=$((fail + 1)); }
echo "test_private_headers: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
