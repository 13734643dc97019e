"""The pagerduty plugin against a real local HTTP receiver that checks the Events API v2 format."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pagerduty_receiver import PagerDutyReceiver, validate_event

from moroccron.config import Settings
from moroccron.errors import ValidationError
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.types import DeliveryResult, Notification, NotifyTarget
from moroccron.model import JobSpec, Run, RunState
from moroccron_pagerduty import _delivery, _events, _settings, plugin

KEY_DB = "R0DBONCALL0000000000000000000001"
KEY_WEB = "R0WEBONCALL000000000000000000002"
SCHEDULED = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FINISHED = datetime(2026, 3, 1, 12, 5, 30, tzinfo=UTC)
NOW = datetime(2026, 3, 1, 13, 0, tzinfo=UTC)
UI = "https://moroccron.example.com"
RUN_URL = f"{UI}/runs/etl-load.1772366400.1"
SUBTREE = [
    {
        "job": "load-report",
        "owners": ["bi@example.com"],
        "children": [{"job": "dashboard", "owners": [], "children": []}],
    }
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No MOROCCRON_PAGERDUTY_* from the developer's shell, and no state between tests."""
    for name in (_settings.ENV_EVENTS_URL, _settings.ENV_SERVICES, _settings.ENV_SEVERITY, _settings.ENV_TIMEOUT):
        monkeypatch.delenv(name, raising=False)
    yield
    plugin.moroccron_shutdown()


@pytest.fixture
def receiver() -> Iterator[PagerDutyReceiver]:
    server = PagerDutyReceiver().start()
    yield server
    server.stop()


def settings_for(url: str, **extra: Any) -> Settings:
    table = {"events_url": url, "services": {"db-oncall": KEY_DB, "web-oncall": KEY_WEB}, "timeout": 2}
    table.update(extra)
    return Settings(plugins={"pagerduty": table})


@pytest.fixture
def configured(receiver: PagerDutyReceiver) -> PagerDutyReceiver:
    plugin.moroccron_startup(config=settings_for(receiver.url))
    return receiver


def job(**changes: Any) -> JobSpec:
    fields: dict[str, Any] = {
        "name": "etl-load",
        "command": "load.sh",
        "schedule": "0 * * * *",
        "owners": ("data-team@example.com", "bob@example.com"),
        "retries": 1,
    }
    fields.update(changes)
    return JobSpec(**fields)


def failed_run(**changes: Any) -> Run:
    fields: dict[str, Any] = {
        "job": "etl-load",
        "scheduled_at": SCHEDULED,
        "attempt": 1,
        "state": RunState.FAILED,
        "launched_at": SCHEDULED + timedelta(seconds=1),
        "started_at": SCHEDULED + timedelta(seconds=2),
        "finished_at": FINISHED,
        "exit_status": 3,
        "reason": "REASON_COMMAND_EXECUTOR_FAILED",
        "message": "Command exited with status 3",
        "agent_id": "S1",
        "hostname": "a1",
    }
    fields.update(changes)
    return Run(**fields)


def details(run: Run, **changes: Any) -> dict[str, Any]:
    out: dict[str, Any] = {
        "task_id": run.task_id,
        "exit_status": run.exit_status,
        "reason": run.reason,
        "agent": run.agent_id,
        "hostname": run.hostname,
        "scheduled_at": "2026-03-01T12:00:00Z",
        "launched_at": "2026-03-01T12:00:01Z",
        "attempt": run.attempt + 1,
        "ui_url": UI,
        "run_url": RUN_URL,
        "pending_subtree": SUBTREE,
        "failure_count": 2,
    }
    out.update(changes)
    return out


def notification(
    event: str = "failure",
    *,
    targets: tuple[str, ...] = ("pagerduty:db-oncall",),
    the_job: JobSpec | None = None,
    run: Run | None = None,
    **detail_changes: Any,
) -> Notification:
    the_job = the_job or job()
    if run is None and event != "disabled":
        run = (
            failed_run()
            if event in ("failure", "skipped")
            else failed_run(state=RunState.SUCCEEDED, exit_status=0, reason=None, message=None, attempt=0)
        )
    facts = (
        details(run, **detail_changes)
        if run is not None
        else {"reason": "disabled after 3 failures", "failure_count": 3, "ui_url": UI}
    )
    return Notification(
        event=event,
        job=the_job,
        run=run,
        targets=tuple(NotifyTarget.parse(t) for t in targets),
        subject=f"[moroccron] {the_job.name}: {event}",
        text="body",
        details=facts,
    )


def deliver(n: Notification) -> list[DeliveryResult] | None:
    return _delivery.deliver(n, now=NOW)


# --------------------------------------------------------------------------- events


def test_failure_triggers_the_jobs_incident_with_the_documented_payload(configured: PagerDutyReceiver) -> None:
    results = deliver(notification("failure"))

    assert results == [DeliveryResult(NotifyTarget("pagerduty", "db-oncall"), True, "moroccron/etl-load")]
    assert configured.problems == [[]]
    assert configured.events == [
        {
            "routing_key": KEY_DB,
            "event_action": "trigger",
            "dedup_key": "moroccron/etl-load",
            "client": "moroccron",
            "client_url": UI,
            "links": [{"href": RUN_URL, "text": "Run in moroccron"}],
            "payload": {
                "summary": "moroccron: job etl-load failed (exit 3) on host a1",
                "source": "a1",
                "severity": "error",
                "timestamp": "2026-03-01T12:05:30.000+00:00",
                "component": "etl-load",
                "group": "data-team@example.com",
                "class": "failure",
                "custom_details": {
                    "job": "etl-load",
                    "event": "failure",
                    "task_id": "etl-load.1772366400.1",
                    "exit_status": 3,
                    "reason": "REASON_COMMAND_EXECUTOR_FAILED",
                    "agent": "S1",
                    "hostname": "a1",
                    "scheduled_at": "2026-03-01T12:00:00Z",
                    "launched_at": "2026-03-01T12:00:01Z",
                    "attempt": 2,
                    "ui_url": UI,
                    "run_url": RUN_URL,
                    "pending_subtree": SUBTREE,
                    "failure_count": 2,
                    "message": "Command exited with status 3",
                    "finished_at": "2026-03-01T12:05:30.000+00:00",
                    "owners": ["data-team@example.com", "bob@example.com"],
                },
            },
        }
    ]
    assert configured.headers[0]["Content-Type"] == "application/json"


def test_attempts_are_counted_from_one_even_from_the_run_itself(configured: PagerDutyReceiver) -> None:
    """Task etl-load.1772366400.1 is the second attempt: "attempt": 2, as the email and Slack say."""
    n = notification("failure")
    bare = Notification(
        event=n.event,
        job=n.job,
        run=n.run,
        targets=n.targets,
        subject=n.subject,
        text=n.text,
        details={k: v for k, v in n.details.items() if k != "attempt"},
    )
    deliver(bare)

    assert configured.problems == [[]]
    assert configured.events[0]["payload"]["custom_details"]["attempt"] == 2
    assert configured.events[0]["payload"]["custom_details"]["task_id"].endswith(".1")


def test_recovery_resolves_the_incident_the_failure_opened(configured: PagerDutyReceiver) -> None:
    first = deliver(notification("failure"))
    again = deliver(notification("failure"))
    resolved = deliver(notification("recovery", failure_count=2))

    assert [r.detail for r in (first or []) + (again or []) + (resolved or [])] == ["moroccron/etl-load"] * 3
    assert all(r.ok for r in (first or []) + (again or []) + (resolved or []))
    assert [e["event_action"] for e in configured.events] == ["trigger", "trigger", "resolve"]
    assert {e["dedup_key"] for e in configured.events} == {"moroccron/etl-load"}
    assert configured.events[2] == {"routing_key": KEY_DB, "event_action": "resolve", "dedup_key": "moroccron/etl-load"}
    assert configured.problems == [[], [], []]


def test_each_target_service_gets_its_own_event_with_its_own_key(configured: PagerDutyReceiver) -> None:
    results = deliver(notification(targets=("pagerduty:db-oncall", "email:ops@example.com", "pagerduty:web-oncall")))

    assert [(r.target.address, r.ok) for r in results or []] == [("db-oncall", True), ("web-oncall", True)]
    assert [e["routing_key"] for e in configured.events] == [KEY_DB, KEY_WEB]


@pytest.mark.parametrize("event", ["skipped", "disabled"])
def test_skipped_and_disabled_trigger_at_warning(configured: PagerDutyReceiver, event: str) -> None:
    results = deliver(
        notification(event, reason="missed its starting deadline") if event == "skipped" else notification(event)
    )

    assert results is not None and results[0].ok
    sent = configured.events[0]
    assert configured.problems == [[]]
    assert sent["event_action"] == "trigger"
    assert sent["dedup_key"] == "moroccron/etl-load"
    assert sent["payload"]["severity"] == "warning"
    assert sent["payload"]["class"] == event
    if event == "skipped":
        assert sent["payload"]["summary"] == (
            "moroccron: run of job etl-load due 2026-03-01T12:00:00Z was skipped (missed its starting deadline)"
        )
    else:
        assert sent["payload"]["summary"] == "moroccron: job etl-load was disabled (disabled after 3 failures)"
        assert sent["payload"]["source"] == "moroccron"  # no run, so no host
        assert sent["payload"]["timestamp"] == "2026-03-01T13:00:00.000+00:00"
        assert "links" not in sent


def test_success_sends_nothing(configured: PagerDutyReceiver) -> None:
    results = deliver(notification("success", targets=("pagerduty:db-oncall", "pagerduty:nope")))

    assert [(r.ok, r.detail) for r in results or []] == [(True, "nothing to send for success")] * 2
    assert configured.events == []


def test_a_jobs_severity_label_overrides_the_setting(configured: PagerDutyReceiver) -> None:
    deliver(notification(the_job=job(labels={"moroccron.pagerduty.severity": "critical"})))

    assert configured.events[0]["payload"]["severity"] == "critical"


def test_the_configured_severity_applies_to_failures(receiver: PagerDutyReceiver) -> None:
    plugin.moroccron_startup(config=settings_for(receiver.url, severity="info"))
    deliver(notification())

    assert receiver.events[0]["payload"]["severity"] == "info"


def test_an_invalid_severity_label_is_refused_when_the_job_is_saved() -> None:
    errors = plugin.moroccron_validate_job(job=job(labels={"moroccron.pagerduty.severity": "sev1"}))

    assert errors is not None and [e.field for e in errors] == ["labels.moroccron.pagerduty.severity"]
    assert "critical | error | warning | info" in str(errors[0])
    assert plugin.moroccron_validate_job(job=job(labels={"moroccron.pagerduty.severity": "Warning"})) is None
    assert plugin.moroccron_validate_job(job=job()) is None


def test_a_lost_run_without_exit_status_says_why(configured: PagerDutyReceiver) -> None:
    run = failed_run(state=RunState.LOST, exit_status=None, reason="REASON_AGENT_REMOVED", hostname=None)
    deliver(notification(run=run, exit_status=None, reason="REASON_AGENT_REMOVED", hostname=None))

    payload = configured.events[0]["payload"]
    assert payload["summary"] == "moroccron: job etl-load was lost (REASON_AGENT_REMOVED)"
    assert payload["source"] == "moroccron"
    assert configured.problems == [[]]


def test_huge_inputs_stay_within_the_published_limits(configured: PagerDutyReceiver) -> None:
    """A runaway reason, 2 MB of task output and a pending subtree of 20,000 jobs still make
    one valid event under the size cap."""
    wide = [
        {
            "job": f"child-{i}",
            "owners": [f"owner-{i}@example.com"] * 3,
            "children": [{"job": f"grandchild-{i}", "owners": [], "children": []}],
        }
        for i in range(10_000)
    ]
    run = failed_run(exit_status=None, reason="x" * 50_000, hostname="h" * 300, message="m" * 2_000_000)
    results = deliver(
        notification(run=run, reason=run.reason, exit_status=None, pending_subtree=wide, hostname=run.hostname)
    )

    assert results is not None and results[0].ok, results
    assert configured.problems == [[]]
    sent = configured.events[0]
    assert len(sent["payload"]["summary"]) == 1024
    assert sent["payload"]["summary"].endswith("…")
    assert len(json.dumps(sent, ensure_ascii=False).encode()) <= _events.MAX_EVENT_BYTES
    tree = sent["payload"]["custom_details"]["pending_subtree"]
    assert tree["truncated"] is True and tree["jobs_waiting"] == 20_000
    assert tree["direct_children"][:2] == ["child-0", "child-1"]
    assert sent["payload"]["custom_details"]["message"].endswith("…")


def test_a_deep_chain_of_dependants_is_cut_not_a_crash(configured: PagerDutyReceiver) -> None:
    node: dict[str, Any] = {"job": "leaf", "owners": [], "children": []}
    for i in range(5_000):
        node = {"job": f"j{i}", "owners": [], "children": [node]}
    results = deliver(notification(pending_subtree=[node]))

    assert results is not None and results[0].ok, results
    assert configured.problems == [[]]
    tree = configured.events[0]["payload"]["custom_details"]["pending_subtree"]
    assert tree[0]["job"] == "j4999" and tree[0]["children"][0]["job"] == "j4998"
    assert "deeper levels left out" in json.dumps(tree)


# --------------------------------------------------------------------------- answers


def test_unknown_service_names_it_and_the_configured_ones_but_no_key(
    configured: PagerDutyReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    results = deliver(notification(targets=("pagerduty:payments",)))

    assert results is not None and len(results) == 1
    assert not results[0].ok
    assert "'payments'" in results[0].detail
    assert "db-oncall, web-oncall" in results[0].detail
    assert KEY_DB not in results[0].detail and KEY_WEB not in results[0].detail
    assert KEY_DB not in caplog.text and KEY_WEB not in caplog.text
    assert configured.events == []


def test_400_is_reported_with_pagerdutys_message(configured: PagerDutyReceiver) -> None:
    configured.answer_next(
        400,
        {
            "status": "invalid event",
            "message": "Event object is invalid",
            "errors": ["'payload.summary' is missing or blank"],
        },
    )
    results = deliver(notification())

    assert results is not None and not results[0].ok
    assert results[0].detail == (
        "rejected by PagerDuty (HTTP 400): Event object is invalid: 'payload.summary' is missing or blank"
    )
    assert not results[0].detail.startswith("retryable")


def test_400_quoting_the_routing_key_is_scrubbed(configured: PagerDutyReceiver) -> None:
    configured.answer_next(400, {"status": "invalid event", "message": f"no integration with key {KEY_DB}"})
    results = deliver(notification())

    assert results is not None and KEY_DB not in results[0].detail
    assert "no integration with key ***" in results[0].detail


def test_429_is_retryable(configured: PagerDutyReceiver) -> None:
    configured.answer_next(429, None, {"Retry-After": "7"})
    results = deliver(notification())

    assert results is not None and not results[0].ok
    assert results[0].detail == "retryable: rate limited by PagerDuty (HTTP 429, Retry-After 7 s)"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_retryable(configured: PagerDutyReceiver, status: int) -> None:
    configured.answer_next(status, {"status": "Internal error", "message": "try again"})
    results = deliver(notification())

    assert results is not None and not results[0].ok
    assert results[0].detail == f"retryable: PagerDuty answered HTTP {status}: try again"


def test_connection_refused_is_retryable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    plugin.moroccron_startup(config=settings_for(f"http://127.0.0.1:{port}/v2/enqueue"))
    results = deliver(notification())

    assert results is not None and not results[0].ok
    assert results[0].detail == (
        f"retryable: cannot reach PagerDuty at http://127.0.0.1:{port}/v2/enqueue (ConnectionError)"
    )


def test_a_slow_answer_times_out_and_is_retryable(receiver: PagerDutyReceiver) -> None:
    plugin.moroccron_startup(config=settings_for(receiver.url, timeout=0.3))
    receiver.answer_next(202, {"status": "success", "dedup_key": "late"}, delay=1.5)
    results = deliver(notification())

    assert results is not None and not results[0].ok
    assert results[0].detail.startswith("retryable: PagerDuty (")
    assert "did not answer within 0.3 s (ReadTimeout)" in results[0].detail


def test_redirects_are_not_followed(configured: PagerDutyReceiver) -> None:
    """Following one would hand the routing key in the body to another address."""
    configured.answer_next(307, None, {"Location": "http://127.0.0.1:9/elsewhere"})
    results = deliver(notification())

    assert results is not None and not results[0].ok
    assert results[0].detail.startswith("unexpected answer from PagerDuty (HTTP 307)")
    assert len(configured.events) == 1


def test_keys_are_never_logged(configured: PagerDutyReceiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    plugin.moroccron_startup(config=settings_for(configured.url))
    deliver(notification())
    configured.answer_next(500, {"message": "boom"})
    deliver(notification())

    assert "PagerDuty trigger for job 'etl-load' sent to service 'db-oncall'" in caplog.text
    assert "failed: retryable" in caplog.text
    assert KEY_DB not in caplog.text and KEY_WEB not in caplog.text
    assert KEY_DB not in repr(_delivery.current())


# --------------------------------------------------------------------------- settings


def test_unconfigured_plugin_is_inactive(receiver: PagerDutyReceiver) -> None:
    plugin.moroccron_startup(config=Settings())

    assert _delivery.current() is None
    assert plugin.moroccron_notify(notification=notification()) is None
    assert receiver.events == []


def test_notifications_without_pagerduty_targets_get_no_results(configured: PagerDutyReceiver) -> None:
    assert plugin.moroccron_notify(notification=notification(targets=("slack:#data",))) is None


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, receiver: PagerDutyReceiver) -> None:
    monkeypatch.setenv(_settings.ENV_EVENTS_URL, receiver.url)
    monkeypatch.setenv(_settings.ENV_SERVICES, f"db-oncall={KEY_DB}, payments={KEY_WEB}")
    monkeypatch.setenv(_settings.ENV_SEVERITY, "critical")
    file_settings = Settings(
        plugins={
            "pagerduty": {
                "events_url": "https://unused.example.com/v2/enqueue",
                "services": {"db-oncall": "X" * 32, "web": KEY_WEB},
            }
        }
    )
    plugin.moroccron_startup(config=file_settings)
    active = _delivery.current()

    assert active is not None
    assert active.events_url == receiver.url
    assert dict(active.services) == {"db-oncall": KEY_DB, "web": KEY_WEB, "payments": KEY_WEB}
    assert active.severity == "critical"
    deliver(notification(targets=("pagerduty:payments",)))
    assert receiver.events[0]["routing_key"] == KEY_WEB
    assert receiver.events[0]["payload"]["severity"] == "critical"


def test_defaults() -> None:
    active = _settings.read_settings(Settings(plugins={"pagerduty": {"services": {"db": KEY_DB}}}), environ={})

    assert active is not None
    assert (active.events_url, active.severity, active.timeout) == (
        "https://events.pagerduty.com/v2/enqueue",
        "error",
        10.0,
    )


@pytest.mark.parametrize(
    ("table", "environ", "field", "text"),
    [
        (
            {"events_url": "ftp://example.com/x", "services": {"db": KEY_DB}},
            {},
            "plugins.pagerduty.events_url",
            "must use http or https",
        ),
        (
            {"events_url": "not a url", "services": {"db": KEY_DB}},
            {},
            "plugins.pagerduty.events_url",
            "must use http or https",
        ),
        (
            {"services": {"db": KEY_DB}},
            {"MOROCCRON_PAGERDUTY_EVENTS_URL": "https://"},
            "environment variable MOROCCRON_PAGERDUTY_EVENTS_URL",
            "has no host",
        ),
        (
            {"severity": "sev1", "services": {"db": KEY_DB}},
            {},
            "plugins.pagerduty.severity",
            "critical | error | warning | info",
        ),
        ({"timeout": 0, "services": {"db": KEY_DB}}, {}, "plugins.pagerduty.timeout", "more than 0"),
        ({"services": "db=key"}, {}, "plugins.pagerduty.services", "must be a table"),
        (
            {"services": {"db": "too-short-secret"}},
            {},
            "plugins.pagerduty.services.db",
            "is not a routing key (16 characters)",
        ),
        ({"sevrity": "info", "services": {"db": KEY_DB}}, {}, "plugins.pagerduty.sevrity", "unknown setting"),
        (
            {},
            {"MOROCCRON_PAGERDUTY_SERVICES": "justakeywithoutaname0000000000x"},
            "environment variable MOROCCRON_PAGERDUTY_SERVICES[0]",
            "must be NAME=ROUTING_KEY",
        ),
    ],
)
def test_bad_settings_stop_start_up_naming_the_setting(
    table: dict[str, Any], environ: dict[str, str], field: str, text: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings.read_settings(Settings(plugins={"pagerduty": table}), environ=environ)

    assert [e.field for e in caught.value.errors] == [field]
    assert text in str(caught.value)
    assert "too-short-secret" not in str(caught.value)
    assert "justakeywithoutaname" not in str(caught.value)


def test_startup_raises_for_bad_settings() -> None:
    with pytest.raises(ValidationError, match=r"plugins\.pagerduty\.events_url"):
        plugin.moroccron_startup(config=settings_for("mailto:ops@example.com"))


def test_url_credentials_are_hidden_in_errors() -> None:
    with pytest.raises(ValidationError) as caught:
        _settings.read_settings(settings_for("ftp://user:hunter2@proxy.example.com/v2/enqueue?token=abc"), environ={})
    assert "hunter2" not in str(caught.value) and "abc" not in str(caught.value)
    assert "ftp://proxy.example.com/v2/enqueue?***" in str(caught.value)


# --------------------------------------------------------------------------- the validator itself


def test_the_receivers_validator_catches_what_pagerduty_refuses() -> None:
    """The receiver is only worth its name if it says no where PagerDuty would."""
    good: dict[str, Any] = {
        "routing_key": KEY_DB,
        "event_action": "trigger",
        "dedup_key": "k",
        "payload": {"summary": "s", "source": "h", "severity": "error"},
    }
    assert validate_event(good) == []
    assert validate_event({**good, "routing_key": "short"}) == [
        "Length of 'routing_key' is incorrect (should be 32 characters)"
    ]
    assert validate_event({**good, "event_action": "page"})
    assert validate_event({**good, "dedup_key": "k" * 256})
    assert validate_event({**good, "payload": {**good["payload"], "summary": "s" * 1025}})
    assert validate_event({**good, "payload": {**good["payload"], "severity": "fatal"}})
    assert validate_event({**good, "payload": {"summary": "s", "severity": "error"}})
    assert validate_event({**good, "payload": {**good["payload"], "timestamp": "yesterday"}})
    assert validate_event({**good, "links": [{"text": "no href"}]})
    assert validate_event({"routing_key": KEY_DB, "event_action": "resolve"})
    assert validate_event({**good, "surprise": 1})


# --------------------------------------------------------------------------- installed plugin


def test_the_entry_point_loads_through_the_plugin_manager(configured: PagerDutyReceiver) -> None:
    pm = PluginManager()
    info = {p.name: p for p in pm.list_plugins()}

    assert "pagerduty" in info, "is the plugin installed? pip install -e plugins/pagerduty"
    assert info["pagerduty"].distribution == "moroccron-pagerduty"
    assert set(info["pagerduty"].hooks) == {
        "moroccron_notify",
        "moroccron_notify_channels",
        "moroccron_shutdown",
        "moroccron_startup",
        "moroccron_validate_job",
    }
    results = pm.notify(notification=notification(targets=("pagerduty:db-oncall",)))
    assert [r for r in results if r.target.channel == "pagerduty"] == [
        DeliveryResult(NotifyTarget("pagerduty", "db-oncall"), True, "moroccron/etl-load")
    ]
    errors = pm.validate_job(job=job(labels={"moroccron.pagerduty.severity": "loud"}), existing={})
    assert [e.field for e in errors] == ["labels.moroccron.pagerduty.severity"]


def test_the_plugin_manager_can_block_it() -> None:
    pm = PluginManager(disabled=["pagerduty"])

    assert "pagerduty" in pm.blocked
    assert "pagerduty" not in {p.name for p in pm.list_plugins()}
