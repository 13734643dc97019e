"""The message: what the outbox keeps of a notification, and how it is rendered.

Who is told what is decided in :mod:`moroccron.routing`. ``framework`` messages (the
Mesos framework was removed or refused) are about a stand-in job
(:func:`moroccron.framework_health.framework_job`) and go to the ``admin_contacts``
setting. Subjects and bodies are Jinja2 templates (``subject.txt``, ``body.txt``,
``body.html``); a folder named by the ``notify_templates`` setting is searched first, so
operators override any of them by writing a file of the same name.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2

from moroccron.config import Settings
from moroccron.dag import SubtreeNode
from moroccron.hooks.types import Notification
from moroccron.masking import mask_job
from moroccron.model import FRAMEWORK_EVENT, JobSpec, Owner, Run, RunState, RunTrigger, stored_data
from moroccron.routing import recipients

__all__ = ["Renderer", "payload_for", "run_from_payload"]

log = logging.getLogger("moroccron.notify")


def payload_for(job: JobSpec, run: Run | None, details: Mapping[str, Any]) -> dict[str, Any]:
    """What the outbox keeps: enough to render the message even after the job is deleted.

    Secret env values are masked: the outbox is a table anyone with the database reads,
    and the job rebuilt from it is what notifier plugins are handed.
    """
    from moroccron.api.schemas import run_dict

    return {
        "job": mask_job(job.to_dict(), reveal=True),
        "run": run_dict(run) if run else None,
        "details": dict(details),
    }


def run_from_payload(data: Mapping[str, Any] | None) -> Run | None:
    if not data:
        return None

    def ts(key: str) -> datetime | None:
        value = data.get(key)
        return datetime.fromisoformat(value) if value else None

    return Run(
        job=data["job"],
        scheduled_at=ts("scheduled_at"),  # type: ignore[arg-type]
        attempt=data["attempt"],
        state=RunState(data["state"]),
        trigger=RunTrigger(data["trigger"]),
        queued_at=ts("queued_at"),
        launched_at=ts("launched_at"),
        started_at=ts("started_at"),
        finished_at=ts("finished_at"),
        exit_status=data.get("exit_status"),
        reason=data.get("reason"),
        message=data.get("message"),
        agent_id=data.get("agent_id"),
        hostname=data.get("hostname"),
        arguments=tuple(data["arguments"]) if data.get("arguments") is not None else None,
        caused_by=data.get("caused_by"),
        id=data.get("id"),
        relaunches=data.get("relaunches", 0),
        kill_requested=data.get("kill_requested"),
        argument_line=data.get("argument_line"),
    )


def _subtree_text(nodes: Sequence[Mapping[str, Any]]) -> str:
    def build(n: Mapping[str, Any]) -> SubtreeNode:
        return SubtreeNode(n["job"], tuple(n.get("owners", ())), tuple(build(c) for c in n.get("children", ())))

    return SubtreeNode("", (), tuple(build(n) for n in nodes)).render("  ")


def _fmt(dt: datetime | None) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S UTC") if dt else "-"


class Renderer:
    """Builds a :class:`Notification` from an outbox payload: targets, subject, text, HTML."""

    def __init__(self, settings: Settings, *, stderr_tail: Callable[[Run], list[str]] | None = None) -> None:
        self.settings = settings
        self.stderr_tail = stderr_tail
        loaders: list[jinja2.BaseLoader] = []
        if settings.notify_templates:
            loaders.append(jinja2.FileSystemLoader(settings.notify_templates))
        loaders.append(jinja2.PackageLoader("moroccron", "templates/notify"))
        self.env = jinja2.Environment(
            loader=jinja2.ChoiceLoader(loaders),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.ChainableUndefined,
            keep_trailing_newline=False,
        )

    def build(
        self,
        event: str,
        payload: Mapping[str, Any],
        owners: Mapping[str, Owner],
        now: datetime,
        *,
        only: Sequence[str] | None = None,
        collapsed: int = 0,
    ) -> Notification:
        with stored_data():  # a payload queued by an older version, under its bounds
            job = JobSpec.from_dict(payload["job"])
        run = run_from_payload(payload.get("run"))
        details = dict(payload.get("details") or {})
        targets = recipients(event, job, owners, now)
        if only is not None:
            targets = tuple(t for t in targets if str(t) in only)
        run_url = f"{self.settings.ui_url}/runs/{run.task_id}" if run else None
        tail: list[str] = []
        if event == "failure" and run is not None and run.agent_id and self.stderr_tail is not None:
            try:
                tail = self.stderr_tail(run)
            except Exception as exc:  # the message matters more than its log excerpt
                log.info("no stderr for %s: %s", run.task_id, exc)
        context: dict[str, Any] = {
            "event": event,
            "job": job,
            "run": run,
            "run_url": run_url,
            "fmt": _fmt,
            "failure_count": int(details.get("failure_count", 0) or 0),
            "reason": details.get("reason") or (run.reason if run else None),
            "pending_subtree_text": _subtree_text(details.get("pending_subtree") or ()),
            "stderr_tail": tail,
            "owners": list(job.owners),
            "collapsed": collapsed,
            "framework": details.get("framework") or {},  # framework events: kind, framework_id, message
        }
        subject = self.env.get_template("subject.txt").render(context).strip().splitlines()[0]
        context["subject"] = subject
        text = self.env.get_template("body.txt").render(context).strip() + "\n"
        html = self.env.get_template("body.html").render(context)
        facts = {
            "job": job.name,
            "task_id": run.task_id if run else None,
            "exit_status": run.exit_status if run else None,
            "reason": context["reason"],
            "agent": run.agent_id if run else None,
            "hostname": run.hostname if run else None,
            # 1-based, as people count and the email reads ("attempt 1 of 3"); Run.attempt is 0-based
            "attempt": run.attempt + 1 if run else None,
            "max_attempts": job.retries + 1,
            "scheduled_at": run.scheduled_at.isoformat() if run else None,
            "launched_at": run.launched_at.isoformat() if run and run.launched_at else None,
            "ui_url": self.settings.ui_url,
            "run_url": run_url,
            "pending_subtree": list(details.get("pending_subtree") or ()),
            "failure_count": context["failure_count"],
            "stderr_tail": tail,
        }
        if event == FRAMEWORK_EVENT:
            facts["framework"] = dict(context["framework"])
        return Notification(
            event=event, job=job, run=run, targets=targets, subject=subject, text=text, html=html, details=facts
        )
