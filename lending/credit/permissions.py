"""Credit: who may act on a credit account (built on accounts.permissions.require_permission,
the one permission check; actor None is the system and is allowed there)."""

from __future__ import annotations

from accounts.errors import PermissionDenied
from accounts.permissions import require_permission
from lending.credit.models import CreditAccount


def require_owner_or_perm(
    actor, credit_account: CreditAccount, perm: str, *, action: str = ""
) -> None:
    """The investor (active) on their own account, or staff holding `perm`, or the system
    (actor None). An investor never acts on another investor's account, whatever `perm`."""
    profile = getattr(actor, "investor_profile", None) if actor is not None else None
    if profile is None:
        require_permission(actor, perm, action=action)
        return
    if profile.pk != credit_account.investor_id:
        raise PermissionDenied(
            f"{action or 'credit_account'}: an investor acts only on their own credit account",
            code="permission_denied",
            extra={"permission": perm},
        )
    if not actor.is_active:  # the owner's account is inactive: the helper refuses it
        require_permission(actor, perm, action=action)
