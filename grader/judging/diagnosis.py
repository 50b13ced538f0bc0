"""Naming the learner's misconception: which classic mistake makes their output what it is.

Each assignment keeps known-wrong implementations of its classic bugs in
tests/known_wrong/<id>/<mistake>.py, each opening with a docstring that names the mistake and
its fix. When a test fails, the judge replays the learner calls that test made (same function,
same inputs) against the reference with each known-wrong file applied on top. A mistake is
named when the learner's outputs match that implementation on every call and do not all match
the reference. All of this happens in the judge: known-wrong code is the course's own code, and
nothing about the inputs or the expected values reaches the learner.
"""

from __future__ import annotations

import ast
import contextlib
import copy
import types
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from grader.judging import expect
from grader.judging.expect import Failure
from grader.judging.reach import closure, names_in_code
from grader.judging.testing import roundtrip
from grader.sandbox.namespace import NamespaceView, scenario_globals

MATCH_ATOL, MATCH_RTOL = 1e-7, 1e-5


@dataclass(frozen=True)
class Misconception:
    id: str  # the known-wrong file's stem
    text: str  # the docstring: what is wrong, in plain words, and the fix


@dataclass
class Call:
    """One learner call a test made, with what the learner returned."""

    kind: str  # "call" or "scenario"
    name: str
    args: tuple
    kwargs: dict
    result: object
    source: str = ""  # a scenario's source


@lru_cache(maxsize=256)
def _load(path: Path, mtime: float) -> tuple[Misconception, str]:
    code = path.read_text()
    text = ast.get_docstring(ast.parse(code)) or path.stem.replace("_", " ")
    return Misconception(path.stem, " ".join(text.split())), code


def load(path: Path) -> tuple[Misconception, str]:
    return _load(path, path.stat().st_mtime)


class Diagnoser:
    """Replays failing tests' calls against every known-wrong implementation of an assignment."""

    def __init__(self, files: list[Path], reference: dict):
        self.files = files  # the assignment's known-wrong implementations (Course.known_wrong)
        self.reference = reference
        self._namespaces: dict[Path, dict] = {}

    def _namespace(self, path: Path) -> dict:
        """The reference with the mistake applied, as one namespace (as if appended to the notebook).

        The reference's functions are rebound to the new namespace, so a correct function that
        calls a wrongly redefined one uses the wrong one, exactly as in the learner's notebook.
        """
        if path not in self._namespaces:
            _, code = load(path)
            namespace = dict(self.reference)
            for name, value in self.reference.items():
                if isinstance(value, types.FunctionType) and value.__globals__ is self.reference:
                    copy_ = types.FunctionType(value.__code__, namespace, value.__name__, value.__defaults__, value.__closure__)
                    copy_.__kwdefaults__, copy_.__dict__ = value.__kwdefaults__, dict(value.__dict__)
                    namespace[name] = copy_
            namespace["__name__"] = f"__known_wrong_{path.stem}__"
            exec(compile(code, f"<known wrong {path.stem}>", "exec", dont_inherit=True), namespace)
            self._namespaces[path] = namespace
        return self._namespaces[path]

    def diagnose(self, calls: list[Call], tolerance: tuple[float, float] | None = None) -> Misconception | None:
        """The one known mistake the learner's outputs match, or None.

        `tolerance` is the (atol, rtol) of the comparison that failed: the learner must differ
        from the reference by more than that, and match the mistake within it (never tighter
        than float noise between two ways of writing the same formula).
        """
        if not calls or not self.files:
            return None
        with _threads_of_the_learner():
            return self._diagnose(calls, tolerance)

    def _diagnose(self, calls: list[Call], tolerance: tuple[float, float] | None) -> Misconception | None:
        strict = tolerance or (MATCH_ATOL, MATCH_RTOL)
        if all(_matches(call, self.reference, strict) for call in calls):
            return None  # the learner agrees with the reference here: the failure is elsewhere
        loose = (max(strict[0], MATCH_ATOL), max(strict[1], MATCH_RTOL))
        used = self._names_used(calls)
        found = [
            load(path)[0]
            for path in self.files
            if redefined_names(path) & used and all(_matches(call, self._namespace(path), loose) for call in calls)
        ]
        return found[0] if len(found) == 1 else None

    def _names_used(self, calls: list[Call]) -> set[str]:
        """Every reference name the calls reach: the functions called and, transitively, what they use.

        A known mistake that redefines none of these cannot explain the outputs, so it is not replayed.
        """
        names = set()
        for call in calls:
            names.add(call.name)
            if call.kind == "scenario":
                names |= set(_strings(call.args)) | set(_strings(call.kwargs))  # getattr(ns, name) by argument
                names |= names_in_code(call.source)
        return closure(names, self.reference)


@contextlib.contextmanager
def _threads_of_the_learner():
    """Replays with torch on one thread, as the learner process computed (OMP_NUM_THREADS=1 there).

    A training run summed in another order drifts by more than float noise over many steps, and
    the mistake it reproduces would then go unnamed.
    """
    import sys

    torch = sys.modules.get("torch")
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@lru_cache(maxsize=256)
def _redefined_at(path: Path, mtime: float) -> frozenset:
    tree = ast.parse(path.read_text())
    return frozenset(n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))


def redefined_names(path: Path) -> frozenset:
    """The functions and classes a known-wrong file defines."""
    return _redefined_at(path, path.stat().st_mtime)


def _strings(value):
    """Every string inside plain data."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _strings(key)
            yield from _strings(item)


def _replay(call: Call, namespace: dict):
    args, kwargs = copy.deepcopy(call.args), copy.deepcopy(call.kwargs)
    if call.kind == "call":
        return roundtrip(namespace[call.name](*args, **kwargs))
    scope = scenario_globals()
    exec(compile(call.source, "<test scenario>", "exec", dont_inherit=True), scope)
    return roundtrip(scope[call.name](NamespaceView(namespace), *args, **kwargs))


def _matches(call: Call, namespace: dict, tolerance: tuple[float, float]) -> bool:
    import warnings

    import numpy as np

    try:
        # known-wrong code overflows on purpose; its warnings are not the learner's business
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            other = _replay(call, namespace)
    except Exception:  # noqa: BLE001 - that implementation cannot even run on these inputs
        return False
    return _same(call.result, other, tolerance)


def _same(a, b, tolerance: tuple[float, float]) -> bool:
    if isinstance(b, dict):  # what a scenario returns: compared key by key
        return isinstance(a, dict) and a.keys() == b.keys() and all(_same(a[k], b[k], tolerance) for k in b)
    if isinstance(b, (list, tuple)) and any(isinstance(x, (dict, list, tuple)) for x in b):
        return isinstance(a, (list, tuple)) and len(a) == len(b) and all(_same(x, y, tolerance) for x, y in zip(a, b))
    try:
        if isinstance(b, (str, bytes, bool, type(None))) or (isinstance(b, (list, tuple)) and b and all(isinstance(x, str) for x in b)):
            return a == b
        expect.close(a, b, atol=tolerance[0], rtol=tolerance[1])
        return True
    except (Failure, TypeError, ValueError):
        return False
