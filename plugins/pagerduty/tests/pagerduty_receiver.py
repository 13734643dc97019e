"""A local stand-in for PagerDuty's Events API v2 ``/v2/enqueue``, for the tests.

A real HTTP server on 127.0.0.1 that checks every event against the published format
(https://developer.pagerduty.com/docs/events-api-v2/trigger-events/ and the OpenAPI
document PagerDuty/api-schema reference/events-v2/openapiv3.json) and answers as the
service does: 202 ``{"status": "success", "message": "Event processed", "dedup_key"}``
for a valid event, 400 ``{"status": "invalid event", "message": "Event object is
invalid", "errors": [...]}`` for an invalid one. Tests can script the next answers
(429, 500, a slow answer) to exercise the plugin's error handling.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

PATH = "/v2/enqueue"
EVENT_ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")
TOP_LEVEL = ("routing_key", "event_action", "dedup_key", "payload", "client", "client_url", "links", "images")
PAYLOAD_FIELDS = ("summary", "source", "severity", "timestamp", "component", "group", "class", "custom_details")


def _is_url(value: Any, schemes: tuple[str, ...] = ("http", "https")) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in schemes and bool(parts.netloc)


def validate_event(event: Any) -> list[str]:
    """Every way ``event`` breaks the Events API v2 format; empty when it is valid."""
    if not isinstance(event, dict):
        return ["the event must be a JSON object"]
    problems = [f"unknown field {k!r}" for k in event if k not in TOP_LEVEL]
    key = event.get("routing_key")
    if not isinstance(key, str):
        problems.append("'routing_key' is required and must be a string")
    elif len(key) != 32:
        problems.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in EVENT_ACTIONS:
        problems.append(f"'event_action' must be one of {', '.join(EVENT_ACTIONS)}")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or not dedup):
        problems.append("'dedup_key' must be a non-empty string")
    elif isinstance(dedup, str) and len(dedup) > 255:
        problems.append("'dedup_key' is longer than 255 characters")
    if action in ("acknowledge", "resolve") and dedup is None:
        problems.append(f"'dedup_key' is required for {action} events")
    payload = event.get("payload")
    if action == "trigger" and payload is None:
        problems.append("'payload' is required for trigger events")
    if payload is not None:
        problems.extend(_validate_payload(payload))
    for name in ("client",):
        if name in event and not isinstance(event[name], str):
            problems.append(f"'{name}' must be a string")
    if "client_url" in event and not _is_url(event["client_url"]):
        problems.append("'client_url' must be a URL")
    links = event.get("links", [])
    if not isinstance(links, list):
        problems.append("'links' must be an array")
    else:
        for i, link in enumerate(links):
            if not isinstance(link, dict) or not _is_url(link.get("href")):
                problems.append(f"links[{i}].href is required and must be a URL")
            elif "text" in link and not isinstance(link["text"], str):
                problems.append(f"links[{i}].text must be a string")
            elif set(link) - {"href", "text"}:
                problems.append(f"links[{i}] has unknown fields {sorted(set(link) - {'href', 'text'})}")
    images = event.get("images", [])
    if not isinstance(images, list):
        problems.append("'images' must be an array")
    else:
        for i, image in enumerate(images):
            if not isinstance(image, dict) or not _is_url(image.get("src"), ("https",)):
                problems.append(f"images[{i}].src is required and must be an https URL")
    return problems


def _validate_payload(payload: Any) -> list[str]:
    if not isinstance(payload, dict):
        return ["'payload' must be an object"]
    problems = [f"unknown payload field {k!r}" for k in payload if k not in PAYLOAD_FIELDS]
    summary = payload.get("summary")
    if not isinstance(summary, str) or not summary:
        problems.append("'payload.summary' is required and must be a non-empty string")
    elif len(summary) > 1024:
        problems.append("'payload.summary' is longer than 1024 characters")
    if not isinstance(payload.get("source"), str) or not payload["source"]:
        problems.append("'payload.source' is required and must be a non-empty string")
    if payload.get("severity") not in SEVERITIES:
        problems.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}")
    if "timestamp" in payload:
        try:
            parsed = datetime.fromisoformat(str(payload["timestamp"]))
        except ValueError:
            problems.append("'payload.timestamp' is not an ISO 8601 date-time")
        else:
            if parsed.tzinfo is None:
                problems.append("'payload.timestamp' has no UTC offset")
    for name in ("component", "group", "class"):
        if name in payload and (not isinstance(payload[name], str) or not payload[name]):
            problems.append(f"'payload.{name}' must be a non-empty string")
    if "custom_details" in payload and not isinstance(payload["custom_details"], dict):
        problems.append("'payload.custom_details' must be an object")
    return problems


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class PagerDutyReceiver:
    """Records what it receives (``events``), what was wrong with it (``problems``) and the
    request headers (``headers``); answers scripted with :meth:`answer_next` come first."""

    def __init__(self) -> None:
        self.events: list[Any] = []
        self.problems: list[list[str]] = []
        self.headers: list[dict[str, str]] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="pagerduty-receiver", daemon=True
        )

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}{PATH}"

    def start(self) -> PagerDutyReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> None:
        """Answer the next request this way (after checking it), instead of as PagerDuty would."""
        self._script.append(Answer(status, body, headers or {}, delay))

    def _respond(self, raw: bytes, content_type: str, headers: dict[str, str]) -> Answer:
        with self._lock:
            self.headers.append(headers)
            if not content_type.startswith("application/json"):
                self.events.append(None)
                self.problems.append(["Content-Type is not application/json"])
                return Answer(
                    400,
                    {
                        "status": "Unrecognized object",
                        "message": "Event object format is unrecognized",
                        "errors": ["Content-Type must be application/json"],
                    },
                )
            try:
                event = json.loads(raw)
            except ValueError:
                self.events.append(None)
                self.problems.append(["JSON parse error"])
                return Answer(
                    400,
                    {
                        "status": "Unrecognized object",
                        "message": "Event object format is unrecognized",
                        "errors": ["JSON parse error"],
                    },
                )
            problems = validate_event(event)
            self.events.append(event)
            self.problems.append(problems)
            if self._script:
                return self._script.popleft()
        if problems:
            return Answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": problems})
        dedup = event.get("dedup_key") or uuid.uuid4().hex
        return Answer(202, {"status": "success", "message": "Event processed", "dedup_key": dedup})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_POST(self) -> None:
                if self.path != PATH:
                    self._send(Answer(404, {"status": "Not found", "message": f"no such path {self.path}"}))
                    return
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = receiver._respond(raw, self.headers.get("Content-Type", ""), dict(self.headers.items()))
                if answer.delay:
                    time.sleep(answer.delay)
                self._send(answer)

            def _send(self, answer: Answer) -> None:
                payload = b"" if answer.body is None else json.dumps(answer.body).encode()
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler
