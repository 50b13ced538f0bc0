"""Benchmark: what naming misconceptions adds to `grader check` on a half-failing notebook.

    python tests/benchmarks/diagnosis_overhead.py [--repeat 5] [ASSIGNMENT ...]

For each assignment, a submission is built from the reference with known-wrong implementations
appended until about half of the tests fail; it is judged `--repeat` times with diagnosis on and
off, interleaved: in one process (the judge alone) and as whole `grader check --no-record`
commands (what a learner waits for). Target: diagnosis adds at most 20 % to the command.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from grader.course import Course  # noqa: E402
from grader.judging.judge import check  # noqa: E402
  # noqa: E402
from grader.authoring.selftest import with_code_appended  # noqa: E402


def half_failing(course: Course, assignment: str, scratch: Path) -> tuple[Path, int, int]:
    """The reference plus known mistakes, added one by one until half the tests fail."""
    total = len(check(course, assignment, course.solution_notebook(assignment), diagnose=False).results)
    code, path, failed = "", scratch / f"{assignment}.ipynb", 0
    for wrong in course.known_wrong(assignment):
        trial = code + "\n" + wrong.read_text()
        path.write_text(json.dumps(with_code_appended(course.solution_notebook(assignment), trial)))
        failed = sum(r.status == "failed" for r in check(course, assignment, path, diagnose=False).results)
        code = trial
        if failed >= total / 2:
            break
    path.write_text(json.dumps(with_code_appended(course.solution_notebook(assignment), code)))
    return path, failed, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("assignments", nargs="*", default=["01-linear-algebra", "03-probability", "13-attention"])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    course = Course(ROOT)
    print("| assignment | failing tests | judge without diagnosis | with | added | `grader check` without diagnosis | with | added |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for assignment in args.assignments:
            path, failed, total = half_failing(course, assignment, Path(scratch))
            times = {(where, diagnose): [] for where in ("judge", "command") for diagnose in (False, True)}
            for _ in range(args.repeat):
                for diagnose in (False, True):
                    started = time.perf_counter()
                    check(course, assignment, path, diagnose=diagnose)
                    times["judge", diagnose].append(time.perf_counter() - started)
                    command = ["grader", "check", assignment, str(path), "--no-record"] + ([] if diagnose else ["--no-diagnosis"])
                    started = time.perf_counter()
                    subprocess.run(command, cwd=ROOT, capture_output=True)
                    times["command", diagnose].append(time.perf_counter() - started)
            cells = []
            for where in ("judge", "command"):
                off, on = statistics.median(times[where, False]), statistics.median(times[where, True])
                cells.append(f"{off:.2f} s | {on:.2f} s | {100 * (on / off - 1):+.0f} %")
            print(f"| {assignment} | {failed}/{total} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
