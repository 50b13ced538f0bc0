"""Progress in a terminal (rich): one learner's road, or a whole class."""

from __future__ import annotations

from grader.progress.model import STUCK_AFTER, AssignmentProgress, ClassProgress, LearnerProgress, PhaseProgress
from grader.progress.words import STATUS_GLYPH, next_step_command, phase_summary, points, shown_assignments

STATUS_STYLE = {"passed": "green", "in progress": "yellow", "not started": "default", "planned": "dim"}
TERMINAL_ROWS = 15  # of the stuck list and the hardest tests; the HTML page and CSV have them all
FAILING_SHOWN = 6  # failing tests listed per assignment in the terminal; `grader check` lists them all


# ---------------------------------------------------------------- one learner


def print_learner(progress: LearnerProgress, console=None) -> None:
    """Per phase a bar and a table of its assignments; GPU tests apart; the next step."""
    from rich.console import Console

    console = console or Console()
    title = f"[bold]Progress of {_escape(progress.learner)}[/]"
    console.print(title + (f" · track {progress.track}" if progress.track else ""))
    for phase in progress.phases:
        console.print()
        console.print(f"[bold]Phase {phase.number} · {_escape(phase.title)}[/]")
        console.print(_phase_bar(phase))
        _print_assignments(console, phase.assignments)
    if progress.off_roadmap:
        console.print()
        console.print("[bold]Not on the roadmap[/] [dim](in the gradebook, counted in no phase)[/]")
        _print_assignments(console, progress.off_roadmap)
    gpu = [a for a in [*progress.assignments, *progress.off_roadmap] if a.not_run]
    if gpu:
        console.print()
        console.print("[bold]Needs a GPU[/] [dim](not run where it was judged, so not counted: neither passed nor failed)[/]")
        for a in gpu:
            console.print(f"  {a.id}: {len(a.not_run)} test(s), {points(a.gpu_points)} point(s): " + "; ".join(_escape(w) for w in a.not_run))
    console.print()
    console.print(next_step_line(progress))


def next_step_line(progress: LearnerProgress) -> str:
    """The next step, and the command that takes it, as rich markup."""
    if progress.next_step is None:
        return f"[bold]Next:[/] nothing to take right now: {progress.road_note}"
    step = progress.next_step.assignment
    note = f"\n      [dim]{_escape(progress.road_note)}[/]" if progress.road_note else ""
    return (f"[bold]Next:[/] [bold cyan]{step.id}[/] · {_escape(step.title)} [dim]({_escape(progress.next_step.reason)})[/]"
            f"\n      {next_step_command(progress)}{note}")


def _phase_bar(phase: PhaseProgress):
    from rich.progress_bar import ProgressBar
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_row(ProgressBar(total=1.0, completed=phase.share, width=30), f"{phase.share:4.0%}", f"[dim]{phase_summary(phase)}[/]")
    return grid


def _print_assignments(console, assignments) -> None:
    """A table of the assignments taken or to take; planned ones on one line below it."""
    from rich.table import Table

    planned = [a.id for a in assignments if a.status == "planned"]
    rows = [a for a in assignments if a.status != "planned"]
    if rows:
        table = Table(show_edge=False, pad_edge=False)
        for column, justify in [("assignment", "left"), ("status", "left"), ("score", "right"), ("best", "right"), ("latest", "right"), ("attempts", "right")]:
            table.add_column(column, justify=justify, no_wrap=True)
        table.add_column("still failing", overflow="fold", min_width=20)
        for a in rows:
            failing = "\n".join(f"✘ {_escape(t.words)}" for t in a.failing[:FAILING_SHOWN])
            if len(a.failing) > FAILING_SHOWN:
                failing += f"\n[dim]… {len(a.failing) - FAILING_SHOWN} more: grader check {a.id}[/]"
            if a.not_gradable:
                failing = f"[red]✘ not gradable:[/] {_escape(a.not_gradable)}"
            if a.not_run:
                failing += ("\n" if failing else "") + f"[dim]– {len(a.not_run)} GPU test(s) not run[/]"
            table.add_row(a.id, f"[{STATUS_STYLE[a.status]}]{a.status}[/]", _score(a), points(a.best), points(a.latest), str(a.attempts or ""), failing)
        console.print(table)
    if planned:
        console.print(f"[dim]planned (not written yet): {', '.join(planned)}[/]")


def _score(a: AssignmentProgress) -> str:
    if a.score is None:
        return "" if a.max_points is None else f"[dim]–/{points(a.max_points)}[/]"
    return f"{points(a.score)}/{points(a.max_points)}"


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


# ---------------------------------------------------------------- a class


def print_class(progress: ClassProgress, console=None) -> None:
    """Assignments by status; learners by phase and assignment; who is stuck; hardest tests."""
    from rich.console import Console

    console = console or Console()
    shown = shown_assignments(progress)
    console.print(f"[bold]Class progress[/]: {len(progress.learners)} learner(s), {len(shown)} assignment(s) written or recorded")
    console.print(_assignment_table(progress, shown))
    console.print(_learner_lines(progress, shown), no_wrap=True, crop=True)
    legend = " ".join(f"{glyph or '␣'} {status}" for status, glyph in STATUS_GLYPH.items())
    console.print(f"[dim]{legend}; per phase: its assignments in order, then the share of its points earned[/]")
    if progress.stuck:
        console.print(_stuck_table(progress))
    else:
        console.print(f"[green]Nobody is stuck[/] [dim](stuck: {_stuck_rule()})[/]")
    if progress.pass_rates:
        console.print(_pass_rate_table(progress))
    if progress.mistakes:
        console.print(_mistake_table(progress))


def _assignment_table(progress: ClassProgress, shown: list[str]):
    from rich.table import Table

    table = Table(title="Assignments", title_justify="left")
    for column in ("assignment", "passed", "in progress", "not started", "stuck"):
        table.add_column(column, justify="left" if column == "assignment" else "right", no_wrap=True)
    stuck = {}
    for s in progress.stuck:
        stuck[s.assignment.id] = stuck.get(s.assignment.id, 0) + 1
    counts = progress.status_counts()
    for assignment in shown:
        c = counts[assignment]
        table.add_row(assignment, f"[green]{c['passed']}[/]", f"[yellow]{c['in progress']}[/]", str(c["not started"] + c["planned"]), str(stuck.get(assignment, "")))
    return table


def _learner_lines(progress: ClassProgress, shown: list[str]):
    """Learners by phase and assignment, one line each: aligned text, not a rich Table.

    A Table of hundreds of rows takes rich seconds to lay out; these lines take milliseconds.
    """
    from rich.text import Text

    visible = set(shown)
    name_width = min(max([len("learner"), *(len(p.learner) for p in progress.learners)]), 24)
    widths = {n: max(len(f"phase {n}"), sum(a.id in visible for a in progress.roadmap.in_phase(n)) + 5) for n in progress.roadmap.phases}
    text = Text()
    text.append("Learners by phase and assignment\n", style="italic")
    text.append(f"{'learner':<{name_width}}  " + "  ".join(f"{f'phase {n}':<{w}}" for n, w in widths.items()) + "  passed  next\n", style="bold")
    for learner in progress.learners:
        text.append(f"{learner.learner[:name_width]:<{name_width}}  ")
        for phase in learner.phases:
            glyphs = "".join(STATUS_GLYPH[a.status] for a in phase.assignments if a.id in visible)
            cell = f"{glyphs} {phase.share:4.0%}" if glyphs else ""
            text.append(f"{cell:<{widths[phase.number]}}  ", style="green" if glyphs and phase.share >= 1 else "")
        passed = sum(phase.passed for phase in learner.phases)
        text.append(f"{passed:>6}  {learner.next_step.assignment.id if learner.next_step else '–'}\n")
    return text


def _stuck_rule() -> str:
    return f"{STUCK_AFTER} or more attempts without passing"


def _stuck_table(progress: ClassProgress):
    from rich.table import Table

    table = Table(title=f"Stuck: {_stuck_rule()} ({len(progress.stuck)})", title_justify="left")
    for column in ("learner", "assignment", "attempts", "best", "still failing"):
        table.add_column(column, justify="right" if column in ("attempts", "best") else "left", overflow="fold", no_wrap=column != "still failing")
    for s in progress.stuck[:TERMINAL_ROWS]:
        a = s.assignment
        failing = f"not gradable: {a.not_gradable}" if a.not_gradable else "; ".join(t.words for t in a.failing[:3]) + (" …" if len(a.failing) > 3 else "")
        table.add_row(_escape(s.learner), a.id, str(a.attempts), f"{points(a.best)}/{points(a.max_points)}", _escape(failing))
    if len(progress.stuck) > TERMINAL_ROWS:
        table.caption = f"and {len(progress.stuck) - TERMINAL_ROWS} more (see --html or --csv)"
    return table


def _pass_rate_table(progress: ClassProgress):
    from rich.table import Table

    table = Table(title="Tests that trip most learners", title_justify="left")
    for column in ("assignment", "property tested", "passing now", "ever failed", "learners", "GPU not run"):
        table.add_column(column, justify="left" if column in ("assignment", "property tested") else "right", overflow="fold", no_wrap=column != "property tested")
    for r in progress.pass_rates[:TERMINAL_ROWS]:
        table.add_row(r.assignment, _escape(r.words), f"{r.rate:.0%}", f"{r.tripped_share:.0%}", str(r.learners), str(r.not_run or ""))
    table.caption = "passing now: the learner's latest attempt passes it; ever failed: failed it in some attempt"
    return table


def _mistake_table(progress: ClassProgress):
    from rich.table import Table

    table = Table(title="Classic mistakes the judge recognised", title_justify="left")
    table.add_column("assignment", no_wrap=True)
    table.add_column("mistake", overflow="fold")
    table.add_column("learners", justify="right")
    for m in progress.mistakes[:TERMINAL_ROWS]:
        table.add_row(m.assignment, _escape(m.text), str(m.learners))
    table.caption = "learners whose outputs matched that known-wrong implementation in some attempt"
    return table
