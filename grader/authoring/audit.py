"""`grader audit ID`: how strong an assignment's hidden tests are, for the people who write them.

The audit judges variants of the reference solution, exactly as class grading judges a
learner's notebook (a sandboxed learner process per variant, forked from a warm zygote), in
which one learner-facing definition (a function, or a class) is changed at a time:

- the **stub** (the release's own version): the tests that fail on it are the tests that
  *depend* on the definition; every other variant of it is judged on those tests only;
- **mutants**: one small change to the definition's syntax tree (an operator swapped, a
  comparison turned, a constant nudged, an axis or dim changed, a statement dropped, a sign
  flipped, max for min...). A mutant is *killed* when a dependent test fails; one that passes
  them all *survives*: a hole in the tests, or an equivalent mutant;
- **degenerate answers** (functions): the real result with its values thrown away but its
  structure, shapes and dtypes kept (zeros, ones, its mean; the whole result or one part of a
  tuple), and the first argument returned unchanged. One that earns the hidden points of a test
  *of that function* (a dependent test whose code names it) is a hole: a test that compares the
  learner only with itself, or checks only shapes. A dependent test that reaches the function
  only through another one (pca through its sign convention helper) may rightly not care about
  it on its inputs: such passes are listed as indirect, not as holes.

A variant is the reference with the changed definition appended to its cell, so it replaces
the original for everything that looks the name up when called. A base class whose subclasses
are defined before the change (in the same cell) keeps its old self inside them: the audit then
reports that no test fails on its stub, which says the definition cannot be audited this way.

Equivalent mutants are marked in `source/<id>/audit.toml` with a reason; a rerun leaves them
out (and lists them). The audit never touches the gradebook; it runs on the available cores,
shows a progress bar, and stops at `--max` (a number of mutants, or a time such as `10m`).
"""

from __future__ import annotations

import ast
import copy
import difflib
import hashlib
import json
import random
import tempfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from grader.course import Course
from grader.judging.reach import names_in_code
from grader.notebook.cells import is_solution, nbgrader_meta, test_cells
from grader.notebook.reading import read_notebook

MARKS_FILE = "audit.toml"
LEARNER = "audit"

# --- the definitions a learner writes ---------------------------------------------------------


@dataclass(frozen=True)
class Unit:
    """A top-level function or class a solution cell defines."""

    name: str
    cell: str  # the solution cell's grade_id
    kind: str  # "function" or "class"
    code: str  # ast.unparse of the reference's definition
    stub: str  # ast.unparse of the release's definition ('' when the release has none)


def _definitions(code: str) -> dict[str, ast.stmt]:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return {}
    return {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}


def units(course: Course, assignment: str) -> list[Unit]:
    """The learner-facing definitions of `assignment`, in notebook order."""
    solution = read_notebook(course.solution_notebook(assignment))
    release = read_notebook(course.release_notebook(assignment))
    stubs = {nbgrader_meta(c)["grade_id"]: _definitions(c["source"]) for c in release["cells"] if is_solution(c)}
    found = []
    for cell in solution["cells"]:
        if not is_solution(cell):
            continue
        grade_id = nbgrader_meta(cell)["grade_id"]
        for name, node in _definitions(cell["source"]).items():
            stub = stubs.get(grade_id, {}).get(name)
            kind = "class" if isinstance(node, ast.ClassDef) else "function"
            found.append(Unit(name, grade_id, kind, ast.unparse(node), ast.unparse(stub) if stub is not None else ""))
    return found


# --- variants ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    unit: str
    kind: str  # "stub", "mutant" or "degenerate"
    description: str
    code: str  # appended to the unit's solution cell: a redefinition
    diff: str = ""
    cell: str = ""  # the solution cell of the unit (a class may be extended in several cells)

    @property
    def where(self) -> tuple[str, str]:
        return (self.cell, self.unit)

    @property
    def key(self) -> str:
        """Stable across runs and machines: which unit, and the text of the changed definition."""
        return f"{self.unit}:{hashlib.sha256(self.code.encode()).hexdigest()[:12]}"


SWAP_BINARY = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult, ast.FloorDiv: ast.Div,
               ast.Mod: ast.FloorDiv, ast.Pow: ast.Mult, ast.MatMult: ast.Mult}
SWAP_COMPARE = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
                ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}
SWAP_NAME = {"max": "min", "min": "max", "sum": "mean", "mean": "sum", "argmax": "argmin", "argmin": "argmax",
             "maximum": "minimum", "minimum": "maximum", "exp": "log", "log": "exp"}
AXES = {"axis", "dim", "dims", "keepdim", "keepdims"}
SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**",
          ast.MatMult: "@", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=",
          ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in"}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of docstring expressions: never mutated."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                found.add(id(first))
                found.add(id(first.value))
    return found


def _sites(tree: ast.AST) -> list[tuple[int, int | tuple[str, int], str]]:
    """(node index in ast.walk order, choice, description) for every mutation of `tree`."""
    skip = _docstrings(tree)
    sites = []
    annotations = {id(n) for node in ast.walk(tree) for n in _annotation_nodes(node)}
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip or id(node) in annotations:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in SWAP_BINARY:
            sites.append((index, 0, f"line {line}: {SYMBOL[type(node.op)]} → {SYMBOL[SWAP_BINARY[type(node.op)]]}"))
        elif isinstance(node, ast.Compare):
            for choice, op in enumerate(node.ops):
                if type(op) in SWAP_COMPARE:
                    sites.append((index, choice, f"line {line}: {SYMBOL[type(op)]} → {SYMBOL[SWAP_COMPARE[type(op)]]}"))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            sites.append((index, 0, f"line {line}: constant {node.value!r} → {_nudged(node.value)!r}"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.Not)):
            sites.append((index, 0, f"line {line}: {'sign' if isinstance(node.op, ast.USub) else 'not'} dropped"))
        elif isinstance(node, ast.BoolOp):
            sites.append((index, 0, f"line {line}: {'and → or' if isinstance(node.op, ast.And) else 'or → and'}"))
        elif isinstance(node, ast.keyword) and node.arg in AXES and isinstance(node.value, (ast.Constant, ast.UnaryOp)):
            sites.append((index, 0, f"line {line}: {node.arg}={ast.unparse(node.value)} changed"))
        elif isinstance(node, ast.Attribute) and node.attr in SWAP_NAME:
            sites.append((index, 0, f"line {line}: .{node.attr} → .{SWAP_NAME[node.attr]}"))
        elif isinstance(node, ast.Name) and node.id in ("max", "min") and isinstance(node.ctx, ast.Load):
            sites.append((index, 0, f"line {line}: {node.id} → {SWAP_NAME[node.id]}"))
        elif isinstance(node, ast.Return) and node.value is not None and not isinstance(node.value, (ast.Tuple, ast.Constant)):
            sites.append((index, 0, f"line {line}: returned value negated"))
        for field_name in ("body", "orelse"):
            body = getattr(node, field_name, None)
            if isinstance(body, list) and len(body) > 1:
                for position, statement in enumerate(body):
                    if isinstance(statement, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)) and id(statement) not in skip \
                            and not _conversion(statement):
                        sites.append((index, (field_name, position), f"line {statement.lineno}: statement dropped"))
    return sites


def _conversion(statement: ast.stmt) -> bool:
    """`x = np.asarray(x, ...)` and the like: dropping it changes nothing for inputs the docstring allows."""
    if not (isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name)):
        return False
    value, name = statement.value, statement.targets[0].id
    return (isinstance(value, ast.Call) and bool(value.args) and isinstance(value.args[0], ast.Name) and value.args[0].id == name
            and isinstance(value.func, (ast.Attribute, ast.Name)) and getattr(value.func, "attr", getattr(value.func, "id", "")) in CONVERSIONS)


CONVERSIONS = {"asarray", "as_tensor", "array", "asanyarray", "float", "int", "atleast_1d", "atleast_2d", "ascontiguousarray"}


def _annotation_nodes(node: ast.AST):
    """Type hints: mutating them changes nothing a test could see."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        for argument in node.args.args + node.args.kwonlyargs + node.args.posonlyargs:
            if argument.annotation is not None:
                yield from ast.walk(argument.annotation)
        if node.returns is not None:
            yield from ast.walk(node.returns)
    elif isinstance(node, ast.AnnAssign):
        yield from ast.walk(node.annotation)


def _nudged(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    return value * 1.5 if value else 1e-3


def _apply(tree: ast.AST, index: int, choice) -> ast.AST:
    tree = copy.deepcopy(tree)
    node = next(n for i, n in enumerate(ast.walk(tree)) if i == index)
    if isinstance(choice, tuple):  # (body or orelse, position): that statement dropped
        getattr(node, choice[0])[choice[1]] = ast.Pass()
    elif isinstance(node, (ast.BinOp, ast.AugAssign)):
        node.op = SWAP_BINARY[type(node.op)]()
    elif isinstance(node, ast.Compare):
        node.ops[choice] = SWAP_COMPARE[type(node.ops[choice])]()
    elif isinstance(node, ast.Constant):
        node.value = _nudged(node.value)
    elif isinstance(node, ast.UnaryOp):
        _replace(tree, node, node.operand)
    elif isinstance(node, ast.BoolOp):
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif isinstance(node, ast.keyword):
        node.value = _changed_axis(node.value)
    elif isinstance(node, ast.Attribute):
        node.attr = SWAP_NAME[node.attr]
    elif isinstance(node, ast.Name):
        node.id = SWAP_NAME[node.id]
    elif isinstance(node, ast.Return):
        node.value = ast.UnaryOp(ast.USub(), node.value)
    return ast.fix_missing_locations(tree)


def _changed_axis(value: ast.expr) -> ast.expr:
    literal = ast.literal_eval(value) if not isinstance(value, ast.Name) else None
    if isinstance(literal, bool):
        return ast.Constant(not literal)
    if isinstance(literal, int):
        return ast.Constant(literal - 1 if literal < 0 else literal + 1)
    return ast.Constant(None)


def _replace(tree: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for parent in ast.walk(tree):
        for name, value in ast.iter_fields(parent):
            if value is old:
                setattr(parent, name, new)
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if item is old:
                        value[i] = new


def mutants(unit: Unit) -> list[Variant]:
    """Every one-point mutant of `unit`, each as a redefinition with its diff; duplicates and no-ops dropped."""
    tree = ast.parse(unit.code).body[0]
    found, seen = [], {unit.code}
    for index, choice, description in _sites(tree):
        try:
            code = ast.unparse(_apply(tree, index, choice))
        except (ValueError, TypeError, StopIteration):
            continue
        if code in seen:
            continue
        seen.add(code)
        diff = "".join(difflib.unified_diff(unit.code.splitlines(True), code.splitlines(True), "reference", "mutant", n=1))
        found.append(Variant(unit.name, "mutant", description, code, diff, unit.cell))
    return found


BLANK = '''
def _audit_blank(value, how, part=None):
    """`value` with its numbers replaced (zeros, ones, mean), structure, shapes and dtypes kept.

    A value with no number in it (an empty dict, a string) cannot be blanked: the variant then
    raises, so that it is never reported as a hole it is not.
    """
    if part is not None:
        if not isinstance(value, tuple) or part >= len(value):
            raise TypeError("audit: not a tuple with that many parts")
        return tuple(_audit_blank(v, how) if i == part else v for i, v in enumerate(value))
    blanked = _audit_blank_all(value, how)
    if _audit_same(blanked, value):
        raise TypeError("audit: nothing in this result to blank")
    return blanked


def _audit_same(a, b):
    import numpy as np
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_audit_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_audit_same(a[k], b[k]) for k in a)
    try:
        import torch
        if isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor):
            return a.shape == b.shape and bool(torch.equal(a.detach().cpu(), b.detach().cpu()))
    except ImportError:
        pass
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.shape(a) == np.shape(b) and bool(np.array_equal(a, b))
    return type(a) is type(b) and a == b


def _audit_blank_all(value, how):
    import numpy as np
    if isinstance(value, (list, tuple)):
        return type(value)(_audit_blank_all(v, how) for v in value)
    if isinstance(value, dict):
        return {k: _audit_blank_all(v, how) for k, v in value.items()}
    if isinstance(value, bool) or isinstance(value, np.bool_):
        return how == "ones"
    if isinstance(value, (int, float, np.number)):
        return type(value)(1 if how == "ones" else 0)
    if isinstance(value, np.ndarray):
        if how == "mean" and value.size and value.dtype.kind in "fc":
            return np.full_like(value, value.mean())
        return np.ones_like(value) if how == "ones" else np.zeros_like(value)
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None and isinstance(value, torch.Tensor):
        value = value.detach()
        if how == "mean" and value.numel() and value.is_floating_point():
            return torch.full_like(value, value.mean().item())
        return torch.ones_like(value) if how == "ones" else torch.zeros_like(value)
    raise TypeError(f"audit: cannot blank a {type(value).__name__}")
'''


def degenerates(unit: Unit) -> list[Variant]:
    """The degenerate answers of a function: blanked results (whole, and each part of a tuple) and its first argument."""
    if unit.kind != "function":
        return []
    node = ast.parse(unit.code).body[0]
    real = copy.deepcopy(node)
    real.name = f"_audit_real_{unit.name}"
    real.decorator_list = []
    parts = max((len(n.value.elts) for n in ast.walk(node) if isinstance(n, ast.Return) and isinstance(n.value, ast.Tuple)), default=0)
    found = []
    for how in ("zeros", "ones", "mean"):
        for part in [None] + list(range(parts)):
            wrapper = (f"def {unit.name}(*args, **kwargs):\n"
                       f"    return _audit_blank(_audit_real_{unit.name}(*args, **kwargs), {how!r}, {part!r})\n")
            words = f"{how} of the result" if part is None else f"{how} in part {part} of the result"
            found.append(Variant(unit.name, "degenerate", words, BLANK + "\n" + ast.unparse(real) + "\n\n" + wrapper, cell=unit.cell))
    first = (f"def {unit.name}(*args, **kwargs):\n"
             "    return args[0] if args else next(iter(kwargs.values()))\n")
    found.append(Variant(unit.name, "degenerate", "its first argument, unchanged", first, cell=unit.cell))
    return found


def stub(unit: Unit) -> Variant | None:
    return Variant(unit.name, "stub", "the release's stub", unit.stub, cell=unit.cell) if unit.stub else None


def variant_notebook(solution: dict, unit: Unit, variant: Variant) -> dict:
    """The solution notebook with `variant`'s code appended to the unit's cell (it redefines the unit)."""
    notebook = copy.deepcopy(solution)
    for cell in notebook["cells"]:
        if is_solution(cell) and nbgrader_meta(cell).get("grade_id") == unit.cell:
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            cell["source"] = source + "\n\n# --- grader audit: " + variant.description + "\n" + variant.code + "\n"
    return notebook


# --- equivalent mutants --------------------------------------------------------------------------


def marks(course: Course, assignment: str) -> dict[str, str]:
    """key -> reason, from source/<id>/audit.toml: mutants marked equivalent."""
    path = course.source / assignment / MARKS_FILE
    if not path.is_file():
        return {}
    data = tomllib.loads(path.read_text())
    return {entry["key"]: entry.get("reason", "") for entry in data.get("equivalent", [])}


def marks_entry(variant: Variant, reason: str = "TODO: why no test can tell it from the reference") -> str:
    """The TOML to paste into audit.toml to mark `variant` as equivalent."""
    diff = "\n".join(f"# {line}" for line in variant.diff.splitlines()[2:])
    return f'[[equivalent]]\nkey = "{variant.key}"\n# {variant.description}\n{diff}\nreason = {json.dumps(reason)}\n'


# --- judging -----------------------------------------------------------------------------------


def judge_variant(course_root: str, assignment: str, notebook: str, only: list[str] | None) -> dict:
    """Judge one variant in this worker, as class grading does: {test name: (status, hidden)}."""
    from grader.judging.judge import check, warm_zygote

    course = Course(Path(course_root))
    wanted = None if only is None else set(only)
    report = check(course, assignment, Path(notebook), learner=LEARNER, diagnose=False,
                   zygote=warm_zygote(course, assignment), only=None if wanted is None else (lambda t: t.name in wanted))
    if report.not_gradable:
        return {"not_gradable": report.not_gradable}
    return {"results": {r.name: r.status for r in report.results}}


@dataclass
class Finding:
    variant: Variant
    failed: list[str] = field(default_factory=list)  # dependent tests that failed
    passed_hidden: list[str] = field(default_factory=list)  # dependent hidden tests of this function that passed
    passed_indirect: list[str] = field(default_factory=list)  # dependent hidden tests of other functions that passed
    note: str = ""

    @property
    def survived(self) -> bool:
        return not self.failed


@dataclass
class UnitAudit:
    unit: Unit
    depends: list[str]  # tests that fail on the stub
    mutants: list[Finding] = field(default_factory=list)
    equivalent: list[tuple[Variant, str]] = field(default_factory=list)
    degenerate: list[Finding] = field(default_factory=list)
    left_out: int = 0  # mutants not judged: --max reached

    @property
    def killed(self) -> int:
        return sum(not f.survived for f in self.mutants)

    @property
    def score(self) -> float | None:
        return self.killed / len(self.mutants) if self.mutants else None


@dataclass
class Audit:
    assignment: str
    units: list[UnitAudit]
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def judged(self) -> int:
        return sum(len(u.mutants) for u in self.units)

    @property
    def killed(self) -> int:
        return sum(u.killed for u in self.units)

    @property
    def score(self) -> float | None:
        return self.killed / self.judged if self.judged else None

    @property
    def holes(self) -> list[tuple[str, Finding]]:
        """Degenerate answers that earn hidden points."""
        return [(u.unit.name, f) for u in self.units for f in u.degenerate if f.passed_hidden]

    def to_dict(self) -> dict:
        def finding(f: Finding) -> dict:
            return {"description": f.variant.description, "key": f.variant.key, "diff": f.variant.diff,
                    "failed": f.failed, "passed_hidden": f.passed_hidden, "passed_indirect": f.passed_indirect, "note": f.note}

        return {
            "assignment": self.assignment, "seconds": round(self.seconds, 1), "stopped_early": self.stopped_early,
            "mutants": self.judged, "killed": self.killed, "score": self.score,
            "degenerate_holes": [{"function": name, **finding(f)} for name, f in self.holes],
            "units": [{
                "name": u.unit.name, "kind": u.unit.kind, "cell": u.unit.cell, "depends": u.depends,
                "mutants": len(u.mutants), "killed": u.killed, "score": u.score, "left_out": u.left_out,
                "survivors": [finding(f) for f in u.mutants if f.survived],
                "equivalent": [{"key": v.key, "description": v.description, "reason": r} for v, r in u.equivalent],
                "degenerate": [finding(f) for f in u.degenerate],
            } for u in self.units],
        }


def parse_max(text: str | None) -> tuple[int | None, float | None]:
    """`--max`: '40' (mutants), '90s', '10m' (a time); (None, None) for no bound."""
    if not text:
        return None, None
    text = text.strip().lower()
    for suffix, factor in (("s", 1), ("m", 60), ("h", 3600)):
        if text.endswith(suffix) and text[:-1].replace(".", "", 1).isdigit():
            return None, float(text[:-1]) * factor
    if text.isdigit() and int(text) > 0:
        return int(text), None
    raise ValueError(f"--max {text!r}: give a number of mutants (40) or a time (90s, 10m)")


def run_audit(course: Course, assignment: str, *, max_mutants: int | None = 40, max_seconds: float | None = None,
              seed: int = 0, function: str | None = None, workers: int = 0, progress=None) -> Audit:
    """Audit `assignment`'s tests (see the module's docstring); `progress(done, total, what)` after each variant."""
    from grader.class_grading.batch import default_workers
    from grader.class_grading.workers import pool_results

    started = time.monotonic()
    if assignment not in course.assignments():
        raise LookupError(f"no assignment {assignment!r} in {course.source} (see `grader list`)")
    found = [u for u in units(course, assignment) if function is None or u.name == function]
    if not found:
        raise LookupError(f"{assignment} has no learner-facing function {function!r}" if function else f"{assignment} has no solution cells")
    solution = read_notebook(course.solution_notebook(assignment))
    equivalent = marks(course, assignment)
    tests = test_cells(course.source_notebook(assignment))
    hidden = {t.name for t in tests if t.hidden}
    named = {t.name: names_in_code(t.code, attributes_of={"learner", "ns"}) for t in tests}  # what a test calls itself (not F.f)
    audits = {(u.cell, u.name): UnitAudit(u, []) for u in found}
    by_unit = {(u.cell, u.name): u for u in found}

    # every mutant of every unit, sampled with the seed; the equivalent ones are set aside
    pool = [v for u in found for v in mutants(u)]
    random.Random(seed).shuffle(pool)
    chosen = []
    for variant in pool:
        if variant.key in equivalent:
            audits[variant.where].equivalent.append((variant, equivalent[variant.key]))
        elif max_mutants is None or len(chosen) < max_mutants:
            chosen.append(variant)
        else:
            audits[variant.where].left_out += 1
    stubs = [v for v in (stub(u) for u in found) if v is not None]
    degenerate = [v for u in found for v in degenerates(u)]
    total = len(stubs) + len(chosen) + len(degenerate)
    done = 0
    stopped = False

    with tempfile.TemporaryDirectory(prefix="grader-audit-") as scratch:
        def todo_for(variants):
            items = []
            for number, variant in enumerate(variants):
                path = Path(scratch) / f"{variant.kind}-{len(items)}-{number}-{variant.unit}.ipynb"
                path.write_text(json.dumps(variant_notebook(solution, by_unit[variant.where], variant)))
                items.append(_Job(assignment, path, variant, None if variant.kind == "stub" else audits[variant.where].depends))
            return items

        def judged(items):
            nonlocal done, stopped
            for job, data in pool_results(course, items, workers or default_workers(), judge_variant, arguments=_job_arguments):
                if "results" in data and isinstance(data["results"], list):  # a worker that died: CheckReport.to_dict()
                    data = {"not_gradable": data.get("not_gradable") or "the audit's worker failed"}
                done += 1
                if progress:
                    progress(done, total, f"{job.variant.unit}: {job.variant.description}")
                yield job, data
                if max_seconds is not None and time.monotonic() - started > max_seconds:
                    stopped = True
                    return

        # 1. stubs: which tests depend on each unit
        for job, data in judged(todo_for(stubs)):
            results = data.get("results", {})  # a stub that is not gradable: nothing depends on it (reported)
            audits[job.variant.where].depends = sorted(name for name, status in results.items() if status == "failed")
        # 2. mutants and degenerate answers, on the dependent tests only
        rest = [v for v in chosen + degenerate if audits[v.where].depends]
        for variant in chosen + degenerate:
            if not audits[variant.where].depends and variant.kind == "mutant":
                audits[variant.where].left_out += 1
        if not stopped:
            for job, data in judged(todo_for(rest)):
                finding = Finding(job.variant)
                if "not_gradable" in data:
                    finding.failed, finding.note = ["(not gradable)"], data["not_gradable"]
                else:
                    results = data["results"]
                    finding.failed = sorted(n for n, s in results.items() if s == "failed")
                    passing = [n for n, s in results.items() if s == "passed" and n in hidden]
                    finding.passed_hidden = sorted(n for n in passing if job.variant.unit in named[n])
                    finding.passed_indirect = sorted(n for n in passing if job.variant.unit not in named[n])
                target = audits[job.variant.where]
                (target.mutants if job.variant.kind == "mutant" else target.degenerate).append(finding)
    return Audit(assignment, list(audits.values()), time.monotonic() - started, stopped)


@dataclass(frozen=True)
class _Job:
    assignment: str
    notebook: Path
    variant: Variant
    only: list[str] | None
    learner: str = LEARNER


def _job_arguments(course: Course, job: _Job) -> tuple:
    return (str(course.root), job.assignment, str(job.notebook), job.only)


# --- the author's view ---------------------------------------------------------------------------


def print_audit(audit: Audit, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"grader audit {audit.assignment}", title_justify="left")
    for column in ("definition", "dependent tests", "mutants killed", "score", "marked equivalent", "degenerate holes"):
        table.add_column(column, overflow="fold")
    for u in audit.units:
        holes = [f for f in u.degenerate if f.passed_hidden]
        score = "–" if u.score is None else f"{u.score:.0%}"
        depends = str(len(u.depends)) if u.depends else "[red]0[/]"
        table.add_row(u.unit.name, depends, f"{u.killed}/{len(u.mutants)}" + (f" ({u.left_out} not sampled)" if u.left_out else ""),
                      score, str(len(u.equivalent)), f"[red]{len(holes)}[/]" if holes else "0")
    console.print(table)
    for u in audit.units:
        if u.depends:
            console.print(f"[bold]{escape(u.unit.name)}[/] ← " + ", ".join(u.depends), highlight=False)
        else:
            console.print(f"[red]{escape(u.unit.name)}: no test fails on its stub[/]")
    for u in audit.units:
        for f in u.mutants:
            if f.survived:
                console.print(f"\n[yellow]survived[/] {escape(u.unit.name)}: {escape(f.variant.description)}", highlight=False)
                console.print(f"key {f.variant.key}", style="dim", highlight=False)
                console.print(escape(f.variant.diff.rstrip()), style="dim", highlight=False)
        for v, reason in u.equivalent:
            console.print(f"[dim]equivalent (marked) {escape(u.unit.name)}: {escape(v.description)}: {escape(reason)}[/]")
    for name, f in audit.holes:
        console.print(f"[red]hole[/] {escape(name)} returning {escape(f.variant.description)} earns the hidden points of: {', '.join(f.passed_hidden)}")
    for u in audit.units:
        for f in u.degenerate:
            if f.passed_indirect:
                console.print(f"[dim]indirect: {escape(u.unit.name)} returning {escape(f.variant.description)} still passes "
                              f"{', '.join(f.passed_indirect)} (tests of other functions that call it)[/]", highlight=False)
    score = "no mutants judged" if audit.score is None else f"{audit.killed}/{audit.judged} mutants killed ({audit.score:.0%})"
    console.print(f"\n{audit.assignment}: {score}; {len(audit.holes)} degenerate answer(s) earning hidden points; "
                  f"{sum(len(u.equivalent) for u in audit.units)} marked equivalent; {audit.seconds:.0f} s"
                  + ("; stopped at --max before the end" if audit.stopped_early else ""))
    if any(f.survived for u in audit.units for f in u.mutants):
        console.print(f"[dim]A survivor that no test could ever tell from the reference: mark it equivalent in "
                      f"source/{audit.assignment}/{MARKS_FILE} (grader audit --marks prints the entries to paste).[/]")
