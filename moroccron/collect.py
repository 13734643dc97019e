"""What a job-definition module builds while it loads, and where.

The loader (:mod:`moroccron.definitions`) runs a module inside :func:`collecting`;
every :class:`~moroccron.model.JobSpec` and :class:`~moroccron.model.Owner` built
meanwhile, wherever it ends up (a module-level name, a list built in a loop, nowhere at
all), is recorded with the file and line of the user's code that built it and the
fields that code passed. Outside a load nothing is recorded and the cost is one
context-variable read per object.

The same base class gives every user-facing type a readable error for a misspelled
field: ``Job(scheduel=...)`` raises :class:`UnknownField` ("unknown field 'scheduel'
(did you mean 'schedule'?)") instead of the constructor's bare ``TypeError``, and a
required field left out raises :class:`MissingField`.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import MISSING, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, ClassVar

from moroccron.errors import MoroccronError

__all__ = [
    "ArgumentError",
    "Built",
    "Checked",
    "Collector",
    "MissingField",
    "UnknownField",
    "collecting",
    "init_fields",
    "note_built",
    "required_fields",
]

_PACKAGE = str(Path(__file__).resolve().parent) + os.sep
_DATACLASSES = sys.modules["dataclasses"].__file__ or "dataclasses.py"

# User-facing names of the model classes, for messages ("Job", not "JobSpec").
_SHOWN_NAMES = {"JobSpec": "Job"}


class ArgumentError(MoroccronError, TypeError):
    """A constructor called with fields it does not have, or without one it needs.

    A :class:`TypeError` still, as the constructor's own error was, so code that caught
    that keeps working.
    """


class MissingField(ArgumentError):
    """A required field left out: ``Job(command="x")`` without a name."""

    def __init__(self, type_name: str, missing: list[str]) -> None:
        self.type_name = type_name
        self.missing = missing
        names = ", ".join(repr(m) for m in missing)
        super().__init__(f"{type_name}: missing required field{'s' if len(missing) > 1 else ''} {names}")


class UnknownField(ArgumentError):
    """A keyword argument that is not a field of the type being built."""

    def __init__(self, type_name: str, unknown: list[tuple[str, str | None]]) -> None:
        self.type_name = type_name
        self.unknown = unknown
        parts = []
        for name, close in unknown:
            hint = f" (did you mean {close!r}?)" if close else ""
            parts.append(f"unknown field {name!r}{hint}")
        super().__init__(f"{type_name}: " + "; ".join(parts))


_CLASSVAR = getattr(dataclasses, "_FIELD_CLASSVAR", None)  # ClassVar pseudo-fields are no arguments


@cache
def init_fields(cls: type) -> tuple[str, ...]:
    """The constructor's field names of dataclass ``cls``, in order, init-only ones
    (``InitVar``, such as ``Owner.slack``) included."""
    declared = getattr(cls, "__dataclass_fields__", {})
    return tuple(name for name, f in declared.items() if f.init and getattr(f, "_field_type", None) is not _CLASSVAR)


@cache
def required_fields(cls: type) -> tuple[str, ...]:
    """The constructor's fields of dataclass ``cls`` that have no default, in order."""
    return tuple(f.name for f in fields(cls) if f.init and f.default is MISSING and f.default_factory is MISSING)


@dataclass(frozen=True)
class Built:
    """One object a module built: ``explicit`` names the fields its code passed."""

    obj: Any
    explicit: frozenset[str]
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class Collector:
    """Objects built during one load, in the order they were built. ``folder`` is the
    loading module's: an object built by a library outside it (a company's shared
    helpers, installed) is placed at the line in the folder that called the library."""

    folder: str | None = None
    built: list[Built] = field(default_factory=list)
    _pending: dict[int, frozenset[str]] = field(default_factory=dict)


_COLLECTOR: ContextVar[Collector | None] = ContextVar("moroccron_collector", default=None)


@contextmanager
def collecting(folder: str | None = None) -> Iterator[Collector]:
    """Record every job and owner built inside the block (by code in ``folder``, preferably)."""
    collector = Collector(folder=os.path.join(os.path.realpath(folder), "") if folder else None)
    token = _COLLECTOR.set(collector)
    try:
        yield collector
    finally:
        _COLLECTOR.reset(token)


def _caller(folder: str | None) -> tuple[str, int]:
    """The file and line of the user's code that built the object: the first frame
    outside moroccron and dataclasses, or, if that is outside ``folder``, the first
    frame inside ``folder`` that led to it (if any)."""
    frame = sys._getframe(2)
    first: tuple[str, int] | None = None
    while frame is not None:
        name = frame.f_code.co_filename
        if not (name.startswith(_PACKAGE) or name == _DATACLASSES or name.startswith("<")):
            if first is None:
                first = (name, frame.f_lineno)
            if folder is None or os.path.realpath(name).startswith(folder):
                return name, frame.f_lineno
        frame = frame.f_back  # type: ignore[assignment]
    return first or ("<unknown>", 0)


class Checked:
    """Base of the model's frozen dataclasses: unknown keyword arguments (with the
    closest field) and missing required fields are named before the constructor runs,
    and, while a module loads, the fields a job's or owner's code passed are noted."""

    __slots__ = ()
    _COLLECTED: ClassVar[bool] = False  # True for the types a load records (jobs, owners)

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        kind: type = cls  # a class is hashable (the caches' key); mypy cannot tell for a dataclass
        names = init_fields(kind)
        if kwargs:
            unknown = [k for k in kwargs if k not in names]
            if unknown:
                shown = _SHOWN_NAMES.get(cls.__name__, cls.__name__)
                raise UnknownField(
                    shown, [(k, next(iter(difflib.get_close_matches(k, names, n=1)), None)) for k in unknown]
                )
        required = required_fields(kind)
        # copy and pickle call __new__ with no arguments, then set the fields themselves
        if (args or kwargs) and len(args) < len(required):
            missing = [n for n in required[len(args) :] if n not in kwargs]
            if missing:
                raise MissingField(_SHOWN_NAMES.get(cls.__name__, cls.__name__), missing)
        collector = _COLLECTOR.get()
        obj = super().__new__(cls)
        if collector is not None and cls._COLLECTED:
            collector._pending[id(obj)] = frozenset(init_fields(kind)[: len(args)]) | frozenset(kwargs)
        return obj


def note_built(obj: Any) -> None:
    """Record ``obj`` (called at the end of a collected type's validation, so only a
    valid object is recorded) if a module is loading."""
    collector = _COLLECTOR.get()
    if collector is None:
        return
    explicit = collector._pending.pop(id(obj), frozenset())
    file, line = _caller(collector.folder)
    collector.built.append(Built(obj, explicit, file, line))
