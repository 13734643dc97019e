"""What each job field means, what bounds it, and what it becomes in Mesos.

The job model (:mod:`moroccron.model`) holds the fields, their types and defaults; the
bounds (:mod:`moroccron.bounds`) hold the limits. This module adds the words: one
:class:`FieldDoc` per field of :class:`~moroccron.model.JobSpec` and of every nested type
a job is made of. :mod:`moroccron.docgen` joins the three into the tables of
docs/jobs.md, and tests/test_docs_jobs.py fails when a model field has no entry here or
an entry names a field the model no longer has, so the reference cannot drift.

Limits are written from the constants of :mod:`moroccron.bounds` (never as bare
numbers), so a changed bound changes the document at the next ``make docs``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from moroccron import bounds
from moroccron.model import (
    CATCHUP_POLICIES,
    CHRONOS_EXTRA_MAX_BYTES,
    CONCURRENCY_POLICIES,
    CONSTRAINT_OPERATORS,
    CONTAINER_TYPES,
    JOB_NAME_ALLOWED,
    NETWORK_PROTOCOLS,
    NOTIFY_TARGET_ALLOWED,
    VOLUME_MODES,
    VOLUME_SOURCE_TYPES,
)

__all__ = ["FieldDoc", "FIELD_DOCS", "TYPE_DOCS"]

NOT_SENT = "Not sent: decided by moroccron."


@dataclass(frozen=True, slots=True)
class FieldDoc:
    """The documentation of one field.

    :ivar description: what the field does, in a sentence or three.
    :ivar limits: what is accepted beyond the type (ranges, lengths, choices); "" if nothing.
    :ivar example: a Python keyword argument as written in a job module.
    :ivar mesos: where the value goes in the Mesos task (TaskInfo, CommandInfo,
        ContainerInfo, ...), or how it acts on Mesos when it is not sent.
    """

    description: str
    limits: str
    example: str
    mesos: str


def _text(kind: str, *, multiline: bool = False) -> str:
    return bounds.text_allowed(bounds.TEXT_LIMITS[kind], multiline=multiline)


def _items(kind: str) -> str:
    return f"at most {bounds.LIST_LIMITS[kind]} items"


def _choices(values: tuple[str, ...]) -> str:
    return "one of " + ", ".join(f"`{v}`" for v in values)


def _seconds(minimum: str = ">= 0") -> str:
    return f"a number of seconds {minimum} and <= {bounds.MAX_SECONDS:,} ({bounds.MAX_SECONDS // 86400} days)"


_JOB: dict[str, FieldDoc] = {
    "name": FieldDoc(
        "The job's name: how the API, the UI, parents and triggers name it. It is part of every "
        "run's Mesos task id, `<name>.<scheduled epoch>.<attempt>`.",
        JOB_NAME_ALLOWED,
        'name="etl-load"',
        "TaskInfo.task_id (`NAME.EPOCH.ATTEMPT`), TaskInfo.name (`moroccron:NAME`), the task label `moroccron.job`.",
    ),
    "command": FieldDoc(
        "What runs: a shell command line (with `shell` true) or a program path (with `shell` "
        "false). May be left out when the container image's own entrypoint is what should run.",
        _text("command", multiline=True) + "; required unless `container.image` is set",
        'command="./load.sh --full"',
        "CommandInfo.value. With `shell` false on the Mesos containerizer, also argv[0] in "
        "CommandInfo.arguments; with Docker, `docker run IMAGE VALUE ARGUMENTS...`.",
    ),
    "shell": FieldDoc(
        "Run `command` through `/bin/sh -c` (true) or execute it directly (false). Left null, it "
        "is true when there is a command and false for an image-only job.",
        "true, false or null; true needs a command",
        "shell=False",
        "CommandInfo.shell.",
    ),
    "arguments": FieldDoc(
        "Arguments given after the command (or after the image's entrypoint). A run started by hand may replace them.",
        f"{_items('arguments')}, each {_text('argument')}",
        'arguments=["--date", "today"]',
        "Shell jobs: appended, shell-quoted, to CommandInfo.value. Otherwise CommandInfo.arguments.",
    ),
    "schedule": FieldDoc(
        "When the job runs: cron (5 fields, or 6 with seconds first), a macro (`@daily`...) or an "
        "ISO 8601 repeating interval `R[n]/START/PERIOD`. Null: the job runs after its `parents`, "
        "or only when started by hand or by a trigger. See [schedules.md](schedules.md).",
        f"at most {bounds.SCHEDULE_MAX} characters; `R<n>` at most {bounds.MAX_ISO_REPEATS:,} repeats; "
        "not together with `parents`",
        'schedule="0 2 * * *"',
        NOT_SENT + " Each due fire time becomes one run, launched as one task.",
    ),
    "timezone": FieldDoc(
        "The IANA time zone the cron schedule is read in (DST rules in [schedules.md](schedules.md)).",
        f"an IANA time zone name, at most {bounds.TIMEZONE_MAX} characters",
        'timezone="Europe/London"',
        NOT_SENT,
    ),
    "parents": FieldDoc(
        "Jobs this one depends on: with no schedule, it runs once each time all its parents have "
        "succeeded since its own last run.",
        f"{_items('parents')}, job names, distinct, not the job itself; not together with `schedule`",
        'parents=["etl-extract"]',
        NOT_SENT,
    ),
    "owners": FieldDoc(
        "Who is responsible: owner ids (usually email addresses). Owners are notified by their own "
        "preferences (`moroccron owners`).",
        f"{_items('owners')}, each {_text('owner')}",
        'owners=["data-oncall@example.com"]',
        "Not a task field; given to the task as `CHRONOS_JOB_OWNER` (joined by `,`).",
    ),
    "description": FieldDoc(
        "Free text shown in the UI and the API.",
        _text("description", multiline=True),
        'description="Loads the warehouse"',
        NOT_SENT,
    ),
    "resources": FieldDoc(
        "What one task needs from an agent (see [Resources](#resources)).",
        "see [Resources](#resources)",
        "resources=Resources(cpus=0.5, mem=256)",
        "TaskInfo.resources (scalars `cpus`, `mem`, `disk`, `gpus`), taken from the offer the run is placed on.",
    ),
    "container": FieldDoc(
        "Where the command runs: the Mesos containerizer, with or without an image, or Docker "
        "(see [Container](#container)). Null: the Mesos containerizer with the agent's filesystem.",
        "see [Container](#container)",
        'container=Container(type="docker", image="busybox:1.36")',
        "TaskInfo.container (ContainerInfo); left out when null.",
    ),
    "constraints": FieldDoc(
        "Placement rules on agent attributes or `hostname` (see [Constraint](#constraint)). Also "
        'written as lists, `["rack", "EQUALS", "r1"]`, as in Chronos.',
        f"{_items('constraints')}",
        'constraints=[Constraint("rack", "EQUALS", "r1")]',
        "Not sent: they decide which offers (by their agents' attributes and host names) the task may be placed on.",
    ),
    "env": FieldDoc(
        "Environment variables of the task, besides those moroccron sets (`MOROCCRON_JOB`, "
        "`MOROCCRON_SCHEDULED_AT`, `MOROCCRON_ATTEMPT` and Chronos's `CHRONOS_*`, `MESOS_TASK_ID`, "
        "`HOST`). Numbers are turned into text.",
        f"{_items('env')}; names {_text('env_key')}, without `=`; values {_text('env_value', multiline=True)}",
        'env={"DB_HOST": "db.internal"}',
        "CommandInfo.environment.variables (type VALUE).",
    ),
    "secret_env": FieldDoc(
        "Names of `env` entries whose values no output shows: the APIs, the UI, the CLI and "
        "notification payloads mask them for everyone.",
        "keys of `env`, distinct",
        'secret_env=["DB_PASSWORD"]',
        "Not sent separately: the values are still in CommandInfo.environment.",
    ),
    "uris": FieldDoc(
        "Files the Mesos fetcher downloads into the sandbox before the command starts; archives "
        "(`.tgz`, `.tar.gz`, `.zip`, `.tar`) are extracted. `fetch` gives the fetcher's flags.",
        f"{_items('uris')}, each {_text('uri')}",
        'uris=["https://files.example.com/tool.tgz"]',
        "CommandInfo.uris (value, extract by file name, executable false, cache false), after "
        "those of `fetch`; a URI `fetch` already names is sent once.",
    ),
    "user": FieldDoc(
        "The Unix user the task runs as on the agent. Null: the `framework_user` setting.",
        _text("user"),
        'user="etl"',
        "CommandInfo.user; without it, FrameworkInfo.user (`framework_user`).",
    ),
    "retries": FieldDoc(
        "How many times a failed, lost or killed run is tried again for the same fire time.",
        f"an integer >= 0 and <= {bounds.MAX_RETRIES}",
        "retries=2",
        "Each attempt is a new task: the task id ends in the attempt (`.0` for the first).",
    ),
    "retry_delay_seconds": FieldDoc(
        "Seconds between a failed attempt and the next.", _seconds(), "retry_delay_seconds=30", NOT_SENT
    ),
    "timeout_seconds": FieldDoc(
        "The longest a run may take, from launch; past it the task is killed and the run fails. Null: no limit.",
        _seconds("> 0") + ", or null",
        "timeout_seconds=3600",
        "A KILL call (with the job's kill policy) when the time is up.",
    ),
    "concurrency": FieldDoc(
        "What happens when a run is due while another of the same job is still in flight: "
        "`forbid` skips it (catch-up runs wait their turn), `allow` runs both, `replace` kills the "
        "older one.",
        _choices(CONCURRENCY_POLICIES),
        'concurrency="replace"',
        "`replace`: a KILL call for the older task.",
    ),
    "starting_deadline_seconds": FieldDoc(
        "A run not launched this long after it was due is skipped (no offer fitted, or "
        "the scheduler was down). Null: no deadline.",
        _seconds() + ", or null",
        "starting_deadline_seconds=600",
        NOT_SENT,
    ),
    "catchup": FieldDoc(
        "After downtime, which missed fire times still run: `none`, only the `latest`, or `all` "
        "(see [schedules.md](schedules.md#catch-up)).",
        _choices(CATCHUP_POLICIES),
        'catchup="all"',
        NOT_SENT,
    ),
    "soft_error": FieldDoc(
        "A failure still counts as done for the job's children: they run as if it had "
        "succeeded, and the failure notification lists no waiting jobs.",
        "true or false",
        "soft_error=True",
        NOT_SENT,
    ),
    "disabled": FieldDoc(
        "A disabled job keeps its definition and history but is not scheduled; runs in flight go on.",
        "true or false",
        "disabled=True",
        NOT_SENT,
    ),
    "triggers": FieldDoc(
        "Jobs started once, as ad-hoc runs, when a run of this one ends (see [Triggers](#triggers)).",
        "see [Triggers](#triggers)",
        'triggers=Triggers(on_failure=["cleanup"])',
        NOT_SENT,
    ),
    "notify": FieldDoc(
        "Extra notification targets of the job, beyond its owners' preferences (see [Notify](#notify)).",
        "see [Notify](#notify)",
        'notify=Notify(on_failure=["slack:#data"])',
        NOT_SENT,
    ),
    "labels": FieldDoc(
        "Key/value tags: filters in the API and UI (`label=team=data`), settings read by plugins "
        "(`moroccron.pagerduty.severity`), and task labels.",
        f"{_items('labels')}; keys {_text('labels_key')}; values {_text('labels_value')}",
        'labels={"team": "data"}',
        "TaskInfo.labels, after moroccron's own `moroccron.job`, `moroccron.scheduled_at`, `moroccron.attempt`.",
    ),
    "disable_after_failures": FieldDoc(
        "Disable the job after this many failures in a row (a `disabled` notification says why). Null: never.",
        f"an integer >= 1 and <= {bounds.MAX_DISABLE_AFTER_FAILURES}, or null",
        "disable_after_failures=5",
        NOT_SENT,
    ),
    "role": FieldDoc(
        "The Mesos role whose offers the job runs on; it must be one of the roles the scheduler "
        "registers (the `roles` setting). Null: the default role (the `role` setting).",
        bounds.ROLE_ALLOWED,
        'role="analytics"',
        "Not a task field: the task is placed only on offers allocated to this role, and takes "
        "resources reserved for it first.",
    ),
    "kill_grace_seconds": FieldDoc(
        "Seconds between SIGTERM and SIGKILL when a run is killed (timeout, replace, by hand).",
        f"a number of seconds >= 0 and <= {bounds.MAX_KILL_GRACE_SECONDS:g}",
        "kill_grace_seconds=30",
        "TaskInfo.kill_policy.grace_period, and the kill_policy of KILL calls.",
    ),
    "chronos_extra": FieldDoc(
        "Chronos job fields moroccron keeps without acting on them, so the Chronos API returns a "
        "job as it was sent. Set by the Chronos API; rarely written by hand.",
        f"a JSON object of at most {CHRONOS_EXTRA_MAX_BYTES:,} bytes",
        'chronos_extra={"epsilon": "PT60S"}',
        NOT_SENT,
    ),
    "fetch": FieldDoc(
        "Files the Mesos fetcher puts in the sandbox, with its flags (see [Fetch](#fetch)); a bare "
        "string is a URI with the default flags.",
        f"{_items('uris')}",
        'fetch=[Fetch(uri="https://files.example.com/tool", executable=True)]',
        "CommandInfo.uris, before those of `uris`.",
    ),
    "high_priority": FieldDoc(
        "Its runs go to the front of the queue of runs waiting for an offer (Chronos's `highPriority`).",
        "true or false",
        "high_priority=True",
        "Not sent: decides which runs get the next offers first.",
    ),
    "async_completion": FieldDoc(
        "Chronos's `async`: a run whose task exits 0 waits for a completion report (`PUT "
        "/scheduler/task/TASK_ID` with a `statusCode`) before it succeeds or fails.",
        "true or false",
        "async_completion=True",
        "Not sent: the run stays running after TASK_FINISHED until the report.",
    ),
}

_RESOURCES: dict[str, FieldDoc] = {
    "cpus": FieldDoc(
        "CPU shares.",
        f"a number >= {bounds.MIN_CPUS:g} and <= {bounds.RESOURCE_LIMITS['cpus']:g}",
        "cpus=0.5",
        "Resource `cpus` (SCALAR).",
    ),
    "mem": FieldDoc(
        "Memory, in MB.",
        f"a number > 0 and <= {bounds.RESOURCE_LIMITS['mem']:g}",
        "mem=256",
        "Resource `mem` (SCALAR, MB).",
    ),
    "disk": FieldDoc(
        "Sandbox disk, in MB; 0 asks for none.",
        f"a number >= 0 and <= {bounds.RESOURCE_LIMITS['disk']:g}",
        "disk=1024",
        "Resource `disk` (SCALAR, MB), sent when more than 0.",
    ),
    "gpus": FieldDoc(
        "Whole GPUs, Mesos containerizer only. The framework registers the GPU_RESOURCES capability "
        "once a job asks for GPUs.",
        f"a whole number >= 0 and <= {bounds.MAX_GPUS}",
        "gpus=1",
        "Resource `gpus` (SCALAR), sent when more than 0.",
    ),
}

_CONTAINER: dict[str, FieldDoc] = {
    "type": FieldDoc(
        "The containerizer: `mesos` (the agent's own, images optional) or `docker`.",
        _choices(CONTAINER_TYPES),
        'type="docker"',
        "ContainerInfo.type (`MESOS`, `DOCKER`).",
    ),
    "image": FieldDoc(
        "A Docker image; required for `docker`. With no command, its entrypoint runs.",
        _text("image"),
        'image="python:3.11-slim"',
        "Docker: ContainerInfo.docker.image. Mesos: ContainerInfo.mesos.image (type DOCKER, "
        "`cached` = not `force_pull`).",
    ),
    "volumes": FieldDoc(
        "Volumes mounted in the container (see [Volume](#volume)).",
        f"{_items('volumes')}",
        'volumes=[Volume("/data", host_path="/srv/data", mode="RW")]',
        "ContainerInfo.volumes.",
    ),
    "force_pull": FieldDoc(
        "Pull the image at every launch instead of using the agent's copy.",
        "true or false; needs an image",
        "force_pull=True",
        "Docker: DockerInfo.force_pull_image. Mesos: Image.cached = false.",
    ),
    "network": FieldDoc(
        "Docker: `host`, `bridge`, `none` or a user-defined Docker network. Mesos: `host` or a "
        "CNI network. Null: the host's network.",
        _text("network"),
        'network="bridge"',
        "Docker: DockerInfo.network (`HOST`, `BRIDGE`, `NONE`, or `USER` with a "
        "ContainerInfo.network_infos entry). Mesos: a ContainerInfo.network_infos entry for a "
        "CNI network.",
    ),
    "parameters": FieldDoc(
        "`docker run` options, `--KEY=VALUE`, in order; keys may repeat (see [Parameter](#parameter)). "
        "Docker only; `name` is refused.",
        f"{_items('parameters')}",
        'parameters=[Parameter("add-host", "db:10.0.0.5")]',
        "DockerInfo.parameters.",
    ),
    "network_infos": FieldDoc(
        "More networks to join, after `network`'s, with labels for the network plugin (see "
        "[NetworkInfo](#networkinfo)). Docker joins one network only.",
        f"{_items('network_infos')}",
        'network_infos=[NetworkInfo("cni-a", labels={"tier": "db"})]',
        "ContainerInfo.network_infos (name, labels).",
    ),
}

_VOLUME: dict[str, FieldDoc] = {
    "container_path": FieldDoc(
        "Where the volume appears inside the container.",
        _text("path"),
        'container_path="/data"',
        "Volume.container_path.",
    ),
    "host_path": FieldDoc(
        "A directory of the agent to mount. Exactly one of `host_path`, `image`, `source` is set.",
        _text("path"),
        'host_path="/srv/data"',
        "Volume.host_path.",
    ),
    "mode": FieldDoc("Read-only or read-write.", _choices(VOLUME_MODES), 'mode="RW"', "Volume.mode."),
    "image": FieldDoc(
        "A Docker image whose filesystem is mounted (Mesos containerizer only).",
        _text("image"),
        'image="busybox:1.36"',
        "Volume.image (type DOCKER).",
    ),
    "source": FieldDoc(
        "A Docker volume, a host path or a sandbox path (see [VolumeSource](#volumesource)).",
        "see [VolumeSource](#volumesource)",
        'source=VolumeSource("docker_volume", name="cache")',
        "Volume.source.",
    ),
}

_VOLUME_SOURCE: dict[str, FieldDoc] = {
    "type": FieldDoc(
        "`docker_volume` (both containerizers), `host_path` or `sandbox_path` (Mesos containerizer).",
        _choices(VOLUME_SOURCE_TYPES),
        'type="docker_volume"',
        "Volume.Source.type (`DOCKER_VOLUME`, `HOST_PATH`, `SANDBOX_PATH`).",
    ),
    "name": FieldDoc(
        "The Docker volume's name; required for `docker_volume`.",
        _text("volume_name"),
        'name="cache"',
        "Volume.Source.docker_volume.name.",
    ),
    "driver": FieldDoc(
        "The Docker volume driver. Null: Docker's local driver.",
        _text("volume_name"),
        'driver="rexray"',
        "Volume.Source.docker_volume.driver.",
    ),
    "driver_options": FieldDoc(
        "Options given to the volume driver.",
        f"{_items('driver_options')}; keys {_text('driver_options_key')}; values {_text('driver_options_value')}",
        'driver_options={"size": "10"}',
        "Volume.Source.docker_volume.driver_options.parameter.",
    ),
    "path": FieldDoc(
        "`host_path`: an absolute path on the agent; `sandbox_path`: a relative path inside the sandbox, without `..`.",
        _text("path"),
        'path="/srv/data"',
        "Volume.Source.host_path.path, or Volume.Source.sandbox_path.path (type SELF).",
    ),
}

_PARAMETER: dict[str, FieldDoc] = {
    "key": FieldDoc(
        "A `docker run` option name, without the dashes.",
        _text("parameters_key") + "; not `name`",
        'key="add-host"',
        "DockerInfo.parameters[].key.",
    ),
    "value": FieldDoc(
        "The option's value.", _text("parameters_value"), 'value="db:10.0.0.5"', "DockerInfo.parameters[].value."
    ),
}

_NETWORK_INFO: dict[str, FieldDoc] = {
    "name": FieldDoc(
        "The network's name (a CNI network, or a user-defined Docker network).",
        _text("network"),
        'name="cni-a"',
        "NetworkInfo.name.",
    ),
    "labels": FieldDoc(
        "Labels for the network's plugin.",
        f"{_items('labels')}; keys {_text('labels_key')}; values {_text('labels_value')}",
        'labels={"tier": "db"}',
        "NetworkInfo.labels.",
    ),
    "protocol": FieldDoc(
        "The address family asked for; kept for Chronos clients.",
        _choices(NETWORK_PROTOCOLS) + ", or null",
        'protocol="IPv4"',
        "Not sent (as in Chronos).",
    ),
}

_CONSTRAINT: dict[str, FieldDoc] = {
    "field": FieldDoc(
        "An agent attribute, or `hostname`.",
        _text("constraint_field"),
        'field="rack"',
        "Read from Offer.attributes or Offer.hostname.",
    ),
    "operator": FieldDoc(
        "`EQUALS` the value; `LIKE`/`UNLIKE` a regular expression (whole value); `UNIQUE`: one "
        "run per distinct value; `GROUP_BY`: spread over the values (the value is the number of "
        "groups).",
        _choices(CONSTRAINT_OPERATORS),
        'operator="EQUALS"',
        NOT_SENT,
    ),
    "value": FieldDoc(
        "What the operator compares with; required for `EQUALS`, `LIKE`, `UNLIKE`.",
        _text("constraint_value") + "; a regular expression for LIKE/UNLIKE, a positive integer for GROUP_BY",
        'value="r1"',
        NOT_SENT,
    ),
}

_TRIGGERS: dict[str, FieldDoc] = {
    "on_success": FieldDoc(
        "Jobs started when a run succeeds.",
        f"at most {bounds.LIST_LIMITS['triggers']} job names",
        'on_success=["publish"]',
        NOT_SENT,
    ),
    "on_failure": FieldDoc(
        "Jobs started when a run fails for good (after its retries).",
        f"at most {bounds.LIST_LIMITS['triggers']} job names",
        'on_failure=["cleanup"]',
        NOT_SENT,
    ),
}

_notify_limits = f"at most {bounds.LIST_LIMITS['notify']} targets: {NOTIFY_TARGET_ALLOWED}"
_NOTIFY: dict[str, FieldDoc] = {
    "on_failure": FieldDoc(
        "Targets told when a run fails for good.", _notify_limits, 'on_failure=["pagerduty:db-oncall"]', NOT_SENT
    ),
    "on_success": FieldDoc(
        "Targets told when a run succeeds.", _notify_limits, 'on_success=["webhook:audit"]', NOT_SENT
    ),
    "on_recovery": FieldDoc(
        "Targets told when a run succeeds after failures.", _notify_limits, 'on_recovery=["slack:#data"]', NOT_SENT
    ),
}

_FETCH: dict[str, FieldDoc] = {
    "uri": FieldDoc(
        "What to download (http, https, ftp, hdfs, s3, a local path on the agent...).",
        _text("uri"),
        'uri="https://files.example.com/tool"',
        "CommandInfo.URI.value.",
    ),
    "executable": FieldDoc(
        "Make the file executable (it is then not extracted).",
        "true or false",
        "executable=True",
        "CommandInfo.URI.executable.",
    ),
    "extract": FieldDoc(
        "Unpack an archive; other files are left as they are.",
        "true or false",
        "extract=False",
        "CommandInfo.URI.extract.",
    ),
    "cache": FieldDoc("Use the agent's fetcher cache.", "true or false", "cache=True", "CommandInfo.URI.cache."),
    "output_file": FieldDoc(
        "The file's name in the sandbox.",
        _text("path") + "; relative, without `..`",
        'output_file="bin/tool"',
        "CommandInfo.URI.output_file.",
    ),
}

TYPE_DOCS: Mapping[str, str] = MappingProxyType(
    {
        "JobSpec": "A job (`Job` in job modules, a JSON object in the API).",
        "Resources": "What one task of the job needs from an agent.",
        "Container": "Where the command runs.",
        "Volume": "A volume mounted in the container: exactly one of `host_path`, `image`, `source`.",
        "VolumeSource": "Where a volume comes from, when it is neither a host path nor an image.",
        "Parameter": "One `docker run` option.",
        "NetworkInfo": "A network the container joins, after the one `network` names.",
        "Constraint": "A placement rule on an agent attribute or the host name.",
        "Triggers": "Jobs to start once after a run of this job ends.",
        "Notify": "Notification targets of the job.",
        "Fetch": "A file the Mesos fetcher downloads, with its flags.",
    }
)
"""One line per documented type, in the order docs/jobs.md shows them."""

FIELD_DOCS: Mapping[str, Mapping[str, FieldDoc]] = MappingProxyType(
    {
        "JobSpec": MappingProxyType(_JOB),
        "Resources": MappingProxyType(_RESOURCES),
        "Container": MappingProxyType(_CONTAINER),
        "Volume": MappingProxyType(_VOLUME),
        "VolumeSource": MappingProxyType(_VOLUME_SOURCE),
        "Parameter": MappingProxyType(_PARAMETER),
        "NetworkInfo": MappingProxyType(_NETWORK_INFO),
        "Constraint": MappingProxyType(_CONSTRAINT),
        "Triggers": MappingProxyType(_TRIGGERS),
        "Notify": MappingProxyType(_NOTIFY),
        "Fetch": MappingProxyType(_FETCH),
    }
)
"""Type name -> field name -> its documentation."""
