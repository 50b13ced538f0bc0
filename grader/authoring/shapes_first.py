"""A self-test rule: a test cell checks a learner value's shape before doing arithmetic with it.

In the judge, `got - expected` with a learner array of shape (10**5, 1) against an expected
(1, 10**5) broadcasts to 10**10 elements: the judge, not the learner, pays for it in memory and
time. `expect.shape`, `expect.close` and `expect.equal` compare shapes first, so arithmetic on
a value is safe once one of them has seen it.

`arithmetic_before_shape(code)` reads a test cell's statements in the order they run (inside
loops and conditions too; the bodies of its functions, scenarios included, run elsewhere and are
left out) and returns, for each learner
value used in arithmetic, a comparison or a broadcasting function before any of those checks
saw it, the line and the expression. A learner value is what `learner.<name>(...)` or
`<scenario>.learner()` returns, the names it is unpacked into, and items of them (`got["w"]`).
"""

from __future__ import annotations

import ast

SHAPE_CHECKS = {"shape", "close", "equal"}  # expect.* calls that compare shapes before anything else
BROADCASTING = {"allclose", "isclose", "maximum", "minimum", "where", "matmul", "dot", "einsum", "array_equal", "subtract", "add", "multiply", "divide"}


def _is_learner_call(node) -> bool:
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    owner = node.func.value
    return (isinstance(owner, ast.Name) and owner.id == "learner") or node.func.attr == "learner"


def _base(node) -> str | None:
    while isinstance(node, ast.Subscript):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _constant(node) -> bool:
    if isinstance(node, ast.UnaryOp):
        node = node.operand
    return isinstance(node, ast.Constant)


def _names(target) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, (ast.Tuple, ast.List)):
        return [n for element in target.elts for n in _names(element)]
    return []


def arithmetic_before_shape(code: str) -> list[tuple[int, str]]:
    tree = ast.parse(code)
    learner_values: set[str] = set()
    checked: set[str] = set()
    found: list[tuple[int, str]] = []

    def is_learner_value(node) -> bool:
        return _base(node) in learner_values if isinstance(node, (ast.Name, ast.Subscript)) else False

    def unchecked(node) -> bool:
        if not is_learner_value(node):
            return False
        text, prefixes = ast.unparse(node), []
        while isinstance(node, ast.Subscript):
            node = node.value
            prefixes.append(ast.unparse(node))
        return text not in checked and not any(p in checked for p in prefixes)

    def walk(node):
        """Nodes of one statement, not entering function bodies or lambdas."""
        yield node
        for child in ast.iter_child_nodes(node):
            if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
                yield from walk(child)

    def header(statement):
        """A compound statement's own expressions (a loop's iterable, a condition), its body left out."""
        parts = {ast.For: ("target", "iter"), ast.AsyncFor: ("target", "iter"), ast.While: ("test",), ast.If: ("test",),
                 ast.With: ("items",), ast.AsyncWith: ("items",)}.get(type(statement), ())
        values = [getattr(statement, part) for part in parts]
        return [v for value in values for v in (value if isinstance(value, list) else [value])]

    def visit(statements):
        """Statements in the order they run: the body of a loop, condition or with-block statement by statement."""
        for statement in statements:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            if isinstance(statement, (ast.For, ast.AsyncFor, ast.While, ast.If, ast.With, ast.AsyncWith, ast.Try)):
                for expression in header(statement):
                    one(expression)
                for block in ("body", "orelse", "finalbody"):
                    visit(getattr(statement, block, []))
                for handler in getattr(statement, "handlers", []):
                    visit(handler.body)
            else:
                one(statement)

    def one(statement):
        for node in walk(statement):
            operands = []
            if isinstance(node, ast.BinOp):
                operands = [node.left, node.right]
            elif isinstance(node, ast.Compare) and not any(isinstance(op, (ast.In, ast.NotIn, ast.Is, ast.IsNot)) for op in node.ops):
                operands = [node.left, *node.comparators]
            elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in BROADCASTING:
                operands = list(node.args)
            if sum(not _constant(o) for o in operands) < 2:
                continue  # against a number: linear in the value's size, which the channel bounds, never a broadcast
            for operand in operands:
                if unchecked(operand):
                    found.append((node.lineno, ast.unparse(operand)))
        for node in walk(statement):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and getattr(node.func.value, "id", None) == "expect"
                    and node.func.attr in SHAPE_CHECKS and node.args):
                for argument in node.args[: 1 if node.func.attr == "shape" else 2]:  # close and equal compare both shapes
                    checked.add(ast.unparse(argument))
                    if isinstance(argument, ast.Subscript) and not isinstance(argument.slice, ast.Constant):
                        checked.add(ast.unparse(argument.value))  # got[key] in a loop over the keys: all of got
        if isinstance(statement, ast.Assign) and _is_learner_call(statement.value):
            for target in statement.targets:
                for name in _names(target):
                    learner_values.add(name)
                    checked.difference_update({c for c in checked if c == name or c.startswith(name + "[")})  # a new value: unchecked again
        elif isinstance(statement, ast.Assign):
            for target in statement.targets:
                for name in _names(target):  # a name bound to something else is no longer a learner value
                    learner_values.discard(name)

    visit(tree.body)
    return sorted(set(found))
