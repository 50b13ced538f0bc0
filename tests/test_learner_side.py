"""The learner's side: one copy in one place, a check that names what it judged, and messages in plain words."""

import json
import sqlite3
from types import SimpleNamespace

import pytest

from grader.cli import main
from grader.judging import testing
from grader.report.plain_words import MORE, plain

ASSIGNMENT = "01-linear-algebra"


def _notebook(path):
    return json.loads(path.read_text())


def _attempts(course, learner="ada"):
    db = course.root / "gradebook.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as connection:
        return connection.execute(
            "select attempt, sum(points) from grader_test_results where learner=? group by attempt order by attempt", (learner,)
        ).fetchall()


@pytest.mark.cpu
def test_start_copies_where_nbgrader_fetch_does_and_check_names_that_file(course_copy, capsys):
    assert main(["start", ASSIGNMENT, "--learner", "ada"]) == 0
    copy = course_copy.root / "llm-course" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    assert copy.is_file() and not course_copy.submitted.exists()
    capsys.readouterr()
    assert main(["check", ASSIGNMENT, "--learner", "ada"]) == 1
    first = capsys.readouterr().out.splitlines()[0]
    assert first == f"checking llm-course/{ASSIGNMENT}/{ASSIGNMENT}.ipynb as {ASSIGNMENT}: every test, visible and hidden"


@pytest.mark.cpu
def test_check_without_a_copy_says_how_to_make_one_and_records_nothing(course_copy, capsys):
    assert main(["check", ASSIGNMENT, "--learner", "ada"]) == 2
    err = capsys.readouterr().err
    assert f"grader start {ASSIGNMENT}" in err and "no copy" in err
    assert _attempts(course_copy) == []


@pytest.mark.cpu
def test_a_path_that_is_not_a_notebook_never_replaces_a_grade(course_copy, tmp_path, capsys):
    solution = course_copy.solution_notebook(ASSIGNMENT)
    assert main(["check", ASSIGNMENT, str(solution), "--learner", "ada"]) == 0
    before = _attempts(course_copy)
    assert len(before) == 1 and before[0][1] > 0
    (tmp_path / "folder").mkdir()
    (tmp_path / "link.ipynb").symlink_to(solution)
    for wrong, words in [(tmp_path / "typo.ipynb", "no notebook"), (tmp_path / "folder", "is a folder"),
                         (tmp_path / "link.ipynb", "symbolic link")]:
        assert main(["check", ASSIGNMENT, str(wrong), "--learner", "ada"]) == 2
        assert words in capsys.readouterr().err
    assert _attempts(course_copy) == before


@pytest.mark.cpu
def test_another_assignments_notebook_is_refused_with_the_right_command(course_copy, capsys):
    other = course_copy.release_notebook("03-probability")
    assert main(["check", ASSIGNMENT, str(other), "--learner", "ada"]) == 2
    assert f"belongs to 03-probability, not {ASSIGNMENT}: check it with `grader check 03-probability" in capsys.readouterr().err
    assert _attempts(course_copy) == []


@pytest.mark.cpu
def test_a_copy_left_in_submitted_by_an_older_grader_is_moved_and_a_collected_one_is_not(course_copy, capsys):
    old = course_copy.submitted / "ada" / ASSIGNMENT
    old.mkdir(parents=True)
    (old / f"{ASSIGNMENT}.ipynb").write_text(course_copy.release_notebook(ASSIGNMENT).read_text())
    assert main(["start", ASSIGNMENT, "--learner", "ada"]) == 0
    assert "moved your copy" in capsys.readouterr().out
    assert not (course_copy.submitted / "ada").exists()
    assert (course_copy.root / "llm-course" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()

    collected = course_copy.submitted / "bob" / ASSIGNMENT
    collected.mkdir(parents=True)
    (collected / f"{ASSIGNMENT}.ipynb").write_text(course_copy.release_notebook(ASSIGNMENT).read_text())
    (collected / "timestamp.txt").write_text("2026-11-30 10:00:00.000000 UTC")
    assert main(["start", ASSIGNMENT, "--learner", "bob"]) == 0
    assert "moved" not in capsys.readouterr().out
    assert (collected / f"{ASSIGNMENT}.ipynb").is_file(), "a collected submission is nbgrader's, never moved"


@pytest.mark.cpu
def test_a_syntax_error_is_told_as_one_on_its_line(course_copy, capsys):
    assert main(["start", ASSIGNMENT, "--learner", "ada"]) == 0
    copy = course_copy.root / "llm-course" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    work = _notebook(course_copy.solution_notebook(ASSIGNMENT))
    cell = next(c for c in work["cells"] if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "cosine_similarity")
    source = "".join(cell["source"])
    cell["source"] = source.replace("def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray:",
                                    "def cosine_similarity(a: np.ndarray, b: np.ndarray) -> np.ndarray\n    pass", 1)
    copy.write_text(json.dumps(work))
    capsys.readouterr()
    assert main(["check", ASSIGNMENT, "--learner", "ada", "--json"]) == 1
    results = {r["name"]: r for r in json.loads(capsys.readouterr().out)["results"]}
    cosine = [r for name, r in results.items() if name.startswith("cosine")]
    assert cosine and all(r["category"] == "syntax error" for r in cosine)
    assert "'cosine_similarity' has a syntax error on line 1" in cosine[0]["message"]
    assert results["dense_layer_small_case"]["status"] == "passed", "only the broken cell's tests fail"


def test_plain_words_leave_the_sandbox_terms_to_verbose():
    assert plain("the result has shape (3,) where (4,) is expected") == "the result has shape (3,) where (4,) is expected"
    told = plain("your code was stopped: it used more memory than allowed (the cgroup's memory.max of 512 MiB)")
    assert told == f"your code was stopped: it used more memory than allowed {MORE}"
    assert plain("failed while defining your answer: unshare(CLONE_NEWNS) refused") == f"failed while defining your answer {MORE}"
    assert "zygote" not in plain("crashed; the zygote died; try again").lower()


def test_a_passing_visible_test_cell_says_so_in_the_kernel(capsys, monkeypatch):
    monkeypatch.setattr(testing, "_judge", None)
    cell = '"""softmax rows sum to one"""\nexpect.close(softmax(x).sum(-1), 1.0, what="row sums")\n'
    testing._say_if_passed(SimpleNamespace(success=True, info=SimpleNamespace(raw_cell=cell)))
    assert capsys.readouterr().out == "✓ passed: softmax rows sum to one\n"
    testing._say_if_passed(SimpleNamespace(success=False, info=SimpleNamespace(raw_cell=cell)))
    testing._say_if_passed(SimpleNamespace(success=True, info=SimpleNamespace(raw_cell="x = 1")))
    assert capsys.readouterr().out == "", "a failed cell, or one that checks nothing, says nothing"
