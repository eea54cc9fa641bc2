#!/usr/bin/env bash
# test_tboard.sh — `rlvr sft` and `rlvr train` with run.tensorboard write a TensorBoard event file that an
# independent reader (tests/tfevents_check.py: its own CRC-32C, python3-protobuf decoding)
# accepts: a scalar per metric and step equal to metrics.jsonl, the resolved config as text. A
# resumed run adds a second file with the restart step. A flipped byte, a cut end, a record of
# garbage or an undefined field with valid CRCs all fail the reader. Switched off, no file; a
# failed write (full disk) stops the job with one error naming the event file.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
CHECK="$SRC/tests/tfevents_check.py"
events() { ls "$1"/events.out.tfevents.* 2>/dev/null; }

"$RLVR" init-model --arch qwen2 --out "$tmp/m" --hidden 32 --layers 1 --heads 2 --tie >/dev/null || bad "init-model"
cat > "$tmp/cfg.json" <<JSON
{"run": {"log_level": "warn", "tensorboard": true}, "model": {"path": "$tmp/m", "chat_template": "none"},
 "data": {"source": "addition", "train_size": 64},
 "sft": {"steps": 4, "batch_size": 4, "warmup_steps": 1, "save_every": 2}}
JSON

# ---- a fresh run: one file, the scalars of metrics.jsonl, the config ----
"$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/run" >/dev/null 2>"$tmp/err" || bad "sft failed: $(cat "$tmp/err")"
[ "$(events "$tmp/run" | wc -l)" -eq 1 ] && ok || bad "expected one event file, got: $(ls "$tmp/run")"
file=$(events "$tmp/run" | head -1)
[[ "$(basename "$file")" == "events.out.tfevents."??????????".$(hostname)" ]] && ok || bad "file name $file"
"$PY" "$CHECK" "$file" > "$tmp/fresh.json" && ok || bad "the reader rejects the file sft wrote"
cat > "$tmp/content.py" <<'PY'
import json, sys
ev = json.load(open(sys.argv[1]))  # the reader's output, metrics.jsonl, config.json, first step
metrics = [json.loads(l) for l in open(sys.argv[2])]
first = int(sys.argv[4])
want = [m for m in metrics if m["step"] >= first]
assert ev["file_version"] == "brain.Event:2"
assert ev["starts"] == [first], ev["starts"]
for key in ["loss", "lr", "grad_norm", "tokens_per_s"]:
    got = ev["scalars"][key]
    assert [s for s, _ in got] == [m["step"] for m in want], (key, got)
    atol = 0.05 if key == "tokens_per_s" else 1e-6  # metrics.jsonl prints %.1f, %.6f or %.6g
    for (s, v), m in zip(got, want):  # float32 against a rounded decimal
        assert abs(v - m[key]) <= atol + 1e-5 * abs(m[key]), (key, s, v, m[key])
(step, text), = ev["texts"]["config"]
assert step == first - 1, step
assert text.startswith("```json\n") and text.endswith("\n```"), text[:20]
assert json.loads(text[8:-4]) == json.load(open(sys.argv[3]))
print(sorted(ev["scalars"]), len(ev["scalars"]["loss"]), "steps")
PY
"$PY" "$tmp/content.py" "$tmp/fresh.json" "$tmp/run/metrics.jsonl" "$tmp/run/config.json" 1 && ok || bad "event content differs from metrics.jsonl / config.json"
[ "$(grep -c . "$tmp/run/metrics.jsonl")" -eq 4 ] && ok || bad "sft did not log 4 steps"

# ---- a resumed run (from the checkpoint of step 2): a second file that restarts at step 3 ----
rm "$tmp/run/ckpt-00000004.h5" 2>/dev/null || bad "no ckpt-00000004.h5 to remove: $(ls "$tmp/run")"
sleep 1 # a new second, so the second file's name sorts after the first (as TensorBoard reads them)
"$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/run" --set sft.steps=6 >/dev/null 2>"$tmp/err" || bad "resumed sft failed: $(cat "$tmp/err")"
[ "$(events "$tmp/run" | wc -l)" -eq 2 ] && ok || bad "the resumed run did not add a file: $(ls "$tmp/run")"
second=$(events "$tmp/run" | sort | tail -1)
"$PY" "$CHECK" "$second" > "$tmp/resumed.json" && ok || bad "the reader rejects the resumed file"
"$PY" - "$tmp/resumed.json" <<'PY' && ok || bad "resumed file: $(cat "$tmp/resumed.json")"
import json, sys
ev = json.load(open(sys.argv[1]))
assert ev["starts"] == [3], ev["starts"]
assert [s for s, _ in ev["scalars"]["loss"]] == [3, 4, 5, 6]
assert ev["texts"]["config"][0][0] == 2
PY
tail -4 "$tmp/run/metrics.jsonl" > "$tmp/tail.jsonl"
"$PY" "$tmp/content.py" "$tmp/resumed.json" "$tmp/tail.jsonl" "$tmp/run/config.json" 3 && ok || bad "resumed event content differs from metrics.jsonl / config.json"

# ---- rlvr train: every metric of metrics.jsonl, reward sub-scores included, as a scalar ----
cat > "$tmp/rl.json" <<JSON
{"run": {"log_level": "warn", "tensorboard": true, "dir": "$tmp/rl"}, "model": {"path": "$tmp/m", "chat_template": "none"},
 "data": {"source": "addition", "train_size": 64}, "rollout": {"max_new_tokens": 8},
 "reward": {"cosine": {"weight": 1, "max_len": 8}},
 "train": {"steps": 3, "prompts_per_step": 2, "group_size": 2, "save_every": 0}}
JSON
"$RLVR" train "$tmp/rl.json" >/dev/null 2>"$tmp/err" || bad "train failed: $(cat "$tmp/err")"
"$PY" "$CHECK" "$(events "$tmp/rl" | head -1)" > "$tmp/rl-ev.json" && ok || bad "the reader rejects the file train wrote"
"$PY" - "$tmp/rl-ev.json" "$tmp/rl/metrics.jsonl" <<'PY' && ok || bad "train's event file differs from its metrics.jsonl"
import json, sys
ev = json.load(open(sys.argv[1]))
metrics = [json.loads(l) for l in open(sys.argv[2])]
keys = [k for k in metrics[0] if k != "step"]
assert "reward/cosine" in keys and "logprob_gap_max" in keys, keys
assert sorted(ev["scalars"]) == sorted(keys), (sorted(ev["scalars"]), sorted(keys))
for k in keys:
    got = ev["scalars"][k]
    assert [s for s, _ in got] == [1, 2, 3], (k, got)
    for (s, v), m in zip(got, metrics):
        want = m[k]
        assert want is None or abs(v - want) <= 0.05 + 1e-5 * abs(want), (k, s, v, want)
PY

# ---- files TensorBoard would reject (or misread) fail the reader ----
size=$(stat -c %s "$file")
corrupt() { # name python-expression-on-bytes-b
  "$PY" -c "import sys; b = bytearray(open(sys.argv[1], 'rb').read()); $2; open(sys.argv[2], 'wb').write(b)" "$file" "$tmp/$1"
  if out=$("$PY" "$CHECK" "$tmp/$1" 2>&1 >/dev/null); then
    bad "the reader accepts $1"
  else
    [ "$(echo "$out" | wc -l)" -eq 1 ] && [[ "$out" == *"$tmp/$1"* ]] && ok || bad "$1: not one line naming the file: $out"
    echo "$out" | sed 's/^/  /'
  fi
}
corrupt flipped "b[$((size / 2))] ^= 0x01"
corrupt flipped_length "b[0] ^= 0x80"
corrupt cut_end "b = b[:-1]"
corrupt cut_header "b = b[:60 + 5]"
frame='import struct
def crc(d):
    c = 0xFFFFFFFF
    for x in d:
        c ^= x
        for _ in range(8): c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
    c ^= 0xFFFFFFFF
    return ((((c >> 15) | (c << 17)) & 0xFFFFFFFF) + 0xA282EAD8) & 0xFFFFFFFF
def rec(d):
    h = struct.pack("<Q", len(d))
    return h + struct.pack("<I", crc(h)) + d + struct.pack("<I", crc(d))'
corrupt garbage_record "exec('''$frame'''); b += rec(b'\\xff\\xff\\xff')"
corrupt undefined_field "exec('''$frame'''); b += rec(b'\\x09' + struct.pack('<d', 1.7e9) + b'\\x78\\x01')"
corrupt no_version "exec('''$frame'''); n = struct.unpack_from('<Q', b)[0]; b = b[16 + n:]"
: > "$tmp/empty"
"$PY" "$CHECK" "$tmp/empty" >/dev/null 2>&1 && bad "the reader accepts an empty file" || ok

# ---- switched off: no event file ----
"$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/off" --set run.tensorboard=false --set sft.steps=2 >/dev/null 2>&1 || bad "sft without tensorboard failed"
[ -z "$(events "$tmp/off")" ] && [ -s "$tmp/off/metrics.jsonl" ] && ok || bad "run.tensorboard=false wrote $(ls "$tmp/off")"

# ---- a full disk (here a file-size limit: write(2) fails with EFBIG as with ENOSPC) ----
# config.json and the config text fit in 6 KiB; the event file outgrows it after some steps.
out=$(trap '' XFSZ; ulimit -f 6; "$RLVR" sft "$tmp/cfg.json" --set run.dir="$tmp/full" --set sft.steps=40 \
      --set sft.save_every=0 2>&1)
rc=$?
[ $rc -eq 1 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && [[ "$out" == *"$tmp/full/events.out.tfevents."*"File too large"* ]] \
  && ok || bad "a failed event write: rc $rc: $out"
[ -s "$tmp/full/metrics.jsonl" ] && ok || bad "no metrics.jsonl before the write failed"

finish test_tboard.sh
