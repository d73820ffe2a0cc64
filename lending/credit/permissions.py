"""Common: permissions."""

from __future__ import annotations

from accounts.errors import PermissionDenied
from lending.credit.models import CreditAccount


def require_perm(actor, perm: str) -> None:
    if actor is None:  # the system (tasks, migrations, seed)
        return
    if not actor.has_perm(perm):
        raise PermissionDenied(f"permission: {perm} is needed for this", extra={"permission": perm})


def require_owner_or_perm(actor, credit_account: CreditAccount, perm: str) -> None:
    """The investor on their own account, or staff holding `perm`, or the system."""
    if actor is None:
        return
    profile = getattr(actor, "investor_profile", None)
    if profile is not None and profile.pk == credit_account.investor_id:
        return
    if profile is None and actor.has_perm(perm):
        return
    raise PermissionDenied(f"permission: {perm} is needed for this", extra={"permission": perm})
