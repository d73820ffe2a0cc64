"""Staff two-factor sign-in (TOTP, django-otp).

A risk, compliance or treasury action (approving credit, a liquidation or a filing, moving
house money) requires an actor whose current session was verified with a confirmed TOTP
device. `require_second_factor` is the one check every such service calls.
"""

import segno
from django.db import transaction
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


def require_second_factor(actor: User | None, *, action: str) -> None:
    if not is_verified(actor):
        raise PermissionDenied(
            f"{action} needs a confirmed second factor: sign in with your authenticator code",
            code="second_factor_required",
            extra={"action": action},
        )


def confirmed_device(user: User) -> TOTPDevice | None:
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


def totp_device_start(*, user: User) -> TOTPDevice:
    """Create (or reuse) the user's unconfirmed TOTP device for enrolment."""
    if not user.is_staff:
        raise ValidationFailed(
            "user: two-factor enrolment is for desk staff", extra={"field": "user"}
        )
    device = TOTPDevice.objects.filter(user=user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=False)
    return device


def totp_device_confirm(*, request, token: str) -> TOTPDevice:
    """Confirm enrolment with the first code and mark this session verified."""
    user = request.user
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=False).first()
        if device is None:
            raise ValidationFailed(
                "token: no enrolment is in progress; start again", extra={"field": "token"}
            )
        if not device.verify_token(token.strip()):
            raise ValidationFailed(
                "token: the code does not match; check the time on your phone and try again",
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
            "token: you have no authenticator enrolled", extra={"field": "token"}
        )
    if not device.verify_token(token.strip()):
        raise ValidationFailed("token: the code does not match", extra={"field": "token"})
    otp_login(request, device)
    return device


def qr_svg(device: TOTPDevice) -> str:
    """The enrolment QR code as inline SVG (rendered locally; the secret never leaves)."""
    return segno.make(device.config_url, error="m").svg_inline(scale=4)
