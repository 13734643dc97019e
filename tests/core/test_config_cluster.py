"""Settings for a real Mesos cluster: roles, the framework's user, TLS, the web UI address.
Each mistake is refused at start-up naming the setting, not at the first launch."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from moroccron.config import Settings, load_settings
from moroccron.errors import ValidationError


def refused(env: dict[str, str]) -> tuple[str, str]:
    with pytest.raises(ValidationError) as info:
        load_settings({}, environ=env)
    error = info.value.errors[0]
    return error.field, error.message


def test_defaults_keep_the_single_role_and_root() -> None:
    s = load_settings({}, environ={})
    assert s.framework_roles == ("*",) and s.default_role == "*"
    assert s.framework_user == "root" and not s.mesos_uses_tls


def test_roles_and_the_default_role() -> None:
    s = load_settings({}, environ={"MOROCCRON_ROLES": "etl, adhoc"})
    assert s.framework_roles == ("etl", "adhoc") and s.default_role == "etl"  # role left at '*': the first
    s = load_settings({}, environ={"MOROCCRON_ROLES": "etl,adhoc", "MOROCCRON_ROLE": "adhoc"})
    assert s.default_role == "adhoc"
    s = load_settings({}, environ={"MOROCCRON_ROLE": "batch/nightly"})
    assert s.framework_roles == ("batch/nightly",) and s.default_role == "batch/nightly"


@pytest.mark.parametrize(
    ("env", "field", "text"),
    [
        ({"MOROCCRON_ROLES": "etl,adhoc", "MOROCCRON_ROLE": "ops"}, "role", "is not one of roles"),
        ({"MOROCCRON_ROLES": "etl,etl"}, "roles", "more than once"),
        ({"MOROCCRON_ROLES": "etl,-bad"}, "roles", "starting with '-'"),
        ({"MOROCCRON_ROLE": "a//b"}, "role", "empty component"),
        ({"MOROCCRON_ROLE": "a/../b"}, "role", "'..'"),
        ({"MOROCCRON_ROLE": "has space"}, "role", "whitespace"),
        ({"MOROCCRON_FRAMEWORK_USER": " "}, "framework_user", "is empty"),
    ],
)
def test_roles_and_users_a_master_refuses(env: dict[str, str], field: str, text: str) -> None:
    got_field, message = refused(env)
    assert got_field == field and text in message


def test_tls_settings(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    s = load_settings({}, environ={"MOROCCRON_MASTER": "zk://zk1:2181/mesos", "MOROCCRON_MESOS_CA_FILE": str(ca)})
    assert s.mesos_uses_tls and s.mesos_ca_file == str(ca)
    assert load_settings({}, environ={"MOROCCRON_MASTER": "https://m1:5050"}).mesos_uses_tls
    assert load_settings({}, environ={"MOROCCRON_MASTER": "m1:5050", "MOROCCRON_MESOS_TLS": "true"}).mesos_uses_tls
    assert (
        refused({"MOROCCRON_MASTER": "m1:5050", "MOROCCRON_MESOS_CA_FILE": str(tmp_path / "missing.pem")})[0]
        == "mesos_ca_file"
    )
    assert refused({"MOROCCRON_MASTER": "m1:5050", "MOROCCRON_MESOS_CLIENT_KEY": str(ca)}) == (
        "mesos_client_key",
        "needs mesos_client_cert",
    )
    field, message = refused({"MOROCCRON_MASTER": "http://m1:5050", "MOROCCRON_MESOS_TLS": "1"})
    assert field == "master" and "says http" in message
    field, message = refused({"MOROCCRON_MESOS_TLS": "1"})  # master = local
    assert field == "master" and "plain http" in message


def test_the_web_ui_address_is_never_a_wildcard() -> None:
    assert Settings(bind="0.0.0.0:4400").ui_url == f"http://{socket.getfqdn()}:4400"
    assert Settings(bind="127.0.0.1:4400").ui_url == "http://127.0.0.1:4400"
    assert Settings(bind="0.0.0.0:4400", public_url="https://cron.example.com/").ui_url == "https://cron.example.com"
