"""``moroccron serve`` in a subprocess with the local Mesos master, for the browser tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.servers import serve_process


def serve_ui(tmp: Path, users: str, admin: tuple[str, str]) -> Iterator[str]:
    """Start ``moroccron serve`` on SQLite in ``tmp`` with the ``users`` auth setting, yield its
    URL once it is subscribed to the local master (``admin`` asks), and stop it afterwards."""
    with serve_process(tmp, env={"MOROCCRON_AUTH_USERS": users}, check_stop=False) as serving:
        serving.wait_connected(auth=admin)
        yield serving.url
