"""The learner's answer and the reference: which code of a notebook runs, and where.

- The learner's answer is the source notebook's setup cells (trusted, from source/) followed by
  the learner's solution cells, matched by `grade_id`, in source order.
- The reference is the same with the source's own solution cells.

Every answer and reference cell keeps only definitions: imports, functions, classes and
constants. Top-level calls, demos and IPython magics are left out, so an input transformer or
a `pre_run_cell` hook registered at the top level never runs, and a demo that calls an
unfinished stub does not stop extraction.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

from grader.notebook.cells import is_solution, is_test, nbgrader_meta, read_source
from grader.notebook.reading import NotGradable


MAX_SOLUTION_CHARS = 256 * 1024  # one solution cell; a whole answer is a few KiB


@dataclass(frozen=True)
class Cell:
    name: str  # grade_id, or "setup-N" for an unnamed setup cell
    code: str
    trusted: bool = False  # from source/, not from the learner


def reference_cells(source_path: Path) -> list[Cell]:
    """Setup and solution cells of the source notebook: the trusted reference."""
    return [_as_cell(cell, i) for i, cell in enumerate(read_source(source_path)["cells"]) if _is_answer_part(cell)]


def setup_cells(source_path: Path) -> list[Cell]:
    """Setup cells only (imports, constants, helpers of the lesson): the judge's test globals."""
    return [
        _as_cell(cell, i)
        for i, cell in enumerate(read_source(source_path)["cells"])
        if _is_answer_part(cell) and not is_solution(cell)
    ]


def learner_cells(source_path: Path, learner_notebook) -> list[Cell]:
    """The learner's answer: source setup cells plus the learner's solution cells by grade_id.

    Raises NotGradable when a solution cell is missing, duplicated or no longer a code cell.
    """
    source = read_source(source_path)
    wanted = [nbgrader_meta(c)["grade_id"] for c in source["cells"] if is_solution(c)]
    found: dict[str, list] = {}
    for cell in learner_notebook["cells"]:
        grade_id = nbgrader_meta(cell).get("grade_id")
        if grade_id in wanted:
            found.setdefault(grade_id, []).append(cell)
    problems = []
    for grade_id in wanted:
        cells = found.get(grade_id, [])
        if not cells:
            problems.append(f"the solution cell '{grade_id}' is missing")
        elif len(cells) > 1:
            problems.append(f"the solution cell '{grade_id}' appears {len(cells)} times")
        elif cells[0]["cell_type"] != "code":
            problems.append(f"the solution cell '{grade_id}' was changed to a {cells[0]['cell_type']} cell")
        elif len(cells[0]["source"]) > MAX_SOLUTION_CHARS:
            problems.append(f"the solution cell '{grade_id}' holds {len(cells[0]['source']) // 1024} KiB of code, more than "
                            f"{MAX_SOLUTION_CHARS // 1024} KiB (large data belongs in a file, not in a cell)")
    if problems:
        raise NotGradable(
            "; ".join(problems)
            + ". Copy the cell back from the release notebook (keep its metadata) and put your answer in it."
        )
    answer = []
    for i, cell in enumerate(source["cells"]):
        if not _is_answer_part(cell):
            continue
        if is_solution(cell):
            grade_id = nbgrader_meta(cell)["grade_id"]
            answer.append(Cell(grade_id, keep_definitions(found[grade_id][0]["source"])))
        else:
            answer.append(_as_cell(cell, i))
    return answer


def _is_answer_part(cell) -> bool:
    return cell["cell_type"] == "code" and not is_test(cell)


def _as_cell(cell, index: int) -> Cell:
    name = nbgrader_meta(cell).get("grade_id") or f"setup-{index}"
    return Cell(name, keep_definitions(cell["source"]), trusted=True)


_MAGIC = re.compile(r"^\s*[%!]")
_UPPER = re.compile(r"^_*[A-Z][A-Z0-9_]*$")


def keep_definitions(code: str) -> str:
    """Only imports, definitions and constants of `code`; other lines become blank.

    Line numbers are kept, so a traceback names the learner's own lines. Code that does not
    parse is returned as it is: running it reports the SyntaxError against that cell.
    """
    lines = ["" if _MAGIC.match(line) else line for line in code.splitlines()]
    text = "\n".join(lines)
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    keep = [False] * len(lines)
    for node in tree.body:
        if _is_definition(node):
            start = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
            for line in range(start - 1, node.end_lineno):
                keep[line] = True
    return "\n".join(line if kept else "" for line, kept in zip(lines, keep)) + "\n"


def _is_definition(node) -> bool:
    if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return True
    if isinstance(node, ast.Try):
        return all(isinstance(n, (ast.Import, ast.ImportFrom)) for n in node.body)
    if isinstance(node, (ast.Assign, ast.AnnAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        # `A, B = 3, 6` names each of its targets
        names = [n for t in targets for n in (t.elts if isinstance(t, (ast.Tuple, ast.List)) else [t])]
        if not all(isinstance(n, ast.Name) for n in names) or node.value is None:
            return False
        if isinstance(node.value, ast.Lambda) or all(_UPPER.match(n.id) for n in names):
            return True
        try:
            ast.literal_eval(node.value)
            return True
        except ValueError:
            return False
    return False


@dataclass(frozen=True)
class SyntaxProblem:
    """A learner's solution cell that does not parse: nothing in it is defined when the answer is run."""

    cell: str  # its grade_id
    line: int  # 1-based, within the cell
    message: str  # Python's words, e.g. "'(' was never closed"
    text: str  # that line as the learner wrote it
    names: frozenset[str]  # what the course's own version of the cell defines: what the tests will miss

    def advice(self) -> str:
        return (f"the cell '{self.cell}' has a syntax error on line {self.line}: {self.message}; nothing in that cell is "
                "defined until it is fixed. Run the cell to see Python point at the line, fix it, save and check again")

    def where(self) -> str:
        return f"cell '{self.cell}', line {self.line}: {self.text}"


def syntax_problems(source_path: Path, answer: list[Cell]) -> list[SyntaxProblem]:
    """The learner's cells of `answer` that do not compile (compiled only: nothing of theirs runs here)."""
    defines = {cell.name: _top_level_names(cell.code) for cell in reference_cells(source_path)}
    problems = []
    for cell in answer:
        if cell.trusted:
            continue
        try:
            compile(cell.code, f"<cell {cell.name}>", "exec", dont_inherit=True)
        except SyntaxError as error:
            problems.append(SyntaxProblem(cell.name, error.lineno or 1, error.msg, (error.text or "").strip()[:200],
                                          frozenset(defines.get(cell.name, ()))))
        except (ValueError, RecursionError, MemoryError):  # null bytes, nesting: reported by the learner process
            continue
    return problems


def _top_level_names(code: str) -> set[str]:
    """The functions, classes and variables a cell that parses defines at its top level."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return names
