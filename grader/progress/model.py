"""Progress along the roadmap, the data model: for one learner or a class.

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

The pieces: grader.gradebook.reader reads the gradebook, grader.progress.build turns its rows
into this model (with grader.progress.next_step choosing the next assignment), and
grader.progress.terminal, .page (with .figures) and .spreadsheet show it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import cached_property

from grader.progress.next_step import NextStep
from grader.roadmap import Roadmap

STATUSES = ("passed", "in progress", "not started", "planned")
STUCK_AFTER = 3  # attempts without passing before a learner counts as stuck on an assignment
EPSILON = 1e-9  # points are sums of floats


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
    gpu_points: float  # points of GPU tests not run where it was judged (inside max_points, as in every view)
    score: float | None  # the gradebook's score: the latest attempt, or an instructor's grades
    best: float | None  # the most points of any attempt
    latest: float | None  # the points of the latest attempt
    attempts: int
    last_attempt: dt.datetime | None  # naive UTC
    failing: tuple[FailingTest, ...] = ()  # tests the latest attempt ran and did not pass
    not_run: tuple[str, ...] = ()  # words of GPU tests the latest attempt could not run
    not_gradable: str | None = None  # why the latest attempt's notebook could not be graded



@dataclass(frozen=True)
class PhaseProgress:
    number: int
    title: str
    assignments: tuple[AssignmentProgress, ...]

    @cached_property
    def earned(self) -> float:
        return sum(a.score or 0.0 for a in self.assignments if a.max_points is not None)

    @cached_property
    def available(self) -> float:
        """Points of the phase's assignments whose points are known (written or recorded), GPU tests included."""
        return sum(a.max_points for a in self.assignments if a.max_points is not None)

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


