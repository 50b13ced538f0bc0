"""A learner's own copy of an assignment, outside every tracked file.

`grader start ID` copies release/ID/ to submitted/<learner>/ID/ (nbgrader's submission layout,
ignored by git): the learner works there, `git pull` of the course never touches it, and an
instructor's `grader autograde` finds it where nbgrader expects submissions.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
from pathlib import Path

from grader.course import Course

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def learner_name(explicit: str | None = None) -> str:
    """--learner, else GRADER_LEARNER, else the login name."""
    name = explicit or os.environ.get("GRADER_LEARNER")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "learner"
    if not _SAFE_NAME.match(name):
        raise ValueError(f"learner name {name!r} may use letters, digits, '.', '_', '@' and '-' only")
    return name


def workspace(course: Course, learner: str, assignment: str) -> Path:
    return course.submitted / learner / assignment


def start(course: Course, learner: str, assignment: str) -> tuple[Path, bool]:
    """The learner's notebook for `assignment`, copied from release/ if not there yet."""
    release = course.release / assignment
    if not release.is_dir():
        raise LookupError(f"release/{assignment} does not exist: is '{assignment}' written yet? (see `grader list`)")
    target = workspace(course, learner, assignment)
    created = not target.exists()
    if created:
        shutil.copytree(release, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return target / course.source_notebook(assignment).name, created


def default_notebook(course: Course, learner: str, assignment: str) -> Path:
    """The learner's working copy when there is one, else the untouched release notebook."""
    mine = workspace(course, learner, assignment) / course.source_notebook(assignment).name
    return mine if mine.is_file() else course.release_notebook(assignment)
