"""Helpers for the email plugin's tests: real SMTP servers (aiosmtpd) on 127.0.0.1, a
self-signed certificate, and notifications to send. The fixtures are in conftest.py.

A module with a name of its own, not ``conftest``, so test modules can import it even
when other plugins' test folders (each with a conftest) run in the same session.

The servers run in aiosmtpd's own thread. The plugin's SMTP conversation ends only
after the server answered DATA, and the handler records the message before it
answers, so a test reads what arrived as soon as delivery returns: no waiting.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager
from moroccron.hooks.types import Notification, NotifyTarget
from moroccron.model import JobSpec, Run, RunState, RunTrigger

HOST = "127.0.0.1"
USER = "ops"
PASSWORD = "s3cret-Pa55word"  # distinctive, so a leak into a detail or a log is easy to find
SENDER = "moroccron@example.com"
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)

JOB = JobSpec(name="etl-nightly", command="run-etl --day yesterday", owners=("ana@example.com",))
RUN = Run(
    job=JOB.name,
    scheduled_at=T0,
    attempt=1,
    state=RunState.FAILED,
    trigger=RunTrigger.RETRY,
    exit_status=3,
    finished_at=T0 + dt.timedelta(minutes=5),
)


def email_settings(**table: Any) -> Settings:
    """moroccron settings whose config file has ``[plugins.email]`` = ``table``."""
    return Settings(plugins={"email": table})


def start(pm: PluginManager, **table: Any) -> None:
    """Start the plugins as the service does; the email plugin takes no store."""
    pm.startup(config=email_settings(**table), store=None)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- notifications


TEXT = (
    "Job etl-nightly failed: exit status 3 (attempt 2).\n"
    "Résumé: the load step ran out of memory ✗\n"
    + "A long line, longer than any mail client would wrap on its own: "
    + "x" * 120
    + "\n"
)
HTML = "<p>Job <b>etl-nightly</b> failed: exit status 3 &mdash; Résumé ✗</p>\n"
SUBJECT = "[moroccron] etl-nightly failed — exit 3"


def make_notification(
    *addresses: str,
    html: str | None = HTML,
    subject: str = SUBJECT,
    other: tuple[NotifyTarget, ...] = (NotifyTarget("slack", "#etl"),),
) -> Notification:
    """A failure notification for :data:`RUN`, to ``email:ADDRESS`` for each address
    plus targets on other channels that this plugin must leave alone."""
    targets = tuple(NotifyTarget("email", a) for a in addresses) + other
    return Notification(
        event="failure",
        job=JOB,
        run=RUN,
        targets=targets,
        subject=subject,
        text=TEXT,
        html=html,
        details={"task_id": RUN.task_id, "exit_status": 3},
    )


# --------------------------------------------------------------------------- certificate


@dataclass(frozen=True)
class Certificate:
    certfile: str  # also the CA file clients trust: it is self-signed
    keyfile: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.certfile, self.keyfile)
        return context


def make_certificate(folder: Path) -> Certificate:
    """A self-signed CA certificate for 127.0.0.1 and localhost, valid for a day, in ``folder``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "moroccron-email test server")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address(HOST))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = folder / "server.pem", folder / "server.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return Certificate(str(certfile), str(keyfile))


# --------------------------------------------------------------------------- SMTP server


@dataclass(frozen=True)
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes
    tls: bool  # the connection was encrypted when DATA arrived
    login: str | None  # the user it logged in as, if any


class Recorder:
    """An aiosmtpd handler that keeps every accepted message; ``refuse`` maps
    addresses to the reply RCPT gets for them (e.g. ``"550 5.1.1 no such user"``)."""

    def __init__(self, refuse: Mapping[str, str]) -> None:
        self.refuse = dict(refuse)
        self.received: list[Received] = []
        self.logins: list[tuple[str, str, bool]] = []  # (mechanism, login, accepted)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content
        assert isinstance(raw, bytes)
        message = BytesParser(policy=policy.default).parsebytes(raw)
        assert isinstance(message, EmailMessage)
        assert server.transport is not None
        login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
        self.received.append(
            Received(
                mail_from=str(envelope.mail_from),
                rcpt_tos=list(envelope.rcpt_tos),
                message=message,
                raw=raw,
                tls=server.transport.get_extra_info("ssl_object") is not None,
                login=login,
            )
        )
        return "250 2.0.0 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
        self.logins.append((mechanism, auth_data.login.decode(), ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


@dataclass
class Server:
    port: int
    recorder: Recorder
    cafile: str | None = None
    table: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{HOST}:{self.port}"

    @property
    def received(self) -> list[Received]:
        return self.recorder.received


def free_port() -> int:
    """A port nothing listens on (the kernel's choice, released at once)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


StartServer = Callable[..., Server]
