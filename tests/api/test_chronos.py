"""The Chronos v1 API in process, over a real store (SQLite and PostgreSQL).

CRUD, graph and statistics run without a scheduler, as on a non-leader instance. The
routes that start, kill or mark runs talk to :class:`RecordingScheduler`, which only
records what it is asked: what the engine then does is tested in tests/engine.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.chronos import IGNORED_HEADER
from moroccron.api.deps import AppContext
from moroccron.commands import SchedulerCommands
from moroccron.config import Settings
from moroccron.events import Action, Event, KillRequested, MarkSuccess, RunRequested, SaveRun
from moroccron.hooks.manager import PluginManager
from moroccron.model import JobSpec, Run, RunState
from moroccron.store import Store

PREFIXES = ["/v1/scheduler", "/scheduler"]
V1 = "/v1/scheduler"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class RecordingScheduler(SchedulerCommands):
    """Stands in for the leader's Scheduler: records submitted events and job changes and
    replies with the actions it was given (none by default)."""

    def __init__(self, replies: list[Action] | None = None, live: dict[str, list[Run]] | None = None) -> None:
        self.events: list[Event] = []
        self.changed: list[str] = []
        self.removed: list[str] = []
        self.replies = replies or []
        if live is not None:
            self.engine = _Engine(live)

    def submit(self, event: Event) -> list[Action]:
        self.events.append(event)
        return list(self.replies)

    def job_changed(self, job: JobSpec) -> None:
        self.changed.append(job.name)

    def job_removed(self, name: str) -> None:
        self.removed.append(name)


class _Engine:
    def __init__(self, live: dict[str, list[Run]]) -> None:
        self.live = live

    def runs_of(self, job: str) -> list[Run]:
        return self.live.get(job, [])


def make_client(store: Store, scheduler: Any = None) -> TestClient:
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False), scheduler=scheduler))
    return TestClient(app)


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    with make_client(store) as c:
        yield c


def scheduled(name: str = "a", **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": f"echo {name}", "schedule": "R/2036-01-01T00:00:00Z/PT1H", **fields}


def dependent(name: str, *parents: str, **fields: Any) -> dict[str, Any]:
    return {"name": name, "command": f"echo {name}", "parents": list(parents), **fields}


def add_run(store: Store, job: str, state: RunState, *, minutes: int, seconds: float | None = None) -> Run:
    """A run of ``job`` scheduled ``minutes`` after T0 that took ``seconds`` (if it ran)."""
    at = T0 + timedelta(minutes=minutes)
    launched = at + timedelta(seconds=2) if seconds is not None or state.live else None
    finished = launched + timedelta(seconds=seconds) if launched is not None and seconds is not None else None
    if state.final and finished is None:
        finished = at
    return store.create_run(
        Run(
            job=job,
            scheduled_at=at,
            state=state,
            queued_at=at,
            launched_at=launched,
            started_at=launched,
            finished_at=finished,
            agent_id="agent-1" if launched else None,
        )
    )


def by_name(jobs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {j["name"]: j for j in jobs}


# --------------------------------------------------------------------------- create / update / list


def test_create_update_and_list(client: TestClient, store: Store) -> None:
    r = client.post(f"{V1}/iso8601", json=scheduled("a", owner="ops@example.com", cpus="0.5", epsilon="PT5M"))
    assert r.status_code == 204 and IGNORED_HEADER not in r.headers
    assert store.get_job("a").resources.cpus == 0.5
    assert client.post(f"{V1}/dependency", json=dependent("b", "a")).status_code == 204
    # Chronos replaced a job on every POST; PUT does the same.
    assert client.put(f"{V1}/iso8601", json=scheduled("a", retries=5)).status_code == 204
    assert client.post(f"{V1}/dependency", json=dependent("b", "a", disabled=True)).status_code == 204
    assert store.get_job("a").retries == 5 and store.get_job("b").disabled is True

    jobs = by_name(client.get(f"{V1}/jobs").json())
    assert set(jobs) == {"a", "b"}
    assert jobs["a"]["schedule"] == "R/2036-01-01T00:00:00Z/PT1H" and "parents" not in jobs["a"]
    assert jobs["b"]["parents"] == ["a"] and "schedule" not in jobs["b"]
    assert jobs["a"]["retries"] == 5 and jobs["a"]["owner"] == ""  # replaced whole, as Chronos did
    for key in ("successCount", "errorCount", "lastSuccess", "lastError", "errorsSinceLastSuccess"):
        assert key in jobs["a"]


def test_list_fills_statistics_from_run_history(client: TestClient, store: Store) -> None:
    client.post("/v1/scheduler/iso8601", json=scheduled("a"))
    add_run(store, "a", RunState.SUCCEEDED, minutes=0, seconds=10)
    add_run(store, "a", RunState.FAILED, minutes=60, seconds=3)
    add_run(store, "a", RunState.FAILED, minutes=120, seconds=4)
    job = client.get("/v1/scheduler/jobs").json()[0]
    assert (job["successCount"], job["errorCount"], job["errorsSinceLastSuccess"]) == (1, 2, 2)
    assert job["lastSuccess"] == "2026-03-01T12:00:12.000Z"
    assert job["lastError"] == "2026-03-01T14:00:06.000Z"


def test_round_trip_through_the_api_keeps_native_fields(client: TestClient, store: Store) -> None:
    """A Chronos client reads a job and sends it back unchanged: nothing is lost."""
    native = JobSpec(
        name="n",
        command="run",
        schedule="0 3 * * *",
        concurrency="replace",
        catchup="none",
        labels={"team": "sre"},
        timeout_seconds=60.0,
        owners=("ops@example.com",),
    )
    store.create_job(native)
    listed = client.get("/v1/scheduler/jobs").json()[0]
    assert listed["schedule"] == "0 3 * * *"  # a cron schedule is shown as is
    r = client.put("/v1/scheduler/iso8601", json=listed)
    assert r.status_code == 204 and IGNORED_HEADER not in r.headers
    assert store.get_job("n") == native


def test_ignored_fields_are_listed_in_a_header(client: TestClient) -> None:
    r = client.post(
        "/v1/scheduler/iso8601",
        json=scheduled("a", **{"async": True, "highPriority": False, "successCount": 9, "myTool": "x"}),
    )
    assert r.status_code == 204
    assert r.headers[IGNORED_HEADER] == "myTool", "async has a meaning: not ignored"


def test_route_requires_its_kind_of_job(client: TestClient) -> None:
    r = client.post(f"{V1}/dependency", json={"name": "b", "command": "x", "parents": []})
    assert r.status_code == 400 and r.json()["field"] == "parents"
    r = client.post(f"{V1}/dependency", json=scheduled("c"))  # a schedule, no parents
    assert r.status_code == 400 and r.json()["field"] == "parents"
    assert client.get(f"{V1}/jobs").json() == []


def test_iso8601_without_a_schedule_runs_once_now(store: Store) -> None:
    """Chronos gave such a job R1/<now>/PT24H: it runs at once, and never again."""
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        assert c.post(f"{V1}/iso8601", json={"name": "once", "command": "x"}).status_code == 204
    assert scheduler.events == [RunRequested("once", None)]
    assert store.get_job("once").schedule.startswith("R0/")


def test_validation_errors_are_400_with_chronos_field_names(client: TestClient) -> None:
    r = client.post(
        f"{V1}/iso8601", json=scheduled("a", scheduleTimeZone="Mars/Olympus", cpus=-2, container={"type": "DOCKER"})
    )
    assert r.status_code == 400
    body = r.json()
    fields = {e["field"] for e in body["errors"]}
    assert {"scheduleTimeZone", "cpus", "container.image"} <= fields
    assert body["field"] in fields and "Mars/Olympus" in body["error"]
    r = client.post("/scheduler/dependency", json=dependent("b", "ghost"))
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "parents[0]" and "ghost" in r.json()["error"]
    r = client.post(f"{V1}/iso8601", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["field"] == "body"


def test_cycle_is_refused(client: TestClient) -> None:
    client.post("/v1/scheduler/iso8601", json=scheduled("root"))
    client.post("/v1/scheduler/dependency", json=dependent("x", "root"))
    client.post("/v1/scheduler/dependency", json=dependent("y", "x"))
    r = client.put("/v1/scheduler/dependency", json=dependent("x", "y"))
    assert r.status_code == 400 and "cycle" in r.json()["error"]


def test_saving_tells_the_scheduler(store: Store) -> None:
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        c.post("/v1/scheduler/iso8601", json=scheduled("a"))
        c.put("/scheduler/dependency", json=dependent("b", "a"))
    assert scheduler.changed == ["a", "b"]


# --------------------------------------------------------------------------- search / summary


def test_search(client: TestClient) -> None:
    client.post(f"{V1}/iso8601", json=scheduled("Load_Events", command="python load.py --events"))
    client.post(f"{V1}/iso8601", json=scheduled("report", command="python REPORT.py"))
    client.post(f"{V1}/iso8601", json=scheduled("cleanup", command="rm -rf /tmp/x"))

    def names(**params: Any) -> list[str]:
        r = client.get(f"{V1}/jobs/search", params=params)
        assert r.status_code == 200
        return [j["name"] for j in r.json()]

    assert names(name="load") == ["Load_Events"]
    assert names(command="python") == ["Load_Events", "report"]
    # As in Chronos, any= widens a name/command match (OR), and alone matches everything.
    assert names(name="load", any="TMP") == ["Load_Events", "cleanup"]
    assert names(name="zzz", any="report") == ["report"]
    assert names(any="report") == ["Load_Events", "cleanup", "report"]
    assert names(name="load", command="report") == []
    assert names() == ["Load_Events", "cleanup", "report"]
    assert names(limit=1, offset=1) == ["cleanup"]


def test_summary_from_stored_runs(client: TestClient, store: Store) -> None:
    for body in (scheduled("fresh"), scheduled("ok"), scheduled("bad", disabled=True), dependent("kid", "ok")):
        client.post(f"{V1}/{'dependency' if 'parents' in body else 'iso8601'}", json=body)
    add_run(store, "ok", RunState.FAILED, minutes=0, seconds=1)
    add_run(store, "ok", RunState.SUCCEEDED, minutes=60, seconds=1)
    add_run(store, "ok", RunState.RUNNING, minutes=120)
    add_run(store, "bad", RunState.SUCCEEDED, minutes=0, seconds=1)
    add_run(store, "bad", RunState.FAILED, minutes=60, seconds=1)
    add_run(store, "kid", RunState.QUEUED, minutes=60)
    jobs = by_name(client.get(f"{V1}/jobs/summary").json()["jobs"])
    assert jobs["fresh"] == {
        "name": "fresh",
        "status": "fresh",
        "state": "idle",
        "schedule": "R/2036-01-01T00:00:00Z/PT1H",
        "parents": [],
        "disabled": False,
    }
    assert (jobs["ok"]["status"], jobs["ok"]["state"]) == ("success", "1 running")
    assert (jobs["bad"]["status"], jobs["bad"]["state"], jobs["bad"]["disabled"]) == ("failure", "idle", True)
    assert jobs["kid"] == {
        "name": "kid",
        "status": "fresh",
        "state": "queued",
        "schedule": "",
        "parents": ["ok"],
        "disabled": False,
    }


def test_summary_state_from_the_schedulers_live_runs(store: Store) -> None:
    store.create_job(JobSpec(name="a", command="x"))
    store.create_job(JobSpec(name="b", command="x"))
    live = {"a": [Run(job="a", scheduled_at=T0, state=RunState.STARTING)]}
    add_run(store, "b", RunState.RUNNING, minutes=0)  # the store lags; the engine knows better
    with make_client(store, RecordingScheduler(live=live)) as c:
        jobs = by_name(c.get("/v1/scheduler/jobs/summary").json()["jobs"])
    assert (jobs["a"]["state"], jobs["b"]["state"]) == ("1 running", "idle")


# --------------------------------------------------------------------------- graph


def test_graph_dot_and_csv(client: TestClient, store: Store) -> None:
    client.post(f"{V1}/iso8601", json=scheduled("a"))
    client.post(f"{V1}/iso8601", json=scheduled("b"))
    client.post(f"{V1}/dependency", json=dependent("c", "a", "b"))
    client.post(f"{V1}/dependency", json=dependent("d", "c"))
    add_run(store, "a", RunState.SUCCEEDED, minutes=0, seconds=5)
    add_run(store, "b", RunState.FAILED, minutes=0, seconds=5)
    add_run(store, "c", RunState.RUNNING, minutes=1)

    r = client.get(f"{V1}/graph/csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert r.text == (
        "node,a,success,idle\nnode,b,failure,idle\nnode,c,fresh,1 running\nnode,d,fresh,idle\n"
        "link,a,c\nlink,b,c\nlink,c,d\n"
    )

    r = client.get(f"{V1}/graph/dot")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    # Chronos' (JGraphT's) form: numbered nodes labelled with the job name.
    assert r.text == (
        'digraph G {\n  1 [ label="a" ];\n  2 [ label="b" ];\n  3 [ label="c" ];\n'
        '  4 [ label="d" ];\n  1 -> 3;\n  2 -> 3;\n  3 -> 4;\n}\n'
    )


# --------------------------------------------------------------------------- statistics


def test_job_stat_shape(client: TestClient, store: Store) -> None:
    client.post(f"{V1}/iso8601", json=scheduled("a"))
    for i, seconds in enumerate([10, 20, 30, 40, 3700]):
        add_run(store, "a", RunState.SUCCEEDED, minutes=i, seconds=seconds)
    add_run(store, "a", RunState.FAILED, minutes=10, seconds=1)  # not a duration sample
    add_run(store, "a", RunState.RUNNING, minutes=11)
    body = client.get(f"{V1}/job/stat/a").json()
    # Linear interpolation between ranks: the 95th of 5 samples sits 80% of the way from 40 to 3700.
    # In milliseconds, as Chronos' timers reported them.
    assert body["histogram"] == pytest.approx(
        {
            "75thPercentile": 40e3,
            "95thPercentile": 2968e3,
            "98thPercentile": 3407.2e3,
            "99thPercentile": 3553.6e3,
            "median": 30e3,
            "mean": 760e3,
            "count": 5,
        }
    )
    history = body["taskStatHistory"]
    assert [h["status"] for h in history] == ["Running", "Fail", "Success", "Success", "Success", "Success", "Success"]
    assert history[0]["endTime"] == "N/A" and "duration" not in history[0]
    assert history[2] == {
        "taskId": f"a.{int((T0 + timedelta(minutes=4)).timestamp())}.0",
        "jobName": "a",
        "slaveId": "agent-1",
        "startTime": "03/01/26 12:04:02",
        "endTime": "03/01/26 13:05:42",
        "duration": "1h1m40s",
        "status": "Success",
    }


def test_job_stat_without_runs(client: TestClient) -> None:
    client.post("/v1/scheduler/iso8601", json=scheduled("a"))
    assert client.get("/v1/scheduler/job/stat/a").json() == {
        "histogram": {
            "75thPercentile": 0.0,
            "95thPercentile": 0.0,
            "98thPercentile": 0.0,
            "99thPercentile": 0.0,
            "median": 0.0,
            "mean": 0.0,
            "count": 0,
        },
        "taskStatHistory": [],
    }


def test_stats_per_percentile(client: TestClient, store: Store) -> None:
    for name in ("fast", "slow", "never"):
        client.post(f"{V1}/iso8601", json=scheduled(name))
    for i in range(3):
        add_run(store, "fast", RunState.SUCCEEDED, minutes=i, seconds=1 + i)
        add_run(store, "slow", RunState.SUCCEEDED, minutes=i, seconds=100 * (i + 1))
    assert client.get(f"{V1}/stats/median").json() == [
        {"jobNameLabel": "slow", "time": 200.0},
        {"jobNameLabel": "fast", "time": 2.0},
        {"jobNameLabel": "never", "time": 0.0},
    ]
    assert client.get(f"{V1}/stats/mean").json()[0] == {"jobNameLabel": "slow", "time": 200.0}
    assert client.get(f"{V1}/stats/99thPercentile").json()[1]["jobNameLabel"] == "fast"
    r = client.get(f"{V1}/stats/42ndPercentile")
    assert r.status_code == 200 and r.json() == []  # Chronos found no such statistic for any job


# --------------------------------------------------------------------------- leader


def test_leader(client: TestClient, store: Store) -> None:
    assert client.get("/leader").json() == {"leader": ""}
    store.take_leadership("instance-1", "sched-2.example.com:4400")
    for path in ("/leader", "/v1/scheduler/leader", "/scheduler/leader"):
        assert client.get(path).json() == {"leader": "sched-2.example.com:4400"}


# --------------------------------------------------------------------------- run, kill, success, delete


def test_start_kill_and_mark_success_go_to_the_scheduler(store: Store) -> None:
    scheduler = RecordingScheduler()
    store.create_job(JobSpec(name="a", command="x"))
    with make_client(store, scheduler) as c:
        assert c.put(f"{V1}/job/a").status_code == 204
        assert (
            c.put(f"{V1}/job/a", params=[("arguments", "-v,--date=2026-01-01"), ("arguments", "extra")]).status_code
            == 204
        )
        assert c.delete(f"{V1}/task/kill/a").status_code == 204
        r = c.put(f"{V1}/job/success/a")
        assert r.status_code == 200 and r.text == "marked job a as successful: false"  # nothing recorded
        scheduler.replies = [SaveRun(Run(job="a", scheduled_at=T0, state=RunState.SUCCEEDED), new=True)]
        assert c.post(f"{V1}/job/success/a").text == "marked job a as successful: true"
    # arguments go onto the (shell) command line as given; repeated values joined by a space
    assert scheduler.events == [
        RunRequested("a", None),
        RunRequested("a", argument_line="-v,--date=2026-01-01 extra"),
        KillRequested("a"),
        MarkSuccess("a"),
        MarkSuccess("a"),
    ]


def test_a_start_the_engine_skips_is_a_conflict(store: Store) -> None:
    skipped = Run(job="a", scheduled_at=T0, state=RunState.SKIPPED, reason="concurrency=forbid: run a.1.0 is running")
    store.create_job(JobSpec(name="a", command="x"))
    with make_client(store, RecordingScheduler([SaveRun(skipped, new=True)])) as c:
        r = c.put("/v1/scheduler/job/a")
    assert r.status_code == 409 and "concurrency=forbid" in r.json()["error"]


def test_run_routes_need_the_leader(client: TestClient) -> None:
    client.post(f"{V1}/iso8601", json=scheduled("a"))
    for method, path in (("PUT", "/job/a"), ("DELETE", "/task/kill/a"), ("PUT", "/job/success/a")):
        r = client.request(method, V1 + path)
        assert r.status_code == 503 and "not scheduling" in r.json()["error"]


def test_unknown_job_is_400_in_chronos_shape(store: Store) -> None:
    """Chronos answered an unknown job with 400 and {"status", "message"}."""
    with make_client(store, RecordingScheduler()) as c:
        for method, path in (
            ("PUT", "/job/ghost"),
            ("DELETE", "/job/ghost"),
            ("DELETE", "/task/kill/ghost"),
            ("PUT", "/job/success/ghost"),
            ("POST", "/job/success/ghost"),
            ("GET", "/job/stat/ghost"),
            ("GET", "/job/ghost"),
        ):
            r = c.request(method, V1 + path)
            assert r.status_code == 400, (method, path)
            assert r.json()["status"] == "Bad Request" and "ghost" in r.json()["message"], (method, path)
            assert "ghost" in r.json()["error"]  # moroccron's own fields stay beside them


def test_delete_of_a_parent_reparents_its_children(store: Store) -> None:
    """As Chronos: children of a deleted dependent job take its parents; a child left
    without parents takes the deleted scheduled job's schedule and time zone (and, unlike
    Chronos, keeps every other field of its own)."""
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        c.post(f"{V1}/iso8601", json=scheduled("a", scheduleTimeZone="Europe/Paris"))
        c.post(f"{V1}/iso8601", json=scheduled("x"))
        c.post(f"{V1}/dependency", json=dependent("b", "a"))
        c.post(f"{V1}/dependency", json=dependent("c", "b", "x", environmentVariables=[{"name": "K", "value": "v"}]))
        assert c.delete(f"{V1}/job/b").status_code == 204
        assert c.get(f"{V1}/job/c").json()["parents"] == ["x", "a"]
        assert c.delete(f"{V1}/job/x").status_code == 204
        assert c.get(f"{V1}/job/c").json()["parents"] == ["a"]
        assert c.delete(f"{V1}/job/a").status_code == 204
        kid = c.get(f"{V1}/job/c").json()
        # The parent's schedule as stored: its start is wall time in its zone (scheduleTimeZone wins).
        assert "parents" not in kid and kid["schedule"] == "R/2036-01-01T00:00:00/PT1H"
        assert kid["scheduleTimeZone"] == "Europe/Paris"
        assert kid["environmentVariables"] == [{"name": "K", "value": "v"}] and kid["command"] == "echo c"
        assert c.delete(f"{V1}/job/c", params={"cascade": "true"}).status_code == 204
        assert c.get(f"{V1}/jobs").json() == []
    assert scheduler.removed == ["b", "x", "a", "c"]


@pytest.mark.parametrize("prefix", PREFIXES)
def test_every_route_on_both_prefixes(store: Store, prefix: str) -> None:
    """The same routes answer under /v1/scheduler and under /scheduler."""
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        calls = [
            ("POST", "/iso8601", {"json": scheduled("a")}, 204),
            ("PUT", "/iso8601", {"json": scheduled("a", retries=1)}, 204),
            ("POST", "/dependency", {"json": dependent("b", "a")}, 204),
            ("PUT", "/dependency", {"json": dependent("b", "a", retries=1)}, 204),
            ("GET", "/jobs", {}, 200),
            ("GET", "/jobs/search", {"params": {"name": "a"}}, 200),
            ("GET", "/jobs/summary", {}, 200),
            ("PUT", "/job/a", {"params": {"arguments": "x"}}, 204),
            ("POST", "/job/success/a", {}, 200),
            ("PUT", "/job/success/a", {}, 200),
            ("DELETE", "/task/kill/a", {}, 204),
            ("GET", "/job/stat/a", {}, 200),
            ("GET", "/graph/dot", {}, 200),
            ("GET", "/graph/csv", {}, 200),
            ("GET", "/stats/median", {}, 200),
            ("GET", "/leader", {}, 200),
            ("DELETE", "/job/b", {}, 204),
            ("DELETE", "/job/a", {}, 204),
        ]
        for method, path, kwargs, status in calls:
            r = c.request(method, prefix + path, **kwargs)
            assert r.status_code == status, (method, path, r.text)
        assert c.get(prefix + "/jobs").json() == []
    assert scheduler.events == [
        RunRequested("a", argument_line="x"),
        MarkSuccess("a"),
        MarkSuccess("a"),
        KillRequested("a"),
    ]
    assert scheduler.changed == ["a", "a", "b", "b"] and scheduler.removed == ["b", "a"]


def test_openapi_lists_each_route_once(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert set(paths["/v1/scheduler/iso8601"]) == {"post", "put"}
    assert set(paths["/v1/scheduler/job/{name}"]) == {"get", "put", "delete"}
    assert "/leader" in paths and not any(p.startswith("/scheduler/") for p in paths)
