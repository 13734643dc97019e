"""A hookimpl with a parameter its hook does not have (``error``): must be refused."""

from moroccron.hooks import hookimpl


@hookimpl
def moroccron_task_failed(job, run, error):
    pass
