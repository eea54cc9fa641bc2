"""PyTorch reference for model/model.c: Llama / Qwen2 / Qwen3 forward in plain torch.

Independent of the C code: safetensors is parsed by hand (8-byte little-endian header length,
JSON header, raw bytes; shards through model.safetensors.index.json), config.json is read with
json, and the forward follows the Hugging Face modeling files (RMSNorm in f32, rotate_half RoPE
with the llama3 frequency scaling, repeat_kv by expand + reshape, eager attention, SwiGLU), in
float32 with torch 1.13 (Debian's python3-torch).

Usage (/usr/bin/python3):
  model_ref.py logprobs DIR          {"ids": [...]} lines on stdin -> {"logprobs": [...]}
  model_ref.py greedy DIR N          {"ids": prompt} lines -> {"ids": up to N greedy tokens, EOS not
                                     included}, recomputing the full sequence at every step
  model_ref.py fixtures RLVR OUT     build the cases below with `RLVR init-model`, write their
                                     reference log-probs, entropies, gradient norms of the summed
                                     log-probs of the first sequence and greedy ids to OUT
                                     (tests/model/reference.json)
  model_ref.py check RLVR            the same cases live: `RLVR score` and `RLVR generate --greedy`
                                     against this reference; exits non-zero on a mismatch
"""
import json
import math
import os
import struct
import subprocess
import sys
import tempfile

import torch

FORMAT_VERSION = 1
RTOL = 1e-4

# name, init-model arguments (besides --out), sequence lengths, greedy prompt length, greedy steps
CASES = [
    ("llama3-gqa-untied-rope-scaled-sharded",
     ["--arch", "llama", "--hidden", "96", "--layers", "3", "--heads", "6", "--kv-heads", "2",
      "--rope-scaling", "llama3", "--rope-original", "64", "--rope-theta", "10000",
      "--init-std", "0.25", "--seed", "1", "--shard-mb", "1"], [17, 9, 40], 12, 16),
    ("qwen2-gqa-tied-bf16",
     ["--arch", "qwen2", "--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "1",
      "--tie", "--dtype", "bf16", "--init-std", "0.3", "--seed", "2"], [20, 5, 31], 10, 16),
    ("qwen3-gqa-untied-head-dim",
     ["--arch", "qwen3", "--hidden", "64", "--layers", "2", "--heads", "4", "--kv-heads", "2",
      "--head-dim", "24", "--init-std", "0.3", "--seed", "3"], [12, 25, 2], 9, 16),
    ("llama-mha-tied-attention-bias",
     ["--arch", "llama", "--hidden", "48", "--layers", "2", "--heads", "3", "--tie",
      "--attention-bias", "--init-std", "0.3", "--seed", "4"], [15, 30], 8, 16),
]

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16}


def fail(msg):
    print("model_ref: " + msg, file=sys.stderr)
    sys.exit(1)


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        buf = bytearray(raw[8 + n + begin:8 + n + end])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if buf else torch.zeros(0)
        out[name] = t.reshape(info["shape"]).float()
    return out


def load(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        w = {}
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            w.update(read_safetensors(os.path.join(d, shard)))
    else:
        w = read_safetensors(os.path.join(d, "model.safetensors"))
    return cfg, w


def rms_norm(x, w, eps):
    x32 = x.float()
    return w * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps))


def inv_freq(cfg, dim):
    base = cfg.get("rope_theta", 10000.0)
    inv = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))
    rs = cfg.get("rope_scaling")
    if rs and rs.get("rope_type", rs.get("type")) == "llama3":
        factor, low, high = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv
        scaled = torch.where(wavelen > old / low, inv / factor, inv)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < old / high) * ~(wavelen > old / low)
        inv = torch.where(medium, smoothed, scaled)
    return inv


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(cfg, w, ids, mask=None):
    """ids (B, T) int64, mask (B, T) bool -> logits (B, T, V) float32."""
    B, T = ids.shape
    if mask is None:
        mask = torch.ones(B, T, dtype=torch.bool)
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hkv = cfg.get("num_key_value_heads") or H
    E = cfg.get("head_dim") or D // H
    eps = cfg["rms_norm_eps"]
    qwen3 = cfg["model_type"] == "qwen3"
    pos = (mask.long().cumsum(-1) - 1).clamp(min=0)
    freqs = pos[..., None].float() * inv_freq(cfg, E)[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]
    causal = torch.ones(T, T, dtype=torch.bool).tril()
    allowed = (causal[None, None] & mask[:, None, None, :]) | torch.eye(T, dtype=torch.bool)
    x = w["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        p = "model.layers.%d." % i

        def proj(name, h):
            y = h @ w[p + name + ".weight"].T
            b = w.get(p + name + ".bias")
            return y + b if b is not None else y

        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = proj("self_attn.q_proj", h).view(B, T, H, E)
        k = proj("self_attn.k_proj", h).view(B, T, Hkv, E)
        v = proj("self_attn.v_proj", h).view(B, T, Hkv, E).transpose(1, 2)
        if qwen3:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        n = H // Hkv
        k = k[:, :, None].expand(B, Hkv, n, T, E).reshape(B, H, T, E)
        v = v[:, :, None].expand(B, Hkv, n, T, E).reshape(B, H, T, E)
        scores = (q @ k.transpose(2, 3)) * (E ** -0.5)
        probs = torch.softmax(scores.masked_fill(~allowed, float("-inf")), dim=-1)
        o = (probs @ v).transpose(1, 2).reshape(B, T, H * E)
        x = x + proj("self_attn.o_proj", o)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        x = x + proj("mlp.down_proj", torch.nn.functional.silu(proj("mlp.gate_proj", h)) * proj("mlp.up_proj", h))
    x = rms_norm(x, w["model.norm.weight"], eps)
    head = w["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else w["lm_head.weight"]
    return x @ head.T


def logprobs(cfg, w, ids):
    with torch.no_grad():
        lsm = torch.log_softmax(forward(cfg, w, torch.tensor([ids])), dim=-1)[0]
    return [lsm[t, ids[t + 1]].item() for t in range(len(ids) - 1)]


def entropy(cfg, w, ids):
    with torch.no_grad():
        lsm = torch.log_softmax(forward(cfg, w, torch.tensor([ids])), dim=-1)[0, :-1]
    return (-(lsm.exp() * lsm).sum(-1)).tolist()


def grad_norms(cfg, w, ids):
    """L2 norm of d(sum of log-probs)/d(tensor) for every weight, by autograd."""
    w = {k: v.clone().requires_grad_(True) for k, v in w.items()}
    lsm = torch.log_softmax(forward(cfg, w, torch.tensor([ids])), dim=-1)[0]
    lsm[torch.arange(len(ids) - 1), torch.tensor(ids[1:])].sum().backward()
    return {k: v.grad.norm().item() for k, v in sorted(w.items()) if v.grad is not None}


def eos_ids(cfg):
    e = cfg.get("eos_token_id")
    return set(e if isinstance(e, list) else [] if e is None else [e])


def greedy(cfg, w, prompt, steps):
    ids, out = list(prompt), []
    with torch.no_grad():
        for _ in range(steps):
            nxt = int(forward(cfg, w, torch.tensor([ids]))[0, -1].argmax())
            if nxt in eos_ids(cfg):
                break
            ids.append(nxt)
            out.append(nxt)
    return out


def init_model(rlvr, args, d):
    r = subprocess.run([rlvr, "init-model", "--out", d] + args, capture_output=True, text=True)
    if r.returncode:
        fail("init-model %s failed: %s" % (" ".join(args), r.stderr))


def case_data(cfg, w, lengths, prompt_len, seed):
    g = torch.Generator().manual_seed(seed)
    seqs = [torch.randint(0, cfg["vocab_size"], (n,), generator=g).tolist() for n in lengths]
    prompt = torch.randint(0, cfg["vocab_size"], (prompt_len,), generator=g).tolist()
    return seqs, prompt


def run(cmd, stdin):
    r = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
    if r.returncode:
        fail("%s failed: %s" % (" ".join(cmd), r.stderr))
    return r.stdout


def close(got, want):
    return len(got) == len(want) and all(abs(a - b) <= RTOL * abs(b) + 1e-6 for a, b in zip(got, want))


def main():
    if len(sys.argv) < 3:
        fail(__doc__)
    mode = sys.argv[1]
    if mode in ("logprobs", "greedy"):
        cfg, w = load(sys.argv[2])
        for line in sys.stdin:
            if line.strip():
                ids = json.loads(line)["ids"]
                if mode == "logprobs":
                    print(json.dumps({"logprobs": logprobs(cfg, w, ids)}))
                else:
                    print(json.dumps({"ids": greedy(cfg, w, ids, int(sys.argv[3]))}))
        return
    rlvr = sys.argv[2]
    cases, failures = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, args, lengths, prompt_len, steps) in enumerate(CASES):
            d = os.path.join(tmp, name)
            init_model(rlvr, args, d)
            cfg, w = load(d)
            seqs, prompt = case_data(cfg, w, lengths, prompt_len, 100 + k)
            ref = [logprobs(cfg, w, s) for s in seqs]
            if mode == "fixtures":
                cases.append({"name": name, "init_args": args, "sequences": seqs, "logprobs": ref,
                              "entropy": [entropy(cfg, w, s) for s in seqs],
                              "grad_norms_seq0": grad_norms(cfg, w, seqs[0]),
                              "prompt": prompt, "max_new": steps, "greedy": greedy(cfg, w, prompt, steps)})
                continue
            out = run([rlvr, "score", "--model", d], "".join(json.dumps({"ids": s}) + "\n" for s in seqs))
            for s, line, want in zip(seqs, out.splitlines(), ref):
                got = json.loads(line)["logprobs"]
                if not close(got, want):
                    failures += 1
                    print("%s: score of a %d-token sequence differs: %s vs %s" % (name, len(s), got[:4], want[:4]))
            gen = json.loads(run([rlvr, "generate", "--model", d, "--prompt", "The answer is", "--greedy",
                                  "--json", "--max-new-tokens", str(steps)], ""))
            want = greedy(cfg, w, gen["prompt_ids"], steps)
            if gen["ids"] != want:
                failures += 1
                print("%s: greedy ids %s, reference %s" % (name, gen["ids"], want))
            print("%s: %d sequences and %d greedy tokens match" % (name, len(seqs), len(want)))
    if mode == "fixtures":
        with open(sys.argv[3], "w") as f:
            head = {"format_version": FORMAT_VERSION, "generator": "tests/model_ref.py fixtures",
                    "torch": torch.__version__}
            f.write(json.dumps(head)[:-1] + ', "cases": [\n' + ",\n".join(json.dumps(c) for c in cases) + "\n]}\n")
    elif failures:
        fail("%d mismatches" % failures)


if __name__ == "__main__":
    main()
