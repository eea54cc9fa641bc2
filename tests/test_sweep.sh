#!/usr/bin/env bash
# test_sweep — scripts/sweep.sh runs every combination of its values as one training run each
# (two side by side), tabulates the last step of each, and reports a failed run with a non-zero
# exit while the others still finish.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
export RLVR

"$RLVR" init-model --arch qwen2 --out "$tmp/m" --hidden 32 --layers 1 --heads 2 --tie >/dev/null
cat > "$tmp/cfg.json" <<JSON
{"run": {"log_level": "warn"}, "model": {"path": "$tmp/m", "chat_template": "none"},
 "data": {"source": "addition", "train_size": 64}, "rollout": {"max_new_tokens": 8},
 "train": {"steps": 2, "prompts_per_step": 2, "group_size": 2, "save_every": 0}}
JSON
out=$(bash "$SRC/scripts/sweep.sh" -j 2 "$tmp/cfg.json" "$tmp/s" run.seed=1,2 algo.estimator=grpo,drgrpo 2>&1)
[ $? -eq 0 ] && ok || bad "sweep failed: $out"
[ "$(tail -n +2 "$tmp/s/summary.tsv" | wc -l)" -eq 4 ] && ok || bad "summary.tsv lacks 4 runs: $(cat "$tmp/s/summary.tsv")"
for run in run.seed-1_algo.estimator-grpo run.seed-2_algo.estimator-drgrpo; do
  [ "$(wc -l < "$tmp/s/$run/metrics.jsonl")" -eq 2 ] && ok || bad "run $run did not train 2 steps"
  grep -q "^$run	2	" "$tmp/s/summary.tsv" && ok || bad "summary has no step-2 row for $run"
done
grep -q '"estimator":	"drgrpo"' "$tmp/s/run.seed-1_algo.estimator-drgrpo/config.json" && ok || bad "the override did not reach the run"
out=$(bash "$SRC/scripts/sweep.sh" "$tmp/cfg.json" "$tmp/f" train.group_size=2,0 2>&1)
[ $? -ne 0 ] && [[ "$out" == *"train.group_size-0 FAILED"*"train.group_size"* ]] && ok || bad "a failing run was not reported: $out"
[ -f "$tmp/f/train.group_size-2/metrics.jsonl" ] && ok || bad "the good run of a failing sweep did not finish"
finish test_sweep
