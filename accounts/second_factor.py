"""Staff two-factor sign-in (TOTP, django-otp).

The rule, in one place: `write_needs_second_factor(user)`. Every write a desk staff member
(`is_staff`: operations, risk, compliance, treasury, auditor, superusers) makes as a person
needs a session verified with a confirmed TOTP device. Reading needs no second factor;
investors and the market-data feed (`Role.PRICE_FEED`, not staff: a machine cannot hold an
authenticator) are outside the rule. It is applied on every surface a person writes through:

- staff console pages and the Django admin: `accounts.middleware.SecondFactorForStaffWrites`
  sends a POST/PUT/PATCH/DELETE by an unverified staff user to the verify page (or to
  enrolment when the user has no confirmed device) before the view runs; only sign-in,
  sign-out, the two-factor pages themselves and the language switch are exempt
  (`EXEMPT_VIEWS` there);
- the REST API: `accounts.api_permissions.SecondFactorForStaffWrites` (in
  REST_FRAMEWORK's DEFAULT_PERMISSION_CLASSES and in every view that sets its own) answers
  403 `second_factor_required`. A staff API token carries the second factor only when it
  was issued with a current authenticator code, for API_TOKEN_SECOND_FACTOR_MINUTES
  (accounts.api_auth); otherwise a staff token can read but not write;
- services: approvals (credit, liquidation, filings) also call `require_second_factor`
  themselves (defence in depth for callers that are not requests). Celery tasks and beat are
  the system (actor None), not a person, and are not subject to the rule.
"""

import segno
from django.db import transaction
from django.utils.translation import gettext as _
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from .errors import PermissionDenied, ValidationFailed
from .models import User


def is_verified(user: User | None) -> bool:
    """True when this user object came from a session verified with a second factor."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    checker = getattr(user, "is_verified", None)
    if callable(checker):
        return bool(checker())
    return getattr(user, "otp_device", None) is not None


def write_needs_second_factor(user) -> bool:
    """The rule: true for a signed-in desk staff member (any staff role, superusers too)
    whose session was not verified with a second factor. Such a user may read, not write."""
    return bool(
        user is not None
        and getattr(user, "is_authenticated", False)
        and getattr(user, "is_staff", False)
        and not is_verified(user)
    )


def second_factor_refusal(*, action: str, detail: str = "") -> PermissionDenied:
    """The one refusal (code "second_factor_required", 403 in the API) naming the action."""
    return PermissionDenied(
        f"{action} needs a confirmed second factor: "
        + (detail or "sign in with your authenticator code"),
        code="second_factor_required",
        extra={"action": action},
    )


def require_second_factor(actor: User | None, *, action: str) -> None:
    if not is_verified(actor):
        raise second_factor_refusal(action=action)


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def totp_device_start(*, user: User) -> TOTPDevice:
    """Create (or reuse) the user's unconfirmed TOTP device for enrolment."""
    if not user.is_staff:
        raise ValidationFailed(
            _("user: two-factor enrolment is for desk staff"), extra={"field": "user"}
        )
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def totp_device_confirm(*, request, token: str) -> TOTPDevice:
    """Confirm enrolment with the first code and mark this session verified."""
    user = request.user
    if confirmed_device(user) is not None and not is_verified(user):
        # a password alone must not replace the enrolled authenticator
        raise second_factor_refusal(
            action="replacing your authenticator",
            detail="verify this session with your current authenticator code first",
        )
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise ValidationFailed(
                _("token: no enrolment is in progress; start again"), extra={"field": "token"}
            )
        if not device.verify_token(token.strip()):
            raise ValidationFailed(
                _("token: the code does not match; check the time on your phone and try again"),
                extra={"field": "token"},
            )
        TOTPDevice.objects.filter(user=user, confirmed=True).delete()
        device.confirmed = True
        device.save(update_fields=["confirmed"])
    otp_login(request, device)
    return device


def session_verify(*, request, token: str) -> TOTPDevice:
    device = confirmed_device(request.user)
    if device is None:
        raise ValidationFailed(
            _("token: you have no authenticator enrolled"), extra={"field": "token"}
        )
    if not device.verify_token(token.strip()):
        raise ValidationFailed(_("token: the code does not match"), extra={"field": "token"})
    otp_login(request, device)
    return device


def qr_svg(device: TOTPDevice) -> str:
    """The enrolment QR code as inline SVG (rendered locally; the secret never leaves)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4)
