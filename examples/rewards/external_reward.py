#!/usr/bin/env python3
"""Example external reward for rlvr.c (reward.external.command).

Protocol: one JSON object per line on stdin,
    {"id": int, "prompt": str, "completion": str, "reference": str, "metadata": object or null}
and exactly one JSON object per line on stdout for each, flushed at once,
    {"id": int, "score": float, "subscores": {"name": float, ...}}
echoing the request's id (rlvr checks it, so a reply to another request is caught). Scores must
be finite; sub-score names are 1-22 characters from letters, digits, '_', '-' and '.'.

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
            req = json.loads(line)
            reply = {"id": req["id"], **score(req)}
        except (ValueError, AttributeError, KeyError, TypeError):
            reply = {"id": None, "score": 0.0}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
