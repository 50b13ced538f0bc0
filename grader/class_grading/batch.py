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
from grader.gradebook.reader import autograde_states, reachable
from grader.gradebook.writer import record, save_autograde_state
from grader.judging.results import CheckReport
from grader.notebook.reading import NotGradable, copy_submission_files, read_regular_file
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
    submitted_at: dt.datetime | None = None  # from timestamp.txt (nbgrader submit / collect), naive UTC

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
                stamp, submitted_at = submission_time(folder)
                found.append(Submission(learner, assignment, notebook, _sha256(read_regular_file(notebook), stamp), submitted_at=submitted_at))
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


def _sha256(data: bytes, timestamp: bytes = b"") -> str:
    """Of the notebook's bytes and its timestamp.txt: a changed submission time regrades too."""
    digest = hashlib.sha256(data)
    if timestamp:
        digest.update(b"\0timestamp.txt\0" + timestamp)
    return digest.hexdigest()


def submission_time(folder: Path) -> tuple[bytes, dt.datetime | None]:
    """timestamp.txt of a submission folder, as nbgrader reads it: (its bytes, the time as naive UTC).

    No file, or an empty one: no time (nbgrader then treats the submission as on time). A time
    nbgrader cannot parse makes the submission not gradable, as in nbgrader: lateness would be
    guessed otherwise.
    """
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if not path.exists() and not path.is_symlink():
        return b"", None
    data = read_regular_file(path, limit=4096)
    text = data.decode("utf-8", "replace").strip()
    if not text:
        return data, None
    try:
        return data, parse_utc(text).replace(tzinfo=None)
    except (ValueError, OverflowError):
        raise NotGradable(f"timestamp.txt holds {text[:60]!r}, which is not a time: nbgrader writes e.g. "
                          f"'2026-12-01 17:03:20.123456 UTC'; fix or remove the file") from None


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
    reachable(course.db_url)  # a server that is down: one clear line before any work
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
        stamp, submitted_at = submission_time(submission.notebook.parent)
    except NotGradable as error:
        return dataclasses.replace(submission, sha256="", problem=str(error))
    target = staging / submission.learner / submission.notebook.name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return dataclasses.replace(submission, sha256=_sha256(data, stamp), staged=target, submitted_at=submitted_at)


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
        record(course, report, submitted_at=submission.submitted_at)
    except Exception as error:  # noqa: BLE001 - one failed write must not stop the batch
        console.print(f"[red]{escape(submission.learner)}: could not record the result in {escape(course.db_url)}: {escape(str(error))}[/] (run again to retry)", highlight=False)
        return Outcome(submission.learner, "not recorded", reason=f"could not record: {error}")
    _copy_to_autograded(course, submission, report)
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


def _copy_to_autograded(course: Course, submission: Submission, report: CheckReport) -> None:
    """autograded/<learner>/<ID>/ as nbgrader leaves it, so formgrader can show the notebook.

    The graded bytes, with each test cell's outputs replaced by the grader's verdict (where
    nbgrader shows a cell's output): a failed test shows its category and message, never
    hidden source.
    """
    target = course.autograded / submission.learner / submission.assignment
    if report.not_gradable:  # formgrader cannot open it; an older copy would show stale work beside new grades
        shutil.rmtree(target, ignore_errors=True)
        return
    target.mkdir(parents=True, exist_ok=True)
    data = read_regular_file(submission.graded_file)
    (target / submission.notebook.name).write_bytes(_with_verdicts(data, report))
    copy_submission_files(submission.notebook.parent, target)


def _with_verdicts(data: bytes, report: CheckReport) -> bytes:
    """The notebook's bytes with the grader's verdict as the output of each test cell."""
    import json

    import nbformat

    try:
        notebook = nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception:  # noqa: BLE001 - it was graded, so it reads; if not, keep the bytes as they were graded
        return data
    verdicts = {r.name: r for r in report.results}
    for cell in notebook.cells:
        result = verdicts.get(cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", ""))
        if cell.get("cell_type") != "code" or result is None:
            continue
        kind = "hidden" if result.hidden else "visible"
        if result.status == "passed":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"grader: passed ({kind} test, {result.points:g} points)\n")]
        elif result.status == "not run":
            cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=f"grader: not run: {result.message or 'needs a GPU'}\n")]
        else:
            hint = f"\nclassic mistake: {result.misconception}" if result.misconception else ""
            cell.outputs = [nbformat.v4.new_output(
                "error", ename=f"grader: failed ({kind} test, {result.category or 'failed'})",
                evalue=(result.message or "failed") + hint, traceback=[f"grader: {result.category}: {result.message}{hint}"])]
    return json.dumps(notebook, indent=1, ensure_ascii=False).encode("utf-8") + b"\n"


# --- telling the instructor ----------------------------------------------------------------


def _print_learners(batch: Batch, console, course: Course) -> None:
    """One row per learner of this batch: outcome, score (manual grades and late penalty included), time, lateness."""
    from rich.table import Table

    from grader.gradebook.reader import standings
    from grader.report.rows import duration

    try:
        grades = standings(course.db_url, batch.assignment, {o.learner for o in batch.outcomes})
    except Exception as error:  # noqa: BLE001 - the summary is a courtesy: the grades are recorded
        console.print(f"[yellow]could not read the scores back from the gradebook: {escape(str(error))}[/]")
        return
    table = Table(title=f"{batch.assignment}: each learner", title_justify="left")
    for column, justify in (("student", "left"), ("outcome", "left"), ("score", "right"), ("submitted (UTC)", "left"), ("late", "left")):
        table.add_column(column, justify=justify)
    for outcome in sorted(batch.outcomes, key=lambda o: o.learner):
        standing = grades.get(outcome.learner)
        score = f"{standing.score:g}/{standing.max_score:g}" if standing else ""
        when = f"{standing.submitted_at:%Y-%m-%d %H:%M}" if standing and standing.submitted_at else ""
        late = ""
        if standing and standing.seconds_late > 0:
            late = f"{duration(standing.seconds_late)}, penalty {standing.late_penalty:g}"
        table.add_row(escape(outcome.learner), escape(outcome.status), score, when, late)
    console.print(table)


def print_summary(batch: Batch, console, course: Course | None = None) -> None:
    """The outcome counts, each learner's score as the gradebook now holds it, and what to do about failures."""
    from rich.table import Table

    if course is not None and batch.outcomes:
        _print_learners(batch, console, course)

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
