"""The built-in ``http-trigger`` plugin, through a fresh PluginManager, against a real
local HTTP receiver: what is sent, when it is retried, what is filtered out, and that
the hooks never wait for the network.

Nothing here sleeps to make a point: tests wait on conditions (with timeouts), and
"not sent" is shown by sending a marker event afterwards and seeing only the marker
arrive (each URL's events are delivered in order).
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from moroccron import __version__
from moroccron.config import Settings, load_settings
from moroccron.dag import SubtreeNode
from moroccron.errors import ValidationError
from moroccron.hooks.manager import DISABLE_ENV, PluginError, PluginManager
from moroccron.model import JobSpec, Run, RunState, RunTrigger
from moroccron.triggers import _http

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WAIT = 10.0  # seconds any condition gets before a test fails
LOGGER = "moroccron.triggers.http"


# --------------------------------------------------------------------------- the receiver


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # names lower-cased
    body: dict[str, Any]
    status: int  # what the receiver answered

    @property
    def delivery(self) -> str:
        return self.headers["x-moroccron-delivery"]


class Receiver:
    """A real HTTP server on 127.0.0.1 that records every POST.

    ``answers`` are given to the next requests in turn (then 200). With ``hold`` set,
    each request waits for :attr:`release` before it is answered.
    """

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self.arrivals: list[str] = []  # delivery ids, as requests arrive (before any hold)
        self.answers: deque[int] = deque()
        self.hold = False
        self.release = threading.Event()
        self.arrived = threading.Event()  # a request reached the handler
        self.answered = threading.Event()  # an answer was sent
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver.arrived.set()
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._cond:
                    receiver.arrivals.append(self.headers.get("X-Moroccron-Delivery", ""))
                    receiver._cond.notify_all()
                    status = receiver.answers.popleft() if receiver.answers else 200
                if receiver.hold:
                    receiver.release.wait(WAIT)
                # Recorded before answering, so once the sender has its answer the
                # request is in the list.
                with receiver._cond:
                    receiver.requests.append(
                        Received(self.path, {k.lower(): v for k, v in self.headers.items()}, json.loads(body), status)
                    )
                    receiver._cond.notify_all()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Length", "0")
                self.end_headers()
                receiver.answered.set()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, *statuses: int) -> None:
        with self._cond:
            self.answers.extend(statuses)

    def wait_for(self, count: int) -> list[Received]:
        """The first ``count`` requests, once they have arrived (and are about to be answered)."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.requests) >= count, WAIT):
                raise AssertionError(f"expected {count} request(s) within {WAIT}s, got {self.requests}")
            return list(self.requests)

    def wait_for_arrivals(self, count: int) -> list[str]:
        """The delivery ids of the first ``count`` requests to arrive, answered or not."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.arrivals) >= count, WAIT):
                raise AssertionError(f"expected {count} request(s) within {WAIT}s, got {self.arrivals}")
            return self.arrivals[:count]

    def delivered(self) -> list[Received]:
        with self._cond:
            return [r for r in self.requests if 200 <= r.status < 300]

    def close(self) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------- fixtures and builders


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(autouse=True)
def _fast_and_isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Retries within milliseconds, no plugins blocked by the environment, and no
    dispatcher left running into the next test."""
    monkeypatch.delenv(DISABLE_ENV, raising=False)
    monkeypatch.setattr(_http, "INITIAL_DELAY", 0.01)
    monkeypatch.setattr(_http, "MAX_DELAY", 0.05)
    yield
    _http.stop(deadline=0)


@pytest.fixture
def pm() -> PluginManager:
    return PluginManager(load_entrypoints=False)


Start = Callable[..., Settings]


@pytest.fixture
def start(pm: PluginManager, receiver: Receiver) -> Iterator[Start]:
    """Start the plugin with ``http_trigger_urls`` = the receiver (plus ``path``) and other settings."""
    started: list[Settings] = []

    def _start(path: str = "/hooks/moroccron", **settings: Any) -> Settings:
        config = Settings(http_trigger_urls=(receiver.url + path,), **settings)
        pm.startup(config=config, store=None)  # type: ignore[arg-type]
        started.append(config)
        return config

    yield _start
    receiver.release.set()
    for config in started:
        pm.shutdown(config=config)


def job(name: str = "etl", **fields: Any) -> JobSpec:
    fields.setdefault("command", "true")
    return JobSpec(name=name, **fields)


def ended(name: str = "etl", state: RunState = RunState.SUCCEEDED, minute: int = 0, **fields: Any) -> Run:
    """A finished run of ``name`` scheduled ``minute`` minutes after T0."""
    scheduled = T0 + timedelta(minutes=minute)
    fields.setdefault("launched_at", scheduled + timedelta(seconds=1.5))
    fields.setdefault("started_at", scheduled + timedelta(seconds=2))
    fields.setdefault("finished_at", scheduled + timedelta(seconds=12))
    return Run(job=name, scheduled_at=scheduled, state=state, **fields)


def http_threads() -> set[threading.Thread]:
    """The live sender threads; compare before and after, as an earlier test's aborted
    thread may take a moment to end."""
    return {t for t in threading.enumerate() if t.name.startswith("moroccron-http-trigger") and t.is_alive()}


# --------------------------------------------------------------------------- what is sent


def test_a_success_is_posted_with_the_documented_body_and_headers(
    pm: PluginManager, receiver: Receiver, start: Start
) -> None:
    start("/hooks/ci?token=t0ken")
    spec = job("etl", owners=["ops@example.com"], labels={"team": "data"})
    run = ended("etl", exit_status=0, agent_id="S0", hostname="agent1", trigger=RunTrigger.SCHEDULE)

    pm.task_succeeded(job=spec, run=run)

    [got] = receiver.wait_for(1)
    assert got.path == "/hooks/ci?token=t0ken"
    body = dict(got.body)
    sent_at, delivery_id = body.pop("sent_at"), body.pop("delivery_id")
    assert body == {
        "version": 1,
        "event": "run.succeeded",
        "job": "etl",
        "final": True,
        "run": {
            "task_id": "etl.1772366400.0",
            "scheduled_at": "2026-03-01T12:00:00Z",
            "attempt": 0,
            "state": "succeeded",
            "trigger": "schedule",
            "launched_at": "2026-03-01T12:00:01.500000Z",
            "started_at": "2026-03-01T12:00:02Z",
            "finished_at": "2026-03-01T12:00:12Z",
            "exit_status": 0,
            "reason": None,
            "message": None,
            "agent_id": "S0",
            "hostname": "agent1",
            "skew_seconds": 1.5,
            "duration_seconds": 10.0,
        },
        "owners": ["ops@example.com"],
        "labels": {"team": "data"},
    }
    assert sent_at.endswith("Z") and datetime.fromisoformat(sent_at).tzinfo is not None
    assert str(uuid.UUID(delivery_id)) == delivery_id
    assert got.headers["content-type"] == "application/json"
    assert got.headers["user-agent"] == f"moroccron/{__version__}"
    assert got.headers["x-moroccron-event"] == "run.succeeded"
    assert got.delivery == delivery_id


def test_a_final_failure_names_the_jobs_now_waiting_on_it(pm: PluginManager, receiver: Receiver, start: Start) -> None:
    start()
    subtree = (
        SubtreeNode("load", ("data@example.com",), (SubtreeNode("report", ("bi@example.com",)),)),
        SubtreeNode("audit"),
    )
    run = ended(
        "extract",
        RunState.FAILED,
        attempt=2,
        trigger=RunTrigger.RETRY,
        exit_status=3,
        reason="REASON_COMMAND_EXECUTOR_FAILED",
        message="Command exited with status 3",
    )

    pm.task_failed(job=job("extract", owners=["data@example.com"]), run=run, pending_subtree=subtree, final=True)

    [got] = receiver.wait_for(1)
    assert got.headers["x-moroccron-event"] == "run.failed"
    assert (got.body["event"], got.body["job"], got.body["final"]) == ("run.failed", "extract", True)
    assert {
        k: got.body["run"][k] for k in ("task_id", "attempt", "state", "trigger", "exit_status", "reason", "message")
    } == {
        "task_id": "extract.1772366400.2",
        "attempt": 2,
        "state": "failed",
        "trigger": "retry",
        "exit_status": 3,
        "reason": "REASON_COMMAND_EXECUTOR_FAILED",
        "message": "Command exited with status 3",
    }
    assert got.body["pending_subtree"] == [
        {
            "job": "load",
            "owners": ["data@example.com"],
            "children": [{"job": "report", "owners": ["bi@example.com"], "children": []}],
        },
        {"job": "audit", "owners": [], "children": []},
    ]


# --------------------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [500, 503, 408, 429])
def test_a_retryable_answer_is_retried_with_the_same_delivery_id(
    pm: PluginManager, receiver: Receiver, start: Start, status: int
) -> None:
    config = start()
    dispatcher = _http.current()
    assert dispatcher is not None
    receiver.answer(status, status)

    pm.task_succeeded(job=job(), run=ended())

    requests = receiver.wait_for(3)
    assert [r.status for r in requests] == [status, status, 200]
    assert len({r.delivery for r in requests}) == 1
    assert {r.body["delivery_id"] for r in requests} == {requests[0].delivery}
    pm.shutdown(config=config)  # so the counters are final
    [stats] = dispatcher.stats().values()
    assert (stats["delivered"], stats["retries"], stats["failed"]) == (1, 2, 0)


def test_a_connection_error_is_retried(pm: PluginManager, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    # Listed first, a URL where nothing listens: its failures must not hold up the receiver.
    config = Settings(http_trigger_urls=(f"http://127.0.0.1:{closed_port()}/x", receiver.url), http_trigger_retries=1)
    with caplog.at_level(logging.INFO, logger=LOGGER):
        pm.startup(config=config, store=None)  # type: ignore[arg-type]
        pm.task_succeeded(job=job(), run=ended())
        receiver.wait_for(1)
        pm.shutdown(config=config)
    assert "ConnectionError: cannot connect; retrying" in caplog.text
    assert "not delivered after 2 attempt(s)" in caplog.text
    assert [r.body["job"] for r in receiver.delivered()] == ["etl"]


def closed_port() -> int:
    """A local port with nothing listening on it (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("status", [400, 404, 302])
def test_a_client_error_is_not_retried(
    pm: PluginManager, receiver: Receiver, start: Start, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    start()
    receiver.answer(status)

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        pm.task_failed(job=job("a"), run=ended("a", RunState.FAILED), pending_subtree=(), final=True)
        pm.task_succeeded(job=job("marker"), run=ended("marker"))
        requests = receiver.wait_for(2)

    assert [(r.body["job"], r.status) for r in requests] == [("a", status), ("marker", 200)]
    assert f"HTTP {status}" in caplog.text and "not retried" in caplog.text


def test_retries_stop_after_the_configured_number(
    pm: PluginManager, receiver: Receiver, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    start(http_trigger_retries=2)
    receiver.answer(500, 500, 500)

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        pm.task_succeeded(job=job("a"), run=ended("a"))
        pm.task_succeeded(job=job("marker"), run=ended("marker"))
        requests = receiver.wait_for(4)

    assert [(r.body["job"], r.status) for r in requests] == [("a", 500), ("a", 500), ("a", 500), ("marker", 200)]
    assert "not delivered after 3 attempt(s): HTTP 500" in caplog.text


# --------------------------------------------------------------------------- what is not sent


def test_a_failure_that_will_be_retried_is_not_sent_by_default(
    pm: PluginManager, receiver: Receiver, start: Start
) -> None:
    start()
    pm.task_failed(job=job("a"), run=ended("a", RunState.FAILED), pending_subtree=(), final=False)
    pm.task_succeeded(job=job("marker"), run=ended("marker"))

    assert [r.body["job"] for r in receiver.wait_for(1)] == ["marker"]
    assert [r.body["job"] for r in receiver.delivered()] == ["marker"]


def test_retrying_sends_attempts_that_will_be_retried(pm: PluginManager, receiver: Receiver, start: Start) -> None:
    start(http_trigger_events=("retrying",))
    pm.task_failed(job=job("a"), run=ended("a", RunState.FAILED), pending_subtree=(), final=True)
    pm.task_succeeded(job=job("b"), run=ended("b"))
    pm.task_failed(job=job("c"), run=ended("c", RunState.LOST), pending_subtree=(), final=False)

    [got] = receiver.wait_for(1)
    assert (got.body["job"], got.body["event"], got.body["final"]) == ("c", "run.lost", False)
    assert got.body["pending_subtree"] == []


def test_the_events_setting_selects_outcomes(pm: PluginManager, receiver: Receiver, start: Start) -> None:
    start(http_trigger_events=("killed", "lost"))
    pm.task_succeeded(job=job("a"), run=ended("a"))
    pm.task_failed(job=job("b"), run=ended("b", RunState.FAILED), pending_subtree=(), final=True)
    pm.task_failed(job=job("c"), run=ended("c", RunState.KILLED), pending_subtree=(), final=True)
    pm.task_failed(job=job("d"), run=ended("d", RunState.LOST), pending_subtree=(), final=True)

    requests = receiver.wait_for(2)
    assert [(r.body["job"], r.headers["x-moroccron-event"]) for r in requests] == [
        ("c", "run.killed"),
        ("d", "run.lost"),
    ]


def test_killed_and_lost_are_not_in_the_default_events(pm: PluginManager, receiver: Receiver, start: Start) -> None:
    start()
    pm.task_failed(job=job("a"), run=ended("a", RunState.KILLED), pending_subtree=(), final=True)
    pm.task_failed(job=job("b"), run=ended("b", RunState.LOST), pending_subtree=(), final=True)
    pm.task_failed(job=job("marker"), run=ended("marker", RunState.FAILED), pending_subtree=(), final=True)

    assert [r.body["job"] for r in receiver.wait_for(1)] == ["marker"]


@pytest.mark.parametrize("value", ["off", "OFF", " Off "])
def test_a_job_labelled_off_is_not_sent(pm: PluginManager, receiver: Receiver, start: Start, value: str) -> None:
    start()
    quiet = job("quiet", labels={"moroccron.http-trigger": value})
    pm.task_succeeded(job=quiet, run=ended("quiet"))
    pm.task_failed(job=quiet, run=ended("quiet", RunState.FAILED, minute=1), pending_subtree=(), final=True)
    pm.task_succeeded(job=job("loud", labels={"moroccron.http-trigger": "on"}), run=ended("loud"))

    assert [r.body["job"] for r in receiver.wait_for(1)] == ["loud"]


def test_an_unknown_value_of_the_label_is_refused_naming_the_field(pm: PluginManager) -> None:
    errors = pm.validate_job(job=job(labels={"moroccron.http-trigger": "of"}), existing={})
    [error] = errors
    assert error.field == "labels.moroccron.http-trigger" and error.value == "of"
    assert "on | off" in (error.allowed or "")
    assert pm.validate_job(job=job(labels={"moroccron.http-trigger": "off"}), existing={}) == []


# --------------------------------------------------------------------------- never blocking the scheduler


def test_a_hook_returns_before_a_slow_receiver_answers(pm: PluginManager, receiver: Receiver, start: Start) -> None:
    start()
    receiver.hold = True  # every request waits for receiver.release (or WAIT seconds)

    pm.task_succeeded(job=job("a"), run=ended("a"))
    assert not receiver.answered.is_set()  # the hook returned; the receiver has not answered

    assert receiver.arrived.wait(WAIT)  # the worker is now stuck in the request...
    pm.task_failed(job=job("b"), run=ended("b", RunState.FAILED), pending_subtree=(), final=True)
    assert not receiver.answered.is_set()  # ...and the scheduler thread still is not

    receiver.release.set()
    assert [r.body["job"] for r in receiver.wait_for(2)] == ["a", "b"]


def test_a_full_queue_drops_the_oldest_with_a_warning(
    pm: PluginManager,
    receiver: Receiver,
    start: Start,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_http, "QUEUE_SIZE", 2)
    start()
    receiver.hold = True
    pm.task_succeeded(job=job("e1"), run=ended("e1"))
    assert receiver.arrived.wait(WAIT)  # e1 is in flight, the queue is empty

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        for name in ("e2", "e3", "e4", "e5"):
            pm.task_succeeded(job=job(name), run=ended(name))
    receiver.release.set()

    assert [r.body["job"] for r in receiver.wait_for(3)] == ["e1", "e4", "e5"]
    [warning] = [r for r in caplog.records if r.name == LOGGER]  # one warning, not one per event
    assert "queue full" in warning.getMessage() and "e2" in warning.getMessage()
    [stats] = _http.current().stats().values()  # type: ignore[union-attr]
    assert (stats["queued"], stats["dropped"]) == (5, 2)


# --------------------------------------------------------------------------- start-up and shutdown


def test_without_urls_nothing_starts(pm: PluginManager) -> None:
    before = http_threads()
    pm.startup(config=Settings(), store=None)  # type: ignore[arg-type]
    assert _http.current() is None and http_threads() <= before
    pm.task_succeeded(job=job(), run=ended())  # a no-op, not an error
    pm.shutdown(config=Settings())


def test_shutdown_delivers_what_is_queued(
    pm: PluginManager, receiver: Receiver, start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_http, "INITIAL_DELAY", 0.5)
    monkeypatch.setattr(_http, "MAX_DELAY", 30.0)
    before = http_threads()
    config = start()
    receiver.hold = True
    receiver.answer(200, 500, 500)  # e2 is refused twice: it needs two retries, 0.5 s and 1 s later
    for name in ("e1", "e2", "e3"):
        pm.task_succeeded(job=job(name), run=ended(name))
    assert receiver.arrived.wait(WAIT)
    receiver.hold = False
    receiver.release.set()
    assert len(receiver.delivered()) < 3  # e2 and e3 are still to come (1.5 s of backoff)

    pm.shutdown(config=config)

    # Delivered by the time shutdown returned: no waiting here.
    assert [r.body["job"] for r in receiver.delivered()] == ["e1", "e2", "e3"]
    assert http_threads() <= before and _http.current() is None


def test_shutdown_gives_up_after_its_deadline(
    pm: PluginManager,
    receiver: Receiver,
    start: Start,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(_http, "SHUTDOWN_DEADLINE", 0.2)
    monkeypatch.setattr(_http, "INITIAL_DELAY", 60.0)
    monkeypatch.setattr(_http, "MAX_DELAY", 60.0)
    config = start()
    receiver.answer(500)
    pm.task_succeeded(job=job("a"), run=ended("a"))
    pm.task_succeeded(job=job("b"), run=ended("b"))
    receiver.wait_for(1)  # "a" failed once and now backs off for a minute

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        pm.shutdown(config=config)

    assert "2 event(s) not delivered within the 0.2s shutdown deadline" in caplog.text
    assert receiver.delivered() == []


def test_a_bad_url_stops_startup_naming_the_setting(pm: PluginManager) -> None:
    config = Settings(http_trigger_urls=("https://ok.example.com/x", "ftp://user:s3cret@ci.example.com/x?token=t0ken"))
    before = http_threads()
    with pytest.raises(PluginError, match=r"plugin 'http-trigger', moroccron_startup") as exc:
        pm.startup(config=config, store=None)  # type: ignore[arg-type]
    message = str(exc.value)
    assert "http_trigger_urls[1]" in message and "must use http or https" in message
    assert "s3cret" not in message and "t0ken" not in message
    assert isinstance(exc.value.__cause__, ValidationError)
    assert http_threads() <= before and _http.current() is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("ci.example.com/hook", "must use http or https"),
        ("https:///hook", "has no host"),
        ("http://ci.example.com:99999/hook", "is not a valid URL"),
        ("http://ci.example.com/a hook", "contains whitespace"),
    ],
)
def test_urls_are_checked(url: str, problem: str) -> None:
    with pytest.raises(ValidationError, match="http_trigger_urls\\[0\\]") as exc:
        _http.read_settings(Settings(http_trigger_urls=(url,)))
    assert problem in str(exc.value)


def test_other_settings_are_checked_together() -> None:
    config = Settings(
        http_trigger_urls=("https://ci.example.com/x",),
        http_trigger_events=("failed", "exploded"),
        http_trigger_retries=-1,
        http_trigger_timeout=0,
    )
    with pytest.raises(ValidationError) as exc:
        _http.read_settings(config)
    assert [e.field for e in exc.value.errors] == [
        "http_trigger_events[1]",
        "http_trigger_retries",
        "http_trigger_timeout",
    ]


def test_a_read_timeout_is_retried(
    pm: PluginManager, receiver: Receiver, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    start(http_trigger_timeout=0.1)
    receiver.hold = True  # the first request is not answered in time
    with caplog.at_level(logging.INFO, logger=LOGGER):
        pm.task_succeeded(job=job(), run=ended())
        assert receiver.arrived.wait(WAIT)
        # The retry arrives while the first request is still held: it timed out.
        requests = receiver.wait_for_arrivals(2)
    receiver.release.set()
    assert "ReadTimeout: no answer within 0.1s; retrying" in caplog.text
    assert len(set(requests)) == 1


def test_a_list_setting_given_as_text_in_code_is_comma_separated() -> None:
    config = Settings(
        http_trigger_urls="https://a.example.com/x, https://b.example.com/y",  # type: ignore[arg-type]
        http_trigger_events="failed",
    )  # type: ignore[arg-type]
    checked = _http.read_settings(config)
    assert checked is not None
    assert checked.urls == ("https://a.example.com/x", "https://b.example.com/y")
    assert checked.events == {"failed"}


def test_settings_come_from_the_environment() -> None:
    settings = load_settings(
        {},
        environ={
            "MOROCCRON_HTTP_TRIGGER_URLS": "https://ci.example.com/a, http://dq.example.com/b?token=t",
            "MOROCCRON_HTTP_TRIGGER_EVENTS": "failed,retrying",
            "MOROCCRON_HTTP_TRIGGER_RETRIES": "3",
            "MOROCCRON_HTTP_TRIGGER_TIMEOUT": "2.5",
        },
    )
    assert settings.http_trigger_urls == ("https://ci.example.com/a", "http://dq.example.com/b?token=t")
    assert settings.http_trigger_events == ("failed", "retrying")
    assert (settings.http_trigger_retries, settings.http_trigger_timeout) == (3, 2.5)
    with pytest.raises(ValidationError, match="MOROCCRON_HTTP_TRIGGER_RETRIES"):
        load_settings({}, environ={"MOROCCRON_HTTP_TRIGGER_RETRIES": "many"})


# --------------------------------------------------------------------------- secrets


def test_urls_are_never_shown_in_full(
    pm: PluginManager, receiver: Receiver, start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    secret_url = receiver.url.replace("http://", "http://bot:s3cret@") + "/hook?token=t0ken"
    config = Settings(http_trigger_urls=(secret_url,))
    receiver.answer(500, 403)
    # urllib3 logs each request line, query included, at DEBUG: that must be hidden too.
    with caplog.at_level(logging.DEBUG, logger=LOGGER), caplog.at_level(logging.DEBUG, logger="urllib3"):
        pm.startup(config=config, store=None)  # type: ignore[arg-type]
        pm.task_succeeded(job=job(), run=ended())
        receiver.wait_for(2)
        pm.shutdown(config=config)

    assert "HTTP 500" in caplog.text and "HTTP 403" in caplog.text
    assert '"POST /hook?*** HTTP/1.1" 500' in caplog.text  # urllib3's line, kept but hidden
    assert receiver.requests[0].path == "/hook?token=t0ken"  # the receiver did get the token
    assert "s3cret" not in caplog.text and "t0ken" not in caplog.text
    assert "***@127.0.0.1" in caplog.text and "/hook?***" in caplog.text
    assert "s3cret" not in repr(config) and "t0ken" not in repr(config)
    assert config.public()["http_trigger_urls"] == (f"http://***@{receiver.url[7:]}/hook?***",)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h.example.com:8443/x?k=v#frag", "https://***@h.example.com:8443/x?***"),
        ("https://h.example.com/x", "https://h.example.com/x"),
        ("u:p@h.example.com/x?k=v", "***@h.example.com/x?***"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert _http.mask_url(url) == shown
