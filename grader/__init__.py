"""The course's autograder: judged checks in a sandbox, a gradebook, progress along the road.

Its folders follow a submission, in order; imports only run down this list:

    course, roadmap  where things are on disk and the settings; the road (roadmap.toml)
    notebook/        reading a notebook, its cells, the learner's answer, the learner's own copy
    sandbox/         the wall: plain data, the channel, the judge's and the learner's sides,
                     Landlock, the learner interpreter and the judge's handle on it
    judging/         what test cells import (testing, expect), the judge, diagnosis, results
    gradebook/       the schema of every table, the one writer and the one reader
    report/          a check as people read it: terminal, check cell, feedback page, CSV
    class_grading/   a whole class in parallel: the batch, its workers, the export
    progress/        how far along the road: model, build, next step, terminal, page, CSV
    authoring/       for course authors: release through nbgrader, the self-test plugin
    cli              the `grader` command, which imports each wing only when it runs

`grader.testing` and `grader.notebook_check` keep the import paths that test cells and every
handed-out notebook use.
"""

__version__ = "0.1.0"
