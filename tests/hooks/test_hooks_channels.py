"""``moroccron_notify_channels``: plugins register channels, and targets, owners' contacts
and preferences are checked against the registered ones."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from moroccron import channels
from moroccron.channels import NotifyChannel
from moroccron.errors import ValidationError
from moroccron.hooks import hookimpl
from moroccron.hooks.manager import PluginError, PluginManager
from moroccron.model import Owner

from . import factories as f
from .plugins.opsgenie import Opsgenie


@pytest.fixture(autouse=True)
def _channels_of_this_test(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Channels registered here do not outlive the test."""
    monkeypatch.setattr(channels, "_registry", dict(channels._registry))
    yield


def errors_of(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, tuple[str, str | None]]:
    return {e.field: (e.message, e.allowed) for e in exc.value.errors}


def test_hook_moroccron_notify_channels(pm: PluginManager) -> None:
    assert list(pm.notify_channels()) == ["email", "webhook"]  # the builtin plugin's
    assert "opsgenie" not in channels.names()
    with pytest.raises(ValidationError) as exc:
        f.job(notify={"on_failure": ["opsgenie:team-data"]})
    message, allowed = errors_of(exc)["notify.on_failure[0]"]
    assert "unknown channel 'opsgenie'" in message
    assert allowed is not None and "'email:ops@example.com'" in allowed and "'webhook:NAME'" in allowed

    pm.register(Opsgenie(), "opsgenie")

    assert list(pm.notify_channels()) == ["email", "webhook", "opsgenie"]
    assert pm.notify_channels()["opsgenie"] is Opsgenie.CHANNEL
    assert channels.names()[-1] == "opsgenie"
    job = f.job(notify={"on_failure": ["opsgenie:team-data", "slack:#etl"]})
    assert job.notify.on_failure == ("opsgenie:team-data", "slack:#etl")
    with pytest.raises(ValidationError) as exc:
        f.job(notify={"on_failure": ["opsgenie:team_data!", "teams:general"]})
    errors = errors_of(exc)
    assert errors["notify.on_failure[0]"][0] == (
        "is not a notification target: opsgenie address is not an "
        "Opsgenie team (letters, digits and '-', e.g. team-data)"
    )
    message, allowed = errors["notify.on_failure[1]"]
    assert message == (
        "is not a notification target: unknown channel 'teams'; registered: email, slack, pagerduty, webhook, opsgenie"
    )
    assert allowed is not None and allowed.endswith("'opsgenie:team-data'")


def test_owners_contacts_and_preferences_use_the_registered_channels(pm: PluginManager) -> None:
    with pytest.raises(ValidationError) as exc:
        Owner(id="a@example.com", contacts={"opsgenie": "team-data"}, preferences={"failure": ["opsgenie"]})
    errors = errors_of(exc)
    assert errors["contacts.opsgenie"][0] == "unknown channel"
    assert errors["preferences.failure"] == ("unknown channel", "email | slack | pagerduty | webhook")

    pm.register(Opsgenie(), "opsgenie")
    owner = Owner(
        id="a@example.com",
        contacts={"opsgenie": " Team-Data "},
        slack="#a",
        preferences={"failure": ["opsgenie", "email"]},
    )
    assert dict(owner.contacts) == {"opsgenie": "team-data", "slack": "#a"}  # normalised by the channel
    assert owner.address("opsgenie") == "team-data" and owner.address("email") == "a@example.com"
    assert owner.to_dict()["contacts"] == {"opsgenie": "team-data", "slack": "#a"} and owner.slack == "#a"
    with pytest.raises(ValidationError) as exc:
        Owner(id="a@example.com", contacts={"opsgenie": "no spaces please", "slack": ""})
    errors = errors_of(exc)
    assert errors["contacts.opsgenie"] == (
        "is not an Opsgenie team (letters, digits and '-', e.g. team-data)",
        "an Opsgenie team",
    )
    assert errors["contacts.slack"][0] == "must be a non-empty string or null"


def test_a_channel_a_stored_definition_names_loads_without_its_plugin() -> None:
    from moroccron.model import stored_data

    with stored_data():
        job = f.job(notify={"on_failure": ["opsgenie:team-data"]})
        owner = Owner(id="a@example.com", contacts={"opsgenie": "team-data"}, preferences={"failure": ["opsgenie"]})
    assert job.notify.on_failure == ("opsgenie:team-data",)
    assert owner.address("opsgenie") == "team-data"


class Junk:
    @hookimpl
    def moroccron_notify_channels(self) -> list[object]:
        return ["opsgenie"]


class Raises:
    @hookimpl
    def moroccron_notify_channels(self) -> list[NotifyChannel]:
        raise RuntimeError("no channels today")


def test_a_plugin_that_registers_nonsense_or_a_taken_name_is_refused(pm: PluginManager) -> None:
    with pytest.raises(PluginError, match=r"plugin 'junk', moroccron_notify_channels: returned 'opsgenie'"):
        pm.register(Junk(), "junk")
    with pytest.raises(PluginError, match=r"plugin 'raises', moroccron_notify_channels: raised RuntimeError"):
        pm.register(Raises(), "raises")
    pm.register(Opsgenie(), "opsgenie")
    with pytest.raises(PluginError, match=r"channel 'opsgenie' is already registered by plugin 'opsgenie'"):
        pm.register(Opsgenie(), "opsgenie-again")
    assert [p.name for p in pm.list_plugins()][-1] == "opsgenie"  # the refused ones are not left registered
    with pytest.raises(ValueError, match="lower case letters"):
        NotifyChannel("Ops Genie", str)


def test_the_slack_and_pagerduty_plugins_register_their_channels() -> None:
    pm = PluginManager()  # entry points: the installed slack and pagerduty distributions
    registered = pm.notify_channels()
    assert {"email", "webhook", "slack", "pagerduty"} <= set(registered)
    assert registered["slack"].example == "#CHANNEL" and registered["pagerduty"].example == "SERVICE"
    assert {p.name for p in pm.list_plugins() if "moroccron_notify_channels" in p.hooks} >= {
        "builtin",
        "slack",
        "pagerduty",
    }
