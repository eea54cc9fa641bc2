#!/usr/bin/env python3
"""Example external reward for rlvr.c (reward.external.command).

Protocol: one JSON object per line on stdin,
    {"prompt": str, "completion": str, "reference": str, "metadata": object or null}
and one JSON object per line on stdout, flushed at once,
    {"score": float, "subscores": {"name": float, ...}}

This one rewards a completion whose last non-empty line contains the reference answer, with a
small bonus for brevity. It uses only the standard library and keeps no state between requests,
so rlvr can restart it at any time (it does so after a crash, a timeout or a malformed reply).
"""
import json
import sys


def score(req):
    completion = req.get("completion") or ""
    reference = (req.get("reference") or "").strip()
    lines = [l for l in completion.splitlines() if l.strip()]
    last = lines[-1] if lines else ""
    hit = 1.0 if reference and reference in last else 0.0
    brevity = 1.0 / (1.0 + len(completion) / 1000.0)
    return {"score": hit + 0.1 * brevity, "subscores": {"hit": hit, "brevity": brevity}}


def main():
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = score(json.loads(line))
        except (ValueError, AttributeError):
            reply = {"score": 0.0, "subscores": {"hit": 0.0, "brevity": 0.0}}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
