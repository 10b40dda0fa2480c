#!/usr/bin/env python3
"""Plot the result of `roundoff sweep` (its CSV or JSON) into a PNG.

    roundoff sweep linear --vary in=1:2048:64 --format csv --out sweep.csv
    python3 scripts/plot_sweep.py sweep.csv -o sweep.png

`roundoff sweep --plot FILE.png` runs this script itself. Three panels, against the varied
dimension:
  1. each implementation's max |error| against the exact result, with the largest deterministic
     and probabilistic bound of its arithmetic model over the output's elements;
  2. sum |a - b| over the output for each pair of implementations (the quantity plotted in the
     forum thread), with the sum of what rounding allows;
  3. each implementation's max error / deterministic bound (<= 1: explained by rounding).
Columns are documented in docs/cli.md ("roundoff sweep"). Needs matplotlib.
"""

import argparse
import csv
import json
import math
import sys


def fail(message, code=2):
    print(f"plot_sweep.py: {message}", file=sys.stderr)
    sys.exit(code)


def to_float(text):
    if text in ("", None):
        return math.nan
    if isinstance(text, (int, float)):
        return float(text)
    return float(text)  # "inf", "nan" parse as well


def read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        fail(f"{path}: no rows")
    need = {"op", "dim", "value", "kind", "name", "other", "max_abs_error",
            "max_deterministic_bound", "max_probabilistic_bound", "max_ratio_deterministic",
            "sum_abs_difference", "sum_allowed_difference"}
    missing = need - set(rows[0].keys())
    if missing:
        fail(f"{path}: not a roundoff sweep CSV (missing columns: {', '.join(sorted(missing))})")
    return rows


def read_json(path):
    with open(path) as f:
        j = json.load(f)
    if j.get("command") != "sweep":
        fail(f"{path}: not a roundoff sweep JSON (no \"command\": \"sweep\")")
    rows = []
    for p in j["points"]:
        base = {"op": j["op"], "dim": j["vary"]["dim"], "value": p["value"]}
        for r in p["results"]:
            rows.append({**base, "kind": "impl", "name": r["name"], "other": "",
                         "model": r["model"], **{k: r[k] for k in r if k not in ("name", "model")}})
        for c in p["comparisons"]:
            rows.append({**base, "kind": "pair", "name": c["a"], "other": c["b"],
                         "sum_abs_difference": c["sum_abs_difference"],
                         "sum_allowed_difference": c["sum_allowed_difference"],
                         "max_ratio_difference": c["max_ratio"]})
    return rows


def series(rows, kind, key, value_key):
    """{series name: ([x], [y])} for rows of `kind`, in first-seen order."""
    out = {}
    for r in rows:
        if r["kind"] != kind:
            continue
        name = r["name"] if kind == "impl" else f"{r['name']}  vs  {r['other']}"
        xs, ys = out.setdefault(name, ([], []))
        xs.append(to_float(r["value"]))
        ys.append(to_float(r.get(value_key, "")))
    return out


def positive(ys):
    # Log axes cannot show 0 (bit-identical outputs): plot those as gaps.
    return [y if y > 0 and math.isfinite(y) else math.nan for y in ys]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data", help="the sweep's CSV or JSON file")
    ap.add_argument("-o", "--out", required=True, help="PNG file to write")
    ap.add_argument("--title", help="plot title (default: from the data)")
    ap.add_argument("--linear", action="store_true", help="linear instead of log y axes")
    args = ap.parse_args()

    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        fail("matplotlib is not installed (pip install matplotlib)", 3)

    try:
        if args.data.endswith(".json"):
            rows = read_json(args.data)
        else:
            rows = read_csv(args.data)
    except OSError as e:
        fail(f"{args.data}: {e.strerror}")
    except (ValueError, KeyError, json.JSONDecodeError) as e:
        fail(f"{args.data}: cannot read: {e}")

    op, dim = rows[0]["op"], rows[0]["dim"]
    # Fixed sizes ("batch=32") and sizes that follow the varied one ("out=in").
    shape = []
    for k in ("batch", "m", "in", "out", "length", "kernel"):
        if k not in rows[0] or k == dim:
            continue
        values = {r[k] for r in rows}
        if len(values) == 1:
            shape.append(f"{k}={values.pop()}")
        elif all(r[k] == r["value"] for r in rows):
            shape.append(f"{k}={dim}")
    title = args.title or f"roundoff sweep {op}: {dim} varied" + (f" ({', '.join(shape)})" if shape else "")
    scale = "linear" if args.linear else "log"

    fig, axes = plt.subplots(3, 1, figsize=(15, 13), sharex=True)
    n_series = max(len({r["name"] for r in rows if r["kind"] == "impl"}),
                   len({(r["name"], r["other"]) for r in rows if r["kind"] == "pair"}))
    if n_series <= 10:
        colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    else:  # many pairs: 20 distinct colours, then markers tell the rest apart
        colours = [plt.get_cmap("tab20")(i) for i in range(20)]
    markers = ["o", "s", "^", "v", "D", "x", "+", "*"]

    def style(i):
        return dict(color=colours[i % len(colours)], marker=markers[(i // len(colours)) % len(markers)])

    ax = axes[0]
    errs = series(rows, "impl", "name", "max_abs_error")
    dets = series(rows, "impl", "name", "max_deterministic_bound")
    probs = series(rows, "impl", "name", "max_probabilistic_bound")
    models = {}
    for r in rows:
        if r["kind"] == "impl":
            models.setdefault(r["name"], r.get("model", ""))
    bound_drawn = set()
    for i, (name, (xs, ys)) in enumerate(errs.items()):
        c = colours[i % len(colours)]
        ax.plot(xs, positive(ys), ms=3, lw=1.2, label=f"{name}: max |error|", **style(i))
        model = models.get(name, "")
        if model not in bound_drawn:  # one pair of bound curves per arithmetic model
            bound_drawn.add(model)
            ax.plot(dets[name][0], positive(dets[name][1]), ls="--", lw=1.2, color=c,
                    label=f"{model} deterministic bound (max over elements)")
            ax.plot(probs[name][0], positive(probs[name][1]), ls=":", lw=1.5, color=c,
                    label=f"{model} probabilistic bound (max over elements)")
    ax.set_yscale(scale)
    ax.set_ylabel("max over output elements")
    ax.set_title("error against the exact result")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(True, which="both", alpha=0.3)

    ax = axes[1]
    diffs = series(rows, "pair", "name", "sum_abs_difference")
    allowed = series(rows, "pair", "name", "sum_allowed_difference")
    if diffs:
        allowed_drawn = set()
        pair_models = {}
        for r in rows:
            if r["kind"] == "pair":
                key = f"{r['name']}  vs  {r['other']}"
                pair_models.setdefault(key, f"{models.get(r['name'], '?')} + {models.get(r['other'], '?')}")
        for i, (name, (xs, ys)) in enumerate(diffs.items()):
            # The first pair (the first two --impl, by default F.linear and x @ W.T + b) stands out.
            ax.plot(xs, positive(ys), ms=4 if i == 0 else 3, lw=2.6 if i == 0 else 1.0,
                    zorder=10 if i == 0 else 2,
                    label=f"{name}: sum |a - b|", **style(i))
            # What rounding allows depends (almost) only on the two models: one curve per model pair.
            if pair_models[name] not in allowed_drawn:
                allowed_drawn.add(pair_models[name])
                ax.plot(allowed[name][0], positive(allowed[name][1]), ls="--", lw=1.2, color="black",
                        label=f"allowed by {pair_models[name]} rounding (sum of both bounds)")
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
        ax.set_yscale(scale)
    else:
        ax.text(0.5, 0.5, "one implementation: no pairs to compare", ha="center",
                va="center", transform=ax.transAxes)
    ax.set_ylabel("sum over output elements")
    ax.set_title("difference between implementations (the forum's (y1 - y2).abs().sum())")
    ax.grid(True, which="both", alpha=0.3)

    ax = axes[2]
    ratios = series(rows, "impl", "name", "max_ratio_deterministic")
    for i, (name, (xs, ys)) in enumerate(ratios.items()):
        ax.plot(xs, positive(ys), ms=3, lw=1.2, label=name, **style(i))
    ax.axhline(1.0, color="red", lw=1, ls="--", label="deterministic bound")
    ax.set_yscale("log")
    ax.set_ylabel("max error / bound")
    ax.set_xlabel(dim)
    ax.set_title("error as a fraction of the deterministic bound (above 1: not rounding)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(True, which="both", alpha=0.3)

    fig.suptitle(title)
    fig.tight_layout()
    try:
        fig.savefig(args.out, dpi=110)
    except OSError as e:
        fail(f"{args.out}: cannot write: {e.strerror}")


if __name__ == "__main__":
    main()
