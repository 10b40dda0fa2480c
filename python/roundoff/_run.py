"""roundoff.run: the CLI's ``roundoff run`` from Python.

Same registry names, same generated inputs (the library's splitmix64 stream), same judging kernel
and report as ``roundoff run`` (src/cli/run.cpp). The C++ extension does not link LibTorch, so
the ``torch.*`` implementations run here, through the installed torch, with the formulation and
precision settings of src/backends/torch_backends.cpp; the other implementations (eigen, blas,
naive) are the C++ ones. cuBLAS ones are listed as unavailable: the extension has no CUDA.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _core
from ._args import (IntOrTuple, as_tensor, device_arg, float_arg, int_arg, op_spec, str_arg,
                    threads_arg)
from ._report import Report

_SizeArg = Optional[Union[int, Tuple[int, ...]]]

_FAMILY = {"linear": "linear", "matmul": "matmul", "addmm": "matmul", "bmm": "bmm"}
# Size arguments each op family takes (src/cli/shape_flags.cpp).
_TAKES = {
    "linear": ("batch", "in_features", "out_features"),
    "matmul": ("m", "k", "n"),
    "bmm": ("batch", "m", "k", "n"),
    "conv": ("batch", "in_channels", "out_channels", "size", "kernel_size"),
}
_SIZE_ARGS = ("batch", "in_features", "out_features", "m", "k", "n", "in_channels",
              "out_channels", "size", "kernel_size")


def _family(op: str) -> str:
    return _FAMILY.get(op, "conv")


def _torch():
    try:
        import torch

        return torch
    except ImportError:
        return None


# --- the torch implementations -----------------------------------------------------------

_TORCH_DTYPES = {"f64": "float64", "f32": "float32", "bf16": "bfloat16", "f16": "float16"}


def _torch_availability(entry: Dict[str, Any]) -> Tuple[bool, str]:
    torch = _torch()
    if torch is None:
        return False, "torch is not installed"
    if entry["device"] == "cuda":
        if not torch.backends.cuda.is_built():
            return False, "torch built without CUDA"
        if not torch.cuda.is_available():
            return False, "no CUDA device"
    return True, ""


class _precision:
    """fp32 precision knobs for one run, restored afterwards (torch_backends.cpp's
    precision_guard): oneDNN never downcasts fp32; CUDA fp32 matmul/conv is TF32 only for the
    tf32 implementations; f16/bf16 cuBLAS reductions stay in f32."""

    def __init__(self, torch: Any, cuda: bool, tf32: bool) -> None:
        self.torch, self.cuda, self.tf32 = torch, cuda, tf32
        self.saved: List[Tuple[Any, str, Any]] = []

    def _set(self, obj: Any, attr: str, value: Any) -> bool:
        try:
            old = getattr(obj, attr)
            setattr(obj, attr, value)
            self.saved.append((obj, attr, old))
            return True
        except (AttributeError, RuntimeError, ValueError):  # an older torch: knob absent
            return False

    def __enter__(self) -> "_precision":
        b = self.torch.backends
        self._set(b.mkldnn.matmul, "fp32_precision", "ieee")
        self._set(b.mkldnn.conv, "fp32_precision", "ieee")
        if self.cuda:
            p = "tf32" if self.tf32 else "ieee"
            if not (self._set(b.cuda.matmul, "fp32_precision", p)
                    and self._set(b.cudnn.conv, "fp32_precision", p)):
                # a torch without the fp32_precision API (or refusing it after the legacy
                # setters were used): the legacy switches
                self._set(b.cuda.matmul, "allow_tf32", self.tf32)
                self._set(b.cudnn, "allow_tf32", self.tf32)
            self._set(b.cuda.matmul, "allow_fp16_reduced_precision_reduction", False)
            self._set(b.cuda.matmul, "allow_bf16_reduced_precision_reduction", False)
        return self

    def __exit__(self, *exc: Any) -> None:
        for obj, attr, old in reversed(self.saved):
            try:
                setattr(obj, attr, old)
            except (AttributeError, RuntimeError, ValueError):
                pass


def _conv(torch: Any, op: str, X: Any, W: Any, B: Any, conv: Dict[str, Any]) -> Any:
    F = torch.nn.functional
    dims = int(op[-2])
    stride = conv.get("stride") or 1
    dilation = conv.get("dilation") or 1
    groups = conv.get("groups") or 1
    padding = conv.get("padding")
    padding = 0 if padding is None else padding
    if op.startswith("conv_transpose"):
        fn = getattr(F, op)
        return fn(X, W, B, stride, padding, conv.get("output_padding") or 0, groups, dilation)
    fn = getattr(F, op)
    mode = conv.get("padding_mode") or "zeros"
    if mode == "zeros":
        return fn(X, W, B, stride, padding, dilation, groups)
    # As nn.ConvNd does for a non-zeros padding_mode: F.pad, then a convolution with padding 0.
    ks = list(W.shape[2:])
    dil = [dilation] * dims if isinstance(dilation, int) else list(dilation)
    if dims > 1 and len(dil) == 1:
        dil = dil * dims
    pads: List[Tuple[int, int]] = []
    for i in range(dims):
        if padding == "same":
            total = dil[i] * (ks[i] - 1)
            pads.append((total // 2, total - total // 2))
        elif padding == "valid":
            pads.append((0, 0))
        else:
            p = [padding] * dims if isinstance(padding, int) else list(padding)
            p = p * dims if len(p) == 1 else p
            pads.append((p[i], p[i]))
    flat: List[int] = []
    for left, right in reversed(pads):  # F.pad wants the last dim first
        flat += [left, right]
    return fn(F.pad(X, flat, mode=mode), W, B, stride, 0, dilation, groups)


def _torch_compute(torch: Any, op: str, formulation: str, X: Any, W: Any, B: Any,
                   conv: Dict[str, Any]) -> Any:
    F = torch.nn.functional

    def plus_bias(y: Any) -> Any:
        return y + B if B is not None else y

    if op == "linear":
        if formulation == "linear":
            return F.linear(X, W, B)
        if formulation == "matmul_add":
            return plus_bias(torch.matmul(X, W.t()))
        if formulation == "addmm":
            K, lead = W.shape[1], list(X.shape[:-1]) + [W.shape[0]]
            M = 1
            for d in X.shape[:-1]:
                M *= d
            X2 = X.reshape(M, K)
            Y2 = torch.addmm(B, X2, W.t()) if B is not None else torch.mm(X2, W.t())
            return Y2.reshape(lead)
    elif op == "matmul":
        if formulation in ("matmul", "matmul_add"):
            return plus_bias(torch.matmul(X, W))
    elif op == "bmm":
        if formulation == "bmm":
            return torch.baddbmm(B, X, W) if B is not None else torch.bmm(X, W)
    elif op == "addmm":
        if formulation == "addmm":
            return torch.addmm(B, X, W) if B is not None else torch.mm(X, W)
    else:
        return _conv(torch, op, X, W, B, conv)
    raise NotImplementedError(f"no formulation {formulation} for {op}")


def _run_torch(entry: Dict[str, Any], op: str, conv: Dict[str, Any], x: Any, w: Any, b: Any,
               threads: int) -> Tuple[Any, Dict[str, Any]]:
    torch = _torch()
    storage = entry["storage"]
    dtype = getattr(torch, _TORCH_DTYPES[storage])
    cuda = entry["device"] == "cuda"
    # TF32 math only for the implementations named so (torch_backends.cpp: model "tf32"; also
    # any tf32 variant a later registry adds)
    tf32 = entry["format"].startswith("tf32") or entry["declared"].startswith("tf32")
    device = torch.device("cuda", 0) if cuda else torch.device("cpu")
    rounded = 0

    def to_torch(t: Any) -> Any:
        nonlocal rounded
        r, changed = _core.round_to_format(t, storage)  # exact RNE, as backend::run does
        rounded += changed
        return torch.from_numpy(r.numpy().copy()).to(device=device, dtype=dtype)

    X, W = to_torch(x), to_torch(w)
    B = to_torch(b) if b is not None else None
    saved_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with _precision(torch, cuda, tf32):
            if cuda:
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            with torch.no_grad():
                Y = _torch_compute(torch, op, entry["formulation"], X, W, B, conv)
            if cuda:
                torch.cuda.synchronize()
            seconds = time.perf_counter() - t0
        used = torch.get_num_threads()
    finally:
        torch.set_num_threads(saved_threads)
    if Y.dtype != dtype:
        raise RuntimeError(f"{entry['name']}: torch returned dtype {Y.dtype}")
    notes = ""
    if cuda:
        notes = ("fp32_precision cuda matmul/conv = tf32" if tf32 else
                 "fp32_precision cuda matmul/conv = ieee; reduced-precision f16/bf16 cuBLAS "
                 "reductions off")
    info = {"device": "cuda:0" if cuda else "cpu", "thread_library": "libtorch",
            "threads": used, "seconds": seconds, "inputs_rounded": rounded, "notes": notes}
    return as_tensor(Y, entry["name"], False), info


# --- the registry as Python sees it ------------------------------------------------------

def backends() -> List[Dict[str, Any]]:
    """Every implementation ``run`` knows, as ``roundoff backends --format json`` lists them:
    ``{name, library, device, formulation, format, declared, ops, available, reason,
    storage}``. ``torch.*`` ones run through the installed torch (available when torch imports,
    the CUDA ones when it sees a GPU); cuBLAS ones are unavailable (the extension has no
    CUDA)."""
    out = []
    for entry in _core.backends():
        if entry["library"] == "torch":
            entry["available"], entry["reason"] = _torch_availability(entry)
        out.append(entry)
    return out


def _size(name: str, value: Any, minimum: int) -> int:
    v = int_arg(name, value)
    if v < minimum:
        raise ValueError(f"--{name.replace('_', '-')}: Value {v} not in range "
                         f"{'[0 - inf)' if minimum == 0 else '[1 - inf)'}")
    return v


def _size_list(name: str, value: Any, dims: int, default: int) -> List[int]:
    if value is None:
        return [default] * dims
    items = list(value) if isinstance(value, (tuple, list)) else [value]
    v = [int_arg(name, i) for i in items]
    if not v or any(i < 1 for i in v):
        raise ValueError(f"--{name.replace('_', '-')}: expected a positive integer or a "
                         f"comma-separated list like 32,24, got '{','.join(map(str, v))}'")
    if len(v) == 1:
        v = v * dims
    if len(v) != dims:
        raise ValueError(f"--{name.replace('_', '-')}: {len(v)} values for a {dims}-d "
                         "convolution")
    return v


def _shapes(op: str, spec: Any, groups: int, sizes: Dict[str, Any], bias: bool):
    """src/cli/shape_flags.cpp's resolve_shape and shape_params, with the same defaults."""
    fam = _family(op)
    for name, value in sizes.items():
        if value is not None and name not in _TAKES[fam]:
            raise ValueError(f"--{name.replace('_', '-')}: not a size of {op} "
                             "(see help(roundoff.run))")

    def get(name: str, default: int, minimum: int = 0) -> int:
        v = sizes.get(name)
        return default if v is None else _size(name, v, minimum)

    if fam == "linear":
        bt, k, n = get("batch", 32), get("in_features", 2048), get("out_features", 512)
        xs, ws, bs, has_bias = [bt, k], [n, k], [n], bias
        params = [("batch", bt), ("in_features", k), ("out_features", n)]
    elif fam == "matmul":
        m, k, n = get("m", 32), get("k", 2048), get("n", 512)
        xs, ws, bs = [m, k], [k, n], [n]
        has_bias = op == "addmm"
        if not bias and op == "addmm":
            raise ValueError("--no-bias: addmm always adds its input (the bias)")
        params = [("m", m), ("k", k), ("n", n)]
    elif fam == "bmm":
        bt, m, k, n = get("batch", 4), get("m", 32), get("k", 512), get("n", 128)
        xs, ws, bs, has_bias = [bt, m, k], [bt, k, n], [], False
        params = [("batch", bt), ("m", m), ("k", k), ("n", n)]
    else:
        d = spec.spatial_dims
        bt = get("batch", 8)
        ci, co = get("in_channels", 16, 1), get("out_channels", 32, 1)
        size = _size_list("size", sizes.get("size"), d, 16 if d == 3 else 32)
        ks = _size_list("kernel_size", sizes.get("kernel_size"), d, 3)
        if ci % groups or co % groups:
            raise ValueError(f"--groups {groups}: must divide --in-channels {ci} and "
                             f"--out-channels {co}")
        xs = [bt, ci] + size
        ws = ([ci, co // groups] if spec.transposed else [co, ci // groups]) + ks
        bs, has_bias = [co], bias
        params = [("batch", bt), ("in_channels", ci), ("out_channels", co), ("size", size),
                  ("kernel_size", ks)]
    params.append(("bias", has_bias))
    return xs, ws, (bs if has_bias else None), params


def _pairs(declared: List[str], compare: str) -> List[Tuple[int, int]]:
    """run.cpp's pair selection: first (each against the first output declaring the same
    model), same-model, all, none."""
    pairs = []
    for i in range(len(declared)):
        first = declared[i] not in declared[:i]
        for j in range(i + 1, len(declared)):
            same = declared[i] == declared[j]
            if (compare == "all" or (compare == "same-model" and same)
                    or (compare == "first" and same and first)):
                pairs.append((i, j))
    return pairs


def run(
    op: str = "linear",
    *,
    impl: Union[None, str, Sequence[str]] = None,
    batch: Optional[int] = None,
    in_features: Optional[int] = None,
    out_features: Optional[int] = None,
    m: Optional[int] = None,
    k: Optional[int] = None,
    n: Optional[int] = None,
    in_channels: Optional[int] = None,
    out_channels: Optional[int] = None,
    size: _SizeArg = None,
    kernel_size: _SizeArg = None,
    bias: bool = True,
    stride: Optional[IntOrTuple] = None,
    padding: Optional[Union[str, IntOrTuple]] = None,
    dilation: Optional[IntOrTuple] = None,
    groups: Optional[int] = None,
    output_padding: Optional[IntOrTuple] = None,
    padding_mode: Optional[str] = None,
    threads: Optional[int] = None,
    seed: int = 0,
    dist: str = "normal",
    dtype: str = "f32",
    declared: Optional[str] = None,
    compare: str = "first",
    confidence: float = 1e-6,
    fail_on: str = "violation",
    worst: int = 5,
    device: Optional[str] = None,
) -> Report:
    """Run implementations of ``op`` on generated inputs and judge each against the exact result.

    The Python ``roundoff run <op>``; ``roundoff.run("linear")`` is the seed case (x 32x2048,
    W 512x2048, b 512, f32 standard normal, seed 0). Each implementation is judged with its own
    declared arithmetic; pairs are compared as ``compare`` says.

    impl: implementation names or shell globs (``"torch.cpu.*"``), one or a list; default
        every implementation that runs ``op`` (``roundoff.backends()`` lists them). Unavailable
        ones are reported with verdict "skipped" and the reason.
    batch, in_features, out_features (linear); m, k, n (matmul, addmm; bmm with batch);
    batch, in_channels, out_channels, size, kernel_size (conv ops; size/kernel_size an int or
        one per spatial dim): the problem sizes, with the CLI's defaults. bias=False drops the
        bias (not for addmm).
    stride, padding, dilation, groups, output_padding, padding_mode: conv ops, as in PyTorch.
    threads: threads of each implementation's library and of the exact engine (default: every
        core this process may use; the CLI's default is 1).
    seed, dist ("normal", "uniform", "positive"), dtype ("f32", "f64", "f16", "bf16"): the
        inputs, drawn exactly as ``roundoff run --seed --dist --dtype`` draws them.
    declared: judge every implementation against this preset instead of its own.
    compare: "first" (default), "same-model", "all" or "none".
    confidence, fail_on, worst: as in ``check``.
    device: "cpu" (default) or "cuda": where the exact engine multiplies slices (``--device``).

    The torch implementations run in this process through the installed torch (the extension
    does not link LibTorch), with the same formulations (``F.linear``, ``x @ W.T + b``,
    ``addmm``, ``F.conv2d``, ...) and precision settings as the CLI's LibTorch backends; a torch
    error in one of them makes it "skipped" with the error, the others still run.
    """
    spec, given = op_spec(op, dict(stride=stride, padding=padding, dilation=dilation,
                                   groups=groups, output_padding=output_padding,
                                   padding_mode=padding_mode))
    op = spec.name
    n_groups = 1 if groups is None else int_arg("groups", groups)
    xs, ws, bs, params = _shapes(
        op, spec, n_groups,
        dict(batch=batch, in_features=in_features, out_features=out_features, m=m, k=k, n=n,
             in_channels=in_channels, out_channels=out_channels, size=size,
             kernel_size=kernel_size),
        bool(bias))
    for name, value in (("dist", dist), ("dtype", dtype), ("compare", compare),
                        ("fail_on", fail_on)):
        str_arg(name, value)
    if declared is not None:
        str_arg("declared", declared)
    seed = int_arg("seed", seed)
    if not 0 <= seed < 2**64:
        raise ValueError(f"--seed: {seed} is not an unsigned 64-bit integer")
    globs = [impl] if isinstance(impl, str) else list(impl or [])
    for g in globs:
        str_arg("impl", g)
    if dist not in ("normal", "uniform", "positive"):
        raise ValueError(f"--dist: unknown distribution '{dist}' (known: normal, uniform, "
                         "positive)")
    override = None if declared is None else _core.parse_model(declared)
    confidence = float_arg("confidence", confidence)
    _core.check_confidence(confidence)
    if fail_on not in ("violation", "suspicious"):
        raise ValueError(f"--fail-on: {fail_on} not in {{violation,suspicious}}")
    if compare not in ("first", "same-model", "all", "none"):
        raise ValueError(f"--compare: {compare} not in {{first,same-model,all,none}}")
    n_worst = int_arg("worst", worst)
    n_threads = threads_arg(threads)
    dev = device_arg(device)
    if dev == "cuda":
        _core.check_device(dev)  # refuse before running anything

    registry = {e["name"]: e for e in backends()}
    chosen = [registry[name] for name in _core.select_backends(globs)
              if op in registry[name]["ops"]]
    if not chosen:
        raise ValueError(f"--impl {' '.join(globs)}: no selected implementation runs {op}")

    x, w, b = _core.generate_inputs(xs, ws, bs, dist, seed, dtype)
    xv, wv = _core.view_tensor(x), _core.view_tensor(w)
    bv = None if b is None else _core.view_tensor(b)
    _core.output_shape(spec, xv, wv, bv)  # op arguments against the sizes

    params += list(given.items())
    params += [("input_shape", list(x.shape)), ("weight_shape", list(w.shape))]
    if b is not None:
        params.append(("bias_shape", list(b.shape)))
    params += [("dtype", x.format), ("dist", dist), ("seed", seed),
               ("threads", n_threads), ("confidence", float(confidence))]
    if override is not None:
        params.append(("declared_override", override))

    conv = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                output_padding=output_padding, padding_mode=padding_mode)
    outs: List[Any] = []
    skipped: List[Tuple[str, str, str]] = []
    for entry in chosen:
        model = override or entry["declared"]
        if not entry["available"]:
            skipped.append((entry["name"], model, "unavailable: " + entry["reason"]))
            continue
        if entry["library"] == "torch":
            try:
                y, info = _run_torch(entry, op, conv, x, w, b, n_threads)
            except Exception as e:  # noqa: BLE001 - torch refusing a case is that backend's
                skipped.append((entry["name"], model, f"failed: {type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}"))
                continue
        else:
            y, info = _core.run_backend(entry["name"], spec, x, w, b, n_threads)
            y = _core.view_tensor(y)
        notes = info.get("notes", "")
        if info.get("inputs_rounded", 0) > 0:
            notes += ("; " if notes else "") + (f"{info['inputs_rounded']} input elements "
                                                f"rounded to {entry['storage']} before the run")
        source = {"device": info["device"], "thread_library": info["thread_library"],
                  "threads": info["threads"], "seconds": info["seconds"], "notes": notes}
        outs.append((entry["name"], model, y, source))

    pairs = _pairs([o[1] for o in outs], compare)
    core = _core.judge(spec, xv, wv, bv, outs, pairs, float(confidence), n_worst, n_threads, "run",
                       params, skipped, dev)
    return Report(core, fail_on)
