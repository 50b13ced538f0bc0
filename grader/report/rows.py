"""One vocabulary for a test row, whoever shows it: the terminal table, the check cell, the feedback page.

A row is built from a judged result (grader.judging.results.TestResult) or from a recorded
row of the gradebook (a dict with the same fields); each renderer only escapes and lays out
what is here, so the three views say the same thing in the same words.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MARK = {"passed": "✔", "failed": "✘", "not run": "–", "not gradable": "✘"}
STATUS_CLASS = {"passed": "passed", "failed": "failed", "not run": "not-run", "not gradable": "failed"}
COLOUR = {"passed": "#1a7f37", "failed": "#cf222e", "not run": "#9a6700", "not gradable": "#cf222e"}
TRACEBACK_LINES = 3  # of the learner's own traceback, shown under what to fix


@dataclass(frozen=True)
class Row:
    status: str  # passed, failed, not run, not gradable
    words: str  # the property the test checks, in the learner's words
    kind: str  # "visible" or "hidden", with ", GPU" for a GPU test
    points: str  # "2/3", or "–/2" for a test that did not run
    category: str = ""  # how it failed (empty when it passed)
    message: str = ""  # what to fix (empty when it passed)
    mistake: str = ""  # the classic mistake the learner's outputs match, with its fix
    traceback: tuple[str, ...] = field(default_factory=tuple)  # the learner's own lines, last few

    @property
    def mark(self) -> str:
        return MARK.get(self.status, "?")

    @property
    def css(self) -> str:
        return STATUS_CLASS.get(self.status, "failed")

    @property
    def advice(self) -> str:
        """What to fix as one plain text: `[category] message`, the likely mistake, the learner's lines."""
        text = f"[{self.category}] {self.message}" if self.category else self.message
        if self.mistake:
            text += f"\nlikely mistake: {self.mistake}"
        if self.traceback:
            text += "\n" + "\n".join(self.traceback)
        return text


def kind(hidden: bool, gpu: bool) -> str:
    return ("hidden" if hidden else "visible") + (", GPU" if gpu else "")


def points_text(status: str, points: float, max_points: float) -> str:
    return f"–/{max_points:g}" if status == "not run" else f"{points:g}/{max_points:g}"


def row(result) -> Row:
    """The row of a TestResult, or of a mapping with its fields (a check's JSON, a gradebook row)."""
    get = result.get if isinstance(result, dict) else lambda name, default=None: getattr(result, name, default)
    status = get("status")
    passed = status == "passed"
    told = not passed and status != "not gradable"  # a not-gradable reason is told once, above the table
    return Row(
        status=status,
        words=get("words", "") or "",
        kind=kind(bool(get("hidden")), bool(get("gpu"))),
        points=points_text(status, float(get("points", 0) or 0), float(get("max_points", 0) or 0)),
        category=(get("category", "") or "") if told else "",
        message=(get("message", "") or "") if told else "",
        mistake="" if passed else (get("misconception", "") or ""),
        traceback=tuple((get("traceback", ()) or ())[-TRACEBACK_LINES:]) if told else (),
    )


def duration(seconds: float) -> str:
    """'2 days, 3 hours' for lateness; seconds only below a minute."""
    minutes, _ = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    parts = [f"{n} {unit}{'s' if n != 1 else ''}" for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return ", ".join(parts) or f"{int(seconds)} seconds"
