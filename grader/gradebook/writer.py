"""The one writer of the gradebook: verdicts into nbgrader's tables and the grader's own.

nbgrader's own tables (students, assignments, grade cells, submissions, grades) are written
through nbgrader's Gradebook API, so formgrader and `nbgrader export` see judged grades. Beside
them, `grader_test_results` keeps one row per test and attempt (status, points, failure
category and message, which nbgrader has no place for), and `grader_autograde_state` the bytes
each class submission was graded from (grader.gradebook.schema). A self-learner is a student in
the local gradebook; a class gradebook is filled the same way.
"""

from __future__ import annotations

import datetime as dt
import warnings

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import SAWarning

from grader.course import Course
from grader.gradebook import schema
from grader.gradebook.schema import autograde_state, test_results
from grader.judging.results import CheckReport
from grader.notebook.cells import is_solution, nbgrader_meta, read_source, test_cells


def record(course: Course, report: CheckReport, self_check: bool = False) -> None:
    """Store `report` for its learner: nbgrader's grades become this attempt's, and one row per test is added.

    nbgrader keeps one grade per cell, the latest; every attempt stays in grader_test_results,
    so best and latest are both known to `grader progress`. A learner's own check
    (`self_check`) never replaces a grade the class autograde gave: once the instructor has
    graded the learner's submission of that assignment, checks only add attempts.
    """
    Gradebook, MissingEntry = schema.nbgrader_api()
    source = course.source_notebook(report.assignment)
    notebook = source.stem
    with warnings.catch_warnings():
        # nbgrader 0.9 builds submissions in a way SQLAlchemy 2 warns about; the rows are right.
        warnings.simplefilter("ignore", SAWarning)
        _record(course, report, source, notebook, Gradebook, MissingEntry, self_check)


def _graded_by_instructor(engine, learner: str, assignment: str) -> bool:
    with engine.connect() as connection:
        row = connection.execute(select(autograde_state.c.student).where(
            (autograde_state.c.student == learner) & (autograde_state.c.assignment == assignment))).first()
    return row is not None


def _record(course, report, source, notebook, Gradebook, MissingEntry, self_check=False) -> None:
    with Gradebook(course.db_url, course_id=course.course_id) as gradebook:
        schema.ensure(gradebook.engine)  # the grader's own tables, once per record
        if self_check and _graded_by_instructor(gradebook.engine, report.learner, report.assignment):
            _add_test_rows(gradebook.engine, report)
            return
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
        _add_test_rows(gradebook.engine, report)


def _add_test_rows(engine, report: CheckReport) -> None:
    """This attempt's one row per test in grader_test_results (its table ensured by the caller)."""
    attempt = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
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


def save_autograde_state(engine, row: dict) -> None:
    """The state row of one graded class submission, committed at once (an interruption cannot lose it)."""
    with engine.begin() as connection:
        connection.execute(delete(autograde_state).where(
            (autograde_state.c.student == row["student"]) & (autograde_state.c.assignment == row["assignment"])
        ))
        connection.execute(insert(autograde_state), [row])
