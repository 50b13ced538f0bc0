"""The one reader of the gradebook: for progress, feedback pages and the class export.

Any database nbgrader's `db_url` accepts (SQLite by default, PostgreSQL for several graders) is
read through SQLAlchemy Core, with plain SELECTs and no nbgrader import on the progress path
(importing nbgrader costs seconds). The tables are grader.gradebook.schema's:

- `grader_test_results` (written by `grader check` and judged grading): one row per test per
  attempt, which gives attempts, best and latest points, and which tests still fail.
- nbgrader's own tables: the roster (`student`), assignments and their total points (grade
  cells), and each submission's score as nbgrader sees it (an instructor's manual grade wins
  over the automatic one). A submission graded by plain `nbgrader autograde`, with no rows in
  `grader_test_results`, counts as one attempt built from its per-cell grades.
- `grader_autograde_state`: how each class submission was last graded.

Nothing here decides a status; grader.progress does, from the rows read here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import String, and_, case, create_engine, func, inspect, select, type_coerce
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from grader.gradebook.schema import (
    NBGRADER_COLUMNS, REQUIRED, assignment, autograde_state, base_cell, grade, grade_cells, notebook, student,
    submitted_assignment, submitted_notebook, test_results,
)

GRADER_COLUMNS = REQUIRED[test_results.name]


class GradebookProblem(Exception):
    """The gradebook cannot be read as it is; the message says what to do."""


@dataclass(frozen=True)
class Attempt:
    """One attempt of one learner at one assignment, summed over its tests."""

    learner: str
    assignment: str
    at: dt.datetime | None  # naive UTC; None for an nbgrader submission without a timestamp
    points: float  # earned on the tests that ran
    max_points: float  # of the tests that ran (GPU tests not run are left out)
    gpu_points: float  # of GPU tests that were not run (no CUDA where it was judged)
    gradable: bool  # False: the notebook could not be read, every test scored 0
    tests: tuple[dict, ...] = ()  # its rows of grader_test_results, where they were read (feedback)

    @property
    def not_gradable(self) -> str:
        """Why the notebook could not be graded, or ''."""
        return next((r["message"] for r in self.tests if r["status"] == "not gradable"), "")

    def total(self, attribute: str, hidden: bool | None = None) -> float:
        """Sum of `points` or `max_points` over the tests that ran (all, or the hidden or visible ones)."""
        return sum(r[attribute] for r in self.tests if r["status"] != "not run" and (hidden is None or r["hidden"] == hidden))

    @classmethod
    def of_tests(cls, learner: str, assignment: str, at, tests: list[dict]) -> "Attempt":
        """The attempt made of these rows of grader_test_results, its sums computed from them."""
        ran = [r for r in tests if r["status"] != "not run"]
        return cls(
            learner, assignment, _as_datetime(at), sum(r["points"] for r in ran), sum(r["max_points"] for r in ran),
            sum(r["max_points"] for r in tests if r["status"] == "not run"),
            not any(r["status"] == "not gradable" for r in tests), tuple(tests),
        )


class TestRow(NamedTuple):
    """A test that a learner's latest attempt at an assignment did not pass."""

    learner: str
    assignment: str
    test: str  # grade_id
    words: str  # the property it checks, as the learner sees it
    status: str  # failed, not run (a GPU test without CUDA), not gradable
    category: str  # how it failed
    message: str = ""  # why the notebook is not gradable (kept for that status only)


class TestTally(NamedTuple):
    """One test across the class, over every attempt."""

    assignment: str
    test: str
    words: str
    learners: int  # learners who ran it at least once (in a gradable notebook)
    tripped: int  # learners it failed at least once


@dataclass
class GradebookRows:
    """What a gradebook holds about progress; empty lists when nothing is recorded."""

    url: str  # printable: any password hidden
    learners: list[str] = field(default_factory=list)  # the roster and everyone with an attempt, sorted
    assignments: list[str] = field(default_factory=list)  # every assignment the gradebook names
    max_points: dict[str, float] = field(default_factory=dict)  # assignment -> total of its grade cells
    scores: dict[tuple[str, str], float] = field(default_factory=dict)  # (learner, assignment) -> nbgrader score
    attempts: list[Attempt] = field(default_factory=list)  # ordered by learner, assignment, time
    latest_not_passed: list[TestRow] = field(default_factory=list)  # of each learner's latest attempt per assignment
    tallies: list[TestTally] = field(default_factory=list)  # per test (read for the whole class only)
    mistakes: list[tuple[str, str, int]] = field(default_factory=list)  # (assignment, misconception id, learners), class only

    @property
    def empty(self) -> bool:
        return not self.learners and not self.attempts


def reachable(db_url: str) -> None:
    """Raise GradebookProblem, with what to do, when the gradebook's driver is missing or its server does not answer.

    Called before a command writes or reads the class gradebook, so that a PostgreSQL server
    that is down, or a missing driver, is one clear line and not a traceback halfway through a batch.
    """
    try:
        url = make_url(db_url)
    except ArgumentError as error:
        raise GradebookProblem(f"the gradebook URL {db_url!r} is not a database URL: {error}") from None
    shown = printable(db_url)
    if url.get_backend_name() == "sqlite":
        return
    try:
        engine = create_engine(url)
    except (NoSuchModuleError, ImportError) as error:
        extra = " (pip install 'llm-course-grader[postgresql]')" if url.get_backend_name() == "postgresql" else ""
        raise GradebookProblem(f"cannot open the gradebook {shown}: its database driver is not installed{extra}: {error}") from None
    try:
        with engine.connect():
            pass
    except DBAPIError as error:
        detail = str(getattr(error, "orig", error)).strip().splitlines()[0] if str(getattr(error, "orig", error)).strip() else type(error).__name__
        raise GradebookProblem(f"cannot reach the gradebook {shown}: {detail} (is the database server running, and the URL in nbgrader_config.py right?)") from None
    finally:
        engine.dispose()


def printable(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable gradebook URL>"


def read(db_url: str, learner: str | None = None) -> GradebookRows:
    """Everything about `learner` (default: every learner) in the gradebook at `db_url`."""
    rows = GradebookRows(url=printable(db_url))
    try:
        url = make_url(db_url)
    except ArgumentError as error:
        raise GradebookProblem(f"the gradebook URL {db_url!r} is not a database URL: {error}") from None
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not Path(url.database).is_file():
            return rows  # never create an empty database file just by looking
    try:
        engine = create_engine(url)
    except (NoSuchModuleError, ImportError) as error:
        raise GradebookProblem(f"cannot open the gradebook {rows.url}: {error} (install the database driver it names)") from None
    try:
        with engine.connect() as connection:
            present = _check_schema(connection, rows.url)
            if present is None:
                return rows
            _read_nbgrader(connection, rows, learner)
            if present:
                _read_test_results(connection, rows, learner)
            _read_nbgrader_only_attempts(connection, rows, learner)
    except DBAPIError as error:
        detail = str(getattr(error, "orig", error)).strip().splitlines()[0]
        raise GradebookProblem(f"cannot read the gradebook {rows.url}: {detail}") from None
    except SQLAlchemyError as error:
        raise GradebookProblem(f"cannot read the gradebook {rows.url}: {error}") from None
    finally:
        engine.dispose()
    rows.learners = sorted(set(rows.learners) | {a.learner for a in rows.attempts})
    rows.assignments = sorted(set(rows.assignments) | {a.assignment for a in rows.attempts})
    rows.attempts.sort(key=lambda a: (a.learner, a.assignment, a.at or dt.datetime.min))
    return rows


def _check_schema(connection, url: str) -> bool | None:
    """None for a database with no tables at all; else whether grader_test_results is there.

    Raises GradebookProblem when nbgrader's tables or columns are not those of nbgrader 0.6+.
    """
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    if not tables:
        return None
    upgrade = "upgrade it with `nbgrader db upgrade` (keep a copy of the file first), then run this again"
    missing = sorted(set(NBGRADER_COLUMNS) - tables)
    if missing:
        raise GradebookProblem(
            f"the gradebook {url} lacks nbgrader's table(s) {', '.join(missing)}: it is not an nbgrader gradebook, "
            f"or one written by an older nbgrader; {upgrade}"
        )
    for table, needed in NBGRADER_COLUMNS.items():
        lacking = needed - {c["name"] for c in inspector.get_columns(table)}
        if lacking:
            raise GradebookProblem(
                f"the gradebook {url} was written by an older nbgrader: table '{table}' has no column(s) "
                f"{', '.join(sorted(lacking))}; {upgrade}"
            )
    if test_results.name not in tables:
        return False
    lacking = GRADER_COLUMNS - {c["name"] for c in inspector.get_columns(test_results.name)}
    if lacking:
        raise GradebookProblem(
            f"the gradebook {url} has a '{test_results.name}' table from an older grader, without column(s) "
            f"{', '.join(sorted(lacking))}: rename that table (its rows stay readable with any SQLite tool) "
            "and record again with `grader check`"
        )
    return True


def _read_nbgrader(connection, rows: GradebookRows, learner: str | None) -> None:
    roster = select(student.c.id)
    if learner is not None:
        roster = roster.where(student.c.id == learner)
    rows.learners = [r[0] for r in connection.execute(roster)]
    rows.assignments = [r[0] for r in connection.execute(select(assignment.c.name))]
    totals = (
        select(assignment.c.name, func.sum(grade_cells.c.max_score))
        .select_from(grade_cells.join(base_cell, base_cell.c.id == grade_cells.c.id)
                     .join(notebook, notebook.c.id == base_cell.c.notebook_id)
                     .join(assignment, assignment.c.id == notebook.c.assignment_id))
        .group_by(assignment.c.name)
    )
    rows.max_points = {name: float(total or 0) for name, total in connection.execute(totals)}
    # nbgrader's score of a cell: the manual grade when there is one, else the automatic one.
    cell_score = func.coalesce(grade.c.manual_score, grade.c.auto_score, 0.0) + func.coalesce(grade.c.extra_credit, 0.0)
    graded = func.sum(case((and_(grade.c.auto_score.is_(None), grade.c.manual_score.is_(None)), 0), else_=1))
    scores = (
        select(submitted_assignment.c.student_id, assignment.c.name, func.sum(cell_score), graded)
        .select_from(_submission_join())
        .group_by(submitted_assignment.c.student_id, assignment.c.name)
    )
    if learner is not None:
        scores = scores.where(submitted_assignment.c.student_id == learner)
    rows.scores = {(who, name): float(score) for who, name, score, count in connection.execute(scores) if count}
    # less nbgrader's late penalty, as its export and every other view count it
    penalties = (
        select(submitted_assignment.c.student_id, assignment.c.name, func.sum(func.coalesce(submitted_notebook.c.late_submission_penalty, 0.0)))
        .select_from(submitted_notebook.join(submitted_assignment, submitted_assignment.c.id == submitted_notebook.c.assignment_id)
                     .join(assignment, assignment.c.id == submitted_assignment.c.assignment_id))
        .group_by(submitted_assignment.c.student_id, assignment.c.name)
    )
    if learner is not None:
        penalties = penalties.where(submitted_assignment.c.student_id == learner)
    for who, name, penalty in connection.execute(penalties):
        if (who, name) in rows.scores and penalty:
            rows.scores[who, name] = max(rows.scores[who, name] - float(penalty), 0.0)


def _submission_join():
    return (
        grade.join(submitted_notebook, submitted_notebook.c.id == grade.c.notebook_id)
        .join(submitted_assignment, submitted_assignment.c.id == submitted_notebook.c.assignment_id)
        .join(assignment, assignment.c.id == submitted_assignment.c.assignment_id)
    )


def _read_test_results(connection, rows: GradebookRows, learner: str | None) -> None:
    """Attempts, the tests each latest attempt did not pass, and per-test tallies.

    The database sums and counts (GROUP BY); only the rows that did not pass travel to Python.
    Finding each latest attempt's rows with a self-join or a window function would cost a sort,
    or far worse without an index on (learner, assignment, attempt).
    """
    t = test_results.c
    ran = t.status != "not run"
    # Attempt times stay as the driver gives them (ISO text on SQLite, which sorts in time
    # order; datetimes elsewhere) so that they match exactly between the queries below.
    at = type_coerce(t.attempt, String)
    per_attempt = select(
        t.learner, t.assignment, at,
        func.sum(case((ran, t.points), else_=0.0)),
        func.sum(case((ran, t.max_points), else_=0.0)),
        func.sum(case((ran, 0.0), else_=t.max_points)),
        func.sum(case((t.status == "not gradable", 1), else_=0)),
    ).group_by(t.learner, t.assignment, t.attempt)
    reason = case((t.status == "not gradable", t.message), else_="")  # failure messages stay in `grader check`
    not_passed = select(t.learner, t.assignment, at, t.test, t.words, t.status, t.category, reason).where(t.status != "passed")
    if learner is not None:
        per_attempt, not_passed = per_attempt.where(t.learner == learner), not_passed.where(t.learner == learner)
    latest: dict[tuple[str, str], object] = {}
    for who, name, when, points, top, gpu, broken in connection.execute(per_attempt).fetchall():
        rows.attempts.append(Attempt(who, name, _as_datetime(when), float(points or 0), float(top or 0), float(gpu or 0), not broken))
        if (who, name) not in latest or when > latest[who, name]:
            latest[who, name] = when
    rows.latest_not_passed = [
        TestRow(who, name, test, words, status, category or "", message or "")
        for who, name, when, test, words, status, category, message in connection.execute(not_passed).fetchall()
        if latest.get((who, name)) == when
    ]
    if learner is None:
        # A notebook that was not gradable says nothing about any one property: left out here.
        judged = t.status.in_(("passed", "failed"))
        tallies = select(
            t.assignment, t.test, func.max(t.words), func.count(t.learner.distinct()),
            func.count(case((t.status == "failed", t.learner)).distinct()),
        ).where(judged).group_by(t.assignment, t.test)
        rows.tallies = [TestTally(name, test, words, learners, tripped) for name, test, words, learners, tripped in connection.execute(tallies)]
        if "misconception" in {c["name"] for c in inspect(connection).get_columns(test_results.name)}:
            # a gradebook from before diagnosis has no such column: nothing to count there
            mistakes = (
                select(t.assignment, t.misconception, func.count(t.learner.distinct()))
                .where(t.misconception != "")
                .group_by(t.assignment, t.misconception)
            )
            rows.mistakes = [(name, mistake, int(n)) for name, mistake, n in connection.execute(mistakes)]


def _as_datetime(value) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    try:
        return dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None


def _read_nbgrader_only_attempts(connection, rows: GradebookRows, learner: str | None) -> None:
    """Submissions graded by nbgrader alone: one attempt each, built from its per-cell grades."""
    judged = {(a.learner, a.assignment) for a in rows.attempts}
    pairs = [pair for pair in rows.scores if pair not in judged]
    score = func.coalesce(grade.c.manual_score, grade.c.auto_score)
    cells: dict[tuple[str, str, object], list[tuple[str, float, float]]] = {}
    learners = sorted({who for who, _ in pairs})
    for chunk in range(0, len(learners), 500):  # bounded IN lists: every database accepts them
        query = (
            select(submitted_assignment.c.student_id, assignment.c.name, submitted_assignment.c.timestamp, base_cell.c.name, grade_cells.c.max_score, score)
            .select_from(_submission_join().join(grade_cells, grade_cells.c.id == grade.c.cell_id).join(base_cell, base_cell.c.id == grade.c.cell_id))
            .where(score.is_not(None), submitted_assignment.c.student_id.in_(learners[chunk:chunk + 500]))
        )
        for who, name, at, cell, top, points in connection.execute(query):
            if (who, name) not in judged:
                cells.setdefault((who, name, at), []).append((cell, float(top or 0), float(points)))
    tallies = {(t.assignment, t.test): t for t in rows.tallies}
    for (who, name, at), graded in cells.items():
        points, top = sum(p for _, _, p in graded), sum(m for _, m, _ in graded)
        rows.attempts.append(Attempt(who, name, at, points, top, 0.0, True))
        for cell, cell_max, cell_points in graded:
            failed = cell_points < cell_max
            if failed:
                rows.latest_not_passed.append(TestRow(who, name, cell, cell, "failed", ""))
            if learner is None:
                old = tallies.get((name, cell), TestTally(name, cell, cell, 0, 0))
                tallies[name, cell] = old._replace(learners=old.learners + 1, tripped=old.tripped + failed)
    rows.tallies = list(tallies.values())


# --- for feedback pages: each learner's latest attempt, row by row ------------------------


def latest_attempts(db_url: str, assignment: str, learners=()) -> list[Attempt]:
    """The attempt each learner's class grade stands on (or of `learners`), with its test rows, sorted by learner.

    That is the latest attempt `grader autograde` recorded, where there is one: a learner's own
    `grader check` after the class was graded adds an attempt for progress, never a new
    feedback page. Where the class never graded the learner, their latest attempt.
    """
    engine = create_engine(db_url)
    try:
        if test_results.name not in inspect(engine).get_table_names():
            return []
        t = test_results
        has_origin = "origin" in {c["name"] for c in inspect(engine).get_columns(t.name)}
        rows: dict[str, list[dict]] = {}
        with engine.connect() as connection:
            for class_only in ((True, False) if has_origin else (False,)):
                latest = select(t.c.learner, func.max(t.c.attempt).label("attempt")).where(t.c.assignment == assignment)
                if class_only:
                    latest = latest.where(t.c.origin == "class")
                latest = latest.group_by(t.c.learner).subquery()
                query = (
                    select(t)
                    .join(latest, (t.c.learner == latest.c.learner) & (t.c.attempt == latest.c.attempt))
                    .where(t.c.assignment == assignment)
                    .order_by(t.c.learner, t.c.id)
                )
                found: dict[str, list[dict]] = {}
                for row in connection.execute(query):
                    row = row._asdict()
                    row.setdefault("misconception", "")
                    if row["learner"] not in rows and (not learners or row["learner"] in learners):
                        found.setdefault(row["learner"], []).append(row)
                rows.update(found)
    finally:
        engine.dispose()
    return [Attempt.of_tests(who, assignment, rows[who][0]["attempt"], rows[who]) for who in sorted(rows)]


# --- for the class export and resumable class grading ------------------------------------


def autograde_states(db_url: str, assignment: str | None = None) -> dict[tuple[str, str], dict]:
    """(student, assignment) -> its grader_autograde_state row, for one assignment or all."""
    engine = create_engine(db_url)
    try:
        if autograde_state.name not in inspect(engine).get_table_names():
            return {}
        query = select(autograde_state)
        if assignment is not None:
            query = query.where(autograde_state.c.assignment == assignment)
        with engine.connect() as connection:
            return {(r.student, r.assignment): r._asdict() for r in connection.execute(query)}
    finally:
        engine.dispose()


def class_scores(course, assignments=()) -> list[dict]:
    """One row per student and assignment in the gradebook: the Standing of each, as every view scores it.

    Keys: student, lms_user_id, assignment, score (after the late penalty), raw_score,
    late_penalty, max_score, submitted_at, duedate, seconds_late, status ("graded", "no
    submission", or "<state>: <reason>" for a submission that could not be graded), and
    `standing` (the Standing, None without a submission).
    """
    import warnings

    from sqlalchemy.exc import SAWarning

    from grader.gradebook.schema import nbgrader_api

    Gradebook, MissingEntry = nbgrader_api()
    state = autograde_states(course.db_url)
    with warnings.catch_warnings(), Gradebook(course.db_url, course_id=course.course_id) as gradebook:
        warnings.simplefilter("ignore", SAWarning)
        roster = {s.id: s.lms_user_id or "" for s in gradebook.students}
        names = list(assignments) or sorted(a.name for a in gradebook.assignments)
        found = {}
        for name in names:
            try:
                entry = gradebook.find_assignment(name)
            except MissingEntry:
                raise LookupError(f"no assignment '{name}' in the gradebook {printable(course.db_url)} (grade it first: grader autograde {name})") from None
            found[name] = (entry.max_score, entry.duedate)
    rows = []
    for name in names:
        max_score, duedate = found[name]
        grades = standings(course.db_url, name)
        for who in sorted(roster):
            standing = grades.get(who)
            row = dict(student=who, lms_user_id=roster[who], assignment=name, standing=standing)
            if standing is None:
                rows.append({**row, "score": 0.0, "raw_score": 0.0, "late_penalty": 0.0, "max_score": float(max_score or 0), "submitted_at": None,
                             "duedate": duedate, "seconds_late": 0.0, "status": "no submission"})
                continue
            known = state.get((who, name))
            status = "graded" if known is None or known["status"] == "graded" else f"{known['status']}: {known['reason']}"
            rows.append({**row, "score": standing.score, "raw_score": standing.raw, "late_penalty": standing.late_penalty,
                         "max_score": standing.max_score, "submitted_at": standing.submitted_at, "duedate": standing.duedate,
                         "seconds_late": standing.seconds_late, "status": status})
    return rows


# --- the one score of a submission, as nbgrader holds it -----------------------------------


@dataclass(frozen=True)
class CellGrade:
    """One graded cell of one submission: nbgrader's automatic and manual scores, and the comment."""

    auto: float | None
    manual: float | None  # an instructor's grade in formgrader: it wins over the automatic one
    extra_credit: float
    max_score: float
    comment: str = ""  # the instructor's comment on the cell (formgrader)

    @property
    def score(self) -> float:
        return (self.manual if self.manual is not None else self.auto or 0.0) + self.extra_credit


@dataclass(frozen=True)
class Standing:
    """A submission's grade as every view shows it: nbgrader's score of it, less its late penalty.

    `max_score` counts every test, GPU tests included (where they were not run they score 0,
    and the views say so); the same number is in `grader check`, progress, feedback, both
    exports and formgrader.
    """

    learner: str
    assignment: str
    raw: float  # nbgrader's score: per cell the manual grade if any, else the automatic one, plus extra credit
    max_score: float
    late_penalty: float
    submitted_at: dt.datetime | None
    duedate: dt.datetime | None
    seconds_late: float
    cells: dict = field(default_factory=dict)  # grade_id -> CellGrade
    comments: dict = field(default_factory=dict)  # solution cell grade_id -> the instructor's comment

    @property
    def score(self) -> float:
        return max(self.raw - self.late_penalty, 0.0)

    @property
    def manual(self) -> bool:
        return any(c.manual is not None or c.extra_credit for c in self.cells.values())


def standings(db_url: str, assignment: str, learners=()) -> dict[str, Standing]:
    """learner -> the Standing of their submission of `assignment` (all learners, or `learners`)."""
    import warnings

    from sqlalchemy.exc import SAWarning

    from grader.gradebook.schema import nbgrader_api

    Gradebook, MissingEntry = nbgrader_api()
    found = {}
    with warnings.catch_warnings(), Gradebook(db_url) as gradebook:
        warnings.simplefilter("ignore", SAWarning)
        try:
            submissions = gradebook.find_assignment(assignment).submissions
        except MissingEntry:
            return {}
        for submission in submissions:
            who = submission.student.id
            if learners and who not in learners:
                continue
            cells, comments = {}, {}
            for notebook_ in submission.notebooks:
                for g in notebook_.grades:
                    cells[g.name] = CellGrade(g.auto_score, g.manual_score, g.extra_credit or 0.0, g.max_score or 0.0)
                for c in notebook_.comments:
                    if c.manual_comment:
                        comments[c.name] = c.manual_comment
            cells = {name: CellGrade(c.auto, c.manual, c.extra_credit, c.max_score, comments.pop(name, "")) for name, c in cells.items()}
            found[who] = Standing(
                who, assignment, float(submission.score or 0.0), float(submission.max_score or 0.0),
                float(submission.late_submission_penalty or 0.0), submission.timestamp, submission.duedate,
                float(submission.total_seconds_late or 0.0), cells, comments,
            )
    return found
