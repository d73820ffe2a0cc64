"""The REST API's token authentication: django-rest-knox's header parsing and digest, with the
desk's rules (accounts.models.ApiToken).

`Authorization: Token <token>`: the token's SHA-512 digest is looked up (the database holds
nothing else of it); an unknown, revoked or expired token is refused (codes "token_invalid",
"token_revoked", "token_expired"); an inactive user's token is refused. The last use is
recorded at most once a minute.

A desk staff token issued with a current authenticator code (accounts.services.api_token_issue)
carries the second factor until its `verified_until`: the user object the request acts as is
marked verified the way django-otp's middleware marks a verified session, so the API's gate
(accounts.api_permissions.SecondFactorForStaffWrites) and the services' own checks
(accounts.second_factor.require_second_factor) let it write, until that moment passes.
"""

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object
from knox.auth import TokenAuthentication
from knox.crypto import hash_token
from rest_framework import exceptions

from .models import ApiToken

LAST_USED_EVERY = timedelta(minutes=1)


class ApiTokenAuthentication(TokenAuthentication):
    def authenticate_credentials(self, token: bytes):
        text = token.decode("utf-8", errors="replace")
        try:
            digest = hash_token(text)
        except (TypeError, ValueError) as exc:
            raise exceptions.AuthenticationFailed(
                _("Invalid token."), code="token_invalid"
            ) from exc
        row = ApiToken.objects.select_related("user").filter(digest=digest).first()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."), code="token_invalid")
        now = timezone.now()
        if row.revoked_at is not None:
            raise exceptions.AuthenticationFailed(
                _("This token was revoked."), code="token_revoked"
            )
        if row.expiry <= now:
            raise exceptions.AuthenticationFailed(
                _("This token expired; ask for a new one with your password."),
                code="token_expired",
            )
        user, row = self.validate_user(row)
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
            # not a tracked model: a plain update, no history row per request
            ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
            row.last_used_at = now
        if row.verified_until is not None and row.verified_until > now:
            verified_until = row.verified_until
            user.is_verified = lambda: timezone.now() < verified_until
            user.otp_device = None
        return user, row


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema documents the header (drf-spectacular)."""

    target_class = "accounts.api_auth.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization",
            token_prefix="Token",  # noqa: S106  (the header's keyword)
        )
