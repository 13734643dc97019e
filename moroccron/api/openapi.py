"""The OpenAPI document: the job body described field by field, and every status code.

Job bodies are validated by :class:`~moroccron.model.JobSpec` itself (one set of rules
for the API, the CLI and job modules), so the routes take plain JSON and FastAPI
cannot see their shape. Here the JobSpec dataclasses are turned into JSON Schema (by
pydantic, which reads dataclasses) under ``components/schemas``, with the bounds of
:mod:`moroccron.bounds`, and attached to the job routes' request and response bodies,
so generated clients and the /docs page show every field with its type and limits.

Status codes come from two tables: :data:`COMMON_RESPONSES`, what the middleware can
answer for any route (authentication, input limits, forwarding to the leader), and
:data:`ROUTE_RESPONSES`, what each route's handler answers besides success. To
document one more code for a route, add a row to :data:`ROUTE_RESPONSES`. Every error
body has the :data:`ERROR_SCHEMA` shape.
"""

from __future__ import annotations

import copy
from fnmatch import fnmatchcase
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import TypeAdapter

from moroccron import bounds
from moroccron.api.security import PUBLIC_PATHS
from moroccron.model import (
    CATCHUP_POLICIES,
    CONCURRENCY_POLICIES,
    CONSTRAINT_OPERATORS,
    CONTAINER_TYPES,
    JOB_NAME_RE,
    VOLUME_MODES,
    VOLUME_SOURCE_TYPES,
    JobSpec,
    Owner,
)

__all__ = ["COMMON_RESPONSES", "ERROR_SCHEMA", "ROUTE_RESPONSES", "install", "job_schemas"]

REF = "#/components/schemas/JobSpec"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
JOB_BODIES = {("/api/v1/jobs", "post"), ("/api/v1/jobs/{name}", "put"), ("/api/v1/jobs/{name}", "patch")}
JOB_RESPONSES = {
    ("/api/v1/jobs", "post", "201"),
    ("/api/v1/jobs/{name}", "get", "200"),
    ("/api/v1/jobs/{name}", "put", "200"),
    ("/api/v1/jobs/{name}", "put", "201"),
    ("/api/v1/jobs/{name}", "patch", "200"),
    ("/api/v1/jobs/{name}/enable", "post", "200"),
    ("/api/v1/jobs/{name}/disable", "post", "200"),
}
CONDITIONAL = {("/api/v1/jobs/{name}", "put"), ("/api/v1/jobs/{name}", "patch"), ("/api/v1/jobs/{name}", "delete")}
"""Job writes that honour If-Match / If-None-Match (moroccron.api.etag)."""
ETAG_HEADER = {
    "ETag": {
        "description": 'the stored version of the job, "<version>-<identity>": send it back in '
        "If-Match to write only if nobody changed the job since",
        "schema": {"type": "string"},
    }
}
PRECONDITION_FAILED = {
    "description": "Precondition Failed: If-Match or If-None-Match does not hold (the job was "
    "changed since it was read); the ETag header has the current version"
}
OWNER_BODIES = {("/api/v1/owners/{owner_id}", "put"), ("/api/v1/owners/{owner_id}", "patch")}
OWNER_RESPONSES = {
    ("/api/v1/owners/{owner_id}", "get", "200"),
    ("/api/v1/owners/{owner_id}", "put", "200"),
    ("/api/v1/owners/{owner_id}", "put", "201"),
    ("/api/v1/owners/{owner_id}", "patch", "200"),
}
CHRONOS_BODIES = {
    (f"{prefix}/{kind}", method)
    for prefix in ("/v1/scheduler",)
    for kind in ("iso8601", "dependency")
    for method in ("post", "put")
}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "An error: what went wrong, the first field at fault and what it allows, and every "
    "field error. Some errors add keys (a 503 from a standby names the leader).",
    "required": ["error"],
    "properties": {
        "error": {"type": "string"},
        "field": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "allowed": {"anyOf": [{"type": "string"}, {"type": "null"}]},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
    },
}
FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["field", "error"],
    "properties": {
        "field": {"type": "string"},
        "error": {"type": "string"},
        "value": {},
        "allowed": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
}
CHRONOS_JOB_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A Chronos job hash (see moroccron/api/chronos_schema.py for the mapping). Fields "
    "moroccron does not act on are accepted and named in X-Moroccron-Ignored-Fields.",
    "required": ["name"],
    "properties": {
        "name": {"type": "string"},
        "command": {"type": "string"},
        "shell": {"type": "boolean"},
        "arguments": {"type": "array", "items": {"type": "string"}},
        "description": {"type": "string"},
        "schedule": {"type": "string"},
        "scheduleTimeZone": {"type": "string"},
        "parents": {"type": "array", "items": {"type": "string"}},
        "owner": {"type": "string"},
        "cpus": {"type": "number"},
        "mem": {"type": "number"},
        "disk": {"type": "number"},
        "gpus": {"type": "number"},
        "retries": {"type": "integer"},
        "disabled": {"type": "boolean"},
        "softError": {"type": "boolean"},
        "concurrent": {"type": "boolean"},
        "epsilon": {"type": "string"},
        "runAsUser": {"type": "string"},
        "uris": {"type": "array", "items": {"type": "string"}},
        "environmentVariables": {
            "type": "array",
            "items": {"type": "object", "properties": {"name": {"type": "string"}, "value": {"type": "string"}}},
        },
        "constraints": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}},
        "container": {"type": "object"},
        "moroccron": {"type": "object"},
    },
}

COMMON_RESPONSES: tuple[tuple[str, str, str], ...] = (
    # (methods, path pattern, code): description; "*" is any method, a pattern is fnmatch's.
    ("*", "*", "400"),
    ("*", "*", "401"),
    ("*", "*", "403"),
    ("POST PUT PATCH DELETE", "*", "413"),
    ("POST PUT PATCH DELETE", "/api/*", "307"),
    ("POST PUT PATCH DELETE", "/api/*", "502"),
    ("POST PUT PATCH DELETE", "/api/*", "503"),
    ("POST PUT PATCH DELETE", "/v1/scheduler/*", "307"),
    ("POST PUT PATCH DELETE", "/v1/scheduler/*", "502"),
    ("POST PUT PATCH DELETE", "/v1/scheduler/*", "503"),
)
"""What the middleware may answer before a route runs (public paths skip 401 and 403)."""

DESCRIPTIONS: dict[str, str] = {
    "307": "On a standby, for a request without credentials: the same request, at the leader.",
    "400": "A control character in the path or the query string, or a JSON body nested too deeply "
    "(the Chronos API also answers 400 for an invalid job hash).",
    "401": "Authentication required: no credentials, or wrong ones.",
    "403": "The credentials' role may not do this.",
    "404": "Not found.",
    "409": "Conflicts with what is stored.",
    "413": "The request body is larger than the max_request_bytes setting.",
    "422": "Invalid input: every bad field, with what it allows.",
    "502": "On a standby: the leader did not answer the forwarded request; or the agent did not answer.",
    "503": "No leader is elected (on a standby), or this instance does not schedule.",
}

_JOB = "/api/v1/jobs/{name}"
_RUN = "/api/v1/runs/{task_id}"
_OWNER = "/api/v1/owners/{owner_id}"
_CHRONOS = "/v1/scheduler"
ROUTE_RESPONSES: tuple[tuple[str, str, str, str], ...] = (
    # (methods, path pattern, code, description): what the handler itself answers.
    ("POST", "/api/v1/jobs", "409", "A job with this name exists already."),
    ("*", _JOB, "404", "No job has this name."),
    ("*", _JOB + "/*", "404", "No job has this name."),
    ("PUT PATCH", _JOB, "409", "The job changed meanwhile, or the database refused the change."),
    ("PUT PATCH DELETE", _JOB, "412", PRECONDITION_FAILED["description"]),
    ("DELETE", _JOB, "409", "Other jobs depend on this one (delete them too with cascade=true)."),
    ("POST", _JOB + "/success", "503", "This instance does not schedule."),
    ("POST", _JOB + "/runs", "409", "The job could not be started."),
    ("POST", _JOB + "/runs", "503", "This instance does not schedule."),
    ("POST", _JOB + "/kill", "503", "This instance does not schedule."),
    ("*", _RUN, "404", "No run has this task id."),
    ("*", _RUN + "/*", "404", "No run has this task id."),
    ("POST", _RUN + "/kill", "409", "The run has ended already."),
    ("POST", _RUN + "/kill", "503", "This instance does not schedule."),
    ("GET", _RUN + "/{log_name}", "409", "The run was never launched: it has no sandbox."),
    ("GET", _RUN + "/{log_name}", "502", "The agent did not answer."),
    ("GET", _RUN + "/{log_name}", "503", "This instance does not schedule, or is not connected to a master."),
    ("GET PATCH DELETE", _OWNER, "404", "No owner has this id."),
    ("PUT PATCH", _OWNER, "409", "The owner was created concurrently; try again."),
    ("POST", "/api/v1/apply", "404", "A job to delete was deleted meanwhile; nothing was changed."),
    ("POST", "/api/v1/apply", "409", "The database refused the change; nothing was changed."),
    ("GET", "/metrics", "404", "This instance does not collect metrics."),
    ("GET", "/readyz", "503", "Not ready: `reasons` says why, `role` whether as leader or standby."),
    ("POST PUT", _CHRONOS + "/iso8601", "400", "An invalid job hash: every bad field, by its Chronos name."),
    ("POST PUT", _CHRONOS + "/dependency", "400", "An invalid job hash: every bad field, by its Chronos name."),
    ("POST PUT", _CHRONOS + "/iso8601", "409", "The database refused the change."),
    ("POST PUT", _CHRONOS + "/dependency", "409", "The database refused the change."),
    ("*", _CHRONOS + "/job/*", "404", "No job has this name."),
    ("*", _CHRONOS + "/task/kill/*", "404", "No job has this name."),
    ("POST PUT", _CHRONOS + "/job/success/*", "503", "This instance does not schedule."),
    ("PUT", _CHRONOS + "/job/{name}", "400", "Invalid arguments."),
    ("PUT", _CHRONOS + "/job/{name}", "409", "The job was not started (the reason is given)."),
    ("PUT", _CHRONOS + "/job/{name}", "503", "This instance does not schedule."),
    ("DELETE", _CHRONOS + "/job/{name}", "409", "Other jobs depend on this one (delete them too with cascade=true)."),
    ("DELETE", _CHRONOS + "/task/kill/*", "503", "This instance does not schedule."),
    ("GET", _CHRONOS + "/stats/*", "400", "An unknown statistic."),
)
"""Codes a route answers besides success, beyond :data:`COMMON_RESPONSES` and the 422
that any route with parameters or a body may answer."""

# Extra response content types: /api/v1/graph?format=dot answers Graphviz text.
EXTRA_CONTENT: dict[tuple[str, str, str], dict[str, Any]] = {
    ("/api/v1/graph", "get", "200"): {"text/vnd.graphviz": {"schema": {"type": "string"}}},
}


def _bounded(schemas: dict[str, Any]) -> None:
    """Write the bounds of :mod:`moroccron.bounds` into the generated schemas, in place."""
    text, lists = bounds.TEXT_LIMITS, bounds.LIST_LIMITS

    def nullable(prop: dict[str, Any], **extra: Any) -> None:
        for option in prop.get("anyOf", [prop]):
            if option.get("type") not in (None, "null"):
                option.update(extra)

    def strings(prop: dict[str, Any], items: int, length: int) -> None:
        prop.update(maxItems=items)
        prop["items"].update(maxLength=length)

    job = schemas["JobSpec"]["properties"]
    job["name"].update(pattern=f"^{JOB_NAME_RE.pattern}$", maxLength=bounds.NAME_MAX)
    nullable(job["command"], maxLength=text["command"])
    job["description"].update(maxLength=text["description"])
    nullable(job["schedule"], maxLength=bounds.SCHEDULE_MAX)
    job["timezone"].update(maxLength=bounds.TIMEZONE_MAX)
    nullable(job["user"], maxLength=text["user"])
    strings(job["arguments"], lists["arguments"], text["argument"])
    strings(job["parents"], lists["parents"], bounds.NAME_MAX)
    strings(job["owners"], lists["owners"], text["owner"])
    strings(job["uris"], lists["uris"], text["uri"])
    job["constraints"].update(maxItems=lists["constraints"])
    for name in ("env", "labels"):
        job[name].update(maxProperties=lists[name])
        job[name]["additionalProperties"].update(maxLength=text[f"{name}_value"])
    job["retries"].update(minimum=0, maximum=bounds.MAX_RETRIES)
    job["retry_delay_seconds"].update(minimum=0, maximum=bounds.MAX_SECONDS)
    nullable(job["timeout_seconds"], exclusiveMinimum=0, maximum=bounds.MAX_SECONDS)
    nullable(job["starting_deadline_seconds"], minimum=0, maximum=bounds.MAX_SECONDS)
    nullable(job["disable_after_failures"], minimum=1, maximum=bounds.MAX_DISABLE_AFTER_FAILURES)
    nullable(job["role"], maxLength=text["role"])
    job["kill_grace_seconds"].update(minimum=0, maximum=bounds.MAX_KILL_GRACE_SECONDS)
    job["concurrency"]["enum"] = list(CONCURRENCY_POLICIES)
    job["catchup"]["enum"] = list(CATCHUP_POLICIES)
    resources = schemas["Resources"]["properties"]
    for name, top in bounds.RESOURCE_LIMITS.items():
        resources[name].update(minimum=0, maximum=top)
    resources["cpus"].update(minimum=bounds.MIN_CPUS)
    resources["gpus"].update(multipleOf=1)
    container = schemas["Container"]["properties"]
    container["type"]["enum"] = list(CONTAINER_TYPES)
    nullable(container["image"], maxLength=text["image"])
    nullable(container["network"], maxLength=text["network"])
    container["volumes"].update(maxItems=lists["volumes"])
    container["parameters"].update(maxItems=lists["parameters"])
    parameter = schemas["Parameter"]["properties"]
    parameter["key"].update(minLength=1, maxLength=text["parameters_key"])
    parameter["value"].update(maxLength=text["parameters_value"])
    volume = schemas["Volume"]["properties"]
    volume["container_path"].update(maxLength=text["path"])
    nullable(volume["host_path"], maxLength=text["path"])
    nullable(volume["image"], maxLength=text["image"])
    volume["mode"]["enum"] = list(VOLUME_MODES)
    source = schemas["VolumeSource"]["properties"]
    source["type"]["enum"] = list(VOLUME_SOURCE_TYPES)
    for name in ("name", "driver"):
        nullable(source[name], maxLength=text["volume_name"])
    source["driver_options"].update(maxProperties=lists["driver_options"])
    source["driver_options"]["additionalProperties"].update(maxLength=text["driver_options_value"])
    nullable(source["path"], maxLength=text["path"])
    job["fetch"].update(maxItems=lists["uris"])
    fetch = schemas["Fetch"]["properties"]
    fetch["uri"].update(minLength=1, maxLength=text["uri"])
    nullable(fetch["output_file"], maxLength=text["path"])
    schemas["Fetch"]["additionalProperties"] = False
    container["network_infos"].update(maxItems=lists["network_infos"])
    network_info = schemas["NetworkInfo"]["properties"]
    network_info["name"].update(minLength=1, maxLength=text["network"])
    network_info["labels"].update(maxProperties=lists["labels"])
    network_info["labels"]["additionalProperties"].update(maxLength=text["labels_value"])
    nullable(network_info["protocol"], enum=["IPv4", "IPv6"])
    constraint = schemas["Constraint"]["properties"]
    constraint["field"].update(maxLength=text["constraint_field"])
    constraint["operator"]["enum"] = list(CONSTRAINT_OPERATORS)
    nullable(constraint["value"], maxLength=text["constraint_value"])
    for name in ("Triggers", "Notify"):
        kind = name.lower()
        for prop in schemas[name]["properties"].values():
            prop.update(maxItems=lists[kind])
    for name in (
        "JobSpec",
        "Resources",
        "Container",
        "Volume",
        "VolumeSource",
        "Parameter",
        "Constraint",
        "Triggers",
        "Notify",
        "Owner",
    ):
        schemas[name]["additionalProperties"] = False  # the model refuses unknown fields by name
    owner = schemas["Owner"]["properties"]
    owner["id"].update(minLength=1, maxLength=text["owner"])
    owner["name"].update(maxLength=text["owner_name"])
    owner["contacts"]["additionalProperties"] = {  # null removes a contact (PATCH)
        "anyOf": [{"type": "string", "minLength": 1, "maxLength": text["owner_channel"]}, {"type": "null"}]
    }
    owner["contacts"]["description"] = (
        "The owner's address per notification channel, {channel: address}; "
        "channels are registered by plugins. slack and pagerduty are "
        "contacts.slack and contacts.pagerduty."
    )


def job_schemas() -> dict[str, Any]:
    """``JobSpec``, ``Owner`` and the types they hold, as components/schemas entries."""
    schema = TypeAdapter(JobSpec).json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    out = {**defs, "JobSpec": schema, "Owner": TypeAdapter(Owner).json_schema()}
    _bounded(out)
    out["Job"] = _stored_job(out["JobSpec"])
    return out


SOURCE_MAX_LENGTH = 255
"""The width of the ``jobs.source`` column."""


def _stored_job(spec: dict[str, Any]) -> dict[str, Any]:
    """A job as the API answers it: the JobSpec fields and the read-only ``source``."""
    job = copy.deepcopy(spec)
    job["title"] = "Job"
    job["properties"]["source"] = {
        "anyOf": [{"type": "string", "maxLength": SOURCE_MAX_LENGTH}, {"type": "null"}],
        "readOnly": True,
        "description": "the `jobs apply --source` that last wrote the job; null for a job made through the API, "
        "the UI or an import. Read only: ignored in request bodies.",
    }
    return job


def _matches(methods: str, pattern: str, method: str, path: str) -> bool:
    return (methods == "*" or method.upper() in methods.split()) and fnmatchcase(path, pattern)


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


NO_CONTROL_CHARACTERS = r"^[^\x00-\x1f\x7f]*$"
"""What the input limits middleware allows in a path or query parameter."""


def _text_parameters(doc: dict[str, Any]) -> None:
    """Say in each text parameter's schema that control characters are refused (400)."""
    for operations in doc["paths"].values():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                schema = parameter.get("schema", {})
                for option in schema.get("anyOf", [schema]):
                    if option.get("type") == "string" and "pattern" not in option:
                        option["pattern"] = NO_CONTROL_CHARACTERS
                    elif option.get("type") == "array" and option.get("items", {}).get("type") == "string":
                        option["items"].setdefault("pattern", NO_CONTROL_CHARACTERS)


def _add_status_codes(doc: dict[str, Any]) -> None:
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            codes: dict[str, str] = {}
            for methods, pattern, code in COMMON_RESPONSES:
                public = path in PUBLIC_PATHS and code in ("401", "403")
                if _matches(methods, pattern, method, path) and not public:
                    codes[code] = DESCRIPTIONS[code]
            if operation.get("parameters") or operation.get("requestBody"):
                codes["422"] = DESCRIPTIONS["422"]
            for methods, pattern, code, description in ROUTE_RESPONSES:
                if _matches(methods, pattern, method, path):
                    codes[code] = description
            for code, description in codes.items():
                if code == "307":
                    responses.setdefault(code, {"description": description})
                elif code not in responses or code == "422":  # FastAPI's 422 has another body
                    responses[code] = _error_response(description)
                else:
                    responses[code].setdefault("content", {})["application/json"] = {"schema": ERROR_REF}
            for (where, verb, code), content in EXTRA_CONTENT.items():
                if (where, verb) == (path, method) and code in responses:
                    responses[code].setdefault("content", {}).update(content)


def install(app: FastAPI) -> None:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            doc = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schemas = doc.setdefault("components", {}).setdefault("schemas", {})
            schemas.update(job_schemas())
            schemas.update(Error=ERROR_SCHEMA, FieldError=FIELD_ERROR_SCHEMA, ChronosJob=CHRONOS_JOB_SCHEMA)
            for unused in ("HTTPValidationError", "ValidationError"):  # FastAPI's own 422 body, not ours
                schemas.pop(unused, None)
            _attach(doc, JOB_BODIES, set(), "JobSpec", "Any subset of the JobSpec fields.")
            _attach(doc, set(), JOB_RESPONSES, "Job", None)
            _attach(
                doc,
                OWNER_BODIES,
                OWNER_RESPONSES,
                "Owner",
                "Any subset of the Owner fields; preferences merge per event.",
            )
            _attach(doc, CHRONOS_BODIES, set(), "ChronosJob", None)
            _text_parameters(doc)
            _add_status_codes(doc)
            for path, method, status in JOB_RESPONSES:
                operation = doc["paths"].get(path, {}).get(method)
                if operation is not None and status in operation.get("responses", {}):
                    operation["responses"][status]["headers"] = ETAG_HEADER
            app.openapi_schema = doc
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _attach(
    doc: dict[str, Any],
    bodies: set[tuple[str, str]],
    responses: set[tuple[str, str, str]],
    schema: str,
    patch_description: str | None,
) -> None:
    """Point request bodies and success responses at ``components/schemas/<schema>``."""
    content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}}
    for path, method in bodies:
        operation = doc["paths"].get(path, {}).get(method)
        if operation is not None:
            operation["requestBody"] = {"required": True, "content": copy.deepcopy(content)}
            if method == "patch" and patch_description:
                operation["requestBody"]["description"] = patch_description
    for path, method, status in responses:
        operation = doc["paths"].get(path, {}).get(method)
        if operation is not None:
            what = "created" if status == "201" else "the " + schema.lower().removesuffix("spec")
            operation.setdefault("responses", {}).setdefault(status, {"description": what})
            operation["responses"][status]["content"] = copy.deepcopy(content)
