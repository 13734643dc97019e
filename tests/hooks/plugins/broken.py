"""Raises from every hook, as a buggy plugin would."""

from __future__ import annotations

from moroccron.hooks import hookimpl


class PluginBug(RuntimeError):
    pass


class Broken:
    @hookimpl
    def moroccron_startup(self):
        raise PluginBug("startup")

    @hookimpl
    def moroccron_shutdown(self):
        raise PluginBug("shutdown")

    @hookimpl
    def moroccron_validate_job(self, job):
        raise PluginBug(f"validate {job.name}")

    @hookimpl
    def moroccron_job_scheduled(self):
        raise PluginBug("job_scheduled")

    @hookimpl
    def moroccron_pack_offers(self, strategy):
        raise PluginBug(f"pack {strategy}")

    @hookimpl
    def moroccron_packing_strategies(self):
        raise PluginBug("packing_strategies")

    @hookimpl
    def moroccron_offer_matched(self):
        raise PluginBug("offer_matched")

    @hookimpl
    def moroccron_task_launched(self):
        raise PluginBug("task_launched")

    @hookimpl
    def moroccron_task_succeeded(self):
        raise PluginBug("task_succeeded")

    @hookimpl
    def moroccron_task_failed(self):
        raise PluginBug("task_failed")

    @hookimpl
    def moroccron_dependency_unblocked(self):
        raise PluginBug("dependency_unblocked")

    @hookimpl
    def moroccron_triggered_jobs(self):
        raise PluginBug("triggered_jobs")

    @hookimpl
    def moroccron_notify(self):
        raise PluginBug("notify")
