"""Job-definition modules: Python files, kept in git, that declare jobs.

A module declares jobs as module-level ``Job(...)`` objects, or returns them from a
``jobs()`` function (for jobs generated in a loop)::

    from moroccron import Job, Resources

    extract = Job(name="etl-extract", command="./extract.sh", schedule="0 2 * * *",
                  timezone="Europe/London", owners=["data@example.com"])
    load = Job(name="etl-load", command="./load.sh", parents=["etl-extract"])

Owners can be declared the same way with ``Owner(...)`` objects.

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
import sys
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from moroccron.errors import MoroccronError, ValidationError
from moroccron.model import JobSpec, Owner

if TYPE_CHECKING:
    from moroccron.hooks.manager import PluginManager
    from moroccron.store import Store

__all__ = ["ApplyPlan", "DefinitionError", "Definitions", "load_definitions", "plan_apply", "apply_definitions"]

_counter = itertools.count()


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
    """What a set of modules declares, and where each job came from."""

    jobs: dict[str, JobSpec] = field(default_factory=dict)
    owners: dict[str, Owner] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)


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


def _line_in(path: Path, tb: traceback.StackSummary) -> int | None:
    """The deepest line of the traceback that lies in ``path``: the line the user wrote."""
    resolved = str(path.resolve())
    line = None
    for frame in tb:
        if str(Path(frame.filename).resolve()) == resolved:
            line = frame.lineno
    return line


def _load_module(path: Path) -> dict[str, object]:
    name = f"_moroccron_jobs_{next(_counter)}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise DefinitionError(path, None, "cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.parent.resolve())
    sys.path.insert(0, folder)
    try:
        spec.loader.exec_module(module)
        namespace = dict(vars(module))
        factory = namespace.get("jobs")
        if callable(factory):
            produced = factory()
            if not isinstance(produced, Iterable):
                raise DefinitionError(path, None, "jobs() must return a list of Job objects")
            for i, item in enumerate(produced):
                namespace[f"<jobs()[{i}]>"] = item
        return namespace
    except DefinitionError:
        raise
    except SyntaxError as exc:
        raise DefinitionError(path, exc.lineno, f"syntax error: {exc.msg}") from None
    except ValidationError as exc:
        tb = traceback.extract_tb(exc.__traceback__)
        raise DefinitionError(path, _line_in(path, tb), f"invalid job: {exc}") from None
    except Exception as exc:  # a user's module can raise anything; report it precisely
        tb = traceback.extract_tb(exc.__traceback__)
        raise DefinitionError(path, _line_in(path, tb), f"{type(exc).__name__}: {exc}") from None
    finally:
        sys.path.remove(folder)
        sys.modules.pop(name, None)


def load_definitions(paths: Iterable[str | Path]) -> Definitions:
    """Load every module under ``paths``. Raises :class:`DefinitionError` on the first broken one."""
    defs = Definitions()
    for path in _module_files(paths):
        for value in _load_module(path).values():
            if isinstance(value, JobSpec):
                where = defs.sources.get(value.name)
                if where is not None and defs.jobs[value.name] is not value:
                    raise DefinitionError(path, None, f"job {value.name!r} is also defined in {where}")
                defs.jobs[value.name] = value
                defs.sources[value.name] = str(path)
            elif isinstance(value, Owner):
                defs.owners[value.id] = value
    return defs


@dataclass
class ApplyPlan:
    """What applying definitions would change. ``changes`` names the fields of each update."""

    create: list[JobSpec] = field(default_factory=list)
    update: list[JobSpec] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    changes: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.create or self.update or self.delete)

    def lines(self) -> list[str]:
        out = [f"+ {j.name}" for j in self.create]
        out += [f"~ {j.name} ({', '.join(self.changes.get(j.name, []))})" for j in self.update]
        out += [f"- {name}" for name in self.delete]
        return out

    def summary(self) -> str:
        return (f"{len(self.create)} to create, {len(self.update)} to update, "
                f"{len(self.delete)} to delete, {len(self.unchanged)} unchanged")


def plan_apply(defined: Mapping[str, JobSpec], existing: Mapping[str, JobSpec], *, prune: bool) -> ApplyPlan:
    plan = ApplyPlan()
    for name in sorted(defined):
        new = defined[name]
        old = existing.get(name)
        if old is None:
            plan.create.append(new)
        elif old != new:
            plan.update.append(new)
            a, b = old.to_dict(), new.to_dict()
            plan.changes[name] = [k for k in a if a[k] != b[k]]
        else:
            plan.unchanged.append(name)
    if prune:
        plan.delete = sorted(set(existing) - set(defined))
    return plan


def resulting_jobs(plan: ApplyPlan, existing: Mapping[str, JobSpec]) -> dict[str, JobSpec]:
    """The whole job set after the plan, for graph validation before anything is stored."""
    result = dict(existing)
    for name in plan.delete:
        result.pop(name, None)
    for job in itertools.chain(plan.create, plan.update):
        result[job.name] = job
    return result


def check_plan(plan: ApplyPlan, existing: Mapping[str, JobSpec], plugins: PluginManager | None = None) -> None:
    """Validate the job set the plan would leave: dependency graph and plugin policy.

    Raises :class:`ValidationError` listing every problem; nothing is stored.
    """
    from moroccron.dag import validate_graph

    after = resulting_jobs(plan, existing)
    validate_graph(after.values())
    if plugins is not None:
        errors = []
        for job in itertools.chain(plan.create, plan.update):
            for err in plugins.validate_job(job=job, existing=after):
                errors.append(err)
        if errors:
            raise ValidationError(errors, "plugin policy")


def apply_definitions(
    store: Store,
    defs: Definitions,
    *,
    prune: bool = False,
    dry_run: bool = False,
    plugins: PluginManager | None = None,
) -> ApplyPlan:
    """Plan, validate, and (unless ``dry_run``) store the change in one transaction.

    The stored jobs are read, the plan checked and written under the job-graph lock
    (:meth:`Store.job_transaction`): a change made through the API meanwhile is either
    in what the plan was checked against or waits for the apply to finish.
    """
    if dry_run:
        existing = {job.name: job for job in store.all_jobs()}
        plan = plan_apply(defs.jobs, existing, prune=prune)
        check_plan(plan, existing, plugins)
        return plan
    with store.job_transaction() as tx:
        existing = {job.name: job for job in store.all_jobs(tx=tx)}
        plan = plan_apply(defs.jobs, existing, prune=prune)
        check_plan(plan, existing, plugins)
        for owner in defs.owners.values():
            store.put_owner(owner, tx=tx)
        if not plan.empty:
            store.apply_jobs(plan.create + plan.update, plan.delete, tx=tx)
    return plan
