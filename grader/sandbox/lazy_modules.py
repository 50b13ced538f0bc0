"""Modules imported on first use: matplotlib in the course's own cells, torch in scenarios.

Lessons import matplotlib at the top for their plots; a judged check never draws. Running the
source notebook's setup cells (in the judge, and in the learner process before the learner's
answer) with this importer binds `plt` to a stand-in that imports the real module the first
time anything on it is used. A check then pays for matplotlib only if some code really plots.
Only trusted cells from source/ run this way; the learner's own cells import normally.
Scenarios get `torch`, `nn` and `F` the same way (grader.sandbox.namespace): a NumPy assignment
never imports torch in its learner process.
"""

from __future__ import annotations

import builtins
import importlib
import sys
import types

LAZY_PACKAGES = {"matplotlib"}
SUBMODULES = {"pyplot", "cm", "colors", "patches", "animation", "ticker", "gridspec", "lines", "collections"}


class LazyModule(types.ModuleType):
    """A module that imports itself when an attribute of it is first used."""

    def __init__(self, name: str):
        super().__init__(name)

    def _load(self):
        return importlib.import_module(self.__name__)

    def __getattr__(self, attribute: str):
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        if attribute in SUBMODULES and f"{self.__name__}.{attribute}" not in sys.modules:
            return LazyModule(f"{self.__name__}.{attribute}")
        return getattr(self._load(), attribute)

    def __dir__(self):
        return dir(self._load())


def _lazy_import(name, globals=None, locals=None, fromlist=(), level=0):
    top = name.partition(".")[0]
    if level == 0 and top in LAZY_PACKAGES and top not in sys.modules:
        if fromlist:
            return LazyModule(name)
        return LazyModule(top)
    return builtins.__import__(name, globals, locals, fromlist, level)


def lazy_builtins() -> dict:
    """Builtins for exec() whose `import` defers matplotlib."""
    scope = dict(vars(builtins))
    scope["__import__"] = _lazy_import
    return scope
