"""Fixtures for the email plugin's tests; the helpers they use are in email_support.py."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from email_support import (
    HOST,
    PASSWORD,
    SENDER,
    USER,
    Certificate,
    Recorder,
    Server,
    StartServer,
    free_port,
    make_certificate,
)

from moroccron.hooks.manager import DISABLE_ENV, PluginManager
from moroccron_email import _smtp, plugin
from moroccron_email._settings import ENV_PREFIX, KEYS

# --------------------------------------------------------------------------- isolation


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    """No SMTP settings or plugin blocks from the developer's shell, and the plugin's
    module state as a fresh process has it (restored after the test)."""
    for key in KEYS:
        monkeypatch.delenv(ENV_PREFIX + key.upper(), raising=False)
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.setattr(_smtp, "_started", False)
    monkeypatch.setattr(_smtp, "_stopped", False)
    monkeypatch.setattr(_smtp, "_mailer", None)


@pytest.fixture
def pm() -> PluginManager:
    """A fresh manager with the built-ins and this plugin, registered as ``email``;
    other installed plugins stay out."""
    manager = PluginManager(load_entrypoints=False)
    assert manager.register(plugin, name="email") == "email"
    return manager


@pytest.fixture(scope="session")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    """A self-signed certificate for 127.0.0.1 and localhost, also the CA file to trust."""
    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def smtp_server(certificate: Certificate) -> Iterator[StartServer]:
    """Start real SMTP servers; each is stopped after the test.

    ``security``: ``none`` (plain), ``starttls`` (STARTTLS and AUTH required before
    anything else) or ``ssl`` (TLS from the first byte, AUTH required). ``refuse``:
    see :class:`Recorder`. ``auth_exclude``: AUTH mechanisms not to offer. The
    returned server's ``table`` is the ``[plugins.email]`` table that reaches it.
    """
    controllers: list[Controller] = []

    def start_server(
        security: str = "none", *, refuse: Mapping[str, str] | None = None, auth_exclude: tuple[str, ...] = ()
    ) -> Server:
        recorder = Recorder(refuse or {})
        kwargs: dict[str, Any] = {}
        if security == "starttls":
            kwargs.update(
                tls_context=certificate.server_context(),
                require_starttls=True,
                auth_required=True,
                authenticator=recorder.authenticate,
            )
        elif security == "ssl":
            # aiosmtpd only counts STARTTLS as TLS when deciding whether AUTH is safe; with
            # implicit TLS every byte is already encrypted, so its check is switched off.
            kwargs.update(
                ssl_context=certificate.server_context(),
                auth_require_tls=False,
                auth_required=True,
                authenticator=recorder.authenticate,
            )
        if auth_exclude:
            kwargs["auth_exclude_mechanism"] = list(auth_exclude)
        port = free_port()
        controller = Controller(recorder, hostname=HOST, port=port, server_hostname="smtp.test", **kwargs)
        controller.start()
        controllers.append(controller)
        table: dict[str, Any] = {
            "host": HOST,
            "port": port,
            "from": f"Moroccron <{SENDER}>",
            "security": security,
            "timeout": 5,
        }
        if security != "none":
            table.update(username=USER, password=PASSWORD, cafile=certificate.certfile)
        return Server(port, recorder, certificate.certfile if security != "none" else None, table)

    yield start_server
    for controller in controllers:
        controller.stop()


@pytest.fixture
def no_smtp(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make any SMTP connection attempt fail the test (and record it)."""
    attempts: list[str] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(repr(args))
        raise AssertionError(f"unexpected SMTP connection {args!r}")

    monkeypatch.setattr(smtplib, "SMTP", refuse)
    monkeypatch.setattr(smtplib, "SMTP_SSL", refuse)
    return attempts
