"""`grader autograde ID`: judge every submission of a class, in parallel, resumably.

    submitted/<student>/<ID>/<ID>.ipynb   (nbgrader's layout, filled by `nbgrader collect`)
        -> workers: grader.class_grading.workers.grade (the judge, in a sandbox), in parallel
        -> this process, through the gradebook's one writer: the verdict, autograded/<student>/<ID>/,
           and a content hash per submission in the table `grader_autograde_state`

Workers are a local process pool (one per core; never plain fork, see grader.class_grading.workers)
or, given `--scheduler tcp://host:port`, the workers of a Dask cluster that sees the course
folder at the same path. Results are recorded as they arrive, each committed at once, so an
interrupted run (Ctrl-C, kill -9) loses no finished grade; running the command again grades
only submissions that are new or changed since they were last graded (`--force`: all).

A submission that cannot be graded (invalid JSON, solution cells missing, duplicated or
re-typed, a learner process that dies in every test, or a grader worker that dies on it) is
recorded as "not gradable: reason" with 0 points; every other submission is still graded.

Exit status: 0 when every submission has its result recorded (graded or not gradable); 1 when
the grader failed on some or could not record them (they are retried by the next run); 130
when interrupted (what finished is recorded: run the command again to go on).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from rich.markup import escape
from sqlalchemy import create_engine

from grader.course import Course
from grader.gradebook import schema
from grader.gradebook.reader import autograde_states
from grader.gradebook.writer import record, save_autograde_state
from grader.judging.results import CheckReport
from grader.notebook.reading import NotGradable, read_regular_file
from grader.class_grading.watchdog import submission_budget
from grader.sandbox.plan import sweep

FINAL = ("graded", "not gradable")  # a fault of the grader itself is retried on the next run
Grade = Callable[[str, str, str, str], dict]  # (course root, assignment, learner, notebook) -> report dict


@dataclass(frozen=True)
class Submission:
    learner: str
    assignment: str
    notebook: Path  # submitted/<learner>/<ID>/<ID>.ipynb
    sha256: str  # "" when the notebook is missing
    problem: str = ""  # why it cannot even be sent to a worker
    staged: Path | None = None  # the private copy of the bytes that are hashed, graded and kept

    @property
    def graded_file(self) -> Path:
        return self.staged or self.notebook


@dataclass
class Outcome:
    learner: str
    status: str  # graded, unchanged, not gradable, grader fault, not recorded
    points: float = 0.0
    max_points: float = 0.0
    reason: str = ""


@dataclass
class Batch:
    assignment: str
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: bool = False

    def count(self, status: str) -> int:
        return sum(o.status == status for o in self.outcomes)


# --- which submissions ---------------------------------------------------------------------


def find_submissions(course: Course, assignment: str, learners: Iterable[str] = ()) -> list[Submission]:
    """Every submitted/<learner>/<assignment>/ folder, sorted by learner (or only `learners`)."""
    name = course.source_notebook(assignment).name
    if not course.submitted.is_dir():
        raise LookupError(f"no {course.submitted} folder: collect the submissions first (nbgrader collect {assignment})")
    wanted = set(learners)
    found = []
    for folder in sorted(course.submitted.glob(f"*/{assignment}")):
        learner = folder.parent.name
        if learner.startswith(".") or (wanted and learner not in wanted):
            continue
        notebook = folder / name
        linked = [p for p in (folder.parent, folder, notebook) if p.is_symlink()]
        if linked:  # grading would read, and autograded/ would copy, whatever it points to (another learner's work)
            where = linked[0].relative_to(course.submitted)
            found.append(Submission(learner, assignment, notebook, "", f"submitted/{where} is a symbolic link: submit the notebook file itself"))
            continue
        if not folder.is_dir():
            continue
        if notebook.exists():
            try:
                found.append(Submission(learner, assignment, notebook, _sha256(read_regular_file(notebook))))
            except NotGradable as error:
                found.append(Submission(learner, assignment, notebook, "", str(error)))
            continue
        others = sorted(p.name for p in folder.glob("*.ipynb"))
        problem = f"submitted/{learner}/{assignment}/ has no {name}" + (
            f" (it has {', '.join(others)}): the notebook must keep the name it was released with" if others else ": nothing was submitted"
        )
        found.append(Submission(learner, assignment, notebook, "", problem))
    missing = wanted - {s.learner for s in found}
    if missing:
        raise LookupError(f"no submission of {assignment} for {', '.join(sorted(missing))} under {course.submitted}")
    return found


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- the state table: what was graded, from which bytes --------------------------------------


class State:
    """How each submission of one assignment was last graded (grader_autograde_state)."""

    def __init__(self, course: Course, assignment: str):
        self.course, self.assignment = course, assignment
        self.source_sha256 = _sha256(course.source_notebook(assignment).read_bytes())
        self._engine = None

    def rows(self) -> dict[str, dict]:
        return {student: row for (student, _), row in autograde_states(self.course.db_url, self.assignment).items()}

    def unchanged(self, submission: Submission, rows: dict[str, dict]) -> bool:
        row = rows.get(submission.learner)
        return bool(row) and row["status"] in FINAL and row["sha256"] == submission.sha256 and row["source_sha256"] == self.source_sha256

    def save(self, submission: Submission, outcome: Outcome) -> None:
        """Committed at once: a later interruption cannot lose it."""
        if self._engine is None:
            self._engine = create_engine(self.course.db_url)
            schema.ensure(self._engine)
        save_autograde_state(self._engine, dict(
            student=submission.learner, assignment=self.assignment, sha256=submission.sha256, source_sha256=self.source_sha256,
            status=outcome.status, points=outcome.points, max_points=outcome.max_points, reason=outcome.reason,
            graded_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None),
        ))


# --- the batch -----------------------------------------------------------------------------


def autograde(
    course: Course,
    assignment: str,
    *,
    workers: int | None = None,
    force: bool = False,
    learners: Iterable[str] = (),
    scheduler=None,
    grade: Grade | None = None,
    console=None,
) -> Batch:
    """Grade the new and changed submissions of `assignment`; record each as it arrives.

    `scheduler`: a Dask scheduler address (or a distributed.Client); None runs a local pool of
    `workers` processes (default: one per core). `grade` replaces the worker function (tests).
    """
    from rich.console import Console

    from grader.class_grading import workers as workers_

    console = console or Console()
    grade = grade or workers_.grade
    submissions = find_submissions(course, assignment, learners)
    state = State(course, assignment)
    rows = state.rows()
    batch = Batch(assignment)
    todo = []
    for submission in submissions:
        if not force and state.unchanged(submission, rows):
            row = rows[submission.learner]
            batch.outcomes.append(Outcome(submission.learner, "unchanged", row["points"], row["max_points"], row["reason"]))
        elif submission.problem:
            report = workers_.not_gradable_report(course, assignment, submission.learner, str(submission.notebook), submission.problem)
            batch.outcomes.append(_settle(course, state, submission, report.to_dict(), console))
        else:
            todo.append(submission)
    if not todo:
        return batch
    sweep()  # what judges killed in an earlier batch left behind
    staging = course.root / ".grader-staging" / assignment
    todo = [_staged(s, staging) for s in todo]
    try:
        _grade_all(course, todo, batch, state, workers, scheduler, grade, console)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return batch


def _staged(submission: Submission, staging: Path) -> Submission:
    """The submission read once more into a private copy: the bytes hashed are the bytes graded and kept."""
    try:
        data = read_regular_file(submission.notebook)
    except NotGradable as error:
        return dataclasses.replace(submission, sha256="", problem=str(error))
    target = staging / submission.learner / submission.notebook.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return dataclasses.replace(submission, sha256=_sha256(data), staged=target)


def _grade_all(course, todo, batch, state, workers, scheduler, grade, console) -> None:
    from grader.class_grading import workers as workers_

    ready = [s for s in todo if not s.problem]
    for submission in todo:
        if submission.problem:  # it vanished or changed into something that is not a file since it was found
            report = workers_.not_gradable_report(course, batch.assignment, submission.learner, str(submission.notebook), submission.problem)
            batch.outcomes.append(_settle(course, state, submission, report.to_dict(), console))
    if not ready:
        return
    todo = ready
    assignment = batch.assignment
    if scheduler is not None:
        results = workers_.dask_results(course, todo, scheduler, grade)
    else:
        results = workers_.pool_results(course, todo, workers or default_workers(), grade,
                                             budget=submission_budget(course.limits), grace=course.limits.judge_grace)
    with _progress(console) as progress:
        task = progress.add_task(f"grading {assignment}", total=len(todo))
        try:
            for submission, data in results:
                outcome = _settle(course, state, submission, data, progress.console)
                batch.outcomes.append(outcome)
                progress.advance(task)
        except KeyboardInterrupt:
            batch.interrupted = True
        finally:
            results.close()  # stops the workers, also on Ctrl-C


def default_workers() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _progress(console):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("elapsed"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
        console=console,
    )


def _settle(course: Course, state: State, submission: Submission, data: dict, console) -> Outcome:
    """Record one result: gradebook first, then autograded/, then the state row (commit order)."""
    report = CheckReport.from_dict(data)
    report.learner, report.notebook = submission.learner, str(submission.notebook)
    if not report.not_gradable:
        report.not_gradable = _learner_never_ran(report)
    status = "grader fault" if report.grader_fault else "not gradable" if report.not_gradable else "graded"
    outcome = Outcome(submission.learner, status, report.points, report.max_points, report.not_gradable or "")
    try:
        record(course, report)
    except Exception as error:  # noqa: BLE001 - one failed write must not stop the batch
        console.print(f"[red]{escape(submission.learner)}: could not record the result in {escape(course.db_url)}: {escape(str(error))}[/] (run again to retry)", highlight=False)
        return Outcome(submission.learner, "not recorded", reason=f"could not record: {error}")
    _copy_to_autograded(course, submission, graded=not report.not_gradable)
    state.save(submission, outcome)
    if report.not_gradable:
        console.print(f"[yellow]{escape(submission.learner)}: not gradable[/]: {escape(report.not_gradable)}", highlight=False)
    return outcome


def _learner_never_ran(report) -> str | None:
    """A learner process that died in every test: the notebook could not be graded at all."""
    ran = [r for r in report.results if r.status != "not run"]
    if ran and all(r.category == "crashed" for r in ran):
        return (
            f"the learner process died in every test ({ran[0].message}); "
            "restart the kernel, run the notebook top to bottom and make sure nothing in it exits, kills its own process or exhausts memory"
        )
    return None


def _copy_to_autograded(course: Course, submission: Submission, graded: bool) -> None:
    """autograded/<learner>/<ID>/ as nbgrader leaves it, so formgrader can show the notebook."""
    target = course.autograded / submission.learner / submission.assignment
    if not graded:  # formgrader cannot open it; an older copy would show stale work beside new grades
        shutil.rmtree(target, ignore_errors=True)
        return
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(submission.graded_file, target / submission.notebook.name)  # the bytes that were graded
    timestamp = submission.notebook.parent / "timestamp.txt"
    try:
        (target / "timestamp.txt").write_bytes(read_regular_file(timestamp, limit=4096))
    except NotGradable:  # none, or not a plain file (a link to another learner's): nbgrader then shows no time
        (target / "timestamp.txt").unlink(missing_ok=True)


# --- telling the instructor ----------------------------------------------------------------


def print_summary(batch: Batch, console) -> None:
    from rich.table import Table

    table = Table(title=f"autograde {batch.assignment}", title_justify="left")
    table.add_column("outcome")
    table.add_column("submissions", justify="right")
    table.add_column("mean score", justify="right")
    for status, label in [("graded", "graded"), ("unchanged", "skipped as unchanged"), ("not gradable", "not gradable"), ("grader fault", "grader failed (retried next run)"), ("not recorded", "not recorded (retried next run)")]:
        chosen = [o for o in batch.outcomes if o.status == status]
        if chosen or status in ("graded", "unchanged", "not gradable"):
            scored = [o for o in chosen if o.max_points and not o.reason]
            mean = f"{sum(o.points for o in scored) / len(scored):.1f}/{scored[0].max_points:g}" if scored else ""
            table.add_row(label, str(len(chosen)), mean)
    console.print(table)
    problems = [o for o in batch.outcomes if o.reason]  # unchanged ones too: still to be fixed
    if problems:
        reasons = Table(title="not gradable: what to do", title_justify="left", show_lines=True)
        reasons.add_column("student")
        reasons.add_column("reason", overflow="fold")
        for outcome in problems:
            learner = f"{outcome.learner} (unchanged)" if outcome.status == "unchanged" else outcome.learner
            reasons.add_row(escape(learner), escape(outcome.reason))
        console.print(reasons)
    if batch.interrupted:
        console.print("[bold yellow]interrupted[/]: every result above is recorded; run the same command again to grade the rest")
