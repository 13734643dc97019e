"""A plugin as an installed distribution ships it: a module of hookimpls, found by entry point."""

from moroccron.hooks import hookimpl


@hookimpl
def moroccron_packing_strategies():
    return ["from-entry-point"]


@hookimpl
def moroccron_triggered_jobs(job, succeeded):
    return ["audit"] if not succeeded else None
