"""The settings for framework trouble and readiness: admin_contacts, ready_step_seconds."""

import pytest

from moroccron.config import load_settings
from moroccron.errors import ValidationError


def test_admin_contacts_from_the_file_and_the_environment(tmp_path):
    cfg = tmp_path / "m.toml"
    cfg.write_text(
        'admin_contacts = ["email:mesos@example.com", "webhook:ops"]\n[webhooks]\nops = "https://h.example.com/x"\n'
    )
    s = load_settings({}, environ={}, config_file=cfg)
    assert s.admin_contacts == ("email:mesos@example.com", "webhook:ops")
    s = load_settings({}, environ={"MOROCCRON_ADMIN_CONTACTS": "slack:#mesos, pagerduty:platform"})
    assert s.admin_contacts == ("slack:#mesos", "pagerduty:platform")
    assert s.ready_step_seconds == 120.0


def test_a_contact_that_is_not_a_target_is_refused_by_name():
    with pytest.raises(ValidationError) as info:
        load_settings({}, environ={"MOROCCRON_ADMIN_CONTACTS": "ops@example.com,slack:#ok"})
    [error] = info.value.errors
    assert error.field == "admin_contacts[0]" and error.value == "ops@example.com"
    assert "email:ADDRESS" in error.allowed


def test_a_webhook_contact_needs_its_url():
    with pytest.raises(ValidationError) as info:
        load_settings({}, environ={"MOROCCRON_ADMIN_CONTACTS": "webhook:ops"})
    [error] = info.value.errors
    assert error.field == "admin_contacts[0]" and "[webhooks]" in error.message and "none defined" in error.allowed


def test_ready_step_seconds_below_the_idle_step_interval_is_refused():
    with pytest.raises(ValidationError) as info:
        load_settings({}, environ={"MOROCCRON_READY_STEP_SECONDS": "5"})
    [error] = info.value.errors
    assert error.field == "ready_step_seconds" and error.value == 5.0 and ">= 60" in error.allowed
    assert load_settings({}, environ={"MOROCCRON_READY_STEP_SECONDS": "90"}).ready_step_seconds == 90.0
