"""The next assignment to take: prerequisites met, in roadmap order or along a reading track.

The roadmap is a prerequisite graph (grader/roadmap.toml); tracks are paths through it
(quickstart, foundations-first, practitioner, historical). Planned assignments are on the
road but cannot be taken yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from grader.roadmap import Assignment, Roadmap


@dataclass(frozen=True)
class NextStep:
    assignment: Assignment
    reason: str


def next_assignment(roadmap: Roadmap, passed: set[str], track: str | None = None, started: set[str] = frozenset()) -> tuple[NextStep | None, str]:
    """The next written assignment to take whose prerequisites are all passed, and a note.

    Without a track, the roadmap's own order decides. With one, the track's order does: its
    first assignment not passed is the goal, and when that goal's prerequisites are not all
    passed, the earliest prerequisite on the way that can be taken now is the next step. Goals
    that wait on a planned assignment are skipped; after the track, the roadmap's order.
    An assignment the learner has `started` can be taken, whatever the roadmap file says.
    """
    by_id = {a.id: a for a in roadmap.assignments}
    path = list(roadmap.tracks[track][1]) if track else []
    goals = path + [a for a in by_id if a not in path]
    blocked: list[str] = []
    for goal in goals:
        if goal in passed:
            continue
        step = _first_takeable(by_id, goal, passed)
        if step in blocked or (by_id[step].status == "planned" and step not in started):
            if step not in blocked:
                blocked.append(step)
            continue
        return NextStep(by_id[step], _reason(by_id[step], step, goal, track, goal in path)), _track_note(track, path, passed, blocked)
    if not blocked:
        return None, "every assignment on the roadmap is passed: congratulations"
    return None, f"every written assignment you can take is passed; the road goes on with {blocked[0]}, which is planned (not written yet)"


def _first_takeable(by_id: dict[str, Assignment], goal: str, passed: set[str]) -> str:
    """The earliest assignment, on the way to `goal`, whose prerequisites are all passed."""
    needed, stack = set(), [goal]
    while stack:
        current = stack.pop()
        if current in passed or current in needed:
            continue
        needed.add(current)
        stack.extend(by_id[current].prerequisites)
    # by_id is in roadmap order, where prerequisites come first: one is always ready
    return next(a for a in by_id if a in needed and all(p in passed for p in by_id[a].prerequisites))


def _reason(assignment: Assignment, step: str, goal: str, track: str | None, on_track: bool) -> str:
    prerequisites = assignment.prerequisites
    met = f"prerequisites met: {', '.join(prerequisites)}" if prerequisites else "no prerequisites"
    where = f"on track {track}" if on_track else "in roadmap order"
    if step == goal:
        return f"next {where}; {met}"
    return f"needed before {goal} (next {where}); {met}"


def _track_note(track: str | None, path: list[str], passed: set[str], blocked: list[str]) -> str:
    if not track:
        return ""
    done = sum(a in passed for a in path)
    note = f"track {track}: {done}/{len(path)} passed"
    if blocked:
        note += f"; waiting on {blocked[0]}, which is planned (not written yet)"
    return note
