# lib.sh — what the shell tests share; each sources it first. It sets: strict unset variables;
# RLVR (the binary, from ctest's RLVR_BIN), SRC (the source tree) and PY (the system Python); a
# temporary directory $tmp, removed on exit after the test's own cleanup() if it defines one;
# pass/fail counters with ok and bad; expect, for a command's exit status and a fragment of its
# output; metrics, a metrics.jsonl without its timings; finish, which prints the summary line and
# returns the test's status.
set -u
RLVR=${RLVR_BIN:?set RLVR_BIN to the rlvr binary}
SRC=${RLVR_SRC:-.}
PY=/usr/bin/python3
pass=0 fail=0
tmp=$(mktemp -d)
cleanup() { :; }
trap 'cleanup; rm -rf "$tmp"' EXIT

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAILED: $*" >&2; }

# expect STATUS FRAGMENT -- CMD...: CMD exits with STATUS and its stdout+stderr holds FRAGMENT
expect() {
  local want=$1 frag=$2; shift 3
  local out status
  out=$("$@" 2>&1); status=$?
  if [ "$status" -ne "$want" ]; then bad "'$*' exited $status, expected $want: $(echo "$out" | tail -3)"; return; fi
  if [[ "$out" != *"$frag"* ]]; then bad "'$*' output lacks '$frag': $(echo "$out" | tail -3)"; return; fi
  ok
}

# metrics FILE [KEY...]: metrics.jsonl without its timings (and the named keys), for comparing runs
metrics() {
  local keys="gen_tok_s|train_tok_s|rollout_s|reward_s|train_s|step_s|tokens_per_s" f=$1
  shift
  for k in "$@"; do keys="$keys|$k"; done
  sed -E "s/\"($keys)\": [0-9.e+-]+//g" "$f"
}

# finish NAME: the summary line; the status is the test's (0 when nothing failed)
finish() {
  echo "$1: $pass passed, $fail failed"
  [ "$fail" -eq 0 ]
}
