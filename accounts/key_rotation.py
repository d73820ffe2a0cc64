"""Re-encrypting the identity and bank-account numbers under the current field key, after
FIELD_ENCRYPTION_KEY changed and the old key moved to FIELD_ENCRYPTION_KEY_FALLBACKS
(docs/OPERATIONS.md "Key rotation"). The door: `manage.py field_keys_rotate`."""

from __future__ import annotations

from django.db import transaction

from . import sensitive
from .audit import stamp
from .models import InvestorProfile

ENCRYPTED_FIELDS = ("id_number_encrypted", "bank_account_encrypted")


def field_keys_rotate(*, actor=None, batch: int = 500) -> dict[str, int]:
    """Every investor profile whose encrypted numbers are not under FIELD_ENCRYPTION_KEY is
    re-encrypted (same clear value, digests and masks unchanged), each profile under its row
    lock with a history row saying why; idempotent (a second run changes nothing). System
    only (actor None: the command). {"checked", "rotated"}."""
    checked = rotated = 0
    ids = list(InvestorProfile.objects.order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch):
        with transaction.atomic():
            for profile in InvestorProfile.objects.select_for_update(of=("self",)).filter(
                pk__in=ids[start : start + batch]
            ):
                checked += 1
                stale = [
                    name
                    for name in ENCRYPTED_FIELDS
                    if getattr(profile, name)
                    and not sensitive.under_current_key(getattr(profile, name))
                ]
                if not stale:
                    continue
                for name in stale:
                    setattr(profile, name, sensitive.reencrypt(getattr(profile, name)))
                stamp(profile, actor=actor, reason="field encryption key rotated")
                profile.save(update_fields=[*stale, "updated_at"])
                rotated += 1
    return {"checked": checked, "rotated": rotated}
