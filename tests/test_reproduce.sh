#!/usr/bin/env bash
# test_reproduce — the reproduction scripts (scripts/reproduce/) parse, and pass shellcheck at
# warning level where it is installed; concise_data.py writes the same bytes for the same seed and
# other bytes for another, every SFT response is graded correct by `rlvr reward` with
# configs/concise.json, each trace is its bare column groups plus exactly `redundant` copies of
# groups already written, the counts cover 0..N, and a bad argument is one error and exit 2.
# nsr_data.py likewise keeps its bytes per seed; the countdown verifier grades every SFT response
# correct and the same response against a target one higher wrong; each trace's steps are right
# and use the offered numbers once; no test problem is in train; the solution counts meet the
# minimum and more than one distinct answer reaches the same train problem.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
GEN="$SRC/scripts/reproduce/concise_data.py"
NSR="$SRC/scripts/reproduce/nsr_data.py"

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
# completions FILE [SHIFT]: each row's SFT response as a completion, its target moved by SHIFT
completions() {
  "$PY" - "$@" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if len(sys.argv) > 2:
        r["metadata"]["target"] += int(sys.argv[2])
    print(json.dumps({"prompt": r["prompt"], "completion": r["response"], "answer": r["answer"],
                      "metadata": r["metadata"]}))
PY
}
# graded CONFIG: how many completions on stdin `rlvr reward` grades correct
graded() {
  "$RLVR" reward --config "$1" > "$tmp/scored.jsonl" 2> "$tmp/err" || { bad "rlvr reward failed: $(tail -2 "$tmp/err")"; return; }
  grep -c '"correct": *true\|"correct": *1' "$tmp/scored.jsonl"
}
n_correct=$(completions "$tmp/a/train.jsonl" | graded "$SRC/configs/concise.json")
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

"$PY" "$NSR" "$tmp/n1" --train 300 --test 40 --max 9 --seed 7 &&
  "$PY" "$NSR" "$tmp/n2" --train 300 --test 40 --max 9 --seed 7 &&
  "$PY" "$NSR" "$tmp/n3" --train 300 --test 40 --max 9 --seed 8 && ok || bad "nsr_data.py failed"
cmp -s "$tmp/n1/train.jsonl" "$tmp/n2/train.jsonl" && cmp -s "$tmp/n1/test.jsonl" "$tmp/n2/test.jsonl" &&
  ok || bad "nsr_data.py: the same seed gave other bytes"
cmp -s "$tmp/n1/test.jsonl" "$tmp/n3/test.jsonl" && bad "nsr_data.py: seeds 7 and 8 gave the same test set" || ok
echo '{"reward": {"verifier": "countdown", "accuracy": {"weight": 1}}}' > "$tmp/countdown.json"
for split in train test; do
  n_correct=$(completions "$tmp/n1/$split.jsonl" | graded "$tmp/countdown.json")
  [ "$n_correct" = "$(wc -l < "$tmp/n1/$split.jsonl")" ] && ok || bad "nsr_data.py: $n_correct $split responses graded correct"
  n_correct=$(completions "$tmp/n1/$split.jsonl" 1 | graded "$tmp/countdown.json")
  [ "$n_correct" = 0 ] && ok || bad "nsr_data.py: $n_correct $split responses graded correct against the target + 1"
done
"$PY" - "$tmp/n1" <<'PY' && ok || bad "nsr_data.py: a row is not what its docstring says"
import collections, json, re, sys
def rows(split):
    return [json.loads(l) for l in open("%s/%s.jsonl" % (sys.argv[1], split))]
def problem(r):
    return tuple(sorted(r["metadata"]["numbers"])), r["metadata"]["target"]
answers = collections.defaultdict(set)
for r in rows("train") + rows("test"):
    m, nums = r["metadata"], r["metadata"]["numbers"]
    assert r["prompt"] == "Using %s make %d." % (", ".join(map(str, nums)), m["target"]), r
    assert len(nums) == 3 and all(1 <= n <= 9 for n in nums) and 10 <= m["target"] <= 99, r
    assert m["solutions"] >= 2, r
    think, ans = re.fullmatch(r"<think>\n(.*)</think>\n<answer>(.*)</answer>", r["response"], re.S).groups()
    assert ans == r["answer"], r
    pool = list(nums)
    for step in think.splitlines():
        x, op, y, v = re.fullmatch(r"(\d+) ([-+*/]) (\d+) = (\d+)", step).groups()
        x, y, v = int(x), int(y), int(v)
        assert v == {"+": x + y, "-": x - y, "*": x * y, "/": x // y if x % y == 0 else -1}[op] > 0, r
        pool.remove(x)
        pool.remove(y)
        pool.append(v)
    assert v == m["target"], r
    answers[problem(r)].add(ans.replace(" ", ""))
test = {problem(r) for r in rows("test")}
assert len(test) == 40 and not test & {problem(r) for r in rows("train")}
assert any(len(a) > 1 for a in answers.values())
PY
expect 2 "--test 40000 leaves" -- "$PY" "$NSR" "$tmp/d" --test 40000
expect 2 "--numbers must be" -- "$PY" "$NSR" "$tmp/d" --numbers 5
finish test_reproduce
