# shellcheck shell=bash
# lib.sh — what the reproduction scripts share: the binary, the seeds, running jobs side by side,
# and writing a result section into docs/RESULTS.md. Sourced, not run.
#
#   RLVR   the rlvr binary (default build/rlvr)
#   SEEDS  the RL seeds, space-separated (default "1 2 3")
#   JOBS   trainings run side by side (default 2: one thread each uses a 2-core machine best)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
RLVR=${RLVR:-build/rlvr}
SEEDS=${SEEDS:-1 2 3}
JOBS=${JOBS:-2}
[ -x "$RLVR" ] || { echo "reproduce: $RLVR not found; run scripts/build.sh first" >&2; exit 1; }
command -v gnuplot > /dev/null || { echo "reproduce: gnuplot not found: run scripts/setup.sh" >&2; exit 1; }
t_start=$(date +%s)

# Run the lines of file $1 as shell commands, $JOBS at a time; each line's output goes to the log
# its `> FILE` names. Fails after all ran when any failed.
parallel() {
  xargs -P "$JOBS" -I{} -d '\n' bash -c '{}' < "$1"
}

# Put file $2 into docs/RESULTS.md between the lines <!-- $1:begin --> and <!-- $1:end -->,
# replacing what was there (the markers must exist: RESULTS.md's prose frames each section).
results_section() {
  /usr/bin/python3 - "$1" "$2" docs/RESULTS.md <<'PY'
import sys
name, body, path = sys.argv[1], open(sys.argv[2]).read(), sys.argv[3]
text = open(path).read()
begin, end = "<!-- %s:begin -->\n" % name, "<!-- %s:end -->" % name
if begin not in text or end not in text:
    sys.exit("reproduce: %s has no %s ... %s markers" % (path, begin.strip(), end))
head, rest = text.split(begin, 1)
open(path, "w").write(head + begin + body + end + rest.split(end, 1)[1])
PY
}

elapsed() { echo "$(( $(date +%s) - t_start )) s"; }
