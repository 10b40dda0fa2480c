"""The aten half of roundoff.trace (docs/python.md, "Whole models", "Inside attention").

The torch-function mode of ``_trace`` sees the calls a model's Python code makes, but not what
runs inside a function that is itself a torch function (``F.multi_head_attention_forward``,
which ``nn.MultiheadAttention`` and so ``nn.TransformerEncoderLayer`` call) nor inside a C++
composite (``F.scaled_dot_product_attention``'s math backend, ``torch.einsum``). A
``TorchDispatchMode`` sees the aten ops those run, with the operands the kernel really received:
after autocast's casts, reshapes and the attention's scale multiplications, which are separate
ops before the product. This module classifies an aten op (a product roundoff judges, a product
it cannot judge and lists, or not a product) and names the products.
"""

from __future__ import annotations

import re
from typing import Any, Dict, Optional, Tuple, Union

# Fused kernels with a product inside that roundoff has no model for: the softmax between q@k
# and p@v runs inside them, so neither product's output is ever a tensor.
_FUSED_ATTENTION = re.compile(r"attention|multi_head|encoder_layer")
# Other aten ops with a product inside (names as aten spells them; "_trilinear" is what
# F.bilinear runs). "upsample_linear1d" and "_convert_weight..." do not match: the word must
# start after "_" or at the start and end before "_" or at the end.
_PRODUCT = re.compile(
    r"(?:^|_)(?:mm|bmm|addmm|baddbmm|addbmm|matmul|mv|addmv|dot|vdot|inner|outer|ger|addr|"
    r"einsum|tensordot|linear|bilinear|trilinear|convolution|conv\dd|conv_transpose\dd|conv_tbc|"
    r"conv_depthwise\dd)(?:_|$)")

ATTENTION_REASON = ("fused attention kernel: the softmax between q@k and p@v runs inside it, "
                    "which roundoff cannot model (trace with sdpa='math' to judge both products)")
FAST_PATH_REASON = ("fused native fast path (projections, softmax and products in one op), "
                    "which roundoff cannot model")


def _scalar(v: Any) -> Any:
    try:
        return v.item() if hasattr(v, "item") else v
    except (RuntimeError, ValueError):  # pragma: no cover - a symbolic scalar
        return v


def _conv(args: tuple, kwargs: dict) -> Union[dict, str]:
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "transposed",
             "output_padding", "groups")
    a = dict(zip(names, args))
    a.update(kwargs)
    w = a["weight"]
    spatial = w.dim() - 2
    if spatial not in (1, 2, 3):
        return f"a {spatial}-d convolution"
    conv = {"stride": tuple(int(s) for s in a["stride"]),
            "padding": tuple(int(s) for s in a["padding"]),
            "dilation": tuple(int(s) for s in a["dilation"]), "groups": int(a["groups"])}
    if a["transposed"]:
        conv["output_padding"] = tuple(int(s) for s in a["output_padding"])
        op = f"conv_transpose{spatial}d"
    else:
        if any(int(s) != 0 for s in a["output_padding"]):
            return "output_padding on a convolution that is not transposed"
        op = f"conv{spatial}d"
    return {"op": op, "x": a["input"], "w": w, "b": a.get("bias"), "args": conv}


def scale_check(op: str, where: str, beta: Any, alpha: Any) -> Union[str, bool]:
    """addmm / baddbmm compute beta * b + alpha * (x @ w). roundoff's ops have beta = alpha = 1.
    beta = 0: torch does not read b, so the product alone is judged (True: drop b). Any other
    scale is applied inside the kernel, where its rounding is not modelled: a str, the reason
    the product is not judged (never judged against the unscaled exact result)."""
    beta, alpha = _scalar(beta), _scalar(alpha)
    if alpha != 1:
        return f"alpha = {alpha!r} scales the product inside {where}; roundoff's {op} has alpha = 1"
    if beta == 0:
        return True
    if beta != 1:
        return (f"beta = {beta!r} scales the added tensor inside {where}; roundoff's {op} has "
                f"beta = 1")
    return False


def _scaled(op: str, name: str, b: Any, x: Any, w: Any, kwargs: dict) -> Union[dict, str]:
    check = scale_check(op, name, kwargs.get("beta", 1), kwargs.get("alpha", 1))
    if isinstance(check, str):
        return check
    if check:
        return {"op": "matmul" if op == "addmm" else "bmm", "x": x, "w": w, "b": None, "args": {}}
    return {"op": op, "x": x, "w": w, "b": b, "args": {}}


def may_be_product(func: Any) -> bool:
    """Whether the aten op's name says it has a product inside (cached per op by the caller)."""
    name = func.overloadpacket.__name__
    return bool(_FUSED_ATTENTION.search(name) or _PRODUCT.search(name)) and "backward" not in name


def classify(func: Any, args: tuple, kwargs: dict) -> Union[None, str, dict]:
    """None: not a product (or no floating operand: integer products are exact); a str: a
    product roundoff does not judge, and why; a dict (op, x, w, b, args): the product as
    roundoff's op with the operands the kernel received."""
    import torch

    if not may_be_product(func):
        return None
    name = func.overloadpacket.__name__
    tensors = [t for t in args if isinstance(t, torch.Tensor)]
    if not any(t.is_floating_point() for t in tensors):
        return None
    qualified = f"{func.namespace}.{name}"
    if _FUSED_ATTENTION.search(name):
        return FAST_PATH_REASON if "multi_head" in name or "encoder_layer" in name else \
            ATTENTION_REASON
    if func.namespace != "aten":
        return f"{qualified}: a product roundoff has no op for"
    if func._overloadname != "default":
        return f"the {func._overloadname} variant of {qualified}"
    if not all(t.is_floating_point() for t in tensors) or any(t.is_complex() for t in tensors):
        return f"{qualified} with non-floating operands"
    kw = dict(kwargs)
    if name in ("mm", "mv", "dot", "matmul"):
        return {"op": "matmul", "x": args[0], "w": args[1], "b": None, "args": {}}
    if name == "bmm":
        return {"op": "bmm", "x": args[0], "w": args[1], "b": None, "args": {}}
    if name == "linear":
        b = args[2] if len(args) > 2 else kw.get("bias")
        return {"op": "linear", "x": args[0], "w": args[1], "b": b, "args": {}}
    if name in ("addmm", "baddbmm"):
        op = "addmm" if name == "addmm" else "bmm"
        return _scaled(op, f"aten.{name}", args[0], args[1], args[2], kw)
    if name == "convolution":
        return _conv(args, kw)
    return f"aten.{name}: a product roundoff has no op for"


class ParameterNames:
    """Which parameter a tensor is, is a view of, or is a copy of: by storage, so ``w.t()``,
    ``w[:E]``, the weight ``F.linear`` received and autocast's bf16 copy of it are found. A
    product whose operand is a parameter is named after it: ``<owner>`` for ``<owner>.weight``,
    ``<owner>.in_proj`` for ``<owner>.in_proj_weight`` (nn.MultiheadAttention's packed
    projection), ``<owner>.<attr>`` otherwise; so ``out_proj``, whose forward
    nn.MultiheadAttention never calls, still gets its own name."""

    def __init__(self, model: Any) -> None:
        import torch

        self.by_storage: Dict[Tuple[str, int], str] = {}
        # copies stay referenced while tracing: a freed copy's address could be reused by an
        # unrelated tensor, which would then be named after the parameter
        self.copies: list = []
        self.copy_ops = (torch.ops.aten._to_copy.default, torch.ops.aten.clone.default)
        for qualified, p in model.named_parameters():
            key = self._key(p)
            if key is not None:
                self.by_storage.setdefault(key, qualified)

    @staticmethod
    def _key(t: Any) -> Optional[Tuple[str, int]]:
        try:
            return (str(t.device), t.untyped_storage().data_ptr())
        except (RuntimeError, NotImplementedError, AttributeError):
            return None

    def qualified(self, t: Any) -> Optional[str]:
        key = self._key(t)
        return None if key is None else self.by_storage.get(key)

    def copied(self, func: Any, args: tuple, out: Any) -> None:
        """Follow a parameter through aten._to_copy (autocast's cast, .to()) and aten.clone."""
        if func in self.copy_ops and args:
            qualified = self.qualified(args[0])
            key = None if qualified is None else self._key(out)
            if key is not None:
                self.by_storage.setdefault(key, qualified)
                self.copies.append(out)

    def name(self, t: Any) -> Optional[str]:
        qualified = self.qualified(t)
        if qualified is None:
            return None
        owner, _, attr = qualified.rpartition(".")
        if attr == "weight":
            return owner
        if attr.endswith("_weight"):
            attr = attr[: -len("_weight")]
        return f"{owner}.{attr}" if owner else attr
