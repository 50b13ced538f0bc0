"""The learner's side of the wall: the learner process confines itself before running learner code.

`confine(plan)` applies every protection of the plan this machine offers (cgroups, rlimits, a
network namespace, Landlock, dropped capabilities) and says which were on.
"""

from __future__ import annotations

import ctypes
import os
import resource
from pathlib import Path

from grader.sandbox import landlock, mounts
from grader.sandbox.plan import Plan

CLONE_NEWNET, CLONE_NEWUSER, CLONE_NEWNS, CLONE_NEWIPC = 0x40000000, 0x10000000, 0x00020000, 0x08000000

_libc = ctypes.CDLL(None, use_errno=True)


def confine(plan_: Plan) -> dict:
    """Apply every protection this machine offers to the calling process; say which were on."""
    on: dict[str, str] = {}
    for group in [plan_.cgroup, *plan_.extra_cgroups]:
        if not group:
            continue
        try:
            with open(os.path.join(group, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError:
            continue
        if group == plan_.cgroup:
            on["processes"] = f"cgroup pids.max={plan_.processes}"
        if group in plan_.extra_cgroups or os.path.isfile(os.path.join(group, "cpu.max")):
            on["cpu share"] = "one core (cgroup)"
    _limit(resource.RLIMIT_AS, plan_.memory_mb << 20)
    _limit(resource.RLIMIT_CPU, plan_.cpu_seconds)
    _limit(resource.RLIMIT_FSIZE, plan_.output_mb << 20)
    _limit(resource.RLIMIT_CORE, 0)
    on["memory"] = f"{plan_.memory_mb} MiB address space"
    on["cpu"] = f"{plan_.cpu_seconds} s"
    if "processes" not in on and os.geteuid() != 0:
        _limit(resource.RLIMIT_NPROC, _processes_of_this_user() + plan_.processes)
        on["processes"] = f"RLIMIT_NPROC +{plan_.processes}"
    namespaces = _leave_shared_namespaces()
    if "net" in namespaces:
        on["network"] = namespaces["net"]
        if plan_.loopback:
            on["network"] = _loopback_up(namespaces["net"])
    if "ipc" in namespaces:
        on["shared memory"] = "a private IPC namespace (no System V segments or queues of others)"
    uid, gid = (plan_.learner_uid, plan_.learner_gid) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    if "mnt" in namespaces:
        try:
            on.update(mounts.private_view(plan_.workdir, plan_.read, uid, gid, plan_.disk_mb, plan_.shm_mb, plan_.gpu))
        except OSError as error:
            on["temporary files"] = f"shared with the machine ({error})"
    else:
        on["temporary files"] = "shared with the machine (no mount namespace here)"
    os.chdir(plan_.workdir)  # the private working folder, where there is one
    try:
        # TCP only where the learner has a loopback of its own: its network namespace is then the wall
        abi = landlock.restrict(plan_.read, plan_.write, tcp="loopback only" in on.get("network", ""))
    except OSError as error:
        abi = 0
        on["files"] = f"unprotected ({error})"
    if abi:
        on["files"] = f"landlock ABI {abi}"
        if "network" not in on and abi >= 4:
            on["network"] = "landlock: no TCP"
        if abi >= 6:
            on["signals"] = "landlock scoped"
    on["user"] = _become(uid, gid)
    return on


def _limit(which: int, value: int) -> None:
    soft, hard = resource.getrlimit(which)
    if hard != resource.RLIM_INFINITY:
        value = min(value, hard)
    resource.setrlimit(which, (value, value))


def _processes_of_this_user() -> int:
    uid, count = os.getuid(), 0
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{entry}/task"))
            except OSError:
                pass
    return count


def _leave_shared_namespaces() -> dict[str, str]:
    """New network, mount and IPC namespaces (as root, else inside an unprivileged user namespace); which were left."""
    every = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC
    if os.geteuid() == 0:
        if _libc.unshare(every) == 0:
            return {"net": "network namespace (no interfaces)", "mnt": "private", "ipc": "private"}
        return {"net": "network namespace (no interfaces)"} if _libc.unshare(CLONE_NEWNET) == 0 else {}
    uid, gid = os.getuid(), os.getgid()
    if _libc.unshare(CLONE_NEWUSER | every) != 0:
        return {}
    try:
        Path("/proc/self/setgroups").write_text("deny")
        Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
        Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
    except OSError:
        pass
    return {"net": "user + network namespace (no interfaces)", "mnt": "private", "ipc": "private"}


def _loopback_up(namespace: str) -> str:
    """Bring up `lo` in the learner's fresh network namespace: its own 127.0.0.1, joined to no other network."""
    import fcntl
    import socket
    import struct

    SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            flags = struct.unpack("16sH14x", fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack("16sH14x", b"lo", 0)))[1]
            fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    except OSError as error:
        return f"{namespace}; loopback requested but not brought up ({error})"
    return namespace.replace("(no interfaces)", "(loopback only)")


def _become(uid: int, gid: int) -> str:
    """Drop every capability and, as root, become the unprivileged `uid`; the words for the report."""
    _drop_bounding_set()
    if os.geteuid() == 0:
        try:
            os.setgroups([])
            os.setresgid(gid, gid, gid)
            os.setresuid(uid, uid, uid)
        except OSError as error:
            _drop_capabilities()
            return f"root without capabilities (could not become uid {uid}: {error})"
    _drop_capabilities()
    return f"uid {os.getuid()}, not root, no capabilities"


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_bounding_set() -> None:
    PR_CAPBSET_DROP = 24
    for cap in range(64):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)


def _drop_capabilities() -> bool:
    header = _CapHeader(0x20080522, 0)
    data = (_CapData * 2)()
    return _libc.capset(ctypes.byref(header), ctypes.byref(data)) == 0


