"""The Idempotency-Key header every money-moving API route requires (each app's API reads it
here): its OpenAPI parameter and the key read from a request, scoped to the user."""

from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter

from accounts.errors import ValidationFailed

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
            _("Idempotency-Key: this request moves money and needs an Idempotency-Key header"),
            extra={"field": "Idempotency-Key"},
        )
    if len(key) > IDEMPOTENCY_KEY_MAX:  # longer keys would be cut, and two could then clash
        raise ValidationFailed(
            _("Idempotency-Key: at most %(count)s characters") % {"count": IDEMPOTENCY_KEY_MAX},
            extra={"field": "Idempotency-Key", "rule": "too_long"},
        )
    # scoped per user so two users' keys never collide
    return f"api:{request.user.pk}:{key}"
