#!/usr/bin/python3
"""nsr_data — the easy countdown of scripts/reproduce/nsr.sh as JSONL (docs/DATA.md): N numbers
from 1..MAX and a target in 10..99 that at least S different expressions reach, graded by the
countdown verifier (metadata numbers and target), with the built-in task's step-by-step trace of
one of those expressions, chosen uniformly:

    nsr_data.py OUT_DIR [--train 20000] [--test 512] [--numbers 3] [--max 12] [--min-solutions 2]
                [--seed 1]

    prompt    Using 7, 3, 12 make 33.
    response  <think>\\n12 - 7 = 5\\n5 * 3 = 15\\n...</think>\\n<answer>(12 - 7) * 3</answer>

An expression may use each number at most once, as the verifier allows; every intermediate result
is a positive integer and a division is exact by a divisor above 1, as in the built-in generator.
Two expressions are the same when they differ only in the order of the operands of + and *.
The problems (the numbers as a multiset, and the target) are enumerated and split at random:
--test of them make test.jsonl, one row each; train.jsonl draws --train rows from the others, so
no test problem is trained on. Each row lists its numbers in a random order; the metadata holds
{"task": "countdown", "numbers", "target", "difficulty": N, "solutions": S}. The same seed gives
the same bytes (Python's random.Random).
"""
import argparse
import itertools
import json
import os
import random


def combine(x, y, op):
    """The node x op y (x, y: (value, op, left, right) trees), or None when not a positive integer."""
    a, b = x[0], y[0]
    v = {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b > 1 and a % b == 0 else 0}[op]
    return (v, op, x, y) if v > 0 else None


def trees(items):
    """Every expression tree that combines all of items into one value."""
    if len(items) == 1:
        yield items[0]
        return
    for i, j in itertools.permutations(range(len(items)), 2):
        rest = [t for k, t in enumerate(items) if k not in (i, j)]
        for op in "+-*/":
            if op in "+*" and i > j:
                continue
            t = combine(items[i], items[j], op)
            if t:
                yield from trees(rest + [t])


def key(t):
    """The tree's text with the operands of + and * sorted: equal for the same expression."""
    if t[1] is None:
        return str(t[0])
    left, right = key(t[2]), key(t[3])
    if t[1] in "+*":
        left, right = sorted((left, right))
    return "(%s%s%s)" % (left, t[1], right)


def solutions(numbers):
    """{target: [tree, ...]} over every expression that uses each number at most once."""
    found = {}
    leaves = [(n, None, None, None) for n in numbers]
    for r in range(2, len(numbers) + 1):
        for subset in itertools.combinations(leaves, r):
            for t in trees(list(subset)):
                found.setdefault(t[0], {})[key(t)] = t
    return {v: [ts[k] for k in sorted(ts)] for v, ts in found.items()}


def problems(n, top, min_solutions):
    """Every (numbers, target, trees) with target in 10..99, not one of the numbers."""
    out = []
    for numbers in itertools.combinations_with_replacement(range(1, top + 1), n):
        for target, ts in sorted(solutions(numbers).items()):
            if 10 <= target <= 99 and target not in numbers and len(ts) >= min_solutions:
                out.append((list(numbers), target, ts))
    return out


def write(g, t, steps):
    """Append t's steps (operands first) to steps and return its expression; the operands of + and
    * in a random order, as the built-in trace writes them."""
    if t[1] is None:
        return str(t[0])
    x, y = t[2], t[3]
    if t[1] in "+*" and g.random() < 0.5:
        x, y = y, x
    ex, ey = write(g, x, steps), write(g, y, steps)
    steps.append("%d %s %d = %d\n" % (x[0], t[1], y[0], t[0]))
    return "%s %s %s" % ("(%s)" % ex if x[1] else ex, t[1], "(%s)" % ey if y[1] else ey)


def example(g, problem):
    numbers, target, ts = problem
    numbers = g.sample(numbers, len(numbers))
    steps = []
    expr = write(g, g.choice(ts), steps)
    return {"prompt": "Using %s make %d." % (", ".join(map(str, numbers)), target), "answer": expr,
            "response": "<think>\n%s</think>\n<answer>%s</answer>" % ("".join(steps), expr),
            "metadata": {"task": "countdown", "numbers": numbers, "target": target,
                         "difficulty": len(numbers), "solutions": len(ts)}}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("out")
    p.add_argument("--train", type=int, default=20000)
    p.add_argument("--test", type=int, default=512)
    p.add_argument("--numbers", type=int, default=3)
    p.add_argument("--max", type=int, default=12)
    p.add_argument("--min-solutions", type=int, default=2)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    if min(args.train, args.test, args.min_solutions) < 1:
        p.error("--train, --test and --min-solutions must be >= 1")
    if not 2 <= args.numbers <= 4 or not 2 <= args.max <= 99:
        p.error("--numbers must be in 2..4 and --max in 2..99")
    pool = problems(args.numbers, args.max, args.min_solutions)
    if len(pool) <= args.test:
        p.error("only %d problems have %d numbers up to %d and >= %d solutions; --test %d leaves "
                "none to train on" % (len(pool), args.numbers, args.max, args.min_solutions, args.test))
    g = random.Random("%d/split" % args.seed)
    g.shuffle(pool)
    test, train = pool[:args.test], pool[args.test:]
    os.makedirs(args.out, exist_ok=True)
    for split, rows in (("train", [None] * args.train), ("test", test)):
        g = random.Random("%d/%s" % (args.seed, split))
        with open(os.path.join(args.out, split + ".jsonl"), "w") as f:
            for row in rows:
                f.write(json.dumps(example(g, row or g.choice(train))) + "\n")


if __name__ == "__main__":
    main()
