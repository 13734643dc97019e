"""Env values by role: masked for read, shown to write and admin, secret entries masked for all.

Each output of a job is read by each role and searched for the values themselves, so
that an output forgotten by the masking (a new route, a template) shows up here as a
leak rather than as a field that merely looks right.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from moroccron import Job
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator
from moroccron.cli import main
from moroccron.config import Settings
from moroccron.definitions import Definitions, apply_definitions
from moroccron.hooks.manager import PluginManager
from moroccron.masking import MASK
from moroccron.mesos.framework import task_info
from moroccron.model import Run, RunState
from moroccron.notify import Renderer, payload_for
from tests.ui.test_pages import csrf_of

PASSWORD = "hunter2-pw"  # an ordinary env value: write and admin see it
API_KEY = "k-123-secret"  # listed in secret_env: nobody sees it
ENV = {"DB_HOST": "db.example.com", "DB_PASSWORD": PASSWORD, "API_KEY": API_KEY}
JOB = {"name": "etl", "command": "./etl.sh", "env": ENV, "secret_env": ["API_KEY"], "schedule": "@daily"}
TOKENS = {"read": "tok-read", "write": "tok-write", "admin": "tok-admin"}
ROLES = tuple(TOKENS)


def auth_for(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


def expected_env(role: str) -> dict[str, str]:
    if role == "read":
        return {"DB_HOST": MASK, "DB_PASSWORD": MASK, "API_KEY": MASK}
    return {"DB_HOST": "db.example.com", "DB_PASSWORD": PASSWORD, "API_KEY": MASK}


@pytest.fixture
def client(store):
    auth = Authenticator.from_sources(
        None, environ={"MOROCCRON_AUTH_TOKENS": ",".join(f"{token}:{role}" for role, token in TOKENS.items())}
    )
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False), auth=auth))
    with TestClient(app) as c:
        assert c.post("/api/v1/jobs", json=JOB, headers=auth_for("admin")).status_code == 201
        yield c


def assert_hidden(text: str, role: str) -> None:
    assert API_KEY not in text, "a secret value was shown"
    if role == "read":
        assert PASSWORD not in text and "db.example.com" not in text, "an env value was shown to read"


@pytest.mark.parametrize("role", ROLES)
def test_native_api_masks_env_by_role(client, role):
    headers = auth_for(role)
    listed = client.get("/api/v1/jobs", headers=headers)
    assert listed.json()["jobs"][0]["env"] == expected_env(role)
    got = client.get("/api/v1/jobs/etl", headers=headers)
    assert got.json()["env"] == expected_env(role) and got.json()["secret_env"] == ["API_KEY"]
    for r in (listed, got):
        assert_hidden(r.text, role)
    if role != "read":  # every answer of a write masks too
        for r in (
            client.post("/api/v1/jobs/etl/disable", headers=headers),
            client.post("/api/v1/jobs/etl/enable", headers=headers),
            client.patch("/api/v1/jobs/etl", json={"description": "x"}, headers=headers),
            client.put("/api/v1/jobs/etl", json={**JOB, "description": "y"}, headers=headers),
            client.post("/api/v1/jobs", json={**JOB, "name": "etl2"}, headers=headers),
        ):
            assert r.status_code in (200, 201), r.text
            assert r.json()["env"] == expected_env(role)
            assert_hidden(r.text, role)


@pytest.mark.parametrize("prefix", ["/v1/scheduler", "/scheduler"])
@pytest.mark.parametrize("role", ROLES)
def test_chronos_api_masks_env_by_role(client, role, prefix):
    headers = auth_for(role)
    for path in ("/jobs", "/jobs/search?name=etl", "/jobs/search"):
        r = client.get(prefix + path, headers=headers)
        assert r.status_code == 200, r.text
        (job,) = r.json()
        assert {v["name"]: v["value"] for v in job["environmentVariables"]} == expected_env(role)
        assert job["moroccron"]["secret_env"] == ["API_KEY"]
        assert_hidden(r.text, role)


@pytest.mark.parametrize("role", ROLES)
def test_ui_masks_env_by_role(client, role):
    headers = auth_for(role)
    pages = [
        client.get(path, headers=headers)
        for path in ("/jobs", "/jobs/etl", "/ui/fragments/job/etl", "/ui/fragments/jobs", "/jobs/etl/edit", "/graph")
    ]
    for page in pages:
        assert page.status_code == 200, page.url
        assert_hidden(page.text, role)
    spec = pages[1].text
    assert "DB_PASSWORD" in spec and MASK in spec, "keys stay visible"
    form = pages[4].text
    if role != "read":
        assert PASSWORD in form and "DB_PASSWORD=" in form, "write sees what it edits"


def test_a_masked_value_sent_back_keeps_the_stored_one(client, store):
    """Read-modify-write through each door: native PUT and PATCH, the Chronos API, the UI form."""
    headers = auth_for("write")
    job = client.get("/api/v1/jobs/etl", headers=headers).json()
    assert job["env"]["API_KEY"] == MASK
    r = client.put("/api/v1/jobs/etl", json={**job, "description": "put back"}, headers=headers)
    assert r.status_code == 200, r.text
    assert dict(store.get_job("etl").env) == ENV

    r = client.patch("/api/v1/jobs/etl", json={"env": {**job["env"], "NEW": "1"}}, headers=headers)
    assert r.status_code == 200 and dict(store.get_job("etl").env) == {**ENV, "NEW": "1"}

    (chronos,) = client.get("/v1/scheduler/jobs", headers=headers).json()
    r = client.post("/v1/scheduler/iso8601", json={**chronos, "description": "chronos"}, headers=headers)
    assert r.status_code == 204, r.text
    stored = store.get_job("etl")
    assert dict(stored.env) == {**ENV, "NEW": "1"} and stored.description == "chronos"

    page = client.get("/jobs/etl/edit", headers=headers).text
    env_text = re.search(r'<textarea id="f-env" name="env"[^>]*>([^<]*)</textarea>', page).group(1)
    assert f"API_KEY={MASK}" in env_text
    form = {
        "command": "./etl.sh",
        "schedule": "@daily",
        "timezone": "UTC",
        "cpus": "0.1",
        "mem": "32",
        "retries": "0",
        "concurrency": "forbid",
        "catchup": "latest",
        "env": env_text.replace("&#34;", '"'),
        "secret_env": "API_KEY",
        "csrf": csrf_of(page),
    }
    r = client.post("/jobs/etl/edit", data=form, headers=headers, follow_redirects=False)
    assert r.status_code == 303, r.text
    assert dict(store.get_job("etl").env) == {**ENV, "NEW": "1"}


def test_a_secret_sent_back_masked_stays_secret(client, store):
    """A client that drops secret_env (a Chronos client without the ``moroccron`` object)
    but sends the mask back cannot have meant to publish the value: it stays secret."""
    headers = auth_for("write")
    job = client.get("/api/v1/jobs/etl", headers=headers).json()
    r = client.put("/api/v1/jobs/etl", json={**job, "secret_env": []}, headers=headers)
    assert r.status_code == 200 and store.get_job("etl").secret_env == ("API_KEY",)
    (chronos,) = client.get("/v1/scheduler/jobs", headers=headers).json()
    del chronos["moroccron"]
    assert client.post("/v1/scheduler/iso8601", json=chronos, headers=headers).status_code == 204
    assert store.get_job("etl").secret_env == ("API_KEY",) and store.get_job("etl").env["API_KEY"] == API_KEY
    # Sending a value (not the mask) without listing the key makes it ordinary again.
    r = client.patch("/api/v1/jobs/etl", json={"env": {**ENV, "API_KEY": "public"}, "secret_env": []}, headers=headers)
    assert r.status_code == 200 and r.json()["env"]["API_KEY"] == "public"


def test_the_mask_for_a_key_with_no_stored_value_is_refused(client, store):
    headers = auth_for("write")
    r = client.patch("/api/v1/jobs/etl", json={"env": {**ENV, "TOKEN": MASK}}, headers=headers)
    assert r.status_code == 422
    body = r.json()
    assert body["field"] == "env.TOKEN" and "placeholder" in body["error"]
    r = client.post("/api/v1/jobs", json={**JOB, "name": "other", "env": {"API_KEY": MASK}}, headers=headers)
    assert r.status_code == 422 and r.json()["field"] == "env.API_KEY"
    r = client.post(
        "/v1/scheduler/iso8601",
        headers=headers,
        json={
            "name": "other",
            "command": "true",
            "schedule": "R/2026-01-01T00:00:00Z/PT1H",
            "environmentVariables": [{"name": "X", "value": MASK}],
        },
    )
    assert r.status_code == 400 and r.json()["field"] == "environmentVariables.X"
    assert dict(store.get_job("etl").env) == ENV and "other" not in store.job_names()


def test_secret_env_must_name_keys_of_env(client):
    r = client.post("/api/v1/jobs", json={**JOB, "name": "x", "secret_env": ["NOPE"]}, headers=auth_for("write"))
    assert r.status_code == 422
    assert r.json()["field"] == "secret_env[0]" and "not a key of env" in r.json()["error"]


def test_the_mesos_task_gets_the_real_values(store):
    store.put_job(Job(**JOB))
    job = store.get_job("etl")
    run = Run(job="etl", scheduled_at=datetime(2026, 1, 1, tzinfo=UTC), state=RunState.QUEUED)
    info = task_info(job, run, "agent-1")
    variables = {v["name"]: v["value"] for v in info["command"]["environment"]["variables"]}
    assert variables["API_KEY"] == API_KEY and variables["DB_PASSWORD"] == PASSWORD


def test_cli_and_jobs_apply_never_print_a_secret(store, capsys, tmp_path):
    url = store.url.render_as_string(hide_password=False)
    plan = apply_definitions(store, Definitions(jobs={"etl": Job(**JOB)}))
    assert plan.lines() == ["+ etl"]
    changed = Job(**{**JOB, "env": {**ENV, "API_KEY": "rotated-key"}})
    plan = apply_definitions(store, Definitions(jobs={"etl": changed}), dry_run=True)
    assert plan.lines() == ["~ etl (env)"], "the plan names the field, never its values"
    assert main(["jobs", "show", "etl", "--db", url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["env"] == {**ENV, "API_KEY": MASK}
    assert main(["jobs", "list", "--json", "--db", url]) == 0
    out = capsys.readouterr().out
    assert API_KEY not in out and json.loads(out)[0]["env"]["API_KEY"] == MASK


def test_notification_payloads_mask_secrets(store):
    job = Job(**JOB)
    run = Run(job="etl", scheduled_at=datetime(2026, 1, 1, tzinfo=UTC), state=RunState.FAILED, attempt=0)
    payload = payload_for(job, run, {})
    assert payload["job"]["env"]["API_KEY"] == MASK and API_KEY not in json.dumps(payload)
    notification = Renderer(Settings()).build("failure", payload, {}, datetime(2026, 1, 2, tzinfo=UTC))
    assert notification.job.env["API_KEY"] == MASK, "what notifier plugins are handed"
    assert API_KEY not in notification.text + notification.html


def test_a_job_stored_before_secret_env_existed_reads_as_having_none(store, client):
    """Rows written by an older version lack the field: listed and loaded with no secret
    key, and masked for read like any other job."""
    from sqlalchemy import update

    from moroccron.store.models import JobRow

    old = {k: v for k, v in Job(name="old", command="true", env={"A": "1"}).to_dict().items() if k != "secret_env"}
    store.put_job(Job(name="old", command="true"))
    with store.transaction() as tx:
        tx.execute(update(JobRow).where(JobRow.name == "old").values(spec=old))
    listed = {j["name"]: j for j in store.list_job_dicts()[0]}
    assert listed["old"]["secret_env"] == [] and listed["old"]["env"] == {"A": "1"}
    assert store.get_job("old").secret_env == ()
    r = client.get("/api/v1/jobs", headers=auth_for("read"))
    assert {j["name"]: j for j in r.json()["jobs"]}["old"]["env"] == {"A": MASK}


def test_the_ui_form_sets_env_and_secret_keys(client, store):
    headers = auth_for("write")
    page = client.get("/new-job", headers=headers).text
    form = {
        "name": "ui-job",
        "command": "true",
        "timezone": "UTC",
        "cpus": "0.1",
        "mem": "32",
        "retries": "0",
        "concurrency": "forbid",
        "catchup": "latest",
        "env": "USER=etl\nPASS=a=b c\n",
        "secret_env": "PASS",
        "csrf": csrf_of(page),
    }
    r = client.post("/new-job", data=form, headers=headers, follow_redirects=False)
    assert r.status_code == 303, r.text
    stored = store.get_job("ui-job")
    assert dict(stored.env) == {"USER": "etl", "PASS": "a=b c"} and stored.secret_env == ("PASS",)
    assert "a=b c" not in client.get("/jobs/ui-job/edit", headers=headers).text
    bad = client.post(
        "/new-job", headers=headers, data={**form, "name": "ui-2", "env": "no equals sign", "secret_env": "GHOST"}
    )
    assert bad.status_code == 422
    errors = dict(re.findall(r'id="err-(\w+)" role="alert">([^<]*)<', bad.text))
    assert "KEY=VALUE" in errors["env"]
    bad = client.post("/new-job", headers=headers, data={**form, "name": "ui-2", "secret_env": "GHOST"})
    errors = dict(re.findall(r'id="err-(\w+)" role="alert">([^<]*)<', bad.text))
    assert bad.status_code == 422 and "not a key of env" in errors["secret_env"]
    assert "ui-2" not in store.job_names()
