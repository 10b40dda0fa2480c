#!/usr/bin/env python3
"""Cuts the paper's copy of the H200 seed case from ../shared/gpu-fixtures/h200-2026-12/seed.npz.

The capture drew its inputs with numpy (`default_rng(20261204).standard_normal`, x 32x2048, then
W 512x2048, then b 512, cast to float32); `seed_inputs()` draws them again and this script
checks, bit for bit, that they equal the stored ones, as it checks that the f16/bf16 inputs are
the round-to-nearest-even casts of them. So only the GPU's outputs are kept (the whole 32x512 of
each, 0.6 MB): f32 as float32, f16 as float16, bf16 as its raw uint16 bits, as in the source.

    python3 paper/data/make_h200_seed.py ../shared/gpu-fixtures/h200-2026-12
"""
import sys
from pathlib import Path

import numpy as np

SEED = 20261204


def seed_inputs():
    """x, W, b of the H200 seed capture (float32)."""
    g = np.random.default_rng(SEED)
    x = g.standard_normal((32, 2048)).astype(np.float32)
    w = g.standard_normal((512, 2048)).astype(np.float32)
    b = g.standard_normal(512).astype(np.float32)
    return x, w, b


def to_bf16_bits(a):
    """float32 -> bfloat16 raw bits, round to nearest, ties to even (torch's .to(bfloat16))."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def bf16_value(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def inputs_in(tag, x, w, b):
    """The inputs the op consumed under a capture tag (f32, tf32, f16, f16-rpr, bf16, bf16-rpr)."""
    if tag.startswith("f16"):
        return x.astype(np.float16), w.astype(np.float16), b.astype(np.float16)
    if tag.startswith("bf16"):
        return tuple(bf16_value(to_bf16_bits(t)) for t in (x, w, b))
    return x, w, b


def main(src):
    src = Path(src) / "seed.npz"
    z = np.load(src)
    x, w, b = seed_inputs()
    for name, a in (("x", x), ("W", w), ("b", b)):
        assert np.array_equal(z[name], a), f"{name} does not reproduce from seed {SEED}"
    for suffix in ("f16", "bf16"):
        got = [z[f"{n}_{suffix}"] for n in ("x", "W", "b")]
        want = inputs_in(suffix, x, w, b)
        if suffix == "bf16":
            got = [bf16_value(g) for g in got]
        for g_, w_ in zip(got, want):
            assert np.array_equal(g_, w_), f"{suffix} inputs are not the RNE casts"
    keep = {k: z[k] for k in z.files if k.startswith(("linear_", "matmul_add_", "cpu_"))}
    out = Path(__file__).resolve().parent / "h200_seed_outputs.npz"
    np.savez_compressed(out, **keep)
    print(f"{out}: {len(keep)} outputs, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "../shared/gpu-fixtures/h200-2026-12")
