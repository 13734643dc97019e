"""Chronos jobs into moroccron: read an export, plan the change, apply it.

``moroccron chronos import SOURCE`` reads Chronos job hashes from

- a JSON file holding a list of job hashes, as ``GET /v1/scheduler/jobs`` answers
  (``curl http://chronos:4400/v1/scheduler/jobs > jobs.json``), or one job hash;
- a directory: every ``*.json`` file under it (recursively, hidden files left out), each
  a list or a single job hash, as a repository of one file per job holds them;
- a live Chronos: ``http(s)://host:port[/prefix]``, whose ``/v1/scheduler/jobs`` (or,
  for Chronos 2.x, ``/scheduler/jobs``) is read; a URL ending in ``/jobs`` is read as is.

Each hash is converted by :func:`moroccron.api.chronos_schema.from_chronos`, the same
conversion the Chronos API applies to a POST, so an imported job is the job a Chronos
client would have created. The change is then planned, checked and stored by
:func:`moroccron.definitions.apply_definitions`, as ``jobs apply`` does: all or nothing.
Every job is converted and the whole graph checked (a parent must be in the export or
already stored) before anything is written; one problem anywhere stops the import with
the job, where it came from, and the Chronos field to fix.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from moroccron.api.chronos_schema import ChronosJob, chronos_field, from_chronos, to_chronos
from moroccron.definitions import ApplyPlan, Definitions, apply_definitions
from moroccron.errors import FieldError, MoroccronError, ValidationError
from moroccron.model import JobSpec

if TYPE_CHECKING:
    from moroccron.hooks.manager import PluginManager
    from moroccron.store import Store

__all__ = ["ChronosExport", "ChronosImportError", "import_export", "parse_export", "plan_lines", "read_source"]

JOBS_PATHS = ("/v1/scheduler/jobs", "/scheduler/jobs")
"""Where a Chronos lists its jobs: 3.x, then 2.x."""

FETCH_TIMEOUT = 30.0
"""Seconds to wait for a live Chronos to answer."""


class ChronosImportError(MoroccronError):
    """An export that cannot be imported: unreadable, or jobs that cannot be accepted.

    :ivar problems: (what, error) per job or source that failed, in export order;
        ``what`` names the job and where it came from.
    """

    def __init__(self, message: str, problems: Iterable[tuple[str, ValidationError]] = ()) -> None:
        self.problems = list(problems)
        self.message = message
        lines = [message] + [f"  {what}: {'; '.join(str(e) for e in exc.errors)}" for what, exc in self.problems]
        super().__init__("\n".join(lines))


@dataclass
class ChronosExport:
    """Chronos jobs read and converted: name -> job, and where each came from."""

    jobs: dict[str, ChronosJob] = field(default_factory=dict)
    origins: dict[str, str] = field(default_factory=dict)

    def definitions(self) -> Definitions:
        return Definitions(jobs={n: j.job for n, j in self.jobs.items()}, sources=dict(self.origins))


# --------------------------------------------------------------------------- reading


def read_source(source: str, *, timeout: float = FETCH_TIMEOUT) -> list[tuple[str, Any]]:
    """The job hashes in ``source`` (a file, a directory or a Chronos URL), each with its origin.

    :raises ChronosImportError: the source cannot be read, or is not JSON job hashes.
    """
    if source.startswith(("http://", "https://")):
        return _read_url(source, timeout)
    path = Path(source)
    if path.is_dir():
        files = sorted(
            p
            for p in path.rglob("*.json")
            if p.is_file() and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
        if not files:
            raise ChronosImportError(f"{source}: no *.json files in this directory")
        return [item for f in files for item in _read_file(f)]
    if path.is_file():
        return _read_file(path)
    raise ChronosImportError(f"{source}: no such file or directory (nor an http(s):// URL of a Chronos)")


def _read_file(path: Path) -> list[tuple[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ChronosImportError(f"{path}: cannot be read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChronosImportError(f"{path}:{exc.lineno}:{exc.colno}: not JSON: {exc.msg}") from None
    return _hashes(data, str(path))


def _hashes(data: Any, origin: str) -> list[tuple[str, Any]]:
    if isinstance(data, list):
        return [(f"{origin}[{i}]", item) for i, item in enumerate(data)]
    if isinstance(data, Mapping):
        return [(origin, data)]
    raise ChronosImportError(
        f"{origin}: expected a list of Chronos job hashes or one job hash, got a JSON {type(data).__name__}"
    )


def _jobs_urls(source: str) -> list[str]:
    parts = urlsplit(source)
    base = parts.path.rstrip("/")
    if base.endswith("/jobs"):
        return [source]
    return [urlunsplit(parts._replace(path=base + p, query="", fragment="")) for p in JOBS_PATHS]


def _read_url(source: str, timeout: float) -> list[tuple[str, Any]]:
    import requests

    shown = _without_password(source)
    for url in (urls := _jobs_urls(source)):
        # Credentials in the URL (https://user:pass@chronos) go as basic auth, never into messages.
        label = _without_password(url)
        try:
            resp = requests.get(url, timeout=timeout, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise ChronosImportError(f"{shown}: cannot reach Chronos: {type(exc).__name__}") from None
        if resp.status_code == 404 and url != urls[-1]:
            continue  # an older Chronos: try its path
        if resp.status_code != 200:
            raise ChronosImportError(f"{label}: Chronos answered {resp.status_code} {resp.reason}")
        try:
            data = resp.json()
        except ValueError:
            raise ChronosImportError(f"{label}: the answer is not JSON") from None
        if not isinstance(data, list):
            raise ChronosImportError(f"{label}: expected a JSON list of jobs, got a JSON {type(data).__name__}")
        return _hashes(data, label)
    raise AssertionError("unreachable: the last URL always returns or raises")  # pragma: no cover


def _without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


# --------------------------------------------------------------------------- converting


def parse_export(items: Iterable[tuple[str, Any]], *, now: datetime | None = None) -> ChronosExport:
    """Convert every job hash; report every job that cannot be converted at once.

    :param now: what an empty schedule start (Chronos's "now") becomes.
    :raises ChronosImportError: any job invalid, or a name given twice.
    """
    export = ChronosExport()
    problems: list[tuple[str, ValidationError]] = []
    for origin, data in items:
        name = data.get("name") if isinstance(data, Mapping) else None
        what = f"job {name!r} ({origin})" if isinstance(name, str) else origin
        try:
            parsed = from_chronos(data, now=now)
        except ValidationError as exc:
            problems.append((what, exc))
            continue
        job_name = parsed.job.name
        if job_name in export.jobs:
            problems.append(
                (
                    what,
                    ValidationError.single(
                        "name",
                        f"is also the name of the job in {export.origins[job_name]}",
                        job_name,
                        "each job name once in an import",
                    ),
                )
            )
            continue
        export.jobs[job_name] = parsed
        export.origins[job_name] = origin
    if problems:
        raise ChronosImportError(f"{len(problems)} job(s) cannot be imported; nothing was changed:", problems)
    return export


# --------------------------------------------------------------------------- applying


def import_export(
    store: Store,
    export: ChronosExport,
    *,
    prune: bool = False,
    dry_run: bool = False,
    plugins: PluginManager | None = None,
) -> ApplyPlan:
    """Plan, check and (unless ``dry_run``) store the export, as ``jobs apply`` does.

    :param prune: also delete stored jobs the export does not hold.
    :raises ChronosImportError: the job graph after the import would be invalid (a
        parent neither in the export nor stored, a cycle) or a plugin refuses a job.
    """
    existing = {job.name: job for job in store.all_jobs()}
    defs = export.definitions()
    for name, job in defs.jobs.items():
        old = existing.get(name)
        if old is not None and old != job and _chronos_hash(old) == _chronos_hash(job):
            # Only Chronos bookkeeping differs (how a field was sent, kept in chronos_extra):
            # the job reads the same to a Chronos client and runs the same, so it is unchanged.
            defs.jobs[name] = old
    try:
        plan = apply_definitions(store, defs, prune=prune, dry_run=dry_run, plugins=plugins)
    except ValidationError as exc:
        raise ChronosImportError(
            "the jobs cannot be imported as they are; nothing was changed:", _by_job(exc, export)
        ) from None
    for job in plan.update:
        old = existing.get(job.name)
        if old is not None:
            plan.changes[job.name] = _chronos_changes(old, job, plan.changes.get(job.name, []))
    return plan


_RESOURCES = ("cpus", "mem", "disk", "gpus")
_MISSING = object()


def _chronos_hash(job: JobSpec) -> dict[str, Any]:
    return to_chronos(job)


def _chronos_changes(old: JobSpec, new: JobSpec, native: Iterable[str]) -> list[str]:
    """The Chronos fields whose value a Chronos client would see change, in the order of
    the native fields that changed (``cpus/mem/disk/gpus`` for the resources), then any
    other. A native field whose Chronos value is unchanged (``schedule`` rewritten for a
    new ``scheduleTimeZone``, ``chronos_extra``) is not named."""
    a, b = _chronos_hash(old), _chronos_hash(new)
    differs = [k for k in dict.fromkeys([*b, *a]) if a.get(k, _MISSING) != b.get(k, _MISSING)]
    out: list[str] = []
    for name in native:
        label = "cpus/mem/disk/gpus" if name == "resources" else chronos_field(name)
        keys = _RESOURCES if name == "resources" else (label.split(".")[0],)
        if any(k in differs for k in keys) and label not in out:
            out.append(label)
            differs = [k for k in differs if k not in keys]
    if any(k in differs for k in _RESOURCES):
        out.append("cpus/mem/disk/gpus")
    out += [k for k in differs if k not in _RESOURCES]
    return out


def _by_job(exc: ValidationError, export: ChronosExport) -> list[tuple[str, ValidationError]]:
    """Graph and policy errors (fields such as ``etl.parents[0]``) grouped by job, in Chronos's names."""
    grouped: dict[str, list[FieldError]] = {}
    for e in exc.errors:
        name = next((n for n in export.jobs if e.field == n or e.field.startswith((n + ".", n + "["))), None)
        what = f"job {name!r} ({export.origins[name]})" if name else (exc.prefix or "jobs")
        fld = chronos_field(e.field, name) if name else e.field
        grouped.setdefault(what, []).append(FieldError(fld, e.message, e.value, e.allowed))
    return [(what, ValidationError(errors)) for what, errors in grouped.items()]


def plan_lines(plan: ApplyPlan, export: ChronosExport) -> list[str]:
    """The plan as ``jobs apply`` prints it, the changed fields in Chronos's names, then
    ``=`` for each unchanged job and ``!`` for fields moroccron accepted but does not act on."""
    lines = [f"+ {j.name}" for j in plan.create]
    for job in plan.update:
        # import_export named the changes in Chronos's fields already.
        lines.append(f"~ {job.name} ({', '.join(plan.changes.get(job.name, []))})")
    lines += [f"- {name}" for name in plan.delete]
    lines += [f"= {name}" for name in plan.unchanged]
    for name, parsed in export.jobs.items():
        if parsed.ignored:
            lines.append(f"! {name}: not acted on: {', '.join(parsed.ignored)}")
    return lines
