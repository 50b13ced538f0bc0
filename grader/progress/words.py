"""The words and marks that the progress views share: the terminal, the page and the CSV say the same."""

from __future__ import annotations

from grader.progress.model import ClassProgress, LearnerProgress, PhaseProgress

# One character per assignment in the class matrix.
STATUS_GLYPH = {"passed": "✔", "in progress": "◐", "not started": "·", "planned": " "}


def points(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def phase_summary(phase: PhaseProgress) -> str:
    """'21/84 points · 1 of 10 passed', in words a learner reads beside the bar."""
    if not phase.available:
        return f"no written assignment yet · {phase.passed} of {len(phase.assignments)} passed"
    return f"{points(phase.earned)}/{points(phase.available)} points · {phase.passed} of {len(phase.assignments)} passed"


def shown_assignments(progress: ClassProgress) -> list[str]:
    """Roadmap assignments that are written or that anyone attempted, in roadmap order."""
    attempted = {a.id for learner in progress.learners for a in learner.assignments if a.attempts}
    return [a.id for a in progress.roadmap.assignments if a.status == "written" or a.id in attempted]


def next_step_command(progress: LearnerProgress) -> str:
    """The command that takes the next step: start it, or check it again once begun."""
    step = progress.next_step.assignment
    begun = any(a.id == step.id and a.attempts for a in progress.assignments)
    return f"grader check {step.id}" if begun else f"grader start {step.id}"


def next_step_text(progress: LearnerProgress) -> str:
    """The next step in plain words, on up to three lines: what, the command, the road's note."""
    if progress.next_step is None:
        return f"Next: nothing to take right now: {progress.road_note}"
    step = progress.next_step.assignment
    text = f"Next: {step.id} · {step.title} ({progress.next_step.reason})\n      {next_step_command(progress)}"
    return text + (f"\n      {progress.road_note}" if progress.road_note else "")
