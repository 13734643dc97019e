"""Chronos async jobs through the API: ``async`` is kept and returned, and
``PUT /scheduler/task/<task id>`` with ``{"statusCode": n}`` reports a run's completion
(what the engine then does: tests/engine/test_engine_async.py)."""

from __future__ import annotations

from typing import Any

import pytest

from moroccron.events import AsyncCompleted
from moroccron.store import Store
from tests.api.test_chronos import PREFIXES, V1, RecordingScheduler, make_client, scheduled

TASK = "a.1772366400.0"


def test_async_is_stored_as_the_native_field_and_returned(store: Store) -> None:
    with make_client(store) as c:
        r = c.post(f"{V1}/iso8601", json=scheduled("a", **{"async": True}))
        assert r.status_code == 204
        assert store.get_job("a").async_completion is True
        assert c.get(f"{V1}/job/a").json()["async"] is True
        assert c.post(f"{V1}/iso8601", json=scheduled("b")).status_code == 204
        assert store.get_job("b").async_completion is False and c.get(f"{V1}/job/b").json()["async"] is False
        r = c.post(f"{V1}/iso8601", json=scheduled("c", **{"async": "maybe"}))
        assert r.status_code == 400 and r.json()["field"] == "async"


@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("body, code", [({"statusCode": 0}, 0), ({"statusCode": 3}, 3), ({"statusCode": "-1"}, -1)])
def test_a_completion_report_goes_to_the_engine(store: Store, prefix: str, body: dict[str, Any], code: int) -> None:
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        r = c.put(f"{prefix}/task/{TASK}", json=body)
    assert r.status_code == 204 and r.content == b""
    assert scheduler.events == [AsyncCompleted(TASK, code)]


def test_a_report_for_a_task_nobody_waits_for_is_accepted_as_chronos_did(store: Store) -> None:
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        assert c.put(f"{V1}/task/no-such-task", json={"statusCode": 0}).status_code == 204
    assert scheduler.events == [AsyncCompleted("no-such-task", 0)], "the engine ignores it"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"statusCode": None},
        {"statusCode": True},
        {"statusCode": "done"},
        {"statusCode": 1.5},
        {"statusCode": 2**40},
        [0],
        "0",
    ],
)
def test_a_bad_report_is_a_chronos_style_400_and_changes_nothing(store: Store, body: Any) -> None:
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        r = c.put(f"{V1}/task/{TASK}", json=body)
    assert r.status_code == 400
    got = r.json()
    assert got["status"] == "Bad Request" and "statusCode" in got["message"] and got["field"] == "statusCode"
    assert scheduler.events == []


def test_a_report_that_is_not_json_is_a_400(store: Store) -> None:
    scheduler = RecordingScheduler()
    with make_client(store, scheduler) as c:
        r = c.put(f"{V1}/task/{TASK}", content=b"statusCode=0", headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["status"] == "Bad Request" and r.json()["field"] == "body"
    assert scheduler.events == []
