"""The built-in plugin: checks that need the other jobs, and the job's own triggers."""

from __future__ import annotations

from moroccron.hooks import builtin
from moroccron.hooks.manager import PluginManager

from . import factories as f


def test_missing_parents_and_trigger_targets_are_reported_by_field() -> None:
    job = f.job(
        "report",
        parents=["extract", "load"],
        triggers={"on_success": ["publish", "report"], "on_failure": ["rollback"]},
    )
    existing = {"load": f.job("load"), "rollback": f.job("rollback"), "report": f.job("report")}

    errors = builtin.moroccron_validate_job(job=job, existing=existing)

    assert errors is not None
    assert [(e.field, e.value) for e in errors] == [
        ("parents[0]", "extract"),
        ("triggers.on_success[0]", "publish"),
        ("triggers.on_success[1]", "report"),
    ]
    assert "parent job 'extract' does not exist" in str(errors[0])
    assert "cannot trigger itself" in errors[2].message and "retries" in (errors[2].allowed or "")


def test_a_job_whose_parents_and_triggers_exist_passes() -> None:
    job = f.job("report", parents=["load"], triggers={"on_failure": ["cleanup"]})
    assert (
        builtin.moroccron_validate_job(job=job, existing={"load": f.job("load"), "cleanup": f.job("cleanup")}) is None
    )


def test_parents_in_the_same_apply_batch_count(pm: PluginManager) -> None:
    # the caller passes stored jobs updated with the rest of the batch as `existing`
    batch = [f.job("extract"), f.job("load", parents=["extract"])]
    existing = {j.name: j for j in batch}
    assert all(pm.validate_job(job=j, existing=existing) == [] for j in batch)


def test_triggers_follow_the_outcome() -> None:
    job = f.job(triggers={"on_success": ["report"], "on_failure": ["rollback", "page"]})
    assert builtin.moroccron_triggered_jobs(job=job, succeeded=True) == ["report"]
    assert builtin.moroccron_triggered_jobs(job=job, succeeded=False) == ["rollback", "page"]
    assert builtin.moroccron_triggered_jobs(job=f.job(), succeeded=True) is None
