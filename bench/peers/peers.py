"""peers — the pieces of bench/peers/run.sh in Python (standard library only):

  peers.py data OUT N SEED        N prompts of the demo's addition task as JSONL (prompt, answer,
                                  metadata), the file both sides train on in the same order
  peers.py run SIDE OUT STEPS -- CMD
                                  run CMD, then write its wall and CPU seconds, its peak resident
                                  memory (getrusage of the child), the load average and its CPU
                                  seconds at the end of each step (STEPS gains a line a step) to OUT
  peers.py table DIR              the runs under DIR as a table: per side, the mean over the steps
                                  after each run's first (its warm-up) of step, rollout and update
                                  seconds, rollout tokens/s, steps per hour, CPU seconds per step
                                  and steps per CPU-hour, peak memory; ratios rlvr / TRL

The prompts follow data/data_tasks.c's addition task (docs/DATA.md): even rows easy (1-digit
operands), odd rows hard (2-4 digits, at least one operand that long), operands zero-padded to four
digits. They are drawn by Python's generator, so they are the task's distribution, not its rows.
"""
import glob
import json
import os
import random
import resource
import subprocess
import sys
import time


def make_data(out, n, seed):
    g = random.Random(seed)
    with open(out, "w") as f:
        for i in range(n):
            d = 1 if i % 2 == 0 else g.randint(2, 4)
            lim = 10 ** d
            while True:
                a, b = g.randrange(lim), g.randrange(lim)
                if d == 1 or a >= lim // 10 or b >= lim // 10:
                    break
            meta = {"task": "math", "builtin": "addition", "difficulty": "easy" if d == 1 else "hard", "digits": d}
            f.write(json.dumps({"prompt": "%04d+%04d=" % (a, b), "answer": str(a + b), "metadata": meta}) + "\n")


def proc_cpu(pid):
    """CPU seconds a live process has used (user + system), from /proc; None once it is gone."""
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def lines(path):
    try:
        return sum(1 for _ in open(path))
    except OSError:
        return 0


def run(side, out, steps_file, cmd):
    """Runs cmd; while it runs, notes its CPU seconds each time steps_file (one line per finished
    step) grows, polled every 0.1 s: the CPU seconds of each step, whatever the load."""
    load = os.getloadavg()[0]
    t0 = time.time()
    p = subprocess.Popen(cmd)
    marks, seen = [], 0
    while p.poll() is None:
        n, cpu = lines(steps_file), proc_cpu(p.pid)
        if n > seen and cpu is not None:
            marks += [cpu] * (n - seen)
            seen = n
        time.sleep(0.1)
    wall = time.time() - t0
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    rec = {"side": side, "rc": p.returncode, "wall_s": wall, "cpu_s": ru.ru_utime + ru.ru_stime,
           "peak_gib": ru.ru_maxrss / 1024.0 ** 2, "load_before": load, "load_after": os.getloadavg()[0],
           "step_end_cpu_s": marks}
    json.dump(rec, open(out, "w"))
    if p.returncode:
        sys.exit(f"peers.py: {side} exited with status {p.returncode}: {' '.join(cmd)}")


def steps_of(run_json):
    """The per-step rows of one run, in a common form: step, rollout, reward, update seconds, tokens."""
    d = os.path.dirname(run_json)
    rows = []
    if json.load(open(run_json))["side"] == "rlvr":
        for r in map(json.loads, open(os.path.join(d, "rlvr-run", "metrics.jsonl"))):
            rows.append({"step_s": r["step_s"], "rollout_s": r["rollout_s"], "reward_s": r["reward_s"],
                         "update_s": r["train_s"], "gen_tokens": r["gen_tokens"]})
    else:
        for r in map(json.loads, open(os.path.join(d, "trl-steps.jsonl"))):
            rows.append({k: r[k] for k in ("step_s", "rollout_s", "reward_s", "update_s", "gen_tokens")})
    return rows


def mean(xs):
    return sum(xs) / len(xs) if xs else float("nan")


def table(root):
    sides = {}
    for rj in sorted(glob.glob(os.path.join(root, "*", "run.json"))):
        rec = json.load(open(rj))
        rows = steps_of(rj)
        s = sides.setdefault(rec["side"], {"runs": 0, "steps": [], "peak": 0.0, "cpu": 0.0, "wall": 0.0, "load": [],
                                           "step_cpu": [0.0, 0]})
        m = rec["step_end_cpu_s"]  # CPU per step from the first step's end on: past the warm-up
        if len(m) > 1:
            s["step_cpu"][0] += m[-1] - m[0]
            s["step_cpu"][1] += len(m) - 1
        s["runs"] += 1
        s["steps"] += rows[1:] if len(rows) > 1 else rows
        s["peak"] = max(s["peak"], rec["peak_gib"])
        s["cpu"] += rec["cpu_s"]
        s["wall"] += rec["wall_s"]
        s["load"] += [rec["load_before"], rec["load_after"]]
    if set(sides) != {"rlvr", "trl"}:
        sys.exit(f"peers.py: {root} needs runs of both sides, has {sorted(sides)}")
    stat = {}
    for name, s in sides.items():
        st = s["steps"]
        step = mean([r["step_s"] for r in st])
        stat[name] = {"steps": len(st), "step_s": step, "per_hour": 3600.0 / step,
                      "rollout_s": mean([r["rollout_s"] for r in st]), "reward_s": mean([r["reward_s"] for r in st]),
                      "update_s": mean([r["update_s"] for r in st]),
                      "tok_s": sum(r["gen_tokens"] for r in st) / sum(r["rollout_s"] for r in st),
                      "tokens": mean([r["gen_tokens"] for r in st]), "peak": s["peak"],
                      "cpu_per_wall": s["cpu"] / s["wall"], "load": (min(s["load"]), max(s["load"])),
                      "step_cpu": s["step_cpu"][0] / s["step_cpu"][1],
                      "per_cpu_hour": 3600.0 * s["step_cpu"][1] / s["step_cpu"][0]}
    cols = [("steps measured", "steps", "%d"), ("step s", "step_s", "%.2f"), ("steps/hour", "per_hour", "%.0f"),
            ("CPU s/step", "step_cpu", "%.2f"), ("steps/CPU-hour", "per_cpu_hour", "%.0f"),
            ("rollout s", "rollout_s", "%.2f"), ("rollout tok/s", "tok_s", "%.0f"), ("reward s", "reward_s", "%.3f"),
            ("update s", "update_s", "%.2f"), ("tokens/step", "tokens", "%.0f"), ("peak GiB", "peak", "%.2f"),
            ("CPU/wall", "cpu_per_wall", "%.2f")]
    better_low = {"step_s", "step_cpu", "rollout_s", "reward_s", "update_s", "peak"}
    print("| | " + " | ".join(c[0] for c in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for name, label in (("rlvr", "rlvr train"), ("trl", "TRL GRPOTrainer")):
        print(f"| {label} | " + " | ".join(f % stat[name][k] for _, k, f in cols) + " |")
    ratio = []
    for _, k, _f in cols:
        if k in ("steps", "tokens", "cpu_per_wall"):
            ratio.append("")
        else:
            a, b = stat["rlvr"][k], stat["trl"][k]
            ratio.append("%.2fx" % (b / a if k in better_low else a / b))
    print("| rlvr advantage | " + " | ".join(ratio) + " |")
    print("\nrlvr advantage: TRL's time or memory over rlvr's, rlvr's rate over TRL's (above 1: rlvr ahead).")
    print("load average %.1f-%.1f (rlvr runs), %.1f-%.1f (TRL runs), on %d cores"
          % (*stat["rlvr"]["load"], *stat["trl"]["load"], os.cpu_count()))


def main():
    a = sys.argv[1:]
    if len(a) == 4 and a[0] == "data":
        make_data(a[1], int(a[2]), int(a[3]))
    elif len(a) >= 6 and a[0] == "run" and a[4] == "--":
        run(a[1], a[2], a[3], a[5:])
    elif len(a) == 2 and a[0] == "table":
        table(a[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
