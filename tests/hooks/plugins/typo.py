"""A marked hookimpl whose name matches no hook: must be refused, not silently ignored."""

from moroccron.hooks import hookimpl


@hookimpl
def moroccron_task_faild(job, run):
    pass
