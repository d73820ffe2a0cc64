"""One DRF exception handler: every error leaves the API as {"code", "message", "extra"}."""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.utils.translation import gettext as _
from django.views.defaults import page_not_found
from rest_framework import exceptions, status
from rest_framework.response import Response

from .errors import ApplicationError


def _first_error(detail: Any, path: str = "") -> tuple[str, Any] | None:
    """(path of the first field in error, its first ErrorDetail): "ticks[1].price" for a
    nested list. Entries without errors (the {} of a valid list item) are skipped."""
    if isinstance(detail, dict):
        for field, value in detail.items():
            if isinstance(field, int) or str(field).isdigit():  # a list item (form input)
                key = f"{path}[{field}]"
            else:
                key = f"{path}.{field}" if path else str(field)
            found = _first_error(value, key)
            if found is not None:
                return found
        return None
    if isinstance(detail, list):
        if detail and all(not isinstance(item, dict | list) for item in detail):
            return path, detail[0]
        for index, item in enumerate(detail):
            found = _first_error(item, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return path, detail


def validation_body(detail: dict) -> dict:
    """{"code": "validation_error", "message": "<field>: <rule text>", "extra": {"field",
    "rule" (the error code, e.g. "too_precise"), "fields" (every error, as DRF gives them)}}."""
    found = _first_error(detail)
    field, error = found if found is not None else ("non_field_errors", _("invalid input"))
    rule = getattr(error, "code", None) or "invalid"
    return {
        "code": "validation_error",
        "message": f"{field}: {error}",
        "extra": {"field": field, "rule": rule, "fields": detail},
    }


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(
            {"code": exc.code, "message": exc.message, "extra": exc.extra},
            status=exc.status_code,
        )
    if isinstance(exc, DjangoValidationError):
        detail = (
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
        exc = exceptions.ValidationError(detail=detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        body = validation_body(detail)
    else:
        body = {
            "code": exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code,
            "message": str(exc.detail),
            "extra": {},
        }
    response = Response(body, status=exc.status_code)
    if isinstance(exc, exceptions.Throttled) and exc.wait:
        response["Retry-After"] = str(int(exc.wait))
    if exc.status_code == status.HTTP_401_UNAUTHORIZED:
        response["WWW-Authenticate"] = 'Token realm="api"'
    return response


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: an unknown /api/ URL (a malformed id such as /credit-accounts/abc/ matches no
    route) answers in the API's error shape; pages keep Django's page."""
    if request.path.startswith("/api/"):
        return JsonResponse(
            {
                "code": "not_found",
                "message": _("path: no API endpoint at %(path)s") % {"path": request.path},
                "extra": {},
            },
            status=404,
        )
    return page_not_found(request, exception)
