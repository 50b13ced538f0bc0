"""The `grader` command.

    grader list                      the road: phases, assignments, what is written
    grader start ID                  copy an assignment to your own workspace
    grader check ID [NOTEBOOK]       judge a notebook: every test, visible and hidden
    grader progress [--all]          how far along the road: one learner, or the class
    grader autograde ID              grade every submission of a class, judged, in parallel
    grader feedback ID / export      feedback pages for learners, the class CSV
    grader release [ID ...]          regenerate release/ and solutions/ from source/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="grader", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    commands.add_parser("list", help="show the roadmap: phases, assignments, prerequisites")

    start = commands.add_parser("start", help="copy an assignment to your workspace (submitted/<learner>/<id>/)")
    start.add_argument("assignment")
    start.add_argument("--learner", help="your name in the gradebook (default: $GRADER_LEARNER or your login)")

    check = commands.add_parser("check", help="judge a notebook with every test, visible and hidden")
    check.add_argument("assignment")
    check.add_argument("notebook", nargs="?", type=Path, help="default: your workspace copy, else the release notebook")
    check.add_argument("--learner", help="your name in the gradebook (default: $GRADER_LEARNER or your login)")
    check.add_argument("--json", action="store_true", help="print the per-test results as JSON")
    check.add_argument("--no-record", action="store_true", help="do not record the result in the gradebook")
    check.add_argument("--no-diagnosis", action="store_true", help="do not look for the classic mistake behind each failure")

    release = commands.add_parser("release", help="regenerate release/ and solutions/ from source/ through nbgrader")
    release.add_argument("assignments", nargs="*", help="assignment ids (default: all written)")
    release.add_argument("--gradebook", action="store_true", help="also record the assignments in the course gradebook")

    from grader import autograde, feedback, progress

    for module in (progress, autograde, feedback):
        module.register(commands)

    args = parser.parse_args(argv)
    try:
        return args.func(args) if hasattr(args, "func") else COMMANDS[args.command](args)
    except (LookupError, ValueError) as error:
        print(f"grader {args.command}: {error.args[0] if error.args else error}", file=sys.stderr)
        return 2


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
    from grader.course import Course
    from grader.workspace import learner_name, start

    course = Course.find()
    notebook, created = start(course, learner_name(args.learner), args.assignment)
    where = notebook.relative_to(course.root)
    print(f"{'created' if created else 'already there'}: {where}")
    print(f"open it in JupyterLab, then check it with: grader check {args.assignment}")
    return 0


def run_check(args) -> int:
    import threading

    from grader.course import Course
    from grader.gradebook import quick_nbgrader_import, record
    from grader.judge import check
    from grader.report import print_report, to_json
    from grader.workspace import default_notebook, learner_name

    course = Course.find()
    learner = learner_name(args.learner)
    notebook = args.notebook or default_notebook(course, learner, args.assignment)
    warm = None
    if not args.no_record:  # import nbgrader's gradebook while the learner process works
        warm = threading.Thread(target=quick_nbgrader_import, daemon=True)
        warm.start()
    report = check(course, args.assignment, notebook, learner=learner, diagnose=not args.no_diagnosis)
    print(to_json(report)) if args.json else print_report(report)
    if warm is not None:
        warm.join()
        try:
            record(course, report)
        except Exception as error:  # noqa: BLE001 - the verdict stands even if recording fails
            print(f"grader check: could not record the result in {course.db_url}: {error}", file=sys.stderr)
            return 3
    return 0 if report.complete else 1


def run_release(args) -> int:
    from grader.course import Course
    from grader.release import release

    course = Course.find()
    done = release(course, args.assignments or None, db_url=course.db_url if args.gradebook else None)
    print(f"released {len(done)} assignment(s): {', '.join(done)}")
    return 0


COMMANDS = {"list": run_list, "start": run_start, "check": run_check, "release": run_release}

if __name__ == "__main__":
    sys.exit(main())
