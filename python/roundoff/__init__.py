"""roundoff: is this divergence a bug, or expected rounding?

roundoff computes a tensor op's exact result (every product and sum without rounding, rounded
once), bounds how far an implementation computing in a declared arithmetic (f32, tf32, bf16,
...) may stray from it, and gives each output a verdict: consistent (explained by rounding),
suspicious, or violation (no rounding in the declared arithmetic produces it).

    import roundoff
    y = roundoff.exact("linear", x, W, b)                 # float64 ndarray, exact, rounded once
    r = roundoff.check("linear", x, W, b, declared="f32",
                       outputs={"F.linear": y1, "matmul_add": y2})
    r.ok, r.results["F.linear"].verdict, r.comparisons, r.to_json()
    roundoff.run("linear", impl="torch.*")                # the CLI's `roundoff run`
    roundoff.testing.assert_rounding_consistent(actual, "linear", x, W, b, declared="f32")
    roundoff.trace(model, x).first_violation             # the first layer no rounding explains

Ops, named as in PyTorch: linear, matmul, bmm, addmm, conv1d, conv2d, conv3d,
conv_transpose1d, conv_transpose2d, conv_transpose3d; conv arguments with PyTorch's names
(stride, padding, dilation, groups, output_padding, padding_mode). Tensors: numpy arrays or
torch tensors of float64, float32, float16 or bfloat16, any strides, on the CPU or a GPU (copied
to the host once). The same engine and the same report as the ``roundoff`` command
(docs/cli.md); bad input raises ValueError (TypeError for a wrong type) with the CLI's message.
"""

from __future__ import annotations

import warnings
from typing import Any, Dict, List, Mapping, Optional, Union

from . import _core
from ._args import IntOrTuple, as_tensor, device_arg, float_arg, op_spec, threads_arg
from ._args import int_arg as _int_arg
from ._report import Comparison, Report, Result, WorstElement
from ._run import backends, run
from ._trace import DiffLayer, TraceDiff, TraceLayer, TraceReport, trace, trace_diff

__version__: str = _core.__version__

__all__ = [
    "Comparison",
    "Report",
    "Result",
    "WorstElement",
    "backends",
    "check",
    "exact",
    "ops",
    "presets",
    "run",
    "testing",
    "trace",
    "trace_diff",
    "TraceReport",
    "TraceLayer",
    "TraceDiff",
    "DiffLayer",
]

Padding = Union[str, IntOrTuple]


def ops() -> List[str]:
    """The ops roundoff knows, named as in PyTorch."""
    return list(_core.op_names())


def presets() -> List[str]:
    """The arithmetic presets ``declared=`` takes, most precise first (f64, f32, tf32, ...).
    Aliases such as "fp32", "float32", "bfloat16", "half" are accepted too."""
    return list(_core.preset_names())


def _operands(x: Any, w: Any, b: Any):
    return (as_tensor(x, "x", True), as_tensor(w, "w", True),
            None if b is None else as_tensor(b, "b", True))


def exact(
    op: str,
    x: Any,
    w: Any,
    b: Any = None,
    *,
    stride: Optional[IntOrTuple] = None,
    padding: Optional[Padding] = None,
    dilation: Optional[IntOrTuple] = None,
    groups: Optional[int] = None,
    output_padding: Optional[IntOrTuple] = None,
    padding_mode: Optional[str] = None,
    method: str = "fast",
    precision_bits: Optional[int] = None,
    threads: Optional[int] = None,
    device: Optional[str] = None,
) -> Any:
    """The exact result of ``op(x, w, b)``, rounded once to float64 (ties to even).

    What ``roundoff reference <op>`` writes, as a numpy float64 array. ``op`` is named as in
    PyTorch ("linear" is ``F.linear(x, w, b)``: x ``[..., K]``, w ``[N, K]``, b ``[N]``;
    "conv2d" is ``F.conv2d(x, w, b, stride, padding, dilation, groups)`` with
    ``padding_mode`` as ``nn.Conv2d``; ...). Conv arguments take PyTorch's spellings: an int or
    a tuple per spatial dim, ``padding="same"`` or ``"valid"``.

    method: "fast" (default; exact by construction), "simple" (one exact accumulator per
    element, slow, a cross-check) or "mpfr" (the MPFR oracle at ``precision_bits``, default 256;
    a RuntimeWarning says how many elements were not exact at that precision).
    threads: threads of the exact engine (default: every core this process may use).
    device: "cpu" (default) or "cuda": where the exact engine multiplies slices (cuBLAS on the
        first CUDA device; the same exact result, docs/exact-gpu.md). ValueError "--device cuda:
        no CUDA device available (...)" without one.

    Raises ValueError for shapes or arguments PyTorch would refuse, and for NaN or Inf in an
    input (the exact result would be NaN or Inf); TypeError for a non-tensor or an integer
    tensor.

    >>> import numpy as np, roundoff
    >>> x = np.array([[1e16, 1.0, -1e16]]); w = np.ones((1, 3))
    >>> roundoff.exact("linear", x, w)            # float64 arithmetic would give 0.0
    array([[1.]])
    """
    spec, _ = op_spec(op, dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                               output_padding=output_padding, padding_mode=padding_mode))
    if not isinstance(method, str):
        raise TypeError(f"method: expected a str, got {type(method).__name__}")
    bits = 0 if precision_bits is None else _int_arg("precision_bits", precision_bits)
    if method == "mpfr" and precision_bits is None:
        bits = 256
    n_threads = threads_arg(threads)
    dev = device_arg(device)
    xt, wt, bt = _operands(x, w, b)
    values, inexact = _core.exact(spec, xt, wt, bt, method, bits, n_threads, dev)
    if inexact:
        warnings.warn(
            f"roundoff: {inexact} of {values.size} elements are MPFR's {bits}-bit rounding, not "
            "the exact result; raise precision_bits or use method='fast'",
            RuntimeWarning,
            stacklevel=2,
        )
    return values


def _outputs(outputs: Any) -> Dict[str, Any]:
    if isinstance(outputs, Mapping):
        items = dict(outputs)
    elif outputs is None:
        raise TypeError("outputs: expected {name: tensor} or one tensor, got None")
    else:
        items = {"output": outputs}
    for name in items:
        if not isinstance(name, str):
            raise TypeError(f"outputs: names must be str, got {type(name).__name__}")
        if not name:
            raise ValueError("outputs: names must not be empty")
    if not items:
        raise ValueError("outputs: at least one output is required")
    return items


def _fail_on(fail_on: Any) -> str:
    if fail_on not in ("violation", "suspicious"):
        raise ValueError(f"--fail-on: {fail_on} not in {{violation,suspicious}}")
    return fail_on


def check(
    op: str,
    x: Any,
    w: Any,
    b: Any = None,
    *,
    outputs: Union[Mapping[str, Any], Any],
    declared: str,
    stride: Optional[IntOrTuple] = None,
    padding: Optional[Padding] = None,
    dilation: Optional[IntOrTuple] = None,
    groups: Optional[int] = None,
    output_padding: Optional[IntOrTuple] = None,
    padding_mode: Optional[str] = None,
    confidence: float = 1e-6,
    fail_on: str = "violation",
    worst: int = 5,
    threads: Optional[int] = None,
    device: Optional[str] = None,
) -> Report:
    """Judge outputs of ``op(x, w, b)`` against its exact result and against each other.

    The Python ``roundoff check <op>``: each output gets a verdict against the bounds of the
    ``declared`` arithmetic, and every pair of outputs is compared (|a - b| against what
    rounding in both allows). Same engine, same numbers, same report as the CLI.

    outputs: ``{name: tensor}`` (or one tensor, named "output"), each of the op's output shape;
        numpy arrays or torch tensors (float64/32/16, bfloat16; any strides; CPU or CUDA). NaN
        and Inf in outputs are judged (special-value mismatches), not refused.
    declared: the arithmetic the outputs claim: "f64", "f32", "tf32", "f16", "bf16",
        "f16-acc16" (``roundoff.presets()``; aliases like "fp32" too).
    stride, padding, dilation, groups, output_padding, padding_mode: conv ops, as in PyTorch
        (``stride=(2, 1)``, ``padding="same"``, ``padding_mode="reflect"``).
    confidence: false-alarm probability of the probabilistic tests over the whole tensor.
    fail_on: "violation" (default) or "suspicious": what makes ``report.ok`` False.
    worst: worst elements listed per output.
    threads: exact-engine threads (default: every core this process may use).
    device: "cpu" (default) or "cuda": where the exact engine multiplies slices (same verdicts).

    Returns a Report: ``report.ok``, ``report.results[name]`` (``.verdict``,
    ``.max_ratio_deterministic``, ``.consistent_models``, ``.explanation``, ``.worst``, ...),
    ``report.comparisons``, ``report.to_json()`` / ``to_markdown()`` / ``to_latex()`` /
    ``to_csv()`` / ``to_pandas()``.

    Raises ValueError with the CLI's one-line message for bad input (unknown op or preset,
    shapes PyTorch would refuse, an output of the wrong shape, NaN/Inf in x, w or b), TypeError
    for a wrong type.

    Example:

        r = roundoff.check("linear", x, W, b, declared="f32",
                           outputs={"F.linear": F.linear(x, W, b), "matmul_add": x @ W.T + b})
        assert r.ok, r
        r.comparisons[0].differing      # thousands of elements differ ...
        r.comparisons[0].verdict        # ... and that is "consistent": expected rounding
    """
    spec, given = op_spec(op, dict(stride=stride, padding=padding, dilation=dilation,
                                   groups=groups, output_padding=output_padding,
                                   padding_mode=padding_mode))
    if not isinstance(declared, str):
        raise TypeError(f"declared: expected a preset name (str), got {type(declared).__name__}")
    model = _core.parse_model(declared)
    confidence = float_arg("confidence", confidence)
    _core.check_confidence(confidence)
    fail = _fail_on(fail_on)
    n_worst = _int_arg("worst", worst)
    n_threads = threads_arg(threads)
    dev = device_arg(device)
    named = _outputs(outputs)
    xt, wt, bt = _operands(x, w, b)
    out_shape = _core.output_shape(spec, xt, wt, bt)
    ys = [(name, model, as_tensor(y, f"outputs[{name!r}]", False), {})
          for name, y in named.items()]

    params: List[Any] = [("input_shape", list(xt.shape)), ("input_format", xt.format),
                         ("weight_shape", list(wt.shape)), ("weight_format", wt.format)]
    if bt is not None:
        params += [("bias_shape", list(bt.shape)), ("bias_format", bt.format)]
    params += list(given.items())
    params += [("output_shape", list(out_shape)), ("declared", model),
               ("confidence", float(confidence))]
    pairs = [(i, j) for i in range(len(ys)) for j in range(i + 1, len(ys))]
    core = _core.judge(spec, xt, wt, bt, ys, pairs, float(confidence), n_worst, n_threads,
                       "check", params, [], dev, True)
    return Report(core, fail)


from . import testing  # noqa: E402  (roundoff.testing.assert_rounding_consistent)
