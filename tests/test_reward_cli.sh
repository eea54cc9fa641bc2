#!/bin/bash
# test_reward_cli — `rlvr reward` end to end: math scoring with weights, one output line per input
# line (errors included, exit 1), --group with L-GRPO, the example Python external reward, the
# example C plugin built here with cc, and clear errors for a bad config or a missing file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
check() { if eval "$1"; then ok; else bad "$1"; fi; }

# 1. weights and sub-scores
cat > "$tmp/a.json" <<'J'
{"reward": {"accuracy": {"correct": 1, "wrong": -1}, "format": {"weight": 0.5}}}
J
cat > "$tmp/in.jsonl" <<'J'
{"prompt": "1+1?", "completion": "<think>easy</think> so \\boxed{\\dfrac{4}{2}}", "answer": "2"}
{"completion": "\\boxed{3}", "answer": "2"}
J
"$RLVR" reward --config "$tmp/a.json" < "$tmp/in.jsonl" > "$tmp/out" 2> "$tmp/err"
check "[ $? -eq 0 ]"
check "[ \$(wc -l < '$tmp/out') -eq 2 ]"
check "head -1 '$tmp/out' | grep -q '\"score\":1.5,\"correct\":true'"
check "sed -n 2p '$tmp/out' | grep -q '\"score\":-1,'"
check "grep -q 'reward/format' '$tmp/err'"

# 2. a bad line gets an error line in place, the others are still scored, exit status 1
printf '%s\n' '{"completion": "\\boxed{2}", "answer": "2"}' 'not json' '{"answer": "2"}' \
    '{"completion": "\\boxed{2}", "answer": "2", "length": -3}' > "$tmp/bad.jsonl"
"$RLVR" reward --config "$tmp/a.json" < "$tmp/bad.jsonl" > "$tmp/out" 2> "$tmp/err"
check "[ $? -eq 1 ]"
check "[ \$(wc -l < '$tmp/out') -eq 4 ]"
check "sed -n 2p '$tmp/out' | grep -q 'line 2: expected a JSON object'"
check "sed -n 3p '$tmp/out' | grep -q 'missing \\\\\"completion\\\\\"'"
check "sed -n 4p '$tmp/out' | grep -q 'length'"
check "head -1 '$tmp/out' | grep -q '\"correct\":true'"

# 3. --group: L-GRPO only when the whole group is correct
cat > "$tmp/g.json" <<'J'
{"reward": {"lgrpo": {"weight": 1, "max_len": 100}}}
J
printf '%s\n' '{"completion": "\\boxed{5}", "answer": "5", "length": 50}' \
    '{"completion": "\\boxed{5}", "answer": "5", "length": 100}' \
    '{"completion": "\\boxed{5}", "answer": "5", "length": 10}' \
    '{"completion": "\\boxed{4}", "answer": "5", "length": 10}' > "$tmp/g.jsonl"
"$RLVR" reward --config "$tmp/g.json" --group 2 < "$tmp/g.jsonl" > "$tmp/out" 2> "$tmp/err"
check "[ $? -eq 0 ]"
check "head -1 '$tmp/out' | grep -q '\"score\":1.5,'"
check "sed -n 3p '$tmp/out' | grep -q '\"score\":1,'"
"$RLVR" reward --config "$tmp/g.json" --group 3 < "$tmp/g.jsonl" > "$tmp/out" 2> "$tmp/err"
check "[ $? -eq 1 ] && grep -q 'last group has 1 lines' '$tmp/err'"

# 4. the example external reward (Python, JSON lines)
cat > "$tmp/x.json" <<J
{"reward": {"accuracy": {"weight": 0}, "external": {"weight": 1,
  "command": ["/usr/bin/python3", "$SRC/examples/rewards/external_reward.py"], "timeout_s": 20}}}
J
printf '%s\n' '{"completion": "thinking\n42", "answer": "42"}' '{"completion": "41", "answer": "42"}' \
    > "$tmp/x.jsonl"
"$RLVR" reward --config "$tmp/x.json" < "$tmp/x.jsonl" > "$tmp/out" 2> "$tmp/err"
check "[ $? -eq 0 ]"
check "head -1 '$tmp/out' | grep -q '\"external.hit\":1'"
check "sed -n 2p '$tmp/out' | grep -q '\"external.hit\":0'"
check "grep -q 'reward/external_failures *0' '$tmp/err'"

# 5. the example C plugin
if ${CC:-cc} -O2 -shared -fPIC -o "$tmp/plugin.so" "$SRC/examples/rewards/plugin_example.c" 2> "$tmp/cc.err"; then
    cat > "$tmp/p.json" <<J
{"reward": {"accuracy": {"weight": 0}, "plugin": {"weight": 2, "path": "$tmp/plugin.so", "arg": "nocase"}}}
J
    printf '%s\n' '{"completion": "so\n  Paris \n", "answer": "paris"}' '{"completion": "Rome", "answer": "paris"}' \
        > "$tmp/p.jsonl"
    "$RLVR" reward --config "$tmp/p.json" < "$tmp/p.jsonl" > "$tmp/out" 2> "$tmp/err"
    check "[ $? -eq 0 ]"
    check "head -1 '$tmp/out' | grep -q '\"score\":2,'"
    check "sed -n 2p '$tmp/out' | grep -q '\"score\":0,'"
    sed 's/nocase/shout/' "$tmp/p.json" > "$tmp/p2.json"
    "$RLVR" reward --config "$tmp/p2.json" < "$tmp/p.jsonl" > /dev/null 2> "$tmp/err"
    check "[ $? -ne 0 ] && grep -q 'init failed' '$tmp/err'"
else
    bad "cannot build the example plugin: $(cat "$tmp/cc.err")"
fi

# 6. config errors name the key or the file
echo '{"reward": {"verifer": "math"}}' > "$tmp/typo.json"
"$RLVR" reward --config "$tmp/typo.json" < /dev/null > /dev/null 2> "$tmp/err"
check "[ $? -ne 0 ] && grep -q 'reward.verifier' '$tmp/err'"
"$RLVR" reward < /dev/null > /dev/null 2> "$tmp/err"
check "[ $? -ne 0 ] && grep -q 'missing config file' '$tmp/err'"
"$RLVR" reward --config "$tmp/a.json" --bogus < /dev/null > /dev/null 2> "$tmp/err"
check "[ $? -eq 2 ] && grep -q \"unknown argument '--bogus'\" '$tmp/err'"

finish test_reward_cli.sh
