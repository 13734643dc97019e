"""Chronos job hashes <-> native jobs: lossless round trips, Chronos samples, error names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from moroccron.api.chronos_schema import (
    EXTENSION_FIELDS,
    KNOWN_FIELDS,
    chronos_field,
    chronos_time,
    format_duration,
    from_chronos,
    parse_duration,
    to_chronos,
)
from moroccron.errors import ValidationError
from moroccron.model import Constraint, Container, JobSpec, Notify, Resources, Triggers, Volume
from moroccron.store.stats import JobStats

NOW = datetime(2026, 3, 1, 12, 0, 30, 250000, tzinfo=UTC)


def rich_job(**changes: object) -> JobSpec:
    """A job using every native field, most with non-default values."""
    job = JobSpec(
        name="etl.daily-load_2",
        command="/opt/etl/run.sh",
        shell=False,
        arguments=("--date", "yesterday"),
        schedule="R/2026-01-01T02:00:00Z/P1D",
        timezone="Europe/Paris",
        owners=("data@example.com", "oncall@example.com"),
        description="Loads yesterday's events",
        resources=Resources(cpus=1.5, mem=2048, disk=512),  # no GPUs: Docker gives a task none
        container=Container(
            type="docker",
            image="busybox:1.36",
            force_pull=True,
            network="BRIDGE",
            volumes=(Volume("/data", "/mnt/data", "RW"), Volume("/cache", "/var/cache/etl")),
            parameters={"add-host": "db:10.0.0.5", "ulimit": "nofile=4096"},
        ),
        constraints=(
            Constraint("rack", "EQUALS", "r1"),
            Constraint("hostname", "UNIQUE"),
            Constraint("zone", "GROUP_BY", "3"),
            Constraint("os", "LIKE", "linux-.*"),
        ),
        env={"JVMOPTS": "-Xmx1000m", "MODE": "full"},
        uris=("https://example.com/etl.tgz", "https://example.com/conf.json"),
        user="etl",
        retries=3,
        retry_delay_seconds=30.0,
        timeout_seconds=5400.0,
        concurrency="replace",
        starting_deadline_seconds=900.5,
        catchup="all",
        soft_error=True,
        disabled=True,
        triggers=Triggers(on_success=("report",), on_failure=("cleanup",)),
        notify=Notify(
            on_failure=("slack:#data",), on_success=("email:boss@example.com",), on_recovery=("pagerduty:etl",)
        ),
        labels={"team": "data", "tier": "1"},
        disable_after_failures=5,
    )
    return job.evolve(**changes) if changes else job


@pytest.mark.parametrize(
    "job",
    [
        rich_job(),
        rich_job(schedule=None, parents=("extract", "transform"), concurrency="allow"),
        rich_job(schedule="*/5 * * * *", concurrency="forbid", container=None, starting_deadline_seconds=None),
        rich_job(schedule=None, container=Container(type="mesos"), command="make report", shell=True, arguments=()),
        rich_job(
            container=Container(type="mesos", image="alpine:3"),
            command=None,
            shell=False,
            arguments=(),
            resources=Resources(cpus=1.5, mem=2048, disk=512, gpus=2),
        ),
        rich_job(owners=("team,with,commas", "x@example.com")),
        rich_job(starting_deadline_seconds=0.0, timeout_seconds=None, disable_after_failures=None, user=None),
        JobSpec(name="minimal", command="true"),
    ],
    ids=["scheduled", "dependent", "cron", "manual-mesos", "mesos-image", "comma-owner", "zero-deadline", "minimal"],
)
def test_native_to_chronos_to_native_is_lossless(job: JobSpec) -> None:
    hash_ = to_chronos(job)
    back = from_chronos(hash_, now=NOW, current=job, default_user="")
    # What Chronos would return differently (its defaults) is kept aside, in chronos_extra.
    assert back.job.evolve(chronos_extra={}) == job
    assert to_chronos(back.job) == hash_
    assert back.ignored == ()


def test_chronos_hash_shape_of_a_rich_job() -> None:
    """What a Chronos client reads: Chronos names and types, native-only fields apart."""
    stats = JobStats(
        success_count=190,
        failure_count=5,
        final_failure_count=3,
        consecutive_failures=1,
        last_success_at=datetime(2014, 3, 8, 16, 57, 17, 507000, tzinfo=UTC),
        last_failure_at=datetime(2014, 3, 9, 0, 10, 15, tzinfo=UTC),
    )
    out = to_chronos(rich_job(), stats, {"data@example.com": "Data Team"})
    assert out["schedule"] == "R/2026-01-01T02:00:00Z/P1D" and "parents" not in out
    assert out["scheduleTimeZone"] == "Europe/Paris"
    assert out["owner"] == "data@example.com,oncall@example.com" and out["ownerName"] == "Data Team"
    assert (out["cpus"], out["mem"], out["disk"], out["gpus"]) == (1.5, 2048.0, 512.0, 0.0)
    assert out["epsilon"] == "PT15M0.5S" and out["runAsUser"] == "etl"
    assert out["concurrent"] is False and out["softError"] is True and out["disabled"] is True
    assert out["environmentVariables"] == [{"name": "JVMOPTS", "value": "-Xmx1000m"}, {"name": "MODE", "value": "full"}]
    assert out["fetch"] == []  # as Chronos wrote it: plain uris are not repeated as fetch entries
    assert out["constraints"] == [
        ["rack", "EQUALS", "r1"],
        ["hostname", "UNIQUE"],
        ["zone", "GROUP_BY", "3"],
        ["os", "LIKE", "linux-.*"],
    ]
    assert out["container"] == {
        "type": "DOCKER",
        "image": "busybox:1.36",
        "network": "BRIDGE",
        "networkInfos": [],
        "forcePullImage": True,
        "volumes": [
            {"containerPath": "/data", "hostPath": "/mnt/data", "mode": "RW"},
            {"containerPath": "/cache", "hostPath": "/var/cache/etl", "mode": "RO"},
        ],
        "parameters": [{"key": "add-host", "value": "db:10.0.0.5"}, {"key": "ulimit", "value": "nofile=4096"}],
    }
    assert (out["successCount"], out["errorCount"], out["errorsSinceLastSuccess"]) == (190, 3, 1)
    assert out["lastSuccess"] == "2014-03-08T16:57:17.507Z" and out["lastError"] == "2014-03-09T00:10:15.000Z"
    assert out["moroccron"]["concurrency"] == "replace" and out["moroccron"]["labels"] == {"team": "data", "tier": "1"}
    assert set(out["moroccron"]) <= set(EXTENSION_FIELDS) and "owners" not in out["moroccron"]
    assert set(out) <= KNOWN_FIELDS


def test_dependent_and_manual_jobs_carry_only_their_own_key() -> None:
    dependent = to_chronos(JobSpec(name="b", command="x", parents=("a",)))
    assert dependent["parents"] == ["a"] and "schedule" not in dependent
    manual = to_chronos(JobSpec(name="m", command="x"))
    assert "parents" not in manual and "schedule" not in manual and "epsilon" not in manual


# --------------------------------------------------------------------------- Chronos samples


def test_chronos_scheduled_sample() -> None:
    """The scheduled-job example of the Chronos docs: Chronos defaults apply; its start is
    long past, so it runs now and then 9 more times, from the next time on its series."""
    got = from_chronos(
        {
            "schedule": "R10/2012-10-01T05:52:00Z/PT2S",
            "name": "SAMPLE_JOB1",
            "epsilon": "PT15M",
            "command": "echo 'FOO' >> /tmp/JOB1_OUT",
            "owner": "bob@example.com",
            "async": False,
        },
        now=NOW + timedelta(microseconds=1),
    )
    job = got.job
    assert job.schedule == "R9/2026-03-01T12:00:32Z/PT2S" and job.timezone == "UTC" and got.run_now
    assert job.starting_deadline_seconds == 900 and job.owners == ("bob@example.com",)
    assert job.retries == 2  # Chronos's default, not moroccron's 0
    assert job.shell is True and job.concurrency == "forbid" and job.user == "root"
    assert job.resources == Resources(cpus=0.1, mem=128, disk=256)  # Chronos' defaults, not the native ones
    assert got.ignored == ()


def test_chronos_dependent_sample_with_read_only_stats() -> None:
    """A job hash as Chronos listed it, sent back: statistics are dropped without a word,
    async=true makes an async job."""
    got = from_chronos(
        {
            "async": True,
            "command": "bash -x /srv/jobs/hive_query.bash run_hive earnings",
            "epsilon": "PT30M",
            "errorCount": 0,
            "lastError": "",
            "lastSuccess": "2013-03-15T13:02:14.243Z",
            "name": "earnings_summary",
            "owner": "bob@example.com, alice@example.com",
            "parents": ["export-hostings", "export-reservations"],
            "retries": 2,
            "successCount": 100,
            "errorsSinceLastSuccess": 0,
        }
    )
    assert got.job.parents == ("export-hostings", "export-reservations") and got.job.schedule is None
    assert got.job.owners == ("bob@example.com", "alice@example.com")
    assert got.job.starting_deadline_seconds == 1800
    assert got.ignored == () and got.job.async_completion


def test_chronos_docker_sample_with_string_numbers() -> None:
    """The Docker example of the Chronos docs sends cpus and mem as strings."""
    got = from_chronos(
        {
            "schedule": "R/2014-09-25T17:22:00Z/PT2M",
            "name": "dockerjob",
            "container": {
                "type": "DOCKER",
                "image": "libmesos/ubuntu",
                "network": "BRIDGE",
                "forcePullImage": "true",
                "volumes": [{"containerPath": "/var/log/", "hostPath": "/logs/", "mode": "rw"}],
                "parameters": [{"key": "a-docker-option", "value": "xxx"}],
            },
            "cpus": "0.5",
            "mem": "512",
            "fetch": [],
            "command": "while sleep 10; do date -u +%T; done",
        }
    )
    job = got.job
    assert job.resources.cpus == 0.5 and job.resources.mem == 512
    assert job.container == Container(
        type="docker",
        image="libmesos/ubuntu",
        network="BRIDGE",
        force_pull=True,
        volumes=(Volume("/var/log/", "/logs/", "RW"),),
        parameters={"a-docker-option": "xxx"},
    )


def test_chronos_full_sample() -> None:
    """The Chronos docs' complete sample job: arguments, fetch, env; executor fields ignored."""
    got = from_chronos(
        {
            "name": "camus_kafka2hdfs",
            "command": "/srv/kafka/camus/kafka_hdfs_job.bash",
            "arguments": ["-verbose", "-debug"],
            "shell": False,
            "epsilon": "PT30M",
            "executor": "",
            "executorFlags": "",
            "retries": 2,
            "owner": "ops@example.com",
            "async": False,
            "successCount": 190,
            "errorCount": 3,
            "lastSuccess": "2014-03-08T16:57:17.507Z",
            "lastError": "2014-03-01T00:10:15.957Z",
            "cpus": 1.0,
            "disk": 10240,
            "mem": 1024,
            "disabled": False,
            "fetch": [{"uri": "https://url-to-file", "cache": False, "extract": False, "executable": True}],
            "uris": ["https://url-to-file"],
            "schedule": "R/2014-03-08T20:00:00.000Z/PT2H",
            "environmentVariables": [
                {"name": "JVMOPTS", "value": "-Xmx1000m"},
                {"name": "JAVA_LIBRARY_PATH", "value": "/usr/local/lib"},
            ],
            "constraints": [["rack", "EQUALS", "rack-1"]],
            "runAsUser": "hdfs",
            "highPriority": True,
            "concurrent": True,
            "scheduleTimeZone": "America/New_York",
            "softError": True,
            "gpus": 0,
            "clientSpecific": {"x": 1},
        }
    )
    job = got.job
    assert job.arguments == ("-verbose", "-debug") and job.shell is False
    assert job.uris == ("https://url-to-file",)  # listed in both uris and fetch: kept in both, fetched once
    assert [f.to_dict() for f in job.fetch] == [
        {"uri": "https://url-to-file", "executable": True, "extract": False, "cache": False, "output_file": None}
    ]
    assert dict(job.env) == {"JVMOPTS": "-Xmx1000m", "JAVA_LIBRARY_PATH": "/usr/local/lib"}
    assert job.resources == Resources(cpus=1.0, mem=1024, disk=10240)
    assert job.constraints == (Constraint("rack", "EQUALS", "rack-1"),)
    assert job.user == "hdfs" and job.concurrency == "allow" and job.soft_error is True
    assert job.timezone == "America/New_York"
    assert set(got.ignored) == {"clientSpecific"}
    assert job.high_priority is True


def test_java_short_zone_ids_become_iana_zones() -> None:
    """The Chronos docs' own example sends "PST", which the JVM knew and IANA does not."""

    def zone(name: str) -> str:
        return from_chronos({"name": "z", "command": "x", "scheduleTimeZone": name}).job.timezone

    assert zone("PST") == "America/Los_Angeles"
    assert zone("EST") == "EST" and zone("Europe/Paris") == "Europe/Paris" and zone("") == "UTC"


def test_empty_start_means_now() -> None:
    """Chronos' "now" is a second ago: a start in the past, so one run now and 4 more hourly."""
    got = from_chronos({"name": "now", "command": "x", "schedule": "R5//PT1H"}, now=NOW)
    assert got.job.schedule == "R4/2026-03-01T13:00:29Z/PT1H" and got.run_now


def test_concurrent_decides_unless_only_the_extension_can_say_replace() -> None:
    def concurrency(**fields: object) -> str:
        return from_chronos({"name": "c", "command": "x", **fields}).job.concurrency

    assert concurrency() == "forbid"
    assert concurrency(concurrent=True) == "allow"
    assert concurrency(concurrent=False, moroccron={"concurrency": "replace"}) == "replace"
    assert concurrency(moroccron={"concurrency": "replace"}) == "replace"
    # A Chronos client flipping the flag it knows is not overruled by the copy it does not.
    assert concurrency(concurrent=True, moroccron={"concurrency": "replace"}) == "allow"
    assert concurrency(concurrent=False, moroccron={"concurrency": "allow"}) == "forbid"


# --------------------------------------------------------------------------- errors


def errors_of(data: object) -> dict[str, ValidationError]:
    with pytest.raises(ValidationError) as info:
        from_chronos(data)
    return {e.field: e for e in info.value.errors}  # type: ignore[misc]


def test_bad_values_name_the_chronos_field() -> None:
    errors = errors_of(
        {
            "name": "nightly",
            "command": "x",
            "scheduleTimeZone": "Mars/Olympus",
            "cpus": -1,
            "mem": "lots",
            "epsilon": "PX",
            "runAsUser": 7,
            "softError": "maybe",
            "schedule": "R/2026-01-01T00:00:00Z/PT1H",
            "container": {
                "type": "DOCKER",
                "image": "busybox",
                "forcePullImage": 3,
                "volumes": [{"hostPath": "/x", "mode": "RX"}],
                "parameters": [{"key": "env", "value": "A=1"}, {"key": "env", "value": "B=2"}],
            },
            "environmentVariables": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}, {"value": "v"}],
            "constraints": [["rack", "EQUALS"], "rack"],
            "moroccron": {"catchup": "sometimes", "labels": {"k": 1.5}, "timeout": 3},
        }
    )
    assert {
        "scheduleTimeZone",
        "cpus",
        "mem",
        "epsilon",
        "runAsUser",
        "softError",
        "container.forcePullImage",
        "container.volumes[0].containerPath",
        "container.volumes[0].mode",
        "environmentVariables[2].name",
        "constraints[0].value",
        "constraints[1]",
        "moroccron.catchup",
        "moroccron.timeout",
    } <= set(errors), sorted(errors)
    assert not {"timezone", "resources.cpus", "user", "soft_error", "starting_deadline_seconds"} & set(errors)
    assert errors["epsilon"].allowed and "PT30M" in errors["epsilon"].allowed


def test_missing_name_and_non_object() -> None:
    assert set(errors_of({"command": "x"})) == {"name"}
    assert "job" in errors_of(["not", "a", "job"])
    assert "name" in errors_of({"name": "has space", "command": "x"})


def test_chronos_field_names() -> None:
    assert chronos_field("resources.mem") == "mem"
    assert chronos_field("timezone") == "scheduleTimeZone"
    assert chronos_field("owners[1]") == "owner[1]"
    assert chronos_field("env.PATH") == "environmentVariables.PATH"
    assert chronos_field("container.volumes[2].host_path") == "container.volumes[2].hostPath"
    assert chronos_field("triggers.on_success[0]") == "moroccron.triggers.on_success[0]"
    assert chronos_field("etl.parents[0]", "etl") == "parents[0]"
    assert chronos_field("other.parents[0]", "etl") == "other.parents[0]"
    assert chronos_field("schedule") == "schedule"


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("PT15M", 900),
        ("PT1H30M", 5400),
        ("P1D", 86400),
        ("P1DT2H3M4S", 93784),
        ("PT0.5S", 0.5),
        ("P2W", 1209600),
        ("pt30s", 30),
        ("PT1M1.1S", 61.1),
        ("PT0.001S", 0.001),
    ],
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds
    assert parse_duration(format_duration(seconds)) == seconds


@pytest.mark.parametrize("text", ["P1M", "P1Y", "PT", "P", "15M", "PT1H30", ""])
def test_calendar_and_malformed_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration_and_time() -> None:
    assert format_duration(0) == "PT0S"
    assert format_duration(5400) == "PT1H30M"
    assert format_duration(90061) == "P1DT1H1M1S"
    assert chronos_time(None) == ""
    assert chronos_time(NOW) == "2026-03-01T12:00:30.250Z"


def test_chronos_leniencies() -> None:
    """What Chronos accepted and moroccron refused before: an environment variable set
    twice (the task sees the last), an operator it does not know (not applied, reported,
    kept), an epsilon in months, no command."""
    got = from_chronos(
        {
            "name": "lenient",
            "schedule": "R/2030-01-01T00:00:00Z/PT1H",
            "epsilon": "P1M",
            "environmentVariables": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}],
            "constraints": [["rack", "NEAR", "r1"], ["rack", "EQUALS", "r2"]],
        }
    )
    assert dict(got.job.env) == {"A": "2"}
    assert got.job.constraints == (Constraint("rack", "EQUALS", "r2"),)
    assert got.ignored == ("constraints[0]",)
    assert got.job.command == ":" and got.job.shell is True  # what sh -c "" did: nothing, successfully
    assert got.job.starting_deadline_seconds == 30 * 86400 - 1  # capped at the native maximum
    out = to_chronos(got.job)
    assert out["environmentVariables"] == [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]
    assert out["constraints"] == [["rack", "NEAR", "r1"], ["rack", "EQUALS", "r2"]]
    assert out["epsilon"] == "P1M" and out["command"] == ""
