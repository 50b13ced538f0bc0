"""What a test scenario sees: the implementation under test as attributes, and the modules it may use.

A scenario is a function `(ns, *args)`; `ns` is a `NamespaceView` of a namespace (the learner's
answer in the learner process, the reference or a known-wrong implementation in the judge).
The same class serves all three; only the error for a missing name differs: the learner
process reports a NameError as the learner's own, the judge a failed test.
"""

from __future__ import annotations

from typing import Callable

from grader.sandbox.lazy_modules import LazyModule


def _name_error(name: str) -> Exception:
    return NameError(f"your notebook defines nothing called {name!r}")


class NamespaceView:
    """A dict seen through attributes, as a scenario's `ns` argument."""

    def __init__(self, mapping: dict, missing: Callable[[str], Exception] = _name_error):
        self.__dict__["_mapping"] = mapping
        self.__dict__["_missing"] = missing

    def __getattr__(self, name):
        try:
            return self._mapping[name]
        except KeyError:
            raise self._missing(name) from None


def scenario_globals() -> dict:
    """The globals a scenario's source runs with: `np`, `math`, and torch's `torch`, `nn`, `F` (imported on first use)."""
    import math

    import numpy as np

    return {"np": np, "math": math, "__name__": "__scenario__",
            "torch": LazyModule("torch"), "nn": LazyModule("torch.nn"), "F": LazyModule("torch.nn.functional")}
