#!/usr/bin/env bash
# plot — a run's metrics.jsonl (and eval.jsonl), or several runs side by side, as PNG figures
# drawn by gnuplot: reward, accuracy, response length, think ratio, KL, entropy, clip fractions,
# the trainer/sampler log-prob gap, the SFT loss over steps, and from eval.jsonl accuracy, think
# ratio and length per difficulty. A figure is drawn when some run has its metric.
#
#   scripts/plot.sh [-o DIR] [-s none|ema:W|window:N] [--seeds] [--band minmax|std] [-m KEYS] [--tsv] RUN...
#
# RUN is a run directory or its metrics.jsonl. -o: output folder (default: RUN/plots for one run,
# else plots/ in the runs' common parent). -s: smoothing, EMA with weight W on the past (0 <= W < 1,
# debiased as TensorBoard does) or the mean of the last N points; the raw curve stays as a faint
# line. --seeds: runs whose config.json differ only in run.seed form one line, their mean over
# seeds, with a band from min to max (or mean +- std). -m KEY[,KEY]: one figure of those metrics
# instead of the default set (repeatable); eval values are named eval/<difficulty>/<field>, e.g.
# eval/hard/think_ratio. --tsv: each figure's numbers also as <figure>.tsv, a row per step.
# Lines are labelled by the config keys in which the runs differ.
# Needs gnuplot (Debian gnuplot-nox, installed by scripts/setup.sh) and python3.
set -euo pipefail
command -v gnuplot >/dev/null || { echo "plot: gnuplot not found: install gnuplot-nox (bash scripts/setup.sh)" >&2; exit 1; }
exec /usr/bin/python3 - "$0" "$@" <<'PY'
import json, math, os, re, subprocess, sys, tempfile

# figure name, title, metrics (eval ones expand per difficulty), log scale
FIGURES = [
    ("reward", "reward (mean over the step's samples)", ["reward"], False),
    ("accuracy", "accuracy of the step's samples", ["accuracy"], False),
    ("length", "response length (tokens)", ["length"], False),
    ("think_ratio", "think-mode ratio", ["think_ratio"], False),
    ("kl", "KL to the reference (per token)", ["kl"], False),
    ("entropy", "entropy (per token)", ["entropy"], False),
    ("clip", "clipped fraction of tokens", ["clip_low", "clip_high", "clip_dual"], False),
    ("logprob_gap", "log-prob gap, trainer vs sampler", ["logprob_gap_max", "logprob_gap_mean"], True),
    ("loss", "SFT loss", ["loss"], False),
    ("eval_accuracy", "test accuracy per difficulty (eval.jsonl)", ["eval/*/accuracy"], False),
    ("eval_think_ratio", "test think-mode ratio per difficulty (eval.jsonl)", ["eval/*/think_ratio"], False),
    ("eval_length", "test response length per difficulty (eval.jsonl)", ["eval/*/length"], False),
]
NONFINITE = re.compile(r"(:\s*)[-+]?(?:nan|inf)(?=\s*[,}])", re.I)
COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
          "#7f7f7f", "#bcbd22"]


class Fail(Exception):
    pass


def usage(script, msg):
    synopsis = open(script).read().split("\n")[6]
    sys.stderr.write("plot: %s\nusage: %s\n" % (msg, synopsis.lstrip("# ")))
    sys.exit(2)


def parse_args(argv):
    script, args = argv[0], argv[1:]
    opt = {"out": None, "smooth": ("none", 0), "seeds": False, "band": "minmax", "metrics": [], "runs": [],
           "tsv": False}
    i = 0
    while i < len(args):
        a = args[i]
        if a in ("-o", "-s", "-m", "--band"):
            if i + 1 == len(args):
                usage(script, "%s needs a value" % a)
            v = args[i + 1]
            i += 2
            if a == "-o":
                opt["out"] = v
            elif a == "-m":
                opt["metrics"].append([k for k in v.split(",") if k])
            elif a == "--band":
                if v not in ("minmax", "std"):
                    usage(script, "--band is minmax or std, not '%s'" % v)
                opt["band"] = v
            else:
                opt["smooth"] = parse_smooth(script, v)
            continue
        if a in ("--seeds", "--tsv"):
            opt[a[2:]] = True
        elif a.startswith("-") and a != "-":
            usage(script, "unknown option '%s'" % a)
        else:
            opt["runs"].append(a)
        i += 1
    if not opt["runs"]:
        usage(script, "no run given")
    return opt


def parse_smooth(script, v):
    kind, _, num = v.partition(":")
    try:
        if kind == "none" and not num:
            return ("none", 0)
        if kind == "ema" and 0 <= float(num) < 1:
            return ("ema", float(num))
        if kind == "window" and int(num) >= 1:
            return ("window", int(num))
    except ValueError:
        pass
    usage(script, "-s is none, ema:W with 0 <= W < 1, or window:N with N >= 1, not '%s'" % v)


def read_jsonl(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:  # C's printf writes a non-finite value as nan or inf: read it as a gap
                row = json.loads(NONFINITE.sub(r"\1null", line))
            except ValueError as e:
                raise Fail("%s:%d: not a JSON line (%s)" % (path, n, e))
            if not isinstance(row, dict) or not isinstance(row.get("step"), (int, float)):
                raise Fail("%s:%d: expected an object with a numeric \"step\"" % (path, n))
            rows.append(row)
    return rows


def flatten(obj, prefix=""):
    out = {}
    for k, v in obj.items():
        if isinstance(v, dict):
            out.update(flatten(v, prefix + k + "."))
        else:
            out[prefix + k] = v
    return out


def load_run(arg):
    path = os.path.join(arg, "metrics.jsonl") if os.path.isdir(arg) else arg
    if not os.path.isfile(path):
        raise Fail("%s: no such run: expected a run directory holding metrics.jsonl, or a metrics.jsonl file" % arg)
    rows = read_jsonl(path)
    if not rows:
        raise Fail("%s: empty: the run logged no step" % path)
    d = os.path.dirname(os.path.abspath(path))
    series = {}  # metric -> [(step, value)]
    for r in rows:
        for k, v in r.items():
            if k != "step" and isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
                series.setdefault(k, []).append((r["step"], float(v)))
    ev = os.path.join(d, "eval.jsonl")
    if os.path.isfile(ev):
        for r in read_jsonl(ev):
            report = r.get("eval") or {}
            parts = {"all": report.get("all")}  # the whole test set, then each group (difficulty, subject...)
            parts.update(report.get("groups") or {})
            for diff, rep in parts.items():
                if isinstance(rep, dict):
                    for k, v in rep.items():
                        if isinstance(v, (int, float)) and not isinstance(v, bool):
                            series.setdefault("eval/%s/%s" % (diff, k), []).append((r["step"], float(v)))
    for s in series.values():  # a resumed run appends steps again: keep the latest value per step
        s[:] = sorted(dict(s).items())
    cfg = os.path.join(d, "config.json")
    config = flatten(json.load(open(cfg))) if os.path.isfile(cfg) else None
    return {"dir": d, "name": os.path.basename(d), "series": series, "config": config}


def smooth(points, spec):
    kind, p = spec
    ys = [v for _, v in points]
    if kind == "ema":
        out, last = [], 0.0
        for i, y in enumerate(ys):
            last = p * last + (1 - p) * y
            out.append(last / (1 - p ** (i + 1)))
        ys = out
    elif kind == "window":
        ys = [sum(ys[max(0, i - p + 1):i + 1]) / (i + 1 - max(0, i - p + 1)) for i in range(len(ys))]
    return [(s, y) for (s, _), y in zip(points, ys)]


def labels(runs, seeds):
    """A label per run (or group): the config keys whose values differ, else the directory."""
    ignore = {"run.dir"} | ({"run.seed"} if seeds else set())
    cfgs = [r["config"] or {} for r in runs]
    keys = sorted({k for c in cfgs for k in c if k not in ignore and len({json.dumps(x.get(k)) for x in cfgs}) > 1})
    out = [" ".join("%s=%s" % (k, c.get(k)) for k in keys) for c in cfgs] if keys else []
    if not out or len(set(out)) < len(out):
        names = [r["name"] for r in runs]
        out = names if len(set(names)) == len(names) else [r["dir"] for r in runs]
    return out


def group_seeds(runs):
    groups = {}
    for r in runs:
        if r["config"] is None:
            raise Fail("%s: --seeds groups runs by config.json, and this run has none" % r["dir"])
        key = json.dumps({k: v for k, v in r["config"].items() if k not in ("run.dir", "run.seed")}, sort_keys=True)
        groups.setdefault(key, []).append(r)
    return list(groups.values())


def aggregate(members, metric, spec, band):
    """(step, mean, low, high) over the members' smoothed curves, at the steps all of them logged."""
    curves = [dict(smooth(m["series"][metric], spec)) for m in members if metric in m["series"]]
    if not curves:
        return []
    out = []
    for s in sorted(set.intersection(*(set(c) for c in curves))):
        ys = [c[s] for c in curves]
        mean = sum(ys) / len(ys)
        if band == "std":
            sd = math.sqrt(sum((y - mean) ** 2 for y in ys) / len(ys))
            out.append((s, mean, mean - sd, mean + sd))
        else:
            out.append((s, mean, min(ys), max(ys)))
    return out


def expand(pattern, runs):
    """A metric name, or eval/*/field for every difficulty a run's eval.jsonl has."""
    if "*" not in pattern:
        return [pattern]
    head, tail = pattern.split("*")
    found = sorted({k for r in runs for k in r["series"] if k.startswith(head) and k.endswith(tail)},
                   key=lambda k: (k != head + "all" + tail, k))
    return found


def qt(s):
    return '"%s"' % s.replace("\\", "\\\\").replace('"', '\\"')


def write_tsv(path, cols):
    """cols: [(header, [(step, value)])] as one table, a row per step, "-" where a column has none."""
    steps = sorted({s for _, pts in cols for s, _ in pts})
    maps = [dict(pts) for _, pts in cols]
    with open(path, "w") as f:
        f.write("\t".join(["step"] + [h for h, _ in cols]) + "\n")
        for s in steps:
            f.write("\t".join(["%g" % s] + ["%.6g" % m[s] if s in m else "-" for m in maps]) + "\n")


def figure(tmp, out, name, title, metrics, logy, lines, spec, band, tsv):
    """lines: [(label, members)]; one curve per line and metric. Returns the PNG path or None.
    With tsv, the curves' numbers also go to out/<name>.tsv."""
    metrics = [m for m in metrics if any(m in r["series"] for _, mem in lines for r in mem)]
    if not metrics:
        return None
    plots, cols, n = [], [], 0
    many_lines, many_metrics = len(lines) > 1, len(metrics) > 1
    for li, (label, members) in enumerate(lines):
        for mi, metric in enumerate(metrics):
            color = COLORS[(li if many_lines else mi) % len(COLORS)]
            dash = (mi % 5) + 1 if many_lines else 1
            shown = metric.split("/")[1] if metric.startswith("eval/") else metric
            title_s = label if not many_metrics else ("%s: %s" % (label, shown) if label else shown)
            data = os.path.join(tmp, "%s_%d.dat" % (name, n))
            n += 1
            if len(members) > 1:
                pts = aggregate(members, metric, spec, band)
                if logy:
                    pts = [p for p in pts if p[2] > 0]
                if not pts:
                    continue
                with open(data, "w") as f:
                    f.writelines("%r %r %r %r\n" % p for p in pts)
                head = (title_s or metric) + " "
                lo, hi = ("-std", "+std") if band == "std" else ("min", "max")
                cols += [(head + c, [(p[0], p[i]) for p in pts]) for i, c in ((1, "mean"), (2, lo), (3, hi))]
                plots.append("%s using 1:3:4 with filledcurves fs transparent solid 0.18 noborder "
                             "lc rgb %s notitle" % (qt(data), qt(color)))
                plots.append("%s using 1:2 with lines lw 2 dt %d lc rgb %s title %s" %
                             (qt(data), dash, qt(color), qt(("%s (%d seeds)" % (title_s, len(members))).strip())))
                continue
            pts = members[0]["series"].get(metric)
            if not pts:
                continue
            if logy:
                pts = [p for p in pts if p[1] > 0]
            sm = smooth(pts, spec)
            with open(data, "w") as f:
                f.writelines("%r %r %r\n" % (s, y, z) for (s, y), (_, z) in zip(pts, sm))
            cols.append((title_s or metric, pts))
            if spec[0] != "none":
                cols.append(((title_s or metric) + " smoothed", sm))
            if spec[0] != "none":
                plots.append("%s using 1:2 with lines lw 1 dt %d lc rgb %s notitle" %
                             (qt(data), dash, qt("#A0" + color[1:])))
            plots.append("%s using 1:3 with lines lw 2 dt %d lc rgb %s title %s" %
                         (qt(data), dash, qt(color), qt(title_s)))
    if not plots:
        return None
    png = os.path.join(out, name + ".png")
    smooth_s = {"none": "", "ema": ", EMA %g" % spec[1], "window": ", mean of %s steps" % spec[1]}[spec[0]]
    script = "\n".join([
        "set terminal pngcairo size 960,560 enhanced font 'sans,10'",
        "set output %s" % qt(png),
        "set title %s noenhanced" % qt(title + smooth_s),
        "set xlabel 'step'", "set grid lc rgb '#dddddd'", "set key noenhanced below left horizontal",
        "set logscale y\nset format y '%.0e'" if logy else "unset logscale y",
        "plot " + ", \\\n  ".join(plots), ""])
    r = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    if r.returncode != 0 or not os.path.isfile(png):
        raise Fail("gnuplot failed on %s: %s" % (png, r.stderr.strip()))
    if tsv:
        write_tsv(os.path.join(out, name + ".tsv"), cols)
    return png


def main():
    opt = parse_args(sys.argv[1:])
    runs = [load_run(a) for a in opt["runs"]]
    for spec in opt["metrics"]:
        if not spec:
            raise Fail("-m needs at least one metric name")
        for m in spec:
            if not any(expand(m, runs)) or not any(k in r["series"] for k in expand(m, runs) for r in runs):
                keys = sorted({k for r in runs for k in r["series"]})
                raise Fail("metric '%s' is in none of the runs; they have: %s" % (m, ", ".join(keys)))
    out = opt["out"]
    if out is None:
        base = runs[0]["dir"] if len(runs) == 1 else os.path.commonpath([r["dir"] for r in runs])
        out = os.path.join(base, "plots")
    os.makedirs(out, exist_ok=True)
    if opt["seeds"]:
        groups = group_seeds(runs)
        lines = list(zip(labels([g[0] for g in groups], True), groups))
    else:
        lines = list(zip(labels(runs, False), [[r] for r in runs]))
    if len(lines) == 1:
        lines = [("", lines[0][1])]
    figs = FIGURES if not opt["metrics"] else [
        ("+".join(m).replace("/", "_").replace("*", "all"), ", ".join(m), m, False) for m in opt["metrics"]]
    written = []
    with tempfile.TemporaryDirectory(prefix="rlvr-plot-") as tmp:
        for name, title, pats, logy in figs:
            metrics = [k for p in pats for k in expand(p, runs)]
            png = figure(tmp, out, name, title, metrics, logy, lines, opt["smooth"], opt["band"], opt["tsv"])
            if png:
                written.append(png)
    if not written:
        raise Fail("no figure: the runs have none of the plotted metrics")
    print("plot: %d figures in %s (%s)" % (len(written), out, ", ".join(os.path.basename(p) for p in written)))


try:
    main()
except Fail as e:
    sys.stderr.write("plot: %s\n" % e)
    sys.exit(1)
except OSError as e:
    sys.stderr.write("plot: %s: %s\n" % (e.filename, e.strerror))
    sys.exit(1)
PY
