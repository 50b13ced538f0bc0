"""Kernel mode under plain nbgrader: the same test cells grade honestly with `nbgrader autograde`
and `nbgrader validate`, the way nbgrader users run them."""

import shutil
import sqlite3
import subprocess

import pytest

from grader.notebook.cells import test_cells as graded_cells_of
from grader.cli import main

from conftest import WRITTEN


def nbgrader(course, *args):
    return subprocess.run(["nbgrader", *args], cwd=course.root, capture_output=True, text=True, timeout=600)


@pytest.mark.cpu
@pytest.mark.slow
@pytest.mark.parametrize("assignment", WRITTEN)
def test_nbgrader_autograde_gives_the_reference_full_marks_and_the_stub_none(course_copy, assignment, capsys):
    assert main(["release", assignment, "--gradebook"]) == 0
    capsys.readouterr()
    notebook = f"{assignment}.ipynb"
    for student, source in (("reference", course_copy.solution_notebook(assignment)), ("stub", course_copy.release_notebook(assignment))):
        target = course_copy.submitted / student / assignment
        target.mkdir(parents=True)
        shutil.copy2(source, target / notebook)
    done = nbgrader(course_copy, "autograde", assignment, "--create", "--force")
    assert done.returncode == 0, done.stderr[-3000:]

    tests = graded_cells_of(course_copy.source_notebook(assignment))
    cpu_points = sum(t.points for t in tests if not t.gpu)
    db = sqlite3.connect(course_copy.root / "gradebook.db")
    scores = dict(db.execute(
        "select student.id, sum(grade.auto_score) from grade"
        " join submitted_notebook on grade.notebook_id = submitted_notebook.id"
        " join submitted_assignment on submitted_notebook.assignment_id = submitted_assignment.id"
        " join student on submitted_assignment.student_id = student.id group by student.id"
    ).fetchall())
    assert scores["reference"] == pytest.approx(cpu_points), "the reference loses points under nbgrader autograde"
    assert scores["stub"] == 0


@pytest.mark.cpu
@pytest.mark.slow
@pytest.mark.parametrize("assignment", WRITTEN)
def test_nbgrader_validate_passes_the_reference(course_copy, assignment):
    done = nbgrader(course_copy, "validate", str(course_copy.solution_notebook(assignment)))
    gpu = any(t.gpu for t in graded_cells_of(course_copy.source_notebook(assignment)))
    if gpu:
        # gpu-tagged cells cannot pass without CUDA; they must say so, and nothing else may fail
        failures = done.stdout.split("The following cell failed:")[1:]
        assert all("needs a GPU" in f for f in failures), done.stdout[-3000:]
    else:
        assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout[-3000:]
