"""oracle_safetensors — the safetensors library as the oracle of our reader and writer
(model/safetensors.c), on model directories the project writes and ones the library writes.

Ours read by theirs: `rlvr init-model` writes a sharded f32 Llama (model.safetensors.index.json and
ten shards) and a single-file bf16 Qwen3; safetensors.torch.load_file reads every file, and
the tensors it finds are exactly those the index maps to that file, with the dtype of config.json.
Theirs read by ours: the tensors load_file returned are written back by safetensors.torch.save_file
as one file, as shards with an index written here, and by transformers' save_pretrained (its
own sharding and index); `rlvr score` on each directory gives the log-probs it gives on ours,
bit for bit. A tensor misread on either side would change them.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file
from transformers import AutoModelForCausalLM

BIN = os.environ["RLVR_BIN"]
passes = fails = 0


def check(ok, what):
    global passes, fails
    print(("ok: " if ok else "FAILED: ") + what)
    passes += bool(ok)
    fails += not ok


def load_ours(d):
    """Every tensor of model directory d through load_file, checking the index against the files."""
    index = os.path.join(d, "model.safetensors.index.json")
    if os.path.exists(index):
        wmap = json.load(open(index))["weight_map"]
        files = sorted(set(wmap.values()))
    else:
        wmap, files = None, ["model.safetensors"]
    tensors = {}
    for f in files:
        part = load_file(os.path.join(d, f))
        with safe_open(os.path.join(d, f), "pt") as so:
            check(so.metadata() == {"format": "pt"}, f"{d}/{f}: metadata {so.metadata()}")
        if wmap is not None:
            want = {k for k, v in wmap.items() if v == f}
            check(set(part) == want, f"{d}/{f}: holds the tensors the index maps to it")
        tensors.update(part)
    if wmap is not None:
        check(set(tensors) == set(wmap), f"{d}: the shards hold every tensor of the index")
    return tensors


def score(d, lines):
    r = subprocess.run([BIN, "score", "--model", d, "--threads", "1"], input=lines, capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"oracle_safetensors: rlvr score --model {d} failed: {r.stderr.strip()}")
    return r.stdout


def sibling(src, dst):
    """dst with src's config and tokenizer files and no weights."""
    os.makedirs(dst)
    for f in os.listdir(src):
        if not f.endswith(".safetensors") and f != "model.safetensors.index.json":
            shutil.copy(os.path.join(src, f), dst)


def save_sharded(tensors, d, nshards):
    names = list(tensors)
    wmap, total = {}, 0
    for s in range(nshards):
        f = f"model-{s + 1:05d}-of-{nshards:05d}.safetensors"
        part = {k: tensors[k].contiguous() for k in names[s::nshards]}
        save_file(part, os.path.join(d, f), metadata={"format": "pt"})
        wmap.update({k: f for k in part})
        total += sum(t.numel() * t.element_size() for t in part.values())
    json.dump({"metadata": {"total_size": total}, "weight_map": wmap},
              open(os.path.join(d, "model.safetensors.index.json"), "w"), indent=2)


def main():
    tmp = tempfile.mkdtemp(prefix="oracle_safetensors.")
    try:
        run(tmp)
    finally:
        shutil.rmtree(tmp)
    print(f"{passes} passed, {fails} failed")
    sys.exit(1 if fails else 0)


def run(tmp):
    models = {
        "llama-f32-sharded": (["--arch", "llama", "--hidden", "256", "--heads", "4", "--kv-heads", "2",
                               "--shard-mb", "1"], torch.float32),
        "qwen3-bf16": (["--arch", "qwen3", "--hidden", "64", "--heads", "4", "--kv-heads", "1", "--tie",
                        "--dtype", "bf16"], torch.bfloat16),
    }
    for name, (args, dtype) in models.items():
        ours = os.path.join(tmp, name)
        subprocess.run([BIN, "init-model", "--out", ours, "--layers", "2", "--seed", "7"] + args, check=True,
                       stdout=subprocess.DEVNULL)
        tensors = load_ours(ours)
        check(all(t.dtype == dtype for t in tensors.values()), f"{name}: every tensor is {dtype}")
        vocab = json.load(open(os.path.join(ours, "config.json")))["vocab_size"]
        g = torch.Generator().manual_seed(1)
        lines = "".join(json.dumps({"ids": torch.randint(0, vocab, (n,), generator=g).tolist()}) + "\n"
                        for n in (2, 9, 33))
        want = score(ours, lines)

        single = os.path.join(tmp, name + "-save_file")
        sibling(ours, single)
        save_file(tensors, os.path.join(single, "model.safetensors"), metadata={"format": "pt"})
        check(score(single, lines) == want, f"{name}: one file by save_file scores as ours")

        sharded = os.path.join(tmp, name + "-save_file-sharded")
        sibling(ours, sharded)
        save_sharded(tensors, sharded, 3)
        check(score(sharded, lines) == want, f"{name}: 3 shards by save_file + index scores as ours")

        hf = os.path.join(tmp, name + "-save_pretrained")
        sibling(ours, hf)
        AutoModelForCausalLM.from_pretrained(ours, dtype=dtype).save_pretrained(hf, max_shard_size="200KB")
        nfiles = len([f for f in os.listdir(hf) if f.endswith(".safetensors")])
        check(nfiles > 1 and os.path.exists(os.path.join(hf, "model.safetensors.index.json")),
              f"{name}: save_pretrained wrote {nfiles} shards and an index")
        check(score(hf, lines) == want, f"{name}: transformers' save_pretrained shards score as ours")


if __name__ == "__main__":
    main()
