"""``moroccron serve`` in a subprocess with the local Mesos master, for the browser tests."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import requests

from tests.e2e.harness import wait_for
from tests.servers import free_port, stop_process


def serve_ui(tmp: Path, users: str, admin: tuple[str, str]) -> Iterator[str]:
    """Start ``moroccron serve`` on SQLite in ``tmp`` with the ``users`` auth setting, yield its
    URL once it is subscribed to the local master (``admin`` asks), and stop it afterwards."""
    port = free_port()
    env = dict(os.environ, MOROCCRON_LOCAL_WORK_DIR=str(tmp / "mesos"), MOROCCRON_AUTH_USERS=users)
    log = open(tmp / "serve.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "moroccron.cli",
            "serve",
            "--db",
            f"sqlite:///{tmp / 'm.db'}",
            "--bind",
            f"127.0.0.1:{port}",
        ],
        cwd=tmp,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"

    def connected() -> bool:
        assert proc.poll() is None, (tmp / "serve.log").read_text()
        try:
            return bool(requests.get(f"{url}/api/v1/status", auth=admin, timeout=1).json().get("connected"))
        except (requests.RequestException, ValueError):
            return False

    try:
        wait_for(connected, 60, 0.2, what="moroccron serve to subscribe")
        yield url
    finally:
        stop_process(proc)
        log.close()
