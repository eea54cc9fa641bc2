"""oracle_tensorboard — TensorBoard's own reader (EventAccumulator, what `tensorboard --logdir`
loads a run with) on the event files common/tboard.c writes with run.tensorboard.

`rlvr sft` runs 4 steps, is cut back to its checkpoint of step 2 and resumed to step 6; TensorBoard
reads the run directory (both files) and must see, for each metric sft logs there (loss, lr,
grad_norm, tokens_per_s: docs/TRAINING.md), one scalar per step 1..6 equal to the metrics.jsonl value (float32, metrics.jsonl's printed precision): the
resumed file's restart event makes it drop the first file's steps 3 and 4, as it does for any
run restarted from a checkpoint. The resolved config is text-plugin data equal to config.json.
`rlvr train` runs 3 steps: every metric, reward sub-scores included, is a scalar per step.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.util import tensor_util

BIN = os.environ["RLVR_BIN"]
passes = fails = 0


def check(ok, what):
    global passes, fails
    print(("ok: " if ok else "FAILED: ") + what)
    passes += bool(ok)
    fails += not ok


def rlvr(*args):
    r = subprocess.run([BIN, *args], capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"oracle_tensorboard: rlvr {' '.join(args)} failed: {r.stderr.strip()}")


def accumulate(run_dir):
    acc = EventAccumulator(run_dir, size_guidance={"scalars": 0, "tensors": 0})  # 0: keep every event
    acc.Reload()
    return acc


def check_scalars(acc, metrics_path, what, keys=None):
    """The scalars against metrics.jsonl: keys (default: all of metrics.jsonl's) are the tags."""
    metrics = [json.loads(l) for l in open(metrics_path)]
    keys = sorted(keys or (k for k in metrics[0] if k != "step"))
    tags = acc.Tags()
    check(sorted(tags["scalars"]) == keys, f"{what}: TensorBoard's scalar tags are {keys} "
          f"({len(keys)}; missing {sorted(set(keys) - set(tags['scalars']))}, extra {sorted(set(tags['scalars']) - set(keys))})")
    steps = [m["step"] for m in metrics]
    check(steps == list(range(1, len(steps) + 1)), f"{what}: metrics.jsonl has steps 1..{len(steps)}")
    for k in sorted(set(keys) & set(tags["scalars"])):
        got = acc.Scalars(k)
        if [e.step for e in got] != steps:
            check(False, f"{what}: {k} at steps {[e.step for e in got]}, metrics.jsonl at {steps}")
            continue
        # tokens_per_s is printed with one decimal; the rest with 6 significant digits or more
        atol = 0.05 if k.endswith("_s") else 1e-6
        bad = [(e.step, e.value, m[k]) for e, m in zip(got, metrics)
               if m[k] is not None and abs(e.value - m[k]) > atol + 1e-5 * abs(m[k])]
        check(not bad, f"{what}: {k} over steps {steps[0]}..{steps[-1]} equals metrics.jsonl" + (f": {bad}" if bad else ""))
    return tags


def main():
    tmp = tempfile.mkdtemp(prefix="oracle_tensorboard.")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp)
    print(f"{passes} passed, {fails} failed")
    sys.exit(1 if fails else 0)


def run(tmp):
    model = os.path.join(tmp, "m")
    rlvr("init-model", "--arch", "qwen2", "--out", model, "--hidden", "32", "--layers", "1", "--heads", "2", "--tie")
    cfg = os.path.join(tmp, "sft.json")
    sft_dir = os.path.join(tmp, "sft")
    json.dump({"run": {"log_level": "warn", "tensorboard": True, "dir": sft_dir},
               "model": {"path": model, "chat_template": "none"},
               "data": {"source": "addition", "train_size": 64},
               "sft": {"steps": 4, "batch_size": 4, "warmup_steps": 1, "save_every": 2}}, open(cfg, "w"))
    rlvr("sft", cfg)
    os.remove(os.path.join(sft_dir, "ckpt-00000004.h5"))
    shutil.rmtree(os.path.join(sft_dir, "model"))
    rlvr("sft", cfg, "--set", "sft.steps=6")
    files = [f for f in os.listdir(sft_dir) if f.startswith("events.out.tfevents.")]
    check(len(files) == 2, f"sft and its resumption wrote two event files: {files}")
    acc = accumulate(sft_dir)
    tags = check_scalars(acc, os.path.join(sft_dir, "metrics.jsonl"), "sft resumed at step 3",
                         ["loss", "lr", "grad_norm", "tokens_per_s"])
    check("config" in tags["tensors"], f"the config is a tensor of the text plugin: {tags['tensors']}")
    if "config" in tags["tensors"]:
        events = acc.Tensors("config")
        meta = acc.SummaryMetadata("config")
        text = tensor_util.make_ndarray(events[-1].tensor_proto).item().decode()
        check(meta.plugin_data.plugin_name == "text", f"the config's plugin is {meta.plugin_data.plugin_name!r}")
        check(text.startswith("```json\n") and text.endswith("\n```") and
              json.loads(text[8:-4]) == json.load(open(os.path.join(sft_dir, "config.json"))),
              "the config text is config.json in a JSON code block")

    rl_dir = os.path.join(tmp, "rl")
    cfg = os.path.join(tmp, "rl.json")
    json.dump({"run": {"log_level": "warn", "tensorboard": True, "dir": rl_dir},
               "model": {"path": model, "chat_template": "none"},
               "data": {"source": "addition", "train_size": 64}, "rollout": {"max_new_tokens": 8},
               "reward": {"cosine": {"weight": 1, "max_len": 8}},
               "train": {"steps": 3, "prompts_per_step": 2, "group_size": 2, "save_every": 0}}, open(cfg, "w"))
    rlvr("train", cfg)
    tags = check_scalars(accumulate(rl_dir), os.path.join(rl_dir, "metrics.jsonl"), "train")
    check("reward/cosine" in tags["scalars"], "train's reward sub-score reward/cosine is a scalar")


if __name__ == "__main__":
    main()
