"""A logging filter that masks anything shaped like an identity or account number.

It is a safety net: code must not log these numbers in the first place."""

import logging

from .sensitive import redact


class RedactSensitiveFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
