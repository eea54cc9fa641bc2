"""Reference vectors of the old-log-prob correction for tests/test_loss.c: truncated importance
sampling (TIS) on the clipped surrogate, at the rollout temperature.

Each case draws logits (n, T, V) for the current policy, the old policy (the trainer's weights
before the update) and the sampler (the same weights run by the inference engine, slightly off),
takes the log-probs of sampled tokens at temperature tau as TRL and verl do
(log_softmax(logits / tau)), and computes verl's loss with TIS:

    w   = min(exp(old - sampler), C)                       (no gradient)
    r   = exp(clamp(logp - old, -20, 20))
    l   = max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high))  (section 1.1a)
    L   = sum_{i,t} m_it w_it l_it / sum m                  (token_mean aggregation)

with the gradient dL/dlogp and the TIS metrics (mean weight, fraction capped, largest raw
weight) over the masked tokens. (tests/test_model.c checks the model's log-probs at tau against
log_softmax of its logits / tau; the logits themselves are checked against PyTorch there.)

Usage: /usr/bin/python3 tests/loss_ref.py   (rewrites tests/loss/tis_ref.json)
"""
import json
import os

import torch

FORMAT_VERSION = 1


def case(seed, n, T, V, tau, cap, eps_low, eps_high, lengths):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, T, V, generator=g, dtype=torch.float64) * 2
    old_logits = logits + 0.3 * torch.randn(n, T, V, generator=g, dtype=torch.float64)
    sampler_logits = old_logits + 0.4 * torch.randn(n, T, V, generator=g, dtype=torch.float64)
    tokens = torch.randint(0, V, (n, T), generator=g)
    adv = torch.randn(n, generator=g, dtype=torch.float64)
    mask = torch.zeros(n, T, dtype=torch.float64)
    for i, L in enumerate(lengths):
        mask[i, :L] = 1

    def at_tau(lg):
        lsm = torch.log_softmax(lg / tau, dim=-1)
        return lsm.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) * mask

    logp = at_tau(logits)
    old = at_tau(old_logits)
    sampler = at_tau(sampler_logits)
    logp = logp.detach().requires_grad_()
    raw = torch.exp(torch.clamp(old - sampler, -20, 20))
    w = torch.clamp(raw, max=cap)
    r = torch.exp(torch.clamp(logp - old, -20, 20))
    a = adv.unsqueeze(1)
    l = torch.maximum(-a * r, -a * torch.clamp(r, 1 - eps_low, 1 + eps_high))
    N = mask.sum()
    loss = (mask * w * l).sum() / N
    loss.backward()
    return {
        "n": n, "T": T, "tis_cap": cap, "eps_low": eps_low, "eps_high": eps_high,
        "mask": mask.flatten().tolist(), "adv": adv.tolist(),
        "logp": logp.detach().flatten().tolist(),
        "old_logp": old.flatten().tolist(), "sampler_logp": sampler.flatten().tolist(),
        "loss": float(loss), "grad": logp.grad.flatten().tolist(),
        "tis_mean": float((w * mask).sum() / N),
        "tis_capped": float(((raw > cap).double() * mask).sum() / N),
        "tis_max": float((raw * mask).max()),
    }


def main():
    cases = [
        case(1, 3, 5, 7, 0.6, 2.0, 0.2, 0.28, [5, 3, 1]),
        case(2, 4, 6, 11, 1.0, 1.5, 0.2, 0.2, [6, 6, 2, 4]),
    ]
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "loss", "tis_ref.json")
    with open(out, "w") as f:
        json.dump({"format_version": FORMAT_VERSION, "torch": torch.__version__, "cases": cases}, f)
        f.write("\n")


if __name__ == "__main__":
    main()
