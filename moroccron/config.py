"""Settings: command-line flags > environment (``MOROCCRON_*``) > config file > defaults.

The config file is TOML with the same keys as the settings below, e.g.::

    db = "postgresql://moroccron@db/moroccron"
    bind = "0.0.0.0:4400"
    master = "zk://zk1:2181,zk2:2181/mesos"
    jobs = ["/etc/moroccron/jobs"]

Every value is checked once, here, so a typo in an environment variable fails at
start-up with the variable's name rather than at 3 a.m. when the value is first used.
"""

from __future__ import annotations

import functools
import os
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

from moroccron.address import split_host_port
from moroccron.errors import FieldError, ValidationError

__all__ = ["Settings", "load_settings", "parse_bind"]

ENV_PREFIX = "MOROCCRON_"


@dataclass(frozen=True)
class Settings:
    db: str = "sqlite:///moroccron.db"
    bind: str = "127.0.0.1:4400"
    master: str = field(default="local", repr=False)  # repr=False: zk:// URLs may hold credentials
    zk: str | None = field(default=None, repr=False)
    jobs: tuple[str, ...] = ()
    packing: str = "first-fit"
    framework_name: str = "moroccron"
    role: str = "*"
    principal: str | None = None
    secret: str | None = field(default=None, repr=False)
    failover_timeout: float = 604800.0
    offer_horizon_seconds: float = 2.0
    prepare_seconds: float = 1.5  # runs due this soon are created and placed ahead of their second; 0 = on it
    run_retention: int = 1000
    prune_interval_seconds: float = 300.0  # how often runs beyond run_retention are deleted; 0 = never
    local_agents: int = 1
    local_work_dir: str = "var/mesos"
    disable_plugins: tuple[str, ...] = ()
    log_level: str = "INFO"
    insecure: bool = False
    auth_file: str | None = None
    zk_session_timeout: float = 10.0
    db_pool_size: int = 5  # connections kept open per instance (PostgreSQL); as many again may overflow
    session_secret: str | None = field(default=None, repr=False)  # signs UI sessions; same on every instance
    job_poll_seconds: float = 5.0  # how often the leader looks for job changes made elsewhere; 0 = never
    # Notifications. ``plugins`` holds the config file's [plugins.NAME] tables (plugin settings such as
    # SMTP servers); ``webhooks`` maps names used in ``webhook:NAME`` targets to URLs. Both may hold
    # secrets: they are never shown (see public()).
    plugins: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False)
    webhooks: Mapping[str, str] = field(default_factory=dict, repr=False)
    notify_templates: str | None = None
    public_url: str | None = None
    # The http-trigger plugin (moroccron/triggers/http.py documents them); URLs may hold tokens.
    http_trigger_urls: tuple[str, ...] = field(default=(), repr=False)
    http_trigger_events: tuple[str, ...] = ("succeeded", "failed")
    http_trigger_retries: int = 5
    http_trigger_timeout: float = 5.0
    # A plugin hook call (task launched, task failed, ...) that runs longer is given up on; a
    # plugin that hangs three times is disabled. Hooks never hold up the scheduler itself.
    hook_timeout_seconds: float = 10.0
    # Every live run is reconciled with the master this often, so a task it forgot is found.
    reconcile_interval_seconds: float = 600.0
    # Sign-in protection (docs/security.md): failed attempts allowed per client address in a burst,
    # refilled over the window (0 = no limit); proxies whose X-Forwarded-For is believed; cookies' Secure flag.
    auth_max_failures: int = 10
    auth_failure_window_seconds: float = 60.0
    trusted_proxies: tuple[str, ...] = ()
    session_cookie_secure: bool = False
    # HTTP addresses (each instance's bind) a standby may send writes, with their credentials, to;
    # empty: whichever address ZooKeeper and the database agree on (moroccron/api/leader.py).
    peers: tuple[str, ...] = ()
    max_request_bytes: int = 1 << 20  # largest HTTP request body accepted (413 beyond); see docs/limits.md
    # Who hears about problems with the Mesos framework itself (removed by the master, refused):
    # notification targets as in a job's notify lists (email:ADDR, slack:#CHANNEL, pagerduty:SERVICE,
    # webhook:NAME). See docs/deployment.md, "Running against a real Mesos cluster".
    admin_contacts: tuple[str, ...] = ()
    # /readyz: a leader whose last successful scheduler step is older than this is not ready. An idle
    # scheduler steps at least once a minute, hence the floor of 60.
    ready_step_seconds: float = 120.0
    # A real Mesos cluster (docs/deployment.md, "Running against a real Mesos cluster"): every role the
    # framework takes offers for (empty: just ``role``, which is also the default role of jobs without
    # one); the Unix user tasks run as by default; TLS to the masters (https, zk:// included).
    roles: tuple[str, ...] = ()
    framework_user: str = "root"
    mesos_tls: bool = False
    mesos_ca_file: str | None = None
    mesos_client_cert: str | None = None
    mesos_client_key: str | None = None
    # Leadership without ZooKeeper (moroccron/lease.py): a lease in the database that the leader
    # renews every lease_renew_seconds; a standby takes over once it has not been renewed for
    # lease_seconds. Use the same values on every instance.
    lease_seconds: float = 10.0
    lease_renew_seconds: float = 2.0
    # The Chronos API (docs/chronos.md): the runAsUser of a job that names none (Chronos' --user;
    # "" for the framework_user), and the Access-Control-Allow-Origin its routes send ("" sends
    # none; Chronos sent "*", which lets any web page read the jobs of an API without auth).
    chronos_run_as_user: str = "root"
    chronos_cors_origin: str = ""

    @property
    def ui_url(self) -> str:
        """Where people reach the UI: ``public_url``, or the bind address (this host's name
        for a wildcard bind: 0.0.0.0 is nowhere to a browser)."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host, port = parse_bind(self.bind)
        if host in ("0.0.0.0", "::", ""):
            host = _this_host()
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    @property
    def framework_roles(self) -> tuple[str, ...]:
        """The roles the framework registers (FrameworkInfo.roles): ``roles``, or ``role`` alone."""
        return self.roles or (self.role,)

    @property
    def default_role(self) -> str:
        """The role of jobs that name none: ``role`` if registered, else the first of ``roles``."""
        return self.role if self.role in self.framework_roles else self.framework_roles[0]

    @property
    def mesos_uses_tls(self) -> bool:
        return (
            self.mesos_tls
            or bool(self.mesos_ca_file or self.mesos_client_cert)
            or self.master.strip().lower().startswith("https://")
        )

    def plugin_settings(self, name: str) -> Mapping[str, Any]:
        """The ``[plugins.NAME]`` table of the config file (empty if none)."""
        return self.plugins.get(name, {})

    @property
    def bind_host(self) -> str:
        return parse_bind(self.bind)[0]

    @property
    def bind_port(self) -> int:
        return parse_bind(self.bind)[1]

    def public(self) -> dict[str, Any]:
        """Settings safe to show: secrets are masked."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        for key in ("secret", "session_secret"):
            if out.get(key):
                out[key] = "***"
        out["plugins"] = {name: "***" for name in self.plugins}
        out["webhooks"] = {name: "***" for name in self.webhooks}
        if out.get("http_trigger_urls"):
            from moroccron.checks import mask_url

            out["http_trigger_urls"] = tuple(mask_url(u) for u in out["http_trigger_urls"])
        from moroccron.zk import redact

        out["master"], out["zk"] = redact(self.master), redact(self.zk) if self.zk else None
        return out


@functools.cache
def _this_host() -> str:
    """This host's name, looked up once: it may take a DNS query, and links are built often."""
    return socket.getfqdn()


def _kind(hint: Any) -> type:
    """What a Settings field's type annotation says its values are: str, int, float, bool,
    tuple (a list of text) or dict (a table); ``X | None`` is ``X``."""
    if get_origin(hint) in (Union, UnionType):
        hint = next(arg for arg in get_args(hint) if arg is not type(None))
    origin = get_origin(hint) or hint
    if origin is tuple:
        return tuple
    if origin in (Mapping, dict):
        return dict
    if origin in (str, int, float, bool):
        kind: type = origin
        return kind
    raise TypeError(f"a setting cannot be of type {hint!r}")


# Each setting's kind, from the Settings fields themselves.
_TYPES: dict[str, type] = {name: _kind(hint) for name, hint in get_type_hints(Settings).items()}


READY_STEP_MIN = 60.0
"""An idle scheduler steps at least this often (moroccron.service), so a shorter
``ready_step_seconds`` would call a healthy, quiet leader not ready."""


def _check_admin_contacts(settings: Settings) -> None:
    """Each contact is a notification target, and each ``webhook:NAME`` has a URL in ``[webhooks]``."""
    from moroccron.model import NOTIFY_TARGET_ALLOWED, NOTIFY_TARGET_RE

    errors = []
    for i, target in enumerate(settings.admin_contacts):
        if not NOTIFY_TARGET_RE.fullmatch(target):
            errors.append(
                FieldError(f"admin_contacts[{i}]", "is not a notification target", target, NOTIFY_TARGET_ALLOWED)
            )
        elif target.startswith("webhook:") and target.removeprefix("webhook:") not in settings.webhooks:
            errors.append(
                FieldError(
                    f"admin_contacts[{i}]",
                    "names a webhook that [webhooks] does not define",
                    target,
                    f"webhook:NAME for a NAME in [webhooks] ({', '.join(sorted(settings.webhooks)) or 'none defined'})",
                )
            )
    if errors:
        raise ValidationError(errors)


def check_lease(lease_seconds: float, renew_seconds: float) -> None:
    """A lease renewed often enough that a leader gets several tries before it expires."""
    if not 0 < renew_seconds <= 60:
        raise ValidationError.single(
            "lease_renew_seconds", "out of range", renew_seconds, "a number of seconds > 0 and <= 60"
        )
    if not 3 * renew_seconds <= lease_seconds <= 600:
        raise ValidationError.single(
            "lease_seconds",
            "must be at least 3 times lease_renew_seconds "
            f"({renew_seconds:g}), so that a leader gets several tries to renew",
            lease_seconds,
            f"a number of seconds >= {3 * renew_seconds:g} and <= 600",
        )


def parse_bind(bind: str) -> tuple[str, int]:
    try:
        return split_host_port(bind)
    except ValueError:
        raise ValidationError.single("bind", "must be HOST:PORT", bind, "e.g. 127.0.0.1:4400") from None


def _convert(key: str, value: Any, where: str) -> Any:
    """Check and convert one value; ``where`` names it as the user wrote it."""
    kind = _TYPES[key]
    try:
        if value is None:
            return None
        if kind is tuple:
            if isinstance(value, str):
                return tuple(v.strip() for v in value.split(",") if v.strip())
            if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if kind is dict:
            if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
                return dict(value)
            raise ValueError
        if kind is bool:
            if isinstance(value, bool):
                return value
            low = str(value).strip().lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off", ""):
                return False
            raise ValueError
        if kind in (int, float):
            if isinstance(value, bool):
                raise ValueError
            number = kind(value)
            if number < 0:
                raise ValueError
            return number
        if not isinstance(value, str):
            raise ValueError
        return value
    except (TypeError, ValueError):
        allowed = {
            dict: "a table (in the config file)",
            tuple: "a list, or comma-separated text",
            bool: "true | false",
            int: "a whole number >= 0",
            float: "a number >= 0",
            str: "text",
        }[kind]
        raise ValidationError(FieldError(where, "has a value of the wrong kind", value, allowed)) from None


def _from_mapping(data: Mapping[str, Any], source: str) -> dict[str, Any]:
    out = {}
    for key, value in data.items():
        norm = key.replace("-", "_")
        if norm not in _TYPES:
            raise ValidationError(FieldError(f"{source}{key}", "unknown setting", None, ", ".join(sorted(_TYPES))))
        out[norm] = _convert(norm, value, f"{source}{key}")
    return out


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Merge the sources in precedence order. ``flags`` with value None are "not given"."""
    environ = os.environ if environ is None else environ
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    config_file = config_file or flags.pop("config", None) or environ.get(ENV_PREFIX + "CONFIG")
    merged: dict[str, Any] = {}
    if config_file:
        path = Path(config_file)
        try:
            data = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise ValidationError.single("config", "file not found", str(path), "a readable TOML file") from None
        except tomllib.TOMLDecodeError as exc:
            raise ValidationError.single("config", f"is not valid TOML: {exc}", str(path), "TOML") from None
        merged.update(_from_mapping(data, f"config file {path}: "))
    env_values = {
        key[len(ENV_PREFIX) :].lower(): value
        for key, value in environ.items()
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in _TYPES
    }
    merged.update({k: _convert(k, v, f"environment variable {ENV_PREFIX}{k.upper()}") for k, v in env_values.items()})
    merged.update(_from_mapping(flags, "--"))
    settings = replace(Settings(), **merged)
    parse_bind(settings.bind)
    if settings.db_pool_size < 1:
        raise ValidationError.single("db_pool_size", "must be at least 1", settings.db_pool_size, "a whole number >= 1")
    if not 10 <= settings.reconcile_interval_seconds <= 86400:
        raise ValidationError.single(
            "reconcile_interval_seconds",
            "out of range",
            settings.reconcile_interval_seconds,
            "a number of seconds >= 10 and <= 86400",
        )
    if not 0 < settings.hook_timeout_seconds <= 3600:
        raise ValidationError.single(
            "hook_timeout_seconds", "out of range", settings.hook_timeout_seconds, "a number of seconds > 0 and <= 3600"
        )
    if settings.max_request_bytes < 1024:
        raise ValidationError.single(
            "max_request_bytes",
            "is too small for a job or a form",
            settings.max_request_bytes,
            "a whole number of bytes >= 1024",
        )
    if settings.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        raise ValidationError.single(
            "log_level", "unknown log level", settings.log_level, "DEBUG | INFO | WARNING | ERROR | CRITICAL"
        )
    from moroccron.api.ratelimit import parse_networks

    try:
        parse_networks(settings.trusted_proxies)
    except ValueError as exc:
        raise ValidationError.single(
            "trusted_proxies",
            "is not an IP address or network",
            str(exc),
            "addresses or CIDR networks, e.g. 10.0.0.5, 10.1.0.0/16",
        ) from None
    _check_admin_contacts(settings)
    if settings.ready_step_seconds < READY_STEP_MIN:
        raise ValidationError.single(
            "ready_step_seconds",
            "is shorter than an idle scheduler's step interval",
            settings.ready_step_seconds,
            f"a number of seconds >= {READY_STEP_MIN:g}",
        )
    _check_mesos(settings)
    check_lease(settings.lease_seconds, settings.lease_renew_seconds)
    for peer in settings.peers:
        try:
            parse_bind(peer)
        except ValidationError:
            raise ValidationError.single(
                "peers", "each peer must be HOST:PORT, as in that instance's bind", peer, "e.g. 10.0.0.11:4400"
            ) from None
    return settings


def _check_mesos(settings: Settings) -> None:
    """Roles the master would refuse, a TLS setup that cannot work: refused at start-up."""
    from moroccron.bounds import ROLE_ALLOWED, role_problem

    for name, roles in (("role", (settings.role,)), ("roles", settings.roles)):
        for role in roles:
            if (problem := role_problem(role)) is not None:
                raise ValidationError.single(name, f"is not a Mesos role: {problem}", role, ROLE_ALLOWED)
    if len(set(settings.roles)) != len(settings.roles):
        raise ValidationError.single("roles", "lists a role more than once", list(settings.roles), "distinct roles")
    if settings.roles and settings.role != "*" and settings.role not in settings.roles:
        raise ValidationError.single(
            "role",
            "is not one of roles: the default role must be registered",
            settings.role,
            " | ".join(settings.roles),
        )
    if not settings.framework_user.strip():
        raise ValidationError.single(
            "framework_user",
            "is empty",
            settings.framework_user,
            "a Unix user that exists on the agents, e.g. root or mesos",
        )
    if settings.mesos_client_key and not settings.mesos_client_cert:
        raise ValidationError.single(
            "mesos_client_key",
            "needs mesos_client_cert",
            settings.mesos_client_key,
            "set both, or mesos_client_cert alone if it holds the key too",
        )
    for name in ("mesos_ca_file", "mesos_client_cert", "mesos_client_key"):
        path = getattr(settings, name)
        if path and not os.access(path, os.R_OK):
            raise ValidationError.single(name, "is not a readable file", path, "a PEM file this process can read")
    tls = "TLS to the masters is configured (mesos_tls, mesos_ca_file or mesos_client_cert)"
    if settings.mesos_uses_tls and settings.master.strip().lower().startswith("http://"):
        from moroccron.zk import redact

        raise ValidationError.single(
            "master", f"says http, but {tls}", redact(settings.master), "https://HOST:PORT, HOST:PORT or zk://..."
        )
    if settings.mesos_uses_tls and settings.master == "local":
        raise ValidationError.single(
            "master",
            f"is the local master, which speaks plain http, but {tls}",
            settings.master,
            "a real master's address, or no TLS settings",
        )
