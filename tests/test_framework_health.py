"""Framework trouble on the leader: the removed FrameworkID forgotten where it is still
stored, and the admin contacts told through the outbox by the real notifiers.

On a real store (SQLite and PostgreSQL), a real ZooKeeper, a real SMTP server (aiosmtpd)
and local HTTP receivers standing in for Slack and PagerDuty.
"""

from __future__ import annotations

import email
import email.policy
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from moroccron.config import Settings
from moroccron.framework_health import FrameworkHealth, framework_job
from moroccron.ha import Leadership
from moroccron.hooks.manager import PluginManager
from moroccron.notify import Renderer
from moroccron.outbox import Deliverer
from moroccron.store import Store
from tests.receivers import Receiver
from tests.servers import free_port

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
ROUTING_KEY = "R0123456789abcdef0123456789abcde"


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd naming
        self.messages.append(
            (list(envelope.rcpt_tos), email.message_from_bytes(envelope.content, policy=email.policy.default))
        )
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield box, controller.port
    controller.stop()


@pytest.fixture
def receivers() -> Iterator[dict[str, Receiver]]:
    found = {
        "slack": Receiver(path="/services/T0/B0/X", body=b"ok"),
        "pagerduty": Receiver(status=202, path="/v2/enqueue", body=b'{"status":"success"}'),
        "webhook": Receiver(),
    }
    yield found
    for r in found.values():
        r.close()


def health(settings: Settings, store: Store, epoch: int | None, leadership: Any = None) -> FrameworkHealth:
    return FrameworkHealth(
        settings, store, epoch=lambda: epoch, clock=lambda: NOW, wake=lambda: None, leadership=leadership
    )


def test_removal_is_told_to_every_admin_contact_by_the_real_notifiers(
    store: Store,
    smtp: tuple[Mailbox, int],
    receivers: dict[str, Receiver],
) -> None:
    box, port = smtp
    settings = Settings(
        framework_name="moroccron prod",
        admin_contacts=("email:mesos-admins@example.com", "slack:#mesos", "pagerduty:platform", "webhook:ops"),
        webhooks={"ops": receivers["webhook"].url},
        plugins={
            "email": {"host": "127.0.0.1", "port": port, "security": "none", "from": "moroccron@example.com"},
            "slack": {"webhook_url": receivers["slack"].url},
            "pagerduty": {"events_url": receivers["pagerduty"].url, "services": {"platform": ROUTING_KEY}},
        },
    )
    epoch = store.take_leadership("leader", "127.0.0.1:4400")
    store.set_framework_id("fw-old")
    h = health(settings, store, epoch)

    h.removed("fw-old", "Framework has been removed")

    assert store.get_framework_id() is None, "a restart must not subscribe with the dead id"
    assert h.reasons() == ["the Mesos master removed the framework; a new one is being registered"]
    h.registered("fw-new")
    assert h.reasons() == []
    assert h.status()["framework_removed"] == {
        "framework_id": "fw-old",
        "message": "Framework has been removed",
        "at": NOW.isoformat(),
        "new_framework_id": "fw-new",
    }
    [item] = store.notifications()
    assert item.event == "framework" and item.job == "moroccron-prod-framework"

    pm = PluginManager()  # the installed email, slack and pagerduty distributions, and the webhook notifier
    pm.startup(config=settings, store=store)
    try:
        Deliverer(store, pm, Renderer(settings), clock=lambda: NOW).deliver_due()
    finally:
        pm.shutdown(config=settings)
    [item] = store.notifications()
    assert item.state == "delivered", item.results

    [(rcpts, msg)] = box.messages
    assert rcpts == ["mesos-admins@example.com"]
    assert msg["Subject"] == "[moroccron] MESOS FRAMEWORK REMOVED: moroccron prod (fw-old)"
    text = msg.get_body(("plain",)).get_content()
    assert "removed framework fw-old" in text and "registers a new framework" in text
    assert "Master's message: Framework has been removed" in text
    [post] = receivers["slack"].bodies
    assert "moroccron-prod-framework" in post["text"] or "moroccron-prod-framework" in str(post["blocks"])
    [page] = receivers["pagerduty"].bodies
    assert page["routing_key"] == ROUTING_KEY and page["event_action"] == "trigger"
    assert page["dedup_key"] == "moroccron/moroccron-prod-framework"
    [hook] = receivers["webhook"].bodies
    assert hook["event"] == "framework" and hook["run"] is None
    assert hook["details"]["framework"] == {
        "kind": "removed",
        "framework_id": "fw-old",
        "message": "Framework has been removed",
        "name": "moroccron prod",
    }


def test_an_id_stored_since_by_someone_else_is_kept(store: Store) -> None:
    epoch = store.take_leadership("leader", "127.0.0.1:4400")
    store.set_framework_id("fw-newer")  # what a newer registration stored meanwhile
    health(Settings(), store, epoch).removed("fw-old", "Framework has been removed")
    assert store.get_framework_id() == "fw-newer"


def test_a_deposed_leader_neither_forgets_nor_notifies(store: Store) -> None:
    old_epoch = store.take_leadership("old", "127.0.0.1:4400")
    store.set_framework_id("fw-1")
    store.take_leadership("new", "127.0.0.1:4401")
    h = health(Settings(admin_contacts=("email:a@example.com",)), store, old_epoch)
    h.removed("fw-1", "Framework has been removed")
    h.failed("Framework failed over")
    assert store.get_framework_id() == "fw-1"
    assert store.notifications() == []


def test_a_refusal_is_kept_and_told(store: Store) -> None:
    epoch = store.take_leadership("leader", "127.0.0.1:4400")
    h = health(Settings(admin_contacts=("email:a@example.com",)), store, epoch)
    h.failed("Not authorized to register as role 'ops'")
    assert h.error == "Not authorized to register as role 'ops'"
    assert h.reasons() == ["the Mesos master refused the framework: Not authorized to register as role 'ops'"]
    [item] = store.notifications()
    assert item.payload["details"]["framework"]["kind"] == "error"


@pytest.mark.zookeeper
def test_the_zookeeper_copy_is_forgotten_only_while_it_names_the_removed_id(
    zk_address: str, sqlite_store: Store
) -> None:
    elected = threading.Event()
    leadership = Leadership(
        f"zk://{zk_address}/moroccron-fwid-{uuid.uuid4().hex[:8]}",
        "127.0.0.1:4400",
        "i",
        on_elected=elected.set,
        on_lost=lambda _reason: None,
    )
    leadership.start()
    try:
        assert elected.wait(20)
        epoch = sqlite_store.take_leadership("i", "127.0.0.1:4400")
        h = health(Settings(), sqlite_store, epoch, leadership)
        leadership.set_framework_id("fw-other")
        h.removed("fw-old", "Framework has been removed")
        assert leadership.framework_id() == "fw-other"
        leadership.set_framework_id("fw-old")
        h.removed("fw-old", "Framework has been removed")
        assert leadership.framework_id() is None
    finally:
        leadership.stop()


def test_the_stand_in_job_is_a_valid_job_named_after_the_framework() -> None:
    job = framework_job(Settings(framework_name="  Data Platform / prod!", admin_contacts=("slack:#mesos",)))
    assert job.name == "Data-Platform-prod-framework" and job.notify.on_failure == ("slack:#mesos",)
    assert framework_job(Settings(framework_name="x" * 500)).name.endswith("-framework")
    assert framework_job(Settings(framework_name="///")).name == "moroccron-framework"
