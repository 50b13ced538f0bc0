"""A private view of the file system for the learner process: its own /tmp, /dev/shm, a minimal /dev, a quota.

Inside a new mount namespace (grader.sandbox.confine makes it, as root or through an
unprivileged user namespace), `private_view(plan)`:

- mounts a fresh tmpfs on /tmp and a small one on /dev/shm, so nothing another learner left
  there (or leaves while this one runs) can be seen, and nothing written there outlives it;
- replaces /dev with a tmpfs holding only null, zero, random and urandom (and the NVIDIA
  device nodes when the plan asks for a GPU), bound from the real ones;
- hides every folder the learner's user could not traverse (root's home, where a Python
  installation often lives) behind an empty tmpfs, keeping only the read paths of the plan;
- mounts a tmpfs of `disk_mb` on the working directory and copies the release files into it:
  the total the learner may write is that quota, and it vanishes with the process.

Mounts are moved with open_tree/move_mount (Linux 5.2+): a path is cloned before the tmpfs
covers it and put back after, so no staging folder is needed. Returns what was done, one
protection name to its words; raises OSError where the machine does not allow it.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import stat

SYS_OPEN_TREE, SYS_MOVE_MOUNT = 428, 429  # the same numbers on every architecture (new syscalls)
OPEN_TREE_CLONE, AT_RECURSIVE, AT_EMPTY_PATH = 1, 0x8000, 0x1000
MOVE_MOUNT_F_EMPTY_PATH = 0x4
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
DEVICES = ("null", "zero", "random", "urandom")
GPU_DEVICE_PREFIXES = ("nvidia",)
TMP_MB = 16  # /tmp itself: TMPDIR points at the working directory, so little is written here

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> int:
    if result < 0:
        error = ctypes.get_errno()
        raise OSError(error, f"{what}: {os.strerror(error)}")
    return result


def _mount(source: str, target: str, kind: str | None, flags: int, options: str | None = None) -> None:
    _check(_libc.mount(source.encode(), target.encode(), kind.encode() if kind else None, ctypes.c_ulong(flags),
                       options.encode() if options else None), f"mount {kind or source} on {target}")


def _clone(path: str) -> int:
    """A detached copy of the tree at `path` (an fd), to put back after its parent is covered."""
    flags = OPEN_TREE_CLONE | os.O_CLOEXEC | (AT_RECURSIVE if os.path.isdir(path) else 0)
    return _check(_libc.syscall(SYS_OPEN_TREE, -100, path.encode(), ctypes.c_uint(flags)), f"open_tree {path}")


def _attach(fd: int, target: str) -> None:
    _check(_libc.syscall(SYS_MOVE_MOUNT, fd, b"", -100, target.encode(), ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)), f"move_mount {target}")
    os.close(fd)


def _tmpfs(target: str, megabytes: float, mode: str, owner: tuple[int, int] | None = None, flags: int = MS_NOSUID | MS_NODEV) -> None:
    options = f"size={max(int(megabytes * 1024), 64)}k,mode={mode}"
    if owner is not None:
        options += f",uid={owner[0]},gid={owner[1]}"
    _mount("tmpfs", target, "tmpfs", flags, options)


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _make_mount_point(path: str, folder: bool) -> None:
    if folder:
        os.makedirs(path, exist_ok=True)
    else:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not os.path.exists(path):
            os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o644))


def untraversable(path: str, uid: int) -> str | None:
    """The topmost folder above `path` that user `uid` may not enter (no execute bit for it), else None."""
    if uid == 0:
        return None
    current = "/"
    for part in [p for p in os.path.normpath(path).split("/") if p]:
        current = os.path.join(current, part)
        try:
            info = os.stat(current)
        except OSError:
            return None
        if not stat.S_ISDIR(info.st_mode):
            return None
        allowed = info.st_mode & (stat.S_IXUSR if info.st_uid == uid else stat.S_IXOTH)
        if not allowed:
            return current
    return None


def private_view(workdir: str, read: list[str], uid: int, gid: int, disk_mb: int, shm_mb: int, gpu: bool) -> dict[str, str]:
    """Build the learner's view (see the module's docstring); the working directory is `workdir` in it."""
    _mount("none", "/", None, MS_REC | MS_PRIVATE)  # nothing done here propagates back to the machine
    hidden = sorted({h for h in (untraversable(p, uid) for p in read if not _under(p, workdir)) if h})
    covered = ["/tmp", "/dev", *hidden]
    keep = [p for p in read if os.path.exists(p) and not _under(p, workdir) and any(_under(p, c) and p != c for c in covered)]
    keep = [p for p in keep if not any(_under(p, other) and p != other for other in keep)]  # the outermost of nested paths
    devices = [d for d in DEVICES if os.path.exists(f"/dev/{d}")]
    if gpu and os.path.isdir("/dev"):
        devices += sorted(d for d in os.listdir("/dev") if d.startswith(GPU_DEVICE_PREFIXES))
    release_files = _clone(workdir)
    clones = {p: _clone(p) for p in keep} | {f"/dev/{d}": _clone(f"/dev/{d}") for d in devices}
    folders = {p for p in clones if os.path.isdir(p)}  # known before the tmpfs covers them
    done: dict[str, str] = {}
    for folder in hidden:
        _tmpfs(folder, 1, "0755", flags=MS_NOSUID | MS_NODEV)
    _tmpfs("/tmp", TMP_MB, "1777")
    _tmpfs("/dev", 1, "0755", flags=MS_NOSUID | MS_NOEXEC)
    os.makedirs("/dev/shm")
    _tmpfs("/dev/shm", shm_mb, "1777", flags=MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for name, target in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2")]:
        os.symlink(target, f"/dev/{name}")
    for path in sorted(clones):  # parents before children
        _make_mount_point(path, path in folders)
        _attach(clones[path], path)
    if hidden:
        done["hidden folders"] = ", ".join(hidden) + " (only the Python installation inside them)"
    done["devices"] = "only " + ", ".join(f"/dev/{d}" for d in devices)
    done["temporary files"] = f"a private /tmp ({TMP_MB} MiB) and /dev/shm ({shm_mb} MiB)"
    os.makedirs(workdir, exist_ok=True)
    _tmpfs(workdir, disk_mb, "0700", owner=(uid, gid))
    source = f"/proc/self/fd/{release_files}"
    for name in os.listdir(source):
        if name == "output.log":
            continue
        origin, target = os.path.join(source, name), os.path.join(workdir, name)
        if os.path.isdir(origin) and not os.path.islink(origin):
            shutil.copytree(origin, target, symlinks=True)
        elif os.path.isfile(origin):
            shutil.copy2(origin, target)
    os.close(release_files)
    if uid != os.getuid():
        for folder, dirs, files in os.walk(workdir):
            for name in [*dirs, *files]:
                os.lchown(os.path.join(folder, name), uid, gid)
    done["disk"] = f"{disk_mb} MiB in all (a private working folder)"
    return done
