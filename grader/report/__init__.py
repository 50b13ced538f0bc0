"""Stage 5, telling: a check's report as people read it.

    rows           one vocabulary for a test row, shared by the three views below
    terminal       the table `grader check` prints
    check_cell     the cell that ends every notebook: runs `grader check --json`, shows the table inline
    feedback_page  the HTML page a learner gets back from class grading
    spreadsheet    the one CSV writer (spreadsheet-formula guard), for every CSV export
"""
