"""The plugin manager: finds plugins, blocks the unwanted ones, and calls hooks safely.

The rest of moroccron calls hooks only through :class:`PluginManager`, one typed method
per hook, so that what happens when a plugin raises or returns nonsense is decided
here, once (see :mod:`moroccron.hooks.spec` for the rules plugin authors rely on).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from moroccron import channels
from moroccron.errors import FieldError, MoroccronError, ValidationError
from moroccron.hooks import NAME, spec
from moroccron.hooks.types import (
    DeliveryResult,
    Notification,
    NotifyChannel,
    Offer,
    PackingPlan,
    PendingTask,
    SubtreeNode,
)
from moroccron.model import JobSpec, Resources, Run
from moroccron.ratelog import Throttled

if TYPE_CHECKING:
    from moroccron.config import Settings
    from moroccron.store import Store

__all__ = [
    "BUILTIN_PLUGINS",
    "DISABLE_ENV",
    "PluginError",
    "PluginInfo",
    "PluginManager",
]

log = logging.getLogger("moroccron.hooks")

BUILTIN_PLUGINS: tuple[tuple[str, str], ...] = (
    ("builtin", "moroccron.hooks.builtin"),
    ("packing", "moroccron.packing"),
    ("http-trigger", "moroccron.triggers.http"),
    ("webhook", "moroccron.notifiers.webhook"),
)
"""(plugin name, module) of the plugins that ship with moroccron, registered in this order.

The name is what ``MOROCCRON_DISABLE_PLUGINS`` and ``list_plugins`` use. Modules are
imported only when not blocked.
"""

DISABLE_ENV = "MOROCCRON_DISABLE_PLUGINS"
"""Environment variable: comma-separated plugin names (entry point or built-in) to block."""


class PluginError(MoroccronError):
    """A plugin failed where its failure cannot be ignored: it raised, or returned a
    value the scheduler cannot use. ``plugin`` and ``hook`` say which."""

    def __init__(self, plugin: str, hook: str, message: str) -> None:
        self.plugin = plugin
        self.hook = hook
        super().__init__(f"plugin {plugin!r}, {hook}: {message}")


@dataclass(frozen=True, slots=True)
class PluginInfo:
    """A registered plugin, for ``moroccron plugins``, the API and the logs.

    :ivar name: the name it is registered (and blocked) under.
    :ivar hooks: the hooks it implements, sorted.
    :ivar distribution: the installed distribution that provides it, for entry-point plugins.
    :ivar version: that distribution's version.
    :ivar builtin: True for the plugins that ship with moroccron.
    """

    name: str
    hooks: tuple[str, ...]
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False

    @property
    def source(self) -> str:
        """``builtin``, ``<distribution> <version>``, or ``registered`` (added in code)."""
        if self.builtin:
            return "builtin"
        if self.distribution:
            return f"{self.distribution} {self.version}" if self.version else self.distribution
        return "registered"


def _blocked_names(disabled: Iterable[str] | None) -> list[str]:
    names = [n.strip() for n in os.environ.get(DISABLE_ENV, "").split(",")]
    names.extend(n.strip() for n in (disabled or ()))
    return list(dict.fromkeys(n for n in names if n))


def _entry_point_names() -> list[str]:
    return [ep.name for dist in importlib.metadata.distributions() for ep in dist.entry_points if ep.group == NAME]


def _subject(kwargs: Mapping[str, Any]) -> str:
    """What a hook call was about, for log lines: the job, or the offer."""
    job = kwargs.get("job")
    if job is None and isinstance(kwargs.get("notification"), Notification):
        job = kwargs["notification"].job
    if isinstance(job, JobSpec):
        return f" for job {job.name!r}"
    if isinstance(kwargs.get("offer"), Offer):
        return f" for offer {kwargs['offer'].id!r}"
    return ""


class PluginManager:
    """moroccron's hooks, with plugins from entry points and the built-ins registered.

    Plugins are registered in this order: installed distributions with an entry
    point in the group ``moroccron``, then :data:`BUILTIN_PLUGINS`. Names given in
    ``disabled`` or in ``$MOROCCRON_DISABLE_PLUGINS`` are blocked first and never
    loaded. Unknown ``moroccron_*`` hook implementations (typos) and implementations
    whose parameters the hook does not have raise ``pluggy.PluginValidationError``.

    Hooks are called one plugin at a time, so that a failure is attributed to its
    plugin: event hooks log it and go on with the other plugins; ``startup``,
    ``validate_job``, ``pack_offers`` and ``packing_strategies`` raise
    :class:`PluginError`.

    :param load_entrypoints: False to skip installed plugins (tests, embedding).
    :param disabled: plugin names to block, in addition to the environment's.
    """

    def __init__(self, *, load_entrypoints: bool = True, disabled: Iterable[str] | None = None) -> None:
        self._pm = pluggy.PluginManager(NAME)
        self._pm.add_hookspecs(spec)
        self._builtin: set[str] = set()
        self._running: dict[int, str] = {}  # thread id -> the plugin that thread is calling now
        self._throttle = Throttled(log)
        self.disabled: dict[str, str] = {}
        """Plugins unregistered while running (see :meth:`disable`), with the reason."""
        blocked = _blocked_names(disabled)
        for name in blocked:
            self._pm.set_blocked(name)
        if load_entrypoints:
            self._load_entrypoints()
        for name, module in BUILTIN_PLUGINS:
            if self._pm.is_blocked(name):
                continue
            if self._pm.has_plugin(name):
                raise PluginError(
                    name,
                    "load",
                    "an installed plugin's entry point has the name of a "
                    f"built-in plugin ({module}); rename that entry point",
                )
            self._pm.register(importlib.import_module(module), name=name)
            self._builtin.add(name)
        if blocked:
            self._warn_unknown(blocked, load_entrypoints)
        self._pm.check_pending()
        self.register_channels()

    def _load_entrypoints(self) -> None:
        try:
            self._pm.load_setuptools_entrypoints(NAME)
        except pluggy.PluginValidationError:
            raise
        except Exception as exc:
            # pluggy loads in distribution order and registers as it goes: the first
            # entry point neither registered nor blocked is the one that failed.
            culprit = next(
                (n for n in _entry_point_names() if not self._pm.has_plugin(n) and not self._pm.is_blocked(n)), "?"
            )
            raise PluginError(
                culprit, "load", f"cannot load: {exc!r}; set {DISABLE_ENV}={culprit} to start without it"
            ) from exc

    def _warn_unknown(self, blocked: Sequence[str], entrypoints_scanned: bool) -> None:
        """A blocked name that matches no plugin is most likely a typo: say so."""
        if not entrypoints_scanned:
            return  # an absent entry point cannot be told from one not looked for
        known = {name for name, _ in BUILTIN_PLUGINS} | set(_entry_point_names())
        for name in blocked:
            if name not in known:
                log.warning(
                    "plugin %r is blocked, but no plugin has that name; known: %s", name, ", ".join(sorted(known))
                )

    # -- registration --------------------------------------------------------

    @property
    def pluggy_manager(self) -> pluggy.PluginManager:
        """The underlying pluggy manager, for tracing and advanced embedding."""
        return self._pm

    @property
    def blocked(self) -> list[str]:
        """Names of blocked plugins."""
        return sorted(n for n, p in self._pm.list_name_plugin() if p is None)

    def register(self, plugin: object, name: str | None = None) -> str | None:
        """Register a plugin (a module, class or instance with hookimpls).

        :return: the name it is registered under, or None when that name is blocked.
        :raises pluggy.PluginValidationError: an implementation has a parameter its hook
            does not have, or a ``moroccron_*`` implementation matches no hook.
        """
        registered = self._pm.register(plugin, name)
        if registered is None:
            return None
        try:
            self._pm.check_pending()
            self.register_channels()
        except (pluggy.PluginValidationError, PluginError):
            self._pm.unregister(name=registered)
            raise
        return registered

    def list_plugins(self) -> list[PluginInfo]:
        """Every registered plugin with its source and hooks, in registration order."""
        dists = {id(plugin): dist for plugin, dist in self._pm.list_plugin_distinfo()}
        out = []
        for name, plugin in self._pm.list_name_plugin():
            if plugin is None:
                continue
            hooks = tuple(sorted(c.name for c in self._pm.get_hookcallers(plugin) or ()))
            dist = dists.get(id(plugin))
            out.append(
                PluginInfo(
                    name=name,
                    hooks=hooks,
                    distribution=dist.project_name if dist is not None else None,
                    version=dist.version if dist is not None else None,
                    builtin=name in self._builtin,
                )
            )
        return out

    # -- calling -------------------------------------------------------------

    def _callers(self, hook: str) -> list[tuple[str, pluggy.HookCaller]]:
        """One caller per plugin implementing ``hook``, in pluggy's call order.

        Each caller runs that plugin's implementations (and any wrappers) only, so an
        exception is known to come from that plugin.
        """
        impls: dict[str, object] = {}
        for impl in reversed(getattr(self._pm.hook, hook).get_hookimpls()):
            if not (impl.wrapper or impl.hookwrapper):
                impls.setdefault(impl.plugin_name, impl.plugin)
        return [(name, self._pm.subset_hook_caller(hook, [p for n, p in impls.items() if n != name])) for name in impls]

    def _fire(self, hook: str, **kwargs: Any) -> tuple[list[tuple[str, Any]], list[str]]:
        """Call every plugin; log and skip those that raise.

        :return: (plugin name, result) of each plugin that returned something other than
            None, and the names of the plugins that raised.
        """
        results: list[tuple[str, Any]] = []
        failed: list[str] = []
        me = threading.get_ident()
        for name, caller in self._callers(hook):
            self._running[me] = name
            try:
                out = caller(**kwargs)
            except Exception as exc:
                # Logged in full once per plugin, hook and kind of error; then counted.
                self._throttle.log(
                    (name, hook, type(exc).__name__),
                    logging.ERROR,
                    "plugin %r raised in %s%s; ignored",
                    name,
                    hook,
                    _subject(kwargs),
                    exc_info=True,
                )
                failed.append(name)
                continue
            finally:
                self._running.pop(me, None)
            results.extend((name, r) for r in out)
        return results, failed

    def running_plugin(self, thread_id: int) -> str | None:
        """The plugin that thread ``thread_id`` is calling now, if it is in an event hook."""
        return self._running.get(thread_id)

    def disable(self, name: str, reason: str) -> None:
        """Unregister plugin ``name`` for the rest of this process (it misbehaved: ``reason``)."""
        if self._pm.get_plugin(name) is None:
            return
        self._pm.unregister(name=name)
        self.disabled[name] = reason
        log.critical("plugin %r disabled until moroccron restarts: %s", name, reason)

    def _strict(self, hook: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every plugin; the first exception becomes a :class:`PluginError`."""
        results: list[tuple[str, Any]] = []
        for name, caller in self._callers(hook):
            try:
                out = caller(**kwargs)
            except Exception as exc:
                raise PluginError(name, hook, f"raised {exc!r}{_subject(kwargs)}") from exc
            results.extend((name, r) for r in out)
        return results

    # -- channels ------------------------------------------------------------

    def notify_channels(self) -> dict[str, NotifyChannel]:
        """Every plugin's notification channels by name.

        :raises PluginError: a plugin raised, returned something other than
            ``NotifyChannel`` values, or registered a name another plugin registered.
        """
        found: dict[str, tuple[str, NotifyChannel]] = {}
        hook = "moroccron_notify_channels"
        for name, result in reversed(self._strict(hook)):  # in registration order
            items = result if isinstance(result, (list, tuple)) else [result]
            for item in items:
                if not isinstance(item, NotifyChannel):
                    raise PluginError(name, hook, f"returned {item!r}; expected a list of NotifyChannel or None")
                if item.name in found and found[item.name][0] != name:
                    raise PluginError(
                        name, hook, f"channel {item.name!r} is already registered by plugin {found[item.name][0]!r}"
                    )
                found[item.name] = (name, item)
        return {channel: item for channel, (_, item) in found.items()}

    def register_channels(self) -> None:
        """Add every plugin's channels to the process's registry (:mod:`moroccron.channels`),
        which jobs, owners and settings are checked against."""
        channels.register(self.notify_channels().values())

    # -- lifecycle -----------------------------------------------------------

    def startup(self, *, config: Settings, store: Store) -> None:
        """Call ``moroccron_startup``; a plugin that raises stops start-up (:class:`PluginError`)."""
        self._strict("moroccron_startup", config=config, store=store)

    def shutdown(self, *, config: Settings) -> None:
        """Call ``moroccron_shutdown`` on every plugin, whatever the others do."""
        self._fire("moroccron_shutdown", config=config)

    # -- jobs ----------------------------------------------------------------

    def validate_job(self, *, job: JobSpec, existing: Mapping[str, JobSpec]) -> list[FieldError]:
        """The policy errors of every plugin for ``job``, together.

        :raises PluginError: a plugin raised, or returned something other than FieldErrors.
        """
        errors: list[FieldError] = []
        for name, result in self._strict("moroccron_validate_job", job=job, existing=existing):
            items = result if isinstance(result, (list, tuple)) else [result]
            for item in items:
                if not isinstance(item, FieldError):
                    raise PluginError(
                        name, "moroccron_validate_job", f"returned {item!r}; expected a list of FieldError or None"
                    )
                errors.append(item)
        return errors

    def job_scheduled(self, *, job: JobSpec, run: Run) -> None:
        self._fire("moroccron_job_scheduled", job=job, run=run)

    # -- offers --------------------------------------------------------------

    def packing_strategies(self) -> list[str]:
        """Names of every packing strategy the registered plugins provide."""
        names: list[str] = []
        for name, result in self._strict("moroccron_packing_strategies"):
            if not isinstance(result, (list, tuple)) or not all(isinstance(s, str) for s in result):
                raise PluginError(
                    name, "moroccron_packing_strategies", f"returned {result!r}; expected a list of names or None"
                )
            names.extend(result)
        return list(dict.fromkeys(names))

    # -- web UI --------------------------------------------------------------

    def ui_template_dirs(self) -> list[Path]:
        """The template folders the registered plugins add to the UI, in call order, each once."""
        dirs: list[Path] = []
        for name, result in self._strict("moroccron_ui_template_dirs"):
            if result is None:
                continue
            if not isinstance(result, (list, tuple)) or not all(isinstance(d, (str, Path)) for d in result):
                raise PluginError(
                    name, "moroccron_ui_template_dirs", f"returned {result!r}; expected a list of folders or None"
                )
            for folder in map(Path, result):
                if not folder.is_dir():
                    raise PluginError(name, "moroccron_ui_template_dirs", f"{str(folder)!r} is not a folder")
                dirs.append(folder)
        return list(dict.fromkeys(dirs))

    def check_packing_strategy(self, strategy: str) -> None:
        """Raise :class:`ValidationError` on the ``packing`` setting unless a plugin provides ``strategy``."""
        known = self.packing_strategies()
        if strategy not in known:
            raise ValidationError.single(
                "packing",
                "no installed plugin provides this packing strategy",
                strategy,
                " | ".join(known) or "none: is a packing plugin blocked?",
            )

    def pack_offers(
        self,
        *,
        runs: Sequence[PendingTask],
        offers: Sequence[Offer],
        jobs: Mapping[str, JobSpec],
        strategy: str,
    ) -> PackingPlan:
        """The plan of the first plugin that answers for ``strategy``, checked.

        The returned plan names every task that is not placed in ``unplaced``, in
        the order of ``runs``, and leaves out offers that received no task.

        :raises ValidationError: no plugin provides ``strategy`` (names the known ones).
        :raises PluginError: the answering plugin raised, or its plan places a task
            twice, names an unknown offer or task, or overfills an offer.
        """
        hook = "moroccron_pack_offers"
        for name, caller in self._callers(hook):
            try:
                plan = caller(runs=runs, offers=offers, jobs=jobs, strategy=strategy)
            except Exception as exc:
                raise PluginError(name, hook, f"strategy {strategy!r} raised {exc!r}") from exc
            if plan is not None:
                return self._checked_plan(name, strategy, plan, runs, offers)
        self.check_packing_strategy(strategy)
        # A plugin lists the name but did not answer for it.
        raise ValidationError.single(
            "packing",
            "the plugin naming this strategy returned no plan",
            strategy,
            " | ".join(self.packing_strategies()),
        )

    def _checked_plan(
        self, plugin: str, strategy: str, plan: object, runs: Sequence[PendingTask], offers: Sequence[Offer]
    ) -> PackingPlan:
        def bad(message: str) -> PluginError:
            return PluginError(plugin, "moroccron_pack_offers", f"strategy {strategy!r}: {message}")

        if not isinstance(plan, PackingPlan):
            raise bad(f"returned {plan!r}; expected a PackingPlan or None")
        tasks = {t.task_id: t for t in runs}
        by_id = {o.id: o for o in offers}
        seen: set[str] = set()
        assignments: dict[str, tuple[str, ...]] = {}
        for offer_id, task_ids in plan.assignments.items():
            if offer_id not in by_id:
                raise bad(f"places tasks on unknown offer {offer_id!r}")
            need: Resources | None = None
            for task_id in task_ids:
                if task_id not in tasks:
                    raise bad(f"places unknown task {task_id!r}")
                if task_id in seen:
                    raise bad(f"places task {task_id!r} twice")
                seen.add(task_id)
                need = tasks[task_id].resources if need is None else need + tasks[task_id].resources
            if need is not None and not need.fits_in(by_id[offer_id].resources):
                raise bad(f"overfills offer {offer_id!r}: tasks need {need}, offer has {by_id[offer_id].resources}")
            if task_ids:
                assignments[offer_id] = task_ids
        return PackingPlan(assignments=assignments, unplaced=tuple(t for t in tasks if t not in seen))

    def offer_matched(self, *, offer: Offer, runs: Sequence[Run]) -> None:
        self._fire("moroccron_offer_matched", offer=offer, runs=runs)

    # -- tasks ---------------------------------------------------------------

    def task_launched(self, *, job: JobSpec, run: Run) -> None:
        self._fire("moroccron_task_launched", job=job, run=run)

    def task_succeeded(self, *, job: JobSpec, run: Run) -> None:
        self._fire("moroccron_task_succeeded", job=job, run=run)

    def task_failed(self, *, job: JobSpec, run: Run, pending_subtree: Sequence[SubtreeNode], final: bool) -> None:
        self._fire("moroccron_task_failed", job=job, run=run, pending_subtree=pending_subtree, final=final)

    def dependency_unblocked(self, *, job: JobSpec, parents: Sequence[str], caused_by: Run | None) -> None:
        self._fire("moroccron_dependency_unblocked", job=job, parents=parents, caused_by=caused_by)

    # -- triggers ------------------------------------------------------------

    def triggered_jobs(self, *, job: JobSpec, run: Run, succeeded: bool) -> list[str]:
        """Every plugin's triggered job names, merged, each once, in the order given.

        A plugin that raises or returns something other than names is logged and skipped.
        """
        results, _ = self._fire("moroccron_triggered_jobs", job=job, run=run, succeeded=succeeded)
        names: dict[str, None] = {}
        for plugin, result in results:
            if not isinstance(result, (list, tuple)) or not all(isinstance(n, str) for n in result):
                log.error(
                    "plugin %r returned %r from moroccron_triggered_jobs for job %r; "
                    "expected a list of job names; ignored",
                    plugin,
                    result,
                    job.name,
                )
                continue
            names.update(dict.fromkeys(result))
        return list(names)

    # -- notifications -------------------------------------------------------

    def notify(self, *, notification: Notification) -> list[DeliveryResult]:
        """Deliver through every notifier plugin.

        :return: the plugins' results, then an ``ok=False`` result for each target no
            plugin reported on (no notifier for its channel, or its notifier raised).
        """
        results, failed = self._fire("moroccron_notify", notification=notification)
        out: list[DeliveryResult] = []
        for plugin, result in results:
            items = result if isinstance(result, (list, tuple)) else [result]
            for item in items:
                if isinstance(item, DeliveryResult):
                    out.append(item)
                else:
                    log.error(
                        "plugin %r returned %r from moroccron_notify; expected DeliveryResults; ignored", plugin, item
                    )
        reported = {r.target for r in out}
        for target in notification.targets:
            if target not in reported:
                detail = f"no notifier plugin delivered to channel {target.channel!r}"
                if failed:
                    detail += f"; plugin {', '.join(map(repr, failed))} raised (see log)"
                out.append(DeliveryResult(target, False, detail))
        return out
