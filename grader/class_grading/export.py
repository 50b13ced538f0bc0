"""The class's grades for instructors: per submission, per test, and for an LMS gradebook.

    grader export [ID ...] [-o FILE]            one row per student and assignment
    grader export [ID ...] --tests [-o FILE]    one row per student, assignment and test
    grader export [ID ...] --canvas [-o FILE]   Canvas's gradebook CSV import

Every number is the gradebook's Standing (grader.gradebook.reader): nbgrader's score with the
instructor's manual grades and extra credit, less nbgrader's late penalty, out of every test's
points (GPU tests included): the same number as `nbgrader export`, formgrader, feedback pages,
`grader check` and `grader progress`.

Canvas (Grades › Import) reads a CSV whose first columns are Student, ID, SIS User ID, SIS
Login ID and Section, then one column per assignment, with a "Points Possible" row first.
Rows are matched on ID (nbgrader's `lms_user_id` of the student, when the roster has it) or
on SIS Login ID (the nbgrader student id).
"""

from __future__ import annotations

from pathlib import Path

from grader.course import Course
from grader.gradebook.reader import class_scores, latest_attempts, reachable
from grader.report.spreadsheet import write_csv

COLUMNS = ["student", "assignment", "score", "max_score", "raw_score", "late_penalty", "submitted_at", "duedate", "seconds_late", "status"]
TEST_COLUMNS = ["student", "assignment", "test", "words", "hidden", "gpu", "status", "points", "max_points", "test_points", "instructor_points", "category"]
CANVAS_FIRST = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


def export(course: Course, target: Path | str, assignments=(), kind: str = "submissions") -> int:
    """Write `kind` ("submissions", "tests" or "canvas") to `target` ("-": standard output); the rows written."""
    reachable(course.db_url)
    rows = class_scores(course, assignments)
    if kind == "tests":
        table = list(_test_rows(course, rows))
        write_csv(target, TEST_COLUMNS, table)
        return len(table)
    if kind == "canvas":
        return _canvas(target, rows)
    write_csv(target, COLUMNS, ([r[c] for c in COLUMNS] for r in rows))
    return len(rows)


def _test_rows(course: Course, rows: list[dict]):
    """Per test of each submission: what the judge said, and the points that count (an instructor's if given)."""
    for assignment in sorted({r["assignment"] for r in rows}):
        attempts = {a.learner: a for a in latest_attempts(course.db_url, assignment)}
        for r in (r for r in rows if r["assignment"] == assignment and r["standing"] is not None):
            cells = r["standing"].cells
            tests = attempts[r["student"]].tests if r["student"] in attempts else ()
            for t in tests:
                cell = cells.get(t["test"])
                counted = cell.score if cell is not None else t["points"]
                manual = "" if cell is None or cell.manual is None else cell.manual
                yield [r["student"], assignment, t["test"], t["words"], t["hidden"], t["gpu"], t["status"], counted, t["max_points"],
                       t["points"], manual, t["category"]]


def _canvas(target, rows: list[dict]) -> int:
    assignments = sorted({r["assignment"] for r in rows})
    maxima = {r["assignment"]: r["max_score"] for r in rows}
    scores = {(r["student"], r["assignment"]): r for r in rows}
    students = sorted({(r["student"], r["lms_user_id"]) for r in rows})
    table = [["Points Possible", "", "", "", "", *(maxima[a] for a in assignments)]]
    for who, lms in students:
        table.append([who, lms, "", who, "", *(scores[who, a]["score"] for a in assignments)])
    write_csv(target, CANVAS_FIRST + assignments, table)
    return len(students)
