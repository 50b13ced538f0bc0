"""The course self-test, a pytest plugin: plain `pytest` runs it over every assignment in source/.

For each source notebook it collects:

- `in-sync`: source/<id>/<id>.ipynb, release/<id>/ and solutions/<id>/ are exactly what the text
  twin and nbgrader generate, and the reference's time per test was measured on this source;
- `no-hidden-text`: no hidden test text (markers or any hidden line) anywhere under release/<id>/;
- `reference-judged`: the reference passes every CPU test cell under `grader check`, with no
  classic mistake named and within every test's time limit;
- `stub-fails`: the release stub fails every graded test cell, and its report shows no hidden line;
- `known-wrong[name]`: each known-wrong implementation (tests/known_wrong/<id>/) is caught by a
  hidden test, named exactly as itself by the diagnosis, and its report shows no hidden line;
- `unknown-bug`: every output of the reference nudged by 0.3 % loses points and is named as no
  classic mistake;
- `nbgrader` (marker `slow`): under real `nbgrader autograde` the reference gets every CPU point,
  the stub none; the reference notebook runs top to bottom in the kernel without an error, and
  every figure cell draws an image;
- `reference-gpu` (marker `gpu`): the GPU-tagged test cells pass where CUDA is present.

The judged items of one assignment share work: its learner processes are forks of one warm
zygote, and a known-wrong implementation is judged only on the tests that reach a function it
redefines. With pytest-xdist (`-n auto --dist loadgroup`, the project's default) each
assignment's items stay on one worker. Select with markers (`-m cpu`, `-m gpu`, `-m "not slow"`), by path
(`pytest source/13-attention`) or with `--assignment ID`.
"""

from __future__ import annotations

import ast
import filecmp
import json
import os
import shutil
import tempfile
from functools import cached_property
from pathlib import Path

import pytest

from grader.authoring.shapes_first import arithmetic_before_shape
from grader.notebook.cells import HIDDEN_BEGIN, HIDDEN_END, hidden_lines, hidden_start_line, is_solution, is_test, test_cells

TIMES_FILE = "reference_times.json"


def pytest_addoption(parser):
    parser.addoption("--assignment", action="append", default=[], help="self-test only these assignments (repeatable)")


def pytest_configure(config):
    config.addinivalue_line("markers", "cpu: runs on any machine")
    config.addinivalue_line("markers", "gpu: needs CUDA; skipped where torch.cuda.is_available() is false")
    config.addinivalue_line("markers", "slow: runs a kernel or real nbgrader")


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix != ".ipynb" or file_path.parent.parent.name != "source":
        return None
    course_root = file_path.parent.parent.parent
    if not (course_root / "nbgrader_config.py").is_file() or file_path.stem != file_path.parent.name:
        return None
    wanted = parent.config.getoption("assignment")
    if wanted and file_path.parent.name not in wanted:
        return None
    return AssignmentFile.from_parent(parent, path=file_path)


class AssignmentFile(pytest.File):
    def collect(self):
        from grader.course import Course

        course = Course(self.path.parent.parent.parent)
        assignment = self.path.parent.name
        runs = Runs(course, assignment)
        checks = [
            ("in-sync", check_in_sync, []),
            ("authoring-rules", check_authoring_rules, []),
            ("no-hidden-text", check_no_hidden_text, []),
            ("reference-judged", check_reference_judged, []),
            ("stub-fails", check_stub_fails, []),
        ]
        checks += [(f"known-wrong[{w.stem}]", lambda r, w=w: check_known_wrong(r, w), []) for w in course.known_wrong(assignment)]
        checks += [
            ("unknown-bug", check_unknown_bug, []),
            ("nbgrader", check_nbgrader, [pytest.mark.slow]),
        ]
        together = pytest.mark.xdist_group(assignment)  # one worker judges all of an assignment (--dist loadgroup)
        for name, function, marks in checks:
            yield SelfTest.from_parent(self, name=name, runs=runs, function=function, marks=[pytest.mark.cpu, together, *marks])
        yield SelfTest.from_parent(self, name="reference-gpu", runs=runs, function=check_reference_gpu, marks=[pytest.mark.gpu, together])


class SelfTest(pytest.Item):
    def __init__(self, *, runs, function, marks, **kwargs):
        super().__init__(**kwargs)
        self.runs, self.function = runs, function
        for mark in marks:
            self.add_marker(mark)

    def runtest(self):
        self.function(self.runs)

    def reportinfo(self):
        return self.path, None, f"{self.runs.assignment}::{self.name}"

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SelfTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class SelfTestFailure(AssertionError):
    pass


class Runs:
    """The judged runs one assignment's items share, each made once, when first needed."""

    def __init__(self, course, assignment: str):
        self.course, self.assignment = course, assignment

    @property
    def source(self) -> Path:
        return self.course.source_notebook(self.assignment)

    def judge(self, notebook: Path, only=None):
        from grader.judging.judge import check, warm_zygote

        return check(self.course, self.assignment, notebook, zygote=warm_zygote(self.course, self.assignment), only=only)

    def judge_code(self, code: str, only=None):
        """The solution notebook with `code` appended to its last solution cell, judged."""
        with tempfile.TemporaryDirectory(prefix="grader-variant-") as scratch:
            path = Path(scratch) / f"{self.assignment}.ipynb"
            path.write_text(json.dumps(with_code_appended(self.course.solution_notebook(self.assignment), code)))
            return self.judge(path, only)

    @cached_property
    def reference(self):
        return self.judge(self.course.solution_notebook(self.assignment))

    @cached_property
    def stub(self):
        return self.judge(self.course.release_notebook(self.assignment))

    @cached_property
    def secrets(self) -> list[str]:
        return hidden_lines(self.source)

    def leaks(self, report) -> list[str]:
        text = report.to_json()
        return [line for line in self.secrets if line in text]


# --- the checks ----------------------------------------------------------------------------


def check_in_sync(runs: Runs):
    from grader.authoring.release import release
    from grader.course import Course
    from grader.judging import time_limits

    course, assignment = runs.course, runs.assignment
    with tempfile.TemporaryDirectory(prefix="grader-sync-") as scratch:
        copy = Path(scratch) / "course"
        (copy / "source").mkdir(parents=True)
        shutil.copy2(course.root / "nbgrader_config.py", copy / "nbgrader_config.py")
        shutil.copytree(course.source / assignment, copy / "source" / assignment, ignore=shutil.ignore_patterns(TIMES_FILE))
        release(Course(copy), [assignment], calibrate=False)
        drift = []
        for folder in ("source", "release", "solutions"):
            drift += _differences(copy / folder / assignment, course.root / folder / assignment, f"{folder}/{assignment}")
    if drift:
        raise SelfTestFailure(f"{assignment}: generated files differ from source/ ({', '.join(drift)}): run `grader release {assignment}` and commit")
    if not time_limits.is_current(runs.source):
        raise SelfTestFailure(f"{assignment}: source/{assignment}/{TIMES_FILE} was not measured on this source notebook: run `grader release {assignment}` and commit")


def _differences(expected: Path, actual: Path, label: str) -> list[str]:
    if not actual.is_dir():
        return [f"{label} is missing"]
    comparison = filecmp.dircmp(expected, actual, ignore=["__pycache__", ".ipynb_checkpoints", TIMES_FILE])
    problems = [f"{label}/{n} missing" for n in comparison.left_only] + [f"{label}/{n} extra" for n in comparison.right_only]
    for name in comparison.common_files:
        if (expected / name).read_bytes() != (actual / name).read_bytes():
            problems.append(f"{label}/{name} differs")
    for name in comparison.common_dirs:
        problems += _differences(expected / name, actual / name, f"{label}/{name}")
    return problems


MESSAGE_CALLS = {"true", "fail", "raises", "warns"}  # expect calls whose message says what they check
MIN_KNOWN_WRONG = 5  # four classic bugs and one degenerate answer, at least


def check_authoring_rules(runs: Runs):
    """AUTHORING.md's rules a machine can check: docstrings, what=, shapes before arithmetic, public scenarios, enough known-wrong files."""
    problems = []
    for test in test_cells(runs.source):
        if test.code.lstrip()[:3] not in ('"' * 3, "'" * 3):
            problems.append(f"{test.name}: a test cell opens with a docstring naming the property it checks")
        hidden_from = hidden_start_line(test.code)
        try:
            tree = ast.parse(test.code)
        except SyntaxError as error:
            problems.append(f"{test.name}: does not parse ({error.msg}, line {error.lineno})")
            continue
        for line, value in arithmetic_before_shape(test.code):
            problems.append(f"{test.name}, line {line}: arithmetic on the learner value {value} before its shape is checked "
                            "(expect.shape, expect.close or expect.equal first: a broadcast costs the judge, not the learner)")
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", None) == "expect":
                if node.func.attr not in MESSAGE_CALLS and not any(k.arg == "what" for k in node.keywords):
                    problems.append(f"{test.name}, line {node.lineno}: expect.{node.func.attr}(...) without what=")
            if isinstance(node, ast.FunctionDef) and any(getattr(d, "id", None) == "scenario" for d in node.decorator_list):
                if hidden_from is not None and node.lineno > hidden_from:
                    problems.append(f"{test.name}: scenario {node.name} is defined in the hidden part; scenarios are sent into "
                                    "the learner process, so they belong in the visible part or a setup cell")
    known_wrong = runs.course.known_wrong(runs.assignment)
    if len(known_wrong) < MIN_KNOWN_WRONG:
        problems.append(f"{len(known_wrong)} known-wrong implementation(s) in tests/known_wrong/{runs.assignment}/: keep at least "
                        f"{MIN_KNOWN_WRONG} (the topic's classic bugs and one degenerate answer)")
    if problems:
        raise SelfTestFailure(f"{runs.assignment}: {len(problems)} authoring rule(s) broken (AUTHORING.md):\n  " + "\n  ".join(problems[:40]))


def check_no_hidden_text(runs: Runs):
    assignment, leaks = runs.assignment, []
    for path in (runs.course.release / assignment).rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if HIDDEN_BEGIN in text or HIDDEN_END in text:
            leaks.append(f"{path.name}: hidden test markers")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in json.loads(text)["cells"])
        leaks += [f"{path.name}: {line[:60]!r}" for line in runs.secrets if line in text]
    if leaks:
        raise SelfTestFailure(f"{assignment}: hidden test text in release/: " + "; ".join(leaks[:10]))


def check_reference_judged(runs: Runs):
    report = runs.reference
    failed = [f"{r.name} ({r.category}: {r.message})" for r in report.results if r.status == "failed"]
    if report.not_gradable or failed:
        raise SelfTestFailure(f"{runs.assignment}: the reference fails under grader check: {report.not_gradable or '; '.join(failed)}")
    named = [f"{r.name}: {r.misconception_id}" for r in report.results if r.misconception_id]
    if named:
        raise SelfTestFailure(f"{runs.assignment}: the reference is diagnosed with classic mistakes: {named}")


def check_reference_gpu(runs: Runs):
    if not any(t.gpu for t in test_cells(runs.source)):
        pytest.skip("no GPU-tagged test cells")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU (no CUDA here)")
    failed = [f"{r.name} ({r.category}: {r.message})" for r in runs.reference.results if r.gpu and r.status != "passed"]
    if failed:
        raise SelfTestFailure(f"{runs.assignment}: GPU tests fail on the reference: {'; '.join(failed)}")


def check_stub_fails(runs: Runs):
    report = runs.stub
    passing = [r.name for r in report.results if r.status == "passed"]
    if passing:
        raise SelfTestFailure(f"{runs.assignment}: these graded tests pass on the untouched release stub, so they check nothing: {passing}")
    if report.points != 0:
        raise SelfTestFailure(f"{runs.assignment}: the release stub earns {report.points} points")
    leaked = runs.leaks(report)
    if leaked:
        raise SelfTestFailure(f"{runs.assignment}: the stub's report shows hidden test lines: {leaked[:3]}")


def with_code_appended(notebook_path: Path, code: str) -> dict:
    """The notebook with `code` appended to its last solution cell (later definitions win)."""
    notebook = json.loads(notebook_path.read_text())
    last = [c for c in notebook["cells"] if c["cell_type"] == "code" and is_solution(c)][-1]
    source = "".join(last["source"]) if isinstance(last["source"], list) else last["source"]
    last["source"] = source.rstrip("\n") + "\n\n" + code
    return notebook


def check_known_wrong(runs: Runs, wrong: Path):
    """Judged only on the tests that reach a function the file redefines: caught, named exactly, nothing leaked."""
    from grader.judging.diagnosis import load, redefined_names
    from grader.judging.judge import tests_reaching

    assignment = runs.assignment
    reaching = tests_reaching(runs.course, assignment, redefined_names(wrong))
    if not reaching:
        raise SelfTestFailure(f"{assignment}: no test reaches what {wrong.name} redefines ({sorted(redefined_names(wrong))})")
    report = runs.judge_code(wrong.read_text(), only=lambda t: t.name in reaching)
    caught = [r.name for r in report.results if r.hidden and r.status == "failed"]
    if not caught:
        raise SelfTestFailure(f"{assignment}: the known-wrong implementation {wrong.name} passes every hidden test")
    named = {r.misconception_id for r in report.results if r.misconception_id}
    if named != {wrong.stem}:
        raise SelfTestFailure(f"{assignment}: {wrong.name} is diagnosed as {sorted(named) or 'nothing'}, not as itself")
    text = load(wrong)[0].text
    if not any(r.misconception == text for r in report.results):
        raise SelfTestFailure(f"{assignment}: the diagnosis of {wrong.name} does not show its text")
    leaked = runs.leaks(report)
    if leaked:
        raise SelfTestFailure(f"{assignment}: the report on {wrong.name} shows hidden test lines: {leaked[:3]}")


NUDGE = """
import numpy as _np

def _nudge(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_nudge(v) for v in value)
    if isinstance(value, dict):
        return {k: _nudge(v) for k, v in value.items()}
    if isinstance(value, (float, _np.floating)) or (isinstance(value, _np.ndarray) and value.dtype.kind == "f"):
        return value * 1.003
    try:
        import torch
    except ImportError:
        return value
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value * 1.003
    return value
"""


def learner_functions(source: Path) -> list[str]:
    """The functions and classes the solution cells define: what a learner writes."""
    import ast

    from grader.notebook.cells import read_source

    names = []
    for cell in read_source(source)["cells"]:
        if is_solution(cell):
            names += [n.name for n in ast.parse(cell["source"]).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return names


def check_unknown_bug(runs: Runs):
    """Every float output nudged by 0.3 %: wrong, but no classic mistake."""
    wrappers = [NUDGE] + [
        f"def {name}(*args, _true={name}, **kwargs):\n    return _nudge(_true(*args, **kwargs))\n" for name in learner_functions(runs.source)
    ]
    report = runs.judge_code("\n".join(wrappers) + "\n")
    if report.points >= report.max_points:
        raise SelfTestFailure(f"{runs.assignment}: every output nudged by 0.3 % still earns every point")
    named = {r.misconception_id for r in report.results if r.misconception_id}
    if named:
        raise SelfTestFailure(f"{runs.assignment}: an unknown bug (outputs nudged by 0.3 %) is diagnosed as {sorted(named)}")


def check_nbgrader(runs: Runs):
    """Kernel mode, as JupyterLab and plain nbgrader run it: `nbgrader autograde` of the reference and the stub."""
    import subprocess
    import sqlite3

    import nbformat

    from grader.authoring.release import release
    from grader.course import Course
    from grader.notebook.cells import test_cells

    assignment = runs.assignment
    with tempfile.TemporaryDirectory(prefix="grader-nbgrader-") as scratch:
        root = Path(scratch) / "course"
        root.mkdir()
        shutil.copy2(runs.course.root / "nbgrader_config.py", root / "nbgrader_config.py")
        for folder in ("source", "release", "solutions"):
            shutil.copytree(runs.course.root / folder / assignment, root / folder / assignment)
        course = Course(root)
        release(course, [assignment], db_url=course.db_url, calibrate=False)
        name = f"{assignment}.ipynb"
        for student, notebook in (("reference", runs.course.solution_notebook(assignment)), ("stub", runs.course.release_notebook(assignment))):
            (course.submitted / student / assignment).mkdir(parents=True)
            shutil.copy2(notebook, course.submitted / student / assignment / name)
        environment = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel's own inline backend draws
        environment.update(_threads_per_worker())
        done = subprocess.run(["nbgrader", "autograde", assignment, "--create", "--force"], cwd=root, env=environment,
                              capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise SelfTestFailure(f"{assignment}: nbgrader autograde failed: {done.stderr[-3000:]}")
        cpu_points = sum(t.points for t in test_cells(runs.source) if not t.gpu)
        db = sqlite3.connect(root / "gradebook.db")
        scores = dict(db.execute(
            "select student.id, sum(grade.auto_score) from grade"
            " join submitted_notebook on grade.notebook_id = submitted_notebook.id"
            " join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id"
            " join student on submitted_assignment.student_id = student.id group by student.id"
        ).fetchall())
        short = [name for (name,) in db.execute(
            "select base_cell.name from grade join grade_cells on grade.cell_id = grade_cells.id"
            " join base_cell on base_cell.id = grade_cells.id"
            " join submitted_notebook on grade.notebook_id = submitted_notebook.id"
            " join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id"
            " where submitted_assignment.student_id = 'reference' and coalesce(grade.auto_score, 0) < grade_cells.max_score"
        )]
        db.close()
        executed = nbformat.read(str(course.autograded / "reference" / assignment / name), as_version=4)
    problems = _kernel_problems(executed)
    if abs(scores.get("reference", 0) - cpu_points) > 1e-9:
        problems.append(f"the reference gets {scores.get('reference', 0):g} of {cpu_points:g} CPU points under nbgrader autograde"
                        f" (short in {', '.join(sorted(short)) or 'no cell'}; nbgrader also scores 0 a cell that writes to stderr)")
    if scores.get("stub", 0) != 0:
        problems.append(f"the stub gets {scores['stub']:g} points under nbgrader autograde")
    if problems:
        raise SelfTestFailure(f"{assignment}: in a kernel under nbgrader: " + "; ".join(problems))


def _threads_per_worker() -> dict[str, str]:
    """Thread counts for a kernel started by one of several pytest-xdist workers: the cores shared out.

    torch and BLAS start one thread per core in every kernel; two kernels on two cores then spin
    against each other and a 20-second training cell takes minutes (past nbgrader's cell timeout).
    """
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    return {name: threads for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")}


def _kernel_problems(notebook) -> list[str]:
    """Errors in the executed reference notebook (GPU cells without CUDA excepted), and figure cells that drew nothing."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        where = cell.metadata.get("nbgrader", {}).get("grade_id") or f"cell {index + 1}"
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if errors and not ("gpu" in cell.metadata.get("tags", []) and any("needs a GPU" in o.get("evalue", "") for o in errors)):
            kind = "test cell" if is_test(cell) else "cell"
            problems.append(f"{kind} {where}: {errors[0]['ename']}: {errors[0]['evalue'][:200]}")
        elif _draws(cell.source) and not any(
            k.startswith("image/") for o in cell.get("outputs", []) for k in (o.get("data") or {})
        ):
            problems.append(f"figure {where} drew no image")
    return problems


def _draws(code: str) -> bool:
    """A cell that shows a figure when run: plt.show() or display(fig...) outside any def (a helper that draws is not a figure cell)."""
    if "plt.show()" not in code and "display(fig" not in code:
        return False
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return True
    inside = {id(n) for d in ast.walk(tree) if isinstance(d, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef))
              for n in ast.walk(d) if n is not d}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and id(node) not in inside:
            text = ast.unparse(node.func)
            if text == "plt.show" or (text == "display" and node.args and ast.unparse(node.args[0]).startswith("fig")):
                return True
    return False
