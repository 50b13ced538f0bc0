"""Stage 6, a whole class: every submission of an assignment judged in parallel, then handed back.

    batch    `grader autograde`: which submissions, resumable, one writer, the summary
    workers  where the checks run: a local process pool or a Dask cluster
    export   the class CSV
"""
