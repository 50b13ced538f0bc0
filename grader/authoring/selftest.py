"""The course self-test, a pytest plugin: plain `pytest` runs it over every assignment in source/.

For each source notebook it collects:

- `in-sync`: source/<id>/<id>.ipynb, release/<id>/ and solutions/<id>/ are exactly what the text
  twin and nbgrader generate;
- `no-hidden-text`: no hidden test text (markers or any hidden line) anywhere under release/<id>/;
- `reference-judged`: the reference solution passes every CPU test cell under `grader check`;
- `reference-kernel`: the solution notebook runs top to bottom in a kernel, every test cell passing;
- `stub-fails`: the release stub fails every graded test cell;
- `known-wrong[name]`: each known-wrong implementation (tests/known_wrong/<id>/) is caught by a
  hidden test;
- `reference-gpu` (marker `gpu`): the GPU-tagged test cells pass where CUDA is present.

Select with markers (`-m cpu`, `-m gpu`), by path (`pytest source/13-attention`) or with
`--assignment ID`.
"""

from __future__ import annotations

import filecmp
import json
import shutil
import tempfile
from pathlib import Path

import pytest

from grader.notebook.cells import HIDDEN_BEGIN, HIDDEN_END, hidden_lines, is_solution


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
        checks = [
            ("in-sync", check_in_sync, []),
            ("no-hidden-text", check_no_hidden_text, []),
            ("reference-judged", check_reference_judged, []),
            ("reference-kernel", check_reference_kernel, [pytest.mark.slow]),
            ("stub-fails", check_stub_fails, []),
        ]
        for name, function, marks in checks:
            yield SelfTest.from_parent(self, name=name, course=course, assignment=assignment, function=function, marks=[pytest.mark.cpu, *marks])
        for wrong in course.known_wrong(assignment):
            yield SelfTest.from_parent(
                self, name=f"known-wrong[{wrong.stem}]", course=course, assignment=assignment,
                function=lambda c, a, w=wrong: check_known_wrong(c, a, w), marks=[pytest.mark.cpu],
            )
        yield SelfTest.from_parent(self, name="reference-gpu", course=course, assignment=assignment, function=check_reference_gpu, marks=[pytest.mark.gpu])


class SelfTest(pytest.Item):
    def __init__(self, *, course, assignment, function, marks, **kwargs):
        super().__init__(**kwargs)
        self.course, self.assignment, self.function = course, assignment, function
        for mark in marks:
            self.add_marker(mark)

    def runtest(self):
        self.function(self.course, self.assignment)

    def reportinfo(self):
        return self.path, None, f"{self.assignment}::{self.name}"

    def repr_failure(self, excinfo):
        if isinstance(excinfo.value, SelfTestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)


class SelfTestFailure(AssertionError):
    pass


# --- the checks ----------------------------------------------------------------------------


def check_in_sync(course, assignment):
    from grader.course import Course
    from grader.authoring.release import release

    with tempfile.TemporaryDirectory(prefix="grader-sync-") as scratch:
        copy = Path(scratch) / "course"
        (copy / "source").mkdir(parents=True)
        shutil.copy2(course.root / "nbgrader_config.py", copy / "nbgrader_config.py")
        shutil.copytree(course.source / assignment, copy / "source" / assignment)
        release(Course(copy), [assignment])
        drift = []
        for folder in ("source", "release", "solutions"):
            drift += _differences(copy / folder / assignment, course.root / folder / assignment, f"{folder}/{assignment}")
    if drift:
        raise SelfTestFailure(f"{assignment}: generated files differ from source/ ({', '.join(drift)}): run `grader release {assignment}` and commit")


def _differences(expected: Path, actual: Path, label: str) -> list[str]:
    if not actual.is_dir():
        return [f"{label} is missing"]
    comparison = filecmp.dircmp(expected, actual, ignore=["__pycache__", ".ipynb_checkpoints"])
    problems = [f"{label}/{n} missing" for n in comparison.left_only] + [f"{label}/{n} extra" for n in comparison.right_only]
    for name in comparison.common_files:
        if (expected / name).read_bytes() != (actual / name).read_bytes():
            problems.append(f"{label}/{name} differs")
    for name in comparison.common_dirs:
        problems += _differences(expected / name, actual / name, f"{label}/{name}")
    return problems


def check_no_hidden_text(course, assignment):
    secrets = hidden_lines(course.source_notebook(assignment))
    leaks = []
    for path in (course.release / assignment).rglob("*"):
        if not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if HIDDEN_BEGIN in text or HIDDEN_END in text:
            leaks.append(f"{path.name}: hidden test markers")
        if path.suffix == ".ipynb":
            text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"] for c in json.loads(text)["cells"])
        leaks += [f"{path.name}: {line[:60]!r}" for line in secrets if line in text]
    if leaks:
        raise SelfTestFailure(f"{assignment}: hidden test text in release/: " + "; ".join(leaks[:10]))


def judged(course, assignment, notebook: Path):
    from grader.judging.judge import check

    return check(course, assignment, notebook)


def check_reference_judged(course, assignment):
    report = judged(course, assignment, course.solution_notebook(assignment))
    failed = [f"{r.name} ({r.category}: {r.message})" for r in report.results if r.status == "failed"]
    if report.not_gradable or failed:
        raise SelfTestFailure(f"{assignment}: the reference fails under grader check: {report.not_gradable or '; '.join(failed)}")


def check_reference_gpu(course, assignment):
    from grader.notebook.cells import test_cells

    if not any(t.gpu for t in test_cells(course.source_notebook(assignment))):
        pytest.skip("no GPU-tagged test cells")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs a GPU (no CUDA here)")
    report = judged(course, assignment, course.solution_notebook(assignment))
    failed = [f"{r.name} ({r.category}: {r.message})" for r in report.results if r.gpu and r.status != "passed"]
    if failed:
        raise SelfTestFailure(f"{assignment}: GPU tests fail on the reference: {'; '.join(failed)}")


def check_stub_fails(course, assignment):
    report = judged(course, assignment, course.release_notebook(assignment))
    passing = [r.name for r in report.results if r.status == "passed"]
    if passing:
        raise SelfTestFailure(f"{assignment}: these graded tests pass on the untouched release stub, so they check nothing: {passing}")
    if report.points != 0:
        raise SelfTestFailure(f"{assignment}: the release stub earns {report.points} points")


def check_reference_kernel(course, assignment):
    """Kernel mode, as JupyterLab and plain nbgrader run it: the solution notebook, top to bottom."""
    import nbformat
    from nbclient import NotebookClient

    from grader.notebook.cells import is_test

    path = course.solution_notebook(assignment)
    notebook = nbformat.read(str(path), as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", allow_errors=True, resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    problems = []
    for index, cell in enumerate(notebook.cells):
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        if not errors:
            continue
        if "gpu" in cell.metadata.get("tags", []) and any("needs a GPU" in o.get("evalue", "") for o in errors):
            continue
        kind = "test cell" if is_test(cell) else "cell"
        problems.append(f"{kind} {cell.metadata.get('nbgrader', {}).get('grade_id', index + 1)}: {errors[0]['ename']}: {errors[0]['evalue'][:200]}")
    if problems:
        raise SelfTestFailure(f"{assignment}: the solution notebook fails in a kernel: " + "; ".join(problems))


def with_code_appended(notebook_path: Path, code: str) -> dict:
    """The notebook with `code` appended to its last solution cell (later definitions win)."""
    notebook = json.loads(notebook_path.read_text())
    last = [c for c in notebook["cells"] if c["cell_type"] == "code" and is_solution(c)][-1]
    source = "".join(last["source"]) if isinstance(last["source"], list) else last["source"]
    last["source"] = source.rstrip("\n") + "\n\n" + code
    return notebook


def check_known_wrong(course, assignment, wrong: Path):
    notebook = with_code_appended(course.solution_notebook(assignment), wrong.read_text())
    with tempfile.TemporaryDirectory(prefix="grader-wrong-") as scratch:
        path = Path(scratch) / f"{assignment}.ipynb"
        path.write_text(json.dumps(notebook))
        report = judged(course, assignment, path)
    caught = [r.name for r in report.results if r.hidden and r.status == "failed"]
    if not caught:
        raise SelfTestFailure(f"{assignment}: the known-wrong implementation {wrong.name} passes every hidden test")
