"""Identity and bank-account numbers: encrypted at rest, looked up by keyed digest,
shown only masked. Pure helpers apart from reading the key from settings."""

import base64
import hashlib
import hmac
import re

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

# Key rotation (docs/OPERATIONS.md): FIELD_ENCRYPTION_KEY encrypts; the keys in
# FIELD_ENCRYPTION_KEY_FALLBACKS still decrypt (MultiFernet) until `manage.py field_keys_rotate`
# has re-encrypted every value under the new key. The lookup digests use FIELD_DIGEST_KEY (by
# default the encryption key while there are no fallbacks), which does not rotate with it: some
# digests (a bank statement's payer accounts) are stored without their clear value.


def _key() -> bytes:
    return settings.FIELD_ENCRYPTION_KEY.encode()


def _fernet() -> MultiFernet:
    keys = [settings.FIELD_ENCRYPTION_KEY, *settings.FIELD_ENCRYPTION_KEY_FALLBACKS]
    return MultiFernet([Fernet(key.encode()) for key in keys])


def encrypt(value: str) -> str:
    """Encrypted under FIELD_ENCRYPTION_KEY."""
    return _fernet().encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    """Decrypted under FIELD_ENCRYPTION_KEY or any of its fallbacks."""
    return _fernet().decrypt(token.encode()).decode()


def under_current_key(token: str) -> bool:
    try:
        Fernet(_key()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def reencrypt(token: str) -> str:
    """The same value encrypted under FIELD_ENCRYPTION_KEY (InvalidToken when no configured
    key opens it)."""
    return _fernet().rotate(token.encode()).decode()


def digest(value: str) -> str:
    """Keyed SHA-256 of the normalised value: equal numbers give equal digests, and the
    digest alone cannot be reversed by enumerating the small space of identity numbers."""
    digest_key = settings.FIELD_DIGEST_KEY.encode()
    mac_key = hashlib.sha256(b"margindesk-digest:" + base64.urlsafe_b64decode(digest_key)).digest()
    return hmac.new(mac_key, normalise(value).encode(), hashlib.sha256).hexdigest()


def normalise(value: str) -> str:
    return re.sub(r"[\s-]", "", value).upper()


def mask_identity(value: str) -> str:
    """'110101199003071234' -> '1101**********1234'."""
    value = normalise(value)
    if len(value) <= 6:
        return "*" * len(value)
    keep = 4 if len(value) >= 12 else 2
    return value[:keep] + "*" * (len(value) - 2 * keep) + value[-keep:]


def mask_account(value: str) -> str:
    """'6222021234567890123' -> '**** 0123': only the last four digits are ever shown."""
    value = normalise(value)
    return "**** " + value[-4:] if len(value) > 4 else "****"


# 15- or 18-character resident identity numbers, and 12- to 19-digit card or account numbers.
SENSITIVE_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{12,19})(?![0-9A-Za-z])")


def redact(text: str) -> str:
    return SENSITIVE_NUMBER.sub(lambda m: mask_identity(m.group(0)), text)
