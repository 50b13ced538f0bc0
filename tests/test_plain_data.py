"""The sandbox boundary's format: round trips what is plain, refuses the rest, never executes."""

import math

import numpy as np
import pytest
import torch

from grader.sandbox.plain_data import NotPlainData, decode, encode


@pytest.mark.cpu
@pytest.mark.parametrize(
    "value",
    [None, True, 3, -(2**70), 2.5, math.inf, "ünïcode", b"\x00\x01", 1 + 2j, [1, [2, (3, 4)]], {"a": 1, 2: "b"}],
)
def test_round_trip_of_python_values(value):
    assert decode(encode(value)) == value
    assert type(decode(encode(value))) is type(value)


@pytest.mark.cpu
def test_nan_survives():
    assert math.isnan(decode(encode(float("nan"))))


@pytest.mark.cpu
@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool", "complex128", "uint8"])
def test_arrays_keep_dtype_shape_and_values(dtype):
    array = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    back = decode(encode(array))
    assert back.dtype == array.dtype and back.shape == array.shape and np.array_equal(back, array)
    assert back.flags.writeable


@pytest.mark.cpu
@pytest.mark.parametrize("dtype", [torch.float64, torch.float16, torch.bfloat16, torch.int32])
def test_tensors_keep_dtype(dtype):
    tensor = torch.arange(6, dtype=torch.float32).reshape(2, 3).to(dtype).requires_grad_(dtype.is_floating_point)
    back = decode(encode(tensor))
    assert isinstance(back, torch.Tensor) and back.dtype == dtype and torch.equal(back, tensor.detach())


@pytest.mark.cpu
def test_numpy_scalars_stay_numpy_scalars():
    back = decode(encode(np.float32(1.5)))
    assert isinstance(back, np.float32) and back == 1.5


@pytest.mark.cpu
def test_objects_are_refused_with_their_type_named():
    class AlwaysEqual:
        def __eq__(self, other):
            return True

    with pytest.raises(NotPlainData, match="AlwaysEqual"):
        encode({"x": AlwaysEqual()})
    with pytest.raises(NotPlainData, match="object"):
        encode(np.array([AlwaysEqual()], dtype=object))
    with pytest.raises(NotPlainData):
        encode(lambda: 1)


@pytest.mark.cpu
def test_array_subclasses_arrive_as_plain_arrays():
    class Liar(np.ndarray):
        def __eq__(self, other):
            return True

    back = decode(encode(np.zeros(3).view(Liar)))
    assert type(back) is np.ndarray and not np.array_equal(back, np.ones(3))


@pytest.mark.cpu
@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\x05\x00\x00\x00{\"t\":",
        b'\x1f\x00\x00\x00{"t": "pickle", "v": "cos\\nsystem"}',
        b'\x3c\x00\x00\x00{"t": "ndarray", "a": {"dtype": "object", "shape": [1], "n": 8}}' + b"\x00" * 8,
        b'\x3d\x00\x00\x00{"t": "ndarray", "a": {"dtype": "float64", "shape": [4], "n": 8}}' + b"\x00" * 8,
    ],
)
def test_malformed_messages_are_rejected(payload):
    with pytest.raises((ValueError, KeyError, TypeError)):
        decode(payload)


def _message(header: str) -> bytes:
    data = header.encode()
    return len(data).to_bytes(4, "little") + data


@pytest.mark.cpu
def test_hostile_headers_cost_little_and_are_rejected():
    """A learner writes its own bytes: deep JSON, colliding dict keys and a huge header are refused, quickly."""
    deep = _message("[" * 200_000 + "]" * 200_000)
    huge_ints = ", ".join('{"t": "int", "v": %d}' % (k * (2**61 - 1)) for k in range(1, 20_000))
    collide = _message('{"t": "dict", "k": [%s], "v": [%s]}' % (huge_ints, ", ".join(['{"t": "atom", "v": null}'] * 19_999)))
    for payload in (deep, collide):
        with pytest.raises(ValueError):
            decode(payload)
    with pytest.raises(ValueError, match="larger than"):
        decode((17 << 20).to_bytes(4, "little") + b" " * (17 << 20))
    assert decode(encode({1: "a", -5: "b", "k": [1, 2]})) == {1: "a", -5: "b", "k": [1, 2]}
