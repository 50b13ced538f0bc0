"""The cells of a notebook as the grader sees them: test cells, solution cells, hidden parts.

Cells are found by their nbgrader metadata (`grade_id`), never by position. Test cells always
come from source/, hidden parts included, whatever the learner's notebook says.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from grader.notebook.reading import read_notebook

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"
HIDDEN_END = "### END HIDDEN TESTS"


@dataclass(frozen=True)
class TestCell:
    name: str  # grade_id
    code: str  # full source, hidden parts included
    points: float
    hidden: bool  # has a hidden part: counted as a hidden test
    gpu: bool  # tagged `gpu`: runs only where CUDA is present
    words: str  # the property the cell checks, in the learner's words
    time_limit: float | None = None  # the cell's own most seconds (metadata grader.time_limit), e.g. for training


def hidden_start_line(code: str) -> int | None:
    """The 1-based line of a test cell's `### BEGIN HIDDEN TESTS`, or None when it has no hidden part."""
    at = code.find(HIDDEN_BEGIN)
    return None if at < 0 else code.count("\n", 0, at) + 1


def nbgrader_meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test(cell) -> bool:
    meta = nbgrader_meta(cell)
    return cell["cell_type"] == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_solution(cell) -> bool:
    return cell["cell_type"] == "code" and bool(nbgrader_meta(cell).get("solution"))


@lru_cache(maxsize=64)
def _read_source(path: Path, mtime: float):
    return read_notebook(path)


def read_source(path: Path):
    """The trusted source notebook (cached while unchanged)."""
    return _read_source(path, path.stat().st_mtime)


def test_cells(source_path: Path) -> list[TestCell]:
    cells = []
    for cell in read_source(source_path)["cells"]:
        if is_test(cell):
            meta = nbgrader_meta(cell)
            cells.append(
                TestCell(
                    name=meta["grade_id"],
                    code=cell["source"],
                    points=float(meta.get("points", 0)),
                    hidden=HIDDEN_BEGIN in cell["source"],
                    gpu="gpu" in cell.get("metadata", {}).get("tags", []),
                    words=property_words(cell["source"], meta["grade_id"]),
                    time_limit=_time_limit(cell),
                )
            )
    return cells


def _time_limit(cell) -> float | None:
    value = (cell.get("metadata", {}).get("grader") or {}).get("time_limit")
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def property_words(code: str, fallback: str) -> str:
    """The docstring that opens a test cell, or its first comment: what the test checks."""
    try:
        body = ast.parse(code).body
    except SyntaxError:
        body = []
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and isinstance(body[0].value.value, str):
        return " ".join(body[0].value.value.split())
    for line in code.splitlines():
        if line.strip().startswith("#") and not line.strip().startswith("###"):
            return line.strip().lstrip("#").strip()
    return fallback


def hidden_lines(source_notebook: Path) -> list[str]:
    """Every meaningful line of a hidden block that appears nowhere else in the source notebook.

    A line that also stands in a visible test, a demo or a solution (`with torch.no_grad():`) is
    no secret, so only lines unique to hidden blocks count.
    """
    hidden, public = [], set()
    for cell in read_source(source_notebook)["cells"]:
        inside = False
        for line in cell["source"].splitlines():
            if HIDDEN_BEGIN in line:
                inside = True
            elif HIDDEN_END in line:
                inside = False
            elif inside:
                if len(line.strip()) >= 12 and not line.strip().startswith("#"):
                    hidden.append(line.strip())
            else:
                public.add(line.strip())
    return [line for line in hidden if line not in public]


def imports_of(code: str, with_names: bool = False) -> list[str]:
    """The modules `code` imports (absolute imports only), in order; [] if it does not parse.

    `with_names`: `from m import a` as "m:a", the name itself (a lazy module such as transformers
    loads a class only when it is first read).
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return []
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names += [f"{node.module}:{alias.name}" for alias in node.names] if with_names else [node.module]
    return names
