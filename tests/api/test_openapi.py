"""``/openapi.json``: a valid OpenAPI 3.1 document listing every route and method of the app."""

from __future__ import annotations

import re

import falcon.testing
import pytest
from openapi_spec_validator import validate

from api.app import create_app
from api.config import ApiConfig
from api.openapi import build_document


@pytest.fixture
def app(api_settings):
    return create_app(ApiConfig(settings=api_settings))


def routes(app) -> dict[str, set[str]]:
    """Every URI template the app routes, with the methods its resource implements."""
    found: dict[str, set[str]] = {}

    def walk(nodes) -> None:
        for node in nodes:
            if node.resource is not None:
                methods = {
                    "get" if method == "WEBSOCKET" else method.lower()
                    for method, responder in node.method_map.items()
                    if getattr(responder, "__self__", None) is node.resource  # falcon's defaults are not bound to it
                }
                found[re.sub(r"\{(\w+):\w+\}", r"{\1}", node.uri_template)] = methods
            walk(node.children)

    walk(app._router._roots)
    return found


def test_the_document_is_valid_openapi_3_1(app):
    document = falcon.testing.TestClient(app).simulate_get("/openapi.json").json
    assert document["openapi"].startswith("3.1")
    validate(document)
    assert document["paths"] == build_document()["paths"]


def test_every_route_and_method_is_documented(app):
    document = build_document()
    routed = routes(app)
    assert len(routed) >= 13
    assert set(document["paths"]) == set(routed)
    for path, methods in routed.items():
        assert set(document["paths"][path]) == methods, path


def test_errors_share_one_shape_and_uploads_are_multipart():
    document = build_document()
    schemas = document["components"]["schemas"]
    assert set(schemas["Error"]["properties"]) == {"error"}
    assert set(schemas["ErrorDetail"]["properties"]) == {"code", "field", "message"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/health":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (path, method)
    upload = document["paths"]["/api/v1/projects/{project_id}/assets"]["post"]
    assert "files" in upload["requestBody"]["content"]["multipart/form-data"]["schema"]["properties"]
    asset_type = next(p for p in upload["parameters"] if p["name"] == "asset_type")
    assert asset_type["in"] == "query" and "renders" in asset_type["schema"]["enum"]
    create = schemas["ProjectCreate"]
    assert create["required"] == ["name"] and create["additionalProperties"] is False
    assert set(create["properties"]) == {"name", "quality", "description", "process_async"}
    assert "fingerprint" not in schemas["Project"]["properties"] and "current_commit" in schemas["Project"]["properties"]


def test_served_over_http(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    validate(response.json())
