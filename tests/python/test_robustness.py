"""Random garbage in: only ValueError, TypeError or MemoryError come out, never a crash or
another exception. Replay a failure with its printed seed (ROUNDOFF_TEST_MULTIPLIER scales the
iteration count, as for the C++ tests)."""

import os

import numpy as np
import pytest

import roundoff

MULTIPLIER = float(os.environ.get("ROUNDOFF_TEST_MULTIPLIER", "1"))
EXPECTED = (ValueError, TypeError, MemoryError)


FLOATS = [np.float64, np.float32, np.float16]


def _shapes(g, op):
    """Operand shapes that fit the op (then, now and then, one dimension off by one)."""
    d = lambda lo=1: int(g.integers(lo, 5))  # noqa: E731
    if op in ("linear", "matmul", "addmm"):
        m, k, n = d(0), d(0), d()
        shapes = [[m, k], [n, k] if op == "linear" else [k, n], [n]]
    elif op == "bmm":
        bt, m, k, n = d(), d(), d(0), d()
        shapes = [[bt, m, k], [bt, k, n], None]
    elif op.startswith("conv"):
        dims = int(op[-2])
        c, o = d(), d()
        ks = [d() for _ in range(dims)]
        size = [k + d(0) for k in ks]
        w = [c, o] if "transpose" in op else [o, c]
        shapes = [[d(), c] + size, w + ks, [o]]
    else:
        shapes = [[2, 3], [4, 3], [4]]
    if g.integers(0, 5) == 0:
        s = shapes[int(g.integers(0, 2))]
        i = int(g.integers(0, len(s)))
        s[i] = max(0, s[i] + int(g.choice([-1, 1])))
    return shapes


def _random_tensor(g, shape):
    kind = int(g.integers(0, 20))
    if kind == 0:
        return None
    if kind == 1:
        return [1.0, 2.0]
    if kind == 2:
        shape = [int(v) for v in g.integers(0, 4, size=int(g.integers(0, 6)))]
    dtype = (np.int32 if kind == 4 else np.complex64 if kind == 5
             else FLOATS[int(g.integers(0, 3))])
    a = g.standard_normal(shape).astype(dtype) if shape else np.asarray(1.5, dtype=dtype)
    if kind == 6 and a.size and a.dtype.kind in "fc":
        a.flat[0] = np.nan
    if kind == 7 and a.ndim >= 2:
        a = np.ascontiguousarray(a.swapaxes(0, -1)).swapaxes(0, -1)  # same values, other strides
    return a


def _random_arg(g):
    return [None, 0, 1, 2, -1, (1, 2), (2, 1, 1), (), "same", "valid", "x", 1.5, True,
            [3]][int(g.integers(0, 14))]


@pytest.mark.parametrize("seed", range(3))
def test_random_calls_raise_only_value_or_type_errors(seed):
    g = np.random.default_rng(1000 + seed)
    ops = roundoff.ops() + ["conv9d", ""]
    reached = 0
    for i in range(int(150 * MULTIPLIER)):
        op = ops[int(g.integers(0, len(ops)))]
        sx, sw, sb = _shapes(g, op)
        x, w = _random_tensor(g, sx), _random_tensor(g, sw)
        b = _random_tensor(g, sb) if sb and g.integers(0, 2) else None
        conv = {k: _random_arg(g) for k in ("stride", "padding", "dilation", "groups",
                                             "output_padding", "padding_mode")
                if op.startswith("conv") and g.integers(0, 6) == 0}
        what = f"seed {1000 + seed}, call {i}: {op} {conv}"
        try:
            y = roundoff.exact(op, x, w, b, threads=1, **conv)
        except EXPECTED:
            continue
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"{what}: exact raised {type(e).__name__}: {e}")
        reached += 1
        for out in (y.astype(np.float32), y[..., :1], _random_tensor(g, list(y.shape))):
            try:
                roundoff.check(op, x, w, b, outputs={"y": out}, declared="f32", threads=1, **conv)
            except EXPECTED:
                pass
            except Exception as e:  # noqa: BLE001
                pytest.fail(f"{what}: check raised {type(e).__name__}: {e}")
    assert reached > 15 * MULTIPLIER, reached  # the engine did run on many of them


def test_run_argument_types():
    for kwargs in (dict(seed=-1), dict(seed=2**64), dict(dtype=32), dict(impl=[1]),
                   dict(confidence="high"), dict(dist=None), dict(batch="8"), dict(size=(0,)),
                   dict(batch=-1)):
        with pytest.raises(EXPECTED):
            roundoff.run("linear" if "size" not in kwargs else "conv2d",
                         impl="naive.cpu.sequential.f32", **kwargs)
