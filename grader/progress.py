"""Progress along the roadmap, for one learner or a class, read from the nbgrader gradebook.

A self-learner is a student in a local gradebook that `grader check` records into; a class
gradebook is filled by grading. The same data model serves both:

    LearnerProgress    one learner: PhaseProgress per phase, each holding AssignmentProgress
                       (status, score, best and latest attempt, tests still failing, GPU tests
                       not run), the assignments off the roadmap, and the next step to take
    ClassProgress      every learner's LearnerProgress, who is stuck where, and per-test pass
                       rates across the class

Status of an assignment for a learner:

- "passed": the latest attempt earned all CPU points, that is every point of the tests it ran
  (GPU-tagged tests not run for lack of CUDA count neither for nor against), at least one test
  ran, and the notebook was gradable. A test that ran on a GPU and failed is a failure.
- "in progress": attempted, and the latest attempt is not passed.
- "not started": no attempt yet at a written assignment; "planned": not written yet.

The pieces: grader.progress_gradebook reads the gradebook, grader.next_step picks the next
assignment, grader.progress_report prints and writes CSV, grader.progress_html (with
grader.progress_figures) writes the page.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from grader.next_step import NextStep, next_assignment
from grader.roadmap import Assignment, Roadmap

STATUSES = ("passed", "in progress", "not started", "planned")
STUCK_AFTER = 3  # attempts without passing before a learner counts as stuck on an assignment
_EPSILON = 1e-9  # points are sums of floats


class NothingRecorded(Exception):
    """The gradebook holds no learner yet: not an error, the message says how to start."""


@dataclass(frozen=True)
class FailingTest:
    test: str  # grade_id
    words: str  # the property, as the learner reads it in `grader check`; never hidden source
    category: str  # how it failed: shape, tolerance, exception, not gradable, ...


@dataclass(frozen=True)
class AssignmentProgress:
    id: str
    phase: int | None  # None: not on the roadmap
    title: str
    status: str  # one of STATUSES
    max_points: float | None  # every test, GPU ones included (nbgrader's max score); None: unknown
    gpu_points: float  # points of GPU tests not run where it was judged: kept out of the CPU score
    score: float | None  # the gradebook's score: the latest attempt, or an instructor's grades
    best: float | None  # the most points of any attempt
    latest: float | None  # the points of the latest attempt
    attempts: int
    last_attempt: dt.datetime | None  # naive UTC
    failing: tuple[FailingTest, ...] = ()  # tests the latest attempt ran and did not pass
    not_run: tuple[str, ...] = ()  # words of GPU tests the latest attempt could not run
    not_gradable: str | None = None  # why the latest attempt's notebook could not be graded

    @property
    def cpu_points(self) -> float | None:
        """The points a CPU-only machine can judge."""
        return None if self.max_points is None else max(self.max_points - self.gpu_points, 0.0)


@dataclass(frozen=True)
class PhaseProgress:
    number: int
    title: str
    assignments: tuple[AssignmentProgress, ...]

    @cached_property
    def earned(self) -> float:
        return sum(a.score or 0.0 for a in self.assignments if a.cpu_points is not None)

    @cached_property
    def available(self) -> float:
        """CPU points of the phase's assignments whose points are known (written or recorded)."""
        return sum(a.cpu_points for a in self.assignments if a.cpu_points is not None)

    @cached_property
    def share(self) -> float:
        """Share of the available points earned, in [0, 1]."""
        return min(self.earned / self.available, 1.0) if self.available else 0.0

    @cached_property
    def passed(self) -> int:
        return sum(a.status == "passed" for a in self.assignments)


@dataclass(frozen=True)
class LearnerProgress:
    learner: str
    phases: tuple[PhaseProgress, ...]
    off_roadmap: tuple[AssignmentProgress, ...]  # recorded, but not on the roadmap
    next_step: NextStep | None
    road_note: str  # what the road says when there is no next step, or about the track
    track: str | None
    roadmap: Roadmap = field(repr=False, compare=False)

    @property
    def assignments(self) -> list[AssignmentProgress]:
        return [a for phase in self.phases for a in phase.assignments]


@dataclass(frozen=True)
class Stuck:
    learner: str
    assignment: AssignmentProgress


@dataclass(frozen=True)
class TestPassRate:
    """One test across the class: how many learners it trips, and how many it still holds up."""

    assignment: str
    test: str
    words: str
    learners: int  # learners who ran it at least once
    tripped: int  # learners it failed at least once
    failing_now: int  # learners whose latest attempt at the assignment fails it
    not_run: int  # learners whose latest attempt could not run it (a GPU test, no CUDA)

    @property
    def rate(self) -> float:
        """Share of the learners who ran it whose latest attempt passes it."""
        return (self.learners - self.failing_now) / self.learners if self.learners else 0.0

    @property
    def tripped_share(self) -> float:
        return self.tripped / self.learners if self.learners else 0.0


@dataclass(frozen=True)
class MistakeCount:
    """A classic mistake (a known-wrong implementation) the judge recognised, across the class."""

    assignment: str
    id: str
    text: str  # the mistake and its fix, in words
    learners: int  # learners whose outputs matched it in some attempt


@dataclass(frozen=True)
class ClassProgress:
    learners: tuple[LearnerProgress, ...]
    roadmap: Roadmap
    stuck: tuple[Stuck, ...]  # most attempts first
    pass_rates: tuple[TestPassRate, ...]  # lowest pass rate first: the properties that trip most learners
    off_roadmap: tuple[str, ...]
    mistakes: tuple[MistakeCount, ...] = ()  # most learners first

    def status_counts(self) -> dict[str, dict[str, int]]:
        """Assignment id -> status -> how many learners, for every roadmap assignment."""
        counts = {a.id: dict.fromkeys(STATUSES, 0) for a in self.roadmap.assignments}
        for learner in self.learners:
            for a in learner.assignments:
                counts[a.id][a.status] += 1
        return counts


def learner_progress(db_url: str, learner: str, roadmap: Roadmap | None = None, track: str | None = None, course=None) -> LearnerProgress:
    """`learner`'s progress; NothingRecorded for an empty gradebook, LookupError for an unknown learner."""
    from grader.progress_gradebook import read

    roadmap = roadmap or _roadmap()
    _check_track(roadmap, track)
    rows = read(db_url, learner)
    if rows.empty:
        everyone = read(db_url)
        if everyone.empty:
            raise NothingRecorded(_how_to_start(rows.url, roadmap))
        raise LookupError(
            f"no learner '{learner}' in the gradebook {rows.url}; it holds {_some(everyone.learners)}. "
            f"Name one with --learner NAME, or record a first check as {learner}: grader check {_first(roadmap)} --learner {learner}"
        )
    return _build(rows, roadmap, track, course)[0]


def one_line_summary(course, learner: str | None = None) -> str:
    """Where a learner stands on the road, in one line (shown under the notebook's check cell)."""
    from grader.workspace import learner_name

    progress = learner_progress(course.db_url, learner or learner_name(), course=course)
    written = [a for a in progress.assignments if a.status != "planned"]
    passed = sum(a.status == "passed" for a in written)
    line = f"Roadmap: {passed} of {len(written)} written assignments passed"
    if progress.next_step is not None:
        line += f"; next: {progress.next_step.assignment.id} ({progress.next_step.assignment.title})"
    return line + ". See `grader progress` for the whole road."


def class_progress(db_url: str, roadmap: Roadmap | None = None, course=None, track: str | None = None) -> ClassProgress:
    """Every learner of the gradebook; NothingRecorded when it holds none."""
    from grader.progress_gradebook import read

    roadmap = roadmap or _roadmap()
    _check_track(roadmap, track)
    rows = read(db_url)
    if rows.empty:
        raise NothingRecorded(_how_to_start(rows.url, roadmap, whole_class=True))
    learners = _build(rows, roadmap, track, course)
    stuck = [Stuck(p.learner, a) for p in learners for a in p.assignments if a.status == "in progress" and a.attempts >= STUCK_AFTER]
    stuck.sort(key=lambda s: (-s.assignment.attempts, s.assignment.id, s.learner))
    on_road = {a.id for a in roadmap.assignments}
    off_road = tuple(a for a in rows.assignments if a not in on_road)
    return ClassProgress(tuple(learners), roadmap, tuple(stuck), _pass_rates(rows), off_road, _mistakes(rows, course))


def _mistakes(rows, course) -> tuple[MistakeCount, ...]:
    """Learners per classic mistake and assignment, most common first, described in words."""
    from grader.misconception import load

    counts = []
    for assignment, mistake, learners in rows.mistakes:
        text = mistake.replace("_", " ")
        path = course.root / "tests" / "known_wrong" / assignment / f"{mistake}.py" if course is not None else None
        if path is not None and path.is_file():
            text = load(path)[0].text
        counts.append(MistakeCount(assignment, mistake, text, learners))
    return tuple(sorted(counts, key=lambda m: (-m.learners, m.assignment, m.id)))


def off_roadmap_assignments(progress: LearnerProgress | ClassProgress) -> list[str]:
    if isinstance(progress, ClassProgress):
        return list(progress.off_roadmap)
    return [a.id for a in progress.off_roadmap]


# ---------------------------------------------------------------- building the model


def _build(rows, roadmap: Roadmap, track: str | None, course) -> list[LearnerProgress]:
    index = _Index(rows, roadmap, course)
    on_road = {a.id for a in roadmap.assignments}
    off_road = [a for a in rows.assignments if a not in on_road]
    learners = []
    for learner in rows.learners:
        phases = tuple(
            PhaseProgress(number, title, tuple(index.progress(learner, a.id, a.phase, a.title) for a in roadmap.in_phase(number)))
            for number, title in roadmap.phases.items()
        )
        off = tuple(index.progress(learner, a, None, a) for a in off_road if (learner, a) in index.attempts)
        passed = {a.id for phase in phases for a in phase.assignments if a.status == "passed"}
        started = {a.id for phase in phases for a in phase.assignments if a.attempts}
        next_step, note = next_assignment(roadmap, passed, track, started)
        learners.append(LearnerProgress(learner, phases, off, next_step, note, track, roadmap))
    return learners


class _Index:
    """The gradebook's rows by (learner, assignment), and what an untouched assignment looks like."""

    def __init__(self, rows, roadmap: Roadmap, course):
        self.rows = rows
        self.attempts: dict[tuple[str, str], list] = {}
        for attempt in rows.attempts:  # ordered by time within each learner and assignment
            self.attempts.setdefault((attempt.learner, attempt.assignment), []).append(attempt)
        self.tests: dict[tuple[str, str], list] = {}
        for test in rows.latest_not_passed:
            self.tests.setdefault((test.learner, test.assignment), []).append(test)
        self.untouched = {a.id: _unattempted(a, rows.max_points.get(a.id), course) for a in roadmap.assignments}

    def progress(self, learner: str, assignment_id: str, phase: int | None, title: str) -> AssignmentProgress:
        key = (learner, assignment_id)
        if key not in self.attempts:
            return self.untouched[assignment_id]  # off-roadmap assignments are only shown when attempted
        return _attempted(
            assignment_id, phase, title, self.attempts[key], self.tests.get(key, []),
            self.rows.max_points.get(assignment_id), self.rows.scores.get(key),
        )


def _unattempted(assignment: Assignment, gradebook_max: float | None, course) -> AssignmentProgress:
    status = "planned" if assignment.status == "planned" else "not started"
    total, gpu = gradebook_max, 0.0
    if status == "not started" and course is not None:
        from_source = _source_points(course, assignment.id)
        if from_source is not None:
            total = total if total is not None else from_source[0]
            gpu = from_source[1]  # a CPU machine will not run them: not part of what it can earn
    return AssignmentProgress(assignment.id, assignment.phase, assignment.title, status, total, gpu, None, None, None, 0, None)


def _attempted(assignment_id, phase, title, attempts: list, tests: list, gradebook_max, score) -> AssignmentProgress:
    latest = attempts[-1]
    passed = latest.gradable and latest.max_points > 0 and latest.points >= latest.max_points - _EPSILON
    broken = next((t.message or "the notebook could not be read" for t in tests if t.status == "not gradable"), None)
    failing = () if broken else tuple(FailingTest(t.test, t.words, t.category or t.status) for t in tests if t.status == "failed")
    not_run = tuple(t.words for t in tests if t.status == "not run")
    total = gradebook_max if gradebook_max is not None else latest.max_points + latest.gpu_points
    return AssignmentProgress(
        assignment_id, phase, title, "passed" if passed else "in progress", total, latest.gpu_points,
        score if score is not None else latest.points, max(a.points for a in attempts), latest.points,
        len(attempts), max((a.at for a in attempts if a.at is not None), default=None), failing, not_run, broken,
    )


def _source_points(course, assignment_id: str) -> tuple[float, float] | None:
    """(all points, GPU points) of an assignment's test cells in source/, or None if unreadable."""
    from grader.answer_extraction import test_cells  # cached per notebook and modification time

    try:
        cells = test_cells(course.source_notebook(assignment_id))
    except Exception:  # noqa: BLE001 - a missing or broken source shows as unknown points, not a crash
        return None
    return sum(c.points for c in cells), sum(c.points for c in cells if c.gpu)


def _pass_rates(rows) -> tuple[TestPassRate, ...]:
    failing: dict[tuple[str, str], list[int]] = {}  # -> [failed, not run] among latest attempts
    for t in rows.latest_not_passed:
        if t.status in ("failed", "not run"):  # a notebook not gradable says nothing about one property
            failing.setdefault((t.assignment, t.test), [0, 0])[t.status == "not run"] += 1
    words = {(t.assignment, t.test): t.words for t in rows.latest_not_passed}
    tallies = {(t.assignment, t.test): (t.words, t.learners, t.tripped) for t in rows.tallies}
    for key in failing.keys() - tallies.keys():  # tests that never ran anywhere (GPU tests on CPU machines)
        tallies[key] = (words[key], 0, 0)
    rates = [TestPassRate(a, test, w, learners, tripped, *failing.get((a, test), (0, 0))) for (a, test), (w, learners, tripped) in tallies.items()]
    rates.sort(key=lambda r: (r.rate if r.learners else 2.0, -r.tripped_share, r.assignment, r.test))
    return tuple(rates)


# ---------------------------------------------------------------- messages


def _roadmap() -> Roadmap:
    from grader.roadmap import load

    return load()


def _check_track(roadmap: Roadmap, track: str | None) -> None:
    if track and track not in roadmap.tracks:
        raise LookupError(f"no track '{track}'; the roadmap has {', '.join(roadmap.tracks)} (see `grader list`)")


def _first(roadmap: Roadmap) -> str:
    return next((a.id for a in roadmap.assignments if a.status == "written"), roadmap.assignments[0].id)


def _how_to_start(url: str, roadmap: Roadmap, whole_class: bool = False) -> str:
    first = _first(roadmap)
    text = f"Nothing is recorded in the gradebook yet ({url}).\nStart with:\n  grader start {first}\n  grader check {first}"
    if whole_class:
        text += f"\nFor a class: collect submissions (nbgrader collect {first}), then grade them (grader autograde {first})."
    return text


def _some(names: list[str], shown: int = 8) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


# ---------------------------------------------------------------- the command


def register(subparsers) -> None:
    """Add `grader progress` to the grader command's subparsers."""
    parser = subparsers.add_parser("progress", help="how far along the road: one learner, or a class with --all")
    who = parser.add_mutually_exclusive_group()
    who.add_argument("--learner", help="whose progress (default: $GRADER_LEARNER or your login)")
    who.add_argument("--all", action="store_true", help="the whole class: learners by assignment and phase, who is stuck, test pass rates")
    parser.add_argument("--track", help="follow a reading track for the next step (see `grader list`), e.g. quickstart")
    parser.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML page with the roadmap picture")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write CSV: one row per learner and assignment")
    parser.set_defaults(func=run)


def run(args) -> int:
    """0: shown (or nothing recorded yet); 2: a problem the message explains."""
    from grader.course import Course
    from grader.progress_gradebook import GradebookProblem

    try:
        course = Course.find()
        if args.all:
            progress = class_progress(course.db_url, course=course, track=args.track)
        else:
            from grader.workspace import learner_name

            progress = learner_progress(course.db_url, learner_name(args.learner), track=args.track, course=course)
    except NothingRecorded as message:
        print(message)
        return 0
    except (GradebookProblem, LookupError, ValueError) as error:
        print(f"grader progress: {error}", file=sys.stderr)
        return 2
    off_road = off_roadmap_assignments(progress)
    if off_road:
        print(
            f"grader progress: the gradebook holds {len(off_road)} assignment(s) not on the roadmap: {_some(off_road)}; "
            "they are listed apart and count in no phase (add them to grader/roadmap.toml to place them)",
            file=sys.stderr,
        )
    from grader.progress_report import show

    return show(progress, csv_path=args.csv, html_path=args.html)
