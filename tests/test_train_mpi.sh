#!/usr/bin/env bash
# test_train_mpi — `rlvr train` under mpirun on this CPU machine: a 2-rank run samples the same
# rollouts as a 1-rank run with the same global batch and ends with the same weights (within
# rounding; also with the old log-probs recomputed and TIS, and with LoRA), two 2-rank runs are bit-identical, an
# uneven split is a config error, a killed
# rank ends the whole job with a message instead of a hang, and a graceful stop ends it with 0.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MPI=(mpirun --oversubscribe -np 2)
[ "$(id -u)" -eq 0 ] && MPI=(mpirun --allow-run-as-root --oversubscribe -np 2)
# Under AddressSanitizer, memory errors are still checked, but not leaks: OpenMPI unloads its
# plugins at MPI_Finalize, so LeakSanitizer cannot attribute their process-lifetime allocations
# (tests/test_dist.sh checks one MPI job's leaks with the slow unwinder; test_train.sh checks the
# trainer's own allocations in single-process runs).
ldd "$RLVR" | grep -q libasan && export ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0"
# metrics without timings, the log-prob gap and the policy loss (their rounding depends on the
# batch layout; the weights are compared within rounding below)
timings() { sed -E 's/"(gen_tok_s|train_tok_s|rollout_s|reward_s|train_s|step_s)": [0-9.e+-]+//g' "$1"; }

"$RLVR" init-model --arch qwen2 --out "$tmp/init" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --tie --seed 3 >/dev/null
cat > "$tmp/cfg.json" <<JSON
{
  "run": {"seed": 9, "log_level": "warn"},
  "model": {"path": "$tmp/init", "chat_template": "none"},
  "data": {"source": "addition", "train_size": 128, "test_size": 16},
  "rollout": {"max_new_tokens": 16},
  "reward": {"verifier": "math", "format": {"weight": 0.5}},
  "algo": {"estimator": "grpo", "aggregation": "token_mean"},
  "optim": {"lr": 1e-3},
  "train": {"steps": 3, "prompts_per_step": 8, "group_size": 4, "mini_batches": 2, "save_every": 0}
}
JSON

"$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/one" > "$tmp/one.log" 2>&1 && ok || bad "1-rank run: $(tail -2 "$tmp/one.log")"
"${MPI[@]}" "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/two" > "$tmp/two.log" 2>&1 && ok || bad "2-rank run: $(tail -3 "$tmp/two.log")"
"${MPI[@]}" "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/two2" > "$tmp/two2.log" 2>&1 && ok || bad "2-rank rerun: $(tail -3 "$tmp/two2.log")"
[ "$(wc -l < "$tmp/two/metrics.jsonl" 2>/dev/null)" = 3 ] && ok || bad "rank 0 wrote no metrics"
[ -f "$tmp/two/rollouts.h5" ] && [ -f "$tmp/two/rollouts.rank1.h5" ] && ok || bad "missing per-rank rollout logs"
diff <(metrics "$tmp/one/metrics.jsonl" logprob_gap_max logprob_gap_mean pg_loss) <(metrics "$tmp/two/metrics.jsonl" logprob_gap_max logprob_gap_mean pg_loss) > "$tmp/d1" && ok \
  || { bad "1-rank and 2-rank rollouts/rewards differ"; head -5 "$tmp/d1" >&2; }
# max |a - b| over the weights of two model directories
wdiff() {
  $PY - "$1/model.safetensors" "$2/model.safetensors" <<'PYEOF'
import json, struct, sys
import numpy as np
def read(p):
    b = open(p, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n]); base = 8 + n
    return {k: np.frombuffer(b[base + v["data_offsets"][0]:base + v["data_offsets"][1]], dtype=np.float32)
            for k, v in h.items() if k != "__metadata__"}
a, b = read(sys.argv[1]), read(sys.argv[2])
print(max(float(np.max(np.abs(a[k] - b[k]))) for k in a))
PYEOF
}
d=$(wdiff "$tmp/one/model" "$tmp/two/model")
$PY -c "import sys; sys.exit(0 if $d < 1e-5 else 1)" && ok || bad "1-rank vs 2-rank weights differ by $d"
# one_vs_two TAG WHAT --set ...: a 1-rank and a 2-rank run with these settings give the same
# metrics and weights within 1e-5
one_vs_two() {
  local tag=$1 what=$2 d
  shift 2
  "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/one-$tag" "$@" > "$tmp/one-$tag.log" 2>&1 && ok || bad "1-rank $what run: $(tail -2 "$tmp/one-$tag.log")"
  "${MPI[@]}" "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/two-$tag" "$@" > "$tmp/two-$tag.log" 2>&1 && ok || bad "2-rank $what run: $(tail -3 "$tmp/two-$tag.log")"
  diff <(metrics "$tmp/one-$tag/metrics.jsonl" logprob_gap_max logprob_gap_mean pg_loss) <(metrics "$tmp/two-$tag/metrics.jsonl" logprob_gap_max logprob_gap_mean pg_loss) > "$tmp/d-$tag" && ok \
    || { bad "$what: 1-rank and 2-rank metrics differ"; head -5 "$tmp/d-$tag" >&2; }
  d=$(wdiff "$tmp/one-$tag/model" "$tmp/two-$tag/model")
  $PY -c "import sys; sys.exit(0 if $d < 1e-5 else 1)" && ok || bad "$what: 1-rank vs 2-rank weights differ by $d"
}
# old log-probs recomputed by the trainer and truncated importance sampling keep the contract
one_vs_two rc "recompute + TIS" --set algo.old_logprobs=recompute --set algo.tis_cap=2
# LoRA: only the adapters are all-reduced, and 2 ranks still train as 1 (dropout stays off here:
# each rank draws its own)
one_vs_two lora LoRA --set model.lora.targets=q,v,up --set model.lora.rank=4 --set model.lora.alpha=8 --set optim.lr=1e-2
d=$(wdiff "$tmp/init" "$tmp/one-lora/model")
$PY -c "import sys; sys.exit(0 if $d > 1e-4 else 1)" && ok || bad "LoRA: the adapters did not train (merged weights moved by $d)"
diff <(timings "$tmp/two/metrics.jsonl") <(timings "$tmp/two2/metrics.jsonl") >/dev/null && ok || bad "two 2-rank runs' metrics differ"
cmp -s "$tmp/two/model/model.safetensors" "$tmp/two2/model/model.safetensors" && ok || bad "two 2-rank runs' weights differ"

out=$("${MPI[@]}" "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/uneven" --set train.prompts_per_step=6 2>&1)
[[ "$out" == *"must be a multiple of train.mini_batches (2) x ranks (2)"* ]] && ok || bad "uneven split: $out"

out=$("${MPI[@]}" "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/sft2" 2>&1)
[[ "$out" == *"rlvr sft runs as one process, not 2 ranks"* ]] && ok || bad "sft under mpirun: $out"

# a rank killed mid-run ends the job, with a message, well before the test's own limit
"${MPI[@]}" "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/kill" --set train.steps=100000 --set dist.timeout_s=20 > "$tmp/kill.log" 2>&1 &
job=$!
for _ in $(seq 200); do [ -s "$tmp/kill/metrics.jsonl" ] && break; sleep 0.1; done
victim=$(pgrep -f "run.dir=$tmp/kill" | while read -r p; do [ "$(ps -o comm= -p "$p")" = rlvr ] && echo "$p"; done | tail -1)
[ -n "$victim" ] && kill -9 "$victim"
t0=$(date +%s)
timeout 60 tail --pid=$job -f /dev/null
status=$?
[ $status -eq 0 ] || pkill -9 -f "run.dir=$tmp/kill" # never wait on a job that outlived the limit
wait $job; jstatus=$?
[ $status -eq 0 ] && [ $jstatus -ne 0 ] && ok || bad "job did not end after a rank was killed (status $status/$jstatus)"
grep -qiE "exited|killed|signal|abort" "$tmp/kill.log" && ok || bad "no message after a rank was killed: $(tail -3 "$tmp/kill.log")"
echo "ended $(( $(date +%s) - t0 )) s after the kill" >&2

# a graceful stop ends the job with status 0 and a checkpoint: SIGUSR1 to mpirun (which forwards
# it to every rank; SIGTERM or SIGINT to mpirun is Open MPI's abort and always exits 1), or
# SIGTERM to the ranks themselves
ranks() { pgrep -f "run.dir=$1" | while read -r p; do [ "$(ps -o comm= -p "$p")" = rlvr ] && echo "$p"; done; }
for how in usr1-mpirun term-ranks; do
  "${MPI[@]}" "$RLVR" train "$tmp/cfg.json" --set run.dir="$tmp/$how" --set train.steps=100000 > "$tmp/$how.log" 2>&1 &
  job=$!
  for _ in $(seq 200); do [ -s "$tmp/$how/metrics.jsonl" ] && break; sleep 0.1; done
  if [ $how = usr1-mpirun ]; then kill -USR1 $job; else kill -TERM $(ranks "$tmp/$how"); fi
  timeout 60 tail --pid=$job -f /dev/null || pkill -9 -f "run.dir=$tmp/$how"
  wait $job; status=$?
  [ $status -eq 0 ] && grep -q "stopping at step" "$tmp/$how.log" && ls "$tmp/$how"/ckpt-*.h5 >/dev/null 2>&1 && ok \
    || bad "graceful stop by $how: status $status, $(tail -3 "$tmp/$how.log")"
done

finish test_train_mpi
