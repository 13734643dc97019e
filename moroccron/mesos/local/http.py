"""One HTTP server for every role of the local cluster.

* the master: ``/api/v1/scheduler`` (SUBSCRIBE opens a chunked RecordIO event stream),
  ``/version``, ``/master/state`` (alias ``/state``), ``/health``, ``/master/redirect``,
  and the operator endpoints ``/master/teardown`` and ``/master/maintenance/schedule``;
* every agent: ``/files/read``, ``/files/browse``, ``/files/download`` over the sandboxes
  under ``work_dir``, and ``/agents/<agent-id>/state`` (the agent ``/state`` shape);
* test controls under ``/__local__/...``, so that a test in another process can kill,
  partition and reconnect agents, fail the master over, remove a framework, make calls
  fail, and look inside.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import logging
import pwd
import queue
import select
import socket
import ssl
import stat
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from moroccron.mesos import proto
from moroccron.mesos.local.agents import AgentSpec
from moroccron.mesos.local.state import MESOS_VERSION, _CallError, _Close, _Stream

if TYPE_CHECKING:
    from moroccron.mesos.local.master import LocalMaster

log = logging.getLogger("moroccron.mesos.local")

_MAX_BODY = 64 * 1024 * 1024
_MAX_FILE_READ = 16 * 1024 * 1024


class _Cut(Exception):
    """End the connection without an answer (a call made to fail by a test control)."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def make_server(master: LocalMaster, address: tuple[str, int], context: ssl.SSLContext | None) -> _Server:
    handler = type("_BoundHandler", (_Handler,), {"master": master})
    server = _Server(address, handler)
    if context is not None:
        # The handshake happens in the connection's own thread (see _Handler.setup), so a
        # slow client does not hold up the accept loop.
        server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    return server


class _Handler(BaseHTTPRequestHandler):
    """Routes every endpoint of the master, the agents and the test controls."""

    master: ClassVar[LocalMaster]
    protocol_version = "HTTP/1.1"
    server_version = "moroccron-local-mesos"

    def setup(self) -> None:
        self.handshake_failed = False
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.settimeout(30)
                self.request.do_handshake()
                self.request.settimeout(None)
            except (ssl.SSLError, OSError) as exc:
                log.info("TLS handshake with %s failed: %s", self.client_address, exc)
                self.handshake_failed = True
        super().setup()
        thread = threading.current_thread()
        thread.name = "moroccron-local-conn"
        with self.master._connections_lock:
            self.master._connections[self.connection] = thread

    def handle(self) -> None:
        if self.handshake_failed:
            return
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            super().handle()

    def finish(self) -> None:
        with contextlib.suppress(OSError):
            super().finish()
        with self.master._connections_lock:
            self.master._connections.pop(self.connection, None)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - base signature
        log.debug("%s %s", self.address_string(), format % args)

    # -- plumbing -----------------------------------------------------------------------

    def _reply(
        self,
        status: int,
        body: bytes | str | Mapping[str, Any] | list[Any] = b"",
        *,
        content_type: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode("utf-8")
            content_type = content_type or "application/json"
        elif isinstance(body, str):
            data = body.encode("utf-8")
            content_type = content_type or "text/plain; charset=utf-8"
        else:
            data = bytes(body)  # type: ignore[arg-type]
        self.send_response(status)
        if content_type and data:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > _MAX_BODY:
                    raise _CallError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        if length > _MAX_BODY:
            raise _CallError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large")
        return self.rfile.read(length) if length else b""

    def _json_body(self) -> Any:
        return self._parse_json(self._read_body())

    @staticmethod
    def _parse_json(body: bytes) -> Any:
        if not body.strip():
            return {}
        try:
            return json.loads(body)
        except ValueError as exc:
            raise _CallError(HTTPStatus.BAD_REQUEST, f"Failed to parse body into JSON: {exc}") from None

    def _query(self) -> dict[str, str]:
        query = urllib.parse.urlsplit(self.path).query
        return {k: v[-1] for k, v in urllib.parse.parse_qs(query, keep_blank_values=True).items()}

    def _route(self) -> str:
        return urllib.parse.unquote(urllib.parse.urlsplit(self.path).path).rstrip("/") or "/"

    # -- methods -------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802 - http.server naming
        try:
            self._get()
        except _CallError as exc:
            self._reply(exc.status, exc.message + "\n")
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            log.exception("GET %s failed", self.path)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {exc}\n")

    def do_HEAD(self) -> None:  # noqa: N802
        self.do_GET()

    def do_POST(self) -> None:  # noqa: N802
        try:
            self._post()
        except _Cut:
            self._cut()
        except _CallError as exc:
            if exc.status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
                self.close_connection = True  # the unread body would be taken for a request
            headers = {"WWW-Authenticate": 'Basic realm="mesos"'} if exc.status == HTTPStatus.UNAUTHORIZED else None
            self._reply(exc.status, exc.message + "\n", headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:
            log.exception("POST %s failed", self.path)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {exc}\n")

    def _cut(self) -> None:
        """Hang up without an answer, as a connection lost in flight."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _not_allowed(self) -> None:
        self._read_body()
        self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "Method not allowed\n", headers={"Allow": "GET, POST"})

    do_PUT = do_DELETE = do_PATCH = _not_allowed

    def _get(self) -> None:
        master = self.master
        route = self._route()
        if route == "/version":
            self._reply(
                200,
                {"version": MESOS_VERSION, "build_date": "", "build_time": 0, "build_user": "moroccron", "git_sha": ""},
            )
        elif route in ("/health", "/master/health"):
            self._reply(200)
        elif route in ("/master/state", "/state", "/master/state.json", "/state.json"):
            self._reply(200, master.state())
        elif route == "/master/redirect":
            leader = master.leader or master.address
            self._reply(HTTPStatus.TEMPORARY_REDIRECT, headers={"Location": f"//{leader}/master"})
        elif route == "/master/maintenance/schedule":
            self._reply(200, master.maintenance_schedule())
        elif route.startswith(("/agents/", "/slave(")) and route.endswith("/state"):
            # /slave(<id>)/state is how a real agent's libprocess id addresses it (its pid)
            agent_id = (
                route[len("/agents/") : -len("/state")]
                if route.startswith("/agents/")
                else route[len("/slave(") : -len(")/state")]
            )
            state = master.agent_state(agent_id)
            if state is None:
                self._reply(404, f"No agent '{agent_id}'\n")
            else:
                self._reply(200, state)
        elif route in ("/files/read", "/files/read.json"):
            self._files_read()
        elif route in ("/files/browse", "/files/browse.json"):
            self._files_browse()
        elif route == "/files/download":
            self._files_download()
        elif route.startswith("/__local__/"):
            self._get_control(route[len("/__local__/") :])
        elif route == "/api/v1/scheduler":
            self._reply(HTTPStatus.METHOD_NOT_ALLOWED, "Expecting a 'POST' request\n", headers={"Allow": "POST"})
        else:
            self._reply(404, f"No endpoint {route}\n")

    def _get_control(self, name: str) -> None:
        master = self.master
        views: dict[str, Callable[[], Any]] = {
            "tasks": master.tasks,
            "frameworks": master.frameworks,
            "removed-frameworks": master.removed_frameworks,
            "agents": master.agents,
            "offers": master.offers,
            "inverse-offers": master.inverse_offers,
            "conflicts": master.task_id_conflicts,
            "accepted-calls": lambda: list(master.accepted_calls),
            "received-calls": lambda: list(master.received_calls),
            "counters": lambda: {
                "revive": master.revive_count,
                "suppress": master.suppress_count,
                "dropped_reconciliations": master.dropped_reconciliations,
            },
        }
        view = views.get(name)
        if view is None:
            self._reply(404, f"No endpoint /__local__/{name}\n")
        else:
            self._reply(200, view())

    def _post(self) -> None:
        route = self._route()
        if route == "/api/v1/scheduler":
            self._scheduler()
            return
        master = self.master
        if route == "/master/teardown":
            # The operator endpoint: a form body frameworkId=<id>.
            form = urllib.parse.parse_qs(self._read_body().decode("utf-8", "replace"))
            framework_id = (form.get("frameworkId") or [""])[-1]
            if not framework_id:
                raise _CallError(HTTPStatus.BAD_REQUEST, "Missing 'frameworkId' query parameter")
            try:
                master.remove_framework(framework_id)
            except KeyError:
                raise _CallError(HTTPStatus.BAD_REQUEST, "No framework found with specified ID") from None
            self._reply(200)
        elif route == "/master/maintenance/schedule":
            self._maintenance_schedule(self._json_body())
            self._reply(200)
        elif route.startswith("/__local__/"):
            self._post_control(route[len("/__local__/") :], self._json_body())
        else:
            self._read_body()
            self._reply(404, f"No endpoint {route}\n")

    def _maintenance_schedule(self, schedule: Any) -> None:
        """POST /master/maintenance/schedule: windows of machines, by hostname."""
        master = self.master
        try:
            windows = schedule.get("windows") or []
            planned: dict[str, tuple[float, float | None]] = {}
            for window in windows:
                unavailability = window["unavailability"]
                start = int(unavailability["start"]["nanoseconds"]) / 1e9
                duration = unavailability.get("duration")
                length = int(duration["nanoseconds"]) / 1e9 if duration is not None else None
                for machine in window.get("machine_ids") or []:
                    planned[str(machine.get("hostname") or machine.get("ip"))] = (start, length)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise _CallError(HTTPStatus.BAD_REQUEST, f"Invalid maintenance schedule: {exc!r}") from None
        for agent in master.agents():
            window = planned.get(agent["hostname"])
            if window is not None:
                master.set_maintenance(agent["id"], *window)
            elif agent["unavailability"] is not None:
                master.clear_maintenance(agent["id"])

    def _post_control(self, name: str, data: Any) -> None:
        master = self.master
        if not isinstance(data, dict):
            raise _CallError(HTTPStatus.BAD_REQUEST, "expected a JSON object")
        parts = name.split("/")
        try:
            if name == "agents":
                spec = AgentSpec.from_json(data)
                master.add_agent(spec)
                self._reply(200, {"agent_id": spec.id})
                return
            if len(parts) == 3 and parts[0] == "agents":
                agent_id, action = parts[1], parts[2]
                if action == "kill":
                    master.kill_agent(agent_id, task_state=data.get("task_state"))
                elif action == "partition":
                    master.partition_agent(agent_id, str(data.get("message", "health check timed out")))
                elif action == "reconnect":
                    master.reconnect_agent(agent_id)
                elif action == "maintenance":
                    if data.get("start") is None:
                        master.clear_maintenance(agent_id)
                    else:
                        duration = data.get("duration")
                        master.set_maintenance(
                            agent_id, float(data["start"]), None if duration is None else float(duration)
                        )
                else:
                    raise _CallError(HTTPStatus.NOT_FOUND, f"No endpoint /__local__/{name}")
                self._reply(200, {"agent_id": agent_id})
            elif len(parts) == 3 and parts[0] == "frameworks":
                framework_id, action = parts[1], parts[2]
                if action == "remove":
                    master.remove_framework(framework_id, data.get("message"))
                elif action == "error":
                    master.send_error(
                        framework_id,
                        str(data.get("message", "Framework has been removed")),
                        close=bool(data.get("close", True)),
                    )
                else:
                    raise _CallError(HTTPStatus.NOT_FOUND, f"No endpoint /__local__/{name}")
                self._reply(200, {"framework_id": framework_id})
            elif name == "restart":
                delays = data.get("agent_delays")
                master.restart_master(
                    agent_reregister_delay=data.get("agent_reregister_delay", 0.0),
                    agent_reregister_timeout=float(data.get("agent_reregister_timeout", 600.0)),
                    agent_delays=dict(delays) if delays else None,
                )
                self._reply(200, {"master_id": master.master_id})
            elif name == "drop-streams":
                master.drop_streams()
                self._reply(200, {})
            elif name == "pause-heartbeats":
                if not isinstance(data.get("seconds"), (int, float)):
                    raise _CallError(HTTPStatus.BAD_REQUEST, 'expected {"seconds": N}')
                master.pause_heartbeats(float(data["seconds"]))
                self._reply(200, {})
            elif name == "fail-calls":
                master.fail_calls(
                    str(data.get("type", "ACCEPT")), int(data.get("count", 1)), str(data.get("mode", "after"))
                )
                self._reply(200, {})
            elif name == "images":
                if not isinstance(data.get("name"), str) or not data["name"]:
                    raise ValueError('expected {"name": IMAGE, "entrypoint": [...], "cmd": [...], "env": {...}}')
                master.add_image(data["name"], {k: v for k, v in data.items() if k != "name"})
                self._reply(200, {"image": data["name"]})
            else:
                raise _CallError(HTTPStatus.NOT_FOUND, f"No endpoint /__local__/{name}")
        except KeyError as exc:
            raise _CallError(HTTPStatus.NOT_FOUND, str(exc.args[0] if exc.args else exc)) from None
        except (ValueError, TypeError) as exc:
            raise _CallError(HTTPStatus.BAD_REQUEST, str(exc)) from None

    # -- the scheduler API --------------------------------------------------------------

    def handle_one_request(self) -> None:
        # The request line is the first thing read once a request's bytes are here: its
        # time is the request's arrival (before the headers, the body and the lock).
        self.arrived: float | None = None
        super().handle_one_request()

    def parse_request(self) -> bool:
        self.arrived = time.time()
        return super().parse_request()

    def _principal(self) -> str | None:
        """HTTP basic authentication, when the master has credentials (else None)."""
        credentials = self.master.credentials
        if credentials is None:
            return None
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            try:
                principal, _, secret = base64.b64decode(token.strip(), validate=True).decode("utf-8").partition(":")
            except (binascii.Error, UnicodeDecodeError):
                principal, secret = "", ""
            if principal in credentials and credentials[principal] == secret:
                return principal
        raise _CallError(HTTPStatus.UNAUTHORIZED, "Unauthorized: the master authenticates frameworks")

    def _scheduler(self) -> None:
        arrived = getattr(self, "arrived", None) or time.time()
        master = self.master
        headers = dict(self.headers.items())
        entry: dict[str, Any] = {"time": arrived, "headers": headers, "body": None, "status": None}
        try:
            self._scheduler_call(entry, arrived)
        except _CallError as exc:
            entry["status"] = int(exc.status)
            entry["error"] = exc.message
            raise
        finally:
            if not entry.pop("recorded", False):
                master.record_call(entry)

    def _scheduler_call(self, entry: dict[str, Any], arrived: float) -> None:
        master = self.master
        leader = master.leader
        if leader is not None:
            self._read_body()
            entry["status"] = 307
            self._reply(
                HTTPStatus.TEMPORARY_REDIRECT,
                f"This master is not the leader; the leader is {leader}\n",
                headers={"Location": f"//{leader}/api/v1/scheduler"},
            )
            return
        raw = self._read_body()  # before any answer: an unread body would be taken for a request
        principal = self._principal()
        problem = proto.content_type_error(self.headers)
        if problem is not None:
            raise _CallError(HTTPStatus(problem.status), problem.message)
        call = self._parse_json(raw)
        entry["body"] = call
        try:
            proto.validate_call(call)
        except proto.ProtoError as exc:
            raise _CallError(HTTPStatus.BAD_REQUEST, f"Failed to validate scheduler::Call: {exc}") from None
        call_type = call["type"]
        for problem in (
            proto.accept_error(call_type, self.headers),
            proto.stream_id_error(call_type, self.headers, None) if call_type == "SUBSCRIBE" else None,
        ):
            if problem is not None:
                raise _CallError(HTTPStatus(problem.status), problem.message)
        failure = master._take_failure(call_type)
        if failure == "before":
            entry["status"] = "cut"
            raise _Cut()
        if failure == "status":
            raise _CallError(HTTPStatus.SERVICE_UNAVAILABLE, "Master has not finished recovery")
        if call_type == "SUBSCRIBE":
            stream = master.subscribe_call(call, principal)
            entry["status"] = 200
            entry["stream_id"] = stream.id
            entry["framework_id"] = stream.framework_id
            if stream.refusal is not None:
                entry["error"] = stream.refusal
            # Recorded when its answer starts, not when the stream ends, so that it comes
            # before the calls made on the stream.
            master.record_call(dict(entry))
            entry["recorded"] = True
            self._serve_stream(stream)
            return
        master.scheduler_call(call, self.headers.get(proto.STREAM_ID), principal, arrived)
        if failure == "after":
            entry["status"] = "cut"
            raise _Cut()
        entry["status"] = 202
        self._reply(HTTPStatus.ACCEPTED)

    def _serve_stream(self, stream: _Stream) -> None:
        master = self.master
        threading.current_thread().name = "moroccron-local-stream"
        stream.sock = self.connection
        self.close_connection = True
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Cache-Control", "no-cache")
            self.send_header(proto.STREAM_ID, stream.id)
            self.end_headers()
            self.wfile.flush()
            graceful = self._pump(stream)
            if graceful:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
        except OSError:
            pass
        finally:
            master._on_stream_end(stream)

    def _pump(self, stream: _Stream) -> bool:
        """Write queued records as chunks until the stream ends; True if it ended cleanly."""
        while True:
            try:
                item = stream.queue.get(timeout=0.2)
            except queue.Empty:
                if self._peer_closed():
                    return False
                continue
            if isinstance(item, _Close):
                return not item.abrupt
            self.wfile.write(b"%x\r\n%s\r\n" % (len(item), item))

    def _peer_closed(self) -> bool:
        """The client hung up (readable socket with nothing to read means EOF)."""
        connection = self.connection
        try:
            readable, _, _ = select.select([connection], [], [], 0)
            if not readable:
                return False
            if isinstance(connection, ssl.SSLSocket):
                # No MSG_PEEK on TLS: a subscriber sends nothing after its request, so
                # whatever is readable is the end (or TLS records that are not data).
                connection.setblocking(False)
                try:
                    return connection.recv(1) == b""
                except ssl.SSLWantReadError:
                    return False
                finally:
                    connection.setblocking(True)
            return bool(connection.recv(1, socket.MSG_PEEK) == b"")
        except OSError:
            return True

    # -- the agents' files API ----------------------------------------------------------

    def _file_path(self, must_exist: bool = True) -> Path:
        raw = self._query().get("path")
        if not raw:
            raise _CallError(HTTPStatus.BAD_REQUEST, "Expecting 'path' query parameter")
        root = self.master.work_dir.resolve()
        path = Path(raw)
        resolved = (path if path.is_absolute() else root / path).resolve()
        if not resolved.is_relative_to(root):
            raise _CallError(HTTPStatus.BAD_REQUEST, f"Path '{raw}' is outside the agents' work directory")
        if must_exist and not resolved.exists():
            raise _CallError(HTTPStatus.NOT_FOUND, f"File '{raw}' not found")
        return resolved

    def _files_read(self) -> None:
        path = self._file_path()
        if path.is_dir():
            raise _CallError(HTTPStatus.BAD_REQUEST, "Cannot read a directory")
        query = self._query()
        try:
            offset = int(query.get("offset", "0") or 0)
            length = int(query["length"]) if query.get("length") not in (None, "") else None
        except ValueError:
            raise _CallError(HTTPStatus.BAD_REQUEST, "'offset' and 'length' must be integers") from None
        if length is not None and length < 0:
            raise _CallError(HTTPStatus.BAD_REQUEST, "Negative length provided")
        size = path.stat().st_size
        if offset == -1:
            self._reply(200, {"data": "", "offset": size})
            return
        if offset < 0:
            raise _CallError(HTTPStatus.BAD_REQUEST, "Negative offset provided")
        if offset >= size:
            self._reply(200, {"data": "", "offset": offset})
            return
        count = min(size - offset, _MAX_FILE_READ if length is None else min(length, _MAX_FILE_READ))
        with open(path, "rb") as handle:
            handle.seek(offset)
            data = handle.read(count)
        self._reply(200, {"data": _utf8_prefix(data).decode("utf-8", "replace"), "offset": offset})

    def _files_browse(self) -> None:
        path = self._file_path()
        if not path.is_dir():
            raise _CallError(HTTPStatus.BAD_REQUEST, f"'{path}' is not a directory")
        entries = []
        for child in sorted(path.iterdir()):
            try:
                info = child.stat()
            except OSError:
                continue
            entries.append(
                {
                    "path": str(child),
                    "size": info.st_size,
                    "mode": stat.filemode(info.st_mode),
                    "mtime": info.st_mtime,
                    "nlink": info.st_nlink,
                    "uid": _user_name(info.st_uid),
                    "gid": str(info.st_gid),
                }
            )
        self._reply(200, entries)

    def _files_download(self) -> None:
        path = self._file_path()
        if path.is_dir():
            raise _CallError(HTTPStatus.BAD_REQUEST, "Cannot download a directory")
        data = path.read_bytes()[:_MAX_BODY]
        self._reply(
            200,
            data,
            content_type="application/octet-stream",
            headers={"Content-Disposition": f'attachment; filename="{path.name}"'},
        )


def _utf8_prefix(data: bytes) -> bytes:
    """Drop a multi-byte UTF-8 character cut by the end of a read.

    ``/files/read`` returns text, and offsets count bytes: a client reads the next chunk
    at ``offset + len(data.encode())``, which only works if no character was cut in half.
    """
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0b1100_0000 == 0b1000_0000:
            continue  # continuation byte: keep looking for the lead byte
        if byte & 0b1000_0000 == 0:
            return data  # ASCII: nothing cut
        needed = 2 if byte >= 0b1100_0000 else 1
        needed = 3 if byte >= 0b1110_0000 else needed
        needed = 4 if byte >= 0b1111_0000 else needed
        return data if back >= needed else data[:-back]
    return data


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)
