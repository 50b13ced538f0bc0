"""A warm, secret-free parent for learner processes: `python -I -m grader.sandbox.zygote`.

Starting an interpreter and importing NumPy and torch costs a learner process one to two
seconds; forking a process that has already done so costs milliseconds. The zygote is that
process: started with a clean environment, it imports the modules learners use (never a line
of the course's tests or reference, never a learner's answer), then forks one learner process
per request. Each child confines itself at once (grader.sandbox.confine) and serves the judge
over pipes the judge created (grader.sandbox.interpreter), so nothing a learner did in one
child reaches another: every child starts from the zygote's pristine memory.

It can also fork a *judge* (`run`): a child that runs a trusted function of the grader with a
connection of its own to the zygote, through which it asks for learner processes in turn. That
is how `grader check` pays for importing torch once, not twice: the judge is a fork of the warm
zygote. The judge may then load hidden tests and the reference; it never forks anything itself,
and learner processes are always forked from the zygote, never from a judge.

The judge's side is `ZygoteClient` (`Zygote` also starts and owns the process): requests go
over a Unix socket pair, with the child's pipes passed by SCM_RIGHTS; the zygote answers with
the child's pid, and later its exit status. The zygote dies with the process that started it.
"""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time

PR_SET_PDEATHSIG = 1
MAX_MESSAGE = 1 << 20
RUNNABLE = {"grader.judging.remote": "judge"}  # module -> function a `run` request may call: nothing else


# --- the judge's side -----------------------------------------------------------------------


class ZygoteGone(RuntimeError):
    """The zygote process died or stopped answering."""


class ZygoteClient:
    """A connection to a zygote: ask for children, learn their pids and how they ended."""

    def __init__(self, control: socket.socket):
        self.control = control
        self._statuses: dict[int, int] = {}  # pid -> wait status of children that ended
        self._spawned: dict[int, int] = {}  # request number -> pid
        self._requests = 0

    def alive(self) -> bool:
        return self.control.fileno() >= 0

    def spawn(self, plan_json: str, fds: list[int]) -> int:
        """Ask for a learner process that applies `plan_json` and serves the judge on `fds`; a request number.

        Returns at once (the zygote may still be importing): `pid(request)` waits for the process.
        The caller may close its copies of `fds` as soon as this returns.
        """
        return self._ask({"op": "spawn", "plan": plan_json}, fds)

    def run(self, module: str, arguments: dict, fds: list[int]) -> int:
        """Ask for a child that runs `module`'s runnable function with `arguments` and `fds`, and a connection of its own."""
        return self._ask({"op": "run", "module": module, "arguments": arguments}, fds)

    def _ask(self, request: dict, fds: list[int]) -> int:
        self._requests += 1
        try:
            socket.send_fds(self.control, [json.dumps({**request, "request": self._requests}).encode()], fds)
        except OSError as error:
            raise ZygoteGone(f"the zygote cannot be reached ({error})") from None
        return self._requests

    def pid(self, request: int, deadline: float) -> int:
        """The pid of the child asked for by `request`, once the zygote forked it."""
        while request not in self._spawned:
            self._next(deadline)
        return self._spawned.pop(request)

    def status(self, pid: int, wait: float = 0.0) -> int | None:
        """The wait status of child `pid` once it ended (as os.waitpid gives it), else None."""
        deadline = time.monotonic() + wait
        while pid not in self._statuses:
            try:
                self._next(deadline)
            except (TimeoutError, ZygoteGone):
                return None
        return self._statuses[pid]

    def failure(self) -> str:
        """Why the zygote ended, when this side can tell ('' otherwise)."""
        return ""

    def forget(self, pid: int) -> None:
        """Child `pid` is done with: its status is no longer needed."""
        self._statuses.pop(pid, None)

    def _next(self, deadline: float) -> dict:
        """The zygote's next message (pids and exit statuses are noted on the way); TimeoutError past `deadline`."""
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([self.control], [], [], left)[0]:
            raise TimeoutError
        try:
            data = self.control.recv(MAX_MESSAGE)
        except OSError:
            data = b""
        if not data:
            raise ZygoteGone(self.failure() or "the zygote process ended")
        message = json.loads(data)
        if "spawned" in message:  # noted whoever waits: a status() call may read the answer to a spawn
            self._spawned[int(message["request"])] = int(message["spawned"])
        if "exited" in message:
            self._statuses[int(message["exited"])] = int(message["status"])
        return message

    def close(self) -> None:
        self.control.close()


class Zygote(ZygoteClient):
    """A zygote process of our own, and the first connection to it."""

    def __init__(self, preload: list[str], environment: dict, cwd: str = "/"):
        self.preload = list(preload)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._errors = tempfile.TemporaryFile()  # the zygote's own stderr, told when it dies (children write elsewhere)
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-m", "grader.sandbox.zygote", str(theirs.fileno()), json.dumps(self.preload)],
            pass_fds=(theirs.fileno(),), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._errors,
            cwd=cwd, env=environment, start_new_session=True,
        )
        theirs.close()
        super().__init__(mine)

    def alive(self) -> bool:
        return self.process.poll() is None

    def failure(self) -> str:
        """Why the zygote ended, from the last line of its stderr ('' while it runs)."""
        try:
            self.process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return ""
        self._errors.seek(0)
        lines = self._errors.read()[-4000:].decode(errors="replace").strip().splitlines()
        last = lines[-1] if lines else f"exit status {self.process.returncode}"
        if "No module named 'grader'" in last:
            last += f" (the grader must be installed for {sys.executable}: pip install -e <course>)"
        return f"the zygote process ended: {last}"

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.process.poll() is None:
                self.process.kill()
            self._errors.close()
            self.process.wait()


# --- inside the zygote ----------------------------------------------------------------------


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    _die_with_parent()
    if os.getppid() == 1:
        os._exit(0)  # the judge died before the line above took effect
    for name in json.loads(sys.argv[2]):
        module, _, attribute = name.partition(":")  # "transformers:GPT2LMHeadModel" loads a lazy module's name too
        try:
            loaded = importlib.import_module(module)
            if attribute:
                getattr(loaded, attribute)
        except Exception:  # noqa: BLE001 - a module the machine lacks: the learner's import reports it
            pass
    from grader.sandbox import interpreter  # noqa: F401 - everything a learner child runs, imported once here

    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    clients = [control]  # the first is the owner's: when it closes, the zygote ends
    owner_of: dict[int, socket.socket] = {}  # child pid -> the client that asked for it
    while True:
        ready = select.select([*clients, wake_r], [], [])[0]
        if wake_r in ready:
            os.read(wake_r, 4096)
            _report_exits(owner_of)
        for client in [c for c in clients if c in ready]:
            try:
                data, fds, _, _ = socket.recv_fds(client, MAX_MESSAGE, 16)
            except OSError:
                data, fds = b"", []
            if not data:
                if client is control:
                    os._exit(0)  # the owner closed its end
                clients.remove(client)
                client.close()
                continue
            request = json.loads(data)
            own = None
            if request.get("op") == "run":
                own, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            pid = os.fork()
            if pid == 0:
                os.close(wake_r)
                os.close(wake_w)
                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                for other in clients:
                    other.close()
                _die_with_parent()
                if own is None:
                    interpreter.serve(request["plan"], fds)  # never returns
                else:
                    own.close()
                    _run(request, fds, theirs)
                os._exit(70)
            for fd in fds:
                os.close(fd)
            if own is not None:
                theirs.close()
                clients.append(own)
            owner_of[pid] = client
            try:
                client.send(json.dumps({"spawned": pid, "request": request.get("request")}).encode())
            except OSError:
                pass


def _run(request: dict, fds: list[int], connection: socket.socket) -> None:
    """In a child: call the one function `request` names, with a connection to the zygote of its own."""
    module = request.get("module")
    if module not in RUNNABLE:
        os._exit(64)
    function = getattr(importlib.import_module(module), RUNNABLE[module])
    try:
        function(request.get("arguments") or {}, fds, ZygoteClient(connection))
    finally:
        os._exit(0)


def _die_with_parent() -> None:
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _report_exits(owner_of: dict) -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        client = owner_of.pop(pid, None)
        if client is not None:
            try:
                client.send(json.dumps({"exited": pid, "status": status}).encode())
            except OSError:
                pass


if __name__ == "__main__":
    main()
