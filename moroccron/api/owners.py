"""Owners, their addresses per channel (``contacts``) and their notification preferences.

``slack`` and ``pagerduty`` are still accepted as fields and answered: they are
``contacts.slack`` and ``contacts.pagerduty``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Body, Response

from moroccron.api.deps import ContextDep
from moroccron.errors import FieldError, ValidationError
from moroccron.model import LEGACY_CONTACT_FIELDS, Owner

router = APIRouter(prefix="/api/v1/owners", tags=["owners"])


def owner_from_body(owner_id: str, body: dict[str, Any]) -> Owner:
    if not isinstance(body, dict):
        raise ValidationError.single("owner", "must be an object", body, "an object with owner fields")
    unknown = [k for k in body if k not in Owner.FIELDS]
    if unknown:
        raise ValidationError([FieldError(k, "unknown field", None, ", ".join(Owner.FIELDS)) for k in unknown])
    data = dict(body)
    if data.setdefault("id", owner_id) != owner_id:
        raise ValidationError.single("id", "does not match the owner in the URL", data["id"], owner_id)
    mute = data.get("mute_until")
    if isinstance(mute, str):
        try:
            parsed = datetime.fromisoformat(mute.replace("Z", "+00:00"))
        except ValueError:
            raise ValidationError.single(
                "mute_until", "is not an ISO 8601 timestamp", mute, "e.g. 2026-12-01T08:00:00Z"
            ) from None
        if parsed.tzinfo is None:
            raise ValidationError.single("mute_until", "needs a time zone", mute, "e.g. 2026-12-01T08:00:00Z")
        data["mute_until"] = parsed
    data["contacts"], legacy = _contacts(data)
    return Owner(**data, **legacy)


def _contacts(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``contacts`` without the channels set to null, and the ``slack``/``pagerduty`` fields
    given (removed from ``data``); a field given as null removes that contact."""
    given = data.pop("contacts", None)
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise ValidationError.single(
            "contacts", "must be an object {channel: address}", given, 'e.g. {"slack": "#data"}'
        )
    contacts = {k: v for k, v in given.items() if v is not None}
    legacy: dict[str, Any] = {}
    for key in LEGACY_CONTACT_FIELDS:
        if key not in data:
            continue
        value = data.pop(key)
        if given.get(key) is not None and value != given[key]:
            raise ValidationError.single(
                key, f"differs from contacts.{key}", value, f"{given[key]!r}, or leave one of them out"
            )
        if value is None:
            contacts.pop(key, None)
        else:
            contacts.pop(key, None)
            legacy[key] = value
    return contacts, legacy


@router.get("")
def list_owners(ctx: ContextDep) -> dict[str, Any]:
    return {"owners": [o.to_dict() for o in ctx.store.list_owners()]}


@router.get("/{owner_id}")
def get_owner(ctx: ContextDep, owner_id: str) -> dict[str, Any]:
    return ctx.store.get_owner(owner_id).to_dict()


@router.put("/{owner_id}")
def put_owner(ctx: ContextDep, owner_id: str, response: Response, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    owner = owner_from_body(owner_id, body)
    response.status_code = 201 if ctx.store.put_owner(owner) else 200
    return owner.to_dict()


@router.patch("/{owner_id}")
def patch_owner(ctx: ContextDep, owner_id: str, body: dict[str, Any] = Body(...)) -> dict[str, Any]:
    """Change some fields; ``preferences`` merges per event (``{"failure": []}`` stops failure
    messages) and ``contacts`` per channel (``{"slack": null}`` removes the Slack contact)."""
    current = ctx.store.get_owner(owner_id).to_dict()
    for key in LEGACY_CONTACT_FIELDS:  # answered for compatibility; contacts holds them
        current.pop(key, None)
    merged = {**current, **body}
    if isinstance(body.get("preferences"), dict):
        merged["preferences"] = {**current["preferences"], **body["preferences"]}
    if body.get("contacts") is None or isinstance(body["contacts"], dict):  # else: refused as it is
        given = body.get("contacts") or {}
        merged["contacts"] = {**current["contacts"], **given}
        for key in LEGACY_CONTACT_FIELDS:
            if key in body and key not in given:
                merged["contacts"].pop(key, None)  # the field given replaces the stored contact
    owner = owner_from_body(owner_id, merged)
    ctx.store.put_owner(owner)
    return owner.to_dict()


@router.delete("/{owner_id}", status_code=204)
def delete_owner(ctx: ContextDep, owner_id: str) -> Response:
    ctx.store.delete_owner(owner_id)
    return Response(status_code=204)
