"""Chronos job JSON to :class:`~moroccron.model.JobSpec` and back.

Chronos clients (its web UI, chronos-python, sync scripts kept in git) send and read
the job hash of the Chronos v1 REST API. This module is the one place that knows both
vocabularies; the routes in :mod:`moroccron.api.chronos` only move JSON in and out.

Principles:

- **Liberal in, exact out.** Chronos accepted ``"cpus": "0.5"`` and ``"forcePullImage":
  "true"`` (Jackson reads text as numbers and booleans), sent read-only statistics back
  on every update, and clients add fields of their own. Such input is accepted; fields
  moroccron does not act on are reported (:attr:`ChronosJob.ignored`), never silently
  dropped, and the API lists them in the ``X-Moroccron-Ignored-Fields`` header.
- **Errors name the Chronos field** the client sent (``scheduleTimeZone``, ``cpus``,
  ``container.volumes[0].containerPath``), never the native name it was mapped to, so
  the message points at the line to fix in the client's JSON.
- **Nothing the native model holds is lost** on a round trip native -> Chronos ->
  native. What Chronos has no field for travels in a ``moroccron`` object
  (:data:`EXTENSION_FIELDS`), which Chronos clients pass through untouched. Where a
  Chronos field and the ``moroccron`` object could disagree, the Chronos field wins, so
  a Chronos client editing the field it knows is never overruled by a copy it does not.

Mapping (Chronos field -> native field):

================================  ==================================================
``name``                          ``name`` (Chronos' rule ``[A-Za-z0-9_.-]+``, not ``.``/``..``)
``command``                       ``command`` (``""`` -> the image's own command, or
                                  ``:`` without an image: ``sh -c ""`` did nothing)
``shell``, ``arguments``          ``shell``, ``arguments``
``description``                   ``description``
``schedule``                      ``schedule``, read as Chronos did (its zone yields
                                  to ``scheduleTimeZone``; a past start runs now and
                                  advances: :mod:`moroccron.api.chronos_schedule`); a
                                  native cron schedule is sent out as is
``scheduleTimeZone``              ``timezone`` (``""`` -> UTC; Java ids such as PST
                                  -> their IANA zone); returned as sent
``parents``                       ``parents``
``owner`` (comma-separated)       ``owners``
``cpus``, ``mem``, ``disk``,      ``resources`` (``0`` or absent -> Chronos' defaults
``gpus``                          0.1, 128, 256: :data:`CHRONOS_DEFAULT_RESOURCES`)
``retries``                       ``retries`` (absent -> 2, Chronos's default)
``highPriority``                  ``high_priority`` (its runs jump the launch queue)
``async``                         ``async_completion`` (a run whose task exits 0
                                  waits for ``PUT /scheduler/task/<task id>``)
``maxCompletionTime`` (seconds)   ``timeout_seconds`` (``0`` -> none; wins over
                                  ``moroccron.timeout_seconds``)
``disabled``, ``softError``       ``disabled``, ``soft_error``
``concurrent``                    ``concurrency``: true -> allow, false -> forbid
                                  (or ``replace``, kept in ``moroccron.concurrency``)
``epsilon`` (ISO 8601 duration)   ``starting_deadline_seconds`` (absent -> 60; months
                                  and years as 30 and 365 days, capped)
``runAsUser``                     ``user`` (absent -> setting ``chronos_run_as_user``)
``environmentVariables``          ``env`` (a name repeated: the last value)
``uris``                          ``uris`` (archives extracted by file name)
``fetch[]``                       ``fetch``: ``uri``, ``executable``, ``extract``
                                  (default true), ``cache``, ``output_file``
``constraints`` ``[[a, OP, v]]``  ``constraints`` (an unknown operator: kept, not applied)
``container``                     ``container``: ``type`` DOCKER|MESOS, ``image``,
                                  ``network``, ``volumes[]`` {``containerPath``,
                                  ``hostPath``, ``mode``}, ``forcePullImage``,
                                  ``parameters[]`` {``key``, ``value``}
``container.volumes[].external``  ``source``: ``docker_volume`` (``name``; ``provider``
                                  -> ``driver``; ``options`` -> ``driver_options``)
``container.networkName``         ``container.network`` (with ``network`` USER or
                                  none; Docker HOST/BRIDGE ignored it, so do we)
``container.networkInfos[]``      ``container.network_infos`` {``name``, ``labels``,
                                  ``protocol``} (``portMappings`` not kept, as Chronos
                                  never sent them to Mesos)
``moroccron``                     :data:`EXTENSION_FIELDS`
================================  ==================================================

Every other Chronos field (``executor``, ``taskInfoData``, ``highPriority``...) and the
form each field was sent in are kept in ``chronos_extra`` and returned, so a job reads
back as it was sent (:mod:`moroccron.api.chronos_view`).

Out only, from run history: ``successCount``, ``errorCount``, ``lastSuccess``,
``lastError``, ``errorsSinceLastSuccess``; ``ownerName`` from the owners' records.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from moroccron import bounds
from moroccron.api.chronos_schedule import ChronosSchedule, chronos_schedule
from moroccron.api.chronos_view import apply_overlay, chronos_view, overlay
from moroccron.errors import FieldError, ValidationError
from moroccron.model import (
    CONCURRENCY_POLICIES,
    CONSTRAINT_OPERATORS,
    Container,
    Fetch,
    JobSpec,
    Resources,
    Volume,
    VolumeSource,
    chronos_names,
)
from moroccron.store.stats import JobStats

__all__ = [
    "EXTENSION",
    "EXTENSION_FIELDS",
    "IGNORED_FIELDS",
    "KNOWN_FIELDS",
    "READ_ONLY_FIELDS",
    "ChronosJob",
    "chronos_field",
    "chronos_time",
    "format_duration",
    "from_chronos",
    "owner_names",
    "parse_duration",
    "to_chronos",
    "translate",
]

EXTENSION = "moroccron"
"""The field holding native settings Chronos has no field for."""

EXTENSION_FIELDS: tuple[str, ...] = (
    "timeout_seconds",
    "catchup",
    "concurrency",
    "retry_delay_seconds",
    "triggers",
    "notify",
    "labels",
    "disable_after_failures",
    "owners",
    "secret_env",
)
"""What the ``moroccron`` object may hold. ``owners`` appears only for owner ids that
contain a comma, which the comma-separated ``owner`` cannot carry; ``secret_env`` only
when the job has secret env entries."""

MAPPED_FIELDS: tuple[str, ...] = (
    "name",
    "command",
    "shell",
    "arguments",
    "description",
    "schedule",
    "scheduleTimeZone",
    "parents",
    "owner",
    "cpus",
    "mem",
    "disk",
    "gpus",
    "retries",
    "disabled",
    "softError",
    "concurrent",
    "epsilon",
    "runAsUser",
    "environmentVariables",
    "uris",
    "fetch",
    "constraints",
    "container",
    EXTENSION,
    "highPriority",
    "maxCompletionTime",
    "async",
)
"""Chronos fields that become native fields."""

READ_ONLY_FIELDS: tuple[str, ...] = (
    "successCount",
    "errorCount",
    "lastSuccess",
    "lastError",
    "errorsSinceLastSuccess",
)
"""Statistics Chronos returned and clients send back on update: computed from run
history here, so dropped on input without a mention."""

IGNORED_FIELDS: tuple[str, ...] = (
    "executor",
    "executorFlags",
    "taskInfoData",
    "dataProcessingJobType",
    "dataJob",
    "ownerName",
)
"""Chronos fields accepted and not acted on. Each is reported as ignored when it holds
anything but its Chronos default. ``executor*`` and ``taskInfoData``
name custom executors (moroccron runs the command executor); ``ownerName`` belongs to
the owner records (the owners API)."""

KNOWN_FIELDS: frozenset[str] = frozenset(MAPPED_FIELDS + READ_ONLY_FIELDS + IGNORED_FIELDS)

CHRONOS_DEFAULT_RETRIES = 2
CHRONOS_NETWORK_MODES = ("host", "bridge", "none", "user")
CHRONOS_DEFAULT_RESOURCES: dict[str, float] = {"cpus": 0.1, "mem": 128.0, "disk": 256.0}
"""Chronos' defaults (its ``--mesos_task_cpu``, ``_mem``, ``_disk``) for a job that
sets none, or 0; the native API keeps its own."""
CHRONOS_DEFAULT_USER = "root"
"""Chronos' ``--user``: ``runAsUser`` of a job that sets none (setting ``chronos_run_as_user``)."""
CHRONOS_DEFAULT_EPSILON = 60.0
"""Chronos' ``--task_epsilon``: how late a run may start, for a job without ``epsilon``."""
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no", "")
_CONTAINER_FIELDS = (
    "type",
    "image",
    "network",
    "volumes",
    "forcePullImage",
    "parameters",
    "networkName",
    "networkInfos",
)
_CONTAINER_IGNORED = ("portMappings",)
_VOLUME_FIELDS = ("containerPath", "hostPath", "mode", "external")
_EXTERNAL_KEYS = {"driver": "provider", "driver_options": "options"}
_FETCH_FLAGS = {"executable": False, "extract": True, "cache": False}
_DURATION_RE = re.compile(
    r"^P(?:(?P<weeks>\d+(?:\.\d+)?)W)?(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_JAVA_SHORT_ZONES: dict[str, str] = {
    "ACT": "Australia/Darwin",
    "AET": "Australia/Sydney",
    "AGT": "America/Argentina/Buenos_Aires",
    "ART": "Africa/Cairo",
    "AST": "America/Anchorage",
    "BET": "America/Sao_Paulo",
    "BST": "Asia/Dhaka",
    "CAT": "Africa/Harare",
    "CNT": "America/St_Johns",
    "CST": "America/Chicago",
    "CTT": "Asia/Shanghai",
    "EAT": "Africa/Addis_Ababa",
    "ECT": "Europe/Paris",
    "IET": "America/Indiana/Indianapolis",
    "IST": "Asia/Kolkata",
    "JST": "Asia/Tokyo",
    "MIT": "Pacific/Apia",
    "NET": "Asia/Yerevan",
    "NST": "Pacific/Auckland",
    "PLT": "Asia/Karachi",
    "PNT": "America/Phoenix",
    "PRT": "America/Puerto_Rico",
    "PST": "America/Los_Angeles",
    "SST": "Pacific/Guadalcanal",
    "VST": "Asia/Ho_Chi_Minh",
}
"""Java's legacy three-letter zone ids (``java.time.ZoneId.SHORT_IDS``) that are not IANA
names. Chronos, on the JVM, accepted them (its own docs use ``"PST"``); moroccron stores
the IANA zone they stand for. EST, MST and HST are IANA names already and stay as they are."""
_DURATION_ALLOWED = "an ISO 8601 duration, such as PT30M, PT1H30M, P1D, PT90S or P1M"
_CALENDAR_RE = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?(.*)$")


@dataclass(frozen=True, slots=True)
class ChronosJob:
    """A Chronos job hash read into a native job.

    :ivar job: the validated native job.
    :ivar ignored: Chronos or unknown fields the job hash set that moroccron does not
        act on, by their path in the hash (``async``, ``container.networkName``).
    :ivar run_now: Chronos would have run the job at once (a start in the past, or no
        schedule on ``/iso8601``); the schedule stored is the advanced one.
    """

    job: JobSpec
    ignored: tuple[str, ...] = ()
    run_now: bool = False


# --------------------------------------------------------------------------- durations


def parse_duration(text: str) -> float:
    """Seconds in an ISO 8601 duration such as ``PT15M`` or ``P1DT2H``.

    Years and months are refused: their length depends on the calendar, and a starting
    deadline that means a different number of seconds each month helps nobody.

    :raises ValueError: not a fixed-length ISO 8601 duration.
    """
    m = _DURATION_RE.fullmatch(text.strip().upper()) if isinstance(text, str) else None
    if m is None or text.strip().upper() in ("P", "PT") or text.strip().upper().endswith("T"):
        raise ValueError(f"not an ISO 8601 duration: {text!r}")
    parts = {k: float(v) for k, v in m.groupdict().items() if v is not None}
    return (
        parts.get("weeks", 0) * 604800
        + parts.get("days", 0) * 86400
        + parts.get("hours", 0) * 3600
        + parts.get("minutes", 0) * 60
        + parts.get("seconds", 0)
    )


def format_duration(seconds: float) -> str:
    """The ISO 8601 duration of ``seconds``, largest units first: 5400 -> ``PT1H30M``.

    Exact: :func:`parse_duration` gives the same number back.
    """
    whole = math.floor(seconds)
    days, rest = divmod(int(whole), 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    head = (f"{days}D" if days else "") + "T" + (f"{hours}H" if hours else "") + (f"{minutes}M" if minutes else "")
    # Splitting the fraction off costs float precision (61.1 - 60 is 1.1000000000000014):
    # take the shortest spelling that still reads back as the same number.
    for sec in (round(secs + seconds - whole, 6), secs + seconds - whole):
        text = "P" + head + (f"{_num(sec)}S" if sec or head == "T" else "")
        text = text.removesuffix("T")
        if parse_duration(text) == seconds:
            return text
    return f"PT{_num(seconds)}S"


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)  # float() of a big int would overflow
    return str(int(value)) if value.is_integer() else repr(value)


def chronos_time(when: datetime | None) -> str:
    """A timestamp as Chronos wrote them (``2014-03-08T16:57:17.507Z``), or ``""``."""
    if when is None:
        return ""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


# --------------------------------------------------------------------------- field names

_NATIVE_TO_CHRONOS: tuple[tuple[str, str], ...] = (
    ("resources.cpus", "cpus"),
    ("resources.mem", "mem"),
    ("resources.disk", "disk"),
    ("resources.gpus", "gpus"),
    ("resources", "cpus"),
    ("timezone", "scheduleTimeZone"),
    ("owners", "owner"),
    ("env", "environmentVariables"),
    ("user", "runAsUser"),
    ("soft_error", "softError"),
    ("starting_deadline_seconds", "epsilon"),
    ("container.force_pull", "container.forcePullImage"),
    ("concurrency", f"{EXTENSION}.concurrency"),
    ("container.network_infos", "container.networkInfos"),
)
_VOLUME_KEYS = {"container_path": "containerPath", "host_path": "hostPath"}


def chronos_field(native: str, job_name: str | None = None) -> str:
    """The Chronos name of a native field path, for error messages.

    ``resources.cpus`` -> ``cpus``, ``timezone`` -> ``scheduleTimeZone``,
    ``container.volumes[0].host_path`` -> ``container.volumes[0].hostPath``; native-only
    fields get the ``moroccron.`` prefix. Graph errors name the job
    (``etl.parents[0]``); for the job being saved, ``job_name``, that prefix is dropped.
    """
    if job_name and native.startswith(job_name + "."):
        native = native[len(job_name) + 1 :]
    for src, dst in _NATIVE_TO_CHRONOS:
        if native == src or native.startswith((src + ".", src + "[")):
            return dst + native[len(src) :]
    head = re.split(r"[.\[]", native, maxsplit=1)[0]
    if head in EXTENSION_FIELDS and head != "owners":
        return f"{EXTENSION}.{native}"
    if native.startswith("container.volumes["):
        for src, dst in _VOLUME_KEYS.items():
            if native.endswith("." + src):
                return native[: -len(src)] + dst
    return native


def translate(exc: ValidationError, job_name: str | None = None) -> ValidationError:
    """``exc`` with every field renamed to its Chronos name (:func:`chronos_field`)."""
    errors = [FieldError(chronos_field(e.field, job_name), e.message, e.value, e.allowed) for e in exc.errors]
    return ValidationError(errors, exc.prefix)


# --------------------------------------------------------------------------- Chronos -> native


class _Reader:
    """Reads one Chronos job hash, collecting errors (by Chronos name) and ignored fields."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.errors: list[FieldError] = []
        self.ignored: list[str] = []

    def error(self, field: str, message: str, value: Any = None, allowed: str | None = None) -> None:
        self.errors.append(FieldError(field, message, value, allowed))

    def present(self, key: str) -> bool:
        return self.data.get(key) is not None

    def text(
        self, key: str, default: str | None = None, where: Mapping[str, Any] | None = None, path: str | None = None
    ) -> str | None:
        value = (self.data if where is None else where).get(key)
        if value is None:
            return default
        if not isinstance(value, str):
            self.error(path or key, "must be a string", value, "a string")
            return default
        return value

    def boolean(self, key: str, default: bool, where: Mapping[str, Any] | None = None, path: str | None = None) -> bool:
        value = (self.data if where is None else where).get(key)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE  # Jackson read "true" as true; so do we
        self.error(path or key, "must be true or false", value, "true | false")
        return default

    def number(self, key: str) -> float | None:
        """A number, or numeric text (Chronos's own docs send ``"cpus": "0.5"``)."""
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                value = float(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.error(key, "must be a number", self.data.get(key), "a number, such as 0.5")
            return None
        return value

    def items(
        self, key: str, allowed: str, where: Mapping[str, Any] | None = None, path: str | None = None
    ) -> list[Any]:
        value = (self.data if where is None else where).get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path or key, "must be a list", value, allowed)
            return []
        return value

    def objects(
        self, key: str, allowed: str, where: Mapping[str, Any] | None = None, path: str | None = None
    ) -> list[tuple[str, Mapping[str, Any]]]:
        """The list ``key`` of JSON objects, each with its path for error messages."""
        path = path or key
        out = []
        for i, item in enumerate(self.items(key, allowed, where, path)):
            if not isinstance(item, Mapping):
                self.error(f"{path}[{i}]", "must be an object", item, allowed)
            else:
                out.append((f"{path}[{i}]", item))
        return out

    def ignore_if_set(self, path: str, value: Any) -> None:
        if value not in (None, False, "", 0, [], {}):
            self.ignored.append(path)


def from_chronos(
    data: Any, *, now: datetime | None = None, default_user: str = CHRONOS_DEFAULT_USER, current: JobSpec | None = None
) -> ChronosJob:
    """Read a Chronos job hash into a native job.

    :param now: what an empty start in ``schedule`` (``R//PT1H``, Chronos's "start
        now") becomes; the current time when not given.
    :param default_user: ``runAsUser`` for a job that names none (``""``: the framework's user).
    :param current: the job stored under that name, if any. A schedule and zone sent as
        the Chronos API shows them for it are its own schedule, unchanged: a client that
        sends back what it read does not move (or run) the job.
    :raises ValidationError: every problem at once, each naming the Chronos field.
    """
    now = now or datetime.now(UTC)
    if not isinstance(data, Mapping):
        raise ValidationError.single("job", "must be a JSON object", data, "a Chronos job hash {name, command, ...}")
    r = _Reader(data)
    kwargs: dict[str, Any] = {}
    name = data.get("name")
    if name is None:
        r.error("name", "is required", None, "a job name")
    kwargs["name"] = name

    command = r.text("command")  # optional in Chronos, default ""
    kwargs["command"] = command or None
    image = data.get("container", {}).get("image") if isinstance(data.get("container"), Mapping) else None
    if not command and not image and r.boolean("shell", True):
        # Chronos ran ``sh -c ""``, which does nothing and succeeds: so does the shell's ':'.
        # The job hash still shows "" (chronos_extra).
        kwargs["command"] = ":"
    # Not given: true with a command, false for an image-only job (its entrypoint runs).
    kwargs["shell"] = r.boolean("shell", None)  # type: ignore[arg-type]
    kwargs["arguments"] = data.get("arguments") or ()
    kwargs["description"] = r.text("description", "") or ""
    zone_sent = r.text("scheduleTimeZone", "") or ""
    kwargs["timezone"] = _JAVA_SHORT_ZONES.get(zone_sent, zone_sent or "UTC")
    schedule = _schedule(r, zone_sent, kwargs["timezone"], now)
    kwargs["parents"] = data.get("parents") or ()
    kwargs["owners"] = _owners(r)
    kwargs["resources"] = _resources(r)
    retries = data.get("retries")
    if isinstance(retries, str) and retries.strip().isascii() and retries.strip().isdigit():
        # ASCII digits only ('²'.isdigit() is true, and int() refuses it); a number of
        # thousands of digits stays text, for JobSpec to refuse, as int() would refuse it.
        retries = int(retries) if len(retries.strip()) <= 18 else retries
    kwargs["retries"] = CHRONOS_DEFAULT_RETRIES if retries is None else retries
    kwargs["disabled"] = r.boolean("disabled", False)
    kwargs["soft_error"] = r.boolean("softError", False)
    kwargs["starting_deadline_seconds"] = _epsilon(r)
    user = r.text("runAsUser", default_user)
    kwargs["user"] = user or None
    kwargs["env"] = _env(r)
    kwargs["uris"] = _uris(r)
    kwargs["fetch"] = _fetch(r)
    kwargs["constraints"] = _constraints(r)
    kwargs["container"] = _container(r)
    if current is not None:
        schedule = _keep_unchanged(data, current, kwargs, schedule, zone_sent)
    kwargs["schedule"] = schedule.schedule if schedule else None
    extension = _extension(r)
    kwargs.update({k: v for k, v in extension.items() if k not in ("concurrency", "owners")})
    kwargs["concurrency"] = _concurrency(r, extension.get("concurrency"))
    kwargs["high_priority"] = r.boolean("highPriority", False)
    kwargs["async_completion"] = r.boolean("async", False)
    timeout = _max_completion_time(r)
    if timeout is not None:  # the Chronos field wins over moroccron.timeout_seconds
        kwargs["timeout_seconds"] = timeout
    if "owners" in extension:
        kwargs["owners"] = extension["owners"]

    for key in IGNORED_FIELDS:
        r.ignore_if_set(key, data.get(key))
    r.ignored.extend(str(k) for k in data if k not in KNOWN_FIELDS)

    job: JobSpec | None = None
    try:
        with chronos_names():
            job = JobSpec(**kwargs)
            if not r.errors:
                extra = _chronos_extra(r, job, default_user, schedule)
                job = JobSpec(**kwargs, chronos_extra=extra) if extra else job
    except ValidationError as exc:
        # What the reader already reported (a missing name, a bad volume) would come
        # back again from JobSpec in other words; keep the first, more precise, one.
        reported = {e.field for e in r.errors}
        r.errors.extend(e for e in translate(exc).errors if e.field not in reported)
    if r.errors or job is None:
        label = f"job {name!r}" if isinstance(name, str) else None
        raise ValidationError(r.errors, label)
    return ChronosJob(job, tuple(dict.fromkeys(r.ignored)), run_now=bool(schedule and schedule.run_now))


def _keep_unchanged(
    data: Mapping[str, Any], current: JobSpec, kwargs: dict[str, Any], schedule: ChronosSchedule | None, zone_sent: str
) -> ChronosSchedule | None:
    """Keep the stored values of the fields sent back as the Chronos API shows them.

    Where Chronos' reading of a value differs from the native one (a start in the past,
    a zone in the start, a zero ``disk``, no ``epsilon``), a job read and sent back
    unchanged would otherwise change: run at once, or get Chronos' defaults.
    """
    shown = to_chronos(current)
    if (
        schedule is not None
        and current.schedule is not None
        and (shown.get("schedule"), shown.get("scheduleTimeZone")) == (data.get("schedule"), zone_sent)
    ):
        schedule = ChronosSchedule(current.schedule)
        kwargs["timezone"] = current.timezone
    elif schedule is None and not data.get("scheduleTimeZone"):
        kwargs["timezone"] = current.timezone  # not shown for a job without a schedule
    resources = dict(kwargs["resources"])
    for key in Resources.FIELDS:
        if data.get(key) == shown.get(key):
            resources[key] = getattr(current.resources, key)
    kwargs["resources"] = resources
    if data.get("epsilon") == shown.get("epsilon"):
        kwargs["starting_deadline_seconds"] = current.starting_deadline_seconds
    return schedule


def _chronos_extra(r: _Reader, job: JobSpec, default_user: str, schedule: ChronosSchedule | None) -> dict[str, Any]:
    """What ``job`` keeps so that the Chronos API returns it as Chronos would (see
    :mod:`moroccron.api.chronos_view`)."""
    shown = None
    if schedule is not None:
        shown = schedule.schedule if schedule.advanced else r.data.get("schedule")
    view = chronos_view(
        r.data,
        resources={k: getattr(job.resources, k) for k in ("cpus", "mem", "disk")},
        default_user=default_user,
        schedule=shown,
    )
    if r.data.get("epsilon") is None and job.starting_deadline_seconds == CHRONOS_DEFAULT_EPSILON:
        view["epsilon"] = "PT60S"  # Chronos' default, as it printed it
    if job.secret_env:
        view.pop("environmentVariables")  # values no output may show: never copied
    return overlay(view, _generated(job))


def _schedule(r: _Reader, zone_sent: str, timezone: str, now: datetime) -> ChronosSchedule | None:
    schedule = r.text("schedule")
    if not schedule:
        return None
    try:
        return chronos_schedule(schedule, zone_sent, timezone, now)
    except ValidationError as exc:
        r.errors.extend(exc.errors)
        return ChronosSchedule(schedule)


def _owners(r: _Reader) -> tuple[str, ...]:
    value = r.data.get("owner")
    if value is None:
        return ()
    allowed = "comma-separated email addresses, e.g. 'ops@example.com,dev@example.com'"
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list):  # not Chronos, but the intent is plain
        items = value
        for i, item in enumerate(value):
            if not isinstance(item, str):
                r.error(f"owner[{i}]", "must be a string", item, allowed)
    else:
        r.error("owner", "must be a string", value, allowed)
        return ()
    return tuple(o.strip() for o in items if isinstance(o, str) and o.strip())


def _resources(r: _Reader) -> Resources | dict[str, float]:
    values: dict[str, float] = {}
    for key in Resources.FIELDS:
        n = r.number(key)
        if n:  # 0 meant "the default" to Chronos (its --mesos_task_* settings)
            values[key] = n
        elif key in CHRONOS_DEFAULT_RESOURCES:
            values[key] = CHRONOS_DEFAULT_RESOURCES[key]
    return values


def _max_completion_time(r: _Reader) -> float | None:
    """``maxCompletionTime``: seconds (Chronos's docs, and the TaskInfo it built), 0 for none."""
    value = r.number("maxCompletionTime")
    if value is None or value == 0:
        return None
    if value < 0:
        r.error("maxCompletionTime", "must not be negative", value, "seconds, or 0 for no limit")
        return None
    if value > bounds.MAX_SECONDS:
        # Named here, not as moroccron.timeout_seconds: the client's field is the one to fix
        # (a value this large is most likely milliseconds).
        r.error(
            "maxCompletionTime",
            "is too long (it is in seconds)",
            value,
            f"seconds from 0 (no limit) to {bounds.MAX_SECONDS}",
        )
        return None
    return float(value)


def _epsilon(r: _Reader) -> float | None:
    value = r.data.get("epsilon")
    if value is None or value == "":
        return CHRONOS_DEFAULT_EPSILON
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError:
            pass
        calendar = _CALENDAR_RE.fullmatch(value.strip().upper())
        if calendar is not None and value.strip().upper() not in ("P", "PT"):
            # Years and months (Chronos took P1M): as 365 and 30 days, capped at the
            # longest starting deadline moroccron allows.
            years, months, rest = calendar.groups()
            seconds: float = int(years or 0) * 365 * 86400 + int(months or 0) * 30 * 86400
            with contextlib.suppress(ValueError):
                seconds += parse_duration("P" + rest) if rest else 0
                return float(min(seconds, bounds.MAX_SECONDS - 1))
    r.error("epsilon", "must be an ISO 8601 duration", value, _DURATION_ALLOWED)
    return None


def _env(r: _Reader) -> dict[str, str]:
    env: dict[str, str] = {}
    for path, item in r.objects("environmentVariables", "a list of {name, value}"):
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not name:
            r.error(f"{path}.name", "must be a non-empty string", name, "an environment variable name")
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        elif isinstance(value, float) and not math.isfinite(value):
            r.error(f"{path}.value", "must be a string or a finite number", value, "a string")
            continue
        elif isinstance(value, (int, float)):
            value = _num(value)
        elif value is None:
            value = ""
        if not isinstance(value, str):
            r.error(f"{path}.value", "must be a string", value, "a string")
            continue
        env.pop(name, None)  # set more than once, as Chronos took it: the last one is what the task sees
        env[name] = value
    return env


def _uris(r: _Reader) -> tuple[str, ...]:
    uris: list[Any] = list(r.items("uris", "a list of URIs"))
    return tuple(dict.fromkeys(u if isinstance(u, str) else repr(u) for u in uris)) if uris else ()


def _fetch(r: _Reader) -> list[Fetch]:
    """``fetch[]``, with the flags Chronos defaulted as it did: ``extract`` true, the
    others false. A URI listed in ``uris`` too is fetched once (see the TaskInfo)."""
    out: list[Fetch] = []
    for path, item in r.objects("fetch", "a list of {uri, executable, extract, cache, output_file}"):
        uri = item.get("uri")
        if not isinstance(uri, str) or not uri:
            r.error(f"{path}.uri", "must be a URI", uri, "e.g. https://example.com/tool.tgz")
            continue
        flags = {flag: r.boolean(flag, default, item, f"{path}.{flag}") for flag, default in _FETCH_FLAGS.items()}
        output_file = r.text("output_file", None, item, f"{path}.output_file") or None
        r.ignored.extend(f"{path}.{k}" for k in item if k not in ("uri", "output_file", *_FETCH_FLAGS))
        try:
            out.append(Fetch(uri=uri, output_file=output_file, **flags))
        except ValidationError as exc:
            for e in exc.errors:
                r.error(f"{path}.{e.field}", e.message, e.value, e.allowed)
    return out


def _constraints(r: _Reader) -> list[Any]:
    out = []
    for i, item in enumerate(r.items("constraints", '[["rack", "EQUALS", "r1"], ...]')):
        if isinstance(item, list) and 2 <= len(item) <= 3 and all(isinstance(x, str) for x in item):
            if item[1].upper() in CONSTRAINT_OPERATORS:
                out.append(item)
            else:  # Chronos accepted (and dropped) an operator it did not know; kept and returned, not applied
                r.ignored.append(f"constraints[{i}]")
        else:
            r.error(
                f"constraints[{i}]",
                "must be [attribute, operator] or [attribute, operator, value]",
                item,
                '["rack", "EQUALS", "rack-1"]; operators EQUALS, LIKE, UNLIKE, UNIQUE, GROUP_BY',
            )
    return out


def _container(r: _Reader) -> Container | None:
    c = r.data.get("container")
    if c is None:
        return None
    if not isinstance(c, Mapping):
        r.error("container", "must be an object", c, "{type, image, network, volumes, forcePullImage, parameters}")
        return None
    ctype = r.text("type", "DOCKER", c, "container.type")  # Chronos's default type
    image = r.text("image", None, c, "container.image")
    network = r.text("network", None, c, "container.network")
    force_pull = r.boolean("forcePullImage", False, c, "container.forcePullImage")
    volumes: list[Volume] = []
    for path, v in r.objects("volumes", "a list of {containerPath, hostPath, mode}", c, "container.volumes"):
        cp = r.text("containerPath", None, v, f"{path}.containerPath")
        hp = r.text("hostPath", None, v, f"{path}.hostPath")
        mode = r.text("mode", "RO", v, f"{path}.mode")
        source = _external(r, v, f"{path}.external")
        for key in v:
            if key not in _VOLUME_FIELDS:
                r.ignored.append(f"{path}.{key}")
        try:
            volumes.append(Volume(container_path=cp, host_path=hp, mode=mode, source=source))  # type: ignore[arg-type]
        except ValidationError as exc:
            for e in exc.errors:
                r.error(f"{path}.{_VOLUME_KEYS.get(e.field, e.field)}", e.message, e.value, e.allowed)
    parameters: list[dict[str, str]] = []  # a key may repeat, as in docker run (--env A=1 --env B=2)
    for path, p in r.objects("parameters", "a list of {key, value}", c, "container.parameters"):
        option, setting = p.get("key"), p.get("value")
        if not isinstance(option, str) or not option:
            r.error(f"{path}.key", "must be a non-empty string", option, "a docker option name, e.g. 'add-host'")
        elif not isinstance(setting, str):
            r.error(f"{path}.value", "must be a string", setting, "a string")
        else:
            parameters.append({"key": option, "value": setting})
    for key in c:
        if key not in _CONTAINER_FIELDS:
            if key in _CONTAINER_IGNORED:
                r.ignore_if_set(f"container.{key}", c[key])
            else:
                r.ignored.append(f"container.{key}")
    infos = _network_infos(r, c)
    network, infos = _networks(
        r,
        (ctype or "DOCKER").lower(),
        network or None,
        r.text("networkName", None, c, "container.networkName") or None,
        infos,
    )
    if isinstance(network, str) and network.lower() == "host":
        network = None  # Chronos' default, and the native one (the agent's network) for both types
    try:
        return Container(
            type=ctype or "DOCKER",
            image=image,
            volumes=tuple(volumes),
            force_pull=force_pull,
            network=network,
            parameters=tuple(parameters),  # type: ignore[arg-type]
            network_infos=tuple(infos),  # type: ignore[arg-type]
        )
    except ValidationError as exc:
        for e in exc.errors:
            r.error(chronos_field("container." + e.field), e.message, e.value, e.allowed)
        return None


def _external(r: _Reader, volume: Mapping[str, Any], path: str) -> VolumeSource | None:
    """A volume's ``external`` {name, provider, options}: a Docker volume made by the
    ``provider`` driver (Mesos ``DOCKER_VOLUME``), as Chronos sent it."""
    ext = volume.get("external")
    if ext is None:
        return None
    allowed = "{name, provider, options: [{key, value}]}"
    if not isinstance(ext, Mapping):
        r.error(path, "must be an object", ext, allowed)
        return None
    options = _key_values(r, "options", ext, f"{path}.options", "a driver option name")
    r.ignored.extend(f"{path}.{k}" for k in ext if k not in ("name", "provider", "options"))
    try:
        return VolumeSource(
            type="docker_volume", name=ext.get("name"), driver=ext.get("provider") or None, driver_options=options
        )
    except ValidationError as exc:
        for e in exc.errors:
            head, _, rest = e.field.partition(".")
            r.error(
                f"{path}.{_EXTERNAL_KEYS.get(head, head)}" + (f".{rest}" if rest else ""), e.message, e.value, e.allowed
            )
        return None


def _key_values(r: _Reader, key: str, owner: Mapping[str, Any], path: str, what: str) -> dict[str, Any]:
    """A Chronos list of ``{key, value}`` pairs under ``owner[key]``, as a mapping (a key
    given twice: the last value); a pair without a key is an error at ``path[i].key``."""
    out: dict[str, Any] = {}
    for item_path, item in r.objects(key, "a list of {key, value}", owner, path):
        if not isinstance(item.get("key"), str) or not item.get("key"):
            r.error(f"{item_path}.key", "must be a non-empty string", item.get("key"), what)
        else:
            out[item["key"]] = item.get("value")
    return out


def _network_infos(r: _Reader, c: Mapping[str, Any]) -> list[dict[str, Any]]:
    """``container.networkInfos`` [{name, labels: [{key, value}], protocol}]; Chronos passed
    name and labels to Mesos, never ``portMappings`` (reported when set)."""
    out = []
    for path, n in r.objects("networkInfos", "a list of {name, labels, protocol}", c, "container.networkInfos"):
        labels = _key_values(r, "labels", n, f"{path}.labels", "a label name")
        r.ignore_if_set(f"{path}.portMappings", n.get("portMappings"))
        r.ignored.extend(f"{path}.{k}" for k in n if k not in ("name", "labels", "protocol", "portMappings"))
        out.append({"name": n.get("name"), "labels": labels, "protocol": n.get("protocol")})
    return out


def _networks(
    r: _Reader, ctype: str, network: str | None, name: str | None, infos: list[dict[str, Any]]
) -> tuple[str | None, list[dict[str, Any]]]:
    """Chronos's ``network`` mode, ``networkName`` and ``networkInfos`` as the native
    ``network`` and ``network_infos``, with the effect each had on Chronos's tasks.

    - Docker ``USER`` (or no mode): the user-defined network is ``networkName``, or the
      single ``networkInfos`` entry; ``USER`` with neither is refused (the agent refuses it).
    - Docker ``HOST``/``BRIDGE``/``NONE``: Docker ignored ``networkName`` and
      ``networkInfos``; they are reported as ignored.
    - Mesos: there is no Docker mode; ``networkName`` and ``networkInfos`` are the CNI
      networks joined.
    """
    mode = network.upper() if network is not None else None
    if ctype == "docker" and mode in ("HOST", "BRIDGE", "NONE"):
        if name is not None:
            r.ignored.append("container.networkName")
        if infos:
            r.ignored.append("container.networkInfos")
        return network, []
    if mode in (None, "USER") or ctype != "docker":
        if name is not None and any(n.get("name") == name for n in infos):
            # networkName repeats a networkInfos entry (Chronos clients often send both):
            # one network, named by the entry, which also carries its labels.
            return None, infos
        if name is not None:
            return name, infos
        if mode == "USER":
            if ctype == "docker" and not infos:
                r.error(
                    "container.network",
                    "USER needs the network's name",
                    network,
                    "networkName, or one networkInfos entry (or HOST, BRIDGE)",
                )
            return None, infos
    return network, infos


def _extension(r: _Reader) -> dict[str, Any]:
    ext = r.data.get(EXTENSION)
    if ext is None:
        return {}
    if not isinstance(ext, Mapping):
        r.error(EXTENSION, "must be an object", ext, f"an object with fields {', '.join(EXTENSION_FIELDS)}")
        return {}
    out = {}
    for key, value in ext.items():
        if key not in EXTENSION_FIELDS:
            # Our own field: a typo here would silently lose a setting, so refuse it.
            r.error(f"{EXTENSION}.{key}", "unknown field", None, ", ".join(EXTENSION_FIELDS))
        elif value is not None or key in ("timeout_seconds", "disable_after_failures"):
            out[key] = value
    return out


def _concurrency(r: _Reader, native: Any) -> Any:
    """``concurrent`` decides allow versus not; only ``moroccron.concurrency`` can say
    ``replace``, which Chronos cannot express, and it yields to an explicit ``concurrent``."""
    concurrent = r.data.get("concurrent")
    if native is not None and not (isinstance(native, str) and native.lower() in CONCURRENCY_POLICIES):
        return native  # let JobSpec report it, as moroccron.concurrency
    if concurrent is None:
        return native if native is not None else "forbid"
    if r.boolean("concurrent", False):
        return "allow"
    return "replace" if isinstance(native, str) and native.lower() == "replace" else "forbid"


# --------------------------------------------------------------------------- native -> Chronos


def to_chronos(
    job: JobSpec, stats: JobStats | None = None, owner_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The Chronos job hash of ``job``, with its run statistics.

    :param stats: the job's run history summary; zeros and empty dates without it.
    :param owner_names: owner id -> name, for ``ownerName``.
    """
    out = _generated(job, stats, owner_names)
    names = out["ownerName"]
    out = apply_overlay(out, job.chronos_extra)
    # An ownerName sent is returned as sent; else the names of the owners' records.
    out["ownerName"] = (job.chronos_extra.get("as_sent") or {}).get("ownerName") or names
    return out


def _generated(
    job: JobSpec, stats: JobStats | None = None, owner_names: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The Chronos job hash of the native ``job`` alone (``chronos_extra`` not applied)."""
    stats = stats or JobStats()
    owner_names = owner_names or {}
    names = [owner_names[o] for o in job.owners if owner_names.get(o)]
    out: dict[str, Any] = {
        "name": job.name,
        "command": job.command or "",
        "shell": job.shell,
        "arguments": list(job.arguments),
        "description": job.description,
        "owner": ",".join(job.owners),
        "ownerName": ", ".join(names),
        "cpus": job.resources.cpus,
        "mem": job.resources.mem,
        "disk": job.resources.disk,
        "gpus": job.resources.gpus,
        "retries": job.retries,
        "disabled": job.disabled,
        "softError": job.soft_error,
        "concurrent": job.concurrency == "allow",
        "async": job.async_completion,
        # Chronos fields moroccron has no use for; the values sent come from chronos_extra.
        "executor": "",
        "executorFlags": "",
        "taskInfoData": "",
        "dataProcessingJobType": False,
        "highPriority": job.high_priority,
        "maxCompletionTime": _seconds_out(job.timeout_seconds),
        "runAsUser": job.user or "",
        "uris": list(job.uris),
        "fetch": [_fetch_out(f) for f in job.fetch],
        "environmentVariables": [{"name": k, "value": v} for k, v in job.env.items()],
        "constraints": [[c.field, c.operator] + ([c.value] if c.value is not None else []) for c in job.constraints],
        "successCount": stats.success_count,
        "errorCount": stats.final_failure_count,  # per invocation, as Chronos counted
        "lastSuccess": chronos_time(stats.last_success_at),
        "lastError": chronos_time(stats.last_failure_at),
        "errorsSinceLastSuccess": stats.consecutive_failures,
    }
    if job.starting_deadline_seconds is not None:
        out["epsilon"] = format_duration(job.starting_deadline_seconds)
    # Clients tell the two kinds apart by which key is present, as Chronos wrote only one.
    if job.schedule is not None:
        out["schedule"] = job.schedule
        out["scheduleTimeZone"] = job.timezone
    if job.parents:
        out["parents"] = list(job.parents)
    if job.container is not None:
        out["container"] = _container_out(job.container)
    out[EXTENSION] = _extension_out(job)
    return out


def _seconds_out(seconds: float | None) -> int | float:
    """A timeout as ``maxCompletionTime``: whole seconds as an integer (Chronos's Long), 0 for none."""
    if seconds is None:
        return 0
    return int(seconds) if float(seconds).is_integer() else seconds


def _fetch_out(f: Fetch) -> dict[str, Any]:
    out: dict[str, Any] = {"uri": f.uri, "executable": f.executable, "cache": f.cache, "extract": f.extract}
    if f.output_file is not None:
        out["output_file"] = f.output_file
    return out


def _container_out(c: Container) -> dict[str, Any]:
    out: dict[str, Any] = {"type": c.type.upper()}
    if c.image is not None:
        out["image"] = c.image
    mode, name = c.network_mode
    if mode == "USER":
        out["network"], out["networkName"] = "USER", name
    elif c.type == "docker" and c.network_infos and c.network is None:
        out["network"] = "USER"
    else:
        network = c.network or "host"  # the native default, as Chronos' default HOST
        out["network"] = network.upper() if network.lower() in CHRONOS_NETWORK_MODES else network
    out["networkInfos"] = [
        {
            "name": n.name,
            **({"protocol": n.protocol} if n.protocol else {}),
            "labels": [{"key": k, "value": v} for k, v in n.labels.items()],
            "portMappings": [],
        }
        for n in c.network_infos
    ]
    out["forcePullImage"] = c.force_pull
    out["volumes"] = [_volume_out(v) for v in c.volumes]
    out["parameters"] = [p.to_dict() for p in c.parameters]
    return out


def _volume_out(v: Volume) -> dict[str, Any]:
    out: dict[str, Any] = {"containerPath": v.container_path}
    if v.host_path:
        out["hostPath"] = v.host_path
    out["mode"] = v.mode
    if v.source is not None and v.source.type == "docker_volume":
        out["external"] = {
            "name": v.source.name,
            **({"provider": v.source.driver} if v.source.driver else {}),
            "options": [{"key": k, "value": val} for k, val in v.source.driver_options.items()],
        }
    return out


def _extension_out(job: JobSpec) -> dict[str, Any]:
    out: dict[str, Any] = {
        "timeout_seconds": job.timeout_seconds,
        "catchup": job.catchup,
        "concurrency": job.concurrency,
        "retry_delay_seconds": job.retry_delay_seconds,
        "triggers": job.triggers.to_dict(),
        "notify": job.notify.to_dict(),
        "labels": dict(job.labels),
        "disable_after_failures": job.disable_after_failures,
    }
    if any("," in o or o != o.strip() for o in job.owners):
        out["owners"] = list(job.owners)
    if job.secret_env:
        out["secret_env"] = list(job.secret_env)
    return out


def owner_names(owners: Iterable[Any]) -> dict[str, str]:
    """owner id -> name, from :class:`~moroccron.model.Owner` records."""
    return {o.id: o.name for o in owners if o.name}
