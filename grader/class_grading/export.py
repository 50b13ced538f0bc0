"""The class's grades as CSV: one row per student and assignment, as nbgrader scores them.

    grader export [ID ...] [-o FILE]   student, assignment, score, max_score, status

Scores come from nbgrader's gradebook, as formgrader and `nbgrader export` see them (manual
grades included); the status says whether the submission was graded, missing, or could not be
graded, and why.
"""

from __future__ import annotations

from pathlib import Path

from grader.course import Course
from grader.gradebook.reader import class_scores
from grader.report.spreadsheet import write_csv

COLUMNS = ["student", "assignment", "score", "max_score", "status"]


def export(course: Course, target: Path | str, assignments=()) -> int:
    """Write the class CSV to `target` ("-": standard output); the number of rows written."""
    rows = class_scores(course, assignments)
    write_csv(target, COLUMNS, ([r[c] for c in COLUMNS] for r in rows))
    return len(rows)
