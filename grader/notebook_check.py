"""The check cell's entry point under the name every handed-out notebook imports.

`from grader.notebook_check import check_saved_notebook` is baked into the last cell of every
release notebook; the check cell itself lives in grader.report.check_cell.
"""

from grader.report.check_cell import check_saved_notebook

__all__ = ["check_saved_notebook"]
