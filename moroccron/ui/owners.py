"""The owner pages: the list, the form to add or change one, and deleting one (admins only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from moroccron import channels
from moroccron.api.owners import owner_from_body
from moroccron.channels import NotifyChannel
from moroccron.errors import NotFound, ValidationError
from moroccron.masking import MASK
from moroccron.model import (
    DEFAULT_PREFERENCES,
    LEGACY_CONTACT_FIELDS,
    NOTIFY_EVENTS,
    Owner,
)
from moroccron.ui.pages import Page, PageRoute, back

__all__ = ["router"]

router = APIRouter(include_in_schema=False, route_class=PageRoute)

OWNER_ROLE = "admin"
"""Changing owners needs what the API's owner routes need (see moroccron.api.security)."""
OWNER_FIELDS = (
    "id",
    "name",
    "email",
    "slack",
    "pagerduty",
    "mute_until",
    *(f"pref_{event}" for event in NOTIFY_EVENTS),
)
"""The form's fixed fields; each other registered channel adds ``contact_CHANNEL`` (:func:`_contact_fields`)."""


def _contact_fields() -> list[tuple[str, NotifyChannel]]:
    """(form field, channel) for every registered channel but email (a field of its own):
    slack and pagerduty keep their field names, the others are ``contact_CHANNEL``."""
    return [
        (name if name in LEGACY_CONTACT_FIELDS else f"contact_{name}", channel)
        for name, channel in channels.registered().items()
        if name != "email"
    ]


@router.get("/owners")
def owners_page(request: Request) -> HTMLResponse:
    """Stored owners, and the owners jobs name that are not stored (they get the default
    preferences: failure emails to the address), each with the number of jobs naming it."""
    page = Page(request)
    owners = page.ctx.store.list_owners()
    counts = page.ctx.store.job_owner_counts()
    stored = {o.id for o in owners}
    named_only = [(name, count) for name, count in counts.items() if name not in stored]
    return page.render(
        "owners.html",
        owners=owners,
        counts=counts,
        named_only=named_only,
        can_edit_owners=page.principal.can(OWNER_ROLE),
        defaults=DEFAULT_PREFERENCES,
    )


def _owner_values(owner: Owner | None, owner_id: str = "") -> dict[str, str]:
    prefs = owner.preferences if owner is not None else DEFAULT_PREFERENCES
    values = {
        "id": owner.id if owner else owner_id,
        "name": owner.name if owner else "",
        "email": (owner.email or "") if owner else "",
        "mute_until": owner.mute_until.isoformat().replace("+00:00", "Z")
        if owner is not None and owner.mute_until
        else "",
    }
    for key, channel in _contact_fields():
        values[key] = (owner.contacts.get(channel.name) or "") if owner else ""
    # a PagerDuty routing key is a secret: shown as the mask, kept if posted back unchanged
    values["pagerduty"] = MASK if owner is not None and owner.contacts.get("pagerduty") else ""
    for event in NOTIFY_EVENTS:
        values[f"pref_{event}"] = ", ".join(prefs.get(event, ()))
    return values


def _owner_body(form: dict[str, str], current: Owner | None) -> dict[str, Any]:
    """The API's owner body from the form: empty text is null; each event's channels comma-separated."""
    body: dict[str, Any] = {}
    for key in ("name", "email", "mute_until"):
        body[key] = form.get(key, "").strip() or None
    body["name"] = body["name"] or ""
    contacts: dict[str, str | None] = {}
    for key, channel in _contact_fields():
        contacts[channel.name] = form.get(key, "").strip() or None
    if contacts.get("pagerduty") == MASK:
        contacts["pagerduty"] = current.contacts.get("pagerduty") if current is not None else None
    body["contacts"] = contacts
    body["preferences"] = {
        event: [c for c in form.get(f"pref_{event}", "").replace(",", " ").split() if c] for event in NOTIFY_EVENTS
    }
    return body


def _owner_errors(exc: ValidationError) -> dict[str, str]:
    """Errors by form field: ``preferences.failure`` shows next to that event's channels."""
    out: dict[str, str] = {}
    for err in exc.errors:
        field = err.field.replace("preferences.", "pref_")
        if field.startswith("contacts."):
            channel = field.removeprefix("contacts.")
            field = channel if channel in LEGACY_CONTACT_FIELDS else f"contact_{channel}"
        key = field if field in OWNER_FIELDS or field in dict(_contact_fields()) else "_form"
        text = err.message + (f" (allowed: {err.allowed})" if err.allowed else "")
        if key == "_form" and err.field:
            text = f"{err.field}: {text}"
        out[key] = f"{out[key]}; {text}" if key in out else text
    return out


def _owner_page(page: Page) -> None:
    if not page.principal.can(OWNER_ROLE):
        raise HTTPException(
            403, f"{page.principal.name!r} has role {page.principal.role!r}; changing owners needs {OWNER_ROLE!r}"
        )


@router.get("/owners/edit")
def owner_form(request: Request) -> HTMLResponse:
    """``?id=X``: edit owner X, or create it if it is not stored (a name jobs use); no id: a new owner."""
    page = Page(request)
    _owner_page(page)
    owner_id = (request.query_params.get("id") or "").strip()
    owner = None
    if owner_id:
        try:
            owner = page.ctx.store.get_owner(owner_id)
        except NotFound:
            owner = None
    return page.render(
        "owner_form.html",
        values=_owner_values(owner, owner_id),
        errors={},
        editing=owner,
        events=NOTIFY_EVENTS,
        channels=channels.names(),
        contact_fields=_contact_fields(),
    )


@router.post("/owners/edit", response_model=None)
async def save_owner(request: Request) -> Response:
    page = Page(request)
    _owner_page(page)
    form = await page.form()
    owner_id = form.get("id", "").strip()
    editing = form.get("editing") == "1"
    store = page.ctx.store
    current: Owner | None = None
    try:
        if not owner_id:
            raise ValidationError.single("id", "is required", None, "how jobs name the owner, e.g. an email address")
        try:
            current = store.get_owner(owner_id)
        except NotFound:
            current = None
        if current is not None and not editing:
            raise ValidationError.single(
                "id", "an owner with this id exists already", owner_id, "a new id, or edit that owner"
            )
        owner = owner_from_body(owner_id, _owner_body(form, current))  # the API's own checks
        store.put_owner(owner)
    except ValidationError as exc:
        return page.render(
            "owner_form.html",
            code=422,
            values=form,
            errors=_owner_errors(exc),
            editing=current if editing else None,
            events=NOTIFY_EVENTS,
            channels=channels.names(),
            contact_fields=_contact_fields(),
        )
    return back("/owners", f"owner {owner_id} {'saved' if editing else 'created'}")


@router.post("/owners/delete", response_model=None)
async def delete_owner(request: Request) -> Response:
    page = Page(request)
    _owner_page(page)
    form = await page.form()
    owner_id = form.get("id", "")
    try:
        page.ctx.store.delete_owner(owner_id)
    except NotFound as exc:
        return back("/owners", f"delete failed: {exc}", error=True)
    return back("/owners", f"owner {owner_id} deleted")
