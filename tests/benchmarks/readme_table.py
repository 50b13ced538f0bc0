"""The benchmarks' one way of putting their table into README.md, between their markers."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def show(table: str, begin: str, end: str, update_readme: bool) -> None:
    """Print `table`; with `update_readme`, it replaces what stands between `begin` and the next `end` in README.md."""
    print()
    print(table)
    if update_readme:
        text = README.read_text()
        start = text.index(begin) + len(begin)
        stop = text.index(end, start)
        README.write_text(text[:start] + "\n" + table + "\n" + text[stop:])
        print(f"\nupdated {README}")
