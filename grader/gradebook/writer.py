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


def record(course: Course, report: CheckReport, self_check: bool = False, submitted_at: dt.datetime | None = None) -> None:
    """Store `report` for its learner: nbgrader's grades become this attempt's, and one row per test is added.

    nbgrader keeps one grade per cell, the latest; every attempt stays in grader_test_results,
    so best and latest are both known to `grader progress`. A learner's own check
    (`self_check`) never replaces a grade the class autograde gave: once the instructor has
    graded the learner's submission of that assignment, checks only add attempts.

    `submitted_at` (naive UTC, from the submission's timestamp.txt) is the submission's time
    for nbgrader, from which it knows lateness; a self-check is timed when it runs. Late
    penalties are then assigned by nbgrader's own AssignLatePenalties, with the course's
    LateSubmissionPlugin settings.
    """
    Gradebook, MissingEntry = schema.nbgrader_api()
    source = course.source_notebook(report.assignment)
    notebook = source.stem
    with warnings.catch_warnings():
        # nbgrader 0.9 builds submissions in a way SQLAlchemy 2 warns about; the rows are right.
        warnings.simplefilter("ignore", SAWarning)
        _record(course, report, source, notebook, Gradebook, MissingEntry, self_check, submitted_at)


def _graded_by_instructor(engine, learner: str, assignment: str) -> bool:
    with engine.connect() as connection:
        row = connection.execute(select(autograde_state.c.student).where(
            (autograde_state.c.student == learner) & (autograde_state.c.assignment == assignment))).first()
    return row is not None


def _record(course, report, source, notebook, Gradebook, MissingEntry, self_check=False, submitted_at=None) -> None:
    with Gradebook(course.db_url, course_id=course.course_id) as gradebook:
        schema.ensure(gradebook.engine)  # the grader's own tables, once per record
        if self_check and _graded_by_instructor(gradebook.engine, report.learner, report.assignment):
            _add_test_rows(gradebook.engine, report, "check")
            return
        try:
            store_assignment(course, gradebook, report.assignment)
        except AssignmentChanged:
            if not (self_check and _only_submission(gradebook, report.assignment, report.learner)):
                raise
            # A self-learner's own gradebook, after the course added tests: their old submission goes.
            gradebook.remove_submission(report.assignment, report.learner)
            store_assignment(course, gradebook, report.assignment)
        gradebook.update_or_create_student(report.learner)
        try:
            submission = gradebook.find_submission(report.assignment, report.learner)
        except MissingEntry:
            submission = gradebook.add_submission(report.assignment, report.learner)
        grades = {r.name: gradebook.find_grade(r.name, notebook, report.assignment, report.learner) for r in report.results}
        for result in report.results:
            grade = grades[result.name]
            changed = grade.auto_score != result.points
            grade.auto_score = result.points
            # as nbgrader's SaveAutoGrades: judged means graded, unless an instructor's grade is to be reviewed
            grade.needs_manual_grade = grade.manual_score is not None and changed
        submission.timestamp = submitted_at if submitted_at is not None or not self_check else _now()
        gradebook.db.commit()
        _add_test_rows(gradebook.engine, report, "check" if self_check else "class")
    _assign_late_penalty(course, report.assignment, notebook, report.learner)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _only_submission(gradebook, assignment: str, learner: str) -> bool:
    return [s.student.id for s in gradebook.find_assignment(assignment).submissions] == [learner]


def _assign_late_penalty(course: Course, assignment: str, notebook: str, learner: str) -> None:
    """nbgrader's own late-penalty step (AssignLatePenalties with the course's plugin settings)."""
    import nbformat
    from nbgrader.preprocessors import AssignLatePenalties

    resources = {"nbgrader": {"notebook": notebook, "assignment": assignment, "student": learner, "db_url": course.db_url}}
    AssignLatePenalties(config=course.config).preprocess(nbformat.v4.new_notebook(), resources)


def _add_test_rows(engine, report: CheckReport, origin: str) -> None:
    """This attempt's one row per test in grader_test_results (its table ensured by the caller).

    `origin` tells the class's grading ("class") from a learner's own check ("check"): feedback
    and the per-test export stand on the class's attempt, whatever the learner checked since.
    """
    attempt = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    with engine.begin() as connection:
        connection.execute(
            insert(test_results),
            [
                dict(
                    learner=report.learner, assignment=report.assignment, attempt=attempt, test=r.name,
                    words=r.words, status="not gradable" if report.not_gradable else r.status,
                    points=r.points, max_points=r.max_points, hidden=r.hidden, gpu=r.gpu,
                    category=r.category, message=r.message, misconception=r.misconception_id, origin=origin,
                )
                for r in report.results
            ],
        )


class AssignmentChanged(ValueError):
    """The source notebook's cells differ from those the gradebook's submissions were graded on."""


_stored: set[tuple] = set()  # (db_url, source, mtime): cells already stored by this process


def store_assignment(course: Course, gradebook, assignment: str) -> None:
    """The assignment's cells in the gradebook, stored by nbgrader's own preprocessors.

    Exactly what `nbgrader generate_assignment` stores (grade, solution and source cells with
    their checksums), so that nbgrader's autograde, formgrader and generate_assignment work on a
    gradebook the grader wrote. nbgrader refuses to add or remove cells of a notebook that has
    submissions: that is AssignmentChanged, with what to do.
    """
    source = course.source_notebook(assignment)
    key = (str(gradebook.engine.url), str(source), source.stat().st_mtime)
    if key in _stored:
        return
    import nbformat
    from nbgrader.converters import GenerateAssignment

    steps = []
    for step in GenerateAssignment(config=course.config).preprocessors:  # the generate pipeline up to SaveCells
        steps.append(step)
        if step.__name__ == "SaveCells":
            break
    notebook = nbformat.read(str(source), as_version=nbformat.NO_CONVERT)
    resources = {"nbgrader": {"notebook": source.stem, "assignment": assignment, "db_url": course.db_url}}
    gradebook.update_or_create_assignment(assignment)
    gradebook.db.commit()
    try:
        for step in steps:
            notebook, resources = step(config=course.config).preprocess(notebook, resources)
    except RuntimeError as error:
        if "submissions associated" not in str(error):
            raise
        raise AssignmentChanged(
            f"source/{assignment} has test or solution cells added or removed since its submissions were graded, and "
            f"nbgrader keeps the cells of an assignment with submissions fixed: restore the cells (same grade_ids), "
            f"or release the changed notebook as a new assignment"
        ) from None
    gradebook.db.expire_all()  # SaveCells wrote through its own connection
    _stored.add(key)


def save_autograde_state(engine, row: dict) -> None:
    """The state row of one graded class submission, committed at once (an interruption cannot lose it)."""
    with engine.begin() as connection:
        connection.execute(delete(autograde_state).where(
            (autograde_state.c.student == row["student"]) & (autograde_state.c.assignment == row["assignment"])
        ))
        connection.execute(insert(autograde_state), [row])
