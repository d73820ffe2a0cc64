"""Common: transactions."""

from __future__ import annotations

from django.db import transaction

from custody.services.ledger import run_retrying


def durable(fn, what: str):
    def attempt():
        with transaction.atomic(durable=True):
            return fn()

    return run_retrying(attempt, what=what)
