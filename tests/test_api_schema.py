"""The OpenAPI schema of API v1: drf-spectacular validates it with warnings as failures, and
every endpoint of issue 9 is in it with its key response fields, money and ratios as strings."""

import re

import pytest
import yaml
from django.core.management import call_command

# path -> {method: (response schema's key fields, which of them are decimal strings)}
ENDPOINTS = {
    "/api/v1/auth/tokens/": {
        "post": ({"token", "id", "name", "expiry", "verified_until"}, set()),
        "get": (set(), set()),
    },
    "/api/v1/auth/tokens/{id}/": {"delete": (set(), set())},
    "/api/v1/me/": {"get": (set(), set())},
    "/api/v1/instruments/": {
        "get": ({"id", "code", "exchange", "name", "haircut", "last_price"}, {"haircut"})
    },
    "/api/v1/prices/": {"post": ({"accepted", "ignored"}, set())},
    "/api/v1/credit-accounts/": {"get": ({"id", "account_number"}, set())},
    "/api/v1/credit-accounts/{id}/": {
        "get": (
            {
                "account_number",
                "total_assets",
                "total_liabilities",
                "maintenance_ratio",
                "available_margin",
                "lines",
                "state",
                "positions",
            },
            {"total_assets", "total_liabilities", "maintenance_ratio", "available_margin", "cash"},
        )
    },
    "/api/v1/margin-calls/": {
        "get": (
            {"id", "account", "ratio_at_issue", "amount_to_cure", "deadline", "status"},
            {"ratio_at_issue", "amount_to_cure"},
        )
    },
    "/api/v1/mtm-runs/": {"get": ({"id", "status", "progress"}, set()), "post": (set(), set())},
    "/api/v1/mtm-runs/{id}/": {
        "get": ({"id", "status", "shards_total", "shards_done", "progress"}, set())
    },
    "/api/v1/ledger/trial-balance/": {"get": ({"as_of", "balanced", "rows", "totals"}, set())},
    "/api/v1/filings/": {"get": ({"id", "kind", "status"}, set()), "post": (set(), set())},
    "/api/v1/filings/{id}/": {"get": ({"id", "kind", "as_of", "status", "downloads"}, set())},
    "/api/v1/filings/{id}/download/{fmt}/": {"get": (set(), set())},
    # the endpoints earlier issues added
    "/api/v1/simulator/leverage/": {"post": (set(), set())},
    "/api/v1/margin-notices/": {"get": (set(), set())},
    "/api/v1/liquidation-plans/{id}/approve/": {"post": (set(), set())},
    "/api/v1/lending/applications/": {"get": (set(), set()), "post": (set(), set())},
    "/api/v1/compliance/suitability/": {"get": (set(), set())},
}


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    path = tmp_path_factory.mktemp("schema") / "schema.yaml"
    # raises (SystemExit / CommandError) on any error or warning
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _resolve(schema, node):
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    if "allOf" in node:
        return _resolve(schema, node["allOf"][0])
    return node


def _response_properties(schema, operation) -> dict:
    responses = operation["responses"]
    body = responses.get("200") or responses.get("201") or {}
    content = body.get("content", {}).get("application/json")
    if content is None:
        return {}
    node = _resolve(schema, content["schema"])
    if node.get("type") == "array":
        node = _resolve(schema, node["items"])
    if "results" in node.get("properties", {}):  # paginated
        node = _resolve(schema, _resolve(schema, node["properties"]["results"])["items"])
    return {k: _resolve(schema, v) for k, v in node.get("properties", {}).items()}


def test_schema_validates_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "margindesk API"


@pytest.mark.parametrize("path", sorted(ENDPOINTS))
def test_endpoint_is_documented_with_its_fields(schema, path):
    assert path in schema["paths"], f"{path} missing from the OpenAPI schema"
    for method, (fields, decimals) in ENDPOINTS[path].items():
        operation = schema["paths"][path].get(method)
        assert operation is not None, f"{method.upper()} {path} missing"
        properties = _response_properties(schema, operation)
        assert fields <= set(properties), f"{path}: missing {fields - set(properties)}"
        for name in decimals:
            assert properties[name].get("type") == "string", f"{path}: {name} is not a string"


def test_margin_calls_take_a_status_filter(schema):
    parameters = schema["paths"]["/api/v1/margin-calls/"]["get"]["parameters"]
    assert "status" in {p["name"] for p in parameters}


def test_every_v1_route_is_in_the_schema(schema):
    """Every API v1 route of the resolver is documented (new endpoints included)."""
    from tests.test_access_matrix import routes

    documented = set(schema["paths"])
    for route, name, _view in routes():
        if not route.startswith("api/v1/"):
            continue
        path = "/" + re.sub(
            r"<(?:\w+:)?(\w+)>", lambda m: "{id}" if m[1] == "pk" else "{" + m[1] + "}", route
        )
        assert path in documented, f"{name} ({path}) is not in the schema"
