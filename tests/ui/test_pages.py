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

FORM = {
    "name": "nightly",
    "command": "echo hi",
    "schedule": "0 3 * * *",
    "timezone": "UTC",
    "cpus": "0.1",
    "mem": "32",
    "retries": "0",
    "concurrency": "forbid",
    "catchup": "latest",
}


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def errors_of(html: str) -> dict[str, str]:
    return {k: v for k, v in re.findall(r'id="err-(\w+)" role="alert">([^<]*)<', html) if v}


@pytest.fixture
def client(store):
    app = create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False)))
    return TestClient(app)


def test_create_a_job_through_the_form(client, store):
    page = client.get("/new-job")
    assert page.status_code == 200
    r = client.post("/new-job", data={**FORM, "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs/nightly")
    job = store.get_job("nightly")
    assert job.command == "echo hi" and job.schedule == "0 3 * * *"
    listing = client.get("/jobs").text
    assert 'data-job="nightly"' in listing and "at 03:00" in listing.lower() or "03:00" in listing


def test_a_bad_cron_expression_is_shown_next_to_the_schedule_field(client, store):
    page = client.get("/new-job")
    r = client.post("/new-job", data={**FORM, "schedule": "61 * * * *", "cpus": "lots", "csrf": csrf_of(page.text)})
    assert r.status_code == 422
    errors = errors_of(r.text)
    assert "minute" in errors["schedule"] and "0-59" in errors["schedule"]
    assert "number" in errors["cpus"]
    assert 'value="61 * * * *"' in r.text, "the user's input is kept"
    assert store.list_jobs()[1] == 0, "nothing stored"


def test_forms_without_the_csrf_token_are_refused(client, store):
    client.get("/new-job")
    assert client.post("/new-job", data=FORM).status_code == 403
    assert client.post("/new-job", data={**FORM, "csrf": "forged"}).status_code == 403
    assert store.list_jobs()[1] == 0


def test_descriptions_are_escaped(client, store):
    store.put_job(Job(name="x", command="true", description='<script>alert("pwned")</script>'))
    html = client.get("/jobs").text + client.get("/jobs/x").text
    assert "<script>alert" not in html and "&lt;script&gt;alert" in html


def test_list_is_paginated_filtered_and_shows_next_and_last_run(client, store):
    from datetime import timedelta

    store.apply_jobs(
        [
            Job(name=f"job-{i:03d}", command="true", schedule="*/5 * * * *", owners=("ops@x.org",) if i % 2 else ())
            for i in range(120)
        ]
    )
    at = Run(
        job="job-001",
        scheduled_at=__import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").UTC),
        state=RunState.FAILED,
        finished_at=None,
    )
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
    store.apply_jobs(
        [
            Job(name="a", command="true", schedule="@daily"),
            Job(name="b", command="true", parents=("a",)),
            Job(name="c", command="true", parents=("b",)),
            Job(name="lone", command="true"),
        ]
    )
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
password = "{hash_secret("look")}"
role = "read"

[[users]]
name = "boss"
password = "{hash_secret("s3cret")}"
role = "admin"
""")
    return Authenticator.from_sources(path, environ={})


@pytest.fixture
def secured(store, auth):
    store.put_job(Job(name="a", command="true"))
    return TestClient(create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False), auth=auth)))


def login(client, user, password):
    page = client.get("/login")
    return client.post(
        "/login",
        data={"user": user, "password": password, "next": "/jobs/a", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )


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
    assert "<button" not in page.replace('<button class="link">log out</button>', ""), "no button but log out"
    assert "/jobs/a/edit" not in page
    assert "New job" not in secured.get("/jobs").text
    r = secured.post("/jobs/a/disable", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 403 and store.get_job("a").disabled is False


def test_a_forged_session_cookie_is_no_session(secured):
    secured.cookies.set("moroccron_session", "eyJuIjoiYm9zcyIsInIiOiJhZG1pbiIsImUiOjk5OTk5OTk5OTl9.forged")
    assert secured.get("/jobs", follow_redirects=False).status_code == 303


def test_labels_are_edited_in_the_form_and_filter_the_list(client, store):
    page = client.get("/new-job")
    r = client.post(
        "/new-job", data={**FORM, "labels": "team=data, tier=2", "csrf": csrf_of(page.text)}, follow_redirects=False
    )
    assert r.status_code == 303
    assert dict(store.get_job("nightly").labels) == {"team": "data", "tier": "2"}
    store.put_job(Job(name="other", command="true", labels={"team": "web"}))
    found = client.get("/jobs?label=team%3Ddata").text
    assert found.count("<tr data-job=") == 1 and 'data-job="nightly"' in found and "team=data" in found
    assert "a label filter is KEY=VALUE" in client.get("/jobs?label=nonsense").text
    bad = client.post("/new-job", data={**FORM, "name": "x2", "labels": "oops", "csrf": csrf_of(page.text)})
    assert bad.status_code == 422 and "KEY=VALUE" in errors_of(bad.text)["labels"]


def test_editing_keeps_the_fields_the_form_does_not_show(client, store):
    store.put_job(Job(name="e", command="true", schedule="@daily", env={"A": "1"}, uris=("http://x/y",)))
    page = client.get("/jobs/e/edit")
    assert 'value="@daily"' in page.text and "readonly" in page.text
    values = {**FORM, "name": "renamed?", "command": "echo new", "schedule": "@hourly"}
    r = client.post("/jobs/e/edit", data={**values, "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert r.status_code == 303
    job = store.get_job("e")
    assert job.name == "e" and job.command == "echo new" and job.schedule == "@hourly"
    assert dict(job.env) == {"A": "1"} and job.uris == ("http://x/y",), "fields not in the form survive"
    bad = client.post("/jobs/e/edit", data={**values, "timezone": "Mars/Olympus", "csrf": csrf_of(page.text)})
    assert bad.status_code == 422 and errors_of(bad.text)["timezone"]
    assert 'value="Mars/Olympus"' in bad.text and store.get_job("e").timezone == "UTC"


def test_enable_disable_and_delete_buttons(client, store):
    store.apply_jobs([Job(name="p", command="true", schedule="@daily"), Job(name="c", command="true", parents=("p",))])
    csrf = csrf_of(client.get("/jobs/p").text)
    r = client.post("/jobs/p/disable", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and store.get_job("p").disabled
    page = client.get(r.headers["location"]).text
    assert 'class="banner info"' in page and ">Enable</button>" in page and "disabled</span>" in page
    client.post("/jobs/p/enable", data={"csrf": csrf})
    assert not store.get_job("p").disabled
    # a parent with a child is not deleted: the reason is shown as an error
    r = client.post("/jobs/p/delete", data={"csrf": csrf}, follow_redirects=False)
    assert "err=1" in r.headers["location"]
    assert 'class="banner error"' in client.get(r.headers["location"]).text
    assert store.get_job("p")
    r = client.post("/jobs/c/delete", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/jobs?msg=")
    assert store.list_jobs()[1] == 1


def test_run_now_on_an_instance_that_does_not_schedule_says_why(client, store):
    store.put_job(Job(name="r", command="true"))
    page = client.get("/jobs/r").text
    assert "standby" in page
    r = client.post("/jobs/r/run", data={"csrf": csrf_of(page)})
    assert r.status_code == 200 and 'class="banner error"' in r.text and "not the leader" in r.text


def test_kill_is_offered_only_while_a_run_is_live(client, store):
    from datetime import UTC, datetime

    store.put_job(Job(name="k", command="sleep 100"))
    assert ">Kill</button>" not in client.get("/jobs/k").text
    store.create_run(
        Run(
            job="k",
            scheduled_at=datetime(2026, 1, 1, tzinfo=UTC),
            state=RunState.RUNNING,
            agent_id="a1",
            launched_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )
    page = client.get("/jobs/k").text
    assert ">Kill</button>" in page and ">kill</button>" in page, "the header button and the run's own"
    fragment = client.get("/ui/fragments/job/k").text
    assert 'data-state="running"' in fragment and ">kill</button>" in fragment


def test_fragments_are_the_live_parts_of_the_pages(client, store):
    store.put_job(Job(name="f", command="true", schedule="@daily"))
    rows = client.get("/ui/fragments/jobs?q=f").text
    assert 'data-job="f"' in rows and "<header" not in rows, "rows only, no page around them"
    assert "Runs" in client.get("/ui/fragments/job/f").text
    assert client.get("/ui/fragments/job/missing").status_code == 404


def test_unknown_pages_are_pages_not_json(client):
    r = client.get("/jobs/nope")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "Not found" in r.text and "nope" in r.text and 'href="/jobs"' in r.text
    assert client.get("/graph?job=nope").status_code == 404
    assert client.get("/api/v1/jobs/nope").headers["content-type"] == "application/json", "the API keeps JSON"


def test_a_subtree_shows_what_waits_on_a_failure_above_its_root(client, store):
    from datetime import UTC, datetime

    store.apply_jobs(
        [
            Job(name="a", command="true", schedule="@daily"),
            Job(name="b", command="true", parents=("a",)),
            Job(name="c", command="true", parents=("b",)),
        ]
    )
    store.create_run(Run(job="a", scheduled_at=datetime(2026, 1, 1, tzinfo=UTC), state=RunState.FAILED))
    sub = client.get("/graph?job=b").text
    assert re.search(r'class="node never waiting"[^>]*data-job="b"', sub)
    assert re.search(r'class="node never waiting"[^>]*data-job="c"', sub)
    assert "failed: a" in sub


def test_the_login_form_needs_its_csrf_token_and_stays_on_this_site(secured):
    assert secured.post("/login", data={"user": "boss", "password": "s3cret"}).status_code == 403
    page = secured.get("/login")
    r = secured.post(
        "/login",
        data={"user": "boss", "password": "s3cret", "next": "//evil.example/x", "csrf": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/jobs"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie


def test_a_session_reads_the_api_but_never_writes_through_it(secured, store):
    assert login(secured, "boss", "s3cret").status_code == 303
    assert secured.get("/api/v1/jobs/a").status_code == 200
    # no CSRF token on API writes, so a session cookie alone is no credential for them
    assert secured.post("/api/v1/jobs/a/disable").status_code == 401
    assert store.get_job("a").disabled is False
    assert secured.post("/api/v1/jobs/a/disable", auth=("boss", "s3cret")).status_code == 200


def test_logging_out_ends_the_session(secured):
    login(secured, "boss", "s3cret")
    page = secured.get("/jobs").text
    assert "boss" in page and "log out" in page
    r = secured.post("/logout", data={"csrf": csrf_of(page)}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert secured.get("/jobs", follow_redirects=False).status_code == 303


def test_a_session_expires():
    from moroccron.auth import Principal
    from moroccron.ui.session import SESSION_SECONDS, Sessions

    sessions = Sessions("k")
    cookie = sessions.issue(Principal("boss", "admin", "basic"), now=1000.0)
    assert sessions.principal(cookie, now=1001.0).role == "admin"
    assert sessions.principal(cookie, now=1000.0 + SESSION_SECONDS + 1) is None
    assert Sessions("other key").principal(cookie, now=1001.0) is None, "signed with the key"


def test_a_job_named_new_has_its_own_page(client, store):
    # The form lives at /new-job: job names cannot start with '-', and /jobs/<name> is always the job.
    store.put_job(Job(name="new", command="echo new-job-command", schedule="0 4 * * *"))
    page = client.get("/jobs/new")
    assert page.status_code == 200 and "echo new-job-command" in page.text
