#!/usr/bin/env bash
# bench_rl_step.sh — whole RL steps of `rlvr train` on a random Qwen2.5-0.5B-shaped model with the
# real Qwen tokenizer: the time split of each step as metrics.jsonl reports it (every *_s key:
# rollout, rewards, update, ...; wall seconds) with the run's CPU-seconds, and the peak resident
# memory of the run beside weights + gradients + AdamW state.
#
# Usage: bench/bench_rl_step.sh [RLVR_BINARY]   (run from the repository root; default build/rlvr)
# Environment: PROMPTS (8), GROUP (8), NEW (256) new tokens at most, STEPS (2), THREADS (1),
# LAYERS (24), CHECKPOINTING (false: train.activation_checkpointing), V (151669), MICRO (1024:
# train.micro_batch_tokens; 0 = the whole batch in one forward, whose activations at 8 x 8 x 256
# outgrow 23 GiB, and so did micro-batches of 4096).
# The model is bench/qwen05b_model.sh's (the 0.5B body, LAYERS layers, the Qwen tokenizer, V
# embedding rows). Prompts are the built-in addition task, rewards the math verifier, no KL
# reference. A random model rarely stops, so completions run to NEW tokens. The run's final
# checkpoint is written after the last step and is not part of any step's time.
# Not here: the PyTorch twin of a step (bench_update and bench_rollout.sh compare the two halves).
set -eu
BIN=${1:-build/rlvr}
PROMPTS=${PROMPTS:-8} GROUP=${GROUP:-8} NEW=${NEW:-256} STEPS=${STEPS:-2} THREADS=${THREADS:-1}
LAYERS=${LAYERS:-24} CHECKPOINTING=${CHECKPOINTING:-false} V=${V:-151669} MICRO=${MICRO:-1024}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=$THREADS
# the twin runs on the OpenBLAS kernels rlvr picks for itself (rlvr doctor says when it picks)
core=$("$BIN" doctor 2> /dev/null | sed -n 's/.*rlvr chose \([A-Za-z0-9]*\).*/\1/p')
[ -z "${OPENBLAS_CORETYPE:-}" ] && [ -n "$core" ] && export OPENBLAS_CORETYPE=$core
[ -x "$BIN" ] || { echo "bench_rl_step.sh: no rlvr binary at $BIN" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

bench/qwen05b_model.sh "$BIN" "$tmp/m" "$LAYERS" "$V"
cat > "$tmp/cfg.json" <<JSON
{"run": {"log_level": "warn", "threads": $THREADS}, "model": {"path": "$tmp/m", "chat_template": "none"},
 "data": {"source": "addition"}, "rollout": {"max_new_tokens": $NEW},
 "reward": {"verifier": "math"}, "algo": {"kl": {"coef": 0}},
 "train": {"steps": $STEPS, "prompts_per_step": $PROMPTS, "group_size": $GROUP, "save_every": 0,
           "activation_checkpointing": $CHECKPOINTING, "micro_batch_tokens": $MICRO}}
JSON
echo "bench_rl_step.sh: $PROMPTS prompts x $GROUP samples, up to $NEW new tokens, $STEPS steps, L $LAYERS, V $V," \
     "$THREADS thread(s), activation checkpointing $CHECKPOINTING, micro-batches of $MICRO tokens"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
"$PY" - "$BIN" "$tmp" <<'PY'
import json, resource, subprocess, sys, time
rlvr, tmp = sys.argv[1], sys.argv[2]
t0 = time.time()
subprocess.run([rlvr, "train", tmp + "/cfg.json", "--set", "run.dir=" + tmp + "/run"], check=True)
wall = time.time() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
peak, cpu = ru.ru_maxrss / 1024.0 ** 2, ru.ru_utime + ru.ru_stime
rows = [json.loads(l) for l in open(tmp + "/run/metrics.jsonl")]
keys = [k for k in rows[0] if k.endswith("_s")]
print("%-6s" % "step" + "".join("%12s" % k for k in keys) + "%12s" % "tokens")
for r in rows:
    print("%-6d" % r.get("step", 0) + "".join("%12.2f" % r[k] for k in keys) + "%12s" % r.get("gen_tokens", "-"))
c = json.load(open(tmp + "/m/config.json"))
D, L, F, V = c["hidden_size"], c["num_hidden_layers"], c["intermediate_size"], c["vocab_size"]
kv = c["num_key_value_heads"] * D // c["num_attention_heads"]
params = V * D + L * (2 * D * D + 2 * D * kv + D + 2 * kv + 3 * D * F + 2 * D) + D
state = 4 * params * 4 / 1024.0 ** 3
print("the step times above are wall seconds; the whole run (loading, steps, final checkpoint) took %.1f CPU-seconds"
      " in %.1f wall seconds" % (cpu, wall))
print("peak resident %.2f GiB; weights + gradients + AdamW state %.2f GiB (%.0fM parameters): %.2fx"
      % (peak, state, params / 1e6, peak / state))
PY
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
