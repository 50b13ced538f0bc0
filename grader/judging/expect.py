"""Expectations for test cells: each check fails with a category and a message a learner can act on.

A message may describe the learner's own output (its shape, dtype, how far it is off and
where) but never the expected values of a test: feedback on hidden tests must not leak them.
Every failure is a `Failure`, an AssertionError, so plain nbgrader counts it as a failed cell.
"""

from __future__ import annotations

import math

import numpy as np

from grader.sandbox.plain_data import loaded_torch


class Failure(AssertionError):
    """A property that does not hold. `category` says how it failed, for reports."""

    def __init__(self, message: str, category: str = "wrong value", tolerance: tuple[float, float] | None = None,
                 coarse: str | None = None):
        super().__init__(message)
        self.category = category
        self.message = message
        self.tolerance = tolerance  # (atol, rtol) of the comparison that failed, if it was one
        self.coarse = coarse or message  # what a hidden test may say: no positions, only an order of magnitude


def fail(message: str, category: str = "wrong value"):
    raise Failure(message, category)


def _with_hint(message: str, hint: str) -> str:
    return f"{message}: {hint}" if hint else message


def as_array(value, what: str = "the result") -> np.ndarray:
    """A NumPy view of an array-like answer; torch tensors are detached and moved to the CPU."""
    torch = loaded_torch()
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            value = value.float()
        return value.numpy()
    if isinstance(value, (np.ndarray, np.generic, int, float, complex, bool)):
        return np.asarray(value)
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            pass
    fail(f"{what} is a {type(value).__name__}, expected an array", "type")


def shape(actual, expected_shape, what: str = "the result", hint: str = ""):
    got = as_array(actual, what).shape
    if tuple(got) != tuple(expected_shape):
        fail(_with_hint(f"{what} has shape {tuple(got)}, expected {tuple(expected_shape)}", hint), "shape")


def dtype(actual, expected, what: str = "the result", hint: str = ""):
    torch = loaded_torch()
    if torch is not None and isinstance(actual, torch.Tensor):
        got, want = actual.dtype, expected
    else:
        got, want = as_array(actual, what).dtype, np.dtype(expected)
    if got != want:
        fail(_with_hint(f"{what} has dtype {got}, expected {want}", hint), "dtype")


def finite(actual, what: str = "the result", hint: str = ""):
    array = as_array(actual, what)
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        fail(_with_hint(f"{what} has {bad} entries that are NaN or infinite", hint), "not finite")


def close(actual, desired, *, atol: float = 1e-8, rtol: float = 1e-6, what: str = "the result", hint: str = ""):
    """`actual` matches `desired` elementwise within |a - d| <= atol + rtol * |d|, recursively.

    Tuples, lists and dicts are compared item by item. The message gives the learner's
    largest error, where it is and the tolerance, never the desired values.
    """
    if isinstance(desired, dict):
        if not isinstance(actual, dict):
            fail(f"{what} is a {type(actual).__name__}, expected a dict", "type")
        missing = [k for k in desired if k not in actual]
        if missing:
            fail(f"{what} lacks the keys {missing}", "wrong value")
        for key in desired:
            close(actual[key], desired[key], atol=atol, rtol=rtol, what=f"{what}[{key!r}]", hint=hint)
        return
    if isinstance(desired, (tuple, list)) and not _numeric_sequence(desired):
        if not isinstance(actual, (tuple, list)):
            fail(f"{what} is a {type(actual).__name__}, expected a sequence of {len(desired)} items", "type")
        if len(actual) != len(desired):
            fail(f"{what} has {len(actual)} items, expected {len(desired)}", "shape")
        for i, (a, d) in enumerate(zip(actual, desired)):
            close(a, d, atol=atol, rtol=rtol, what=f"{what}[{i}]", hint=hint)
        return
    a = as_array(actual, what)
    d = as_array(desired, "the expected value")
    if a.shape != d.shape:
        fail(_with_hint(f"{what} has shape {a.shape}, expected {d.shape}", hint), "shape")
    if a.dtype.kind not in "biufc":
        fail(f"{what} has non-numeric dtype {a.dtype}", "dtype")
    a64 = a.astype(np.complex128 if a.dtype.kind == "c" else np.float64)
    d64 = d.astype(np.complex128 if d.dtype.kind == "c" else np.float64)
    a_nan, d_nan = np.isnan(a64), np.isnan(d64)
    if np.any(a_nan & ~d_nan):
        fail(_with_hint(f"{what} has {int(np.sum(a_nan & ~d_nan))} NaN entries", hint), "not finite")
    both_inf = np.isinf(a64) & np.isinf(d64) & (a64 == d64)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(a64 - d64)
        allowed = atol + rtol * np.abs(d64)
    # an infinite expected value is met only by the same infinity (the tolerance atol + rtol * inf would allow anything)
    bad = (~(error <= allowed) | (np.isinf(d64) & ~both_inf)) & ~both_inf & ~(a_nan & d_nan)
    if np.any(bad):
        worst = np.unravel_index(int(np.argmax(np.where(bad, error, -1.0))), a.shape) if a.ndim else ()
        worst_error = float(error[worst]) if a.ndim else float(error)
        where = f" at index {tuple(int(i) for i in worst)}" if a.ndim else ""
        message = (
            f"{what} is off by up to {_fmt(worst_error)}{where}; {int(bad.sum())} of {bad.size} "
            f"entries exceed the tolerance atol={atol:g}, rtol={rtol:g}"
        )
        coarse = f"{what} is off by about {_magnitude(worst_error)}, beyond the tolerance atol={atol:g}, rtol={rtol:g}"
        raise Failure(_with_hint(message, hint), "tolerance", tolerance=(atol, rtol), coarse=_with_hint(coarse, hint))


def _numeric_sequence(value) -> bool:
    try:
        return np.asarray(value).dtype.kind in "biufc"
    except (TypeError, ValueError):
        return False


def _magnitude(x: float) -> str:
    """An order of magnitude, '1e-3': enough to tell a rounding slip from a wrong formula, not to rebuild a value."""
    if not math.isfinite(x):
        return "inf" if math.isinf(x) else "nan"
    return "0" if x == 0 else f"1e{math.floor(math.log10(x)):+d}".replace("+", "")


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.3g}"


def equal(actual, desired, what: str = "the result", hint: str = ""):
    """Exact equality of plain values (ints, strings, lists of them, integer arrays)."""
    if isinstance(desired, (np.ndarray,)) or (loaded_torch() and isinstance(desired, loaded_torch().Tensor)):
        a, d = as_array(actual, what), as_array(desired)
        if a.shape != d.shape:
            fail(_with_hint(f"{what} has shape {a.shape}, expected {d.shape}", hint), "shape")
        if not np.array_equal(a, d):
            fail(_with_hint(f"{what} differs in {int(np.sum(a != d))} of {a.size} entries", hint))
        return
    if type(actual) is not type(desired) and not (isinstance(actual, (int, float)) and isinstance(desired, (int, float))):
        fail(f"{what} is a {type(actual).__name__}, expected a {type(desired).__name__}", "type")
    if actual != desired:
        fail(_with_hint(f"{what} is not the expected value", hint))


def true(condition, message: str, category: str = "wrong value"):
    """A property the test computed itself; the message says what does not hold and why it matters."""
    if not bool(condition):
        fail(message, category)


def raises(exception_name: str, call, *args, **kwargs):
    """Calling `call(*args, **kwargs)` raises an exception of this class name (or a subclass)."""
    from grader.sandbox.handle import LearnerError

    try:
        call(*args, **kwargs)
    except LearnerError as error:
        if exception_name in error.type_names:
            return
        if error.category in ("memory", "not plain data", "not implemented"):
            raise  # reported as what it is, not as the wrong exception
        fail(f"raised {error.type_name} where {exception_name} was expected", "exception")
    except Exception as error:  # noqa: BLE001 - kernel mode: the learner's own exception
        if getattr(error, "category", None) in ("timeout", "crashed"):
            raise  # the learner process timed out or died: that is the result
        if exception_name in [c.__name__ for c in type(error).__mro__]:
            return
        fail(f"raised {type(error).__name__} where {exception_name} was expected", "exception")
    fail(f"did not raise {exception_name}", "wrong value")
