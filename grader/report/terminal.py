"""Telling the learner in a terminal: a table of every test (rich), the summary line, the sandbox."""

from __future__ import annotations

from grader.judging.results import CheckReport
from grader.report.rows import row

STYLE = {"passed": "green", "failed": "red", "not run": "yellow", "not gradable": "red"}


def print_report(report: CheckReport, console=None) -> None:
    """The report as a table, the summary line, and which protections the sandbox had."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    title = escape(f"{report.assignment} · {report.learner}" if report.learner else report.assignment)
    if report.not_gradable:
        console.print(f"[bold red]{title}: not gradable[/]: {escape(report.not_gradable)}", highlight=False)
        console.print(f"[bold]0/{report.max_points:g} points[/]")
        return
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("", width=1)
    table.add_column("test")
    table.add_column("kind", style="dim")
    table.add_column("points", justify="right")
    table.add_column("what to fix", overflow="fold")
    for result in report.results:
        r = row(result)
        table.add_row(f"[{STYLE[r.status]}]{r.mark}[/]", escape(r.words), r.kind, r.points, _advice(r))
    console.print(table)
    for cell, problem in report.load_problems.items():
        console.print(f"[red]cell '{escape(cell)}' failed when it was run:[/] {escape(problem)}", highlight=False)
    style = "bold green" if report.complete else "bold"
    console.print(f"[{style}]{escape(report.summary())}[/]")
    if report.protections:
        console.print("[dim]sandbox: " + escape("; ".join(f"{k} {v}" for k, v in report.protections.items())) + "[/]")


def _advice(r) -> str:
    from rich.markup import escape

    text = escape(f"[{r.category}] {r.message}" if r.category else r.message)
    if r.mistake:
        text += f"\n[bold]likely mistake:[/] {escape(r.mistake)}"
    if r.traceback:
        text += "\n" + "\n".join(f"  [dim]{escape(line)}[/]" for line in r.traceback)
    return text
