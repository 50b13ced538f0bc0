"""Bounds on the judge itself while it grades one submission of a class: wall clock, CPU time, memory.

The learner process has its own limits (grader.sandbox); these are the judge's, in the worker
that grades the submission, so that nothing a learner sends (a value the tests broadcast
before checking its shape, a decoding that takes long, a judge stuck in a loop) can hold or
exhaust the grading machine:

- memory: a soft address-space limit of `c.Sandbox.judge_memory_mb` above what the worker
  already uses: an allocation past it fails (a failed test, or "not gradable"), it never
  takes the machine's memory;
- CPU time: a soft limit of the submission's budget; the kernel's SIGXCPU stops the check;
- wall clock: a timer that stops the check at the budget (an exception raised in the grading
  thread) and, should the judge not come back within `c.Sandbox.judge_grace` seconds (stuck inside a
  C call), kills the worker (after `c.Sandbox.judge_grace`): the pool replaces it and the batch goes on. A marker file beside
  the staged notebook tells whoever retries it (the pool, Dask) that it took too long.

`submission_budget(limits)` is the wall-clock budget of one submission; the pool's own
watchdog (grader.class_grading.workers.pool_results) waits that plus two graces at most, then
kills a worker that could not even kill itself (stopped, or its threads starved).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import signal
import threading
import time
from pathlib import Path



class TookTooLong(BaseException):
    """The submission used up its budget (a BaseException: no `except Exception` in the judge swallows it)."""


def submission_budget(limits) -> float:
    """Wall-clock seconds one submission may take: the learner's limits and the judge's own work (`judge_extra`)."""
    return limits.time_to_load + limits.time_per_submission + limits.judge_extra


def overrun_marker(notebook: str | Path) -> Path:
    """The marker beside a staged notebook that says its check ran past the budget."""
    return Path(notebook).with_name(Path(notebook).name + ".took-too-long")


def worker_file(notebook: str | Path) -> Path:
    """Beside a staged notebook: the pid of the worker grading it (for the pool's watchdog)."""
    return Path(notebook).with_name(Path(notebook).name + ".worker")


def too_long_reason(budget: float) -> str:
    return (f"took too long: grading this notebook took more than {budget:.0f} s, the limit for one submission; "
            "a function of it is probably stuck in a loop or far too slow: run the notebook top to bottom and "
            "time each test cell, then submit again")


@contextlib.contextmanager
def judge_limits(limits, notebook: str | Path):
    """Run the body under the judge's limits for one submission (see the module's docstring)."""
    budget = submission_budget(limits)
    marker = overrun_marker(notebook)
    grading = threading.current_thread()
    stop, deciding = threading.Event(), threading.Lock()

    def watch():
        if stop.wait(budget):
            return
        with deciding:  # either the check ended first, or it is told to stop: never both
            if stop.is_set():
                return
            _touch(marker)
            _raise_in(grading, TookTooLong)
        if stop.wait(limits.judge_grace):
            return
        os.kill(os.getpid(), signal.SIGKILL)  # stuck where no exception reaches: the pool replaces this worker

    timer = threading.Thread(target=watch, daemon=True, name="submission-watchdog")
    restore = [_soft_limit(resource.RLIMIT_AS, _address_space() + (limits.judge_memory_mb << 20))]
    if grading is threading.main_thread():  # signal handlers exist only there (a Dask task runs in a thread)
        previous = signal.signal(signal.SIGXCPU, _on_cpu_limit)
        restore.append(_soft_limit(resource.RLIMIT_CPU, int(time.process_time() + budget) + 1))
    timer.start()
    try:
        yield budget
    finally:
        with deciding:
            stop.set()
            _raise_in(grading, None)  # an exception told just as the check ended is not raised later
        for undo in restore:
            undo()
        if grading is threading.main_thread():
            signal.signal(signal.SIGXCPU, previous)


def _on_cpu_limit(signum, frame):
    raise TookTooLong


def _raise_in(thread: threading.Thread, exception: type | None) -> None:
    """Raise `exception` in `thread` at its next bytecode (None: forget one not raised yet)."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(thread.ident), ctypes.py_object(exception) if exception else None)


def _soft_limit(which: int, value: int):
    """Lower the soft limit `which` to `value` (never above the hard one); a function that puts it back."""
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, hard))
    return lambda: resource.setrlimit(which, (soft, hard))


def _address_space() -> int:
    """Bytes of address space this process has mapped now (VmSize)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) << 10
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss << 10


def _touch(path: Path) -> None:
    try:
        path.write_text(str(time.time()))
    except OSError:
        pass
