"""Reads of the accounts app for views and the API."""

from django.db.models import QuerySet

from .errors import PermissionDenied
from .models import ApiToken, User


def api_tokens_visible(*, viewer: User, everyone: bool = False) -> QuerySet[ApiToken]:
    """The viewer's own API tokens, newest first; with `everyone`, every user's, for security
    staff (accounts.view_apitoken). Never the token: only its digest is stored."""
    tokens = ApiToken.objects.select_related("user", "revoked_by").order_by("-created", "-pk")
    if everyone:
        if not viewer.has_perm("accounts.view_apitoken"):
            raise PermissionDenied(
                "all: listing every user's tokens needs accounts.view_apitoken",
                code="permission_denied",
                extra={"permission": "accounts.view_apitoken"},
            )
        return tokens
    return tokens.filter(user=viewer)
