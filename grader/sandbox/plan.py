"""The judge's side of the wall: a sandbox planned for one learner process, and removed after it.

The judge `plan`s a sandbox (a working directory holding a copy of the release files, the
paths it may read and write, its limits, cgroups of its own); the learner process applies the
plan to itself (grader.sandbox.confine) before it reads a line of learner code. Each
protection is used where this machine offers it and reported either way, so a report says
which were on:

- files: Landlock lets it read the Python installation, system libraries and an allow-list of
  /etc, and write only its temporary working directory; source/, solutions/, the gradebook and other learners' work are
  out of reach. Landlock also blocks ptrace and signals to processes outside the sandbox.
- network: a new network namespace (as root, or through an unprivileged user namespace),
  else Landlock's TCP rules.
- processes: a pids cgroup (as root), else RLIMIT_NPROC (for an ordinary user).
- memory, CPU time, file size: rlimits.
- what it shares with the machine: a mount namespace with its own /tmp, /dev/shm, a minimal
  /dev and a working folder of at most `disk_mb` (grader.sandbox.mounts), a private IPC
  namespace, and, as root, an unprivileged user without capabilities (`learner_uid`).
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

SYSTEM_READABLE = ["/usr", "/lib", "/lib64", "/lib32", "/bin", "/sbin", "/proc", "/sys", "/opt", "/run/nvidia-persistenced"]
# Of /etc only what the dynamic loader, Python and its libraries read: never the machine's
# other settings (an instructor's /etc/jupyter/nbgrader_config.py with the gradebook's password).
ETC_READABLE = [
    "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives", "/etc/localtime", "/etc/timezone",
    "/etc/fonts", "/etc/mime.types", "/etc/nsswitch.conf", "/etc/passwd", "/etc/group", "/etc/os-release",
]
CGROUP_V1_PIDS, CGROUP_V1_CPU, CGROUP_V2 = "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu", "/sys/fs/cgroup"
CPU_PERIOD_US = 100_000
PREFIX = "grader-"  # then the judge's pid: grader.sandbox.plan.sweep knows whose traces are orphaned


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
    disk_mb: int = 256
    shm_mb: int = 64
    learner_uid: int = 65534
    learner_gid: int = 65534
    gpu: bool = False
    loopback: bool = False  # bring up `lo` inside the learner's own network namespace (reaches nothing outside it)
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
    return safe + [p for p in SYSTEM_READABLE + ETC_READABLE if os.path.exists(p)]


def plan(course_root: Path, limits: SandboxLimits, files_from: Path | None, tests: int, gpu: bool = False) -> Plan:
    """A fresh working directory (a copy of the release files only) and the limits to apply."""
    workdir = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-learner-"))
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
        disk_mb=limits.disk_mb,
        shm_mb=limits.shm_mb,
        learner_uid=limits.learner_uid,
        learner_gid=limits.learner_gid,
        gpu=gpu,
        loopback=limits.loopback,
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
        path = tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir=root)
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
    """Kill whatever the learner left running in its cgroups and remove its traces."""
    for group in [plan_.cgroup, *plan_.extra_cgroups]:
        if group:
            _kill_members(group)
    for group in [*plan_.extra_cgroups, plan_.cgroup]:
        if group:
            _remove_cgroup(group)
    shutil.rmtree(plan_.workdir, ignore_errors=True)


def _kill_members(group: str) -> None:
    for _ in range(50):
        try:
            pids = [int(p) for p in Path(group, "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.01)


def sweep() -> list[str]:
    """Remove the folders and cgroups of learner processes whose judge died before it could (a killed worker).

    Each is named after its judge's pid (`grader-<pid>-...`), so only those of judges that
    are gone are touched, never those of a check running beside this one. Returns what was removed.
    """
    removed = []
    roots = [(tempfile.gettempdir(), False)] + [(r, True) for r in (CGROUP_V1_PIDS, CGROUP_V1_CPU, CGROUP_V2) if os.path.isdir(r)]
    for root, is_cgroup in roots:
        try:
            names = os.listdir(root)
        except OSError:
            continue
        for name in names:
            parts = name.split("-")
            if not name.startswith(PREFIX) or len(parts) < 3 or not parts[1].isdigit() or _judge_alive(int(parts[1])):
                continue
            path = os.path.join(root, name)
            if is_cgroup:
                _kill_members(path)
                _remove_cgroup(path)
            else:
                shutil.rmtree(path, ignore_errors=True)
            if not os.path.exists(path):
                removed.append(path)
    return removed


def _judge_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


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
