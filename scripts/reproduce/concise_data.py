#!/usr/bin/python3
"""concise_data — the addition task of scripts/reproduce/concise.sh as JSONL (docs/DATA.md): the
demo's column-by-column traces (docs/DATA.md, `addition`), with 0..N redundant steps in each.

    concise_data.py OUT_DIR [--train 20000] [--test 1024] [--max-redundant 8] [--seed 1]

writes OUT_DIR/train.jsonl and OUT_DIR/test.jsonl: prompt, answer, response and metadata
({"task": "math", "difficulty": "<digits>", "redundant": k}). A problem has 1-4 digits, chosen
uniformly, and at least one operand of that many digits; both operands are zero-padded to 4. The
trace writes one group a_i b_i s_i c_i ; per column from the least significant, and k redundant
steps, k uniform in 0..N: each re-checks a column just written by copying its group after a `c`,
so a trace can be cut to its bare columns without changing a digit of the answer:

    0661+0606=   <think>1670;c1670;6060;6621;c6621;</think>1267

The same seed gives the same bytes (Python's random.Random); train and test are independent draws.
"""
import argparse
import json
import os
import random


def example(g, max_redundant):
    d = g.randint(1, 4)
    lim = 10 ** d
    while True:
        a, b = g.randrange(lim), g.randrange(lim)
        if d == 1 or a >= lim // 10 or b >= lim // 10:
            break
    k = g.randint(0, max_redundant)
    checks = sorted(g.randrange(d) for _ in range(k))  # the columns re-checked, with repeats
    trace, carry = [], 0
    for i in range(d):
        ai, bi = a // 10 ** i % 10, b // 10 ** i % 10
        s = ai + bi + carry
        carry = s // 10
        group = "%d%d%d%d;" % (ai, bi, s % 10, carry)
        trace.append(group)
        trace.extend("c" + group for c in checks if c == i)
    return {"prompt": "%04d+%04d=" % (a, b), "answer": str(a + b),
            "response": "<think>%s</think>%d" % ("".join(trace), a + b),
            "metadata": {"task": "math", "difficulty": str(d), "redundant": k}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--test", type=int, default=1024)
    p.add_argument("--max-redundant", type=int, default=8)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if min(args.train, args.test) < 1 or args.max_redundant < 0:
        p.error("--train and --test must be >= 1 and --max-redundant >= 0")
    os.makedirs(args.out, exist_ok=True)
    for split, n in (("train", args.train), ("test", args.test)):
        g = random.Random("%d/%s" % (args.seed, split))
        with open(os.path.join(args.out, split + ".jsonl"), "w") as f:
            for _ in range(n):
                f.write(json.dumps(example(g, args.max_redundant)) + "\n")


if __name__ == "__main__":
    main()
