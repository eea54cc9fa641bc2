#!/usr/bin/env bash
# test_plot — scripts/plot.sh draws real runs (a tiny model trained 3 steps) into valid PNGs:
# `sweep.sh --plot` puts every figure of four runs into OUT/plots; the seed groups' numbers
# (--tsv) are the mean, min and max over the seeds of metrics.jsonl; the EMA is TensorBoard's;
# eval.jsonl gives per-difficulty figures; an SFT run gives its loss. A missing run, an empty or
# malformed metrics file, an unknown metric, a bad option, a run without config.json under
# --seeds and a missing gnuplot each give one clear error and a non-zero exit.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PLOT="$SRC/scripts/plot.sh"
export RLVR
# pngs DIR NAME... : each DIR/NAME.png is a PNG of 960x560 with an end chunk, 3 KB to 2 MB
pngs() {
  local dir=$1; shift
  "$PY" - "$dir" "$@" <<'PY'
import os, struct, sys
d, names = sys.argv[1], sys.argv[2:]
for n in names:
    b = open(os.path.join(d, n + ".png"), "rb").read()
    assert b[:8] == b"\x89PNG\r\n\x1a\n" and b[12:16] == b"IHDR", n + ": no PNG signature"
    assert struct.unpack(">II", b[16:24]) == (960, 560), n + ": size %dx%d" % struct.unpack(">II", b[16:24])
    assert b[-8:-4] == b"IEND", n + ": no IEND chunk (truncated)"
    assert 3000 < len(b) < 2000000, n + ": %d bytes" % len(b)
PY
}
# fails NAME EXIT FRAGMENT -- command...: exit status EXIT, and the first stderr line is
# "plot: ..." holding FRAGMENT
fails() {
  local name=$1 want=$2 frag=$3; shift 4
  local err rc
  err=$("$@" 2>&1 >/dev/null)
  rc=$?
  if [ $rc -eq "$want" ] && [[ "$(echo "$err" | head -1)" == "plot: "*"$frag"* ]]; then ok
  else bad "$name: exit $rc (want $want), stderr: $err"; fi
}

"$RLVR" init-model --arch qwen2 --out "$tmp/m" --hidden 32 --layers 1 --heads 2 --tie >/dev/null || bad "init-model"
cat > "$tmp/cfg.json" <<JSON
{"run": {"log_level": "warn"}, "model": {"path": "$tmp/m", "chat_template": "none"},
 "data": {"source": "addition", "train_size": 64, "test_size": 16}, "rollout": {"max_new_tokens": 8},
 "eval": {"problems": 8, "samples": 2},
 "train": {"steps": 3, "prompts_per_step": 2, "group_size": 2, "save_every": 0, "eval_every": 1}}
JSON

# ---- sweep.sh --plot: two settings x two seeds, every figure ----
all="reward accuracy length think_ratio kl entropy clip logprob_gap eval_accuracy eval_think_ratio eval_length"
out=$(bash "$SRC/scripts/sweep.sh" -j 2 --plot "$tmp/cfg.json" "$tmp/s" run.seed=1,2 algo.estimator=grpo,drgrpo 2>&1)
[ $? -eq 0 ] && [[ "$out" == *"plot: 11 figures in $tmp/s/plots"* ]] && ok || bad "sweep --plot: $out"
# shellcheck disable=SC2086
pngs "$tmp/s/plots" $all && ok || bad "sweep --plot figures"

# ---- --seeds: one line per setting, the mean and min-max over seeds ----
bash "$PLOT" --seeds --tsv -o "$tmp/g" "$tmp"/s/run.*/ >/dev/null 2>"$tmp/err" && ok || bad "plot --seeds: $(cat "$tmp/err")"
"$PY" - "$tmp/s" "$tmp/g" <<'PY' && ok || bad "the seed groups' numbers differ from metrics.jsonl"
import json, os, sys
runs, g = sys.argv[1], sys.argv[2]
def metric(name, key):
    return {m["step"]: m[key] for m in map(json.loads, open(os.path.join(runs, name, "metrics.jsonl")))}
for key in ["entropy", "length", "logprob_gap_mean"]:
    fig = "logprob_gap" if key.startswith("logprob") else key
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(g, fig + ".tsv"))]
    head = rows[0]
    for est in ["grpo", "drgrpo"]:
        seeds = [metric("run.seed-%d_algo.estimator-%s" % (s, est), key) for s in (1, 2)]
        label = "algo.estimator=%s" % est + (": %s" % key if fig != key else "")
        cols = [head.index(label + " " + c) for c in ("mean", "min", "max")]
        assert [int(r[0]) for r in rows[1:]] == [1, 2, 3], rows
        for r in rows[1:]:
            v = [x[int(r[0])] for x in seeds]
            want = [sum(v) / 2, min(v), max(v)]
            for c, w in zip(cols, want):
                assert abs(float(r[c]) - w) <= 1e-5 * max(1, abs(w)), (key, est, r, want)
print("groups ok")
PY

# ---- one run: EMA smoothing as TensorBoard computes it, per-difficulty eval figures, -m ----
run="$tmp/s/run.seed-1_algo.estimator-grpo"
bash "$PLOT" -s ema:0.5 --tsv -m length -m eval/hard/think_ratio,eval/easy/think_ratio "$run" >/dev/null 2>"$tmp/err" \
  && ok || bad "plot -s ema -m: $(cat "$tmp/err")"
pngs "$run/plots" length eval_hard_think_ratio+eval_easy_think_ratio && ok || bad "plot -m figures"
"$PY" - "$run" <<'PY' && ok || bad "EMA differs"
import json, sys
run = sys.argv[1]
raw = [json.loads(l)["length"] for l in open(run + "/metrics.jsonl")]
rows = [l.split("\t") for l in open(run + "/plots/length.tsv")][1:]
last = 0
for i, (x, r) in enumerate(zip(raw, rows)):
    last = 0.5 * last + 0.5 * x
    assert abs(float(r[2]) - last / (1 - 0.5 ** (i + 1))) < 1e-4, (i, r, last)
    assert abs(float(r[1]) - x) < 1e-4
PY
bash "$PLOT" -s window:2 -o "$tmp/one" "$run/metrics.jsonl" >/dev/null 2>"$tmp/err" && ok || bad "plot a metrics.jsonl: $(cat "$tmp/err")"
# shellcheck disable=SC2086
pngs "$tmp/one" $all && ok || bad "one run's figures"

# ---- a non-finite value as C prints it (nan, -inf) is a gap, not an error ----
mkdir -p "$tmp/nan" && sed -E '2s/"entropy": [0-9.e+-]+/"entropy": nan/; 3s/"kl": [0-9.e+-]+/"kl": -inf/' \
  "$run/metrics.jsonl" > "$tmp/nan/metrics.jsonl"
grep -q '"entropy": nan' "$tmp/nan/metrics.jsonl" && grep -q '"kl": -inf' "$tmp/nan/metrics.jsonl" || bad "no nan written"
bash "$PLOT" --tsv -m entropy "$tmp/nan" >/dev/null 2>"$tmp/err" && [ "$(cut -f1 "$tmp/nan/plots/entropy.tsv" | tr '\n' ' ')" = "step 1 3 " ] \
  && ok || bad "nan in metrics.jsonl: $(cat "$tmp/err" "$tmp/nan/plots/entropy.tsv")"

# ---- an SFT run: its loss ----
"$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/sft" --set sft.steps=3 --set sft.batch_size=4 --set sft.warmup_steps=1 \
  >/dev/null 2>&1 || bad "sft"
out=$(bash "$PLOT" "$tmp/sft" 2>&1)
[ $? -eq 0 ] && [[ "$out" == *"1 figures in $tmp/sft/plots (loss.png)"* ]] && pngs "$tmp/sft/plots" loss && ok || bad "sft plot: $out"

# ---- bad input: one clear error, non-zero exit ----
fails "missing run" 1 "$tmp/nope: no such run" -- bash "$PLOT" "$tmp/nope"
mkdir -p "$tmp/empty" && : > "$tmp/empty/metrics.jsonl"
fails "empty metrics" 1 "metrics.jsonl: empty" -- bash "$PLOT" "$tmp/empty"
mkdir -p "$tmp/torn" && { head -2 "$run/metrics.jsonl"; head -c 40 "$run/metrics.jsonl"; echo; } > "$tmp/torn/metrics.jsonl"
fails "torn line" 1 "$tmp/torn/metrics.jsonl:3: not a JSON line" -- bash "$PLOT" "$tmp/torn"
fails "unknown metric" 1 "metric 'rewrad' is in none of the runs" -- bash "$PLOT" -m rewrad "$run"
fails "unknown option" 2 "unknown option '--smooth'" -- bash "$PLOT" --smooth ema "$run"
fails "bad smoothing" 2 "-s is none, ema:W" -- bash "$PLOT" -s ema:1.5 "$run"
fails "no run" 2 "no run given" -- bash "$PLOT" -o "$tmp/x"
mkdir -p "$tmp/bare" && cp "$run/metrics.jsonl" "$tmp/bare/"
fails "--seeds without config" 1 "$tmp/bare: --seeds groups runs by config.json" -- bash "$PLOT" --seeds "$run" "$tmp/bare"
fails "no gnuplot" 1 "gnuplot not found" -- env PATH=/nonexistent /bin/bash "$PLOT" "$run"
for f in "missing run:$tmp/nope" "unknown metric:$run"; do
  err=$(bash "$PLOT" -m rewrad "${f#*:}" 2>&1 >/dev/null)
  [ "$(echo "$err" | wc -l)" -eq 1 ] && ok || bad "${f%%:*}: more than one line: $err"
done

finish test_plot
