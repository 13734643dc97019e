"""A small client of moroccron's own REST API, for the commands that talk to a running
scheduler instead of to the database (``moroccron run``, ``jobs apply --api``, ...).

Every failure becomes an :class:`ApiError` whose message an operator can act on: the
scheduler is unreachable (with the URL tried), the token is missing or refused, or the
API refused the request (with the API's own error text). No library traceback reaches
the terminal.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from moroccron.errors import MoroccronError

__all__ = ["ApiClient", "ApiError", "LogPiece", "api_client", "api_base"]

DEFAULT_TIMEOUT = 15.0


class ApiError(MoroccronError):
    """A request to the scheduler's API failed. ``status`` is the HTTP status, or 0 when
    the scheduler could not be reached at all."""

    def __init__(self, message: str, status: int = 0, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


@dataclass(frozen=True)
class LogPiece:
    """A slice of a sandbox log: its text, where it starts, and the log's size then (bytes)."""

    data: str
    offset: int
    size: int

    @property
    def end(self) -> int:
        """The offset just past this slice: where the next read starts."""
        return self.offset + len(self.data.encode())


@dataclass(frozen=True)
class ApiClient:
    """The scheduler at ``base_url`` (``http://HOST:PORT``), called with ``token`` if any."""

    base_url: str
    token: str | None = None
    timeout: float = DEFAULT_TIMEOUT

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Call the API and return the decoded JSON body (None for an empty one).
        Raises :class:`ApiError` on a connection failure or any 4xx/5xx answer."""
        import requests

        url = self.url(path)
        try:
            resp = requests.request(
                method,
                url,
                json=json,
                params=params,
                headers={**self._headers(), **(headers or {})},
                timeout=timeout or self.timeout,
            )
        except requests.RequestException as exc:
            raise ApiError(f"cannot reach the scheduler at {self.base_url}: {_reason(exc)}") from None
        body: Any = None
        if resp.content:
            try:
                body = resp.json()
            except ValueError:
                body = resp.text
        if resp.status_code >= 400:
            raise ApiError(_error_text(resp.status_code, body, self.token is not None), resp.status_code, body)
        return body

    def get(self, path: str, **kw: Any) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return self.request("POST", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> Any:
        return self.request("DELETE", path, **kw)

    def read_log(self, task_id: str, log: str, offset: int, length: int = 65536) -> LogPiece:
        """``length`` bytes of a run's ``stdout`` or ``stderr`` from ``offset`` (GET
        /api/v1/runs/TASK/LOG); the next offset is :attr:`LogPiece.end`."""
        body = self.get(f"/api/v1/runs/{quote(task_id, safe='')}/{log}", params={"offset": offset, "length": length})
        return LogPiece(str(body.get("data") or ""), int(body.get("offset", offset)), int(body.get("size", 0)))

    def stream_lines(self, path: str, *, params: dict[str, Any] | None = None) -> Iterator[str]:
        """GET ``path`` and yield its body line by line as it arrives."""
        import requests

        url = self.url(path)
        try:
            with requests.get(
                url, params=params, headers=self._headers(), stream=True, timeout=(self.timeout, None)
            ) as resp:
                if resp.status_code >= 400:
                    body = (
                        resp.json()
                        if resp.headers.get("content-type", "").startswith("application/json")
                        else resp.text
                    )
                    raise ApiError(_error_text(resp.status_code, body, self.token is not None), resp.status_code, body)
                yield from resp.iter_lines(decode_unicode=True)
        except requests.RequestException as exc:
            raise ApiError(f"cannot reach the scheduler at {self.base_url}: {_reason(exc)}") from None


def _reason(exc: Exception) -> str:
    """The last, human part of a requests/urllib3 error ("Connection refused"), not its repr chain."""
    text = str(exc)
    for marker in ("] ", "): "):
        if marker in text:
            text = text.rsplit(marker, 1)[-1]
    return text.strip("')\" ") or type(exc).__name__


def _error_text(status: int, body: Any, has_token: bool) -> str:
    detail = ""
    if isinstance(body, dict):
        detail = str(body.get("error") or body.get("detail") or body.get("message") or "")
    elif isinstance(body, str):
        detail = body.strip()[:500]
    if status == 401:
        hint = "the token was refused" if has_token else "the API needs a token: --token or MOROCCRON_TOKEN"
        return f"HTTP 401: {hint}" + (f" ({detail})" if detail else "")
    if status == 403:
        return "HTTP 403: the token's role may not do this" + (f" ({detail})" if detail else "")
    return f"HTTP {status}: {detail or 'no detail'}"


def api_client(api: str | None, token: str | None, bind: str) -> ApiClient:
    """The client for ``--api`` (else ``http://BIND`` from the settings) and ``--token``
    (else the environment's ``MOROCCRON_TOKEN``)."""
    return ApiClient(api_base(api, bind), token or os.environ.get("MOROCCRON_TOKEN") or None)


def api_base(api: str | None, bind: str) -> str:
    """The scheduler's URL: ``api`` (``http://`` added when it has no scheme), else
    ``http://BIND``, a wildcard bind (0.0.0.0, ::) read as this machine's loopback."""
    if api:
        return api if "://" in api else "http://" + api
    from moroccron.config import parse_bind

    host, port = parse_bind(bind)
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
