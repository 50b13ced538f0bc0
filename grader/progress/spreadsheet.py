"""Progress as CSV, for spreadsheets and an LMS import: one row per learner and assignment."""

from __future__ import annotations

from pathlib import Path

from grader.progress.model import ClassProgress, LearnerProgress
from grader.progress.words import points
from grader.report.spreadsheet import write_csv

COLUMNS = ["learner", "assignment", "phase", "title", "status", "score", "max", "attempts", "best", "latest", "last_attempt"]


def rows(progress: LearnerProgress | ClassProgress) -> list[list]:
    """One row (COLUMNS) per learner and assignment: roadmap order, then off the roadmap."""
    learners = progress.learners if isinstance(progress, ClassProgress) else (progress,)
    table = []
    for learner in learners:
        for a in [*learner.assignments, *learner.off_roadmap]:
            table.append([
                learner.learner, a.id, "" if a.phase is None else a.phase, a.title, a.status,
                points(a.score), points(a.max_points), a.attempts, points(a.best), points(a.latest),
                a.last_attempt.isoformat(timespec="seconds") + "Z" if a.last_attempt else "",
            ])
    return table


def write(progress: LearnerProgress | ClassProgress, path: Path) -> None:
    write_csv(path, COLUMNS, rows(progress))
