"""The package as installed: stubs, help texts, version, optional imports."""

import importlib.resources
import pydoc
import subprocess
import sys

import roundoff


def test_stubs_ship_with_the_package():
    files = importlib.resources.files("roundoff")
    stub = files / "_core.pyi"
    assert stub.is_file()
    text = stub.read_text()
    for name in ("def judge(", "def exact(", "def as_tensor(", "class Results", "class Tensor"):
        assert name in text
    assert (files / "py.typed").is_file()


def test_help_is_useful():
    text = pydoc.render_doc(roundoff.check, renderer=pydoc.plaintext)
    for word in ("declared", "outputs", "stride", "padding", "Report", "ValueError", "f32"):
        assert word in text
    assert "assert_close" in pydoc.render_doc(roundoff.testing, renderer=pydoc.plaintext)
    for f in (roundoff.exact, roundoff.run, roundoff.testing.assert_rounding_consistent,
              roundoff.Report, roundoff.backends):
        assert len(f.__doc__) > 200, f


def test_version_and_names():
    assert roundoff.__version__.count(".") == 2
    assert roundoff.ops()[:4] == ["linear", "matmul", "bmm", "addmm"]
    assert roundoff.presets()[:5] == ["f64", "f32", "tf32-rne", "tf32-rna", "tf32"]
    assert "bf16-acc-bf16" in roundoff.presets()


def test_import_needs_neither_numpy_nor_torch():
    code = ("import sys; sys.modules['numpy'] = None; sys.modules['torch'] = None; "
            "import roundoff; print(roundoff.presets()[0])")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "f64"


def test_default_threads_are_all_cores():
    import os

    from roundoff._args import default_threads

    expected = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    assert default_threads() == expected


def test_docstring_examples_run():
    import doctest

    result = doctest.testmod(roundoff, verbose=False)
    assert result.attempted >= 3 and result.failed == 0
