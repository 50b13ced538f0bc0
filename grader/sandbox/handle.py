"""The judge's handle on a learner process: start it, call into it, time it out, start it again.

A learner process that times out, runs out of memory or dies is killed with everything it
started; the test that was running gets that as its result, and the next test gets a fresh
process with the same answer loaded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from grader.course import SandboxLimits
from grader.notebook.answer import Cell
from grader.sandbox import channel
from grader.sandbox.plan import plan, plan_to_json, release


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


class LearnerProcess:
    """One sandboxed learner process holding one learner's answer to one assignment."""

    def __init__(self, course_root: Path, cells: list[Cell], limits: SandboxLimits, files_from: Path | None, tests: int):
        self.course_root, self.cells, self.limits = course_root, cells, limits
        self.files_from, self.tests = files_from, tests
        self.process = None
        self.load_problems: dict[str, dict] = {}
        self.protections: dict = {}
        self.output_tail = ""
        self._loaded = False

    # -- life cycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the process and send it the answer; returns at once (imports overlap the judge's)."""
        self.plan = plan(self.course_root, self.limits, self.files_from, self.tests)
        to_learner_r, to_learner_w = os.pipe()
        from_learner_r, from_learner_w = os.pipe()
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "grader.sandbox.interpreter", plan_to_json(self.plan), str(to_learner_r), str(from_learner_w)],
            pass_fds=(to_learner_r, from_learner_w),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            cwd=self.plan.workdir, env=clean_environment(self.plan.workdir), start_new_session=True,
        )
        os.close(to_learner_r)
        os.close(from_learner_w)
        self.requests, self.replies = to_learner_w, from_learner_r
        self._loaded = False
        channel.send(self.requests, {"op": "load", "cells": [[c.name, c.code, c.trusted] for c in self.cells]})

    def ensure_loaded(self) -> None:
        if self.process is None or self.process.poll() is not None:
            self.stop()
            self.start()
        if self._loaded:
            return
        deadline = time.monotonic() + self.limits.time_to_load
        ready = self._reply(deadline, "starting")
        self.protections = ready.get("ready", {})
        loaded = self._reply(deadline, "defining your answer")
        if "error" in loaded:  # the learner process could not even run the cells
            self.stop()
            raise LearnerCrashed(f"the learner process failed while defining your answer: {loaded['error'].get('message', '')}")
        self.load_problems = {name: problem for name, problem in loaded["ok"]}
        self._loaded = True

    def stop(self) -> None:
        if self.process is None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()
        for fd in (self.requests, self.replies):
            try:
                os.close(fd)
            except OSError:
                pass
        self.output_tail = _tail(Path(self.plan.workdir) / "output.log")
        release(self.plan)
        self.process = None
        self._loaded = False

    # -- requests -----------------------------------------------------------------------------

    def call(self, name: str, args, kwargs, deadline: float):
        return self._request({"op": "call", "name": name, "args": list(args), "kwargs": kwargs}, deadline, f"calling {name}")

    def run_scenario(self, source: str, name: str, args, kwargs, deadline: float):
        return self._request({"op": "scenario", "source": source, "name": name, "args": list(args), "kwargs": kwargs}, deadline, f"running scenario {name}")

    def _request(self, message, deadline: float, doing: str):
        self.ensure_loaded()
        try:
            channel.send(self.requests, message)
        except (BrokenPipeError, OSError):
            self._died(doing)
        reply = self._reply(deadline, doing)
        if not isinstance(reply, dict):
            raise LearnerCrashed(f"the learner process answered nonsense while {doing}")
        if "error" in reply:
            error = reply["error"]
            raise LearnerError(error.get("types", []), str(error.get("message", "")), error.get("traceback", []))
        return reply.get("ok")

    def _reply(self, deadline: float, doing: str):
        try:
            return channel.receive(self.replies, deadline)
        except TimeoutError:
            self.stop()
            raise LearnerTimeout(f"took too long while {doing} (time limit {self.limits.time_per_test:g} s per test): is there an infinite loop?") from None
        except (channel.ChannelClosed, ValueError, KeyError, TypeError):
            self._died(doing)

    def _died(self, doing: str):
        code = self.process.poll() if self.process else None
        if code is None and self.process is not None:
            try:
                code = self.process.wait(timeout=1)
            except subprocess.TimeoutExpired:
                pass
        self.stop()
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (out of memory?)" if -code in (signal.SIGKILL, signal.SIGSEGV) else ""
            raise LearnerCrashed(f"the learner process was killed by {name}{hint} while {doing}")
        raise LearnerCrashed(f"the learner process exited (code {code}) while {doing}: does your code call exit()?")


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        data = path.read_bytes()[-limit:]
    except OSError:
        return ""
    return data.decode("utf-8", "replace")
