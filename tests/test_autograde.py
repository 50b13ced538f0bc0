"""`grader autograde`, `grader feedback`, `grader export`: a small class of 01-linear-algebra."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from grader.notebook.cells import test_cells as source_tests  # not named test_*: pytest would collect it
from grader.notebook.cells import is_solution
from grader.class_grading.batch import autograde
from grader.cli import main as grader_main
from grader.course import Course
from grader.gradebook.reader import Attempt
from grader.report.feedback_page import feedback_html
from grader.notebook.cells import hidden_lines
from grader.authoring.selftest import with_code_appended

import postgresql_server
from conftest import ROOT

ASSIGNMENT = "01-linear-algebra"
KNOWN_WRONG = ROOT / "tests" / "known_wrong" / ASSIGNMENT / "cosine_normalises_one_argument.py"


# --- a class of submissions ----------------------------------------------------------------


def submit(course, learner: str, notebook, name: str = f"{ASSIGNMENT}.ipynb"):
    folder = course.submitted / learner / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(notebook if isinstance(notebook, str) else json.dumps(notebook))
    return path


def correct(course) -> str:
    return course.solution_notebook(ASSIGNMENT).read_text()


def stub(course) -> str:
    return course.release_notebook(ASSIGNMENT).read_text()


def duplicated_grade_id(course) -> dict:
    notebook = json.loads(stub(course))
    notebook["cells"].append([c for c in notebook["cells"] if is_solution(c)][0])
    return notebook


def _query(course, sql: str, **values) -> list[dict]:
    """Rows of `sql` on the course's gradebook, SQLite or PostgreSQL."""
    engine = create_engine(course.db_url)
    try:
        with engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(text(sql), values)]
    finally:
        engine.dispose()


def state(course) -> dict[str, dict]:
    rows = _query(course, "select * from grader_autograde_state where assignment = :a", a=ASSIGNMENT)
    return {row["student"]: row for row in rows}


def nbgrader_scores(course) -> dict[str, float]:
    """Each student's total auto_score, read from nbgrader's own tables as formgrader would."""
    rows = _query(course, "select sa.student_id as s, sum(g.auto_score) as t from grade g join submitted_notebook sn on g.notebook_id = sn.id "
                          "join submitted_assignment sa on sn.assignment_id = sa.id group by sa.student_id")
    return {row["s"]: row["t"] for row in rows}


def small_class(course) -> None:
    """ada: correct, bob: stub, cy: invalid JSON, dee: a duplicated grade_id."""
    submit(course, "ada", correct(course))
    submit(course, "bob", stub(course))
    submit(course, "cy", stub(course)[:-40])
    submit(course, "dee", duplicated_grade_id(course))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def graded_class(request, tmp_path_factory):
    """The small class and fay (a classic mistake), graded once by 2 workers, in their own course copy.

    Once on the course's SQLite gradebook, once on a PostgreSQL server (nbgrader's db_url).
    """
    with contextlib.ExitStack() as stack:
        yield from _graded_class(tmp_path_factory, postgresql_server.gradebook_url(request.param, stack))


def _graded_class(tmp_path_factory, db_url):
    root = tmp_path_factory.mktemp("class") / "course"
    root.mkdir()
    config = (ROOT / "nbgrader_config.py").read_text()
    (root / "nbgrader_config.py").write_text(config + (f"\nc.CourseDirectory.db_url = {db_url!r}\n" if db_url else ""))
    for folder in ("source", "release", "solutions"):
        shutil.copytree(ROOT / folder / ASSIGNMENT, root / folder / ASSIGNMENT)
    course = Course(root)
    small_class(course)
    shutil.copytree(ROOT / "tests" / "known_wrong" / ASSIGNMENT, root / "tests" / "known_wrong" / ASSIGNMENT)
    submit(course, "fay", with_code_appended(course.solution_notebook(ASSIGNMENT), KNOWN_WRONG.read_text()))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GRADER_COURSE_ROOT", str(root))
        patch.chdir(root)
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            assert grader_main(["autograde", ASSIGNMENT, "--workers", "2"]) == 0
        yield course, out.getvalue()


# --- the batch -----------------------------------------------------------------------------


@pytest.mark.cpu
def test_mixed_batch_is_graded_in_parallel_with_reasons(graded_class):
    course, out = graded_class
    scores = nbgrader_scores(course)
    assert scores.pop("fay") < 34
    assert scores == {"ada": 34, "bob": 0, "cy": 0, "dee": 0}
    rows = state(course)
    assert {k: v["status"] for k, v in rows.items()} == {"ada": "graded", "bob": "graded", "cy": "not gradable", "dee": "not gradable", "fay": "graded"}
    assert "not valid JSON" in rows["cy"]["reason"] and "Revert Notebook to Checkpoint" in rows["cy"]["reason"]
    assert "appears 2 times" in rows["dee"]["reason"] and "Copy the cell back" in rows["dee"]["reason"]
    for learner in ("ada", "bob"):  # formgrader shows the notebook from autograded/, as nbgrader leaves it
        assert (course.autograded / learner / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").is_file()
    assert not (course.autograded / "cy").exists()
    assert "not gradable" in out and "appears 2 times" in out and "graded" in out


@pytest.mark.cpu
def test_rerun_skips_unchanged_regrades_changed_and_force_regrades_all(course_copy, capsys):
    course = course_copy
    small_class(course)
    assert grader_main(["autograde", ASSIGNMENT]) == 0
    first = state(course)
    assert grader_main(["autograde", ASSIGNMENT]) == 0
    assert state(course) == first
    assert re.search(r"skipped as unchanged\s*│\s*4\s*│", capsys.readouterr().out)

    submit(course, "bob", correct(course))  # bob finishes the assignment and submits again
    assert grader_main(["autograde", ASSIGNMENT]) == 0
    second = state(course)
    assert second["bob"]["graded_at"] > first["bob"]["graded_at"] and second["bob"]["points"] == 34
    assert all(second[k]["graded_at"] == first[k]["graded_at"] for k in ("ada", "cy", "dee"))
    assert nbgrader_scores(course)["bob"] == 34

    assert grader_main(["autograde", ASSIGNMENT, "--force"]) == 0
    third = state(course)
    assert all(third[k]["graded_at"] > second[k]["graded_at"] for k in third)


@pytest.mark.cpu
def test_a_missing_notebook_and_a_dying_worker_are_not_gradable_and_the_rest_goes_on(course_copy):
    submit(course_copy, "eve", "{}", name="Untitled.ipynb")
    link = course_copy.submitted / "zed" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    link.parent.mkdir(parents=True)
    link.symlink_to(course_copy.solution_notebook(ASSIGNMENT))
    submit(course_copy, "cy", stub(course_copy)[:-40])
    submit(course_copy, "crasher", stub(course_copy))
    batch = autograde(course_copy, ASSIGNMENT, workers=2, grade=grade_or_die)
    outcomes = {o.learner: o for o in batch.outcomes}
    assert outcomes["eve"].status == "not gradable" and "must keep the name" in outcomes["eve"].reason
    assert outcomes["cy"].status == "not gradable" and "not valid JSON" in outcomes["cy"].reason
    assert outcomes["zed"].status == "not gradable" and "symbolic link" in outcomes["zed"].reason
    assert outcomes["crasher"].status == "grader fault" and "worker process died" in outcomes["crasher"].reason
    assert nbgrader_scores(course_copy) == {"eve": 0, "cy": 0, "crasher": 0, "zed": 0}
    assert state(course_copy)["crasher"]["status"] == "grader fault"  # retried by the next run


def grade_or_die(course_root, assignment, learner, notebook):
    """A worker function whose process dies on one learner (a stand-in for a grader crash)."""
    if learner == "crasher":
        os._exit(3)
    from grader.class_grading.workers import grade

    return grade(course_root, assignment, learner, notebook)


@pytest.mark.cpu
def test_an_interrupted_run_loses_nothing_and_resumes(course_copy):
    psutil = pytest.importorskip("psutil")
    for learner, notebook in [("a", correct(course_copy)), ("b", stub(course_copy)), ("c", correct(course_copy)), ("d", stub(course_copy))]:
        submit(course_copy, learner, notebook)
    run = subprocess.Popen(
        [sys.executable, "-m", "grader.cli", "autograde", ASSIGNMENT, "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    finished = {}
    while not finished and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
        try:
            finished = state(course_copy)
        except OperationalError:  # the table is not there yet
            pass
    assert finished, "the first result never arrived"
    helpers = psutil.Process(run.pid).children(recursive=True)
    run.send_signal(signal.SIGKILL)
    run.wait()
    finished = state(course_copy)
    assert len(finished) < 4, "the run ended before it could be interrupted"
    _, left_running = psutil.wait_procs(helpers, timeout=30)
    assert not left_running, f"workers or learner processes outlived the killed run: {left_running}"

    assert grader_main(["autograde", ASSIGNMENT]) == 0
    resumed = state(course_copy)
    for learner, row in finished.items():
        assert resumed[learner] == row, f"{learner} was lost or graded again"
    assert {k: v["status"] for k, v in resumed.items()} == dict.fromkeys("abcd", "graded")
    assert nbgrader_scores(course_copy) == {"a": 34, "b": 0, "c": 34, "d": 0}


@pytest.mark.cpu
def test_dask_cluster_runs_the_same_checks(course_copy):
    distributed = pytest.importorskip("distributed")
    submit(course_copy, "ada", correct(course_copy))
    submit(course_copy, "cy", stub(course_copy)[:-40])
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1, dashboard_address=None) as cluster:
        assert grader_main(["autograde", ASSIGNMENT, "--scheduler", cluster.scheduler_address]) == 0
    assert nbgrader_scores(course_copy) == {"ada": 34, "cy": 0}
    assert state(course_copy)["cy"]["status"] == "not gradable"


# --- feedback and export -------------------------------------------------------------------


@pytest.mark.cpu
def test_feedback_pages_name_properties_and_never_show_hidden_tests(graded_class):
    course, _ = graded_class
    assert grader_main(["feedback", ASSIGNMENT]) == 0
    secrets = hidden_lines(course.source_notebook(ASSIGNMENT))
    assert secrets
    words = [t.words for t in source_tests(course.source_notebook(ASSIGNMENT))]
    pages = {}
    for learner in ("ada", "bob", "cy", "dee"):
        page = course.root / "feedback" / learner / ASSIGNMENT / f"{ASSIGNMENT}.html"
        pages[learner] = page.read_text()
        leaked = [line for line in secrets if line in pages[learner]]
        assert not leaked, f"{learner}'s feedback shows hidden test lines: {leaked[:3]}"
        assert "BEGIN HIDDEN" not in pages[learner]
    shown = html.unescape(pages["bob"])
    assert all(w in shown for w in words), [w for w in words if w not in shown]
    assert "not implemented" in pages["bob"] and "0/34 points" in pages["bob"]
    assert "34/34 points" in pages["ada"]
    assert "Not gradable" in pages["cy"] and "not valid JSON" in pages["cy"]
    fay = html.unescape((course.root / "feedback" / "fay" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text())
    assert "Likely mistake" in fay and "divides by the norm of only one argument" in fay


@pytest.mark.cpu
def test_feedback_escapes_learner_text_and_blanks_quoted_hidden_lines():
    secret = "expect.close(learner.f(x), reference.f(x), atol=1e-9)"
    row = dict(status="failed", hidden=True, gpu=False, points=0.0, max_points=2.0, words="f is right", category="exception",
               message=f"your code raised ValueError: <script>alert(1)</script> {secret}")
    page = feedback_html(Attempt.of_tests("mallory", ASSIGNMENT, __import__("datetime").datetime(2026, 1, 1), [row]), [secret])
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert secret not in page and "[hidden test line]" in page


@pytest.mark.cpu
def test_export_writes_the_class_csv(graded_class, tmp_path):
    course, _ = graded_class
    target = tmp_path / "grades.csv"
    assert grader_main(["export", "-o", str(target)]) == 0
    rows = {r["student"]: r for r in csv.DictReader(target.open())}
    assert list(next(iter(rows.values()))) == [
        "student", "assignment", "score", "max_score", "raw_score", "late_penalty", "submitted_at", "duedate", "seconds_late", "status"]
    assert (rows["ada"]["score"], rows["ada"]["max_score"], rows["ada"]["status"]) == ("34", "34", "graded")
    assert (rows["bob"]["score"], rows["bob"]["status"]) == ("0", "graded")
    assert rows["cy"]["status"].startswith("not gradable: ") and "not valid JSON" in rows["cy"]["status"]
    assert rows["dee"]["status"].startswith("not gradable: ") and "appears 2 times" in rows["dee"]["status"]
