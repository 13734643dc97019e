"""The plugin API of moroccron: markers for hook specifications and implementations.

A plugin is a module (or an object) whose functions are marked with :data:`hookimpl`
and named after the hooks in :mod:`moroccron.hooks.spec`::

    from moroccron.hooks import hookimpl

    @hookimpl
    def moroccron_task_failed(job, run, final):
        if final:
            page_someone(job.owners, run.task_id)

An implementation may take any subset of the hook's parameters, by name. Installed
plugins announce themselves with an entry point in the group ``moroccron``::

    [project.entry-points.moroccron]
    slack = "moroccron_slack.plugin"

This module stays import-light on purpose: plugins import it at load time.
"""

from __future__ import annotations

import pluggy

__all__ = ["NAME", "hookimpl", "hookspec"]

NAME = "moroccron"
"""The pluggy project name, the hook-name prefix and the entry point group."""

hookimpl = pluggy.HookimplMarker(NAME)
"""Marks a function as the implementation of the moroccron hook of the same name."""

hookspec = pluggy.HookspecMarker(NAME)
"""Marks a function in :mod:`moroccron.hooks.spec` as a hook specification."""
