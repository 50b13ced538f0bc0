"""Classic mistakes across a class: learners are counted per recognised mistake.

That each known-wrong implementation is named exactly as itself, and that a correct or an
unknown-bug submission is named as nothing, is shown for every assignment by the course
self-test (items `known-wrong[...]`, `reference-judged` and `unknown-bug`)."""

import json

import pytest

from grader.judging.judge import check
from grader.judging.diagnosis import load
from grader.authoring.selftest import with_code_appended


def judge_with(course, tmp_path, assignment, code):
    path = tmp_path / f"{assignment}.ipynb"
    path.write_text(json.dumps(with_code_appended(course.solution_notebook(assignment), code)))
    return check(course, assignment, path)


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


@pytest.mark.cpu
def test_reach_follows_setup_helpers_to_the_scenarios_they_run():
    """A test that calls a setup-cell helper reaches what the helper's scenario calls (grader.judging.reach)."""
    from grader.judging.reach import test_reach

    class Scenario:  # what @scenario leaves in a setup namespace: an object with its source
        source = "def order_of(ns, edges):\n    return ns.topological_order(edges)\n"

    setup: dict = {"order_of": Scenario()}
    exec("def order_in(edges):\n    return order_of.learner(edges)\n", setup)
    assert "topological_order" in test_reach("got = order_in([(0, 1)])", setup, {})
    assert "topological_order" not in test_reach("got = 1", setup, {})


@pytest.mark.cpu
def test_a_slow_failing_test_is_replayed_only_while_no_mistake_is_named():
    """Replaying a training test costs its time once per known mistake: once a mistake is named, slow tests are not replayed."""
    from grader.judging.diagnosis import Call, Misconception
    from grader.judging.judge import COSTLY_REPLAY_SECONDS, Judge
    from grader.judging.results import TestResult

    class Diagnoser:
        replays = 0

        def diagnose(self, calls, tolerance):
            Diagnoser.replays += 1
            return Misconception("mask_off_by_one", "the mask is off by one")

    judge = Judge.__new__(Judge)
    judge.diagnosing, judge.calls, judge.named, judge._diagnoser = True, [Call("call", "f", (), {}, 1.0)], set(), Diagnoser()

    def failed(seconds):
        return TestResult(name="t", words="t", max_points=1, hidden=True, gpu=False, status="failed", category="wrong value",
                          message="", seconds=seconds)

    slow = COSTLY_REPLAY_SECONDS * 5
    assert judge.diagnose(failed(slow)).misconception_id == "mask_off_by_one"  # nothing named yet: even a slow test is replayed
    assert judge.diagnose(failed(0.01)).misconception_id == "mask_off_by_one"  # fast tests always are
    assert judge.diagnose(failed(slow)).misconception_id == "" and Diagnoser.replays == 2


@pytest.mark.cpu
def test_structured_results_of_a_scenario_are_compared_item_by_item():
    """A scenario returning dicts of names and counts is matched to a mistake like arrays are: key by key, within tolerance."""
    from grader.judging.diagnosis import _same

    tolerance = (1e-7, 1e-5)
    result = [{"count": 12, "trainable": ["h.0.w", "ln_f.w"], "loss": 0.5}]
    assert _same(result, [{"count": 12, "trainable": ["h.0.w", "ln_f.w"], "loss": 0.5 + 1e-9}], tolerance)
    assert not _same(result, [{"count": 12, "trainable": ["h.2.w", "ln_f.w"], "loss": 0.5}], tolerance)
    assert not _same(result, [{"count": 13, "trainable": ["h.0.w", "ln_f.w"], "loss": 0.5}], tolerance)
    assert not _same(result, [{"count": 12, "trainable": ["h.0.w", "ln_f.w"]}], tolerance)
    assert not _same(result, result * 2, tolerance)


@pytest.mark.cpu
def test_a_zygote_preloads_what_a_module_shipped_beside_the_notebook_imports(tmp_path):
    """course_model.py cannot be imported by the zygote, but the transformers classes it uses can: forks then start warm."""
    from grader.sandbox.handle import preload_modules

    folder = tmp_path / "99-demo"
    folder.mkdir()
    (folder / "shipped.py").write_text("import json\nfrom transformers import GPT2Config\nfrom other_shipped import x\n")
    (folder / "other_shipped.py").write_text("x = 1\n")
    cell = {"cell_type": "code", "metadata": {}, "source": "from shipped import GPT2Config\nimport numpy as np\n", "outputs": []}
    (folder / "99-demo.ipynb").write_text(json.dumps({"cells": [cell], "metadata": {}, "nbformat": 4, "nbformat_minor": 4}))
    names = preload_modules(folder / "99-demo.ipynb")
    assert "json" in names and "transformers:GPT2Config" in names
    assert not any(n.startswith(("shipped", "other_shipped")) for n in names)
