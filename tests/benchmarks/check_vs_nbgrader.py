"""Benchmark: `grader check` against `nbgrader validate` and `nbgrader autograde`, same notebooks.

    python tests/benchmarks/check_vs_nbgrader.py [--repeat 5] [--update-readme]

For each assignment, the reference solution notebook is judged by each tool as a whole command,
start-up included, `--repeat` times; the medians and the ratios are printed. `grader check` runs
every test, visible and hidden, and records the result in the gradebook; `nbgrader validate`
runs the visible tests only; `nbgrader autograde` runs them all for one submission.
With --update-readme the table replaces the one between the benchmark markers in README.md.
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
ASSIGNMENTS = ["01-linear-algebra", "13-attention"]
BEGIN, END = "<!-- benchmark: check vs nbgrader -->", "<!-- end benchmark -->"


def timed(command: list[str], cwd: Path, env: dict) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return elapsed


def make_course(scratch: Path) -> Path:
    course = scratch / "course"
    course.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", course)
    for folder in ("source", "release", "solutions"):
        for assignment in ASSIGNMENTS:
            shutil.copytree(ROOT / folder / assignment, course / folder / assignment)
    return course


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory(prefix="grader-bench-") as scratch:
        course = make_course(Path(scratch))
        env = dict(os.environ, GRADER_COURSE_ROOT=str(course), GRADER_LEARNER="bench")
        subprocess.run([sys.executable, "-m", "grader.cli", "release", "--gradebook", *ASSIGNMENTS], cwd=course, env=env, check=True, capture_output=True)
        for assignment in ASSIGNMENTS:
            solution = course / "solutions" / assignment / f"{assignment}.ipynb"
            submitted = course / "submitted" / "bench" / assignment
            submitted.mkdir(parents=True)
            shutil.copy2(solution, submitted / solution.name)
            commands = {
                "grader check": ["grader", "check", assignment, str(solution)],
                "nbgrader validate": ["nbgrader", "validate", str(solution)],
                "nbgrader autograde": ["nbgrader", "autograde", assignment, "--student", "bench", "--force", "--create"],
            }
            times = {name: [] for name in commands}
            for _ in range(args.repeat):  # interleaved, so machine load affects all tools alike
                for name, command in commands.items():
                    times[name].append(timed(command, course, env))
            medians = {name: statistics.median(values) for name, values in times.items()}
            rows.append((assignment, medians))
            print(f"{assignment}: " + ", ".join(f"{n} {m:.2f} s" for n, m in medians.items()), flush=True)

    lines = [
        f"Median wall time per notebook, whole command, {args.repeat} runs each, {os.cpu_count()} cores "
        f"(measured {time.strftime('%Y-%m-%d')}, `python tests/benchmarks/check_vs_nbgrader.py`):",
        "",
        "| assignment | grader check (all tests) | nbgrader validate (visible) | nbgrader autograde (all tests) | check / autograde | check / validate |",
        "|---|---|---|---|---|---|",
    ]
    for assignment, m in rows:
        lines.append(
            f"| {assignment} | {m['grader check']:.2f} s | {m['nbgrader validate']:.2f} s | {m['nbgrader autograde']:.2f} s "
            f"| {m['grader check'] / m['nbgrader autograde']:.2f} | {m['grader check'] / m['nbgrader validate']:.2f} |"
        )
    show("\n".join(lines), BEGIN, END, args.update_readme)


if __name__ == "__main__":
    main()
