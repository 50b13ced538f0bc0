"""Benchmark: what the suite costs per assignment, against one plain `nbgrader autograde`.

    python tests/benchmarks/selftest_cost.py [ASSIGNMENT ...] [--repeat 3] [--update-readme]

For each assignment (default: every written one), side by side and interleaved `--repeat` times:

- **suite**: everything the test suite runs for that assignment, as one whole command:
  `python -m pytest source/<assignment> -n 0` (its self-test items: in sync, reference judged,
  stub fails, each known-wrong implementation caught and named, the unknown-bug nudge, and the
  plain-nbgrader run of reference and stub), on one core, so that the figure is the
  assignment's share of CI whatever the number of cores;
- **nbgrader**: one `nbgrader autograde` of the assignment's solution notebook in a temporary
  course, start-up included.

Printed: the medians, their ratio (target: at most 4) and a projection of CI for the whole
course: the course-independent tests (`python -m pytest tests`, timed once here, on all cores)
plus 34 assignments at the mean per-assignment cost, spread over the cores the way
pytest-xdist's `--dist loadgroup` does (target: under 45 minutes on two cores). Assignments
with training loops cost more than the mean of early ones: the projection says which mean it
used. With --update-readme the table replaces the one between the benchmark markers in README.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from readme_table import show  # noqa: E402 - beside this script

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
COURSE_SIZE = 34
BEGIN, END = "<!-- benchmark: self-test cost -->", "<!-- end benchmark -->"


def timed(command: list[str], cwd: Path, env: dict, allowed=(0,)) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in allowed:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-2000:]}")
    return elapsed


def nbgrader_course(scratch: Path, assignment: str) -> Path:
    """A temporary course with `assignment` released into nbgrader's gradebook and its solution submitted."""
    course = scratch / assignment
    course.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", course)
    for folder in ("source", "release", "solutions"):
        shutil.copytree(ROOT / folder / assignment, course / folder / assignment, ignore=shutil.ignore_patterns("__pycache__"))
    env = dict(os.environ, GRADER_COURSE_ROOT=str(course))
    subprocess.run([sys.executable, "-m", "grader.cli", "release", "--gradebook", assignment], cwd=course, env=env, check=True, capture_output=True)
    submitted = course / "submitted" / "bench" / assignment
    submitted.mkdir(parents=True)
    shutil.copy2(course / "solutions" / assignment / f"{assignment}.ipynb", submitted)
    return course


def main() -> None:
    from grader.course import Course

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()
    assignments = args.assignments or Course(ROOT).written()
    cores = os.cpu_count() or 1

    rows = []
    with tempfile.TemporaryDirectory(prefix="grader-selftest-bench-") as scratch:
        env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
        for assignment in assignments:
            course = nbgrader_course(Path(scratch), assignment)
            ours = [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:cacheprovider", f"source/{assignment}"]
            theirs = ["nbgrader", "autograde", assignment, "--student", "bench", "--force", "--create"]
            times = {"suite": [], "nbgrader": []}
            for _ in range(args.repeat):  # interleaved, so machine load affects both alike
                times["suite"].append(timed(ours, ROOT, env))
                times["nbgrader"].append(timed(theirs, course, dict(env, GRADER_COURSE_ROOT=str(course)), allowed=(0, 1)))
            suite, nbgrader = statistics.median(times["suite"]), statistics.median(times["nbgrader"])
            rows.append((assignment, suite, nbgrader))
            print(f"{assignment}: suite {suite:.1f} s, nbgrader autograde {nbgrader:.1f} s, ratio {suite / nbgrader:.2f}", flush=True)
        fixed = timed([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], ROOT, env)

    mean = statistics.mean(suite for _, suite, _ in rows)
    projected = fixed + COURSE_SIZE * mean / cores
    lines = [
        f"Per assignment, median of {args.repeat} interleaved runs, whole commands, {cores} cores "
        f"(measured {time.strftime('%Y-%m-%d')}, `python tests/benchmarks/selftest_cost.py`):",
        "",
        "| assignment | suite for it (one core) | one nbgrader autograde of its solution | ratio (target ≤ 4) |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {s:.1f} s | {n:.1f} s | {s / n:.2f} |" for a, s, n in rows]
    lines += [
        "",
        f"Projected CI for {COURSE_SIZE} assignments at the mean cost of these {len(rows)} ({mean:.1f} s each, "
        f"{cores} cores in parallel) plus the course-independent tests ({fixed:.0f} s): "
        f"**{projected / 60:.1f} minutes** (target: under 45), plus the install.",
    ]
    show("\n".join(lines), BEGIN, END, args.update_readme)


if __name__ == "__main__":
    main()
