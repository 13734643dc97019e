"""The OpenAPI document lists every status code the routes answer, with the error body's
schema, and the job schema carries the bounds; the tables extend by one row."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from moroccron import bounds
from moroccron.api import openapi
from moroccron.api.app import create_app
from moroccron.api.deps import AppContext
from moroccron.config import Settings
from moroccron.hooks.manager import PluginManager


def document() -> dict[str, Any]:
    app = create_app(AppContext(Settings(), None, PluginManager(load_entrypoints=False)))
    return TestClient(app).get("/openapi.json").json()


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return document()


def codes(doc: dict[str, Any], method: str, path: str) -> set[str]:
    return set(doc["paths"][path][method]["responses"])


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("post", "/api/v1/jobs", {"201", "400", "401", "403", "409", "413", "422", "503"}),
        ("get", "/api/v1/jobs", {"200", "400", "401", "403", "422"}),
        ("get", "/api/v1/jobs/{name}", {"200", "400", "404", "422"}),
        ("put", "/api/v1/jobs/{name}", {"200", "201", "404", "409", "413", "422"}),
        ("patch", "/api/v1/jobs/{name}", {"200", "404", "409", "413", "422"}),
        ("delete", "/api/v1/jobs/{name}", {"204", "404", "409"}),
        ("post", "/api/v1/jobs/{name}/runs", {"202", "404", "409", "413", "422", "503"}),
        ("post", "/api/v1/runs/{task_id}/kill", {"202", "404", "409", "503"}),
        ("get", "/api/v1/runs/{task_id}/{log_name}", {"200", "404", "409", "422", "502", "503"}),
        ("put", "/api/v1/owners/{owner_id}", {"200", "201", "409", "413", "422"}),
        ("post", "/v1/scheduler/iso8601", {"204", "400", "409", "413"}),
        ("put", "/v1/scheduler/job/{name}", {"204", "400", "404", "409", "503"}),
        ("delete", "/v1/scheduler/job/{name}", {"204", "404", "409"}),
        ("get", "/v1/scheduler/stats/{percentile_name}", {"200", "400"}),
        ("get", "/metrics", {"200", "404"}),
    ],
)
def test_routes_list_what_they_answer(doc: dict[str, Any], method: str, path: str, expected: set[str]) -> None:
    assert expected <= codes(doc, method, path)


def test_public_routes_do_not_list_authentication_errors(doc: dict[str, Any]) -> None:
    assert {"401", "403"}.isdisjoint(codes(doc, "get", "/healthz"))
    assert {"401", "403"}.isdisjoint(codes(doc, "get", "/readyz")) and "503" in codes(doc, "get", "/readyz")
    assert {"401", "403"} <= codes(doc, "get", "/api/v1/status")


def test_every_error_response_has_the_error_schema(doc: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    seen = 0
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith(("4", "5")):
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, code)
                    seen += 1
    assert seen > 200
    error = doc["components"]["schemas"]["Error"]
    assert error["required"] == ["error"] and "errors" in error["properties"]


def test_bodies_are_described(doc: dict[str, Any]) -> None:
    def body(method: str, path: str) -> Any:
        return doc["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]

    assert body("put", "/api/v1/owners/{owner_id}") == {"$ref": "#/components/schemas/Owner"}
    assert body("post", "/v1/scheduler/iso8601") == {"$ref": "#/components/schemas/ChronosJob"}
    graph = doc["paths"]["/api/v1/graph"]["get"]["responses"]["200"]["content"]
    assert {"application/json", "text/vnd.graphviz"} <= set(graph)


def test_the_job_schema_carries_the_bounds(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    job = schemas["JobSpec"]["properties"]
    assert job["name"]["maxLength"] == bounds.NAME_MAX and job["name"]["pattern"].startswith("^")
    assert job["description"]["maxLength"] == bounds.TEXT_LIMITS["description"]
    assert job["parents"]["maxItems"] == bounds.LIST_LIMITS["parents"]
    assert {"maximum": bounds.MAX_SECONDS, "type": "number"}.items() <= job["timeout_seconds"]["anyOf"][0].items()
    assert job["concurrency"]["enum"] == ["forbid", "allow", "replace"]
    assert schemas["Resources"]["properties"]["cpus"]["maximum"] == bounds.RESOURCE_LIMITS["cpus"]
    assert schemas["Resources"]["properties"]["gpus"]["multipleOf"] == 1


def test_one_more_code_is_one_more_row(monkeypatch: pytest.MonkeyPatch) -> None:
    row = ("PUT PATCH", "/api/v1/jobs/{name}", "412", "If-Match does not match the job's ETag.")
    monkeypatch.setattr(openapi, "ROUTE_RESPONSES", (*openapi.ROUTE_RESPONSES, row))
    doc = document()
    for method in ("put", "patch"):
        response = doc["paths"]["/api/v1/jobs/{name}"][method]["responses"]["412"]
        assert response["description"] == row[3]
    assert "412" not in codes(doc, "get", "/api/v1/jobs/{name}")
