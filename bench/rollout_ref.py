"""PyTorch eager reference of `rlvr bench rollout`: the same P x G sampling loop over a KV cache.

Usage (Debian's /usr/bin/python3, torch 1.13; or any torch, with a GPU for --device cuda):
  rollout_ref.py DIR --prompts P --group G --prompt-len L --max-new N [--threads T]
                 [--temperature X] [--repeats R] [--check] [--device DEV]

Loads DIR with tests/model_ref.py (safetensors parsed by hand, the same weights `rlvr` reads),
prefills each of P random prompts of L tokens once, repeats the cache rows for the G samples,
then decodes N tokens per row (EOS ignored, every row runs to N): one forward step per token over
a per-layer key/value cache grown by concatenation as Hugging Face's DynamicCache does, grouped
heads repeated by expand + reshape (HF's repeat_kv), softmax in f32, and per row a draw from
softmax(logits / X) with torch.multinomial and the log-prob of the drawn token at temperature 1.
Prints one JSON line per repeat: tokens, prefill/decode/total seconds of wall time and of this
process's CPU time, and tokens/s. --check first confirms on the model that greedy decoding with
this cache gives the ids of model_ref's full recomputation (on the CPU). --device (cpu, cuda,
cuda:N) holds the weights, the cache and the draws; on a GPU the clocks are read after a
synchronisation, so the times are those of the work, not of its queueing.
Not here: stop conditions, row compaction, top-k/top-p (none of them changes the work measured).
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
import model_ref  # noqa: E402


class Model:
    def __init__(self, d, device):
        self.cfg, w = model_ref.load(d)
        self.device = device
        self.w = {k: v.to(device) for k, v in w.items()}
        c = self.cfg
        self.H = c["num_attention_heads"]
        self.Hkv = c.get("num_key_value_heads") or self.H
        self.E = c.get("head_dim") or c["hidden_size"] // self.H
        self.eps = c["rms_norm_eps"]
        self.qwen3 = c["model_type"] == "qwen3"
        self.inv_freq = model_ref.inv_freq(c, self.E).to(device)
        self.head = self.w["model.embed_tokens.weight"] if c.get("tie_word_embeddings") else self.w["lm_head.weight"]

    def proj(self, p, name, h):
        return F.linear(h, self.w[p + name + ".weight"], self.w.get(p + name + ".bias"))

    def step(self, ids, cache, start):
        """ids (B, T) at positions start.. -> logits (B, V) of the last token; cache: per layer
        [k, v] of (B, Hkv, S, E), or None before the prefill."""
        B, T = ids.shape
        H, Hkv, E, eps = self.H, self.Hkv, self.E, self.eps
        pos = torch.arange(start, start + T, dtype=torch.float32, device=self.device)
        freqs = pos[:, None] * self.inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        cos, sin = emb.cos(), emb.sin()
        S = start + T
        allowed = torch.ones(T, S, dtype=torch.bool, device=self.device).tril(start)
        x = self.w["model.embed_tokens.weight"][ids]
        for i in range(self.cfg["num_hidden_layers"]):
            p = "model.layers.%d." % i
            h = model_ref.rms_norm(x, self.w[p + "input_layernorm.weight"], eps)
            q = self.proj(p, "self_attn.q_proj", h).view(B, T, H, E)
            k = self.proj(p, "self_attn.k_proj", h).view(B, T, Hkv, E)
            v = self.proj(p, "self_attn.v_proj", h).view(B, T, Hkv, E).transpose(1, 2)
            if self.qwen3:
                q = model_ref.rms_norm(q, self.w[p + "self_attn.q_norm.weight"], eps)
                k = model_ref.rms_norm(k, self.w[p + "self_attn.k_norm.weight"], eps)
            q, k = q.transpose(1, 2), k.transpose(1, 2)
            q = q * cos + model_ref.rotate_half(q) * sin
            k = k * cos + model_ref.rotate_half(k) * sin
            if cache[i] is not None:
                k = torch.cat((cache[i][0], k), 2)
                v = torch.cat((cache[i][1], v), 2)
            cache[i] = [k, v]
            n = H // Hkv
            k = k[:, :, None].expand(B, Hkv, n, S, E).reshape(B, H, S, E)
            v = v[:, :, None].expand(B, Hkv, n, S, E).reshape(B, H, S, E)
            scores = (q @ k.transpose(2, 3)) / math.sqrt(E)
            o = torch.softmax(scores.masked_fill(~allowed, float("-inf")), -1) @ v
            x = x + self.proj(p, "self_attn.o_proj", o.transpose(1, 2).reshape(B, T, H * E))
            h = model_ref.rms_norm(x, self.w[p + "post_attention_layernorm.weight"], eps)
            x = x + self.proj(p, "mlp.down_proj", F.silu(self.proj(p, "mlp.gate_proj", h)) * self.proj(p, "mlp.up_proj", h))
        x = model_ref.rms_norm(x[:, -1], self.w["model.norm.weight"], eps)
        return x @ self.head.T


def sample(logits, temperature, gen):
    """logits (R, V) -> ids (R), log-probs (R) at temperature 1."""
    if temperature == 0:
        ids = logits.argmax(-1)
    else:
        ids = torch.multinomial(torch.softmax(logits / temperature, -1), 1, generator=gen)[:, 0]
    lp = torch.log_softmax(logits, -1).gather(1, ids[:, None])[:, 0]
    return ids, lp


def clocks(device):
    """(wall, cpu) seconds once the device has finished what was queued on it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter(), time.process_time()


def rollout(m, prompts, G, N, temperature, gen):
    """prompts (P, L) -> ids (P*G, N), log-probs (P*G, N); times (wall, cpu) of prefill and decode."""
    P, L = prompts.shape
    w0, c0 = clocks(m.device)
    cache = [None] * m.cfg["num_hidden_layers"]
    logits = m.step(prompts, cache, 0)
    cache = [[k.repeat_interleave(G, 0), v.repeat_interleave(G, 0)] for k, v in cache]
    logits = logits.repeat_interleave(G, 0)
    w1, c1 = clocks(m.device)
    out, lps = [], []
    for t in range(N):
        ids, lp = sample(logits, temperature, gen)
        out.append(ids)
        lps.append(lp)
        if t + 1 < N:
            logits = m.step(ids[:, None], cache, L + t)
    w2, c2 = clocks(m.device)
    return torch.stack(out, 1), torch.stack(lps, 1), (w1 - w0, c1 - c0, w2 - w1, c2 - c1)


def check(m):
    g = torch.Generator().manual_seed(5)
    prompt = torch.randint(0, m.cfg["vocab_size"], (1, 7), generator=g)
    ids, _, _ = rollout(m, prompt.to(m.device), 1, 8, 0, None)
    w = {k: v.cpu() for k, v in m.w.items()}
    ref = model_ref.greedy(dict(m.cfg, eos_token_id=None), w, prompt[0].tolist(), 8)
    if ids[0].tolist() != ref:
        sys.exit("rollout_ref: cached greedy %s differs from the full recomputation %s" % (ids[0].tolist(), ref))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--group", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=32)
    ap.add_argument("--max-new", type=int, default=64)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--temperature", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = Model(a.dir, torch.device(a.device))
    with torch.no_grad():
        if a.check:
            check(m)
        prompts = torch.randint(0, m.cfg["vocab_size"], (a.prompts, a.prompt_len), generator=torch.Generator().manual_seed(1))
        prompts = prompts.to(m.device)
        gen = torch.Generator(device=m.device).manual_seed(1)
        for _ in range(a.repeats):
            ids, _, (pw, pc, dw, dc) = rollout(m, prompts, a.group, a.max_new, a.temperature, gen)
            n = ids.numel()
            print(json.dumps({"tokens": n, "prefill_wall": pw, "prefill_cpu": pc, "decode_wall": dw,
                              "decode_cpu": dc, "wall": pw + dw, "cpu": pc + dc,
                              "tok_s_wall": n / (pw + dw), "tok_s_cpu": n / (pc + dc)}))


if __name__ == "__main__":
    main()
