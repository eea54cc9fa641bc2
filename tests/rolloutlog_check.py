#!/usr/bin/python3
"""rolloutlog_check — read a rollout log written by tests/test_rolloutlog.c with h5py and check
the layout docs/DATA.md documents: format attributes, extendable chunked columns, variable-length
strings and token ids, the prompt_row link, and sub-score columns with NaN where a row lacks one.
With a second file, also check that both logs hold exactly the same datasets and values.

Usage: /usr/bin/python3 tests/rolloutlog_check.py LOG.h5 [OTHER.h5]
"""
import sys

import h5py
import numpy as np


def fail(msg):
    print("rolloutlog_check: " + msg, file=sys.stderr)
    sys.exit(1)


def expect(cond, msg):
    if not cond:
        fail(msg)


PROMPT_IDS = [[3, 3, 3, 10, 13, 3, 3, 11, 8, 14], [3, 3, 4, 5, 13, 3, 3, 3, 12, 14]]
THINK_IDS = [17, 10, 8, 5, 4, 15, 18, 12, 5]
SHORT_IDS = [16, 12, 5]


def expected_rows():
    """The completions the test appends, in order: (step, i, G)."""
    for step in range(3):
        g = 3 if step == 0 else 2
        for i in range(2 * g):
            yield step, i, g


def check_content(f):
    expect(f.attrs["format"] == "rlvr.rollouts", "format %r" % f.attrs.get("format"))
    expect(int(f.attrs["format_version"]) == 1, "format_version")
    p = f["prompts"]
    expect(p["step"].maxshape == (None,) and p["step"].chunks is not None, "prompts/step not extendable")
    expect(p["step"][()].tolist() == [0, 0, 1, 1, 2, 2], "prompts/step %s" % p["step"][()])
    expect(p["index"][()].tolist() == [5, 6, 15, 16, 25, 26], "prompts/index")
    expect(list(p["text"].asstr()[()]) == ["0007+0085=", "0012+0009="] * 3, "prompts/text")
    expect(list(p["answer"].asstr()[()]) == ["92", "21"] * 3, "prompts/answer")
    expect([x.tolist() for x in p["ids"][()]] == PROMPT_IDS * 3, "prompts/ids")
    expect(p["ids"][0].dtype == np.int32, "prompts/ids dtype %s" % p["ids"][0].dtype)

    c = f["completions"]
    rows = list(expected_rows())
    expect(c["step"].shape == (len(rows),), "completions rows %s" % (c["step"].shape,))
    first_prompt_row = {0: 0, 1: 2, 2: 4}
    sub = c["subscores"]
    expect(sorted(sub.keys()) == ["accuracy", "correct", "format"], "sub-scores %s" % list(sub.keys()))
    text = c["text"].asstr()[()]
    reason = c["finish_reason"].asstr()[()]
    for r, (step, i, g) in enumerate(rows):
        think = i % 2 == 0
        where = "completion row %d (step %d, i %d)" % (r, step, i)
        expect(c["step"][r] == step, where + ": step")
        expect(c["prompt_row"][r] == first_prompt_row[step] + i // g, where + ": prompt_row")
        expect(c["sample"][r] == i % g, where + ": sample")
        expect(text[r] == ("<think>7521;</think>92" if think else "<short>92"), where + ": text")
        expect(c["ids"][r].tolist() == (THINK_IDS if think else SHORT_IDS), where + ": ids")
        expect(c["length"][r] == (9 if think else 3), where + ": length")
        expect(reason[r] == ("stop" if think else "length"), where + ": finish_reason")
        expect(c["reward"][r] == (1.0 if think else -1.0), where + ": reward")
        expect(c["advantage"][r] == step + 0.25 * i, where + ": advantage")
        expect(sub["correct"][r] == (1.0 if think else 0.0), where + ": correct")
        acc = sub["accuracy"][r]
        if step > 0 and i % g == 1:
            expect(np.isnan(acc), where + ": accuracy should be NaN")
        else:
            expect(acc == (1.0 if think else -1.0), where + ": accuracy")
        fmt = sub["format"][r]
        if step > 0 and i % g == 0:
            expect(fmt == 0.5, where + ": format")
        else:
            expect(np.isnan(fmt), where + ": format should be NaN")


def datasets(f):
    out = {}
    f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def same(a, b):
    if a.dtype == object:
        return len(a) == len(b) and all(
            (x == y) if not isinstance(x, np.ndarray) else np.array_equal(x, y) for x, y in zip(a, b))
    return np.array_equal(a, b, equal_nan=a.dtype.kind == "f")


def main(args):
    with h5py.File(args[0], "r") as f:
        check_content(f)
        if len(args) == 2:
            with h5py.File(args[1], "r") as g:
                da, db = datasets(f), datasets(g)
                expect(sorted(da) == sorted(db), "different datasets: %s vs %s" % (sorted(da), sorted(db)))
                for name in da:
                    expect(same(da[name], db[name]), "dataset %s differs" % name)
    print("rolloutlog_check: ok")


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        fail(__doc__.strip().splitlines()[-1])
    main(sys.argv[1:])
