#!/usr/bin/env bash
# thinkless — Thinkless's claims on the demo's hybrid addition task (docs/TRAINING.md): from one SFT
# model that answers in both modes, decoupled GRPO (DeGRPO) learns when to think, while coupled
# GRPO first collapses toward one mode; the think ratio traces a U over training. Each method
# trains with every seed in $SEEDS; the table of final test figures and the figures of think ratio
# and accuracy per difficulty over steps land in docs/RESULTS.md and docs/results/.
#
#   scripts/reproduce/thinkless.sh [OUT]     (default runs/reproduce/thinkless)
#   STEPS (default 200), SFT_STEPS (default 2000, the demo's), SEEDS, JOBS, RLVR: see lib.sh
. "$(dirname "$0")/lib.sh"
out=${1:-runs/reproduce/thinkless}
STEPS=${STEPS:-200}
SFT_STEPS=${SFT_STEPS:-2000}
cfg=configs/demo.json
rm -rf "$out"
mkdir -p "$out" docs/results
# the two methods, as the config keys that differ from configs/demo.json (DeGRPO, α = 1):
# coupled GRPO with the paper's sequence-mean aggregation, the setting in which it collapses
methods=("degrpo|" "grpo|--set algo.estimator=grpo --set algo.aggregation=seq_mean_token_mean")

echo "thinkless: SFT warm-up, $SFT_STEPS steps"
# one thread, the config's: the settings were chosen with it, and two ran SFT at 0.3 steps/s
# while other work shared the cores
"$RLVR" init-model --arch qwen2 --out "$out/init" --hidden 64 --layers 2 --heads 4 --tie --seed 1 > /dev/null
"$RLVR" sft "$cfg" --set run.dir="$out/sft" --set model.path="$out/init" \
  --set sft.steps="$SFT_STEPS" > "$out/sft.log" 2>&1
"$RLVR" eval "$cfg" --set model.path="$out/sft/model" --out "$out/eval-sft.json" >> "$out/sft.log" 2>&1

: > "$out/jobs.txt"
for m in "${methods[@]}"; do
  name=${m%%|*} sets=${m#*|}
  for seed in $SEEDS; do
    run=$out/$name-s$seed
    echo "\"$RLVR\" train $cfg --set run.dir=$run --set model.path=$out/sft/model --set run.seed=$seed" \
      "--set train.steps=$STEPS --set train.eval_every=5 --set eval.problems=128 $sets > $run.log 2>&1 &&" \
      "\"$RLVR\" eval $cfg --set model.path=$run/model --out $run/eval-final.json >> $run.log 2>&1" >> "$out/jobs.txt"
  done
done
echo "thinkless: $(wc -l < "$out/jobs.txt") RL runs of $STEPS steps, $JOBS at a time ($(elapsed) so far)"
parallel "$out/jobs.txt"

runs=$(ls -d "$out"/*-s*/ | tr '\n' ' ')
# shellcheck disable=SC2086
bash scripts/plot.sh --seeds -o "$out/plots" -m eval/easy/think_ratio,eval/hard/think_ratio \
  -m eval/easy/accuracy,eval/hard/accuracy --tsv $runs > /dev/null
cp "$out/plots/eval_easy_think_ratio+eval_hard_think_ratio.png" docs/results/thinkless-think-ratio.png
cp "$out/plots/eval_easy_accuracy+eval_hard_accuracy.png" docs/results/thinkless-accuracy.png

/usr/bin/python3 - "$out" "$SEEDS" "$STEPS" > "$out/table.md" <<'PY'
import json, os, statistics, sys
out, seeds, steps = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
sft = json.load(open(os.path.join(out, "eval-sft.json")))
fields = [("easy", "accuracy"), ("hard", "accuracy"), ("easy", "think_ratio"), ("hard", "think_ratio")]
def pick(report, g, f):
    return report["groups"][g][f]
def spread(xs):
    return "%.3f (%.3f-%.3f)" % (statistics.mean(xs), min(xs), max(xs))
print("| after | easy accuracy | hard accuracy | easy think ratio | hard think ratio |")
print("|---|---|---|---|---|")
print("| SFT | " + " | ".join("%.3f" % pick(sft, g, f) for g, f in fields) + " |")
goal = {}
for name in ("degrpo", "grpo"):
    finals = [json.load(open(os.path.join(out, "%s-s%s" % (name, s), "eval-final.json"))) for s in seeds]
    print("| %s, %d steps, mean (min-max) over %d seeds | " % (name, steps, len(seeds)) +
          " | ".join(spread([pick(r, g, f) for r in finals]) for g, f in fields) + " |")
    goal[name] = [pick(r, "hard", "accuracy") >= 0.95 and
                  pick(r, "easy", "accuracy") >= pick(sft, "easy", "accuracy") - 0.02 and
                  pick(r, "easy", "think_ratio") <= 0.10 and pick(r, "hard", "think_ratio") >= 0.95
                  for r in finals]
print()
print("Think ratio on the test problems over training (eval.jsonl, mean over seeds): a collapse "
      "toward one mode shows as both difficulties moving together; the U as a rise, then a fall on easy:")
print()
print("| step | " + " | ".join("%s easy | %s hard" % (n, n) for n in ("degrpo", "grpo")) + " |")
print("|---|---|---|---|---|")
curves = {}
for name in ("degrpo", "grpo"):
    for s in seeds:
        for line in open(os.path.join(out, "%s-s%s" % (name, s), "eval.jsonl")):
            r = json.loads(line)
            for g in ("easy", "hard"):
                curves.setdefault((name, g, r["step"]), []).append(r["eval"]["groups"][g]["think_ratio"])
# every evaluation (5 steps apart) of the first 50 steps, where the U's rise would be, then every 25
for step in sorted(k for k in {k[2] for k in curves} if k <= 50 or k % 25 == 0):
    print("| %d | " % step + " | ".join("%.3f" % statistics.mean(curves[(n, g, step)])
                                         for n in ("degrpo", "grpo") for g in ("easy", "hard")) + " |")
print()
# the U, seed by seed (a mean over seeds blurs a rise that comes at different steps): the easy
# think ratio's peak after step 0 against its start, and where it ends
print("DeGRPO's easy think ratio per seed: at step 0, its peak after step 0 (step), at the end:")
print()
print("| seed | step 0 | peak | end |")
print("|---|---|---|---|")
for s in seeds:
    easy = [(step, v[seeds.index(s)]) for step, v in sorted((k[2], v) for k, v in curves.items()
                                                            if k[0] == "degrpo" and k[1] == "easy")]
    peak = max(easy[1:], key=lambda e: e[1])
    print("| %s | %.3f | %.3f (%d) | %.3f |" % (s, easy[0][1], peak[1], peak[0], easy[-1][1]))
print()
print("DeGRPO meets the goal (hard accuracy >= 0.95, easy accuracy >= SFT's - 0.02, easy think ratio "
      "<= 0.10, hard >= 0.95) in %d of %d seeds." % (sum(goal["degrpo"]), len(seeds)))
PY
cat "$out/table.md"
{
  echo "Measured by \`scripts/reproduce/thinkless.sh\` (SFT $SFT_STEPS steps, RL $STEPS steps, seeds $SEEDS;"
  echo "$(elapsed) on $(nproc) cores of $(lscpu | sed -n 's/^Model name: *//p'))."
  echo
  cat "$out/table.md"
  echo
  echo "![think ratio per difficulty](results/thinkless-think-ratio.png)"
  echo "![accuracy per difficulty](results/thinkless-accuracy.png)"
  echo
} > "$out/section.md"
results_section thinkless "$out/section.md"
echo "thinkless: done in $(elapsed); docs/RESULTS.md and docs/results/thinkless-*.png updated"
