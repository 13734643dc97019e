"""Frozen domain types: what a job is, what a run is.

A :class:`JobSpec` is validated when it is built, whatever built it: a job-definition
module, the REST API, the Chronos API or a row loaded from the database. Every
problem is reported at once, each naming the field, the value and what is allowed, so a
user fixes a definition in one pass rather than one error at a time.

Lists become tuples and mappings become read-only so that a spec, once validated,
cannot be changed behind the validator's back.
"""

from __future__ import annotations

import enum
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import MISSING, InitVar, dataclass, field, fields, replace
from datetime import UTC, datetime
from functools import cache
from types import MappingProxyType
from typing import Any, ClassVar, Self, cast

from moroccron import bounds, channels
from moroccron.bounds import NAME_MAX
from moroccron.collect import Checked, note_built
from moroccron.errors import FieldError, ValidationError

__all__ = [
    "CATCHUP_POLICIES",
    "CONCURRENCY_POLICIES",
    "CONSTRAINT_OPERATORS",
    "Constraint",
    "Container",
    "Fetch",
    "JobSpec",
    "NetworkInfo",
    "Notify",
    "Owner",
    "Parameter",
    "Resources",
    "Run",
    "RunState",
    "RunTrigger",
    "Triggers",
    "Volume",
    "VolumeSource",
    "is_job_name",
    "parse_task_id",
    "run_argument_line",
    "run_arguments",
    "stored_data",
    "task_id_for",
]

JOB_NAME_RE = re.compile(rf"[A-Za-z0-9_][A-Za-z0-9_.\-]{{0,{NAME_MAX - 1}}}")
"""A whole job name (match with ``fullmatch``: ``$`` would let a final newline through)."""
_STORED_JOB_NAME_RE = re.compile(JOB_NAME_RE.pattern + "$")  # the rule older versions stored names under
CHRONOS_JOB_NAME_RE = re.compile(rf"[A-Za-z0-9_.\-]{{1,{NAME_MAX}}}")
"""Chronos' rule (``[\\w.-]+``), which also allows a leading '-' or '.': the Chronos API
takes such names (not '.' or '..', which no URL path can carry)."""
JOB_NAME_ALLOWED = f"1-{NAME_MAX} characters: letters, digits, '_', '-', '.'; not starting with '-' or '.'"
CONCURRENCY_POLICIES = ("forbid", "allow", "replace")
CATCHUP_POLICIES = ("none", "latest", "all")
CONTAINER_TYPES = ("mesos", "docker")
VOLUME_MODES = ("RO", "RW")
VOLUME_SOURCE_TYPES = ("docker_volume", "host_path", "sandbox_path")
CONSTRAINT_OPERATORS = ("EQUALS", "LIKE", "UNLIKE", "UNIQUE", "GROUP_BY")
NOTIFY_TARGET_RE = re.compile(r"(email|slack|pagerduty|webhook):\S+")
"""A whole notification target on one of the channels known before channels were plugins
(``fullmatch``). Kept for callers of older versions: what is checked now is
:func:`moroccron.channels.split_target`, against the registered channels."""
NOTIFY_TARGET_ALLOWED = "'email:ADDRESS', 'slack:#CHANNEL', 'pagerduty:SERVICE' or 'webhook:NAME'"
"""The targets of :data:`NOTIFY_TARGET_RE`, for documentation; messages list the registered
channels (:func:`moroccron.channels.allowed_targets`)."""
MAX_RETRIES = bounds.MAX_RETRIES


def notify_target_problem(text: str, *, strict: bool = True) -> str | None:
    """What is wrong with notification target ``text`` (``channel:address``), or None.

    The channel must be registered (:mod:`moroccron.channels`) and accept the address.
    Not ``strict`` (a definition read back from the database), any ``name:address``
    passes: a channel whose plugin was uninstalled since must not make jobs unreadable.
    """
    if not strict:
        channel, sep, address = text.partition(":")
        return None if sep and channel and address else "is not a notification target"
    try:
        channels.split_target(text)
    except ValueError as exc:
        detail = str(exc)
        return "is not a notification target" + ("" if detail == "is not a notification target" else f": {detail}")
    return None


# Set while specs and owners are rebuilt from the database (see stored_data()).
_STORED: ContextVar[bool] = ContextVar("moroccron_stored_data", default=False)
# Set while the Chronos API builds a job (see chronos_names()).
_CHRONOS_NAMES: ContextVar[bool] = ContextVar("moroccron_chronos_names", default=False)


@contextmanager
def chronos_names() -> Iterator[None]:
    """Accept job names under Chronos' rule (:data:`CHRONOS_JOB_NAME_RE`) while building specs."""
    token = _CHRONOS_NAMES.set(True)
    try:
        yield
    finally:
        _CHRONOS_NAMES.reset(token)


def _chronos_name(value: str) -> bool:
    return CHRONOS_JOB_NAME_RE.fullmatch(value) is not None and value not in (".", "..")


@contextmanager
def stored_data() -> Iterator[None]:
    """Build specs and owners as stored, without the bounds of :mod:`moroccron.bounds`.

    What is in the database was accepted once, perhaps by a version with looser
    limits: a job stored with a 40-day timeout must still load (and be listed, shown and
    fixed by a PATCH, which checks the bounds again), not stop the scheduler from
    loading every job. Types and the rules older versions applied are still checked.
    """
    token = _STORED.set(True)
    try:
        yield
    finally:
        _STORED.reset(token)


def is_job_name(value: Any) -> bool:
    """True if ``value`` is a whole, valid job name."""
    if not isinstance(value, str):
        return False
    if _STORED.get():
        # A name the Chronos API accepted must load too.
        return _STORED_JOB_NAME_RE.match(value) is not None or _chronos_name(value)
    if _CHRONOS_NAMES.get():
        return _chronos_name(value)
    return JOB_NAME_RE.fullmatch(value) is not None


class _Collector:
    """Gathers field errors so that one validation pass reports all of them."""

    def __init__(self, prefix: str = "") -> None:
        self.prefix = prefix
        self.errors: list[FieldError] = []
        # Bounds apply to input, not to what the database holds (see stored_data()).
        self.strict = not _STORED.get()

    def add(self, name: str, message: str, value: Any = None, allowed: str | None = None) -> None:
        self.errors.append(FieldError(self.prefix + name, message, value, allowed))

    def extend(self, exc: ValidationError, prefix: str) -> None:
        for e in exc.errors:
            self.errors.append(FieldError(self.prefix + prefix + e.field, e.message, e.value, e.allowed))

    def raise_if_any(self, what: str | None = None) -> None:
        if self.errors:
            raise ValidationError(self.errors, what)

    def text(self, name: str, value: str, kind: str, *, multiline: bool = False) -> bool:
        """Check ``value`` against the text bounds of ``kind``; True if it passes."""
        if not self.strict:
            return True
        limit = bounds.TEXT_LIMITS[kind]
        if len(value) <= limit and value.isprintable():
            return True  # the common case, decided in C: no control characters or surrogates at all
        problem = bounds.text_problem(value, limit, multiline=multiline)
        if problem is None:
            return True
        self.add(name, problem, value, bounds.text_allowed(limit, multiline=multiline))
        return False

    def count(self, name: str, items: Any, kind: str) -> bool:
        """Check the number of items of a list or mapping; True if within bounds."""
        limit = bounds.LIST_LIMITS[kind]
        if not self.strict or len(items) <= limit:
            return True
        self.add(name, f"has {len(items)} items, more than {limit}", None, f"at most {limit} items")
        return False


def _is_number(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True  # math.isfinite would overflow on an int past float range
    return isinstance(value, float) and math.isfinite(value)


def _str_tuple(
    c: _Collector, name: str, value: Any, kind: str | None = None, limit: str | None = None
) -> tuple[str, ...]:
    """A list of strings; ``kind`` names the text bounds of each item, ``limit`` the list bound."""
    if value is None:
        return ()
    if isinstance(value, str):
        # A bare string where a list is expected is nearly always a mistake
        # ("owners='ops@x'"), but the intent is plain, so accept it as one item.
        value = [value]
    if not isinstance(value, (list, tuple)):
        if not isinstance(value, Iterable) or isinstance(value, Mapping):
            c.add(name, "must be a list of strings", value, "a list of strings")
            return ()
        value = list(value)
    if not value:
        return ()
    if limit is not None and not c.count(name, value, limit):
        return ()
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            c.add(f"{name}[{i}]", "must be a string", item, "a string")
        elif kind is None or c.text(f"{name}[{i}]", item, kind):
            out.append(item)
    return tuple(out)


def _number_text(value: int | float) -> str | None:
    """A number given where text is expected, as text; None for NaN, infinity or a huge int."""
    if not _is_number(value):
        return None
    try:
        return str(value)
    except ValueError:  # an int of more digits than Python converts
        return None


_EMPTY_MAP: Mapping[str, str] = MappingProxyType({})
"""The empty mapping every spec without env or labels shares (it cannot be changed)."""


def _str_map(
    c: _Collector, name: str, value: Any, kind: str | None = None, *, multiline_values: bool = False
) -> Mapping[str, str]:
    """A mapping of strings to strings; ``kind`` (``env``, ``labels``) names its bounds."""
    if value is None:
        return _EMPTY_MAP
    if not isinstance(value, Mapping):
        c.add(name, "must be a mapping of strings to strings", value, "an object {NAME: VALUE}")
        return _EMPTY_MAP
    if kind is not None and not c.count(name, value, kind):
        return _EMPTY_MAP
    key_kind, value_kind = (f"{kind}_key", f"{kind}_value") if kind else (None, None)
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not k:
            c.add(f"{name}", "keys must be non-empty strings", k, "a non-empty string")
            continue
        if key_kind is not None and not c.text(f"{name}", k, key_kind):
            continue
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            text = _number_text(v)
            if text is None:
                c.add(f"{name}.{k}", "must be a string or a finite number", v, "a string")
                continue
            v = text
        if not isinstance(v, str):
            c.add(f"{name}.{k}", "must be a string", v, "a string")
        elif value_kind is None or c.text(f"{name}.{k}", v, value_kind, multiline=multiline_values):
            out[k] = v
    return MappingProxyType(out) if out else _EMPTY_MAP


_NUMBERS: dict[tuple[type, float], float] = {}
_NUMBERS_MAX = 4096


def _shared_number(value: float) -> float:
    """One object per distinct number (the same delay, the same grace in every job), up to
    a few thousand distinct ones. Zero is left alone (it would make -0.0 into 0.0)."""
    if value == 0 or len(_NUMBERS) >= _NUMBERS_MAX:
        return value
    return _NUMBERS.setdefault((type(value), value), value)


def _number(
    c: _Collector,
    name: str,
    value: Any,
    *,
    minimum: float = 0.0,
    optional: bool = False,
    integer: bool = False,
    maximum: float | None = None,
    strict_maximum: float | None = None,
) -> Any:
    """A finite number within bounds. ``maximum`` always applies; ``strict_maximum`` only
    to input, not to stored data (a bound newer than the data)."""
    if value is None and optional:
        return None
    top = maximum if not c.strict or strict_maximum is None else strict_maximum
    if not _is_number(value) or (integer and isinstance(value, float) and not value.is_integer()):
        problem = "must be an integer" if integer else "must be a number"
    elif value < minimum or (top is not None and value > top):
        problem = "out of range"
    else:
        return _shared_number(int(value) if integer else float(value))
    kind = "an integer" if integer else "a number"
    allowed = f"{kind} >= {minimum:g}" + (f" and <= {top:g}" if top is not None else "")
    c.add(name, problem, value, allowed + (" or null" if optional else ""))
    return None


def _text_field(
    c: _Collector,
    name: str,
    value: Any,
    kind: str,
    *,
    optional: bool = False,
    nonempty: bool = False,
    multiline: bool = False,
    what: str = "text",
) -> Any:
    """A string field within its text bounds (``optional``: None allowed)."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or (nonempty and not value.strip()):
        c.add(
            name,
            f"must be {what}" + (" or null" if optional else ""),
            value,
            bounds.text_allowed(bounds.TEXT_LIMITS[kind], multiline=multiline),
        )
        return None
    return value if c.text(name, value, kind, multiline=multiline) else None


def _choice(c: _Collector, name: str, value: Any, allowed: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        # The allowed spelling itself, not a copy: one string shared by every job.
        for spelling in (value.lower(), value.upper()):
            for choice in allowed:
                if choice == spelling:
                    return choice
    c.add(name, "not an allowed value", value, " | ".join(allowed))
    return None


def _bool(c: _Collector, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        c.add(name, "must be true or false", value, "true | false")
        return False
    return value


_DEFAULT_SPECS: dict[type, Any] = {}


def _shared(spec: Any) -> Any:
    """``spec``, or its class's one default instance when it equals it.

    Most jobs leave their resources, triggers and notifications at the defaults: with one
    shared (immutable) instance, 100,000 loaded jobs hold one of each instead of 100,000.
    """
    cls = type(spec)
    default = _DEFAULT_SPECS.get(cls)
    if default is None:
        try:
            default = cls()
        except (TypeError, ValidationError):  # a class with required fields has no default
            default = False
        _DEFAULT_SPECS[cls] = default
    return default if default is not False and spec == default else spec


def _sub(c: _Collector, name: str, cls: type[_Spec], value: Any) -> Any:
    """Build a nested spec (Resources, Container, ...) from a mapping or accept an instance."""
    if value is None:
        return value
    if isinstance(value, cls):
        return _shared(value)
    if not isinstance(value, Mapping):
        c.add(name, "must be an object", value, f"an object with fields {', '.join(cls.FIELDS)}")
        return None
    try:
        return _shared(cls.from_dict(value))
    except ValidationError as exc:
        c.extend(exc, name + ".")
        return None


def _unknown(c: _Collector, data: Mapping[str, Any], allowed: Iterable[str], where: str = "") -> None:
    allowed = tuple(allowed)
    for key in data:
        if key not in allowed:
            c.add(where + str(key), "unknown field", None, ", ".join(allowed))


@cache
def _required(cls: type) -> tuple[str, ...]:
    """The fields of dataclass ``cls`` that have no default."""
    return tuple(f.name for f in fields(cls) if f.init and f.default is MISSING and f.default_factory is MISSING)


class _Spec(Checked):
    """Shared behaviour of the nested frozen specs: from_dict and to_dict."""

    FIELDS: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        c = _Collector()
        _unknown(c, data, cls.FIELDS)
        # A required sub-field left out ({} for a volume or a constraint) is an input
        # error naming that field, not a TypeError from the constructor.
        kind: type = cls  # a class is hashable (the cache's key); mypy cannot tell for a dataclass
        for name in _required(kind):
            if name not in data:
                c.add(name, "is required", None, f"an object with fields {', '.join(cls.FIELDS)}")
        c.raise_if_any()
        return cls(**{k: v for k, v in data.items() if k in cls.FIELDS})

    def to_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}  # type: ignore[arg-type]


def _plain(value: Any) -> Any:
    if isinstance(value, _Spec):
        return value.to_dict()
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class Resources(_Spec):
    """What one task of the job needs from an agent."""

    cpus: float = 0.1
    mem: float = 32.0
    disk: float = 0.0
    gpus: float = 0.0

    FIELDS: ClassVar[tuple[str, ...]] = ("cpus", "mem", "disk", "gpus")

    def __post_init__(self) -> None:
        c = _Collector()
        limits = bounds.RESOURCE_LIMITS
        for name in self.FIELDS:
            # Only values from the database may exceed today's maxima (see stored_data()).
            value = _number(
                c, name, getattr(self, name), strict_maximum=limits[name], integer=name == "gpus" and c.strict
            )
            object.__setattr__(self, name, None if value is None else float(value))
        if not c.errors and self.cpus <= 0:
            c.add("cpus", "must be more than 0: Mesos cannot launch a task with no cpus", self.cpus, "> 0")
        elif not c.errors and c.strict and self.cpus < bounds.MIN_CPUS:
            c.add(
                "cpus",
                f"is less than {bounds.MIN_CPUS:g}: Mesos keeps three decimal places, so this is 0",
                self.cpus,
                f">= {bounds.MIN_CPUS:g} and <= {limits['cpus']:g}",
            )
        if not c.errors and self.mem <= 0:
            c.add("mem", "must be more than 0 (MB)", self.mem, "> 0")
        c.raise_if_any()

    @classmethod
    def unchecked(cls, cpus: float = 0.0, mem: float = 0.0, disk: float = 0.0, gpus: float = 0.0) -> Resources:
        """A value for arithmetic on offers and totals, where zero cpus or mem is legitimate."""
        r = object.__new__(cls)
        object.__setattr__(r, "cpus", cpus)
        object.__setattr__(r, "mem", mem)
        object.__setattr__(r, "disk", disk)
        object.__setattr__(r, "gpus", gpus)
        return r

    def fits_in(self, other: Resources) -> bool:
        return (
            self.cpus <= other.cpus + 1e-9
            and self.mem <= other.mem + 1e-9
            and self.disk <= other.disk + 1e-9
            and self.gpus <= other.gpus + 1e-9
        )

    def __add__(self, other: Resources) -> Resources:
        return Resources.unchecked(
            self.cpus + other.cpus, self.mem + other.mem, self.disk + other.disk, self.gpus + other.gpus
        )

    def __sub__(self, other: Resources) -> Resources:
        return Resources.unchecked(
            max(0.0, self.cpus - other.cpus),
            max(0.0, self.mem - other.mem),
            max(0.0, self.disk - other.disk),
            max(0.0, self.gpus - other.gpus),
        )


@dataclass(frozen=True, slots=True)
class VolumeSource(_Spec):
    """Where a volume comes from, when it is neither a host path nor an image.

    - ``docker_volume``: a Docker volume ``name``, made by ``driver`` (Docker's local
      driver if None) with ``driver_options``; both containerizers;
    - ``host_path``: ``path``, absolute, on the agent; Mesos containerizer only;
    - ``sandbox_path``: ``path``, relative, inside the task's sandbox; Mesos
      containerizer only.
    """

    type: str
    name: str | None = None
    driver: str | None = None
    driver_options: Mapping[str, str] = field(default_factory=dict)
    path: str | None = None

    FIELDS: ClassVar[tuple[str, ...]] = ("type", "name", "driver", "driver_options", "path")

    def __post_init__(self) -> None:
        c = _Collector()
        s = object.__setattr__
        s(self, "type", _choice(c, "type", self.type, VOLUME_SOURCE_TYPES))
        for name in ("name", "driver"):
            s(
                self,
                name,
                _text_field(
                    c, name, getattr(self, name), "volume_name", optional=True, nonempty=True, what="a non-empty name"
                ),
            )
        s(self, "driver_options", _str_map(c, "driver_options", self.driver_options, "driver_options"))
        s(
            self,
            "path",
            _text_field(c, "path", self.path, "path", optional=True, nonempty=True, what="a non-empty path"),
        )
        if self.type == "docker_volume":
            if self.name is None and not any(e.field == "name" for e in c.errors):
                c.add("name", "is required for a docker_volume source", None, "the Docker volume's name")
            if self.path is not None:
                c.add("path", "is not part of a docker_volume source", self.path, "null (name the volume instead)")
        elif self.type in ("host_path", "sandbox_path"):
            for name in ("name", "driver"):
                if getattr(self, name) is not None:
                    c.add(name, f"is not part of a {self.type} source", getattr(self, name), "null")
            if self.driver_options:
                c.add("driver_options", f"is not part of a {self.type} source", dict(self.driver_options), "{}")
            if self.path is None and not any(e.field == "path" for e in c.errors):
                c.add(
                    "path",
                    f"is required for a {self.type} source",
                    None,
                    "an absolute path on the agent" if self.type == "host_path" else "a path inside the sandbox",
                )
            elif self.path is not None and self.type == "host_path" and not self.path.startswith("/"):
                c.add(
                    "path",
                    "must be absolute: the agent refuses a relative HOST_PATH source",
                    self.path,
                    "an absolute path such as /srv/data",
                )
            elif (
                self.path is not None
                and self.type == "sandbox_path"
                and (self.path.startswith("/") or ".." in self.path.split("/"))
            ):
                c.add(
                    "path",
                    "must stay inside the sandbox: relative, without '..'",
                    self.path,
                    "a relative path such as cache/",
                )
        c.raise_if_any()


@dataclass(frozen=True, slots=True)
class Volume(_Spec):
    """A volume mounted at ``container_path``: exactly one of ``host_path`` (a directory
    of the agent), ``image`` (a Docker image's filesystem; Mesos containerizer) or
    ``source`` (a :class:`VolumeSource`), as the Mesos master requires."""

    container_path: str
    host_path: str | None = None
    mode: str = "RO"
    image: str | None = None
    source: VolumeSource | None = None

    FIELDS: ClassVar[tuple[str, ...]] = ("container_path", "host_path", "mode", "image", "source")

    def __post_init__(self) -> None:
        c = _Collector()
        s = object.__setattr__
        s(
            self,
            "container_path",
            _text_field(c, "container_path", self.container_path, "path", nonempty=True, what="a non-empty path"),
        )
        s(self, "host_path", _text_field(c, "host_path", self.host_path, "path", optional=True, what="a path"))
        s(self, "mode", _choice(c, "mode", self.mode, VOLUME_MODES))
        s(
            self,
            "image",
            _text_field(c, "image", self.image, "image", optional=True, nonempty=True, what="an image name"),
        )
        s(self, "source", _sub(c, "source", VolumeSource, self.source))
        kinds = self.kinds()
        # Older versions stored volumes with no host path; they still load (and are refused at launch).
        if c.strict and len(kinds) != 1 and not c.errors:
            has = "none" if not kinds else " and ".join(kinds)
            c.add(
                "host_path",
                f"a volume needs exactly one of host_path, image or source; this one has {has}",
                self.host_path,
                "exactly one of host_path, image, source",
            )
        c.raise_if_any()

    def kinds(self) -> tuple[str, ...]:
        """Which of ``host_path``, ``image``, ``source`` are set (a valid volume: exactly one)."""
        return tuple(k for k in ("host_path", "image", "source") if getattr(self, k) is not None)


@dataclass(frozen=True, slots=True)
class Parameter(_Spec):
    """One ``docker run`` option, given as ``--KEY=VALUE``. Keys may repeat (``env``,
    ``label``, ``add-host``...), so a container's parameters are a list, in order."""

    key: str
    value: str

    FIELDS: ClassVar[tuple[str, ...]] = ("key", "value")

    def __post_init__(self) -> None:
        c = _Collector()
        if not isinstance(self.key, str) or not self.key:
            c.add("key", "must be a non-empty string", self.key, "a docker run option name, e.g. 'add-host'")
        else:
            c.text("key", self.key, "parameters_key")
        if not isinstance(self.value, str):
            c.add("value", "must be a string", self.value, "a string")
        else:
            c.text("value", self.value, "parameters_value")
        c.raise_if_any()


NETWORK_PROTOCOLS = ("IPv4", "IPv6")


@dataclass(frozen=True, slots=True)
class NetworkInfo(_Spec):
    """A network the container joins (Mesos ``NetworkInfo``), after the one ``network``
    names: a CNI network for the Mesos containerizer (it may join several), or the one
    user-defined network of a Docker container. ``labels`` go to the network's plugin;
    ``protocol`` is the address family asked for (kept for Chronos clients; like Chronos,
    moroccron does not send it)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    protocol: str | None = None

    FIELDS: ClassVar[tuple[str, ...]] = ("name", "labels", "protocol")

    def __post_init__(self) -> None:
        c = _Collector()
        s = object.__setattr__
        s(self, "name", _text_field(c, "name", self.name, "network", nonempty=True, what="a network name"))
        s(self, "labels", _str_map(c, "labels", self.labels, "labels"))
        if self.protocol is not None:  # Mesos spells them IPv4, IPv6
            known = {p.lower(): p for p in NETWORK_PROTOCOLS}
            if isinstance(self.protocol, str) and self.protocol.lower() in known:
                s(self, "protocol", known[self.protocol.lower()])
            else:
                c.add("protocol", "not an allowed value", self.protocol, " | ".join(NETWORK_PROTOCOLS) + " or null")
        c.raise_if_any()


DOCKER_NETWORKS = ("host", "bridge", "none")
"""Docker's network modes; any other name is a user-defined network (Mesos ``USER``)."""


def _parameters(c: _Collector, value: Any) -> tuple[Parameter, ...]:
    """A list of {key, value} (or [key, value]); the older {KEY: VALUE} object is read in order."""
    if value is None:
        return ()
    if isinstance(value, Mapping):  # the form older versions stored and accepted
        return tuple(Parameter(k, v) for k, v in _str_map(c, "parameters", value, "parameters").items())
    if not isinstance(value, (list, tuple)):
        c.add("parameters", "must be a list of {key, value}", value, '[{"key": "add-host", "value": "db:10.0.0.5"}]')
        return ()
    if not c.count("parameters", value, "parameters"):
        return ()
    out = []
    for i, item in enumerate(value):
        if isinstance(item, (list, tuple)) and len(item) == 2:
            item = {"key": item[0], "value": item[1]}
        param = _sub(c, f"parameters[{i}]", Parameter, item)
        if param is not None:
            out.append(param)
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Container(_Spec):
    """Where the command runs: the Mesos containerizer (with or without an image) or Docker.

    ``network``: for ``docker``, ``host`` (the default), ``bridge``, ``none`` or the name
    of a user-defined Docker network; for ``mesos``, the name of a CNI network, or
    ``host``. ``parameters`` are ``docker run`` options (``docker`` only). ``force_pull``
    pulls the image at every launch instead of using the agent's copy.
    """

    type: str = "mesos"
    image: str | None = None
    volumes: tuple[Volume, ...] = ()
    force_pull: bool = False
    network: str | None = None
    parameters: tuple[Parameter, ...] = ()
    network_infos: tuple[NetworkInfo, ...] = ()  # more networks to join, after ``network``'s

    FIELDS: ClassVar[tuple[str, ...]] = (
        "type",
        "image",
        "volumes",
        "force_pull",
        "network",
        "parameters",
        "network_infos",
    )

    def __post_init__(self) -> None:
        c = _Collector()
        s = object.__setattr__
        s(self, "type", _choice(c, "type", self.type, CONTAINER_TYPES))
        if self.image is not None and (not isinstance(self.image, str) or not self.image.strip()):
            c.add("image", "must be an image name or null", self.image, "an image such as 'busybox:1.36'")
        elif self.image is not None and not c.text("image", self.image, "image"):
            s(self, "image", None)
        if self.type == "docker" and not self.image and not any(e.field == "image" for e in c.errors):
            c.add("image", "is required when type is docker", self.image, "an image such as 'busybox:1.36'")
        vols = []
        if not isinstance(self.volumes, (list, tuple)):
            c.add("volumes", "must be a list", self.volumes, "a list of {container_path, host_path, mode}")
        elif c.count("volumes", self.volumes, "volumes"):
            for i, v in enumerate(self.volumes):
                vol = _sub(c, f"volumes[{i}]", Volume, v)
                if vol is not None:
                    vols.append(vol)
        s(self, "volumes", tuple(vols))
        s(self, "force_pull", _bool(c, "force_pull", self.force_pull))
        if c.strict:  # older versions stored whatever was given
            s(
                self,
                "network",
                _text_field(c, "network", self.network, "network", optional=True, nonempty=True, what="a network name"),
            )
        s(self, "parameters", _parameters(c, self.parameters))
        s(self, "network_infos", self._network_infos(c))
        if c.strict and not c.errors:
            self._check_for_containerizer(c)
        c.raise_if_any()

    def _network_infos(self, c: _Collector) -> tuple[NetworkInfo, ...]:
        raw = self.network_infos or ()
        if not isinstance(raw, (list, tuple)):
            c.add("network_infos", "must be a list", raw, "a list of {name, labels, protocol}")
            return ()
        if not c.count("network_infos", raw, "network_infos"):
            return ()
        out = [_sub(c, f"network_infos[{i}]", NetworkInfo, n) for i, n in enumerate(raw)]
        return tuple(n for n in out if n is not None)

    def _check_for_containerizer(self, c: _Collector) -> None:
        """Refuse what the master or the agent of this containerizer refuses, or ignores unsaid."""
        if self.type == "docker":
            self._check_docker_networks(c)
            for i, v in enumerate(self.volumes):
                if v.image is not None:
                    c.add(
                        f"volumes[{i}].image",
                        "the Docker containerizer has no image volumes",
                        v.image,
                        "host_path or a docker_volume source (or container type mesos)",
                    )
                elif v.source is not None and v.source.type != "docker_volume":
                    c.add(
                        f"volumes[{i}].source.type",
                        "the Docker containerizer ignores this kind of source",
                        v.source.type,
                        "docker_volume (or container type mesos)",
                    )
                elif (
                    v.host_path is not None and not v.host_path.startswith("/") and not v.container_path.startswith("/")
                ):
                    c.add(
                        f"volumes[{i}].host_path",
                        "the Docker containerizer refuses a volume whose host_path "
                        "and container_path are both relative",
                        v.host_path,
                        "an absolute path on either side",
                    )
            for i, p in enumerate(self.parameters):
                if p.key == "name":
                    c.add(
                        f"parameters[{i}].key",
                        "the Mesos master refuses the docker parameter 'name' (the "
                        "containerizer names its containers itself)",
                        p.key,
                        "any docker run option but name",
                    )
            if self.network is not None and self.network.lower() == "user":
                c.add(
                    "network",
                    "name the user-defined Docker network itself",
                    self.network,
                    "host | bridge | none | the name of a Docker network",
                )
        else:
            if self.parameters:
                c.add(
                    "parameters",
                    "are docker run options: they apply to container type docker only",
                    [p.to_dict() for p in self.parameters],
                    "[] for type mesos",
                )
            if self.network is not None and self.network.lower() in (*DOCKER_NETWORKS[1:], "user"):
                c.add(
                    "network",
                    "is a Docker network mode; the Mesos containerizer joins CNI networks",
                    self.network,
                    "host | the name of a CNI network (or container type docker)",
                )
            if self.force_pull and not self.image:
                c.add("force_pull", "needs an image to pull", self.force_pull, "false without an image")

    def _check_docker_networks(self, c: _Collector) -> None:
        """Docker joins one network: a user-defined one may be named by ``network`` or by a
        single ``network_infos`` entry (whose labels then reach the plugin), not both; with
        host, bridge or none the Docker containerizer drops network_infos unsaid."""
        if not self.network_infos:
            return
        infos = [n.to_dict() for n in self.network_infos]
        if len(self.network_infos) > 1:
            c.add(
                "network_infos",
                "a Docker container joins a single network; the agent refuses more",
                infos,
                "one entry (or container type mesos for several CNI networks)",
            )
        elif self.network is not None and self.network.lower() in DOCKER_NETWORKS:
            c.add(
                "network_infos",
                f"Docker ignores network_infos with network {self.network}",
                infos,
                "[] with host, bridge or none (or no network, to join this user-defined network)",
            )
        elif self.network is not None and self.network.lower() != "user":
            c.add(
                "network_infos",
                f"network already names the user-defined network {self.network!r}, and a "
                "Docker container joins a single network",
                infos,
                "[] (or no network)",
            )

    @property
    def network_mode(self) -> tuple[str, str | None]:
        """How the agent is asked for the network: (``HOST``/``BRIDGE``/``NONE``/``USER``, name).

        ``USER`` comes with the network's name (a Docker or a CNI network); the others
        with None. Without a network the containerizers use the host's.
        """
        net = self.network
        if net is None or net.lower() == "host":
            return "HOST", None
        if self.type == "docker" and net.lower() in DOCKER_NETWORKS:
            return net.upper(), None
        if self.type == "mesos" and net.lower() in (*DOCKER_NETWORKS, "user"):
            return "HOST", None  # stored by older versions, which never sent it: still not sent
        return "USER", net


@dataclass(frozen=True, slots=True)
class Constraint(_Spec):
    """A placement rule on an agent attribute or ``hostname`` (Marathon/Chronos operators)."""

    field: str
    operator: str
    value: str | None = None

    FIELDS: ClassVar[tuple[str, ...]] = ("field", "operator", "value")

    def __post_init__(self) -> None:
        c = _Collector()
        if not isinstance(self.field, str) or not self.field:
            c.add("field", "must be an attribute name or 'hostname'", self.field, "a non-empty string")
        else:
            c.text("field", self.field, "constraint_field")
        op = _choice(c, "operator", self.operator, CONSTRAINT_OPERATORS)
        object.__setattr__(self, "operator", op)
        if op in ("EQUALS", "LIKE", "UNLIKE") and not isinstance(self.value, str):
            c.add(
                "value",
                f"is required for {op}",
                self.value,
                "a string" + (" (a regular expression)" if op != "EQUALS" else ""),
            )
        if op == "UNIQUE" and self.value is not None and not isinstance(self.value, str):
            c.add("value", "must be a string or null", self.value, "null (UNIQUE takes no value)")
        text_ok = isinstance(self.value, str) and c.text("value", self.value, "constraint_value")
        if op in ("LIKE", "UNLIKE") and text_ok:
            try:
                re.compile(cast(str, self.value))  # text_ok: a string
            except (re.error, RecursionError, OverflowError) as exc:
                c.add("value", f"is not a valid regular expression: {exc}", self.value, "a Python regular expression")
        # ASCII digits only: str.isdigit() is also true of '²', which int() refuses.
        groups_ok = (
            isinstance(self.value, str) and self.value.isascii() and self.value.isdigit() and int(self.value) > 0
        )
        if op == "GROUP_BY" and self.value is not None and not groups_ok:
            c.add("value", "must be the number of groups", self.value, "a positive integer as a string, or null")
        c.raise_if_any()

    @classmethod
    def coerce(cls, value: Any) -> Constraint:
        """Accept the Chronos/Marathon list form ``["rack", "EQUALS", "r1"]`` as well."""
        if isinstance(value, (list, tuple)):
            if not 2 <= len(value) <= 3:
                raise ValidationError.single(
                    "", "must be [field, operator] or [field, operator, value]", list(value), "[field, operator, value]"
                )
            return cls(*value)
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise ValidationError.single("", "must be an object or a list", value, "{field, operator, value}")


@dataclass(frozen=True, slots=True)
class Triggers(_Spec):
    """Jobs to start once, as an ad-hoc run, after a run of this job ends."""

    on_success: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()

    FIELDS: ClassVar[tuple[str, ...]] = ("on_success", "on_failure")

    def __post_init__(self) -> None:
        c = _Collector()
        for name in self.FIELDS:
            items = _str_tuple(c, name, getattr(self, name), limit="triggers")
            for i, item in enumerate(items):
                if not is_job_name(item):
                    c.add(f"{name}[{i}]", "is not a job name", item, JOB_NAME_ALLOWED)
            object.__setattr__(self, name, items)
        c.raise_if_any()


@dataclass(frozen=True, slots=True)
class Notify(_Spec):
    """Extra notification targets of a job, beyond its owners' own preferences."""

    on_failure: tuple[str, ...] = ()
    on_success: tuple[str, ...] = ()
    on_recovery: tuple[str, ...] = ()

    FIELDS: ClassVar[tuple[str, ...]] = ("on_failure", "on_success", "on_recovery")

    def __post_init__(self) -> None:
        c = _Collector()
        for name in self.FIELDS:
            items = _str_tuple(c, name, getattr(self, name), "notify_target", limit="notify")
            for i, item in enumerate(items):
                problem = notify_target_problem(item, strict=c.strict)
                if problem is not None:
                    c.add(f"{name}[{i}]", problem, item, channels.allowed_targets())
            object.__setattr__(self, name, items)
        c.raise_if_any()


@dataclass(frozen=True, slots=True)
class Fetch(_Spec):
    """A file the Mesos fetcher puts in the task's sandbox before the command starts
    (``CommandInfo.URI``), with the fetcher's flags. ``executable`` makes it executable
    (and it is then not extracted); ``extract`` unpacks an archive (the fetcher leaves
    other files as they are); ``cache`` uses the agent's fetcher cache; ``output_file``
    names it in the sandbox (relative, inside the sandbox)."""

    uri: str
    executable: bool = False
    extract: bool = True
    cache: bool = False
    output_file: str | None = None

    FIELDS: ClassVar[tuple[str, ...]] = ("uri", "executable", "extract", "cache", "output_file")

    def __post_init__(self) -> None:
        c = _Collector()
        s = object.__setattr__
        s(self, "uri", _text_field(c, "uri", self.uri, "uri", nonempty=True, what="a non-empty URI"))
        for name in ("executable", "extract", "cache"):
            s(self, name, _bool(c, name, getattr(self, name)))
        out = _text_field(c, "output_file", self.output_file, "path", optional=True, nonempty=True, what="a file name")
        if c.strict and isinstance(out, str) and (out.startswith("/") or ".." in out.split("/")):
            # The agent writes it under the sandbox; a path out of it is a task that fails to start.
            c.add(
                "output_file",
                "must stay inside the sandbox: relative, without '..'",
                out,
                "a relative path such as bin/tool",
            )
        s(self, "output_file", out)
        c.raise_if_any()

    @classmethod
    def coerce(cls, value: Any) -> Fetch:
        """A bare URI string is a fetch with the default flags."""
        if isinstance(value, str):
            return cls(uri=value)
        if isinstance(value, Mapping):
            return cls.from_dict(value)
        raise ValidationError.single(
            "", "must be an object or a URI", value, "{uri, executable, extract, cache, output_file}"
        )


JOB_FIELDS: tuple[str, ...] = (
    "name",
    "command",
    "shell",
    "arguments",
    "schedule",
    "timezone",
    "parents",
    "owners",
    "description",
    "resources",
    "container",
    "constraints",
    "env",
    "uris",
    "user",
    "retries",
    "retry_delay_seconds",
    "timeout_seconds",
    "concurrency",
    "starting_deadline_seconds",
    "catchup",
    "soft_error",
    "disabled",
    "triggers",
    "notify",
    "labels",
    "disable_after_failures",
    "secret_env",
    "role",
    "kill_grace_seconds",
    "chronos_extra",
    "fetch",
    "high_priority",
    "async_completion",
)


_SHARED_TEXT = ("command", "schedule", "timezone", "user", "role")
_SHARED_TEXT_MAX = 200


@dataclass(frozen=True, slots=True)
class JobSpec(Checked):
    """A job as its owners define it. Immutable once built; built only if valid.

    A job runs on its ``schedule``, or, when it has ``parents`` and no schedule, once
    each time all its parents have succeeded since its own last run. A job with
    neither runs only when started by hand or by a trigger.
    """

    name: str
    command: str | None = None
    shell: bool | None = None  # None: true with a command, false for an image's own entrypoint
    arguments: tuple[str, ...] = ()
    schedule: str | None = None
    timezone: str = "UTC"
    parents: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    description: str = ""
    resources: Resources = field(default_factory=Resources)
    container: Container | None = None
    constraints: tuple[Constraint, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    secret_env: tuple[str, ...] = ()  # keys of env whose values no output shows (moroccron.masking)
    uris: tuple[str, ...] = ()
    user: str | None = None
    retries: int = 0
    retry_delay_seconds: float = 60.0
    timeout_seconds: float | None = None
    concurrency: str = "forbid"
    starting_deadline_seconds: float | None = None
    catchup: str = "latest"
    soft_error: bool = False
    disabled: bool = False
    triggers: Triggers = field(default_factory=Triggers)
    notify: Notify = field(default_factory=Notify)
    labels: Mapping[str, str] = field(default_factory=dict)
    disable_after_failures: int | None = None
    role: str | None = None  # the Mesos role whose offers it runs on; None: the framework's default role
    kill_grace_seconds: float = bounds.DEFAULT_KILL_GRACE_SECONDS  # SIGTERM to SIGKILL when killed
    # Chronos job-hash fields moroccron keeps without acting on them, so that the Chronos
    # API returns a job as it was sent (moroccron.api.chronos_schema); opaque JSON here.
    chronos_extra: Mapping[str, Any] = field(default_factory=dict)
    fetch: tuple[Fetch, ...] = ()  # files fetched with the fetcher's flags (uris: plain URIs, archives extracted)
    high_priority: bool = False  # its runs go to the front of the launch queue
    # Chronos's async: a run whose task exits 0 waits for a completion report (the Chronos
    # API's PUT /scheduler/task/<task id> {"statusCode": n}) before it succeeds or fails.
    async_completion: bool = False

    FIELDS: ClassVar[tuple[str, ...]] = JOB_FIELDS
    _COLLECTED: ClassVar[bool] = True  # a job-definition module's loader records it (moroccron.collect)

    def __post_init__(self) -> None:
        c = _Collector()
        s = object.__setattr__
        if not is_job_name(self.name):
            c.add("name", "is not a valid job name", self.name, JOB_NAME_ALLOWED)
        if self.command is not None and not isinstance(self.command, str):
            c.add("command", "must be a string", self.command, "a shell command or program path")
        elif self.command is not None:
            c.text("command", self.command, "command", multiline=True)
        if self.shell is not None:  # None is decided by _check_runnable, once the container is known
            s(self, "shell", _bool(c, "shell", self.shell))
        s(self, "arguments", _str_tuple(c, "arguments", self.arguments, "argument", limit="arguments"))
        s(self, "parents", _str_tuple(c, "parents", self.parents, limit="parents"))
        s(self, "owners", _str_tuple(c, "owners", self.owners, "owner", limit="owners"))
        s(self, "uris", _str_tuple(c, "uris", self.uris, "uri", limit="uris"))
        if not isinstance(self.description, str):
            c.add("description", "must be a string", self.description, "text")
        else:
            c.text("description", self.description, "description", multiline=True)
        s(self, "resources", _sub(c, "resources", Resources, self.resources) or Resources())
        s(self, "container", _sub(c, "container", Container, self.container))
        s(self, "triggers", _sub(c, "triggers", Triggers, self.triggers) or Triggers())
        s(self, "notify", _sub(c, "notify", Notify, self.notify) or Notify())
        # Environment values may span lines (a certificate, a key); names never do.
        s(self, "env", _str_map(c, "env", self.env, "env", multiline_values=True))
        if c.strict:
            for key in self.env:
                if "=" in key:
                    c.add("env", "a variable name cannot contain '='", key, "a name such as DB_HOST")
        s(self, "labels", _str_map(c, "labels", self.labels, "labels"))
        s(self, "constraints", self._constraints(c))
        if self.user is not None and (not isinstance(self.user, str) or not self.user):
            c.add("user", "must be a user name or null", self.user, "a Unix user name")
        elif self.user is not None:
            c.text("user", self.user, "user")
        seconds = bounds.MAX_SECONDS
        s(self, "retries", _number(c, "retries", self.retries, integer=True, maximum=MAX_RETRIES))
        s(
            self,
            "retry_delay_seconds",
            _number(c, "retry_delay_seconds", self.retry_delay_seconds, strict_maximum=seconds),
        )
        s(
            self,
            "timeout_seconds",
            _number(c, "timeout_seconds", self.timeout_seconds, optional=True, strict_maximum=seconds),
        )
        if self.timeout_seconds == 0:
            c.add("timeout_seconds", "must be more than 0, or null for no timeout", 0, "> 0 or null")
        s(
            self,
            "starting_deadline_seconds",
            _number(
                c, "starting_deadline_seconds", self.starting_deadline_seconds, optional=True, strict_maximum=seconds
            ),
        )
        s(
            self,
            "disable_after_failures",
            _number(
                c,
                "disable_after_failures",
                self.disable_after_failures,
                optional=True,
                integer=True,
                minimum=1,
                strict_maximum=bounds.MAX_DISABLE_AFTER_FAILURES,
            ),
        )
        s(
            self,
            "kill_grace_seconds",
            _number(c, "kill_grace_seconds", self.kill_grace_seconds, strict_maximum=bounds.MAX_KILL_GRACE_SECONDS),
        )
        self._check_role(c)
        s(self, "concurrency", _choice(c, "concurrency", self.concurrency, CONCURRENCY_POLICIES))
        s(self, "catchup", _choice(c, "catchup", self.catchup, CATCHUP_POLICIES))
        s(self, "soft_error", _bool(c, "soft_error", self.soft_error))
        s(self, "disabled", _bool(c, "disabled", self.disabled))
        self._check_schedule(c)
        self._check_runnable(c)
        if self.schedule is not None and self.parents:
            c.add(
                "parents",
                "a job runs on a schedule or after its parents, not both",
                list(self.parents),
                "either schedule or parents",
            )
        if isinstance(self.name, str) and self.name in self.parents:
            c.add("parents", "a job cannot be its own parent", self.name, "names of other jobs")
        for i, p in enumerate(self.parents):
            if not is_job_name(p):
                c.add(f"parents[{i}]", "is not a job name", p, JOB_NAME_ALLOWED)
        if len(set(self.parents)) != len(self.parents):
            c.add("parents", "lists a job more than once", list(self.parents), "distinct job names")
        self._check_secret_env(c)
        s(self, "chronos_extra", _chronos_extra(c, self.chronos_extra))
        s(self, "fetch", self._fetch(c))
        s(self, "high_priority", _bool(c, "high_priority", self.high_priority))
        s(self, "async_completion", _bool(c, "async_completion", self.async_completion))
        name = self.name if isinstance(self.name, str) else "?"
        c.raise_if_any(f"job {name!r}")
        for key in _SHARED_TEXT:  # the same schedule, zone or command in many jobs: one string
            value = getattr(self, key)
            if type(value) is str and len(value) <= _SHARED_TEXT_MAX:
                s(self, key, sys.intern(value))
        note_built(self)

    def _check_secret_env(self, c: _Collector) -> None:
        keys = _str_tuple(c, "secret_env", self.secret_env)
        object.__setattr__(self, "secret_env", keys)
        for i, key in enumerate(keys):
            if key not in self.env:
                c.add(f"secret_env[{i}]", "is not a key of env", key, "names of keys of env")
        if len(set(keys)) != len(keys):
            c.add("secret_env", "lists a key more than once", list(keys), "distinct keys of env")

    def _fetch(self, c: _Collector) -> tuple[Fetch, ...]:
        raw = self.fetch or ()
        if not isinstance(raw, (list, tuple)):
            c.add("fetch", "must be a list", raw, "a list of {uri, executable, extract, cache, output_file}")
            return ()
        if not c.count("fetch", raw, "uris"):
            return ()
        out = []
        for i, item in enumerate(raw):
            try:
                out.append(item if isinstance(item, Fetch) else Fetch.coerce(item))
            except ValidationError as exc:
                for e in exc.errors:
                    c.add(f"fetch[{i}]" + (f".{e.field}" if e.field else ""), e.message, e.value, e.allowed)
        return tuple(out)

    def _constraints(self, c: _Collector) -> tuple[Constraint, ...]:
        raw = self.constraints or ()
        if not isinstance(raw, (list, tuple)):
            c.add("constraints", "must be a list", raw, "a list of {field, operator, value}")
            return ()
        if not c.count("constraints", raw, "constraints"):
            return ()
        out = []
        for i, item in enumerate(raw):
            try:
                out.append(item if isinstance(item, Constraint) else Constraint.coerce(item))
            except ValidationError as exc:
                for e in exc.errors:
                    sub = f".{e.field}" if e.field else ""
                    c.add(f"constraints[{i}]{sub}", e.message, e.value, e.allowed)
        return tuple(out)

    def _check_schedule(self, c: _Collector) -> None:
        from moroccron import schedule as sched  # schedule imports errors only; no cycle at runtime

        if not isinstance(self.timezone, str):
            c.add("timezone", "must be an IANA time zone name", self.timezone, "e.g. UTC, Europe/London")
            return
        if len(self.timezone) > bounds.TIMEZONE_MAX:
            c.add(
                "timezone",
                f"is too long ({len(self.timezone)} characters)",
                self.timezone,
                f"an IANA time zone name, at most {bounds.TIMEZONE_MAX} characters",
            )
            return
        try:
            sched.validate_timezone(self.timezone)
        except ValidationError as exc:
            c.extend(exc, "")
            return
        if self.schedule is None:
            return
        if not isinstance(self.schedule, str) or not self.schedule.strip():
            c.add(
                "schedule",
                "must be a cron expression, a macro or an ISO 8601 interval, or null",
                self.schedule,
                "e.g. '*/5 * * * *', '@daily', 'R/2026-01-01T00:00:00Z/PT1H'",
            )
            return
        try:
            if c.strict:  # the bounds are newer than some stored schedules
                sched.check_bounds(self.schedule)
            sched.parse_schedule(self.schedule, self.timezone)
        except ValidationError as exc:
            c.extend(exc, "")

    def _check_runnable(self, c: _Collector) -> None:
        has_command = isinstance(self.command, str) and self.command.strip() != ""
        has_image = self.container is not None and bool(self.container.image)
        if not has_command and not has_image:
            c.add(
                "command",
                "is required (or a container image whose default command runs)",
                self.command,
                "a non-empty command",
            )
        if self.shell is None:
            object.__setattr__(self, "shell", has_command or not has_image)
        elif self.shell and not has_command and has_image:
            if c.strict:
                # The agent fails the task: "Shell specified but no command value provided".
                c.add(
                    "shell",
                    "true needs a command to give the shell; without one the image's own entrypoint "
                    "runs, with shell false",
                    self.shell,
                    "false (or null) for an image-only job",
                )
            else:  # stored by a version that sent this and failed: launch it the way that works
                object.__setattr__(self, "shell", False)
        if not self.shell and not has_command and not has_image:
            c.add("shell", "false needs a command (the program to execute)", self.shell, "true | false")
        if (
            c.strict
            and self.container is not None
            and self.container.type == "docker"
            and isinstance(self.resources, Resources)
            and self.resources.gpus
        ):
            c.add(
                "resources.gpus",
                "the Docker containerizer cannot give a task GPUs",
                self.resources.gpus,
                "0 with type docker; for GPUs use container type mesos with the same image",
            )

    def _check_role(self, c: _Collector) -> None:
        if self.role is None:
            return
        if not isinstance(self.role, str):
            c.add("role", "must be a Mesos role or null", self.role, bounds.ROLE_ALLOWED)
        elif c.strict and (problem := bounds.role_problem(self.role)) is not None:
            c.add("role", problem, self.role, bounds.ROLE_ALLOWED)

    # -- conveniences -------------------------------------------------------

    @property
    def is_dependent(self) -> bool:
        """True for a job started by its parents rather than by a clock."""
        return self.schedule is None and bool(self.parents)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobSpec:
        """Build from JSON-like data, rejecting unknown fields by name."""
        if not isinstance(data, Mapping):
            raise ValidationError.single("job", "must be an object", data, "an object with job fields")
        c = _Collector()
        _unknown(c, data, JOB_FIELDS)
        if "name" not in data:
            c.add("name", "is required", None, JOB_NAME_ALLOWED)
        name = data.get("name")
        c.raise_if_any(f"job {name!r}" if isinstance(name, str) else None)
        # A null name stays in, to be refused by name: leaving it out would be a TypeError.
        kwargs = {k: v for k, v in data.items() if v is not None or k in _NULLABLE or k == "name"}
        for k in ("resources", "triggers", "notify"):
            if kwargs.get(k) is None:
                kwargs.pop(k, None)
        return cls(**kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: every field, lists as lists, nested specs as objects."""
        out: dict[str, Any] = {}
        for f in fields(self):
            out[f.name] = _plain(getattr(self, f.name))
        return out

    def evolve(self, **changes: Any) -> JobSpec:
        """A copy with some fields changed, validated again.

        A job stored under older, looser bounds (see :func:`stored_data`) can still be
        changed this way (disabled after failures, say), as long as the fields changed
        are within today's bounds.
        """
        try:
            return replace(self, **changes)
        except ValidationError as exc:
            if any(re.split(r"[.\[]", e.field, maxsplit=1)[0] in changes for e in exc.errors):
                raise
            with stored_data():
                return replace(self, **changes)


CHRONOS_EXTRA_MAX_BYTES = 256 * 1024
"""The largest ``chronos_extra`` accepted, as JSON (a job hash is a few kilobytes)."""


def _chronos_extra(c: _Collector, value: Any) -> dict[str, Any]:
    """``value`` as plain JSON data (a copy, so the frozen spec shares nothing mutable)."""
    allowed = f"a JSON object of at most {CHRONOS_EXTRA_MAX_BYTES} bytes"
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        c.add("chronos_extra", "must be an object", value, allowed)
        return {}
    try:
        text = json.dumps(dict(value), allow_nan=False, sort_keys=True)
    except (TypeError, ValueError, RecursionError) as exc:
        c.add("chronos_extra", f"is not JSON data: {exc}", None, allowed)
        return {}
    if len(text) > CHRONOS_EXTRA_MAX_BYTES:
        c.add("chronos_extra", f"is too large ({len(text)} bytes)", None, allowed)
        return {}
    return cast(dict[str, Any], json.loads(text))


_NULLABLE = frozenset(
    {
        "command",
        "schedule",
        "container",
        "user",
        "timeout_seconds",
        "starting_deadline_seconds",
        "disable_after_failures",
    }
)


# --------------------------------------------------------------------------- runs


def run_arguments(value: Any, field_name: str = "arguments") -> tuple[str, ...]:
    """Arguments given for one run (instead of the job's own), checked like a job's.

    :raises ValidationError: naming ``field_name``.
    """
    c = _Collector()
    if not isinstance(value, (list, tuple)):
        raise ValidationError.single(field_name, "must be a list of strings", value, '["--date", "2026-01-01"]')
    args = _str_tuple(c, field_name, value, "argument", limit="arguments")
    c.raise_if_any()
    return args


def run_argument_line(value: Any, field_name: str = "arguments") -> str | None:
    """A manual start's argument string as Chronos took it: ``;`` removed (Chronos's filter
    on it), None when nothing but blanks is left; checked as command text (no control
    characters, within the command's length).

    :raises ValidationError: naming ``field_name``.
    """
    if not isinstance(value, str):
        raise ValidationError.single(field_name, "must be a string", value, "text such as '--date 2020-01-01'")
    line = value.replace(";", "")
    if not line.strip():
        return None
    c = _Collector()
    c.text(field_name, line, "command")
    c.raise_if_any()
    return line


class RunState(enum.StrEnum):
    """Where a run is in its life. The last five are final."""

    QUEUED = "queued"  # due and runnable, waiting for an offer that fits
    LAUNCHED = "launched"  # ACCEPT sent to the master
    STARTING = "starting"  # the agent is starting the task
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    KILLED = "killed"
    LOST = "lost"  # the task vanished: agent lost, unknown on reconciliation
    SKIPPED = "skipped"  # never launched: missed, past its deadline, or concurrency forbade it

    @property
    def final(self) -> bool:
        return self in _FINAL

    @property
    def live(self) -> bool:
        """Launched and not yet ended: a Mesos task exists, or may."""
        return self in _LIVE


_FINAL = frozenset({RunState.SUCCEEDED, RunState.FAILED, RunState.KILLED, RunState.LOST, RunState.SKIPPED})
_LIVE = frozenset({RunState.LAUNCHED, RunState.STARTING, RunState.RUNNING})


class RunTrigger(enum.StrEnum):
    """Why a run exists."""

    SCHEDULE = "schedule"
    CATCHUP = "catchup"
    DEPENDENCY = "dependency"
    MANUAL = "manual"
    TRIGGER = "trigger"
    RETRY = "retry"
    MARK_SUCCESS = "mark_success"
    RELAUNCH = "relaunch"  # the previous attempt's task never started (the master dropped it)


_DUE_WHEN_SCHEDULED = frozenset({RunTrigger.SCHEDULE, RunTrigger.CATCHUP})
"""Runs due at their scheduled time; any other run is due when it was queued (:attr:`Run.due_at`)."""


def task_id_for(job: str, scheduled_at: datetime, attempt: int) -> str:
    """The Mesos task id of a run: deterministic, so a new leader derives the same one."""
    return f"{job}.{int(scheduled_at.timestamp())}.{attempt}"


def parse_task_id(task_id: str) -> tuple[str, int, int]:
    """Inverse of :func:`task_id_for`: (job, scheduled epoch seconds, attempt)."""
    job, epoch, attempt = task_id.rsplit(".", 2)
    return job, int(epoch), int(attempt)


@dataclass(frozen=True, slots=True)
class Run:
    """One attempt at one scheduled time of one job.

    ``(job, scheduled_at, attempt)`` is the identity; the store refuses a second row
    with the same identity, which is what keeps a new leader from launching a run the
    old one already launched.
    """

    job: str
    scheduled_at: datetime
    attempt: int = 0
    state: RunState = RunState.QUEUED
    trigger: RunTrigger = RunTrigger.SCHEDULE
    queued_at: datetime | None = None
    launched_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    exit_status: int | None = None
    reason: str | None = None
    message: str | None = None
    agent_id: str | None = None
    hostname: str | None = None
    arguments: tuple[str, ...] | None = None
    caused_by: str | None = None
    id: int | None = None
    relaunches: int = 0
    """Attempts of this fire time that were launches the master dropped before they started;
    they are new task ids, but not failures, so they do not use up ``retries``."""
    kill_requested: str | None = None
    """Why its task was asked to die (``killed by request of NAME``, ``timeout: ...``), once
    asked: its end is then what was asked for, not a failure to retry."""
    argument_line: str | None = None
    """Text added, as given, to a shell job's command line after a space (Chronos's
    ``PUT /job/<name>?arguments=...``), instead of the job's own arguments."""
    awaiting_completion: bool = False
    """An async job's run whose task has finished (exit 0): it stays RUNNING, with no task,
    until a completion report decides it (see :attr:`JobSpec.async_completion`)."""
    reported_status: int | None = None
    """A completion report that came while the task still ran: applied when it finishes."""
    offered_at: datetime | None = None
    """When the master offered the resources the run was launched on (the offer's arrival)."""
    requested_by: str | None = None
    """Who asked for this run by name (a user or token, through the API, the UI or the CLI);
    None for runs the scheduler started on its own (see ``trigger`` and ``caused_by``)."""
    killed_by: str | None = None
    """Who asked for its task to be killed, when a user or token did (see ``kill_requested``)."""
    task_id: str = field(init=False, repr=False, compare=False)
    """``<job>.<scheduled epoch>.<attempt>``, derived once (it is asked for at every step)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "task_id", task_id_for(self.job, self.scheduled_at, self.attempt))

    @property
    def due_at(self) -> datetime:
        """When this attempt was due to start: what launch skew is measured from.

        - a scheduled or caught-up first attempt: its scheduled time;
        - a retry: when its backoff expired (the engine queues it then), so the retry
          delay is not counted as skew;
        - a manual, triggered or dependency run, or a relaunch: when it was asked for
          (queued), not the second it is identified by.
        """
        if self.trigger in _DUE_WHEN_SCHEDULED or self.queued_at is None:
            return self.scheduled_at
        return self.queued_at

    @property
    def skew(self) -> float | None:
        """Seconds from when the run was due (:attr:`due_at`) to when it was handed to Mesos."""
        if self.launched_at is None:
            return None
        return (self.launched_at - self.due_at).total_seconds()

    @property
    def duration(self) -> float | None:
        start = self.started_at or self.launched_at
        if start is None or self.finished_at is None:
            return None
        return (self.finished_at - start).total_seconds()

    def evolve(self, **changes: Any) -> Run:
        return replace(self, **changes)


# --------------------------------------------------------------------------- owners

NOTIFY_EVENTS = ("failure", "recovery", "success", "skipped", "disabled")
NOTIFY_CHANNELS = ("email", "slack", "pagerduty", "webhook")
"""The channels known before channels were plugins; the registered ones are
:func:`moroccron.channels.names`."""
LEGACY_CONTACT_FIELDS = ("slack", "pagerduty")
"""Owner fields of older versions, now entries of ``contacts``: still accepted and answered."""
FRAMEWORK_EVENT = "framework"
"""Notifications about the Mesos framework itself (removed, refused), to ``admin_contacts``."""
DEFAULT_PREFERENCES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "failure": ("email",),
        "recovery": ("email",),
        "success": (),
        "skipped": ("email",),
        "disabled": ("email",),
    }
)


@dataclass(frozen=True, slots=True)
class Owner(Checked):
    """Someone responsible for jobs, and what they want to hear about, on which channel.

    ``id`` is how jobs name the owner (usually an email address). An owner who wants no
    failure emails keeps ownership and sets ``preferences["failure"] = ()``.

    ``email`` is the owner's mail address (the ``id`` when it is one); ``contacts`` holds
    the address on every other channel, ``{channel: address}``, for the registered
    channels (:mod:`moroccron.channels`). ``slack=`` and ``pagerduty=`` are shortcuts for
    ``contacts["slack"]`` and ``contacts["pagerduty"]`` (None: as ``contacts`` says), and
    read back as attributes.
    """

    id: str
    name: str = ""
    email: str | None = None
    slack: InitVar[str | None] = None
    pagerduty: InitVar[str | None] = None
    preferences: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEFAULT_PREFERENCES))
    mute_until: datetime | None = None
    contacts: Mapping[str, str] = field(default_factory=dict)

    FIELDS: ClassVar[tuple[str, ...]] = (
        "id",
        "name",
        "email",
        "slack",
        "pagerduty",
        "preferences",
        "mute_until",
        "contacts",
    )
    _COLLECTED: ClassVar[bool] = True

    def __post_init__(self, slack: str | None, pagerduty: str | None) -> None:
        c = _Collector()
        limit = bounds.TEXT_LIMITS["owner"]
        if not isinstance(self.id, str) or not self.id.strip() or len(self.id) > limit:
            c.add("id", "must be a non-empty identifier (usually an email address)", self.id, f"1-{limit} characters")
        else:
            c.text("id", self.id, "owner")
        if not isinstance(self.name, str):
            c.add("name", "must be a string", self.name, "text")
        else:
            c.text("name", self.name, "owner_name")
        contacts = self._contacts(c, {"slack": slack, "pagerduty": pagerduty})
        email = self.email
        if "email" in contacts:
            given = contacts.pop("email")
            if email is not None and email != given:
                c.add("contacts.email", "differs from email", given, f"{email!r}, or leave one of them out")
            email = given
        if email is None and isinstance(self.id, str) and "@" in self.id:
            email = self.id
        if email is not None and (not isinstance(email, str) or "@" not in email):
            c.add("email", "is not an email address", email, "user@example.com")
        elif email is not None and email != self.id:
            c.text("email", email, "owner")
        object.__setattr__(self, "email", email)
        object.__setattr__(self, "contacts", MappingProxyType(contacts))
        prefs: dict[str, tuple[str, ...]] = dict(DEFAULT_PREFERENCES)
        if not isinstance(self.preferences, Mapping):
            c.add(
                "preferences",
                "must be an object {event: [channels]}",
                self.preferences,
                f"events {', '.join(NOTIFY_EVENTS)}",
            )
        else:
            known = channels.names()
            for event, chans_given in self.preferences.items():
                if event not in NOTIFY_EVENTS:
                    c.add(f"preferences.{event}", "unknown event", event, " | ".join(NOTIFY_EVENTS))
                    continue
                chans = _str_tuple(c, f"preferences.{event}", chans_given, limit="channels")
                for ch in chans:
                    if c.strict and ch not in known:
                        c.add(f"preferences.{event}", "unknown channel", ch, " | ".join(known))
                prefs[event] = tuple(dict.fromkeys(chans))
        object.__setattr__(self, "preferences", MappingProxyType(prefs))
        if self.mute_until is not None and not isinstance(self.mute_until, datetime):
            c.add("mute_until", "must be a timestamp or null", self.mute_until, "an ISO 8601 timestamp")
        elif self.mute_until is not None and self.mute_until.tzinfo is not None:
            try:  # an offset that pushes the instant past year 1 or 9999 cannot be stored or compared
                self.mute_until.astimezone(UTC)
            except (OverflowError, ValueError):
                c.add("mute_until", "is out of range", self.mute_until.isoformat(), "a time between years 1 and 9999")
        c.raise_if_any(f"owner {self.id!r}" if isinstance(self.id, str) else None)
        note_built(self)

    def _contacts(self, c: _Collector, legacy: Mapping[str, str | None]) -> dict[str, str]:
        """``contacts`` checked and normalised, with the ``slack=``/``pagerduty=`` shortcuts applied."""
        out: dict[str, str] = {}
        given: list[tuple[str, str, object]] = []  # (field for messages, channel, address)
        if not isinstance(self.contacts, Mapping):
            c.add(
                "contacts",
                "must be an object {channel: address}",
                self.contacts,
                f"channels {', '.join(channels.names())}",
            )
        else:
            given.extend((f"contacts.{ch}", ch, v) for ch, v in self.contacts.items())
        given.extend((ch, ch, value) for ch, value in legacy.items() if value is not None)
        for name, ch, value in given:
            if value is None:
                continue
            if not isinstance(ch, str) or (c.strict and ch != "email" and channels.get(ch) is None):
                c.add(name, "unknown channel", ch, " | ".join(channels.names()))
                continue
            channel = channels.get(ch)
            if not isinstance(value, str) or not value:
                c.add(
                    name,
                    "must be a non-empty string or null",
                    value,
                    channel.description if channel is not None and channel.description else "an address",
                )
                continue
            if ch == "email":
                out[ch] = value  # checked as the email field
                continue
            if not c.text(name, value, "owner_channel"):
                continue
            if c.strict and channel is not None:
                try:
                    value = channel.check(value)
                except ValueError as exc:
                    c.add(name, str(exc), value, channel.description or channel.placeholder)
                    continue
            out[ch] = value
        return out

    def with_fields_of(self, other: Owner, names: Iterable[str]) -> Owner:
        """This owner with the fields ``names`` taken from ``other``, the rest kept.

        ``contacts`` is taken whole; ``slack`` and ``pagerduty`` change only that contact.
        (``dataclasses.replace`` would read ``slack`` back from the old owner and put it
        over new ``contacts``.)
        """
        names = set(names) - {"id"}
        data: dict[str, Any] = {
            "name": self.name,
            "email": self.email,
            "preferences": self.preferences,
            "mute_until": self.mute_until,
            "contacts": dict(self.contacts),
        }
        for name in names - set(LEGACY_CONTACT_FIELDS):
            data[name] = dict(other.contacts) if name == "contacts" else getattr(other, name)
        for name in names & set(LEGACY_CONTACT_FIELDS):
            if other.contacts.get(name) is None:
                data["contacts"].pop(name, None)
            else:
                data["contacts"][name] = other.contacts[name]
        return Owner(id=self.id, **data)

    def changed_fields(self, other: Owner) -> list[str]:
        """The fields of :meth:`to_dict` whose values differ in ``other``; ``contacts`` only
        when a contact other than ``slack``/``pagerduty`` (named as fields) differs."""
        a, b = self.to_dict(), other.to_dict()
        changed = [k for k in a if k != "contacts" and a[k] != b[k]]
        if {k: v for k, v in a["contacts"].items() if k not in LEGACY_CONTACT_FIELDS} != {
            k: v for k, v in b["contacts"].items() if k not in LEGACY_CONTACT_FIELDS
        }:
            changed.append("contacts")
        return changed

    def address(self, channel: str) -> str | None:
        """The owner's address on ``channel``: ``email`` for email, else ``contacts[channel]``."""
        return self.email if channel == "email" else self.contacts.get(channel)

    def wants(self, event: str, channel: str, now: datetime) -> bool:
        if self.mute_until is not None and now < self.mute_until:
            return False
        return channel in self.preferences.get(event, ())

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "email": self.email,
            "slack": self.contacts.get("slack"),
            "pagerduty": self.contacts.get("pagerduty"),
            "preferences": {k: list(v) for k, v in self.preferences.items()},
            "mute_until": self.mute_until.isoformat() if self.mute_until else None,
            "contacts": dict(self.contacts),
        }


# Read back as attributes: Owner(slack="#data").slack == "#data" (set after the dataclass,
# whose init-only fields take these names).
Owner.slack = property(  # type: ignore[attr-defined]
    lambda self: self.contacts.get("slack"),
    doc="``contacts['slack']``, for older callers.",
)
Owner.pagerduty = property(  # type: ignore[attr-defined]
    lambda self: self.contacts.get("pagerduty"),
    doc="``contacts['pagerduty']``, for older callers.",
)
