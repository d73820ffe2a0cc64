"""Identity and bank-account numbers: encrypted at rest, looked up by keyed digest,
shown only masked. Pure helpers apart from reading the key from settings."""

import base64
import hashlib
import hmac
import re

from cryptography.fernet import Fernet
from django.conf import settings


def _key() -> bytes:
    return settings.FIELD_ENCRYPTION_KEY.encode()


def encrypt(value: str) -> str:
    return Fernet(_key()).encrypt(value.encode()).decode()


def decrypt(token: str) -> str:
    return Fernet(_key()).decrypt(token.encode()).decode()


def digest(value: str) -> str:
    """Keyed SHA-256 of the normalised value: equal numbers give equal digests, and the
    digest alone cannot be reversed by enumerating the small space of identity numbers."""
    mac_key = hashlib.sha256(b"margindesk-digest:" + base64.urlsafe_b64decode(_key())).digest()
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
