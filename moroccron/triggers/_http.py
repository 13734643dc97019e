"""The machinery behind :mod:`moroccron.triggers.http`: settings, event bodies, delivery.

The hooks run on the scheduler thread, so they only build an :class:`Event` and put it
on a queue; one worker thread per URL posts it, retrying with exponential backoff. One
thread per URL, so a receiver that is down or slow delays only its own events, and each
receiver gets its events in the order they happened.

Nothing here is durable: events still queued when the process dies are lost (the
durable outbox belongs to the notification work, not here).
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from moroccron import __version__
from moroccron.checks import http_url_error, mask_url
from moroccron.config import Settings
from moroccron.dag import SubtreeNode
from moroccron.errors import FieldError, ValidationError
from moroccron.model import JobSpec, Run
from moroccron.schedule.tz import format_utc

__all__ = [
    "BODY_VERSION",
    "EVENTS",
    "OPT_OUT_LABEL",
    "DeliveryStats",
    "Dispatcher",
    "Event",
    "TriggerSettings",
    "build_event",
    "current",
    "label_error",
    "mask_url",
    "read_settings",
    "send",
    "start",
    "stop",
]

log = logging.getLogger("moroccron.triggers.http")

BODY_VERSION = 1
"""The ``version`` of the JSON body. Bumped only for changes that break a receiver
(a field removed or changing meaning); new fields are added without a bump."""

EVENTS: tuple[str, ...] = ("succeeded", "failed", "killed", "lost", "skipped", "retrying")
"""What ``http_trigger_events`` may name: a final run state, or ``retrying`` for the
failed attempts that another attempt follows."""

OPT_OUT_LABEL = "moroccron.http-trigger"
"""Job label: ``off`` stops events about that job; ``on`` (or no label) sends them."""

LABEL_VALUES = ("on", "off")

QUEUE_SIZE = 10_000
"""Events waiting per URL before the oldest is dropped."""

INITIAL_DELAY = 0.5
"""Seconds before the first retry; doubled for each next one, up to :data:`MAX_DELAY`."""

MAX_DELAY = 30.0

SHUTDOWN_DEADLINE = 5.0
"""Seconds :func:`stop` keeps delivering what is queued before it gives up."""

DROP_WARNING_INTERVAL = 60.0
"""At most one warning per URL per this many seconds while events are being dropped,
so an outage does not also flood the log."""

_URL_ALLOWED = "http:// or https:// URLs with a host, e.g. https://ci.example.com/hooks/moroccron"


# --------------------------------------------------------------------------- settings


@dataclass(frozen=True, slots=True)
class TriggerSettings:
    """The checked ``http_trigger_*`` settings.

    :ivar urls: where to POST, each once, in the order configured.
    :ivar events: the outcomes to send (see :data:`EVENTS`).
    :ivar attempts: tries per event and URL: the first one plus ``http_trigger_retries``.
    :ivar timeout: seconds to connect, and seconds to wait for each read of the answer.
    """

    urls: tuple[str, ...]
    events: frozenset[str]
    attempts: int
    timeout: float


def _items(value: Any) -> tuple[Any, ...]:
    """A list setting; text is comma-separated, as in the environment (a bare string
    passed to ``Settings`` in code would otherwise be read one character at a time)."""
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    return tuple(value or ())


def read_settings(config: Settings) -> TriggerSettings | None:
    """The trigger's settings, checked; None when no URL is configured (nothing to do).

    :raises ValidationError: naming each bad setting; URLs in the message are masked.
    """
    urls = _items(config.http_trigger_urls)
    if not urls:
        return None
    errors = [
        e
        for i, url in enumerate(urls)
        if (e := http_url_error(url, f"http_trigger_urls[{i}]", _URL_ALLOWED)) is not None
    ]
    events = _items(config.http_trigger_events)
    if not events:
        errors.append(
            FieldError(
                "http_trigger_events",
                "is empty, so nothing would be sent",
                None,
                " | ".join(EVENTS) + "; or unset http_trigger_urls",
            )
        )
    for i, event in enumerate(events):
        if event not in EVENTS:
            errors.append(FieldError(f"http_trigger_events[{i}]", "unknown event", event, " | ".join(EVENTS)))
    retries = config.http_trigger_retries
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
        errors.append(FieldError("http_trigger_retries", "out of range", retries, "a whole number from 0 to 100"))
    timeout = config.http_trigger_timeout
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not math.isfinite(timeout) or timeout <= 0:
        errors.append(FieldError("http_trigger_timeout", "must be more than 0 seconds", timeout, "a number > 0"))
    if errors:
        raise ValidationError(errors, "http trigger settings")
    return TriggerSettings(
        urls=tuple(dict.fromkeys(urls)), events=frozenset(events), attempts=retries + 1, timeout=float(timeout)
    )


def label_error(job: JobSpec) -> FieldError | None:
    """The problem with the job's :data:`OPT_OUT_LABEL`, if it has one that means nothing."""
    value = job.labels.get(OPT_OUT_LABEL)
    if value is None or value.strip().lower() in LABEL_VALUES:
        return None
    return FieldError(
        f"labels.{OPT_OUT_LABEL}",
        "not an allowed value",
        value,
        " | ".join(LABEL_VALUES) + " (off: no HTTP trigger events for this job)",
    )


def opted_out(job: JobSpec) -> bool:
    return job.labels.get(OPT_OUT_LABEL, "").strip().lower() == "off"


# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class Event:
    """One thing to tell every receiver. ``body`` lacks ``sent_at``, which each attempt sets.

    :ivar name: ``run.<state>``, also sent as the ``X-Moroccron-Event`` header.
    :ivar delivery_id: the same for every attempt and every URL, so receivers can
        recognise a retry of something they already processed.
    """

    name: str
    delivery_id: str
    body: Mapping[str, Any]

    def payload(self, sent_at: datetime) -> bytes:
        body = dict(self.body)
        body["sent_at"] = format_utc(sent_at)
        body["delivery_id"] = self.delivery_id
        return json.dumps(body).encode()


def _ts(value: datetime | None) -> str | None:
    return format_utc(value) if value is not None else None


def run_fields(run: Run) -> dict[str, Any]:
    return {
        "task_id": run.task_id,
        "scheduled_at": _ts(run.scheduled_at),
        "attempt": run.attempt,
        "state": str(run.state),
        "trigger": str(run.trigger),
        "launched_at": _ts(run.launched_at),
        "started_at": _ts(run.started_at),
        "finished_at": _ts(run.finished_at),
        "exit_status": run.exit_status,
        "reason": run.reason,
        "message": run.message,
        "agent_id": run.agent_id,
        "hostname": run.hostname,
        "skew_seconds": run.skew,
        "duration_seconds": run.duration,
    }


def event_kind(run: Run, final: bool) -> str:
    """The ``http_trigger_events`` name that selects this run's event."""
    return str(run.state) if final else "retrying"


def build_event(job: JobSpec, run: Run, *, final: bool, pending_subtree: Sequence[SubtreeNode] | None = None) -> Event:
    """The event for a run that ended; ``pending_subtree`` is given for failures only."""
    name = f"run.{run.state}"
    delivery_id = str(uuid.uuid4())
    body: dict[str, Any] = {
        "version": BODY_VERSION,
        "event": name,
        "job": job.name,
        "final": final,
        "run": run_fields(run),
        "owners": list(job.owners),
        "labels": dict(job.labels),
    }
    if pending_subtree is not None:
        body["pending_subtree"] = [node.to_dict() for node in pending_subtree]
    return Event(name=name, delivery_id=delivery_id, body=body)


# --------------------------------------------------------------------------- delivery


@dataclass(slots=True)
class DeliveryStats:
    """Counters of one URL since start-up, for logs and metrics.

    :ivar queued: events accepted onto the queue.
    :ivar delivered: events a 2xx answer acknowledged.
    :ivar failed: events given up on: a permanent error, or every attempt failed.
    :ivar dropped: events pushed out of a full queue (the oldest go first).
    :ivar retries: attempts after the first, over all events.
    """

    queued: int = 0
    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    retries: int = 0


_RETRY_STATUSES = frozenset({408, 429})


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a ``Retry-After: <seconds>`` header; the HTTP-date form is ignored."""
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


class _Sender:
    """One URL: a bounded queue and the thread that empties it."""

    def __init__(
        self, url: str, index: int, config: TriggerSettings, *, queue_size: int, initial_delay: float, max_delay: float
    ) -> None:
        self.url = url
        self.shown = mask_url(url)
        self.stats = DeliveryStats()
        self._attempts = config.attempts
        self._timeout = config.timeout
        self._queue_size = max(1, queue_size)
        self._initial_delay = initial_delay
        self._max_delay = max_delay
        self._queue: deque[Event] = deque()
        self._in_flight = False
        self._closing = False
        self._cond = threading.Condition()
        self._abort = threading.Event()
        self._last_drop_warning: float | None = None
        self._dropped_since_warning = 0
        self._session = requests.Session()
        self._headers = {"Content-Type": "application/json", "User-Agent": f"moroccron/{__version__}"}
        self._thread = threading.Thread(target=self._run, name=f"moroccron-http-trigger-{index}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def put(self, event: Event) -> None:
        """Queue ``event``; when the queue is full, drop the oldest. Never blocks for long."""
        with self._cond:
            if self._closing:
                log.warning(
                    "http trigger %s is shutting down; event %s for job %r not sent",
                    self.shown,
                    event.name,
                    event.body.get("job"),
                )
                return
            if len(self._queue) >= self._queue_size:
                oldest = self._queue.popleft()
                self.stats.dropped += 1
                self._warn_dropped(oldest)
            self._queue.append(event)
            self.stats.queued += 1
            self._cond.notify()

    def _warn_dropped(self, oldest: Event) -> None:
        self._dropped_since_warning += 1
        now = time.monotonic()
        if self._last_drop_warning is not None and now - self._last_drop_warning < DROP_WARNING_INTERVAL:
            return
        log.warning(
            "http trigger %s: queue full (%d events), dropped %d oldest event(s) since the last "
            "warning, the latest %s for job %r (delivery %s); %d dropped in all",
            self.shown,
            self._queue_size,
            self._dropped_since_warning,
            oldest.name,
            oldest.body.get("job"),
            oldest.delivery_id,
            self.stats.dropped,
        )
        self._last_drop_warning = now
        self._dropped_since_warning = 0

    def pending(self) -> int:
        """Events queued or being delivered."""
        with self._cond:
            return len(self._queue) + int(self._in_flight)

    def close(self) -> None:
        """Take no more events; the thread ends once the queue is empty."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for the thread to end; True when it has."""
        self._thread.join(max(0.0, timeout))
        return not self._thread.is_alive()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def abort(self) -> None:
        """Stop after the request in progress: backoff waits end now, the queue is left."""
        self._abort.set()
        with self._cond:
            self._cond.notify_all()

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closing and not self._abort.is_set():
                        self._cond.wait()
                    if self._abort.is_set() or not self._queue:
                        return
                    event = self._queue.popleft()
                    self._in_flight = True
                try:
                    self._deliver(event)
                except Exception:  # a bug here must not end deliveries for good
                    log.exception(
                        "http trigger %s: delivery of %s (delivery %s) broke; event dropped",
                        self.shown,
                        event.name,
                        event.delivery_id,
                    )
                    self.stats.failed += 1
                finally:
                    with self._cond:
                        self._in_flight = False
        finally:
            self._session.close()

    def _deliver(self, event: Event) -> None:
        job = event.body.get("job")
        for attempt in range(1, self._attempts + 1):
            retry, detail, wait_at_least = self._post(event)
            if not retry and detail is None:
                self.stats.delivered += 1
                return
            if not retry:
                self.stats.failed += 1
                log.error(
                    "http trigger %s: %s for job %r (delivery %s) refused: %s; not retried",
                    self.shown,
                    event.name,
                    job,
                    event.delivery_id,
                    detail,
                )
                return
            if attempt == self._attempts:
                self.stats.failed += 1
                log.error(
                    "http trigger %s: %s for job %r (delivery %s) not delivered after %d attempt(s): %s",
                    self.shown,
                    event.name,
                    job,
                    event.delivery_id,
                    attempt,
                    detail,
                )
                return
            delay = min(self._max_delay, self._initial_delay * 2 ** (attempt - 1))
            if wait_at_least is not None:
                delay = max(delay, min(wait_at_least, self._max_delay))
            # INFO, not WARNING: in an outage every queued event would log each attempt.
            log.info(
                "http trigger %s: %s for job %r (delivery %s), attempt %d of %d: %s; retrying in %.1fs",
                self.shown,
                event.name,
                job,
                event.delivery_id,
                attempt,
                self._attempts,
                detail,
                delay,
            )
            if self._abort.wait(delay):
                self.stats.failed += 1
                log.error(
                    "http trigger %s: %s for job %r (delivery %s) not delivered: shutting down",
                    self.shown,
                    event.name,
                    job,
                    event.delivery_id,
                )
                return
            self.stats.retries += 1

    def _post(self, event: Event) -> tuple[bool, str | None, float | None]:
        """One attempt: (retry?, what went wrong or None when delivered, Retry-After seconds)."""
        headers = {**self._headers, "X-Moroccron-Event": event.name, "X-Moroccron-Delivery": event.delivery_id}
        try:
            # Redirects are not followed: requests would turn the POST into a GET, and a
            # token in the URL should not travel to wherever a Location points.
            response = self._session.post(
                self.url,
                data=event.payload(datetime.now(UTC)),
                headers=headers,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            # The exception text can hold the full URL, so it stays out of the log.
            if isinstance(exc, requests.Timeout):  # before ConnectionError: ConnectTimeout is both
                return True, f"{type(exc).__name__}: no answer within {self._timeout:g}s", None
            if isinstance(exc, requests.ConnectionError):
                return True, f"{type(exc).__name__}: cannot connect", None
            return True, type(exc).__name__, None
        status = response.status_code
        response.close()
        if 200 <= status < 300:
            return False, None, None
        if status >= 500 or status in _RETRY_STATUSES:
            return True, f"HTTP {status}", _retry_after(response)
        if 300 <= status < 400:
            return False, f"HTTP {status}: redirects are not followed; configure the final URL", None
        return False, f"HTTP {status}", None


class _HideQueries(logging.Filter):
    """urllib3 logs every request line at DEBUG, query string and all; with moroccron at
    DEBUG that would put the receivers' tokens in the log. This rewrites those lines."""

    def __init__(self, urls: Iterable[str]) -> None:
        super().__init__()
        self._queries = sorted({q for url in urls if (q := urlsplit(url).query)}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if self._queries:
            message = record.getMessage()
            if any(q in message for q in self._queries):
                for query in self._queries:
                    message = message.replace(query, "***")
                record.msg, record.args = message, None
        return True


_URLLIB3_LOGGER = "urllib3.connectionpool"


class Dispatcher:
    """Every configured URL's sender; what the hooks talk to."""

    def __init__(
        self,
        config: TriggerSettings,
        *,
        queue_size: int = QUEUE_SIZE,
        initial_delay: float = INITIAL_DELAY,
        max_delay: float = MAX_DELAY,
    ) -> None:
        self.config = config
        self._hide_queries = _HideQueries(config.urls)
        self._senders = [
            _Sender(url, i, config, queue_size=queue_size, initial_delay=initial_delay, max_delay=max_delay)
            for i, url in enumerate(config.urls)
        ]

    def start(self) -> None:
        logging.getLogger(_URLLIB3_LOGGER).addFilter(self._hide_queries)
        for sender in self._senders:
            sender.start()
        log.info(
            "http trigger: sending %s to %s (%d attempt(s), %gs timeout)",
            ", ".join(sorted(self.config.events)),
            ", ".join(s.shown for s in self._senders),
            self.config.attempts,
            self.config.timeout,
        )

    def wants(self, job: JobSpec, run: Run, final: bool) -> bool:
        return event_kind(run, final) in self.config.events and not opted_out(job)

    def submit(self, event: Event) -> None:
        for sender in self._senders:
            sender.put(event)

    def stats(self) -> dict[str, dict[str, int]]:
        """Counters by masked URL."""
        return {s.shown: asdict(s.stats) for s in self._senders}

    def close(self, deadline: float) -> None:
        """Deliver what is queued for up to ``deadline`` seconds, then stop every thread."""
        for sender in self._senders:
            sender.close()
        end = time.monotonic() + deadline
        for sender in self._senders:
            if sender.join(end - time.monotonic()):
                continue
            left = sender.pending()
            sender.abort()
            # Not joined again: a request in progress ends within its timeout, and the
            # thread is a daemon, so it cannot hold the process up.
            log.warning(
                "http trigger %s: %d event(s) not delivered within the %gs shutdown deadline; they are lost",
                sender.shown,
                left,
                deadline,
            )
        # Left in place while a thread may still be in a request, or its log line would leak.
        if all(not s.alive() for s in self._senders):
            logging.getLogger(_URLLIB3_LOGGER).removeFilter(self._hide_queries)


# --------------------------------------------------------------------------- the process's dispatcher

_lock = threading.Lock()
_current: Dispatcher | None = None


def current() -> Dispatcher | None:
    """The running dispatcher, or None (not started, no URLs, or stopped)."""
    return _current


def start(config: Settings) -> Dispatcher | None:
    """Check the settings and start delivering; None when no URL is configured.

    A dispatcher already running (start-up called twice in one process) is stopped first.

    :raises ValidationError: a setting is wrong (URLs in the message are masked).
    """
    global _current
    trigger_settings = read_settings(config)
    with _lock:
        previous, _current = _current, None
    if previous is not None:
        log.warning("http trigger started again; stopping the previous dispatcher first")
        previous.close(SHUTDOWN_DEADLINE)
    if trigger_settings is None:
        return None
    dispatcher = Dispatcher(trigger_settings, queue_size=QUEUE_SIZE, initial_delay=INITIAL_DELAY, max_delay=MAX_DELAY)
    dispatcher.start()
    with _lock:
        _current = dispatcher
    return dispatcher


def stop(deadline: float | None = None) -> None:
    """Flush for up to ``deadline`` seconds (default :data:`SHUTDOWN_DEADLINE`), then stop."""
    global _current
    with _lock:
        dispatcher, _current = _current, None
    if dispatcher is not None:
        dispatcher.close(SHUTDOWN_DEADLINE if deadline is None else deadline)


def send(job: JobSpec, run: Run, *, final: bool, pending_subtree: Iterable[SubtreeNode] | None = None) -> None:
    """Queue the event for ``run`` if it is wanted; a no-op when the trigger is not running."""
    dispatcher = _current
    if dispatcher is None or not dispatcher.wants(job, run, final):
        return
    subtree = None if pending_subtree is None else tuple(pending_subtree)
    dispatcher.submit(build_event(job, run, final=final, pending_subtree=subtree))
