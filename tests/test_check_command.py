"""`grader check`: the verdict, the summary line, the exit code, JSON, and the gradebook record."""

import json
import sqlite3

import pytest

from grader.cli import main

from conftest import WRITTEN


@pytest.mark.cpu
def test_untouched_release_scores_zero_with_a_list_of_what_to_do(course_copy, capsys):
    """(Every assignment's stub fails every test: the self-test item `stub-fails`; here, the command.)"""
    assignment = WRITTEN[0]
    assert main(["start", assignment, "--learner", "ada"]) == 0
    assert main(["check", assignment, "--learner", "ada"]) == 1
    out = capsys.readouterr().out
    assert "0/" in out and "visible 0/" in out and "hidden 0/" in out
    assert "not implemented" in out


@pytest.mark.cpu
def test_solution_scores_full_points_and_exits_zero(course_copy, capsys):
    assignment = "13-attention"  # torch, and a GPU test not run here
    solution = course_copy.solution_notebook(assignment)
    assert main(["check", assignment, str(solution), "--learner", "ada", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    not_run = sum(r["max_points"] for r in data["results"] if r["status"] == "not run")
    assert not_run > 0 and data["points"] + not_run == data["max_points"] and data["complete"]  # GPU points inside the maximum
    for result in data["results"]:
        assert {"name", "words", "points", "max_points", "status", "category", "message", "hidden", "gpu"} <= set(result)
        assert result["status"] in ("passed", "not run")


@pytest.mark.cpu
def test_results_are_recorded_beside_nbgrader_grades(course_copy, capsys):
    assignment = WRITTEN[0]
    main(["check", assignment, str(course_copy.release_notebook(assignment)), "--learner", "ada"])
    main(["check", assignment, str(course_copy.solution_notebook(assignment)), "--learner", "ada"])
    capsys.readouterr()
    db = sqlite3.connect(course_copy.root / "gradebook.db")
    attempts = db.execute("select count(distinct attempt), sum(points), sum(max_points) from grader_test_results where learner='ada'").fetchone()
    assert attempts[0] == 2 and 0 < attempts[1] < attempts[2]
    nbgrader_scores = db.execute(
        "select sum(grade.auto_score), sum(grade_cells.max_score) from grade join grade_cells on grade.cell_id = grade_cells.id"
    ).fetchone()
    assert nbgrader_scores[0] == nbgrader_scores[1] > 0  # the latest attempt, as nbgrader sees it


@pytest.mark.cpu
def test_not_gradable_notebook_is_reported_not_crashed(course_copy, tmp_path, capsys):
    broken = tmp_path / "broken.ipynb"
    broken.write_text('{"cells": [')
    assert main(["check", WRITTEN[0], str(broken), "--learner", "ada"]) == 1
    assert "not gradable" in capsys.readouterr().out


@pytest.mark.cpu
def test_unknown_assignment_is_a_clear_error(course_copy, capsys):
    assert main(["check", "99-nothing"]) == 2
    assert "no assignment '99-nothing'" in capsys.readouterr().err


@pytest.mark.cpu
def test_bad_learner_name_is_refused(course_copy, capsys):
    assert main(["check", WRITTEN[0], "--learner", "../../etc"]) == 2
    assert "learner name" in capsys.readouterr().err


@pytest.mark.cpu
def test_gradebook_from_an_older_grader_is_upgraded(course_copy, capsys):
    """A grader_test_results table without later columns gains them instead of failing."""
    db = sqlite3.connect(course_copy.root / "gradebook.db")
    db.execute(
        "create table grader_test_results (id integer primary key, learner varchar, assignment varchar, attempt datetime,"
        " test varchar, words text, status varchar, points float, max_points float, hidden boolean, gpu boolean,"
        " category varchar, message text)"
    )
    db.commit()
    assert main(["check", WRITTEN[0], str(course_copy.release_notebook(WRITTEN[0])), "--learner", "ada"]) == 1
    assert "could not record" not in capsys.readouterr().err
    columns = [row[1] for row in db.execute("pragma table_info(grader_test_results)")]
    assert "misconception" in columns
    assert db.execute("select count(*) from grader_test_results").fetchone()[0] > 0
