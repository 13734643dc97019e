"""Notifications end to end through the outbox, with the real notifier distributions.

A real SMTP server (aiosmtpd) and local HTTP receivers stand in for the mail relay,
PagerDuty and Slack, whose public endpoints cannot be reached from here.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller

from moroccron import Job, hookimpl
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.types import DeliveryResult
from moroccron.model import Owner, Run, RunState
from moroccron.notify import Renderer, payload_for
from moroccron.outbox import Deliverer
from tests.receivers import Receiver, plugin_test_module
from tests.servers import free_port

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROUTING_KEY = "R0123456789abcdef0123456789abcde"  # 32 characters, as PagerDuty issues them
SUBTREE = [
    {
        "job": "load",
        "owners": ["l@example.com"],
        "children": [{"job": "report", "owners": ["bi@example.com"], "children": []}],
    }
]


class Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd naming
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))
        return "250 OK"


@pytest.fixture
def smtp():
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    box.port = controller.port
    yield box
    controller.stop()


@pytest.fixture
def pagerduty():
    r = Receiver(status=202, path="/v2/enqueue", body=b'{"status":"success","message":"Event processed"}')
    yield r
    r.close()


@pytest.fixture
def slack():
    r = Receiver(status=200, path="/services/T000/B000/XXXX", body=b"ok")
    yield r
    r.close()


def settings_for(smtp, pagerduty, slack):
    return Settings(
        plugins={
            "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "moroccron@example.com"},
            "pagerduty": {"events_url": pagerduty.url, "services": {"data-oncall": ROUTING_KEY}},
            "slack": {"webhook_url": slack.url},
        }
    )


def deliverer(store, settings, *extra, clock=None, disabled=()):
    pm = PluginManager(disabled=disabled)  # entry points: the installed email, pagerduty and slack distributions
    for plugin in extra:
        pm.register(plugin)
    pm.startup(config=settings, store=store)
    return Deliverer(store, pm, Renderer(settings), clock=clock or (lambda: NOW)), pm


def failed_run(job):
    return Run(
        job=job,
        scheduled_at=NOW,
        state=RunState.FAILED,
        launched_at=NOW,
        started_at=NOW,
        finished_at=NOW + timedelta(seconds=3),
        exit_status=2,
        message="Command exited with status 2",
        agent_id="a1",
        hostname="worker-7",
    )


def test_failure_mail_pagerduty_and_slack_then_resolve(store, smtp, pagerduty, slack):
    settings = settings_for(smtp, pagerduty, slack)
    store.put_owner(Owner(id="alice@example.com", name="Alice"))
    store.put_owner(Owner(id="bob@example.com", name="Bob", preferences={"failure": []}))  # muted failure mail
    job = Job(
        name="extract",
        command="x",
        owners=["alice@example.com", "bob@example.com"],
        notify={"on_failure": ["pagerduty:data-oncall", "slack:#data"], "on_recovery": ["pagerduty:data-oncall"]},
    )
    store.put_job(job)
    store.enqueue_notification(
        "failure",
        "extract",
        "extract.1.0",
        payload_for(job, failed_run("extract"), {"failure_count": 1, "pending_subtree": SUBTREE}),
        now=NOW,
    )
    d, pm = deliverer(store, settings)
    try:
        d.deliver_due()
        [item] = store.notifications()
        assert item.state == "delivered", item.results

        [(rcpts, msg)] = smtp.messages
        assert rcpts == ["alice@example.com"], "bob turned failure mail off; alice still gets it"
        assert msg["Subject"] == "[moroccron] FAILED: extract (exit 2)"
        text = msg.get_body(("plain",)).get_content()
        assert "load  (owners: l@example.com)" in text and "report  (owners: bi@example.com)" in text
        assert "worker-7" in text and "Exit:       2" in text

        trigger = pagerduty.bodies[0]
        assert trigger["routing_key"] == ROUTING_KEY and trigger["event_action"] == "trigger"
        assert trigger["dedup_key"] == "moroccron/extract"
        assert trigger["payload"]["severity"] in ("critical", "error", "warning", "info")
        assert trigger["payload"]["source"] and trigger["payload"]["summary"].startswith("moroccron: job extract")
        assert trigger["payload"]["custom_details"]["pending_subtree"] == SUBTREE

        post = slack.bodies[0]
        assert post["text"] and post["blocks"][0]["type"] == "header"
        assert all(b["type"] in ("header", "section", "divider", "context") for b in post["blocks"])

        store.enqueue_notification(
            "recovery", "extract", "extract.2.0", payload_for(job, None, {"failure_count": 1}), now=NOW
        )
        d.deliver_due()
        resolve = pagerduty.bodies[-1]
        assert resolve["event_action"] == "resolve" and resolve["dedup_key"] == trigger["dedup_key"]
    finally:
        pm.shutdown(config=settings)


class FailsTwice:
    """A notifier for a made-up ``webhook:flaky`` target: down twice, then up."""

    def __init__(self):
        self.attempts = 0
        self.delivered = 0

    @hookimpl
    def moroccron_notify(self, notification):
        targets = [t for t in notification.targets if t.channel == "webhook" and t.address == "flaky"]
        if not targets:
            return None
        self.attempts += 1
        if self.attempts <= 2:
            return [DeliveryResult(t, False, "connection refused") for t in targets]
        self.delivered += 1
        return [DeliveryResult(t, True, "delivered") for t in targets]


def test_notifier_failing_twice_delivers_exactly_once_and_survives_restart(store):
    job = Job(name="j", command="x", notify={"on_failure": ["webhook:flaky"]})
    store.put_job(job)
    store.enqueue_notification("failure", "j", "j.1.0", payload_for(job, failed_run("j"), {}), now=NOW)
    clock = [NOW]
    flaky = FailsTwice()
    first, _ = deliverer(store, Settings(), flaky, clock=lambda: clock[0], disabled=["webhook"])
    first.deliver_due()
    assert store.notifications()[0].state == "pending"
    # the process stops here; the message waits in the database
    clock[0] += timedelta(minutes=5)
    second, _ = deliverer(store, Settings(), flaky, clock=lambda: clock[0], disabled=["webhook"])
    for _ in range(5):
        second.deliver_due()
        clock[0] += timedelta(minutes=5)
    [item] = store.notifications()
    assert item.state == "delivered" and item.attempts == 2
    assert flaky.attempts == 3 and flaky.delivered == 1


@pytest.fixture
def pagerduty_events():
    """The PagerDuty stand-in that checks every event against the Events API v2 format."""
    receiver = plugin_test_module("pagerduty", "pagerduty_receiver").PagerDutyReceiver().start()
    yield receiver
    receiver.stop()


def test_owner_preferences_recovery_on_slack_still_resolves_the_pagerduty_incident(
    store, smtp, pagerduty_events, slack
):
    """As documented: --pref failure=email,slack,pagerduty --pref recovery=slack. The failure
    pages, mails and posts; the recovery posts to Slack and resolves the incident it opened."""
    settings = settings_for(smtp, pagerduty_events, slack)
    settings = Settings(public_url="https://cron.example.com", plugins=settings.plugins)
    store.put_owner(
        Owner(
            id="alice@example.com",
            slack="#data",
            pagerduty="data-oncall",
            preferences={"failure": ["email", "slack", "pagerduty"], "recovery": ["slack"]},
        )
    )
    job = Job(name="extract", command="x", owners=["alice@example.com"], retries=2)
    store.put_job(job)
    run = failed_run("extract")
    store.enqueue_notification("failure", "extract", run.task_id, payload_for(job, run, {"failure_count": 1}), now=NOW)
    d, pm = deliverer(store, settings)
    try:
        d.deliver_due()
        assert [i.state for i in store.notifications()] == ["delivered"]
        [trigger] = pagerduty_events.events
        assert pagerduty_events.problems == [[]], "the trigger follows the Events API v2 format"
        assert trigger["event_action"] == "trigger" and trigger["routing_key"] == ROUTING_KEY
        assert trigger["links"] == [
            {"href": f"https://cron.example.com/runs/{run.task_id}", "text": "Run in moroccron"}
        ]
        assert trigger["payload"]["custom_details"]["attempt"] == 1  # 1-based, "attempt 1 of 3"
        assert trigger["payload"]["custom_details"]["max_attempts"] == 3
        assert len(smtp.messages) == 1 and len(slack.bodies) == 1

        recovered = Run(
            job="extract",
            scheduled_at=NOW + timedelta(hours=1),
            state=RunState.SUCCEEDED,
            launched_at=NOW + timedelta(hours=1),
            finished_at=NOW + timedelta(hours=1, seconds=3),
            exit_status=0,
        )
        store.enqueue_notification(
            "recovery", "extract", recovered.task_id, payload_for(job, recovered, {"failure_count": 1}), now=NOW
        )
        d.deliver_due()
        latest = store.notifications()[0]
        assert latest.event == "recovery" and latest.state == "delivered", latest.results
        assert sorted(latest.results) == ["pagerduty:data-oncall", "slack:#data"]
        assert [e["event_action"] for e in pagerduty_events.events] == ["trigger", "resolve"]
        resolve = pagerduty_events.events[1]
        assert pagerduty_events.problems[1] == [], "the resolve follows the Events API v2 format"
        assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
        assert len(slack.bodies) == 2 and "recovered" in slack.bodies[1]["blocks"][0]["text"]["text"]
        assert len(smtp.messages) == 1, "email keeps no incident: recovery=slack sends no mail"
    finally:
        pm.shutdown(config=settings)
