"""Implements every hook with every parameter, records each call, returns canned results."""

from __future__ import annotations

from typing import Any

from moroccron.hooks import hookimpl


class Recorder:
    def __init__(self, results: dict[str, Any] | None = None) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.results = results or {}

    def _record(self, hook: str, **kwargs: Any) -> Any:
        self.calls.append((hook, kwargs))
        return self.results.get(hook)

    def called(self, hook: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == hook]

    @hookimpl
    def moroccron_startup(self, config, store):
        return self._record("moroccron_startup", config=config, store=store)

    @hookimpl
    def moroccron_shutdown(self, config):
        return self._record("moroccron_shutdown", config=config)

    @hookimpl
    def moroccron_validate_job(self, job, existing):
        return self._record("moroccron_validate_job", job=job, existing=existing)

    @hookimpl
    def moroccron_job_scheduled(self, job, run):
        return self._record("moroccron_job_scheduled", job=job, run=run)

    @hookimpl
    def moroccron_pack_offers(self, runs, offers, jobs, strategy):
        return self._record("moroccron_pack_offers", runs=runs, offers=offers, jobs=jobs, strategy=strategy)

    @hookimpl
    def moroccron_packing_strategies(self):
        return self._record("moroccron_packing_strategies")

    @hookimpl
    def moroccron_ui_template_dirs(self):
        return self._record("moroccron_ui_template_dirs")

    @hookimpl
    def moroccron_offer_matched(self, offer, runs):
        return self._record("moroccron_offer_matched", offer=offer, runs=runs)

    @hookimpl
    def moroccron_task_launched(self, job, run):
        return self._record("moroccron_task_launched", job=job, run=run)

    @hookimpl
    def moroccron_task_succeeded(self, job, run):
        return self._record("moroccron_task_succeeded", job=job, run=run)

    @hookimpl
    def moroccron_task_failed(self, job, run, pending_subtree, final):
        return self._record("moroccron_task_failed", job=job, run=run, pending_subtree=pending_subtree, final=final)

    @hookimpl
    def moroccron_dependency_unblocked(self, job, parents, caused_by):
        return self._record("moroccron_dependency_unblocked", job=job, parents=parents, caused_by=caused_by)

    @hookimpl
    def moroccron_triggered_jobs(self, job, run, succeeded):
        return self._record("moroccron_triggered_jobs", job=job, run=run, succeeded=succeeded)

    @hookimpl
    def moroccron_notify(self, notification):
        return self._record("moroccron_notify", notification=notification)
