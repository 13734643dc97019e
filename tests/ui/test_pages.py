"""The web UI's pages, forms, CSRF and roles, through the app (the browser tests drive a real server)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from moroccron import Job
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator, hash_secret
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.model import Run, RunState

FORM = {"name": "nightly", "command": "echo hi", "schedule": "0 3 * * *", "timezone": "UTC", "cpus": "0.1",
        "mem": "32", "retries": "0", "concurrency": "forbid", "catchup": "latest"}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def errors_of(html: str) -> dict[str, str]:
    return {k: v for k, v in re.findall(r'id="err-(\w+)" role="alert">([^<]*)<', html) if v}


@pytest.fixture
def client(store):
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False)))
    return TestClient(app)


def test_create_a_job_through_the_form(client, store):
    page = client.get("/jobs/new")
    assert page.status_code == 200
    r = client.post("/jobs/new", data={**FORM, "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/nightly")
    job = store.get_job("nightly")
    assert job.command == "echo hi" and job.schedule == "0 3 * * *"
    listing = client.get("/jobs").text
    assert 'data-job="nightly"' in listing and "at 03:00" in listing.lower() or "03:00" in listing


def test_a_bad_cron_expression_is_shown_next_to_the_schedule_field(client, store):
    page = client.get("/jobs/new")
    r = client.post("/jobs/new", data={**FORM, "schedule": "61 * * * *", "cpus": "lots",
                                       "csrf": csrf_of(page.text)})
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert "minute" in errors["schedule"] and "0-59" in errors["schedule"]
    assert "number" in errors["cpus"]
    assert 'value="61 * * * *"' in r.text, "the user's input is kept"
    assert store.list_jobs()[1] == 0, "nothing stored"


def test_forms_without_the_csrf_token_are_refused(client, store):
    client.get("/jobs/new")
    assert client.post("/jobs/new", data=FORM).status_code == 403
    assert client.post("/jobs/new", data={**FORM, "csrf": "forged"}).status_code == 403
    assert store.list_jobs()[1] == 0


def test_descriptions_are_escaped(client, store):
    store.put_job(Job(name="x", command="true", description='<script>alert("pwned")</script>'))
    html = client.get("/jobs").text + client.get("/jobs/x").text
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


def test_list_is_paginated_filtered_and_shows_next_and_last_run(client, store):
    from datetime import timedelta

    store.apply_jobs([Job(name=f"job-{i:03d}", command="true", schedule="*/5 * * * *", owners=("ops@x.org",)
                          if i % 2 else ()) for i in range(120)])
    at = Run(job="job-001", scheduled_at=__import__("datetime").datetime(2026, 1, 1,
                                                                           tzinfo=__import__("datetime").UTC),
             state=RunState.FAILED, finished_at=None)
    store.create_run(at)
    store.set_job_state("job-001", at.scheduled_at, at.scheduled_at + timedelta(minutes=5))
    first = client.get("/jobs").text
    assert "page 1 of 3" in first and first.count("<tr data-job=") == 50
    third = client.get("/jobs?page=3").text
    assert third.count("<tr data-job=") == 20
    mine = client.get("/jobs?owner=ops@x.org").text
    assert "page 1 of 2" in mine
    found = client.get("/jobs?q=job-001").text
    assert found.count("<tr data-job=") == 1 and 'data-outcome="failed"' in found and "every 5 minutes" in found


def test_graph_highlights_the_jobs_waiting_on_a_failure(client, store):
    store.apply_jobs([Job(name="a", command="true", schedule="@daily"), Job(name="b", command="true", parents=("a",)),
                      Job(name="c", command="true", parents=("b",)), Job(name="lone", command="true")])
    from datetime import UTC, datetime

    store.create_run(Run(job="a", scheduled_at=datetime(2026, 1, 1, tzinfo=UTC), state=RunState.FAILED))
    html = client.get("/graph").text
    assert re.search(r'class="node failed"[^>]*data-job="a"', html)
    assert re.search(r'class="node never waiting"[^>]*data-job="b"', html)
    assert re.search(r'class="node never waiting"[^>]*data-job="c"', html)
    assert 'data-job="lone"' not in html, "jobs with no dependencies are left out of the whole graph"
    sub = client.get("/graph?job=b").text
    assert 'data-job="c"' in sub and 'data-job="a"' not in sub


@pytest.fixture
def auth(tmp_path):
    path = tmp_path / "auth.toml"
    path.write_text(f"""
[[users]]
name = "viewer"
password = "{hash_secret('look')}"
role = "read"

[[users]]
name = "boss"
password = "{hash_secret('s3cret')}"
role = "admin"
""")
    return Authenticator.from_sources(path, environ={})


@pytest.fixture
def secured(store, auth):
    store.put_job(Job(name="a", command="true"))
    return TestClient(create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False), auth=auth)))


def login(client, user, password):
    page = client.get("/login")
    return client.post("/login", data={"user": user, "password": password, "next": "/jobs/a",
                                       "csrf": csrf_of(page.text)}, follow_redirects=False)


def test_pages_need_a_login_and_the_api_still_answers_401(secured):
    r = secured.get("/jobs/a", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fjobs%2Fa")
    assert secured.get("/api/v1/jobs").status_code == 401
    assert secured.get("/ui/static/app.css").status_code == 200
    r = login(secured, "boss", "wrong")
    assert r.status_code == 401 and "wrong user" in r.text


def test_an_admin_gets_buttons_a_reader_gets_none(secured, store):
    r = login(secured, "boss", "s3cret")
    assert r.status_code == 303 and r.headers["location"] == "/jobs/a"
    page = secured.get("/jobs/a").text
    assert ">Run now</button>" in page and ">Delete</button>" in page and "/jobs/a/edit" in page
    # the session is also good for the JSON API, from the browser
    assert secured.get("/api/v1/jobs/a").status_code == 200

    secured.cookies.clear()
    assert login(secured, "viewer", "look").status_code == 303
    page = secured.get("/jobs/a").text
    assert "<button" not in page.replace("<button class=\"link\">log out</button>", ""), "no button but log out"
    assert "/jobs/a/edit" not in page
    assert "New job" not in secured.get("/jobs").text
    r = secured.post("/jobs/a/disable", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 403 and store.get_job("a").disabled is False


def test_a_forged_session_cookie_is_no_session(secured):
    secured.cookies.set("moroccron_session", "eyJuIjoiYm9zcyIsInIiOiJhZG1pbiIsImUiOjk5OTk5OTk5OTl9.forged")
    assert secured.get("/jobs", follow_redirects=False).status_code == 303
