"""Shared fixtures of the Python package's tests (run on an installed build: scripts/test)."""

import json
import os
import pathlib
import subprocess

import numpy as np
import pytest

import roundoff

REPO = pathlib.Path(__file__).resolve().parents[2]

try:
    import torch
except ImportError:  # the package works without torch; torch tests skip
    torch = None


def cli_path():
    """The roundoff command to compare with: $ROUNDOFF_CLI, else build/src/cli/roundoff."""
    p = os.environ.get("ROUNDOFF_CLI") or str(REPO / "build" / "src" / "cli" / "roundoff")
    return p if os.access(p, os.X_OK) else None


@pytest.fixture(scope="session")
def cli():
    p = cli_path()
    if p is None:
        pytest.skip("the roundoff command is not built (build/src/cli/roundoff; or set ROUNDOFF_CLI)")

    def call(*args, expect=(0, 1)):
        r = subprocess.run([p, *map(str, args)], capture_output=True, text=True, timeout=300)
        assert r.returncode in expect, (r.returncode, r.stderr)
        return r

    call.path = p
    return call


@pytest.fixture
def cli_json(cli):
    def run(*args):
        return json.loads(cli(*args, "--format", "json").stdout)

    return run


@pytest.fixture
def need_torch():
    if torch is None:
        pytest.skip("torch is not installed")
    return torch


def rng(seed=0):
    return np.random.default_rng(seed)


def tf32_round(a):
    """Round float32 values to TF32 (10 significand bits), nearest-even, by bit masking."""
    a = np.ascontiguousarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    lsb = (u >> 13) & 1
    u = (u + 0xFFF + lsb) & ~np.uint64(0x1FFF)
    return u.astype(np.uint32).view(np.float32)


def f32_dot(x, w, b=None):
    """x @ w.T (+ b) with every product and sum rounded to float32, sequentially."""
    x = x.astype(np.float32)
    w = w.astype(np.float32)
    acc = np.zeros((x.shape[0], w.shape[0]), dtype=np.float32)
    for k in range(x.shape[1]):
        acc = (acc + np.outer(x[:, k], w[:, k]).astype(np.float32)).astype(np.float32)
    if b is not None:
        acc = (acc + b.astype(np.float32)).astype(np.float32)
    return acc
