"""The one CSV writer: every CSV the grader writes (progress, the class export) goes through it.

Names from a class roster, assignment titles and reasons can start like a spreadsheet formula
(`=`, `+`, `-`, `@`, a tab or a carriage return); such a text cell is written with a leading
apostrophe, so a spreadsheet shows it as text and never evaluates it. Numbers stay numbers.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def as_text(value) -> str:
    """A cell as it should reach a spreadsheet."""
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_START) and not _number(value) else value
    if isinstance(value, float):
        return f"{value:g}"
    return "" if value is None else str(value)


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def write_csv(target: Path | str, columns: list[str], rows) -> None:
    """`rows` (sequences in `columns` order) as CSV at `target`; "-" is standard output."""
    if str(target) == "-":
        _write(sys.stdout, columns, rows)
        return
    with open(target, "w", newline="", encoding="utf-8") as out:
        _write(out, columns, rows)


def _write(out, columns: list[str], rows) -> None:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for values in rows:
        writer.writerow([as_text(v) for v in values])
