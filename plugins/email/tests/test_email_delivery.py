"""Delivery through the plugin, as moroccron calls it (a fresh PluginManager), against
real SMTP servers: what the message looks like, how TLS and login are used, and that
every failure becomes a per-target result rather than an exception."""

from __future__ import annotations

import logging
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from email_support import (
    HOST,
    HTML,
    PASSWORD,
    RUN,
    SENDER,
    SUBJECT,
    TEXT,
    USER,
    StartServer,
    free_port,
    make_notification,
    start,
)

from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.types import DeliveryResult, NotifyTarget
from moroccron_email import plugin

A, B, C = "ana@example.com", "bob@example.org", "carla@example.net"


def email_results(results: list[DeliveryResult]) -> dict[str, DeliveryResult]:
    return {r.target.address: r for r in results if r.target.channel == "email"}


def send_email(*addresses: str, html: str | None = HTML, subject: str = SUBJECT) -> list[DeliveryResult]:
    """Call the hook directly with email targets only: its results, which must be there."""
    results = plugin.moroccron_notify(make_notification(*addresses, html=html, subject=subject, other=()))
    assert results is not None
    return results


def body(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    assert part is not None, f"no text/{subtype} part"
    assert part.get_content_type() == f"text/{subtype}"
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")  # SMTP carries lines ending in CRLF


# --------------------------------------------------------------------------- the message


def test_message_headers_parts_and_envelope(pm: PluginManager, smtp_server: StartServer) -> None:
    server = smtp_server("none")
    start(pm, **server.table)
    before = datetime.now(UTC).replace(microsecond=0)

    results = pm.notify(notification=make_notification(A, B))

    assert len(server.received) == 1
    got = server.received[0]
    msg = got.message
    assert got.mail_from == SENDER
    assert got.rcpt_tos == [A, B]
    assert not got.tls and got.login is None
    assert sorted(msg.keys()) == sorted(
        [
            "From",
            "To",
            "Subject",
            "Date",
            "Message-ID",
            "Auto-Submitted",
            "MIME-Version",
            "Content-Type",
            "X-Moroccron-Event",
            "X-Moroccron-Job",
            "X-Moroccron-Run",
        ]
    )
    assert msg["From"] == f"Moroccron <{SENDER}>"
    assert msg["To"] == f"{A}, {B}"
    assert msg["Subject"] == SUBJECT
    assert before <= parsedate_to_datetime(msg["Date"]) <= datetime.now(UTC) + timedelta(seconds=1)
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@example.com>")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Moroccron-Event"] == "failure"
    assert msg["X-Moroccron-Job"] == "etl-nightly"
    assert msg["X-Moroccron-Run"] == RUN.task_id
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert body(msg, "plain") == TEXT
    assert body(msg, "html") == HTML
    # Seven-bit lines within SMTP's limit (RFC 5322: 998), whatever the text holds, so
    # the message passes servers that do not offer 8BITMIME.
    assert got.raw.isascii()
    assert max(len(line) for line in got.raw.split(b"\r\n")) <= 998

    receipt = f"accepted by {server.address} ({msg['Message-ID']})"
    assert email_results(results) == {
        A: DeliveryResult(NotifyTarget("email", A), True, receipt),
        B: DeliveryResult(NotifyTarget("email", B), True, receipt),
    }
    # The Slack target is not this plugin's: the manager reports nobody delivered it.
    [slack] = [r for r in results if r.target.channel == "slack"]
    assert not slack.ok and "no notifier plugin delivered to channel 'slack'" in slack.detail


def test_text_only_message_and_one_line_subject(pm: PluginManager, smtp_server: StartServer) -> None:
    server = smtp_server("none")
    start(pm, **server.table)

    [result] = send_email(A, html=None, subject="etl failed\r\n  again\n")

    assert result.ok
    msg = server.received[0].message
    assert msg.get_content_type() == "text/plain"
    assert not msg.is_multipart()
    assert msg.get_content().replace("\r\n", "\n") == TEXT
    assert msg["Subject"] == "etl failed again"


def test_duplicate_targets_get_one_rcpt_and_one_result(pm: PluginManager, smtp_server: StartServer) -> None:
    server = smtp_server("none")
    start(pm, **server.table)

    results = send_email(A, B, A)

    assert [(r.target.address, r.ok) for r in results] == [(A, True), (B, True)]
    assert server.received[0].rcpt_tos == [A, B]


def test_invalid_addresses_fail_alone(pm: PluginManager, smtp_server: StartServer) -> None:
    """An address that would break the SMTP command or the header (here, an attempt
    to inject a Bcc), or that needs SMTPUTF8, is never sent to the server; the others
    are delivered."""
    server = smtp_server("none")
    start(pm, **server.table)
    injected = f"{A}\r\nBcc: mallory@example.com"

    results = send_email(A, "not-an-address", injected, "josé@example.com")

    assert [(r.target.address, r.ok) for r in results] == [
        (A, True),
        ("not-an-address", False),
        (injected, False),
        ("josé@example.com", False),
    ]
    assert results[1].detail == "'not-an-address' is not an email address (expected user@domain, in ASCII)"
    assert server.received[0].rcpt_tos == [A]
    assert "mallory" not in server.received[0].raw.decode()


# --------------------------------------------------------------------------- TLS and login


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_starttls_and_login(pm: PluginManager, smtp_server: StartServer, mechanism: str) -> None:
    """The server demands STARTTLS before anything and AUTH before MAIL; it offers only
    ``mechanism``, so the test shows each one works."""
    other = {"PLAIN": "LOGIN", "LOGIN": "PLAIN"}[mechanism]
    server = smtp_server("starttls", auth_exclude=(other,))
    start(pm, **server.table)

    results = email_results(pm.notify(notification=make_notification(A, B)))

    assert [r.ok for r in results.values()] == [True, True], results
    got = server.received[0]
    assert got.tls, "the message must have travelled over TLS"
    assert got.login == USER
    assert server.recorder.logins == [(mechanism, USER, True)]
    assert got.rcpt_tos == [A, B]
    assert body(got.message, "plain") == TEXT


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # see smtp_server
def test_implicit_tls(pm: PluginManager, smtp_server: StartServer) -> None:
    server = smtp_server("ssl")
    start(pm, **server.table)

    results = email_results(pm.notify(notification=make_notification(A)))

    assert results[A].ok, results[A].detail
    assert results[A].detail.startswith(f"accepted by {server.address} (<")
    got = server.received[0]
    assert got.tls and got.login == USER
    assert body(got.message, "html") == HTML


def test_wrong_password(pm: PluginManager, smtp_server: StartServer, caplog: pytest.LogCaptureFixture) -> None:
    server = smtp_server("starttls")
    wrong = "not-the-Pa55word-42"
    start(pm, **(server.table | {"password": wrong}))

    with caplog.at_level(logging.DEBUG):
        results = email_results(pm.notify(notification=make_notification(A, B)))

    for result in results.values():
        assert not result.ok
        assert result.detail.startswith(f"login as {USER!r} at {server.address} failed: 535 ")
        assert "Authentication credentials invalid" in result.detail
    assert server.received == []
    assert all(not accepted for _, _, accepted in server.recorder.logins)
    assert PASSWORD not in caplog.text and wrong not in caplog.text
    assert all(wrong not in r.detail for r in results.values())


def test_untrusted_certificate_is_refused(pm: PluginManager, smtp_server: StartServer) -> None:
    """Without the CA file the self-signed certificate cannot be verified: nothing is
    sent, and the detail points at the setting that fixes it."""
    server = smtp_server("starttls")
    start(pm, **{k: v for k, v in server.table.items() if k != "cafile"})

    [result] = send_email(A)

    assert not result.ok
    assert result.detail.startswith(f"STARTTLS with {server.address} failed: ")
    assert "certificate verify failed" in result.detail
    assert "plugins.email.cafile" in result.detail
    assert server.received == [] and server.recorder.logins == []


def test_starttls_not_offered_is_not_downgraded(pm: PluginManager, smtp_server: StartServer) -> None:
    server = smtp_server("none")
    start(pm, **(server.table | {"security": "starttls"}))

    [result] = send_email(A)

    assert result == DeliveryResult(
        NotifyTarget("email", A),
        False,
        f'{server.address} does not offer STARTTLS; not sent unencrypted (plugins.email.security = "none" allows that)',
    )
    assert server.received == []


# --------------------------------------------------------------------------- failures


def test_refused_recipient_fails_alone(pm: PluginManager, smtp_server: StartServer) -> None:
    reply = f"550 5.1.1 <{B}>: Recipient address rejected: User unknown"
    server = smtp_server("starttls", refuse={B: reply})
    start(pm, **server.table)

    results = email_results(pm.notify(notification=make_notification(A, B, C)))

    assert results[A].ok and results[C].ok
    assert results[B] == DeliveryResult(NotifyTarget("email", B), False, f"refused by {server.address}: {reply}")
    got = server.received[0]
    assert got.rcpt_tos == [A, C]
    # One message for everyone: the header still names the refused address.
    assert got.message["To"] == f"{A}, {B}, {C}"


def test_every_recipient_refused(pm: PluginManager, smtp_server: StartServer) -> None:
    server = smtp_server("none", refuse={A: "550 5.1.1 no such user", B: "452 4.2.2 mailbox full"})
    start(pm, **server.table)

    results = email_results(pm.notify(notification=make_notification(A, B)))

    assert results[A].detail == f"refused by {server.address}: 550 5.1.1 no such user"
    assert results[B].detail == f"refused by {server.address}: 452 4.2.2 mailbox full"
    assert not results[A].ok and not results[B].ok
    assert server.received == []


def test_server_down(pm: PluginManager, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    start(pm, host=HOST, port=port, security="none", **{"from": SENDER})

    with caplog.at_level(logging.WARNING, logger="moroccron_email"):
        results = email_results(pm.notify(notification=make_notification(A, B)))

    assert set(results) == {A, B}
    for result in results.values():
        assert not result.ok
        assert result.detail.startswith(f"connecting to {HOST}:{port} failed: ")
        assert "Connection refused" in result.detail
    # One warning for the one cause, naming everyone who missed the message.
    assert caplog.messages == [
        f"email about job 'etl-nightly' (failure) not delivered to {A}, {B}: {results[A].detail}"
    ]


def test_silent_server_times_out(pm: PluginManager) -> None:
    """A server that accepts the connection and never greets: the timeout ends it."""
    with socket.socket() as listener:
        listener.bind((HOST, 0))
        listener.listen()
        port = listener.getsockname()[1]
        start(pm, host=HOST, port=port, security="none", timeout=0.3, **{"from": SENDER})
        began = time.monotonic()

        [result] = send_email(A)

        elapsed = time.monotonic() - began
    assert not result.ok
    assert result.detail == f"connecting to {HOST}:{port} failed: no answer within 0.3 s (timeout)"
    assert elapsed < 5


# --------------------------------------------------------------------------- when nothing is sent


def test_no_host_means_inactive(pm: PluginManager, no_smtp: list[str], caplog: pytest.LogCaptureFixture) -> None:
    threads = threading.active_count()

    with caplog.at_level(logging.INFO, logger="moroccron_email"):
        pm.startup(config=Settings(), store=None)  # type: ignore[arg-type]
        assert plugin.moroccron_notify(make_notification(A, B)) is None
        results = pm.notify(notification=make_notification(A))

    assert [r.message for r in caplog.records if r.name == "moroccron_email"] == [
        "email notifications are not configured (no plugins.email.host or MOROCCRON_SMTP_HOST): "
        "email targets are left to other notifiers"
    ]
    assert not email_results(results)[A].ok
    assert "no notifier plugin delivered to channel 'email'" in email_results(results)[A].detail
    assert no_smtp == []
    assert threading.active_count() == threads


def test_no_email_targets_no_connection(pm: PluginManager, no_smtp: list[str]) -> None:
    start(pm, host=HOST, security="none", **{"from": SENDER})

    assert plugin.moroccron_notify(make_notification()) is None
    assert no_smtp == []


def test_startup_connects_to_nothing(pm: PluginManager, no_smtp: list[str]) -> None:
    """Start-up must not block on a server that may be down: only notifications connect."""
    threads = threading.active_count()

    start(pm, host="smtp.invalid", username=USER, password=PASSWORD, **{"from": SENDER})

    assert no_smtp == []
    assert threading.active_count() == threads


def test_notify_before_startup_is_a_programming_error() -> None:
    with pytest.raises(RuntimeError, match="before moroccron_startup"):
        plugin.moroccron_notify(make_notification(A))


def test_after_shutdown_targets_fail_without_connecting(pm: PluginManager, no_smtp: list[str]) -> None:
    """A notification the worker hands over during shutdown is reported failed, so the
    outbox keeps it for an instance that is still running."""
    start(pm, host=HOST, security="none", **{"from": SENDER})
    pm.shutdown(config=Settings())

    results = plugin.moroccron_notify(make_notification(A, other=()))

    assert results == [DeliveryResult(NotifyTarget("email", A), False, "not sent: moroccron is shutting down")]
    assert no_smtp == []
