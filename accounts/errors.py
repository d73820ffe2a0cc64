"""The project's one error hierarchy.

Services raise these; the API maps them to {"code", "message", "extra"} with the status
below (accounts.api_errors), and pages show the message. Codes are stable: clients rely on them.
"""

from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import Http404


class ApplicationError(Exception):
    status_code = 400
    default_code = "application_error"

    def __init__(
        self, message: str, *, code: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.extra = extra or {}


class ValidationFailed(ApplicationError):
    """Input breaks a rule about its shape; `extra["field"]` names the field."""

    default_code = "validation_error"


class RuleViolation(ApplicationError):
    """Input is well formed but a business rule refuses it (margin, limits, suitability)."""

    status_code = 422
    default_code = "rule_violation"


class NotFound(ApplicationError):
    status_code = 404
    default_code = "not_found"


class PermissionDenied(ApplicationError):
    status_code = 403
    default_code = "permission_denied"


class Conflict(ApplicationError):
    """The request clashes with what is stored (idempotency key reuse, stale state)."""

    status_code = 409
    default_code = "conflict"


class RetryableError(ApplicationError):
    """A transient clash (serialization failure, lock timeout): the same call may succeed."""

    status_code = 503
    default_code = "retry"


#: Database faults that pass (PostgreSQL restarting or failing over, a dropped connection):
#: work meeting one is retried whole by its caller, never recorded as a business error.
TRANSIENT_DB_ERRORS = (OperationalError, InterfaceError)


def get_or_404(getter, *args, **kwargs):
    """A page's read through a selector or service: its NotFound becomes Django's 404."""
    try:
        return getter(*args, **kwargs)
    except NotFound as exc:
        raise Http404(exc.message) from exc
