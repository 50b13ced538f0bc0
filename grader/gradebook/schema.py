"""Every table of the gradebook the grader uses: its own two, and the parts of nbgrader's it reads.

The grader's tables, beside nbgrader's in the same database (any `db_url` nbgrader accepts):

    grader_test_results     one row per test per attempt: status, points, how it failed, the
                            classic mistake recognised (written by `grader check` and judged grading)
    grader_autograde_state  one row per student and assignment: the bytes last graded, so a
                            re-run of `grader autograde` skips unchanged work

The upgrade policy, one for both: a writer calls `ensure` before it writes; missing tables are
created and columns that a newer grader added are added in place with a default, so an older
gradebook keeps every row. A reader never writes: it needs only the columns every version of
the grader wrote (`REQUIRED`), and treats the others as optional. nbgrader's own tables belong
to nbgrader: an old one is upgraded with `nbgrader db upgrade`.
"""

from __future__ import annotations

import sys

from sqlalchemy import (
    Boolean, Column, DateTime, Float, Index, Integer, MetaData, PrimaryKeyConstraint, String, Table, Text, inspect, text,
)

metadata = MetaData()

test_results = Table(
    "grader_test_results",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("learner", String(128), nullable=False, index=True),
    Column("assignment", String(128), nullable=False, index=True),
    Column("attempt", DateTime, nullable=False),
    Column("test", String(128), nullable=False),
    Column("words", Text, nullable=False),
    Column("status", String(16), nullable=False),  # passed, failed, not run, not gradable
    Column("points", Float, nullable=False),
    Column("max_points", Float, nullable=False),
    Column("hidden", Boolean, nullable=False),
    Column("gpu", Boolean, nullable=False),
    Column("category", String(64), nullable=False),
    Column("message", Text, nullable=False),
    Column("misconception", String(128), nullable=False, default=""),  # known-wrong id, or ""
    Column("origin", String(16), nullable=False, default=""),  # "class" (grader autograde), "check" (the learner's own), "" (older)
    Index("ix_grader_test_results_attempts", "learner", "assignment", "attempt"),
)

autograde_state = Table(
    "grader_autograde_state",
    metadata,
    Column("student", String(128), nullable=False),
    Column("assignment", String(128), nullable=False),
    Column("sha256", String(64), nullable=False),  # of the submitted notebook's bytes
    Column("source_sha256", String(64), nullable=False),  # of source/<ID>/<ID>.ipynb: new tests regrade
    Column("status", String(16), nullable=False),  # graded, not gradable, grader fault (retried)
    Column("points", Float, nullable=False),
    Column("max_points", Float, nullable=False),
    Column("reason", Text, nullable=False),
    Column("graded_at", DateTime, nullable=False),
    PrimaryKeyConstraint("student", "assignment"),
)

# Columns every version of the grader wrote: what a reader may rely on.
REQUIRED = {
    test_results.name: {"learner", "assignment", "attempt", "test", "words", "status", "points", "max_points", "hidden", "gpu", "category"},
    autograde_state.name: {c.name for c in autograde_state.columns},
}


def ensure(engine) -> None:
    """Create the grader's tables where missing, and add the columns an older gradebook lacks."""
    metadata.create_all(engine)
    inspector = inspect(engine)
    with engine.begin() as connection:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name not in present:
                    kind = column.type.compile(dialect=engine.dialect)
                    connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {column.name} {kind} NOT NULL DEFAULT ''"))
    for table in metadata.sorted_tables:
        for index in table.indexes:
            index.create(engine, checkfirst=True)


# --- nbgrader's tables, as far as the grader reads them (nbgrader 0.6 and newer have all of these)

NBGRADER_COLUMNS = {
    "student": {"id"},
    "assignment": {"id", "name"},
    "notebook": {"id", "assignment_id"},
    "base_cell": {"id", "name", "notebook_id"},
    "grade_cells": {"id", "max_score"},
    "submitted_assignment": {"id", "assignment_id", "student_id", "timestamp"},
    "submitted_notebook": {"id", "assignment_id"},
    "grade": {"id", "notebook_id", "cell_id", "auto_score", "manual_score", "extra_credit"},
}

nbgrader = MetaData()
student = Table("student", nbgrader, Column("id", String))
assignment = Table("assignment", nbgrader, Column("id", String), Column("name", String))
notebook = Table("notebook", nbgrader, Column("id", String), Column("assignment_id", String))
base_cell = Table("base_cell", nbgrader, Column("id", String), Column("name", String), Column("notebook_id", String))
grade_cells = Table("grade_cells", nbgrader, Column("id", String), Column("max_score", Float))
submitted_assignment = Table(
    "submitted_assignment", nbgrader, Column("id", String), Column("assignment_id", String), Column("student_id", String), Column("timestamp", DateTime)
)
submitted_notebook = Table("submitted_notebook", nbgrader, Column("id", String), Column("assignment_id", String), Column("late_submission_penalty", Float))
grade = Table(
    "grade", nbgrader, Column("id", String), Column("notebook_id", String), Column("cell_id", String),
    Column("auto_score", Float), Column("manual_score", Float), Column("extra_credit", Float), Column("needs_manual_grade", Boolean),
)


def nbgrader_api():
    """nbgrader's (Gradebook, MissingEntry), imported without jsonschema's optional IRI checker.

    jsonschema imports `rfc3987_syntax` when it is installed, which compiles a grammar at
    import time (over a second here) for a URI format no notebook uses.
    """
    sys.modules.setdefault("rfc3987_syntax", None)
    from nbgrader.api import Gradebook, MissingEntry

    return Gradebook, MissingEntry
