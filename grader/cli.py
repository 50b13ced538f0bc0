"""The `grader` command: every subcommand's arguments, and each wing imported only when it runs.

    grader list                      the road: phases, assignments, what is written
    grader start ID                  copy an assignment to your own workspace
    grader check ID [NOTEBOOK]       judge a notebook: every test, visible and hidden
    grader progress [--all]          how far along the road: one learner, or the class
    grader autograde ID              grade every submission of a class, judged, in parallel
    grader feedback ID               feedback pages for learners
    grader export [ID ...]           the class CSV
    grader release [ID ...]          regenerate release/ and solutions/ from source/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="grader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    learner_help = "your name in the gradebook (default: $GRADER_LEARNER or your login)"

    commands.add_parser("list", help="show the roadmap: phases, assignments, prerequisites").set_defaults(func=run_list)

    start = commands.add_parser("start", help="copy an assignment to your workspace: <course id>/<id>/, where nbgrader's Fetch puts it")
    start.add_argument("assignment")
    start.add_argument("--learner", help=learner_help)
    start.set_defaults(func=run_start)

    check = commands.add_parser("check", help="judge a notebook with every test, visible and hidden")
    check.add_argument("assignment")
    check.add_argument("notebook", nargs="?", type=Path, help="default: your copy (from `grader start` or nbgrader's Fetch)")
    check.add_argument("--learner", help=learner_help)
    check.add_argument("--json", action="store_true", help="print the per-test results as JSON")
    check.add_argument("--no-record", action="store_true", help="do not record the result in the gradebook")
    check.add_argument("--no-diagnosis", action="store_true", help="do not look for the classic mistake behind each failure")
    check.add_argument("--verbose", action="store_true", help="also show the sandbox's protections and its own terms in messages")
    check.set_defaults(func=run_check)

    progress = commands.add_parser("progress", help="how far along the road: one learner, or a class with --all")
    who = progress.add_mutually_exclusive_group()
    who.add_argument("--learner", help="whose progress (default: $GRADER_LEARNER or your login)")
    who.add_argument("--all", action="store_true", help="the whole class: learners by assignment and phase, who is stuck, test pass rates")
    progress.add_argument("--track", help="follow a reading track for the next step (see `grader list`), e.g. quickstart")
    progress.add_argument("--html", type=Path, metavar="FILE", help="also write a self-contained HTML page with the roadmap picture")
    progress.add_argument("--csv", type=Path, metavar="FILE", help="also write CSV: one row per learner and assignment")
    progress.set_defaults(func=run_progress)

    autograde = commands.add_parser("autograde", help="judge every submission of an assignment: parallel, resumable, recorded in the gradebook")
    autograde.add_argument("assignment")
    autograde.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    autograde.add_argument("--force", action="store_true", help="regrade every submission, also unchanged ones")
    autograde.add_argument("--student", action="append", default=[], help="grade only this student (repeatable)")
    autograde.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster, e.g. tcp://10.0.0.5:8786 (the course folder must be at the same path on its workers)")
    autograde.set_defaults(func=run_autograde)

    feedback = commands.add_parser("feedback", help="write each learner's feedback page: feedback/<student>/<id>/<id>.html")
    feedback.add_argument("assignment")
    feedback.add_argument("--student", action="append", default=[], help="only this student (repeatable)")
    feedback.set_defaults(func=run_feedback)

    export = commands.add_parser("export", help="write the class grades as CSV: score, maximum, submission time, lateness and penalty per student and assignment")
    export.add_argument("assignments", nargs="*", help="assignment ids (default: every assignment in the gradebook)")
    export.add_argument("-o", "--output", default=None, help="CSV file to write, '-' for standard output (default: grades.csv, tests.csv or canvas.csv)")
    kind = export.add_mutually_exclusive_group()
    kind.add_argument("--tests", action="store_const", dest="kind", const="tests", help="one row per test of each submission")
    kind.add_argument("--canvas", action="store_const", dest="kind", const="canvas", help="Canvas's gradebook import format (Grades > Import)")
    export.set_defaults(func=run_export)

    release = commands.add_parser("release", help="regenerate release/ and solutions/ from source/ through nbgrader")
    release.add_argument("assignments", nargs="*", help="assignment ids (default: all written)")
    release.add_argument("--gradebook", action="store_true", help="also record the assignments in the course gradebook")
    release.set_defaults(func=run_release)

    audit = commands.add_parser("audit", help="for authors: judge mutants and degenerate answers of the reference, to find holes in the tests")
    audit.add_argument("assignment")
    audit.add_argument("--max", default="40", help="stop after this many mutants (40), or after a time (90s, 10m); 0 for all")
    audit.add_argument("--seed", type=int, default=0, help="which mutants are sampled (default 0)")
    audit.add_argument("--function", help="audit only this function or class")
    audit.add_argument("--workers", type=int, default=None, help="worker processes (default: one per core)")
    audit.add_argument("--json", action="store_true", help="print the findings as JSON")
    audit.add_argument("--marks", action="store_true", help="also print the audit.toml entries that would mark each survivor equivalent")
    audit.set_defaults(func=run_audit)
    return top


def main(argv: list[str] | None = None) -> int:
    from grader.gradebook.reader import GradebookProblem

    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (LookupError, ValueError, GradebookProblem) as error:
        print(f"grader {args.command}: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `grader export -o - | head`: the reader has all it wanted
        sys.stderr.close()
        return 0


def _course():
    from grader.course import Course

    return Course.find()


# --- the learner's commands ----------------------------------------------------------------


def run_list(args) -> int:
    from rich.console import Console
    from rich.table import Table

    from grader.roadmap import load

    roadmap = load()
    console = Console()
    for number, title in roadmap.phases.items():
        table = Table(title=f"Phase {number} · {title}", title_justify="left")
        table.add_column("assignment")
        table.add_column("title")
        table.add_column("needs", style="dim")
        table.add_column("status")
        for a in roadmap.in_phase(number):
            status = "[green]written[/]" if a.status == "written" else "[dim]planned[/]"
            table.add_row(a.id, a.title, ", ".join(p.split("-")[0] for p in a.prerequisites), status)
        console.print(table)
    for name, (description, path) in roadmap.tracks.items():
        console.print(f"[bold]track {name}[/]: {description}: " + " → ".join(p.split("-")[0] for p in path))
    return 0


def run_start(args) -> int:
    from grader.notebook.workspace import learner_name, start

    course = _course()
    notebook, created, note = start(course, learner_name(args.learner), args.assignment)
    if note:
        print(note)
    where = notebook.relative_to(course.root)
    print(f"{'created' if created else 'already there'}: {where}")
    print(f"open it in JupyterLab, then check it with: grader check {args.assignment}")
    return 0


def run_check(args) -> int:
    """0: every point; 1: points missing; 2: nothing judged (the message says why); 3: judged, not recorded."""
    from grader.judging.remote import check_in_zygote
    from grader.notebook.workspace import default_notebook, learner_name, named_notebook

    course = _course()
    learner = learner_name(args.learner)
    course.source_notebook(args.assignment)  # an unknown assignment is told at once
    notebook, note = (args.notebook, "") if args.notebook is not None else default_notebook(course, learner, args.assignment)
    notebook = named_notebook(course, args.assignment, notebook)  # a path that cannot be judged: refused, nothing recorded
    if not args.json:  # the first line names the file judged (relative below here); --json gives it as "notebook"
        shown = notebook.relative_to(Path.cwd()) if notebook.is_relative_to(Path.cwd()) else notebook
        print(f"checking {shown} as {args.assignment}: every test, visible and hidden", flush=True)
    if note:
        print(note, file=sys.stderr if args.json else sys.stdout, flush=True)

    def get_the_gradebook_ready():  # in this process, while the judge works in its own
        if not args.no_record:
            from grader.gradebook.schema import nbgrader_api

            nbgrader_api()

    report = check_in_zygote(course, args.assignment, notebook, learner=learner, diagnose=not args.no_diagnosis,
                             meanwhile=get_the_gradebook_ready)
    status = 0 if report.complete else 1
    road = ""
    if not args.no_record and not report.grader_fault:  # a check the grader could not run is no attempt of the learner's
        from grader.gradebook.writer import record

        try:
            record(course, report, self_check=True)
            road = _road_line(course, learner) if args.json else ""  # for the check cell
        except Exception as error:  # noqa: BLE001 - the verdict stands even if recording fails
            print(f"grader check: could not record the result in {course.db_url}: {error}", file=sys.stderr)
            status = 3
    if not args.verbose:
        from grader.report.plain_words import for_the_learner

        report = for_the_learner(report)
    if args.json:
        import json

        print(json.dumps({**report.to_dict(), "road": road}, indent=2))
    else:
        from grader.report.terminal import print_report

        print_report(report)
    return status


def _road_line(course, learner: str) -> str:
    """Where the learner stands on the road, in one line; '' if progress cannot be read."""
    from grader.progress.build import one_line_summary

    try:
        return one_line_summary(course, learner)
    except Exception:  # noqa: BLE001 - progress is a courtesy; the verdict stands
        return ""


def run_progress(args) -> int:
    """0: shown (or nothing recorded yet); 2: a problem the message explains."""
    from grader.gradebook.reader import GradebookProblem
    from grader.progress.build import class_progress, learner_progress, off_roadmap_assignments, some_names
    from grader.progress.model import ClassProgress, NothingRecorded

    try:
        course = _course()
        if args.all:
            progress = class_progress(course.db_url, course=course, track=args.track)
        else:
            from grader.notebook.workspace import learner_name

            progress = learner_progress(course.db_url, learner_name(args.learner), track=args.track, course=course)
    except NothingRecorded as message:
        print(message)
        return 0
    except (GradebookProblem, LookupError, ValueError) as error:
        print(f"grader progress: {error}", file=sys.stderr)
        return 2
    off_road = off_roadmap_assignments(progress)
    if off_road:
        print(
            f"grader progress: the gradebook holds {len(off_road)} assignment(s) not on the roadmap: {some_names(off_road)}; "
            "they are listed apart and count in no phase (add them to grader/roadmap.toml to place them)",
            file=sys.stderr,
        )
    from grader.progress import terminal

    (terminal.print_class if isinstance(progress, ClassProgress) else terminal.print_learner)(progress)
    try:
        if args.csv is not None:
            from grader.progress import spreadsheet

            spreadsheet.write(progress, args.csv)
            print(f"wrote {args.csv}")
        if args.html is not None:
            from grader.progress.page import write_html

            write_html(progress, args.html)
            print(f"wrote {args.html}")
    except OSError as error:
        print(f"grader progress: cannot write {error.filename}: {error.strerror}", file=sys.stderr)
        return 2
    return 0


# --- the instructor's commands -------------------------------------------------------------


def run_autograde(args) -> int:
    from rich.console import Console

    from grader.class_grading.batch import autograde, print_summary

    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    console = Console()
    course = _course()
    batch = autograde(course, args.assignment, workers=args.workers, force=args.force, learners=args.student, scheduler=args.scheduler, console=console)
    print_summary(batch, console, course)
    if batch.interrupted:
        return 130
    return 1 if batch.count("grader fault") or batch.count("not recorded") else 0


def run_feedback(args) -> int:
    from grader.report.feedback_page import write_feedback

    course = _course()
    written = write_feedback(course, args.assignment, args.student)
    if not written:
        who = f" of {', '.join(args.student)}" if args.student else ""
        raise LookupError(f"no recorded results for {args.assignment}{who}: grade first (grader autograde {args.assignment})")
    print(f"wrote {len(written)} feedback page(s) under {written[0].parents[2].relative_to(course.root)}/")
    return 0


def run_export(args) -> int:
    from grader.class_grading.export import export

    kind = args.kind or "submissions"
    output = args.output or {"submissions": "grades.csv", "tests": "tests.csv", "canvas": "canvas.csv"}[kind]
    count = export(_course(), output, args.assignments, kind)
    if output != "-":
        print(f"wrote {count} row(s) to {output}", file=sys.stderr)
    return 0


def run_release(args) -> int:
    from grader.authoring.release import release

    course = _course()
    done = release(course, args.assignments or None, db_url=course.db_url if args.gradebook else None)
    print(f"released {len(done)} assignment(s): {', '.join(done)}")
    return 0


def run_audit(args) -> int:
    import json

    from rich.console import Console

    from grader.authoring.audit import marks_entry, parse_max, print_audit, run_audit as audit_assignment

    course = _course()
    max_mutants, max_seconds = (None, None) if args.max.strip() == "0" else parse_max(args.max)
    console = Console(stderr=args.json)
    with _progress_bar(console, "audit") as update:
        audit = audit_assignment(course, args.assignment, max_mutants=max_mutants, max_seconds=max_seconds, seed=args.seed,
                                 function=args.function, workers=args.workers or 0, progress=update)
    if args.json:
        print(json.dumps(audit.to_dict(), indent=1))
    else:
        print_audit(audit, console)
    if args.marks:
        for unit in audit.units:
            for finding in unit.mutants:
                if finding.survived:
                    print("\n" + marks_entry(finding.variant))
    return 0


def _progress_bar(console, what: str):
    """A context giving `update(done, total, description)` that drives a rich progress bar."""
    import contextlib

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    @contextlib.contextmanager
    def bar():
        with Progress(TextColumn(f"[bold]{what}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      TextColumn("{task.description}"), console=console, transient=True) as progress:
            task = progress.add_task("", total=None)

            def update(done: int, total: int, description: str) -> None:
                progress.update(task, completed=done, total=total, description=description[:60])

            yield update

    return bar()


if __name__ == "__main__":
    sys.exit(main())
