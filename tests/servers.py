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
import dataclasses
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from sqlalchemy.engine import make_url

__all__ = [
    "PostgresServer",
    "ServerUnavailable",
    "ZooKeeperServer",
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


def stop_process(proc: subprocess.Popen, timeout: float = 20) -> bool:
    """SIGTERM ``proc`` (what systemd sends) and wait; kill it if it lingers. True if it stopped by itself."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
        return True
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return False


@dataclasses.dataclass(frozen=True)
class Serving:
    """A ``moroccron serve`` process started by :func:`serve_process`."""

    url: str
    proc: subprocess.Popen
    log: Path

    def output(self) -> str:
        """Everything the process has written so far (stdout and stderr)."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def get(self, path: str, **kwargs: Any) -> requests.Response | None:
        """GET ``path``; None while nothing answers. Fails with the log if the process died."""
        assert self.proc.poll() is None, f"moroccron serve exited:\n{self.output()}"
        try:
            return requests.get(self.url + path, timeout=kwargs.pop("timeout", 2), **kwargs)
        except requests.RequestException:
            return None

    def wait_connected(self, timeout: float = 90, **request: Any) -> None:
        """Wait until the scheduler reports that it is subscribed to its Mesos master
        (``request``: what the status call needs, e.g. ``auth=`` or ``headers=``)."""

        def connected() -> bool:
            r = self.get("/api/v1/status", **request)
            try:
                return r is not None and r.ok and bool(r.json().get("connected"))
            except ValueError:
                return False

        _wait(connected, timeout, "moroccron serve to subscribe to its master", self)


def _wait(cond: Callable[[], bool], timeout: float, what: str, serving: Serving) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}:\n{_tail(serving.log, 60)}")
        time.sleep(0.1)


@contextlib.contextmanager
def serve_process(
    tmp: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    ready: str | None = "/healthz",
    timeout: float = 90,
    db: str | None = None,
    check_stop: bool = True,
) -> Iterator[Serving]:
    """``moroccron serve`` in a subprocess: SQLite ``tmp/m.db`` (or ``db``), a free port on
    127.0.0.1, the local Mesos master working in ``tmp/mesos``, output in ``tmp/serve-PORT.log``;
    ``args`` are added to the command line and ``env`` to the environment. Yields once ``ready``
    answers 200 (None: at once); stops it with SIGTERM afterwards and, with ``check_stop``,
    fails the test if it did not stop by itself."""
    port = free_port()
    full_env = dict(os.environ, MOROCCRON_LOCAL_WORK_DIR=str(tmp / "mesos"))
    full_env.pop("MOROCCRON_TOKEN", None)
    full_env.update(env or {})
    log_path = tmp / f"serve-{port}.log"
    argv = [sys.executable, "-m", "moroccron.cli", "serve", "--db", db or f"sqlite:///{tmp / 'm.db'}"]
    argv += ["--bind", f"127.0.0.1:{port}", *args]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(argv, cwd=tmp, env=full_env, stdout=log, stderr=subprocess.STDOUT)
    serving = Serving(f"http://127.0.0.1:{port}", proc, log_path)
    stopped = False
    try:
        if ready is not None:
            _wait(lambda: (r := serving.get(ready)) is not None and r.status_code == 200, timeout, ready, serving)
        yield serving
    finally:
        stopped = stop_process(proc)
    if check_stop:
        assert stopped, f"moroccron serve did not stop within 20 s of SIGTERM:\n{_tail(log_path, 60)}"


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _as_server_user(argv: list[str]) -> list[str]:
    return ["runuser", "-u", POSTGRES_USER, "--", *argv] if os.geteuid() == 0 else argv


def _run(argv: list[str], what: str, log: Path | None = None, timeout: float = 60) -> None:
    try:
        proc = subprocess.run(
            _as_server_user(argv), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServerUnavailable(f"{what} failed: {exc}") from exc
    if proc.returncode != 0:
        detail = (proc.stdout + proc.stderr).strip()
        if log is not None:
            detail += "\n--- server log ---\n" + _tail(log)
        raise ServerUnavailable(f"{what} exited {proc.returncode}: {detail}")


# --------------------------------------------------------------------------- PostgreSQL


class PostgresServer:
    """A throwaway PostgreSQL cluster that a test can stop, start and restart in place.

    The cluster lives in a fresh short-named directory under the system temp dir, not
    in pytest's: pytest's directories are private to root, which the server user
    cannot enter, and a Unix socket path must stay under about 100 bytes. A restart
    keeps the port and the data, as a real database restart does. fsync is off: the
    data is thrown away anyway, and it makes every commit far cheaper.
    """

    def __init__(self, keep_log_in: Path | None = None) -> None:
        self.initdb, self.pg_ctl = POSTGRES_BIN / "initdb", POSTGRES_BIN / "pg_ctl"
        self.keep_log_in = keep_log_in
        self.base: Path | None = None
        self.port: int | None = None

    @property
    def url(self) -> str:
        """The server's ``postgres`` maintenance database."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def log(self) -> Path:
        assert self.base is not None
        return self.base / "postgres.log"

    def create(self) -> PostgresServer:
        """initdb and start; raises :class:`ServerUnavailable` when that is impossible here."""
        if not self.initdb.exists() or not self.pg_ctl.exists():
            raise ServerUnavailable(
                f"no {self.initdb} / {self.pg_ctl} (apt-get install postgresql-15, or set MOROCCRON_TEST_PG_BIN)"
            )
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam(POSTGRES_USER)
            except KeyError as exc:
                raise ServerUnavailable(f"running as root and there is no {POSTGRES_USER!r} user") from exc
            if shutil.which("runuser") is None:
                raise ServerUnavailable("running as root and runuser is missing")
        self.base = Path(tempfile.mkdtemp(prefix="mcr-pg-"))
        if os.geteuid() == 0:
            os.chown(self.base, user.pw_uid, user.pw_gid)
        _run(
            [
                str(self.initdb),
                "-D",
                str(self.base / "data"),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
                "--no-instructions",
            ],
            "initdb",
            timeout=120,
        )
        self.start()
        return self

    def start(self, tries: int = 3) -> None:
        """Start on the port it had (a restart), or on a free one; retry if another process grabs it."""
        assert self.base is not None
        error: ServerUnavailable | None = None
        for _ in range(tries):
            port = self.port or free_port()
            options = (
                f"-k {self.base} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            try:
                # -l: without a log file the server inherits our stdout pipe and
                # subprocess.run would wait for it forever.
                _run(
                    [
                        str(self.pg_ctl),
                        "-D",
                        str(self.base / "data"),
                        "-l",
                        str(self.log),
                        "-w",
                        "-t",
                        "60",
                        "-o",
                        options,
                        "start",
                    ],
                    "pg_ctl start",
                    self.log,
                    timeout=90,
                )
                self.port = port
                return
            except ServerUnavailable as exc:
                error = exc
                time.sleep(0.2)
        assert error is not None
        raise error

    def stop(self) -> None:
        assert self.base is not None
        _run([str(self.pg_ctl), "-D", str(self.base / "data"), "-m", "fast", "-w", "stop"], "pg_ctl stop", self.log)

    def restart(self) -> None:
        self.stop()
        self.start()

    def destroy(self) -> None:
        if self.base is None:
            return
        with contextlib.suppress(ServerUnavailable):
            self.stop()
        if self.keep_log_in is not None:
            with contextlib.suppress(OSError):
                shutil.copy(self.log, Path(self.keep_log_in) / "postgres.log")
        shutil.rmtree(self.base, ignore_errors=True)
        self.base = None


@contextlib.contextmanager
def postgres_server(tmpdir: Path) -> Iterator[str]:
    """Start a throwaway PostgreSQL and yield the URL of its empty ``moroccron`` database.

    The server log is copied into ``tmpdir`` when the server stops.

    :raises ServerUnavailable: PostgreSQL is not installed or did not start.
    """
    server = PostgresServer(keep_log_in=tmpdir)
    try:
        server.create()
        yield create_database(server.url, "moroccron")
    finally:
        server.destroy()


def _admin(url: str, sql: str) -> None:
    u = make_url(url)
    with psycopg.connect(host=u.host, port=u.port, user=u.username, dbname="postgres", autocommit=True) as conn:
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

ZOOKEEPER_CLASSPATH = os.environ.get("MOROCCRON_TEST_ZK_CLASSPATH", "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar")
"""Debian's ``zookeeper`` package: its config folder (log4j) and the server jar."""


class ZooKeeperServer:
    """A standalone ZooKeeper on a loopback port, which a test may stop and start again.

    A restart keeps the port and the data directory, so sessions that have not timed
    out yet survive it, as with a real server restart.
    """

    def __init__(self, tmpdir: Path) -> None:
        self.java = shutil.which("java")
        self.jar = Path(ZOOKEEPER_CLASSPATH.split(":")[-1])
        self.tmpdir = Path(tmpdir)
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> ZooKeeperServer:
        """Start (on the same port as before, if it ran before) and wait until it answers."""
        if self.java is None or not self.jar.exists():
            raise ServerUnavailable(f"ZooKeeper needs java and {self.jar} (Debian package 'zookeeper')")
        data = self.tmpdir / "data"
        data.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        config = self.tmpdir / "zoo.cfg"
        config.write_text(
            f"tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir={data}\nclientPort={self.port}\n"
            "clientPortAddress=127.0.0.1\nadmin.enableServer=false\nmaxSessionTimeout=60000\n"
            "minSessionTimeout=1000\n4lw.commands.whitelist=ruok,stat\n"
        )
        log_path = self.tmpdir / "zookeeper.log"
        with open(log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    self.java,
                    "-Xmx256m",
                    "-Dzookeeper.log.dir=" + str(self.tmpdir),
                    "-Dzookeeper.root.logger=INFO,CONSOLE",
                    "-cp",
                    ZOOKEEPER_CLASSPATH,
                    "org.apache.zookeeper.server.ZooKeeperServerMain",
                    str(config),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while not _zk_ok(self.port):
            if self.proc.poll() is not None:
                raise ServerUnavailable(f"ZooKeeper exited with {self.proc.returncode}: {_tail(log_path)}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerUnavailable(f"ZooKeeper did not answer on port {self.port}: {_tail(log_path)}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def zookeeper_server(tmpdir: Path) -> Iterator[str]:
    """A standalone ZooKeeper on a free loopback port; yields ``host:port``."""
    server = ZooKeeperServer(tmpdir).start()
    try:
        yield server.address
    finally:
        server.stop()


def _zk_ok(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
            sock.sendall(b"ruok")
            return sock.recv(4) == b"imok"
    except OSError:
        return False
