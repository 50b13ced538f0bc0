"""Telling the learner: a terminal table (rich), the summary line, or JSON for machines."""

from __future__ import annotations

import json

from grader.results import CheckReport, TestResult

STATUS_STYLE = {"passed": ("✔", "green"), "failed": ("✘", "red"), "not run": ("–", "yellow")}


def to_json(report: CheckReport) -> str:
    return json.dumps(report.to_dict(), indent=2)


def print_report(report: CheckReport, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    title = f"{report.assignment} · {report.learner}" if report.learner else report.assignment
    if report.not_gradable:
        console.print(f"[bold red]{title}: not gradable[/]: {report.not_gradable}")
        console.print(f"[bold]0/{report.max_points:g} points[/]")
        return
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    table.add_column("", width=1)
    table.add_column("test")
    table.add_column("kind", style="dim")
    table.add_column("points", justify="right")
    table.add_column("what to fix", overflow="fold")
    for result in report.results:
        mark, style = STATUS_STYLE[result.status]
        table.add_row(f"[{style}]{mark}[/]", result.words, _kind(result), _points(result), _advice(result))
    console.print(table)
    if report.load_problems:
        for cell, problem in report.load_problems.items():
            console.print(f"[red]cell '{cell}' failed when it was run:[/] {problem}")
    style = "bold green" if report.complete else "bold"
    console.print(f"[{style}]{report.summary()}[/]")
    if report.protections:
        console.print("[dim]sandbox: " + "; ".join(f"{k} {v}" for k, v in report.protections.items()) + "[/]")


def _kind(result: TestResult) -> str:
    kind = "hidden" if result.hidden else "visible"
    return f"{kind}, GPU" if result.gpu else kind


def _points(result: TestResult) -> str:
    if result.status == "not run":
        return f"–/{result.max_points:g}"
    return f"{result.points:g}/{result.max_points:g}"


def _advice(result: TestResult) -> str:
    if result.status == "passed":
        return ""
    from rich.markup import escape

    text = escape(f"[{result.category}] {result.message}" if result.category else result.message)
    if result.misconception:
        text += f"\n[bold]likely mistake:[/] {escape(result.misconception)}"
    if result.traceback:
        text += "\n" + "\n".join(f"  [dim]{escape(line)}[/]" for line in result.traceback[-3:])
    return text
