#!/usr/bin/env bash
# sweep — ablations as shell sweeps: every combination of the given `--set` values is one
# `rlvr train` run in its own directory under OUT, then the last step's metrics of every run
# are tabulated (printed, and written to OUT/summary.tsv).
#
#   scripts/sweep.sh [-j N] [--plot] CONFIG OUT key=v1,v2 [key=v1,v2 ...] [-- extra rlvr train args]
#
# e.g. scripts/sweep.sh -j 2 configs/demo.json runs/sweep algo.estimator=grpo,degrpo run.seed=1,2
# -j runs N trainings side by side (each keeps run.threads, 1 by default: on small models two
# one-thread runs use a 2-core machine better than one two-thread run). --plot draws the runs
# together into OUT/plots (scripts/plot.sh --seeds: one line per setting, the mean over the
# seeds with a min-max band). RLVR names the binary (default build/rlvr). A failed run is
# reported and the sweep exits non-zero after the others.
set -euo pipefail
jobs=1 plot=0
while [ $# -gt 0 ]; do
  case $1 in
    -j) jobs=${2:?-j needs a number}; shift 2 ;;
    --plot) plot=1; shift ;;
    *) break ;;
  esac
done
[ $# -ge 3 ] || { sed -n '5,6p' "$0" | sed 's/^# *//' >&2; exit 2; }
cfg=$1 out=$2
shift 2
RLVR=${RLVR:-build/rlvr}
axes=() extra=()
while [ $# -gt 0 ]; do
  if [ "$1" = "--" ]; then shift; extra=("$@"); break; fi
  [[ "$1" == *=* ]] || { echo "sweep: '$1' is not key=v1,v2,..." >&2; exit 2; }
  axes+=("$1")
  shift
done
mkdir -p "$out"
# every combination as lines of "name<TAB>--set k=v --set k=v"
combos=("")
for axis in "${axes[@]}"; do
  key=${axis%%=*} values=${axis#*=} next=()
  IFS=, read -r -a vals <<< "$values"
  for c in "${combos[@]}"; do
    for v in "${vals[@]}"; do next+=("$c${c:+ }$key=$v"); done
  done
  combos=("${next[@]}")
done
: > "$out/runs.txt"
for c in "${combos[@]}"; do
  name=$(echo "$c" | tr ' /=' '_+-')
  echo "$name $c" >> "$out/runs.txt"
done
run_one() { # name k=v ...
  local name=$1; shift
  local sets=()
  for kv in "$@"; do sets+=(--set "$kv"); done
  if "$RLVR" train "$cfg" --set run.dir="$out/$name" "${sets[@]}" "${extra[@]+"${extra[@]}"}" > "$out/$name.log" 2>&1; then
    echo "sweep: $name done"
  else
    echo "sweep: $name FAILED: $(grep -m1 'error' "$out/$name.log" || tail -1 "$out/$name.log")" >&2
    return 1
  fi
}
export -f run_one
export RLVR cfg out
status=0
extra_q=""
[ ${#extra[@]} -gt 0 ] && extra_q=$(printf '%q ' "${extra[@]}")
xargs -P "$jobs" -L 1 bash -c "extra=($extra_q); run_one \"\$@\"" _ < "$out/runs.txt" || status=1
/usr/bin/python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
keys = ["reward", "accuracy", "length", "think_ratio", "entropy", "step_s"]
rows = []
for line in open(os.path.join(out, "runs.txt")):
    name = line.split()[0]
    path = os.path.join(out, name, "metrics.jsonl")
    last = None
    if os.path.exists(path):
        for l in open(path):
            last = json.loads(l)
    rows.append([name, str(last["step"]) if last else "-"] +
                ["%.4f" % last[k] if last else "-" for k in keys])
head = ["run", "step"] + keys
with open(os.path.join(out, "summary.tsv"), "w") as f:
    for r in [head] + rows:
        f.write("\t".join(r) + "\n")
width = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]
for r in [head] + rows:
    print("  ".join(c.ljust(w) for c, w in zip(r, width)))
PY
if [ $plot -eq 1 ]; then
  runs=()
  while read -r name _; do
    [ -s "$out/$name/metrics.jsonl" ] && runs+=("$out/$name")
  done < "$out/runs.txt"
  if [ ${#runs[@]} -eq 0 ]; then
    echo "sweep: no run logged a step: nothing to plot" >&2
    status=1
  else
    bash "$(dirname "$0")/plot.sh" --seeds -o "$out/plots" "${runs[@]}" || status=1
  fi
fi
exit $status
