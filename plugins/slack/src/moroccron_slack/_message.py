"""Turn a moroccron notification into a Slack Block Kit message. Pure: no I/O.

Layout (https://docs.slack.dev/reference/block-kit/blocks)::

    header   ":red_circle: etl-load failed"                        plain_text, <= 150
    section  fields: Job, Run, Scheduled, Exit status / reason,
             Attempt, Agent, Failures in a row                    mrkdwn, <= 10 x 2000
    section  *Message*: what Mesos or moroccron said               mrkdwn, <= 3000
    section  *Last lines of stderr*: the failed run's stderr tail,
             in a code block, its end kept when cut                mrkdwn, <= 3000
    section  *Waiting on this job*: the pending subtree, indented  mrkdwn, <= 3000
    divider
    context  link to the run, owners                               mrkdwn

plus ``text`` = the notification's subject: the fallback Slack shows in notifications
and where blocks cannot be shown.

Slack treats ``&``, ``<`` and ``>`` as control characters in text (``<!channel>``
pings a whole channel, ``<url|label>`` makes a link), so everything that comes from
jobs, runs and owners is escaped (:func:`escape`) and only links this module makes
itself are left as links. Every text is cut to its published limit *after* escaping,
never inside an entity, so a huge input yields a valid message, not an
``invalid_blocks`` error. Header text is ``plain_text``, which Slack does not parse:
it holds only an emoji code and the job name, whose characters exclude ``&<>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from moroccron.hooks.types import Notification

__all__ = [
    "MAX_BLOCKS",
    "MAX_FALLBACK",
    "MAX_FIELD_TEXT",
    "MAX_FIELDS",
    "MAX_HEADER",
    "MAX_TEXT",
    "build_message",
    "escape",
    "fit",
    "fit_tail",
]

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_TEXT = 3000
"""A section's ``text`` and a context element's text."""
MAX_FIELD_TEXT = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 4000
"""Our cap on the ``text`` fallback: Slack truncates at 40,000 and asks for far less."""
MAX_LINE = 300
"""One line of the pending subtree: a job with a hundred owners must not crowd out the rest."""
MAX_INDENT = 8
"""Deeper levels of the pending subtree are drawn at this indentation."""

_FIELD_ROOM = MAX_FIELD_TEXT - 40
"""What a field's value may take; the label ("*Exit status / reason*\\n") takes the rest."""

ELLIPSIS = "…"
CUT_MARKER = "… (earlier lines cut)\n"
"""Starts a stderr tail cut to fit its section: the end of a log is what matters."""
INDENT = "\u2003"  # an em space: Slack keeps it, unlike leading ordinary spaces

TITLES: Mapping[str, tuple[str, str]] = {
    "failure": (":red_circle:", "failed"),
    "recovery": (":large_green_circle:", "recovered"),
    "success": (":white_check_mark:", "succeeded"),
    "skipped": (":fast_forward:", "run skipped"),
    "disabled": (":no_entry_sign:", "disabled"),
    "framework": (":rotating_light:", "needs attention"),  # the Mesos framework itself (admin_contacts)
}

_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}


def escape(text: str) -> str:
    """Slack's escaping: ``&``, ``<`` and ``>`` as HTML entities, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """``text`` escaped, in at most ``limit`` characters, ending with "…" when cut.

    Cuts between escaped characters, never inside an entity such as ``&amp;``, and stops
    reading ``text`` just past the limit: cheap for a megabyte of log output.
    """
    out: list[str] = []
    size = 0
    for char in text:
        piece = _ENTITIES.get(char, char)
        out.append(piece)
        size += len(piece)
        if size > limit:
            while out and size + len(ELLIPSIS) > limit:
                size -= len(out.pop())
            return "".join(out) + ELLIPSIS
    return "".join(out)


def fit_tail(text: str, limit: int) -> str:
    """``text`` escaped, in at most ``limit`` characters, keeping its **end**: when cut, it
    starts with :data:`CUT_MARKER` and then at a line boundary where one is near.

    The end of a log is what explains a failure. Like :func:`fit`, it never cuts inside an
    entity, and reads only as much of ``text`` as fits.
    """
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    room = limit - len(CUT_MARKER)
    kept: list[str] = []
    size = 0
    for char in reversed(text):
        piece = _ENTITIES.get(char, char)
        if size + len(piece) > room:
            break
        kept.append(piece)
        size += len(piece)
    tail = "".join(reversed(kept))
    starts_a_line = text[len(text) - len(kept) - 1] == "\n"
    newline = tail.find("\n")
    if not starts_a_line and 0 <= newline < len(tail) // 2:  # drop a partial first line, unless it is most
        tail = tail[newline + 1 :]
    return CUT_MARKER + tail


def _clip(text: str, limit: int) -> str:
    """Cut text that needs no escaping (plain_text) to ``limit`` characters."""
    return text if len(text) <= limit else text[: limit - len(ELLIPSIS)] + ELLIPSIS


def _web_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    return value if parts.scheme in ("http", "https") and parts.netloc else None


def link(url: str | None, label: str, limit: int = MAX_FIELD_TEXT) -> str:
    """``<url|label>``, Slack's link, or just the escaped label when ``url`` is no web URL.

    Inside the link, ``|`` and ``>`` would end the URL early, so they (and spaces) are
    percent-encoded; ``&`` is escaped as everywhere else.
    """
    url = _web_url(url)
    if url is None:
        return fit(label, limit)
    safe_url = escape(quote(url, safe=":/?#[]@!$&'()*+,;=%~-._"))
    room = limit - len(safe_url) - 3
    if room < 10:  # an absurdly long URL: show the label rather than a broken link
        return fit(label, limit)
    return f"<{safe_url}|{fit(label, room)}>"


def _text(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        when = value if value.tzinfo else value.replace(tzinfo=UTC)
        return when.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def _fact(notification: Notification, key: str) -> str | None:
    """A fact about the run as text: the rendered details first, the run as a fallback."""
    value = notification.details.get(key)
    run = notification.run
    if value in (None, "") and run is not None:
        value = {
            "task_id": run.task_id,
            "exit_status": run.exit_status,
            "reason": run.reason,
            "message": run.message,
            "hostname": run.hostname,
            "agent": run.agent_id,
            "scheduled_at": run.scheduled_at,
        }.get(key)
    return _text(value)


def header_text(notification: Notification) -> str:
    emoji, verb = TITLES.get(notification.event, (":bell:", notification.event))
    return _clip(f"{emoji} {notification.job.name} {verb}", MAX_HEADER)


def _field(label: str, value: str) -> dict[str, str]:
    """A section field: bold label, value on the next line. ``value`` is mrkdwn already
    fitted to :data:`_FIELD_ROOM`, which leaves space for any label used here."""
    return {"type": "mrkdwn", "text": f"*{label}*\n{value}"}


def _fields(notification: Notification) -> list[dict[str, str]]:
    job = notification.job
    run = notification.run
    room = _FIELD_ROOM
    fields = [_field("Job", fit(job.name, room))]
    task_id = _fact(notification, "task_id")
    if task_id:
        fields.append(_field("Run", link(notification.details.get("run_url"), task_id, room)))
    scheduled = _fact(notification, "scheduled_at")
    if scheduled:
        fields.append(_field("Scheduled", fit(scheduled, room)))
    exit_status, reason = _fact(notification, "exit_status"), _fact(notification, "reason")
    if run is None:
        if reason:
            fields.append(_field("Reason", fit(reason, room)))
    elif exit_status is not None or reason:
        value = " · ".join(v for v in (f"exit {exit_status}" if exit_status is not None else None, reason) if v)
        fields.append(_field("Exit status / reason", fit(value, room)))
    if run is not None:
        fields.append(_field("Attempt", f"{run.attempt + 1} of {job.retries + 1}"))
    host, agent = _fact(notification, "hostname"), _fact(notification, "agent")
    if host or agent:
        value = f"{host} ({agent})" if host and agent and host != agent else (host or agent or "")
        fields.append(_field("Agent", fit(value, room)))
    failures = _text(notification.details.get("failure_count"))
    if failures and notification.event in ("failure", "recovery", "disabled"):
        fields.append(_field("Failures in a row", fit(failures, room)))
    return fields[:MAX_FIELDS]


def _walk(nodes: Iterable[Any]) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """(depth, node) in display order, without recursion: a chain of dependants can be
    deeper than Python's stack."""
    stack: list[tuple[int, Any]] = [(0, n) for n in reversed(list(nodes))]
    while stack:
        depth, node = stack.pop()
        if not isinstance(node, Mapping):
            to_dict = getattr(node, "to_dict", None)  # a SubtreeNode passed as is
            if not callable(to_dict):
                continue
            node = to_dict()
        yield depth, node
        children = node.get("children") or ()
        stack.extend((depth + 1, c) for c in reversed(list(children)))


def _subtree_section(tree: Any) -> dict[str, Any] | None:
    """The jobs now waiting on this one, as an indented list with their owners, cut to
    the section limit with a count of what is left out."""
    if not isinstance(tree, (list, tuple)) or not tree:
        return None
    total = sum(1 for _ in _walk(tree))
    title = f"*Waiting on this job* ({total} job{'s' if total != 1 else ''})"
    lines = [title]
    size = len(title)
    for shown, (depth, node) in enumerate(_walk(tree)):
        owners = node.get("owners") or ()
        who = "owners: " + ", ".join(str(o) for o in owners) if owners else "no owners"
        # Indent, bullet, job and separator take at most 8 + 3 + 150 + 4 characters.
        line = (
            f"{INDENT * min(depth, MAX_INDENT)}• `{fit(str(node.get('job', '?')), 150)}` — {fit(who, MAX_LINE - 165)}"
        )
        # Room is kept for the "…and N more" line that must follow if this is not the last.
        more = f"\n…and {total - shown - 1} more" if shown + 1 < total else ""
        if size + 1 + len(line) + len(more) > MAX_TEXT:
            lines.append(f"…and {total - shown} more")
            break
        lines.append(line)
        size += 1 + len(line)
    return {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(lines)}}


def _stderr_section(lines: Any) -> dict[str, Any] | None:
    """The failed run's last lines of stderr, as the email shows them, in a code block
    cut to the section limit from the front."""
    if not isinstance(lines, (list, tuple)) or not lines:
        return None
    head, fence = "*Last lines of stderr*\n", "```"
    # A run of three backticks in the log would end the code block early.
    text = "\n".join(str(line) for line in lines).replace("```", "`\u200b`\u200b`")
    body = fit_tail(text, MAX_TEXT - len(head) - 2 * len(fence) - 2)
    return {"type": "section", "text": {"type": "mrkdwn", "text": f"{head}{fence}\n{body}\n{fence}"}}


def _context(notification: Notification) -> dict[str, Any]:
    elements: list[dict[str, str]] = []
    run_url = _web_url(notification.details.get("run_url"))
    ui_url = _web_url(notification.details.get("ui_url"))
    if run_url:
        elements.append({"type": "mrkdwn", "text": link(run_url, "View the run in moroccron", MAX_TEXT)})
    elif ui_url:
        elements.append({"type": "mrkdwn", "text": link(ui_url, "Open moroccron", MAX_TEXT)})
    else:
        elements.append({"type": "mrkdwn", "text": "moroccron"})
    if notification.job.owners:
        elements.append({"type": "mrkdwn", "text": fit("Owners: " + ", ".join(notification.job.owners), MAX_TEXT)})
    return {"type": "context", "elements": elements[:MAX_CONTEXT_ELEMENTS]}


def build_message(notification: Notification) -> dict[str, Any]:
    """``{"text": fallback, "blocks": [...]}`` for ``notification``, within Slack's limits."""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header_text(notification), "emoji": True}},
        {"type": "section", "fields": _fields(notification)},
    ]
    message = _fact(notification, "message")
    if message:
        head = "*Message*\n"
        blocks.append(
            {"type": "section", "text": {"type": "mrkdwn", "text": head + fit(message, MAX_TEXT - len(head))}}
        )
    stderr = _stderr_section(notification.details.get("stderr_tail"))
    if stderr is not None:
        blocks.append(stderr)
    subtree = _subtree_section(notification.details.get("pending_subtree"))
    if subtree is not None:
        blocks.append(subtree)
    blocks.append({"type": "divider"})
    blocks.append(_context(notification))
    fallback = fit(notification.subject, MAX_FALLBACK) or fit(header_text(notification), MAX_FALLBACK)
    return {"text": fallback, "blocks": blocks[:MAX_BLOCKS]}
