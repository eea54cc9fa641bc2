#!/usr/bin/env bash
# test_reproduce — the reproduction scripts (scripts/reproduce/) parse, and pass shellcheck at
# warning level where it is installed; concise_data.py writes the same bytes for the same seed and
# other bytes for another, every SFT response is graded correct by `rlvr reward` with
# configs/concise.json, each trace is its bare column groups plus exactly `redundant` copies of
# groups already written, the counts cover 0..N, and a bad argument is one error and exit 2.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
GEN="$SRC/scripts/reproduce/concise_data.py"

for f in "$SRC"/scripts/reproduce/*.sh; do
  bash -n "$f" && ok || bad "$f does not parse"
done
if command -v shellcheck > /dev/null; then
  out=$(shellcheck -x -S warning "$SRC"/scripts/reproduce/*.sh 2>&1) && ok || bad "shellcheck: $out"
else
  echo "test_reproduce: shellcheck not installed, only bash -n checked"
fi

"$PY" "$GEN" "$tmp/a" --train 400 --test 50 --max-redundant 3 --seed 7 &&
  "$PY" "$GEN" "$tmp/b" --train 400 --test 50 --max-redundant 3 --seed 7 &&
  "$PY" "$GEN" "$tmp/c" --train 400 --test 50 --max-redundant 3 --seed 8 && ok || bad "concise_data.py failed"
cmp -s "$tmp/a/train.jsonl" "$tmp/b/train.jsonl" && cmp -s "$tmp/a/test.jsonl" "$tmp/b/test.jsonl" &&
  ok || bad "concise_data.py: the same seed gave other bytes"
cmp -s "$tmp/a/train.jsonl" "$tmp/c/train.jsonl" && bad "concise_data.py: seeds 7 and 8 gave the same data" || ok
cmp -s "$tmp/a/train.jsonl" "$tmp/a/test.jsonl" && bad "concise_data.py: train and test are the same draw" || ok

# every response, as a completion, is correct under the task's own config
"$PY" - "$tmp/a/train.jsonl" > "$tmp/completions.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    print(json.dumps({"prompt": r["prompt"], "completion": r["response"], "answer": r["answer"],
                      "metadata": r["metadata"]}))
PY
"$RLVR" reward --config "$SRC/configs/concise.json" < "$tmp/completions.jsonl" > "$tmp/scored.jsonl" 2> "$tmp/err" &&
  ok || bad "rlvr reward failed: $(tail -2 "$tmp/err")"
n_correct=$(grep -c '"correct": *true\|"correct": *1' "$tmp/scored.jsonl")
[ "$n_correct" = 400 ] && ok || bad "rlvr reward graded $n_correct of 400 SFT responses correct"

# the trace: column groups a b s c; from the least significant digit, each recheck a copy of the
# group just before it, as many as `redundant` says, and the counts spread over 0..3
"$PY" - "$tmp/a/train.jsonl" <<'PY' && ok || bad "concise_data.py: a trace is not what its docstring says"
import json, re, sys
seen = set()
for line in open(sys.argv[1]):
    r = json.loads(line)
    a, b = (int(x) for x in r["prompt"].rstrip("=").split("+"))
    m = re.fullmatch(r"<think>((?:c?\d{4};)+)</think>(\d+)", r["response"])
    assert m and int(m.group(2)) == a + b == int(r["answer"]), r
    groups = m.group(1).split(";")[:-1]
    bare = [g for g in groups if not g.startswith("c")]
    assert len(groups) - len(bare) == r["metadata"]["redundant"], r
    for prev, g in zip(groups, groups[1:]):
        assert not g.startswith("c") or g[1:] == prev.lstrip("c"), r
    carry = 0
    for i, g in enumerate(bare):
        ai, bi = a // 10 ** i % 10, b // 10 ** i % 10
        s = ai + bi + carry
        carry = s // 10
        assert g == "%d%d%d%d" % (ai, bi, s % 10, carry), r
    assert len(bare) == int(r["metadata"]["difficulty"]) and max(a, b) >= 10 ** (len(bare) - 1) - (len(bare) == 1), r
    seen.add(r["metadata"]["redundant"])
assert seen == {0, 1, 2, 3}, seen
PY

expect 2 "--max-redundant >= 0" -- "$PY" "$GEN" "$tmp/d" --max-redundant -1
expect 2 "--train and --test must be" -- "$PY" "$GEN" "$tmp/d" --train 0
finish test_reproduce
