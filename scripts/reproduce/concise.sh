#!/usr/bin/env bash
# concise — ConciseR's claim ("Walk Before You Run!", ALGORITHMS.md 7) on an addition task whose
# SFT traces carry 0..8 redundant steps (scripts/reproduce/concise_data.py): after an RL stage on
# accuracy alone, a second stage with the L-GRPO length reward (paid only when every completion
# of a group is correct) cuts the response length while accuracy holds; the cosine length reward
# (ALGORITHMS.md 8) in the same second stage is the comparison. Every seed in $SEEDS runs stage 1
# and both stage-2 rewards from its own stage-1 model; the table of test length and accuracy after
# each stage and the figure of both over training land in docs/RESULTS.md and docs/results/.
#
#   scripts/reproduce/concise.sh [OUT]     (default runs/reproduce/concise)
#   SFT_STEPS (default 1500), STEPS1 (stage 1, default 50), STEPS2 (stage 2, default 100),
#   SFT_FROM (an SFT model directory made by an earlier run of this script: no warm-up),
#   SEEDS, JOBS, RLVR: see lib.sh
. "$(dirname "$0")/lib.sh"
out=${1:-runs/reproduce/concise}
SFT_STEPS=${SFT_STEPS:-1500}
SFT_FROM=${SFT_FROM:-}
STEPS1=${STEPS1:-50}
STEPS2=${STEPS2:-100}
EVERY=${EVERY:-10}
cfg=configs/concise.json
rm -rf "$out"
mkdir -p "$out" docs/results
data=(--set data.train_path="$out/data/train.jsonl" --set data.test_path="$out/data/test.jsonl")
# the stage-2 length rewards, as the keys added to configs/concise.json (accuracy weight 1 stays):
# L-GRPO's λ (1 - L/L_max) with L_max the generation cap; the cosine reward with the paper's
# values (correct 2 -> 1, wrong -10 -> 0, -10 at the cap), no margin (16 of our 96 tokens would
# punish complete traces)
methods=("lgrpo|--set reward.lgrpo.weight=1 --set reward.lgrpo.max_len=96"
         "cosine|--set reward.cosine.weight=1 --set reward.cosine.max_len=96 --set reward.cosine.margin=0")

echo "concise: data, SFT warm-up of $SFT_STEPS steps${SFT_FROM:+ (taken from $SFT_FROM)}"
/usr/bin/python3 scripts/reproduce/concise_data.py "$out/data"
if [ -n "$SFT_FROM" ]; then
  mkdir -p "$out/sft" && cp -r "$SFT_FROM" "$out/sft/model"
else
  "$RLVR" init-model --arch qwen2 --out "$out/init" --hidden 64 --layers 2 --heads 4 --tie --seed 1 > /dev/null
  # one thread, the config's: the settings were chosen with it, and two ran SFT at 0.3 steps/s
  # while other work shared the cores
  "$RLVR" sft "$cfg" "${data[@]}" --set run.dir="$out/sft" --set model.path="$out/init" \
    --set sft.steps="$SFT_STEPS" > "$out/sft.log" 2>&1
fi
"$RLVR" eval "$cfg" "${data[@]}" --set model.path="$out/sft/model" --out "$out/eval-sft.json" >> "$out/sft.log" 2>&1

# Stage 1 for every seed; stage 2 continues a copy of its seed's stage-1 run directory (weights,
# AdamW moments, data order and step count resume) with the length reward added, so each stage-2
# run's eval.jsonl holds both stages. A stage-2 job waits for its seed's stage 1 to end, so $JOBS
# slots stay busy without starting one early.
: > "$out/jobs.txt"
for seed in $SEEDS; do
  s1=$out/stage1-s$seed
  echo "(\"$RLVR\" train $cfg ${data[*]} --set run.dir=$s1 --set model.path=$out/sft/model" \
    "--set run.seed=$seed --set train.steps=$STEPS1 --set train.eval_every=$EVERY &&" \
    "\"$RLVR\" eval $cfg ${data[*]} --set model.path=$s1/model --out $s1/eval-final.json) > $s1.log 2>&1" \
    "|| { touch $s1.failed; exit 1; }" >> "$out/jobs.txt"
done
for m in "${methods[@]}"; do
  name=${m%%|*} sets=${m#*|}
  for seed in $SEEDS; do
    s1=$out/stage1-s$seed run=$out/$name-s$seed
    echo "until [ -e $s1/eval-final.json ] || [ -e $s1.failed ]; do sleep 2; done;" \
      "[ -e $s1/eval-final.json ] && cp -r $s1 $run && rm $run/eval-final.json &&" \
      "\"$RLVR\" train $cfg ${data[*]} --set run.dir=$run --set model.path=$out/sft/model" \
      "--set run.seed=$seed --set train.steps=$((STEPS1 + STEPS2)) --set train.eval_every=$EVERY $sets" \
      "> $run.log 2>&1 &&" \
      "\"$RLVR\" eval $cfg ${data[*]} --set model.path=$run/model --out $run/eval-final.json >> $run.log 2>&1" \
      >> "$out/jobs.txt"
  done
done
echo "concise: $(wc -l < "$out/jobs.txt") RL runs, $STEPS1 steps of stage 1 then $STEPS2 of stage 2," \
  "$JOBS at a time ($(elapsed) so far)"
parallel "$out/jobs.txt"

bash scripts/plot.sh --seeds -o "$out/plots" -m eval/all/length -m eval/all/accuracy --tsv \
  "$out"/lgrpo-s*/ "$out"/cosine-s*/ > /dev/null
cp "$out/plots/eval_all_length.png" docs/results/concise-length.png
cp "$out/plots/eval_all_accuracy.png" docs/results/concise-accuracy.png

/usr/bin/python3 - "$out" "$SEEDS" "$STEPS1" "$STEPS2" > "$out/table.md" <<'PY'
import json, os, re, statistics, sys
out, seeds, steps1, steps2 = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), int(sys.argv[4])
def report(path):
    r = json.load(open(os.path.join(out, path)))["all"]
    return r["accuracy"], r["length"]
def spread(xs, fmt):
    return (fmt + " (" + fmt + " to " + fmt + ")") % (statistics.mean(xs), min(xs), max(xs))
# the floor: the evaluated test problems' traces without their redundant steps, in tokens (one per
# character, <think> and </think> one each, and the <eos>)
problems = json.load(open(os.path.join(out, "eval-sft.json")))["problems"]
rows = [json.loads(l) for l in open(os.path.join(out, "data", "test.jsonl"))][:problems]
def tokens(text):
    return len(text.replace("</think>", "E").replace("<think>", "T")) + 1
sft_data = statistics.mean(tokens(r["response"]) for r in rows)
floor = statistics.mean(tokens(re.sub(r"c\d{4};", "", r["response"])) for r in rows)
acc, length = report("eval-sft.json")
stage1 = [report("stage1-s%s/eval-final.json" % s) for s in seeds]
print("| after | test accuracy | length (tokens) | length vs stage 1 | accuracy vs stage 1 (points) |")
print("|---|---|---|---|---|")
print("| SFT | %.3f | %.1f | | |" % (acc, length))
print("| stage 1: accuracy reward, %d steps | %s | %s | | |" %
      (steps1, spread([a for a, _ in stage1], "%.3f"), spread([l for _, l in stage1], "%.1f")))
goal = {}
for name, title in (("lgrpo", "L-GRPO"), ("cosine", "cosine")):
    fin = [report("%s-s%s/eval-final.json" % (name, s)) for s in seeds]
    dl = [100 * (l / l1 - 1) for (_, l), (_, l1) in zip(fin, stage1)]
    da = [100 * (a - a1) for (a, _), (a1, _) in zip(fin, stage1)]
    goal[title] = sum(1 for x, y in zip(dl, da) if x <= -30 and y >= -1)
    print("| stage 2: + %s, %d more steps | %s | %s | %s%% | %s |" %
          (title, steps2, spread([a for a, _ in fin], "%.3f"), spread([l for _, l in fin], "%.1f"),
           spread(dl, "%+.1f"), spread(da, "%+.1f")))
print()
print("Mean (min to max) over seeds %s; test accuracy and length over %d problems x 4 samples. The SFT "
      "traces of these problems average %.1f tokens, %.1f without their redundant steps (the floor, "
      "%.0f%% below)." % (" ".join(seeds), problems, sft_data, floor, 100 * (1 - floor / sft_data)))
print()
print("Length and accuracy on 128 test problems x 4 samples over training (eval.jsonl, mean over "
      "seeds; stage 2 starts after step %d):" % steps1)
print()
curves = {}
for name in ("lgrpo", "cosine"):
    for s in seeds:
        for line in open(os.path.join(out, "%s-s%s" % (name, s), "eval.jsonl")):
            r = json.loads(line)
            curves.setdefault((name, r["step"]), []).append(r["eval"]["all"])
print("| step | L-GRPO length | L-GRPO accuracy | cosine length | cosine accuracy |")
print("|---|---|---|---|---|")
for step in sorted({k[1] for k in curves}):
    print("| %d | " % step + " | ".join(
        "%.1f | %.3f" % (statistics.mean(e["length"] for e in curves[(n, step)]),
                         statistics.mean(e["accuracy"] for e in curves[(n, step)])) for n in ("lgrpo", "cosine")) + " |")
print()
print("The goal (length down >= 30%% and accuracy down <= 1 point against the seed's stage-1 model) is "
      "met by L-GRPO in %d of %d seeds and by the cosine reward in %d." %
      (goal["L-GRPO"], len(seeds), goal["cosine"]))
PY
cat "$out/table.md"
{
  echo "Measured by \`scripts/reproduce/concise.sh\` (SFT $SFT_STEPS steps, stage 1 $STEPS1 steps, stage 2"
  echo "$STEPS2 steps, seeds $SEEDS; $(elapsed)${SFT_FROM:+ without the SFT, taken from an earlier run} on" \
    "$(nproc) cores of $(lscpu | sed -n 's/^Model name: *//p'))."
  echo
  cat "$out/table.md"
  echo
  echo "![test length over both stages](results/concise-length.png)"
  echo "![test accuracy over both stages](results/concise-accuracy.png)"
  echo
} > "$out/section.md"
results_section concise "$out/section.md"
echo "concise: done in $(elapsed); docs/RESULTS.md and docs/results/concise-*.png updated"
