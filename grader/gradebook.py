"""Recording verdicts in nbgrader's gradebook: nbgrader's per-cell grades, plus one row per test.

nbgrader's own tables (students, assignments, grade cells, submissions, grades) are written
through nbgrader's Gradebook API, so formgrader and `nbgrader export` see judged grades. Beside
them, the table `grader_test_results` keeps one row per test and attempt: status, points,
failure category and message, which nbgrader has no place for. A self-learner is a student in
the local gradebook; a class gradebook is filled the same way.
"""

from __future__ import annotations

import datetime as dt
import sys
import warnings

from sqlalchemy.exc import SAWarning
from sqlalchemy import Boolean, Column, DateTime, Float, Index, Integer, MetaData, String, Table, Text, insert

from grader.answer_extraction import read_source, is_solution, nbgrader_meta, test_cells
from grader.course import Course
from grader.results import CheckReport

metadata = MetaData()
test_results = Table(
    "grader_test_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("learner", String(128), nullable=False, index=True),
    Column("assignment", String(128), nullable=False, index=True),
    Column("attempt", DateTime, nullable=False),
    Column("test", String(128), nullable=False),
    Column("words", Text, nullable=False),
    Column("status", String(16), nullable=False),  # passed, failed, not run, not gradable
    Column("points", Float, nullable=False),
    Column("max_points", Float, nullable=False),
    Column("hidden", Boolean, nullable=False),
    Column("gpu", Boolean, nullable=False),
    Column("category", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("misconception", String(128), nullable=False, default=""),  # known-wrong id, or ""
    Index("ix_grader_test_results_attempts", "learner", "assignment", "attempt"),
)


def quick_nbgrader_import() -> None:
    """Import nbgrader's gradebook without jsonschema's optional IRI checker.

    jsonschema imports `rfc3987_syntax` when it is installed, which compiles a grammar at
    import time (over a second here) for a URI format no notebook uses.
    """
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbgrader.api  # noqa: F401


def record(course: Course, report: CheckReport) -> None:
    """Store `report` for its learner: nbgrader's grades become this attempt's, and one row per test is added.

    nbgrader keeps one grade per cell, the latest; every attempt stays in grader_test_results,
    so best and latest are both known to `grader progress`.
    """
    quick_nbgrader_import()
    from nbgrader.api import Gradebook, MissingEntry

    source = course.source_notebook(report.assignment)
    notebook = source.stem
    with warnings.catch_warnings():
        # nbgrader 0.9 builds submissions in a way SQLAlchemy 2 warns about; the rows are right.
        warnings.simplefilter("ignore", SAWarning)
        _record(course, report, source, notebook, Gradebook, MissingEntry)


def _record(course, report, source, notebook, Gradebook, MissingEntry) -> None:
    with Gradebook(course.db_url, course_id=_course_id(course)) as gradebook:
        _ensure_assignment(gradebook, source, report.assignment, notebook)
        gradebook.update_or_create_student(report.learner)
        try:
            submission = gradebook.find_submission(report.assignment, report.learner)
        except MissingEntry:
            submission = gradebook.add_submission(report.assignment, report.learner)
        try:
            grades = {r.name: gradebook.find_grade(r.name, notebook, report.assignment, report.learner) for r in report.results}
        except MissingEntry:  # test cells were added since the learner's first attempt
            gradebook.remove_submission(report.assignment, report.learner)
            submission = gradebook.add_submission(report.assignment, report.learner)
            grades = {r.name: gradebook.find_grade(r.name, notebook, report.assignment, report.learner) for r in report.results}
        for result in report.results:
            grades[result.name].auto_score = result.points
        submission.timestamp = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        gradebook.db.commit()
        ensure_schema(gradebook.engine)
        attempt = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
        with gradebook.engine.begin() as connection:
            connection.execute(
                insert(test_results),
                [
                    dict(
                        learner=report.learner, assignment=report.assignment, attempt=attempt, test=r.name,
                        words=r.words, status="not gradable" if report.not_gradable else r.status,
                        points=r.points, max_points=r.max_points, hidden=r.hidden, gpu=r.gpu,
                        category=r.category, message=r.message, misconception=r.misconception_id,
                    )
                    for r in report.results
                ],
            )


def ensure_schema(engine) -> None:
    """Create the grader's table, and add columns that a gradebook from an older grader lacks."""
    from sqlalchemy import inspect, text

    metadata.create_all(engine)
    present = {c["name"] for c in inspect(engine).get_columns(test_results.name)}
    with engine.begin() as connection:
        for column in test_results.columns:
            if column.name not in present:
                kind = column.type.compile(dialect=engine.dialect)
                connection.execute(text(f"ALTER TABLE {test_results.name} ADD COLUMN {column.name} {kind} NOT NULL DEFAULT ''"))
    for index in test_results.indexes:
        index.create(engine, checkfirst=True)


def _course_id(course: Course) -> str:
    return course.config.get("CourseDirectory", {}).get("course_id", "default_course")


_ensured: set[tuple] = set()  # (db_url, source, mtime): cells already stored by this process


def _ensure_assignment(gradebook, source, assignment: str, notebook: str) -> None:
    """The assignment's cells in the gradebook, as nbgrader's generate_assignment would store them."""
    key = (str(gradebook.engine.url), str(source), source.stat().st_mtime)
    if key in _ensured:
        return
    gradebook.update_or_create_assignment(assignment)
    gradebook.update_or_create_notebook(notebook, assignment)
    for test in test_cells(source):
        gradebook.update_or_create_grade_cell(test.name, notebook, assignment, max_score=test.points, cell_type="code")
    for cell in read_source(source)["cells"]:
        if is_solution(cell):
            gradebook.update_or_create_solution_cell(nbgrader_meta(cell)["grade_id"], notebook, assignment)
    _ensured.add(key)
