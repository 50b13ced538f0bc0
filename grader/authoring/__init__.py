"""For course authors: source/ to release/ and solutions/ through nbgrader, and the course self-test.

    release   jupytext text twin -> source notebook (with the check cell) -> nbgrader's release and solutions
    selftest  the pytest plugin that tests every assignment (entry point `course-self-test`)
"""
