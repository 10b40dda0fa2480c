"""Python and the CLI say the same thing about the same tensors: every op (with PyTorch-style
arguments), `exact` against `roundoff reference`, and `run` against `roundoff run`."""

import json
import subprocess

import numpy as np
import pytest

import roundoff
from conftest import rng
from roundoff._report import _numbers

# op, x shape, w shape, b shape (or None), PyTorch-style arguments, the CLI's flags for them
CASES = [
    ("linear", (3, 5, 40), (7, 40), (7,), {}, []),
    ("matmul", (2, 6, 30), (30, 5), (5,), {}, []),
    ("bmm", (3, 4, 20), (3, 20, 6), None, {}, []),
    ("addmm", (6, 25), (25, 9), (9,), {}, []),
    ("conv1d", (2, 4, 33), (6, 2, 5), (6,), dict(stride=2, padding=3, dilation=2, groups=2),
     ["--stride", "2", "--padding", "3", "--dilation", "2", "--groups", "2"]),
    ("conv2d", (2, 4, 11, 9), (8, 4, 3, 3), (8,), dict(stride=(2, 1), padding=(1, 0),
                                                       dilation=(1, 2)),
     ["--stride", "2,1", "--padding", "1,0", "--dilation", "1,2"]),
    ("conv2d", (2, 4, 7, 6), (8, 2, 3, 3), (8,), dict(padding="same", padding_mode="reflect",
                                                      groups=2),
     ["--padding", "same", "--padding-mode", "reflect", "--groups", "2"]),
    ("conv3d", (1, 2, 5, 6, 7), (4, 2, 3, 2, 3), None, dict(padding=1, padding_mode="circular"),
     ["--padding", "1", "--padding-mode", "circular"]),
    ("conv_transpose1d", (2, 4, 9), (4, 3, 4), (3,), dict(stride=2, padding=1, output_padding=1),
     ["--stride", "2", "--padding", "1", "--output-padding", "1"]),
    ("conv_transpose2d", (1, 4, 5, 6), (4, 2, 3, 3), (4,),
     dict(stride=(2, 3), padding=(1, 0), output_padding=(1, 2), groups=2),
     ["--stride", "2,3", "--padding", "1,0", "--output-padding", "1,2", "--groups", "2"]),
    ("conv_transpose3d", (1, 2, 3, 4, 3), (2, 3, 2, 2, 2), (3,), dict(stride=2), ["--stride", "2"]),
]


def _ids():
    return [f"{c[0]}-{i}" for i, c in enumerate(CASES)]


def _strip(doc):
    """The parts that must agree: results without their source, and the comparisons."""
    results = [{k: v for k, v in r.items() if k != "source"} for r in doc["results"]]
    return results, doc["comparisons"]


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_check_and_exact_match_the_cli(case, cli, cli_json, tmp_path):
    op, xs, ws, bs, args, flags = case
    g = rng(7)
    x = g.standard_normal(xs).astype(np.float32)
    w = g.standard_normal(ws).astype(np.float32)
    b = None if bs is None else g.standard_normal(bs).astype(np.float32)
    files = ["--input", tmp_path / "x.npy", "--weight", tmp_path / "w.npy"]
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", w)
    if b is not None:
        np.save(tmp_path / "b.npy", b)
        files += ["--bias", tmp_path / "b.npy"]

    # exact == roundoff reference, bit for bit
    exact = roundoff.exact(op, x, w, b, **args)
    cli("reference", op, *files, *flags, "--out", tmp_path / "ref.npy", expect=(0,))
    ref = np.load(tmp_path / "ref.npy")
    assert exact.dtype == np.float64 and exact.shape == ref.shape
    assert np.array_equal(exact.view(np.uint64), ref.view(np.uint64))

    # two f32 outputs that differ in a few elements by one ulp, and a wrong one
    y1 = exact.astype(np.float32)
    y2 = y1.copy().reshape(-1)
    y2[:: max(1, y2.size // 7)] = np.nextafter(y2[:: max(1, y2.size // 7)], np.float32(np.inf))
    y2 = y2.reshape(y1.shape)
    y3 = y1.copy().reshape(-1)
    y3[y3.size // 2] += 1
    y3 = y3.reshape(y1.shape)
    outs = {"one": y1, "two": y2, "bad": y3}
    for name, y in outs.items():
        np.save(tmp_path / f"{name}.npy", y)
    py = roundoff.check(op, x, w, b, outputs=outs, declared="f32", **args)
    doc = _numbers(cli_json("check", op, *files, *flags, "--declared", "f32",
                            *[a for n in outs for a in ("--output", f"{n}={tmp_path / n}.npy")]))
    assert _strip(py.to_dict()) == _strip(doc)
    # (a one-ulp bump of an element that no product feeds, the bias alone, is a violation too)
    assert py.results["one"].verdict == "consistent"
    assert py.results["bad"].verdict == "violation"
    assert py.ok is False
    assert py.comparisons[0].differing > 0
    # the params agree too, except for the file names the CLI has and Python has not
    cli_params = {k: v for k, v in doc["params"].items() if k not in ("input", "weight", "bias")}
    assert py.params == cli_params


def _run_args(op):
    if op == "linear":
        return dict(batch=4, in_features=64, out_features=8), ["--batch", 4, "--in-features", 64,
                                                                "--out-features", 8]
    return (dict(batch=2, in_channels=4, out_channels=6, size=(9, 7), kernel_size=3,
                 stride=(2, 1), groups=2),
            ["--batch", 2, "--in-channels", 4, "--out-channels", 6, "--size", "9,7",
             "--kernel-size", 3, "--stride", "2,1", "--groups", 2])


@pytest.mark.parametrize("op", ["linear", "conv2d"])
def test_run_matches_the_cli_on_the_cpu_backends(op, cli_json):
    py_args, cli_args = _run_args(op)
    impl = ["naive.cpu.*", "blas.cpu.*", "eigen.cpu.gemm.f32"]
    py = roundoff.run(op, impl=impl, threads=1, seed=3, compare="all", **py_args)
    doc = _numbers(cli_json("run", op, *cli_args, *[a for i in impl for a in ("--impl", i)],
                            "--threads", 1, "--seed", 3, "--compare", "all"))
    assert _strip(py.to_dict()) == _strip(doc)
    assert py.params == doc["params"]
    assert all(r.verdict == "consistent" for r in py)


def test_run_matches_the_cli_on_torch(cli, cli_json, need_torch):
    if "LibTorch: absent" in cli("version").stdout:
        pytest.skip("the roundoff command was built without LibTorch")
    py = roundoff.run("linear", impl="torch.cpu.*.f32", threads=1, batch=8, in_features=256,
                      out_features=16)
    doc = _numbers(cli_json("run", "linear", "--impl", "torch.cpu.*.f32", "--threads", 1,
                            "--batch", 8, "--in-features", 256, "--out-features", 16))
    # LibTorch's CPU GEMM picks its blocking from the host process (a Python process that has
    # imported torch configures its kernels and thread pools differently from the roundoff
    # command), so the f32 outputs, and with them the error figures, can differ by rounding;
    # what must agree is the report's structure and every judgement.
    py_results, py_pairs = _strip(py.to_dict())
    cli_results, cli_pairs = _strip(doc)
    assert [r["name"] for r in py_results] == [r["name"] for r in cli_results]
    for a, b in zip(py_results, cli_results):
        assert (a["verdict"], a["consistent_models"], a["elements"]) == \
            (b["verdict"], b["consistent_models"], b["elements"])
        assert a["verdict"] == "consistent"
    assert [(c["a"], c["b"], c["verdict"]) for c in py_pairs] == \
        [(c["a"], c["b"], c["verdict"]) for c in cli_pairs]
