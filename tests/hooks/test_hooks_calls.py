"""One ``test_hook_<name>`` per hook: the manager calls plugins with the documented
keyword arguments and turns their answers into what the scheduler uses."""

from __future__ import annotations

from pathlib import Path

import pytest

from moroccron.config import Settings
from moroccron.dag import DependencyGraph
from moroccron.errors import FieldError
from moroccron.hooks.manager import PluginError, PluginManager
from moroccron.hooks.types import DeliveryResult, Notification, NotifyTarget
from moroccron.model import RunState, RunTrigger

from . import factories as f
from .plugins.notifier import ChannelNotifier
from .plugins.packing import OnePerOffer
from .plugins.recorder import Recorder


def test_hook_moroccron_startup(pm: PluginManager) -> None:
    rec = Recorder()
    pm.register(rec, "rec")
    config, store = Settings(), object()
    pm.startup(config=config, store=store)
    assert rec.calls == [("moroccron_startup", {"config": config, "store": store})]


def test_hook_moroccron_shutdown(pm: PluginManager) -> None:
    rec = Recorder()
    pm.register(rec, "rec")
    config = Settings()
    pm.shutdown(config=config)
    assert rec.calls == [("moroccron_shutdown", {"config": config})]


def test_hook_moroccron_validate_job(pm: PluginManager) -> None:
    policy = FieldError("labels.team", "is required by site policy", None, "a team name")
    rec = Recorder({"moroccron_validate_job": [policy]})
    pm.register(rec, "rec")
    job = f.job("report", parents=["extract"])
    existing = {"load": f.job("load")}

    errors = pm.validate_job(job=job, existing=existing)

    assert rec.calls == [("moroccron_validate_job", {"job": job, "existing": existing})]
    # the plugin's error and the built-in one, together
    assert policy in errors
    assert [e.field for e in errors if e is not policy] == ["parents[0]"]


def test_hook_moroccron_validate_job_no_errors(pm: PluginManager) -> None:
    pm.register(Recorder({"moroccron_validate_job": []}), "rec")
    assert pm.validate_job(job=f.job("load"), existing={}) == []


def test_hook_moroccron_job_scheduled(pm: PluginManager) -> None:
    rec = Recorder()
    pm.register(rec, "rec")
    job, run = f.job(), f.run(state=RunState.QUEUED, trigger=RunTrigger.SCHEDULE)
    assert pm.job_scheduled(job=job, run=run) is None
    assert rec.calls == [("moroccron_job_scheduled", {"job": job, "run": run})]


def test_hook_moroccron_pack_offers(pm: PluginManager) -> None:
    pm.register(OnePerOffer(), "one-per-offer")
    rec = Recorder()  # registered last, so asked first; answers None for every strategy
    pm.register(rec, "rec")
    tasks = [f.task("a"), f.task("b", cpus=8), f.task("c")]
    offers = [f.offer("o1"), f.offer("o2", hostname="agent2")]
    jobs = {name: f.job(name) for name in "abc"}

    plan = pm.pack_offers(runs=tasks, offers=offers, jobs=jobs, strategy="one-per-offer")

    assert rec.calls == [
        ("moroccron_pack_offers", {"runs": tasks, "offers": offers, "jobs": jobs, "strategy": "one-per-offer"})
    ]
    assert dict(plan.assignments) == {"o1": (tasks[0].task_id,), "o2": (tasks[2].task_id,)}
    assert plan.unplaced == (tasks[1].task_id,)


def test_hook_moroccron_packing_strategies(pm: PluginManager) -> None:
    pm.register(OnePerOffer(), "one-per-offer")
    rec = Recorder({"moroccron_packing_strategies": ["mine", "one-per-offer"]})
    pm.register(rec, "rec")
    names = pm.packing_strategies()
    assert rec.calls == [("moroccron_packing_strategies", {})]
    # merged in call order, each once; the built-in strategies come last
    assert names[:2] == ["mine", "one-per-offer"]
    assert {"first-fit", "best-fit-decreasing"} <= set(names[2:])
    assert len(names) == len(set(names))


def test_hook_moroccron_ui_template_dirs(pm: PluginManager, tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    pm.register(Recorder({"moroccron_ui_template_dirs": [str(second)]}), "older")
    rec = Recorder({"moroccron_ui_template_dirs": [first, str(second)]})
    pm.register(rec, "rec")
    # the last registered is called first; each folder once, as a Path
    assert pm.ui_template_dirs() == [first, second]
    assert rec.calls == [("moroccron_ui_template_dirs", {})]

    pm.register(Recorder({"moroccron_ui_template_dirs": [str(tmp_path / "missing")]}), "bad")
    with pytest.raises(PluginError, match=r"plugin 'bad', moroccron_ui_template_dirs: .*missing' is not a folder"):
        pm.ui_template_dirs()


def test_hook_moroccron_ui_template_dirs_refuses_what_is_not_a_list(pm: PluginManager) -> None:
    pm.register(Recorder({"moroccron_ui_template_dirs": "templates"}), "bad")
    with pytest.raises(PluginError, match="expected a list of folders or None"):
        pm.ui_template_dirs()


def test_hook_moroccron_offer_matched(pm: PluginManager) -> None:
    rec = Recorder()
    pm.register(rec, "rec")
    offer, runs = f.offer(), [f.run("a"), f.run("b")]
    pm.offer_matched(offer=offer, runs=runs)
    assert rec.calls == [("moroccron_offer_matched", {"offer": offer, "runs": runs})]


def test_hook_moroccron_task_launched(pm: PluginManager) -> None:
    rec = Recorder()
    pm.register(rec, "rec")
    job = f.job()
    run = f.run(state=RunState.LAUNCHED, launched_at=f.T0, agent_id="S0", hostname="agent1")
    pm.task_launched(job=job, run=run)
    assert rec.calls == [("moroccron_task_launched", {"job": job, "run": run})]


def test_hook_moroccron_task_succeeded(pm: PluginManager) -> None:
    rec = Recorder()
    pm.register(rec, "rec")
    job, run = f.job(), f.run(state=RunState.SUCCEEDED, exit_status=0)
    pm.task_succeeded(job=job, run=run)
    assert rec.calls == [("moroccron_task_succeeded", {"job": job, "run": run})]


def test_hook_moroccron_task_failed(pm: PluginManager) -> None:
    rec = Recorder()
    pm.register(rec, "rec")
    graph = DependencyGraph({"extract": [], "load": ["extract"], "report": ["load"]}, {"report": ["bi@example.com"]})
    subtree = graph.subtree("extract").children
    job, run = (
        f.job("extract"),
        f.run("extract", state=RunState.FAILED, exit_status=2, reason="REASON_COMMAND_EXECUTOR_FAILED"),
    )

    pm.task_failed(job=job, run=run, pending_subtree=subtree, final=True)

    [call] = rec.called("moroccron_task_failed")
    assert call == {"job": job, "run": run, "pending_subtree": subtree, "final": True}
    [load] = call["pending_subtree"]
    assert (load.job, load.children[0].job, load.children[0].owners) == ("load", "report", ("bi@example.com",))


def test_hook_moroccron_dependency_unblocked(pm: PluginManager) -> None:
    rec = Recorder()
    pm.register(rec, "rec")
    job, parent_run = f.job("report", parents=["extract", "load"]), f.run("load", state=RunState.SUCCEEDED)
    pm.dependency_unblocked(job=job, parents=("extract", "load"), caused_by=parent_run)
    pm.dependency_unblocked(job=job, parents=("extract", "load"), caused_by=None)
    assert rec.called("moroccron_dependency_unblocked") == [
        {"job": job, "parents": ("extract", "load"), "caused_by": parent_run},
        {"job": job, "parents": ("extract", "load"), "caused_by": None},
    ]


def test_hook_moroccron_triggered_jobs(pm: PluginManager) -> None:
    rec = Recorder({"moroccron_triggered_jobs": ["cleanup", "report"]})
    pm.register(rec, "rec")
    job = f.job("etl", triggers={"on_success": ["report", "publish"], "on_failure": ["rollback"]})
    run = f.run("etl", state=RunState.SUCCEEDED)

    # the plugin's names, then the built-in plugin's (the job's own triggers), each once
    assert pm.triggered_jobs(job=job, run=run, succeeded=True) == ["cleanup", "report", "publish"]
    assert rec.called("moroccron_triggered_jobs") == [{"job": job, "run": run, "succeeded": True}]
    assert pm.triggered_jobs(job=job, run=run, succeeded=False) == ["cleanup", "report", "rollback"]


def test_hook_moroccron_triggered_jobs_ignores_a_plugin_returning_garbage(pm: PluginManager) -> None:
    pm.register(Recorder({"moroccron_triggered_jobs": "report"}), "rec")  # a str, not a list
    job = f.job("etl", triggers={"on_success": ["publish"]})
    assert pm.triggered_jobs(job=job, run=f.run(), succeeded=True) == ["publish"]


def test_hook_moroccron_notify(pm: PluginManager) -> None:
    slack = ChannelNotifier("slack")
    email = ChannelNotifier("email", fail_for=frozenset({"gone@example.com"}))
    rec = Recorder()
    for name, plugin in (("slack", slack), ("email", email), ("rec", rec)):
        pm.register(plugin, name)
    targets = [
        NotifyTarget.parse(t)
        for t in ("slack:#etl", "email:ops@example.com", "email:gone@example.com", "pagerduty:etl-service")
    ]
    note = Notification(
        event="failure",
        job=f.job(),
        run=f.run(state=RunState.FAILED),
        targets=targets,
        subject="etl failed",
        text="etl failed with exit status 2",
        details={"exit_status": 2},
    )

    results = pm.notify(notification=note)

    assert rec.calls == [("moroccron_notify", {"notification": note})]
    assert slack.outbox == [("#etl", "etl failed")]
    assert email.outbox == [("ops@example.com", "etl failed")]
    by_target = {str(r.target): r for r in results}
    assert len(results) == 4
    assert by_target["slack:#etl"].ok and by_target["email:ops@example.com"].ok
    assert by_target["email:gone@example.com"] == DeliveryResult(targets[2], False, "HTTP 500")
    missing = by_target["pagerduty:etl-service"]
    assert not missing.ok and "no notifier plugin" in missing.detail and "'pagerduty'" in missing.detail
