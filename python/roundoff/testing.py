"""Assertions for test suites: is this output explained by rounding?

``assert_rounding_consistent`` replaces ``torch.testing.assert_close`` (or
``numpy.testing.assert_allclose``) with a guessed tolerance: instead of ``rtol``/``atol``, name
the arithmetic the implementation computes in, and roundoff checks the output against the op's
exact result with rigorous bounds for that arithmetic.

    # before: a tolerance someone guessed
    torch.testing.assert_close(F.linear(x, W, b), expected, rtol=1e-4, atol=1e-5)
    # after: the bound f32 rounding implies, element by element
    roundoff.testing.assert_rounding_consistent(F.linear(x, W, b), "linear", x, W, b,
                                                declared="f32")
"""

from __future__ import annotations

from typing import Any, Optional

from ._args import IntOrTuple

__all__ = ["assert_rounding_consistent"]


def _num(v: Any) -> str:
    return "-" if v is None else f"{v:.3g}"


def assert_rounding_consistent(
    actual: Any,
    op: str,
    x: Any,
    w: Any,
    b: Any = None,
    *,
    declared: str,
    stride: Optional[IntOrTuple] = None,
    padding: Any = None,
    dilation: Optional[IntOrTuple] = None,
    groups: Optional[int] = None,
    output_padding: Optional[IntOrTuple] = None,
    padding_mode: Optional[str] = None,
    fail_on: str = "suspicious",
    confidence: float = 1e-6,
    threads: Optional[int] = None,
    msg: Optional[str] = None,
) -> None:
    """Assert that ``actual`` is ``op(x, w, b)`` computed in the ``declared`` arithmetic.

    Raises AssertionError when roundoff's verdict on ``actual`` is a violation (no rounding in
    ``declared`` produces it) or, with the default ``fail_on="suspicious"``, suspicious (beyond
    the probabilistic bound, or explained only by a coarser arithmetic than declared, e.g. TF32
    inputs behind an f32 claim). The message says what to act on: the verdict and roundoff's
    explanation, the worst element (index, observed, exact, error and bound), how many elements
    are beyond the bounds, and which arithmetics would explain the output.

    actual: the output to judge (numpy array or torch tensor, any dtype roundoff reads).
    op, x, w, b and the conv arguments: as for ``roundoff.check``.
    declared: the arithmetic ``actual`` claims: "f64", "f32", "tf32", "f16", "bf16",
        "f16-acc16".
    fail_on: "suspicious" (default: a test should also fail on what is only probably wrong; the
        false-alarm probability is ``confidence``) or "violation".
    msg: text put before roundoff's message.

    Bad arguments raise ValueError / TypeError, as ``roundoff.check`` does, never
    AssertionError.
    """
    from . import check

    report = check(op, x, w, b, outputs={"actual": actual}, declared=declared, stride=stride,
                   padding=padding, dilation=dilation, groups=groups,
                   output_padding=output_padding, padding_mode=padding_mode,
                   confidence=confidence, fail_on=fail_on, worst=1, threads=threads)
    if report.ok:
        return
    r = report.results["actual"]
    model = r.declared
    lines = [f"{report.op} output is not explained by rounding in {model}: "
             f"verdict {r.verdict}.", f"roundoff: {r.explanation}"]
    if r.worst:
        e = r.worst[0]
        err = abs(e.observed - e.exact)
        ratio = err / e.bound if e.bound > 0 else float("inf")
        lines.append(
            f"Worst element at index {e.index}: observed {e.observed!r}, exact {e.exact!r}, "
            f"|observed - exact| {err:.3g}, bound {e.bound:.3g} ({ratio:.3g} x the bound)."
        )
    counts = r.counts if "counts" in r.keys() else {}
    if counts:
        lines.append(
            f"Elements beyond the deterministic bound: {counts.get('beyond_deterministic', 0)} "
            f"of {r.elements}; beyond only the probabilistic bound: "
            f"{counts.get('beyond_probabilistic', 0)}; special-value mismatches: "
            f"{counts.get('special_mismatch', 0)}."
        )
    lines.append(
        f"Largest |observed - exact|: {_num(r.max_abs_error)} (relative {_num(r.max_rel_error)}); "
        f"error/bound {_num(r.max_ratio_deterministic)}, error/probabilistic bound "
        f"{_num(r.max_ratio_probabilistic)}."
    )
    if r.consistent_models:
        lines.append(f"Arithmetics that explain it: {', '.join(r.consistent_models)} "
                     f"(declared {model}).")
    else:
        lines.append("No arithmetic preset explains it: a bug, not rounding (or inputs that "
                     "differ from the ones given).")
    text = "\n".join(lines)
    raise AssertionError(f"{msg}\n{text}" if msg else text)
