"""Tensors as users hold them: numpy and torch, f64/f32/f16/bf16, any strides, empty, CUDA."""

import threading
import time

import numpy as np
import pytest

import roundoff
from conftest import rng, torch


def _case(dtype=np.float32, seed=3):
    g = rng(seed)
    x = g.standard_normal((6, 48)).astype(dtype)
    w = g.standard_normal((5, 48)).astype(dtype)
    b = g.standard_normal(5).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_numpy_dtypes(dtype):
    x, w, b = _case(dtype)
    exact = roundoff.exact("linear", x, w, b)
    ref = roundoff.exact("linear", x.astype(np.float64), w.astype(np.float64),
                         b.astype(np.float64))
    assert np.array_equal(exact, ref)  # f16/f32 values are read exactly
    r = roundoff.check("linear", x, w, b, outputs={"y": exact.astype(dtype)},
                       declared={np.float64: "f64", np.float32: "f32", np.float16: "f16"}[dtype])
    assert r.params["input_format"] == {np.float64: "f64", np.float32: "f32",
                                        np.float16: "f16"}[dtype]
    assert r.results["y"].verdict == "consistent"


@pytest.mark.parametrize("name", ["bfloat16", "float16", "float32", "float64"])
def test_torch_dtypes_are_taken_as_they_are(name, need_torch):
    dtype = getattr(torch, name)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 64, generator=g).to(dtype)
    w = torch.randn(8, 64, generator=g).to(dtype)
    b = torch.randn(8, generator=g).to(dtype)
    exact = roundoff.exact("linear", x, w, b)
    ref = roundoff.exact("linear", x.double().numpy(), w.double().numpy(), b.double().numpy())
    assert np.array_equal(exact, ref)
    y = torch.nn.functional.linear(x, w, b)  # computed in that dtype by torch
    preset = {"bfloat16": "bf16", "float16": "f16", "float32": "f32", "float64": "f64"}[name]
    r = roundoff.check("linear", x, w, b, outputs={"torch": y}, declared=preset)
    assert r.params["weight_format"] == preset
    assert r.results["torch"].verdict == "consistent", r.results["torch"].explanation


def test_bf16_values_are_exact(need_torch):
    # every bf16 bit pattern that is finite reads as the double torch widens it to
    bits = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
    t = bits.view(torch.bfloat16)
    finite = torch.isfinite(t)
    t = t[finite]
    # bmm with K = 1 against a weight of one: the exact result is each value itself
    out = roundoff.exact("bmm", t.reshape(1, -1, 1), torch.ones(1, 1, 1, dtype=torch.bfloat16))
    assert np.array_equal(out.reshape(-1), t.double().numpy())


def test_non_contiguous_views_give_the_same_answer():
    g = rng(4)
    big = g.standard_normal((12, 40, 3)).astype(np.float32)
    x = big[::2, :, 1]  # strided rows and a non-unit inner stride
    w = g.standard_normal((40, 9)).astype(np.float32).T  # a transposed (Fortran-order) view
    b = np.broadcast_to(np.float32(0.5), (9,))  # stride 0
    assert not x.flags.c_contiguous and not w.flags.c_contiguous and b.strides == (0,)
    y = (x.astype(np.float64) @ w.astype(np.float64).T + 0.5).astype(np.float32)
    r1 = roundoff.check("linear", x, w, b, outputs={"y": y[::-1][::-1]}, declared="f32")
    xc, wc, bc = (np.ascontiguousarray(a) for a in (x, w, b))
    r2 = roundoff.check("linear", xc, wc, bc, outputs={"y": np.ascontiguousarray(y)},
                        declared="f32")
    assert r1.to_dict()["results"] == r2.to_dict()["results"]
    assert np.array_equal(roundoff.exact("linear", x, w, b), roundoff.exact("linear", xc, wc, bc))
    neg = x[:, ::-1]
    assert np.array_equal(roundoff.exact("linear", neg, w[:, ::-1], b),
                          roundoff.exact("linear", np.ascontiguousarray(neg),
                                         np.ascontiguousarray(w[:, ::-1]), bc))


def test_read_only_and_big_endian_arrays():
    x, w, b = _case()
    x.setflags(write=False)
    wb = w.astype(">f4")
    assert np.array_equal(roundoff.exact("linear", x, wb, b), roundoff.exact("linear", x, w, b))


def test_torch_non_contiguous_views(need_torch):
    g = torch.Generator().manual_seed(1)
    base = torch.randn(10, 64, generator=g)
    x = base[::2]  # strided
    W = torch.randn(64, 12, generator=g).t()  # transposed view
    b = torch.randn(1, generator=g).expand(12)  # stride 0
    y = torch.nn.functional.linear(x, W, b)
    yt = y.t().contiguous().t()  # same values, column-major
    r = roundoff.check("linear", x, W, b, outputs={"y": y, "yt": yt}, declared="f32")
    assert r.comparisons[0].differing == 0
    assert r.results["y"].to_dict() | {"name": 0} == r.results["yt"].to_dict() | {"name": 0}
    xg = torch.randn(4, 8, generator=g, requires_grad=True)  # needs no .detach() by the user
    roundoff.exact("linear", xg, torch.ones(3, 8))
    assert np.array_equal(roundoff.exact("linear", -x, W), -roundoff.exact("linear", x, W))


def test_conv_with_channels_last_torch_tensor(need_torch):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 4, 9, 9, generator=g).to(memory_format=torch.channels_last)
    w = torch.randn(6, 4, 3, 3, generator=g)
    y = torch.nn.functional.conv2d(x, w, None, 1, "same")
    r = roundoff.check("conv2d", x, w, outputs={"torch": y}, declared="f32", padding="same")
    assert r.results["torch"].verdict == "consistent"


def test_empty_tensors():
    x = np.zeros((0, 8), np.float32)
    w = np.ones((3, 8), np.float32)
    b = np.ones(3, np.float32)
    assert roundoff.exact("linear", x, w, b).shape == (0, 3)
    r = roundoff.check("linear", x, w, b, outputs={"y": np.zeros((0, 3), np.float32)},
                       declared="f32")
    assert r.ok and r.results["y"].elements == 0
    # K = 0: the result is the bias
    e = roundoff.exact("linear", np.zeros((2, 0)), np.zeros((3, 0)), b)
    assert np.array_equal(e, np.ones((2, 3)))


def test_the_gil_is_released_while_the_engine_runs():
    g = rng(5)
    x = g.standard_normal((64, 2048)).astype(np.float32)
    w = g.standard_normal((256, 2048)).astype(np.float32)
    y = roundoff.exact("linear", x, w).astype(np.float32)
    ticks = []
    done = threading.Event()

    def engine():
        roundoff.check("linear", x, w, outputs={"y": y}, declared="f32", threads=1)
        done.set()

    t = threading.Thread(target=engine)
    start = time.perf_counter()
    t.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.005)
    t.join()
    elapsed = time.perf_counter() - start
    # with the GIL held for the whole check, this loop would not have run meanwhile
    assert elapsed > 0.05 and len(ticks) >= 5, (elapsed, len(ticks))


@pytest.mark.skipif(torch is None or not torch.cuda.is_available(), reason="no CUDA device")
def test_cuda_tensors_are_copied_to_the_host():
    g = torch.Generator(device="cuda").manual_seed(0)
    x = torch.randn(32, 512, device="cuda", generator=g)
    W = torch.randn(64, 512, device="cuda", generator=g)
    b = torch.randn(64, device="cuda", generator=g)
    saved = torch.backends.cuda.matmul.fp32_precision
    torch.backends.cuda.matmul.fp32_precision = "ieee"  # no TF32: f32 as declared
    try:
        y = torch.nn.functional.linear(x, W, b)
    finally:
        torch.backends.cuda.matmul.fp32_precision = saved
    r = roundoff.check("linear", x, W, b, outputs={"cuda": y}, declared="f32")
    assert r.results["cuda"].verdict == "consistent", r.results["cuda"].explanation
    assert np.array_equal(roundoff.exact("linear", x, W, b),
                          roundoff.exact("linear", x.cpu(), W.cpu(), b.cpu()))
    yh = torch.nn.functional.linear(x.half(), W.half(), b.half())
    roundoff.testing.assert_rounding_consistent(yh, "linear", x.half(), W.half(), b.half(),
                                                declared="f16")


@pytest.mark.skipif(torch is None or not torch.cuda.is_available(), reason="no CUDA device")
def test_run_on_cuda():
    r = roundoff.run("linear", impl="torch.cuda.*", batch=16, in_features=1024, out_features=64)
    assert all(res.verdict in ("consistent", "suspicious") for res in r), r
    assert r.results["torch.cuda.linear.tf32"].source["device"] == "cuda:0"
    assert r.results["torch.cuda.linear.f32"].verdict == "consistent", r


def test_concurrent_calls_from_python_threads_agree_with_sequential_ones():
    g = rng(6)
    cases = []
    for _ in range(4):
        x = g.standard_normal((16, 512)).astype(np.float32)
        w = g.standard_normal((64, 512)).astype(np.float32)
        cases.append((x, w, (x @ w.T).astype(np.float32)))
    sequential = [roundoff.check("linear", x, w, outputs={"y": y}, declared="f32",
                                 threads=1).to_json() for x, w, y in cases]
    parallel = [None] * len(cases)

    def one(i):
        x, w, y = cases[i]
        parallel[i] = roundoff.check("linear", x, w, outputs={"y": y}, declared="f32",
                                     threads=2).to_json()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(cases))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert parallel == sequential
