"""Which assignment a notebook belongs to, told from its cells rather than its file name.

A learner who checks 03-probability's notebook as 01-linear-algebra would otherwise read "the
solution cell '...' is missing" for every cell of 01 and find a 0 recorded. A handed-out
notebook names its assignment twice: in its check cell (`check_saved_notebook("ID")`) and in
the grade_ids of its solution and test cells, which the source notebooks hold.
"""

from __future__ import annotations

import re

from grader.course import Course
from grader.notebook.cells import is_solution, nbgrader_meta, read_source

_CHECK_CALL = re.compile(r"check_saved_notebook\(\s*[\"']([A-Za-z0-9._-]+)[\"']\s*\)")


def graded_ids(notebook: dict) -> set[str]:
    """The grade_ids of the solution and graded cells of `notebook` (grader.notebook.reading's dict)."""
    return {
        nbgrader_meta(cell)["grade_id"]
        for cell in notebook["cells"]
        if nbgrader_meta(cell).get("grade_id") and (is_solution(cell) or nbgrader_meta(cell).get("grade"))
    }


def other_owner(course: Course, notebook: dict, assignment: str) -> str | None:
    """The assignment `notebook` belongs to when that is plainly not `assignment`, else None.

    None also when it cannot be told (no known cell at all): the judge then says what is missing.
    A notebook sharing any solution or test cell with `assignment` is taken as its own.
    """
    ids = graded_ids(notebook)
    if ids & graded_ids(read_source(course.source_notebook(assignment))):
        return None
    written = set(course.assignments()) - {assignment}
    named = {m.group(1) for cell in notebook["cells"] for m in _CHECK_CALL.finditer(cell["source"])} & written
    if len(named) == 1:
        return named.pop()
    shared = {other: len(ids & graded_ids(read_source(course.source_notebook(other)))) for other in sorted(written)}
    best = max(shared, key=shared.get, default=None)
    return best if best is not None and shared[best] > 0 else None
