#!/usr/bin/env bash
# nsr — the negative-reinforcement paper's claims on an easy countdown whose problems each have
# several correct expressions (scripts/reproduce/nsr_data.py: 3 numbers from 1..12, a target in
# 10..99): from one think-only SFT model, PSR (correct samples only) raises pass@1 and lowers
# pass@k at large k; NSR (wrong samples only) keeps or raises pass@k across k; W-REINFORCE
# (λ = 0.1) is best or tied across k; GRPO is the baseline. Each method trains with every seed in
# $SEEDS; pass@k (k = 1 ... 64, temperature 0.6) before and after RL lands in docs/RESULTS.md and
# docs/results/nsr-passk.png.
#
#   scripts/reproduce/nsr.sh [OUT]     (default runs/reproduce/nsr)
#   STEPS (RL, default 80), SFT_STEPS (default 350), PROBLEMS (test problems, default 128),
#   SEEDS, JOBS, RLVR: see lib.sh
. "$(dirname "$0")/lib.sh"
out=${1:-runs/reproduce/nsr}
STEPS=${STEPS:-80}
SFT_STEPS=${SFT_STEPS:-350}
PROBLEMS=${PROBLEMS:-128}
rm -rf "$out"
mkdir -p "$out" docs/results
cfg=$out/nsr.json
# the paper's setting scaled to a 0.9M-parameter model: 0/1 accuracy reward, no KL, the reference
# code's entropy bonus of 0.001, rollouts at temperature 1, evaluation at 0.6 with 64 samples per
# problem (unbiased pass@k); the test set is the PROBLEMS problems the evaluation scores, none of
# them trained on. The step size is small, as the paper's (1e-6 on a 7B model): in one-seed probes
# (docs/RESULTS.md) NSR lost pass@k at large k at lr 1e-4 and 3e-5 and kept it at 1e-5 over 80
# steps; the entropy bonus moved pass@k there by at most 0.015
cat > "$cfg" <<JSON
{
  "run": {"threads": 1},
  "model": {"path": "$out/init", "chat_template": "none"},
  "data": {"source": "jsonl", "train_path": "$out/data/train.jsonl", "test_path": "$out/data/test.jsonl"},
  "sft": {"steps": $SFT_STEPS, "batch_size": 64, "lr": 2e-3, "min_lr": 1e-4, "warmup_steps": 50},
  "rollout": {"max_new_tokens": 96, "temperature": 1.0},
  "reward": {"verifier": "countdown", "accuracy": {"weight": 1, "correct": 1, "wrong": 0}},
  "algo": {"kl": {"coef": 0}, "entropy_coef": 0.001, "wreinforce": {"lambda": 0.1}},
  "optim": {"lr": 1e-5, "schedule": "constant", "weight_decay": 0, "grad_clip": 1},
  "train": {"steps": $STEPS, "prompts_per_step": 16, "group_size": 8, "save_every": 0, "log_every": 10},
  "eval": {"problems": $PROBLEMS, "samples": 64, "temperature": 0.6}
}
JSON
methods=(psr nsr wreinforce grpo)

echo "nsr: data, SFT warm-up on the step-by-step traces, $SFT_STEPS steps"
/usr/bin/python3 scripts/reproduce/nsr_data.py "$out/data" --test "$PROBLEMS"
"$RLVR" init-model --arch qwen2 --out "$out/init" --hidden 128 --layers 4 --heads 4 --tie --seed 1 > /dev/null
"$RLVR" sft "$cfg" --set run.dir="$out/sft" > "$out/sft.log" 2>&1

# the SFT model's evaluation runs beside the first RL run
echo "\"$RLVR\" eval $cfg --set model.path=$out/sft/model --out $out/eval-sft.json >> $out/sft.log 2>&1" > "$out/jobs.txt"
for name in "${methods[@]}"; do
  for seed in $SEEDS; do
    run=$out/$name-s$seed
    echo "\"$RLVR\" train $cfg --set run.dir=$run --set model.path=$out/sft/model --set run.seed=$seed" \
      "--set algo.estimator=$name > $run.log 2>&1 &&" \
      "\"$RLVR\" eval $cfg --set model.path=$run/model --set run.seed=$seed --out $run/eval-final.json >> $run.log 2>&1" \
      >> "$out/jobs.txt"
  done
done
echo "nsr: $(( $(wc -l < "$out/jobs.txt") - 1 )) RL runs of $STEPS steps, $JOBS at a time ($(elapsed) so far)"
parallel "$out/jobs.txt"

/usr/bin/python3 - "$out" "$SEEDS" "$STEPS" "${methods[@]}" > "$out/table.md" <<'PY'
import json, os, statistics, sys
out, seeds, steps, methods = sys.argv[1], sys.argv[2].split(), int(sys.argv[3]), sys.argv[4:]
def passk(path):
    return {int(k): v for k, v in json.load(open(path))["all"]["pass_at_k"].items()}
sft = passk(os.path.join(out, "eval-sft.json"))
ks = sorted(sft)
print("| after | " + " | ".join("pass@%d" % k for k in ks) + " |")
print("|---|" + "---|" * len(ks))
print("| SFT | " + " | ".join("%.3f" % sft[k] for k in ks) + " |")
tsv = open(os.path.join(out, "passk.tsv"), "w")
tsv.write("# method k mean min max\n")
tsv.write("\n".join("sft %d %.4f %.4f %.4f" % (k, sft[k], sft[k], sft[k]) for k in ks) + "\n\n\n")
for name in methods:
    finals = [passk(os.path.join(out, "%s-s%s" % (name, s), "eval-final.json")) for s in seeds]
    cells = []
    for k in ks:
        xs = [f[k] for f in finals]
        m = statistics.mean(xs)
        cells.append("%.3f (%.3f-%.3f)" % (m, min(xs), max(xs)))
        tsv.write("%s %d %.4f %.4f %.4f\n" % (name, k, m, min(xs), max(xs)))
    tsv.write("\n\n")
    print("| %s, %d steps, mean (min-max) over %d seeds | " % (name, steps, len(seeds)) + " | ".join(cells) + " |")
PY
cat "$out/table.md"
# pass@k against k, one line per method (mean over seeds, min-max as error bars); the SFT model first
gnuplot <<GP
set terminal pngcairo size 960,560 noenhanced
set output "docs/results/nsr-passk.png"
set logscale x 2
set xlabel "k (samples per problem, temperature 0.6)"
set ylabel "pass@k on $PROBLEMS test problems"
set key bottom right
set grid
plot for [i=0:4] "$out/passk.tsv" index i using 2:3:4:5 with yerrorlines title word("SFT ${methods[*]}", i + 1)
GP
{
  echo "Measured by \`scripts/reproduce/nsr.sh\` (SFT $SFT_STEPS steps, RL $STEPS steps, seeds $SEEDS;"
  echo "$(elapsed) on $(nproc) cores of $(lscpu | sed -n 's/^Model name: *//p'), load average $(cut -d' ' -f1-3 /proc/loadavg))."
  echo
  cat "$out/table.md"
  echo
  echo "![pass@k before and after RL](results/nsr-passk.png)"
  echo
} > "$out/section.md"
results_section nsr "$out/section.md"
echo "nsr: done in $(elapsed); docs/RESULTS.md and docs/results/nsr-passk.png updated"
