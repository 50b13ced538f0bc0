"""A private PostgreSQL server for the tests: Debian's binaries, a scratch data folder, a free port.

CI installs Debian's `postgresql` package (.ci/install) and the tests start their own server
with initdb and pg_ctl, listening on 127.0.0.1 only with trust authentication, stopped after
the session. The server refuses to run as root: as root it runs as the package's `postgres` user.
Set GRADER_REQUIRE_POSTGRESQL=1 (CI does) to fail instead of skip where it cannot start.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path
from typing import Iterator


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    return Path(found[-1]).parent if found else None


def why_not() -> str | None:
    """Why no server can be started here, or None."""
    if binaries() is None:
        return "Debian's PostgreSQL server is not installed (apt-get install postgresql; .ci/install does it)"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return "the PostgreSQL driver is missing: pip install 'psycopg[binary]'"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root without a 'postgres' user to run the server as"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server() -> Iterator[str]:
    """A running server; yields the base URL (postgresql://postgres@127.0.0.1:PORT).

    Its folder is made directly in the temporary directory: the `postgres` user must be able to
    reach it, and pytest's own tmp_path folders are private to root.
    """
    bin_ = binaries()
    scratch = Path(tempfile.mkdtemp(prefix="grader-test-postgresql-"))
    data, sockets = scratch / "pgdata", scratch / "pgsocket"
    sockets.mkdir(parents=True)
    as_user: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        for path in (scratch, sockets):
            os.chown(path, owner.pw_uid, owner.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    run = lambda *command: subprocess.run([*as_user, *command], check=True, capture_output=True, text=True)  # noqa: E731
    run(str(bin_ / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync")
    port = _free_port()
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(str(bin_ / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(scratch / "server.log"), "-w", "-t", "60", "start")
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*as_user, str(bin_ / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"], capture_output=True)
        shutil.rmtree(scratch, ignore_errors=True)


def new_database(base_url: str) -> str:
    """A fresh, empty database on the server; its URL."""
    from sqlalchemy import create_engine, text

    name = f"gradebook_{uuid.uuid4().hex[:12]}"
    engine = create_engine(f"{base_url}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        engine.dispose()
    return f"{base_url}/{name}"


def gradebook_url(kind: str, stack: contextlib.ExitStack) -> str | None:
    """None for "sqlite" (the course's own gradebook.db); for "postgresql" a fresh database on a
    server that `stack` stops. Skips where no server can start, or fails under GRADER_REQUIRE_POSTGRESQL=1."""
    if kind == "sqlite":
        return None
    why = why_not()
    if why:
        import pytest

        if os.environ.get("GRADER_REQUIRE_POSTGRESQL") == "1":
            pytest.fail(f"GRADER_REQUIRE_POSTGRESQL=1 but {why}")
        pytest.skip(why)
    return new_database(stack.enter_context(server()))
