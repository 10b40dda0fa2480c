#!/usr/bin/env python3
"""Python `roundoff.check` on the seed shape against the same work in C++ (issue 12: at most
5% more). Results: benchmarks/README.md, "python_check_bench".

The seed case: x 32x2048, W 512x2048, b 512, f32 standard normal; two outputs, F.linear(x, W, b)
and x @ W.T + b from torch (numpy's f32 matmul when torch is absent), declared f32. The C++ side
(roundoff_bench_judge) reads the same tensors from .npy files before timing and times
verdicts::judge on them; the Python side times roundoff.check(...) from the user's f32 arrays to
the Report's `ok`, so it includes everything the package adds: argument checks, reading the
arrays into the engine's tensors, building the report. The two alternate in blocks, each timed
in its steady state (one untimed call first); medians are compared.

    python3 benchmarks/python_check_bench.py [--cxx build/benchmarks/roundoff_bench_judge]
                                             [--threads 1 2] [--reps 5] [--blocks 3]
"""

import argparse
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import roundoff

REPO = pathlib.Path(__file__).resolve().parents[1]


def seed_case():
    try:
        import torch
        import torch.nn.functional as F

        g = torch.Generator().manual_seed(0)
        x, W, b = (torch.randn(*s, generator=g) for s in ((32, 2048), (512, 2048), (512,)))
        y1, y2 = F.linear(x, W, b), x @ W.T + b
        return [t.numpy() for t in (x, W, b, y1, y2)], "torch"
    except ImportError:
        g = np.random.default_rng(0)
        x, W, b = (g.standard_normal(s).astype(np.float32) for s in ((32, 2048), (512, 2048),
                                                                       (512,)))
        y1 = x @ W.T + b
        y2 = (x.astype(np.float64) @ W.T.astype(np.float64) + b).astype(np.float32)
        return [x, W, b, y1, y2], "numpy"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cxx", default=str(REPO / "build" / "benchmarks" / "roundoff_bench_judge"))
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--blocks", type=int, default=3)
    args = ap.parse_args()

    (x, W, b, y1, y2), source = seed_case()
    print(f"seed shape: x {x.shape}, W {W.shape}, b {b.shape}, f32; outputs from {source}; "
          f"exact kernel {roundoff._core.exact_kernel()}")
    with tempfile.TemporaryDirectory() as d:
        for name, a in zip(("x", "w", "b", "y1", "y2"), (x, W, b, y1, y2)):
            np.save(f"{d}/{name}.npy", a)
        for threads in args.threads:
            cxx, py = [], []

            def python_call():
                r = roundoff.check("linear", x, W, b, outputs={"F.linear": y1, "matmul_add": y2},
                                   declared="f32", threads=threads)
                assert r.ok

            for _ in range(args.blocks):
                out = subprocess.run([args.cxx, d, "--threads", str(threads), "--reps",
                                      str(args.reps + 1)], check=True, capture_output=True,
                                     text=True).stdout
                cxx += [float(t) for t in out.split(":")[1].split()][1:]  # first call untimed
                python_call()  # untimed
                for _ in range(args.reps):
                    t0 = time.perf_counter()
                    python_call()
                    py.append(time.perf_counter() - t0)
            c, p = statistics.median(cxx), statistics.median(py)
            print(f"threads={threads}  C++ judge {c:.4f} s | Python check {p:.4f} s | "
                  f"Python/C++ {p / c:.4f}x (target <= 1.05)   "
                  f"[{len(cxx)} + {len(py)} calls; min {min(cxx):.4f} / {min(py):.4f} s]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
