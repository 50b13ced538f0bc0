"""The roadmap: five phases, 34 assignments, their prerequisites and reading tracks.

The data lives in roadmap.toml beside this module; the grader reads it, nothing else holds it.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROADMAP_FILE = Path(__file__).with_name("roadmap.toml")


@dataclass(frozen=True)
class Assignment:
    id: str
    phase: int
    title: str
    prerequisites: tuple[str, ...]
    status: str  # "written" or "planned"


@dataclass(frozen=True)
class Roadmap:
    phases: dict[int, str]
    assignments: tuple[Assignment, ...]
    tracks: dict[str, tuple[str, tuple[str, ...]]]  # name -> (description, path)

    def get(self, assignment_id: str) -> Assignment:
        for assignment in self.assignments:
            if assignment.id == assignment_id:
                return assignment
        raise LookupError(f"'{assignment_id}' is not on the roadmap (see `grader list`)")

    def in_phase(self, phase: int) -> list[Assignment]:
        return [a for a in self.assignments if a.phase == phase]


@lru_cache(maxsize=1)
def load(path: Path = ROADMAP_FILE) -> Roadmap:
    data = tomllib.loads(path.read_text())
    roadmap = Roadmap(
        phases={p["number"]: p["title"] for p in data["phases"]},
        assignments=tuple(
            Assignment(a["id"], a["phase"], a["title"], tuple(a["prerequisites"]), a["status"]) for a in data["assignments"]
        ),
        tracks={t["name"]: (t["description"], tuple(t["path"])) for t in data["tracks"]},
    )
    _check(roadmap)
    return roadmap


def _check(roadmap: Roadmap) -> None:
    ids = [a.id for a in roadmap.assignments]
    if len(set(ids)) != len(ids):
        raise ValueError("the roadmap lists an assignment twice")
    for assignment in roadmap.assignments:
        if assignment.phase not in roadmap.phases:
            raise ValueError(f"{assignment.id} is in unknown phase {assignment.phase}")
        for prerequisite in assignment.prerequisites:
            if prerequisite not in ids or ids.index(prerequisite) >= ids.index(assignment.id):
                raise ValueError(f"{assignment.id} needs {prerequisite}, which does not come before it on the roadmap")
    for name, (_, path) in roadmap.tracks.items():
        unknown = [a for a in path if a not in ids]
        if unknown:
            raise ValueError(f"track {name} names unknown assignments {unknown}")
