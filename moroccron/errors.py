"""Errors a user can act on: each names the field, the bad value and what is allowed."""

from __future__ import annotations

import math
import reprlib
from dataclasses import dataclass
from typing import Any

# How a bad value appears in an error: enough to recognise it, never the whole of a
# megabyte string or a structure nested a thousand deep (which repr() cannot even print).
_SHOWN = reprlib.Repr()
_SHOWN.maxstring = _SHOWN.maxother = 200
_SHOWN.maxlong = 60
_SHOWN.maxlevel = 3
_SHOWN.maxlist = _SHOWN.maxtuple = _SHOWN.maxdict = _SHOWN.maxset = 20
_MAX_TEXT = 1000
_MAX_ITEMS = 50
_MAX_DEPTH = 4


def shown(value: Any) -> str:
    """``repr(value)``, shortened for a message."""
    return _SHOWN.repr(value)


def safe_text(text: str) -> str:
    """``text`` fit for a JSON body: lone surrogates (which UTF-8 cannot encode) escaped."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


class MoroccronError(Exception):
    """Base class of every error moroccron raises on purpose."""

    def render(self) -> str:
        """The message for a person at a terminal (several lines when there are several problems)."""
        return str(self)


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field of an input."""

    field: str
    message: str
    value: Any = None
    allowed: str | None = None

    def __str__(self) -> str:
        text = f"{self.field}: {self.message}"
        if self.value is not None:
            text += f" (got {shown(self.value)})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return text

    def as_dict(self) -> dict[str, Any]:
        """As JSON: the field name may be a key the client sent, so it is made safe too."""
        return {
            "field": safe_text(self.field),
            "error": safe_text(self.message),
            "value": _jsonable(self.value),
            "allowed": safe_text(self.allowed) if self.allowed is not None else None,
        }


def _jsonable(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON can carry it: NaN and infinities as text (JSON has none), text
    that UTF-8 can encode, and big values cut short."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**18 else shown(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, str):
        return safe_text(value if len(value) <= _MAX_TEXT else value[:_MAX_TEXT] + "...")
    if depth >= _MAX_DEPTH:
        return shown(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, depth + 1) for v in value[:_MAX_ITEMS]]
    if isinstance(value, dict):
        return {safe_text(str(k)): _jsonable(v, depth + 1) for k, v in list(value.items())[:_MAX_ITEMS]}
    return shown(value)


class ValidationError(MoroccronError, ValueError):
    """Input that cannot be accepted. Carries one or more :class:`FieldError`.

    ``prefix`` names the object being validated (``job 'etl'``) so that a message read
    out of context, in a log line or a CLI error, still says where the problem is.
    """

    def __init__(self, errors: list[FieldError] | FieldError, prefix: str | None = None) -> None:
        self.errors: list[FieldError] = [errors] if isinstance(errors, FieldError) else list(errors)
        self.prefix = prefix
        super().__init__(str(self))

    @classmethod
    def single(cls, field: str, message: str, value: Any = None, allowed: str | None = None) -> ValidationError:
        return cls(FieldError(field, message, value, allowed))

    def __str__(self) -> str:
        """One line (logs and the API's ``error`` text); :meth:`render` for a terminal."""
        body = "; ".join(str(e) for e in self.errors)
        return f"{self.prefix}: {body}" if self.prefix else body

    def render(self) -> str:
        """One problem a line when there are several::

        job 'x':
          - schedule: ...
          - resources.cpus: ...
        """
        if len(self.errors) <= 1:
            return str(self)
        head = f"{self.prefix}:" if self.prefix else f"{len(self.errors)} problems:"
        return head + "".join(f"\n  - {e}" for e in self.errors)


class ScheduleError(ValidationError):
    """A schedule or time zone that cannot be parsed."""


class DependencyError(ValidationError):
    """A dependency graph that cannot be accepted: a cycle, a self-parent, a missing parent."""


class NotFound(MoroccronError, LookupError):
    """A job, run or owner that does not exist."""


class Conflict(MoroccronError):
    """A change that clashes with what is stored (a name taken, a run already created)."""


class StaleEpoch(Conflict):
    """A write from a leader whose leadership has ended (fencing)."""


class StaleVersion(Conflict):
    """A write conditional on a job's version found another version stored (or none)."""


class PreconditionFailed(Conflict):
    """A client's ``If-Match`` / ``If-None-Match`` does not hold for what is stored (HTTP 412)."""

    def __init__(self, message: str, current_etag: str | None = None) -> None:
        super().__init__(message)
        self.current_etag = current_etag
