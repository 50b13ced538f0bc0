"""Fuzzing what a learner sends: malformed notebooks through reading, malformed values through decoding and judging.

Whatever comes in, the grader answers with a result or "not gradable: reason", never with an
exception of its own (a grader fault), and never takes long doing so.
"""

from __future__ import annotations

import copy
import json
import os
import random
import struct
import time
from pathlib import Path

import numpy as np
import pytest

from grader.course import Course, SandboxLimits
from grader.judging.judge import check
from grader.notebook.answer import learner_cells
from grader.notebook.reading import NotGradable, parse_notebook
from grader.sandbox.plain_data import NotPlainData, decode, encode

COURSE = Course.find(Path(__file__).parent)
ASSIGNMENT = "01-linear-algebra"

ODD_VALUES = [
    None, True, 0, -1, 10**400, 1e308, float("nan"), "", "x" * 10_000, "\ud800", "\x00", [], {}, [[[[[]]]]],
    {"": None}, {"cell_type": "code"}, ["a", 1, None], "Infinity", -0.0, {"nbgrader": []}, {"grade_id": {}},
]


def _mutations(notebook: dict, rng: random.Random):
    """Copies of `notebook` with one random structural change each, somewhere in the tree."""
    paths = []

    def walk(node, path):
        paths.append(path)
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, path + [key])
        elif isinstance(node, list):
            for index, value in enumerate(node[:40]):
                walk(value, path + [index])

    walk(notebook, [])
    while True:
        mutant = copy.deepcopy(notebook)
        path = rng.choice(paths[1:])
        parent = mutant
        for step in path[:-1]:
            parent = parent[step]
        action = rng.choice(["replace", "delete", "nest", "duplicate"])
        if action == "replace":
            parent[path[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        elif action == "delete":
            del parent[path[-1]]
        elif action == "nest":
            deep = parent[path[-1]]
            for _ in range(rng.choice([2, 50, 5000])):
                deep = [deep]
            parent[path[-1]] = deep
        elif isinstance(parent, list):
            parent.insert(path[-1], copy.deepcopy(parent[path[-1]]))
        else:
            parent[f"{path[-1]}-again"] = copy.deepcopy(parent[path[-1]])
        yield mutant


def _serialised(mutant) -> bytes:
    try:
        return json.dumps(mutant).encode("utf-8", "surrogatepass")
    except RecursionError:
        return b"[" * 100_000


@pytest.mark.cpu
def test_malformed_notebooks_are_read_or_refused_with_a_reason():
    """500 random structural mutants of the release notebook, and byte-level damage: a notebook or NotGradable, nothing else."""
    source = COURSE.source_notebook(ASSIGNMENT)
    text = COURSE.release_notebook(ASSIGNMENT).read_bytes()
    notebook = json.loads(text)
    rng = random.Random(14)
    read, refused = 0, 0
    started = time.monotonic()
    cases = [_serialised(m) for m, _ in zip(_mutations(notebook, rng), range(500))]
    for _ in range(100):  # byte-level damage: truncation, a flipped byte, invalid UTF-8
        data = bytearray(text)
        position = rng.randrange(len(data))
        choice = rng.randrange(3)
        if choice == 0:
            data = data[:position]
        elif choice == 1:
            data[position] = rng.randrange(256)
        else:
            data[position:position] = b"\xff\xfe"
        cases.append(bytes(data))
    for data in cases:
        try:
            cells = learner_cells(source, parse_notebook(data))
        except NotGradable as error:
            assert str(error), "a refusal must say why"
            refused += 1
            continue
        assert all(isinstance(c.code, str) and isinstance(c.name, str) for c in cells)
        read += 1
    assert read > 50 and refused > 50, (read, refused)  # both ways were exercised
    assert time.monotonic() - started < 60


@pytest.mark.cpu
def test_malformed_messages_only_ever_raise_value_error():
    """Random damage to encoded values: decoding gives a value or ValueError, never another error, and stays fast."""
    rng = random.Random(7)
    values = [
        [1, 2.5, "three", None, True, b"\x00\x01", (4, 5j)],
        {"a": np.arange(12.0).reshape(3, 4), 7: [np.float32(1.5)], "deep": [[[[1]]]]},
        np.zeros((0, 3), dtype=np.int64), np.array(True), [float("inf"), float("nan")],
    ]
    started = time.monotonic()
    for value in values:
        data = encode(value)
        for _ in range(400):
            damaged = bytearray(data)
            for _ in range(rng.choice([1, 2, 8])):
                position = rng.randrange(len(damaged))
                damaged[position] = rng.randrange(256)
            if rng.random() < 0.2:
                damaged = damaged[: rng.randrange(len(damaged))]
            try:
                decode(bytes(damaged))
            except ValueError:
                pass
    for header in [b'{"t": "dict", "k": [{"t": "int", "v": "1"}], "v": []}', b'{"t": "ndarray", "a": {"dtype": "object", "shape": [1], "n": 8}}',
                   b'{"t": "ndarray", "a": {"dtype": "float64", "shape": [-1], "n": 8}}', b'{"t": "int", "v": "' + b"9" * 100_000 + b'"}',
                   b'{"t": "list", "v": {"t": "atom"}}', b'{"t": "complex", "v": ["nan"]}', b"[" * 100_000, b'{"t": "bytes", "n": 1e300}',
                   b'{"t": "ndarray", "a": {"dtype": "float64", "shape": [4294967296, 4294967296], "n": 0}}']:
        with pytest.raises(ValueError):
            decode(struct.pack("<I", len(header)) + header)
    assert time.monotonic() - started < 30


RANDOM_ANSWERS = r'''
import numpy as _np

_ODD = [None, 0, -1, 10**300, 1e308, float("nan"), float("inf"), "", "[red]markup[/red]", b"\x00",
        [], {}, [[[]]], {1: 2}, (1, "a"), 3j, _np.zeros((0,)), _np.zeros((2, 0, 3)), _np.array(True),
        _np.full((3, 3), _np.nan), _np.arange(7, dtype=_np.uint8), _np.ones((1, 1, 1, 1, 1, 1)),
        _np.array([1e308, -1e308]), _np.eye(3, dtype=_np.complex128)]

def _odd(*args, **kwargs):
    return _ODD[(len(args) * 7 + len(kwargs) + SEED) % len(_ODD)]
'''


@pytest.mark.cpu
@pytest.mark.parametrize("seed", [0, 5, 11])
@pytest.mark.parametrize("assignment", ["01-linear-algebra", "13-attention"])
def test_odd_learner_values_fail_tests_and_never_fault_the_judge(tmp_path, assignment, seed):
    """Every stub returns odd plain data (empty, NaN, huge, wrong kinds): failed tests with reasons, 0 points, no grader fault."""
    from test_threat_model import notebook_with, stub_functions

    code = RANDOM_ANSWERS.replace("SEED", str(seed)) + "\n".join(f"{name} = _odd" for name in stub_functions(assignment))
    path = tmp_path / f"{assignment}.ipynb"
    path.write_text(json.dumps(notebook_with(assignment, code)))
    limits = SandboxLimits(time_per_test=3, time_to_load=60, memory_mb=3072, processes=32, output_mb=8)
    report = check(COURSE, assignment, path, learner="fuzz", limits=limits)
    assert not report.grader_fault and not report.not_gradable, report.not_gradable
    assert report.points == 0, report.summary()
    for result in report.results:
        assert result.status in ("failed", "not run"), result
        assert result.category != "grader fault", result
        assert result.message, f"{result.name} failed without saying why"
