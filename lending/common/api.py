"""What lending's API views share: the request body parsed by its serializer, a status filter,
and the Idempotency-Key header of money movements."""

from decimal import Decimal

from drf_spectacular.utils import OpenApiParameter

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
            f"status: one of {', '.join(sorted(allowed))}", extra={"field": "status"}
        )
    return status


IDEMPOTENCY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=r"^\S(.{0,118}\S)?$",
    description="Up to 120 characters without leading or trailing blanks, unique per money "
    "movement; the same key and body repeat the first answer, another body with it is a 409",
)


IDEMPOTENCY_KEY_MAX = 120  # the service keeps 160 characters of "api:<user id>:<key>"


def idempotency_key(request) -> str:
    key = (request.headers.get("Idempotency-Key") or "").strip()
    if not key:
        raise ValidationFailed(
            "Idempotency-Key: this request moves money and needs an Idempotency-Key header",
            extra={"field": "Idempotency-Key"},
        )
    if len(key) > IDEMPOTENCY_KEY_MAX:  # longer keys would be cut, and two could then clash
        raise ValidationFailed(
            f"Idempotency-Key: at most {IDEMPOTENCY_KEY_MAX} characters",
            extra={"field": "Idempotency-Key", "rule": "too_long"},
        )
    # scoped per user so two users' keys never collide
    return f"api:{request.user.pk}:{key}"
