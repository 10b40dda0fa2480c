#!/usr/bin/env python3
"""numpy's DGEMM on the shapes of roundoff_bench_exact: the baseline a Python user would pick.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benchmarks/numpy_dgemm.py [--quick]

Times y = x @ W.T + b in float64 (x m×k, W n×k, fp32 values as doubles, random normal), like
the DGEMM baseline of exact_bench.cpp: per thread count (1, 2; set with threadpoolctl), 150 ms
of untimed calls, then the median of the timed ones (15 for the seed shape, 3 for the large
one). Prints numpy's BLAS (library, version, kernel "architecture") as threadpoolctl reports it.
OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE, when set, force a slower kernel on a current OpenBLAS:
unset them for this command alone (the line above), and check the architecture it prints.
"""
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits


def median_time(f, calls):
    end = time.perf_counter() + 0.15
    while time.perf_counter() < end:
        f()
    ts = []
    for _ in range(calls):
        t0 = time.perf_counter()
        f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts)


def case(label, m, n, k, calls):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((m, k)).astype(np.float32).astype(np.float64)
    w = rng.standard_normal((n, k)).astype(np.float32).astype(np.float64)
    b = rng.standard_normal(n).astype(np.float32).astype(np.float64)
    print(f"== {label}: x {m}x{k}, W {n}x{k}, b {n} ==")
    for t in (1, 2):
        with threadpool_limits(limits=t, user_api="blas"):
            s = median_time(lambda: np.add(x @ w.T, b), calls)
        print(f"threads={t}  numpy DGEMM (x @ W.T + b): {s * 1e3:.3f} ms")


def main():
    for info in threadpool_info():
        if info.get("user_api") == "blas":
            print(f"numpy {np.__version__}: {info.get('internal_api')} {info.get('version')}, "
                  f"architecture {info.get('architecture')}, threading {info.get('threading_layer')}, "
                  f"{info.get('filepath')}")
    case("seed shape", 32, 512, 2048, 15)
    if "--quick" not in sys.argv:
        case("1024x4096 . (4096x4096)^T", 1024, 4096, 4096, 3)


if __name__ == "__main__":
    main()
