"""Protocol conformance of recorded scheduler calls, against the project's v1 API schema.

The schema is the one the local master enforces, kept in :mod:`moroccron.mesos.proto`
(written from the public scheduler API docs and protos): the message tables (field
names, types, required fields, enums), the rules of the master's call validation, and
the header rules of the HTTP API. Here it is applied to every call a LocalMaster with
``record_calls=True`` received, in strict mode (no field whose content the tables leave
undescribed), with the stream each call belongs to tracked from the SUBSCRIBE answers.

A call breaks the protocol when its body or headers break a rule, when it names a
stream id the master never gave its framework, or when the master refused it for
another reason than a stream that a failover (or a test) had just ended.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from moroccron.mesos import proto

__all__ = ["Report", "Violation", "check_calls"]


@dataclass(frozen=True)
class Violation:
    index: int  # position of the call in the record
    call_type: str
    rule: str
    detail: str

    def __str__(self) -> str:
        return f"#{self.index} {self.call_type}: {self.rule}: {self.detail}"


@dataclass
class Report:
    counts: Counter[str]
    violations: list[Violation]
    stale: int  # well-formed calls on a stream a failover had ended (refused, as they must be)

    def summary(self) -> str:
        lines = [f"{kind:24s} {n}" for kind, n in sorted(self.counts.items())]
        lines.append(f"{'calls on ended streams':24s} {self.stale}")
        lines.append(f"{'violations':24s} {len(self.violations)}")
        return "\n".join(lines)


# Refusals a well-behaved framework can meet through no fault of its own: its stream was
# ended (master failover, framework failover, removal) while the call was on its way.
_STALE_REFUSALS = ("Framework is not subscribed", "didn't match the stream ID", "Framework cannot be found")


def check_calls(records: Iterable[Mapping[str, Any]], *, injected: Iterable[int] = ()) -> Report:
    """Check every recorded call; ``injected`` are indexes of calls a test made fail."""
    counts: Counter[str] = Counter()
    violations: list[Violation] = []
    streams: dict[str, list[str]] = {}  # framework id -> stream ids it was given, oldest first
    stale = 0
    allowed_failures = set(injected)
    for index, record in enumerate(records):
        body = record.get("body")
        headers = record.get("headers") or {}
        call_type = str(body.get("type")) if isinstance(body, dict) else "?"
        counts[call_type] += 1

        def broken(rule: str, detail: str, call_type: str = call_type, index: int = index) -> None:
            violations.append(Violation(index, call_type, rule, detail))

        if not isinstance(body, dict):
            broken("body", f"not a JSON object (answered {record.get('status')}: {record.get('error')})")
            continue
        try:
            proto.validate_call(body, strict=True)
        except proto.ProtoError as exc:
            broken("schema", str(exc))
        for error in (proto.content_type_error(headers), proto.accept_error(call_type, headers)):
            if error is not None:
                broken("headers", f"{error.message} (HTTP {error.status})")
        status = record.get("status")
        if call_type == "SUBSCRIBE":
            problem = proto.stream_id_error(call_type, headers, None)
            if problem is not None:
                broken("headers", problem.message)
            if status == 200 and record.get("error"):
                broken("subscription refused", str(record["error"]))
            elif status == 200:
                streams.setdefault(str(record.get("framework_id")), []).append(str(record.get("stream_id")))
            elif index not in allowed_failures:
                broken("answer", f"HTTP {status}: {record.get('error')}")
            continue

        framework_id = str((body.get("framework_id") or {}).get("value"))
        given = streams.get(framework_id, [])
        sent = proto.header(headers, proto.STREAM_ID)
        current = given[-1] if given else None
        problem = proto.stream_id_error(call_type, headers, None)
        if problem is not None:
            broken("headers", problem.message)
            continue
        if sent not in given:
            broken("stream", f"stream id {sent!r} was never given to framework {framework_id}")
            continue
        if isinstance(status, int) and 200 <= status < 300:
            if sent != current:
                broken("stream", f"accepted on stream {sent!r} while the framework's stream is {current!r}")
            continue
        if index in allowed_failures:
            continue
        error = str(record.get("error") or "")
        if sent != current or any(text in error for text in _STALE_REFUSALS):
            stale += 1
            continue
        broken("answer", f"HTTP {status}: {error}")
    return Report(counts, violations, stale)
