"""The check cell at the end of every release notebook: judge the saved notebook, show it inline.

The judge never runs inside the learner's kernel (the learner's code lives there): the cell
starts `grader check --json` as a separate process on the notebook file JupyterLab saved, and
renders its answer as a table, with what to fix and how far along the roadmap the learner is
(the `road` line that `grader check --json` adds after recording the attempt).
"""

from __future__ import annotations

import html
import json
import os
import subprocess
import sys
from pathlib import Path

from grader.report.rows import COLOUR, row

CELL_SOURCE = '''# Check your saved work: every test, visible and hidden, judged outside this kernel.
# Save first (Ctrl+S). In a terminal the same check is: grader check {assignment}
from grader.notebook_check import check_saved_notebook
check_saved_notebook("{assignment}")
'''
CELL_ID = "check_my_work"


def check_cell(assignment: str) -> dict:
    """The notebook cell the release pipeline appends to every assignment."""
    return {
        "cell_type": "code",
        "execution_count": None,
        "metadata": {
            "editable": False,
            "deletable": False,
            "nbgrader": {"grade": False, "grade_id": CELL_ID, "locked": True, "schema_version": 3, "solution": False, "task": False},
        },
        "outputs": [],
        "source": CELL_SOURCE.format(assignment=assignment),
    }


def saved_notebook_path() -> Path | None:
    """The notebook this kernel belongs to, as JupyterLab tells the kernel (JPY_SESSION_NAME)."""
    name = os.environ.get("JPY_SESSION_NAME")
    return Path(name) if name and name.endswith(".ipynb") and Path(name).is_file() else None


def learner_of(path: Path) -> str | None:
    """submitted/<learner>/<assignment>/<notebook>: the learner whose workspace this is."""
    parts = path.resolve().parts
    return parts[-3] if len(parts) >= 4 and parts[-4] == "submitted" else None


def check_saved_notebook(assignment: str) -> None:
    """Judge the notebook as last saved and show the report inline.

    Returns None on purpose: the call is the check cell's last line, and IPython would print
    any value it returned (the whole report dict) under the table.
    The check takes tens of seconds (a fresh sandboxed process runs every test), so a line
    saying so is shown at once and replaced by the table when the answer comes.
    """
    from IPython.display import HTML, display

    path = saved_notebook_path()
    if path is None:
        display(HTML("<p>Open this notebook in JupyterLab to check it here, or run "
                     f"<code>grader check {html.escape(assignment)}</code> in a terminal.</p>"))
        return None
    shown = display(HTML(f'<p class="grader-checking">Checking {html.escape(path.name)} as last saved: every test, '
                         "visible and hidden, in a separate process. This takes a little while…</p>"), display_id=True)
    command = [sys.executable, "-m", "grader.cli", "check", assignment, str(path), "--json"]
    learner = learner_of(path)
    if learner:
        command += ["--learner", learner]
    done = subprocess.run(command, capture_output=True, text=True, cwd=path.parent)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        shown.update(HTML(f"<pre>grader check could not run:\n{html.escape(done.stderr[-2000:])}</pre>"))
        return None
    # Exit 0: all points, 1: points missing; anything else (3: not recorded in the gradebook)
    # comes with a reason on stderr that the learner should see beside the verdict.
    note = "" if done.returncode in (0, 1) or not done.stderr.strip() else f"<pre>{html.escape(done.stderr[-2000:])}</pre>"
    shown.update(HTML(render(report) + note))


# JupyterLab right-aligns every table cell (.jp-RenderedHTMLCommon td, th), which makes a
# sentence per row hard to read: the prose columns are set left-aligned, from the top.
_LEFT = "text-align:left;vertical-align:top"


def render(report: dict) -> str:
    """A report (CheckReport.to_dict(), with its `road` line) as an HTML table: property, points, what to fix."""
    rows = []
    for result in report["results"]:
        r = row(result)
        rows.append(
            f'<tr class="grader-{html.escape(r.css)}"><td style="color:{COLOUR.get(r.status, "black")};vertical-align:top">{html.escape(r.mark)}</td>'
            f'<td style="{_LEFT}">{html.escape(r.words)}</td><td style="{_LEFT}">{html.escape(r.kind)}</td>'
            f'<td style="text-align:right;vertical-align:top;white-space:nowrap">{html.escape(str(r.points))}</td>'
            f'<td style="{_LEFT};white-space:pre-wrap">{html.escape(r.advice)}</td></tr>'
        )
    summary = html.escape(report["summary"])
    road = f'<p class="grader-progress">{html.escape(report["road"])}</p>' if report.get("road") else ""
    return (
        f'<div class="grader-report"><table><thead><tr><th></th><th style="{_LEFT}">test</th><th style="{_LEFT}">kind</th>'
        f'<th style="text-align:right">points</th><th style="{_LEFT}">what to fix</th></tr></thead>'
        f'<tbody>{"".join(rows)}</tbody></table>'
        f'<p class="grader-summary"><b>{summary}</b></p></div>{road}'
    )
