"""oracle_peft — Hugging Face PEFT as the oracle of our LoRA adapters (model/lora.c, model/model.c).

Models: a tiny Qwen2 (q/k/v biases, GQA, untied) and a tiny Llama (tied, attention biases), as
`rlvr init-model` writes them. For each:
  - ours -> PEFT: a few `rlvr sft` steps with model.lora.targets on all seven projections write
    run.dir/adapter; PeftModel.from_pretrained loads it onto the transformers base, and its
    per-token log-probs equal `rlvr score --model BASE --adapter ADAPTER` within 1e-4 relative;
    PEFT's merge_and_unload gives the weights of our merged run.dir/model within 1e-6, and
    `rlvr score` of that merged model equals the adapter's log-probs within 1e-4 relative;
  - PEFT -> ours: an adapter PEFT creates (get_peft_model on q/v/down with B drawn at random, so
    it is not the identity) and saves with save_pretrained is read by `rlvr score --adapter`, with
    the same log-probs as the PeftModel within 1e-4 relative.
"""
import json
import os
import struct
import tempfile

import numpy as np
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM

from oraclekit import check, finish, rlvr

RTOL = 1e-4

MODELS = {
    "qwen2-untied-gqa": ["--arch", "qwen2", "--hidden", "48", "--heads", "6", "--kv-heads", "3"],
    "llama-tied-bias": ["--arch", "llama", "--hidden", "64", "--heads", "8", "--kv-heads", "2", "--tie",
                        "--attention-bias"],
}


def sequences(vocab):
    g = torch.Generator().manual_seed(5)
    return [torch.randint(0, vocab, (n,), generator=g).tolist() for n in (3, 19, 48)]


def ours(seqs, *model_args):
    lines = rlvr("score", *model_args, stdin="".join(json.dumps({"ids": s}) + "\n" for s in seqs)).splitlines()
    return [json.loads(l)["logprobs"] for l in lines]


def theirs(seqs, model):
    out = []
    for s in seqs:
        ids = torch.tensor([s])
        with torch.no_grad():
            lp = torch.log_softmax(model(ids).logits.double(), -1)[0, :-1].gather(-1, ids[0, 1:, None])[:, 0]
        out.append(lp.tolist())
    return out


def worst_rel(a, b):
    return max(abs(x - y) / abs(y) for r, s in zip(a, b) for x, y in zip(r, s))


def read_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    return {k: np.frombuffer(b[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]], np.float32).reshape(v["shape"])
            for k, v in h.items() if k != "__metadata__"}


def base_model(d):
    return AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()


def check_ours_in_peft(name, tmp, base):
    run = os.path.join(tmp, name + "-lora")
    cfg = os.path.join(tmp, name + "-lora.json")
    json.dump({"run": {"dir": run, "log_level": "warn"}, "model": {"path": base, "chat_template": "none",
               "lora": {"targets": "q,k,v,o,gate,up,down", "rank": 4, "alpha": 12}},
               "data": {"source": "addition", "train_size": 64},
               "sft": {"steps": 6, "batch_size": 4, "lr": 2e-2, "warmup_steps": 1}}, open(cfg, "w"))
    rlvr("sft", cfg)
    adapter = os.path.join(run, "adapter")
    plain = base_model(base)
    seqs = sequences(plain.config.vocab_size)
    before = theirs(seqs, plain)
    peft = PeftModel.from_pretrained(plain, adapter).eval()
    want = theirs(seqs, peft)
    got = ours(seqs, "--model", base, "--adapter", adapter)
    moved = max(abs(x - y) for r, s in zip(want, before) for x, y in zip(r, s))
    check(moved > 1e-3, f"{name}: the trained adapter changes the model (log-probs move by up to {moved:.3g})")
    w = worst_rel(got, want)
    check(w <= RTOL, f"{name}: rlvr score --adapter equals PEFT's PeftModel on our adapter, largest relative "
          f"difference {w:.2e}")
    merged = {k: v.detach().numpy() for k, v in peft.merge_and_unload().state_dict().items()}
    mine = read_safetensors(os.path.join(run, "model", "model.safetensors"))
    dw = max(float(np.abs(mine[k] - merged[k]).max()) for k in mine)
    check(mine.keys() <= merged.keys() and dw <= 1e-6,
          f"{name}: our merged run.dir/model equals PEFT's merge_and_unload, largest difference {dw:.2e}")
    w = worst_rel(ours(seqs, "--model", os.path.join(run, "model")), want)
    check(w <= RTOL, f"{name}: rlvr score of the merged model equals PeftModel, largest relative difference {w:.2e}")


def check_peft_in_ours(name, tmp, base):
    torch.manual_seed(7)
    cfg = LoraConfig(r=3, lora_alpha=5, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0,
                     task_type="CAUSAL_LM")
    plain = base_model(base)
    vocab = plain.config.vocab_size
    peft = get_peft_model(plain, cfg)
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.3)
    peft.eval()
    adapter = os.path.join(tmp, name + "-peft-adapter")
    peft.save_pretrained(adapter)
    seqs = sequences(vocab)
    w = worst_rel(ours(seqs, "--model", base, "--adapter", adapter), theirs(seqs, peft))
    check(w <= RTOL, f"{name}: an adapter PEFT saved, read by rlvr score --adapter, gives PEFT's log-probs, largest "
          f"relative difference {w:.2e}")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in MODELS.items():
            base = os.path.join(tmp, name)
            rlvr("init-model", *args, "--layers", "2", "--seed", "11", "--out", base)
            check_ours_in_peft(name, tmp, base)
            check_peft_in_ours(name, tmp, base)
    finish("oracle_peft")


if __name__ == "__main__":
    main()
