"""release/ and solutions/ from source/, through nbgrader.

Each assignment is authored as a jupytext text twin, `source/<id>/<id>.py` (percent format,
nbgrader metadata in the cell headers). `sync_notebook` writes the nbgrader source notebook
`source/<id>/<id>.ipynb` from it, ending with the check cell (grader.notebook_check); nbgrader's GenerateAssignment and GenerateSolution then write
release/ and solutions/. Nothing under release/ or solutions/ is edited by hand.
"""

from __future__ import annotations

import contextlib
import io
import logging
import shutil
import tempfile
from pathlib import Path

import jupytext
import nbformat

from grader.course import Course, assignment_settings
from grader.gradebook.reader import printable
from grader.report.check_cell import check_cell

KERNELSPEC = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": "python3"}


def notebook_from_text(text_path: Path):
    """The nbgrader source notebook for a text twin, with jupytext's bookkeeping removed."""
    notebook = jupytext.read(text_path, fmt="py:percent")
    settings = notebook.metadata.get("grader")  # the header's `jupyter: grader:` block, e.g. sandbox limits
    notebook.metadata = nbformat.from_dict({
        "kernelspec": KERNELSPEC,
        "language_info": {"name": "python"},
        **({"grader": settings} if settings else {}),
    })
    if settings:
        assignment_settings(settings, str(text_path))  # refuse an unknown setting now, not when a class is graded
    for cell in notebook.cells:
        cell.metadata.pop("lines_to_next_cell", None)
        cell.metadata.pop("cell_marker", None)
        if "id" in cell:
            del cell["id"]
    notebook.nbformat, notebook.nbformat_minor = 4, 4
    assignment = text_path.parent.name
    notebook.cells.append(nbformat.from_dict(check_cell(assignment)))
    return notebook


def notebook_text(notebook) -> str:
    return nbformat.writes(notebook) + "\n"


def sync_notebook(course: Course, assignment: str) -> bool:
    """Write source/<id>/<id>.ipynb from its text twin; True when it changed."""
    text_path = course.source / assignment / f"{assignment}.py"
    if not text_path.is_file():
        return False
    target = text_path.with_suffix(".ipynb")
    text = notebook_text(notebook_from_text(text_path))
    if target.is_file() and target.read_text() == text:
        return False
    target.write_text(text)
    return True


def release(course: Course, assignments: list[str] | None = None, db_url: str | None = None, calibrate: bool = True) -> list[str]:
    """Regenerate source notebooks, release/ and solutions/ for `assignments` (default: all).

    nbgrader records the assignments in a gradebook as it goes; by default a throwaway one,
    so that releasing is free of side effects and several releases can run at once. Pass the
    course's `db_url` to record them in the class gradebook instead. With `calibrate`, the
    reference is judged where its time on each test was not yet measured on this source
    notebook, and source/<id>/reference_times.json is written (grader.judging.time_limits).
    """
    with tempfile.TemporaryDirectory(prefix="grader-release-") as scratch:
        ids = _release(course, assignments, db_url or f"sqlite:///{scratch}/gradebook.db")
    if calibrate:
        for assignment in ids:
            calibrate_time_limits(course, assignment)
    return ids


def calibrate_time_limits(course: Course, assignment: str, force: bool = False) -> bool:
    """Judge the reference and record its time on each test; True when it was measured anew."""
    from grader.judging import time_limits
    from grader.judging.judge import check

    source = course.source_notebook(assignment)
    if time_limits.is_current(source) and not force:
        return False
    report = check(course, assignment, course.solution_notebook(assignment), diagnose=False)
    failed = [r.name for r in report.results if r.status == "failed"]
    if report.not_gradable or failed:
        raise RuntimeError(f"{assignment}: the reference fails under grader check, so its time cannot be measured: {report.not_gradable or failed}")
    time_limits.write_reference_times(source, {r.name: r.seconds for r in report.results if r.status == "passed"})
    return True


def _release(course: Course, assignments: list[str] | None, db_url: str) -> list[str]:
    """nbgrader's GenerateAssignment and GenerateSolution into a scratch folder, then swapped in.

    release/<id>/ and solutions/<id>/ are replaced only once both were generated: a release that
    fails (say, the gradebook's submissions forbid changing the cells) leaves them as they were.
    """
    from nbgrader.converters import GenerateAssignment, GenerateSolution
    from nbgrader.coursedir import CourseDirectory

    written = sorted(p.name for p in course.source.iterdir() if (p / f"{p.name}.py").is_file() or list(p.glob("*.ipynb")))
    unknown = [a for a in assignments or () if a not in written]
    if unknown:
        raise LookupError(f"no assignment {', '.join(unknown)} in {course.source}: written ones are {', '.join(written)} (see `grader list`)")
    ids = assignments or written
    for assignment in ids:
        sync_notebook(course, assignment)
    with tempfile.TemporaryDirectory(prefix="grader-generate-", dir=course.root) as scratch:
        config = course.config.copy()
        config.CourseDirectory.db_url = db_url
        config.CourseDirectory.release_directory = str(Path(scratch) / "release")
        config.CourseDirectory.solution_directory = str(Path(scratch) / "solutions")
        coursedir = CourseDirectory(config=config, root=str(course.root))
        for assignment in ids:
            coursedir.assignment_id = assignment
            for converter in (GenerateAssignment, GenerateSolution):
                app = converter(coursedir=coursedir, config=config)
                app.force = True
                if converter is GenerateAssignment:
                    app.create_assignment = True
                else:
                    # Solutions are committed: executing them would write this machine's outputs
                    # (timings, plots) into them, and they would drift on every release.
                    app.preprocessors = [p for p in app.preprocessors if p.__name__ != "Execute"]
                try:
                    _run_quietly(app, f"nbgrader {converter.__name__} {assignment}")
                except RuntimeError as error:
                    if "submissions associated" in str(error):
                        raise ValueError(
                            f"{assignment} has submissions in the gradebook {printable(db_url)}, and its test or solution cells "
                            f"were added or removed since: nbgrader keeps them fixed once students submitted. Restore the cells "
                            f"(same grade_ids), or release the change as a new assignment. release/{assignment} is unchanged."
                        ) from None
                    raise
        for assignment in ids:
            for folder in ("release", "solutions"):
                _swap(Path(scratch) / folder / assignment, course.root / folder / assignment)
    return ids


def _swap(new: Path, target: Path) -> None:
    """`new` in the place of `target`, the old one removed only after the rename."""
    target.parent.mkdir(parents=True, exist_ok=True)
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def _run_quietly(app, what: str) -> None:
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    app.log.addHandler(handler)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            app.start()
    except BaseException as error:
        raise RuntimeError(f"{what} failed: {error}\n{log.getvalue()}") from None
    finally:
        app.log.removeHandler(handler)
