"""device= of exact/check/run (the CLI's --device): "cpu" is the default and changes nothing;
"cuda" runs the exact engine's slice products on cuBLAS and must give the same exact result
(docs/exact-gpu.md), or, without a usable CUDA device, a ValueError with the CLI's one line."""

import numpy as np
import pytest

import roundoff
from conftest import rng


def _cuda_reason():
    """None when device="cuda" works here, else the ValueError's text."""
    try:
        roundoff._core.check_device("cuda")
    except ValueError as e:
        return str(e)
    return None


@pytest.fixture
def operands():
    g = rng(17)
    x = g.standard_normal((8, 300)).astype(np.float32)
    w = g.standard_normal((24, 300)).astype(np.float32)
    b = g.standard_normal(24).astype(np.float32)
    return x, w, b


def test_cpu_is_the_default(operands):
    x, w, b = operands
    ref = roundoff.exact("linear", x, w, b)
    np.testing.assert_array_equal(roundoff.exact("linear", x, w, b, device="cpu"), ref)
    # Against an independent oracle: float64 products of fp32 values are exact, and a
    # 300-term sum of them fits within a few ulps, so the exact result is near np's.
    np.testing.assert_allclose(ref, x.astype(np.float64) @ w.T.astype(np.float64) + b,
                               rtol=1e-12, atol=1e-12)


def test_bad_device_values(operands):
    x, w, b = operands
    with pytest.raises(ValueError, match=r"^--device: tpu not in \{cpu,cuda\}$"):
        roundoff.exact("linear", x, w, b, device="tpu")
    with pytest.raises(TypeError, match="device: expected a str"):
        roundoff.exact("linear", x, w, b, device=3)


def test_cuda_without_a_device_says_so(operands):
    reason = _cuda_reason()
    if reason is None:
        pytest.skip("a CUDA device is available")
    assert reason.startswith("--device cuda: no CUDA device available (") and "\n" not in reason
    x, w, b = operands
    y = roundoff.exact("linear", x, w, b).astype(np.float32)
    with pytest.raises(ValueError) as e:
        roundoff.exact("linear", x, w, b, device="cuda")
    assert str(e.value) == reason
    with pytest.raises(ValueError) as e:
        roundoff.check("linear", x, w, b, declared="f32", outputs={"y": y}, device="cuda")
    assert str(e.value) == reason
    with pytest.raises(ValueError) as e:
        roundoff.run("linear", impl="cpu.*", device="cuda")
    assert str(e.value) == reason


def test_cuda_with_method_other_than_fast(operands):
    x, w, b = operands
    with pytest.raises(ValueError, match="^--device cuda: applies to --method fast only$"):
        roundoff.exact("linear", x, w, b, method="simple", device="cuda")


def test_cuda_equals_cpu(operands):
    if _cuda_reason() is not None:
        pytest.skip(_cuda_reason())
    x, w, b = operands
    g = rng(18)
    for _ in range(5):
        k = int(g.integers(1, 5000))
        x = g.standard_normal((int(g.integers(1, 40)), k)).astype(np.float32)
        w = g.standard_normal((int(g.integers(1, 300)), k)).astype(np.float32)
        np.testing.assert_array_equal(roundoff.exact("linear", x, w, device="cuda"),
                                      roundoff.exact("linear", x, w))
    y = roundoff.exact("linear", x, w).astype(np.float32)
    r = roundoff.check("linear", x, w, declared="f32", outputs={"y": y}, device="cuda")
    assert r.ok, r


def test_cli_parity_of_the_message(cli, tmp_path, operands):
    reason = _cuda_reason()
    if reason is None:
        pytest.skip("a CUDA device is available")
    x, w, _ = operands
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    r = cli("reference", "linear", "--input", tmp_path / "x.npy", "--weight", tmp_path / "w.npy",
            "--out", tmp_path / "o.npy", "--device", "cuda", expect=(2,))
    assert r.stderr.splitlines() == ["roundoff: " + reason]
