#!/usr/bin/env bash
# launch_local — run an rlvr command as N ranks on this machine with mpirun: one rank per GPU when
# GPUs are visible (NCCL between them), else N CPU ranks (MPI between them).
# Usage: scripts/launch_local.sh [-n RANKS] [-- ] RLVR_ARGS...
#   scripts/launch_local.sh train configs/demo.json                # every GPU, or 1 CPU rank
#   scripts/launch_local.sh -n 2 train configs/demo.json --set run.threads=1
# Environment: RLVR (the binary; default build/rlvr), MPIRUN_ARGS (extra mpirun options).
# The global train.prompts_per_step must divide evenly over the ranks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
rlvr=${RLVR:-$root/build/rlvr}
n=""
while [ $# -gt 0 ]; do
  case $1 in
    -n) n=${2:?-n needs a number of ranks}; shift 2 ;;
    --) shift; break ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
[ -x "$rlvr" ] || { echo "launch_local: no rlvr binary at $rlvr (set RLVR)" >&2; exit 2; }
command -v mpirun >/dev/null || { echo "launch_local: mpirun not found (Debian: openmpi-bin)" >&2; exit 2; }
if [ -z "$n" ]; then
  gpus=0
  command -v nvidia-smi >/dev/null && gpus=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU' || true)
  n=$(( gpus > 0 ? gpus : 1 ))
fi
args=(-np "$n" --bind-to none)
[ "$(id -u)" -eq 0 ] && args+=(--allow-run-as-root)
[ "$n" -gt "$(nproc)" ] && args+=(--oversubscribe)
# shellcheck disable=SC2086 # MPIRUN_ARGS is a list of options
exec mpirun "${args[@]}" ${MPIRUN_ARGS:-} "$rlvr" "$@"
