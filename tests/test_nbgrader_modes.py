"""Kernel mode under plain nbgrader: `nbgrader validate`, the way nbgrader users run it.

That `nbgrader autograde` gives every assignment's reference full CPU marks and its stub none,
and that the reference runs top to bottom in a kernel, is the self-test item `nbgrader`."""

import subprocess

import pytest

from grader.notebook.cells import test_cells as graded_cells_of


def nbgrader(course, *args):
    return subprocess.run(["nbgrader", *args], cwd=course.root, capture_output=True, text=True, timeout=600)


@pytest.mark.cpu
@pytest.mark.slow
@pytest.mark.parametrize("assignment", ["01-linear-algebra", "13-attention"])  # NumPy; torch with a GPU cell
def test_nbgrader_validate_passes_the_reference(course_copy, assignment):
    done = nbgrader(course_copy, "validate", str(course_copy.solution_notebook(assignment)))
    gpu = any(t.gpu for t in graded_cells_of(course_copy.source_notebook(assignment)))
    if gpu:
        # gpu-tagged cells cannot pass without CUDA; they must say so, and nothing else may fail
        failures = done.stdout.split("The following cell failed:")[1:]
        assert all("needs a GPU" in f for f in failures), done.stdout[-3000:]
    else:
        assert "Success! Your notebook passes all the tests." in done.stdout, done.stdout[-3000:]
