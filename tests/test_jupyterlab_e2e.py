"""The learner's JupyterLab, tested in a real browser (headless Debian Chromium, Playwright).

A private copy of the course is served by `jupyter lab` started from its root, as a learner
starts it. In the browser:

- a learner's notebook of 01-linear-algebra (from `grader start`) gets a correct solution typed
  into one stub; its cells run, the notebook is saved, and the check cell at the end shows the
  judged result inline: that stub's tests earned, every other test missing;
- nbgrader's Validate button in the notebook's toolbar opens its dialog with the visible tests;
- after `nbgrader release_assignment` of another assignment, nbgrader's assignment list shows it and
  fetches it, and formgrader opens for the instructor.

Screenshots are kept under tests/artifacts/ (ignored by git); a failing step leaves one too.
Needs /usr/bin/chromium (`apt-get install -y chromium`) and `pip install playwright`; never
`playwright install`, which downloads a browser.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from jupyterlab_session import NotebookPage, chromium_page, lab_server, missing_browser

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
ASSIGNMENT = "01-linear-algebra"
STUB = "dense_layer"  # the solution cell the learner fills in
LEARNER = "ada"
FETCHED = "02-calculus"  # released and fetched through nbgrader's assignment list

NO_BROWSER = missing_browser()

pytestmark = [
    pytest.mark.cpu,
    pytest.mark.slow,
    pytest.mark.skipif(NO_BROWSER is not None, reason=f"no browser for the JupyterLab test: {NO_BROWSER}"),
]


def _course_env() -> dict[str, str]:
    """The environment of a learner's shell: the course is found from the working directory."""
    return {k: v for k, v in os.environ.items() if k != "GRADER_COURSE_ROOT"}


@pytest.fixture(scope="module")
def course(tmp_path_factory) -> Path:
    """A private copy of the course (as conftest's course_copy), with a learner's started copy."""
    root = tmp_path_factory.mktemp("jupyterlab") / "course"
    root.mkdir()
    shutil.copy2(ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    for folder in ("source", "release", "solutions"):
        shutil.copytree(ROOT / folder, root / folder, ignore=shutil.ignore_patterns("__pycache__", ".ipynb_checkpoints"))
    started = subprocess.run([sys.executable, "-m", "grader.cli", "start", ASSIGNMENT, "--learner", LEARNER],
                             cwd=root, env=_course_env(), capture_output=True, text=True, timeout=60)
    assert started.returncode == 0, started.stderr
    return root


@pytest.fixture(scope="module")
def server(course, tmp_path_factory):
    with lab_server(course, tmp_path_factory.mktemp("jupyter-lab-state")) as running:
        yield running


@pytest.fixture
def page():
    with chromium_page() as browser_page:
        yield browser_page


@contextlib.contextmanager
def screenshot_on_failure(page, server, name: str):
    """Leave tests/artifacts/<name>-failure.png and print the server log if the block fails."""
    try:
        yield
    except BaseException:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            page.screenshot(path=str(ARTIFACTS / f"{name}-failure.png"))
        print(f"--- jupyter lab log ({server.log}) ---\n{server.log_tail()}")
        raise


def _screenshot_whole(page, element, path: Path) -> None:
    """A picture of all of `element`: the notebook draws only what is in view, so the window
    is made tall enough for it first, and put back after."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    height = int(element.bounding_box()["height"]) + 120
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 8000))})
    try:
        element.evaluate("node => node.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)  # let the notebook draw the newly visible part
        element.screenshot(path=str(path))
    finally:
        page.set_viewport_size(size)


def _has_progress_line() -> bool:
    """Whether grader.progress.build offers the one-line roadmap summary the check cell shows."""
    try:
        return callable(getattr(importlib.import_module("grader.progress.build"), "one_line_summary", None))
    except ImportError:
        return False


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _words(cell) -> str:
    """What a test cell checks, in words: its docstring, which the report shows per row."""
    return ast.get_docstring(ast.parse(cell.source)).strip()


def test_check_cell_shows_the_judged_result_and_validate_shows_visible_tests(course, server, page):
    notebook_path = course / "llm-course" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"  # grader start's copy
    notebook = nbformat.read(notebook_path, as_version=4)
    ids = [_grade_id(cell) for cell in notebook.cells]
    assert ids[-1] == "check_my_work", "the release notebook must end with the check cell (grader release)"
    stub = ids.index(STUB)
    graded = [cell for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")]
    stub_tests = []  # the graded cells between this stub and the next solution cell
    for cell in notebook.cells[stub + 1:]:
        if cell.metadata.get("nbgrader", {}).get("solution"):
            break
        if cell.metadata.get("nbgrader", {}).get("grade"):
            stub_tests.append(cell)
    assert stub_tests, f"no test cells follow the {STUB} stub"
    solution = next(c.source for c in nbformat.read(course / "solutions" / ASSIGNMENT / notebook_path.name, 4).cells
                    if _grade_id(c) == STUB)
    first_code = next(i for i, c in enumerate(notebook.cells) if c.cell_type == "code")  # the imports
    earned = sum(c.metadata["nbgrader"]["points"] for c in stub_tests)
    total = sum(c.metadata["nbgrader"]["points"] for c in graded)

    started = time.monotonic()
    with screenshot_on_failure(page, server, "jupyterlab-check-cell"):
        lab = NotebookPage(page, server, f"llm-course/{ASSIGNMENT}/{notebook_path.name}", len(notebook.cells))
        loaded = time.monotonic()

        # The learner types a solution, runs it and its visible tests in the kernel, and saves.
        lab.run(first_code)
        lab.replace_source(stub, solution)
        for index in [stub, *(notebook.cells.index(c) for c in stub_tests)]:
            cell = lab.run(index)
            assert cell.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']").count() == 0, \
                f"cell {index} failed in the kernel: {cell.locator('.jp-OutputArea').inner_text()}"
        lab.save()
        deadline = time.monotonic() + 20
        while nbformat.read(notebook_path, 4).cells[stub].source != solution:
            assert time.monotonic() < deadline, "JupyterLab did not save the typed solution to disk"
            time.sleep(0.2)

        # The check cell judges the saved notebook in another process and shows a table.
        check = lab.run(len(notebook.cells) - 1, timeout_s=150)
        report = check.locator(".grader-report")
        report.wait_for(timeout=10_000)
        checked = time.monotonic()
        rows = {}  # words -> (status class, points, what to fix)
        for row in report.locator("tbody tr").all():
            mark, words, kind, points, fix = row.locator("td").all_inner_texts()
            rows[words.strip()] = (row.get_attribute("class"), points.strip(), fix)
        assert sorted(rows) == sorted(_words(c) for c in graded), "one row per graded test cell, in words"
        for cell in graded:
            status, points, fix = rows[_words(cell)]
            most = cell.metadata["nbgrader"]["points"]
            if cell in stub_tests:
                assert (status, points) == ("grader-passed", f"{most:g}/{most:g}"), (cell.source, rows[_words(cell)])
            else:
                assert (status, points) == ("grader-failed", f"0/{most:g}"), (cell.source, rows[_words(cell)])
                assert fix.strip(), "a failed test says what to fix"
        summary = report.locator(".grader-summary").inner_text()
        assert summary.startswith(f"{earned:g}/{total:g} points"), summary
        assert check.locator(".grader-checking").count() == 0, "the 'Checking…' line is replaced by the result"
        assert check.locator(".jp-OutputArea-executeResult").count() == 0, "no Out[n] (a raw report dict) under the table"
        if _has_progress_line():
            assert check.locator(".grader-progress").count() == 1, \
                "grader.progress.build.one_line_summary exists, yet the check cell shows no roadmap line (did it raise?)"
        _screenshot_whole(page, check, ARTIFACTS / "jupyterlab-check-cell.png")
        # Recorded in the course's gradebook, under the login name of whoever runs JupyterLab (one learner).
        with contextlib.closing(sqlite3.connect(course / "gradebook.db")) as db:
            learners = db.execute("SELECT DISTINCT learner FROM grader_test_results").fetchall()
            recorded = db.execute("SELECT test, points FROM grader_test_results WHERE assignment = ?", (ASSIGNMENT,)).fetchall()
        assert len(learners) == 1, learners
        assert sorted(recorded) == sorted((_grade_id(c), float(c.metadata["nbgrader"]["points"]) if c in stub_tests else 0.0)
                                          for c in graded)

        # nbgrader's Validate button: saves, runs the notebook in a kernel, shows a dialog.
        page.locator(".jp-NotebookPanel-toolbar .validate-button").click()
        dialog = page.locator(".jp-Dialog", has_text="Validation Results")
        dialog.wait_for(timeout=120_000)
        validated = time.monotonic()
        message = dialog.locator("#validation-message")
        assert "validation-failed" in message.get_attribute("class"), message.inner_text()[:2000]
        text = message.inner_text()
        assert "The following cell failed:" in text
        untouched = next(c for c in graded if c not in stub_tests)
        assert _words(untouched) in text, "a visible test of an unsolved stub is listed as failed"
        for test in stub_tests:
            assert _words(test) not in text, f"{test.metadata['nbgrader']['grade_id']} passes: it must not be listed"
        page.screenshot(path=str(ARTIFACTS / "jupyterlab-validate.png"))
        dialog.get_by_role("button", name="Ok").click()

    print(f"JupyterLab e2e: notebook loaded in {loaded - started:.1f} s, checked after {checked - loaded:.1f} s, "
          f"validated after {validated - checked:.1f} s")


def test_assignment_list_fetches_a_released_assignment_and_formgrader_opens(course, server, page):
    # Another assignment than the started one: llm-course/01-linear-algebra/ (grader start's copy,
    # the same folder Fetch fills) already makes nbgrader list 01 as fetched.
    # The instructor releases to the exchange inside the course (nbgrader_config.py: Exchange.root),
    # while the browser loads JupyterLab.
    release = subprocess.Popen([sys.executable, "-m", "nbgrader", "release_assignment", FETCHED, "--force"],
                               cwd=course, env=_course_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with screenshot_on_failure(page, server, "jupyterlab-assignment-list"):
            page.goto(server.url("lab?reset"))
            menu = page.locator(".lm-MenuBar-itemLabel", has_text="Nbgrader")
            menu.wait_for(timeout=90_000)
            out, _ = release.communicate(timeout=90)
            assert release.returncode == 0, out
            assert (course / "exchange" / "llm-course" / "outbound" / FETCHED).is_dir(), out

            menu.click()
            page.locator(".lm-Menu-itemLabel", has_text="Assignment List").click()
            released = page.locator("#released_assignments_list .list_item", has_text=FETCHED)
            released.wait_for(timeout=30_000)
            assert "llm-course" in released.inner_text()
            released.get_by_role("button", name="Fetch").click()
            fetched = page.locator("#fetched_assignments_list .list_item:not(.nested_list_item)", has_text=FETCHED)
            fetched.wait_for(timeout=30_000)
            # Its notebook is listed under it (one click unfolds it), with nbgrader's Validate button.
            fetched.locator("a", has_text=FETCHED).first.click()
            page.locator("#fetched_assignments_list .nested_list_item", has_text=FETCHED).get_by_role(
                "button", name="Validate").wait_for(timeout=10_000)
            # path_includes_course: the fetched copy lands in <course root>/<course id>/<assignment>/.
            assert (course / "llm-course" / FETCHED / f"{FETCHED}.ipynb").is_file()
            page.locator("#released_assignments_list_placeholder", has_text="no assignments to fetch").wait_for(timeout=10_000)
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-assignment-list.png"))

            menu.click()
            page.locator(".lm-Menu-itemLabel").get_by_text("Formgrader", exact=True).click()
            formgrader = page.frame_locator(".jp-MainAreaWidget iframe").first
            formgrader.get_by_role("heading", name="Manage Assignments").wait_for(timeout=30_000)
            row = formgrader.locator("tr", has_text=FETCHED).first
            row.wait_for(timeout=30_000)
            assert "released" in row.inner_text()
            page.screenshot(path=str(ARTIFACTS / "jupyterlab-formgrader.png"))
    finally:
        if release.poll() is None:
            release.kill()
            release.wait()
