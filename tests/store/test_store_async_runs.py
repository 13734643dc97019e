"""An async job's run waiting for its completion report is stored as such, on SQLite and
PostgreSQL, so that a new leader keeps waiting instead of launching or losing it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from moroccron.model import Run, RunState
from moroccron.store import Store
from tests.store.factories import T0, job, run


@pytest.fixture
def store(store: Store) -> Store:
    store.apply_jobs([job("a")], [])
    return store


@pytest.mark.parametrize("arguments, line", [(None, None), (("--x", "y"), None), (None, "--date 2020-01-01")])
def test_a_waiting_run_round_trips_with_its_arguments(store: Store, arguments, line) -> None:
    created = store.create_run(
        run("a", state=RunState.RUNNING, launched_at=T0 + timedelta(seconds=1), arguments=arguments, argument_line=line)
    )
    waiting = store.update_run(created.evolve(awaiting_completion=True, exit_status=0))
    back = store.get_run_by_task_id(created.task_id)
    assert back == waiting and back.awaiting_completion
    assert back.arguments == arguments and back.argument_line == line
    assert back.task_id in {r.task_id for r in store.unfinished_runs()}, "a new leader loads it"


def test_a_report_kept_for_a_running_task_round_trips(store: Store) -> None:
    created = store.create_run(run("a", state=RunState.RUNNING, arguments=("z",)))
    store.update_run(created.evolve(reported_status=7))
    back = store.get_run_by_task_id(created.task_id)
    assert back.reported_status == 7 and not back.awaiting_completion and back.arguments == ("z",)


def test_an_ordinary_run_is_stored_as_before(store: Store) -> None:
    created = store.create_run(Run(job="a", scheduled_at=T0, arguments=("p",)))
    back = store.get_run_by_task_id(created.task_id)
    assert back.arguments == ("p",) and back.reported_status is None and not back.awaiting_completion
