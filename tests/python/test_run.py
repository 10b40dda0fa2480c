"""roundoff.run: the CLI's `roundoff run`, with the torch implementations run through the
installed torch."""

import pytest

import roundoff
from conftest import torch


def test_backends_lists_the_registry():
    names = [b["name"] for b in roundoff.backends()]
    assert "torch.cpu.linear.f32" in names and "naive.cpu.pairwise.f64" in names
    by = {b["name"]: b for b in roundoff.backends()}
    assert by["blas.cpu.sgemm.f32"]["available"] and by["blas.cpu.sgemm.f32"]["declared"] == "f32"
    assert not by["cublas.cuda.sgemm.tf32"]["available"]
    assert by["cublas.cuda.sgemm.tf32"]["reason"].startswith("built without CUDA")
    assert by["torch.cpu.linear.f32"]["available"] == (torch is not None)
    assert "linear" in by["torch.cpu.matmul_add.f32"]["ops"]


def test_run_torch_cpu_linear(need_torch):
    r = roundoff.run("linear", impl="torch.cpu.*", batch=8, in_features=512, out_features=64,
                     threads=2)
    assert r.command == "run" and r.params["threads"] == 2
    names = list(r.results)
    assert names == [b["name"] for b in roundoff.backends()
                     if b["name"].startswith("torch.cpu.") and "linear" in b["ops"]]
    for res in r:
        assert res.verdict == "consistent", (res.name, res.explanation)
        assert res.declared == res.name.rsplit(".", 1)[1]
        assert res.source["device"] == "cpu" and res.source["thread_library"] == "libtorch"
        assert res.source["threads"] == 2
    bf16 = r.results["torch.cpu.linear.bf16"].source["notes"]
    assert bf16.endswith("input elements rounded to bf16 before the run")
    # each implementation against the first one declaring the same model
    assert {(c.a, c.b) for c in r.comparisons} >= {
        ("torch.cpu.linear.f32", "torch.cpu.matmul_add.f32"),
        ("torch.cpu.linear.f32", "torch.cpu.addmm.f32")}
    assert r.ok


def test_run_cuda_backends_are_skipped_without_a_gpu(need_torch):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present (tests/python/test_tensors.py runs them)")
    r = roundoff.run("linear", impl="*.cuda.*", batch=2, in_features=8, out_features=4)
    assert all(res.verdict == "skipped" for res in r)
    assert r.results["torch.cuda.linear.tf32"].explanation.startswith("unavailable: ")
    assert r.results["torch.cuda.linear.tf32"].max_abs_error is None
    assert r.ok


@pytest.mark.parametrize("op,kwargs", [
    ("conv2d", dict(padding="same", padding_mode="reflect", groups=2)),
    ("conv1d", dict(stride=2, padding=1, dilation=2, padding_mode="circular")),
    ("conv_transpose2d", dict(stride=(2, 1), padding=1, output_padding=(1, 0))),
    ("matmul", {}),
    ("addmm", {}),
    ("bmm", {}),
])
def test_run_torch_cpu_ops(op, kwargs, need_torch):
    sizes = (dict(batch=2, in_channels=4, out_channels=4, size=9) if op.startswith("conv")
             else dict(m=4, k=96, n=8) if op != "bmm" else dict(batch=2, m=3, k=64, n=5))
    r = roundoff.run(op, impl=["torch.cpu.*.f32", "torch.cpu.*.f64", "naive.cpu.pairwise.f64"],
                     threads=1, **sizes, **kwargs)
    assert len(r) >= 2
    for res in r:
        assert res.verdict == "consistent", (res.name, res.explanation)
    # f64 torch against the naive f64 loop: the same model, compared
    assert any(c.b == "naive.cpu.pairwise.f64" for c in r.comparisons)


def test_run_declared_override_and_compare_all():
    r = roundoff.run("linear", impl=["naive.cpu.*"], batch=2, in_features=32, out_features=4,
                     declared="bf16", compare="all", threads=1)
    assert all(res.declared == "bf16" for res in r)
    assert r.params["declared_override"] == "bf16"
    assert len(r.comparisons) == 6


def test_run_is_reproducible_by_seed():
    a = roundoff.run("linear", impl="naive.cpu.sequential.f32", batch=2, in_features=16,
                     out_features=3, seed=5, threads=1)
    b = roundoff.run("linear", impl="naive.cpu.sequential.f32", batch=2, in_features=16,
                     out_features=3, seed=5, threads=1)
    c = roundoff.run("linear", impl="naive.cpu.sequential.f32", batch=2, in_features=16,
                     out_features=3, seed=6, threads=1)
    key = "naive.cpu.sequential.f32"
    assert a.results[key].max_abs_error == b.results[key].max_abs_error
    assert a.results[key].worst == b.results[key].worst
    assert a.results[key].worst != c.results[key].worst
