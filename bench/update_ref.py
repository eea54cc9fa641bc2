"""PyTorch eager twin of bench/bench_update.c: one policy update at the same shape, as a PyTorch
user writes it.

Usage: /usr/bin/python3 bench/update_ref.py THREADS ROWS TOKENS LAYERS REPEATS
Builds a random Qwen2.5-0.5B-shaped model (D 896, H 14, Hkv 2, F 4864, V 151,936, tied, q/k/v
biases; LAYERS layers) in float32, then REPEATS times: the forward of tests/model_ref.py (the
whole (B, T, V) logits), log_softmax, the log-probs of the next tokens and their entropies (no
gradient, for the metric), the loss -mean(logprob x advantage), backward, torch.optim.AdamW's
step, zero_grad. Prints one line: the fastest forward + backward and AdamW CPU-seconds, the peak
resident GiB over the updates (VmHWM after a reset through /proc/self/clear_refs) and the GiB
resident before them.
Not here: activation checkpointing, padding.
"""
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import model_ref  # noqa: E402


def status_gib(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / (1024.0 * 1024.0)
    return 0.0


def random_model(L):
    D, H, Hkv, E, F, V = 896, 14, 2, 64, 4864, 151936
    cfg = {"model_type": "qwen2", "hidden_size": D, "num_attention_heads": H, "num_key_value_heads": Hkv,
           "intermediate_size": F, "vocab_size": V, "num_hidden_layers": L, "rms_norm_eps": 1e-6,
           "rope_theta": 1e6, "tie_word_embeddings": True}
    shapes = {"model.embed_tokens.weight": (V, D), "model.norm.weight": (D,)}
    for i in range(L):
        p = "model.layers.%d." % i
        shapes.update({p + "input_layernorm.weight": (D,), p + "post_attention_layernorm.weight": (D,),
                       p + "self_attn.q_proj.weight": (H * E, D), p + "self_attn.q_proj.bias": (H * E,),
                       p + "self_attn.k_proj.weight": (Hkv * E, D), p + "self_attn.k_proj.bias": (Hkv * E,),
                       p + "self_attn.v_proj.weight": (Hkv * E, D), p + "self_attn.v_proj.bias": (Hkv * E,),
                       p + "self_attn.o_proj.weight": (D, H * E), p + "mlp.gate_proj.weight": (F, D),
                       p + "mlp.up_proj.weight": (F, D), p + "mlp.down_proj.weight": (D, F)})
    w = {k: (torch.randn(s) * 0.02 + (1.0 if k.endswith("norm.weight") else 0.0)).requires_grad_(True)
         for k, s in shapes.items()}
    return cfg, w


def main():
    threads, B, T, L, repeats = (int(a) for a in sys.argv[1:6])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg, w = random_model(L)
    opt = torch.optim.AdamW(list(w.values()), lr=1e-6, weight_decay=0.01)
    ids = torch.randint(0, cfg["vocab_size"], (B, T))
    adv = torch.randn(B, 1)
    rest = status_gib("VmRSS:")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    best = None
    for _ in range(repeats):
        t0 = time.process_time()
        lsm = torch.log_softmax(model_ref.forward(cfg, w, ids)[:, :-1], dim=-1)
        lp = lsm.gather(-1, ids[:, 1:, None])[..., 0]
        with torch.no_grad():
            (-(lsm.exp() * lsm).sum(-1)).mean()
        (-(lp * adv).mean()).backward()
        del lsm, lp
        t1 = time.process_time()
        torch.nn.utils.clip_grad_norm_(list(w.values()), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        t = (t1 - t0, time.process_time() - t1)
        if best is None or sum(t) < sum(best):
            best = t
    print("%.3f %.3f %.3f %.3f" % (best[0], best[1], status_gib("VmHWM:"), rest))


if __name__ == "__main__":
    main()
