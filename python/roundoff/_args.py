"""Python arguments -> what the engine takes.

Tensors: numpy arrays and torch tensors (any strides; float64/32/16, and torch.bfloat16) are
handed to the extension as they are, through DLPack or the buffer protocol, and read there in one
pass into the engine's float64 tensor. Torch tensors on a GPU are copied to the host once here.

Op arguments: PyTorch's names and spellings (``stride=(2, 1)``, ``padding="same"``, ...) go to
the library typed (lists of ints, words), which checks them as it does the CLI's
``roundoff check --stride 2,1``; the extension words its errors as the CLI does. The report's
params show them in the CLI's syntax ("2,1", "same").
"""

from __future__ import annotations

import operator
import os
from typing import Any, Optional, Tuple, Union

from . import _core

IntOrTuple = Union[int, Tuple[int, ...]]

# Op arguments in the CLI's order (src/cli/op_flags.cpp, op_flag_params).
CONV_ARGS = ("stride", "padding", "dilation", "groups", "output_padding", "padding_mode")


def default_threads() -> int:
    """All cores this process may run on (the CPU affinity mask; os.cpu_count() elsewhere)."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, 1024))


def device_arg(device: Any) -> str:
    """device= of exact/check/run: "cpu" (None) or "cuda" (also "cuda:0", torch.device("cuda")):
    where the exact engine multiplies slices. The result is the same exact value on both."""
    if device is None:
        return "cpu"
    if not isinstance(device, str):
        if hasattr(device, "type") and hasattr(device, "index"):  # torch.device
            device = str(device)
        else:
            raise TypeError(f"device: expected a str, got {type(device).__name__}")
    if device in ("cuda", "cuda:0", "cpu"):
        return device.split(":")[0]
    raise ValueError(f"--device: {device} not in {{cpu,cuda}}")


def threads_arg(threads: Optional[int]) -> int:
    if threads is None:
        return default_threads()
    return int_arg("threads", threads)


def int_arg(name: str, value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an int, got bool")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}") from None


def float_arg(name: str, value: Any) -> float:
    if isinstance(value, bool) or not hasattr(value, "__float__") or isinstance(value, str):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    return float(value)


def str_arg(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__}")
    return value


def _int_values(name: str, value: Any) -> list:
    if isinstance(value, (tuple, list)):
        return [int_arg(name, v) for v in value]
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name}: expected an int or a tuple of ints, got {value!r}")
    try:
        return [int_arg(name, value)]
    except TypeError:
        raise TypeError(
            f"{name}: expected an int or a tuple of ints, got {type(value).__name__}"
        ) from None


def conv_args(args: dict) -> dict:
    """PyTorch-style conv arguments (None: not given) -> the engine's typed ones (lists of ints,
    padding words as padding_keyword; absent: not given)."""
    out = {}
    for key in ("stride", "dilation", "output_padding"):
        if args.get(key) is not None:
            out[key] = _int_values(key, args[key])
    padding = args.get("padding")
    if padding is not None:
        if isinstance(padding, str):
            out["padding_keyword"] = padding
        else:
            out["padding"] = _int_values("padding", padding)
    if args.get("groups") is not None:
        out["groups"] = int_arg("groups", args["groups"])
    mode = args.get("padding_mode")
    if mode is not None:
        if not isinstance(mode, str):
            raise TypeError(f"padding_mode: expected a str, got {type(mode).__name__}")
        out["padding_mode"] = mode
    return out


def conv_flags(typed: dict) -> dict:
    """conv_args' typed values -> the CLI's flag strings ("" = not given), for the report's
    params (the arguments are checked once, by conv_args)."""
    out = {k: "" for k in CONV_ARGS}
    for key in ("stride", "dilation", "output_padding", "padding"):
        if key in typed:
            out[key] = ",".join(str(v) for v in typed[key]) if typed[key] else "()"
    if "padding_keyword" in typed:
        out["padding"] = typed["padding_keyword"]
    if "groups" in typed:
        out["groups"] = str(typed["groups"])
    if "padding_mode" in typed:
        out["padding_mode"] = typed["padding_mode"]
    return out


def op_spec(op: Any, args: dict) -> Tuple[Any, dict]:
    """The engine's OpSpec for `op` and its conv arguments, and the flags that were given (in
    the CLI's syntax, for the report's params)."""
    if not isinstance(op, str):
        raise TypeError(f"op: expected an op name (str), got {type(op).__name__}")
    typed = conv_args(args)
    spec = _core.op_spec(op, **typed)
    flags = conv_flags(typed)
    return spec, {k: v for k, v in flags.items() if v}


def _is_torch_tensor(obj: Any) -> bool:
    return type(obj).__module__.startswith("torch") and hasattr(obj, "detach")


def _to_host(obj: Any, label: str) -> Any:
    """Torch tensors: detached, and copied to the host once when they live on a GPU."""
    if _is_torch_tensor(obj):
        t = obj.detach()
        if str(t.layout) != "torch.strided":
            raise TypeError(f"{label}: a {t.layout} tensor; pass a dense one (.to_dense())")
        if t.device.type != "cpu":
            t = t.cpu()  # the one copy a CUDA tensor costs
        if t.is_neg():  # a lazy negation view cannot leave through DLPack
            t = t.resolve_neg()
        return t
    dev = getattr(obj, "__dlpack_device__", None)
    if dev is not None and not hasattr(obj, "__array_interface__"):
        try:
            kind = dev()[0]
        except Exception:  # noqa: BLE001 - an exotic object: let the extension decide
            kind = 1
        if kind != 1 and hasattr(obj, "get"):  # CuPy and friends: .get() copies to numpy
            return obj.get()
    if hasattr(obj, "dtype") and getattr(obj.dtype, "byteorder", "=") not in ("=", "|"):
        import sys

        native = "<" if sys.byteorder == "little" else ">"
        if obj.dtype.byteorder != native:  # DLPack has no byte order: one conversion
            return obj.astype(obj.dtype.newbyteorder("="))
    return obj


def as_tensor(obj: Any, label: str, finite: bool) -> Any:
    """The engine's Input for a numpy array / torch tensor; TypeError for anything else.

    Host float64/float32 arrays with row-major strides are read in place (no copy); other dtypes
    and strides are converted once (docs/python.md, "What is copied")."""
    if isinstance(obj, _core.Input):
        return obj
    if isinstance(obj, _core.Tensor):
        return _core.view_tensor(obj)
    if obj is None or isinstance(obj, (str, bytes, int, float, complex, list, tuple, dict)):
        raise TypeError(
            f"{label}: expected a numpy array or a torch tensor, got {type(obj).__name__}"
        )
    if type(obj).__name__ == "MaskedArray":
        raise TypeError(f"{label}: a masked array; roundoff would read the masked values too "
                        "(pass .filled(...) or .data)")
    host = _to_host(obj, label)
    dtype = getattr(host, "dtype", None)
    kind = getattr(dtype, "kind", None)
    if kind is not None and (kind != "f" or dtype.itemsize not in (2, 4, 8)):
        # numpy: name the dtype as numpy does
        raise TypeError(
            f"{label}: unsupported dtype {host.dtype}; roundoff takes float16, float32, "
            "float64 and bfloat16 tensors"
        )
    try:
        return _core.as_tensor(host, label, finite)
    except TypeError as e:
        if str(e).startswith(label + ":"):
            raise
        dtype = getattr(host, "dtype", None)
        raise TypeError(
            f"{label}: expected a numpy array or a torch tensor of float16, float32, float64 or "
            f"bfloat16, got {type(obj).__name__}" + (f" of dtype {dtype}" if dtype is not None else "")
        ) from None
