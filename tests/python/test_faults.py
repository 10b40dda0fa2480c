"""Planted faults are caught, with the right explanation; and assert_rounding_consistent says
what to act on."""

import numpy as np
import pytest

import roundoff
from conftest import f32_dot, rng, tf32_round


@pytest.fixture(scope="module")
def linear_case():
    g = rng(1)
    x = g.standard_normal((16, 256)).astype(np.float32)
    w = g.standard_normal((24, 256)).astype(np.float32)
    b = g.standard_normal(24).astype(np.float32)
    return x, w, b, f32_dot(x, w, b)


def test_a_correct_f32_evaluation_is_consistent(linear_case):
    x, w, b, y = linear_case
    r = roundoff.check("linear", x, w, b, outputs={"f32": y}, declared="f32")
    assert r.ok and r.results["f32"].verdict == "consistent"
    roundoff.testing.assert_rounding_consistent(y, "linear", x, w, b, declared="f32")


def test_dropped_term_is_a_violation_at_its_element(linear_case):
    x, w, b, y = linear_case
    bad = y.copy()
    bad[3, 17] -= x[3, 100] * w[17, 100]  # one product left out of one sum
    r = roundoff.check("linear", x, w, b, outputs={"dropped": bad}, declared="f32")
    res = r.results["dropped"]
    assert not r.ok
    assert res.verdict == "violation"
    assert res.worst[0].index == (3, 17)
    assert res.counts["beyond_deterministic"] >= 1
    assert "more than any f32 rounding allows" in res.explanation
    assert res.explanation.endswith("this is a bug, not rounding")
    with pytest.raises(AssertionError) as e:
        roundoff.testing.assert_rounding_consistent(bad, "linear", x, w, b, declared="f32")
    text = str(e.value)
    assert "verdict violation" in text
    assert "index (3, 17)" in text
    assert f"observed {float(bad[3, 17])!r}" in text
    assert "beyond the deterministic bound: " in text


def test_tf32_inputs_behind_an_f32_claim_are_caught_and_named(linear_case):
    x, w, b, _ = linear_case
    xt, wt = tf32_round(x), tf32_round(w)
    y = f32_dot(xt, wt, b)  # what a TF32 GEMM computes: rounded inputs, f32 accumulation
    r = roundoff.check("linear", x, w, b, outputs={"tf32": y}, declared="f32")
    res = r.results["tf32"]
    assert res.verdict == "violation", res.explanation  # K = 256: far beyond f32's bound
    # identified with its conversion (tf32_round rounds to nearest even)
    assert res.consistent_models[0] == "tf32-rne" and "f32" not in res.consistent_models
    assert "errors match 10-bit mantissa inputs: TF32 is likely enabled" in res.explanation
    with pytest.raises(AssertionError, match="Arithmetics that explain it: tf32-rne"):
        roundoff.testing.assert_rounding_consistent(y, "linear", x, w, b, declared="f32")
    # declared honestly, it passes
    roundoff.testing.assert_rounding_consistent(y, "linear", x, w, b, declared="tf32")


def test_tf32_inputs_with_a_long_sum_are_suspicious():
    # As tests/cli/verdict_cli_test.cpp: K = 1024, TF32 inputs, products exact, sums in f64,
    # rounded once to f32: within f32's worst-case bound, but not f32 arithmetic: suspicious.
    g = rng(2)
    x = g.standard_normal((8, 1024)).astype(np.float32)
    w = g.standard_normal((64, 1024)).astype(np.float32)
    b = g.standard_normal(64).astype(np.float32)
    y = (tf32_round(x).astype(np.float64) @ tf32_round(w).astype(np.float64).T + b)
    y = y.astype(np.float32)
    r = roundoff.check("linear", x, w, b, outputs={"tf32": y}, declared="f32")
    res = r.results["tf32"]
    assert res.verdict == "suspicious", res.explanation
    assert "tf32" in res.consistent_models and "f32" not in res.consistent_models
    assert res.max_ratio_deterministic <= 1
    assert r.ok  # fail_on="violation", as the CLI's default
    assert not roundoff.check("linear", x, w, b, outputs={"tf32": y}, declared="f32",
                              fail_on="suspicious").ok
    with pytest.raises(AssertionError, match="verdict suspicious"):  # a test's default
        roundoff.testing.assert_rounding_consistent(y, "linear", x, w, b, declared="f32")
    roundoff.testing.assert_rounding_consistent(y, "linear", x, w, b, declared="f32",
                                                fail_on="violation")
    roundoff.testing.assert_rounding_consistent(y, "linear", x, w, b, declared="tf32")


def test_wrong_bias_is_a_violation(linear_case):
    x, w, b, _ = linear_case
    y = f32_dot(x, w, np.roll(b, 1))  # the bias of the neighbouring output
    r = roundoff.check("linear", x, w, b, outputs={"rolled bias": y}, declared="f32")
    res = r.results["rolled bias"]
    assert res.verdict == "violation"
    assert res.consistent_models == []
    assert res.counts["beyond_deterministic"] > 100
    with pytest.raises(AssertionError, match="No arithmetic preset explains it"):
        roundoff.testing.assert_rounding_consistent(y, "linear", x, w, b, declared="f32",
                                                    msg="layer 3")


def test_assertion_message_starts_with_msg(linear_case):
    x, w, b, y = linear_case
    with pytest.raises(AssertionError) as e:
        roundoff.testing.assert_rounding_consistent(y * 1.01, "linear", x, w, b,
                                                    declared="f32", msg="layer 3")
    assert str(e.value).startswith("layer 3\nlinear output is not explained by rounding in f32")


def test_nan_in_an_output_is_judged_not_refused(linear_case):
    x, w, b, y = linear_case
    bad = y.copy()
    bad[0, 0] = np.nan
    r = roundoff.check("linear", x, w, b, outputs={"nan": bad, "ok": y}, declared="f32")
    res = r.results["nan"]
    assert res.verdict == "violation" and res.counts["special_mismatch"] == 1
    assert res.worst[0].index == (0, 0) and np.isnan(res.worst[0].observed)
    assert res.max_abs_error == float("inf")
    assert r.comparisons[0].max_abs_difference == float("inf")


def test_bad_arguments_raise_value_error_not_assertion_error(linear_case):
    x, w, b, y = linear_case
    with pytest.raises(ValueError, match="unknown"):
        roundoff.testing.assert_rounding_consistent(y, "linear", x, w, b, declared="f33")
    with pytest.raises(ValueError, match="shape"):
        roundoff.testing.assert_rounding_consistent(y[:3], "linear", x, w, b, declared="f32")
