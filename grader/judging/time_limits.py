"""How long each test may take: derived from the reference's own time on it, with a factor and a floor.

`grader release` judges the reference and writes its time on each test to
source/<id>/reference_times.json, beside the source notebook it was measured from (its
SHA-256 says which). A test then gets `time_factor` times the reference's time, at least
`time_floor` and at most `time_per_test` (or the test cell's own `grader.time_limit`, for
training cells), all set in nbgrader_config.py (`c.Sandbox.*`). Without a measurement for the
current source notebook a test gets its most. The times are counted in the learner process's
CPU seconds (grader.sandbox.deadline), so a busy machine does not fail honest work.
"""

from __future__ import annotations

import hashlib
import json
import platform
from pathlib import Path

from grader.course import SandboxLimits
from grader.notebook.cells import TestCell

TIMES_FILE = "reference_times.json"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def reference_times(source: Path) -> dict[str, float]:
    """test grade_id -> the reference's seconds on it, measured on this source notebook; {} if none is."""
    path = source.parent / TIMES_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("source_sha256") != _sha256(source):
        return {}
    tests = data.get("tests", {})
    return {k: float(v) for k, v in tests.items() if isinstance(v, (int, float))} if isinstance(tests, dict) else {}


def limit(test: TestCell, limits: SandboxLimits, times: dict[str, float]) -> float:
    """The seconds `test` may use: factor x the reference's time, between the floor and the test's most."""
    most = test.time_limit or limits.time_per_test
    if test.name not in times:
        return most
    return min(most, max(limits.time_floor, limits.time_factor * times[test.name]))


def write_reference_times(source: Path, seconds: dict[str, float]) -> Path:
    """Record the reference's time on each test (grader release does this); the file written."""
    path = source.parent / TIMES_FILE
    data = {
        "about": "the reference solution's seconds per test, measured by `grader release`; limits are derived from them",
        "source_sha256": _sha256(source),
        "machine": f"{platform.machine()}, {platform.python_implementation()} {platform.python_version()}",
        "tests": {name: round(value, 3) for name, value in seconds.items()},
    }
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def is_current(source: Path) -> bool:
    """Whether reference_times.json was measured on this very source notebook."""
    return bool(reference_times(source))
