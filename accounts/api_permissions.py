"""The REST API's side of the staff second-factor rule (accounts.second_factor).

`SecondFactorForStaffWrites` is in REST_FRAMEWORK's DEFAULT_PERMISSION_CLASSES and in every
API view that sets its own `permission_classes`: an unsafe method (POST, PUT, PATCH, DELETE)
by a desk staff user whose request is not verified with a second factor answers 403
{"code": "second_factor_required", "message": "<action> needs a confirmed second factor: ...",
"extra": {"action"}} before the view runs. Reads stay open.

A session signed in through the web and verified with the authenticator code carries the
verification (django_otp's middleware); an API token cannot prove a second factor, so a staff
token can read but never write. Investors and the market-data feed (`Role.PRICE_FEED`, not
staff) are outside the rule and write with their tokens as before.
"""

from rest_framework import permissions

from .second_factor import second_factor_refusal, write_needs_second_factor


class SecondFactorForStaffWrites(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        if not write_needs_second_factor(request.user):
            return True
        action = f"{request.method} {request.path}"
        if request.auth is not None:  # a token (session authentication leaves auth None)
            raise second_factor_refusal(
                action=action,
                detail="an API token cannot carry one; staff write through a web session "
                "verified with the authenticator code",
            )
        raise second_factor_refusal(action=action)


def writes_need(permission: str) -> type[permissions.BasePermission]:
    """A permission class refusing unsafe methods without `permission` ("app.codename") before
    the view reads the body: the caller learns it may not act, not what the body lacked. The
    service checks the same permission again (accounts.permissions.require_permission)."""

    class WritesNeed(permissions.BasePermission):
        def has_permission(self, request, view) -> bool:
            if request.method in permissions.SAFE_METHODS:
                return True
            from .permissions import require_permission

            require_permission(request.user, permission, action=f"{request.method} {request.path}")
            return True

    WritesNeed.__name__ = f"WritesNeed({permission})"
    return WritesNeed
