"""POST /api/v1/apply and ``moroccron jobs apply --api``: the same plan as a local apply,
all or nothing, by role, and the running scheduler told of every change."""

from __future__ import annotations

import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import uvicorn
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator, hash_secret
from moroccron.cli import main
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.model import JobSpec, Owner
from moroccron.store import Store
from tests.api.test_chronos import RecordingScheduler
from tests.e2e.harness import wait_for
from tests.servers import free_port

WRITE, READ, ADMIN = "tok-write-apply", "tok-read-apply", "tok-admin-apply"


@pytest.fixture
def auth(tmp_path: Path) -> Authenticator:
    path = tmp_path / "auth.toml"
    path.write_text(
        textwrap.dedent(f"""
        [[tokens]]
        name = "ci"
        token = "{hash_secret(WRITE)}"
        role = "write"

        [[tokens]]
        name = "viewer"
        token = "{hash_secret(READ)}"
        role = "read"

        [[tokens]]
        name = "ops"
        token = "{hash_secret(ADMIN)}"
        role = "admin"
    """)
    )
    return Authenticator.from_sources(path, environ={})


@pytest.fixture
def scheduler() -> RecordingScheduler:
    return RecordingScheduler()


@pytest.fixture
def app(store: Store, auth: Authenticator, scheduler: RecordingScheduler) -> Any:
    return create_app(
        AppContext(Settings(), store, PluginManager(load_entrypoints=False), scheduler=scheduler, auth=auth)
    )


@pytest.fixture
def client(app: Any) -> TestClient:
    return TestClient(app)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def job(name: str, **fields: Any) -> dict[str, Any]:
    return JobSpec(name=name, **{"command": f"echo {name}", "schedule": "@daily", **fields}).to_dict()


def test_read_role_is_refused_write_role_applies(
    client: TestClient, store: Store, scheduler: RecordingScheduler
) -> None:
    body = {"jobs": [job("a"), job("b", schedule=None, parents=["a"])], "source": "ci"}
    r = client.post("/api/v1/apply", json=body, headers=bearer(READ))
    assert r.status_code == 403 and "needs 'write'" in r.json()["error"]
    assert store.all_jobs() == []
    assert client.post("/api/v1/apply", json=body).status_code == 401

    r = client.post("/api/v1/apply", json={**body, "dry_run": True}, headers=bearer(WRITE))
    assert r.status_code == 200, r.text
    assert r.json()["lines"] == ["+ a", "+ b"] and store.all_jobs() == [] and scheduler.changed == []

    r = client.post("/api/v1/apply", json=body, headers=bearer(WRITE))
    assert r.status_code == 200, r.text
    plan = r.json()
    assert plan["create"] == ["a", "b"] and plan["source"] == "ci" and not plan["empty"]
    assert plan["summary"] == "2 to create, 0 to update, 0 to delete, 0 unchanged"
    assert store.job_sources() == {"a": "ci", "b": "ci"}
    assert scheduler.changed == ["a", "b"]  # the running scheduler sees the change, as with PUT /jobs

    # the same set again: nothing to do, nothing sent to the scheduler
    r = client.post("/api/v1/apply", json=body, headers=bearer(WRITE))
    assert r.json()["empty"] and r.json()["unchanged"] == ["a", "b"] and scheduler.changed == ["a", "b"]

    # prune within the source: b goes, a job made through the API stays
    store.put_job(JobSpec(name="by-hand", command="x", schedule="@daily"))
    r = client.post(
        "/api/v1/apply",
        json={"jobs": [job("a", command="echo A")], "source": "ci", "prune": True},
        headers=bearer(WRITE),
    )
    assert r.status_code == 200, r.text
    assert r.json()["lines"] == ["~ a (command)", "- b"]
    assert sorted(j.name for j in store.all_jobs()) == ["a", "by-hand"]
    assert scheduler.removed == ["b"] and scheduler.changed[-1] == "a"


def test_all_or_nothing(client: TestClient, store: Store, scheduler: RecordingScheduler) -> None:
    client.post(
        "/api/v1/apply",
        json={"jobs": [job("a"), job("b", schedule=None, parents=["a"])], "source": "ci"},
        headers=bearer(WRITE),
    )
    # pruning a while only b is defined would orphan b: refused whole, with where b is defined
    r = client.post(
        "/api/v1/apply",
        json={
            "jobs": [job("b", schedule=None, parents=["a"]), job("c")],
            "source": "ci",
            "prune": True,
            "locations": {"b": "jobs/b.py:3"},
        },
        headers=bearer(WRITE),
    )
    assert r.status_code == 422
    assert "parent job 'a' of 'b' does not exist (defined at jobs/b.py:3)" in r.json()["error"]
    assert sorted(j.name for j in store.all_jobs()) == ["a", "b"] and scheduler.removed == []

    # every bad job named by its place in the request, nothing stored
    r = client.post(
        "/api/v1/apply",
        json={"jobs": [job("c"), {"name": "d", "command": "x", "schedule": "never"}, {"name": "e", "comand": "x"}]},
        headers=bearer(WRITE),
    )
    assert r.status_code == 422
    fields = [e["field"] for e in r.json()["errors"]]
    assert "jobs[1].schedule" in fields and "jobs[2].comand" in fields
    assert sorted(j.name for j in store.all_jobs()) == ["a", "b"]

    r = client.post("/api/v1/apply", json={"jobs": [], "prune": "yes"}, headers=bearer(WRITE))
    assert r.status_code == 422 and r.json()["field"] == "prune"
    r = client.post("/api/v1/apply", json={"jobz": []}, headers=bearer(WRITE))
    assert r.status_code == 422 and r.json()["field"] == "jobz"


def test_owner_changes_need_admin_and_keep_fields_set_elsewhere(client: TestClient, store: Store) -> None:
    store.put_owner(Owner(id="o@example.com", slack="#old", preferences={"failure": ["slack"]}))
    body = {"jobs": [job("a", owners=["o@example.com"])], "owners": [{"id": "o@example.com", "slack": "#new"}]}
    r = client.post("/api/v1/apply", json=body, headers=bearer(WRITE))
    assert r.status_code == 403 and "needs the admin role" in r.json()["error"]
    assert store.all_jobs() == [] and store.get_owner("o@example.com").slack == "#old"

    r = client.post("/api/v1/apply", json=body, headers=bearer(ADMIN))
    assert r.status_code == 200, r.text
    assert r.json()["lines"] == ["+ a", "~ owner o@example.com (slack)"]
    owner = store.get_owner("o@example.com")
    assert owner.slack == "#new" and owner.preferences["failure"] == ("slack",)

    # an owner the apply leaves as it is needs no admin
    r = client.post(
        "/api/v1/apply", json={**body, "jobs": [job("a", owners=["o@example.com"]), job("z")]}, headers=bearer(WRITE)
    )
    assert r.status_code == 200 and r.json()["lines"] == ["+ z"]


@pytest.fixture
def live(app: Any) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    wait_for(up, 30, what="uvicorn")
    yield url
    server.should_exit = True
    thread.join(timeout=20)


def write(folder: Path, name: str, body: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(textwrap.dedent(body).lstrip("\n"))


def test_cli_apply_through_the_api(
    live: str,
    store: Store,
    scheduler: RecordingScheduler,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    jobs = tmp_path / "jobs"
    write(
        jobs,
        "etl.py",
        """
        from moroccron import Job
        for i in range(2):
            Job(name=f"etl-{i}", command="./etl.sh", schedule="@daily")
    """,
    )
    monkeypatch.delenv("MOROCCRON_TOKEN", raising=False)
    assert main(["jobs", "apply", str(jobs), "--api", live, "--token", READ]) == 1
    err = capsys.readouterr().err
    assert "HTTP 403" in err and "Traceback" not in err

    assert main(["jobs", "apply", str(jobs), "--api", live, "--token", WRITE, "--source", "etl", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "source: etl",
        "+ etl-0",
        "+ etl-1",
        "would apply: 2 to create, 0 to update, 0 to delete, 0 unchanged",
    ]
    assert store.all_jobs() == []

    monkeypatch.setenv("MOROCCRON_TOKEN", WRITE)
    assert main(["jobs", "apply", str(jobs), "--api", live, "--source", "etl"]) == 0
    assert "applied: 2 to create" in capsys.readouterr().out
    assert store.job_sources() == {"etl-0": "etl", "etl-1": "etl"} and scheduler.changed == ["etl-0", "etl-1"]

    # the same lines as a local apply of the same change
    write(
        jobs,
        "etl.py",
        """
        from moroccron import Job
        Job(name="etl-0", command="./etl.sh --v2", schedule="@daily")
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--api", live, "--source", "etl", "--prune"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "source: etl",
        "~ etl-0 (command)",
        "- etl-1",
        "applied: 0 to create, 1 to update, 1 to delete, 0 unchanged",
    ]
    assert scheduler.removed == ["etl-1"]

    # a cycle: refused by the scheduler, with where each job is defined, one problem a line
    write(
        jobs,
        "etl.py",
        """
        from moroccron import Job
        Job(name="x", command="x", parents=["y"])
        Job(name="y", command="x", parents=["x"], retries=-1)
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--api", live]) == 1
    err = capsys.readouterr().err
    assert "retries" in err and "Traceback" not in err
    write(
        jobs,
        "etl.py",
        """
        from moroccron import Job
        Job(name="x", command="x", parents=["y"])
        Job(name="y", command="x", parents=["x"])
    """,
    )
    assert main(["jobs", "apply", str(jobs), "--api", live]) == 1
    err = capsys.readouterr().err
    assert "HTTP 422" in err and "dependency cycle: x -> y -> x" in err and f"{jobs / 'etl.py'}:2" in err


def test_cli_api_unreachable_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path / "jobs", "a.py", "from moroccron import Job\nJob(name='a', command='x')\n")
    url = f"http://127.0.0.1:{free_port()}"
    assert main(["jobs", "apply", str(tmp_path / "jobs"), "--api", url, "--token", WRITE]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"moroccron: error: cannot reach the scheduler at {url}") and "Traceback" not in err


def test_a_running_scheduler_runs_and_drops_what_the_api_applied(tmp_path: Path) -> None:
    """No polling (job_poll_seconds 0): the apply itself tells the scheduler, as PUT does."""
    from moroccron.model import RunState
    from tests.e2e.harness import Cluster

    cluster = Cluster(tmp_path, agents=1, settings={"job_poll_seconds": 0})
    try:
        sched = cluster.start_scheduler()
        app = create_app(AppContext(sched.settings, cluster.store, sched.plugins, sched, metrics=sched.metrics))
        with TestClient(app) as client:
            body = {"jobs": [job("every-second", command="true", schedule="* * * * * *")], "source": "ci"}
            r = client.post("/api/v1/apply", json=body)
            assert r.status_code == 200, r.text
            wait_for(
                lambda: [r for r in cluster.runs("every-second") if r.state == RunState.SUCCEEDED],
                60,
                what="a run of the job applied through the API",
            )
            r = client.post("/api/v1/apply", json={"jobs": [], "source": "ci", "prune": True})
            assert r.status_code == 200 and r.json()["delete"] == ["every-second"]
            wait_for(lambda: "every-second" not in sched.engine.jobs, 30, what="the pruned job to leave the engine")
    finally:
        cluster.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"jobs": [1]}, "jobs[0]"),
        ({"jobs": {"a": {}}}, "jobs"),
        ({"jobs": [{"name": "a", "command": "x", "schedule": "@daily"}, {"command": "x"}]}, "jobs[1].name"),
        ({"owners": [{"slack": "#x"}]}, "owners[0].id"),
        ({"owners": [{"id": "o@x", "mute_until": "soon"}]}, "owners[0].mute_until"),
        ({"source": ""}, "source"),
        ({"source": "x" * 256}, "source"),
        ({"locations": []}, "locations"),
        ({"jobs": [], "prune": True}, "source"),
    ],
)
def test_bad_requests_name_the_field(client: TestClient, store: Store, body: dict[str, Any], field: str) -> None:
    r = client.post("/api/v1/apply", json=body, headers=bearer(ADMIN))
    assert r.status_code == 422, r.text
    assert r.json()["field"] == field
    assert store.all_jobs() == [] and store.list_owners() == []


def test_cli_prints_each_problem_the_api_found(
    live: str, store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Problems only the scheduler finds (two jobs whose parents it lacks) come back one a line."""
    write(
        tmp_path / "jobs",
        "a.py",
        """
        from moroccron import Job
        Job(name="a", command="x", parents=["ghost-1"])
        Job(name="b", command="x", parents=["ghost-2"])
    """,
    )
    assert main(["jobs", "apply", str(tmp_path / "jobs"), "--api", live, "--token", WRITE]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "moroccron: error: HTTP 422: 2 problems:"
    assert lines[1].startswith("  - a.parents[0]: parent job 'ghost-1' of 'a' does not exist (defined at ")
    assert lines[2].startswith("  - b.parents[0]: parent job 'ghost-2' of 'b' does not exist (defined at ")
    assert "(got 'ghost-2'); allowed: names of existing jobs" in lines[2]
    assert store.all_jobs() == []


def test_a_jobs_json_shows_its_source_read_only(client: TestClient, store: Store) -> None:
    client.post("/api/v1/apply", json={"jobs": [job("a")], "source": "team-a"}, headers=bearer(WRITE))
    got = client.get("/api/v1/jobs/a", headers=bearer(READ)).json()
    assert got["source"] == "team-a"
    # sent back as read (source included), the job is replaced; its source is not the client's to set
    r = client.put("/api/v1/jobs/a", json={**got, "command": "echo changed", "source": "mine"}, headers=bearer(WRITE))
    assert r.status_code == 200, r.text
    assert r.json()["source"] == "team-a" and r.json()["command"] == "echo changed"
    r = client.patch("/api/v1/jobs/a", json={"source": None, "retries": 1}, headers=bearer(WRITE))
    assert r.status_code == 200 and r.json()["source"] == "team-a"
    r = client.post("/api/v1/jobs", json={**job("by-hand"), "source": "x"}, headers=bearer(WRITE))
    assert r.status_code == 201 and r.json()["source"] is None
    assert store.job_sources() == {"a": "team-a", "by-hand": None}
