"""oracle_transformers — Hugging Face transformers as the oracle of our model (model/model.c),
generation (rollout/) and chat templates (model/chat.c), on model directories the project writes.

Models: for each architecture, tied and untied, with grouped-query attention: Llama-3 with llama3
RoPE scaling (attention biases in one), Qwen2, Qwen3 (head_dim apart from hidden / heads); each as
`rlvr init-model` writes it, and each architecture once more as `rlvr export` writes it from the
last checkpoint of a short `rlvr sft` run. Each directory is loaded with
AutoModelForCausalLM.from_pretrained and AutoTokenizer.from_pretrained, then:
  - log-probs: `rlvr score` and the transformers model give the same log-probability for every
    token of random id sequences, within 1e-4 relative;
  - greedy continuation: `rlvr generate --greedy --json` and model.generate(do_sample=False) give
    the same prompt ids (the chat template applied by apply_chat_template, and a raw prompt
    encoded by the tokenizer) and the same new ids;
Chat templates: the committed reference renderings (tests/chat/vectors.jsonl, which
tests/test_chat.c holds our renderer to) equal apply_chat_template's output, for every conversation
but the empty one (which transformers 5 refuses), for the templates
whose tokenizer_config.json is here: Qwen3's and the tiny ChatML one (tests/tokenizer/), and the
tiny Llama-3 one that `rlvr init-model --arch llama` writes.
"""
import gzip
import json
import os
import shutil
import tempfile

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from oraclekit import check, finish, rlvr

SRC = os.environ.get("RLVR_SRC", ".")
RTOL = 1e-4
NEW = 12  # new tokens of each greedy continuation

# name: init-model arguments (each with --layers 2 --seed and a weight scale that keeps the
# greedy choices clear of ties)
MODELS = {
    "llama3-scaled-untied-gqa": ["--arch", "llama", "--hidden", "64", "--heads", "4", "--kv-heads", "2",
                                 "--rope-scaling", "llama3", "--rope-original", "64"],
    "llama3-scaled-tied-bias": ["--arch", "llama", "--hidden", "64", "--heads", "8", "--kv-heads", "2", "--tie",
                                "--attention-bias", "--rope-scaling", "llama3", "--rope-original", "32"],
    "qwen2-tied-gqa": ["--arch", "qwen2", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--tie"],
    "qwen2-untied-gqa": ["--arch", "qwen2", "--hidden", "48", "--heads", "6", "--kv-heads", "3"],
    "qwen3-untied-gqa": ["--arch", "qwen3", "--hidden", "32", "--heads", "4", "--kv-heads", "1", "--head-dim", "16"],
    "qwen3-tied-gqa": ["--arch", "qwen3", "--hidden", "64", "--heads", "4", "--kv-heads", "2", "--tie"],
}
PROMPTS = ["12+35=", "The quick brown fox"]


def check_logprobs(name, d, model):
    vocab = model.config.vocab_size
    g = torch.Generator().manual_seed(3)
    seqs = [torch.randint(0, vocab, (n,), generator=g).tolist() for n in (2, 17, 64)]
    ours = [json.loads(l)["logprobs"] for l in rlvr("score", "--model", d, stdin="".join(
        json.dumps({"ids": s}) + "\n" for s in seqs)).splitlines()]
    worst = 0.0
    for s, o in zip(seqs, ours):
        ids = torch.tensor([s])
        with torch.no_grad():
            lp = torch.log_softmax(model(ids).logits.double(), -1)[0, :-1].gather(-1, ids[0, 1:, None])[:, 0]
        if len(o) != len(lp):
            check(False, f"{name}: rlvr score gave {len(o)} log-probs for {len(s)} ids")
            return
        worst = max([worst] + [abs(a - b) / abs(b) for a, b in zip(o, lp.tolist())])
    check(worst <= RTOL, f"{name}: log-probs of {sum(map(len, seqs))} ids agree, largest relative difference {worst:.2e}")


def check_greedy(name, d, model, tok):
    eos = model.generation_config.eos_token_id
    eos = set(eos if isinstance(eos, list) else [eos])
    for prompt in PROMPTS:
        for raw in (False, True):
            got = json.loads(rlvr("generate", "--model", d, "--prompt", prompt, "--greedy", "--max-new-tokens",
                                  str(NEW), "--json", *(["--raw"] if raw else [])).splitlines()[0])
            if raw:
                want_prompt = tok(prompt)["input_ids"]
            else:
                want_prompt = tok.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                      tokenize=True, return_dict=True)["input_ids"]
            how = "raw" if raw else "chat"
            check(got["prompt_ids"] == want_prompt, f"{name}: {how} prompt {prompt!r} encodes as transformers does"
                  + ("" if got["prompt_ids"] == want_prompt else f": ours {got['prompt_ids']}, theirs {want_prompt}"))
            with torch.no_grad():
                out = model.generate(torch.tensor([got["prompt_ids"]]), do_sample=False, max_new_tokens=NEW,
                                     attention_mask=torch.ones(1, len(got["prompt_ids"]), dtype=torch.long))
            want = out[0, len(got["prompt_ids"]):].tolist()
            if got["finish"] == "eos" and want[:-1] == got["ids"] and want[-1] in eos:
                want = want[:-1]  # transformers keeps the EOS token it stopped on, rlvr generate does not
            check(got["ids"] == want, f"{name}: greedy continuation of the {how} prompt {prompt!r}"
                  + ("" if got["ids"] == want else f": ours {got['ids']}, transformers {want}"))


def check_model(name, d):
    model = AutoModelForCausalLM.from_pretrained(d, dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(d)
    check_logprobs(name, d, model)
    check_greedy(name, d, model, tok)


def exported(tmp, name, init_dir):
    """A few SFT steps from init_dir, the last checkpoint exported."""
    run = os.path.join(tmp, name + "-sft")
    cfg = os.path.join(tmp, name + "-sft.json")
    json.dump({"run": {"dir": run, "log_level": "warn"}, "model": {"path": init_dir, "chat_template": "none"},
               "data": {"source": "addition", "train_size": 64},
               "sft": {"steps": 4, "batch_size": 4, "lr": 3e-3, "warmup_steps": 1, "save_every": 4}},
              open(cfg, "w"))
    rlvr("sft", cfg)
    out = os.path.join(tmp, name + "-exported")
    rlvr("export", os.path.join(run, "ckpt-00000004.h5"), out)
    return out


def check_chat_templates(tmp, llama_dir):
    qwen3 = os.path.join(tmp, "qwen3-tokenizer")
    os.makedirs(qwen3)
    src = os.path.join(SRC, "tests", "tokenizer", "qwen3")
    shutil.copy(os.path.join(src, "tokenizer_config.json"), qwen3)
    with gzip.open(os.path.join(src, "tokenizer.json.gz"), "rb") as f:
        open(os.path.join(qwen3, "tokenizer.json"), "wb").write(f.read())
    dirs = {"qwen3": qwen3, "chatml-tiny": os.path.join(SRC, "tests", "tokenizer", "tiny"), "llama3-tiny": llama_dir}
    toks = {k: AutoTokenizer.from_pretrained(v) for k, v in dirs.items()}
    counts = {k: [0, 0] for k in toks}
    for line in open(os.path.join(SRC, "tests", "chat", "vectors.jsonl")):
        v = json.loads(line)
        if v["template"] not in toks or not v["messages"]:
            continue  # transformers 5 refuses an empty conversation
        kw = {} if v["enable_thinking"] else {"enable_thinking": False}
        text = toks[v["template"]].apply_chat_template(v["messages"], tokenize=False,
                                                       add_generation_prompt=v["add_generation_prompt"], **kw)
        counts[v["template"]][text == v["text"]] += 1
        if text != v["text"]:
            print(f"  {v['template']}: {v['messages']!r}: apply_chat_template {text!r}, ours {v['text']!r}")
    for k, (bad, good) in counts.items():
        check(good > 0 and bad == 0, f"chat template {k}: {good} of {good + bad} renderings equal apply_chat_template's")


def main():
    tmp = tempfile.mkdtemp(prefix="oracle_transformers.")
    try:
        dirs = {}
        for name, args in MODELS.items():
            d = os.path.join(tmp, name)
            rlvr("init-model", "--out", d, "--layers", "2", "--seed", "11", "--init-std", "0.25", *args)
            dirs[name] = d
        for name in ["llama3-scaled-untied-gqa", "qwen2-tied-gqa", "qwen3-untied-gqa"]:
            dirs[name + "-exported"] = exported(tmp, name, dirs[name])
        for name, d in dirs.items():
            check_model(name, d)
        check_chat_templates(tmp, dirs["llama3-scaled-untied-gqa"])
    finally:
        shutil.rmtree(tmp)
    finish("oracle_transformers")


if __name__ == "__main__":
    main()
