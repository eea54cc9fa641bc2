"""oracle_trl_loss — TRL's GRPO loss as the oracle of ours (trainer/loss.c): on the same batches
(log-probs, old and reference log-probs, advantages, masks, entropies), the loss and its gradient
with respect to the log-probs agree within 1e-6 for each loss type both implement.

TRL's side is its own code: a GRPOTrainer built from a GRPOConfig on a model made by
`rlvr init-model`, whose _compute_loss runs on the batch, with the per-token log-probs and
entropies its model would compute replaced by the batch's (the one method patched). Ours is
tests/oracle_loss.c, which reads the same batch and the algo.* settings named here.

  TRL                               ours (algo.*)
  loss_type=grpo                    aggregation=seq_mean_token_mean
  loss_type=bnpo, dapo              aggregation=token_mean
  loss_type=dr_grpo                 aggregation=constant, constant_divisor=max_completion_length
  epsilon_high (clip-higher)        clip.eps_high
  beta (k3 KL to the reference),    kl.coef, kl.type=k3
    use_bias_correction_kl=False
  delta (two-sided clipping)        clip.dual (the same cap on negative-advantage losses)
  importance_sampling_level=sequence   ratio_level=sequence (GSPO)
  entropy_coef (bnpo, dapo)         entropy_coef

Where the two differ by design (docs/ALGORITHMS-IMPL.md), the batches avoid it: TRL's grpo
averages over every row, an empty one counting 0, ours over the rows with a loss token, so grpo
batches have no empty row; TRL's entropy bonus is a plain token mean, ours follows the aggregation,
so the entropy cases are the token-mean types; TRL's default KL is multiplied by the importance
ratio (use_bias_correction_kl, DeepSeek-V3.2's unbiased estimator), ours is the plain k3 of GRPO,
so the KL cases turn that off. Every batch is f64, one micro-batch, one process.
"""
import json
import os
import subprocess
import sys
import tempfile

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import GRPOConfig, GRPOTrainer

SRC = os.environ.get("RLVR_SRC", ".")
BIN = os.environ["RLVR_BIN"]
ORACLE = os.path.join(os.environ["RLVR_TESTBIN"], "oracle_loss")
TOL = 1e-6
T = 7  # completion positions; also TRL's max_completion_length for dr_grpo

# name, TRL's GRPOConfig arguments, our algo.* settings, whether a row may be empty, entropies
CASES = [
    ("grpo", dict(loss_type="grpo"), ["algo.aggregation=seq_mean_token_mean"], False, False),
    ("bnpo", dict(loss_type="bnpo"), ["algo.aggregation=token_mean"], True, False),
    ("dapo", dict(loss_type="dapo"), ["algo.aggregation=token_mean"], True, False),
    ("dr_grpo", dict(loss_type="dr_grpo"), ["algo.aggregation=constant", f"algo.constant_divisor={T}"], True, False),
    ("grpo clip-higher", dict(loss_type="grpo", epsilon_high=0.28),
     ["algo.aggregation=seq_mean_token_mean", "algo.clip.eps_high=0.28"], False, False),
    ("dapo clip-higher", dict(loss_type="dapo", epsilon=0.2, epsilon_high=0.28),
     ["algo.aggregation=token_mean", "algo.clip.eps_high=0.28"], True, False),
    ("grpo kl k3", dict(loss_type="grpo", beta=0.04, use_bias_correction_kl=False),
     ["algo.aggregation=seq_mean_token_mean", "algo.kl.coef=0.04", "algo.kl.type=k3"], False, False),
    ("dr_grpo kl k3", dict(loss_type="dr_grpo", beta=0.1, use_bias_correction_kl=False),
     ["algo.aggregation=constant", f"algo.constant_divisor={T}", "algo.kl.coef=0.1", "algo.kl.type=k3"], True, False),
    ("dapo clip-higher kl k3", dict(loss_type="dapo", epsilon_high=0.28, beta=0.04, use_bias_correction_kl=False),
     ["algo.aggregation=token_mean", "algo.clip.eps_high=0.28", "algo.kl.coef=0.04"], True, False),
    ("bnpo dual clip 3", dict(loss_type="bnpo", delta=3.0), ["algo.aggregation=token_mean", "algo.clip.dual=3"], True, False),
    ("grpo sequence ratio (GSPO)", dict(loss_type="grpo", importance_sampling_level="sequence", epsilon=3e-4, epsilon_high=4e-4),
     ["algo.aggregation=seq_mean_token_mean", "algo.ratio_level=sequence", "algo.clip.eps_low=3e-4", "algo.clip.eps_high=4e-4"],
     False, False),
    ("dapo entropy bonus", dict(loss_type="dapo", entropy_coef=0.01),
     ["algo.aggregation=token_mean", "algo.entropy_coef=0.01"], True, True),
    ("bnpo entropy bonus kl", dict(loss_type="bnpo", entropy_coef=0.001, beta=0.02, use_bias_correction_kl=False),
     ["algo.aggregation=token_mean", "algo.entropy_coef=0.001", "algo.kl.coef=0.02"], True, True),
]
SEEDS = 4


def make_batch(seed, empty_row, sequence_level):
    """Six completions of up to T tokens: log-ratios spread so that tokens fall on both sides of
    each clip bound, advantages of both signs, one row without tokens when allowed."""
    g = torch.Generator().manual_seed(seed)
    n = 6
    lengths = torch.randint(1, T + 1, (n,), generator=g)
    lengths[0] = T
    if empty_row:
        lengths[-1] = 0
    mask = (torch.arange(T)[None, :] < lengths[:, None]).double()
    logp = -torch.rand(n, T, generator=g, dtype=torch.float64) * 3 - 0.01
    spread = 1e-3 if sequence_level else 0.35
    old = logp + torch.randn(n, T, generator=g, dtype=torch.float64) * spread
    ref = logp + torch.randn(n, T, generator=g, dtype=torch.float64) * 0.3
    adv = torch.randn(n, generator=g, dtype=torch.float64)
    ent = torch.rand(n, T, generator=g, dtype=torch.float64) * 2
    return dict(logp=logp, old_logp=old, ref_logp=ref, mask=mask, adv=adv, entropy=ent)


def trl_trainer(model_dir, args, out_dir):
    cfg = GRPOConfig(output_dir=out_dir, max_completion_length=T, num_generations=2, per_device_train_batch_size=2,
                     report_to="none", use_cpu=True, **args)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    tok = AutoTokenizer.from_pretrained(model_dir)
    tr = GRPOTrainer(model=model, reward_funcs=lambda completions, **kw: [0.0] * len(completions), args=cfg,
                     train_dataset=Dataset.from_dict({"prompt": ["a", "b"]}), processing_class=tok)
    tr.current_gradient_accumulation_steps = 1  # what Trainer's training loop sets for each step
    tr.model.train()
    return tr


def trl_loss(tr, b):
    logp = b["logp"].clone().requires_grad_(True)
    tr._get_per_token_logps_and_entropies = lambda *a, **k: (logp, b["entropy"], None)
    n = logp.shape[0]
    inputs = {
        "prompt_ids": torch.zeros(n, 1, dtype=torch.long),
        "prompt_mask": torch.ones(n, 1, dtype=torch.long),
        "completion_ids": torch.zeros(n, T, dtype=torch.long),
        "completion_mask": b["mask"],
        "advantages": b["adv"],
        "old_per_token_logps": b["old_logp"],
        "ref_per_token_logps": b["ref_logp"],
        "num_items_in_batch": b["mask"].sum(),
    }
    loss = tr._compute_loss(tr.model, inputs)
    loss.backward()
    return loss.item(), logp.grad.tolist()


def main():
    with tempfile.TemporaryDirectory(prefix="oracle_trl_loss.") as tmp:
        run(tmp)


def run(tmp):
    model_dir = os.path.join(tmp, "model")
    subprocess.run([BIN, "init-model", "--arch", "qwen2", "--out", model_dir, "--hidden", "16", "--layers", "1",
                    "--heads", "2"], check=True, stdout=subprocess.DEVNULL)
    runs, lines = [], []
    for name, args, sets, empty_row, entropy in CASES:
        tr = trl_trainer(model_dir, args, os.path.join(tmp, "trl"))
        seq = args.get("importance_sampling_level") == "sequence"
        for seed in range(SEEDS):
            b = make_batch(1000 * len(runs) + seed, empty_row, seq)
            runs.append((name, seed, trl_loss(tr, b)))
            line = {k: v.tolist() for k, v in b.items() if k != "entropy" or entropy}
            lines.append(json.dumps(dict(set=sets, **line)))
    res = subprocess.run([ORACLE], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"oracle_trl_loss: {ORACLE} failed: {res.stderr.strip()}")
    ours = [json.loads(l) for l in res.stdout.splitlines()]
    assert len(ours) == len(runs), f"{len(ours)} results for {len(runs)} batches"
    fails, worst = 0, {}
    for (name, seed, (loss, grad)), o in zip(runs, ours):
        dl = abs(loss - o["loss"])
        dg = max(abs(a - c) for ra, rc in zip(grad, o["grad"]) for a, c in zip(ra, rc))
        worst[name] = max(worst.get(name, 0.0), dl, dg)
        if not (dl <= TOL and dg <= TOL):
            fails += 1
            print(f"FAILED: {name}, batch {seed}: TRL loss {loss!r}, ours {o['loss']!r} "
                  f"(|diff| {dl:.3g}); largest gradient difference {dg:.3g}")
    for name, w in worst.items():
        print(f"{name:28s} largest |TRL - ours| over loss and gradient: {w:.3g}")
    print(f"{len(runs) - fails} passed, {fails} failed")
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
