"""The bounds of moroccron/bounds.py, applied by the job model to every way a job is made:
one rejection per bound, each naming the field; stored rows from looser days still load;
and a property test that arbitrary JSON never raises anything but ValidationError."""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update

from moroccron import Job, bounds
from moroccron.api.chronos_schema import from_chronos
from moroccron.definitions import DefinitionError, load_definitions
from moroccron.errors import FieldError, ValidationError
from moroccron.model import (
    JOB_FIELDS,
    Constraint,
    Container,
    JobSpec,
    Owner,
    Resources,
    Volume,
    run_arguments,
    stored_data,
)
from moroccron.schedule import check_bounds, parse_schedule
from moroccron.store import Store
from moroccron.store.models import JobRow


def refused(**fields: Any) -> dict[str, FieldError]:
    with pytest.raises(ValidationError) as info:
        JobSpec.from_dict({"name": "a", "command": "true", **fields})
    return {e.field: e for e in info.value.errors}


# ----------------------------------------------------------------------------- numbers


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, 10**400])
@pytest.mark.parametrize(
    "field",
    ["retries", "retry_delay_seconds", "timeout_seconds", "starting_deadline_seconds", "disable_after_failures"],
)
def test_numbers_must_be_finite_and_in_range(field: str, value: Any) -> None:
    errors = refused(**{field: value})
    assert set(errors) == {field}
    assert errors[field].allowed


@pytest.mark.parametrize(
    ("field", "ok", "too_big"),
    [
        ("timeout_seconds", bounds.MAX_SECONDS, bounds.MAX_SECONDS + 1),
        ("starting_deadline_seconds", bounds.MAX_SECONDS, bounds.MAX_SECONDS + 0.5),
        ("retry_delay_seconds", bounds.MAX_SECONDS, 1e12),
        ("retries", bounds.MAX_RETRIES, bounds.MAX_RETRIES + 1),
        ("disable_after_failures", bounds.MAX_DISABLE_AFTER_FAILURES, bounds.MAX_DISABLE_AFTER_FAILURES + 1),
    ],
)
def test_durations_and_counts_stop_at_their_maximum(field: str, ok: float, too_big: float) -> None:
    assert getattr(Job(name="a", command="x", **{field: ok}), field) == ok
    errors = refused(**{field: too_big})
    assert errors[field].message == "out of range" and f"<= {ok:g}" in errors[field].allowed


def test_resources_stay_within_what_an_agent_could_offer() -> None:
    top = bounds.RESOURCE_LIMITS
    assert Resources(cpus=top["cpus"], mem=top["mem"], disk=top["disk"], gpus=top["gpus"]).gpus == 64.0
    for name in ("cpus", "mem", "disk", "gpus"):
        with pytest.raises(ValidationError) as info:
            Resources(**{name: top[name] * 2})
        assert info.value.errors[0].field == name
    with pytest.raises(ValidationError, match="must be an integer"):
        Resources(gpus=1.5)  # Mesos refuses a fraction of a GPU
    with pytest.raises(ValidationError, match="three decimal places"):
        Resources(cpus=0.0004)  # Mesos would round it to no cpus at all
    assert Resources(cpus=bounds.MIN_CPUS).cpus == bounds.MIN_CPUS


# ----------------------------------------------------------------------------- text


@pytest.mark.parametrize("name", ["nl-mail\n", "tab\tname", "x" * (bounds.NAME_MAX + 1), "a\x00", "é", "", "-lead"])
def test_names_are_whole_matches(name: str) -> None:
    assert "name" in refused(name=name)
    assert "parents[1]" in refused(parents=["ok", name])


def test_name_at_the_length_limit_is_fine() -> None:
    assert Job(name="x" * bounds.NAME_MAX, command="true").name == "x" * bounds.NAME_MAX


@pytest.mark.parametrize("target", ["email:a@b.c\n", "email:a@b.c\x00", "slack:#" + "x" * 600])
def test_notify_targets_are_whole_matches(target: str) -> None:
    assert "notify.on_failure[0]" in refused(notify={"on_failure": [target]})


@pytest.mark.parametrize("char", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800", "\udfff"])
def test_control_characters_and_lone_surrogates_are_refused_everywhere(char: str) -> None:
    text = f"x{char}y"
    fields = {
        "description": ({"description": text}, "description"),
        "command": ({"command": text}, "command"),
        "arguments": ({"arguments": [text]}, "arguments[0]"),
        "owners": ({"owners": [text]}, "owners[0]"),
        "uris": ({"uris": [text]}, "uris[0]"),
        "user": ({"user": text}, "user"),
        "env value": ({"env": {"A": text}}, "env.A"),
        "label value": ({"labels": {"k": text}}, "labels.k"),
        "label key": ({"labels": {text: "v"}}, "labels"),
        "schedule": ({"schedule": text}, "schedule"),
        "image": ({"container": {"image": text}}, "container.image"),
        "network": ({"container": {"network": text}}, "container.network"),
        "volume": ({"container": {"volumes": [{"container_path": text}]}}, "container.volumes[0].container_path"),
        "parameter": ({"container": {"parameters": {"k": text}}}, "container.parameters.k"),
        "constraint": ({"constraints": [["rack", "EQUALS", text]]}, "constraints[0].value"),
    }
    for what, (body, field) in fields.items():
        errors = refused(**body)
        assert field in errors, what
        assert f"U+{ord(char):04X}" in errors[field].message, what


def test_line_breaks_and_tabs_are_allowed_where_they_make_sense() -> None:
    job = Job(
        name="a",
        command="set -e\r\n\techo one\necho two\n",
        description="line 1\r\nline 2\ttab",
        env={"CERT": "-----BEGIN-----\nabc\n-----END-----\n"},
    )
    assert job.command.count("\n") == 3
    for body, field in (
        ({"labels": {"k": "a\nb"}}, "labels.k"),
        ({"arguments": ["a\tb"]}, "arguments[0]"),
        ({"owners": ["a@x\n"]}, "owners[0]"),
    ):
        assert field in refused(**body)


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("command", lambda n: {"command": "x" * n}, "command"),
        ("description", lambda n: {"description": "x" * n}, "description"),
        ("argument", lambda n: {"arguments": ["x" * n]}, "arguments[0]"),
        ("owner", lambda n: {"owners": ["x" * n]}, "owners[0]"),
        ("uri", lambda n: {"uris": ["x" * n]}, "uris[0]"),
        ("user", lambda n: {"user": "x" * n}, "user"),
        ("env_value", lambda n: {"env": {"A": "x" * n}}, "env.A"),
        ("labels_value", lambda n: {"labels": {"k": "x" * n}}, "labels.k"),
        ("labels_key", lambda n: {"labels": {"x" * n: "v"}}, "labels"),
        ("image", lambda n: {"container": {"image": "x" * n}}, "container.image"),
        (
            "path",
            lambda n: {"container": {"volumes": [{"container_path": "/" * n}]}},
            "container.volumes[0].container_path",
        ),
        ("constraint_value", lambda n: {"constraints": [["rack", "EQUALS", "x" * n]]}, "constraints[0].value"),
        ("notify_target", lambda n: {"notify": {"on_failure": ["email:" + "x" * n]}}, "notify.on_failure[0]"),
    ],
)
def test_every_text_field_has_a_length_limit(kind: str, body: Any, field: str) -> None:
    limit = bounds.TEXT_LIMITS[kind]
    errors = refused(**body(limit + 1))
    assert "too long" in errors[field].message and str(limit) in errors[field].allowed
    try:
        JobSpec.from_dict({"name": "a", "command": "true", **body(limit - 10)})
    except ValidationError as exc:  # at the limit, nothing about its length
        assert not any("too long" in e.message for e in exc.errors)


@pytest.mark.parametrize(
    ("kind", "body", "field"),
    [
        ("arguments", lambda n: {"arguments": ["x"] * n}, "arguments"),
        ("parents", lambda n: {"parents": [f"p{i}" for i in range(n)]}, "parents"),
        ("owners", lambda n: {"owners": [f"o{i}@x" for i in range(n)]}, "owners"),
        ("uris", lambda n: {"uris": [f"https://x/{i}" for i in range(n)]}, "uris"),
        ("constraints", lambda n: {"constraints": [["hostname", "UNIQUE"]] * n}, "constraints"),
        ("volumes", lambda n: {"container": {"volumes": [{"container_path": "/d"}] * n}}, "container.volumes"),
        (
            "parameters",
            lambda n: {"container": {"parameters": {f"k{i}": "v" for i in range(n)}}},
            "container.parameters",
        ),
        ("triggers", lambda n: {"triggers": {"on_success": [f"j{i}" for i in range(n)]}}, "triggers.on_success"),
        ("notify", lambda n: {"notify": {"on_failure": [f"email:{i}@x" for i in range(n)]}}, "notify.on_failure"),
        ("env", lambda n: {"env": {f"K{i}": "v" for i in range(n)}}, "env"),
        ("labels", lambda n: {"labels": {f"k{i}": "v" for i in range(n)}}, "labels"),
    ],
)
def test_every_list_has_a_length_limit(kind: str, body: Any, field: str) -> None:
    limit = bounds.LIST_LIMITS[kind]
    errors = refused(**body(limit + 1))
    assert errors[field].message == f"has {limit + 1} items, more than {limit}"
    assert len(errors) == 1, "the items of a list that is too long are not each reported"


def test_env_names_cannot_hold_an_equals_sign() -> None:
    assert refused(env={"A=B": "c"})["env"].value == "A=B"


# ----------------------------------------------------------------------------- schedules


@pytest.mark.parametrize(
    ("expr", "text"),
    [
        ("R99999999999999999999/2026-01-01T00:00:00Z/PT1S", "more than 1,000,000,000"),
        ("R1000000001/2026-01-01T00:00:00Z/PT1S", "more than 1,000,000,000"),
        ("*/99999999999999999999 * * * *", "step 99999999999999999999 in the minute field"),
        ("0 */25 * * *", "step 25 in the hour field"),
        ("0 0 1/32 * *", "day-of-month"),
        ("0 0 * */13 *", "month"),
        ("0 0 * * 1/8", "day-of-week"),
        ("*/61 * * * * *", "second"),
        ("@daily\n", "U+000A"),
        ("* * * * * " + "*" * 300, "too long"),
    ],
)
def test_schedule_bounds(expr: str, text: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_bounds(expr)
    assert info.value.errors[0].field == "schedule" and text in str(info.value)
    assert "schedule" in refused(schedule=expr)


@pytest.mark.parametrize(
    "expr",
    [
        "R1000000000/2026-01-01T00:00:00Z/PT1S",
        "*/60 * * * * *",
        "0 */24 * * *",
        "0 0 */31 * *",
        "0 0 * */12 *",
        "0 0 * * */7",
        "@hourly",
        "R/2026-01-01T00:00:00Z/P1D",
    ],
)
def test_schedules_at_the_bounds_are_fine(expr: str) -> None:
    check_bounds(expr)
    assert Job(name="a", command="x", schedule=expr).schedule == expr


def test_a_superscript_repetition_count_is_a_schedule_error_not_a_crash() -> None:
    with pytest.raises(ValidationError, match="not a whole number"):
        parse_schedule("R²/2026-01-01T00:00:00Z/PT1S")


def test_a_time_zone_with_a_final_newline_is_unknown() -> None:
    assert "timezone" in refused(timezone="UTC\n")
    assert "timezone" in refused(timezone="Europe/" + "x" * 100)


# ----------------------------------------------------------------------------- shapes


def test_missing_required_sub_fields_name_the_sub_field() -> None:
    assert {"constraints[0].field", "constraints[0].operator"} <= set(refused(constraints=[{}]))
    assert "container.volumes[0].container_path" in refused(container={"volumes": [{}]})
    with pytest.raises(ValidationError, match="is required"):
        Volume.from_dict({})
    with pytest.raises(ValidationError, match="operator: is required"):
        Constraint.from_dict({"field": "rack"})


def test_group_by_takes_ascii_digits() -> None:
    assert "constraints[0].value" in refused(constraints=[["rack", "GROUP_BY", "²"]])
    assert Job(name="a", command="x", constraints=[["rack", "GROUP_BY", "3"]]).constraints[0].value == "3"


def test_owner_fields_are_bounded() -> None:
    for kwargs, field in (
        ({"id": "o\x00@x"}, "id"),
        ({"id": "x" * 321}, "id"),
        ({"name": "n\n"}, "name"),
        ({"email": "a@x\x00"}, "email"),
        ({"slack": "#" + "x" * 300}, "slack"),
        ({"pagerduty": "p\x07"}, "pagerduty"),
        ({"preferences": {"failure": ["email"] * 17}}, "preferences.failure"),
    ):
        with pytest.raises(ValidationError) as info:
            Owner(**{"id": "ops@x", **kwargs})
        assert field in {e.field for e in info.value.errors}, kwargs
    assert Owner(id="ops@x", preferences={"failure": ["email", "email", "slack"]}).preferences["failure"] == (
        "email",
        "slack",
    )


def test_run_arguments_are_checked_like_a_jobs() -> None:
    assert run_arguments(["--date", "2026-01-01"]) == ("--date", "2026-01-01")
    for bad, field in (
        (["a\x00"], "arguments[0]"),
        (["x"] * 257, "arguments"),
        ("--x", "arguments"),
        ([1], "arguments[0]"),
    ):
        with pytest.raises(ValidationError) as info:
            run_arguments(bad)
        assert info.value.errors[0].field == field


def test_error_messages_do_not_echo_huge_values() -> None:
    with pytest.raises(ValidationError) as info:
        JobSpec.from_dict({"name": "a", "command": "true", "description": "x" * 100_000})
    assert len(str(info.value)) < 1000
    error = info.value.errors[0].as_dict()
    assert len(error["value"]) < 1100
    nan = FieldError("timeout_seconds", "must be a number", math.nan).as_dict()
    assert nan["value"] == "nan" and json.dumps(nan, allow_nan=False)
    surrogate = FieldError("x\ud800", "bad", "\udfff").as_dict()
    json.dumps(surrogate, ensure_ascii=False).encode("utf-8")  # encodable


# ----------------------------------------------------------------------------- every entry point


def test_job_modules_get_the_bounds_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "hostile.py"
    path.write_text(
        textwrap.dedent("""\
        from moroccron import Job

        ok = Job(name="fine", command="true")
        bad = Job(name="nl-mail\\n", command="true", timeout_seconds=1e12)
    """)
    )
    with pytest.raises(DefinitionError) as info:
        load_definitions([tmp_path])
    assert info.value.line == 4 and "timeout_seconds" in str(info.value) and "name" in str(info.value)


def test_the_chronos_mapping_gets_the_bounds_by_chronos_name() -> None:
    base = {"name": "a", "command": "true", "schedule": "R/2026-01-01T00:00:00Z/PT1H"}
    for extra, field in (
        ({"cpus": 1e308}, "cpus"),
        ({"scheduleTimeZone": "UTC\n"}, "scheduleTimeZone"),
        ({"environmentVariables": [{"name": "A", "value": "x\x00"}]}, "environmentVariables.A"),
        ({"runAsUser": "r\x00"}, "runAsUser"),
        ({"retries": "²"}, "retries"),
        ({"epsilon": "P40D"}, "epsilon"),
    ):
        with pytest.raises(ValidationError) as info:
            from_chronos({**base, **extra})
        assert field in {e.field for e in info.value.errors}, (extra, info.value)


# ----------------------------------------------------------------------------- stored data


def test_rows_stored_under_looser_rules_still_load(store: Store) -> None:
    """A job stored before these bounds (a 40-day timeout, a name ending in a newline)
    must not stop every listing, nor the scheduler loading its jobs."""
    store.put_job(Job(name="old", command="true", schedule="@daily"))
    stored = {
        **Job(name="old", command="true", schedule="@daily").to_dict(),
        "timeout_seconds": 40 * 86400.0,
        "description": "x" * 20_000,
        "schedule": "R99999999999999999999/2026-01-01T00:00:00Z/PT1H",
        "resources": {"cpus": 8192.0, "mem": 32.0, "disk": 0.0, "gpus": 0.5},
    }
    with store.engine.begin() as conn:
        conn.execute(update(JobRow).where(JobRow.name == "old").values(spec=stored))
    job = store.get_job("old")
    assert job.timeout_seconds == 40 * 86400 and job.resources.gpus == 0.5
    assert [j.name for j in store.all_jobs()] == ["old"]
    assert store.list_jobs()[1] == 1
    # A change is checked against today's bounds, naming what to fix.
    with pytest.raises(ValidationError) as info:
        JobSpec.from_dict({**job.to_dict(), "retries": 1})
    assert {"timeout_seconds", "description", "schedule", "resources.cpus", "resources.gpus"} <= {
        e.field for e in info.value.errors
    }


def test_a_job_stored_under_looser_rules_can_still_be_disabled(store: Store) -> None:
    """The scheduler disables a job after failures with evolve(); an old timeout must not
    make that fail, but a change past today's bounds still does."""
    with stored_data():
        old = JobSpec.from_dict({"name": "old", "command": "true", "timeout_seconds": 40 * 86400})
    assert old.evolve(disabled=True).disabled is True
    with pytest.raises(ValidationError, match="retries"):
        old.evolve(retries=1000)
    with pytest.raises(ValidationError, match="timeout_seconds"):
        old.evolve(timeout_seconds=50 * 86400)
    store.put_job(Job(name="old", command="true"))
    with store.engine.begin() as conn:
        conn.execute(update(JobRow).where(JobRow.name == "old").values(spec=old.to_dict()))
    assert store.set_disabled("old", True).disabled is True


def test_stored_data_still_checks_types() -> None:
    with stored_data():
        assert JobSpec.from_dict({"name": "nl\n", "command": "x", "timeout_seconds": 1e12}).name == "nl\n"
        with pytest.raises(ValidationError):
            JobSpec.from_dict({"name": "a", "command": "x", "timeout_seconds": "soon"})
    with pytest.raises(ValidationError):
        JobSpec.from_dict({"name": "nl\n", "command": "x"})


# ----------------------------------------------------------------------------- property


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)
_field = st.sampled_from([*JOB_FIELDS, "resources", "container", "constraints", "bogus"])
_sub = st.fixed_dictionaries(
    {},
    optional={
        "cpus": _json,
        "mem": _json,
        "gpus": _json,
        "type": st.sampled_from(["docker", "mesos"]) | _json,
        "image": _json,
        "volumes": st.lists(st.dictionaries(st.sampled_from(Volume.FIELDS), _json), max_size=2) | _json,
        "parameters": _json,
        "on_failure": _json,
        "on_success": _json,
    },
)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.dictionaries(_field, _json | _sub, max_size=10), named=st.booleans())
def test_from_dict_raises_only_validation_errors(data: dict[str, Any], named: bool) -> None:
    if named:
        data = {"name": "job", "command": "true", **data}
    try:
        job = JobSpec.from_dict(data)
    except ValidationError as exc:
        assert exc.errors and all(e.field is not None for e in exc.errors)
        json.dumps([e.as_dict() for e in exc.errors], allow_nan=False).encode("utf-8")
        str(exc)
        return
    assert JobSpec.from_dict(job.to_dict()) == job, "whatever is accepted survives a round trip"


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    data=st.dictionaries(
        st.sampled_from(
            [
                "name",
                "command",
                "schedule",
                "cpus",
                "mem",
                "retries",
                "epsilon",
                "owner",
                "parents",
                "container",
                "constraints",
                "environmentVariables",
                "moroccron",
                "scheduleTimeZone",
            ]
        ),
        _json,
        max_size=8,
    )
)
def test_the_chronos_mapping_raises_only_validation_errors(data: dict[str, Any]) -> None:
    try:
        from_chronos(data)
    except ValidationError as exc:
        json.dumps([e.as_dict() for e in exc.errors], allow_nan=False).encode("utf-8")


def test_container_defaults_survive() -> None:
    assert Job(name="a", command="x", container=Container()).container.type == "mesos"
