"""Re-encrypt identity and bank-account numbers under FIELD_ENCRYPTION_KEY (key rotation)."""

from django.core.management.base import BaseCommand

from accounts.key_rotation import field_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored identity and bank-account number under FIELD_ENCRYPTION_KEY "
        "(the old key in FIELD_ENCRYPTION_KEY_FALLBACKS); docs/OPERATIONS.md, key rotation."
    )

    def handle(self, *args, **options):
        result = field_keys_rotate(actor=None)
        self.stdout.write(
            f"{result['rotated']} of {result['checked']} investor profiles re-encrypted "
            "under the current key"
        )
