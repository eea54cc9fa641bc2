"""PyTorch eager baseline for bench/bench_model.c: the same three measurements on the same weights.

Usage: /usr/bin/python3 bench/model_bench.py DIR THREADS SECONDS B T ROWS PROMPT STEPS
Prints one line: training forward+backward, no-grad scoring and KV-cache decoding tokens per
CPU-second of the process (as the C side measures).
The forward is tests/model_ref.py's (plain torch, HF eager attention); decoding keeps per-layer
key/value tensors and concatenates each step's, as HF's DynamicCache does. Not here: padding,
sampling (argmax stands in, as in the C benchmark).
"""
import math
import os
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import model_ref  # noqa: E402


def logprobs(cfg, w, ids):
    lsm = torch.log_softmax(model_ref.forward(cfg, w, ids)[:, :-1], dim=-1)
    return lsm.gather(-1, ids[:, 1:, None])[..., 0]


def rate(fn, seconds):
    fn()
    n, t0 = 0, time.process_time()
    while True:
        fn()
        n += 1
        dt = time.process_time() - t0
        if dt >= seconds:
            return n / dt


def cached_step(cfg, w, ids, cache, start):
    """ids (B, T) at positions start.. -> last logits (B, V); cache: list of [k, v] per layer."""
    B, T = ids.shape
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    E = cfg.get("head_dim") or D // H
    eps = cfg["rms_norm_eps"]
    pos = torch.arange(start, start + T, dtype=torch.float32)
    freqs = pos[:, None] * model_ref.inv_freq(cfg, E)[None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    S = start + T
    allowed = torch.ones(T, S, dtype=torch.bool).tril(start)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i
        h = model_ref.rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = (h @ w[p + "self_attn.q_proj.weight"].T).view(B, T, H, E).transpose(1, 2)
        k = (h @ w[p + "self_attn.k_proj.weight"].T).view(B, T, Hkv, E).transpose(1, 2)
        v = (h @ w[p + "self_attn.v_proj.weight"].T).view(B, T, Hkv, E).transpose(1, 2)
        q = q * cos + model_ref.rotate_half(q) * sin
        k = k * cos + model_ref.rotate_half(k) * sin
        if cache[i] is None:
            cache[i] = [k, v]
        else:
            cache[i] = [torch.cat((cache[i][0], k), 2), torch.cat((cache[i][1], v), 2)]
        k, v = cache[i]
        n = H // Hkv
        k = k[:, :, None].expand(B, Hkv, n, S, E).reshape(B, H, S, E)
        v = v[:, :, None].expand(B, Hkv, n, S, E).reshape(B, H, S, E)
        scores = (q @ k.transpose(2, 3)) / math.sqrt(E)
        o = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v
        x = x + o.transpose(1, 2).reshape(B, T, H * E) @ w[p + "self_attn.o_proj.weight"].T
        h = model_ref.rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(h @ w[p + "mlp.gate_proj.weight"].T)
        x = x + (gate * (h @ w[p + "mlp.up_proj.weight"].T)) @ w[p + "mlp.down_proj.weight"].T
    x = model_ref.rms_norm(x[:, -1], w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def main():
    d, threads, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    B, T, rows, prompt, steps = (int(a) for a in sys.argv[4:9])
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg, w = model_ref.load(d)
    V = cfg["vocab_size"]
    ids = torch.randint(0, V, (B, T))
    params = {k: v.requires_grad_(True) for k, v in w.items()}

    def train():
        logprobs(cfg, params, ids).sum().backward()
        for v in params.values():
            v.grad = None

    def score():
        with torch.no_grad():
            logprobs(cfg, params, ids)

    train_rate = rate(train, seconds) * B * T
    score_rate = rate(score, seconds) * B * T
    spent, reps = 0.0, 0
    with torch.no_grad():
        t_end = time.process_time() + seconds
        while time.process_time() < t_end or reps == 0:
            cache = [None] * cfg["num_hidden_layers"]
            logits = cached_step(cfg, w, torch.randint(0, V, (rows, prompt)), cache, 0)
            t0 = time.process_time()
            for s in range(steps):
                logits = cached_step(cfg, w, logits.argmax(-1)[:, None], cache, prompt + s)
            spent += time.process_time() - t0
            reps += 1
    print("%.1f %.1f %.1f" % (train_rate, score_rate, rows * steps * reps / spent))


if __name__ == "__main__":
    main()
