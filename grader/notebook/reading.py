"""Reading a notebook: anything that is not a readable notebook is not gradable.

Notebooks are read as plain JSON and checked for the structure the grader relies on (nbformat
4: a list of cells, each with a type, a source and metadata). nbformat's full schema check
is not used on the hot path: importing it costs more than a whole judged check.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path


class NotGradable(Exception):
    """A submission that cannot be graded; the message says why and what to do."""


MAX_NOTEBOOK_BYTES = 64 * 1024 * 1024
MAX_CELLS = 5000
CELL_TYPES = {"code", "markdown", "raw"}


def read_regular_file(path: Path, limit: int = MAX_NOTEBOOK_BYTES) -> bytes:
    """The bytes of `path`, read only if it is a regular file reached without a symbolic link at its end.

    Never blocks (a FIFO or a device is refused before any read) and never reads more than
    `limit` bytes. NotGradable otherwise, with what to do.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise NotGradable(f"{path} does not exist") from None
    except OSError as error:  # ELOOP: a symbolic link; EACCES, ...
        link = "is a symbolic link" if path.is_symlink() else f"cannot be opened ({error.strerror})"
        raise NotGradable(f"{path.name} {link}: submit the notebook file itself") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise NotGradable(f"{path.name} is not a regular file: submit the notebook file itself")
        if info.st_size > limit:
            raise NotGradable(f"{path.name} is larger than {limit >> 20} MiB: clear its outputs (Edit › Clear Outputs of All Cells) and save again")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # it grew while being read
                raise NotGradable(f"{path.name} is larger than {limit >> 20} MiB: clear its outputs and save again")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def read_notebook(path: Path) -> dict:
    """The notebook at `path` as a dict, each cell's source one string; or NotGradable."""
    path = Path(path)
    return parse_notebook(read_regular_file(path), path.name)


def parse_notebook(data: bytes, name: str = "the notebook") -> dict:
    """A notebook from its bytes (grader.class_grading hashes and grades the same bytes)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise NotGradable(f"{name} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise NotGradable(
            f"{name} is not valid JSON (line {error.lineno}, column {error.colno}: {error.msg}); "
            "restore it from a checkpoint (File > Revert Notebook to Checkpoint) or start again from the release copy"
        ) from None
    except RecursionError:
        raise NotGradable(f"{name} nests its JSON too deeply to be a notebook") from None
    return normalise(raw, name)


def normalise(raw, name: str = "the notebook") -> dict:
    if not isinstance(raw, dict) or not isinstance(raw.get("cells"), list):
        raise NotGradable(f"{name} is JSON but not a notebook (it has no list of cells)")
    if type(raw.get("nbformat")) is not int or raw["nbformat"] != 4:
        raise NotGradable(f"{name} is in notebook format {repr(raw.get('nbformat'))[:20]}; save it with JupyterLab (format 4)")
    if len(raw["cells"]) > MAX_CELLS:
        raise NotGradable(f"{name} has {len(raw['cells'])} cells, more than {MAX_CELLS}: start again from the release copy")
    cells = []
    for index, cell in enumerate(raw["cells"]):
        if not isinstance(cell, dict) or not isinstance(cell.get("cell_type"), str) or cell["cell_type"] not in CELL_TYPES:
            raise NotGradable(f"cell {index + 1} of {name} is not a notebook cell")
        source = cell.get("source", "")
        if isinstance(source, list) and all(isinstance(s, str) for s in source):
            source = "".join(source)
        if not isinstance(source, str):
            raise NotGradable(f"cell {index + 1} of {name} has a malformed source")
        if not _is_unicode(source):
            raise NotGradable(f"cell {index + 1} of {name} holds text that is not valid Unicode (an unpaired surrogate, "
                              "written as a \\ud800-style escape): delete it, or start again from the release copy")
        metadata = cell.get("metadata", {})
        if not isinstance(metadata, dict):
            raise NotGradable(f"cell {index + 1} of {name} has malformed metadata")
        nbgrader = metadata.get("nbgrader", {})
        if not isinstance(nbgrader, dict):
            raise NotGradable(f"cell {index + 1} of {name} has malformed nbgrader metadata")
        if not all(isinstance(nbgrader.get(key, ""), str) and _is_unicode(nbgrader.get(key, "")) for key in ("grade_id", "cell_type")):
            raise NotGradable(f"cell {index + 1} of {name} has malformed nbgrader metadata (its grade_id is not text)")
        cells.append({**cell, "source": source, "metadata": metadata})
    return {**raw, "cells": cells}


def _is_unicode(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


SUBMISSION_FILES = ("timestamp.txt", "submission_secret.txt")  # what nbgrader submit writes beside the notebook


def copy_submission_files(folder: Path, target: Path) -> None:
    """timestamp.txt and submission_secret.txt, onward as nbgrader carries them (release_feedback needs the secret)."""
    for name in SUBMISSION_FILES:
        try:
            (target / name).write_bytes(read_regular_file(folder / name, limit=4096))
        except NotGradable:  # none, or not a plain file (a link to another learner's): nbgrader then goes without
            (target / name).unlink(missing_ok=True)
