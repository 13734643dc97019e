"""How the plugin manager finds, blocks, validates and isolates plugins."""

from __future__ import annotations

import importlib.metadata
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pluggy
import pytest

from moroccron.errors import ValidationError
from moroccron.hooks import manager as manager_module
from moroccron.hooks.manager import DISABLE_ENV, PluginError, PluginManager
from moroccron.hooks.types import Notification, NotifyTarget, PackingPlan
from moroccron.model import RunState

from . import factories as f
from .plugins import broken, entrypoint, mismatched, typo
from .plugins.broken import Broken, PluginBug
from .plugins.notifier import ChannelNotifier
from .plugins.packing import Fixed, OnePerOffer
from .plugins.recorder import Recorder

BUILTIN_NAMES = [name for name, _ in manager_module.BUILTIN_PLUGINS]

# --------------------------------------------------------------------------- entry points


class FakeEntryPoint:
    def __init__(self, name: str, target: ModuleType | Exception, group: str = "moroccron") -> None:
        self.name = name
        self.group = group
        self.value = getattr(target, "__name__", "broken.module")
        self.target = target
        self.loaded = 0

    def load(self) -> ModuleType:
        self.loaded += 1
        if isinstance(self.target, Exception):
            raise self.target
        return self.target


class FakeDistribution:
    def __init__(self, name: str, version: str, *entry_points: FakeEntryPoint) -> None:
        self.metadata = {"name": name}
        self.version = version
        self.entry_points = list(entry_points)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> list[FakeDistribution]:
    """The installed distributions, as importlib.metadata reports them; append to install."""
    dists: list[FakeDistribution] = []
    monkeypatch.setattr(importlib.metadata, "distributions", lambda: list(dists))
    return dists


def test_loads_plugins_from_entry_points(installed: list[FakeDistribution]) -> None:
    ep = FakeEntryPoint("audit", entrypoint)
    installed.append(
        FakeDistribution("moroccron-audit", "1.2.0", ep, FakeEntryPoint("cli", broken, group="console_scripts"))
    )
    pm = PluginManager()
    assert ep.loaded == 1
    assert "from-entry-point" in pm.packing_strategies()
    assert pm.triggered_jobs(job=f.job(), run=f.run(), succeeded=False) == ["audit"]


def test_loads_a_real_installed_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    info = tmp_path / "moroccron_audit-2.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: moroccron-audit\nVersion: 2.0\n")
    (info / "entry_points.txt").write_text(f"[moroccron]\naudit = {entrypoint.__name__}\n")
    monkeypatch.syspath_prepend(str(tmp_path))

    plugins = {p.name: p for p in PluginManager().list_plugins()}

    assert plugins["audit"].source == "moroccron-audit 2.0"
    assert plugins["audit"].hooks == ("moroccron_packing_strategies", "moroccron_triggered_jobs")


def test_load_entrypoints_false_skips_installed_plugins(installed: list[FakeDistribution]) -> None:
    ep = FakeEntryPoint("audit", entrypoint)
    installed.append(FakeDistribution("moroccron-audit", "1.2.0", ep))
    pm = PluginManager(load_entrypoints=False)
    assert ep.loaded == 0
    assert [p.name for p in pm.list_plugins()] == BUILTIN_NAMES


def test_a_plugin_that_cannot_be_imported_is_named(installed: list[FakeDistribution]) -> None:
    installed.append(FakeDistribution("moroccron-fine", "1.0", FakeEntryPoint("fine", entrypoint)))
    installed.append(
        FakeDistribution("moroccron-slack", "0.1", FakeEntryPoint("slack", ImportError("no module named slack_sdk")))
    )
    with pytest.raises(PluginError, match=r"'slack'.*slack_sdk.*MOROCCRON_DISABLE_PLUGINS=slack") as exc:
        PluginManager()
    assert exc.value.plugin == "slack"


def test_an_installed_plugin_may_not_take_a_builtin_name(installed: list[FakeDistribution]) -> None:
    installed.append(FakeDistribution("moroccron-fancy", "1.0", FakeEntryPoint("packing", entrypoint)))
    with pytest.raises(PluginError, match="plugin 'packing', load: .*rename that entry point"):
        PluginManager()


# --------------------------------------------------------------------------- blocking


def test_environment_blocks_entry_point_and_builtin_plugins(
    installed: list[FakeDistribution], monkeypatch: pytest.MonkeyPatch
) -> None:
    ep = FakeEntryPoint("audit", entrypoint)
    installed.append(FakeDistribution("moroccron-audit", "1.2.0", ep))
    monkeypatch.setenv(DISABLE_ENV, " audit, builtin ,")

    pm = PluginManager()

    assert ep.loaded == 0, "a blocked plugin is never imported"
    assert [p.name for p in pm.list_plugins()] == [n for n in BUILTIN_NAMES if n != "builtin"]
    assert pm.blocked == ["audit", "builtin"]
    # without the built-in plugin the job's own triggers are not started
    job = f.job(triggers={"on_success": ["report"]})
    assert pm.triggered_jobs(job=job, run=f.run(), succeeded=True) == []


def test_disabled_argument_blocks_plugins(installed: list[FakeDistribution]) -> None:
    ep = FakeEntryPoint("audit", entrypoint)
    installed.append(FakeDistribution("moroccron-audit", "1.2.0", ep))
    pm = PluginManager(disabled=["audit"])
    assert ep.loaded == 0
    assert [p.name for p in pm.list_plugins()] == BUILTIN_NAMES
    assert pm.register(entrypoint, "audit") is None, "a blocked name stays blocked"


def test_blocking_an_unknown_plugin_warns(installed: list[FakeDistribution], caplog: pytest.LogCaptureFixture) -> None:
    installed.append(FakeDistribution("moroccron-audit", "1.2.0", FakeEntryPoint("audit", entrypoint)))
    with caplog.at_level(logging.WARNING, logger="moroccron.hooks"):
        PluginManager(disabled=["audti"])
    assert "'audti'" in caplog.text and "audit" in caplog.text and "builtin" in caplog.text


# --------------------------------------------------------------------------- validation


def test_an_implementation_with_an_unknown_parameter_is_refused(pm: PluginManager) -> None:
    with pytest.raises(pluggy.PluginValidationError, match="error"):
        pm.register(mismatched, "mismatched")
    assert not pm.pluggy_manager.has_plugin("mismatched")


def test_an_implementation_of_no_hook_is_refused(pm: PluginManager) -> None:
    with pytest.raises(pluggy.PluginValidationError, match="moroccron_task_faild"):
        pm.register(typo, "typo")
    assert not pm.pluggy_manager.has_plugin("typo")


def test_an_installed_plugin_with_a_bad_signature_stops_startup(installed: list[FakeDistribution]) -> None:
    installed.append(FakeDistribution("moroccron-bad", "1.0", FakeEntryPoint("bad", mismatched)))
    with pytest.raises(pluggy.PluginValidationError):
        PluginManager()


# --------------------------------------------------------------------------- isolation


@pytest.fixture(params=["broken-first", "broken-last"])
def with_broken(request: pytest.FixtureRequest, pm: PluginManager) -> tuple[PluginManager, Recorder]:
    """A healthy plugin and a broken one, the broken one called first or last."""
    rec = Recorder({"moroccron_triggered_jobs": ["report"]})
    order = [("broken", Broken()), ("rec", rec)]
    for name, plugin in order if request.param == "broken-last" else reversed(order):
        pm.register(plugin, name)
    return pm, rec


EVENT_CALLS: dict[str, Any] = {
    "moroccron_job_scheduled": lambda pm: pm.job_scheduled(job=f.job(), run=f.run()),
    "moroccron_offer_matched": lambda pm: pm.offer_matched(offer=f.offer(), runs=[f.run()]),
    "moroccron_task_launched": lambda pm: pm.task_launched(job=f.job(), run=f.run()),
    "moroccron_task_succeeded": lambda pm: pm.task_succeeded(job=f.job(), run=f.run()),
    "moroccron_task_failed": lambda pm: pm.task_failed(job=f.job(), run=f.run(), pending_subtree=(), final=False),
    "moroccron_dependency_unblocked": lambda pm: pm.dependency_unblocked(job=f.job(), parents=("a",), caused_by=None),
    "moroccron_shutdown": lambda pm: pm.shutdown(config=None),
}


@pytest.mark.parametrize("hook", sorted(EVENT_CALLS))
def test_an_event_hook_that_raises_is_logged_and_the_others_still_run(
    with_broken: tuple[PluginManager, Recorder], hook: str, caplog: pytest.LogCaptureFixture
) -> None:
    pm, rec = with_broken
    with caplog.at_level(logging.ERROR, logger="moroccron.hooks"):
        EVENT_CALLS[hook](pm)
    assert len(rec.called(hook)) == 1
    [record] = [r for r in caplog.records if r.name == "moroccron.hooks"]
    assert f"'broken' raised in {hook}" in record.getMessage()
    assert record.exc_info is not None and isinstance(record.exc_info[1], PluginBug)


def test_triggers_of_a_raising_plugin_are_skipped(with_broken: tuple[PluginManager, Recorder]) -> None:
    pm, _ = with_broken
    job = f.job(triggers={"on_success": ["publish"]})
    assert pm.triggered_jobs(job=job, run=f.run(), succeeded=True) == ["report", "publish"]


def test_a_raising_notifier_leaves_its_targets_reported_undelivered(
    pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    pm.register(Broken(), "slack")
    pm.register(ChannelNotifier("email"), "email")
    note = Notification(
        event="failure",
        job=f.job(),
        run=f.run(state=RunState.FAILED),
        targets=[NotifyTarget("slack", "#etl"), NotifyTarget("email", "ops@example.com")],
        subject="etl failed",
        text="",
    )
    with caplog.at_level(logging.ERROR, logger="moroccron.hooks"):
        results = pm.notify(notification=note)
    assert [(str(r.target), r.ok) for r in results] == [("email:ops@example.com", True), ("slack:#etl", False)]
    assert "'slack' raised" in results[1].detail
    assert "for job 'etl'" in caplog.text


def test_startup_that_raises_stops_startup_naming_the_plugin(pm: PluginManager) -> None:
    pm.register(Broken(), "broken")
    with pytest.raises(PluginError, match="plugin 'broken', moroccron_startup") as exc:
        pm.startup(config=None, store=None)  # type: ignore[arg-type]
    assert isinstance(exc.value.__cause__, PluginBug)


def test_validate_job_that_raises_refuses_the_change_naming_the_plugin(pm: PluginManager) -> None:
    pm.register(Broken(), "policy")
    with pytest.raises(PluginError, match=r"plugin 'policy', moroccron_validate_job.*for job 'etl'") as exc:
        pm.validate_job(job=f.job("etl"), existing={})
    assert (exc.value.plugin, exc.value.hook) == ("policy", "moroccron_validate_job")


def test_validate_job_must_return_field_errors(pm: PluginManager) -> None:
    pm.register(Recorder({"moroccron_validate_job": ["labels.team is required"]}), "policy")
    with pytest.raises(PluginError, match="expected a list of FieldError"):
        pm.validate_job(job=f.job(), existing={})


# --------------------------------------------------------------------------- packing


def test_pack_offers_with_an_unknown_strategy_lists_the_known_ones(pm: PluginManager) -> None:
    pm.register(OnePerOffer(), "one-per-offer")
    pm.register(Fixed(PackingPlan()), "fixed")
    with pytest.raises(ValidationError) as exc:
        pm.pack_offers(runs=[f.task()], offers=[f.offer()], jobs={"etl": f.job()}, strategy="worst-fit")
    [error] = exc.value.errors
    assert (error.field, error.value) == ("packing", "worst-fit")
    assert error.allowed is not None
    assert set(error.allowed.split(" | ")) == {"fixed", "one-per-offer", "first-fit", "best-fit-decreasing"}
    with pytest.raises(ValidationError, match="worst-fit"):
        pm.check_packing_strategy("worst-fit")
    pm.check_packing_strategy("one-per-offer")


def test_pack_offers_that_raises_names_plugin_and_strategy(pm: PluginManager) -> None:
    pm.register(Broken(), "packer")
    with pytest.raises(PluginError, match="plugin 'packer'.*strategy 'first-fit'"):
        pm.pack_offers(runs=[f.task()], offers=[f.offer()], jobs={}, strategy="first-fit")


def test_pack_offers_completes_unplaced_and_drops_empty_offers(pm: PluginManager) -> None:
    tasks = [f.task("a"), f.task("b"), f.task("c")]
    pm.register(Fixed(PackingPlan(assignments={"o1": [tasks[1].task_id], "o2": []})), "fixed")
    plan = pm.pack_offers(runs=tasks, offers=[f.offer("o1"), f.offer("o2")], jobs={}, strategy="fixed")
    assert dict(plan.assignments) == {"o1": (tasks[1].task_id,)}
    assert plan.unplaced == (tasks[0].task_id, tasks[2].task_id)
    assert plan.placed() == {tasks[1].task_id: "o1"}


@pytest.mark.parametrize(
    ("assignments", "message"),
    [
        ({"o9": ["a.1772366400.0"]}, "unknown offer 'o9'"),
        ({"o1": ["zzz.1.0"]}, "unknown task 'zzz.1.0'"),
        ({"o1": ["a.1772366400.0"], "o2": ["a.1772366400.0"]}, "places task 'a.1772366400.0' twice"),
        ({"o1": ["a.1772366400.0", "b.1772366400.0", "c.1772366400.0"]}, "overfills offer 'o1'"),
    ],
)
def test_pack_offers_refuses_an_impossible_plan(
    pm: PluginManager, assignments: dict[str, list[str]], message: str
) -> None:
    tasks = [f.task(name, cpus=2) for name in "abc"]
    assert tasks[0].task_id == "a.1772366400.0"
    pm.register(Fixed(PackingPlan(assignments=assignments)), "fixed")
    with pytest.raises(PluginError, match=rf"plugin 'fixed'.*strategy 'fixed': .*{message}"):
        pm.pack_offers(runs=tasks, offers=[f.offer("o1"), f.offer("o2")], jobs={}, strategy="fixed")


def test_pack_offers_refuses_something_that_is_not_a_plan(pm: PluginManager) -> None:
    pm.register(Fixed({"o1": ["a"]}), "fixed")
    with pytest.raises(PluginError, match="expected a PackingPlan"):
        pm.pack_offers(runs=[], offers=[], jobs={}, strategy="fixed")


def test_a_tryfirst_plugin_can_take_over_a_strategy_name(pm: PluginManager) -> None:
    from moroccron.hooks import hookimpl

    class Override:
        @hookimpl(tryfirst=True)
        def moroccron_pack_offers(self, strategy):
            return PackingPlan() if strategy == "one-per-offer" else None

    pm.register(Override(), "override")
    pm.register(OnePerOffer(), "one-per-offer")  # registered later, normally asked first
    plan = pm.pack_offers(runs=[f.task()], offers=[f.offer()], jobs={}, strategy="one-per-offer")
    assert plan.assignments == {}


@pytest.mark.parametrize("strategy", ["first-fit", "best-fit-decreasing"])
def test_the_builtin_strategies_answer_for_their_names(pm: PluginManager, strategy: str) -> None:
    pm.check_packing_strategy(strategy)
    tasks = [f.task("a"), f.task("b")]
    plan = pm.pack_offers(
        runs=tasks, offers=[f.offer("o1")], jobs={"a": f.job("a"), "b": f.job("b")}, strategy=strategy
    )
    assert sorted(plan.assignments["o1"]) == sorted(t.task_id for t in tasks)
    assert plan.unplaced == ()


def test_blocking_the_builtin_strategies_names_the_missing_one() -> None:
    pm = PluginManager(load_entrypoints=False, disabled=["packing"])
    with pytest.raises(ValidationError, match="packing: no installed plugin provides.*'first-fit'"):
        pm.check_packing_strategy("first-fit")


# --------------------------------------------------------------------------- listing


def test_list_plugins_shows_names_sources_and_hooks(installed: list[FakeDistribution]) -> None:
    installed.append(FakeDistribution("moroccron-audit", "1.2.0", FakeEntryPoint("audit", entrypoint)))
    pm = PluginManager()
    pm.register(ChannelNotifier("slack"), "slack-test")

    plugins = pm.list_plugins()

    assert [(p.name, p.source) for p in plugins] == [
        ("audit", "moroccron-audit 1.2.0"),
        *[(name, "builtin") for name in BUILTIN_NAMES],
        ("slack-test", "registered"),
    ]
    audit, slack = plugins[0], plugins[-1]
    by_name = {p.name: p for p in plugins}
    assert (audit.distribution, audit.version, audit.builtin) == ("moroccron-audit", "1.2.0", False)
    assert by_name["builtin"].hooks == (
        "moroccron_notify_channels",
        "moroccron_triggered_jobs",
        "moroccron_validate_job",
    )
    assert by_name["packing"].hooks == ("moroccron_pack_offers", "moroccron_packing_strategies")
    assert slack.hooks == ("moroccron_notify",)


def test_builtin_plugin_list_is_the_registration_list(pm: PluginManager) -> None:
    assert [p.name for p in pm.list_plugins() if p.builtin] == BUILTIN_NAMES
