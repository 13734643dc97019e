"""Hostile and careless input over HTTP: each attack first, then that it is a 4xx naming
the field, and that nothing stored changed.

The native API, the Chronos API and the UI share the job model and the input limits
middleware (moroccron/api/limits.py); each is tried here through its own door. Where the
database matters (NUL bytes, offsets, what is stored) the tests run on SQLite and
PostgreSQL (``client``); input refused before any query runs on SQLite only (``lite``).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.store import Store

TOKENS = "tok-read:read,tok-write:write,tok-admin:admin"
READ = {"Authorization": "Bearer tok-read"}
WRITE = {"Authorization": "Bearer tok-write"}
ADMIN = {"Authorization": "Bearer tok-admin"}
V1 = "/v1/scheduler"


def _client(store: Store) -> TestClient:
    auth = Authenticator.from_sources(None, environ={"MOROCCRON_AUTH_TOKENS": TOKENS})
    return TestClient(create_app(AppContext(Settings(), store, PluginManager(load_entrypoints=False), auth=auth)))


@pytest.fixture
def client(store: Store) -> Iterator[TestClient]:
    """On SQLite and PostgreSQL."""
    with _client(store) as c:
        yield c


@pytest.fixture
def lite(tmp_path: Path, _sqlite_template: Path) -> Iterator[TestClient]:
    """On SQLite only: for input refused before the database is asked anything."""
    path = tmp_path / "moroccron.db"
    shutil.copy(_sqlite_template, path)
    with Store(f"sqlite:///{path}") as store, _client(store) as c:
        yield c


@pytest.fixture
def seeded(client: TestClient) -> TestClient:
    for name in ("alpha", "beta"):
        r = client.post(
            "/api/v1/jobs",
            json={"name": name, "command": f"echo {name}", "schedule": "@daily", "labels": {"team": "data"}},
            headers=WRITE,
        )
        assert r.status_code == 201, r.text
    return client


def fields_of(r: Any) -> dict[str, dict[str, Any]]:
    return {e["field"]: e for e in r.json()["errors"]}


def names(client: TestClient) -> list[str]:
    return [j["name"] for j in client.get("/api/v1/jobs", headers=READ).json()["jobs"]]


def post_raw(client: TestClient, path: str, text: str, method: str = "POST", auth: dict[str, str] = WRITE) -> Any:
    return client.request(
        method,
        path,
        content=text.encode("utf-8", "surrogatepass"),
        headers={**auth, "content-type": "application/json"},
    )


# ----------------------------------------------------------------------------- NUL bytes (item 5)


@pytest.mark.parametrize(
    "params", [{"q": "\x00"}, {"owner": "a\x00"}, {"label": "team=\x00"}, {"state": "enabled\x00"}]
)
def test_nul_in_a_filter_is_a_400_for_a_read_user(seeded: TestClient, params: dict[str, str]) -> None:
    """PostgreSQL answered 500 (it cannot compare text with NUL); SQLite's LIKE stopped
    reading the pattern at the NUL, so ?q=%00 listed every job."""
    r = seeded.get("/api/v1/jobs", params=params, headers=READ)
    assert r.status_code == 400, r.text
    key = next(iter(params))
    assert r.json()["field"] == key and "U+0000" in r.json()["error"]


def test_nul_in_a_path_is_a_400_and_not_a_lookup(seeded: TestClient) -> None:
    for path in (
        "/api/v1/jobs/a%00b",
        "/api/v1/jobs/alpha%00/runs",
        "/api/v1/runs/a%00.1.0",
        "/api/v1/owners/x%00",
        f"{V1}/job/stat/a%00b",
        "/jobs/a%00b",
        "/graph?job=a%00",
    ):
        r = seeded.get(path, headers=READ)
        assert r.status_code == 400, (path, r.text)
        assert r.json()["field"] in ("path", "job") and "U+0000" in r.json()["error"]
    r = seeded.delete("/api/v1/jobs/alpha%00", headers=WRITE)
    assert r.status_code == 400
    assert names(seeded) == ["alpha", "beta"]


def test_other_control_characters_in_paths_and_queries_are_refused(seeded: TestClient) -> None:
    assert seeded.get("/api/v1/jobs/alpha%0A", headers=READ).status_code == 400
    r = seeded.get("/api/v1/jobs", params={"q": "al\npha"}, headers=READ)
    assert r.status_code == 400 and r.json()["field"] == "q" and "U+000A" in r.json()["error"]
    # Ordinary text, including non-ASCII, still searches.
    assert seeded.get("/api/v1/jobs", params={"q": "alp"}, headers=READ).json()["total"] == 1
    assert seeded.get("/api/v1/jobs", params={"q": "é"}, headers=READ).json()["total"] == 0


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("description", "a\x00b", "description"),
        ("command", "echo \x00", "command"),
        ("labels", {"team": "da\x00ta"}, "labels.team"),
        ("labels", {"te\x00am": "data"}, "labels"),
        ("env", {"A": "x\x00"}, "env.A"),
        ("owners", ["a\x00@x"], "owners[0]"),
        ("arguments", ["--x\x00"], "arguments[0]"),
        ("user", "ro\x00ot", "user"),
        ("uris", ["https://x/\x00"], "uris[0]"),
    ],
)
def test_nul_in_a_text_field_is_a_422_naming_it(seeded: TestClient, field: str, value: Any, named: str) -> None:
    before = seeded.get("/api/v1/jobs/alpha", headers=READ).json()
    body = {"name": "gamma", "command": "true", field: value}
    r = seeded.post("/api/v1/jobs", json=body, headers=WRITE)
    assert r.status_code == 422, r.text
    assert named in fields_of(r) and "U+0000" in fields_of(r)[named]["error"]
    r = seeded.patch("/api/v1/jobs/alpha", json={field: value}, headers=WRITE)
    assert r.status_code == 422 and named in fields_of(r)
    assert names(seeded) == ["alpha", "beta"]
    assert seeded.get("/api/v1/jobs/alpha", headers=READ).json() == before, "nothing half-written"


def test_nul_in_owner_fields_and_run_arguments(seeded: TestClient) -> None:
    r = seeded.put("/api/v1/owners/ops@x", json={"name": "O\x00ps"}, headers=ADMIN)
    assert r.status_code == 422 and "name" in fields_of(r)
    r = seeded.put("/api/v1/owners/ops@x", json={"slack": "#o\x00ps"}, headers=ADMIN)
    assert r.status_code == 422 and "slack" in fields_of(r)
    assert seeded.get("/api/v1/owners", headers=READ).json() == {"owners": []}
    r = seeded.post("/api/v1/jobs/alpha/runs", json={"arguments": ["a\x00"]}, headers=WRITE)
    assert r.status_code == 422 and "arguments[0]" in fields_of(r)


def test_nul_through_the_chronos_api(seeded: TestClient) -> None:
    r = seeded.get(f"{V1}/jobs/search", params={"name": "\x00"}, headers=READ)
    assert r.status_code == 400 and r.json()["field"] == "name"
    r = seeded.post(
        f"{V1}/iso8601",
        json={"name": "gamma", "command": "true", "description": "x\x00", "schedule": "R/2026-01-01T00:00:00Z/PT1H"},
        headers=WRITE,
    )
    assert r.status_code == 400 and "description" in fields_of(r)
    r = seeded.post(
        f"{V1}/iso8601",
        json={
            "name": "gamma",
            "command": "true",
            "schedule": "R/2026-01-01T00:00:00Z/PT1H",
            "environmentVariables": [{"name": "A\x00", "value": "1"}],
        },
        headers=WRITE,
    )
    assert r.status_code == 400 and "environmentVariables" in fields_of(r)
    r = seeded.put(f"{V1}/job/alpha", params={"arguments": "a\x00"}, headers=WRITE)
    assert r.status_code == 400 and r.json()["field"] == "arguments"
    assert names(seeded) == ["alpha", "beta"]


def test_nul_in_ui_filters_pages_and_forms(seeded: TestClient) -> None:
    assert seeded.get("/jobs", params={"q": "\x00"}, headers=READ).status_code == 400
    assert seeded.get("/ui/fragments/jobs", params={"owner": "\x00"}, headers=READ).status_code == 400
    page = seeded.get("/new-job", headers=ADMIN)
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    form = {"name": "gamma", "command": "true", "description": "x\x00y", "timezone": "UTC", "csrf": csrf}
    r = seeded.post("/new-job", data=form, headers=ADMIN)
    assert r.status_code == 422 and "U+0000" in r.text
    assert names(seeded) == ["alpha", "beta"]


# ----------------------------------------------------------------------------- offsets (item 8)


def test_an_offset_past_64_bits_is_a_422_not_a_database_error(seeded: TestClient) -> None:
    for path in ("/api/v1/jobs", "/api/v1/jobs/alpha/runs", f"{V1}/jobs/search"):
        for offset in (2**63, 2**64 + 1, 10**30):
            r = seeded.get(path, params={"offset": offset}, headers=READ)
            # The Chronos API answers bad input with 400, as Chronos did.
            assert r.status_code == (400 if path.startswith(V1) else 422), (path, offset, r.text)
            assert r.json()["field"] == "offset"
    assert seeded.get("/api/v1/jobs", params={"offset": 10**9}, headers=READ).json()["jobs"] == []


def test_the_ui_page_number_is_bounded(seeded: TestClient) -> None:
    for page in (str(2**63 // 50 + 1), "9" * 30):
        r = seeded.get("/jobs", params={"page": page}, headers=READ)
        assert r.status_code == 422 and "page" in r.text
        assert seeded.get("/ui/fragments/jobs", params={"page": page}, headers=READ).status_code == 422
    assert seeded.get("/jobs", params={"page": "2"}, headers=READ).status_code == 200


# ----------------------------------------------------------------------------- JSON numbers and text (item 8)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e309"])
@pytest.mark.parametrize(
    "field",
    [
        "timeout_seconds",
        "starting_deadline_seconds",
        "retry_delay_seconds",
        "retries",
        "resources.cpus",
        "resources.mem",
        "disable_after_failures",
    ],
)
def test_non_finite_numbers_are_a_422_naming_the_field(lite: TestClient, literal: str, field: str) -> None:
    if "." in field:
        outer, inner = field.split(".")
        text = f'{{"name": "a", "command": "true", "{outer}": {{"{inner}": {literal}}}}}'
    else:
        text = f'{{"name": "a", "command": "true", "{field}": {literal}}}'
    r = post_raw(lite, "/api/v1/jobs", text)
    assert r.status_code == 422, r.text
    assert field in fields_of(r)
    assert isinstance(fields_of(r)[field]["value"], str), "NaN and infinity travel as text: JSON has neither"
    assert names(lite) == []


def test_non_finite_numbers_in_maps_and_chronos_hashes(lite: TestClient) -> None:
    r = post_raw(lite, "/api/v1/jobs", '{"name": "a", "command": "true", "labels": {"x": NaN}}')
    assert r.status_code == 422 and "labels.x" in fields_of(r)
    hash_ = '{"name": "a", "command": "true", "schedule": "R/2026-01-01T00:00:00Z/PT1H", "cpus": %s}'
    for literal in ("NaN", "Infinity", "1e309"):
        r = post_raw(lite, f"{V1}/iso8601", hash_ % literal)
        assert r.status_code == 400 and "cpus" in fields_of(r), r.text
    env = (
        '{"name": "a", "command": "true", "schedule": "R/2026-01-01T00:00:00Z/PT1H", '
        '"environmentVariables": [{"name": "A", "value": NaN}]}'
    )
    r = post_raw(lite, f"{V1}/iso8601", env)
    assert r.status_code == 400 and "environmentVariables[0].value" in fields_of(r)
    assert names(lite) == []


@pytest.mark.parametrize("field", ["description", "command", "name", "schedule", "timezone", "user"])
def test_a_lone_surrogate_is_a_422_naming_the_field(lite: TestClient, field: str) -> None:
    body = {"name": "a", "command": "true", field: "x\ud800y"}
    r = post_raw(lite, "/api/v1/jobs", json.dumps(body))
    assert r.status_code == 422, r.text
    assert field in fields_of(r)
    r.json()  # the error body itself is valid UTF-8 JSON
    assert names(lite) == []


def test_lone_surrogates_in_keys_chronos_and_owners(lite: TestClient) -> None:
    r = post_raw(lite, "/api/v1/jobs", json.dumps({"name": "a", "command": "true", "labels": {"k\udfff": "v"}}))
    assert r.status_code == 422 and "labels" in fields_of(r)
    r = post_raw(lite, "/api/v1/jobs", json.dumps({"name": "a", "command": "true", "x\ud800": 1}))
    assert r.status_code == 422 and r.json()["errors"][0]["error"] == "unknown field"
    hash_ = {"name": "a", "command": "x\ud800", "schedule": "R/2026-01-01T00:00:00Z/PT1H"}
    r = post_raw(lite, f"{V1}/iso8601", json.dumps(hash_))
    assert r.status_code == 400 and "command" in fields_of(r)
    r = lite.put(
        "/api/v1/owners/o@x",
        content=json.dumps({"name": "\ud800"}).encode(),
        headers={**ADMIN, "content-type": "application/json"},
    )
    assert r.status_code == 422 and "name" in fields_of(r)


def test_missing_required_sub_fields_are_a_422_naming_them(lite: TestClient) -> None:
    """constraints:[{}] and volumes:[{}] raised a TypeError from the dataclass: a 500."""
    r = lite.post("/api/v1/jobs", json={"name": "a", "command": "true", "constraints": [{}]}, headers=WRITE)
    assert r.status_code == 422
    assert {"constraints[0].field", "constraints[0].operator"} <= set(fields_of(r))
    r = lite.post("/api/v1/jobs", json={"name": "a", "command": "true", "container": {"volumes": [{}]}}, headers=WRITE)
    assert r.status_code == 422 and "container.volumes[0].container_path" in fields_of(r)
    r = lite.post(
        f"{V1}/iso8601",
        json={
            "name": "a",
            "command": "true",
            "schedule": "R/2026-01-01T00:00:00Z/PT1H",
            "container": {"type": "MESOS", "volumes": [{}]},
        },
        headers=WRITE,
    )
    assert r.status_code == 400 and "container.volumes[0].containerPath" in fields_of(r)
    assert names(lite) == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"schedule": "R99999999999999999999/2026-01-01T00:00:00Z/PT1S"}, "schedule"),
        ({"schedule": "R²/2026-01-01T00:00:00Z/PT1S"}, "schedule"),
        ({"schedule": "*/99999999999999999999 * * * *"}, "schedule"),
        ({"schedule": "0/61 * * * * *"}, "schedule"),
        ({"schedule": "* * * * *" + " " * 300}, "schedule"),
        ({"resources": {"cpus": 1e308}}, "resources.cpus"),
        ({"resources": {"mem": 1e12}}, "resources.mem"),
        ({"resources": {"gpus": 0.5}}, "resources.gpus"),
        ({"resources": {"cpus": 0.0001}}, "resources.cpus"),
        ({"timeout_seconds": 1e12}, "timeout_seconds"),
        ({"starting_deadline_seconds": 1e12}, "starting_deadline_seconds"),
        ({"retry_delay_seconds": 31 * 86400}, "retry_delay_seconds"),
        ({"retries": 10**30}, "retries"),
        ({"disable_after_failures": 10**9}, "disable_after_failures"),
        ({"name": "nl-mail\n"}, "name"),
        ({"name": None}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"notify": {"on_failure": ["email:a@b.c\n"]}}, "notify.on_failure[0]"),
        ({"triggers": {"on_success": ["next\n"]}}, "triggers.on_success[0]"),
        ({"parents": ["up\n"]}, "parents[0]"),
        ({"description": "x" * 20_000}, "description"),
        ({"arguments": ["a"] * 1000}, "arguments"),
        ({"labels": {f"k{i}": "v" for i in range(100)}}, "labels"),
        ({"env": {"A=B": "x"}}, "env"),
        ({"constraints": [["rack", "GROUP_BY", "²"]]}, "constraints[0].value"),
        ({"timezone": "UTC\n"}, "timezone"),
    ],
)
def test_absurd_values_are_refused(lite: TestClient, body: dict[str, Any], field: str) -> None:
    r = lite.post("/api/v1/jobs", json={"name": "a", "command": "true", **body}, headers=WRITE)
    assert r.status_code == 422, r.text
    assert field in fields_of(r), fields_of(r)
    assert fields_of(r)[field]["allowed"]
    assert names(lite) == []


def test_absurd_values_through_the_chronos_api(lite: TestClient) -> None:
    base = {"name": "a", "command": "true", "schedule": "R/2026-01-01T00:00:00Z/PT1H"}
    for extra, field in (
        ({"cpus": 1e308}, "cpus"),
        ({"schedule": "R99999999999999999999/2026-01-01T00:00:00Z/PT1S"}, "schedule"),
        ({"epsilon": "P99999D"}, "epsilon"),
        ({"retries": "9" * 5000}, "retries"),
        ({"name": "nl-mail\n"}, "name"),
        ({"moroccron": {"timeout_seconds": 1e12}}, "moroccron.timeout_seconds"),
    ):
        r = lite.post(f"{V1}/iso8601", json={**base, **extra}, headers=WRITE)
        assert r.status_code == 400, (extra, r.text)
        assert field in fields_of(r), (extra, fields_of(r))
    assert names(lite) == []


def test_every_bad_field_is_reported_at_once(lite: TestClient) -> None:
    r = lite.post(
        "/api/v1/jobs",
        json={"name": "a\n", "command": "x\x00", "timeout_seconds": 1e12, "resources": {"cpus": 1e308}},
        headers=WRITE,
    )
    assert r.status_code == 422
    assert {"name", "command", "timeout_seconds", "resources.cpus"} <= set(fields_of(r))


# ----------------------------------------------------------------------------- sizes (item 7)


def test_a_large_body_is_a_413_and_nothing_is_stored(seeded: TestClient) -> None:
    """A 100 MB description was stored, and every listing returned 120 MB; now the body
    is refused by its Content-Length, before it is read."""
    big = {"name": "gamma", "command": "true", "description": "x" * (2 << 20)}
    r = seeded.post("/api/v1/jobs", json=big, headers=WRITE)
    assert r.status_code == 413
    assert r.json()["field"] == "body" and "max_request_bytes" in r.json()["allowed"]
    r = seeded.patch("/api/v1/jobs/alpha", json={"description": "x" * (2 << 20)}, headers=WRITE)
    assert r.status_code == 413
    assert seeded.get("/api/v1/jobs/alpha", headers=READ).json()["description"] == ""
    assert names(seeded) == ["alpha", "beta"]


def test_a_chunked_body_without_content_length_is_capped_too(seeded: TestClient) -> None:
    def chunks():
        yield b'{"name": "gamma", "command": "true", "description": "'
        for _ in range(40):
            yield b"x" * 65536
        yield b'"}'

    r = seeded.post("/api/v1/jobs", content=chunks(), headers={**WRITE, "content-type": "application/json"})
    assert r.status_code == 413
    assert names(seeded) == ["alpha", "beta"]


def test_a_description_over_its_bound_but_under_the_body_cap_is_a_422(seeded: TestClient) -> None:
    r = seeded.post(
        "/api/v1/jobs", json={"name": "gamma", "command": "true", "description": "x" * 100_000}, headers=WRITE
    )
    assert r.status_code == 422 and fields_of(r)["description"]["allowed"].endswith("no control characters")
    assert len(r.content) < 5000, "the error does not echo the whole value"


def test_max_request_bytes_is_a_setting(store: Store) -> None:
    from moroccron.config import load_settings

    settings = load_settings(environ={"MOROCCRON_MAX_REQUEST_BYTES": "2048"})
    assert settings.max_request_bytes == 2048
    with TestClient(create_app(AppContext(settings, store, PluginManager(load_entrypoints=False)))) as c:
        assert c.post("/api/v1/jobs", json={"name": "a", "command": "x" * 1000}).status_code == 201
        r = c.post("/api/v1/jobs", json={"name": "b", "command": "x" * 3000})
        assert r.status_code == 413 and "2048" in r.json()["error"]


def test_a_chronos_body_nested_50000_deep_is_a_400(lite: TestClient) -> None:
    """It was a RecursionError in the JSON parser: a 500."""
    deep = (
        '{"name": "a", "command": "true", "schedule": "R/2026-01-01T00:00:00Z/PT1H", "x": '
        + "[" * 50_000
        + "]" * 50_000
        + "}"
    )
    for path in (f"{V1}/iso8601", "/api/v1/jobs", "/api/v1/owners/o@x"):
        owners = "owners" in path
        r = post_raw(lite, path, deep, method="PUT" if owners else "POST", auth=ADMIN if owners else WRITE)
        assert r.status_code == 400, (path, r.text[:200])
        assert r.json()["field"] == "body" and "64" in r.json()["allowed"]
    # Brackets inside strings are text, not nesting.
    r = lite.post(
        f"{V1}/iso8601",
        json={"name": "a", "command": "echo '" + "[" * 200 + "'", "schedule": "R/2026-01-01T00:00:00Z/PT1H"},
        headers=WRITE,
    )
    assert r.status_code == 204, r.text


def test_many_bad_items_give_a_bounded_error_body(lite: TestClient) -> None:
    hash_ = {"name": "a", "command": "true", "schedule": "R/2026-01-01T00:00:00Z/PT1H", "constraints": [[1]] * 20_000}
    r = lite.post(f"{V1}/iso8601", json=hash_, headers=WRITE)
    assert r.status_code == 400
    assert len(r.json()["errors"]) <= 100 and len(r.content) < 100_000
