"""Chronos job hashes as a Chronos 3.x ``GET /v1/scheduler/jobs`` writes them, and a
fake Chronos serving them, for the import tests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def chronos_job(name: str, **fields: Any) -> dict[str, Any]:
    """A job hash with every field Chronos's serializer writes, at the values Chronos
    gives a job created without them; ``fields`` override (``parents`` replaces the
    schedule, as Chronos writes only one of the two)."""
    job: dict[str, Any] = {
        "name": name, "command": f"echo {name}", "shell": True, "epsilon": "PT60S", "executor": "",
        "executorFlags": "", "taskInfoData": "", "retries": 2, "owner": "ops@example.com", "ownerName": "",
        "description": "", "async": False, "successCount": 12, "errorCount": 1,
        "lastSuccess": "2024-05-01T10:00:01.123Z", "lastError": "2024-04-30T10:00:00.456Z",
        "cpus": 0.1, "disk": 256.0, "mem": 128.0, "disabled": False, "softError": False,
        "dataProcessingJobType": False, "errorsSinceLastSuccess": 0, "fetch": [], "uris": [],
        "environmentVariables": [], "arguments": [], "highPriority": False, "runAsUser": "root",
        "constraints": [], "schedule": "R/2030-01-01T00:00:00.000Z/PT24H", "scheduleTimeZone": "",
    }
    if "parents" in fields:
        job.pop("schedule")
        job.pop("scheduleTimeZone")
    job.update(fields)
    return job


class _Handler(BaseHTTPRequestHandler):
    server: _FakeChronosServer

    def do_GET(self) -> None:  # noqa: N802 (the http.server name)
        self.server.requests.append(self.path)
        if self.path not in self.server.paths:
            self.send_error(404)
            return
        body = json.dumps(self.server.jobs).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the http.server name)
        pass


class _FakeChronosServer(ThreadingHTTPServer):
    jobs: list[dict[str, Any]]
    paths: tuple[str, ...]
    requests: list[str]


@contextmanager
def fake_chronos(jobs: list[dict[str, Any]], paths: tuple[str, ...] = ("/v1/scheduler/jobs",)) -> Iterator[Any]:
    """A Chronos on loopback answering ``GET`` of ``paths`` with ``jobs``; 404 elsewhere.

    Yields the server: ``.url`` is its base URL, ``.requests`` the paths asked for.
    """
    server = _FakeChronosServer(("127.0.0.1", 0), _Handler)
    server.jobs, server.paths, server.requests = jobs, paths, []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="fake-chronos", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
