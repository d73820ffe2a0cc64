"""OpenAPI post-processing: document the error answers every operation can give.

Every error leaves the API as {"code", "message", "extra"} (accounts.api_errors). The views
declare only their success answer, so this hook adds the errors to each operation: 400
(input), 401 (no or bad credentials, unless the operation is open), 403 (role permission),
404 (another investor's or a missing object), and on writes 409 (idempotency key or state
clash), 422 (a business rule refuses) and 503 (a transient clash; retry), and 415 where
a body is read (an unsupported Content-Type). Clients, and the
schemathesis run in tests/test_hostile_input.py, can then check every answer against the
schema. Registered in SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"].
"""

from typing import Any

ERROR_COMPONENT = "Error"
ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Every API error. For validation errors extra.field names the field "
    "(ticks[1].price for nested input), extra.rule the rule it breaks and extra.fields "
    "lists every error.",
    "properties": {
        "code": {"type": "string", "description": "Stable error code"},
        "message": {"type": "string", "description": "<field>: <what is wrong>"},
        "extra": {"type": "object", "additionalProperties": True},
    },
    "required": ["code", "message", "extra"],
}

DESCRIPTIONS = {
    "400": "Invalid input; extra.field names the field and extra.rule the rule",
    "401": "No or invalid credentials",
    "403": "The user's role does not allow this",
    "404": "Not found, or not visible to this user",
    "409": "Clashes with what is stored (Idempotency-Key reuse, a changed state)",
    "422": "Well-formed, but a business rule refuses it",
    "415": "The body's Content-Type is not one the operation reads",
    "503": "A transient clash; the same request may succeed when retried",
}
WRITE_METHODS = {"post", "put", "patch", "delete"}


def _is_open(operation: dict) -> bool:
    """Operations that need no login (drf-spectacular renders them as security [{}])."""
    security = operation.get("security")
    return security is not None and all(not s for s in security)


def error_responses(result: dict, generator, request, public) -> dict:
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components.setdefault(ERROR_COMPONENT, ERROR_SCHEMA)
    ref = {"$ref": f"#/components/schemas/{ERROR_COMPONENT}"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            codes = ["400"]
            if not _is_open(operation):
                codes += ["401", "403", "404"]
            if method in WRITE_METHODS and not _is_open(operation):
                codes += ["409", "422", "503"]
            if "requestBody" in operation:
                codes.append("415")
            responses = operation["responses"]
            for code in codes:
                responses.setdefault(
                    code,
                    {
                        "description": DESCRIPTIONS[code],
                        "content": {"application/json": {"schema": ref}},
                    },
                )
    return result
