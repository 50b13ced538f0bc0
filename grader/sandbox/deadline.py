"""A test's time limit, counted in the learner process's own CPU seconds, with a wall-clock bound.

On a machine busy with other work (a class graded in parallel, a test suite on every core) an
honest learner process waits for a core, and its wall time grows while its CPU time does not:
counting CPU time keeps a slow machine from failing honest work. A process that uses no CPU at
all (it sleeps, or blocks on something) is stopped by the wall-clock bound instead.
"""

from __future__ import annotations

import os
import time

CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
WALL_FACTOR, WALL_EXTRA = 3.0, 2.0  # the wall-clock bound: 3 times the CPU limit, plus 2 s


def cpu_seconds(pid: int) -> float | None:
    """CPU time of process `pid` and its reaped children (Linux /proc), or None where it cannot be read."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    try:
        return sum(int(f) for f in fields[11:15]) / CLOCK_TICKS  # utime, stime, cutime, cstime
    except ValueError:
        return None


class Deadline:
    """`seconds` of the watched process's CPU time, and at most WALL_FACTOR times that of wall time."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.started = time.monotonic()
        self.wall_end = self.started + WALL_FACTOR * seconds + WALL_EXTRA
        self._pid: int | None = None
        self._cpu_at_start = 0.0
        self._cpu_before = 0.0  # CPU used by processes watched earlier in this test (restarts)
        self._charged = 0.0  # the judge's own CPU spent on what the learner sent (decoding its replies)

    def charge(self, seconds: float) -> None:
        """Count `seconds` of the judge's work on the learner's behalf against this limit."""
        self._charged += max(seconds, 0.0)

    def watch(self, pid: int | None) -> None:
        """Count the CPU time of `pid` from now on (a test whose learner process restarted goes on counting)."""
        if pid == self._pid or pid is None:
            return
        if self._pid is not None:
            self._cpu_before += max((cpu_seconds(self._pid) or self._cpu_at_start) - self._cpu_at_start, 0.0)
        self._pid = pid
        self._cpu_at_start = cpu_seconds(pid) or 0.0

    def used(self) -> float:
        """CPU seconds used against this limit so far."""
        now = cpu_seconds(self._pid) if self._pid is not None else None
        return self._charged + self._cpu_before + (max(now - self._cpu_at_start, 0.0) if now is not None else 0.0)

    def left(self) -> float:
        """Seconds left before the limit is reached: the smaller of CPU time and wall time left."""
        now = time.monotonic()
        if self._pid is None or cpu_seconds(self._pid) is None:  # no CPU clock here: wall time only
            return self.seconds - (now - self.started) - self._charged
        return min(self.wall_end - now, self.seconds - self.used())
