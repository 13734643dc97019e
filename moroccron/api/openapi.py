"""The OpenAPI document, with the job body described field by field.

Job bodies are validated by :class:`~moroccron.model.JobSpec` itself (one set of rules
for the API, the CLI and job modules), so the routes take plain JSON and FastAPI
cannot see their shape. Here the JobSpec dataclasses are turned into JSON Schema (by
pydantic, which reads dataclasses) under ``components/schemas`` and attached to the
job routes' request and response bodies, so generated clients and the /docs page
show every field with its type and default.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from moroccron.model import JobSpec

__all__ = ["install"]

REF = "#/components/schemas/JobSpec"
JOB_BODIES = {("/api/v1/jobs", "post"), ("/api/v1/jobs/{name}", "put"), ("/api/v1/jobs/{name}", "patch")}
JOB_RESPONSES = {("/api/v1/jobs", "post", "201"), ("/api/v1/jobs/{name}", "get", "200"),
                 ("/api/v1/jobs/{name}", "put", "200"), ("/api/v1/jobs/{name}", "patch", "200")}
CONDITIONAL = {("/api/v1/jobs/{name}", "put"), ("/api/v1/jobs/{name}", "patch"), ("/api/v1/jobs/{name}", "delete")}
"""Job writes that honour If-Match / If-None-Match (moroccron.api.etag)."""
ETAG_HEADER = {"ETag": {"description": 'the stored version of the job, "<version>-<identity>": send it back in '
                                       "If-Match to write only if nobody changed the job since",
                        "schema": {"type": "string"}}}
PRECONDITION_FAILED = {"description": "Precondition Failed: If-Match or If-None-Match does not hold (the job was "
                                      "changed since it was read); the ETag header has the current version"}


def job_schemas() -> dict[str, Any]:
    """``JobSpec`` and the types it holds, as components/schemas entries."""
    schema = TypeAdapter(JobSpec).json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, "JobSpec": schema}


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description,
                              routes=app.routes)
            doc.setdefault("components", {}).setdefault("schemas", {}).update(job_schemas())
            body = {"application/json": {"schema": {"$ref": REF}}}
            for path, method in JOB_BODIES:
                operation = doc["paths"].get(path, {}).get(method)
                if operation is not None:
                    operation["requestBody"] = {"required": True, "content": body}
                    if method == "patch":
                        operation["requestBody"]["description"] = "Any subset of the JobSpec fields."
            for path, method, status in JOB_RESPONSES:
                operation = doc["paths"].get(path, {}).get(method)
                if operation is not None:
                    operation.setdefault("responses", {}).setdefault(status, {"description": "the job"})
                    operation["responses"][status]["content"] = body
                    operation["responses"][status]["headers"] = ETAG_HEADER
            for path, method in CONDITIONAL:
                operation = doc["paths"].get(path, {}).get(method)
                if operation is not None:
                    operation.setdefault("responses", {})["412"] = PRECONDITION_FAILED
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
