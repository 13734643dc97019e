"""Errors a user can act on: each names the field, the bad value and what is allowed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class MoroccronError(Exception):
    """Base class of every error moroccron raises on purpose."""


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
            text += f" (got {self.value!r})"
        if self.allowed:
            text += f"; allowed: {self.allowed}"
        return text

    def as_dict(self) -> dict[str, Any]:
        return {"field": self.field, "error": self.message, "value": _jsonable(self.value), "allowed": self.allowed}


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)


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

    def with_prefix(self, prefix: str) -> ValidationError:
        return ValidationError(self.errors, prefix)

    def __str__(self) -> str:
        body = "; ".join(str(e) for e in self.errors)
        return f"{self.prefix}: {body}" if self.prefix else body


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
