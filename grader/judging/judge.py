"""The judge: runs every test cell of source/, hidden parts included, and decides each verdict.

The judge process never runs learner code. Test cells run here, against the learner's answer in
the sandboxed learner process (through grader.testing's seam) and against the trusted reference
from source/. A failure becomes a category and a message for the learner; a crash, timeout or
out-of-memory in the learner process is that test's result, and the remaining tests still run.

Time: each test gets its own limit (grader.judging.time_limits). A learner function that timed
out fails every later test that reaches it at once, with the same diagnosis, and a submission
has a total budget: once it is spent, the remaining tests fail as "time budget used up". A
learner whose every function loops forever thus learns so in about one time limit per
function, not one per test.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib
import os
import linecache
import re
import sys
import time
import traceback
import types
from pathlib import Path
from typing import Callable

from grader.course import Course, SandboxLimits, assignment_settings
from grader.judging import testing, time_limits
from grader.judging.diagnosis import Call, Diagnoser
from grader.judging.expect import Failure
from grader.judging.reach import source_graph, test_reach
from grader.judging.results import CheckReport, TestResult
from grader.notebook.answer import Cell, SyntaxProblem, learner_cells, reference_cells, setup_cells, syntax_problems
from grader.notebook.cells import HIDDEN_BEGIN, TestCell, hidden_start_line, imports_of, read_source, test_cells
from grader.notebook.reading import NotGradable, read_notebook
from grader.sandbox.deadline import Deadline
from grader.sandbox.handle import LearnerCrashed, LearnerError, LearnerProcess, LearnerTimeout, preload_modules, start_zygote
from grader.sandbox.lazy_modules import lazy_builtins
from grader.sandbox.zygote import Zygote

_trusted_namespaces: dict[tuple, dict] = {}


def check(
    course: Course, assignment: str, notebook: Path, learner: str = "", limits: SandboxLimits | None = None,
    diagnose: bool = True, zygote: Zygote | None = None, only: Callable[[TestCell], bool] | None = None,
) -> CheckReport:
    """Judge `notebook` as an answer to `assignment`; name known mistakes behind failures if `diagnose`.

    `zygote`: a warm parent for the learner process (started here, and stopped, when None);
    `only`: judge just the tests it accepts (the self-test's known-wrong runs); the others are left out.
    """
    source = course.source_notebook(assignment)
    try:
        answer = learner_cells(source, read_notebook(notebook))
    except NotGradable as error:
        return CheckReport.not_gradable_for(test_cells(source), str(error), assignment=assignment, learner=learner, notebook=str(notebook))
    own = zygote is None
    zygote = zygote or start_zygote(preload_modules(source))
    try:
        return judge_answer(course, assignment, answer, str(notebook), learner, limits, diagnose, zygote, only)
    finally:
        if own:
            zygote.close()


def judge_answer(course, assignment, answer: list[Cell], notebook: str, learner, limits, diagnose, zygote, only=None) -> CheckReport:
    """Judge the extracted `answer` (grader.notebook.answer cells) in a learner process forked from `zygote`."""
    started = time.monotonic()
    source = course.source_notebook(assignment)
    limits = limits or limits_for(course, source)
    tests = [t for t in test_cells(source) if only is None or only(t)]
    report = CheckReport(assignment=assignment, learner=learner, notebook=notebook)
    process = LearnerProcess(course.root, answer, limits, course.release / assignment, len(tests), zygote)
    process.start()  # first: it defines the answer while the judge gets ready
    judge = Judge(process, source, limits, course.known_wrong(assignment), source_graph([c.code for c in answer]))
    judge.diagnosing = diagnose
    with _working_directory(course.release / assignment):  # as the learner's: the files the assignment ships
        try:
            _import_what_tests_use(tests)
            judge.run_all(tests, report, budget_end=started + limits.time_per_submission)
        finally:
            report.protections = process.protections
            report.load_problems = {k: _describe_problem(v) for k, v in process.load_problems.items()}
            process.stop()
    report.seconds = time.monotonic() - started
    return report


def limits_for(course: Course, source: Path) -> SandboxLimits:
    """The course's limits with what the assignment's source notebook sets for itself (course.ASSIGNMENT_SETTINGS)."""
    own = assignment_settings(read_source(source).get("metadata", {}).get("grader") or {}, str(source))
    return dataclasses.replace(course.limits, **own) if own else course.limits


@contextlib.contextmanager
def _working_directory(folder: Path):
    """The judge reads what the course's own cells read (data files, modules beside the notebook) from `folder`."""
    before = os.getcwd()
    if folder.is_dir():
        os.chdir(folder)
    with _importable(folder):
        try:
            yield
        finally:
            os.chdir(before)


@contextlib.contextmanager
def _importable(folder: Path):
    """Modules shipped beside a notebook (course_model.py) import as in the notebook's own kernel."""
    entry = str(folder)
    sys.path.insert(0, entry)
    try:
        yield
    finally:
        if entry in sys.path:
            sys.path.remove(entry)


def tests_reaching(course: Course, assignment: str, names: set[str]) -> set[str]:
    """The test cells of `assignment` that reach any of `names` (grader.judging.reach), by grade_id."""
    source = course.source_notebook(assignment)
    setup, reference = _trusted(source, "setup", setup_cells), _trusted(source, "reference", reference_cells)
    return {t.name for t in test_cells(source) if test_reach(t.code, setup, reference) & set(names)}


_warm: dict[Path, tuple[float, Zygote]] = {}


def warm_zygote(course: Course, assignment: str) -> Zygote:
    """A zygote for `assignment` that this process keeps (and restarts if it died) for every check that follows.

    For long-lived judges (class-grading workers, the self-test): each learner process is then
    a fork of it, milliseconds instead of an interpreter's start and its imports.
    """
    source = course.source_notebook(assignment)
    version = source.stat().st_mtime
    kept = _warm.get(source)
    if kept is None or kept[0] != version or not kept[1].alive():
        if kept is not None:
            kept[1].close()
        _warm[source] = (version, start_zygote(preload_modules(source)))
    return _warm[source][1]


# A failing test whose learner calls took longer than this (a training run) is diagnosed only when no
# earlier test of the submission named a mistake: its replay costs that time again for the reference
# and for every known mistake that could explain it (30 s of a class's grading time per submission).
COSTLY_REPLAY_SECONDS = 1.0

# Failures a known mistake cannot explain: nothing usable came back from the learner.
UNDIAGNOSABLE = {"not implemented", "timeout", "crashed", "memory", "not defined", "not plain data", "exception", "time budget",
                 "syntax error"}


class Judge:
    """What grader.testing calls in judged mode."""

    def __init__(self, process: LearnerProcess, source: Path, limits: SandboxLimits, known_wrong: list[Path], learner_graph: dict):
        self.process, self.source, self.limits = process, source, limits
        self.learner_graph = learner_graph  # the learner's own functions and what they call (grader.judging.reach)
        self.known_wrong = known_wrong  # the files a diagnosis replays
        self.times = time_limits.reference_times(source)
        self.deadline: Deadline | None = None
        self.calls: list[Call] = []
        self.diagnosing = True
        self.tolerance: tuple[float, float] | None = None
        self.timed_out: dict[str, str] = {}  # learner function -> the words of the test it timed out in
        self._hidden_part, self._hidden_from_line = "", None  # of the test being run
        self._diagnoser: Diagnoser | None = None
        self.named: set[str] = set()  # the mistakes named so far in this submission
        self._syntax_problems: list[SyntaxProblem] | None = None  # found when a test first misses a name

    def call_learner(self, name, args, kwargs):
        result = self.process.call(name, args, kwargs, self.deadline)
        self.calls.append(Call("call", name, args, kwargs, result))
        return result

    def run_scenario(self, source, name, args, kwargs):
        if self._hidden_part and source.strip() and source.strip() in self._hidden_part:
            # a scenario's source is sent into the learner process: hidden code must never be
            raise Failure(f"the scenario {name} of this test is defined in its hidden part and is not sent to your code; "
                          "this is a fault of the course, not yours: tell the course staff", "grader fault")
        result = self.process.run_scenario(source, name, args, kwargs, self.deadline)
        self.calls.append(Call("scenario", name, args, kwargs, result, source))
        return result

    def diagnose(self, result: TestResult, tolerance: tuple[float, float] | None = None) -> TestResult:
        """Name the classic mistake behind a failure, when the learner's outputs match exactly one."""
        if not self.diagnosing or result.status != "failed" or result.category in UNDIAGNOSABLE or not self.calls:
            return result
        if self.named and result.seconds > COSTLY_REPLAY_SECONDS:
            return result  # a slow test (training) replayed once per known mistake: the mistake is named already
        try:  # best effort: a diagnosis that fails leaves the failure as it is
            if self._diagnoser is None:
                self._diagnoser = Diagnoser(self.known_wrong, self.reference_namespace())
            found = self._diagnoser.diagnose(self.calls, tolerance)
        except Exception:  # noqa: BLE001 - odd learner values a known-wrong replay cannot compare with
            return result
        if found is not None:
            result.misconception, result.misconception_id = found.text, found.id
            self.named.add(found.id)
        return result

    def reference_namespace(self) -> dict:
        return _trusted(self.source, "reference", reference_cells)

    def run_all(self, tests: list[TestCell], report: CheckReport, budget_end: float) -> None:
        """Every test in order, into `report`; GPU tests without CUDA and tests past the budget are not run."""
        cuda = _cuda_available()
        testing.use_judge(self)
        try:
            setup = _trusted(self.source, "setup", setup_cells)
            for test in tests:
                if test.gpu and not cuda:
                    report.results.append(_result(test, "not run", "needs a GPU", "needs a GPU: not run on this machine (no CUDA)"))
                elif time.monotonic() > budget_end:
                    report.results.append(_result(test, "failed", "time budget", (
                        f"not run: the time budget for one notebook ({self.limits.time_per_submission:g} s) was used up by earlier tests; "
                        "make the slow or looping functions fast, then check again")))
                else:
                    report.results.append(self.run(test, setup))
        finally:
            testing.use_judge(None)

    def run(self, test: TestCell, setup: dict) -> TestResult:
        self.calls, self.tolerance, self._started = [], None, None
        self._hidden_from_line = hidden_start_line(test.code)
        self._hidden_part = test.code[test.code.find(HIDDEN_BEGIN):] if self._hidden_from_line else ""
        result = self._run(test, setup)
        result.seconds = round(time.monotonic() - self._started, 4) if self._started else 0.0  # the learner's answer defined
        return self.diagnose(result, self.tolerance)

    def _run(self, test: TestCell, setup: dict) -> TestResult:
        looping = sorted(set(self.timed_out) & test_reach(test.code, setup, self.learner_graph))
        if looping:
            earlier = "; ".join(f"{name} ran out of time in the test “{_short(self.timed_out[name])}”" for name in looping)
            return _result(test, "failed", "timeout", f"not run: {earlier}. Is there an infinite loop, or a very slow step, in {', '.join(looping)}?")
        try:
            self.process.ensure_loaded()
        except (LearnerTimeout, LearnerCrashed) as error:
            return _result(test, "failed", error.category, str(error))
        seconds = time_limits.limit(test, self.limits, self.times)
        self.deadline = Deadline(seconds)
        self._started = time.monotonic()
        filename = f"<test {test.name}>"
        linecache.cache[filename] = (len(test.code), None, test.code.splitlines(True), filename)
        scope = dict(setup)
        try:
            exec(compile(test.code, filename, "exec", dont_inherit=True), scope)
        except Failure as failure:
            if failure.category == "needs a GPU":
                return _result(test, "not run", failure.category, failure.message)
            self.tolerance = failure.tolerance
            hidden = self._raised_in_hidden_part(failure, filename)
            return _result(test, "failed", failure.category, failure.coarse if hidden else failure.message)
        except LearnerError as error:
            broken = self._syntax_error_behind(error)
            if broken is not None:
                return _result(test, "failed", "syntax error", broken.advice(), [broken.where()])
            message = self._explain(error, hidden=self._raised_in_hidden_part(error, filename))
            return _result(test, "failed", error.category, message, error.traceback_lines)
        except LearnerTimeout as error:
            for name in error.running:
                self.timed_out.setdefault(name, test.words)
            shown = error.running != [str(error).rsplit(" ", 1)[-1]]  # "calling f" already names f
            where = f" (still running: {' → '.join(error.running)})" if error.running and shown else ""
            return _result(test, "failed", "timeout", (
                f"{error}{where}, past this test's limit of {seconds:g} s of computing: is there an infinite loop?"))
        except LearnerCrashed as error:
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

    def _raised_in_hidden_part(self, error: BaseException, filename: str) -> bool:
        """Whether the test cell's line that raised `error` is in its hidden part."""
        if self._hidden_from_line is None:
            return False
        lines = [frame.lineno for frame in traceback.extract_tb(error.__traceback__) if frame.filename == filename]
        return bool(lines) and lines[-1] >= self._hidden_from_line

    def _syntax_error_behind(self, error: LearnerError) -> SyntaxProblem | None:
        """The learner's cell that did not parse, when `error` is a NameError for a name that cell should define.

        Told as the syntax error it is, on the line where it is, instead of a NameError in every test of that cell.
        """
        if "NameError" not in error.type_names or not any("SyntaxError" in p.get("types", []) for p in self.process.load_problems.values()):
            return None
        if self._syntax_problems is None:
            self._syntax_problems = syntax_problems(self.source, self.process.cells)
        missing = set(re.findall(r"'([A-Za-z_][A-Za-z0-9_]*)'", error.message))
        return next((p for p in self._syntax_problems if p.names & missing), None)

    def _explain(self, error: LearnerError, hidden: bool = False) -> str:
        if error.category == "not implemented":
            return "not implemented yet: the function still raises NotImplementedError"
        if error.category == "not plain data":
            return error.message
        if hidden:  # the message is the learner's own free text about hidden inputs: it could carry them out
            return (f"your code raised {error.type_name} in a hidden test (its message is not shown for hidden tests: "
                    "your own lines below say where; try edge cases of the documented inputs)")
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


def _short(words: str, most: int = 70) -> str:
    return words if len(words) <= most else words[: most - 1].rstrip() + "…"


def _describe_problem(problem: dict) -> str:
    types = problem.get("types") or ["Exception"]
    return f"{types[0]}: {problem.get('message', '')}"


def _trusted(source: Path, kind: str, cells_of) -> dict:
    """Setup or reference namespace from source/, executed once per source version."""
    key = (source, source.stat().st_mtime, kind)
    if key not in _trusted_namespaces:
        module = types.ModuleType(f"__{kind}__")  # in sys.modules, so that classes defined here (dataclasses) find it
        sys.modules[module.__name__] = module
        namespace = module.__dict__
        namespace["__builtins__"] = lazy_builtins()
        cells = cells_of(source)
        with _working_directory(source.parent.resolve()):  # its data files and modules, wherever the judge was asked from
            for cell in cells:
                filename = f"<{kind} {cell.name}>"
                # scenarios defined in setup cells are shipped by source: keep it findable
                linecache.cache[filename] = (len(cell.code), None, cell.code.splitlines(True), filename)
                exec(compile(cell.code, filename, "exec", dont_inherit=True), namespace)
        _trusted_namespaces[key] = namespace
    return _trusted_namespaces[key]


def _import_what_tests_use(tests: list[TestCell]) -> None:
    """Import the modules the test cells import (torch, scipy, ...) before the first test needs them."""
    for name in sorted({n for test in tests for n in imports_of(test.code)}):
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
