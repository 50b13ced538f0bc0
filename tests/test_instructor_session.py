"""An instructor's term, scripted end to end with nbgrader's own commands, formgrader in a browser and the grader.

One session per gradebook (SQLite, and a real PostgreSQL server where one can be started):

  grader release --gradebook, nbgrader generate_assignment --force, nbgrader release_assignment;
  three students fetch and submit through nbgrader's exchange (cy after the due date);
  nbgrader collect; grader autograde (its summary table); nbgrader autograde still works beside it;
  formgrader: judged cells need no manual grade, a failed test shows the grader's message and
  never hidden source; a manual grade and a comment given in the browser;
  a changed timestamp.txt regrades; grader feedback, nbgrader generate_feedback,
  release_feedback and fetch_feedback; grader export (three formats), nbgrader export and
  grader progress give one score per student everywhere; nothing a student can read holds a
  line of a hidden test; a release over submissions is refused and loses nothing.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.notebook.cells import hidden_lines

import postgresql_server
from conftest import ROOT
from jupyterlab_session import chromium_page, lab_server, missing_browser

ASSIGNMENT = "01-linear-algebra"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
pytestmark = [pytest.mark.slow, pytest.mark.cpu]

# Runs as a student: nbgrader takes the student's id from the login name, so each student's
# nbgrader is told its own name here (the exchange, timestamps and files are nbgrader's own).
AS_STUDENT = """
import sys
import nbgrader.utils
import nbgrader.exchange.default.submit as submit
import nbgrader.exchange.default.fetch_feedback as fetch_feedback
who = sys.argv.pop(1)
for module in (nbgrader.utils, submit, fetch_feedback):
    for name in ("get_username", "get_osusername"):
        if hasattr(module, name):
            setattr(module, name, lambda: who)
from nbgrader.apps.nbgraderapp import main
main()
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def gradebook(request):
    with contextlib.ExitStack() as stack:
        yield postgresql_server.gradebook_url(request.param, stack)


class Session:
    """The course folder, the commands an instructor types in it, and each student's own folder."""

    def __init__(self, root: Path, db_url: str | None):
        self.root = root
        root.mkdir()
        for folder in ("source", "release", "solutions"):
            shutil.copytree(ROOT / folder / ASSIGNMENT, root / folder / ASSIGNMENT)
        shutil.copytree(ROOT / "tests" / "known_wrong" / ASSIGNMENT, root / "tests" / "known_wrong" / ASSIGNMENT)
        config = (ROOT / "nbgrader_config.py").read_text()
        config += '\nc.LateSubmissionPlugin.penalty_method = "zero"\n'
        if db_url:
            config += f"c.CourseDirectory.db_url = {db_url!r}\n"
        (root / "nbgrader_config.py").write_text(config)
        self.db_url = db_url or f"sqlite:///{root / 'gradebook.db'}"
        self.env = {k: v for k, v in os.environ.items() if k not in ("GRADER_COURSE_ROOT", "GRADER_LEARNER")}
        self.env["JUPYTER_CONFIG_DIR"] = str(root.parent / "jupyter-config")  # nothing of ~/.jupyter

    def run(self, *command, cwd: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(command, cwd=cwd or self.root, env=self.env, capture_output=True, text=True, timeout=600)
        if ok and done.returncode != 0:
            pytest.fail(f"{' '.join(map(str, command))} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def grader(self, *args, ok: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-c", "import sys; from grader.cli import main; sys.exit(main())", *args, ok=ok)

    def nbgrader(self, *args, ok: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "nbgrader", *args, ok=ok)

    def exchange_options(self) -> list[str]:
        return ["--course", "llm-course", f"--Exchange.root={self.root / 'exchange'}", "--Exchange.path_includes_course=True"]

    def student_folder(self, student: str) -> Path:
        return self.root.parent / "students" / student

    def as_student(self, student: str, *args) -> subprocess.CompletedProcess:
        folder = self.student_folder(student)
        folder.mkdir(parents=True, exist_ok=True)
        cache = f"--Exchange.cache={folder / '.nbgrader-cache'}"  # each student's own machine keeps its own
        return self.run(sys.executable, "-c", AS_STUDENT, student, *args, *self.exchange_options(), cache, cwd=folder)

    def hand_in(self, student: str, notebook_text: str) -> None:
        """Fetch the released assignment, put the answer in it, submit: a student's whole part."""
        self.as_student(student, "fetch_assignment", ASSIGNMENT)
        copy = self.student_folder(student) / "llm-course" / ASSIGNMENT / NOTEBOOK
        assert copy.is_file(), "fetch_assignment puts the notebook in <course id>/<assignment>/"
        copy.write_text(notebook_text)
        self.as_student(student, "submit", ASSIGNMENT)

    def set_duedate(self, when: dt.datetime) -> None:
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gradebook:
            gradebook.update_or_create_assignment(ASSIGNMENT, duedate=when)

    def manual_grading_state(self) -> dict[str, dict]:
        """Per student, as formgrader reads it: needs_manual_grade, score, and each cell's manual score."""
        from nbgrader.api import Gradebook

        with Gradebook(self.db_url) as gradebook:
            out = {}
            for submission in gradebook.assignment_submissions(ASSIGNMENT):
                notebook = submission.notebooks[0]
                out[submission.student_id] = {
                    "id": notebook.id, "needs_manual_grade": notebook.needs_manual_grade, "score": submission.score,  # raw
                    "max_score": submission.max_score, "late_penalty": notebook.late_submission_penalty or 0,
                    "manual": {g.name: g.manual_score for g in notebook.grades if g.manual_score is not None},
                    "comments": {c.name: c.manual_comment for c in notebook.comments if c.manual_comment},
                }
            return out


def _csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _answered(release: str, solution: str) -> str:
    """The released notebook with every solution cell filled in as the reference does: a right answer."""
    answers = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in json.loads(solution)["cells"]
               if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    notebook = json.loads(release)
    for cell in notebook["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution"):
            cell["source"] = answers[meta["grade_id"]]
    return json.dumps(notebook)


def _readable_by_students(session: Session) -> list[tuple[str, str]]:
    """(path, text) of everything a student receives: release, feedback in and out of the exchange, their folders.

    (The exchange's inbound/ holds what students handed in, which only the instructor reads.)
    """
    files = []
    for top in ("release", "feedback", "exchange", "students"):
        for path in sorted((session.root.parent / top if top == "students" else session.root / top).rglob("*")):
            if "inbound" in path.parts:
                continue
            if path.is_file() and path.suffix in (".ipynb", ".html", ".txt", ".json"):
                files.append((str(path), path.read_text(errors="replace")))
    return files


def test_a_term_with_nbgrader_formgrader_and_the_grader_gives_one_score_everywhere(tmp_path, gradebook):
    session = Session(tmp_path / "course", gradebook)
    stub = (ROOT / "release" / ASSIGNMENT / NOTEBOOK).read_text()
    solution = _answered(stub, (ROOT / "solutions" / ASSIGNMENT / NOTEBOOK).read_text())
    secrets = [line for line in hidden_lines(session.root / "source" / ASSIGNMENT / NOTEBOOK) if len(line) > 12]
    assert secrets

    # --- release: the grader's gradebook, then nbgrader's own generate and release on top of it
    session.grader("release", ASSIGNMENT, "--gradebook")
    session.nbgrader("generate_assignment", ASSIGNMENT, "--force")
    session.nbgrader("release_assignment", ASSIGNMENT, "--force")

    # --- three students: ada right, bob the untouched stub, cy right but after the due date
    session.hand_in("ada", solution)
    session.hand_in("bob", stub)
    session.set_duedate(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) + dt.timedelta(seconds=1))
    session.run(sys.executable, "-c", "import time; time.sleep(1.5)")
    session.hand_in("cy", solution)
    session.nbgrader("collect", ASSIGNMENT)
    for student in ("ada", "bob", "cy"):
        assert (session.root / "submitted" / student / ASSIGNMENT / "timestamp.txt").is_file()

    # --- grading: the grader's batch, and nbgrader's autograde still working on the same gradebook
    graded = session.grader("autograde", ASSIGNMENT, "--workers", "2")
    summary = graded.stdout
    assert re.search(r"ada\s.*34/34", summary) and re.search(r"bob\s.*0/34", summary), summary
    assert re.search(r"cy\s.*0/34.*seconds, penalty 34", summary), summary  # late: the whole score, nbgrader's "zero"
    session.nbgrader("autograde", ASSIGNMENT, "--student", "ada", "--force")
    state = session.manual_grading_state()
    assert state["ada"]["score"] == state["ada"]["max_score"] == 34
    assert state["cy"]["score"] == state["cy"]["late_penalty"] == 34, "nbgrader's penalty_method 'zero' applies (score is raw)"
    session.grader("autograde", ASSIGNMENT, "--student", "ada", "--force")  # the judged verdict again
    state = session.manual_grading_state()
    assert not any(s["needs_manual_grade"] for s in state.values()), "judged cells carry their score"

    # --- formgrader in the browser: the grader's message where a failed test's output goes; a manual grade
    why = missing_browser()
    if why and os.environ.get("GRADER_REQUIRE_BROWSER") == "1":
        pytest.fail(why)
    if not why:
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        with lab_server(session.root, tmp_path / "lab") as server, chromium_page() as page:
            answers = []
            page.on("response", lambda r: answers.append(f"{r.request.method} {r.url.split('?')[0]} {r.status}") if "/api/" in r.url else None)
            page.on("console", lambda m: answers.append(f"console {m.type}: {m.text}"))
            page.goto(server.url("api/status"))  # a token login sets the cookie formgrader's own API calls need
            page.goto(server.url(f"formgrader/submissions/{state['bob']['id']}/"))
            score = page.locator("input.score#cosine_small_cases")
            score.wait_for(timeout=60_000)
            try:  # formgrader binds its fields once its scripts ran; the retries below cover a page that never idles
                page.wait_for_load_state("networkidle", timeout=30_000)
            except PlaywrightTimeout:
                pass
            text = page.locator("body").inner_text()
            assert "not implemented" in text, "a failed test shows the grader's message"
            for line in secrets:
                assert line not in text, f"formgrader shows hidden test source: {line!r}"
            score.fill("1")
            score.dispatch_event("change")  # what leaving the field does: formgrader saves on change
            comment = page.locator("textarea.comment#cosine_similarity-comment")
            comment.fill("Start from the definition: a·b / (|a| |b|).")
            comment.dispatch_event("change")
            for attempt in range(300):  # saved through formgrader's REST API, a moment later (slower on a loaded machine)
                state = session.manual_grading_state()
                if state["bob"]["manual"] and state["bob"]["comments"]:
                    break
                if attempt % 50 == 49:  # a change fired before formgrader's scripts bound the field is lost: fire it again
                    score.dispatch_event("change")
                    comment.dispatch_event("change")
                page.wait_for_timeout(200)
            log = server.log_tail()
        state = session.manual_grading_state()
        assert state["bob"]["manual"] == {"cosine_small_cases": 1.0} and state["bob"]["score"] == 1, (answers, log)
        assert "definition" in state["bob"]["comments"].get("cosine_similarity", "")
        assert not state["bob"]["needs_manual_grade"]
    bob = 1 if not why else 0

    # --- a changed timestamp regrades: cy shows the instructor an earlier time
    timestamp = session.root / "submitted" / "cy" / ASSIGNMENT / "timestamp.txt"
    timestamp.write_text("2026-01-01 00:00:00.000000 UTC")
    again = session.grader("autograde", ASSIGNMENT)
    assert re.search(r"cy\s.*34/34", again.stdout), again.stdout
    state = session.manual_grading_state()
    assert state["cy"]["score"] == 34 and state["cy"]["late_penalty"] == 0
    assert state["bob"]["score"] == bob, "a regrade of others keeps the manual grade"

    # --- bob then checks a right answer himself: his own attempt, never his class grade
    own = session.root.parent / "bob-later.ipynb"
    own.write_text(solution)
    checked = session.grader("check", ASSIGNMENT, str(own), "--learner", "bob")
    assert "34/34 points" in checked.stdout
    assert session.manual_grading_state()["bob"]["score"] == bob

    # --- feedback: the grader's pages, nbgrader's generate/release, a student fetching it
    session.grader("feedback", ASSIGNMENT)
    session.nbgrader("generate_feedback", ASSIGNMENT, "--force")
    session.nbgrader("release_feedback", ASSIGNMENT)
    session.as_student("bob", "fetch_feedback", ASSIGNMENT)
    fetched = list((session.student_folder("bob") / "llm-course" / ASSIGNMENT / "feedback").rglob("*.html"))
    assert len(fetched) == 1
    page = fetched[0].read_text()
    assert f"<strong>{bob}/34 points</strong>" in page
    if bob:
        assert "definition" in page and "adjusted the points of 1 test" in page

    # --- one score everywhere: both exports of the grader, Canvas, nbgrader's export, progress
    expected = {"ada": 34.0, "bob": float(bob), "cy": 34.0}
    session.grader("export", "-o", "grades.csv")
    session.grader("export", "--tests", "-o", "tests.csv")
    session.grader("export", "--canvas", "-o", "canvas.csv")
    session.nbgrader("export", "--to", str(session.root / "nbgrader.csv"))
    session.grader("progress", "--all", "--csv", "progress.csv", "--html", "class.html")
    grades = {r["student"]: r for r in _csv(session.root / "grades.csv")}
    assert {s: float(r["score"]) for s, r in grades.items()} == expected
    assert {float(r["max_score"]) for r in grades.values()} == {34.0}
    per_test: dict[str, float] = {}
    for r in _csv(session.root / "tests.csv"):
        per_test[r["student"]] = per_test.get(r["student"], 0.0) + float(r["points"])
    assert per_test == expected
    canvas = _csv(session.root / "canvas.csv")
    column = next(c for c in canvas[0] if c.startswith(ASSIGNMENT))
    assert {r["SIS Login ID"]: float(r[column]) for r in canvas if r["SIS Login ID"]} == expected
    nbgrader_rows = {r["student_id"]: float(r["score"]) for r in _csv(session.root / "nbgrader.csv")}
    assert nbgrader_rows == expected
    progress = {r["learner"]: float(r["score"]) for r in _csv(session.root / "progress.csv") if r["assignment"] == ASSIGNMENT}
    assert progress == expected
    page = (session.root / "class.html").read_text()
    for student, score in expected.items():  # the class page: each learner's score in their row
        row = re.search(rf"<tr><th>{student}</th>.*?</tr>", page, re.S)
        assert row and f"{score:g}/34" in row.group(0), student

    # --- nothing a student receives holds a hidden test, and a release over submissions loses nothing
    for path, text in _readable_by_students(session):
        for line in secrets:
            assert line not in text, f"{path} holds a hidden test line: {line!r}"
    session.grader("release", ASSIGNMENT, "--gradebook")  # unchanged cells: nbgrader allows it
    twin = session.root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.py"
    cells = twin.read_text().split("\n# %%")
    twin.write_text("\n# %%".join(c for c in cells if '"grade_id": "cosine_zero_vectors_and_range"' not in c))
    refused = session.grader("release", ASSIGNMENT, "--gradebook", ok=False)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr
    assert "has submissions in the gradebook" in refused.stderr and "is unchanged" in refused.stderr
    assert "cosine_zero_vectors_and_range" in (session.root / "release" / ASSIGNMENT / NOTEBOOK).read_text()
