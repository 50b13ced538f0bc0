"""The judge: runs every test cell of source/, hidden parts included, and decides each verdict.

The judge process never runs learner code. Test cells run here, against the learner's answer in
the sandboxed learner process (through grader.testing's seam) and against the trusted reference
from source/. A failure becomes a category and a message for the learner; a crash, timeout or
out-of-memory in the learner process is that test's result, and the remaining tests still run.
"""

from __future__ import annotations

import linecache
import time
from pathlib import Path

from grader.course import Course, SandboxLimits
from grader.judging import testing
from grader.judging.diagnosis import Call, Diagnoser
from grader.judging.expect import Failure
from grader.judging.results import CheckReport, TestResult
from grader.notebook.answer import learner_cells, reference_cells, setup_cells
from grader.notebook.cells import TestCell, test_cells
from grader.notebook.reading import NotGradable, read_notebook
from grader.sandbox.handle import LearnerCrashed, LearnerError, LearnerProcess, LearnerTimeout
from grader.sandbox.lazy_plotting import lazy_builtins

_trusted_namespaces: dict[tuple, dict] = {}


def check(course: Course, assignment: str, notebook: Path, learner: str = "", limits: SandboxLimits | None = None, diagnose: bool = True) -> CheckReport:
    """Judge `notebook` as an answer to `assignment`; name known mistakes behind failures if `diagnose`."""
    started = time.monotonic()
    source = course.source_notebook(assignment)
    tests = test_cells(source)
    try:
        answer = learner_cells(source, read_notebook(notebook))
    except NotGradable as error:
        report = CheckReport.not_gradable_for(tests, str(error), assignment=assignment, learner=learner, notebook=str(notebook))
        report.seconds = time.monotonic() - started
        return report
    report = CheckReport(assignment=assignment, learner=learner, notebook=str(notebook))
    process = LearnerProcess(course.root, answer, limits or course.limits, course.release / assignment, len(tests))
    process.start()  # first: its imports overlap with everything the judge does next
    _import_what_tests_use(tests)
    runnable = [t for t in tests if not t.gpu or _cuda_available()]
    judge = Judge(process, source, limits or course.limits, course.known_wrong(assignment))
    judge.diagnosing = diagnose
    testing.use_judge(judge)
    try:
        setup = _trusted(source, "setup", setup_cells)
        for test in tests:
            if test in runnable:
                report.results.append(judge.run(test, setup))
            else:
                report.results.append(_result(test, "not run", "needs a GPU", "needs a GPU: not run on this machine (no CUDA)"))
    finally:
        testing.use_judge(None)
        report.protections = process.protections
        report.load_problems = {k: _describe_problem(v) for k, v in process.load_problems.items()}
        process.stop()
    report.seconds = time.monotonic() - started
    return report


# Failures a known mistake cannot explain: nothing usable came back from the learner.
UNDIAGNOSABLE = {"not implemented", "timeout", "crashed", "memory", "not defined", "not plain data", "exception"}


class Judge:
    """What grader.testing calls in judged mode."""

    def __init__(self, process: LearnerProcess, source: Path, limits: SandboxLimits, known_wrong: list[Path]):
        self.process, self.source, self.limits = process, source, limits
        self.known_wrong = known_wrong  # the files a diagnosis replays
        self.deadline = 0.0
        self.calls: list[Call] = []
        self.diagnosing = True
        self.tolerance: tuple[float, float] | None = None
        self._diagnoser: Diagnoser | None = None

    def call_learner(self, name, args, kwargs):
        result = self.process.call(name, args, kwargs, self.deadline)
        self.calls.append(Call("call", name, args, kwargs, result))
        return result

    def run_scenario(self, source, name, args, kwargs):
        result = self.process.run_scenario(source, name, args, kwargs, self.deadline)
        self.calls.append(Call("scenario", name, args, kwargs, result, source))
        return result

    def diagnose(self, result: TestResult, tolerance: tuple[float, float] | None = None) -> TestResult:
        """Name the classic mistake behind a failure, when the learner's outputs match exactly one."""
        if not self.diagnosing or result.status != "failed" or result.category in UNDIAGNOSABLE or not self.calls:
            return result
        if self._diagnoser is None:
            self._diagnoser = Diagnoser(self.known_wrong, self.reference_namespace())
        found = self._diagnoser.diagnose(self.calls, tolerance)
        if found is not None:
            result.misconception, result.misconception_id = found.text, found.id
        return result

    def reference_namespace(self) -> dict:
        return _trusted(self.source, "reference", reference_cells)

    def run(self, test: TestCell, setup: dict) -> TestResult:
        self.calls, self.tolerance = [], None
        return self.diagnose(self._run(test, setup), self.tolerance)

    def _run(self, test: TestCell, setup: dict) -> TestResult:
        try:
            self.process.ensure_loaded()
        except (LearnerTimeout, LearnerCrashed) as error:
            return _result(test, "failed", error.category, str(error))
        self.deadline = time.monotonic() + self.limits.time_per_test
        filename = f"<test {test.name}>"
        linecache.cache[filename] = (len(test.code), None, test.code.splitlines(True), filename)
        scope = dict(setup)
        try:
            exec(compile(test.code, filename, "exec"), scope)
        except Failure as failure:
            if failure.category == "needs a GPU":
                return _result(test, "not run", failure.category, failure.message)
            self.tolerance = failure.tolerance
            return _result(test, "failed", failure.category, failure.message)
        except LearnerError as error:
            return _result(test, "failed", error.category, self._explain(error), error.traceback_lines)
        except (LearnerTimeout, LearnerCrashed) as error:
            return _result(test, "failed", error.category, str(error))
        except AssertionError as error:
            return _result(test, "failed", "wrong value", str(error) or "the property does not hold")
        except Exception as error:  # noqa: BLE001 - the test could not use what the learner returned
            return _result(test, "failed", "unusable result", f"the test could not use your result: {type(error).__name__}: {str(error)[:300]}")
        finally:
            linecache.cache.pop(filename, None)
        result = _result(test, "passed")
        result.points = test.points
        return result

    def _explain(self, error: LearnerError) -> str:
        if error.category == "not implemented":
            return "not implemented yet: the function still raises NotImplementedError"
        if error.category == "not plain data":
            return error.message
        text = f"your code raised {error.type_name}: {error.message}"
        if error.type_name == "NameError":
            for cell, problem in self.process.load_problems.items():
                text += f" (cell '{cell}' failed when it was run: {_describe_problem(problem)})"
        return text


def _result(test: TestCell, status: str, category: str = "", message: str = "", traceback: list[str] | None = None) -> TestResult:
    return TestResult(
        name=test.name, words=test.words, max_points=test.points, hidden=test.hidden, gpu=test.gpu,
        status=status, category=category, message=message, traceback=list(traceback or []),
    )


def _describe_problem(problem: dict) -> str:
    types = problem.get("types") or ["Exception"]
    return f"{types[0]}: {problem.get('message', '')}"


def _trusted(source: Path, kind: str, cells_of) -> dict:
    """Setup or reference namespace from source/, executed once per source version."""
    key = (source, source.stat().st_mtime, kind)
    if key not in _trusted_namespaces:
        namespace: dict = {"__name__": f"__{kind}__", "__builtins__": lazy_builtins()}
        for cell in cells_of(source):
            filename = f"<{kind} {cell.name}>"
            # scenarios defined in setup cells are shipped by source: keep it findable
            linecache.cache[filename] = (len(cell.code), None, cell.code.splitlines(True), filename)
            exec(compile(cell.code, filename, "exec"), namespace)
        _trusted_namespaces[key] = namespace
    return _trusted_namespaces[key]


def _import_what_tests_use(tests: list[TestCell]) -> None:
    """Import the modules the test cells import (torch, scipy, ...) before the first test needs them."""
    import ast
    import importlib

    names = set()
    for test in tests:
        try:
            tree = ast.parse(test.code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module)
    for name in sorted(names):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - the test itself will report a missing module
            pass


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()

