"""Which of an assignment's functions a test can reach: named in its code, or called by one that is.

A test that calls `attention(...)` reaches `masked_softmax` too when `attention` calls it. Whose
`attention`: the reference's (its compiled code: the diagnosis and the self-test, which replay
or judge known-wrong versions of the reference) or the learner's own (the source of their cells,
read here without running it: the judge, which fails at once a test that reaches a learner
function that already timed out, and must not blame a function the learner's code never calls).
Answers over-approximate (a name counts wherever it appears), which is what each user needs.
"""

from __future__ import annotations

import ast


def names_in_code(code: str, attributes_of: set[str] | None = None) -> set[str]:
    """Every identifier, attribute name and string constant in `code` (empty if it does not parse).

    `attributes_of`: count an attribute only on these names (`{"learner", "ns"}`: `learner.f`
    counts, `F.f` does not).
    """
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            if attributes_of is None or (isinstance(node.value, ast.Name) and node.value.id in attributes_of):
                names.add(node.attr)
        elif isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.isidentifier():
            names.add(node.value)  # getattr(ns, "name")
    return names


def closure(names: set[str], uses) -> set[str]:
    """`names` and, transitively, every name their definitions use.

    `uses`: a namespace (dict) of compiled functions and classes, or a call graph (name -> the
    names its definition uses, as `source_graph` gives it).
    """
    todo, seen = set(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        value = uses.get(name)
        if isinstance(value, (set, frozenset)):
            todo |= value
        else:
            for code in _codes_of(value):
                todo |= _global_names(code)
    return seen


def source_graph(codes: list[str]) -> dict[str, set[str]]:
    """name -> the names its definition uses, for the top-level functions and classes of `codes` (not run)."""
    graph: dict[str, set[str]] = {}
    for code in codes:
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                graph[node.name] = names_in_code(ast.unparse(node)) - {node.name}
    return graph


def _codes_of(value) -> list:
    code = getattr(value, "__code__", None)
    if code is not None:
        return [code]
    if isinstance(value, type):  # a class: the code of its methods
        return [m.__code__ for m in vars(value).values() if hasattr(m, "__code__")]
    return []


def _global_names(code) -> set[str]:
    """Global names a function's code (and the code nested in it) refers to."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if hasattr(constant, "co_names"):
            names |= _global_names(constant)
    return names


def test_reach(test_code: str, setup: dict, uses) -> set[str]:
    """The names a test cell reaches: its own code, the scenarios it names (by their source), transitively through `uses`."""
    names, todo = set(), names_in_code(test_code)
    while todo:  # through the setup cells' scenarios and helpers (a helper that runs a scenario, ...)
        name = todo.pop()
        if name in names:
            continue
        names.add(name)
        value = setup.get(name)
        source = getattr(value, "source", None)  # a scenario defined in a setup cell
        if isinstance(source, str):
            todo |= names_in_code(source) - names
        else:
            for code in _codes_of(value):
                todo |= _global_names(code) - names
    return closure(names, uses)
