"""Benchmark: `grader progress --all` on a class of 500 learners and the 34 assignments of the roadmap.

    python tests/benchmarks/progress_class_report.py [--learners 500] [--repeat 3] [--seed 1]

A temporary SQLite gradebook gets nbgrader's schema (created by nbgrader's own Gradebook) and
then rows inserted directly through SQLAlchemy: students, assignments, grade cells, submissions,
per-cell grades, and grader_test_results with one row per test per attempt. Each learner gets
as far along the roadmap as a random reach, with 1 to 5 attempts per assignment; GPU-tagged
tests are "not run", as on a CPU grading machine. Then the class report is timed: reading the
gradebook into the data model, the terminal view, the HTML page and the CSV, in this process
(imports done) and as a whole fresh command (start-up and imports included). Target: under 2 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
GPU_ASSIGNMENTS = {"13-attention", "19-training", "22-memory", "25-quantization", "32-flash-attention"}


def make_gradebook(path: Path, learners: int, seed: int) -> int:
    """Fill a new gradebook at `path`; the number of grader_test_results rows."""
    from sqlalchemy import MetaData, create_engine, insert

    from grader.gradebook.schema import metadata as grader_metadata, nbgrader_api
    from grader.roadmap import load

    url = f"sqlite:///{path}"
    Gradebook, _ = nbgrader_api()

    with Gradebook(url, course_id="llm-course"):
        pass  # nbgrader creates its own schema
    engine = create_engine(url)
    grader_metadata.create_all(engine)
    tables = MetaData()
    tables.reflect(engine)
    t = tables.tables
    rng = random.Random(seed)
    roadmap = load()
    tests = {}  # assignment -> [(grade_id, words, points, hidden, gpu, cell id)]
    rows = {name: [] for name in ("assignment", "notebook", "base_cell", "grade_cells", "student", "submitted_assignment", "submitted_notebook", "grade", "grader_test_results")}
    ids = {}
    for a in roadmap.assignments:
        ids[a.id] = (uuid.uuid4().hex, uuid.uuid4().hex)
        rows["assignment"].append(dict(id=ids[a.id][0], name=a.id, course_id="llm-course"))
        rows["notebook"].append(dict(id=ids[a.id][1], name=a.id, assignment_id=ids[a.id][0]))
        tests[a.id] = []
        for k in range(rng.randint(8, 12)):
            gpu = a.id in GPU_ASSIGNMENTS and k == 0
            cell = uuid.uuid4().hex
            test = (f"{a.id.split('-', 1)[1]}_property_{k}", f"property {k} of {a.title.lower()} holds on hard cases", float(rng.choice([1, 1, 2, 3])), k % 3 != 0, gpu, cell)
            tests[a.id].append(test)
            rows["base_cell"].append(dict(id=cell, name=test[0], notebook_id=ids[a.id][1], type="GradeCell"))
            rows["grade_cells"].append(dict(id=cell, max_score=test[2], cell_type="code"))
    start = dt.datetime(2026, 9, 1)
    for n in range(learners):
        learner = f"learner{n:04d}"
        rows["student"].append(dict(id=learner))
        reach = rng.randint(0, len(roadmap.assignments))
        when = start + dt.timedelta(hours=rng.randint(0, 200))
        for a in roadmap.assignments[:reach]:
            attempts = min(1 + int(rng.expovariate(0.9)), 6)
            skill = rng.uniform(0.4, 0.95)
            final = None
            for attempt in range(attempts):
                when += dt.timedelta(minutes=rng.randint(5, 600))
                solved = attempt == attempts - 1 and rng.random() < 0.75
                final = []
                for name, words, points, hidden, gpu, cell in tests[a.id]:
                    ok = solved or rng.random() < skill + 0.1 * attempt
                    status = "not run" if gpu else ("passed" if ok else "failed")
                    earned = points if status == "passed" else 0.0
                    final.append((cell, earned))
                    rows["grader_test_results"].append(
                        dict(learner=learner, assignment=a.id, attempt=when, test=name, words=words, status=status, points=earned,
                             max_points=points, hidden=hidden, gpu=gpu, category="" if ok else "tolerance",
                             message="" if ok else "off by 0.3 at index 2", misconception="")
                    )
            submission, submitted_notebook = uuid.uuid4().hex, uuid.uuid4().hex
            rows["submitted_assignment"].append(dict(id=submission, assignment_id=ids[a.id][0], student_id=learner, timestamp=when))
            rows["submitted_notebook"].append(dict(id=submitted_notebook, assignment_id=submission, notebook_id=ids[a.id][1], flagged=False))
            for cell, earned in final:
                rows["grade"].append(dict(id=uuid.uuid4().hex, notebook_id=submitted_notebook, cell_id=cell, auto_score=earned, needs_manual_grade=False))
    with engine.begin() as connection:
        for name, values in rows.items():
            if values:
                columns = set(t[name].columns.keys())
                connection.execute(insert(t[name]), [{k: v for k, v in row.items() if k in columns} for row in values])
    engine.dispose()
    return len(rows["grader_test_results"])


def report_once(url: str, scratch: Path) -> dict[str, float]:
    from rich.console import Console

    from grader.progress import spreadsheet, terminal
    from grader.progress.build import class_progress
    from grader.progress.page import write_html

    times = {}
    started, started_cpu = time.perf_counter(), time.process_time()
    progress = class_progress(url)
    times["data"] = time.perf_counter() - started
    mark = time.perf_counter()
    terminal.print_class(progress, Console(file=io.StringIO(), width=160, force_terminal=True))
    times["terminal"] = time.perf_counter() - mark
    mark = time.perf_counter()
    write_html(progress, scratch / "class.html")
    times["html"] = time.perf_counter() - mark
    mark = time.perf_counter()
    spreadsheet.write(progress, scratch / "class.csv")
    times["csv"] = time.perf_counter() - mark
    times["total"] = time.perf_counter() - started
    # CPU seconds of this process: on a machine shared with other work, wall time is inflated by
    # waiting for a core; CPU time is what the report itself costs.
    times["total CPU"] = time.process_time() - started_cpu
    return times


def whole_command(scratch: Path, db: Path) -> tuple[float, float]:
    """`grader progress --all --html --csv` as a fresh process: (wall, CPU) seconds, start-up and imports included."""
    course = scratch / "course"
    (course / "source").mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(f"c = get_config()\nc.CourseDirectory.db_url = 'sqlite:///{db}'\n")
    code = "import sys; from grader.cli import main; sys.exit(main(sys.argv[1:]))"
    env = dict(os.environ, GRADER_COURSE_ROOT=str(course))
    command = [sys.executable, "-c", code, "progress", "--all", "--html", str(scratch / "cmd.html"), "--csv", str(scratch / "cmd.csv")]
    before = os.times()
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.perf_counter() - started
    after = os.times()
    if done.returncode != 0:
        raise SystemExit(f"the command failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return elapsed, (after.children_user - before.children_user) + (after.children_system - before.children_system)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--learners", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        db = scratch / "gradebook.db"
        started = time.perf_counter()
        count = make_gradebook(db, args.learners, args.seed)
        print(f"gradebook: {args.learners} learners x 34 assignments, {count} test rows ({time.perf_counter() - started:.1f} s to fill)")
        import grader.progress.page  # noqa: F401 - imports are timed by the whole command below, not here

        runs = [report_once(f"sqlite:///{db}", scratch) for _ in range(args.repeat)]
        print(f"  load average before timing: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for part in ("data", "terminal", "html", "csv", "total", "total CPU"):
            print(f"  {part:9s} median {statistics.median(r[part] for r in runs):.3f} s   (runs: {', '.join(f'{r[part]:.3f}' for r in runs)})")
        commands = [whole_command(scratch, db) for _ in range(args.repeat)]
        print(f"  command   median {statistics.median(c[0] for c in commands):.3f} s wall, {statistics.median(c[1] for c in commands):.3f} s CPU"
              f"   (fresh process, start-up and imports included; wall runs: {', '.join(f'{c[0]:.3f}' for c in commands)})")
        html = (scratch / "class.html").stat().st_size
        print(f"  outputs: HTML {html / 1e6:.1f} MB, CSV {(scratch / 'class.csv').stat().st_size / 1e6:.1f} MB")
        wall, cpu = statistics.median(r["total"] for r in runs), statistics.median(r["total CPU"] for r in runs)
        verdict = "within" if wall < 2.0 else ("OVER" if cpu >= 2.0 else "over in wall time only (a busy machine): its CPU time is within")
        print(f"class report (data + terminal + HTML + CSV): {wall:.2f} s wall, {cpu:.2f} s CPU: {verdict} the 2 s target")


if __name__ == "__main__":
    main()
