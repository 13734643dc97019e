"""CLI commands that talk to a running scheduler through its REST API.

``moroccron run``, ``jobs enable|disable|delete|runs|logs`` and ``runs show|kill`` act
on the scheduler, not on the database: the scheduler at ``--api URL`` (default
``http://BIND`` from ``--config``, the environment or the default settings), with
``--token`` (default: the environment's ``MOROCCRON_TOKEN``). Every failure is one
``moroccron: error: ...`` line from :class:`moroccron.apiclient.ApiError`.

``run --wait`` exits with the run's outcome: 0 when it succeeded; otherwise the task's
exit status when the agent reported one from 1 to 255 (a task killed by SIGTERM reports
143), else 1 (lost, skipped, killed before it started, or no exit status).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import quote

from moroccron.apiclient import ApiClient, ApiError, api_client
from moroccron.cli_confirm import confirm

__all__ = ["POLL_SECONDS", "add_api_options", "client_for", "outcome_code"]

POLL_SECONDS = 0.5
"""How often ``--wait`` and ``--follow`` ask the scheduler for news."""

FINAL_STATES = frozenset({"succeeded", "failed", "killed", "lost", "skipped"})
LOG_CHUNK = 65536


def add_api_options(parser: argparse.ArgumentParser) -> None:
    """``--api`` and ``--token`` for a command that talks to the scheduler."""
    parser.add_argument(
        "--api",
        metavar="URL",
        help="URL of the running scheduler (default: http://BIND from --config, MOROCCRON_BIND or 127.0.0.1:4400)",
    )
    parser.add_argument("--token", help="API token (default: environment MOROCCRON_TOKEN)")


def client_for(args: argparse.Namespace) -> ApiClient:
    from moroccron.cli import settings_for

    api = getattr(args, "api", None)
    # Without --api the settings give the address; reading them checks --config too.
    bind = settings_for(args).bind if not api else "127.0.0.1:4400"
    return api_client(api, getattr(args, "token", None), bind)


def _q(text: str) -> str:
    return quote(text, safe="")


# --------------------------------------------------------------------------- jobs


def cmd_jobs_enable(args: argparse.Namespace) -> int:
    client_for(args).post(f"/api/v1/jobs/{_q(args.name)}/enable")
    print(f"enabled {args.name}")
    return 0


def cmd_jobs_disable(args: argparse.Namespace) -> int:
    client_for(args).post(f"/api/v1/jobs/{_q(args.name)}/disable")
    print(f"disabled {args.name}")
    return 0


def cmd_jobs_delete(args: argparse.Namespace) -> int:
    client = client_for(args)
    job = client.get(f"/api/v1/jobs/{_q(args.name)}")  # an unknown job is an error before any question
    scope = " and every job that depends on it" if args.cascade else ""
    confirm(
        f"Delete job {job.get('name', args.name)}{scope}, with its run history?",
        yes=args.yes,
        what=f"delete job {args.name}",
    )
    client.delete(f"/api/v1/jobs/{_q(args.name)}", params={"cascade": "true"} if args.cascade else None)
    print(f"deleted {args.name}" + (" and the jobs that depend on it" if args.cascade else ""))
    return 0


def _latest_runs(client: ApiClient, name: str, state: str | None, limit: int) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"limit": limit}
    if state:
        params["state"] = state
    body = client.get(f"/api/v1/jobs/{_q(name)}/runs", params=params)
    return list(body.get("runs") or [])


def _when(value: str | None) -> str:
    return value.replace("T", " ")[:19] if value else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def cmd_jobs_runs(args: argparse.Namespace) -> int:
    from moroccron.cli import print_table

    runs = _latest_runs(client_for(args), args.name, args.state, args.limit)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print(f"{args.name}: no runs" + (f" in state {args.state}" if args.state else ""))
        return 0
    rows = [("TASK", "STATE", "TRIGGER", "ATTEMPT", "SCHEDULED (UTC)", "STARTED (UTC)", "DURATION", "EXIT", "MESSAGE")]
    for r in runs:
        exit_status = r.get("exit_status")
        message = (
            (r.get("message") or r.get("reason") or "").splitlines()[0][:60]
            if (r.get("message") or r.get("reason"))
            else ""
        )
        rows.append(
            (
                r["task_id"],
                r["state"],
                r.get("trigger") or "-",
                str(r.get("attempt", 0)),
                _when(r.get("scheduled_at")),
                _when(r.get("started_at")),
                _duration(r.get("duration_seconds")),
                "-" if exit_status is None else str(exit_status),
                message or "-",
            )
        )
    print_table(rows)
    return 0


def cmd_jobs_logs(args: argparse.Namespace) -> int:
    client = client_for(args)
    if args.run:
        run = client.get(f"/api/v1/runs/{_q(args.run)}")
        if run.get("job") != args.name:
            raise ApiError(f"run {args.run} is a run of {run.get('job')!r}, not of {args.name!r}")
    else:
        launched = [r for r in _latest_runs(client, args.name, None, 50) if r.get("agent_id")]
        if not launched:
            raise ApiError(f"job {args.name!r} has no launched run (among its last 50) to show the logs of")
        run = launched[0]
    log = "stderr" if args.stderr else "stdout"
    out = sys.stdout
    if args.follow:
        follower = LogFollower(client, run["task_id"], {log: out})
        follower.follow(lambda: _run_state(client, run["task_id"]))
    else:
        LogFollower(client, run["task_id"], {log: out}).drain()
    return 0


# --------------------------------------------------------------------------- runs


def _run_state(client: ApiClient, task_id: str) -> dict[str, Any]:
    return dict(client.get(f"/api/v1/runs/{_q(task_id)}"))


_SHOWN_FIELDS = (
    "job",
    "task_id",
    "state",
    "trigger",
    "attempt",
    "scheduled_at",
    "queued_at",
    "launched_at",
    "started_at",
    "finished_at",
    "duration_seconds",
    "skew_seconds",
    "exit_status",
    "reason",
    "message",
    "hostname",
    "agent_id",
    "arguments",
    "caused_by",
    "relaunches",
    "kill_requested",
)


def cmd_runs_show(args: argparse.Namespace) -> int:
    run = _run_state(client_for(args), args.task)
    if args.json:
        print(json.dumps(run, indent=2))
        return 0
    width = max(len(k) for k in _SHOWN_FIELDS)
    for key in _SHOWN_FIELDS:
        value = run.get(key)
        if value is None or value == "" or value == []:
            continue
        text = " ".join(map(str, value)) if isinstance(value, list) else str(value)
        print(f"{key.replace('_', ' '):<{width}}  {text}")
    return 0


def cmd_runs_kill(args: argparse.Namespace) -> int:
    client_for(args).post(f"/api/v1/runs/{_q(args.task)}/kill")
    print(f"killing {args.task}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    client = client_for(args)
    body = {"arguments": args.arguments} if args.arguments else None
    run = client.post(f"/api/v1/jobs/{_q(args.name)}/runs", json=body)
    task_id = run["task_id"]
    if not args.wait:
        print(f"started {task_id} ({run['state']})")
        return 0
    print(f"started {task_id} ({run['state']}); waiting for it to end", file=sys.stderr)
    follower = LogFollower(client, task_id, {"stdout": sys.stdout, "stderr": sys.stderr})
    try:
        final = follower.follow(lambda: _run_state(client, task_id))
    except KeyboardInterrupt:
        print(f"\nstopped waiting; {task_id} goes on (moroccron runs kill {task_id} ends it)", file=sys.stderr)
        return 130
    code = outcome_code(final)
    detail = "" if code == 0 else (final.get("message") or final.get("reason") or "")
    exit_status = final.get("exit_status")
    status = f", exit status {exit_status}" if exit_status is not None else ""
    print(f"{task_id}: {final['state']}{status}" + (f": {detail}" if detail else ""), file=sys.stderr)
    return code


def outcome_code(run: dict[str, Any]) -> int:
    """The exit status of ``run --wait``: 0 for a success, else the task's own exit
    status when it is from 1 to 255, else 1."""
    if run.get("state") == "succeeded":
        return 0
    exit_status = run.get("exit_status")
    if isinstance(exit_status, int) and 1 <= exit_status <= 255:
        return exit_status
    return 1


class LogFollower:
    """Copies a run's sandbox logs to local streams as they grow (``run --wait``,
    ``jobs logs --follow``), reading each from where the last read ended."""

    def __init__(self, client: ApiClient, task_id: str, streams: dict[str, TextIO]) -> None:
        self.client = client
        self.task_id = task_id
        self.streams = streams
        self.offsets = dict.fromkeys(streams, 0)

    def _pump(self, log: str) -> bool:
        """Copy what is new in ``log``; True if anything was."""
        got = False
        while True:
            piece = self.client.read_log(self.task_id, log, self.offsets[log], LOG_CHUNK)
            if not piece.data:
                return got
            self.streams[log].write(piece.data)
            self.streams[log].flush()
            self.offsets[log] = piece.end
            got = True
            if piece.end >= piece.size:
                return got

    def drain(self) -> None:
        """Copy everything the logs hold now."""
        for log in self.streams:
            self._pump(log)

    def follow(self, state: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """Copy the logs until the run is final (``state()`` answers the run), then the
        rest of them; return the final run. A log that cannot be read yet (the task is not
        launched, the agent does not answer) is tried again on the next round."""
        while True:
            run = state()
            final = run.get("state") in FINAL_STATES
            if run.get("agent_id"):
                for log in self.streams:
                    try:
                        self._pump(log)
                    except ApiError as exc:
                        if final:
                            print(
                                f"moroccron: warning: cannot read the {log} of {self.task_id}: {exc}", file=sys.stderr
                            )
                        elif exc.status in (0, 401, 403, 404):
                            raise  # not a passing state of the run: unreachable, refused, gone
            if final:
                return run
            time.sleep(POLL_SECONDS)
