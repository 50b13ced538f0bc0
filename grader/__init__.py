"""The course's autograder: judged checks in a sandbox, a gradebook, progress along the road.

A submission's way through the package, module by module:

    notebook_reading    read the learner's notebook, or say why it is not gradable
    answer_extraction   find solution cells by grade_id, keep only definitions
    plain_data          the only format that crosses the sandbox boundary
    channel             framed messages over the learner process's pipes
    sandbox             limits, network, files and privileges of the learner process
    learner_process     the sandboxed interpreter that runs the learner's code
    learner_connection  the judge's handle on it: calls, time limits, restarts
    testing, expect     what test cells import, in the kernel and in the judge
    judge               run every test cell from source/ and decide each verdict
    misconception       name the classic mistake behind a failure (tests/known_wrong/)
    gradebook           record the verdicts in nbgrader's gradebook
    report              tell the learner: terminal table, summary line, JSON
    notebook_check      the same, inline, from the check cell that ends every notebook

Around it: `cli` (the `grader` command), `course` and `roadmap` (where things are, the road),
`workspace` (a learner's own copy), `release` (source/ to release/ and solutions/ via nbgrader),
`autograde` and `autograde_workers` (a class, in parallel), `feedback` (pages and CSV for a
class), `progress`, `progress_gradebook`, `next_step`, `progress_report`, `progress_html` and
`progress_figures` (how far along the road), `selftest` (the course self-test, a pytest plugin).
"""

__version__ = "0.1.0"
