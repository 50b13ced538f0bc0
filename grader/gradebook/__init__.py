"""Stage 4, the gradebook: every verdict in nbgrader's gradebook, beside nbgrader's own grades.

    schema   every table the grader uses (its own two, and what it reads of nbgrader's); the upgrade policy
    writer   the one writer: a check's report, a class submission's state
    reader   the one reader: for progress, feedback pages and the class export
"""
