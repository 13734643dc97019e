"""Applying a set of job definitions through the API: ``moroccron jobs apply --api``.

CI with an API token of the write role applies its job-definition modules without the
database's password. The CLI loads and validates the modules locally and sends the whole
set; this route plans, checks and stores it with the same code as a local apply
(:func:`moroccron.definitions.apply_definitions`), in one transaction under the job-graph
lock, all or nothing, and answers the plan. Then, as a PUT of one job does, it tells the
scheduler of each job created, changed or deleted.

Changing owners (their channels and preferences) takes the admin role, as the owners
routes do: a write token's apply that would change an owner is refused whole (403).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse

from moroccron.api.deps import ContextDep
from moroccron.api.owners import owner_from_body
from moroccron.definitions import ApplyPlan, Definitions, apply_definitions, check_source
from moroccron.errors import FieldError, MoroccronError, ValidationError
from moroccron.model import JobSpec, Owner

router = APIRouter(prefix="/api/v1", tags=["apply"])

_KEYS = ("jobs", "owners", "source", "prune", "dry_run", "locations")
_MAX_ERRORS = 100


class OwnersNeedAdmin(MoroccronError):
    """The apply would change owners and the caller's role is not admin."""


def _list(body: dict[str, Any], key: str) -> list[Any]:
    value = body.get(key, [])
    if not isinstance(value, list):
        raise ValidationError.single(key, "must be a list", value, "a list of objects")
    return value


def _within(item: str, field: str, whole: str) -> str:
    """``jobs[2].schedule`` for a field of the third job; ``jobs[2]`` for the job as a whole."""
    return item if field in ("", whole) else f"{item}.{field}"


def definitions_from_body(body: Any) -> tuple[Definitions, str | None, bool, bool]:
    """``(definitions, source, prune, dry_run)`` from an apply request; every bad job and
    owner is reported at once, each field named ``jobs[i].FIELD`` or ``owners[i].FIELD``."""
    if not isinstance(body, dict):
        raise ValidationError.single("body", "must be an object", body, ", ".join(_KEYS))
    unknown = [k for k in body if k not in _KEYS]
    if unknown:
        raise ValidationError([FieldError(k, "unknown field", None, ", ".join(_KEYS)) for k in unknown])
    flags = {}
    for key in ("prune", "dry_run"):
        flags[key] = body.get(key, False)
        if not isinstance(flags[key], bool):
            raise ValidationError.single(key, "must be true or false", flags[key], "true | false")
    source = body.get("source")
    if source is not None:
        check_source(source)
    elif flags["prune"]:  # a prune of no source would delete every job not in the set, whoever made it
        raise ValidationError.single(
            "source", "is required with prune", None, "the source whose jobs prune may delete, e.g. team-a"
        )
    locations = body.get("locations")
    locations = {} if locations is None else locations
    if not isinstance(locations, dict) or not all(isinstance(v, str) for v in locations.values()):
        raise ValidationError.single(
            "locations", "must be an object {job name: 'file:line'}", locations, "an object of strings"
        )
    defs = Definitions()
    errors: list[FieldError] = []
    for i, data in enumerate(_list(body, "jobs")):
        try:
            job = JobSpec.from_dict(data)
        except ValidationError as exc:
            errors.extend(
                FieldError(_within(f"jobs[{i}]", e.field, "job"), e.message, e.value, e.allowed) for e in exc.errors
            )
            continue
        except TypeError as exc:
            errors.append(FieldError(f"jobs[{i}]", str(exc)))
            continue
        if job.name in defs.jobs:
            errors.append(
                FieldError(
                    f"jobs[{i}].name", "is the name of another job in the request", job.name, "each job name once"
                )
            )
        defs.jobs[job.name] = job
        if isinstance(locations.get(job.name), str):
            defs.sources[job.name] = locations[job.name]
    for i, data in enumerate(_list(body, "owners")):
        if not isinstance(data, dict) or not isinstance(data.get("id"), str):
            errors.append(FieldError(f"owners[{i}].id", "is required", None, "an owner object with its id"))
            continue
        try:
            owner = owner_from_body(data["id"], data)
        except (ValidationError, TypeError) as exc:
            problems = exc.errors if isinstance(exc, ValidationError) else [FieldError("", str(exc))]
            errors.extend(
                FieldError(_within(f"owners[{i}]", e.field, "owner"), e.message, e.value, e.allowed) for e in problems
            )
            continue
        if owner.id in defs.owners:
            errors.append(
                FieldError(f"owners[{i}].id", "is the id of another owner in the request", owner.id, "each owner once")
            )
        defs.owners[owner.id] = owner
        defs.owner_fields[owner.id] = frozenset(k for k in data if k in Owner.FIELDS)
    if errors:
        raise ValidationError(errors[:_MAX_ERRORS], "apply")
    return defs, source, flags["prune"], flags["dry_run"]


def _may_change_owners(request: Request) -> bool:
    principal = request.scope.get("state", {}).get("principal")
    return principal is None or principal.can("admin")


@router.post("/apply")
def apply(
    request: Request,
    ctx: ContextDep,
    body: dict[str, Any] = Body(
        ...,
        description="jobs (the job JSON of GET /api/v1/jobs/NAME), owners (only the fields to set), source, "
        "prune, dry_run, locations ({job: 'file:line'}, for messages)",
    ),
) -> Any:
    """Apply a set of job definitions: plan, check everything, then store it all or nothing.

    With ``source``, the jobs created or updated are marked as that source's and ``prune``
    deletes only the stored jobs of that source that the set no longer holds.
    """
    defs, source, prune, dry_run = definitions_from_body(body)
    admin = _may_change_owners(request)

    def approve(plan: ApplyPlan) -> None:
        if not admin and (plan.owners_create or plan.owners_update):
            changed = [o.id for o in plan.owners_create + plan.owners_update]
            raise OwnersNeedAdmin(
                f"the apply would change owners {', '.join(changed)}: that needs the admin role "
                "(leave the owners out of these modules, or apply with an admin token); "
                "nothing was changed"
            )

    try:
        plan = apply_definitions(
            ctx.store, defs, prune=prune, dry_run=dry_run, plugins=ctx.plugins, source=source, approve=approve
        )
    except OwnersNeedAdmin as exc:
        return JSONResponse({"error": str(exc), "field": "owners", "allowed": None, "errors": []}, status_code=403)
    if not dry_run and ctx.scheduler is not None:
        for job in plan.create + plan.update:
            ctx.scheduler.job_changed(job)
        for name in plan.delete:
            ctx.scheduler.job_removed(name)
    return plan.to_dict()
