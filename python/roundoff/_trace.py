"""roundoff.trace and roundoff.trace_diff: judge every layer of a whole model (docs/python.md,
section "Whole models").

A model is run once under a ``torch.overrides.TorchFunctionMode`` that sees the supported
functional calls (F.linear, F.conv*, F.conv_transpose*, torch.matmul / ``@``, torch.mm,
torch.bmm, torch.baddbmm, torch.addmm), with forward hooks that name each call after the
innermost module running it. Each call is then judged by ``roundoff.check`` against the exact
result of the inputs it actually received, so errors that compound through the network never
blame a later layer.
"""

from __future__ import annotations

import copy
import json
import math
import struct
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _trace_aten

_VERDICT_RANK = {"consistent": 0, "no guarantee": 1, "suspicious": 2, "violation": 3}


def _torch():
    try:
        import torch
    except ImportError as e:  # pragma: no cover
        raise ImportError("roundoff.trace needs torch") from e
    return torch


# --- which functions are captured, and how their arguments bind ------------------------------

_CONV_PARAMS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONVT_PARAMS = ("input", "weight", "bias", "stride", "padding", "output_padding", "groups",
                 "dilation")


def _targets() -> Dict[Any, Tuple[str, Tuple[str, ...]]]:
    """{function: (roundoff op, parameter names)}; keys compare by equality (bound builtins)."""
    torch = _torch()
    F = torch.nn.functional
    T = torch.Tensor
    t: Dict[Any, Tuple[str, Tuple[str, ...]]] = {
        F.linear: ("linear", ("input", "weight", "bias")),
        torch.matmul: ("matmul", ("input", "other")),
        T.matmul: ("matmul", ("input", "other")),
        T.__matmul__: ("matmul", ("input", "other")),
        T.__rmatmul__: ("matmul", ("other", "input")),
        torch.mm: ("matmul", ("input", "other")),
        T.mm: ("matmul", ("input", "other")),
        torch.bmm: ("bmm", ("input", "other")),
        T.bmm: ("bmm", ("input", "other")),
        torch.baddbmm: ("bmm", ("bias", "input", "other")),
        T.baddbmm: ("bmm", ("bias", "input", "other")),
        torch.addmm: ("addmm", ("bias", "input", "other")),
        T.addmm: ("addmm", ("bias", "input", "other")),
    }
    for n in (1, 2, 3):
        t[getattr(torch, f"conv{n}d")] = (f"conv{n}d", _CONV_PARAMS)
        t[getattr(torch, f"conv_transpose{n}d")] = (f"conv_transpose{n}d", _CONVT_PARAMS)
    return t


def _tuple_arg(v: Any) -> Any:
    if isinstance(v, str):
        return v
    if isinstance(v, (list, tuple)):
        return tuple(int(e) for e in v)
    return int(v)


def _copy(t: Any) -> Any:
    return t.detach().to("cpu", copy=True)


class _Call:
    """One captured call: operands as received, its arguments and its output."""

    def __init__(self, name: str, op: str, x: Any, w: Any, b: Any, y: Any, args: Dict[str, Any],
                 device: str, autocast: Optional[Any], source: str,
                 aten: Optional[str] = None) -> None:
        self.name, self.op, self.x, self.w, self.b, self.y = name, op, x, w, b, y
        self.args, self.device, self.autocast, self.source = args, device, autocast, source
        self.aten = aten


def _bind(op: str, params: Tuple[str, ...], args: tuple, kwargs: dict) -> Union[None, str, dict]:
    """The call's operands and conv arguments; None: not a floating-point call; a str: a
    floating-point call roundoff does not judge, and why."""
    torch = _torch()
    bound = dict(zip(params, args))
    for k, v in kwargs.items():
        if k in ("mat1", "batch1"):
            k = "input"
        elif k in ("mat2", "batch2"):
            k = "other"
        elif k == "input" and op in ("addmm", "bmm") and "bias" in params:
            k = "bias"
        bound[k] = v
    x, w = bound.get("input"), bound.get("weight", bound.get("other"))
    b = bound.get("bias")
    for t in (x, w, b):
        if t is not None and not (isinstance(t, torch.Tensor) and t.is_floating_point()):
            return None
    if x is None or w is None:
        return None
    if "out" in bound and bound["out"] is not None:
        return f"{op} with out="
    scale = _trace_aten.scale_check(op, "the kernel", bound.pop("beta", 1),
                                    bound.pop("alpha", 1))
    if isinstance(scale, str):
        return scale
    if scale:  # beta = 0: b is not read
        op, b = ("matmul" if op == "addmm" else op), None
    conv = {k: _tuple_arg(v) for k, v in bound.items()
            if k in ("stride", "padding", "dilation", "groups", "output_padding")}
    return {"op": op, "x": x, "w": w, "b": b, "args": conv}


class _Capture:
    """The function mode, the dispatch mode below it, and the module-name stack.

    The function mode records the supported calls the model's Python code makes. While such a
    call runs, the dispatch mode ignores the aten ops below it (the same product); everywhere
    else it records the aten products (``_trace_aten``): those inside functions the function
    mode cannot look into, such as ``F.multi_head_attention_forward`` and the math backend of
    ``F.scaled_dot_product_attention``."""

    def __init__(self, model: Any) -> None:
        torch = _torch()
        from torch.overrides import TorchFunctionMode
        from torch.utils._python_dispatch import TorchDispatchMode

        self.calls: List[_Call] = []
        # [name, module, inputs, first call index, attention products so far]
        self.stack: List[List[Any]] = []
        self.targets = _targets()
        self.depth = 0  # > 0 while a recorded function call runs
        self.sdpa_scopes: List[List[int]] = []  # attention products so far, per open SDPA call
        self.not_judged: Dict[Tuple[str, str, str], int] = {}
        self.params = _trace_aten.ParameterNames(model)
        self.aten_kinds: Dict[Any, bool] = {}  # op: whether its name can be a product
        sdpa = torch.nn.functional.scaled_dot_product_attention
        capture = self

        class Mode(TorchFunctionMode):
            def __torch_function__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                try:
                    spec = capture.targets.get(func)
                except TypeError:
                    spec = None
                if spec is None:
                    if func is not sdpa:
                        return func(*args, **kwargs)
                    capture.sdpa_scopes.append([0])
                    try:
                        return func(*args, **kwargs)
                    finally:
                        capture.sdpa_scopes.pop()
                capture.depth += 1
                try:
                    out = func(*args, **kwargs)
                finally:
                    capture.depth -= 1
                if isinstance(out, torch.Tensor):
                    capture.record(spec, args, kwargs, out)
                return out

        class Dispatch(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                kwargs = kwargs or {}
                out = func(*args, **kwargs)
                if capture.depth == 0:
                    capture.record_aten(func, args, kwargs, out)
                return out

        self.mode = Mode()
        self.dispatch = Dispatch()
        self.handles: List[Any] = []
        for name, module in model.named_modules():
            self.handles.append(module.register_forward_pre_hook(
                self._pre(name, module), with_kwargs=True))
            self.handles.append(module.register_forward_hook(
                self._post(module), with_kwargs=True, always_call=True))

    def _autocast(self, device: str) -> Optional[Any]:
        torch = _torch()
        try:
            if torch.is_autocast_enabled(device):
                return torch.get_autocast_dtype(device)
        except (TypeError, RuntimeError, AttributeError):
            return None
        return None

    def skip(self, name: str, op: str, reason: str) -> None:
        key = (name, op, reason)
        self.not_judged[key] = self.not_judged.get(key, 0) + 1

    def record(self, spec, args, kwargs, out) -> None:
        op, params = spec
        b = _bind(op, params, tuple(args), kwargs)
        name = self.stack[-1][0] if self.stack else ""
        if isinstance(b, str):
            self.skip(name, op, b)
        if not isinstance(b, dict):
            return
        device = out.device.type
        self.calls.append(_Call(name, b["op"], _copy(b["x"]), _copy(b["w"]),
                                None if b["b"] is None else _copy(b["b"]), _copy(out),
                                b["args"], device, self._autocast(device), "call"))

    def record_aten(self, func, args, kwargs, out) -> None:
        """An aten op outside every recorded function call. Products are named after the
        parameter they multiply (``ParameterNames``); the two parameter-free products of an
        ``F.scaled_dot_product_attention`` call, or the two parameter-free bmm of an
        ``nn.MultiheadAttention`` call, are in order ``q@k`` and ``p@v`` (the softmax runs
        between them as a separate op)."""
        torch = _torch()
        self.params.copied(func, args, out)
        maybe = self.aten_kinds.get(func)
        if maybe is None:
            maybe = self.aten_kinds[func] = _trace_aten.may_be_product(func)
        if not maybe:
            return
        kind = _trace_aten.classify(func, tuple(args), kwargs)
        if kind is None:
            return
        top = self.stack[-1] if self.stack else None
        module_name = top[0] if top is not None else ""
        aten = f"{func.namespace}.{func.overloadpacket.__name__}"
        if isinstance(kind, str):
            self.skip(module_name, aten, kind)
            return
        if not isinstance(out, torch.Tensor):
            self.skip(module_name, aten, "a product whose output is not one tensor")
            return
        name = self.params.name(kind["w"]) or self.params.name(kind["x"])
        if name is None:
            # inside nn.MultiheadAttention only a bmm can be q@k or p@v: its projections are
            # 2-D products, named by their weights (unless those are not parameters)
            counter = self.sdpa_scopes[-1] if self.sdpa_scopes else \
                (top[4] if top is not None and kind["op"] == "bmm" and
                 isinstance(top[1], torch.nn.MultiheadAttention) else None)
            name = module_name
            if counter is not None:
                label = ("q@k", "p@v")[counter[0] % 2]
                counter[0] += 1
                name = f"{module_name}.{label}" if module_name else label
        b = kind["b"]
        self.calls.append(_Call(name, kind["op"], _copy(kind["x"]), _copy(kind["w"]),
                                None if b is None else _copy(b), _copy(out), kind["args"],
                                out.device.type, None, "aten", aten))

    def _pre(self, name, module):
        def hook(mod, args, kwargs):
            self.stack.append([name, module, (args, kwargs), len(self.calls), [0]])
        return hook

    def _post(self, module):
        def hook(mod, args, kwargs, output):
            if not self.stack or self.stack[-1][1] is not module:
                return
            name, _, (a, kw), first, _ = self.stack.pop()
            self._module_level(name, module, a, kw, output, first)
        return hook

    def _module_level(self, name, module, args, kwargs, output, first) -> None:
        """nn.Linear / nn.Conv* / nn.ConvTranspose* are judged at their boundary: the module's
        input, parameters and output (what the next layer receives), when the module made
        exactly one captured call of that op. A forward that alters its inputs, weights or
        result around the functional call is then judged too."""
        torch = _torch()
        nn = torch.nn
        inner = self.calls[first:]
        if len(inner) != 1 or inner[0].name != name:
            return
        call = inner[0]
        if isinstance(module, nn.Linear):
            op = "linear"
        elif isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            op = f"conv{len(module.kernel_size)}d"
        elif isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
            op = f"conv_transpose{len(module.kernel_size)}d"
        else:
            return
        x = args[0] if args else kwargs.get("input")
        w, b = getattr(module, "weight", None), getattr(module, "bias", None)
        if (op != call.op or not isinstance(x, torch.Tensor) or not isinstance(output, torch.Tensor)
                or not isinstance(w, torch.Tensor) or tuple(output.shape) != tuple(call.y.shape)):
            return
        conv_args = dict(call.args)
        if op.startswith("conv") and not op.startswith("conv_t") and \
                getattr(module, "padding_mode", "zeros") != "zeros":
            conv_args["padding"] = _tuple_arg(module.padding)
            conv_args["padding_mode"] = module.padding_mode
        self.calls[first] = _Call(name, op, _copy(x), _copy(w), None if b is None else _copy(b),
                                  _copy(output), conv_args, output.device.type,
                                  call.autocast, "module")

    def close(self) -> None:
        for h in self.handles:
            h.remove()


def _sdpa_arg(sdpa: Any) -> Optional[str]:
    if sdpa is not None and not isinstance(sdpa, str):
        raise TypeError(f"sdpa: expected None or 'math', got {type(sdpa).__name__}")
    if sdpa not in (None, "math"):
        raise ValueError(f"sdpa: expected None (the backend PyTorch selects) or 'math', "
                         f"got {sdpa!r}")
    return sdpa


def _capture(model: Any, inputs: Sequence[Any], kwargs: Dict[str, Any], sdpa: Optional[str]
             ) -> Tuple[List[_Call], Dict[Tuple[str, str, str], int], Any]:
    """(calls, {(name, op, reason): count} of what was seen and not judged, the output)."""
    import contextlib

    torch = _torch()
    cap = _Capture(model)
    backend: Any = contextlib.nullcontext()
    if sdpa == "math":
        from torch.nn.attention import SDPBackend, sdpa_kernel
        backend = sdpa_kernel([SDPBackend.MATH])
    try:
        with torch.no_grad(), backend, cap.dispatch, cap.mode:
            out = model(*inputs, **kwargs)
    finally:
        cap.close()
    return cap.calls, cap.not_judged, out


# --- what PyTorch's switches imply ------------------------------------------------------------

def implied_arithmetic(op: str, dtype: Any, device: str) -> Optional[str]:
    """The preset PyTorch's switches imply for ``op`` on ``device`` with outputs of ``dtype``."""
    torch = _torch()
    cuda = device == "cuda"
    matmul_like = not op.startswith("conv")
    if dtype == torch.float64:
        return "f64"
    if dtype == torch.float32:
        if not cuda:
            return "f32"
        if matmul_like:
            tf32 = torch.backends.cuda.matmul.allow_tf32 or \
                torch.get_float32_matmul_precision() != "highest"
        else:
            tf32 = torch.backends.cudnn.allow_tf32
        return "tf32" if tf32 else "f32"
    if dtype == torch.float16:
        rpr = cuda and matmul_like and \
            torch.backends.cuda.matmul.allow_fp16_reduced_precision_reduction
        return "f16-rpr" if rpr else "f16"
    if dtype == torch.bfloat16:
        rpr = cuda and matmul_like and \
            torch.backends.cuda.matmul.allow_bf16_reduced_precision_reduction
        return "bf16-rpr" if rpr else "bf16"
    return None


# --- sampling ----------------------------------------------------------------------------------

def _even(units: int, k: int) -> List[int]:
    """k of range(units), evenly spaced, the middle of each of k equal blocks."""
    k = max(1, min(units, k))
    return [(2 * i + 1) * units // (2 * k) for i in range(k)]


def _sampled(op: str, x, w, b, y, args: dict, sample: Union[int, float, None]):
    """(x, w, b, y, args, sample record) restricted to a sample of the output's units.

    The unit: an output row for linear/matmul/bmm/addmm (x's second-to-last dim), an output
    channel for an ungrouped conv/conv_transpose, a group for a grouped one. The exact result of
    a unit depends only on the unit's slice of the operands, so judging the slices judges those
    output elements exactly as the whole call would."""
    torch = _torch()
    total = y.numel()
    if sample is None or total == 0:
        return x, w, b, y, args, None
    target = min(total, sample if isinstance(sample, int) else math.ceil(sample * total))
    if target >= total:
        return x, w, b, y, args, None
    idx = lambda ks: torch.tensor(ks, dtype=torch.long)  # noqa: E731
    if op in ("linear", "matmul", "bmm", "addmm"):
        if x.dim() < 2 or (op == "linear" and w.dim() < 2):
            return x, w, b, y, args, None
        units = x.shape[-2] if op != "linear" else x.reshape(-1, x.shape[-1]).shape[0]
        per = total // units
        ks = _even(units, math.ceil(target / per))
        if len(ks) == units:
            return x, w, b, y, args, None
        if op == "linear":
            x = x.reshape(-1, x.shape[-1])[idx(ks)]
            y = y.reshape(-1, y.shape[-1])[idx(ks)]
            if b is not None and b.dim() >= 2:
                return x, w, b, y, args, None
        else:
            ydim = -2 if w.dim() >= 2 else -1
            x, y = x.index_select(-2, idx(ks)), y.index_select(ydim, idx(ks))
            if b is not None and b.dim() >= 2 and b.shape[-2] != 1:
                b = b.index_select(-2, idx(ks))
        return x, w, b, y, args, {"unit": "output row", "units": ks, "of_units": units,
                                  "elements": y.numel(), "of_elements": total}
    spatial = int(op[-2])
    chdim = 1 if x.dim() == spatial + 2 else 0
    groups = int(args.get("groups", 1))
    transpose = op.startswith("conv_t")
    c_out = y.shape[chdim]
    if groups == 1:
        per = total // c_out
        ks = _even(c_out, math.ceil(target / per))
        if len(ks) == c_out:
            return x, w, b, y, args, None
        w = w.index_select(1 if transpose else 0, idx(ks))
        b = None if b is None else b[idx(ks)]
        y = y.index_select(chdim, idx(ks))
        unit, units = "output channel", c_out
    else:
        per = total // groups
        ks = _even(groups, math.ceil(target / per))
        if len(ks) == groups:
            return x, w, b, y, args, None
        c_in = x.shape[chdim]
        ins = [g * (c_in // groups) + i for g in ks for i in range(c_in // groups)]
        outs = [g * (c_out // groups) + i for g in ks for i in range(c_out // groups)]
        x = x.index_select(chdim, idx(ins))
        w = w.index_select(0, idx(ins if transpose else outs))
        b = None if b is None else b[idx(outs)]
        y = y.index_select(chdim, idx(outs))
        args = dict(args, groups=len(ks))
        unit, units = "group", groups
    return x, w, b, y, args, {"unit": unit, "units": ks, "of_units": units,
                              "elements": y.numel(), "of_elements": total}


# --- the report ---------------------------------------------------------------------------------

def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def _shape(t: Any) -> Optional[List[int]]:
    return None if t is None else list(t.shape)


class TraceLayer:
    """One judged call of a traced model (a row of ``TraceReport.layers``).

    index (execution order), name (qualified module name, "" for the model itself; products
    seen at the aten level are named after the parameter they multiply, or ``<module>.q@k`` /
    ``<module>.p@v`` inside attention), op, source ("module": judged at an nn.Linear/Conv
    boundary, "call": the functional call as it ran, "aten": the aten product as it ran, inside
    a function the trace cannot see into), aten_op ("aten.mm" etc. for source "aten"),
    input_shape, weight_shape, bias_shape, output_shape, dtype, device, args (conv arguments),
    declared, verdict ("consistent", "no guarantee", "suspicious", "violation", or "not judged"),
    max_ratio_deterministic, consistent_models, arithmetic (the first consistent model, None:
    none explains the output), explanation, sample (None: every element; else the unit, the
    units judged, and the element counts), elements (judged), report (the roundoff.Report).
    """

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def to_dict(self) -> Dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if not k.startswith("_") and k != "report"}
        return {k: _finite(v) for k, v in d.items()}

    def __repr__(self) -> str:
        return (f"TraceLayer(index={self.index}, name={self.name!r}, op={self.op!r}, "
                f"verdict={self.verdict!r}, max_ratio_deterministic="
                f"{self.max_ratio_deterministic!r})")


def _dtype_name(t: Any) -> str:
    return str(t.dtype).replace("torch.", "")


class TraceReport:
    """What ``roundoff.trace`` found: ``layers`` in execution order, ``first_violation``, ``ok``,
    ``not_judged`` (every product seen and not judged: ``{"name", "op", "count", "reason"}``,
    fused attention kernels included), ``sdpa``, ``to_markdown()``, ``to_json()``,
    ``save(path)`` (a .safetensors file ``roundoff check`` reads)."""

    def __init__(self, layers: List[TraceLayer], tensors: List[Tuple[Any, Any, Any, Any]],
                 declared: Optional[str], sample: Any, confidence: float,
                 not_judged: List[Dict[str, Any]], sdpa: Optional[str]) -> None:
        self.layers = layers
        self._tensors = tensors
        self.declared = declared
        self.sample = sample
        self.confidence = confidence
        self.not_judged = not_judged
        self.sdpa = sdpa

    @property
    def first_violation(self) -> Optional[TraceLayer]:
        """The first layer in execution order whose output no rounding explains, or None."""
        return next((l for l in self.layers if l.verdict == "violation"), None)

    @property
    def ok(self) -> bool:
        return self.first_violation is None

    def __getitem__(self, name: str) -> TraceLayer:
        """The first layer of that qualified name."""
        for l in self.layers:
            if l.name == name:
                return l
        raise KeyError(name)

    def to_dict(self) -> Dict[str, Any]:
        fv = self.first_violation
        return {"ok": self.ok, "first_violation": None if fv is None else fv.index,
                "declared": self.declared, "sample": self.sample,
                "confidence": self.confidence, "sdpa": self.sdpa,
                "layers": [l.to_dict() for l in self.layers], "not_judged": self.not_judged}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        fv = self.first_violation
        judged = sum(l.verdict != "not judged" for l in self.layers)
        lines = [f"roundoff trace: {judged} call{'s' if judged != 1 else ''} judged, "
                 + ("no violation" if fv is None else
                    f"first violation: #{fv.index} {fv.name or '(model)'} ({fv.op})"),
                 "",
                 "| # | layer | op | input | weight | output | declared | verdict | max ratio |"
                 " arithmetic | judged |",
                 "|---|---|---|---|---|---|---|---|---|---|---|"]
        for l in self.layers:
            ratio = l.max_ratio_deterministic
            rtext = "" if ratio is None else f"{ratio:.3g}"
            judged_text = "all" if l.sample is None else \
                f"{l.sample['elements']}/{l.sample['of_elements']} ({len(l.sample['units'])} " \
                f"{l.sample['unit']}s)"
            shp = lambda s: "" if s is None else "x".join(map(str, s))  # noqa: E731
            lines.append(
                f"| {l.index} | {l.name or '(model)'} | {l.op} | {shp(l.input_shape)} "
                f"{l.dtype} | {shp(l.weight_shape)} | {shp(l.output_shape)} | {l.declared} | "
                f"{l.verdict} | {rtext} | {l.arithmetic or '-'} | {judged_text} |")
        if self.sample is not None:
            lines += ["", f"Sampled: {self.sample!r} output elements per call, as whole units "
                          "(output rows of matrix products, output channels or groups of convs), "
                          "evenly spaced."]
        lines += _not_judged_lines(self.not_judged)
        if self.sdpa == "math":
            lines += ["", "F.scaled_dot_product_attention ran on its math backend (sdpa='math'): "
                          "the judged q@k and p@v are that backend's products, not those of the "
                          "fused kernel the model runs untraced."]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_markdown()

    def save(self, path: str) -> None:
        """Write every judged call's operands and output to a .safetensors file: tensors
        ``<i>.x``, ``<i>.w``, ``<i>.b`` (when there is one), ``<i>.y``, and in the metadata per
        call ``<i>`` a JSON object (name, op, args, declared, verdict, confidence, command)
        whose ``command`` is the ``roundoff check`` line that judges it again."""
        named: List[Tuple[str, Any]] = []
        meta: Dict[str, str] = {"format": "roundoff.trace", "layers": str(len(self.layers))}
        for l, (x, w, b, y) in zip(self.layers, self._tensors):
            if x is None:
                continue
            i = l.index
            named += [(f"{i}.x", x), (f"{i}.w", w)] + ([(f"{i}.b", b)] if b is not None else []) \
                + [(f"{i}.y", y)]
            meta[str(i)] = json.dumps({"name": l.name, "op": l.op, "args": l.args,
                                       "declared": l.declared, "verdict": l.verdict,
                                       "confidence": l.confidence,
                                       "command": _cli_command(l, path, b is not None)})
        _write_safetensors(path, named, meta)


def _not_judged_lines(rows: List[Dict[str, Any]], side: str = "") -> List[str]:
    if not rows:
        return []
    total = sum(r["count"] for r in rows)
    lines = ["", f"Not judged{side}: {total} call{'s' if total != 1 else ''}", ""]
    for r in rows:
        lines.append(f"- {r['name'] or '(model)'}: {r['op']} x{r['count']}: {r['reason']}")
    return lines


def _cli_value(v: Any) -> str:
    if isinstance(v, (tuple, list)):
        return ",".join(str(e) for e in v)
    return str(v)


def _cli_command(l: TraceLayer, path: str, bias: bool) -> str:
    i = l.index
    parts = ["roundoff", "check", l.op, "--input", f"{path}:{i}.x", "--weight", f"{path}:{i}.w"]
    if bias:
        parts += ["--bias", f"{path}:{i}.b"]
    parts += ["--output", f"output={path}:{i}.y", "--declared", l.declared,
              "--confidence", repr(l.confidence)]
    for k, v in l.args.items():
        parts += ["--" + k.replace("_", "-"), _cli_value(v)]
    return " ".join(parts)


_ST_DTYPES = {"float64": "F64", "float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def _write_safetensors(path: str, named: List[Tuple[str, Any]], meta: Dict[str, str]) -> None:
    """The safetensors format by hand (no dependency): u64 little-endian header length, the
    JSON header (padded with spaces to 8 bytes), then each tensor's little-endian bytes."""
    torch = _torch()
    header: Dict[str, Any] = {"__metadata__": meta}
    blobs = []
    at = 0
    for name, t in named:
        t = t.contiguous()
        raw = (t.view(torch.int16) if t.dtype == torch.bfloat16 else t).numpy().tobytes()
        header[name] = {"dtype": _ST_DTYPES[_dtype_name(t)], "shape": list(t.shape),
                        "data_offsets": [at, at + len(raw)]}
        blobs.append(raw)
        at += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for raw in blobs:
            f.write(raw)


# --- judging -----------------------------------------------------------------------------------

def _progress(items: List[Any], progress: Optional[bool], desc: str):
    if progress is False or (progress is None and len(items) < 20):
        return items
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=desc, unit="layer")


def _judged_operands(c: _Call):
    """The operands the kernel computed on: under autocast the inputs are cast to the output's
    dtype first (as autocast does below the function call)."""
    x, w, b = c.x, c.w, c.b
    if c.autocast is not None and c.y.dtype == c.autocast:
        x, w = x.to(c.y.dtype), w.to(c.y.dtype)
        b = None if b is None else b.to(c.y.dtype)
    return x, w, b


def _judge(calls: List[_Call], skipped: Dict[Tuple[str, str, str], int],
           declared: Optional[str], sample: Any, threads: Optional[int], confidence: float,
           progress: Optional[bool], sdpa: Optional[str], desc: str = "roundoff trace"
           ) -> TraceReport:
    from . import check

    each = confidence / max(1, len(calls))  # false-alarm probability over the whole trace
    layers: List[TraceLayer] = []
    tensors = []
    for i, c in enumerate(_progress(calls, progress, desc)):
        x, w, b = _judged_operands(c)
        decl = declared or implied_arithmetic(c.op, c.y.dtype, c.device)
        fields = dict(index=i, name=c.name, op=c.op, source=c.source, aten_op=c.aten,
                      input_shape=_shape(c.x), weight_shape=_shape(c.w), bias_shape=_shape(c.b),
                      output_shape=_shape(c.y), dtype=_dtype_name(c.y), device=c.device,
                      args=dict(c.args), declared=decl, confidence=each, sample=None,
                      elements=0, max_ratio_deterministic=None, consistent_models=[],
                      arithmetic=None, explanation="", report=None)
        if decl is None:
            fields.update(verdict="not judged", explanation=f"no preset for {fields['dtype']}")
            layers.append(TraceLayer(**fields))
            tensors.append((None, None, None, None))
            continue
        xs, ws, bs, ys, args, smp = _sampled(c.op, x, w, b, c.y, c.args, sample)
        try:
            r = check(c.op, xs, ws, bs, outputs={"output": ys}, declared=decl,
                      confidence=each, threads=threads, **args)
        except (ValueError, TypeError) as e:
            fields.update(verdict="not judged", explanation=str(e))
            layers.append(TraceLayer(**fields))
            tensors.append((None, None, None, None))
            continue
        res = r.results["output"]
        fields.update(verdict=res.verdict, max_ratio_deterministic=res.max_ratio_deterministic,
                      consistent_models=list(res.consistent_models),
                      arithmetic=(res.consistent_models[0] if res.consistent_models else None),
                      explanation=res.explanation, sample=smp, elements=ys.numel(),
                      args=args, report=r)
        layers.append(TraceLayer(**fields))
        tensors.append((xs, ws, bs, ys))
    not_judged = dict(skipped)
    for l in layers:
        if l.verdict == "not judged":
            key = (l.name, l.op, l.explanation)
            not_judged[key] = not_judged.get(key, 0) + 1
    rows = [{"name": n, "op": o, "count": k, "reason": r} for (n, o, r), k in not_judged.items()]
    return TraceReport(layers, tensors, declared, sample, confidence, rows, sdpa)


def _sample_arg(sample: Any) -> Any:
    if sample is None:
        return None
    if isinstance(sample, bool) or not isinstance(sample, (int, float)):
        raise TypeError(f"sample: expected an int count or a float fraction, got "
                        f"{type(sample).__name__}")
    if isinstance(sample, int):
        if sample < 1:
            raise ValueError(f"sample: a count must be >= 1, got {sample}")
        return sample
    if not (0 < sample <= 1):
        raise ValueError(f"sample: a fraction must be in (0, 1], got {sample}")
    return None if sample == 1 else float(sample)


def trace(model: Any, *example_inputs: Any, declared: Optional[str] = None,
          sample: Union[int, float, None] = None, threads: Optional[int] = None,
          confidence: float = 1e-6, progress: Optional[bool] = None, sdpa: Optional[str] = None,
          **forward_kwargs: Any) -> TraceReport:
    """Run ``model(*example_inputs)`` once and judge every supported call against the exact
    result of the inputs it actually received.

    declared: the arithmetic every call claims ("f32", "bf16", ...); None: what PyTorch's
        switches imply per call (output dtype, device, TF32 and reduced-precision flags).
    sample: judge only a sample of each call's output elements: an int count or a float
        fraction, rounded up to whole units (output rows of matrix products, output channels or
        groups of convs), evenly spaced; None: every element.
    confidence: false-alarm probability of the probabilistic tests over the whole trace (each
        of n calls gets confidence / n).
    progress: a tqdm bar while judging (None: when tqdm is installed and there are 20+ calls).
    sdpa: None: F.scaled_dot_product_attention runs the backend PyTorch selects; a fused one
        (flash, efficient, cuDNN) is listed in ``not_judged``. "math": its math backend is
        forced while tracing, so q@k and p@v are judged; they are then that backend's
        products, not the fused kernel's the model runs untraced.
    """
    sample = _sample_arg(sample)
    sdpa = _sdpa_arg(sdpa)
    calls, skipped, _ = _capture(model, example_inputs, forward_kwargs, sdpa)
    return _judge(calls, skipped, declared, sample, threads, confidence, progress, sdpa)


# --- trace_diff --------------------------------------------------------------------------------

def _config(spec: Any) -> Tuple[str, Any, Optional[Any]]:
    """(device, dtype to convert to or None, autocast dtype or None)."""
    torch = _torch()
    if not (isinstance(spec, (tuple, list)) and len(spec) == 2):
        raise TypeError(f"a config is (device, dtype or 'autocast-bf16'/'autocast-f16'), got "
                        f"{spec!r}")
    device, d = spec
    if isinstance(d, str):
        names = {"autocast-bf16": torch.bfloat16, "autocast-bfloat16": torch.bfloat16,
                 "autocast-f16": torch.float16, "autocast-float16": torch.float16,
                 "autocast-fp16": torch.float16}
        if d not in names:
            raise ValueError(f"config dtype {d!r}: expected a torch dtype or one of {list(names)}")
        return str(device), None, names[d]
    return str(device), d, None


def _run_config(model, inputs, kwargs, spec, sdpa):
    torch = _torch()
    device, dtype, autocast = _config(spec)
    m = copy.deepcopy(model).to(device)
    if dtype is not None:
        m = m.to(dtype)

    def move(t):
        if isinstance(t, torch.Tensor):
            t = t.to(device)
            return t.to(dtype) if dtype is not None and t.is_floating_point() else t
        return t

    ins = [move(t) for t in inputs]
    kws = {k: move(v) for k, v in kwargs.items()}
    if autocast is not None:
        with torch.autocast(device_type=torch.device(device).type, dtype=autocast):
            return _capture(m, ins, kws, sdpa)
    return _capture(m, ins, kws, sdpa)


def _divergence(a: Any, b: Any) -> Optional[float]:
    """max |a - b| / max |a| (norm-wise relative, float64); None when the shapes differ."""
    if a is None or b is None:
        return 0.0 if a is None and b is None else None
    if tuple(a.shape) != tuple(b.shape):
        return None
    a, b = a.double(), b.double()
    if a.numel() == 0:
        return 0.0
    scale = a.abs().max().item()
    diff = (a - b).abs().max().item()
    if scale == 0:
        return 0.0 if diff == 0 else math.inf
    return diff / scale


class DiffLayer(TraceLayer):
    """One matched call of ``trace_diff``: name, op, index_a, index_b, verdict_a, verdict_b,
    arithmetic_a, arithmetic_b, input_divergence (the largest of x's, w's and b's divergence
    between the sides: inherited), output_divergence, added (output_divergence -
    input_divergence: what this call adds; negative when it damps), growth
    (output_divergence / input_divergence)."""

    def __repr__(self) -> str:
        return (f"DiffLayer(name={self.name!r}, op={self.op!r}, input_divergence="
                f"{self.input_divergence!r}, output_divergence={self.output_divergence!r}, "
                f"added={self.added!r})")


class TraceDiff:
    """What ``roundoff.trace_diff`` found: ``a`` and ``b`` (each side's TraceReport),
    ``layers`` (DiffLayer per matched call, in a's execution order), ``unmatched`` (calls of one
    side only), ``entry`` (the first layer whose added divergence is positive), ``largest``
    (the layer adding the most), ``to_markdown()``, ``to_json()``."""

    def __init__(self, a: TraceReport, b: TraceReport, layers: List[DiffLayer],
                 unmatched: List[Dict[str, Any]], configs: Tuple[str, str]) -> None:
        self.a, self.b, self.layers, self.unmatched, self.configs = a, b, layers, unmatched, configs

    @property
    def entry(self) -> Optional[DiffLayer]:
        return next((l for l in self.layers if l.added is not None and l.added > 0), None)

    @property
    def largest(self) -> Optional[DiffLayer]:
        ls = [l for l in self.layers if l.added is not None]
        return max(ls, key=lambda l: l.added) if ls else None

    def to_dict(self) -> Dict[str, Any]:
        return {"a": self.configs[0], "b": self.configs[1],
                "layers": [l.to_dict() for l in self.layers], "unmatched": self.unmatched,
                "trace_a": self.a.to_dict(), "trace_b": self.b.to_dict()}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def to_markdown(self) -> str:
        g = lambda v: "-" if v is None else f"{v:.3g}"  # noqa: E731
        lines = [f"roundoff trace_diff: a = {self.configs[0]}, b = {self.configs[1]}; "
                 "divergence = max|a - b| / max|a|; added = output - input divergence", "",
                 "| # | layer | op | verdict a | verdict b | input div. (inherited) | "
                 "output div. | added | growth |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for l in self.layers:
            lines.append(f"| {l.index_a} | {l.name or '(model)'} | {l.op} | "
                         f"{l.verdict_a} ({l.arithmetic_a or '-'}) | "
                         f"{l.verdict_b} ({l.arithmetic_b or '-'}) | {g(l.input_divergence)} | "
                         f"{g(l.output_divergence)} | {g(l.added)} | {g(l.growth)} |")
        e, big = self.entry, self.largest
        if e is not None:
            lines += ["", f"Divergence enters at #{e.index_a} {e.name or '(model)'} "
                          f"(adds {e.added:.3g}); the largest addition: #{big.index_a} "
                          f"{big.name or '(model)'} ({big.added:.3g})."]
        lines += _not_judged_lines(self.a.not_judged, " on a") + \
            _not_judged_lines(self.b.not_judged, " on b")
        if self.unmatched:
            lines += ["", f"{len(self.unmatched)} calls ran on one side only: " +
                      ", ".join(f"{u['side']}:{u['name']}({u['op']})" for u in self.unmatched)]
        return "\n".join(lines) + "\n"

    def __str__(self) -> str:
        return self.to_markdown()


def _keys(calls: List[_Call]) -> List[Tuple[str, str, int]]:
    seen: Dict[Tuple[str, str], int] = {}
    keys = []
    for c in calls:
        k = (c.name, c.op)
        keys.append((c.name, c.op, seen.get(k, 0)))
        seen[k] = seen.get(k, 0) + 1
    return keys


def trace_diff(model: Any, *example_inputs: Any, a: Any = ("cpu", None),
               b: Any = ("cpu", "autocast-bf16"), declared: Any = None,
               sample: Union[int, float, None] = None, threads: Optional[int] = None,
               confidence: float = 1e-6, progress: Optional[bool] = None,
               sdpa: Optional[str] = None, **forward_kwargs: Any) -> TraceDiff:
    """Run the model in two configurations and report, per layer, each side's verdict and how
    much of the divergence between the sides the layer inherits (its inputs' divergence) and
    how much it adds (its output's divergence beyond that).

    a, b: (device, dtype) — the model and floating inputs are deep-copied and converted with
        ``.to(device).to(dtype)`` (dtype None: unchanged) — or (device, "autocast-bf16" /
        "autocast-f16"): run under ``torch.autocast``.
    declared: None (each side's implied arithmetic), a preset for both, or a pair (a, b).
    sdpa: as for ``trace``, on both sides.
    Layers are matched by qualified name, op and occurrence (execution order).
    """
    sample = _sample_arg(sample)
    da, db = (declared if isinstance(declared, (tuple, list)) else (declared, declared))
    sdpa = _sdpa_arg(sdpa)
    calls_a, skipped_a, _ = _run_config(model, example_inputs, forward_kwargs, a, sdpa)
    calls_b, skipped_b, _ = _run_config(model, example_inputs, forward_kwargs, b, sdpa)
    ra = _judge(calls_a, skipped_a, da, sample, threads, confidence, progress, sdpa,
                "roundoff trace a")
    rb = _judge(calls_b, skipped_b, db, sample, threads, confidence, progress, sdpa,
                "roundoff trace b")
    kb = {k: i for i, k in enumerate(_keys(calls_b))}
    layers: List[DiffLayer] = []
    unmatched: List[Dict[str, Any]] = []
    matched_b = set()
    for ia, k in enumerate(_keys(calls_a)):
        ca, la = calls_a[ia], ra.layers[ia]
        ib = kb.get(k)
        if ib is None:
            unmatched.append({"side": "a", "index": ia, "name": ca.name, "op": ca.op})
            continue
        matched_b.add(ib)
        cb, lb = calls_b[ib], rb.layers[ib]
        divs = [_divergence(ca.x, cb.x), _divergence(ca.w, cb.w), _divergence(ca.b, cb.b)]
        din = None if any(d is None for d in divs) else max(divs)
        dout = _divergence(ca.y, cb.y)
        added = None if din is None or dout is None else dout - din
        growth = None if din is None or dout is None else \
            (dout / din if din > 0 else (math.inf if dout > 0 else 1.0))
        layers.append(DiffLayer(
            name=ca.name, op=ca.op, index_a=ia, index_b=ib, verdict_a=la.verdict,
            verdict_b=lb.verdict, arithmetic_a=la.arithmetic, arithmetic_b=lb.arithmetic,
            declared_a=la.declared, declared_b=lb.declared, input_divergence=din,
            output_divergence=dout, added=added, growth=growth))
    for ib, cb in enumerate(calls_b):
        if ib not in matched_b:
            unmatched.append({"side": "b", "index": ib, "name": cb.name, "op": cb.op})
    return TraceDiff(ra, rb, layers, unmatched, (repr(a), repr(b)))
