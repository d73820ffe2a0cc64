"""Schemathesis over the operations routes, which are not DRF views (so not in /api/schema/):
/healthz and /metrics, described by a small OpenAPI document of their own (what a load
balancer and Prometheus may send: any X-Request-ID, any Authorization, any query string).

Each generated request (derandomised, positive and negative) must get a documented answer:
/healthz 200 or 503 with its JSON body, /metrics 200 or 403, never a 500. /healthz: with the
database, the broker and the calendar required, 200. /metrics: 403 from an address outside
METRICS_ALLOWED_NETWORKS without the token, 200 with it."""

from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.test_api_fuzz import wsgi_app  # noqa: F401  (the fixture)

pytestmark = pytest.mark.django_db

EXAMPLES = 10

HEADERS = [
    {"name": "X-Request-ID", "in": "header", "required": False, "schema": {"type": "string"}},
    {"name": "Authorization", "in": "header", "required": False, "schema": {"type": "string"}},
    {"name": "probe", "in": "query", "required": False, "schema": {"type": "string"}},
]
CHECK = {
    "type": "object",
    "required": ["ok", "required", "detail", "ms"],
    "properties": {
        "ok": {"type": "boolean"},
        "required": {"type": "boolean"},
        "detail": {"type": "string"},
        "ms": {"type": "number"},
    },
}
HEALTH = {
    "type": "object",
    "required": ["status", "failed", "checked_at", "checks"],
    "properties": {
        "status": {"enum": ["ok", "fail"]},
        "failed": {"type": "array", "items": {"type": "string"}},
        "checked_at": {"type": "string"},
        "checks": {
            "type": "object",
            "required": ["database", "broker", "worker", "beat", "calendar"],
            "additionalProperties": CHECK,
        },
    },
}
SCHEMA = {
    "openapi": "3.0.3",
    "info": {"title": "margindesk operations", "version": "1"},
    "paths": {
        "/healthz": {
            "get": {
                "parameters": HEADERS,
                "responses": {
                    "200": {"description": "ok",
                            "content": {"application/json": {"schema": HEALTH}}},
                    "503": {"description": "a required check failed",
                            "content": {"application/json": {"schema": HEALTH}}},
                },
            }
        },
        "/metrics": {
            "get": {
                "parameters": HEADERS,
                "responses": {
                    "200": {"description": "exposition", "content": {"text/plain": {}}},
                    "403": {"description": "not allowed", "content": {"text/plain": {}}},
                },
            }
        },
    },
}  # fmt: skip


def never_500(ctx, response, case):
    assert response.status_code != 500, response.text[:500]


CHECKS = [never_500, status_code_conformance, content_type_conformance, response_schema_conformance]
TOKEN = "fuzz-scrape-token"


def _explore(operation, mode, headers: dict, seen: Counter) -> None:
    @settings_for_fuzz
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case):
        response = case.call(headers=headers)
        seen[(operation.path, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)

    run()


def test_operations_routes_never_answer_500(wsgi_app, settings):  # noqa: F811
    # no worker or beat on the shared Redis: shown failing, not required here (test_healthz
    # covers the 503s); the worker's ping still runs (~1 s: Redis's BRPOP waits whole seconds)
    settings.HEALTHZ_REQUIRED = ["database", "broker", "calendar"]
    settings.HEALTHZ_WORKER_TIMEOUT = 0.05
    settings.METRICS_TOKEN = TOKEN
    schema = schemathesis.openapi.from_dict(SCHEMA)
    schema.app = wsgi_app
    seen: Counter = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        # /metrics also with the scraper's valid token over whatever Authorization was generated
        identities = (
            [{}] if operation.path == "/healthz" else [{}, {"Authorization": f"Bearer {TOKEN}"}]
        )
        for headers in identities:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _explore(operation, mode, headers, seen)
    total = sum(seen.values())
    print(f"\nschemathesis (operations routes): {total} requests, {dict(seen)}")
    # 2 modes x EXAMPLES for /healthz, 2 identities x 2 modes x EXAMPLES for /metrics
    assert total >= 6 * EXAMPLES
    assert set(seen) == {("/healthz", 200), ("/metrics", 200), ("/metrics", 403)}


settings_for_fuzz = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
