"""One attack submission per item of GRADER.md's threat model, against both complete assignments.

Each attack starts from the release stub (which earns nothing honestly) and tries to win
points or cause harm. Each must score 0, leave the grader able to judge the next submission,
and write nothing outside autograded/ and the gradebook.
"""

from __future__ import annotations

import ast
import json
import os
import re
import socket
import threading
import time
from pathlib import Path

import numpy as np
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
    assert honest.points == _runnable_points(honest), honest.summary()


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


def _runnable_points(report) -> float:
    """Full marks on this machine: the maximum less the GPU tests not run here (they count in the maximum)."""
    return report.max_points - sum(r.max_points for r in report.results if r.status == "not run")


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reordered_and_deleted_test_cells_change_nothing(tmp_path, assignment):
    """Solution cells are found by grade_id and tests come from source/: order and deletions do not matter."""
    solution = json.loads(COURSE.solution_notebook(assignment).read_text())
    cells = [c for c in solution["cells"] if not is_test(c)]
    solution["cells"] = list(reversed(cells))
    report = judge(tmp_path, assignment, solution, limits=COURSE.limits)
    assert report.points == _runnable_points(report), report.summary()
    stub = _edit_cells(assignment, lambda cells: list(reversed([c for c in cells if not is_test(c)])))
    assert judge(tmp_path, assignment, stub).points == 0


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_invalid_json_is_not_gradable(tmp_path, assignment):
    text = COURSE.release_notebook(assignment).read_text()[:-40]
    report = judge(tmp_path, assignment, text)
    assert report.not_gradable and "not valid JSON" in report.not_gradable
    assert report.points == 0 and len(report.results) > 0


# --- files that are not what they claim -------------------------------------------------------


@pytest.mark.cpu
def test_notebooks_that_are_not_plain_files_are_refused_without_waiting(tmp_path):
    """A FIFO, a link to a device or to another file, a sparse huge file, JSON nested without end, too many cells."""
    assignment = ASSIGNMENTS[0]
    fifo = tmp_path / "fifo.ipynb"
    os.mkfifo(fifo)  # opening it for reading would block for ever
    device = tmp_path / "device.ipynb"
    device.symlink_to("/dev/zero")  # an endless read
    borrowed = tmp_path / "borrowed.ipynb"
    borrowed.symlink_to(COURSE.solution_notebook(assignment))  # another learner's (or the solution's) file
    huge = tmp_path / "huge.ipynb"
    with open(huge, "wb") as handle:  # sparse: 65 MiB on paper, nothing on disk
        handle.truncate(65 << 20)
    nested = tmp_path / "nested.ipynb"
    nested.write_text("[" * 100_000 + "]" * 100_000)
    crowded = tmp_path / "crowded.ipynb"
    release = json.loads(COURSE.release_notebook(assignment).read_text())
    crowded.write_text(json.dumps({**release, "cells": release["cells"] + [{"cell_type": "raw", "source": "", "metadata": {}}] * 6000}))
    big_cell = tmp_path / "big-cell.ipynb"
    last = [c for c in release["cells"] if is_solution(c)][-1]
    last["source"] = "".join(last["source"]) + "\n# " + "x" * (300 * 1024) + "\n"
    big_cell.write_text(json.dumps(release))
    expected = {fifo: "not a regular file", device: "symbolic link", borrowed: "symbolic link", huge: "larger than",
                nested: "too deeply", crowded: "more than", big_cell: "KiB of code"}
    for path, reason in expected.items():
        report = check(COURSE, assignment, path, learner="attacker", limits=FAST)
        assert report.not_gradable and reason in report.not_gradable, (path.name, report.not_gradable)
        assert report.points == 0 and not report.grader_fault


@pytest.mark.cpu
def test_infinite_expected_values_need_exact_agreement():
    """atol + rtol * inf would allow any finite answer where the reference overflows to inf."""
    from grader.judging import expect

    for learner_value in (0.0, 1e308, -np.inf, np.nan):
        with pytest.raises(expect.Failure):
            expect.close(np.array([1.0, learner_value]), np.array([1.0, np.inf]), what="values")
    expect.close(np.array([1.0, np.inf, -np.inf]), np.array([1.0, np.inf, -np.inf]), what="values")
    with pytest.raises(expect.Failure):
        expect.close(np.array([0.0]), np.array([np.nan]), what="values")


@pytest.mark.cpu
def test_class_grading_follows_no_links_and_grades_the_bytes_it_hashed(course_copy):
    """A learner folder, an assignment folder or a timestamp linked to another learner's earns nothing for it."""
    from grader.class_grading.batch import autograde, find_submissions

    assignment = ASSIGNMENTS[0]
    name = f"{assignment}.ipynb"
    honest = course_copy.submitted / "ada" / assignment
    honest.mkdir(parents=True)
    (honest / name).write_text(course_copy.solution_notebook(assignment).read_text())
    (honest / "timestamp.txt").write_text("2026-12-01 10:00:00.000000 UTC")
    (course_copy.submitted / "mallory").symlink_to(course_copy.submitted / "ada")  # the whole learner folder
    (course_copy.submitted / "trudy").mkdir()
    (course_copy.submitted / "trudy" / assignment).symlink_to(honest)  # the assignment folder
    own = course_copy.submitted / "oscar" / assignment
    own.mkdir(parents=True)
    (own / name).write_text(course_copy.release_notebook(assignment).read_text())
    (own / "timestamp.txt").symlink_to(honest / "timestamp.txt")
    found = {s.learner: s for s in find_submissions(course_copy, assignment)}
    assert found["ada"].sha256 and not found["ada"].problem
    for learner in ("mallory", "trudy"):
        assert not found[learner].sha256 and "symbolic link" in found[learner].problem

    batch = autograde(course_copy, assignment, workers=1, grade=_fake_grade)
    outcomes = {o.learner: o for o in batch.outcomes}
    assert "symbolic link" in outcomes["mallory"].reason and "symbolic link" in outcomes["trudy"].reason
    assert outcomes["ada"].reason == "fake grade of ada"
    assert not (course_copy.autograded / "oscar" / assignment / "timestamp.txt").exists()  # a linked timestamp is not copied
    assert not (course_copy.root / ".grader-staging").joinpath(assignment).exists()  # the private copies are removed


def _fake_grade(course_root, assignment, learner, notebook):
    """A worker function that tells which file it was handed (a private staged copy) instead of judging."""
    from grader.class_grading.workers import not_gradable_report

    staged = ".grader-staging" in notebook and Path(notebook).name == f"{assignment}.ipynb"
    return not_gradable_report(Course(Path(course_root)), assignment, learner, notebook, f"fake grade of {learner}" if staged else notebook).to_dict()


@pytest.mark.cpu
def test_a_self_check_never_replaces_the_class_grade_and_a_typo_records_nothing(course_copy, monkeypatch, capsys):
    """After `grader autograde`, a learner's `grader check` adds attempts but leaves nbgrader's grade alone."""
    import sqlite3

    from grader.class_grading.batch import autograde
    from grader.cli import main

    assignment = ASSIGNMENTS[0]
    folder = course_copy.submitted / "ada" / assignment
    folder.mkdir(parents=True)
    (folder / f"{assignment}.ipynb").write_text(course_copy.release_notebook(assignment).read_text())
    autograde(course_copy, assignment, workers=1, grade=_fake_grade)  # the instructor's grade: 0 points

    def class_grade() -> float:
        db = sqlite3.connect(course_copy.root / "gradebook.db")
        try:
            return db.execute("select coalesce(sum(g.auto_score), 0) from grade g join submitted_notebook sn on g.notebook_id = sn.id "
                              "join submitted_assignment sa on sn.assignment_id = sa.id where sa.student_id = 'ada'").fetchone()[0]
        finally:
            db.close()

    def attempts(learner: str) -> int:
        db = sqlite3.connect(course_copy.root / "gradebook.db")
        try:
            return db.execute("select count(distinct attempt) from grader_test_results where learner = ?", (learner,)).fetchone()[0]
        finally:
            db.close()

    assert class_grade() == 0
    before = attempts("ada")
    monkeypatch.setenv("GRADER_LEARNER", "ada")
    assert main(["check", assignment, str(course_copy.solution_notebook(assignment))]) == 0  # full marks, as a self-check
    assert class_grade() == 0 and attempts("ada") == before + 1
    monkeypatch.setenv("GRADER_LEARNER", "bob")
    assert main(["check", assignment, "no-such-notebook.ipynb"]) == 2
    assert "no notebook" in capsys.readouterr().err and attempts("bob") == 0


# --- what a hidden test may say ---------------------------------------------------------------


@pytest.mark.cpu
def test_hidden_failures_give_an_order_of_magnitude_not_positions_or_learner_text(tmp_path):
    """Repeated checks must not rebuild a hidden expected output, nor echo hidden inputs through the learner's own messages."""
    assignment = "13-attention"
    nudged = ("def scaled_dot_product_attention(q, k, v, mask=None, _true_attention=scaled_dot_product_attention):\n"
              "    if tuple(q.shape) == (2, 5, 4) and float(q.abs().max()) > 50:  # the hidden large-logit case\n"
              "        raise ValueError('hidden input: ' + repr(q.tolist()))  # smuggle what the test sent\n"
              "    out, w = _true_attention(q, k, v, mask)\n"
              "    return out * 1.01, w\n")
    notebook = json.loads(COURSE.solution_notebook(assignment).read_text())
    last = [c for c in notebook["cells"] if is_solution(c) and "def scaled_dot_product_attention" in "".join(c["source"])][-1]
    last["source"] = "".join(last["source"]) + "\n\n" + nudged
    report = judge(tmp_path, assignment, notebook)
    hidden_failures = [r for r in report.results if r.hidden and r.status == "failed"]
    assert hidden_failures, "the nudged attention must lose hidden points"
    smuggled = next(r for r in report.results if r.name == "attention_large_logits")
    assert smuggled.status == "failed" and "ValueError" in smuggled.message and "not shown for hidden tests" in smuggled.message
    for result in hidden_failures:
        assert "hidden input" not in result.message and "at index" not in result.message, result.message
        if result.category == "tolerance":
            assert "off by about 1e" in result.message and not re.search(r"\d+ of \d+ entries", result.message), result.message
    visible = [r for r in report.results if not r.hidden and r.status == "failed" and r.category == "tolerance"]
    assert all("off by up to" in r.message for r in visible)  # visible tests keep their full detail


@pytest.mark.cpu
def test_a_scenario_defined_in_a_hidden_part_is_never_sent(course_copy, tmp_path):
    """The judge refuses to send hidden code into the learner process, whatever the author wrote."""
    assignment = "13-attention"
    path = course_copy.source_notebook(assignment)
    source = json.loads(path.read_text())
    for cell in source["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "padding_mask_hides_padded_keys":
            code = "".join(cell["source"])
            marker = "### BEGIN HIDDEN TESTS\n"
            start, end = code.index("@scenario"), code.index(marker)
            scenario, rest = code[start:end], code[:start] + code[end:]
            cell["source"] = rest.replace(marker, marker + scenario)  # the scenario now lives in the hidden part
    path.write_text(json.dumps(source))
    report = check(course_copy, assignment, course_copy.solution_notebook(assignment), learner="author", limits=FAST)
    moved = next(r for r in report.results if r.name == "padding_mask_hides_padded_keys")
    assert moved.status == "failed" and "defined in its hidden part" in moved.message
    assert all(r.status == "passed" for r in report.results if r.name != moved.name and not r.gpu)


# --- the learner process reaches nothing shared ------------------------------------------------

PROBE = r'''
import glob, os, subprocess, time

def listing(folder):
    try:
        return sorted(os.listdir(folder))
    except OSError as error:
        return type(error).__name__

def look(plant):
    """What the learner process can see and do, as plain data."""
    seen = {"uid": os.getuid(), "euid": os.geteuid(), "dev": listing("/dev"),
            "planted_in_tmp": os.path.exists(plant), "tmp": listing("/tmp"), "shm": listing("/dev/shm")}
    with open("/proc/self/status") as status:
        seen["caps"] = [line.split()[1] for line in status if line.startswith("CapEff")][0]
    for secret in ["/etc/shadow", "/etc/jupyter", "/etc/hostname", "/root"]:
        try:
            seen[secret] = sorted(os.listdir(secret)) if os.path.isdir(secret) else open(secret).read()[:10]
        except OSError as error:
            seen[secret] = type(error).__name__
    open("/dev/shm/left-behind", "w").write("from one learner to the next")
    try:
        with open("big", "wb") as big:
            for _ in range(400):
                big.write(b"x" * (1 << 20))
        seen["wrote_mb"] = 400
    except OSError as error:
        seen["wrote_mb"] = os.path.getsize("big") >> 20
    os.remove("big")
    daemon = subprocess.Popen(["/bin/sh", "-c", "sleep 300"], start_new_session=True)
    seen["daemon"] = daemon.pid
    return seen
'''


def _probe_process(limits: SandboxLimits):
    from grader.notebook.answer import Cell
    from grader.sandbox.handle import LearnerProcess, start_zygote

    zygote = start_zygote(["numpy"])
    process = LearnerProcess(COURSE.root, [Cell("probe", PROBE)], limits, COURSE.release / "01-linear-algebra", 1, zygote)
    process.start()
    return zygote, process


def _grader_traces() -> set[str]:
    """What judges in this process left (traces are named grader-<judge pid>-): another pytest worker's are its own."""
    import tempfile

    mine = f"grader-{os.getpid()}-*"
    found = set(glob_paths(os.path.join(tempfile.gettempdir(), mine)))
    for root in ("/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup"):
        found |= set(glob_paths(os.path.join(root, mine)))
    return found


def _still_running(pid: int, wait: float = 3.0) -> bool:
    """Whether process `pid` is alive after `wait` seconds (a zombie waiting for its reaper is dead)."""
    end = time.monotonic() + wait
    while time.monotonic() < end:
        try:
            state = [line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State:")]
        except OSError:
            return False
        if state and state[0].split()[1] in ("Z", "X"):
            return False
        time.sleep(0.05)
    return True


def glob_paths(pattern: str) -> list[str]:
    import glob

    return glob.glob(pattern)


@pytest.mark.cpu
def test_the_learner_process_is_unprivileged_and_sees_only_its_own_files(tmp_path):
    """No root, no capabilities, a minimal /dev, a private /tmp and /dev/shm, an /etc allow-list, a quota; nothing survives."""
    import tempfile

    from grader.notebook.answer import Cell
    from grader.sandbox.deadline import Deadline
    from grader.sandbox.handle import LearnerProcess

    plant = Path(tempfile.gettempdir()) / "planted-by-another-learner"
    plant.write_text("data passed between learners")
    traces_before = _grader_traces()
    limits = SandboxLimits(time_per_test=10, time_to_load=60, memory_mb=3072, processes=32, output_mb=512, disk_mb=64)
    try:
        for round_ in range(2):  # two learners at once, then one after them: none sees what another left
            zygote, process = _probe_process(limits)
            beside = LearnerProcess(COURSE.root, [Cell("probe", PROBE)], limits, COURSE.release / "01-linear-algebra", 1, zygote)
            beside.start()
            try:
                if round_ == 0:
                    process.call("look", [str(plant)], {}, Deadline(10))  # writes /dev/shm, starts a daemon, then the other looks
                seen = (beside if round_ == 0 else process).call("look", [str(plant)], {}, Deadline(10))
                on = process.protections
            finally:
                process.stop()
                beside.stop()
                zygote.close()
            assert seen["uid"] != 0 and seen["euid"] != 0, seen
            assert int(seen["caps"], 16) == 0, seen["caps"]
            assert set(seen["dev"]) <= {"null", "zero", "random", "urandom", "shm", "fd", "stdin", "stdout", "stderr"}, seen["dev"]
            assert not seen["planted_in_tmp"] and seen["tmp"] in ([], "PermissionError"), seen["tmp"]
            assert seen["shm"] == [], f"round {round_}: /dev/shm holds {seen['shm']}"
            for secret in ["/etc/shadow", "/etc/jupyter", "/etc/hostname"]:
                assert seen[secret] in ("PermissionError", "FileNotFoundError"), (secret, seen[secret])
            assert seen["wrote_mb"] <= 64, f"wrote {seen['wrote_mb']} MiB past a 64 MiB quota"
            assert {"user", "devices", "temporary files", "disk", "shared memory"} <= set(on), on
            assert not _still_running(seen["daemon"]), "a process the learner started outlived the check"
    finally:
        plant.unlink()
    assert _grader_traces() <= traces_before, "the check left folders or cgroups behind"


@pytest.mark.cpu
def test_the_check_report_lists_the_protections(course_copy, capsys):
    from grader.cli import main

    main(["check", "01-linear-algebra", str(course_copy.solution_notebook("01-linear-algebra")), "--verbose"])
    words = capsys.readouterr().out
    for protection in ("user", "devices", "temporary files", "disk", "files", "network", "memory"):
        assert protection in words, f"the report does not say whether '{protection}' was on"


# --- grader autograde never waits on one submission for ever ----------------------------------


def grade_with_a_stuck_judge(course_root, assignment, learner, notebook):
    """The real worker function, except that for some learners the judge itself gets stuck.

    `looping`: in Python (the watchdog's exception reaches it); `sleeping`: inside one C call
    (only killing the worker ends it); `frozen`: the worker is stopped, its watchdog with it
    (only the pool's own watchdog ends it).
    """
    import grader.judging.judge as judge_module
    from grader.class_grading import workers

    real = judge_module.check
    stuck = {
        "looping": lambda *a, **k: [None for _ in iter(int, 1)],
        "sleeping": lambda *a, **k: time.sleep(10**6),
        "frozen": lambda *a, **k: os.kill(os.getpid(), __import__("signal").SIGSTOP),
    }
    judge_module.check = stuck.get(learner, real)
    try:
        return workers.grade(course_root, assignment, learner, notebook)
    finally:
        judge_module.check = real


@pytest.mark.cpu
def test_autograde_stops_a_stuck_judge_replaces_its_worker_and_goes_on(course_copy):
    from grader.class_grading.batch import autograde
    from grader.gradebook.reader import autograde_states

    with open(course_copy.root / "nbgrader_config.py", "a") as config:
        config.write("\nc.Sandbox.time_to_load = 3.0\nc.Sandbox.time_per_submission = 8.0\nc.Sandbox.judge_extra = 1.0\nc.Sandbox.judge_grace = 1.0\n")
    solution = COURSE.solution_notebook("01-linear-algebra").read_text()
    for learner in ("looping", "sleeping", "frozen", "fine"):
        folder = course_copy.submitted / learner / "01-linear-algebra"
        folder.mkdir(parents=True)
        (folder / "01-linear-algebra.ipynb").write_text(solution)
    started = time.monotonic()
    batch = autograde(course_copy, "01-linear-algebra", workers=2, grade=grade_with_a_stuck_judge)
    took = time.monotonic() - started
    outcomes = {o.learner: o for o in batch.outcomes}
    # graded by a real check beside the stuck ones (on a loaded machine some of its tests may run out of time)
    assert outcomes["fine"].status == "graded" and outcomes["fine"].points > 0, outcomes["fine"]
    for learner in ("looping", "sleeping", "frozen"):
        assert outcomes[learner].status == "not gradable" and "took too long" in outcomes[learner].reason, outcomes[learner]
    assert took < 120, f"the batch took {took:.0f} s"
    assert {k[0]: v["status"] for k, v in autograde_states(course_copy.db_url, "01-linear-algebra").items()} == {
        "looping": "not gradable", "sleeping": "not gradable", "frozen": "not gradable", "fine": "graded"}


# --- learner text is shown, never interpreted -------------------------------------------------

MARKUP = "[/][bold red]x[/bold red] [link=http://evil]y[/link] </td><script>alert(1)</script><b>z</b> ]]> \\"


@pytest.mark.cpu
def test_learner_text_in_names_and_messages_is_escaped_everywhere(course_copy, capsys):
    """A learner name and exception messages full of rich markup and HTML crash nothing and are shown as text."""
    from rich.console import Console

    from grader.class_grading.batch import autograde, print_summary
    from grader.cli import main
    from grader.report.check_cell import render
    from grader.report.terminal import print_report

    learner = "[bold]eve<script>"  # a folder name cannot hold "/", so no closing tag here; the messages have them
    folder = course_copy.submitted / learner / "01-linear-algebra"
    folder.mkdir(parents=True)
    body = f"raise ValueError({MARKUP!r})"
    (folder / "01-linear-algebra.ipynb").write_text(json.dumps(notebook_with("01-linear-algebra", replace_all("01-linear-algebra", body))))
    broken = course_copy.submitted / "[red]x]" / "01-linear-algebra"
    broken.mkdir(parents=True)
    (broken / "01-linear-algebra.ipynb").write_text('{"cells": [' + MARKUP)
    console = Console(record=True, width=200)
    batch = autograde(course_copy, "01-linear-algebra", workers=1, console=console)
    print_summary(batch, console)
    shown = console.export_text()
    assert "[red]x]: not gradable" in shown, f"learner names must be shown literally: {shown}"
    report = check(course_copy, "01-linear-algebra", folder / "01-linear-algebra.ipynb", learner=learner, limits=FAST)
    assert any(MARKUP[:20] in r.message for r in report.results), "the learner's own message (a visible test) should be quoted"
    console = Console(record=True, width=400)
    print_report(report, console)
    assert "[bold red]x[/bold red]" in console.export_text()
    page = render({**report.to_dict(), "road": MARKUP})
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert main(["feedback", "01-linear-algebra"]) == 0
    for feedback in (course_copy.feedback).rglob("*.html"):
        assert "<script>alert" not in feedback.read_text(), feedback
    assert main(["progress", "--all", "--html", str(course_copy.root / "class.html")]) == 0
    assert "<script>alert" not in (course_copy.root / "class.html").read_text()


def test_the_self_test_flags_arithmetic_on_a_learner_value_before_its_shape_is_checked():
    from grader.authoring.shapes_first import arithmetic_before_shape

    unsafe = 'got = learner.f(x)\nexpect.true(float(abs(got - expected).max()) < 1e-6, "far off")\n'
    assert arithmetic_before_shape(unsafe) == [(2, "got")]
    items = 'got = scene.learner()\nexpect.true(bool((got["a"] == got["b"]).all()), "differ")\n'
    assert [v for _, v in arithmetic_before_shape(items)] == ["got['a']", "got['b']"]
    safe = ('got = learner.f(x)\nexpect.shape(got, (3,), what="f(x)")\nexpect.true(float(abs(got - expected).max()) < 1, "far")\n'
            'other = learner.g(x)\nexpect.close(other, expected, what="g(x)")\nprint(other * expected, other > 0.5)\n'
            '@scenario\ndef s(ns):\n    out = ns.f(1)\n    return out - out\n')
    assert arithmetic_before_shape(safe) == []
    looped = ('for seed in (0, 1):\n    got = scene.learner(seed)\n    early = got["a"] - got["b"]\n'
              '    expect.shape(got["a"], (), what="a")\n    expect.shape(got["b"], (), what="b")\n    late = got["a"] - got["b"]\n'
              'got = scene.learner(2)\nagain = got["a"] - got["b"]\n')
    assert arithmetic_before_shape(looped) == [(3, "got['a']"), (3, "got['b']"), (8, "got['a']"), (8, "got['b']")]


GLOO_PROBE = '''
def probe(port):
    """All-reduce across two forked workers over gloo, then try the judge machine's own loopback server."""
    import os, socket, tempfile
    import torch, torch.distributed as dist, torch.multiprocessing as mp

    def work(rank, path):
        dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=2)
        total = torch.tensor([rank + 1.0])
        dist.all_reduce(total)
        dist.destroy_process_group()
        assert total.item() == 3.0

    seen = {}
    try:
        mp.start_processes(work, args=(os.path.join(os.getcwd(), "rendezvous"),), nprocs=2, start_method="fork")
        seen["all_reduce"] = "ok"
    except Exception as error:
        seen["all_reduce"] = repr(error)[-600:]
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).sendall(b"leak")
        seen["host"] = "reached"
    except OSError as error:
        seen["host"] = type(error).__name__
    return seen
'''


@pytest.mark.cpu
def test_loopback_serves_gloo_inside_the_sandbox_and_reaches_nothing_outside():
    """An assignment that asks for loopback gets its own 127.0.0.1: torch.distributed runs, the machine's stays out of reach."""
    from grader.notebook.answer import Cell
    from grader.sandbox.deadline import Deadline
    from grader.sandbox.handle import LearnerProcess, start_zygote

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    port = server.getsockname()[1]
    zygote = start_zygote(["torch"])
    try:
        seen = {}
        for loopback in (True, False):
            limits = SandboxLimits(time_per_test=60, time_to_load=60, memory_mb=4096, processes=128, loopback=loopback)
            process = LearnerProcess(COURSE.root, [Cell("probe", GLOO_PROBE)], limits, COURSE.release / "01-linear-algebra", 1, zygote)
            process.start()
            try:
                seen[loopback] = process.call("probe", [port], {}, Deadline(60))
                seen[loopback, "on"] = process.protections.get("network", "")
            finally:
                process.stop()
    finally:
        zygote.close()
        server.close()
    if "namespace" not in seen[True, "on"]:
        pytest.skip(f"no network namespace here ({seen[True, 'on']}): loopback is never offered without one")
    assert seen[True]["all_reduce"] == "ok", (seen[True], seen[True, "on"])
    assert "loopback only" in seen[True, "on"], seen[True, "on"]
    assert seen[True]["host"] != "reached" and seen[False]["host"] != "reached", seen
    assert seen[False]["all_reduce"] != "ok", "without loopback there should be no interface for gloo"


@pytest.mark.cpu
def test_an_assignment_sets_its_own_sandbox_limits_and_nothing_else(tmp_path):
    """`grader: sandbox:` in a source notebook raises that assignment's limits; unknown or wrong settings are refused."""
    from grader.course import Course, assignment_settings
    from grader.judging.judge import limits_for

    assert assignment_settings({"sandbox": {"processes": 256, "loopback": True}}, "x") == {"processes": 256, "loopback": True}
    for wrong in ({"sandbox": {"time_per_test": 999}}, {"sandbox": {"processes": -1}}, {"sandbox": {"loopback": "yes"}},
                  {"judge": {}}, {"sandbox": [1]}):
        with pytest.raises(ValueError, match="x: "):
            assignment_settings(wrong, "x")
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Sandbox.processes = 48\n")
    folder = tmp_path / "source" / "99-demo"
    folder.mkdir(parents=True)
    notebook = {"cells": [], "metadata": {"grader": {"sandbox": {"processes": 200, "loopback": True}}}, "nbformat": 4, "nbformat_minor": 4}
    (folder / "99-demo.ipynb").write_text(json.dumps(notebook))
    course = Course(tmp_path)
    own = limits_for(course, course.source_notebook("99-demo"))
    assert (own.processes, own.loopback) == (200, True)
    assert (course.limits.processes, course.limits.loopback) == (48, False)


@pytest.mark.cpu
def test_a_module_shipped_beside_the_notebook_imports_in_the_learner_process(tmp_path):
    """course_model.py beside a release notebook imports in the sandbox as in the learner's own kernel (a copy, not the course's)."""
    from grader.notebook.answer import Cell
    from grader.sandbox.deadline import Deadline
    from grader.sandbox.handle import LearnerProcess, start_zygote

    (tmp_path / "shipped_helper.py").write_text("ANSWER = 42\n")
    code = "def probe():\n    import shipped_helper, os\n    return [shipped_helper.ANSWER, os.path.dirname(shipped_helper.__file__) == os.getcwd()]\n"
    zygote = start_zygote(["numpy"])
    process = LearnerProcess(COURSE.root, [Cell("probe", code)], FAST, tmp_path, 1, zygote)
    process.start()
    try:
        assert process.call("probe", [], {}, Deadline(10)) == [42, True]
    finally:
        process.stop()
        zygote.close()
