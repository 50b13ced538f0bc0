"""A learner's own copy of an assignment, apart from tracked files and from class submissions.

`grader start ID` copies release/ID/ to <course>/<course id>/ID/ (llm-course/ID/ here): exactly
where nbgrader's `fetch_assignment`, and the Fetch button of JupyterLab's Assignment List, put a
released assignment when run from the course folder (`Exchange.path_includes_course`). Both
routes give the learner one copy in one place, which git ignores (`git pull` of the course never
touches it) and which no instructor command takes for a submission: submitted/<student>/ID/ is
nbgrader's, filled by `nbgrader collect`.

Earlier versions put the copy in submitted/<learner>/ID/, where it showed up as a student in
exports, formgrader and the class report, and made `nbgrader collect` refuse. Such a copy (one
without nbgrader's timestamp.txt, so not a collected submission) is moved here once.
"""

from __future__ import annotations

import getpass
import os
import re
import shutil
import stat
from pathlib import Path

from grader.course import Course
from grader.notebook.owner import other_owner
from grader.notebook.reading import NotGradable, read_notebook

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")


def learner_name(explicit: str | None = None) -> str:
    """--learner, else GRADER_LEARNER, else the login name."""
    name = explicit or os.environ.get("GRADER_LEARNER")
    if not name:
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = "learner"
    if not _SAFE_NAME.match(name):
        raise ValueError(f"learner name {name!r} may use letters, digits, '.', '_', '@' and '-' only")
    return name


def workspace(course: Course, assignment: str) -> Path:
    """<course>/<course id>/<assignment>/: the folder `nbgrader fetch_assignment` fills, the learner's copy."""
    return course.root / course.course_id / assignment


def copy_notebook(course: Course, assignment: str) -> Path:
    """The learner's notebook in `workspace`, whether or not it exists yet."""
    return workspace(course, assignment) / course.source_notebook(assignment).name


def start(course: Course, learner: str, assignment: str) -> tuple[Path, bool, str]:
    """The learner's notebook for `assignment`, copied from release/ if not there yet.

    Returns (notebook, created, note): `note` is one line when a copy at the old place was moved
    (or was left there because a copy exists here already), else ''.
    """
    release = course.release / assignment
    if not release.is_dir():
        raise LookupError(f"release/{assignment} does not exist: is '{assignment}' written yet? (see `grader list`)")
    note = move_old_copy(course, learner, assignment)
    target = workspace(course, assignment)
    created = not target.exists()
    if created:
        target.parent.mkdir(exist_ok=True)
        shutil.copytree(release, target, ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    return copy_notebook(course, assignment), created, note


def default_notebook(course: Course, learner: str, assignment: str) -> tuple[Path, str]:
    """The learner's own copy, to check when no notebook is named, and a note as `start` gives.

    Never the release notebook: judging that untouched stub would record a 0 the learner did not
    ask for. LookupError, saying how to make a copy, when there is none.
    """
    note = move_old_copy(course, learner, assignment)
    mine = copy_notebook(course, assignment)
    if not mine.is_file():
        raise LookupError(
            f"you have no copy of {assignment} yet ({_shown(course, mine)} does not exist): make one with "
            f"`grader start {assignment}`, or name the notebook to check: grader check {assignment} PATH"
        )
    return mine, note


def named_notebook(course: Course, assignment: str, path: Path) -> Path:
    """`path`, absolute, if it can be judged as `assignment`; else LookupError saying what to name instead.

    Refused before any judging, so that nothing is recorded: a path that does not exist, a
    folder, a link or anything else that is not a plain file, another assignment's notebook.
    A file that is there but broken (not JSON, cells missing) is the judge's to report.
    """
    given, path = Path(path), Path(path).absolute()
    try:
        mode = path.lstat().st_mode
    except OSError:
        raise LookupError(f"no notebook {given}: give the path of your saved notebook (or `grader start {assignment}` first)") from None
    if stat.S_ISDIR(mode):
        inside = sorted(path.glob("*.ipynb"))
        hint = f" ({given / inside[0].name})" if len(inside) == 1 else ""
        raise LookupError(f"{given} is a folder, not a notebook: name the .ipynb file in it{hint}")
    if stat.S_ISLNK(mode):
        raise LookupError(f"{given} is a symbolic link: name the notebook file itself ({path.resolve()})")
    if not stat.S_ISREG(mode):
        raise LookupError(f"{given} is not a regular file: name your saved .ipynb notebook")
    try:
        owner = other_owner(course, read_notebook(path), assignment)
    except NotGradable:
        return path
    if owner is not None:
        raise LookupError(f"this notebook ({given}) belongs to {owner}, not {assignment}: check it with `grader check {owner} {given}`")
    return path


def move_old_copy(course: Course, learner: str, assignment: str) -> str:
    """Move submitted/<learner>/<assignment>/, made by an earlier `grader start`, to `workspace`; say so in one line.

    A folder holding timestamp.txt was collected by nbgrader: a real submission, left alone.
    """
    old = course.submitted / learner / assignment
    if not old.is_dir() or old.is_symlink() or (old / "timestamp.txt").exists():
        return ""
    new = workspace(course, assignment)
    if new.exists():
        return (f"note: an older copy of yours is still in {_shown(course, old)}/ (yours is now {_shown(course, new)}/); "
                "delete it, or instructors' commands take it for a class submission")
    new.parent.mkdir(exist_ok=True)
    shutil.move(str(old), str(new))
    try:
        old.parent.rmdir()  # submitted/<learner>/, if nothing else is in it
    except OSError:
        pass
    return f"moved your copy of {assignment} from {_shown(course, old)}/ to {_shown(course, new)}/ (submitted/ is for class submissions)"


def _shown(course: Course, path: Path) -> str:
    """`path` relative to the course folder, as the learner sees it there."""
    try:
        return str(path.relative_to(course.root))
    except ValueError:
        return str(path)
