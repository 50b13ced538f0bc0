"""Stage 1, the notebook: read it as data, find its cells by grade_id, keep the learner's answer.

    reading    a notebook from disk, or "not gradable: reason"
    cells      test cells, solution cells and hidden parts, from their nbgrader metadata
    answer     which code runs: the learner's solution cells and the trusted setup, definitions only
    workspace  a learner's own copy of an assignment
"""
