"""A local stand-in for Slack's incoming webhooks and ``chat.postMessage``, for the tests.

A real HTTP server on 127.0.0.1 that checks every message against Slack's published
formats and answers as Slack does:

- incoming webhook (``POST /services/T.../B.../secret``): ``200 ok`` as text; a bad
  message gets ``400 invalid_blocks`` (or ``invalid_payload``), an unknown path
  ``404 no_service``.
- Web API (``POST /api/chat.postMessage``): always JSON; ``Authorization: Bearer <token>``
  is required (``not_authed`` / ``invalid_auth`` otherwise), unknown channels get
  ``channel_not_found``, bad blocks ``invalid_blocks``, a good message
  ``{"ok": true, "channel": ..., "ts": ..., "message": ...}``.

Limits checked (https://docs.slack.dev/reference/block-kit/blocks): at most 50 blocks;
header text is plain_text of 1-150 characters; section text 1-3000 characters, at most
10 fields of 1-2000; context 1-10 elements; block_id at most 255; known keys only.
And Slack's escaping rule: ``&``, ``<`` and ``>`` are control characters, so in mrkdwn
they may appear only as ``&amp;``/``&lt;``/``&gt;`` or in a ``<http...|label>`` link.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WEBHOOK_PATH = "/services/T0MOROCC/B0ALERTS/s3cr3tW3bh00kP4th0000000"
API_PATH = "/api/chat.postMessage"
TOKEN = "xoxb-1111-2222-s3cr3tB0tT0k3n"
CHANNELS = {"#data-alerts": "C0DATA0001", "#etl": "C0ETL00002", "C0DATA0001": "C0DATA0001", "U0BOB00001": "D0BOB00001"}

MESSAGE_KEYS = {"text", "blocks", "attachments", "thread_ts", "mrkdwn", "unfurl_links", "unfurl_media"}
API_KEYS = MESSAGE_KEYS | {
    "channel",
    "as_user",
    "icon_emoji",
    "icon_url",
    "link_names",
    "metadata",
    "parse",
    "reply_broadcast",
    "username",
}
TEXT_TYPES = ("plain_text", "mrkdwn")
_LINK = re.compile(r"<https?://[^\s<>|]+(?:\|[^<>]*)?>")
_ENTITY = re.compile(r"&(?!amp;|lt;|gt;)")


def check_escaped(text: str, where: str) -> list[str]:
    """Slack's control characters used as such only in links: no ``<!channel>``, no raw ``&``."""
    rest = _LINK.sub("", text)
    problems = []
    if "<" in rest or ">" in rest:
        problems.append(f"{where}: unescaped < or > in {rest[:80]!r}")
    if _ENTITY.search(text):
        problems.append(f"{where}: unescaped & in {text[:80]!r}")
    return problems


def _text_object(obj: Any, where: str, limit: int, types: tuple[str, ...] = TEXT_TYPES) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where} must be a text object"]
    problems = [f"{where} has unknown key {k!r}" for k in obj if k not in ("type", "text", "emoji", "verbatim")]
    if obj.get("type") not in types:
        problems.append(f"{where}.type must be one of {types}")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        problems.append(f"{where}.text must be a non-empty string")
        return problems
    if len(text) > limit:
        problems.append(f"{where}.text is {len(text)} characters, more than {limit}")
    if obj.get("type") == "plain_text" and "verbatim" in obj:
        problems.append(f"{where}: verbatim is for mrkdwn only")
    if obj.get("type") == "mrkdwn":
        if "emoji" in obj:
            problems.append(f"{where}: emoji is for plain_text only")
        problems.extend(check_escaped(text, where))
    return problems


def validate_blocks(blocks: Any) -> list[str]:
    if not isinstance(blocks, list) or not blocks:
        return ["blocks must be a non-empty array"]
    problems = [] if len(blocks) <= 50 else [f"{len(blocks)} blocks, more than 50"]
    for i, block in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(block, dict):
            problems.append(f"{where} must be an object")
            continue
        kind = block.get("type")
        if "block_id" in block and (not isinstance(block["block_id"], str) or len(block["block_id"]) > 255):
            problems.append(f"{where}.block_id must be a string of at most 255 characters")
        if kind == "header":
            problems += [f"{where} has unknown key {k!r}" for k in block if k not in ("type", "text", "block_id")]
            problems += _text_object(block.get("text"), f"{where}.text", 150, ("plain_text",))
        elif kind == "section":
            problems += [
                f"{where} has unknown key {k!r}"
                for k in block
                if k not in ("type", "text", "fields", "block_id", "accessory", "expand")
            ]
            if "text" not in block and "fields" not in block:
                problems.append(f"{where} needs text or fields")
            if "text" in block:
                problems += _text_object(block["text"], f"{where}.text", 3000)
            if "fields" in block:
                fields = block["fields"]
                if not isinstance(fields, list) or not 1 <= len(fields) <= 10:
                    problems.append(f"{where}.fields must hold 1 to 10 text objects")
                else:
                    for j, item in enumerate(fields):
                        problems += _text_object(item, f"{where}.fields[{j}]", 2000)
        elif kind == "context":
            problems += [f"{where} has unknown key {k!r}" for k in block if k not in ("type", "elements", "block_id")]
            elements = block.get("elements")
            if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
                problems.append(f"{where}.elements must hold 1 to 10 elements")
            else:
                for j, element in enumerate(elements):
                    if isinstance(element, dict) and element.get("type") == "image":
                        if not element.get("image_url") or not element.get("alt_text"):
                            problems.append(f"{where}.elements[{j}]: image needs image_url and alt_text")
                    else:
                        problems += _text_object(element, f"{where}.elements[{j}]", 3000)
        elif kind == "divider":
            problems += [f"{where} has unknown key {k!r}" for k in block if k not in ("type", "block_id")]
        else:
            problems.append(f"{where}.type {kind!r} is not a block this message should use")
    return problems


def validate_message(body: Any, api: bool) -> list[str]:
    """Every way ``body`` breaks the webhook (``api=False``) or chat.postMessage format."""
    if not isinstance(body, dict):
        return ["the body must be a JSON object"]
    allowed = API_KEYS if api else MESSAGE_KEYS
    problems = [f"unknown argument {k!r}" for k in body if k not in allowed]
    if api and (not isinstance(body.get("channel"), str) or not body["channel"]):
        problems.append("channel is required")
    text = body.get("text")
    if "blocks" not in body and not text:
        problems.append("no_text: text is required without blocks")
    if text is not None:
        if not isinstance(text, str):
            problems.append("text must be a string")
        else:
            if len(text) > 40_000:
                problems.append("text is longer than 40,000 characters")
            problems += check_escaped(text, "text")
    for flag in ("unfurl_links", "unfurl_media", "mrkdwn"):
        if flag in body and not isinstance(body[flag], bool):
            problems.append(f"{flag} must be a boolean")
    if "blocks" in body:
        problems += validate_blocks(body["blocks"])
    return problems


@dataclass
class Answer:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: Any
    problems: list[str]


class SlackReceiver:
    """Records every request (``received``); answers scripted with :meth:`answer_next`
    come first, after the request has been checked."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self._script: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._ts = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="slack-receiver", daemon=True
        )

    @property
    def base(self) -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}"

    @property
    def webhook_url(self) -> str:
        return self.base + WEBHOOK_PATH

    @property
    def api_url(self) -> str:
        return self.base + "/api"

    def start(self) -> SlackReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def answer_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> None:
        self._script.append(Answer(status, body, headers or {}, delay))

    @property
    def bodies(self) -> list[Any]:
        return [r.body for r in self.received]

    @property
    def problems(self) -> list[list[str]]:
        return [r.problems for r in self.received]

    def _respond(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        api = path == API_PATH
        with self._lock:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            problems = validate_message(body, api) if body is not None else ["invalid_payload: not JSON"]
            if not headers.get("Content-Type", "").startswith("application/json"):
                problems.append("Content-Type is not application/json")
            self.received.append(Received(path, headers, body, problems))
            if self._script:
                return self._script.popleft()
            if path == WEBHOOK_PATH:
                if problems:
                    error = "invalid_blocks" if any(p.startswith("blocks") for p in problems) else "invalid_payload"
                    return Answer(400, error)
                return Answer(200, "ok")
            if not api:
                return Answer(404, "no_service")
            auth = headers.get("Authorization")
            if auth is None:
                return Answer(200, {"ok": False, "error": "not_authed"})
            if auth != f"Bearer {TOKEN}":
                return Answer(200, {"ok": False, "error": "invalid_auth"})
            if problems:
                return Answer(200, {"ok": False, "error": "invalid_blocks", "errors": problems})
            channel = CHANNELS.get(body["channel"])
            if channel is None:
                return Answer(200, {"ok": False, "error": "channel_not_found"})
            self._ts += 1
            return Answer(
                200,
                {
                    "ok": True,
                    "channel": channel,
                    "ts": f"1772366730.{self._ts:06d}",
                    "message": {"type": "message", "text": body.get("text"), "blocks": body.get("blocks")},
                },
            )

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = receiver._respond(self.path, raw, dict(self.headers.items()))
                if answer.delay:
                    time.sleep(answer.delay)
                if isinstance(answer.body, (dict, list)):
                    payload, kind = json.dumps(answer.body).encode(), "application/json; charset=utf-8"
                else:
                    payload, kind = ("" if answer.body is None else str(answer.body)).encode(), "text/html"
                try:
                    self.send_response(answer.status)
                    self.send_header("Content-Type", kind)
                    self.send_header("Content-Length", str(len(payload)))
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        return Handler
