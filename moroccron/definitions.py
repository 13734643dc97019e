"""Job-definition modules: Python files, kept in git, that declare jobs.

Every ``Job(...)`` a module builds while it loads is collected, wherever it ends up: a
module-level name, a list built in a loop, or nowhere at all. A ``jobs()`` function, if
the module has one, is called too, and what it returns is collected::

    from moroccron import Job, Resources

    extract = Job(name="etl-extract", command="./extract.sh", schedule="0 2 * * *",
                  timezone="Europe/London", owners=["data@example.com"])
    load = Job(name="etl-load", command="./load.sh", parents=["etl-extract"])

Owners can be declared the same way with ``Owner(...)`` objects. An apply changes only
the owner fields a module names, so what was set elsewhere (``moroccron owners set
--mute-until``) stays.

Each job remembers the *source* that applied it (``jobs apply --source NAME``, by default
the paths given). ``--prune`` deletes only stored jobs of the same source: never those
of another team's modules, nor jobs made through the API, the UI or ``chronos import``.

Loading is all or nothing: every module under a path is loaded and every job
validated (fields, dependency graph, plugin policy) before anything is applied, so a
broken module stops the apply with its file and line and nothing is changed. Files
whose names start with ``_`` are helpers for the others (``_common.py``) and are not
loaded on their own; the folder is on ``sys.path`` while loading, so modules can
import them.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from moroccron.collect import ArgumentError, Built, collecting
from moroccron.errors import DependencyError, FieldError, MoroccronError, ValidationError
from moroccron.model import JobSpec, Owner

if TYPE_CHECKING:
    from moroccron.hooks.manager import PluginManager
    from moroccron.store import Store

__all__ = [
    "ApplyPlan",
    "DefinitionError",
    "Definitions",
    "Stored",
    "apply_definitions",
    "apply_payload",
    "check_plan",
    "default_source",
    "dry_run_store",
    "load_definitions",
    "plan_apply",
    "read_stored",
]

_counter = itertools.count()
SOURCE_MAX = 255
"""The longest source name stored with a job (the ``jobs.source`` column)."""


class DefinitionError(MoroccronError):
    """A job-definition module that cannot be loaded, with the file and line to fix."""

    def __init__(self, path: Path | str, line: int | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line else self.path
        super().__init__(f"{where}: {message}")


@dataclass
class Definitions:
    """What a set of modules declares, and where each job and owner came from.

    ``sources`` maps a job's name to where it is defined (``file:line``).
    ``owner_fields`` names, for each owner, the fields its module set: an apply changes
    only these on a stored owner (an owner missing from it is applied whole).
    """

    jobs: dict[str, JobSpec] = field(default_factory=dict)
    owners: dict[str, Owner] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    owner_fields: dict[str, frozenset[str]] = field(default_factory=dict)
    owner_sources: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------- loading


def _module_files(paths: Iterable[str | Path]) -> list[Path]:
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.py") if not p.name.startswith("_")))
        elif path.is_file():
            files.append(path)
        else:
            raise DefinitionError(path, None, "no such file or directory")
    return files


def _user_frame(path: Path, tb: traceback.StackSummary) -> tuple[Path, int | None]:
    """The deepest frame of the traceback in the module or in a file beside it (a helper
    it imports): the line the user wrote. Else the module itself, without a line."""
    folder = path.parent.resolve()
    for frame in reversed(tb):
        file = Path(frame.filename).resolve()
        if file == path.resolve() or folder in file.parents:
            return (path if file == path.resolve() else Path(frame.filename)), frame.lineno
    return path, None


def _built_where(path: Path, built: Built) -> str:
    """``file:line`` of an object, the file as the user named the module's folder."""
    file = Path(built.file)
    try:
        shown = path.parent / file.resolve().relative_to(path.parent.resolve())
    except ValueError:
        shown = file
    return f"{shown}:{built.line}"


def _load_module(path: Path) -> list[tuple[object, frozenset[str] | None, str]]:
    """Run one module; every job and owner it built (or returned from ``jobs()``), in
    order, as ``(object, fields its code set or None if unknown, where)``."""
    name = f"_moroccron_jobs_{next(_counter)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(path, None, "cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent.resolve())
    sys.path.insert(0, folder)
    try:
        with collecting(folder) as collector:
            spec.loader.exec_module(module)
            factory = vars(module).get("jobs")
            produced: list[object] = []
            if callable(factory):
                result = factory()
                if not isinstance(result, Iterable) or isinstance(result, (str, bytes, Mapping)):
                    raise DefinitionError(path, None, "jobs() must return a list of Job objects")
                produced = list(result)
        found: list[tuple[object, frozenset[str] | None, str]] = [
            (b.obj, b.explicit, _built_where(path, b)) for b in collector.built
        ]
        # Objects the module holds but did not build during this load (built by a helper
        # module imported by an earlier file, say): the caller drops those it has seen.
        for value in itertools.chain(produced, vars(module).values()):
            if isinstance(value, (JobSpec, Owner)):
                found.append((value, None, str(path)))
        return found
    except DefinitionError:
        raise
    except SyntaxError as exc:
        raise DefinitionError(exc.filename or path, exc.lineno, f"syntax error: {exc.msg}") from None
    except ArgumentError as exc:
        file, line = _user_frame(path, traceback.extract_tb(exc.__traceback__))
        raise DefinitionError(file, line, str(exc)) from None
    except ValidationError as exc:
        file, line = _user_frame(path, traceback.extract_tb(exc.__traceback__))
        raise DefinitionError(file, line, "invalid " + exc.render()) from None
    except Exception as exc:  # a user's module can raise anything; report it precisely
        file, line = _user_frame(path, traceback.extract_tb(exc.__traceback__))
        raise DefinitionError(file, line, f"{type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(folder)
        sys.modules.pop(name, None)


def _line_of(where: str) -> tuple[str, int | None]:
    file, _, line = where.rpartition(":")
    return (file, int(line)) if file and line.isdigit() else (where, None)


def _claim(places: dict[str, str], kind: str, key: str, where: str) -> None:
    """Record that ``key`` is defined at ``where``; a second definition names both places."""
    first = places.get(key)
    if first is not None:
        file, line = _line_of(where)
        raise DefinitionError(file, line, f"{kind} {key!r} is defined twice: at {first} and at {where}")
    places[key] = where


def load_definitions(paths: Iterable[str | Path]) -> Definitions:
    """Load every module under ``paths``. Raises :class:`DefinitionError` on the first
    broken one, or on a job name (or owner id) defined twice, naming both places."""
    defs = Definitions()
    seen: set[int] = set()
    before = set(sys.modules)
    folders: set[Path] = set()
    try:
        for path in _module_files(paths):
            folders.add(path.parent.resolve())
            for obj, explicit, where in _load_module(path):
                if id(obj) in seen:
                    continue
                seen.add(id(obj))
                if isinstance(obj, JobSpec):
                    _claim(defs.sources, "job", obj.name, where)
                    defs.jobs[obj.name] = obj
                elif isinstance(obj, Owner):
                    _claim(defs.owner_sources, "owner", obj.id, where)
                    defs.owners[obj.id] = obj
                    if explicit is not None:
                        defs.owner_fields[obj.id] = explicit
    finally:
        # Helper modules (_common.py) are loaded afresh by the next load, which may be of
        # another folder with a helper of the same name.
        for name in set(sys.modules) - before:
            module_file = getattr(sys.modules.get(name), "__file__", None)
            if module_file and not name.startswith("moroccron") and Path(module_file).resolve().parent in folders:
                sys.modules.pop(name, None)
    return defs


def default_source(paths: Iterable[str | Path]) -> str:
    """The source name of an apply of ``paths`` without ``--source``: the paths, each
    relative to the working directory when under it, sorted, joined with ','."""
    shown = []
    cwd = Path.cwd().resolve()
    for raw in paths:
        path = Path(raw).resolve()
        try:
            text = path.relative_to(cwd).as_posix() or "."
        except ValueError:
            text = path.as_posix()
        shown.append(text)
    return ",".join(sorted(dict.fromkeys(shown)))


def check_source(source: str) -> str:
    """``source``, or :class:`ValidationError` if it cannot be stored."""
    if not isinstance(source, str) or not source.strip() or len(source) > SOURCE_MAX or not source.isprintable():
        raise ValidationError.single(
            "source", "must be a non-empty printable name", source, f"1-{SOURCE_MAX} printable characters, e.g. team-a"
        )
    return source


# --------------------------------------------------------------------------- planning


@dataclass
class Stored:
    """What is stored, as far as an apply decides on it."""

    jobs: dict[str, JobSpec] = field(default_factory=dict)
    sources: dict[str, str | None] = field(default_factory=dict)
    owners: dict[str, Owner] = field(default_factory=dict)


def read_stored(store: Store | None, *, sources: bool = True) -> Stored:
    """The stored jobs, their sources (unless the schema has none yet) and the owners (inside
    the transaction of ``store`` when it is a unit of work)."""
    if store is None:
        return Stored()
    return Stored(
        jobs={job.name: job for job in store.all_jobs()},
        sources=store.job_sources() if sources else {},
        owners={o.id: o for o in store.list_owners()},
    )


@dataclass
class ApplyPlan:
    """What applying definitions would change. ``changes`` names the fields of each
    update (``source`` when a job passes to this source); ``owner_changes`` the same
    for owners."""

    create: list[JobSpec] = field(default_factory=list)
    update: list[JobSpec] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    changes: dict[str, list[str]] = field(default_factory=dict)
    owners_create: list[Owner] = field(default_factory=list)
    owners_update: list[Owner] = field(default_factory=list)
    owners_unchanged: list[str] = field(default_factory=list)
    owner_changes: dict[str, list[str]] = field(default_factory=dict)
    source: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete or self.owners_create or self.owners_update)

    @property
    def has_owners(self) -> bool:
        return bool(self.owners_create or self.owners_update or self.owners_unchanged)

    def lines(self) -> list[str]:
        out = [f"+ {j.name}" for j in self.create]
        out += [f"~ {j.name} ({', '.join(self.changes.get(j.name, []))})" for j in self.update]
        out += [f"- {name}" for name in self.delete]
        out += [f"+ owner {o.id}" for o in self.owners_create]
        out += [f"~ owner {o.id} ({', '.join(self.owner_changes.get(o.id, []))})" for o in self.owners_update]
        return out

    def summary(self) -> str:
        text = (
            f"{len(self.create)} to create, {len(self.update)} to update, "
            f"{len(self.delete)} to delete, {len(self.unchanged)} unchanged"
        )
        if self.has_owners:
            text += (
                f"; owners: {len(self.owners_create)} to create, {len(self.owners_update)} to update, "
                f"{len(self.owners_unchanged)} unchanged"
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        """The plan as the apply API answers it: names, fields changed, and the lines
        and summary the CLI prints."""
        return {
            "source": self.source,
            "create": [j.name for j in self.create],
            "update": {j.name: self.changes.get(j.name, []) for j in self.update},
            "delete": list(self.delete),
            "unchanged": list(self.unchanged),
            "owners": {
                "create": [o.id for o in self.owners_create],
                "update": {o.id: self.owner_changes.get(o.id, []) for o in self.owners_update},
                "unchanged": list(self.owners_unchanged),
            },
            "empty": self.empty,
            "notes": list(self.notes),
            "lines": self.lines(),
            "summary": self.summary(),
        }


def _owner_after(old: Owner, new: Owner, fields: frozenset[str] | None) -> Owner:
    """``old`` with the fields the module set taken from ``new``; the rest as stored."""
    if fields is None:
        return new
    return old.with_fields_of(new, fields)


def plan_apply(defs: Definitions, stored: Stored, *, prune: bool, source: str | None = None) -> ApplyPlan:
    """What applying ``defs`` to ``stored`` changes.

    With a ``source``, a job's stored source counts as one of its fields, and ``prune``
    deletes only the stored jobs of that source. Without one (``chronos import``), the
    sources are left alone and ``prune`` deletes every stored job not defined.
    """
    plan = ApplyPlan(source=source)
    for name in sorted(defs.jobs):
        new = defs.jobs[name]
        old = stored.jobs.get(name)
        if old is None:
            plan.create.append(new)
            continue
        changed: list[str] = []
        if old != new:
            a, b = old.to_dict(), new.to_dict()
            changed = [k for k in a if a[k] != b[k]]
        if source is not None and stored.sources.get(name) != source:
            changed.append("source")
        if changed:
            plan.update.append(new)
            plan.changes[name] = changed
        else:
            plan.unchanged.append(name)
    if prune:
        plan.delete = sorted(
            n for n in stored.jobs if n not in defs.jobs and (source is None or stored.sources.get(n) == source)
        )
    for owner_id in sorted(defs.owners):
        new_owner = defs.owners[owner_id]
        old_owner = stored.owners.get(owner_id)
        if old_owner is None:
            plan.owners_create.append(new_owner)
            continue
        merged = _owner_after(old_owner, new_owner, defs.owner_fields.get(owner_id))
        fields_changed = old_owner.changed_fields(merged)
        if fields_changed:
            plan.owners_update.append(merged)
            plan.owner_changes[owner_id] = fields_changed
        else:
            plan.owners_unchanged.append(owner_id)
    return plan


def resulting_jobs(plan: ApplyPlan, existing: Mapping[str, JobSpec]) -> dict[str, JobSpec]:
    """The whole job set after the plan, for graph validation before anything is stored."""
    result = dict(existing)
    for name in plan.delete:
        result.pop(name, None)
    for job in itertools.chain(plan.create, plan.update):
        result[job.name] = job
    return result


def _job_of(error: FieldError) -> str:
    """The job a graph error is about: its field is ``NAME.parents[...]``."""
    cut = error.field.rfind(".parents")
    return error.field[:cut] if cut > 0 else error.field


def _located(exc: DependencyError, locations: Mapping[str, str]) -> DependencyError:
    """``exc`` with the file:line of each job concerned that a module defines."""
    errors = []
    for e in exc.errors:
        if isinstance(e.value, list) and e.message.startswith("dependency cycle"):
            places = [f"{n} at {locations[n]}" for n in dict.fromkeys(e.value) if n in locations]
            message = e.message + (f" ({'; '.join(places)})" if places else "")
        else:
            where = locations.get(_job_of(e))
            message = e.message + (f" (defined at {where})" if where else "")
        errors.append(FieldError(e.field, message, e.value, e.allowed))
    return DependencyError(errors, exc.prefix)


def check_plan(
    plan: ApplyPlan,
    existing: Mapping[str, JobSpec],
    plugins: PluginManager | None = None,
    locations: Mapping[str, str] | None = None,
) -> None:
    """Validate the job set the plan would leave: dependency graph and plugin policy.

    Raises :class:`ValidationError` listing every problem; nothing is stored. A graph
    error names the file:line (from ``locations``) of each module-defined job concerned.
    """
    from moroccron.dag import validate_graph

    after = resulting_jobs(plan, existing)
    try:
        validate_graph(after.values())
    except DependencyError as exc:
        if not locations:
            raise
        raise _located(exc, locations) from None
    if plugins is not None:
        errors = []
        for job in itertools.chain(plan.create, plan.update):
            where = (locations or {}).get(job.name)
            for err in plugins.validate_job(job=job, existing=after):
                if where:
                    err = FieldError(err.field, f"{err.message} (job {job.name!r} at {where})", err.value, err.allowed)
                errors.append(err)
        if errors:
            raise ValidationError(errors, "plugin policy")


# --------------------------------------------------------------------------- applying


def apply_definitions(
    store: Store | None,
    defs: Definitions,
    *,
    prune: bool = False,
    dry_run: bool = False,
    plugins: PluginManager | None = None,
    source: str | None = None,
    approve: Callable[[ApplyPlan], None] | None = None,
    stored_sources: bool = True,
) -> ApplyPlan:
    """Plan, validate, and (unless ``dry_run``) store the change in one transaction.

    The stored jobs are read, the plan checked and written under the job-graph lock
    (:meth:`Store.job_unit_of_work`): a change made through the API meanwhile is either
    in what the plan was checked against or waits for the apply to finish. ``approve``
    may refuse a checked plan (by raising) before anything is written: the apply API
    uses it for owner changes, which need the admin role. A dry run reads only (``store``
    None plans against nothing stored; ``stored_sources`` False for a schema that does
    not store sources yet). Both ``jobs apply`` and the apply API
    (:mod:`moroccron.api.apply`) come here.
    """
    if source is not None:
        check_source(source)
    if dry_run or store is None:
        if not dry_run:
            raise ValueError("a store is needed unless dry_run")
        stored = read_stored(store, sources=stored_sources)
        plan = plan_apply(defs, stored, prune=prune, source=source)
        check_plan(plan, stored.jobs, plugins, defs.sources)
        if approve is not None:
            approve(plan)
        return plan
    with store.job_unit_of_work() as uow:
        stored = read_stored(uow)
        plan = plan_apply(defs, stored, prune=prune, source=source)
        check_plan(plan, stored.jobs, plugins, defs.sources)
        if approve is not None:
            approve(plan)
        for owner in itertools.chain(plan.owners_create, plan.owners_update):
            uow.put_owner(owner)
        if plan.create or plan.update or plan.delete:
            uow.apply_jobs(plan.create + plan.update, plan.delete, source=source)
    return plan


def dry_run_store(url: str) -> tuple[Store | None, list[str], bool]:
    """A store to plan a dry run against, read only: never created nor migrated.

    Returns ``(store or None, notes for the operator, whether it stores job sources)``.
    A SQLite file that does not exist is not created (the plan is against no stored
    jobs); an empty database is not given a schema; a database at an older schema is
    read as it is, with a note that ``moroccron db upgrade`` must run before an apply.
    """
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url

    from moroccron.store import Store

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            return None, ["the database is in memory: planned against no stored jobs"], False
        if not os.path.exists(database):
            return (
                None,
                [f"database {database} does not exist: planned against no stored jobs (nothing was created)"],
                False,
            )
    store = Store(url)
    current = store.current_revision()
    if current is None:
        store.close()
        return None, ["the database has no schema yet: planned against no stored jobs (nothing was created)"], False
    notes = []
    head = store.head_revision()
    if current != head:
        notes.append(
            f"the database schema is at revision {current}, this moroccron's is {head}: read without "
            "migrating; run `moroccron db upgrade` before applying"
        )
    with store.engine.connect() as conn:
        columns = {c["name"] for c in inspect(conn).get_columns("jobs")}
    return store, notes, "source" in columns


def apply_payload(defs: Definitions, *, source: str | None, prune: bool, dry_run: bool) -> dict[str, Any]:
    """The body of ``POST /api/v1/apply`` for ``defs``: the jobs as the API's job JSON,
    each owner with only the fields its module set, and where each job is defined (so
    the scheduler's graph errors name the file and line)."""
    owners = []
    for owner_id in sorted(defs.owners):
        whole = defs.owners[owner_id].to_dict()
        fields = defs.owner_fields.get(owner_id)
        owners.append(whole if fields is None else {k: v for k, v in whole.items() if k == "id" or k in fields})
    return {
        "source": source,
        "prune": prune,
        "dry_run": dry_run,
        "jobs": [defs.jobs[name].to_dict() for name in sorted(defs.jobs)],
        "owners": owners,
        "locations": dict(defs.sources),
    }
