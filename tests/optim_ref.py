"""Reference trajectories of torch.optim.AdamW + clip_grad_norm_ + LR schedulers for tests/test_optim.c.

Each case starts from fixed parameters, feeds fixed gradients step by step (null = the parameter
gets no gradient that step), clips with torch.nn.utils.clip_grad_norm_, takes the learning rate
from torch's own schedulers (LinearLR warm-up, then CosineAnnealingLR / LinearLR / constant via
SequentialLR) and steps torch.optim.AdamW. It records the learning rate, the pre-clip norm and the
parameters after every step, and the final optimiser state. The C test replays the gradients and
compares. The schedulers are an independent check of optim_lr_at's closed form, which this script
also asserts.

Usage: /usr/bin/python3 tests/optim_ref.py   (rewrites tests/optim/adamw_ref.json)
"""
import json
import math
import os
import warnings

import torch

FORMAT_VERSION = 1


def closed_form_lr(c, step):
    """optim_lr_at of optim/optim.h."""
    lr, w = c["lr"], c["warmup_steps"]
    if step < w:
        return lr * (step + 1) / w
    if c["schedule"] == "constant":
        return lr
    p = min(1.0, (step - w) / (c["total_steps"] - w))
    shape = 0.5 * (1 + math.cos(math.pi * p)) if c["schedule"] == "cosine" else 1 - p
    return c["min_lr"] + (lr - c["min_lr"]) * shape


def scheduler(c, opt):
    w, lr = c["warmup_steps"], c["lr"]
    if c["schedule"] == "cosine":
        after = torch.optim.lr_scheduler.CosineAnnealingLR(
            opt, T_max=c["total_steps"] - w, eta_min=c["min_lr"])
    elif c["schedule"] == "linear":
        after = torch.optim.lr_scheduler.LinearLR(
            opt, start_factor=1.0, end_factor=c["min_lr"] / lr, total_iters=c["total_steps"] - w)
    else:
        after = torch.optim.lr_scheduler.ConstantLR(opt, factor=1.0, total_iters=0)
    if w == 0:
        return after
    warm = torch.optim.lr_scheduler.LinearLR(
        opt, start_factor=1.0 / w, end_factor=1.0, total_iters=w - 1)
    return torch.optim.lr_scheduler.SequentialLR(opt, [warm, after], milestones=[w])


def run(c):
    dtype = {"f32": torch.float32, "f64": torch.float64}[c["dtype"]]
    g = torch.Generator().manual_seed(c["seed"])
    shapes = c["shapes"]
    params = [torch.randn(s, generator=g, dtype=torch.float64).to(dtype).requires_grad_()
              for s in shapes]
    init = [p.detach().flatten().tolist() for p in params]
    opt = torch.optim.AdamW(params, lr=c["lr"], betas=(c["beta1"], c["beta2"]), eps=c["eps"],
                            weight_decay=c["weight_decay"])
    sched = scheduler(c, opt)
    steps = []
    for s in range(c["steps"]):
        scale = c["grad_scales"][s]
        grads = []
        for i, p in enumerate(params):
            if [s, i] in c["no_grad"]:
                p.grad = None
                grads.append(None)
                continue
            gr = (torch.randn(p.shape, generator=g, dtype=torch.float64) * scale).to(dtype)
            p.grad = gr.clone()
            grads.append(gr.flatten().tolist())
        lr = opt.param_groups[0]["lr"]
        assert abs(lr - closed_form_lr(c, s)) <= 1e-12 * c["lr"], (s, lr, closed_form_lr(c, s))
        if c["grad_clip"] > 0:
            norm = float(torch.nn.utils.clip_grad_norm_(params, c["grad_clip"]))
        else:
            norm = float(torch.norm(torch.stack(
                [torch.norm(p.grad) for p in params if p.grad is not None])))
        opt.step()
        sched.step()
        steps.append({"grads": grads, "lr": lr, "grad_norm": norm,
                      "params": [p.detach().flatten().tolist() for p in params]})
    state = [{"step": int(opt.state[p]["step"]),
              "exp_avg": opt.state[p]["exp_avg"].flatten().tolist(),
              "exp_avg_sq": opt.state[p]["exp_avg_sq"].flatten().tolist()} for p in params]
    return {"config": c, "init": init, "steps": steps, "state": state}


CASES = [
    # f32 as in training: warm-up 2 then cosine to min_lr, weight decay, clipping active on the
    # steps with large gradients only
    {"name": "cosine_clip_f32", "dtype": "f32", "seed": 1, "shapes": [[3, 4], [5]],
     "lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.1,
     "grad_clip": 1.0, "schedule": "cosine", "warmup_steps": 2, "total_steps": 7,
     "min_lr": 1e-3, "steps": 8, "grad_scales": [0.05, 1.0, 0.1, 2.0, 0.02, 0.5, 3.0, 0.1],
     "no_grad": []},
    # f64, linear decay, no clipping, and a parameter without a gradient on step 2 (torch leaves
    # it and its step count alone)
    {"name": "linear_f64_missing_grad", "dtype": "f64", "seed": 2, "shapes": [[2, 3], [4], [1]],
     "lr": 3e-3, "beta1": 0.8, "beta2": 0.99, "eps": 1e-6, "weight_decay": 0.01,
     "grad_clip": 0.0, "schedule": "linear", "warmup_steps": 3, "total_steps": 6,
     "min_lr": 0.0, "steps": 6, "grad_scales": [1.0, 0.5, 2.0, 1.0, 0.3, 1.0],
     "no_grad": [[2, 1]]},
    # constant after warm-up, no weight decay
    {"name": "warmup_constant_f32", "dtype": "f32", "seed": 3, "shapes": [[4, 2]],
     "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0,
     "grad_clip": 0.5, "schedule": "constant", "warmup_steps": 3, "total_steps": 0,
     "min_lr": 0.0, "steps": 5, "grad_scales": [1.0, 1.0, 0.01, 1.0, 1.0], "no_grad": []},
]


def main():
    # SequentialLR passes an epoch to the scheduler it switches to, which torch 1.13 warns about
    warnings.filterwarnings("ignore", category=UserWarning, module="torch.optim.lr_scheduler")
    torch.set_num_threads(1)
    out = {"format_version": FORMAT_VERSION, "torch": torch.__version__,
           "cases": [run(c) for c in CASES]}
    here = os.path.dirname(os.path.abspath(__file__))
    os.makedirs(os.path.join(here, "optim"), exist_ok=True)
    path = os.path.join(here, "optim", "adamw_ref.json")
    with open(path, "w") as f:
        json.dump(out, f)
        f.write("\n")
    print("wrote", path)


if __name__ == "__main__":
    main()
