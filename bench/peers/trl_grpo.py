"""trl_grpo — TRL's GRPOTrainer on the workload bench/peers/run.sh gives `rlvr train`: the same model
directory (written by `rlvr init-model`, loaded by transformers), the same prompts in the same order,
G, new tokens, temperature, learning rate and AdamW settings, no KL reference, the token-mean loss,
and the same reward: the addition task's check in Python (timed like rlvr's in-process grader),
held against `rlvr reward` with the run's own config on every completion once training is done.

Writes one JSON line per optimiser step to --out: wall and CPU seconds of the step, of generation
(GRPOTrainer._generate: tokenising the prompts, model.generate, decoding), of the reward function,
of the rest of _generate_and_score_completions (advantages, bookkeeping), the completion tokens,
and the update (the step less _generate_and_score_completions: forward, backward, AdamW). The
process's peak resident memory is measured by the caller (peers.py run), as for rlvr.

Usage: python trl_grpo.py --model DIR --data FILE.jsonl --config CFG.json --rlvr BIN --out FILE
           [--steps N --prompts P --group G --new T --temperature X --lr X --threads N --seed N]
"""
import argparse
import json
import re
import subprocess
import sys
import time

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer, TrainerCallback
from trl import GRPOConfig, GRPOTrainer


def clock():
    return time.perf_counter(), time.process_time()


class Phases:
    """Wall and CPU seconds per phase, summed over one step."""

    def __init__(self):
        self.sec = {}

    def add(self, name, start):
        w, c = clock()
        sw, sc = self.sec.get(name, (0.0, 0.0))
        self.sec[name] = (sw + w - start[0], sc + c - start[1])

    def take(self):
        s, self.sec = self.sec, {}
        return s


PHASES = Phases()


def answer_of(text):
    """The addition task's answer in a completion, as rewards/reward_math.c's fallback reads it: the
    text after the last </think> (none while a <think> is open), its last number, a number starting
    at a digit that no ASCII letter or _ precedes (its math spans and whole-text answers aside)."""
    if "</think>" in text:
        text = text[text.rindex("</think>") + 8:]
    elif "<think>" in text:
        return None
    last = None
    for m in re.finditer(r"[0-9]+(?:\.[0-9]+)?", text):
        i = m.start()
        while i < m.end() and i > 0 and ((text[i - 1].isascii() and text[i - 1].isalpha()) or text[i - 1] == "_"):
            i += 1  # "a12" reads as 2: the scan starts again after the letter's digit
        if i < m.end():
            neg = i > 0 and text[i - 1] == "-" and (i == 1 or not text[i - 2].isalnum())
            last = float(text[i:m.end()]) * (-1 if neg else 1)
    return last


SCORED = []  # every (prompt, completion, answer, metadata, score), checked against `rlvr reward` at the end


def addition_reward(prompts, completions, answer, metadata, **kw):
    start = clock()
    scores = [1.0 if answer_of(c) == float(a) else 0.0 for c, a in zip(completions, answer)]
    PHASES.add("reward", start)
    SCORED.extend(zip(prompts, completions, answer, metadata, scores))
    return scores


def check_rewards(rlvr, config):
    """Scores every completion again with `rlvr reward` and the run's config, and says how often the
    Python reward above scored otherwise (rlvr's grader reads more forms of an answer than this
    task's; the rewards steer the advantages, not the work of a step)."""
    rows = [json.dumps({"prompt": p, "completion": c, "answer": a, "metadata": m}) for p, c, a, m, _ in SCORED]
    res = subprocess.run([rlvr, "reward", "--config", config], input="\n".join(rows) + "\n",
                         capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"trl_grpo: {rlvr} reward failed: {res.stderr.strip()}")
    theirs = [json.loads(l)["score"] for l in res.stdout.splitlines()]
    differ = [(s[1], s[2], s[4], t) for t, s in zip(theirs, SCORED) if t != s[4]]
    for c, a, ours, t in differ[:3]:
        print(f"trl_grpo: completion {c!r} (answer {a}): Python {ours}, rlvr {t}")
    print(f"trl_grpo: rewards of {len(SCORED)} completions, {sum(theirs):.0f} correct by `rlvr reward`, "
          f"{len(differ)} scored otherwise by the Python reward")
    if len(theirs) != len(SCORED):
        sys.exit(f"trl_grpo: {rlvr} reward gave {len(theirs)} scores for {len(SCORED)} completions")


class TimedGRPOTrainer(GRPOTrainer):
    """GRPOTrainer with its generation and its whole rollout-and-score phase timed."""

    tokens = 0

    def _generate(self, prompts):
        start = clock()
        out = super()._generate(prompts)
        PHASES.add("generate", start)
        return out

    def _generate_and_score_completions(self, inputs):
        start = clock()
        out = super()._generate_and_score_completions(inputs)
        PHASES.add("prepare", start)
        self.tokens += int(out["completion_mask"].sum())
        return out


class StepLog(TrainerCallback):
    """One JSON line per optimiser step."""

    def __init__(self, trainer, path):
        self.trainer, self.f, self.start = trainer, open(path, "w"), None

    def on_step_begin(self, args, state, control, **kw):
        PHASES.take()
        self.trainer.tokens = 0
        self.start = clock()

    def on_step_end(self, args, state, control, **kw):
        w, c = clock()
        sec = PHASES.take()
        zero = (0.0, 0.0)
        gen, rew, prep = sec.get("generate", zero), sec.get("reward", zero), sec.get("prepare", zero)
        step = (w - self.start[0], c - self.start[1])
        row = {"step": state.global_step, "step_s": step[0], "step_cpu_s": step[1],
               "rollout_s": gen[0], "rollout_cpu_s": gen[1], "reward_s": rew[0], "reward_cpu_s": rew[1],
               "other_s": prep[0] - gen[0] - rew[0], "update_s": step[0] - prep[0],
               "update_cpu_s": step[1] - prep[1], "gen_tokens": self.trainer.tokens}
        self.f.write(json.dumps(row) + "\n")
        self.f.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--config", required=True, help="the rlvr config whose reward section scores")
    ap.add_argument("--rlvr", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--workdir", default="/tmp/trl_grpo")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--new", type=int, default=40)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    rows = [json.loads(l) for l in open(a.data)]
    data = Dataset.from_dict({"prompt": [r["prompt"] for r in rows], "answer": [r["answer"] for r in rows],
                              "metadata": [r["metadata"] for r in rows]})
    batch = a.prompts * a.group
    cfg = GRPOConfig(
        output_dir=a.workdir, use_cpu=True, report_to="none", save_strategy="no", logging_steps=1,
        disable_tqdm=True, seed=a.seed, max_steps=a.steps, shuffle_dataset=False,
        per_device_train_batch_size=batch, gradient_accumulation_steps=1, steps_per_generation=1,
        num_generations=a.group, max_completion_length=a.new, temperature=a.temperature, top_p=1.0, top_k=0,
        learning_rate=a.lr, lr_scheduler_type="constant", warmup_steps=0, weight_decay=0.0, max_grad_norm=1.0,
        adam_beta1=0.9, adam_beta2=0.999, adam_epsilon=1e-8,
        beta=0.0, loss_type="dapo", scale_rewards="group", epsilon=0.2, num_iterations=1)
    model = AutoModelForCausalLM.from_pretrained(a.model, dtype=torch.float32)
    tok = AutoTokenizer.from_pretrained(a.model)
    tr = TimedGRPOTrainer(model=model, reward_funcs=addition_reward, args=cfg, train_dataset=data,
                          processing_class=tok)
    tr.add_callback(StepLog(tr, a.out))
    tr.train()
    opt = tr.optimizer.optimizer if hasattr(tr.optimizer, "optimizer") else tr.optimizer
    print(f"trl_grpo: {a.steps} steps of {a.prompts} x {a.group}, optimiser {type(opt).__name__} "
          f"{ {k: v for k, v in opt.defaults.items() if k in ('fused', 'foreach')} }, torch threads "
          f"{torch.get_num_threads()}")
    check_rewards(a.rlvr, a.config)


if __name__ == "__main__":
    main()
