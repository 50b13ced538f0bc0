"""Fixtures for the project's own tests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.course import Course

ROOT = Path(__file__).resolve().parent.parent
WRITTEN = sorted(p.parent.name for p in (ROOT / "source").glob("*/*.ipynb"))


@pytest.fixture
def course_copy(tmp_path, monkeypatch) -> Course:
    """A private copy of the course (no gradebook, no learner work), selected for the grader CLI."""
    root = tmp_path / "course"
    root.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in ("source", "release", "solutions"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    (root / "tests").mkdir()
    shutil.copytree(ROOT / "tests" / "known_wrong", root / "tests" / "known_wrong")
    monkeypatch.setenv("GRADER_COURSE_ROOT", str(root))
    monkeypatch.chdir(root)
    return Course(root)
