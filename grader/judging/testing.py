"""What test cells import: the one seam between a test and the implementation under test.

    from grader.testing import learner, reference, scenario, expect, needs_gpu

- `learner.f(*args)` calls the learner's `f`; `reference.f(*args)` calls the course's own
  reference solution (for hidden tests run by instructors and by the judge).
- `@scenario` marks a function of a namespace `ns` that builds inputs, uses `ns` and returns
  plain data; `s.learner()`, `s.reference()` and `s.on(obj)` run it against each side.
- `expect` holds the checks (`close`, `shape`, `dtype`, `finite`, `equal`, `true`, `raises`).

Two modes, same test cell source (../shared/GRADER.md):

- kernel mode (JupyterLab, `nbgrader validate` / `autograde`): calls run in-process on the
  notebook's own namespace;
- judged mode (`grader check` / `grader autograde`): the judge installs itself with
  `use_judge`; learner calls then run in the sandboxed learner process and only plain data
  comes back.

In a kernel a test cell whose expectations all hold prints "✓ passed: <what it checks>"; a
failing one shows its Failure as before.

Either way arguments and results pass through the plain-data codec, so a learner sees in
JupyterLab exactly what the judge will see.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
import textwrap
from pathlib import Path

from grader.judging import expect
from grader.judging.expect import Failure
from grader.sandbox.handle import LearnerError
from grader.sandbox.namespace import NamespaceView
from grader.sandbox.plain_data import NotPlainData, decode, encode

__all__ = ["learner", "reference", "scenario", "expect", "needs_gpu", "Failure", "LearnerError"]

_judge = None  # set by grader.judge while it runs test cells


def use_judge(judge) -> None:
    """Route learner and reference calls through `judge` (None restores kernel mode)."""
    global _judge
    _judge = judge


def roundtrip(value, what: str = "the result"):
    """`value` as the other side of the sandbox would receive it."""
    try:
        return decode(encode(value))
    except NotPlainData as error:
        raise Failure(f"{what}: {error}", "not plain data") from None


class _Function:
    def __init__(self, side: str, name: str):
        self.side, self.name = side, name

    def __call__(self, *args, **kwargs):
        args, kwargs = roundtrip((args, kwargs), "the arguments")
        if _judge is not None and self.side == "learner":
            return _judge.call_learner(self.name, args, kwargs)
        namespace = _judge.reference_namespace() if _judge is not None else _kernel_namespace(self.side)
        function = namespace.get(self.name)
        if function is None:
            raise _not_defined(self.name)
        return roundtrip(function(*args, **kwargs), f"{self.name} returned a value that")

    def __repr__(self):
        return f"<{self.side}.{self.name}>"


class _Side:
    """`learner` or `reference`: attribute access gives a callable for that side."""

    def __init__(self, side: str):
        self._side = side

    def __getattr__(self, name: str) -> _Function:
        if name.startswith("__"):
            raise AttributeError(name)
        return _Function(self._side, name)


learner = _Side("learner")
reference = _Side("reference")


def _not_defined(name: str) -> Failure:
    return Failure(f"{name} is not defined: run the cell that defines it", "not defined")


class scenario:
    """A test scenario: a function `(ns, *args) -> plain data` run against either side.

    In judged mode the function's source is sent to the learner process and run there, so it
    must be self-contained: use only its arguments, `ns`, and the modules `np`, `math`, `torch`,
    `nn` and `F`, or import inside the body.
    """

    def __init__(self, function):
        self.function = function
        self.name = function.__name__

    @property
    def source(self) -> str:
        lines = textwrap.dedent(inspect.getsource(self.function)).splitlines()
        while lines and lines[0].lstrip().startswith("@"):
            lines.pop(0)
        return "\n".join(lines) + "\n"

    def learner(self, *args, **kwargs):
        args, kwargs = roundtrip((args, kwargs), "the arguments")
        if _judge is not None:
            return _judge.run_scenario(self.source, self.name, args, kwargs)
        return self.on(_kernel_namespace("learner"), *args, **kwargs)

    def reference(self, *args, **kwargs):
        namespace = _judge.reference_namespace() if _judge is not None else _kernel_namespace("reference")
        return self.on(namespace, *args, **kwargs)

    def on(self, namespace, *args, **kwargs):
        """Run against any namespace: a dict of functions or an object with them as attributes."""
        view = NamespaceView(namespace, _not_defined) if isinstance(namespace, dict) else namespace
        args, kwargs = roundtrip((args, kwargs), "the arguments")
        return roundtrip(self.function(view, *args, **kwargs), f"scenario {self.name} returned a value that")

    def __call__(self, ns, *args, **kwargs):
        return self.function(ns, *args, **kwargs)


def needs_gpu() -> None:
    """First line of a `gpu`-tagged test cell: without CUDA the test is reported as not run."""
    torch = sys.modules.get("torch")
    if torch is None:
        import torch
    if not torch.cuda.is_available():
        raise Failure("needs a GPU: this test was not run on this machine (no CUDA)", "needs a GPU")


# --- kernel mode ---------------------------------------------------------------------------

_reference_cache: dict[Path, dict] = {}


def _kernel_namespace(side: str) -> dict:
    if side == "learner":
        try:
            from IPython import get_ipython

            shell = get_ipython()
            if shell is not None:
                return shell.user_ns
        except ImportError:
            pass
        return sys.modules["__main__"].__dict__
    return _kernel_reference()


def _kernel_reference() -> dict:
    """The course's reference solution, for hidden tests run by nbgrader in a kernel.

    Found from the working directory: `<course>/<anything>/<assignment id>/`, with the course
    root marked by nbgrader_config.py (or GRADER_COURSE_ROOT / GRADER_ASSIGNMENT set).
    """
    from grader.course import Course
    from grader.notebook.answer import reference_cells

    here = Path.cwd()
    assignment = os.environ.get("GRADER_ASSIGNMENT") or here.name
    try:
        course = Course.find(here)
        notebook = course.source_notebook(assignment)
    except LookupError as error:
        raise Failure(
            f"the reference solution is only available to instructors grading the course ({error})",
            "no reference",
        ) from None
    if notebook not in _reference_cache:
        _reference_cache[notebook] = _execute_cells(reference_cells(notebook))
    return _reference_cache[notebook]


def _execute_cells(cells) -> dict:
    namespace: dict = {"__name__": "__reference__"}
    for cell in cells:
        exec(compile(cell.code, f"<reference {cell.name}>", "exec", dont_inherit=True), namespace)
    return namespace


_EXPECTS = re.compile(r"\bexpect\.[a-z_]+\(")


def announce_passing_tests() -> None:
    """In an IPython kernel, have every test cell that ran without a failure say so in one line.

    A passing test cell would otherwise show nothing, and a learner cannot tell that it ran.
    Registered once per kernel, on the first import; the line goes to stdout (nbgrader counts
    stderr output against a cell, never stdout).
    """
    ipython = sys.modules.get("IPython")  # loaded in every kernel; never imported here for a judge
    shell = ipython.get_ipython() if ipython is not None and hasattr(ipython, "get_ipython") else None
    if shell is None or getattr(shell, "_grader_announces_passes", False):
        return
    shell._grader_announces_passes = True
    shell.events.register("post_run_cell", _say_if_passed)


def _say_if_passed(result) -> None:
    """post_run_cell: "✓ passed: <the cell's docstring>" for a cell that checked expectations and raised nothing."""
    code = getattr(getattr(result, "info", None), "raw_cell", "") or ""
    if _judge is not None or not result.success or not _EXPECTS.search(code):
        return
    from grader.notebook.cells import property_words

    print(f"✓ passed: {property_words(code, 'every expectation of this cell holds')}")


announce_passing_tests()
