"""The judge's side of the wall: a sandbox planned for one learner process, and removed after it.

The judge `plan`s a sandbox (a working directory holding a copy of the release files, the
paths it may read and write, its limits, cgroups of its own); the learner process applies the
plan to itself (grader.sandbox.confine) before it reads a line of learner code. Each
protection is used where this machine offers it and reported either way, so a report says
which were on:

- files: Landlock lets it read the Python installation and system libraries and write only its
  temporary working directory; source/, solutions/, the gradebook and other learners' work are
  out of reach. Landlock also blocks ptrace and signals to processes outside the sandbox.
- network: a new network namespace (as root, or through an unprivileged user namespace),
  else Landlock's TCP rules.
- processes: a pids cgroup (as root), else RLIMIT_NPROC (for an ordinary user).
- memory, CPU time, file size: rlimits. Capabilities are dropped when running as root.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import sysconfig
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from grader.course import SandboxLimits

SYSTEM_READABLE = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/etc", "/proc", "/sys", "/opt", "/run/nvidia-persistenced"]
CGROUP_V1_PIDS, CGROUP_V1_CPU, CGROUP_V2 = "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup"
CPU_PERIOD_US = 100_000


@dataclass
class Plan:
    """What the judge hands to the learner process (as JSON on its command line)."""

    workdir: str
    read: list[str]
    write: list[str]
    memory_mb: int
    processes: int
    cpu_seconds: int
    output_mb: int
    cgroup: str | None = None  # the pids cgroup (cgroup v2: the one cgroup)
    extra_cgroups: list[str] = field(default_factory=list)  # cgroup v1: the cpu cgroup
    protections: dict = field(default_factory=dict)


def readable_paths(course_root: Path) -> list[str]:
    """The Python installation and this package, never the course itself."""
    import grader

    candidates = {sys.prefix, sys.base_prefix, sys.exec_prefix, str(Path(grader.__file__).parent)}
    candidates.update(p for p in sys.path if p and os.path.isdir(p))
    candidates.update(v for k, v in sysconfig.get_paths().items() if os.path.isdir(v))
    course = course_root.resolve()
    safe = []
    for path in sorted(candidates):
        resolved = Path(path).resolve()
        if resolved == course or resolved in course.parents:
            continue  # would expose the course (a source checkout on sys.path)
        if course in resolved.parents and resolved != Path(grader.__file__).parent.resolve():
            continue
        safe.append(str(resolved))
    return safe + [p for p in SYSTEM_READABLE if os.path.exists(p)]


def plan(course_root: Path, limits: SandboxLimits, files_from: Path | None, tests: int) -> Plan:
    """A fresh working directory (a copy of the release files only) and the limits to apply."""
    workdir = Path(tempfile.mkdtemp(prefix="grader-learner-"))
    if files_from is not None and files_from.is_dir():
        for item in files_from.iterdir():
            if item.name.startswith("."):
                continue
            target = workdir / item.name
            (shutil.copytree if item.is_dir() else shutil.copy2)(item, target)
    cpu = int(limits.time_to_load + limits.time_per_test * max(tests, 1) + 30)
    return Plan(
        workdir=str(workdir),
        read=readable_paths(course_root) + [str(workdir)],
        write=[str(workdir), "/dev"],
        memory_mb=limits.memory_mb,
        processes=limits.processes,
        cpu_seconds=cpu,
        output_mb=limits.output_mb,
        **_make_cgroups(limits.processes),
    )


def _make_cgroups(processes: int) -> dict:
    """Cgroups of its own (root only): at most `processes` processes sharing one CPU, all killed at the end.

    The CPU share keeps a fork bomb or a spinning loop from slowing every other submission
    being graded beside it.
    """
    if os.geteuid() != 0:
        return {}
    settings = {"pids.max": str(processes), "cpu.max": f"{CPU_PERIOD_US} {CPU_PERIOD_US}"}
    if os.path.isfile(os.path.join(CGROUP_V1_PIDS, "cgroup.procs")):
        pids = _cgroup(CGROUP_V1_PIDS, {"pids.max": settings["pids.max"]})
        cpu = _cgroup(CGROUP_V1_CPU, {"cpu.cfs_period_us": str(CPU_PERIOD_US), "cpu.cfs_quota_us": str(CPU_PERIOD_US)})
        return {"cgroup": pids, "extra_cgroups": [cpu] if cpu else []}
    if os.path.isfile(os.path.join(CGROUP_V2, "cgroup.controllers")):
        return {"cgroup": _cgroup(CGROUP_V2, settings)}
    return {}


def _cgroup(root: str, settings: dict) -> str | None:
    try:
        path = tempfile.mkdtemp(prefix="grader-", dir=root)
    except OSError:
        return None
    for name, value in settings.items():
        try:
            with open(os.path.join(path, name), "w") as f:
                f.write(value)
        except OSError:
            if name == "pids.max":
                os.rmdir(path)
                return None
    return path


def release(plan_: Plan) -> None:
    """Kill whatever the learner left running in its cgroup and remove its traces."""
    for extra in plan_.extra_cgroups:
        _remove_cgroup(extra)
    if plan_.cgroup:
        for _ in range(50):
            try:
                pids = [int(p) for p in Path(plan_.cgroup, "cgroup.procs").read_text().split()]
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.01)
        _remove_cgroup(plan_.cgroup)
    shutil.rmtree(plan_.workdir, ignore_errors=True)


def _remove_cgroup(path: str) -> None:
    for _ in range(50):  # a cgroup is removable once its killed processes are reaped
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.01)


def plan_to_json(plan_: Plan) -> str:
    import json

    return json.dumps(asdict(plan_))


def plan_from_json(text: str) -> Plan:
    import json

    return Plan(**json.loads(text))
