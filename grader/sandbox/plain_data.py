"""Plain data across the sandbox boundary: a format that cannot execute code on load.

Values that may cross between the learner process and the judge: None, bool, int, float,
complex, str, bytes, lists, tuples, dicts, NumPy arrays and scalars of numeric or boolean dtype,
and torch tensors (detached, moved to the CPU). Everything else is refused with a message that
names the type, so an object that claims to equal anything never reaches a comparison.

A message is a 4-byte header length, a JSON header describing the structure, then the raw
array buffers it refers to. Decoding checks every dtype against an allow-list and every buffer
length against its shape; nothing is ever unpickled.
"""

from __future__ import annotations

import json
import math
import struct
import sys

import numpy as np

ALLOWED_DTYPES = {
    "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
    "float16", "float32", "float64", "complex64", "complex128",
}
# torch dtypes without a NumPy twin travel as float32 and are cast back on arrival.
TORCH_VIA_FLOAT32 = {"bfloat16"}
MAX_DEPTH = 64
MAX_HEADER = 16 << 20  # bytes of JSON describing one value (the arrays' bytes come apart from it)
HASH_SAFE = 2**61 - 1  # ints below this hash to themselves: distinct keys, distinct hashes


class NotPlainData(TypeError):
    """A value that cannot cross the sandbox boundary."""


def encode(value) -> bytes:
    buffers: list[bytes] = []
    header = _describe(value, buffers, depth=0, path="value")
    head = json.dumps(header, allow_nan=True).encode()
    return b"".join([struct.pack("<I", len(head)), head, *buffers])


def decode(data: bytes):
    """The value `data` encodes; ValueError (and nothing else) for anything malformed."""
    if len(data) < 4:
        raise ValueError("truncated message")
    (head_len,) = struct.unpack_from("<I", data)
    if head_len > len(data) - 4:
        raise ValueError("header longer than the message")
    if head_len > MAX_HEADER:
        raise ValueError(f"header of {head_len} bytes is larger than {MAX_HEADER}")
    try:
        header = json.loads(data[4 : 4 + head_len])
    except RecursionError:
        raise ValueError("message nested too deeply") from None
    body = memoryview(data)[4 + head_len :]
    offsets = [0]
    try:
        value = _build(header, body, offsets, depth=0)
    except (KeyError, TypeError, IndexError, AttributeError, OverflowError, RecursionError, MemoryError) as error:
        raise ValueError(f"malformed message ({type(error).__name__})") from None
    if offsets[0] != len(body):
        raise ValueError("message has trailing bytes")
    return value


def loaded_torch():
    """torch only if the process already imported it: plain data never imports it itself."""
    return sys.modules.get("torch")


def _describe(value, buffers, depth, path):
    if depth > MAX_DEPTH:
        raise NotPlainData(f"{path} is nested more than {MAX_DEPTH} levels deep")
    kind = type(value)
    if value is None or kind is bool or kind is str:
        return {"t": "atom", "v": value}
    if kind is int:
        return {"t": "int", "v": str(value)}
    if kind is float:
        return {"t": "float", "v": _float_text(value)}
    if kind is complex:
        return {"t": "complex", "v": [_float_text(value.real), _float_text(value.imag)]}
    if kind is bytes:
        buffers.append(value)
        return {"t": "bytes", "n": len(value)}
    if kind in (list, tuple):
        items = [_describe(v, buffers, depth + 1, f"{path}[{i}]") for i, v in enumerate(value)]
        return {"t": kind.__name__, "v": items}
    if kind is dict:
        keys = list(value.keys())
        for key in keys:
            if type(key) not in (str, int):
                raise NotPlainData(f"{path} has a key of type {type(key).__name__}; use str or int keys")
        return {
            "t": "dict",
            "k": [_describe(k, buffers, depth + 1, path) for k in keys],
            "v": [_describe(value[k], buffers, depth + 1, f"{path}[{k!r}]") for k in keys],
        }
    if isinstance(value, np.generic):
        array = np.asarray(value)
        return {"t": "npscalar", "a": _array(array, buffers, path)}
    if isinstance(value, np.ndarray):
        # ndarray methods called unbound: a subclass cannot change what is sent.
        array = np.ndarray.view(value, np.ndarray)
        return {"t": "ndarray", "a": _array(array, buffers, path)}
    torch = loaded_torch()
    if torch is not None and isinstance(value, torch.Tensor):
        tensor = torch.Tensor.detach(value).cpu()
        dtype = str(tensor.dtype).removeprefix("torch.")
        if dtype in TORCH_VIA_FLOAT32:
            tensor = tensor.float()
        array = np.ndarray.view(tensor.contiguous().numpy(), np.ndarray)
        return {"t": "tensor", "dtype": dtype, "a": _array(array, buffers, path)}
    raise NotPlainData(
        f"{path} is a {kind.__module__}.{kind.__qualname__}; return plain data "
        "(numbers, strings, lists, tuples, dicts, NumPy arrays or torch tensors)"
    )


def _float_text(x: float):
    return x if math.isfinite(x) else repr(x)


def _array(array, buffers, path):
    dtype = array.dtype
    if dtype.name not in ALLOWED_DTYPES:
        raise NotPlainData(f"{path} has dtype {dtype}; use a numeric or boolean dtype")
    data = np.ascontiguousarray(array).astype(dtype.newbyteorder("<"), copy=False).tobytes()
    buffers.append(data)
    return {"dtype": dtype.name, "shape": list(array.shape), "n": len(data)}


def _take(body, offsets, n):
    if type(n) is not int or n < 0 or offsets[0] + n > len(body):
        raise ValueError("buffer length does not match the message")
    start = offsets[0]
    offsets[0] += n
    return body[start : start + n]


def _to_float(v):
    return float(v) if isinstance(v, str) else v


def _build(h, body, offsets, depth):
    if depth > MAX_DEPTH:
        raise ValueError("message nested too deeply")
    t = h["t"]
    if t == "atom":
        if h["v"] is not None and type(h["v"]) not in (bool, str):
            raise ValueError("bad atom")
        return h["v"]
    if t == "int":
        return int(h["v"])
    if t == "float":
        return float(_to_float(h["v"]))
    if t == "complex":
        return complex(_to_float(h["v"][0]), _to_float(h["v"][1]))
    if t == "bytes":
        return bytes(_take(body, offsets, h["n"]))
    if t in ("list", "tuple"):
        items = [_build(v, body, offsets, depth + 1) for v in h["v"]]
        return items if t == "list" else tuple(items)
    if t == "dict":
        keys = [_build(k, body, offsets, depth + 1) for k in h["k"]]
        if any(type(k) not in (str, int) for k in keys):
            raise ValueError("bad dict key")
        if any(type(k) is int and not -HASH_SAFE < k < HASH_SAFE for k in keys):
            raise ValueError("dict key out of range")  # equal hashes of huge ints would make building the dict quadratic
        return dict(zip(keys, [_build(v, body, offsets, depth + 1) for v in h["v"]], strict=True))
    if t == "npscalar":
        return _build_array(h["a"], body, offsets)[()]
    if t == "ndarray":
        return _build_array(h["a"], body, offsets)
    if t == "tensor":
        import torch

        array = _build_array(h["a"], body, offsets)
        tensor = torch.from_numpy(array)
        dtype = h["dtype"]
        if dtype in TORCH_VIA_FLOAT32:
            tensor = tensor.to(getattr(torch, dtype))
        return tensor
    raise ValueError(f"unknown kind {t!r}")


def _build_array(a, body, offsets):
    if a["dtype"] not in ALLOWED_DTYPES:
        raise ValueError(f"dtype {a['dtype']} not allowed")
    shape = tuple(a["shape"])
    if any(type(s) is not int or s < 0 for s in shape):
        raise ValueError("bad shape")
    dtype = np.dtype(a["dtype"]).newbyteorder("<")
    raw = _take(body, offsets, a["n"])
    if len(raw) != dtype.itemsize * math.prod(shape):
        raise ValueError("array buffer does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="), copy=True)
