"""Fuzzing over /openapi.json (schemathesis): every route, valid and invalid input, with
credentials, against an app on a real store with a live scheduler on a local Mesos master.

Three kinds of case, for every operation in the document:

- *positive*: schemathesis's data valid for the schema;
- *negative*: data that breaks the schema (for operations that take a body or a typed
  query parameter; a path parameter is any text, so there is nothing to break);
- *realistic*: a positive case whose job name, task id and body are replaced, most of
  the time, by ones that exist or nearly make sense (a real job's name, a job body with
  a valid schedule and time zone and random other fields), so that the routes' success
  paths run too, not only their refusals.

Every case is sent; the test then asserts that no answer was a 5xx and that every answer
conforms to the document: a status code it lists, the content type and the body schema
it declares. At least :data:`MIN_CASES` cases in all.

The local master has no agents: jobs the fuzzer creates are scheduled and queued, and
the routes that need the scheduler (start, kill, mark success) answer for real, but no
generated command is ever run on this machine.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)
from schemathesis.python import asgi

from moroccron import bounds
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.auth import Authenticator
from moroccron.model import CATCHUP_POLICIES, CONCURRENCY_POLICIES, JobSpec
from tests.e2e.harness import Cluster

pytestmark = pytest.mark.slow

MIN_CASES = 5000
WRITE = {"Authorization": "Bearer fuzz-write"}
ADMIN = {"Authorization": "Bearer fuzz-admin"}  # owners need admin; every other route takes write
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
REALISTIC = "realistic"

_text = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=40)
_word = st.from_regex(r"[a-z][a-z0-9-]{0,12}", fullmatch=True)
_command = st.sampled_from(["true", "echo hi", "sleep 1", "exit 3"]) | _text.filter(str.strip)
_JOB_FIELDS = {
    "command": _command,
    "schedule": st.sampled_from(
        [
            "@daily",
            "*/5 * * * *",
            "0 3 * * 1-5",
            "*/10 * * * * *",
            "@hourly",
            "R/2026-01-01T00:00:00Z/PT1H",
            "R5/2026-06-01T00:00:00+02:00/P1D",
        ]
    ),
    "timezone": st.sampled_from(["UTC", "Europe/London", "America/New_York", "Asia/Kolkata"]),
    "owners": st.lists(st.emails(), max_size=3),
    "description": _text,
    "arguments": st.lists(_text, max_size=3),
    "resources": st.fixed_dictionaries(
        {},
        optional={
            "cpus": st.floats(bounds.MIN_CPUS, 16),
            "mem": st.floats(1, 65536),
            "disk": st.floats(0, 1e6),
            "gpus": st.integers(0, 4),
        },
    ),
    "retries": st.integers(0, bounds.MAX_RETRIES),
    "retry_delay_seconds": st.floats(0, bounds.MAX_SECONDS),
    "timeout_seconds": st.none() | st.floats(1, bounds.MAX_SECONDS),
    "starting_deadline_seconds": st.none() | st.integers(0, 3600),
    "concurrency": st.sampled_from(CONCURRENCY_POLICIES),
    "catchup": st.sampled_from(CATCHUP_POLICIES),
    "labels": st.dictionaries(_word, _text, max_size=3),
    "env": st.dictionaries(st.from_regex(r"[A-Z_]{1,8}", fullmatch=True), _text, max_size=3),
    "disabled": st.booleans(),
    "constraints": st.lists(
        st.sampled_from([["hostname", "UNIQUE"], ["rack", "EQUALS", "r1"], ["rack", "LIKE", "r[0-9]"]]),
        max_size=2,
        unique_by=str,
    ),
    "notify": st.fixed_dictionaries(
        {},
        optional={
            "on_failure": st.lists(st.sampled_from(["email:ops@example.com", "slack:#ops", "webhook:ops"]), max_size=2)
        },
    ),
}
# Set into the URL as it is, so without what would end the path ('#', '?') or split it ('/'):
# an address with '#' reached GET /api/v1/owners/ (the list) instead of the owner.
_path_email = st.emails().filter(lambda e: not set(e) & set("#?/%"))
_OWNER = st.fixed_dictionaries(
    {},
    optional={
        "name": _text,
        "email": st.emails(),
        "slack": st.just("#ops"),
        "pagerduty": _word,
        "preferences": st.dictionaries(
            st.sampled_from(["failure", "recovery", "success", "skipped", "disabled"]),
            st.lists(st.sampled_from(["email", "slack", "pagerduty", "webhook"]), max_size=2),
        ),
        "mute_until": st.none() | st.just("2030-01-01T00:00:00Z"),
    },
)


@dataclass
class Known:
    """Names and ids the API has answered with, for realistic cases to use."""

    jobs: list[str] = field(default_factory=lambda: ["fuzz-a", "fuzz-b", "fuzz-c"])
    tasks: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=lambda: ["ops@example.com"])

    def learn(self, response: Any) -> None:
        request = response.request
        if request.method == "DELETE" and response.status_code == 204:
            gone = request.url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]
            for names in (self.jobs, self.owners):
                while gone in names and len(names) > 1:
                    names.remove(gone)
        if response.status_code >= 300 or "json" not in response.headers.get("content-type", [""])[0]:
            return
        with contextlib.suppress(ValueError):
            body = response.json()
            if isinstance(body, dict):
                if isinstance(body.get("task_id"), str):
                    self.tasks.append(body["task_id"])
                if isinstance(body.get("name"), str) and "command" in body:
                    self.jobs.append(body["name"])


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    cluster = Cluster(tmp_path, agents=0)
    scheduler = cluster.start_scheduler()
    auth = Authenticator.from_sources(None, environ={"MOROCCRON_AUTH_TOKENS": "fuzz-write:write,fuzz-admin:admin"})
    context = AppContext(
        scheduler.settings, cluster.store, scheduler.plugins, scheduler, metrics=scheduler.metrics, auth=auth
    )
    for name, extra in (("fuzz-a", {"schedule": "@daily"}), ("fuzz-b", {"parents": ["fuzz-a"]}), ("fuzz-c", {})):
        cluster.add_job(JobSpec.from_dict({"name": name, "command": "true", **extra}))
    yield create_app(context)
    cluster.close()


def _breakable(operation: dict[str, Any]) -> bool:
    """True if the operation takes input that can be invalid: a body, or a query parameter
    that is not free text. (A path parameter is any text: there is nothing to break.)"""
    if "requestBody" in operation:
        return True
    for parameter in operation.get("parameters", ()):
        schema = parameter.get("schema", {})
        options = schema.get("anyOf", [schema])
        if parameter["in"] == "query" and any(
            o.get("type") not in ("string", "null") or {"enum", "maxLength", "maximum"} & set(o) for o in options
        ):
            return True
    return False


def test_every_route_survives_fuzzing(app: FastAPI) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    document = app.openapi()
    operations = [result.ok() for result in schema.get_all_operations()]
    plan: list[tuple[Any, Any]] = [(o, GenerationMode.POSITIVE) for o in operations]
    plan += [(o, GenerationMode.NEGATIVE) for o in operations if _breakable(document["paths"][o.path][o.method])]
    # Deletes last, so that the other realistic cases find the jobs they name.
    plan += [(o, REALISTIC) for o in sorted(operations, key=lambda o: o.method.upper() == "DELETE")]
    per_run = -(-MIN_CASES // len(plan)) + 5
    run = Fuzz(Known())
    started = time.monotonic()
    # One in-process client for the whole run (schemathesis would open one per call).
    with asgi.get_client(app) as client:
        # Rounds with a new seed each, until enough cases were sent: an operation with
        # little input (GET /healthz has one case) runs out of new cases early.
        for round_ in range(10):
            for operation, mode in plan:
                if round_ and run.total >= MIN_CASES:
                    break  # every operation had its turn in round 0
                run.fuzz(operation, mode, per_run, round_, client)
            if run.total >= MIN_CASES:
                break

    elapsed = time.monotonic() - started
    print(
        f"\nfuzzed {run.total} cases over {len(operations)} operations in {elapsed:.1f}s; "
        f"answers: {dict(sorted(run.statuses.items()))}"
    )
    assert not run.failures, f"{len(run.failures)} failures, first:\n" + "\n\n".join(run.failures[:5])
    assert run.total >= MIN_CASES
    assert set(run.counts) == {f"{o.method.upper()} {o.path}" for o in operations}
    # Not only refusals: valid input went through too (jobs and owners created, runs started).
    assert sum(n for code, n in run.statuses.items() if code < 300) > run.total // 5
    assert {200, 201, 202, 204} <= set(run.statuses)


@dataclass
class Fuzz:
    known: Known
    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def fuzz(self, operation: Any, mode: Any, examples: int, round_: int, client: Any) -> None:
        """Send up to ``examples`` cases for ``operation`` (seeded by ``round_``, so a run
        repeats exactly), counting them and collecting failures (no shrinking: each
        failure's text carries its case as a curl command)."""
        label = f"{operation.method.upper()} {operation.path}"
        headers = ADMIN if operation.path.startswith("/api/v1/owners") else WRITE
        strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE if mode == REALISTIC else mode)

        @seed(round_)
        @settings(
            max_examples=examples,
            deadline=None,
            database=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, data=st.data())
        def run(case: Any, data: st.DataObject) -> None:
            if mode == REALISTIC:
                self.realistic(case, data)
            self.counts[label] += 1
            try:
                response = case.call(headers=headers, session=client)
                self.statuses[response.status_code] += 1
                self.known.learn(response)
                case.validate_response(response, checks=CHECKS, headers=headers)
            except Exception as exc:  # collected, so that one run reports every failing route
                self.failures.append(f"{label} ({mode}): {str(exc)[:3000]}")

        with contextlib.suppress(Unsatisfiable):  # no invalid input exists for an operation that takes none
            run()

    def realistic(self, case: Any, data: st.DataObject) -> None:
        """Replace, most of the time, the case's names and body with plausible ones."""
        known, path = self.known, case.operation.path
        params = case.path_parameters or {}
        usually = data.draw(st.integers(0, 9)) < 8
        if "name" in params and usually:
            params["name"] = _pick(data, known.jobs)
        if "task_id" in params and known.tasks and usually:
            params["task_id"] = _pick(data, known.tasks)
        if "owner_id" in params and usually:
            params["owner_id"] = _pick(data, known.owners) if data.draw(st.booleans()) else data.draw(_path_email)
        if "log_name" in params and usually:
            params["log_name"] = data.draw(st.sampled_from(["stdout", "stderr"]))
        method = case.method.upper()
        if path in ("/api/v1/jobs", "/api/v1/jobs/{name}") and method in ("POST", "PUT", "PATCH"):
            body = data.draw(st.fixed_dictionaries({}, optional=_JOB_FIELDS))
            name = params.get("name")
            if method == "POST":
                name = body["name"] = data.draw(_word)
            if method != "PATCH":
                body.setdefault("command", "true")
            others = [j for j in known.jobs if j != name]
            if others and data.draw(st.booleans()):
                body.pop("schedule", None)
                body["parents"] = _picks(data, others, 0)
            case.body = body
        elif path == "/api/v1/owners/{owner_id}" and method in ("PUT", "PATCH"):
            case.body = data.draw(_OWNER)
            if method == "PUT":
                known.owners.append(params["owner_id"])
        elif path == "/api/v1/jobs/{name}/runs" and method == "POST":
            case.body = {"arguments": data.draw(st.lists(_text, max_size=3))}
        elif path.endswith(("/iso8601", "/dependency")):
            body = {
                "name": data.draw(_word),
                "command": data.draw(_command),
                "owner": data.draw(st.emails()),
                "cpus": data.draw(st.floats(0.01, 8)),
                "retries": data.draw(st.integers(0, 5)),
                "epsilon": data.draw(st.sampled_from(["PT1M", "PT1H"])),
            }
            if path.endswith("/iso8601"):
                body["schedule"] = data.draw(
                    st.sampled_from(["R/2026-01-01T00:00:00Z/PT1H", "R//PT30M", "R3/2026-03-01T10:00:00Z/P1D"])
                )
            else:
                body["parents"] = _picks(data, known.jobs, 1)
            case.body = body


# Lists the run learns grow between cases: draw an index, not from the list, so that
# hypothesis sees the same kind of draw every time.
def _pick(data: st.DataObject, items: list[str]) -> str:
    return items[data.draw(st.integers(0, 1 << 16)) % len(items)]


def _picks(data: st.DataObject, items: list[str], least: int) -> list[str]:
    return list(dict.fromkeys(_pick(data, items) for _ in range(data.draw(st.integers(least, 2)))))
