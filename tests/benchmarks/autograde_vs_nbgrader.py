"""Benchmark: `grader autograde` against `nbgrader autograde` on the same generated class.

    python tests/benchmarks/autograde_vs_nbgrader.py [--count 200] [--workers N] [--time-limit 10]

`--count` submissions, half of 01-linear-algebra and half of 13-attention, in a repeating mix:
correct (the solution notebook), partly correct (the release notebook with about half of its
solution cells taken from the solution notebook), stubs (the release notebook), attacks (each
of tests/test_threat_model.py's ATTACKS in turn) and broken notebooks (invalid JSON, a
duplicated, deleted or re-typed solution cell). Each tool grades its own temporary copy of the
course, one after the other on this machine, as whole commands; both get the same per-test
time limit (`c.Sandbox.time_per_test` and nbgrader's `c.Execute.timeout`).

Printed: wall time, submissions per minute, CPU seconds (all processes of the run, from a
cpuacct cgroup where this machine offers one), the load average around each run, the ratio,
every attack's score under both tools, and any submission the grader scored unexpectedly.

nbgrader runs the attacks unconfined by design; so that its memory and fork bombs cannot harm
a shared machine, its whole process tree runs in a pids and a memory cgroup (root, cgroup v1).
Where those are not available the two bombs are left out of the class, for both tools. A
nbgrader run killed by an attack (one kills the kernel's parent) is started again, as an
instructor would; the restarts are counted in its time.

Two more classes (`--class`):

- `honest`: correct, partly correct and stub notebooks only, every notebook distinct (each has
  its own marker comment; each partly correct one its own half of the answers): the class an
  instructor grades most. Target: `grader autograde` at least 20 times nbgrader's throughput at
  200 submissions. nbgrader's time is linear in the class (one kernel per notebook, one after
  the other); `--nbgrader-sample N` grades the first N of the same class with nbgrader and
  scales its time to the whole class, said so in the output.
- `looping`: an honest class plus `--loops` notebooks in which every function loops forever.
  Each tool grades the honest class alone and then with the looping notebooks; the difference,
  per looping notebook and per worker, is what one looping notebook costs. Target: about one
  per-test time limit plus an honest check (the grader's per-submission time budget and its
  "later tests that reach a timed-out function fail at once"), where nbgrader pays one time
  limit per test cell.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests"))

ASSIGNMENTS = ["01-linear-algebra", "13-attention"]
# 20 submissions: 6 correct, 6 partly correct, 2 stubs, 3 attacks, 3 broken
MIX = ["correct", "partly", "stub", "attack", "broken", "correct", "partly", "correct", "attack", "partly",
       "correct", "stub", "partly", "broken", "correct", "partly", "attack", "correct", "broken", "partly"]
BROKEN = ["invalid-json", "duplicated-solution-cell", "deleted-solution-cell", "retyped-solution-cell"]
BOMBS = {"fork-bomb", "memory-bomb"}
# the attacks that won marks under nbgrader first, the slow ones (timeouts) last
ATTACK_ORDER = ["ipython-hooks", "patch-assertion-helpers", "always-equal-object", "lying-array-subclass",
                "read-hidden-tests-and-solutions", "write-gradebook-and-results", "exit-and-signals",
                "infinite-loop-swallowing-interrupts", "memory-bomb", "fork-bomb"]
CGROUP = Path("/sys/fs/cgroup")


# --- the class -----------------------------------------------------------------------------


def make_course(scratch: Path, name: str, time_limit: float) -> Path:
    course = scratch / name
    course.mkdir()
    config = (ROOT / "nbgrader_config.py").read_text()
    config += f"\n# benchmark: the same per-test time limit for both tools\nc.Sandbox.time_per_test = {time_limit}\nc.Execute.timeout = {int(time_limit)}\n"
    (course / "nbgrader_config.py").write_text(config)
    for folder in ("source", "release", "solutions"):
        for assignment in ASSIGNMENTS:
            shutil.copytree(ROOT / folder / assignment, course / folder / assignment, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    return course


HONEST = ["correct", "partly", "stub", "partly", "correct", "partly", "correct", "partly", "stub", "partly"]


def plan_honest(count: int, loops: int = 0) -> list[tuple[str, str, str]]:
    """(student, assignment, kind) for `count` honest submissions, then `loops` looping ones."""
    plan = [(f"s{i:03d}-{HONEST[(i // 2) % len(HONEST)]}", ASSIGNMENTS[i % 2], HONEST[(i // 2) % len(HONEST)]) for i in range(count)]
    plan += [(f"s{count + i:03d}-looping", ASSIGNMENTS[i % 2], "looping") for i in range(loops)]
    return plan


def plan_class(count: int, with_bombs: bool) -> list[tuple[str, str, str]]:
    """(student, assignment, kind[:detail]) for `count` submissions."""
    import test_threat_model as threats

    ordered = [a for a in ATTACK_ORDER if a in threats.ATTACKS] + sorted(set(threats.ATTACKS) - set(ATTACK_ORDER))
    attacks = [a for a in ordered if with_bombs or a not in BOMBS]
    plan = []
    for index in range(count):
        assignment = ASSIGNMENTS[index % 2]
        slot = index // 2
        kind = MIX[slot % len(MIX)]
        seen = sum(MIX[s % len(MIX)] == kind for s in range(slot))
        if kind == "attack":
            kind = f"attack:{attacks[seen % len(attacks)]}"
        elif kind == "broken":
            kind = f"broken:{BROKEN[seen % len(BROKEN)]}"
        plan.append((f"s{index:03d}-{kind.replace(':', '-')}", assignment, kind))
    return plan


def notebook_for(course: Path, assignment: str, kind: str, seed: int) -> str:
    """The submitted notebook's text, aimed at `course` (attacks name its path)."""
    import test_threat_model as threats
    from grader.notebook.cells import is_solution, nbgrader_meta

    release = json.loads((course / "release" / assignment / f"{assignment}.ipynb").read_text())
    solution = json.loads((course / "solutions" / assignment / f"{assignment}.ipynb").read_text())
    if kind == "correct":
        return json.dumps(distinct(solution, seed))
    if kind == "stub":
        return json.dumps(distinct(release, seed))
    if kind == "partly":
        answers = {nbgrader_meta(c)["grade_id"]: c for c in solution["cells"] if is_solution(c)}
        chosen = set(random.Random(seed).sample(sorted(answers), max(1, len(answers) // 2)))
        release["cells"] = [answers[nbgrader_meta(c)["grade_id"]] if is_solution(c) and nbgrader_meta(c)["grade_id"] in chosen else c for c in release["cells"]]
        return json.dumps(distinct(release, seed))
    if kind == "looping":
        for cell in release["cells"]:
            if is_solution(cell):
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                cell["source"] = re.sub(r"^(\s*)raise NotImplementedError\(\)", r"\1while True:\n\1    pass", source, flags=re.M)
        return json.dumps(distinct(release, seed))
    what, detail = kind.split(":", 1)
    if what == "attack":
        prelude, body = threats.ATTACKS[detail]
        prelude = prelude.replace(repr(str(threats.COURSE.root)), repr(str(course)))  # aim at this copy only
        return json.dumps(threats.notebook_with(assignment, threats.replace_all(assignment, body, prelude)))
    if detail == "invalid-json":
        return json.dumps(release, indent=1)[:-40]
    edit, _ = threats.CELL_EDITS[detail]
    release["cells"] = edit(release["cells"])
    for cell in release["cells"]:
        if cell["cell_type"] == "markdown":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    return json.dumps(release)


def distinct(notebook: dict, seed: int) -> dict:
    """`notebook` with a comment of its own in its first solution cell: no two submissions are the same file."""
    from grader.notebook.cells import is_solution

    for cell in notebook["cells"]:
        if is_solution(cell):
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = f"# submission {seed}\n{source}"
            break
    return notebook


def submit(course: Path, plan) -> None:
    for index, (student, assignment, kind) in enumerate(plan):
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        (folder / f"{assignment}.ipynb").write_text(notebook_for(course, assignment, kind, index))


# --- cgroups: CPU accounting for both, confinement for nbgrader -----------------------------


class Cgroups:
    """A cpuacct group (and for nbgrader pids + memory groups) that a command's tree runs in."""

    def __init__(self, name: str, confine: bool):
        self.paths: list[Path] = []
        self.cpu: Path | None = None
        wanted = {"cpuacct": {}}
        if confine:
            wanted.update(pids={"pids.max": "512"}, memory={"memory.limit_in_bytes": str(6 << 30)})
        for controller, settings in wanted.items():
            base = CGROUP / controller
            if os.geteuid() != 0 or not (base / "cgroup.procs").is_file():
                continue
            path = base / f"grader-bench-{name}-{os.getpid()}"
            try:
                path.mkdir()
                for key, value in settings.items():
                    (path / key).write_text(value)
            except OSError:
                continue
            self.paths.append(path)
            if controller == "cpuacct":
                self.cpu = path
        self.confined = confine and {p.parent.name for p in self.paths} >= {"pids", "memory"}

    def join(self) -> None:  # in the child, before exec
        for path in self.paths:
            (path / "cgroup.procs").write_text(str(os.getpid()))

    def cpu_seconds(self) -> float | None:
        return int((self.cpu / "cpuacct.usage").read_text()) / 1e9 if self.cpu else None

    def remove(self) -> None:
        for path in self.paths:
            for _ in range(100):
                pids = (path / "cgroup.procs").read_text().split() if (path / "cgroup.procs").exists() else []
                for pid in pids:  # only what this benchmark started is in here
                    try:
                        os.kill(int(pid), 9)
                    except ProcessLookupError:
                        pass
                try:
                    path.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)


def bombs_can_be_confined() -> bool:
    probe = Cgroups("probe", confine=True)
    try:
        return probe.confined
    finally:
        probe.remove()


# --- the runs ------------------------------------------------------------------------------


def timed_run(name: str, commands: list[list[str]], course: Path, confine: bool, restarts: int = 0) -> dict:
    """Run `commands` one after the other in `course`; a command that dies is run again (nbgrader)."""
    env = dict(os.environ, GRADER_COURSE_ROOT=str(course), PYTHONUNBUFFERED="1")
    groups = Cgroups(name, confine)
    log = open(course / f"{name}.log", "w")
    load_before = os.getloadavg()
    started = time.perf_counter()
    runs = 0
    try:
        for command in commands:
            for _ in range(1 + restarts):
                runs += 1
                done = subprocess.run(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=groups.join, start_new_session=True)
                if done.returncode >= 0:  # nbgrader exits 1 when some submission failed: the batch did finish
                    break
                print(f"  {' '.join(command[:4])} was killed by signal {-done.returncode}" + (", starting it again" if restarts else ""), flush=True)
        wall = time.perf_counter() - started
        return dict(wall=wall, cpu=groups.cpu_seconds(), load_before=load_before, load_after=os.getloadavg(), runs=runs)
    finally:
        groups.remove()
        log.close()


def scores(course: Path) -> dict[str, float]:
    """Each student's total auto_score in `course`'s gradebook (nbgrader's own tables)."""
    db = sqlite3.connect(course / "gradebook.db")
    try:
        rows = db.execute(
            "select sa.student_id, sum(g.auto_score) from grade g join submitted_notebook sn on g.notebook_id = sn.id "
            "join submitted_assignment sa on sn.assignment_id = sa.id group by sa.student_id"
        ).fetchall()
    except sqlite3.OperationalError:
        rows = []
    db.close()
    return dict(rows)


def max_points(course: Path) -> dict[str, float]:
    from grader.notebook.cells import test_cells
    from grader.course import Course

    return {a: sum(t.points for t in test_cells(Course(course).source_notebook(a)) if not t.gpu) for a in ASSIGNMENTS}


# --- the honest and the looping classes ----------------------------------------------------


def graded_course(scratch: Path, name: str, plan, time_limit: float, released: Path | None) -> Path:
    """A copy of the course (released into nbgrader's gradebook once, then copied) with `plan` submitted."""
    course = scratch / name
    if released is None:
        course = make_course(scratch, name, time_limit)
        env = dict(os.environ, GRADER_COURSE_ROOT=str(course))
        subprocess.run([sys.executable, "-m", "grader.cli", "release", "--gradebook", *ASSIGNMENTS], cwd=course, env=env, check=True, capture_output=True)
    else:
        shutil.copytree(released, course, ignore=shutil.ignore_patterns("submitted", "autograded", "*.log"))
    submit(course, plan)
    return course


def grade(tool: str, course: Path, workers: list[str]) -> dict:
    if tool == "grader":
        commands = [[sys.executable, "-m", "grader.cli", "autograde", a, *workers] for a in ASSIGNMENTS]
        return timed_run("grader", commands, course, confine=False)
    commands = [["nbgrader", "autograde", a, "--create"] for a in ASSIGNMENTS]
    return timed_run("nbgrader", commands, course, confine=False, restarts=1)


def run_honest_or_looping(args) -> int:
    scratch = Path(tempfile.mkdtemp(prefix="grader-autograde-bench-"))
    workers = ["--workers", str(args.workers)] if args.workers else []
    cores = args.workers or os.cpu_count() or 1
    tools = ["grader"] + ([] if args.skip_nbgrader else ["nbgrader"])
    try:
        base = graded_course(scratch, "base", [], args.time_limit, None)
        honest = plan_honest(args.count)
        if args.klass == "honest":
            sample = honest[: args.nbgrader_sample] if args.nbgrader_sample else honest
            print(f"honest class: {len(honest)} distinct submissions of {', '.join(ASSIGNMENTS)} (correct, partly correct, stubs), "
                  f"{cores} grader workers, per-test limit {args.time_limit:g} s"
                  + (f"; nbgrader grades the first {len(sample)} and its time is scaled by {len(honest) / len(sample):.2f}" if len(sample) < len(honest) else ""), flush=True)
            walls = {}
            for tool in tools:
                plan = honest if tool == "grader" else sample
                course = graded_course(scratch, f"honest-{tool}", plan, args.time_limit, base)
                result = grade(tool, course, workers)
                walls[tool] = result["wall"] * len(honest) / len(plan)
                print(f"{tool} autograde: {result['wall']:.1f} s for {len(plan)} ({len(plan) / result['wall'] * 60:.1f} a minute)"
                      + (f", {walls[tool]:.0f} s scaled to {len(honest)}" if len(plan) < len(honest) else ""), flush=True)
                if tool == "grader":
                    got, full = scores(course), max_points(course)
                    wrong = [s for s, a, k in plan if (k == "correct" and got.get(s) != full[a]) or (k == "stub" and got.get(s) != 0) or s not in got]
                    print("  every correct notebook full marks, every stub 0, all recorded" if not wrong else f"  unexpected scores: {wrong}", flush=True)
            if "nbgrader" in walls:
                print(f"\nthroughput ratio grader / nbgrader at {len(honest)} submissions: {walls['nbgrader'] / walls['grader']:.1f}x (target: at least 20x)")
            return 0
        loops = plan_honest(0, args.loops)
        print(f"looping class: {len(honest)} honest submissions, then {len(loops)} whose every function loops forever; "
              f"per-test limit {args.time_limit:g} s (the grader also derives shorter limits from the reference's times)", flush=True)
        table = []
        for tool in tools:
            honest_run = grade(tool, graded_course(scratch, f"honest-{tool}", honest, args.time_limit, base), workers)
            loop_course = graded_course(scratch, f"looping-{tool}", loops, args.time_limit, base)
            loop_run = grade(tool, loop_course, workers)
            per_honest = honest_run["wall"] * (cores if tool == "grader" else 1) / len(honest)
            per_loop = loop_run["wall"] / len(loops)  # one looping notebook per command: no worker shares the cost
            table.append((tool, per_honest, per_loop))
            print(f"{tool} autograde: honest class {honest_run['wall']:.1f} s ({per_honest:.1f} s a notebook per worker); "
                  f"looping notebooks {loop_run['wall']:.1f} s ({per_loop:.1f} s each)", flush=True)
            if tool == "grader":
                got = scores(loop_course)
                print("  looping notebooks: " + ", ".join(f"{s} {got.get(s, 'not recorded')}" for s, _, _ in loops), flush=True)
        print("\n| tool | honest notebook | looping notebook | looping − honest | in per-test limits |")
        print("|---|---|---|---|---|")
        for tool, per_honest, per_loop in table:
            print(f"| {tool} | {per_honest:.1f} s | {per_loop:.1f} s | {per_loop - per_honest:.1f} s | {(per_loop - per_honest) / args.time_limit:.1f} |")
        print(f"\ntarget: a looping notebook costs about one per-test limit ({args.time_limit:g} s) plus an honest check")
        return 0
    finally:
        if args.keep:
            print(f"\ncourses kept in {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


# --- main ----------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200, help="submissions in all (default 200)")
    parser.add_argument("--workers", type=int, default=None, help="grader autograde --workers (default: one per core)")
    parser.add_argument("--time-limit", type=float, default=10.0, help="per-test time limit for both tools, seconds (default 10)")
    parser.add_argument("--skip-nbgrader", action="store_true", help="time grader autograde only")
    parser.add_argument("--keep", action="store_true", help="keep the temporary courses (their logs and gradebooks) and print where")
    parser.add_argument("--class", dest="klass", choices=["mixed", "honest", "looping"], default="mixed",
                        help="mixed (default: with attacks and broken notebooks), honest, or looping (see above)")
    parser.add_argument("--nbgrader-sample", type=int, default=None, help="honest class: nbgrader grades only the first N and its time is scaled")
    parser.add_argument("--loops", type=int, default=2, help="looping class: looping notebooks (default 2)")
    args = parser.parse_args()
    if args.klass != "mixed":
        return run_honest_or_looping(args)

    with_bombs = bombs_can_be_confined()
    plan = plan_class(args.count, with_bombs)
    scratch = Path(tempfile.mkdtemp(prefix="grader-autograde-bench-"))
    try:
        # nbgrader needs the assignments in its gradebook: release them once, then copy that course
        theirs = make_course(scratch, "nbgrader", args.time_limit)
        env = dict(os.environ, GRADER_COURSE_ROOT=str(theirs))
        subprocess.run([sys.executable, "-m", "grader.cli", "release", "--gradebook", *ASSIGNMENTS], cwd=theirs, env=env, check=True, capture_output=True)
        ours = scratch / "grader"
        shutil.copytree(theirs, ours, ignore=shutil.ignore_patterns("gradebook.db"))
        submit(ours, plan)
        submit(theirs, plan)
        kinds = {}
        for _, _, kind in plan:
            kinds[kind.split(":")[0]] = kinds.get(kind.split(":")[0], 0) + 1
        print(f"{len(plan)} submissions ({', '.join(f'{n} {k}' for k, n in kinds.items())}) on {os.cpu_count()} cores, "
              f"per-test time limit {args.time_limit:g} s" + ("" if with_bombs else "; fork and memory bombs left out (nbgrader cannot be confined here)"), flush=True)

        workers = ["--workers", str(args.workers)] if args.workers else []
        grader_commands = [[sys.executable, "-m", "grader.cli", "autograde", a, *workers] for a in ASSIGNMENTS]
        results = {"grader autograde": timed_run("grader", grader_commands, ours, confine=False)}
        print(f"grader autograde done in {results['grader autograde']['wall']:.1f} s", flush=True)
        if not args.skip_nbgrader:
            nbgrader_commands = [["nbgrader", "autograde", a, "--create"] for a in ASSIGNMENTS]
            results["nbgrader autograde"] = timed_run("nbgrader", nbgrader_commands, theirs, confine=with_bombs, restarts=3)
            print(f"nbgrader autograde done in {results['nbgrader autograde']['wall']:.1f} s", flush=True)

        print()
        print("| tool | wall | submissions/min | CPU s (all processes) | CPU s per submission | load avg before → after (1, 5, 15 min) | runs |")
        print("|---|---|---|---|---|---|---|")
        for tool, r in results.items():
            cpu = f"{r['cpu']:.0f}" if r["cpu"] is not None else "n/a"
            per = f"{r['cpu'] / len(plan):.2f}" if r["cpu"] is not None else "n/a"
            load = f"{' '.join(f'{x:.1f}' for x in r['load_before'])} → {' '.join(f'{x:.1f}' for x in r['load_after'])}"
            print(f"| {tool} | {r['wall']:.1f} s | {len(plan) / r['wall'] * 60:.1f} | {cpu} | {per} | {load} | {r['runs']} |")
        if "nbgrader autograde" in results:
            ratio = results["nbgrader autograde"]["wall"] / results["grader autograde"]["wall"]
            print(f"\nthroughput ratio grader / nbgrader: {ratio:.2f}x (target: at least 3x on two cores)")

        ours_scores, theirs_scores, full = scores(ours), scores(theirs), max_points(ours)
        compared = "nbgrader autograde" in results
        print("\n| attack | assignment | grader autograde |" + (" nbgrader autograde |" if compared else ""))
        print("|---|---|---|" + ("---|" if compared else ""))
        for student, assignment, kind in plan:
            if kind.startswith("attack:"):
                nb = theirs_scores.get(student)
                line = f"| {kind[7:]} | {assignment} | {ours_scores.get(student, 'not recorded')} |"
                print(line + (f" {'not graded' if nb is None else nb} |" if compared else ""))
        ungraded = [student for student, _, _ in plan if student not in theirs_scores]
        if "nbgrader autograde" in results and ungraded:
            print(f"\nnbgrader autograde recorded no grade for {len(ungraded)} submission(s): {', '.join(ungraded)}")
        if (theirs / "PWNED").exists():
            print("\nunder nbgrader, the write-gradebook-and-results attack wrote PWNED into the course folder")

        surprises = []
        for student, assignment, kind in plan:
            got = ours_scores.get(student)
            if got is None:
                surprises.append(f"{student}: not recorded")
            elif kind.startswith(("attack", "broken")) or kind == "stub":
                if got != 0:
                    surprises.append(f"{student}: {got} points, expected 0")
            elif kind == "correct" and got < full[assignment]:
                surprises.append(f"{student}: {got}/{full[assignment]:g}, the reference solution should get full marks")
        print("\ngrader autograde: " + ("every attack, stub and broken notebook scored 0; every correct one full marks" if not surprises else "unexpected scores:\n  " + "\n  ".join(surprises)))
        if args.keep:
            print(f"\ncourses kept in {scratch}")
        return 1 if any("expected 0" in s or "not recorded" in s for s in surprises) else 0
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
