"""Routing, rendering, the outbox worker and the webhook notifier, against a real HTTP receiver."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from moroccron import Job, hookimpl
from moroccron.cli import main
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.types import DeliveryResult, NotifyTarget
from moroccron.model import Owner, Run, RunState
from moroccron.notify import Renderer, payload_for
from moroccron.outbox import Deliverer
from moroccron.routing import recipients as route
from tests.receivers import Receiver

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def failed_run(job="etl", **kw):
    return Run(
        job=job,
        scheduled_at=NOW,
        state=RunState.FAILED,
        launched_at=NOW,
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=5),
        exit_status=3,
        message="Command exited with status 3",
        agent_id="a1",
        hostname="host1",
        **kw,
    )


def test_route_follows_preferences_mutes_and_job_targets():
    owners = {
        "a@x": Owner(id="a@x", slack="@alice", preferences={"failure": ["email", "slack"]}),
        "b@x": Owner(id="b@x", preferences={"failure": []}),  # owns the job, wants no failure mail
        "c@x": Owner(id="c@x", mute_until=NOW + timedelta(hours=1)),
    }
    job = Job(
        name="etl",
        command="x",
        owners=["a@x", "b@x", "c@x", "d@x"],
        notify={"on_failure": ["email:a@x", "webhook:ops"], "on_recovery": ["slack:#data"]},
    )
    targets = [str(t) for t in route("failure", job, owners, NOW)]
    assert targets == ["email:a@x", "slack:@alice", "email:d@x", "webhook:ops"]
    # b@x turned off failure mail only: recovery still reaches them by default
    assert [str(t) for t in route("recovery", job, owners, NOW)] == [
        "email:a@x",
        "email:b@x",
        "email:d@x",
        "slack:#data",
    ]
    assert [str(t) for t in route("success", job, owners, NOW)] == []


def test_a_recovery_resolves_every_incident_the_failure_opened():
    """failure=email,slack,pagerduty and recovery=slack: the recovery still reaches PagerDuty
    (to resolve the incident) but not email, which keeps no incident."""
    owners = {
        "a@x": Owner(
            id="a@x",
            slack="@alice",
            pagerduty="data-oncall",
            preferences={"failure": ["email", "slack", "pagerduty"], "recovery": ["slack"]},
        ),
        # muted now, but the incident opened before the mute must still be resolved
        "m@x": Owner(
            id="m@x",
            pagerduty="web-oncall",
            preferences={"failure": ["pagerduty"], "recovery": []},
            mute_until=NOW + timedelta(hours=1),
        ),
    }
    job = Job(
        name="etl",
        command="x",
        owners=["a@x", "m@x"],
        notify={"on_failure": ["pagerduty:db-oncall", "slack:#data", "webhook:ops"]},
    )
    assert [str(t) for t in route("failure", job, owners, NOW)] == [
        "email:a@x",
        "slack:@alice",
        "pagerduty:data-oncall",
        "pagerduty:db-oncall",
        "slack:#data",
        "webhook:ops",
    ]
    assert [str(t) for t in route("recovery", job, owners, NOW)] == [
        "slack:@alice",
        "pagerduty:data-oncall",
        "pagerduty:web-oncall",
        "pagerduty:db-oncall",
    ]
    # other events are routed by their own preferences only
    assert [str(t) for t in route("success", job, owners, NOW)] == []


def test_render_failure_with_subtree_stderr_and_links():
    job = Job(name="etl", command="x", owners=["a@x"], retries=2)
    subtree = [{"job": "load", "owners": ["l@x"], "children": [{"job": "report", "owners": [], "children": []}]}]
    payload = payload_for(job, failed_run(attempt=2), {"failure_count": 3, "pending_subtree": subtree})
    renderer = Renderer(Settings(public_url="https://cron.example.com"), stderr_tail=lambda run: ["boom", "<b>"])
    n = renderer.build("failure", payload, {}, NOW)
    assert n.subject == "[moroccron] FAILED: etl (exit 3) (3 failures in a row)"
    for text in (
        "etl.1772366400.2",
        "https://cron.example.com/runs/etl.1772366400.2",
        "Attempt:    3 of 3",
        "Exit:       3",
        "| boom",
        "load  (owners: l@x)",
        "report",
        "2026-03-01 12:00:00 UTC",
    ):
        assert text in n.text, text
    assert "&lt;b&gt;" in n.html  # autoescaped
    assert n.details["pending_subtree"] == subtree and n.details["exit_status"] == 3
    assert n.details["run_url"] == "https://cron.example.com/runs/etl.1772366400.2"
    # attempts count from 1 for people, as the email's "3 of 3" does
    assert n.details["attempt"] == 3 and n.details["max_attempts"] == 3
    assert [str(t) for t in n.targets] == ["email:a@x"]


def test_operator_templates_override(tmp_path):
    (tmp_path / "subject.txt").write_text("CUSTOM {{ job.name }} {{ event }}")
    n = Renderer(Settings(notify_templates=str(tmp_path))).build(
        "failure", payload_for(Job(name="j", command="x"), failed_run("j"), {}), {}, NOW
    )
    assert n.subject == "CUSTOM j failure"
    assert "Job j failed" in n.text  # the other templates still come from the package


class Flaky:
    """A notifier for the email channel that fails the first ``n`` times."""

    def __init__(self, n):
        self.n = n
        self.calls = []

    @hookimpl
    def moroccron_notify(self, notification):
        targets = notification.targets_for("email")
        self.calls.append([str(t) for t in targets])
        ok = len(self.calls) > self.n
        return [DeliveryResult(t, ok, "sent" if ok else "smtp down") for t in targets]


def make_deliverer(store, settings, plugin=None, clock=None):
    pm = PluginManager(load_entrypoints=False)
    if plugin:
        pm.register(plugin)
    pm.startup(config=settings, store=store)
    return Deliverer(store, pm, Renderer(settings), clock=clock or (lambda: NOW))


def test_outbox_retries_only_failed_targets_with_backoff(store, receiver):
    settings = Settings(webhooks={"ops": receiver.url})
    job = Job(name="etl", command="x", notify={"on_failure": ["email:x@y", "webhook:ops"]})
    store.put_job(job)
    store.enqueue_notification("failure", "etl", "etl.1.0", payload_for(job, failed_run(), {}), now=NOW)
    clock = [NOW]
    flaky = Flaky(1)
    d = make_deliverer(store, settings, flaky, clock=lambda: clock[0])
    assert d.deliver_due() == 1
    item = store.notifications()[0]
    assert item.state == "pending" and item.attempts == 1 and "smtp down" in item.last_error
    assert item.next_attempt_at == NOW + timedelta(seconds=30)
    assert len(receiver.bodies) == 1 and receiver.bodies[0]["event"] == "failure"
    assert d.deliver_due() == 0, "not due yet"
    clock[0] = NOW + timedelta(seconds=30)
    assert d.deliver_due() == 1
    item = store.notifications()[0]
    assert item.state == "delivered" and item.results["email:x@y"]["ok"] and item.results["webhook:ops"]["ok"]
    assert len(receiver.bodies) == 1, "the webhook that succeeded is not sent again"
    assert flaky.calls == [["email:x@y"], ["email:x@y"]]


def test_repeated_failures_collapse_until_recovery(store, receiver):
    settings = Settings(webhooks={"ops": receiver.url})
    job = Job(name="etl", command="x", notify={"on_failure": ["webhook:ops"], "on_recovery": ["webhook:ops"]})
    store.put_job(job)
    d = make_deliverer(store, settings)
    for i in range(5):
        store.enqueue_notification(
            "failure", "etl", f"etl.{i}.0", payload_for(job, failed_run(), {"failure_count": i + 1}), now=NOW
        )
    store.enqueue_notification("recovery", "etl", "etl.9.0", payload_for(job, None, {"failure_count": 5}), now=NOW)
    store.enqueue_notification(
        "failure", "etl", "etl.10.0", payload_for(job, failed_run(), {"failure_count": 1}), now=NOW
    )
    d.deliver_due()
    states = [i.state for i in reversed(store.notifications())]
    assert states == ["delivered", "collapsed", "collapsed", "collapsed", "collapsed", "delivered", "delivered"]
    events = [b["event"] for b in receiver.bodies]
    assert events == ["failure", "recovery", "failure"]
    assert "after 5 failures" in receiver.bodies[1]["subject"]
    first = receiver.bodies[0]
    # attempts count from 1 in the webhook body too; the API's 0-based index keeps its own name
    assert first["attempt"] == 1 and first["max_attempts"] == 1 and first["details"]["attempt"] == 1
    assert first["run"]["attempt"] == 1 and first["run"]["attempt_index"] == 0
    assert first["run"]["task_id"].endswith(".0")
    assert first["details"]["run_url"] == f"{settings.ui_url}/runs/{first['run']['task_id']}"
    assert receiver.bodies[1]["attempt"] is None and receiver.bodies[1]["run"] is None  # no run: no attempt


def test_webhook_unknown_name_and_http_error(store):
    bad = Receiver(status=500)
    try:
        settings = Settings(webhooks={"ops": bad.url})
        job = Job(name="etl", command="x", notify={"on_failure": ["webhook:ops", "webhook:nope"]})
        store.put_job(job)
        store.enqueue_notification("failure", "etl", None, payload_for(job, failed_run(), {}), now=NOW)
        make_deliverer(store, settings).deliver_due()
        item = store.notifications()[0]
        assert item.state == "pending"
        assert item.results["webhook:ops"] == {"ok": False, "detail": "HTTP 500", "at": NOW.isoformat()}
        assert "no webhook named 'nope'" in item.results["webhook:nope"]["detail"]
    finally:
        bad.close()


def test_notify_test_command(tmp_path, receiver, capsys):
    cfg = tmp_path / "m.toml"
    cfg.write_text(f'[webhooks]\nops = "{receiver.url}"\n')
    assert main(["notify", "test", "webhook:ops", "--config", str(cfg)]) == 0
    assert "webhook:ops: delivered (HTTP 200)" in capsys.readouterr().out
    assert receiver.bodies[0]["job"] == "moroccron-notify-test"
    assert "example-child" in receiver.bodies[0]["text"]
    assert main(["notify", "test", "slack:#x", "--config", str(cfg)]) == 1
    assert "slack:#x: FAILED (no notifier plugin delivered to channel 'slack')" in capsys.readouterr().out
    assert main(["notify", "test", "carrier:pigeon"]) == 1
    assert NotifyTarget.parse("webhook:ops").channel == "webhook"


class Hung:
    """A notifier that never answers (an SMTP server that accepts the connection and stalls)."""

    def __init__(self):
        self.release = threading.Event()

    @hookimpl
    def moroccron_notify(self, notification):
        self.release.wait(30)
        return []


def test_a_notifier_that_hangs_delays_only_its_message_which_is_retried(store):
    settings = Settings()
    job = Job(name="etl", command="x", notify={"on_failure": ["email:x@y"]})
    store.put_job(job)
    for i in range(2):
        store.enqueue_notification("failure", "etl", f"etl.{i}.0", payload_for(job, failed_run(), {}), now=NOW)
    hung = Hung()
    pm = PluginManager(load_entrypoints=False)
    pm.register(hung)
    d = Deliverer(store, pm, Renderer(settings), clock=lambda: NOW, timeout=0.2)
    try:
        assert d.deliver_due() == 2, "both handled: the hung call was given up on"
        states = {i.task_id: (i.state, i.attempts, i.last_error) for i in store.notifications()}
        first = states["etl.0.0"]
        assert first[0] == "pending" and first[1] == 1 and "within 0.2s" in first[2]
    finally:
        hung.release.set()
