"""The REST API's side of the staff second-factor rule (accounts.second_factor).

`SecondFactorForStaffWrites` is in REST_FRAMEWORK's DEFAULT_PERMISSION_CLASSES and in every
API view that sets its own `permission_classes`: an unsafe method (POST, PUT, PATCH, DELETE)
by a desk staff user whose request is not verified with a second factor answers 403
{"code": "second_factor_required", "message": "<action> needs a confirmed second factor: ...",
"extra": {"action"}} before the view runs. Reads stay open.

A session signed in through the web and verified with the authenticator code carries the
verification (django_otp's middleware). A staff API token carries it only when it was issued
with a current authenticator code, and only until its `verified_until`
(accounts.api_auth, settings.API_TOKEN_SECOND_FACTOR_MINUTES); otherwise a staff token reads
but does not write. Investors and the machine feeds (`Role.PRICE_FEED`, `Role.BANK_FEED`, not
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
            until = getattr(request.auth, "verified_until", None)
            raise second_factor_refusal(
                action=action,
                detail=(
                    f"this API token's second factor ended at {until.isoformat()}"
                    if until is not None
                    else "this API token was issued without an authenticator code"
                )
                + "; ask for a new token with your password and a current otp_code "
                "(POST /api/v1/auth/tokens/)",
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
