"""A real JupyterLab server on a course folder, and a headless Chromium page driving it.

Used by tests/test_jupyterlab_e2e.py. The server listens on 127.0.0.1 only, on a free port,
with a random token, and is started from the course root (nbgrader's server extensions read
nbgrader_config.py from the server's working directory). Both the server (with its kernels)
and the browser are stopped when their `with` block ends, however it ends.

The browser is Debian's /usr/bin/chromium driven by Playwright for Python; Playwright's own
browser download is never used (`playwright install` must not run here: no network).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

CHROMIUM = Path("/usr/bin/chromium")
# No GPU, no sandbox (root in a container), and nothing that talks to the outside world.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def missing_browser() -> str | None:
    """Why the browser test cannot run here, or None when it can."""
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is missing: install Debian's browser with `apt-get install -y chromium`"
    if importlib.util.find_spec("playwright") is None:
        return "Playwright for Python is missing: `pip install playwright` (never `playwright install`)"
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LabServer:
    """A running `jupyter lab` on `root`; `url(path)` gives an address with the token."""

    root: Path
    port: int
    token: str
    process: subprocess.Popen
    log: Path

    def url(self, path: str = "lab") -> str:
        separator = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}{separator}token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no server log)"


@contextlib.contextmanager
def lab_server(root: Path, scratch: Path, startup_s: float = 60.0) -> Iterator[LabServer]:
    """Start JupyterLab as a learner would (`jupyter lab` in the course folder), stop it after.

    `scratch` holds the server's own config, runtime and workspace folders, so that nothing of
    this machine's ~/.jupyter (a saved layout, a stray setting) changes what the browser sees,
    and the server's log. GRADER_COURSE_ROOT is removed from the server's environment: the
    check cell must find the course from the notebook's folder, as it does for a learner.
    """
    scratch.mkdir(parents=True, exist_ok=True)
    # The news feed asks for consent in a toast over the notebook, and would go online.
    labconfig = scratch / "config" / "labconfig"
    labconfig.mkdir(parents=True, exist_ok=True)
    (labconfig / "page_config.json").write_text(json.dumps({"disabledExtensions": {
        "@jupyterlab/apputils-extension:announcements": True,
    }}))
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k not in ("GRADER_COURSE_ROOT", "JPY_SESSION_NAME")}
    env.update({
        "JUPYTER_CONFIG_DIR": str(scratch / "config"),
        "JUPYTER_RUNTIME_DIR": str(scratch / "runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(scratch / "workspaces"),
        "JUPYTER_PREFER_ENV_PATH": "1",  # this environment's kernel, never a user-level one
        "PYTHONUNBUFFERED": "1",
    })
    command = [
        sys.executable, "-m", "jupyter", "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",  # offline
    ]
    if os.geteuid() == 0:
        command.append("--allow-root")
    log = scratch / "jupyter-lab.log"
    for attempt in range(3):  # the free port may be taken by another process before the server binds it
        with open(log, "wb") as log_file:
            # A process group of its own, so that stopping it reaches nothing of the test runner's.
            process = subprocess.Popen(command, cwd=root, env=env, stdout=log_file, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
        server = LabServer(root, port, token, process, log)
        try:
            _wait_until_up(server, startup_s)
        except RuntimeError:
            _stop(process)
            if attempt == 2 or "is not available" not in server.log_tail():
                raise
            port = free_port()
            command = [f"--port={port}" if part.startswith("--port=") else part for part in command]
            continue
        break
    try:
        yield server
    finally:
        _stop(process)


def _wait_until_up(server: LabServer, startup_s: float) -> None:
    deadline = time.monotonic() + startup_s
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {server.process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(server.url("api/status"), timeout=2) as answer:
                if answer.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not answer on port {server.port} within {startup_s:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM to the server's process group, SIGKILL if it lingers.

    On SIGTERM the server shuts its kernels down itself (they run in sessions of their own);
    the group's SIGKILL then ends whatever else the server started and left behind.
    """
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            break
        try:
            process.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        break


@contextlib.contextmanager
def chromium_page(width: int = 1400, height: int = 1000) -> Iterator:
    """A Playwright page in headless Debian Chromium; the browser is closed after, always."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            yield context.new_page()
        finally:
            browser.close()


class NotebookPage:
    """One notebook open in JupyterLab, driven with the mouse and keyboard as a learner would.

    Cells are addressed by their index in the notebook file. Cells must be run in a fresh
    kernel through `run`, which counts executions: the n-th run cell shows `[n]:` when done.
    """

    CELLS = ".jp-NotebookPanel .jp-Notebook .jp-Cell"

    def __init__(self, page, server: LabServer, path: str, n_cells: int, load_s: float = 90.0):
        self.page, self.executed = page, 0
        # ?reset: start from an empty layout, whatever an earlier page left in the workspace.
        page.goto(server.url(f"lab/tree/{path}?reset"))
        page.wait_for_function(f"document.querySelectorAll('{self.CELLS}').length === {n_cells}", timeout=load_s * 1000)
        page.locator(".jp-StatusBar-Widget", has_text="Idle").wait_for(timeout=load_s * 1000)

    def cell(self, index: int):
        return self.page.locator(self.CELLS).nth(index)

    def select(self, index: int):
        """Command mode on cell `index` (a click on its prompt, as a person would)."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".jp-InputPrompt").click()
        return cell

    def replace_source(self, index: int, text: str) -> None:
        """Click into the cell's editor, select all of it and type `text` in its place."""
        cell = self.cell(index)
        cell.scroll_into_view_if_needed()
        cell.locator(".cm-content").click()
        self.page.keyboard.press("Control+a")
        # Typed as one input (as a paste is): key by key, the editor would auto-indent each line.
        self.page.keyboard.insert_text(text)
        self.page.keyboard.press("Escape")

    def run(self, index: int, timeout_s: float = 60.0):
        """Run one cell (Ctrl+Enter) and wait until its prompt shows this run's number."""
        cell = self.select(index)
        self.page.keyboard.press("Control+Enter")
        self.executed += 1
        cell.locator(".jp-InputPrompt", has_text=f"[{self.executed}]").wait_for(timeout=timeout_s * 1000)
        return cell

    def save(self) -> None:
        self.page.keyboard.press("Control+s")
