"""The test-author API under the name every test cell imports: `from grader.testing import ...`.

It lives in grader.judging.testing (the judging stage); this module keeps the import path that
source notebooks and every handed-out notebook use.
"""

from grader.judging.testing import Failure, LearnerError, expect, learner, needs_gpu, reference, scenario

__all__ = ["learner", "reference", "scenario", "expect", "needs_gpu", "Failure", "LearnerError"]
