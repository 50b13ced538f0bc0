"""Stage 3, judging: every test cell of source/ runs in the judge against the learner's answer.

    expect     the checks test cells make, each failing with a category and a message
    testing    what test cells import: learner, reference, scenario, expect (also as grader.testing)
    diagnosis  the classic mistake behind a failure, from tests/known_wrong/
    results    one result per test, the report around them, and its codec
    judge      run the test cells and decide each verdict
"""
