#!/usr/bin/env bash
# test_eval_bench — `rlvr eval` on files in the published layouts of MATH-500, AIME, GSM8K and AMC
# (tests/data/bench/, a handful of rows each): field names from data.fields.*, majority@k and
# pass@k, the per-group breakdown, a report a sweep can tabulate; short-m@k against majority@k;
# sampling defaults from a Qwen2.5-Instruct-style generation_config.json in generate and eval,
# overridden by the command line and config, each value's origin logged; and the bad inputs.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
B=$SRC/tests/data/bench
"$RLVR" init-model --arch qwen2 --out "$tmp/m" --hidden 32 --layers 2 --heads 4 --kv-heads 2 --tie --seed 3 >/dev/null || bad "init-model"
cat > "$tmp/cfg.json" <<JSON
{"run": {"dir": "$tmp/run", "seed": 3}, "model": {"path": "$tmp/m", "chat_template": "none"},
 "data": {"source": "jsonl"}, "rollout": {"max_new_tokens": 24, "stop": ["a"]},
 "eval": {"problems": 100, "samples": 8}}
JSON

# report checks: problems, groups (names and counts summing to all), k keys, invariants
check() { # REPORT PROBLEMS GROUP_BY "GROUP NAMES" [verifier]
  $PY - "$@" <<'PYEOF'
import json, sys
r = json.load(open(sys.argv[1])); n, by, names = int(sys.argv[2]), sys.argv[3], sys.argv[4].split(",") if sys.argv[4] else []
a = r["all"]
assert r["problems"] == n and a["problems"] == n, (r["problems"], n)
assert r["group_by"] == by, r["group_by"]
assert sorted(r["groups"]) == sorted(names), sorted(r["groups"])
if names: assert sum(g["problems"] for g in r["groups"].values()) == n
for g in [a] + list(r["groups"].values()):
    assert sorted(g["pass_at_k"], key=int) == ["1", "2", "4", "8"] == sorted(g["majority_at_k"], key=int)
    assert abs(g["accuracy"] - g["pass_at_k"]["1"]) < 1e-12
    # a right vote needs a right sample among the k that voted; majority@k votes over the first k
    # samples while pass@k averages over every k of the n, so the bound holds per draw at k = n only
    n_k = max(g["pass_at_k"], key=int)
    assert g["majority_at_k"][n_k] <= g["pass_at_k"][n_k] + 1e-12, (n_k, g)
    ks = sorted(g["pass_at_k"], key=int)
    assert all(g["pass_at_k"][x] <= g["pass_at_k"][y] + 1e-12 for x, y in zip(ks, ks[1:]))
assert r["tokens"] > 0 and r["seconds"] > 0
PYEOF
}
ev() { "$RLVR" eval "$tmp/cfg.json" --set model.path="$tmp/m" "$@"; }

# MATH-500: problem/solution/answer/subject/level/unique_id, by subject and by level (a number)
ev --set data.test_path="$B/math500.jsonl" --set data.fields.prompt=problem --set data.fields.group=subject \
  --out "$tmp/math.json" > /dev/null 2>&1 && ok || bad "eval on the MATH-500 layout failed"
check "$tmp/math.json" 5 subject "Prealgebra,Algebra,Number Theory" && ok || bad "MATH-500 report by subject"
ev --set data.test_path="$B/math500.jsonl" --set data.fields.prompt=problem --set data.fields.group=level \
  --out "$tmp/level.json" > /dev/null 2>&1 && ok || bad "eval on MATH-500 by level failed"
check "$tmp/level.json" 5 level "1,2,3" && ok || bad "MATH-500 report by level"
# AIME: id/problem/answer/solution/url/year, by year
ev --set data.test_path="$B/aime.jsonl" --set data.fields.prompt=problem --set data.fields.group=year \
  --out "$tmp/aime.json" > /dev/null 2>&1 && ok || bad "eval on the AIME layout failed"
check "$tmp/aime.json" 3 year "2024,2025" && ok || bad "AIME report by year"
# GSM8K: question/answer with "#### N", the gsm8k verifier, no group field
ev --set data.test_path="$B/gsm8k.jsonl" --set data.fields.prompt=question --set reward.verifier=gsm8k \
  --out "$tmp/gsm.json" > /dev/null 2>&1 && ok || bad "eval on the GSM8K layout failed"
check "$tmp/gsm.json" 4 difficulty "" && ok || bad "GSM8K report"
# AMC: problem/answer (a number, 5.0)/url
ev --set data.test_path="$B/amc.jsonl" --set data.fields.prompt=problem --out "$tmp/amc.json" > /dev/null 2>&1 && ok ||
  bad "eval on the AMC layout failed"
check "$tmp/amc.json" 3 difficulty "" && ok || bad "AMC report"
# a sweep tabulates reports: one TSV row per file from the same keys
$PY - "$tmp"/math.json "$tmp"/aime.json "$tmp"/gsm.json "$tmp"/amc.json > "$tmp/table.tsv" <<'PYEOF' && ok || bad "reports do not tabulate"
import json, sys
print("file\taccuracy\tpass@8\tmajority@8\ttokens\tseconds")
for p in sys.argv[1:]:
    r = json.load(open(p)); a = r["all"]
    print("\t".join([p, "%.4f" % a["accuracy"], "%.4f" % a["pass_at_k"]["8"], "%.4f" % a["majority_at_k"]["8"], str(r["tokens"]), "%.3f" % r["seconds"]]))
PYEOF
[ "$(wc -l < "$tmp/table.tsv")" -eq 5 ] && ok || bad "table has not 5 lines"

# ---- short-m@k ----
sm() { ev --set data.test_path="$B/math500.jsonl" --set data.fields.prompt=problem --set eval.short_m="$1" --out "$tmp/sm$1.json" > /dev/null 2>&1; }
sm 8 && sm 1 && sm 3 && ok || bad "eval with eval.short_m failed"
$PY - "$tmp/sm8.json" "$tmp/sm1.json" "$tmp/sm3.json" "$tmp/math.json" <<'PYEOF' && ok || bad "short-m@k report"
import json, sys
r8, r1, r3, plain = (json.load(open(p)) for p in sys.argv[1:5])
for r, m in ((r8, 8), (r1, 1), (r3, 3)):
    s = r["short_m"]
    assert s["m"] == m and s["k"] == 8
    assert s["majority_at_k"]["tokens"] == r["tokens"] and s["pass_at_1"] == r["all"]["pass_at_k"]["1"]
    assert r["all"]["short_m_at_k"] == s["short_m_at_k"]["accuracy"]
    # the full draw is the same with or without short-m (its own RNG keys)
    assert r["all"]["pass_at_k"] == plain["all"]["pass_at_k"] and r["tokens"] == plain["tokens"]
# m = k: every row finishes, nothing is cancelled, and the vote is majority@k's
assert r8["short_m"]["short_m_at_k"]["cancelled_rows"] == 0
assert r8["short_m"]["short_m_at_k"]["tokens"] == r8["tokens"]
assert r8["short_m"]["short_m_at_k"]["accuracy"] == r8["short_m"]["majority_at_k"]["accuracy"] == r8["all"]["majority_at_k"]["8"]
# m < k: rows are cancelled and cost fewer tokens, fewer for smaller m
t1, t3 = r1["short_m"]["short_m_at_k"]["tokens"], r3["short_m"]["short_m_at_k"]["tokens"]
assert r1["short_m"]["short_m_at_k"]["cancelled_rows"] > 0 and t1 <= t3 < r3["tokens"], (t1, t3, r3["tokens"])
PYEOF
expect 1 "eval.short_m (9) must not exceed eval.samples (8)" -- "$RLVR" eval "$tmp/cfg.json" \
  --set data.test_path="$B/math500.jsonl" --set data.fields.prompt=problem --set eval.short_m=9
expect 1 "eval.short_m: expected an integer in [0,1024], got -1" -- "$RLVR" eval "$tmp/cfg.json" --set eval.short_m=-1
# a group field that is neither a string nor a number: file, line and field
printf '{"problem": "1+1?", "answer": "2", "subject": ["a"]}\n' > "$tmp/badgroup.jsonl"
expect 1 "badgroup.jsonl:1: field 'subject' must be a string or a number, got an array" -- "$RLVR" eval "$tmp/cfg.json" \
  --set data.test_path="$tmp/badgroup.jsonl" --set data.fields.prompt=problem --set data.fields.group=subject

# ---- generation_config.json (Qwen2.5-Instruct's sampling values) ----
cp -r "$tmp/m" "$tmp/q"
cat > "$tmp/q/generation_config.json" <<'JSON'
{"bos_token_id": 256, "do_sample": true, "eos_token_id": [258, 256], "pad_token_id": 256,
 "repetition_penalty": 1.1, "temperature": 0.7, "top_p": 0.8, "top_k": 20, "transformers_version": "4.37.0"}
JSON
G="generation_config.json"
expect 0 "sampling: temperature 0.7 ($G), top_k 20 ($G), top_p 0.8 ($G), min_p 0 (default), repetition_penalty 1.1 ($G)" -- \
  "$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 4
expect 0 "sampling: temperature 0.3 (command line), top_k 20 ($G), top_p 0.8 ($G), min_p 0 (default), repetition_penalty 1 (command line)" -- \
  "$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 4 --temperature 0.3 --repetition-penalty 1
expect 0 "sampling: temperature 1 (default), top_k 0 (default), top_p 1 (default), min_p 0 (default), repetition_penalty 1 (default)" -- \
  "$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 4 --no-generation-config
expect 0 "temperature 0 (command line)" -- "$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 4 --greedy
# the file's values change the samples: the same seed with and without it differs
a=$("$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 16 --n 4 --json 2>/dev/null)
b=$("$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 16 --n 4 --json --no-generation-config 2>/dev/null)
[ -n "$a" ] && [ "$a" != "$b" ] && ok || bad "generation_config.json did not change the samples"
# do_sample false = greedy, as in Hugging Face: every sample is the greedy one
$PY -c "import json; c = json.load(open('$tmp/q/$G')); c['do_sample'] = False; json.dump(c, open('$tmp/q/$G', 'w'))"
expect 0 "temperature 0 ($G: do_sample false)" -- "$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 4
g=$("$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 12 --n 3 --json 2>/dev/null | sort -u | wc -l)
w=$("$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 12 --json --greedy --repetition-penalty 1.1 2>/dev/null)
[ "$g" -eq 1 ] && [ "$("$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 12 --json 2>/dev/null)" = "$w" ] && ok ||
  bad "do_sample false did not give the greedy samples"
$PY -c "import json; c = json.load(open('$tmp/q/$G')); c['do_sample'] = True; del c['top_k']; json.dump(c, open('$tmp/q/$G', 'w'))"
expect 0 "top_k 50 ($G: do_sample true, Hugging Face's default)" -- "$RLVR" generate --model "$tmp/q" --prompt "1+1?" --raw --max-new-tokens 4
# eval: the file's values unless the config gives them; the report names the origins
"$RLVR" eval "$tmp/cfg.json" --set model.path="$tmp/q" --set data.test_path="$B/amc.jsonl" --set data.fields.prompt=problem \
  --set eval.top_p=0.9 --out "$tmp/q.json" > /dev/null 2> "$tmp/q.log" && ok || bad "eval with generation_config.json: $(tail -2 "$tmp/q.log")"
grep -q "eval sampling: temperature 0.7 ($G), top_k 50 ($G: do_sample true, Hugging Face's default), top_p 0.9 (config), min_p 0 (default), repetition_penalty 1.1 ($G)" "$tmp/q.log" && ok ||
  bad "eval's log line: $(cat "$tmp/q.log")"
$PY - "$tmp/q.json" <<'PYEOF' && ok || bad "eval report's sampling"
import json, sys
s = json.load(open(sys.argv[1]))["sampling"]
assert (s["temperature"], s["top_k"], s["top_p"], s["repetition_penalty"]) == (0.7, 50, 0.9, 1.1), s
assert s["origin"] == {"temperature": "generation_config.json", "top_k": "generation_config.json", "top_p": "config",
                       "min_p": "default", "repetition_penalty": "generation_config.json"}, s["origin"]
PYEOF
# train keeps rollout.*: it says so, and that the repetition penalty is not applied
cat > "$tmp/train.json" <<JSON
{"run": {"dir": "$tmp/trun"}, "model": {"path": "$tmp/q", "chat_template": "none"},
 "data": {"source": "jsonl", "train_path": "$B/math500.jsonl", "test_path": "$B/math500.jsonl", "fields": {"prompt": "problem"}},
 "rollout": {"max_new_tokens": 8}, "train": {"steps": 1, "prompts_per_step": 2, "group_size": 2, "save_every": 0}}
JSON
out=$("$RLVR" train "$tmp/train.json" 2>&1) && ok || bad "train with a generation_config.json: $out"
[[ "$out" == *"generation_config.json is not followed by RL rollouts, which sample with rollout.* (temperature 1, top_k 0, top_p 1, min_p 0)"* ]] && ok || bad "train's note: $out"
[[ "$out" == *"asks for repetition_penalty 1.1: not applied to RL rollouts"* ]] && ok || bad "train's repetition-penalty warning: $out"
# a malformed file: one error naming the file and the key
echo '{"top_p": 1.5}' > "$tmp/q/$G"
expect 1 "$tmp/q/$G: top_p is 1.5, expected a number in (0, 1]" -- "$RLVR" generate --model "$tmp/q" --prompt hi
echo '{"do_sample": "yes"}' > "$tmp/q/$G"
expect 1 "$tmp/q/$G: do_sample must be true or false" -- "$RLVR" eval "$tmp/cfg.json" --set model.path="$tmp/q" \
  --set data.test_path="$B/amc.jsonl" --set data.fields.prompt=problem
echo '[1]' > "$tmp/q/$G"
expect 1 "$tmp/q/$G: not a JSON object" -- "$RLVR" generate --model "$tmp/q" --prompt hi
expect 1 "--repetition-penalty: expected a number > 0, got '0'" -- "$RLVR" generate --model "$tmp/m" --prompt hi --repetition-penalty 0
expect 1 "eval.repetition_penalty: expected a number in (0,100], got 0" -- "$RLVR" eval "$tmp/cfg.json" --set eval.repetition_penalty=0

finish test_eval_bench
