"""`grader audit`: the mutants and degenerate answers it makes, and that it tells a weak test from a strong one."""

from __future__ import annotations

import ast
import json

import numpy as np
import pytest

from grader.authoring import audit
from grader.authoring.audit import Unit, degenerates, mutants, parse_max

SMALL = '''
def scaled_mean(x):
    """The mean of x along its last axis, times two: a docstring with 1 + 2 in it is never mutated."""
    total = x.sum(axis=-1)
    if x.shape[-1] > 0:
        return 2.0 * total / x.shape[-1]
    return -total
'''


def _unit(code: str = SMALL) -> Unit:
    node = ast.parse(code).body[0]
    return Unit(node.name, "cell", "function", ast.unparse(node), "")


@pytest.mark.cpu
def test_mutants_cover_each_kind_once_and_never_the_docstring():
    found = mutants(_unit())
    codes = [m.code for m in found]
    assert len(codes) == len(set(codes)) and _unit().code not in codes  # no duplicates, no no-ops
    descriptions = " | ".join(m.description for m in found)
    for kind in ("* → /", "/ → *", "> → >=", "constant 2.0", "axis=-1 changed", "statement dropped", "sign dropped", ".sum → .mean",
                 "returned value negated"):
        assert kind in descriptions, kind
    assert all('"""The mean of x along its last axis, times two: a docstring with 1 + 2 in it is never mutated."""' in c for c in codes)
    for m in found:  # every mutant parses, differs from the reference in one place, and says where in its diff
        ast.parse(m.code)
        assert m.diff.count("\n-") >= 1 and m.diff.count("\n+") >= 1
    assert len({m.key for m in found}) == len(found) and all(m.key.startswith("scaled_mean:") for m in found)
    assert [m.key for m in mutants(_unit())] == [m.key for m in found]  # stable: a mark in audit.toml stays valid


@pytest.mark.cpu
def test_degenerate_answers_keep_structure_shape_and_dtype():
    code = '''
import numpy as np
def split(x):
    return x * 3.0, (x > 0).astype(np.int64)
'''
    unit = _unit(code.split("\n", 2)[2])
    variants = {v.description: v for v in degenerates(unit)}
    assert set(variants) >= {"zeros of the result", "ones in part 1 of the result", "mean in part 0 of the result", "its first argument, unchanged"}
    x = np.array([[1.0, -2.0], [3.0, 4.0]])
    space = {"np": np}
    exec(compile(variants["zeros of the result"].code, "zeros", "exec"), space)
    a, b = space["split"](x)
    assert a.shape == x.shape and a.dtype == np.float64 and not a.any() and b.dtype == np.int64 and not b.any()
    space = {"np": np}
    exec(compile(variants["mean in part 0 of the result"].code, "mean", "exec"), space)
    a, b = space["split"](x)
    np.testing.assert_array_equal(a, np.full_like(x, (x * 3.0).mean()))
    np.testing.assert_array_equal(b, (x > 0).astype(np.int64))  # the other part is the real one
    space = {"np": np}
    exec(compile(variants["its first argument, unchanged"].code, "first", "exec"), space)
    assert space["split"](x) is x
    exec(compile(variants["zeros of the result"].code, "zeros", "exec"), space)
    with pytest.raises(TypeError, match="nothing in this result to blank"):  # an empty state is never called a hole
        space["_audit_blank"]((x, {}), "zeros", 1)
    with pytest.raises(TypeError, match="nothing in this result to blank"):
        space["_audit_blank"](np.zeros(3), "zeros")


@pytest.mark.cpu
def test_max_is_a_count_or_a_time():
    assert parse_max("40") == (40, None) and parse_max("90s") == (None, 90.0) and parse_max("10m") == (None, 600.0)
    with pytest.raises(ValueError, match="number of mutants"):
        parse_max("lots")


def _weaken(course, assignment: str, test: str, keep: str) -> None:
    """Replace the code of test cell `test` in the source notebook by `keep` (a weak test)."""
    path = course.source_notebook(assignment)
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == test:
            cell["source"] = keep
    path.write_text(json.dumps(notebook))


@pytest.mark.cpu
def test_audit_flags_a_weakened_test_and_not_a_strong_one(course_copy):
    strong = audit.run_audit(course_copy, "01-linear-algebra", max_mutants=None, function="dense_layer", workers=2)
    (unit,) = strong.units
    assert unit.depends == ["dense_layer_matches_torch", "dense_layer_small_case"]
    assert unit.mutants and unit.killed == len(unit.mutants) and not strong.holes
    assert {f.variant.description for f in unit.degenerate} >= {"zeros of the result", "its first argument, unchanged"}

    # both tests now check shapes only: every mutant that keeps shapes survives, zeros earn the hidden points
    _weaken(course_copy, "01-linear-algebra", "dense_layer_small_case",
            '"""a dense layer gives shape (batch, d_out)"""\nfrom grader.testing import learner, expect\n'
            "import numpy as np\nexpect.shape(learner.dense_layer(np.ones((3, 2)), np.ones((2, 3)), np.zeros(3)), (3, 3))\n")
    _weaken(course_copy, "01-linear-algebra", "dense_layer_matches_torch",
            '"""a dense layer keeps the batch axis"""\nfrom grader.testing import learner, expect\nimport numpy as np\n'
            "### BEGIN HIDDEN TESTS\nexpect.shape(learner.dense_layer(np.ones((1, 4)), np.ones((4, 2)), np.zeros(2)), (1, 2))\n"
            "### END HIDDEN TESTS\n")
    weak = audit.run_audit(course_copy, "01-linear-algebra", max_mutants=None, function="dense_layer", workers=2)
    (unit,) = weak.units
    survivors = [f for f in unit.mutants if f.survived]
    assert survivors and any("+ → -" in f.variant.description for f in survivors)
    holes = {f.variant.description: f.passed_hidden for _, f in weak.holes}
    assert holes.get("zeros of the result") == ["dense_layer_matches_torch"]

    # a survivor marked equivalent is left out of the next run, and listed with its reason
    marked = survivors[0].variant
    (course_copy.source / "01-linear-algebra" / audit.MARKS_FILE).write_text(audit.marks_entry(marked, "for this test"))
    again = audit.run_audit(course_copy, "01-linear-algebra", max_mutants=None, function="dense_layer", workers=2)
    assert [(v.key, reason) for v, reason in again.units[0].equivalent] == [(marked.key, "for this test")]
    assert marked.key not in {f.variant.key for f in again.units[0].mutants}
