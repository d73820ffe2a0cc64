"""What lending's API views share: the request body parsed by its serializer, a status filter,
and the Idempotency-Key header of money movements."""

from decimal import Decimal

from django.utils.translation import gettext as _

# the Idempotency-Key header of money movements: one definition for every app's API
from accounts.api_idempotency import IDEMPOTENCY, IDEMPOTENCY_KEY_MAX, idempotency_key
from accounts.errors import ValidationFailed


def validated(serializer_class, data) -> dict:
    """The body's validated data; a 400 naming each field and its rule otherwise."""
    body = serializer_class(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data


def decimal_text(value: Decimal | None, quantum: str | None = None) -> str | None:
    """A decimal as plain text for a response ("1234.50", never "1.2345E+3"), rounded to
    `quantum` when given; None stays None."""
    if value is None:
        return None
    if quantum:
        value = value.quantize(Decimal(quantum))
    return format(value, "f")


def status_filter(request, choices) -> str | None:
    """The `status` query parameter: one of `choices`, or "unfinished", or none."""
    status = request.query_params.get("status") or None
    allowed = {*choices, "unfinished"}
    if status is not None and status not in allowed:
        raise ValidationFailed(
            _("status: one of %(values)s") % {"values": ", ".join(sorted(allowed))},
            extra={"field": "status"},
        )
    return status


__all__ = [
    "IDEMPOTENCY",
    "IDEMPOTENCY_KEY_MAX",
    "decimal_text",
    "idempotency_key",
    "status_filter",
    "validated",
]
