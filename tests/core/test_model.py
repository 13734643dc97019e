from datetime import UTC, datetime

import pytest

from moroccron import Job, Resources
from moroccron.errors import ValidationError
from moroccron.model import (
    Constraint,
    Container,
    JobSpec,
    Owner,
    Run,
    RunState,
    parse_task_id,
    task_id_for,
)


def errors_of(exc: ValidationError) -> dict[str, str]:
    return {e.field: e.message for e in exc.errors}


def test_defaults_are_what_a_user_expects():
    job = Job(name="hello", command="echo hi", schedule="* * * * *")
    assert job.concurrency == "forbid"
    assert job.retries == 0
    assert job.catchup == "latest"
    assert job.timezone == "UTC"
    assert job.resources == Resources(cpus=0.1, mem=32.0, disk=0.0, gpus=0.0)
    assert job.shell is True and job.disabled is False


def test_lists_become_tuples_and_mappings_read_only():
    job = Job(name="a", command="x", owners=["o@x"], env={"A": "1"}, labels={"team": "sre"})
    assert job.owners == ("o@x",)
    with pytest.raises(TypeError):
        job.env["B"] = "2"  # type: ignore[index]
    with pytest.raises(AttributeError):
        job.name = "b"  # type: ignore[misc]


def test_every_error_is_reported_at_once_with_field_value_and_allowed():
    with pytest.raises(ValidationError) as info:
        JobSpec(
            name="bad name!",
            command="x",
            concurrency="sometimes",
            retries=-1,
            resources={"cpus": "lots"},
            catchup="never",
            timezone="Mars/Olympus",
        )
    errs = {e.field: e for e in info.value.errors}
    assert set(errs) >= {"name", "concurrency", "retries", "resources.cpus", "catchup", "timezone"}
    assert errs["concurrency"].value == "sometimes"
    assert errs["concurrency"].allowed == "forbid | allow | replace"
    assert errs["retries"].allowed.startswith("an integer >= 0")
    assert "job 'bad name!'" in str(info.value)


def test_bad_schedule_names_the_field_and_what_is_allowed():
    with pytest.raises(ValidationError) as info:
        Job(name="a", command="x", schedule="61 * * * *")
    err = info.value.errors[0]
    assert err.field == "schedule"
    assert err.value == "61 * * * *"
    assert err.allowed


def test_command_or_image_is_required():
    with pytest.raises(ValidationError) as info:
        Job(name="a")
    assert "command" in errors_of(info.value)
    job = Job(name="a", container={"type": "docker", "image": "busybox:1.36"})
    assert job.container == Container(type="docker", image="busybox:1.36")


def test_docker_needs_image_and_volume_modes_checked():
    with pytest.raises(ValidationError) as info:
        Job(name="a", command="x", container={"type": "docker", "volumes": [{"container_path": "/d", "mode": "XX"}]})
    fields = errors_of(info.value)
    assert "container.image" in fields
    assert "container.volumes[0].mode" in fields


def test_self_parent_and_duplicate_parents_rejected():
    with pytest.raises(ValidationError) as info:
        Job(name="a", command="x", parents=["a", "b", "b"])
    msgs = errors_of(info.value)
    assert "own parent" in msgs["parents"] or "more than once" in msgs["parents"]
    assert len(info.value.errors) == 2


def test_constraints_accept_chronos_list_form_and_check_operators():
    job = Job(
        name="a", command="x", constraints=[["rack", "EQUALS", "r1"], {"field": "hostname", "operator": "UNIQUE"}]
    )
    assert job.constraints == (Constraint("rack", "EQUALS", "r1"), Constraint("hostname", "UNIQUE"))
    with pytest.raises(ValidationError) as info:
        Job(name="a", command="x", constraints=[["rack", "NEAR", "r1"], ["zone", "LIKE", "(unclosed"]])
    fields = errors_of(info.value)
    assert "constraints[0].operator" in fields
    assert "regular expression" in fields["constraints[1].value"]


def test_notify_targets_and_unknown_fields():
    with pytest.raises(ValidationError) as info:
        JobSpec.from_dict({"name": "a", "command": "x", "notify": {"on_failure": ["sms:123"]}, "colour": "red"})
    fields = errors_of(info.value)
    assert fields == {"colour": "unknown field"}
    with pytest.raises(ValidationError) as info:
        JobSpec.from_dict({"name": "a", "command": "x", "notify": {"on_failure": ["sms:123"]}})
    assert "notify.on_failure[0]" in errors_of(info.value)


def test_round_trip_through_dict():
    job = Job(
        name="etl",
        command="run.sh",
        schedule="0 2 * * *",
        timezone="Europe/London",
        parents=[],
        owners=["a@x"],
        resources=Resources(cpus=2, mem=1024),
        container=Container(
            type="docker", image="python:3.11", volumes=[{"container_path": "/data", "host_path": "/srv/data"}]
        ),
        constraints=[["rack", "LIKE", "r[12]"]],
        env={"A": "1"},
        retries=3,
        timeout_seconds=60,
        triggers={"on_failure": ["cleanup"]},
        notify={"on_failure": ["slack:#ops"]},
        labels={"t": "x"},
    )
    again = JobSpec.from_dict(job.to_dict())
    assert again == job
    assert again.to_dict() == job.to_dict()


def test_evolve_revalidates():
    job = Job(name="a", command="x")
    assert job.evolve(retries=2).retries == 2
    with pytest.raises(ValidationError):
        job.evolve(retries=1000)


def test_task_id_is_deterministic_and_parses_back():
    at = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    tid = task_id_for("etl.daily-load", at, 2)
    assert tid == "etl.daily-load.1767323045.2"
    assert parse_task_id(tid) == ("etl.daily-load", 1767323045, 2)
    run = Run(job="etl.daily-load", scheduled_at=at, attempt=2, launched_at=at.replace(second=6))
    assert run.task_id == tid
    assert run.skew == 1.0
    assert RunState.SUCCEEDED.final and not RunState.RUNNING.final and RunState.RUNNING.live


def test_owner_defaults_and_preferences():
    owner = Owner(id="ops@example.com", preferences={"failure": []})
    assert owner.email == "ops@example.com"
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert not owner.wants("failure", "email", now)
    assert owner.wants("recovery", "email", now)
    muted = Owner(id="x@y", mute_until=datetime(2026, 2, 1, tzinfo=UTC))
    assert not muted.wants("failure", "email", now)
    with pytest.raises(ValidationError) as info:
        Owner(id="x@y", preferences={"failure": ["carrier-pigeon"], "birthday": ["email"]})
    assert {e.field for e in info.value.errors} == {"preferences.failure", "preferences.birthday"}
