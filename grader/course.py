"""The course on disk: where source/, release/, solutions/ and the gradebook are, and its settings.

The course root is the folder holding nbgrader_config.py; settings come from that file
(traitlets config, the same file nbgrader reads), with the defaults below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

CONFIG_FILE = "nbgrader_config.py"


@dataclass(frozen=True)
class SandboxLimits:
    """Limits on the learner process (`c.Sandbox.*` in nbgrader_config.py)."""

    time_per_test: float = 15.0  # most CPU seconds one test's learner calls may take (a test cell may declare more)
    time_floor: float = 2.0  # least time a test gets, however fast the reference is
    time_factor: float = 25.0  # a test gets this many times the reference's own time on it, between floor and most
    time_per_submission: float = 180.0  # wall seconds for all tests of one submission; the rest: "time budget used up"
    time_to_load: float = 60.0  # seconds to import and define the learner's answer
    memory_mb: int = 4096  # address space of the learner process
    processes: int = 64  # processes and threads the learner may run
    output_mb: int = 64  # largest file the learner may write
    disk_mb: int = 256  # all the learner may write, in a private working folder that vanishes with it
    shm_mb: int = 64  # its private /dev/shm
    judge_memory_mb: int = 4096  # address space the judge may add while it grades one submission of a class
    judge_extra: float = 30.0  # seconds the judge may add to the learner's (reading, diagnosis): the budget of one submission
    judge_grace: float = 15.0  # seconds a judge told to stop has before its worker is killed
    learner_uid: int = 65534  # the unprivileged user a learner process runs as when the grader runs as root (nobody)
    learner_gid: int = 65534
    loopback: bool = False  # a loopback interface inside the learner's own network namespace (torch.distributed's gloo needs one)


# What one assignment may change for its own learner processes, in its source notebook's metadata
# (`grader: sandbox:` in the text twin's header), e.g. 21-distributed's worker processes and loopback.
ASSIGNMENT_SETTINGS = {"processes": int, "memory_mb": int, "shm_mb": int, "disk_mb": int, "loopback": bool}


def assignment_settings(metadata: dict, where: str) -> dict:
    """The sandbox settings of an assignment's notebook metadata `grader`, checked; ValueError names a wrong one."""
    unknown = set(metadata) - {"sandbox"}
    sandbox = metadata.get("sandbox") or {}
    if unknown or not isinstance(sandbox, dict):
        raise ValueError(f"{where}: notebook metadata `grader` may hold only `sandbox:` (a mapping), not {sorted(unknown) or sandbox!r}")
    for name, value in sandbox.items():
        kind = ASSIGNMENT_SETTINGS.get(name)
        if kind is None:
            raise ValueError(f"{where}: `grader: sandbox: {name}` is not a setting an assignment may change; "
                             f"it may change {', '.join(ASSIGNMENT_SETTINGS)}")
        if type(value) is not kind or (kind is int and value <= 0):
            raise ValueError(f"{where}: `grader: sandbox: {name}` must be a {'positive integer' if kind is int else 'true or false'}, not {value!r}")
    return dict(sandbox)


@dataclass(frozen=True)
class Course:
    root: Path

    @classmethod
    def find(cls, start: Path | None = None) -> "Course":
        """The course containing `start` (default: the working directory), or GRADER_COURSE_ROOT."""
        if os.environ.get("GRADER_COURSE_ROOT"):
            root = Path(os.environ["GRADER_COURSE_ROOT"]).resolve()
            if not (root / CONFIG_FILE).is_file():
                raise LookupError(f"GRADER_COURSE_ROOT={root} has no {CONFIG_FILE}")
            return cls(root)
        here = (start or Path.cwd()).resolve()
        for folder in [here, *here.parents]:
            if (folder / CONFIG_FILE).is_file() and (folder / "source").is_dir():
                return cls(folder)
        raise LookupError(f"no course found at or above {here}: run this inside the course folder (where {CONFIG_FILE} is)")

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def release(self) -> Path:
        return self.root / "release"

    @property
    def solutions(self) -> Path:
        return self.root / "solutions"

    @property
    def submitted(self) -> Path:
        return self.root / "submitted"

    @property
    def autograded(self) -> Path:
        return self.root / "autograded"

    @property
    def feedback(self) -> Path:
        return self.root / self.config.get("CourseDirectory", {}).get("feedback_directory", "feedback")

    def source_notebook(self, assignment: str) -> Path:
        """source/<id>/<id>.ipynb; LookupError for an assignment that is not written."""
        if not (self.source / assignment).is_dir():
            raise LookupError(f"no assignment '{assignment}' in {self.source} (see `grader list`)")
        notebooks = sorted((self.source / assignment).glob("*.ipynb"))
        if len(notebooks) != 1:
            raise LookupError(f"source/{assignment} should hold exactly one notebook, found {len(notebooks)}")
        return notebooks[0]

    def release_notebook(self, assignment: str) -> Path:
        return self.release / assignment / self.source_notebook(assignment).name

    def solution_notebook(self, assignment: str) -> Path:
        return self.solutions / assignment / self.source_notebook(assignment).name

    def known_wrong(self, assignment: str) -> list[Path]:
        """The known-wrong implementations of `assignment`: tests/known_wrong/<id>/*.py, sorted."""
        return sorted((self.root / "tests" / "known_wrong" / assignment).glob("*.py"))

    def assignments(self) -> list[str]:
        """Assignments written so far: folders of source/ holding a notebook."""
        return sorted(p.parent.name for p in self.source.glob("*/*.ipynb"))

    @cached_property
    def config(self):
        from traitlets.config.loader import PyFileConfigLoader

        return PyFileConfigLoader(CONFIG_FILE, path=str(self.root)).load_config()

    @property
    def course_id(self) -> str:
        """nbgrader's course id (`c.CourseDirectory.course_id`)."""
        return self.config.get("CourseDirectory", {}).get("course_id", "default_course")

    @property
    def db_url(self) -> str:
        url = self.config.get("CourseDirectory", {}).get("db_url")
        return url or f"sqlite:///{self.root / 'gradebook.db'}"

    @property
    def limits(self) -> SandboxLimits:
        section = self.config.get("Sandbox", {})
        known = SandboxLimits.__dataclass_fields__
        return SandboxLimits(**{k: v for k, v in section.items() if k in known})
