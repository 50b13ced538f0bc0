"""Feedback names the learner's misconception: each known-wrong implementation is recognised as
exactly itself, and correct or unknown-bug submissions get no diagnosis."""

import json

import pytest

from grader.course import Course
from grader.judging.judge import check
from grader.judging.diagnosis import load
from grader.authoring.selftest import with_code_appended

from conftest import ROOT, WRITTEN
from test_threat_model import stub_functions

NUDGE = """
import numpy as _np

def _nudge(value):
    if isinstance(value, (tuple, list)):
        return type(value)(_nudge(v) for v in value)
    if isinstance(value, dict):
        return {k: _nudge(v) for k, v in value.items()}
    if isinstance(value, (float, _np.floating)) or (isinstance(value, _np.ndarray) and value.dtype.kind == "f"):
        return value * 1.003
    try:
        import torch
    except ImportError:
        return value
    if isinstance(value, torch.Tensor) and value.is_floating_point():
        return value * 1.003
    return value
"""

CASES = [(a, p.stem) for a in WRITTEN for p in Course(ROOT).known_wrong(a)]


def judge_with(course, tmp_path, assignment, code):
    path = tmp_path / f"{assignment}.ipynb"
    path.write_text(json.dumps(with_code_appended(course.solution_notebook(assignment), code)))
    return check(course, assignment, path)


@pytest.mark.cpu
@pytest.mark.parametrize("assignment, mistake", CASES)
def test_each_known_mistake_is_named(course_copy, tmp_path, assignment, mistake):
    path = course_copy.root / "tests" / "known_wrong" / assignment / f"{mistake}.py"
    report = judge_with(course_copy, tmp_path, assignment, path.read_text())
    named = {r.misconception_id for r in report.results if r.misconception_id}
    assert named == {mistake}, f"diagnosed as {named or 'nothing'}"
    text = load(path)[0].text
    assert any(r.misconception == text for r in report.results)


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", WRITTEN)
def test_correct_submission_gets_no_diagnosis(course_copy, tmp_path, assignment):
    report = judge_with(course_copy, tmp_path, assignment, "")
    assert report.points == report.max_points
    assert not any(r.misconception for r in report.results)


@pytest.mark.cpu
@pytest.mark.parametrize("assignment", WRITTEN)
def test_unknown_bug_gets_no_false_diagnosis(course_copy, tmp_path, assignment):
    """Every function's floating-point output nudged by 0.3 %: wrong, but no classic mistake."""
    wrappers = [NUDGE]
    for name in stub_functions(assignment):
        wrappers.append(f"def {name}(*args, _true={name}, **kwargs):\n    return _nudge(_true(*args, **kwargs))\n")
    report = judge_with(course_copy, tmp_path, assignment, "\n".join(wrappers) + "\n")
    assert report.points < report.max_points, "nudging every output by 0.3% went unnoticed"
    named = {r.misconception_id for r in report.results if r.misconception_id}
    assert not named, f"an unknown bug was diagnosed as {named}"


@pytest.mark.cpu
def test_class_report_counts_learners_per_mistake(course_copy, tmp_path, capsys):
    from grader.cli import main
    from grader.gradebook.writer import record
    from grader.progress.build import class_progress

    assignment, mistake = "03-probability", "kl_arguments_swapped"
    path = course_copy.root / "tests" / "known_wrong" / assignment / f"{mistake}.py"
    report = judge_with(course_copy, tmp_path, assignment, path.read_text())
    for learner in ("ada", "grace"):
        report.learner = learner
        record(course_copy, report)
    report = judge_with(course_copy, tmp_path, assignment, "")
    report.learner = "alan"
    record(course_copy, report)

    counts = {(m.assignment, m.id): m for m in class_progress(course_copy.db_url, course=course_copy).mistakes}
    assert set(counts) == {(assignment, mistake)}
    assert counts[assignment, mistake].learners == 2
    assert counts[assignment, mistake].text == load(path)[0].text
    assert main(["progress", "--all"]) == 0
    assert "Classic mistakes" in capsys.readouterr().out
