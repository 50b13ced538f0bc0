"""nbgrader's own feedback commands, answered with the grader's feedback page.

`nbgrader generate_feedback` and formgrader's "Generate Feedback" button convert each
autograded notebook to HTML. With this exporter (nbgrader_config.py:
`c.GenerateFeedback.exporter_class = "grader.report.nbgrader_feedback.GraderFeedback"`) they
write, at the same place, the page `grader feedback` writes: the property each test checks, how it
failed, the instructor's grades and comments, the late penalty; never a test cell's code, so
hidden tests stay hidden. A notebook graded by plain `nbgrader autograde` (no judged results)
gets nbgrader's usual page with every hidden test's source and output blanked.
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.exporters import HTMLExporter


class GraderFeedback(HTMLExporter):
    """An HTMLExporter whose page is the grader's feedback page for the notebook's learner."""

    def from_notebook_node(self, nb, resources=None, **kw):
        from grader.course import Course
        from grader.report.feedback_page import page_for

        info = (resources or {}).get("nbgrader", {})
        coursedir = getattr(self.parent, "coursedir", None)
        course = Course(Path(coursedir.root)) if coursedir is not None else Course.find()
        page = page_for(course, info.get("assignment", ""), info.get("student", ""))
        if page is None:
            return super().from_notebook_node(_without_hidden_tests(nb, course), resources, **kw)
        resources = self._init_resources(resources)
        resources["output_extension"] = self.file_extension
        return page, resources


def _without_hidden_tests(nb, course):
    """nbgrader's ClearHiddenTests on a copy, and the outputs of those cells removed (tracebacks quote them)."""
    import copy

    from nbgrader.preprocessors import ClearHiddenTests

    nb = copy.deepcopy(nb)
    clearing = ClearHiddenTests(config=course.config)
    for index, cell in enumerate(nb.cells):
        before = cell.source
        cell, _ = clearing.preprocess_cell(cell, {}, index)
        if cell.source != before and cell.cell_type == "code":
            cell.outputs = []
    return nb
