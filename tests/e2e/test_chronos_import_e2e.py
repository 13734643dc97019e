"""A realistic Chronos export of fifty jobs, imported with ``moroccron chronos import``,
then run through the local Mesos master: every job that is due runs with the command
line, environment, resources, fetched files and container that Chronos would have given
its Mesos task, and the jobs Chronos would not run (disabled, not yet due) do not run."""

from __future__ import annotations

import getpass
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from moroccron.cli import main
from moroccron.model import RunState
from tests.chronos_export import realistic_export
from tests.e2e.harness import Cluster, wait_for

pytestmark = pytest.mark.slow

LEAD = timedelta(seconds=20)
"""From writing the export to its jobs falling due: the import and the scheduler's start
fit in it on a busy machine; a job found late still runs (``epsilon`` is 60 s)."""


def _task_infos(cluster: Cluster) -> dict[str, dict[str, Any]]:
    """job name -> the TaskInfo of its first launch, as the master received it."""
    out: dict[str, dict[str, Any]] = {}
    for call in list(cluster.master.received_calls):
        body = call.get("body") or {}
        if body.get("type") != "ACCEPT":
            continue
        for op in body["accept"].get("operations") or []:
            for ti in (op.get("launch") or {}).get("task_infos") or []:
                job = next(label["value"] for label in ti["labels"]["labels"] if label["key"] == "moroccron.job")
                out.setdefault(job, ti)
    return out


def _scalars(ti: dict[str, Any]) -> dict[str, float]:
    return {r["name"]: r["scalar"]["value"] for r in ti["resources"] if r.get("type") == "SCALAR"}


def _env(ti: dict[str, Any]) -> dict[str, str]:
    return {v["name"]: v.get("value", "") for v in ti["command"].get("environment", {}).get("variables", [])}


def _stdout(cluster: Cluster, task_id: str) -> str:
    task = next(t for t in cluster.master.tasks() if t["task_id"] == task_id)
    return (Path(task["directory"]) / "stdout").read_text()


def test_a_fifty_job_chronos_export_imports_and_runs_as_chronos_would_run_it(tmp_path, capsys):
    cluster = Cluster(tmp_path, agents=2, record_calls=True, images={"busybox": {"cmd": ["sh"]}})
    try:
        t0 = datetime.now(UTC).replace(microsecond=0) + LEAD
        jobs, expected = realistic_export(t0, tmp_path / "files", getpass.getuser())
        export = tmp_path / "chronos-jobs.json"
        export.write_text(json.dumps(jobs, indent=2))

        assert main(["chronos", "import", str(export), "--db", cluster.db_url]) == 0
        out = capsys.readouterr().out
        assert "applied: 50 to create, 0 to update, 0 to delete, 0 unchanged" in out
        # Importing the same export again changes nothing. (Checked before anything runs:
        # once jobs have run, a scheduler may advance the starts it stores, as Chronos did.)
        assert main(["chronos", "import", str(export), "--db", cluster.db_url]) == 0
        assert "no changes (50 unchanged)" in capsys.readouterr().out
        cluster.start_scheduler()

        due = sorted(name for name, exp in expected.items() if exp.runs)
        assert len(due) == 45
        for name in due:
            cluster.finished(name, 1, timeout=120)
        infos = _task_infos(cluster)
        by_name = {job["name"]: job for job in jobs}
        problems: list[str] = []
        for name in due:
            job, exp, ti = by_name[name], expected[name], infos.get(name)
            run = cluster.runs(name)[0]
            if ti is None:
                problems.append(f"{name}: no task launched")
                continue
            if run.state != RunState.SUCCEEDED:
                problems.append(f"{name}: {run.state.value} {run.message}")
                continue
            problems += [f"{name}: {p}" for p in _differences(job, ti)]
            if exp.stdout is not None and _stdout(cluster, run.task_id) != exp.stdout:
                problems.append(f"{name}: printed {_stdout(cluster, run.task_id)!r}, not {exp.stdout!r}")
            if exp.agent is not None and run.agent_id != exp.agent:
                problems.append(f"{name}: ran on {run.agent_id}, its constraints say {exp.agent}")
        assert problems == []

        # Dependents ran after all of their parents.
        for name in due:
            for parent in by_name[name].get("parents", []):
                assert cluster.runs(parent)[0].finished_at <= cluster.runs(name)[0].launched_at, (parent, name)

        # What Chronos would not run did not run, now that everything due has finished:
        # disabled jobs (scheduled, dependent on a job that ran, in a container) and
        # jobs whose start is tomorrow.
        idle = sorted(name for name, exp in expected.items() if not exp.runs)
        assert idle == ["disabled-child", "disabled-docker", "disabled-scheduled", "future-0", "future-1"]
        assert cluster.runs("plain-3")[0].state == RunState.SUCCEEDED  # disabled-child's parent did run
        wait_for(lambda: all(r.state.final for n in due for r in cluster.runs(n)), 60, what="every run ended")
        assert {
            name: [r.state.value for r in cluster.runs(name) if r.state != RunState.SKIPPED] for name in idle
        } == dict.fromkeys(idle, [])
        assert not set(idle) & set(_task_infos(cluster))

        # The environment Chronos set on every task (its MesosTaskBuilder).
        for name in due:
            job, env = by_name[name], _env(infos[name])
            assert env["CHRONOS_JOB_NAME"] == name and env["CHRONOS_JOB_OWNER"] == job["owner"]
            assert env["CHRONOS_RESOURCE_CPU"] == str(job["cpus"])
            assert env["CHRONOS_RESOURCE_MEM"] == str(job["mem"])
            assert env["CHRONOS_RESOURCE_DISK"] == str(job["disk"])
            assert env["mesos_task_id"] == infos[name]["task_id"]["value"]
            assert env["CHRONOS_JOB_RUN_ATTEMPT"] == "0" and env["CHRONOS_JOB_RUN_TIME"]
        # Fetch flags as sent (executable, extract, cache) reach CommandInfo.URI.
        for name in due:
            fetch = by_name[name]["fetch"]
            flags = [{k: f[k] for k in ("uri", "executable", "extract", "cache")} for f in fetch]
            sent = [
                {"uri": u["value"], **{k: u.get(k, False) for k in ("executable", "extract", "cache")}}
                for u in infos[name]["command"].get("uris", [])
            ][: len(fetch)]
            assert sent == flags, name
    finally:
        cluster.close()


def _differences(job: dict[str, Any], ti: dict[str, Any]) -> list[str]:
    """How the TaskInfo moroccron sent differs from the one Chronos builds for ``job``
    (its MesosTaskBuilder: value = command, shell as given, the job's arguments, its
    environment, user, URIs, cpus/mem/disk and docker container)."""
    problems = []
    cmd = ti["command"]
    if cmd.get("value") != job["command"] or cmd.get("shell", True) != job["shell"]:
        problems.append(
            f"command {cmd.get('value')!r} shell={cmd.get('shell')}, not {job['command']!r} shell={job['shell']}"
        )
    container = job.get("container")
    if not job["shell"] and container is not None and cmd.get("arguments", []) != job["arguments"]:
        problems.append(f"arguments {cmd.get('arguments')}, not {job['arguments']}")
    env = _env(ti)
    for var in job["environmentVariables"]:
        if env.get(var["name"]) != var["value"]:
            problems.append(f"env {var['name']}={env.get(var['name'])!r}, not {var['value']!r}")
    if cmd.get("user") != job["runAsUser"]:
        problems.append(f"user {cmd.get('user')!r}, not {job['runAsUser']!r}")
    uris = [u["value"] for u in cmd.get("uris", [])]
    want = [f["uri"] for f in job["fetch"]] + [u for u in job["uris"] if u not in {f["uri"] for f in job["fetch"]}]
    if uris != want:
        problems.append(f"uris {uris}, not {want}")
    scalars = _scalars(ti)
    for key in ("cpus", "mem", "disk"):
        if scalars.get(key) != job[key]:
            problems.append(f"{key} {scalars.get(key)}, not {job[key]}")
    if container is not None:
        got = ti.get("container") or {}
        docker = got.get("docker") or {}
        shape = {
            "type": got.get("type"),
            "image": docker.get("image"),
            "network": docker.get("network", "HOST"),
            "forcePullImage": docker.get("force_pull_image", False),
            "parameters": docker.get("parameters", []),
            "volumes": [
                {"hostPath": v.get("host_path"), "containerPath": v["container_path"], "mode": v["mode"]}
                for v in got.get("volumes", [])
            ],
        }
        want_shape = {k: container[k] for k in ("type", "image", "network", "forcePullImage", "parameters", "volumes")}
        if shape != want_shape:
            problems.append(f"container {shape}, not {want_shape}")
    return problems
