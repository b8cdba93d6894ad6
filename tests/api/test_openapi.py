"""``/openapi.json``: a valid OpenAPI 3.1 document generated from the route table, stating
every route, method and constraint of the app (schemathesis holds the live API to it in
``test_contract.py``)."""

from __future__ import annotations

import re
import unicodedata

import falcon.testing
import pytest
import regress
from openapi_spec_validator import validate

from api.app import create_app
from api.config import ApiConfig
from api.openapi import Route, build_document
from api.projects import MAX_LIMIT, MAX_OFFSET
from api.routes import ROUTES
from api.safety import INLINE_POLICY, POLICY
from api.schemas import NAME_PATTERN
from auteur.identity import Role
from auteur.names import MAX_BYTES, InvalidName, check_name


@pytest.fixture
def app(api_settings):
    return create_app(ApiConfig(settings=api_settings))


@pytest.fixture(scope="module")
def document():
    return build_document(ROUTES)


def routes(app) -> dict[str, set[str]]:
    """Every URI template the app routes, with the methods its resource implements."""
    found: dict[str, set[str]] = {}

    def walk(nodes) -> None:
        for node in nodes:
            if node.resource is not None:
                methods = {
                    method.lower()
                    for method, responder in node.method_map.items()
                    if getattr(responder, "__self__", None) is node.resource  # falcon's defaults are not bound to it
                }
                found[re.sub(r"\{(\w+):\w+\}", r"{\1}", node.uri_template)] = methods
            walk(node.children)

    walk(app._router._roots)
    return found


def test_the_document_is_valid_openapi_3_1(app, document):
    served = falcon.testing.TestClient(app).simulate_get("/openapi.json").json
    assert served["openapi"].startswith("3.1")
    validate(served)
    assert served["paths"] == document["paths"]


def test_every_route_and_method_is_documented_both_ways(app, document):
    routed = routes(app)
    assert len(routed) >= 13
    documented = {path: set(item) for path, item in document["paths"].items()}
    for path in document["x-websockets"]:
        documented.setdefault(path, set()).add("websocket")
    assert documented == routed


def test_one_resource_object_serves_every_route_of_its_class(app):
    by_class: dict[type, set[int]] = {}

    def walk(nodes) -> None:
        for node in nodes:
            if node.resource is not None:
                by_class.setdefault(type(node.resource), set()).add(id(node.resource))
            walk(node.children)

    walk(app._router._roots)
    assert all(len(objects) == 1 for objects in by_class.values()), by_class
    assert {route.resource for route in ROUTES} == set(by_class)


class _Answers:
    async def on_get(self, req, resp) -> None: ...

    async def on_put(self, req, resp) -> None: ...


def test_a_route_cannot_answer_what_it_does_not_document_nor_document_what_it_cannot_answer():
    Route("/x", _Answers, operations={"get": {}, "put": {}}).check()
    with pytest.raises(TypeError, match=r"\['put'\] undocumented"):
        Route("/x", _Answers, operations={"get": {}}).check()
    with pytest.raises(TypeError, match=r"\['delete'\] are documented without a responder"):
        Route("/x", _Answers, operations={"get": {}, "put": {}, "delete": {}}).check()
    with pytest.raises(TypeError, match="websocket"):
        Route("/x", _Answers, operations={"get": {}, "put": {}}, websocket={}).check()


def test_the_websocket_is_described_outside_the_http_operations(app, document):
    assert "/api/v1/events" not in document["paths"]
    events = document["x-websockets"]["/api/v1/events"]
    assert events["message"] == {"$ref": "#/components/schemas/Event"}
    assert [p["name"] for p in events["parameters"]] == ["since"]
    # A plain GET is no operation of this route: falcon answers 405, as the description says.
    answer = falcon.testing.TestClient(app).simulate_get("/api/v1/events")
    assert answer.status_code == 405 and "405" in events["summary"]


def test_errors_share_one_shape_and_uploads_are_multipart(document):
    schemas = document["components"]["schemas"]
    assert set(schemas["Error"]["properties"]) == {"error"}
    assert set(schemas["ErrorDetail"]["properties"]) == {"code", "field", "message", "request_id"}
    for path, item in document["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")) and path != "/health":
                    assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (path, method)
            if path.startswith("/api/v1/"):
                assert "503" in operation["responses"], f"{method} {path}: the storage_unavailable answer"
    upload = document["paths"]["/api/v1/projects/{project_id}/assets"]["post"]
    form = upload["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert form["required"] == ["files"] and form["additionalProperties"] is False
    assert form["properties"]["files"]["minItems"] == 1 and form["properties"]["files"]["items"]["format"] == "binary"
    assert {"400", "413", "415", "422", "507"} <= set(upload["responses"])
    asset_type = next(p for p in upload["parameters"] if p["name"] == "asset_type")
    assert asset_type["in"] == "query" and "renders" in asset_type["schema"]["enum"]
    create = schemas["ProjectCreate"]
    assert create["required"] == ["name"] and create["additionalProperties"] is False
    assert set(create["properties"]) == {"name", "quality", "description", "process_async"}
    assert sorted(schemas["Quality"]["enum"]) == ["draft", "premium", "standard"]
    assert "fingerprint" not in schemas["Project"]["properties"] and "current_commit" in schemas["Project"]["properties"]


OPEN = {"/health", "/health/live", "/metrics", "/openapi.json"}


def test_every_operation_but_the_open_ones_names_the_least_role_it_needs(document):
    roles = {
        (path, method): operation.get("x-auteur-role") for path, item in document["paths"].items() for method, operation in item.items()
    }
    for path, item in document["x-websockets"].items():
        roles[(path, "websocket")] = item.get("x-auteur-role")
    admin = {("/api/v1/audit", "get"), ("/api/v1/trash/{entry}", "delete"), ("/api/v1/tokens", "get"), ("/api/v1/tokens", "post"),
             ("/api/v1/tokens/{name}", "get"), ("/api/v1/tokens/{name}", "delete")}  # fmt: skip
    anyone = {("/api/v1/session", "post"), ("/api/v1/session", "delete")}  # signing in and out
    for (path, method), role in roles.items():
        if path in OPEN:
            expected = None
        elif (path, method) in anyone:
            expected = "public"
        elif (path, method) in admin:
            expected = "admin"
        else:
            expected = "viewer" if method in ("get", "head", "websocket") else "editor"
        assert role == expected, (method, path, role)
    assert {r for r in roles.values() if r} == {r.value for r in Role} | {"public"}


def test_the_audit_log_is_documented_with_its_bounds(document):
    operation = document["paths"]["/api/v1/audit"]["get"]
    params = {p["name"]: p["schema"] for p in operation["parameters"]}
    assert set(params) == {"project", "actor", "limit", "before"}
    assert params["limit"]["minimum"] == 1 and params["limit"]["maximum"] == 1000 and params["before"]["minimum"] == 0
    page = document["components"]["schemas"]["AuditPage"]
    assert set(page["properties"]) == {"items", "next"}
    assert set(document["components"]["schemas"]["AuditEntry"]["properties"]) == {"at", "actor", "action", "project", "details"}
    assert "actor" in document["components"]["schemas"]["Event"]["properties"]
    assert "actor" in document["components"]["schemas"]["TrashItem"]["properties"]
    assert "last_commit_author" in document["components"]["schemas"]["GitStatus"]["properties"]


def test_list_bounds_are_documented(document):
    listing = {p["name"]: p["schema"] for p in document["paths"]["/api/v1/projects"]["get"]["parameters"]}
    assert listing["limit"] == {"type": "integer", "minimum": 0, "maximum": MAX_LIMIT}
    assert listing["offset"]["minimum"] == 0 and listing["offset"]["maximum"] == MAX_OFFSET
    assert 7727140237 > MAX_OFFSET  # the fuzzer's old find is now outside the documented range


def test_name_constraints_are_documented(document):
    name = document["components"]["schemas"]["ProjectCreate"]["properties"]["name"]
    assert name["minLength"] == 1 and name["maxLength"] == 100 and name["pattern"] == NAME_PATTERN
    # The byte cap is the one rule JSON Schema cannot state: it is written in the description.
    assert f"{MAX_BYTES} bytes" in name["description"] and "422" in name["description"]


def _accepted(name: str) -> bool:
    try:
        check_name(name)
    except InvalidName:
        return False
    return True


def test_the_name_pattern_is_the_rule_check_name_enforces():
    """Read as JSON Schema reads it (ECMA-262 with the Unicode flag), the pattern accepts a
    string exactly when check_name does, length aside: every assigned character in every
    position, and the rules about dots and spaces."""
    pattern = regress.Regex(NAME_PATTERN, "u")
    cases = ["a", "A1", "1", "a.b", "a. b", "a .b", "a-", "a_", "a b c", "Amélie", "e\u0301", "映画", "Ωmega",
             "a..b", "a.", "a ", ".a", "-a", "_a", " a", "\u0301a", "a/b", "a\\b", "a\tb", "a*", ""]  # fmt: skip
    # Private use and surrogates are refused by both; unassigned ones may be letters in the regex
    # engine's newer Unicode, never in the server's.
    chars = [chr(cp) for cp in range(0x110000) if unicodedata.category(chr(cp)) not in ("Cn", "Co", "Cs")]
    cases += [s for c in chars for s in (c, f"a{c}", f"a{c}b")]
    disagree = [s for s in cases if (pattern.find(s) is not None) != _accepted(s)]
    assert disagree == [], disagree[:20]


def test_served_over_http(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/json")
    validate(response.json())


def test_every_response_states_the_headers_every_answer_carries(document):
    responses = [r for item in document["paths"].values() for op in item.values() for r in op["responses"].values()]
    assert len(responses) > 50
    for response in responses:
        headers = response["headers"]
        assert headers["X-Content-Type-Options"] == {**headers["X-Content-Type-Options"], "required": True,
                                                     "schema": {"const": "nosniff"}}  # fmt: skip
        policy = headers["Content-Security-Policy"]["schema"]
        assert policy.get("const") == POLICY or policy.get("enum") == [POLICY, INLINE_POLICY], response["description"]
