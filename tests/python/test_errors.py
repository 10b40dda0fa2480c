"""Bad input raises ValueError (TypeError for a wrong type) with the CLI's one-line message,
and never crashes the interpreter."""

import re

import numpy as np
import pytest

import roundoff
from conftest import rng, torch


@pytest.fixture
def operands(tmp_path):
    g = rng(9)
    x = g.standard_normal((2, 3)).astype(np.float32)
    w = g.standard_normal((4, 3)).astype(np.float32)
    y = roundoff.exact("linear", x, w).astype(np.float32)
    for name, a in (("x", x), ("w", w), ("y", y)):
        np.save(tmp_path / f"{name}.npy", a)
    return x, w, y, tmp_path


def _cli_message(cli, *args):
    r = cli(*map(str, args), expect=(2,))
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("roundoff: "), r.stderr
    return lines[0][len("roundoff: "):]


def _check_args(t, op, flags):
    declared = [] if "--declared" in flags else ["--declared", "f32"]
    return ["check", op, "--input", t / "x.npy", "--weight", t / "w.npy",
            "--output", f"y={t / 'y.npy'}", *declared, *flags]


# (Python keyword arguments of check, the CLI's arguments after `check`, op)
SAME_MESSAGE = [
    (dict(op="conv9d"), "conv9d", []),
    (dict(declared="f33"), "linear", ["--declared", "f33"]),
    (dict(stride=2), "linear", ["--stride", "2"]),
    (dict(op="conv2d", stride=(2, 1, 1)), "conv2d", ["--stride", "2,1,1"]),
    (dict(op="conv2d", padding="bogus"), "conv2d", ["--padding", "bogus"]),
    (dict(op="conv2d", padding_mode="mirror"), "conv2d", ["--padding-mode", "mirror"]),
    (dict(op="conv2d", output_padding=1), "conv2d", ["--output-padding", "1"]),
    (dict(op="conv_transpose2d", padding="same"), "conv_transpose2d", ["--padding", "same"]),
    (dict(op="conv_transpose2d", padding_mode="reflect"), "conv_transpose2d",
     ["--padding-mode", "reflect"]),
    (dict(confidence=2.0), "linear", ["--confidence", "2"]),
    (dict(fail_on="never"), "linear", ["--fail-on", "never"]),
    (dict(threads=0), "linear", ["--threads", "0"]),
    (dict(worst=-1), "linear", ["--worst", "-1"]),
]


@pytest.mark.parametrize("py,op,flags", SAME_MESSAGE, ids=[str(c[2] or c[1]) for c in SAME_MESSAGE])
def test_argument_errors_say_what_the_cli_says(py, op, flags, operands, cli):
    x, w, y, t = operands
    kwargs = dict(outputs={"y": y}, declared="f32")
    kwargs.update(py)
    name = kwargs.pop("op", "linear")
    with pytest.raises(ValueError) as e:
        roundoff.check(name, x, w, **kwargs)
    expected = _cli_message(cli, *_check_args(t, op, flags))
    assert str(e.value) == expected


def test_shape_errors_carry_the_ops_layer_message(operands, cli):
    x, w, y, t = operands
    np.save(t / "w5.npy", np.ones((4, 5), np.float32))
    with pytest.raises(ValueError) as e:
        roundoff.check("linear", x, np.ones((4, 5), np.float32), outputs={"y": y}, declared="f32")
    py = str(e.value)
    cli_text = _cli_message(cli, "check", "linear", "--input", t / "x.npy", "--weight",
                            t / "w5.npy", "--output", t / "y.npy", "--declared", "f32")
    prefix = "linear: x [2, 3], w [4, 5]: "
    assert py.startswith(prefix) and "cannot be multiplied" in py
    assert cli_text.endswith(": " + py[len(prefix):])
    with pytest.raises(ValueError, match=r"^linear: x \[2, 3\], w \[4, 5\]: "):
        roundoff.exact("linear", x, np.ones((4, 5), np.float32))


def test_output_of_the_wrong_shape(operands):
    x, w, y, _ = operands
    with pytest.raises(ValueError) as e:
        roundoff.check("linear", x, w, outputs={"y": y.T}, declared="f32")
    assert str(e.value) == "outputs['y']: shape [4, 2] but linear of x [2, 3], w [4, 3] gives [2, 4]"


@pytest.mark.parametrize("value,word", [(np.nan, "NaN"), (np.inf, "+Inf"), (-np.inf, "-Inf")])
def test_non_finite_inputs_are_refused_as_the_cli_refuses_them(value, word, operands, cli):
    x, w, y, t = operands
    bad = x.copy()
    bad[1, 1] = value
    np.save(t / "bad.npy", bad)
    with pytest.raises(ValueError) as e:
        roundoff.check("linear", bad, w, outputs={"y": y}, declared="f32")
    cli_text = _cli_message(cli, "check", "linear", "--input", t / "bad.npy", "--weight",
                            t / "w.npy", "--output", t / "y.npy", "--declared", "f32")
    assert str(e.value) == f"x: element [1, 1] is {word}; non-finite inputs are refused (the exact result would be NaN or Inf)"
    assert cli_text == f"{t / 'bad.npy'}: " + str(e.value)[len("x: "):]
    with pytest.raises(ValueError, match=r"^b: element \[0\] is"):
        roundoff.exact("linear", x, w, np.array([value, 0, 0, 0], np.float32))


@pytest.mark.parametrize("bad,match", [
    ([[1.0, 2.0]], "x: expected a numpy array or a torch tensor, got list"),
    (None, "x: expected a numpy array or a torch tensor, got NoneType"),
    (3.0, "x: expected a numpy array or a torch tensor, got float"),
    (np.ones((2, 3), np.int32), "x: unsupported dtype int32"),
    (np.ones((2, 3), np.complex64), "x: unsupported dtype complex64"),
    (np.array([["a", "b", "c"]] * 2), "x: unsupported dtype <U1"),
    (np.ones((2, 3), object), "x: unsupported dtype object"),
    (np.ones((2, 3), np.longdouble), "x: unsupported dtype float128"),
    (np.ma.masked_array(np.ones((2, 3)), mask=np.eye(2, 3)), "x: a masked array"),
])
def test_wrong_types_raise_type_error(bad, match, operands):
    _, w, y, _ = operands
    with pytest.raises(TypeError, match=f"^{match}"):
        roundoff.check("linear", bad, w, outputs={"y": y}, declared="f32")


def test_torch_integer_and_sparse_tensors_are_type_errors(need_torch):
    with pytest.raises(TypeError, match="^w: unsupported dtype int64"):
        roundoff.exact("linear", torch.ones(2, 3), torch.ones(4, 3, dtype=torch.int64))
    with pytest.raises(TypeError, match=r"^w: a torch.sparse_coo tensor; pass a dense one"):
        roundoff.exact("linear", torch.ones(2, 3), torch.ones(4, 3).to_sparse())


@pytest.mark.parametrize("kwargs,match", [
    (dict(stride="2"), "stride: expected an int or a tuple of ints"),
    (dict(stride=2.5), "stride: expected an int or a tuple of ints, got float"),
    (dict(groups=True), "groups: expected an int, got bool"),
    (dict(padding=1.5), "padding: expected an int or a tuple of ints, got float"),
    (dict(padding_mode=0), "padding_mode: expected a str"),
    (dict(declared=32), "declared: expected a preset name"),
    (dict(outputs={1: None}), "outputs: names must be str"),
    (dict(outputs={"y": None}), r"outputs\['y'\]: expected a numpy array"),
    (dict(threads="4"), "threads: expected an int, got str"),
])
def test_wrong_argument_types(kwargs, match):
    g = rng(0)
    x = g.standard_normal((1, 2, 6, 6)).astype(np.float32)
    w = g.standard_normal((3, 2, 3, 3)).astype(np.float32)
    args = dict(outputs={"y": np.zeros((1, 3, 4, 4), np.float32)}, declared="f32")
    args.update(kwargs)
    with pytest.raises(TypeError, match=f"^{match}"):
        roundoff.check("conv2d", x, w, **args)
    with pytest.raises(TypeError):
        roundoff.check(2, x, w, outputs={}, declared="f32")


def test_no_outputs(operands):
    x, w, _, _ = operands
    with pytest.raises(ValueError, match="at least one output"):
        roundoff.check("linear", x, w, outputs={}, declared="f32")


def test_exact_flags_say_what_reference_says(operands, cli):
    x, w, _, t = operands
    ref = ["reference", "linear", "--input", t / "x.npy", "--weight", t / "w.npy", "--out",
           t / "r.npy"]
    for py, flags in ((dict(method="exactish"), ["--method", "exactish"]),
                      (dict(precision_bits=64), ["--precision-bits", "64"]),
                      (dict(method="mpfr", precision_bits=1), ["--method", "mpfr",
                                                               "--precision-bits", "1"])):
        with pytest.raises(ValueError) as e:
            roundoff.exact("linear", x, w, **py)
        assert str(e.value) == _cli_message(cli, *ref, *flags)


def test_mpfr_below_the_needed_precision_warns():
    x = np.array([[2.0 ** 60, 1.0, 0.5, -(2.0 ** 60)]])
    w = np.ones((1, 4))
    with pytest.warns(RuntimeWarning, match="1 of 1 elements are MPFR's 8-bit rounding"):
        y = roundoff.exact("linear", x, w, method="mpfr", precision_bits=8)
    assert y[0, 0] != 1.5
    assert roundoff.exact("linear", x, w)[0, 0] == 1.5
    assert roundoff.exact("linear", x, w, method="simple")[0, 0] == 1.5
    assert roundoff.exact("linear", x, w, method="mpfr")[0, 0] == 1.5


def test_run_errors_say_what_the_cli_says(cli):
    for py, flags in ((dict(impl="nope*"), ["--impl", "nope*"]),
                      (dict(dist="cauchy"), ["--dist", "cauchy"]),
                      (dict(dtype="tf32"), ["--dtype", "tf32"]),
                      (dict(m=3), ["--m", "3"]),
                      (dict(op="addmm", bias=False), ["--no-bias"]),
                      (dict(op="conv2d", groups=3), ["--groups", "3"]),
                      (dict(compare="some"), ["--compare", "some"]),
                      (dict(declared="f33"), ["--declared", "f33"])):
        op = py.pop("op", "linear")
        with pytest.raises(ValueError) as e:
            roundoff.run(op, impl=py.pop("impl", "naive.cpu.sequential.f32"), batch=None, **py)
        cli_text = _cli_message(cli, "run", op, "--impl", "naive.cpu.sequential.f32", *flags)
        assert str(e.value).split(" (see")[0] == cli_text.split(" (see")[0], flags


def test_nothing_crashes_on_odd_shapes():
    one = np.ones(1, np.float32)
    for op in roundoff.ops():
        for x, w in ((one, one), (np.ones((2, 2, 2, 2, 2, 2)), one), (np.float32(1.0), one)):
            try:
                roundoff.exact(op, x, w)
            except ValueError:
                pass
    with pytest.raises(ValueError):
        roundoff.exact("conv2d", np.ones((1, 1, 3, 3)), np.ones((1, 1, 3, 3)), stride=0)
    with pytest.raises(ValueError):
        roundoff.exact("conv1d", np.ones((1, 1, 3)), np.ones((1, 1, 5)))  # kernel > input
    with pytest.raises(ValueError):
        roundoff.exact("conv1d", np.ones((1, 1, 3)), np.ones((1, 1, 1)), padding=-1)


def test_a_view_larger_than_memory_is_a_memory_error_not_a_crash():
    x = np.broadcast_to(np.float32(1), (10**6, 10**6))  # 4 bytes of data, 10^12 elements
    with pytest.raises(MemoryError, match=r"^x: shape \[1000000, 1000000\] needs"):
        roundoff.exact("linear", x, np.ones((2, 10**6), np.float32))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_finite_check_finds_every_position_and_passes_extreme_finite_values(dtype):
    # Contiguous f32/f64 inputs are checked on their bit patterns in one pass: every finite
    # value (largest, smallest subnormal, -0.0) passes, and a NaN/Inf is found wherever it is,
    # its index named as for any other layout.
    info = np.finfo(dtype)
    x = np.ones((3, 37), dtype)
    x[0, :4] = [info.max, -info.max, info.smallest_subnormal, -0.0]
    w = np.ones((2, 37), dtype)
    roundoff.exact("linear", x, w)  # no error
    for flat in (0, 5, 36, 37, 110):
        for value, word in ((np.nan, "NaN"), (np.inf, "+Inf"), (-np.inf, "-Inf")):
            bad = x.copy()
            bad.reshape(-1)[flat] = value
            i, j = divmod(flat, 37)
            with pytest.raises(ValueError, match=rf"^x: element \[{i}, {j}\] is {re.escape(word)};"):
                roundoff.exact("linear", bad, w)
