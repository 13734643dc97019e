"""Owner preferences as documented, over the local Mesos master with the real notifier
plugins: ``failure=email,slack,pagerduty`` and ``recovery=slack``. The failure mails, posts
(with the stderr tail) and opens a PagerDuty incident; the recovery posts to Slack and
resolves that incident, with the trigger's dedup key, in the Events API v2 format."""

from __future__ import annotations

import email
import email.policy

import pytest
from aiosmtpd.controller import Controller

from moroccron import Job
from moroccron.events import RunRequested
from moroccron.model import Owner
from moroccron_email import plugin as email_plugin
from moroccron_pagerduty import plugin as pagerduty_plugin
from moroccron_slack import plugin as slack_plugin
from tests.e2e.harness import Cluster, wait_for
from tests.receivers import Receiver, plugin_test_module
from tests.servers import free_port

pytestmark = pytest.mark.slow

ROUTING_KEY = "R0123456789abcdef0123456789abcde"
UI = "https://cron.example.com"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd naming
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 OK"


def test_recovery_on_slack_resolves_the_incident_the_failure_opened(tmp_path):
    pagerduty = plugin_test_module("pagerduty", "pagerduty_receiver").PagerDutyReceiver().start()
    slack = Receiver(status=200, path="/services/T000/B000/XXXX", body=b"ok")
    box = Mailbox()
    smtp = Controller(box, hostname="127.0.0.1", port=free_port())
    smtp.start()
    flag = tmp_path / "fixed"
    cluster = Cluster(
        tmp_path,
        agents=1,
        plugins=[email_plugin, pagerduty_plugin, slack_plugin],
        settings={
            "public_url": UI,
            "plugins": {
                "email": {"host": "127.0.0.1", "port": smtp.port, "security": "none", "from": "moroccron@example.com"},
                "pagerduty": {"events_url": pagerduty.url, "services": {"data-oncall": ROUTING_KEY}},
                "slack": {"webhook_url": slack.url},
            },
        },
    )
    try:
        cluster.store.put_owner(
            Owner(
                id="alice@example.com",
                slack="#data",
                pagerduty="data-oncall",
                preferences={"failure": ["email", "slack", "pagerduty"], "recovery": ["slack"]},
            )
        )
        cluster.add_job(
            Job(
                name="etl",
                owners=["alice@example.com"],
                command=f'test -e {flag} || {{ echo "disk full on /data" >&2; exit 4; }}',
            )
        )
        sched = cluster.start_scheduler()
        sched.submit(RunRequested("etl"))
        (failed,) = cluster.finished("etl", 1)
        wait_for(lambda: pagerduty.events and slack.bodies and box.messages, 60, what="the failure on 3 channels")
        (trigger,) = pagerduty.events
        assert pagerduty.problems == [[]], "the trigger follows the Events API v2 format"
        assert trigger["event_action"] == "trigger" and trigger["routing_key"] == ROUTING_KEY
        assert trigger["links"][0]["href"] == f"{UI}/runs/{failed.task_id}"
        details = trigger["payload"]["custom_details"]
        assert details["attempt"] == 1 and details["exit_status"] == 4
        post = slack.bodies[0]
        assert any("disk full on /data" in b.get("text", {}).get("text", "") for b in post["blocks"]), (
            "the Slack message carries the stderr tail"
        )
        assert "Attempt:    1 of 1" in box.messages[0].get_body(("plain",)).get_content()

        flag.write_text("ok")
        sched.submit(RunRequested("etl"))
        cluster.finished("etl", 2)
        wait_for(lambda: len(pagerduty.events) == 2 and len(slack.bodies) == 2, 60, what="the recovery")
        resolve = pagerduty.events[1]
        assert pagerduty.problems[1] == [], "the resolve follows the Events API v2 format"
        assert resolve == {"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": trigger["dedup_key"]}
        assert "recovered" in slack.bodies[1]["blocks"][0]["text"]["text"]
        recovery = wait_for(
            lambda: [
                n for n in cluster.store.notifications(job="etl") if n.event == "recovery" and n.state == "delivered"
            ],
            30,
            what="the recovery recorded as delivered",
        )
        assert sorted(recovery[0].results) == ["pagerduty:data-oncall", "slack:#data"]
        assert len(box.messages) == 1, "recovery=slack: no recovery mail"
    finally:
        cluster.close()
        smtp.stop()
        slack.close()
        pagerduty.stop()
