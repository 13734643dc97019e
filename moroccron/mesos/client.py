"""Mesos v1 scheduler HTTP API client: one event stream, plain JSON calls.

Why our own client and not pymesos: see DESIGN.md ("Why our own Mesos client"). We keep
pymesos's callback vocabulary (``registered``, ``resourceOffers``, ``statusUpdate``, ...)
so its users feel at home, but speak the v1 API directly over ``requests``.

How it works
------------
* :meth:`MesosSchedulerClient.start` starts one daemon thread, the *event thread*. It
  finds the leading master (:mod:`moroccron.mesos.detect`), POSTs ``SUBSCRIBE`` and reads
  the chunked RecordIO response incrementally, one JSON event per record, calling the
  :class:`SchedulerCallbacks` **on the event thread, in stream order**. A callback that
  blocks stalls every later event, heartbeats included, and a stall longer than the
  heartbeat grace looks like a dead master and forces a re-subscription. Callbacks must
  therefore be quick: hand work to another thread or queue it.
* Calls (ACCEPT, DECLINE, KILL, ACKNOWLEDGE, ...) are separate POSTs on a separate
  ``requests.Session`` (the API forbids reusing the subscription connection), serialised
  by a lock so they are safe from any thread, including from inside callbacks. Each
  carries the ``Mesos-Stream-Id`` the master gave the subscription; a non-2xx answer
  raises :class:`MesosCallError` with the master's own text.
* The stream is re-subscribed, with exponential backoff and jitter, whenever it ends,
  breaks, or goes silent for ``heartbeat_grace`` × ``heartbeat_interval_seconds``
  (a network partition can leave a TCP connection open with nothing flowing; the grace
  is 5 intervals, as the Mesos scheduler API suggests, so that a master busy with a
  failover or an agent storm is not taken for a dead one), and when
  ZooKeeper names a different leader. Re-subscription reuses the FrameworkID so the
  master keeps our tasks; the first SUBSCRIBED of a client calls ``registered``, later
  ones ``reregistered``. Persisting the FrameworkID is the callbacks' job.
* A 307 from a standby master is followed to the leader it names, for SUBSCRIBE and for
  calls; a 503 (no leader elected yet) is retried with backoff.
* An ERROR event means, per scheduler.proto, that the scheduler should abort (it failed
  over to another instance, was removed, is not authorised): the client calls
  ``error`` and stops for good. ``abort_on_error=False`` re-subscribes instead, for
  callers that know their errors to be transient. A SUBSCRIBE refused with a 4xx
  (bad request, not authorised) is treated the same way, because sending the same
  request again cannot succeed.
* One ERROR is different: the master *removed* the framework (torn down by an
  operator, or its failover timeout ran out while no scheduler was subscribed). A real
  master closes the stream when it removes a framework and answers the next SUBSCRIBE
  with that FrameworkID with ERROR "Framework has been removed" (master.cpp,
  ``validateFramework``), never with an HTTP error. That FrameworkID can never
  subscribe again. With ``register_when_removed=True`` the client calls
  ``frameworkRemoved`` and subscribes again *without* a FrameworkID, so the master
  registers a new framework; its SUBSCRIBED calls ``registered`` with the new id.
* Status updates are **never** acknowledged automatically: moroccron acknowledges an
  update only after it has committed the run's new state, so that a crash in between
  makes Mesos resend the update instead of losing it. See :meth:`acknowledge_status`.
"""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import copy
import json
import logging
import random
import re
import signal
import socket
import threading
import time
import uuid as uuidlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3.exceptions

from moroccron.errors import MoroccronError
from moroccron.mesos import recordio
from moroccron.mesos.detect import MasterDetectionError, MasterDetector, redact
from moroccron.mesos.messages import (
    accept_body,
    acknowledge_body,
    decline_body,
    encode_accept,
    encode_call,
    event_body,
    kill_body,
    launch_operation,
    message_body,
    reconcile_body,
    roles_body,
    shutdown_body,
    status_uuid,
    value_of,
)

log = logging.getLogger("moroccron.mesos.client")

API_PATH = "/api/v1/scheduler"
STREAM_ID_HEADER = "Mesos-Stream-Id"
MAX_REDIRECTS = 5
ACCEPT_PARALLEL = 32  # ACCEPTs in flight at once (accept_encoded_many)

__all__ = [
    "MesosCallError",
    "MesosNotConnected",
    "MesosSchedulerClient",
    "SchedulerCallbacks",
    "decode_uuid",
    "encode_accept",
    "framework_removed",
    "parse_exit_status",
    "status_uuid",
]


# --------------------------------------------------------------------------- errors


class MesosCallError(MoroccronError):
    """A call the master did not accept.

    ``status`` is the HTTP status (None when no answer came: not subscribed, connection
    refused, timeout); ``body`` is the master's text, which says what was wrong.
    """

    def __init__(self, status: int | None, body: str, call_type: str | None = None) -> None:
        self.status = status
        self.body = body
        self.call_type = call_type
        what = f"Mesos {call_type} call" if call_type else "Mesos call"
        code = f"HTTP {status}" if status is not None else "not sent"
        super().__init__(f"{what} failed ({code}): {body}")


class MesosNotConnected(MesosCallError):
    """A call made while no subscription is open; the master would answer 403 anyway."""


class _Abort(Exception):
    """Stop the event loop for good, reporting ``message`` through ``error``."""


class _Retry(Exception):
    """This subscription attempt failed; back off and try again."""


class _Removed(Exception):
    """The master removed the framework for good; ``str()`` is the master's message."""


_REMOVED = re.compile(
    r"framework has been removed"  # master.cpp validateFramework (Mesos 0.28 and later)
    r"|completed framework attempted to re-?register",  # older masters
    re.IGNORECASE,
)


def framework_removed(message: str) -> bool:
    """Whether an ERROR message (or a refused SUBSCRIBE's text) says the master removed
    the framework for good, as opposed to refusing this subscription (failed over to
    another scheduler, not authorised, invalid FrameworkInfo)."""
    return bool(_REMOVED.search(message or ""))


# --------------------------------------------------------------------------- callbacks


class SchedulerCallbacks:
    """Callbacks from :class:`MesosSchedulerClient`, named as in pymesos.

    Subclass and override what you need; every default does nothing. All callbacks run
    on the client's event thread, one at a time, in the order the master sent the
    events; they must return quickly (see the module docstring). An exception raised by
    a callback is logged and the stream goes on; the event is not replayed, except that
    an unacknowledged status update will be resent by Mesos.

    IDs are passed as plain strings (the ``value`` of Mesos's ``{"value": ...}``
    objects); offers, statuses and master info as the JSON dicts the master sent.
    """

    def registered(self, client: MesosSchedulerClient, framework_id: str, master_info: dict[str, Any]) -> None:
        """First SUBSCRIBED of this client. Persist ``framework_id`` if it is new."""

    def reregistered(self, client: MesosSchedulerClient, master_info: dict[str, Any]) -> None:
        """SUBSCRIBED again after a disconnection (same FrameworkID). Time to reconcile."""

    def disconnected(self, client: MesosSchedulerClient) -> None:
        """The subscription was lost; the client is re-subscribing. Calls fail until then."""

    def resourceOffers(self, client: MesosSchedulerClient, offers: list[dict[str, Any]]) -> None:
        """OFFERS: accept, launch or decline each; an offer held is withheld from others."""

    def offerRescinded(self, client: MesosSchedulerClient, offer_id: str) -> None:
        """RESCIND: the offer is gone; do not use it."""

    def statusUpdate(self, client: MesosSchedulerClient, status: dict[str, Any]) -> None:
        """UPDATE: a TaskStatus. Acknowledge it (when it has a uuid) after committing it."""

    def frameworkMessage(self, client: MesosSchedulerClient, executor_id: str, agent_id: str, data: bytes) -> None:
        """MESSAGE from an executor (best effort, never retried)."""

    def agentLost(self, client: MesosSchedulerClient, agent_id: str) -> None:
        """FAILURE without an executor: the agent was removed. Not reliably delivered."""

    def executorLost(
        self,
        client: MesosSchedulerClient,
        executor_id: str,
        agent_id: str | None,
        status: int | None,
    ) -> None:
        """FAILURE with an executor: it terminated (``status`` is its wait status if known)."""

    def error(self, client: MesosSchedulerClient, message: str) -> None:
        """Unrecoverable: the client has stopped and no callback follows this one.

        With ``abort_on_error=False`` an ERROR event is reported here and the client
        re-subscribes instead.
        """

    def heartbeat(self, client: MesosSchedulerClient) -> None:
        """HEARTBEAT: the stream is alive. Handy for liveness metrics."""

    def frameworkRemoved(self, client: MesosSchedulerClient, framework_id: str, message: str) -> None:  # noqa: N802
        """The master removed ``framework_id`` for good (``register_when_removed=True`` only).

        Every task it had is gone. Forget the FrameworkID before returning: the client
        then subscribes without one, and ``registered`` follows with the new id.
        """


# --------------------------------------------------------------------------- helpers


def decode_uuid(value: str) -> str:
    """Readable form of a base64 status uuid, for logs and de-duplication keys.

    Mesos's uuids are the 16 raw bytes of a UUID; anything else is shown as hex. The
    acknowledgement itself must carry the original base64 text (see :func:`status_uuid`).
    """
    raw = base64.b64decode(value, validate=True)
    return str(uuidlib.UUID(bytes=raw)) if len(raw) == 16 else raw.hex()


def _signal_names() -> dict[str, int]:
    """Every way Mesos (strsignal) or a human names a signal, lower-cased."""
    names: dict[str, int] = {}
    for sig in signal.Signals:
        names[sig.name.lower()] = sig.value  # "sigkill"
        names[sig.name[3:].lower()] = sig.value  # "kill"
        described = signal.strsignal(sig)
        if described:
            names[described.lower()] = sig.value  # "killed" (what WSTRINGIFY prints)
    return names


_SIGNALS = _signal_names()
_SIGNAL_NAMES_LONGEST_FIRST = sorted(_SIGNALS, key=len, reverse=True)
_EXITED = re.compile(r"exited with status (-?\d+)", re.IGNORECASE)
_SIGNALLED = re.compile(r"terminated with signal\s+(.+)", re.IGNORECASE)


def parse_exit_status(status: Mapping[str, Any]) -> int | None:
    """Exit status of a command task from its TaskStatus, or None if it does not say.

    Mesos's command executor reports ``Command exited with status N`` (→ N) or
    ``Command terminated with signal <strsignal text>``, e.g. ``... signal Killed``
    (→ 128 + signal number, the shell's convention, so 137 for SIGKILL). A
    TASK_FINISHED without such a message means exit status 0, since the command
    executor only reports FINISHED for a zero exit.
    """
    message = status.get("message") or ""
    if isinstance(message, str):
        if match := _EXITED.search(message):
            return int(match.group(1))
        if match := _SIGNALLED.search(message):
            rest = match.group(1).strip()
            number = re.match(r"(\d+)\b", rest)
            if number:
                return 128 + int(number.group(1))
            lowered = rest.lower()
            for name in _SIGNAL_NAMES_LONGEST_FIRST:
                if lowered.startswith(name) and (len(lowered) == len(name) or not lowered[len(name)].isalnum()):
                    return 128 + _SIGNALS[name]
    if status.get("state") == "TASK_FINISHED":
        return 0
    return None


def _redirect_target(location: str, scheme: str) -> tuple[str, str]:
    """(scheme, host:port) named by a 307's Location.

    Mesos sends ``//host:port/api/v1/scheduler`` (scheme-relative); its docs also show a
    bare ``host:port``; an absolute URL is accepted too.
    """
    loc = location.strip()
    if loc.startswith("//"):
        parts = urlsplit(f"{scheme}:{loc}")
    elif "://" in loc:
        parts = urlsplit(loc)
    elif loc.startswith("/"):
        raise ValueError(f"redirect to a path on the same master: {location!r}")
    else:
        parts = urlsplit(f"{scheme}://{loc}")
    if not parts.netloc or parts.scheme not in ("http", "https"):
        raise ValueError(f"cannot follow redirect to {location!r}")
    return parts.scheme, parts.netloc.rsplit("@", 1)[-1]


def _stream_socket(response: requests.Response) -> socket.socket | None:
    """The socket under a streaming response, to set its read timeout or shut it down.

    ``requests`` offers no public handle; urllib3 2 keeps the connection on the raw
    response while the body is unread. None if the shape differs (then heartbeat loss
    falls back to the initial read timeout and stop() to closing the response).
    """
    conn = getattr(response.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


# --------------------------------------------------------------------------- the client


class MesosSchedulerClient:
    """A v1 scheduler HTTP API driver: subscription, events to callbacks, calls.

    :param master: ``HOST:PORT``, ``http(s)://HOST:PORT`` or ``zk://HOSTS/PATH``.
    :param framework_info: FrameworkInfo JSON (user, name, roles, failover_timeout,
        checkpoint, ...). Its ``id`` is used on the first SUBSCRIBE when present.
    :param callbacks: a :class:`SchedulerCallbacks`.
    :param session: ``requests.Session`` for calls (TLS settings, adapters); the event
        stream uses its own session that copies ``verify``, ``cert`` and ``proxies``.
    :param heartbeat_grace: re-subscribe after this many heartbeat intervals without
        any event (5, as Mesos suggests: 75 s with the master's default 15 s interval).
        Fewer would drop the subscription of a master that is slow, not gone, and each
        re-subscription makes the engine reconcile every live task.
    :param backoff_initial: first re-subscription delay in seconds; doubles per failed
        attempt up to ``backoff_max``, each multiplied by a random factor in [0.5, 1]
        so that many schedulers do not hammer a recovering master in step.
    :param principal: / ``secret``: HTTP basic authentication, if the master wants it.
    :param tls: speak HTTPS to the masters: ``HOST:PORT`` and masters found in ZooKeeper
        are reached with ``https`` (an ``https://`` spec implies it).
    :param ca_file: the CA bundle that signed the masters' certificates (PEM); the
        system's CAs if None.
    :param client_cert: / ``client_key``: the certificate (and its key, unless the
        certificate file holds it) this client presents, for masters that ask for one.
    :param timeout: seconds for connecting and for each call's answer, and for the
        first event of a subscription.
    :param abort_on_error: stop on an ERROR event (see module docstring).
    :param register_when_removed: when the master says the framework was removed, call
        ``frameworkRemoved`` and register a new framework instead of stopping.
    :param detector: a ready :class:`MasterDetector` (tests); built from ``master`` if None.
    """

    def __init__(
        self,
        master: str,
        framework_info: Mapping[str, Any],
        callbacks: SchedulerCallbacks,
        *,
        session: requests.Session | None = None,
        heartbeat_grace: float = 5.0,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        principal: str | None = None,
        secret: str | None = None,
        timeout: float = 10.0,
        abort_on_error: bool = True,
        detector: MasterDetector | None = None,
        register_when_removed: bool = False,
        tls: bool = False,
        ca_file: str | None = None,
        client_cert: str | None = None,
        client_key: str | None = None,
    ) -> None:
        if heartbeat_grace <= 0 or backoff_initial <= 0 or backoff_max < backoff_initial or timeout <= 0:
            raise ValueError(
                "heartbeat_grace, backoff_initial and timeout must be > 0 and backoff_max >= backoff_initial"
            )
        if client_key and not client_cert:
            raise ValueError("client_key needs client_cert")
        tls = tls or bool(ca_file or client_cert)
        self._detector = detector or MasterDetector(master, tls=tls)
        self._spec_text = redact(master)
        self._framework_info = copy.deepcopy(dict(framework_info))
        self._callbacks = callbacks
        self._heartbeat_grace = heartbeat_grace
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._timeout = timeout
        self._abort_on_error = abort_on_error
        self._register_when_removed = register_when_removed
        self._auth = requests.auth.HTTPBasicAuth(principal, secret or "") if principal else None

        self._own_session = session is None
        self._session = session or requests.Session()
        # Given with every request as well: requests lets REQUESTS_CA_BUNDLE (often set
        # system-wide) override a session's own verify, which would drop the cluster's CA.
        self._ca_file = ca_file
        if ca_file:
            self._session.verify = ca_file
        if client_cert:
            self._session.cert = (client_cert, client_key) if client_key else client_cert
        self._stream_session = self._new_session()
        # ACCEPTs sent side by side (accept_encoded_many): a pool of threads, a session each
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._pool_sessions: list[requests.Session] = []
        self._local = threading.local()

        self._lock = threading.Lock()  # guards the fields below
        self._call_lock = threading.Lock()  # serialises calls on self._session
        self._framework_id: str | None = value_of(self._framework_info.get("id"))
        self._scheme = self._detector.scheme
        self._master: str | None = None
        self._stream_id: str | None = None
        self._heartbeat_interval: float | None = None
        self._response: requests.Response | None = None
        self._socket: socket.socket | None = None
        self._subscribed_once = False
        self._abort_message: str | None = None
        self._last_event_at: float | None = None
        self._subscribed_at = 0.0

        self._stopping = threading.Event()
        self._tearing_down = threading.Event()
        self._connected = threading.Event()
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ properties

    @property
    def connected(self) -> bool:
        """True between a SUBSCRIBED event and the loss of that stream."""
        return self._connected.is_set()

    @property
    def framework_id(self) -> str | None:
        """The FrameworkID: the one given in framework_info, or the one Mesos assigned."""
        return self._framework_id

    @property
    def framework_info(self) -> dict[str, Any]:
        """A copy of the FrameworkInfo the next SUBSCRIBE sends (its id is the current FrameworkID)."""
        with self._lock:
            return copy.deepcopy(self._framework_info)

    @property
    def scheme(self) -> str:
        """``http`` or ``https``: how the masters are reached."""
        return self._scheme

    @property
    def master(self) -> str | None:
        """``host:port`` of the master we subscribed with (after redirects), if any yet."""
        return self._master

    @property
    def stream_id(self) -> str | None:
        """The ``Mesos-Stream-Id`` of the current subscription."""
        return self._stream_id

    @property
    def heartbeat_interval(self) -> float | None:
        """``heartbeat_interval_seconds`` from the last SUBSCRIBED, if the master sends heartbeats."""
        return self._heartbeat_interval

    @property
    def aborted(self) -> str | None:
        """The error that stopped the client for good, or None."""
        return self._abort_message

    @property
    def last_event_at(self) -> float | None:
        """``time.monotonic()`` of the last event received (heartbeats included), for health checks."""
        return self._last_event_at

    @property
    def running(self) -> bool:
        """True while the event thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Start the event thread (daemon). Returns at once; see :meth:`wait_connected`."""
        if self._thread is not None:
            raise RuntimeError("MesosSchedulerClient.start() called twice")
        self._thread = threading.Thread(target=self._run, name="mesos-scheduler-events", daemon=True)
        self._thread.start()

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Block until subscribed (True) or ``timeout`` passes (False)."""
        return self._connected.wait(timeout)

    def stop(self, timeout: float | None = 10.0) -> None:
        """Close the stream and wait up to ``timeout`` for the event thread to end.

        This never tears the framework down: Mesos keeps its tasks for the framework's
        failover_timeout, so another instance (or this one, restarted) can take over.
        Use :meth:`teardown` to end the framework. Safe to call from a callback.
        """
        self._stopping.set()
        self._interrupt_stream()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)
        self._connected.clear()
        self._detector.close()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if not self.running:
            self._stream_session.close()
            for pooled in self._pool_sessions:
                pooled.close()
            if self._own_session:
                self._session.close()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the event thread to end (after :meth:`stop` or an abort). True if it did."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def run(self) -> None:
        """start() then join(): for a process that does nothing else."""
        self.start()
        self.join()

    # ------------------------------------------------------------------ event loop

    def _run(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            reason = "the event stream ended"
            try:
                self._subscribe_and_read()
            except _Abort as exc:
                self._abort(str(exc))
                return
            except _Removed as exc:
                reason = self._forget_removed_framework(str(exc))
            except _Retry as exc:
                reason = str(exc)
            except Exception as exc:  # network errors, a corrupt stream, a closed socket
                reason = self._describe_failure(exc)
            finally:
                self._close_stream()
            if self._tearing_down.is_set():
                # The master closes our stream as it removes the framework, possibly
                # before the TEARDOWN call has its answer: wait for that answer rather
                # than report a disconnection (teardown() stops us, or clears the flag).
                deadline = time.monotonic() + self._timeout + 1.0
                while self._tearing_down.is_set() and not self._stopping.is_set():
                    if time.monotonic() > deadline:
                        break
                    self._stopping.wait(0.05)
            if self._stopping.is_set():
                break
            if self._connected.is_set():
                self._connected.clear()
                # Back off from scratch only after a subscription that held for a while:
                # a master that accepts and drops us at once must not get a tight loop.
                if time.monotonic() - self._subscribed_at >= self._backoff_max:
                    failures = 0
                log.warning("Mesos subscription with %s lost (%s); re-subscribing", self._master, reason)
                self._callback("disconnected")
            else:
                log.warning(
                    "subscribing with Mesos master %s failed: %s",
                    self._master or self._spec_text,
                    reason,
                )
            delay = min(self._backoff_max, self._backoff_initial * (2**failures)) * random.uniform(0.5, 1.0)
            failures = min(failures + 1, 32)
            self._stopping.wait(delay)
        self._connected.clear()
        log.info("Mesos scheduler client stopped")

    def _describe_failure(self, exc: Exception) -> str:
        """Say "heartbeats stopped" rather than "read timed out" when that is what it was."""
        timed_out = isinstance(exc, (TimeoutError, urllib3.exceptions.ReadTimeoutError)) or isinstance(
            exc.__context__, TimeoutError
        )
        interval = self._heartbeat_interval
        if timed_out and self._connected.is_set() and interval:
            return (
                f"no event for {interval * self._heartbeat_grace:g}s "
                f"(heartbeat interval {interval:g}s x grace {self._heartbeat_grace:g}); network partition?"
            )
        return f"{type(exc).__name__}: {exc}"

    def _forget_removed_framework(self, message: str) -> str:
        """The master removed our framework: tell the callbacks, then subscribe as a new one."""
        with self._lock:
            removed, self._framework_id = self._framework_id, None
            self._framework_info.pop("id", None)
            # the next SUBSCRIBED is a first registration: ``registered`` with the new id
            self._subscribed_once = False
        log.warning(
            "Mesos master %s removed framework %s (%s); registering a new framework",
            self._master or self._spec_text,
            removed,
            message,
        )
        if removed:
            self._callback("frameworkRemoved", removed, message)
        return f"framework {removed} was removed: {message}"

    def _abort(self, message: str) -> None:
        self._abort_message = message
        self._connected.clear()
        self._stopping.set()
        log.error("Mesos scheduler client aborting: %s", message)
        self._callback("error", message)

    def _subscribe_call(self) -> dict[str, Any]:
        with self._lock:
            info = copy.deepcopy(self._framework_info)
        call: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
        if self._framework_id:
            info["id"] = {"value": self._framework_id}
            call["framework_id"] = {"value": self._framework_id}
        return call

    def _subscribe_and_read(self) -> None:
        try:
            master = self._detector.detect()
        except MasterDetectionError as exc:
            raise _Retry(str(exc)) from exc
        try:
            self._detector.watch(self._on_leader_change)  # once; a no-op for HOST:PORT
        except MasterDetectionError as exc:
            log.warning("cannot watch for Mesos leader changes: %s", exc)
        scheme = self._detector.scheme
        body = json.dumps(self._subscribe_call()).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Connection": "keep-alive",
            "Accept-Encoding": "identity",  # RecordIO lengths count the bytes on the wire
        }
        for _hop in range(MAX_REDIRECTS + 1):
            with self._lock:
                self._master, self._scheme = master, scheme
            url = f"{scheme}://{master}{API_PATH}"
            log.debug("SUBSCRIBE to %s (framework id %s)", url, self._framework_id)
            response = self._stream_session.post(
                url,
                data=body,
                headers=headers,
                stream=True,
                timeout=(self._timeout, self._timeout),
                allow_redirects=False,
                auth=self._auth,
                verify=self._ca_file,
            )
            with self._lock:
                self._response, self._socket = response, _stream_socket(response)
            if self._stopping.is_set():
                return
            if response.status_code != 307:
                break
            location = response.headers.get("Location", "")
            self._close_stream()
            try:
                scheme, master = _redirect_target(location, scheme)
            except ValueError as exc:
                raise _Retry(f"{url} answered 307: {exc}") from exc
            log.info("Mesos master at %s is not the leader; redirected to %s", url, master)
        else:
            raise _Retry(f"more than {MAX_REDIRECTS} redirects while subscribing")

        status = response.status_code
        if status != 200:
            text = _response_text(response, streamed=True)
            if status == 503:
                raise _Retry(f"master {master} answered HTTP 503 (no leader elected yet?): {text}")
            if 400 <= status < 500 and self._removal_applies(text):
                raise _Removed(text)
            if 400 <= status < 500 and status not in (408, 429):
                raise _Abort(f"Mesos master {master} refused SUBSCRIBE with HTTP {status}: {text}")
            raise _Retry(f"master {master} answered SUBSCRIBE with HTTP {status}: {text}")

        with self._lock:
            self._stream_id = response.headers.get(STREAM_ID_HEADER)
        decoder = recordio.Decoder()
        for chunk in self._chunks(response):
            for record in decoder.feed(chunk):
                if self._stopping.is_set():
                    return
                self._last_event_at = time.monotonic()
                try:
                    event = json.loads(record)
                except ValueError as exc:
                    raise _Retry(f"undecodable event from {master}: {exc}") from exc
                self._dispatch(event)
        if decoder.buffered:
            raise _Retry(f"the event stream from {master} ended inside a record")

    @staticmethod
    def _chunks(response: requests.Response) -> Iterator[bytes]:
        """Body bytes as they arrive. Never waits to fill a buffer: an event must be
        handled when its last byte is in, not when the next one comes."""
        raw = response.raw
        if getattr(raw, "chunked", False) and raw.supports_chunked_reads():
            for chunk in raw.read_chunked(None, decode_content=False):
                if chunk:
                    yield chunk
            return
        while chunk := raw.read1(65536):
            yield chunk

    def _interrupt_stream(self) -> None:
        """Wake the event thread out of its blocking read (stop, leader change)."""
        with self._lock:
            sock, response = self._socket, self._response
        if sock is not None:
            # shutdown() wakes a recv() blocked in another thread; close() would not.
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        elif response is not None:
            with contextlib.suppress(Exception):
                response.close()

    def _close_stream(self) -> None:
        with self._lock:
            response, self._response, self._socket = self._response, None, None
            self._stream_id = None
        if response is not None:
            try:
                response.close()
            except Exception:
                log.debug("closing the event stream failed", exc_info=True)

    def _on_leader_change(self, leader: str | None) -> None:
        """ZooKeeper names a new leader: drop a stream to the old one and re-subscribe."""
        current = self._master
        if leader and current and leader != current and self._connected.is_set():
            log.warning("Mesos leader changed from %s to %s; re-subscribing", current, leader)
            self._interrupt_stream()

    # ------------------------------------------------------------------ events

    def _callback(self, name: str, *args: Any) -> None:
        try:
            getattr(self._callbacks, name)(self, *args)
        except Exception:
            log.exception("Scheduler callback %s raised; the event stream goes on", name)

    def _dispatch(self, event: Mapping[str, Any]) -> None:
        kind = event.get("type")
        body = event_body(event)
        if kind == "SUBSCRIBED":
            self._on_subscribed(body)
        elif kind == "HEARTBEAT":
            self._callback("heartbeat")
        elif kind == "OFFERS":
            offers = list(body.get("offers") or [])
            if offers:
                self._callback("resourceOffers", offers)
        elif kind == "RESCIND":
            offer_id = value_of(body.get("offer_id"))
            if offer_id:
                self._callback("offerRescinded", offer_id)
        elif kind == "UPDATE":
            status = body.get("status")
            if isinstance(status, dict):
                self._callback("statusUpdate", status)
        elif kind == "MESSAGE":
            data = base64.b64decode(body.get("data") or "")
            self._callback("frameworkMessage", value_of(body.get("executor_id")), value_of(body.get("agent_id")), data)
        elif kind == "FAILURE":
            agent_id, executor_id = value_of(body.get("agent_id")), value_of(body.get("executor_id"))
            if executor_id:
                self._callback("executorLost", executor_id, agent_id, body.get("status"))
            elif agent_id:
                self._callback("agentLost", agent_id)
        elif kind == "ERROR":
            message = body.get("message") or event.get("message") or "unknown error"
            if self._removal_applies(message):
                raise _Removed(message)
            if self._abort_on_error:
                raise _Abort(f"Mesos master sent ERROR: {message}")
            log.error("Mesos master sent ERROR: %s; re-subscribing", message)
            self._callback("error", message)
            raise _Retry(f"ERROR event: {message}")
        elif kind in ("INVERSE_OFFERS", "RESCIND_INVERSE_OFFER", "UPDATE_OPERATION_STATUS"):
            log.debug("ignoring %s event", kind)
        else:
            log.warning("ignoring unknown Mesos event type %r", kind)

    def _removal_applies(self, message: str) -> bool:
        """Whether ``message`` removes the FrameworkID we hold and we are to register anew."""
        return self._register_when_removed and bool(self._framework_id) and framework_removed(message)

    def _on_subscribed(self, subscribed: Mapping[str, Any]) -> None:
        framework_id = value_of(subscribed.get("framework_id"))
        if not framework_id:
            raise _Retry("SUBSCRIBED event without a framework_id")
        interval = subscribed.get("heartbeat_interval_seconds")
        interval = float(interval) if isinstance(interval, (int, float)) and interval > 0 else None
        master_info = dict(subscribed.get("master_info") or {})
        with self._lock:
            previous = self._framework_id
            self._framework_id = framework_id
            self._heartbeat_interval = interval
            sock = self._socket
        if previous and previous != framework_id:
            log.warning("Mesos assigned FrameworkID %s instead of the requested %s", framework_id, previous)
        # Heartbeat watchdog: a read that waits longer than the grace period raises, and
        # the loop re-subscribes. Without heartbeats there is nothing to time, so wait.
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.settimeout(interval * self._heartbeat_grace if interval else None)
        first = not self._subscribed_once
        self._subscribed_once = True
        self._subscribed_at = time.monotonic()
        self._connected.set()
        log.info(
            "%s with Mesos master %s as framework %s (heartbeat every %ss)",
            "subscribed" if first else "re-subscribed",
            self._master,
            framework_id,
            interval,
        )
        if first:
            self._callback("registered", framework_id, master_info)
        else:
            self._callback("reregistered", master_info)

    # ------------------------------------------------------------------ calls

    def _new_session(self) -> requests.Session:
        """A session with the same TLS and proxy settings as the one calls are made on."""
        session = requests.Session()
        session.verify = self._session.verify
        session.cert = self._session.cert
        session.proxies = dict(self._session.proxies)
        session.trust_env = self._session.trust_env
        return session

    def _thread_session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new_session()
            with self._lock:
                self._pool_sessions.append(session)
        return session

    def _call(
        self,
        call_type: str,
        body: Mapping[str, Any] | None = None,
        *,
        encoded: bytes | None = None,
        session: requests.Session | None = None,
    ) -> None:
        """POST one call; raise :class:`MesosCallError` unless the master answers 2xx.

        ``encoded``: the call's body already as JSON (see :func:`encode_accept`).
        ``session``: a session of the calling thread's own; calls on the shared
        session are made one at a time.
        """
        framework_id = self._framework_id
        if not self._connected.is_set() or not framework_id:
            raise MesosNotConnected(None, "not subscribed with a Mesos master", call_type)
        data = encode_call(call_type, framework_id, body, encoded=encoded)
        with self._call_lock if session is None else contextlib.nullcontext():
            with self._lock:
                scheme, master, stream_id = self._scheme, self._master, self._stream_id
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            if stream_id:
                headers[STREAM_ID_HEADER] = stream_id
            for _hop in range(MAX_REDIRECTS + 1):
                url = f"{scheme}://{master}{API_PATH}"
                try:
                    response = (session or self._session).post(
                        url,
                        data=data,
                        headers=headers,
                        timeout=self._timeout,
                        allow_redirects=False,
                        auth=self._auth,
                        verify=self._ca_file,
                    )
                except requests.RequestException as exc:
                    raise MesosCallError(None, f"{url}: {exc}", call_type) from exc
                if response.status_code != 307:
                    break
                try:
                    scheme, master = _redirect_target(response.headers.get("Location", ""), scheme)
                except ValueError as exc:
                    raise MesosCallError(307, str(exc), call_type) from exc
                log.info("%s call redirected to Mesos master %s", call_type, master)
                with self._lock:
                    self._scheme, self._master = scheme, master
            else:
                raise MesosCallError(307, f"more than {MAX_REDIRECTS} redirects", call_type)
        if not 200 <= response.status_code < 300:
            raise MesosCallError(response.status_code, _response_text(response), call_type)
        log.debug("%s call accepted (HTTP %s)", call_type, response.status_code)

    def accept(
        self,
        offer_ids: str | Sequence[str],
        operations: Sequence[Mapping[str, Any]],
        filters: Mapping[str, Any] | None = None,
    ) -> None:
        """ACCEPT offers (all from one agent) with Offer.Operation dicts, in order.

        Whatever the operations leave unused is declined; ``filters`` (e.g.
        ``{"refuse_seconds": 5}``) applies to that remainder.
        """
        self._call("ACCEPT", accept_body(offer_ids, operations, filters))

    def accept_encoded(self, encoded: bytes) -> None:
        """ACCEPT with a body built beforehand by :func:`encode_accept`."""
        self._call("ACCEPT", encoded=encoded)

    def accept_encoded_many(self, bodies: Sequence[bytes]) -> list[BaseException | None]:
        """Several ACCEPTs (of different offers) at once, each on its own connection.

        Sent one after the other, the ACCEPT for the last of sixteen offers waits for the
        master to have answered the fifteen before it; side by side, they all leave on
        the second. Returns, per body, the error of its call (None: accepted).
        """
        if len(bodies) == 1:
            try:
                self.accept_encoded(bodies[0])
                return [None]
            except Exception as exc:  # noqa: BLE001 - reported per call, like the others
                return [exc]
        with self._lock:
            if self._pool is None:
                self._pool = concurrent.futures.ThreadPoolExecutor(
                    max_workers=ACCEPT_PARALLEL, thread_name_prefix="mesos-accept"
                )
            pool = self._pool

        def send(body: bytes) -> None:
            self._call("ACCEPT", encoded=body, session=self._thread_session())

        futures = [pool.submit(send, body) for body in bodies]
        out: list[BaseException | None] = []
        for future in futures:
            try:
                out.append(future.exception())
            except concurrent.futures.CancelledError as exc:  # the client stopped meanwhile
                out.append(exc)
        return out

    def launch(
        self,
        offer_ids: str | Sequence[str],
        task_infos: Sequence[Mapping[str, Any]],
        filters: Mapping[str, Any] | None = None,
    ) -> None:
        """ACCEPT with one LAUNCH of several TaskInfos (several tasks packed into one offer)."""
        self.accept(offer_ids, [launch_operation(task_infos)], filters)

    def decline(self, offer_ids: str | Sequence[str], refuse_seconds: float | None = None) -> None:
        """DECLINE offers; ``refuse_seconds`` keeps those resources away that long (Mesos default 5 s)."""
        self._call("DECLINE", decline_body(offer_ids, refuse_seconds))

    def kill(self, task_id: str, agent_id: str | None = None, kill_policy: Mapping[str, Any] | None = None) -> None:
        """KILL a task. An unknown task comes back as TASK_LOST (or TASK_DROPPED/UNKNOWN).

        ``kill_policy`` (``{"grace_period": {"nanoseconds": N}}``) overrides the task's
        own: how long it has between SIGTERM and SIGKILL.
        """
        self._call("KILL", kill_body(task_id, agent_id, kill_policy))

    def update_framework_info(self, info: Mapping[str, Any]) -> None:
        """Change the FrameworkInfo (capabilities, roles, ...) of this framework.

        Every later SUBSCRIBE sends ``info``. If subscribed, the master is told at once
        with UPDATE_FRAMEWORK (Mesos 1.9 and later); a master that refuses that call is
        told by subscribing again. Note that a master keeps ``user``, ``principal`` and
        ``checkpoint`` as the framework first registered them.
        """
        kept = copy.deepcopy(dict(info))
        kept.pop("id", None)
        with self._lock:
            self._framework_info = kept
        if not self._connected.is_set():
            return  # the next SUBSCRIBE carries it
        try:
            self._call("UPDATE_FRAMEWORK", {"framework_info": self._subscribe_call()["subscribe"]["framework_info"]})
            log.info("framework %s updated", self._framework_id)
        except MesosCallError as exc:
            log.warning("UPDATE_FRAMEWORK failed (%s); subscribing again with the new FrameworkInfo", exc)
            self._interrupt_stream()

    def acknowledge(self, agent_id: str, task_id: str, uuid: str) -> None:
        """ACKNOWLEDGE one status update; ``uuid`` is the status's base64 uuid, unchanged."""
        self._call("ACKNOWLEDGE", acknowledge_body(agent_id, task_id, uuid))

    def acknowledge_status(self, status: Mapping[str, Any]) -> bool:
        """Acknowledge ``status`` if it needs it (has a uuid and an agent). True if sent.

        Updates without a uuid (e.g. answers to reconciliation) are not retried by Mesos
        and must not be acknowledged.
        """
        uuid, agent_id, task_id = (
            status_uuid(status),
            value_of(status.get("agent_id")),
            value_of(status.get("task_id")),
        )
        if not uuid or not agent_id or not task_id:
            return False
        self.acknowledge(agent_id, task_id, uuid)
        return True

    def reconcile(self, tasks: Iterable[tuple[str, str | None]] = ()) -> None:
        """RECONCILE. An empty list asks for every task Mesos knows (implicit
        reconciliation); ``(task_id, agent_id)`` pairs ask about those tasks (explicit),
        and Mesos answers TASK_LOST (or a newer unknown/gone state) for ones it does not know.
        """
        self._call("RECONCILE", reconcile_body(tasks))

    def revive(self, roles: Sequence[str] | None = None) -> None:
        """REVIVE: clear decline filters and resume offers (for ``roles``, or all roles)."""
        self._call("REVIVE", roles_body(roles))

    def suppress(self, roles: Sequence[str] | None = None) -> None:
        """SUPPRESS offers (for ``roles``, or all roles) until the next REVIVE."""
        self._call("SUPPRESS", roles_body(roles))

    def message(self, agent_id: str, executor_id: str, data: bytes) -> None:
        """MESSAGE: best-effort bytes to an executor."""
        self._call("MESSAGE", message_body(agent_id, executor_id, data))

    def shutdown(self, executor_id: str, agent_id: str) -> None:
        """SHUTDOWN a custom executor (and so its tasks)."""
        self._call("SHUTDOWN", shutdown_body(executor_id, agent_id))

    def teardown(self) -> None:
        """TEARDOWN: Mesos kills every task of the framework and forgets it. Then stops
        this client, since the FrameworkID can never subscribe again."""
        self._tearing_down.set()
        try:
            self._call("TEARDOWN")
        except BaseException:
            self._tearing_down.clear()
            raise
        log.warning("framework %s torn down", self._framework_id)
        self.stop(timeout=self._timeout)


def _response_text(response: requests.Response, *, streamed: bool = False) -> str:
    """The master's explanation, trimmed; from a streamed response read at most 64 KiB,
    so a misbehaving server cannot keep us reading forever."""
    if not streamed:
        return response.text.strip() or response.reason or ""
    try:
        data = response.raw.read(64 * 1024, decode_content=True) or b""
    except Exception:
        data = b""
    return data.decode("utf-8", "replace").strip() or response.reason or ""
