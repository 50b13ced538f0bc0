"""A self-learner's work never dirties tracked files and survives `git pull` of the course."""

import json
import shutil
import subprocess

import pytest

from grader.cli import main
from grader.course import Course

from conftest import ROOT, WRITTEN


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


@pytest.mark.cpu
def test_learner_work_survives_git_pull(tmp_path, monkeypatch, capsys):
    assignment = WRITTEN[0]
    upstream = tmp_path / "upstream"
    upstream.mkdir()
    for name in (".gitignore", "nbgrader_config.py"):
        shutil.copy2(ROOT / name, upstream / name)
    for folder in ("source", "release", "solutions"):
        shutil.copytree(ROOT / folder / assignment, upstream / folder / assignment)
    git(upstream, "init", "-q", "-b", "main")
    git(upstream, "-c", "user.email=a@b", "-c", "user.name=course", "add", ".")
    git(upstream, "-c", "user.email=a@b", "-c", "user.name=course", "commit", "-qm", "course")
    mine = tmp_path / "mine"
    git(tmp_path, "clone", "-q", str(upstream), str(mine))

    monkeypatch.delenv("GRADER_COURSE_ROOT", raising=False)
    monkeypatch.chdir(mine)
    assert main(["start", assignment, "--learner", "ada"]) == 0
    notebook = Course(mine).root / Course(mine).course_id / assignment / f"{assignment}.ipynb"  # where nbgrader's Fetch puts it
    assert not Course(mine).submitted.exists(), "a learner's copy is not a class submission"
    work = json.loads(notebook.read_text())
    work["cells"][0]["source"] = "my notes"
    notebook.write_text(json.dumps(work))
    main(["check", assignment, "--learner", "ada"])  # records in the local gradebook
    assert git(mine, "status", "--porcelain") == "", "learner work shows up as changes to tracked files"

    release = upstream / "release" / assignment / f"{assignment}.ipynb"
    release.write_text(release.read_text().replace('"cells": [', '"cells": [', 1) + "\n")
    git(upstream, "-c", "user.email=a@b", "-c", "user.name=course", "commit", "-qam", "update")
    git(mine, "pull", "-q")
    assert json.loads(notebook.read_text())["cells"][0]["source"] == "my notes"
    assert (mine / "gradebook.db").is_file()
    assert main(["start", assignment, "--learner", "ada"]) == 0
    assert "already there" in capsys.readouterr().out
    assert json.loads(notebook.read_text())["cells"][0]["source"] == "my notes"
