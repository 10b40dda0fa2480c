#!/usr/bin/env python3
"""Python `roundoff.check` on the seed shape against the same work in C++ (issue 12: at most
5% more). Results: benchmarks/README.md, "python_check_bench".

The seed case: x 32x2048, W 512x2048, b 512, f32 standard normal; two outputs, F.linear(x, W, b)
and x @ W.T + b from torch (numpy's f32 matmul when torch is absent), declared f32.

C++ (roundoff_bench_judge --serve): what a C++ user holding the same float32 buffers does: views
them (tensor_view over the f32 data), checks the shapes, fills the same report (header, params),
runs verdicts::judge with the same options and threads, searches tensor-core emulations as
`roundoff check` does, takes the exit code. Python: roundoff.check(...) from the user's float32
arrays to the Report's `ok`, so everything the package adds is inside the timing (argument
checks, viewing and checking the arrays, building the report).

Both run in one long-lived process each and alternate in blocks of --reps calls; every block
starts with one untimed call, so both are timed in their steady state. Medians of wall-clock
and of process CPU time (all threads) are compared.

Allocator: `check` allocates and frees tens of MB per call, and glibc's malloc adapts its mmap
and trim thresholds to what the process freed before, so the same calls cost 0 or ~50,000 page
faults each depending on the process's history (benchmarks/README.md). By default both
processes pin the same policy (mallopt: mmap threshold 32 MiB, trim threshold 64 MiB), so that
the comparison measures the package, not the two heaps' histories; --malloc natural leaves
both as they start.

    python3 benchmarks/python_check_bench.py [--cxx build/benchmarks/roundoff_bench_judge]
                                             [--threads 1 2] [--reps 5] [--blocks 4]
                                             [--malloc pinned|natural]
"""

import argparse
import os
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
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--malloc", choices=("pinned", "natural"), default="pinned")
    args = ap.parse_args()
    if args.malloc == "pinned":  # the same as roundoff_bench_judge --malloc-pinned
        import ctypes

        libc = ctypes.CDLL(None)
        m_trim_threshold, m_mmap_threshold = -1, -3  # <malloc.h>
        if not (libc.mallopt(m_mmap_threshold, 32 << 20) and
                libc.mallopt(m_trim_threshold, 64 << 20)):
            sys.exit("mallopt failed (not glibc?): run with --malloc natural")

    (x, W, b, y1, y2), source = seed_case()
    print(f"seed shape: x {x.shape}, W {W.shape}, b {b.shape}, f32; outputs from {source}; "
          f"exact kernel {roundoff._core.exact_kernel()}; load average "
          f"{os.getloadavg()[0]:.1f}; malloc {args.malloc}")
    with tempfile.TemporaryDirectory() as d:
        for name, a in zip(("x", "w", "b", "y1", "y2"), (x, W, b, y1, y2)):
            np.save(f"{d}/{name}.npy", a)
        for threads in args.threads:
            pinned = ["--malloc-pinned"] if args.malloc == "pinned" else []
            cxx = subprocess.Popen([args.cxx, d, "--threads", str(threads), "--serve", *pinned],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

            def cxx_calls(n):
                cxx.stdin.write(f"{n}\n")
                cxx.stdin.flush()
                return [tuple(map(float, t.split(","))) for t in cxx.stdout.readline().split()]

            def python_call():
                r = roundoff.check("linear", x, W, b, outputs={"F.linear": y1, "matmul_add": y2},
                                   declared="f32", threads=threads)
                assert r.ok

            def python_calls(n):
                out = []
                for _ in range(n):
                    c0, t0 = time.process_time(), time.perf_counter()
                    python_call()
                    out.append((time.perf_counter() - t0, time.process_time() - c0))
                return out

            load0 = os.getloadavg()[0]
            c_times, p_times = [], []
            for block in range(args.blocks):
                # Alternate which side goes first, so neither always follows the other.
                for side in ((0, 1) if block % 2 == 0 else (1, 0)):
                    if side == 0:
                        cxx_calls(1)  # untimed
                        c_times += cxx_calls(args.reps)
                    else:
                        python_call()  # untimed
                        p_times += python_calls(args.reps)
            cxx.stdin.close()
            cxx.wait()
            cw, cc = (statistics.median(t[i] for t in c_times) for i in (0, 1))
            pw, pc = (statistics.median(t[i] for t in p_times) for i in (0, 1))
            print(f"threads={threads}  C++ {cw:.4f} s | Python {pw:.4f} s | Python/C++ "
                  f"{pw / cw:.4f}x wall (target <= 1.05); CPU {cc:.4f} / {pc:.4f} s = "
                  f"{pc / cc:.4f}x   [{len(c_times)} + {len(p_times)} calls; min "
                  f"{min(t[0] for t in c_times):.4f} / {min(t[0] for t in p_times):.4f} s; "
                  f"load {load0:.1f} -> {os.getloadavg()[0]:.1f}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
