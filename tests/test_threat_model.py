"""One attack submission per item of GRADER.md's threat model, against both complete assignments.

Each attack starts from the release stub (which earns nothing honestly) and tries to win
points or cause harm. Each must score 0, leave the grader able to judge the next submission,
and write nothing outside autograded/ and the gradebook.
"""

from __future__ import annotations

import ast
import json
import os
import socket
import threading
from pathlib import Path

import pytest

from grader.notebook.cells import is_solution, is_test, read_source
from grader.course import Course, SandboxLimits
from grader.judging.judge import check

COURSE = Course.find(Path(__file__).parent)
ASSIGNMENTS = os.environ.get("GRADER_ATTACK_TARGETS", "01-linear-algebra 13-attention").split()
FAST = SandboxLimits(time_per_test=1.5, time_to_load=60, memory_mb=3072, processes=32, output_mb=8)


def stub_functions(assignment: str) -> list[str]:
    names = []
    for cell in read_source(COURSE.source_notebook(assignment))["cells"]:
        if is_solution(cell):
            names += [n.name for n in ast.parse(cell["source"]).body if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    return names


def replace_all(assignment: str, body: str, prelude: str = "") -> str:
    """Code that redefines every stub function with `body` (arguments: *args, **kwargs)."""
    indented = "\n".join("    " + line for line in body.strip().splitlines())
    functions = "\n\n".join(f"def {name}(*args, **kwargs):\n{indented}" for name in stub_functions(assignment))
    return prelude + "\n\n" + functions + "\n"


def notebook_with(assignment: str, code: str) -> dict:
    notebook = json.loads(COURSE.release_notebook(assignment).read_text())
    last = [c for c in notebook["cells"] if c["cell_type"] == "code" and is_solution(c)][-1]
    last["source"] = "".join(last["source"]) + "\n\n" + code
    return notebook


def judge(tmp_path: Path, assignment: str, notebook, limits: SandboxLimits = FAST):
    path = tmp_path / f"{assignment}.ipynb"
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))
    return check(COURSE, assignment, path, learner="attacker", limits=limits)


ATTACKS = {
    "patch-assertion-helpers": (
        "import numpy, numpy.testing, builtins\n"
        "def _patch(x=[numpy.testing.__setattr__('assert_allclose', lambda *a, **k: None),"
        " numpy.__setattr__('allclose', lambda *a, **k: True),"
        " builtins.__setattr__('AssertionError', type('Never', (Exception,), {}))]):\n    pass\n"
        "try:\n    import torch.testing\nexcept ImportError:\n    pass\n"
        "def _patch_torch(x=[__import__('torch').testing.__setattr__('assert_close', lambda *a, **k: None)]):\n    pass\n",
        "return None",
    ),
    "ipython-hooks": (
        "get_ipython().input_transformers_post.append(lambda lines: [])\n"
        "get_ipython().events.register('pre_run_cell', lambda *a: None)\n"
        "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n",
        "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\nreturn None",
    ),
    "always-equal-object": (
        "class AlwaysEqual:\n"
        "    def __eq__(self, other): return True\n"
        "    def __ne__(self, other): return False\n"
        "    def __getattr__(self, name): return lambda *a, **k: self\n",
        "return AlwaysEqual()",
    ),
    "lying-array-subclass": (
        "import numpy as np\n"
        "class Liar(np.ndarray):\n"
        "    def __eq__(self, other): return np.ones(np.shape(other), bool)\n"
        "    def __array_ufunc__(self, *a, **k): return np.zeros(())\n"
        "    def tobytes(self, *a, **k): return b''\n",
        "return np.zeros((2, 2)).view(Liar)",
    ),
    "read-hidden-tests-and-solutions": (
        f"COURSE_ROOT = {str(COURSE.root)!r}\n",
        "import glob, json\n"
        "found = []\n"
        "for path in glob.glob(COURSE_ROOT + '/source/*/*') + glob.glob(COURSE_ROOT + '/solutions/*/*'):\n"
        "    found.append(open(path).read())\n"
        "scope = {}\n"
        "for text in found:\n"
        "    for cell in json.loads(text)['cells']:\n"
        "        exec(''.join(cell['source']), scope)\n"
        "raise RuntimeError('read nothing')",
    ),
    "write-gradebook-and-results": (
        f"COURSE_ROOT = {str(COURSE.root)!r}\n",
        "import sqlite3, os\n"
        "for target in [COURSE_ROOT + '/gradebook.db', COURSE_ROOT + '/autograded/attacker.json', COURSE_ROOT + '/PWNED']:\n"
        "    try:\n"
        "        open(target, 'a').write('full marks')\n"
        "    except OSError:\n"
        "        pass\n"
        "db = sqlite3.connect(COURSE_ROOT + '/gradebook.db')\n"
        "db.execute('update grade set auto_score = 100')\n"
        "db.commit()\n"
        "return None",
    ),
    "exit-and-signals": (
        "import os, sys, signal\n",
        "choice = len(args) % 4\n"
        "if choice == 0:\n    os._exit(0)\n"
        "if choice == 1:\n    sys.exit(0)\n"
        "if choice == 2:\n    os.kill(os.getppid(), signal.SIGKILL)\n"
        "os.killpg(0, signal.SIGKILL)\n",
    ),
    "infinite-loop-swallowing-interrupts": (
        "",
        "while True:\n    try:\n        pass\n    except BaseException:\n        pass",
    ),
    "memory-bomb": ("import numpy as np\n", "hog = []\nwhile True:\n    hog.append(np.empty(1 << 27))"),
    "fork-bomb": (
        "import os\n",
        "while True:\n    try:\n        os.fork()\n    except BaseException:\n        pass",
    ),
}


# How the failures of some attacks must be reported, so a learner knows what happened.
EXPECTED_CATEGORY = {
    "infinite-loop-swallowing-interrupts": {"timeout"},
    "memory-bomb": {"memory", "crashed"},
    "fork-bomb": {"timeout"},
    "always-equal-object": {"not plain data", "exception"},  # "exception": a ValueError was expected instead
    "exit-and-signals": {"crashed", "exception"},
}


@pytest.fixture(scope="module")
def witness():
    """Everything under the course except autograded/ and the gradebook, to prove nothing changed."""
    def snapshot():
        state = {}
        for path in COURSE.root.rglob("*"):
            relative = path.relative_to(COURSE.root)
            if relative.parts[0] in {"autograded", ".git", ".pytest_cache", "tests"} or "__pycache__" in relative.parts or path.name.startswith("gradebook.db"):
                continue
            if path.is_file():
                state[str(relative)] = (path.stat().st_size, path.stat().st_mtime_ns)
        return state

    return snapshot


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_attack_scores_zero(tmp_path, witness, assignment, attack):
    before = witness()
    gradebook = COURSE.root / "gradebook.db"
    gradebook_before = gradebook.read_bytes() if gradebook.exists() else None
    prelude, body = ATTACKS[attack]
    report = judge(tmp_path, assignment, notebook_with(assignment, replace_all(assignment, body, prelude)))
    assert report.points == 0, f"{attack} earned {report.points} points: {report.summary()}"
    assert all(r.status != "passed" for r in report.results)
    if attack in EXPECTED_CATEGORY:
        categories = {r.category for r in report.results}
        assert categories <= EXPECTED_CATEGORY[attack] | {"needs a GPU"}, f"{attack} reported as {categories}"
    assert witness() == before, f"{attack} changed files in the course"
    assert (gradebook.read_bytes() if gradebook.exists() else None) == gradebook_before, f"{attack} changed the gradebook"
    assert not (COURSE.root / "PWNED").exists()
    # the grader is still able to judge an honest submission afterwards
    honest = check(COURSE, assignment, COURSE.solution_notebook(assignment), limits=COURSE.limits)
    assert honest.points == honest.max_points, honest.summary()


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_network_is_unreachable(tmp_path, assignment):
    """A learner process cannot connect to a server on this machine's loopback."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    connections = []

    def accept():
        for _ in range(50):
            try:
                connections.append(server.accept())
            except (socket.timeout, OSError):
                continue

    listener = threading.Thread(target=accept)
    listener.start()
    body = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1).sendall(b'leak')\nreturn None"
    report = judge(tmp_path, assignment, notebook_with(assignment, replace_all(assignment, body)))
    listener.join()
    server.close()
    assert report.points == 0
    assert connections == [], "the learner process reached the network"
    assert any("PermissionError" in r.message or "unreachable" in r.message.lower() or "OSError" in r.message for r in report.results)


def _edit_cells(assignment: str, edit) -> dict:
    notebook = json.loads(COURSE.release_notebook(assignment).read_text())
    notebook["cells"] = edit(notebook["cells"])
    return notebook


CELL_EDITS = {
    "deleted-solution-cell": (lambda cells: [c for c in cells if not is_solution(c)][:] , "missing"),
    "duplicated-solution-cell": (lambda cells: cells + [c for c in cells if is_solution(c)][:1], "appears 2 times"),
    "retyped-solution-cell": (lambda cells: [dict(c, cell_type="markdown", outputs=None) if is_solution(c) else c for c in cells], "changed to a markdown cell"),
}


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("edit", sorted(CELL_EDITS))
def test_tampered_cells_are_not_gradable(tmp_path, assignment, edit):
    change, reason = CELL_EDITS[edit]
    notebook = _edit_cells(assignment, change)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "markdown":
            cell.pop("outputs", None)
            cell.pop("execution_count", None)
    report = judge(tmp_path, assignment, notebook)
    assert report.not_gradable and reason in report.not_gradable
    assert report.points == 0


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reordered_and_deleted_test_cells_change_nothing(tmp_path, assignment):
    """Solution cells are found by grade_id and tests come from source/: order and deletions do not matter."""
    solution = json.loads(COURSE.solution_notebook(assignment).read_text())
    cells = [c for c in solution["cells"] if not is_test(c)]
    solution["cells"] = list(reversed(cells))
    report = judge(tmp_path, assignment, solution, limits=COURSE.limits)
    assert report.points == report.max_points, report.summary()
    stub = _edit_cells(assignment, lambda cells: list(reversed([c for c in cells if not is_test(c)])))
    assert judge(tmp_path, assignment, stub).points == 0


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_invalid_json_is_not_gradable(tmp_path, assignment):
    text = COURSE.release_notebook(assignment).read_text()[:-40]
    report = judge(tmp_path, assignment, text)
    assert report.not_gradable and "not valid JSON" in report.not_gradable
    assert report.points == 0 and len(report.results) > 0
