"""Sending: one message per notification, one SMTP connection per message.

The notification worker calls :func:`notify` from its own thread, so blocking SMTP is
fine here, bounded by the ``timeout`` setting on every network operation. Notifications
are rare (failures, recoveries), so a connection is opened for each one and closed
after it rather than kept open and watched for the server dropping it.

One message goes to all the email targets of a notification (each in ``To:``, one
envelope with a RCPT per address): the owners of a job see who else was told, and a
reply reaches all of them. Results are still per target: an address the server refuses
at RCPT fails alone, with the server's reply, while the others are delivered; the
outbox later retries only the failed targets, so nobody gets the message twice.
"""

from __future__ import annotations

import email.policy
import functools
import logging
import os
import smtplib
import socket
import ssl
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from moroccron.config import Settings
from moroccron.hooks.types import DeliveryResult, Notification, NotifyTarget
from moroccron_email._settings import ENV_PREFIX, TABLE, EmailSettings, is_address, read_settings

__all__ = [
    "CHANNEL",
    "Mailer",
    "build_message",
    "notify",
    "start",
    "stop",
]

log = logging.getLogger("moroccron_email")

CHANNEL = "email"
"""The notification channel this plugin delivers (``email:ADDRESS`` targets)."""


_POLICY = email.policy.default.clone(cte_type="7bit")
"""Non-ASCII bodies go quoted-printable or base64, never raw 8-bit: smtplib does not
ask for 8BITMIME, and a server that does not offer it may refuse or mangle 8-bit data."""


def build_message(settings: EmailSettings, notification: Notification, recipients: Sequence[str]) -> EmailMessage:
    """The message for ``recipients``: plain text, plus an HTML alternative when the
    notification has one (``multipart/alternative``, text first, so clients that can
    show HTML pick it and the others show the text).

    Besides From, To, Subject, Date and Message-ID it carries ``Auto-Submitted:
    auto-generated`` (RFC 3834), so vacation responders do not answer the sender, and
    ``X-Moroccron-Event``, ``X-Moroccron-Job`` and, for a run, ``X-Moroccron-Run``
    (the task id), for mail filters.
    """
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = Address(display_name=settings.sender_name, addr_spec=settings.sender_address)
    msg["To"] = [Address(addr_spec=a) for a in recipients]
    # A subject is one line; a line break in it would end the header.
    msg["Subject"] = " ".join(notification.subject.split())
    msg["Date"] = format_datetime(datetime.now(UTC))
    # The domain is given so make_msgid does not ask DNS for this host's name.
    msg["Message-ID"] = make_msgid(domain=settings.sender_address.rpartition("@")[2])
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Moroccron-Event"] = notification.event
    msg["X-Moroccron-Job"] = notification.job.name
    if notification.run is not None:
        msg["X-Moroccron-Run"] = notification.run.task_id
    msg.set_content(notification.text)
    if notification.html is not None:
        msg.add_alternative(notification.html, subtype="html")
    return msg


_ADDRESS_FORM = "(expected user@domain, in ASCII)"


class _Failed(Exception):
    """A delivery failure, already explained: the detail of every target's result."""


class Mailer:
    """Delivers notifications with one set of checked settings. Safe to share between
    threads: it keeps no connection, only the settings and the TLS context."""

    def __init__(self, settings: EmailSettings) -> None:
        self.settings = settings
        self._tls = settings.tls_context()

    def deliver(self, notification: Notification) -> list[DeliveryResult] | None:
        """Send ``notification`` to its email targets.

        :return: one result per distinct email target, in order; None when it has none.
            Never raises for a failed delivery: the result says what went wrong.
        """
        targets = list(dict.fromkeys(notification.targets_for(CHANNEL)))
        if not targets:
            return None
        results: dict[NotifyTarget, DeliveryResult] = {}
        sendable: list[NotifyTarget] = []
        for target in targets:
            if is_address(target.address):
                sendable.append(target)
            else:
                detail = f"{target.address!r} is not an email address {_ADDRESS_FORM}"
                results[target] = DeliveryResult(target, False, detail)
        if sendable:
            recipients = list(dict.fromkeys(t.address for t in sendable))
            message = build_message(self.settings, notification, recipients)
            outcome = self._send(message, recipients)
            for target in sendable:
                ok, detail = outcome[target.address]
                results[target] = DeliveryResult(target, ok, detail)
        failed: dict[str, list[str]] = {}  # detail -> addresses: one line per cause, not per address
        for result in results.values():
            if not result.ok:
                failed.setdefault(result.detail, []).append(result.target.address)
        for detail, addresses in failed.items():
            log.warning(
                "email about job %r (%s) not delivered to %s: %s",
                notification.job.name,
                notification.event,
                ", ".join(addresses),
                detail,
            )
        return [results[t] for t in targets]

    def _send(self, message: EmailMessage, recipients: list[str]) -> dict[str, tuple[bool, str]]:
        """(ok, detail) for each recipient address."""
        s = self.settings
        try:
            client = self._connect()
        except _Failed as exc:
            return dict.fromkeys(recipients, (False, str(exc)))
        try:
            refused = client.send_message(message, from_addr=s.sender_address, to_addrs=recipients)
        except smtplib.SMTPRecipientsRefused as exc:
            return {
                a: (False, f"refused by {s.server}: {_reply(*exc.recipients[a])}")
                if a in exc.recipients
                else (False, f"not sent: {s.server} refused every recipient")
                for a in recipients
            }
        except smtplib.SMTPSenderRefused as exc:
            detail = f"sender {s.sender_address} refused by {s.server}: {_reply(exc.smtp_code, exc.smtp_error)}"
            return dict.fromkeys(recipients, (False, detail))
        except (smtplib.SMTPException, OSError) as exc:
            return dict.fromkeys(recipients, (False, f"sending to {s.server} failed: {self._why(exc)}"))
        finally:
            _close(client)
        receipt = f"accepted by {s.server} ({message['Message-ID']})"
        return {
            a: (False, f"refused by {s.server}: {_reply(*refused[a])}") if a in refused else (True, receipt)
            for a in recipients
        }

    def _connect(self) -> smtplib.SMTP:
        """A connection ready for MAIL FROM: TLS as configured, logged in when a user is set.

        :raises _Failed: saying which step failed and the server's answer.
        """
        s = self.settings
        step = f"connecting to {s.server}"
        try:
            if s.security == "ssl":
                client: smtplib.SMTP = smtplib.SMTP_SSL(
                    s.host, s.port, local_hostname=_local_hostname(), timeout=s.timeout, context=self._tls
                )
            else:
                client = smtplib.SMTP(s.host, s.port, local_hostname=_local_hostname(), timeout=s.timeout)
        except (smtplib.SMTPException, OSError) as exc:
            raise _Failed(f"{step} failed: {self._why(exc)}") from None
        try:
            if s.security == "starttls":
                step = f"STARTTLS with {s.server}"
                client.ehlo()
                if not client.has_extn("starttls"):
                    # Never fall back to plain text: the message would go out unencrypted.
                    raise _Failed(
                        f"{s.server} does not offer STARTTLS; not sent unencrypted "
                        f'({TABLE}.security = "none" allows that)'
                    )
                client.starttls(context=self._tls)
                client.ehlo()
            if s.username:
                step = f"login as {s.username!r} at {s.server}"
                client.login(s.username, s.password or "")
        except _Failed:
            _close(client)
            raise
        except (smtplib.SMTPException, OSError) as exc:
            _close(client)
            raise _Failed(f"{step} failed: {self._why(exc)}") from None
        return client

    def _why(self, exc: BaseException) -> str:
        """The cause, as a person reading the outbox wants it: the server's reply, or the
        network error, with a hint where the fix is not obvious."""
        if isinstance(exc, smtplib.SMTPResponseException):
            return _reply(exc.smtp_code, exc.smtp_error)
        # smtplib reports a read that timed out as "Connection unexpectedly closed".
        if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
            return f"no answer within {self.settings.timeout:g} s (timeout)"
        text = str(exc) or type(exc).__name__
        if isinstance(exc, ssl.SSLCertVerificationError):
            text += f"; for a server with a private CA, set {TABLE}.cafile ({ENV_PREFIX}CAFILE)"
        return text


@functools.cache
def _local_hostname() -> str:
    """The name to greet servers with (EHLO). smtplib would look it up for every
    connection, and a slow resolver is not bounded by the timeout: once per process."""
    return socket.getfqdn()


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode("utf-8", "replace") if isinstance(message, bytes) else message
    return f"{code} {' '.join(text.split())}"


def _close(client: smtplib.SMTP) -> None:
    """QUIT politely, then close whatever happens: the message was accepted, or the
    failure is already recorded, so an error here changes nothing."""
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        client.close()


# --------------------------------------------------------------------------- plugin state

_lock = threading.Lock()
_started = False
_stopped = False
_mailer: Mailer | None = None


def start(config: Settings, environ: Mapping[str, str] | None = None) -> None:
    """Read and check the settings; keep the mailer for :func:`notify`.

    Opens no connection and starts no thread: the first notification connects.

    :raises ValidationError: a setting is wrong (names it).
    """
    global _started, _stopped, _mailer
    settings = read_settings(config.plugin_settings("email"), os.environ if environ is None else environ)
    mailer = Mailer(settings) if settings is not None else None
    with _lock:
        _mailer, _started, _stopped = mailer, True, False
    if settings is None:
        log.info(
            "email notifications are not configured (no %s.host or %sHOST): email targets are left to other notifiers",
            TABLE,
            ENV_PREFIX,
        )
    else:
        log.info("email notifications via %s", settings.describe())


def stop() -> None:
    """Forget the settings (and so the password): nothing is sent after shutdown."""
    global _stopped, _mailer
    with _lock:
        _stopped = _stopped or _mailer is not None
        _mailer = None


def notify(notification: Notification) -> list[DeliveryResult] | None:
    """Deliver the notification's email targets; None when email is off or there are none.

    :raises RuntimeError: called before :func:`start`, which only a caller that skipped
        ``moroccron_startup`` can do.
    """
    with _lock:
        started, stopped, mailer = _started, _stopped, _mailer
    if not started:
        raise RuntimeError("moroccron_notify was called before moroccron_startup")
    if stopped:
        # Reported as failed, not ignored, so the outbox keeps them for a live instance.
        targets = list(dict.fromkeys(notification.targets_for(CHANNEL)))
        return [DeliveryResult(t, False, "not sent: moroccron is shutting down") for t in targets] or None
    if mailer is None:
        return None
    return mailer.deliver(notification)
