"""Errors as JSON a client can act on: ``{"error", "field", "allowed", "errors": [...]}``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from moroccron.errors import (
    Conflict,
    FieldError,
    NotFound,
    PreconditionFailed,
    ValidationError,
    safe_text,
)

MAX_ERRORS = 100
"""Field errors listed in one body: a 1 MB list of bad items need not come back as 10 MB."""
MAX_MESSAGE = 10_000


def _body(message: str, errors: list[FieldError] | None = None) -> dict[str, Any]:
    errors = errors or []
    first = errors[0] if errors else None
    if len(message) > MAX_MESSAGE:
        message = message[:MAX_MESSAGE] + f"... ({len(errors)} errors in all)"
    return {
        "error": safe_text(message),
        "field": safe_text(first.field) if first else None,
        "allowed": safe_text(first.allowed) if first and first.allowed else None,
        "errors": [e.as_dict() for e in errors[:MAX_ERRORS]],
    }


def install(app: FastAPI) -> None:
    @app.exception_handler(ValidationError)
    async def _validation(request: Request, exc: ValidationError) -> JSONResponse:
        return JSONResponse(_body(str(exc), exc.errors), status_code=422)

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
        return JSONResponse(_body(str(exc)), status_code=404)

    @app.exception_handler(Conflict)
    async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
        return JSONResponse(_body(str(exc)), status_code=409)

    @app.exception_handler(PreconditionFailed)
    async def _precondition(request: Request, exc: PreconditionFailed) -> JSONResponse:
        headers = {"ETag": exc.current_etag} if exc.current_etag else None
        return JSONResponse(_body(str(exc)), status_code=412, headers=headers)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        # Every error body has the same four keys (a route's own detail may add more).
        if isinstance(exc.detail, dict):
            body = {**_body(str(exc.detail.get("error", ""))), **exc.detail}
        else:
            body = _body(str(exc.detail))
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _request(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p not in ("body", "query", "path")]
            errors.append(FieldError(".".join(loc) or "body", e.get("msg", "invalid"), e.get("input"), None))
        return JSONResponse(_body("; ".join(str(e) for e in errors), errors), status_code=422)
