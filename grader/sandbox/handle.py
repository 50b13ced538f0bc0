"""The judge's handle on a learner process: fork it from the zygote, call into it, time it out, start it again.

A learner process that times out, runs out of memory or dies is killed with everything it
started; the test that was running gets that as its result, and the next test gets a fresh
process with the same answer loaded. On a timeout the judge first asks the process which of
the learner's functions were running, so the judge can tell later tests that reach them.
"""

from __future__ import annotations

import ast
import os
import select
import signal
import tempfile
import time
from pathlib import Path

from grader.course import SandboxLimits
from grader.notebook.answer import Cell
from grader.notebook.cells import imports_of, is_test, read_source
from grader.sandbox import channel
from grader.sandbox.plan import plan, plan_to_json, release
from grader.sandbox.zygote import Zygote, ZygoteClient, ZygoteGone

PROBE_SECONDS = 0.5  # how long a timed-out learner process may take to say where it is


class LearnerError(Exception):
    """The learner's code raised while a test called it."""

    def __init__(self, type_names: list[str], message: str, traceback_lines: list[str]):
        self.type_names = list(type_names)
        self.type_name = self.type_names[0] if self.type_names else "Exception"
        self.message = message
        self.traceback_lines = list(traceback_lines)
        super().__init__(f"{self.type_name}: {message}")

    @property
    def category(self) -> str:
        if "NotImplementedError" in self.type_names:
            return "not implemented"
        if "NotPlainData" in self.type_names:
            return "not plain data"
        if "MemoryError" in self.type_names:
            return "memory"
        return "exception"


class LearnerTimeout(Exception):
    category = "timeout"

    def __init__(self, message: str, running: list[str] = ()):
        super().__init__(message)
        self.running = list(running)  # the learner's functions on the stack when time ran out, outermost first


class LearnerCrashed(Exception):
    category = "crashed"


CLEAN_ENV_KEEP = ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "CUDA_VISIBLE_DEVICES", "LD_LIBRARY_PATH")


def clean_environment(workdir: str) -> dict:
    env = {k: os.environ[k] for k in CLEAN_ENV_KEEP if k in os.environ}
    env.update(
        HOME=workdir, TMPDIR=workdir, USER="learner", LOGNAME="learner", MPLBACKEND="Agg",
        MPLCONFIGDIR=os.path.join(workdir, ".matplotlib"), PYTHONDONTWRITEBYTECODE="1",
        OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONHASHSEED="0",
    )
    env.setdefault("LANG", "C.UTF-8")
    return env


TORCH = ["torch", "torch.nn", "torch.nn.functional"]  # what scenarios that use torch run with
LAZY = ("matplotlib",)  # imported by the course's cells only when something draws


def preload_modules(source: Path, judge_too: bool = False) -> list[str]:
    """Modules a zygote for this assignment imports: the course cells' imports, and torch if scenarios use it.

    `judge_too`: also what the test cells import, for a zygote that forks the judge as well (`grader check`).
    """
    names = ["numpy"]
    for cell in read_source(source)["cells"]:
        if cell["cell_type"] != "code":
            continue
        wanted = imports_of(cell["source"]) if judge_too or not is_test(cell) else []
        if _scenarios_use_torch(cell["source"]):
            wanted += TORCH
        wanted = [m for n in wanted for m in _beside(source.parent, n)]
        names += [n for n in wanted if n.split(".")[0] not in LAZY and n != "__future__"]
    return list(dict.fromkeys(names))


def _beside(folder: Path, name: str) -> list[str]:
    """A module shipped beside the notebook (course_model.py) stands for what it imports: the zygote cannot
    import the module itself (the learner's copy is not on its path), but it can import transformers for it."""
    shipped = folder / f"{name.split('.')[0]}.py"
    if not shipped.is_file():
        return [name]
    try:
        names = imports_of(shipped.read_text(encoding="utf-8"), with_names=True)
    except (OSError, UnicodeDecodeError):
        return []
    return [n for n in names if n.split(":")[0] != "__future__" and not (folder / f"{n.split('.')[0].split(':')[0]}.py").is_file()]


def _scenarios_use_torch(code: str) -> bool:
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and any(getattr(d, "id", None) == "scenario" for d in node.decorator_list):
            if any(isinstance(n, ast.Name) and n.id in ("torch", "nn", "F") for n in ast.walk(node)):
                return True
    return False


def start_zygote(preload: list[str]) -> Zygote:
    """A zygote with a clean environment that has imported `preload` (module names)."""
    environment = clean_environment("/")
    environment["TMPDIR"] = tempfile.gettempdir()  # where a judge forked from it plans its learners' folders
    return Zygote(preload, environment)


class LearnerProcess:
    """One sandboxed learner process holding one learner's answer to one assignment, forked from `zygote`."""

    def __init__(self, course_root: Path, cells: list[Cell], limits: SandboxLimits, files_from: Path | None, tests: int, zygote: ZygoteClient):
        self.course_root, self.cells, self.limits = course_root, cells, limits
        self.files_from, self.tests, self.zygote = files_from, tests, zygote
        self.pid: int | None = None
        self._spawn_request: int | None = None  # asked of the zygote, pid not known yet
        self.load_problems: dict[str, dict] = {}
        self.protections: dict = {}
        self.output_tail = ""
        self._loaded = False

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Fork the process and send it the answer; returns at once (it defines the answer while the judge goes on)."""
        self.plan = plan(self.course_root, self.limits, self.files_from, self.tests)
        requests_r, self.requests = os.pipe()
        self.replies, replies_w = os.pipe()
        probe_r, self.probe = os.pipe()
        self.probe_replies, probe_w = os.pipe()
        theirs = [requests_r, replies_w, probe_r, probe_w]
        self.pid = None
        try:
            self._spawn_request = self.zygote.spawn(plan_to_json(self.plan), theirs)
        except ZygoteGone as error:
            self._close_pipes()
            release(self.plan)
            raise LearnerCrashed(f"the learner process could not be started ({error})") from None
        finally:
            for fd in theirs:
                os.close(fd)
        os.set_blocking(self.requests, False)  # a learner that stops reading must not block the judge
        os.set_blocking(self.probe, False)
        self._loaded = False
        self._load_deadline = time.monotonic() + self.limits.time_to_load
        try:
            channel.send(self.requests, {"op": "load", "cells": [[c.name, c.code, c.trusted] for c in self.cells]}, self._load_deadline)
        except (TimeoutError, OSError):
            pass  # reported when the judge first waits for the answer to be defined

    def ensure_loaded(self) -> None:
        if self._spawn_request is not None:  # started: learn its pid (the zygote may have been busy importing)
            try:
                self.pid = self.zygote.pid(self._spawn_request, self._load_deadline)
            except (ZygoteGone, TimeoutError) as error:
                self._spawn_request = None
                self._close_pipes()
                release(self.plan)
                raise LearnerCrashed(f"the learner process could not be started ({error or 'the zygote did not answer'})") from None
            self._spawn_request = None
        if self.pid is None or self.zygote.status(self.pid) is not None:
            self.stop()
            self.start()
            return self.ensure_loaded()
        if self._loaded:
            return
        deadline = self._load_deadline
        ready = self._reply(deadline, "starting")
        self.protections = ready.get("ready", {})
        loaded = self._reply(deadline, "defining your answer")
        if "error" in loaded:  # the learner process could not even run the cells
            self.stop()
            raise LearnerCrashed(f"the learner process failed while defining your answer: {loaded['error'].get('message', '')}")
        self.load_problems = {name: problem for name, problem in loaded["ok"]}
        self._loaded = True

    def stop(self) -> int | None:
        """Kill the process and all it started, remove its sandbox; its wait status, if known."""
        if self._spawn_request is not None:  # asked for, never used: learn its pid to kill it
            try:
                self.pid = self.zygote.pid(self._spawn_request, time.monotonic() + self.limits.time_to_load)
            except (ZygoteGone, TimeoutError):
                self.pid = None
            self._spawn_request = None
            if self.pid is None:
                self._close_pipes()
                release(self.plan)
                return None
        if self.pid is None:
            return None
        status = self.zygote.status(self.pid)
        if status is None:
            try:
                os.killpg(self.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            status = self.zygote.status(self.pid, wait=2.0)
        self.zygote.forget(self.pid)
        self._close_pipes()
        self.output_tail = _tail(Path(self.plan.workdir) / "output.log")
        release(self.plan)
        self.pid = None
        self._loaded = False
        return status

    def _close_pipes(self) -> None:
        for fd in (self.requests, self.replies, self.probe, self.probe_replies):
            try:
                os.close(fd)
            except OSError:
                pass

    def running(self) -> list[str]:
        """The learner's functions on the process's stack right now (outermost first); [] if it cannot say."""
        try:
            os.write(self.probe, b"?")
            if not select.select([self.probe_replies], [], [], PROBE_SECONDS)[0]:
                return []
            answer = os.read(self.probe_replies, 4096).decode("utf-8", "replace")
        except OSError:
            return []
        return [name for name in answer.strip().split(",") if name.isidentifier()][:16]

    # -- requests -----------------------------------------------------------------------------

    def call(self, name: str, args, kwargs, deadline):
        return self._request({"op": "call", "name": name, "args": list(args), "kwargs": kwargs}, deadline, f"calling {name}")

    def run_scenario(self, source: str, name: str, args, kwargs, deadline):
        return self._request({"op": "scenario", "source": source, "name": name, "args": list(args), "kwargs": kwargs}, deadline, f"running scenario {name}")

    def _request(self, message, deadline, doing: str):
        """Send a request and wait for its answer; `deadline` is a grader.sandbox.deadline.Deadline (or a time)."""
        self.ensure_loaded()
        if hasattr(deadline, "watch"):
            deadline.watch(self.pid)
        try:
            channel.send(self.requests, message, deadline)
        except TimeoutError:
            self._timed_out(doing)
        except OSError:
            self._died(doing)
        reply = self._reply(deadline, doing)
        if hasattr(deadline, "left") and deadline.left() <= 0:  # decoding the reply used up what was left
            self._timed_out(doing)
        if not isinstance(reply, dict):
            raise LearnerCrashed(f"the learner process answered nonsense while {doing}")
        if "error" in reply:
            error = reply["error"]
            raise LearnerError(error.get("types", []), str(error.get("message", "")), error.get("traceback", []))
        return reply.get("ok")

    def _reply(self, deadline, doing: str):
        try:
            return channel.receive(self.replies, deadline)
        except TimeoutError:
            self._timed_out(doing)
        except (channel.ChannelClosed, ValueError, KeyError, TypeError):
            self._died(doing)

    def _timed_out(self, doing: str):
        running = self.running()
        self.stop()
        raise LearnerTimeout(f"took too long while {doing}", running)

    def _died(self, doing: str):
        if self.pid is not None:
            self.zygote.status(self.pid, wait=1.0)  # a process that is ending on its own: let it, for its true status
        status = self.stop()
        if status is not None and os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            name = signal.Signals(number).name
            hint = " (out of memory?)" if number in (signal.SIGKILL, signal.SIGSEGV) else ""
            raise LearnerCrashed(f"the learner process was killed by {name}{hint} while {doing}")
        code = os.WEXITSTATUS(status) if status is not None and os.WIFEXITED(status) else None
        raise LearnerCrashed(f"the learner process exited (code {code}) while {doing}: does your code call exit()?")


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        data = path.read_bytes()[-limit:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace")
