"""Chronos job hashes as a Chronos 3.x ``GET /v1/scheduler/jobs`` writes them, and a
fake Chronos serving them, for the import tests."""

from __future__ import annotations

import json
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo


def chronos_job(name: str, **fields: Any) -> dict[str, Any]:
    """A job hash with every field Chronos's serializer writes, at the values Chronos
    gives a job created without them; ``fields`` override (``parents`` replaces the
    schedule, as Chronos writes only one of the two)."""
    job: dict[str, Any] = {
        "name": name,
        "command": f"echo {name}",
        "shell": True,
        "epsilon": "PT60S",
        "executor": "",
        "executorFlags": "",
        "taskInfoData": "",
        "retries": 2,
        "owner": "ops@example.com",
        "ownerName": "",
        "description": "",
        "async": False,
        "successCount": 12,
        "errorCount": 1,
        "lastSuccess": "2024-05-01T10:00:01.123Z",
        "lastError": "2024-04-30T10:00:00.456Z",
        "cpus": 0.1,
        "disk": 256.0,
        "mem": 128.0,
        "disabled": False,
        "softError": False,
        "dataProcessingJobType": False,
        "errorsSinceLastSuccess": 0,
        "fetch": [],
        "uris": [],
        "environmentVariables": [],
        "arguments": [],
        "highPriority": False,
        "runAsUser": "root",
        "constraints": [],
        "schedule": "R/2030-01-01T00:00:00.000Z/PT24H",
        "scheduleTimeZone": "",
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


# --------------------------------------------------------------------------- a realistic export

TIME_ZONES: tuple[tuple[str, str], ...] = (
    ("tz-new-york", "America/New_York"),
    ("tz-paris", "Europe/Paris"),
    ("tz-tokyo", "Asia/Tokyo"),
    ("tz-sydney", "Australia/Sydney"),
    ("tz-pst", "PST"),
)
"""Jobs in their own zone; PST is Java's short id that Chronos accepted (America/Los_Angeles)."""

JAVA_ZONES = {"PST": "America/Los_Angeles"}


def iso(when: datetime) -> str:
    """A start as Chronos writes it: milliseconds and Z."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def local_iso(when: datetime, zone: str) -> str:
    """A start written as the wall time of ``zone``, with that zone's offset at that instant.

    The same instant whether the offset or the zone decides (Chronos read the wall time in
    ``scheduleTimeZone``), so the job is due at ``when`` either way."""
    return when.astimezone(ZoneInfo(JAVA_ZONES.get(zone, zone))).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Expected:
    """What a job of the realistic export must (or must not) do in the test window."""

    runs: bool
    stdout: str | None = None  # what its first run prints, when the test checks it
    agent: str | None = None  # where its constraints put it


def realistic_export(t0: datetime, files: Path, user: str) -> tuple[list[dict[str, Any]], dict[str, Expected]]:
    """Fifty Chronos jobs, due at ``t0`` or after a parent, as a Chronos 3.x export holds them.

    Containers (docker, volumes, repeated parameters), fetch (an archive, a plain file, the
    old ``uris``), parent chains and a fan-in, environment variables, constraints, time
    zones (IANA and Java short ids), ISO schedules with past, present and future starts,
    ``shell: false`` with arguments, disabled jobs, and fields moroccron does not act on.

    :param files: a directory for what the jobs fetch and mount.
    :param user: ``runAsUser``: the local agent can only run tasks as the user it runs as.
    """
    files.mkdir(parents=True, exist_ok=True)
    tool = files / "tool.sh"
    tool.write_text('#!/bin/sh\necho "tool says $1"\n')
    tool.chmod(0o755)
    with tarfile.open(files / "tool.tgz", "w:gz") as tar:
        tar.add(tool, arcname="bin/tool.sh")
    (files / "data.txt").write_text("fetched data\n")
    logs = files / "logs"
    logs.mkdir(exist_ok=True)

    jobs: list[dict[str, Any]] = []
    expected: dict[str, Expected] = {}
    hourly = f"R/{iso(t0)}/PT1H"

    def add(job: dict[str, Any], exp: Expected) -> None:
        job.setdefault("runAsUser", user)
        jobs.append(job)
        expected[job["name"]] = exp

    # Plain shell jobs with environment, owners and resources of their own (8).
    for i in range(8):
        extra: dict[str, Any] = {}
        if i == 1:
            extra["highPriority"] = True
        if i == 2:
            extra["maxCompletionTime"] = 600000
        add(
            chronos_job(
                f"plain-{i}",
                command=f'echo "plain-{i} $GREETING from $TEAM"',
                schedule=hourly,
                cpus=round(0.1 + 0.05 * i, 2),
                mem=64.0 + 16 * i,
                disk=32.0 + i,
                retries=i % 3,
                owner=f"team{i}@example.com,oncall@example.com",
                description=f"plain job {i}",
                environmentVariables=[
                    {"name": "GREETING", "value": f"hello {i}"},
                    {"name": "TEAM", "value": f"team-{i}"},
                ],
                **extra,
            ),
            Expected(True, f"plain-{i} hello {i} from team-{i}\n"),
        )
    # Time zones: due at t0, written in each job's own zone (5).
    for name, zone in TIME_ZONES:
        add(
            chronos_job(name, command=f"echo {name}", schedule=f"R/{local_iso(t0, zone)}/P1D", scheduleTimeZone=zone),
            Expected(True, f"{name}\n"),
        )
    # Past starts: the next repetition is due at t0 (4).
    for i in range(4):
        reps = "R" if i < 2 else "R3"
        add(
            chronos_job(f"past-{i}", command=f"echo past-{i}", schedule=f"{reps}/{iso(t0 - timedelta(hours=2))}/PT1H"),
            Expected(True, f"past-{i}\n"),
        )
    # Future starts: not due in the test window (2).
    for i in range(2):
        add(chronos_job(f"future-{i}", schedule=f"R/{iso(t0 + timedelta(days=1 + i))}/P1D"), Expected(False))
    # Docker: shell command lines and shell: false with arguments, host volumes,
    # repeated parameters, both networks, a forced pull (6).
    for i in range(6):
        shell = i < 3
        container = {
            "type": "DOCKER",
            "image": "busybox",
            "network": "BRIDGE" if i % 2 else "HOST",
            "forcePullImage": i == 5,
            "volumes": [
                {"hostPath": str(logs), "containerPath": str(logs), "mode": "RW"},
                {"hostPath": str(files), "containerPath": "shared", "mode": "RO"},
            ],
            "parameters": [
                {"key": "add-host", "value": "db:10.0.0.1"},
                {"key": "add-host", "value": "mq:10.0.0.2"},
                {"key": "env", "value": "A=1"},
                {"key": "env", "value": "B=2"},
                {"key": "label", "value": f"job=docker-{i}"},
            ],
        }
        if shell:
            add(
                chronos_job(
                    f"docker-{i}",
                    command=f"echo docker-{i} $STAGE",
                    container=container,
                    schedule=hourly,
                    mem=128.0,
                    environmentVariables=[{"name": "STAGE", "value": "prod"}],
                ),
                Expected(True, f"docker-{i} prod\n"),
            )
        else:
            add(
                chronos_job(
                    f"docker-{i}",
                    command="/bin/echo",
                    shell=False,
                    arguments=[f"docker-{i}", "--date", "2020-01-01"],
                    container=container,
                    schedule=hourly,
                    mem=128.0,
                ),
                Expected(True, f"docker-{i} --date 2020-01-01\n"),
            )
    # Fetch: an archive extracted into the sandbox, a plain file, and Chronos 2.x uris (6).
    archive = (files / "tool.tgz").as_uri()
    plain = (files / "data.txt").as_uri()
    for i in range(3):
        add(
            chronos_job(
                f"fetch-tool-{i}",
                command=f"./bin/tool.sh fetch-{i}",
                schedule=hourly,
                fetch=[{"uri": archive, "executable": False, "cache": False, "extract": True}],
            ),
            Expected(True, f"tool says fetch-{i}\n"),
        )
    for i in range(2):
        add(
            chronos_job(
                f"fetch-data-{i}",
                command="cat data.txt",
                schedule=hourly,
                fetch=[{"uri": plain, "executable": False, "cache": i == 1, "extract": False}],
            ),
            Expected(True, "fetched data\n"),
        )
    add(
        chronos_job("old-uris", command="cat data.txt", schedule=hourly, uris=[plain]), Expected(True, "fetched data\n")
    )
    # Constraints on the agents' rack attribute: agent-0 is rack r0, agent-1 rack r1 (4).
    for name, constraint, agent in (
        ("on-r0", ["rack", "EQUALS", "r0"], "agent-0"),
        ("on-r1", ["rack", "EQUALS", "r1"], "agent-1"),
        ("like-r1", ["rack", "LIKE", "r[1]"], "agent-1"),
        ("unlike-r0", ["rack", "UNLIKE", "r0"], "agent-1"),
    ):
        add(
            chronos_job(name, command=f"echo {name}", schedule=hourly, constraints=[constraint]),
            Expected(True, f"{name}\n", agent),
        )
    # Parent chains, a fan-in, dependents of containers, fetch and past jobs (12).
    for name, parents in (
        ("etl.load", ["plain-0"]),
        ("etl.report", ["etl.load"]),
        ("etl.archive", ["etl.report"]),
        ("merge", ["tz-paris", "plain-1"]),
        ("merge.notify", ["merge"]),
        ("after-docker", ["docker-3"]),
        ("after-fetch-a", ["fetch-tool-0"]),
        ("after-fetch-b", ["fetch-tool-0"]),
        ("after-past", ["past-2"]),
        ("after-r1", ["on-r1"]),
        ("plain-2.child-a", ["plain-2"]),
        ("plain-2.child-b", ["plain-2"]),
    ):
        add(
            chronos_job(
                name,
                command=f"echo {name} $PARENT_NOTE",
                parents=parents,
                environmentVariables=[{"name": "PARENT_NOTE", "value": "after " + "+".join(parents)}],
            ),
            Expected(True, f"{name} after {'+'.join(parents)}\n"),
        )
    # Disabled jobs never run: scheduled, dependent on a job that runs, in a container (3).
    add(chronos_job("disabled-scheduled", schedule=hourly, disabled=True), Expected(False))
    add(chronos_job("disabled-child", parents=["plain-3"], disabled=True), Expected(False))
    add(
        chronos_job(
            "disabled-docker",
            schedule=hourly,
            disabled=True,
            container={
                "type": "DOCKER",
                "image": "busybox",
                "network": "HOST",
                "volumes": [],
                "forcePullImage": False,
                "parameters": [],
            },
        ),
        Expected(False),
    )
    assert len(jobs) == 50, len(jobs)
    return jobs, expected
