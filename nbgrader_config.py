"""nbgrader and grader settings for this course (a traitlets config file, read by both)."""

import os
from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when this file is loaded

course_root = Path(__file__).resolve().parent

c.CourseDirectory.course_id = "llm-course"
c.CourseDirectory.root = str(course_root)
c.CourseDirectory.source_directory = "source"
c.CourseDirectory.release_directory = "release"
c.CourseDirectory.solution_directory = "solutions"
c.CourseDirectory.submitted_directory = "submitted"
c.CourseDirectory.autograded_directory = "autograded"
c.CourseDirectory.feedback_directory = "feedback"
c.CourseDirectory.db_url = f"sqlite:///{course_root / 'gradebook.db'}"
# The text twins (<id>.py, jupytext percent format) are the authored form of each notebook, and
# reference_times.json the reference's measured time per test: neither is copied into release/.
# Never handed out: the text twins (<id>.py), scripts that train from the reference solution, the
# author's files. Other modules beside a notebook ship with it (course_model.py, from 19 on).
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "[0-9][0-9]-*.py", "train_*.py",
                            "reference_times.json", "audit.toml"]

# The exchange lives inside the course, so the JupyterLab extension finds released assignments.
c.Exchange.root = str(course_root / "exchange")
c.Exchange.path_includes_course = True

# Plain nbgrader (validate / autograde) runs test cells in a kernel: give each cell a clear time
# budget and use this environment's python, never a stray user-level kernelspec.
os.environ.setdefault("JUPYTER_PREFER_ENV_PATH", "1")
c.Execute.timeout = 120
c.Execute.kernel_name = "python3"
c.ExecutePreprocessor.kernel_name = "python3"
c.ClearSolutions.code_stub = {"python": "raise NotImplementedError()"}
c.OverwriteCells.add_missing_cells = True
c.ClearHiddenTests.begin_test_delimeter = "BEGIN HIDDEN TESTS"
c.ClearHiddenTests.end_test_delimeter = "END HIDDEN TESTS"

# nbgrader's generate_feedback (and formgrader's Generate Feedback button) write the grader's
# feedback page: instructor grades and comments, late penalty, and never hidden test code.
c.GenerateFeedback.exporter_class = "grader.report.nbgrader_feedback.GraderFeedback"

# The judged grader (grader check / grader autograde): limits on the learner process.
# A test may use time_factor times the reference's own CPU time on it (source/<id>/reference_times.json),
# at least time_floor and at most time_per_test seconds (a test cell may declare more in its
# metadata, grader={"time_limit": 60}, for training); all tests of one notebook at most
# time_per_submission seconds of wall time.
c.Sandbox.time_per_test = 15.0
c.Sandbox.time_floor = 2.0
c.Sandbox.time_factor = 25.0
c.Sandbox.time_per_submission = 180.0
c.Sandbox.time_to_load = 60.0
c.Sandbox.memory_mb = 4096
c.Sandbox.processes = 64
c.Sandbox.output_mb = 64
c.Sandbox.disk_mb = 256  # all it may write: a private working folder (tmpfs) that vanishes with it
c.Sandbox.shm_mb = 64  # its private /dev/shm
c.Sandbox.learner_uid = 65534  # when grading as root, learner code runs as this unprivileged user (nobody)
c.Sandbox.learner_gid = 65534

# Limits on the judge itself while `grader autograde` grades one submission: memory it may add,
# its own seconds on top of the learner's (one submission's budget: time_to_load +
# time_per_submission + judge_extra, past which it is "not gradable: took too long"), and the
# grace after which a judge that does not stop has its worker killed and replaced.
c.Sandbox.judge_memory_mb = 4096
c.Sandbox.judge_extra = 30.0
c.Sandbox.judge_grace = 15.0
