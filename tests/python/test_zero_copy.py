"""Host float64/float32 row-major arrays reach the engine without a copy (issue 12's contract).

Two independent witnesses: the extension's counter of bytes copied whole from callers' arrays
(roundoff::input_bytes_copied, which every copying path adds to), and the engine seeing a change
made to the caller's buffer after the Input was made (which a copy could not see). Strided,
float16 and bfloat16 arrays are converted once (docs/python.md): the same witnesses show it, so
each test would fail if the path it checks copied (or stopped copying).
"""

import numpy as np
import pytest

import roundoff
from roundoff import _core
from roundoff._args import as_tensor
from conftest import rng, torch


def _case(dtype_x=np.float64, dtype_w=np.float32, seed=11):
    g = rng(seed)
    x = g.standard_normal((64, 96)).astype(dtype_x)
    w = g.standard_normal((32, 96)).astype(dtype_w)
    b = g.standard_normal(32).astype(np.float64)
    return x, w, b


def _copied(fn):
    _core._reset_input_bytes_copied()
    out = fn()
    return _core._input_bytes_copied(), out


def test_contiguous_f64_f32_numpy_inputs_and_outputs_are_not_copied():
    x, w, b = _case()
    n, y = _copied(lambda: roundoff.exact("linear", x, w, b))
    assert n == 0
    outputs = {"f32": y.astype(np.float32), "f64": y}
    n, r = _copied(lambda: roundoff.check("linear", x, w, b, outputs=outputs, declared="f32"))
    assert n == 0
    assert r.results["f32"].verdict == "consistent"
    assert r.results["f64"].verdict == "consistent"


def test_contiguous_torch_tensors_are_not_copied(need_torch):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(16, 40, generator=g)  # float32
    w = torch.randn(8, 40, generator=g, dtype=torch.float64)
    b = torch.randn(8, generator=g)
    y = torch.nn.functional.linear(x.double(), w, b.double()).float()
    n, r = _copied(lambda: roundoff.check("linear", x, w, b, outputs={"y": y}, declared="f32"))
    assert n == 0
    assert r.results["y"].verdict == "consistent"


@pytest.mark.parametrize("kind", ["transposed", "sliced", "float16"])
def test_strided_and_half_inputs_are_converted_once(kind):
    x, w, b = _case()
    if kind == "transposed":
        x = np.ascontiguousarray(x.T).T  # same values, column-major
    elif kind == "sliced":
        x = np.concatenate([x, x], axis=1)[:, ::2]  # stride 2 along the last dim
    else:
        x = x.astype(np.float16)
    n, y = _copied(lambda: roundoff.exact("linear", x, w, b))
    assert n == x.size * x.itemsize  # x, converted whole once; w and b read in place
    ref = roundoff.exact("linear", np.array(x, dtype=np.float64, order="C"), w, b)
    assert np.array_equal(y, ref)


def test_bfloat16_torch_input_is_converted_once(need_torch):
    x = torch.randn(4, 24, generator=torch.Generator().manual_seed(2)).to(torch.bfloat16)
    w = torch.randn(3, 24, generator=torch.Generator().manual_seed(3))
    n, _ = _copied(lambda: roundoff.exact("linear", x, w, None))
    assert n == x.numel() * 2


def test_engine_reads_the_callers_buffer_in_place():
    spec = _core.op_spec("linear")
    x, w, b = _case()
    xin = as_tensor(x, "x", True)
    assert not xin.copied
    before, _ = _core.exact(spec, xin, as_tensor(w, "w", True), None, "fast", 0, 1)
    x[3, 7] += 1.0  # a copy would not see this
    after, _ = _core.exact(spec, xin, as_tensor(w, "w", True), None, "fast", 0, 1)
    expect, _ = _core.exact(spec, as_tensor(x.copy(), "x", True), as_tensor(w, "w", True), None,
                            "fast", 0, 1)
    assert not np.array_equal(before, after)
    assert np.array_equal(after, expect)
    # A strided array is converted: a later change is not seen (the witness can tell).
    xs = np.asfortranarray(x)
    xsin = as_tensor(xs, "x", True)
    assert xsin.copied
    ref, _ = _core.exact(spec, xsin, as_tensor(w, "w", True), None, "fast", 0, 1)
    xs[0, 0] += 1.0
    again, _ = _core.exact(spec, xsin, as_tensor(w, "w", True), None, "fast", 0, 1)
    assert np.array_equal(ref, again)
