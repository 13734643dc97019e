"""The plugin's settings: defaults, environment overrides, and errors that name the
setting to fix; the password stays out of every error, log line and repr."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from email_support import PASSWORD, SENDER, USER, Certificate, email_settings

from moroccron.errors import ValidationError
from moroccron.hooks.manager import PluginError, PluginManager
from moroccron_email._settings import EmailSettings, is_address, read_settings

BASE = {"host": "smtp.example.com", "from": SENDER}


def errors(table: Any, environ: dict[str, str] | None = None) -> dict[str, str]:
    """field -> message of each problem ``read_settings`` reports."""
    with pytest.raises(ValidationError) as info:
        read_settings(table, environ or {})
    assert str(info.value).startswith("email plugin settings: ")
    return {e.field: e.message for e in info.value.errors}


# --------------------------------------------------------------------------- values


def test_defaults() -> None:
    assert read_settings(BASE, {}) == EmailSettings(
        host="smtp.example.com",
        port=587,
        sender_address=SENDER,
        sender_name="",
        security="starttls",
        timeout=10.0,
        username=None,
        password=None,
        cafile=None,
    )


@pytest.mark.parametrize(("security", "port"), [("starttls", 587), ("ssl", 465), ("none", 25), ("SSL", 465)])
def test_default_port_follows_security(security: str, port: int) -> None:
    settings = read_settings(BASE | {"security": security}, {})
    assert settings is not None
    assert (settings.security, settings.port) == (security.lower(), port)


def test_every_key_from_the_table(certificate: Certificate) -> None:
    table = {
        "host": "[2001:db8::25]",
        "port": 2525,
        "username": USER,
        "password": PASSWORD,
        "from": f"Moroccron Alerts <{SENDER}>",
        "security": "ssl",
        "timeout": 2.5,
        "cafile": certificate.certfile,
    }
    settings = read_settings(table, {})
    assert settings == EmailSettings(
        host="2001:db8::25",
        port=2525,
        sender_address=SENDER,
        sender_name="Moroccron Alerts",
        security="ssl",
        timeout=2.5,
        username=USER,
        password=PASSWORD,
        cafile=certificate.certfile,
    )
    assert settings.server == "[2001:db8::25]:2525"


def test_environment_overrides_the_table(certificate: Certificate) -> None:
    environ = {
        "MOROCCRON_SMTP_HOST": "mail.internal",
        "MOROCCRON_SMTP_PORT": "2465",
        "MOROCCRON_SMTP_USERNAME": "robot",
        "MOROCCRON_SMTP_PASSWORD": PASSWORD,
        "MOROCCRON_SMTP_FROM": "jobs@internal",
        "MOROCCRON_SMTP_SECURITY": "ssl",
        "MOROCCRON_SMTP_TIMEOUT": "3.5",
        "MOROCCRON_SMTP_CAFILE": certificate.certfile,
    }
    table = BASE | {"port": 25, "username": "someone", "password": "other", "security": "none", "timeout": 60}
    assert read_settings(table, environ) == EmailSettings(
        host="mail.internal",
        port=2465,
        sender_address="jobs@internal",
        security="ssl",
        timeout=3.5,
        username="robot",
        password=PASSWORD,
        cafile=certificate.certfile,
    )


def test_empty_environment_variables_count_as_unset() -> None:
    settings = read_settings(BASE | {"port": 2525}, {"MOROCCRON_SMTP_PORT": "", "MOROCCRON_SMTP_HOST": " "})
    assert settings is not None
    assert (settings.host, settings.port) == ("smtp.example.com", 2525)


def test_environment_alone_configures_email() -> None:
    settings = read_settings({}, {"MOROCCRON_SMTP_HOST": "smtp.example.com", "MOROCCRON_SMTP_FROM": SENDER})
    assert settings is not None and settings.server == "smtp.example.com:587"


@pytest.mark.parametrize("table", [{}, {"port": 25, "from": SENDER}, {"host": ""}])
def test_no_host_means_off(table: dict[str, Any]) -> None:
    assert read_settings(table, {}) is None


# --------------------------------------------------------------------------- errors


def test_errors_name_the_setting_in_the_config_file() -> None:
    assert errors(
        {
            "host": "smtp.example.com:587",
            "port": 70000,
            "security": "tls",
            "timeout": 0,
            "from": "not an address",
            "hots": "x",
        }
    ) == {
        "plugins.email.hots": "unknown setting",
        "plugins.email.host": "includes a port",
        "plugins.email.security": "unknown security mode",
        "plugins.email.port": "is out of range",
        "plugins.email.timeout": "must be more than 0 seconds",
        "plugins.email.from": "is not an email address",
    }


def test_errors_name_the_environment_variable() -> None:
    environ = {"MOROCCRON_SMTP_PORT": "smtp", "MOROCCRON_SMTP_TIMEOUT": "soon", "MOROCCRON_SMTP_SECURITY": "tls"}
    assert errors(BASE | {"port": 25}, environ) == {
        "MOROCCRON_SMTP_PORT": "is not a whole number",
        "MOROCCRON_SMTP_TIMEOUT": "is not a number",
        "MOROCCRON_SMTP_SECURITY": "unknown security mode",
    }


@pytest.mark.parametrize(
    ("table", "field", "message"),
    [
        ({"host": "smtp.example.com"}, "plugins.email.from", "is required when a host is set"),
        (BASE | {"port": True}, "plugins.email.port", "is not a whole number"),
        (BASE | {"port": 25.5}, "plugins.email.port", "is not a whole number"),
        (BASE | {"port": 0}, "plugins.email.port", "is out of range"),
        (BASE | {"port": float("inf")}, "plugins.email.port", "is not a whole number"),
        (BASE | {"timeout": float("nan")}, "plugins.email.timeout", "must be more than 0 seconds"),
        (BASE | {"timeout": "10s"}, "plugins.email.timeout", "is not a number"),
        (BASE | {"host": 25}, "plugins.email.host", "must be text"),
        (BASE | {"host": "smtp example.com"}, "plugins.email.host", "is not a host name or address"),
        (
            BASE | {"from": "moroccron@example.com\r\nBcc: x@example.com"},
            "plugins.email.from",
            "is not an email address",
        ),
        (BASE | {"username": USER}, "plugins.email.password", "is required when a username is set"),
        (BASE | {"password": PASSWORD}, "plugins.email.username", "is required when a password is set"),
        (BASE | {"username": "", "password": PASSWORD}, "plugins.email.username", "is required when a password is set"),
        (BASE | {"username": USER, "password": ""}, "plugins.email.password", "is required when a username is set"),
        (
            BASE | {"username": USER, "password": PASSWORD, "security": "none"},
            "plugins.email.username",
            "would send the password unencrypted (security is none)",
        ),
    ],
)
def test_one_error(table: dict[str, Any], field: str, message: str) -> None:
    assert errors(table) == {field: message}


def test_cafile_must_load(tmp_path: Any) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    for path in (str(tmp_path / "missing.pem"), str(not_pem)):
        [(field, message)] = errors(BASE | {"cafile": path}).items()
        assert field == "plugins.email.cafile" and message.startswith("cannot be loaded (")


def test_unknown_keys_are_refused_even_without_host() -> None:
    """A misspelt ``host`` must not switch email off without a word."""
    assert errors({"hostname": "smtp.example.com", "from": SENDER}) == {"plugins.email.hostname": "unknown setting"}


def test_table_must_be_a_table() -> None:
    assert errors("smtp.example.com") == {"plugins.email": "must be a table"}


def test_startup_stops_on_bad_settings() -> None:
    """Through the manager, as the service starts: the plugin is named, and the cause
    carries the field."""
    pm = PluginManager(load_entrypoints=False)
    from moroccron_email import plugin

    pm.register(plugin, name="email")
    with pytest.raises(PluginError) as info:
        pm.startup(config=email_settings(**BASE, port="smtp"), store=None)  # type: ignore[arg-type]
    assert info.value.plugin == "email" and info.value.hook == "moroccron_startup"
    cause = info.value.__cause__
    assert isinstance(cause, ValidationError)
    assert [e.field for e in cause.errors] == ["plugins.email.port"]


# --------------------------------------------------------------------------- the password


def test_password_is_never_shown(
    pm: PluginManager, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = read_settings(BASE | {"username": USER, "password": PASSWORD}, {})
    assert settings is not None
    assert PASSWORD not in repr(settings) and PASSWORD not in settings.describe()
    # A password of the wrong kind is reported without its value.
    with pytest.raises(ValidationError) as info:
        read_settings(BASE | {"username": USER, "password": 12345678}, {})
    assert "12345678" not in str(info.value)
    assert [(e.field, e.value) for e in info.value.errors] == [("plugins.email.password", "(hidden)")]
    # The start-up log says how email is sent, not with what password.
    monkeypatch.setenv("MOROCCRON_SMTP_PASSWORD", PASSWORD)
    with caplog.at_level(logging.DEBUG):
        pm.startup(config=email_settings(**BASE, username=USER), store=None)  # type: ignore[arg-type]
    assert caplog.messages == [
        "email notifications via smtp.example.com:587 (starttls, login as 'ops', "
        "timeout 10 s), from moroccron@example.com"
    ]
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("ops@example.com", True),
        ("first.last+tag@sub.example.co.uk", True),
        ("ops@localhost", True),
        ("", False),
        ("ops", False),
        ("@example.com", False),
        ("ops@", False),
        ("a b@example.com", False),
        ("<ops@example.com>", False),
        ("ops@example.com, x@example.com", False),
        ("ops@example.com\n", False),
        ("josé@example.com", False),
        ("ops@bücher.example", False),
        ("ops@xn--bcher-kva.example", True),
    ],
)
def test_is_address(text: str, ok: bool) -> None:
    assert is_address(text) is ok
