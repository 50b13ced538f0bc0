"""`grader progress`: one learner's road and a class's, from a gradebook filled by real checks.

The gradebook is filled once per module by three judged checks of 01-linear-algebra (the
reference solution, the release stub, and the stub with one solution cell copied in), each
recorded for the learners below as `grader check` records it; later tests get a copy of that
gradebook in their own course copy. One test cell is tagged `gpu` in the copy and CUDA is
reported absent, so every learner has a GPU test "not run", as on a CPU machine.

    ada   solution                        passed (all CPU points), the GPU test apart
    ben   stub, partly, partly            in progress, 3 attempts: stuck
    cy    solution, then stub             in progress: best 33, latest 0
    dee   stub                            in progress, 1 attempt
    eve   a notebook that is not JSON     in progress, not gradable (judged without a learner process)
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import json
import os
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from grader.notebook.cells import test_cells as source_tests  # not named test_*: pytest would collect it
from grader.progress.build import class_progress, learner_progress
from grader.progress.next_step import next_assignment
from grader.roadmap import load

ASSIGNMENT = "01-linear-algebra"
# The first assignment not written yet, or the last one once the road is complete: planned in the
# roadmap these tests use (`planned_roadmap`), whatever roadmap.toml says.
PLANNED = next((a.id for a in load().assignments if a.status != "written"), load().assignments[-1].id)
SOLVED_CELL = "cosine_similarity"  # the one solution cell the partly solved notebook gets
GPU_TEST = "cosine_zero_vectors_and_range"  # tagged `gpu` in the course copy
CHROMIUM = Path("/usr/bin/chromium")
_filled: dict[str, object] = {}  # the filled gradebook's bytes and the partly solved notebook's points


def grader_progress(*argv: str) -> int:
    """`grader progress ARGV`, as the command line runs it."""
    from grader.cli import main

    return main(["progress", *argv])


def _notebook(path: Path) -> dict:
    return json.loads(path.read_text())


def _grade_id(cell) -> str:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")


def _tag_gpu_test(course) -> None:
    source = course.source_notebook(ASSIGNMENT)
    notebook = _notebook(source)
    for cell in notebook["cells"]:
        if _grade_id(cell) == GPU_TEST:
            cell["metadata"].setdefault("tags", []).append("gpu")
    source.write_text(json.dumps(notebook))


def _partly_solved(course, folder: Path) -> Path:
    """The release notebook with the source of ONE solution cell copied from the solutions notebook."""
    notebook = _notebook(course.release_notebook(ASSIGNMENT))
    solved = {_grade_id(c): c["source"] for c in _notebook(course.solution_notebook(ASSIGNMENT))["cells"] if _grade_id(c)}
    [cell] = [c for c in notebook["cells"] if _grade_id(c) == SOLVED_CELL]
    cell["source"] = solved[SOLVED_CELL]
    path = folder / "partly.ipynb"
    path.write_text(json.dumps(notebook))
    return path


def _with_planned(roadmap):
    """The roadmap with PLANNED not written yet: the road as it stood before the course was complete."""
    assignments = tuple(dataclasses.replace(a, status="planned") if a.id == PLANNED else a for a in roadmap.assignments)
    return dataclasses.replace(roadmap, assignments=assignments)


@pytest.fixture
def planned_roadmap(monkeypatch):
    """The roadmap with one assignment planned, for the commands too (they read the roadmap through build)."""
    from grader.progress import build

    roadmap = _with_planned(load())
    monkeypatch.setattr(build, "_roadmap", lambda: roadmap)
    return roadmap


@pytest.fixture
def course(course_copy, tmp_path, monkeypatch):
    """course_copy with a gradebook filled by real judged checks (judged once per module, then copied)."""
    _tag_gpu_test(course_copy)
    db = course_copy.root / "gradebook.db"
    if "db" in _filled:
        db.write_bytes(_filled["db"])
        return course_copy
    from grader.judging import judge
    from grader.gradebook.writer import record

    monkeypatch.setattr(judge, "_cuda_available", lambda: False)  # a CPU machine, wherever this runs
    solution = judge.check(course_copy, ASSIGNMENT, course_copy.solution_notebook(ASSIGNMENT))
    stub = judge.check(course_copy, ASSIGNMENT, course_copy.release_notebook(ASSIGNMENT))
    partly = judge.check(course_copy, ASSIGNMENT, _partly_solved(course_copy, tmp_path))
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    broken = judge.check(course_copy, ASSIGNMENT, tmp_path / "broken.ipynb")
    assert solution.complete and not stub.points and 0 < partly.points < partly.max_points and broken.not_gradable
    assert [r.name for r in solution.not_run] == [GPU_TEST]
    # ben checks the same partly solved notebook twice: the verdict is the same, so it is judged once
    for learner, reports in {"ada": [solution], "ben": [stub, partly, partly], "cy": [solution, stub], "dee": [stub], "eve": [broken]}.items():
        for report in reports:
            record(course_copy, dataclasses.replace(report, learner=learner))
    _filled["db"] = db.read_bytes()
    _filled["partly"] = partly.points
    return course_copy


def _one(progress_of, assignment=ASSIGNMENT):
    [a] = [a for a in progress_of.assignments if a.id == assignment]
    return a


def _words(course, **where) -> set[str]:
    return {t.words for t in source_tests(course.source_notebook(ASSIGNMENT)) if all(getattr(t, k) == v for k, v in where.items())}


# ---------------------------------------------------------------- the data model


@pytest.mark.cpu
def test_statuses_scores_and_attempts_per_learner(course):
    partly = _filled["partly"]
    ada, ben, cy, dee = (_one(learner_progress(course.db_url, who, course=course)) for who in ("ada", "ben", "cy", "dee"))
    assert (ada.status, ada.attempts, ada.score, ada.best, ada.latest) == ("passed", 1, 33, 33, 33)
    assert (ada.max_points, ada.gpu_points) == (34, 1)  # the GPU test not run stays inside the maximum
    assert (ben.status, ben.attempts, ben.best, ben.latest, ben.score) == ("in progress", 3, partly, partly, partly)
    assert (cy.status, cy.attempts, cy.best, cy.latest, cy.score) == ("in progress", 2, 33, 0, 0)
    assert (dee.status, dee.attempts, dee.latest) == ("in progress", 1, 0)
    assert ada.last_attempt is not None and cy.last_attempt >= ada.last_attempt


@pytest.mark.cpu
def test_gpu_tests_not_run_are_apart_never_failures(course):
    ada, ben = (_one(learner_progress(course.db_url, who, course=course)) for who in ("ada", "ben"))
    gpu_words = _words(course, name=GPU_TEST)
    assert ada.failing == () and set(ada.not_run) == gpu_words
    assert set(ben.not_run) == gpu_words and not gpu_words & {t.words for t in ben.failing}


@pytest.mark.cpu
def test_a_notebook_that_is_not_gradable_says_why_not_which_tests(course, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    eve = _one(learner_progress(course.db_url, "eve", course=course))
    assert (eve.status, eve.attempts, eve.latest, eve.failing) == ("in progress", 1, 0, ())
    assert "is not valid JSON" in eve.not_gradable
    assert grader_progress("--learner", "eve") == 0
    assert "not gradable:" in capsys.readouterr().out


@pytest.mark.cpu
def test_failing_tests_are_named_by_their_property_words(course):
    ben = _one(learner_progress(course.db_url, "ben", course=course))
    solved = {t.words for t in source_tests(course.source_notebook(ASSIGNMENT)) if t.name.startswith("cosine")}
    failing = {t.words for t in ben.failing}
    assert failing and failing <= _words(course, gpu=False) and not failing & solved
    assert all(t.category for t in ben.failing)


@pytest.mark.cpu
def test_phases_roadmap_statuses_and_points(course, planned_roadmap):
    ada = learner_progress(course.db_url, "ada", course=course)
    roadmap = planned_roadmap
    assert [p.number for p in ada.phases] == list(roadmap.phases) and len(ada.assignments) == len(roadmap.assignments)
    by_id = {a.id: a for a in ada.assignments}
    assert by_id["02-calculus"].status == "not started" and by_id["02-calculus"].max_points > 0  # points from source/
    assert by_id[PLANNED].status == "planned" and by_id[PLANNED].max_points is None
    phase1 = ada.phases[0]
    assert phase1.passed == 1 and phase1.earned == 33 and 0 < phase1.share < 1
    # GPU tests are inside the maximum in every view (README, "One score everywhere")
    assert phase1.available == sum(a.max_points for a in phase1.assignments if a.max_points is not None)


@pytest.mark.cpu
def test_class_view_finds_the_stuck_and_the_hardest_tests(course):
    klass = class_progress(course.db_url, course=course)
    assert [p.learner for p in klass.learners] == ["ada", "ben", "cy", "dee", "eve"]
    assert [(s.learner, s.assignment.id) for s in klass.stuck] == [("ben", ASSIGNMENT)]
    counts = klass.status_counts()[ASSIGNMENT]
    assert (counts["passed"], counts["in progress"], counts["not started"]) == (1, 4, 0)
    rates = {r.test: r for r in klass.pass_rates}
    cosine, top_k, gpu = rates["cosine_small_cases"], rates["top_k_small_case"], rates[GPU_TEST]
    assert (cosine.learners, cosine.tripped, cosine.failing_now, cosine.rate) == (4, 3, 2, 0.5)
    assert (top_k.learners, top_k.tripped, top_k.failing_now, top_k.rate) == (4, 3, 3, 0.25)
    assert (gpu.learners, gpu.not_run) == (0, 4)  # never judged: neither passed nor failed; eve's notebook counts nowhere
    assert klass.pass_rates[0].rate <= klass.pass_rates[1].rate and klass.pass_rates[-1].test == GPU_TEST


@pytest.mark.cpu
def test_next_step_follows_prerequisites_and_tracks():
    roadmap = _with_planned(load())

    def step(passed, track=None):
        found, note = next_assignment(roadmap, set(passed), track)
        return (found.assignment.id, found.reason) if found else (None, note)

    assert step([]) == ("01-linear-algebra", "next in roadmap order; no prerequisites")
    assert step(["01-linear-algebra"])[0] == "02-calculus"
    assert step(["01-linear-algebra"], "quickstart") == (
        "02-calculus", "needed before 05-autograd (next on track quickstart); prerequisites met: 01-linear-algebra"
    )
    assert step([], "practitioner")[1].startswith("needed before 13-attention (next on track practitioner)")
    written = [a.id for a in roadmap.assignments if a.status == "written"]
    nothing, note = step(written)
    assert nothing is None and f"{PLANNED}, which is planned" in note
    started, _ = next_assignment(roadmap, set(written), None, started={PLANNED})  # on the road, whatever the file says
    assert started.assignment.id == PLANNED
    everything = {a.id for a in roadmap.assignments}
    assert next_assignment(roadmap, everything) == (None, "every assignment on the roadmap is passed: congratulations")


# ---------------------------------------------------------------- the command and its outputs


@pytest.mark.cpu
def test_terminal_view_of_one_learner(course, capsys, monkeypatch):
    monkeypatch.setenv("GRADER_LEARNER", "ben")
    monkeypatch.setenv("COLUMNS", "200")
    assert grader_progress("--track", "quickstart") == 0
    out = capsys.readouterr().out
    assert "Progress of ben · track quickstart" in out
    for number, title in load().phases.items():
        assert f"Phase {number} · {title}" in out
    assert re.search(rf"{ASSIGNMENT}\s+│ in progress", out)
    assert "Needs a GPU" in out and next(iter(_words(course, name=GPU_TEST)))[:40] in out
    assert any(words[:40] in out for words in _words(course, hidden=True, gpu=False))
    assert "Next: 01-linear-algebra" in out  # not passed yet: still the next step
    _assert_no_hidden_source(course, out)


@pytest.mark.cpu
def test_terminal_view_of_a_class(course, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    assert grader_progress("--all") == 0
    out = capsys.readouterr().out
    assert "Class progress: 5 learner(s)" in out and "Stuck: 3 or more attempts" in out
    assert re.search(r"ben\s+│ 01-linear-algebra │\s+3", out)
    assert re.search(r"^ada\s+✔", out, re.M) and re.search(r"^ben\s+◐", out, re.M)
    assert "Tests that trip most learners" in out
    _assert_no_hidden_source(course, out)


@pytest.mark.cpu
def test_csv_one_row_per_learner_and_assignment(course, planned_roadmap, tmp_path, capsys):
    out = tmp_path / "class.csv"
    assert grader_progress("--all", "--csv", str(out)) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 5 * len(load().assignments)
    assert set(rows[0]) >= {"learner", "assignment", "score", "max", "status", "attempts", "best", "latest"}
    ben = next(r for r in rows if r["learner"] == "ben" and r["assignment"] == ASSIGNMENT)
    partly = f"{_filled['partly']:g}"
    assert (ben["status"], ben["attempts"], ben["best"], ben["latest"], ben["score"], ben["max"]) == ("in progress", "3", partly, partly, partly, "34")
    assert ben["last_attempt"].endswith("Z")
    ada = next(r for r in rows if r["learner"] == "ada" and r["assignment"] == PLANNED)
    assert (ada["status"], ada["attempts"], ada["score"], ada["max"]) == ("planned", "0", "", "")
    one = tmp_path / "ben.csv"
    assert grader_progress("--learner", "ben", "--csv", str(one)) == 0
    assert {r["learner"] for r in csv.DictReader(one.open())} == {"ben"}


@pytest.mark.cpu
def test_html_pages_are_self_contained(course, tmp_path, capsys):
    for argv in (["--learner", "ben"], ["--all"]):
        page = tmp_path / "page.html"
        assert grader_progress(*argv, "--html", str(page)) == 0
        html = page.read_text()
        assert html.count("<svg") == 2 and "<section class=\"phase\"" in html
        assert not re.search(r"<link|<img|<iframe|\ssrc=|url\((?!#)", html)  # nothing fetched from anywhere
        for number, title in load().phases.items():
            assert f'data-phase="{number}"' in html and f"Phase {number} · {title}" in html
        _assert_no_hidden_source(course, html)


@pytest.mark.cpu
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium (apt-get install -y chromium)")
def test_html_pages_render_in_a_headless_browser(course, tmp_path, capsys):
    for argv in (["--learner", "ben"], ["--all"]):
        page = tmp_path / f"{argv[-1].strip('-')}.html"
        assert grader_progress(*argv, "--html", str(page)) == 0
        dom, log = _chromium_dump_dom(page, tmp_path)
        assert 'data-check="ok"' in dom, re.search(r'data-check="[^"]*"', dom)
        assert not [line for line in log.splitlines() if ":CONSOLE" in line or "Uncaught" in line], log[-2000:]
        for number, title in load().phases.items():
            assert f"Phase {number} · {title}" in dom
        assert "<svg" in dom and "01-linear-algebra" in dom


def _chromium_dump_dom(page: Path, tmp_path: Path) -> tuple[str, str]:
    command = [
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={tmp_path / 'chromium'}",
        "--enable-logging=stderr", "--v=0", "--dump-dom", page.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def _assert_no_hidden_source(course, text: str) -> None:
    """No line of a test cell's code beyond its opening words reaches a report."""
    assert "BEGIN HIDDEN" not in text
    for cell in source_tests(course.source_notebook(ASSIGNMENT)):
        hidden = cell.code.split("### BEGIN HIDDEN TESTS", 1)[1] if cell.hidden else ""
        for line in hidden.splitlines():
            if len(line.strip()) > 25:
                assert line.strip() not in text


# ---------------------------------------------------------------- bad input


@pytest.mark.cpu
def test_empty_gradebook_says_how_to_start(course_copy, capsys):
    assert grader_progress("--learner", "ada") == 0
    out = capsys.readouterr().out
    assert "Nothing is recorded in the gradebook yet" in out and "grader start 01-linear-algebra" in out
    assert grader_progress("--all") == 0 and "grader autograde" in capsys.readouterr().out
    assert not (course_copy.root / "gradebook.db").exists()  # looking never creates a database


@pytest.mark.cpu
def test_gradebook_with_tables_but_nobody_says_how_to_start(course_copy, capsys):
    _nbgrader_schema(course_copy)  # as `grader release --gradebook` leaves it: assignments, no learner
    assert grader_progress("--all") == 0
    assert "Nothing is recorded" in capsys.readouterr().out


@pytest.mark.cpu
def test_unknown_learner_and_unknown_track_are_clear_errors(course, capsys):
    assert grader_progress("--learner", "zed") == 2
    err = capsys.readouterr().err
    assert "no learner 'zed'" in err and "ada, ben, cy, dee, eve" in err and "Traceback" not in err
    assert grader_progress("--learner", "ada", "--track", "scenic") == 2
    assert "no track 'scenic'" in capsys.readouterr().err


@pytest.mark.cpu
def test_assignments_off_the_roadmap_are_listed_apart(course, tmp_path, capsys):
    from sqlalchemy import create_engine, insert

    from grader.gradebook.schema import test_results

    engine = create_engine(course.db_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("insert into assignment (id, name, course_id) values ('x0', '00-intro', 'llm-course')")
        connection.execute(insert(test_results).values(
            learner="ada", assignment="00-intro", attempt=dt.datetime(2026, 1, 1, 10), test="hello", words="says hello",
            status="failed", points=0.0, max_points=1.0, hidden=False, gpu=False, category="exception", message="",
        ))
    engine.dispose()
    out_csv = tmp_path / "p.csv"
    assert grader_progress("--learner", "ada", "--csv", str(out_csv)) == 0
    captured = capsys.readouterr()
    assert "not on the roadmap: 00-intro" in captured.err and "Not on the roadmap" in captured.out
    row = next(r for r in csv.DictReader(out_csv.open()) if r["assignment"] == "00-intro")
    assert (row["phase"], row["status"], row["attempts"]) == ("", "in progress", "1")
    assert grader_progress("--all") == 0 and "00-intro" in capsys.readouterr().err


@pytest.mark.cpu
def test_gradebook_of_an_older_nbgrader_is_a_clear_error(course, capsys):
    db = sqlite3.connect(course.root / "gradebook.db")
    db.execute("alter table grade drop column extra_credit")
    db.commit()
    db.close()
    assert grader_progress("--all") == 2
    err = capsys.readouterr().err
    assert "older nbgrader" in err and "'grade' has no column(s) extra_credit" in err and "nbgrader db upgrade" in err
    (course.root / "gradebook.db").unlink()
    db = sqlite3.connect(course.root / "gradebook.db")
    db.execute("create table student (id varchar(128) primary key)")
    db.execute("create table assignment (id varchar(32) primary key, name varchar(128))")
    db.commit()
    db.close()
    assert grader_progress("--learner", "ada") == 2
    err = capsys.readouterr().err
    assert "lacks nbgrader's table(s)" in err and "grade_cells" in err and "Traceback" not in err


@pytest.mark.cpu
def test_a_file_that_is_not_a_database_is_a_clear_error(course_copy, capsys):
    (course_copy.root / "gradebook.db").write_text("not a database\n" * 100)
    assert grader_progress("--all") == 2
    err = capsys.readouterr().err
    assert "cannot read the gradebook" in err and "Traceback" not in err


@pytest.mark.cpu
def test_gradebook_graded_by_nbgrader_alone_still_reports(course):
    db = sqlite3.connect(course.root / "gradebook.db")
    db.execute("drop table grader_test_results")
    db.commit()
    db.close()
    url = "sqlite+pysqlite:///" + str(course.root / "gradebook.db")  # any SQLAlchemy URL, not only sqlite:///
    ben = _one(learner_progress(url, "ben", course=course))
    assert (ben.status, ben.attempts, ben.score) == ("in progress", 1, _filled["partly"])
    assert ben.failing and all(t.test == t.words for t in ben.failing)  # nbgrader keeps grade ids, not words
    ada = _one(learner_progress(url, "ada", course=course))
    assert ada.status == "in progress"  # nbgrader scored the GPU test 0: without test rows, it is a failure


def _nbgrader_schema(course) -> None:
    from grader.gradebook.schema import nbgrader_api

    Gradebook, _ = nbgrader_api()

    with Gradebook(course.db_url, course_id="llm-course") as gradebook:
        gradebook.update_or_create_assignment(ASSIGNMENT)
