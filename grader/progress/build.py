"""Building progress from the gradebook's rows: statuses, scores, who is stuck, pass rates, the next step.

The model is grader.progress.model; what counts as passed, in progress, not started and
planned is said there.
"""

from __future__ import annotations

from grader.gradebook.reader import read
from grader.judging.diagnosis import load
from grader.notebook.cells import test_cells
from grader.progress.model import (
    STUCK_AFTER, AssignmentProgress, ClassProgress, FailingTest, LearnerProgress, MistakeCount,
    NothingRecorded, PhaseProgress, Stuck, TestPassRate, EPSILON,
)
from grader.progress.next_step import next_assignment
from grader.roadmap import Assignment, Roadmap, load as load_roadmap


def learner_progress(db_url: str, learner: str, roadmap: Roadmap | None = None, track: str | None = None, course=None) -> LearnerProgress:
    """`learner`'s progress; NothingRecorded for an empty gradebook, LookupError for an unknown learner."""
    roadmap = roadmap or _roadmap()
    _check_track(roadmap, track)
    rows = read(db_url, learner)
    if rows.empty:
        everyone = read(db_url)
        if everyone.empty:
            raise NothingRecorded(_how_to_start(rows.url, roadmap))
        raise LookupError(
            f"no learner '{learner}' in the gradebook {rows.url}; it holds {some_names(everyone.learners)}. "
            f"Name one with --learner NAME, or record a first check as {learner}: grader check {_first(roadmap)} --learner {learner}"
        )
    return _build(rows, roadmap, track, course)[0]


def one_line_summary(course, learner: str | None = None) -> str:
    """Where a learner stands on the road, in one line (shown under the notebook's check cell)."""
    from grader.notebook.workspace import learner_name

    progress = learner_progress(course.db_url, learner or learner_name(), course=course)
    written = [a for a in progress.assignments if a.status != "planned"]
    passed = sum(a.status == "passed" for a in written)
    line = f"Roadmap: {passed} of {len(written)} written assignments passed"
    if progress.next_step is not None:
        line += f"; next: {progress.next_step.assignment.id} ({progress.next_step.assignment.title})"
    return line + ". See `grader progress` for the whole road."


def class_progress(db_url: str, roadmap: Roadmap | None = None, course=None, track: str | None = None) -> ClassProgress:
    """Every learner of the gradebook; NothingRecorded when it holds none."""
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
    counts = []
    for assignment, mistake, learners in rows.mistakes:
        text = mistake.replace("_", " ")
        files = {p.stem: p for p in course.known_wrong(assignment)} if course is not None else {}
        if mistake in files:
            text = load(files[mistake])[0].text
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
            gpu = from_source[1]  # a CPU machine will not run them (they stay inside the maximum)
    return AssignmentProgress(assignment.id, assignment.phase, assignment.title, status, total, gpu, None, None, None, 0, None)


def _attempted(assignment_id, phase, title, attempts: list, tests: list, gradebook_max, score) -> AssignmentProgress:
    latest = attempts[-1]
    passed = latest.gradable and latest.max_points > 0 and latest.points >= latest.max_points - EPSILON
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
    return load_roadmap()


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


def some_names(names: list[str], shown: int = 8) -> str:
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


