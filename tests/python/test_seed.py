"""The seed question: F.linear(x, W, b) and x @ W.T + b disagree; bug or rounding?"""

import csv
import io
import json

import numpy as np
import pytest

import roundoff
from conftest import torch


@pytest.fixture(scope="module")
def seed_case():
    if torch is None:
        pytest.skip("torch is not installed")
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 2048, generator=g)
    W = torch.randn(512, 2048, generator=g)
    b = torch.randn(512, generator=g)
    outputs = {"F.linear": F.linear(x, W, b), "matmul_add": x @ W.T + b}
    report = roundoff.check("linear", x, W, b, outputs=outputs, declared="f32")
    return x, W, b, outputs, report


def test_seed_case_is_consistent_rounding(seed_case):
    x, W, b, outputs, r = seed_case
    assert r.ok
    for name in ("F.linear", "matmul_add"):
        res = r.results[name]
        assert res.verdict == "consistent", res.explanation
        assert res.declared == "f32"
        assert res.consistent_models[0] == "f32"
        assert 0 < res.max_ratio_deterministic < 0.01
        assert res.elements == 32 * 512
        assert len(res.worst) == 5
        assert res.explanation.startswith("consistent with rounding in f32")
    (c,) = r.comparisons
    assert (c.a, c.b) == ("F.linear", "matmul_add")
    assert c.verdict == "consistent"
    differing = int((outputs["F.linear"] != outputs["matmul_add"]).sum())
    assert c.differing == differing > 1000  # they do differ, in thousands of elements
    assert c.max_abs_difference == float((outputs["F.linear"] - outputs["matmul_add"]).abs().max())


def test_seed_case_assertion_passes(seed_case):
    x, W, b, outputs, _ = seed_case
    for y in outputs.values():
        roundoff.testing.assert_rounding_consistent(y, "linear", x, W, b, declared="f32")


def test_worst_elements_are_the_real_numbers(seed_case):
    x, W, b, outputs, r = seed_case
    y = outputs["F.linear"].numpy()
    exact = roundoff.exact("linear", x, W, b)
    for e in r.results["F.linear"].worst:
        assert isinstance(e.index, tuple) and len(e.index) == 2
        assert e.observed == y[e.index]
        assert e.exact == exact[e.index]
        assert abs(e.observed - e.exact) <= e.bound


def test_renderings_are_the_clis(seed_case):
    r = seed_case[4]
    doc = json.loads(r.to_json())
    assert doc["schema_version"] == 1 and doc["command"] == "check" and doc["op"] == "linear"
    assert [x["name"] for x in doc["results"]] == list(r.results)
    assert r.to_dict()["results"][0]["max_abs_error"] == r.results["F.linear"].max_abs_error
    assert r.params["declared"] == "f32" and r.params["output_shape"] == [32, 512]
    assert r.params["input_format"] == "f32"
    assert r.to_markdown().startswith("#")
    assert "\\toprule" in r.to_latex()
    assert str(r) == r.to_table() and "F.linear" in str(r)
    assert "2 consistent" in repr(r)
    rows = list(csv.reader(io.StringIO(r.to_csv(), newline="")))
    assert rows[0][:5] == ["kind", "name", "other", "declared", "verdict"]
    assert [row[0] for row in rows[1:]] == ["result", "result", "comparison"]


def test_to_pandas_has_the_csv_columns(seed_case):
    pd = pytest.importorskip("pandas")
    r = seed_case[4]
    frame = r.to_pandas()
    header = next(csv.reader(io.StringIO(r.to_csv(), newline="")))
    assert list(frame.columns) == header
    assert list(frame["kind"]) == ["result", "result", "comparison"]
    assert frame.loc[0, "max_abs_error"] == r.results["F.linear"].max_abs_error
    assert frame.loc[2, "differing"] == r.comparisons[0].differing
    assert pd.isna(frame.loc[2, "max_abs_error"])


def test_records_are_read_only_and_list_their_fields(seed_case):
    res = seed_case[4].results["F.linear"]
    with pytest.raises(AttributeError):
        res.verdict = "consistent"
    with pytest.raises(AttributeError, match="no field 'nonexistent'"):
        res.nonexistent
    assert "max_ratio_probabilistic" in dir(res)
    assert res["verdict"] == res.verdict
    assert tuple(res.to_dict()["worst"][0]["index"]) == res.worst[0].index
