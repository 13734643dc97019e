"""Real servers for tests, each on a free loopback port, each a context manager.

Tests run against the real thing (PostgreSQL here; ZooKeeper belongs here too), not
against mocks: locking, isolation and SQL dialect differences are exactly what the
store tests are for. A server that cannot start raises :class:`ServerUnavailable`;
:func:`unavailable` turns that into a skip on a developer's machine and a failure
under ``CI=true``, where a missing server means a broken CI image, not a reason to
go green.

Every helper follows the same shape, so another server slots in beside the others:

- a ``*_server(tmpdir)`` context manager that yields what a client needs (a URL);
- binaries found on the machine, with an environment variable to point elsewhere;
- a free port from :func:`free_port`, a log file, and the log's tail in the error;
- a clean stop in ``finally``, whatever the test did.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

__all__ = [
    "ServerUnavailable",
    "create_database",
    "drop_database",
    "free_port",
    "postgres_server",
    "zookeeper_server",
    "unavailable",
]

POSTGRES_BIN = Path(os.environ.get("MOROCCRON_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
"""Where initdb and pg_ctl live (Debian's PostgreSQL 15 by default)."""

POSTGRES_USER = "postgres"
"""The system user that runs the server when the tests run as root (initdb refuses root)."""


class ServerUnavailable(RuntimeError):
    """A server could not be started here; the message says why."""


def unavailable(reason: str) -> None:
    """Skip the test, or fail it under ``CI=true``: CI must never pass by skipping."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"server unavailable in CI: {reason}", pytrace=False)
    pytest.skip(f"server unavailable: {reason}")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (a server started soon after gets it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", POSTGRES_USER, "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], what: str, log: Path | None = None, timeout: float = 60) -> None:
    try:
        proc = subprocess.run(_as_server_user(argv), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerUnavailable(f"{what} failed: {exc}") from exc
    if proc.returncode != 0:
        detail = (proc.stdout + proc.stderr).strip()
        if log is not None:
            detail += "\n--- server log ---\n" + _tail(log)
        raise ServerUnavailable(f"{what} exited {proc.returncode}: {detail}")


# --------------------------------------------------------------------------- PostgreSQL


@contextlib.contextmanager
def postgres_server(tmpdir: Path) -> Iterator[str]:
    """Start a throwaway PostgreSQL and yield the URL of its empty ``moroccron`` database.

    The cluster lives in a fresh short-named directory under the system temp dir, not
    in ``tmpdir``: pytest's directories are private to root, which the server user
    cannot enter, and a Unix socket path must stay under about 100 bytes. The server
    log is copied into ``tmpdir`` when the server stops. fsync is off: the data is
    thrown away anyway, and it makes every commit far cheaper.

    :raises ServerUnavailable: PostgreSQL is not installed or did not start.
    """
    initdb, pg_ctl = POSTGRES_BIN / "initdb", POSTGRES_BIN / "pg_ctl"
    if not initdb.exists() or not pg_ctl.exists():
        raise ServerUnavailable(f"no {initdb} / {pg_ctl} (apt-get install postgresql-15, "
                                "or set MOROCCRON_TEST_PG_BIN)")
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam(POSTGRES_USER)
        except KeyError as exc:
            raise ServerUnavailable(f"running as root and there is no {POSTGRES_USER!r} user") from exc
        if shutil.which("runuser") is None:
            raise ServerUnavailable("running as root and runuser is missing")
    base = Path(tempfile.mkdtemp(prefix="mcr-pg-"))
    data, log = base / "data", base / "postgres.log"
    try:
        if os.geteuid() == 0:
            os.chown(base, user.pw_uid, user.pw_gid)
        _run([str(initdb), "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8",
              "--locale=C", "--no-sync", "--no-instructions"], "initdb", timeout=120)
        port = _start_postgres(pg_ctl, data, base, log)
        try:
            url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
            yield create_database(url, "moroccron")
        finally:
            with contextlib.suppress(ServerUnavailable):
                _run([str(pg_ctl), "-D", str(data), "-m", "fast", "-w", "stop"], "pg_ctl stop", log)
    finally:
        with contextlib.suppress(OSError):
            shutil.copy(log, Path(tmpdir) / "postgres.log")
        shutil.rmtree(base, ignore_errors=True)


def _start_postgres(pg_ctl: Path, data: Path, sockets: Path, log: Path, tries: int = 3) -> int:
    """Start on a free port; another process may grab the port first, so try again."""
    error: ServerUnavailable | None = None
    for _ in range(tries):
        port = free_port()
        options = (f"-k {sockets} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        try:
            # -l: without a log file the server inherits our stdout pipe and
            # subprocess.run would wait for it forever.
            _run([str(pg_ctl), "-D", str(data), "-l", str(log), "-w", "-t", "60", "-o", options, "start"],
                 "pg_ctl start", log, timeout=90)
            return port
        except ServerUnavailable as exc:
            error = exc
            time.sleep(0.2)
    assert error is not None
    raise error


def _admin(url: str, sql: str) -> None:
    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname="postgres",
                         autocommit=True) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def create_database(url: str, name: str, template: str = "template0") -> str:
    """Create database ``name`` (a copy of ``template``) on the server of ``url``; return its URL.

    Copying a template that is already migrated is how each test gets a fresh, ready
    database in milliseconds rather than running the migrations again. The template
    must have no open connections.
    """
    _admin(url, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def drop_database(url: str, name: str) -> None:
    """Drop database ``name``, disconnecting anyone still in it."""
    _admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------- ZooKeeper

ZOOKEEPER_CLASSPATH = os.environ.get(
    "MOROCCRON_TEST_ZK_CLASSPATH", "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar"
)
"""Debian's ``zookeeper`` package: its config folder (log4j) and the server jar."""


@contextlib.contextmanager
def zookeeper_server(tmpdir: Path) -> Iterator[str]:
    """A standalone ZooKeeper on a free loopback port; yields ``host:port``."""
    java = shutil.which("java")
    jar = Path(ZOOKEEPER_CLASSPATH.split(":")[-1])
    if java is None or not jar.exists():
        raise ServerUnavailable(f"ZooKeeper needs java and {jar} (Debian package 'zookeeper')")
    tmpdir = Path(tmpdir)
    data = tmpdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = tmpdir / "zoo.cfg"
    config.write_text(
        f"tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={data}\nclientPort={port}\n"
        "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=60000\n"
        "minSessionTimeout=1000\n4lw.commands.whitelist=ruok,stat\n"
    )
    log_path = tmpdir / "zookeeper.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [java, "-Xmx256m", "-Dzookeeper.log.dir=" + str(tmpdir), "-Dzookeeper.root.logger=INFO,CONSOLE",
             "-cp", ZOOKEEPER_CLASSPATH, "org.apache.zookeeper.server.ZooKeeperServerMain", str(config)],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise ServerUnavailable(f"ZooKeeper exited with {proc.returncode}: {_tail(log_path)}")
            if _zk_ok(port):
                break
            if time.monotonic() > deadline:
                raise ServerUnavailable(f"ZooKeeper did not answer on port {port}: {_tail(log_path)}")
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _zk_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
    except OSError:
        return False

