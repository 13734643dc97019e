"""Optimistic concurrency for job writes: ``ETag`` out, ``If-Match`` / ``If-None-Match`` in.

A job's entity tag names the stored version of the job: ``"<version>-<identity>"``. The
version goes up with every change; the identity (a digest of the row id and creation time)
tells a job apart from one deleted and created again under the same name, whose versions
start again at 1 (and whose row id SQLite may even reuse). A client that read a job sends
its tag back in ``If-Match`` and the write happens only if nobody changed the job since;
otherwise 412 Precondition Failed, with the current tag. The comparison is made inside
the write's transaction (:meth:`Store.save_job`), so it cannot race with another write.

RFC 9110 semantics: ``If-Match`` compares strongly (a weak ``W/"..."`` tag never
matches) and ``If-Match: *`` means "only if the job exists"; ``If-None-Match: *`` on a
PUT means "only if it does not exist yet" (create, never replace).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header

from moroccron.errors import PreconditionFailed
from moroccron.store.store import JobRecord

__all__ = ["NO_CONDITION", "Precondition", "PreconditionDep", "etag"]

_TAG_RE = re.compile(r'\s*(W/)?"([^"]*)"\s*(?:,|$)')


def etag(record: JobRecord) -> str:
    """The strong entity tag of the stored job, quotes included."""
    identity = hashlib.sha256(f"{record.id}:{record.created_at.isoformat()}".encode()).hexdigest()[:12]
    return f'"{record.version}-{identity}"'


def _tags(header: str) -> tuple[bool, list[tuple[bool, str]]]:
    """``(is_star, [(weak, opaque tag with its quotes)])``; what does not parse is left out
    (it can match nothing)."""
    if header.strip() == "*":
        return True, []
    return False, [(bool(m.group(1)), f'"{m.group(2)}"') for m in _TAG_RE.finditer(header)]


@dataclass(frozen=True)
class Precondition:
    """The conditional headers of one write request."""

    if_match: str | None = None
    if_none_match: str | None = None

    def check(self, name: str, current: JobRecord | None) -> None:
        """:raises PreconditionFailed: a condition does not hold for ``current`` (None:
        no such job)."""
        tag = etag(current) if current is not None else None
        if self.if_match is not None:
            star, tags = _tags(self.if_match)
            if tag is None:
                raise PreconditionFailed(f"If-Match: job {name!r} does not exist")
            if not star and not any(not weak and t == tag for weak, t in tags):
                raise PreconditionFailed(
                    f"If-Match: job {name!r} is at {tag}, not {self.if_match.strip()}: "
                    "it was changed since you read it; read it again",
                    tag,
                )
        if self.if_none_match is not None and tag is not None:
            star, tags = _tags(self.if_none_match)
            if star or any(t == tag for _, t in tags):  # weak comparison (RFC 9110, 13.1.2)
                raise PreconditionFailed(f"If-None-Match: job {name!r} exists (at {tag})", tag)


NO_CONDITION = Precondition()


def _from_headers(
    if_match: Annotated[
        str | None,
        Header(description="Write only if the job's ETag is one of these (or `*`: if the job exists); else 412."),
    ] = None,
    if_none_match: Annotated[
        str | None, Header(description="`*`: create only, never replace (412 if the job exists).")
    ] = None,
) -> Precondition:
    return Precondition(if_match, if_none_match)


PreconditionDep = Annotated[Precondition, Depends(_from_headers)]
