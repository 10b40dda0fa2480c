"""`roundoff.check` says, as `roundoff check` does, when an output equals the sm_90 tensor-core
emulation bit for bit (Result.bit_identical_to, JSON key `bit_identical_to`; docs/tensor-cores.md
§3), on real H200 outputs (tests/fixtures/h200). The oracle is the CLI's JSON on the same files
and the descriptions tests/backends/tc_check_cli_test.cpp asserts for them."""

import json

import numpy as np

import roundoff
from conftest import REPO
from roundoff import _core
from roundoff._report import _numbers

H200 = REPO / "tests" / "fixtures" / "h200"


def _strip(doc):
    results = [{k: v for k, v in r.items() if k != "source"} for r in doc["results"]]
    return results, doc["comparisons"]


def _member(npz, key):
    return np.load(H200 / npz)[key]


def _compare(cli_json, op, inputs, outputs, declared, flags=(), **args):
    """roundoff.check and `roundoff check` on the same fixture members: the reports agree."""
    npz = inputs[0][0]
    x, w = _member(npz, inputs[0][1]), _member(npz, inputs[1][1])
    b = _member(npz, inputs[2][1]) if len(inputs) > 2 else None
    ys = {name: _member(npz, key) for name, key in outputs.items()}
    py = roundoff.check(op, x, w, b, outputs=ys, declared=declared, **args)
    files = ["--input", f"{H200 / npz}:{inputs[0][1]}", "--weight", f"{H200 / npz}:{inputs[1][1]}"]
    if b is not None:
        files += ["--bias", f"{H200 / npz}:{inputs[2][1]}"]
    outs = [a for name, key in outputs.items() for a in ("--output", f"{name}={H200 / npz}:{key}")]
    doc = _numbers(cli_json("check", op, *files, *flags, *outs, "--declared", declared))
    assert _strip(py.to_dict()) == _strip(doc)
    return py, doc


def test_tf32_probe_is_bit_identical_as_the_cli_says(cli_json):
    probe = "probe_subset.npz"
    py, doc = _compare(cli_json, "linear", [(probe, "tf32_K256_x"), (probe, "tf32_K256_w")],
                       {"gpu": "tf32_K256_y"}, "tf32")
    expected = "sm_90 tensor cores (tf32, K-blocks of 8 in sequence)"
    assert doc["results"][0]["bit_identical_to"] == expected
    assert py.results["gpu"].bit_identical_to == expected
    assert json.loads(py.to_json())["results"][0]["bit_identical_to"] == expected
    assert py.results["gpu"].verdict == "consistent"  # matching never changes the verdict


def test_seed_bf16_names_the_cublas_orders(cli_json):
    seed = "seed_subset.npz"
    py, _ = _compare(cli_json, "linear", [(seed, "x_bf16"), (seed, "W_bf16"), (seed, "b_bf16")],
                     {"lin": "linear_bf16", "ma": "matmul_add_bf16"}, "bf16")
    assert py.results["lin"].bit_identical_to == (
        "sm_90 tensor cores (bf16, K-blocks of 16 in sequence, output rounded to bf16)")
    assert py.results["ma"].bit_identical_to == (
        "sm_90 tensor cores (bf16, K-blocks of 16 in sequence, bias added after rounding to "
        "bf16)")


def test_cudnn_conv2d_tf32(cli_json):
    conv = "conv_subset.npz"
    py, _ = _compare(cli_json, "conv2d", [(conv, "x"), (conv, "w"), (conv, "b")],
                     {"gpu": "conv2d_tf32"}, "tf32", ["--padding", "1"], padding=1)
    assert py.results["gpu"].bit_identical_to == (
        "sm_90 tensor cores (tf32 (inputs rounded to nearest, ties away), K-blocks of 8 in "
        "sequence, implicit GEMM over kernel taps, then channels)")


def test_one_differing_element_matches_nothing(cli_json, tmp_path):
    probe = H200 / "probe_subset.npz"
    x, w = _member("probe_subset.npz", "tf32_K256_x"), _member("probe_subset.npz", "tf32_K256_w")
    y = _member("probe_subset.npz", "tf32_K256_y").copy()
    y.reshape(-1)[1000] = np.nextafter(y.reshape(-1)[1000], np.float32(0))
    np.save(tmp_path / "y.npy", y)
    py = roundoff.check("linear", x, w, outputs={"gpu": y}, declared="tf32")
    doc = _numbers(cli_json("check", "linear", "--input", f"{probe}:tf32_K256_x", "--weight",
                            f"{probe}:tf32_K256_w", "--output", f"gpu={tmp_path / 'y.npy'}",
                            "--declared", "tf32"))
    assert _strip(py.to_dict()) == _strip(doc)
    assert "bit_identical_to" not in doc["results"][0]
    assert py.results["gpu"].bit_identical_to is None
    assert "bit_identical_to" not in py.to_dict()["results"][0]
    assert py.results["gpu"].verdict == "consistent"


def test_plain_f32_tries_nothing_and_copies_nothing():
    # Declared f32 and explained by f32: no emulation is tried (as in the CLI), so the views of
    # the caller's arrays are never copied for it.
    g = np.random.default_rng(5)
    x = g.standard_normal((16, 64)).astype(np.float32)
    w = g.standard_normal((8, 64)).astype(np.float32)
    y = (x.astype(np.float64) @ w.T.astype(np.float64)).astype(np.float32)
    _core._reset_input_bytes_copied()
    r = roundoff.check("linear", x, w, outputs=y, declared="f32")
    assert _core._input_bytes_copied() == 0
    assert r.results["output"].verdict == "consistent"
    assert r.results["output"].bit_identical_to is None


def test_typed_in_the_stubs_and_the_result():
    import importlib.resources
    import typing

    stub = (importlib.resources.files("roundoff") / "_core.pyi").read_text()
    assert "bit_identical: bool = False" in stub
    hints = typing.get_type_hints(roundoff.Result.bit_identical_to.fget)
    assert hints["return"] == typing.Optional[str]
