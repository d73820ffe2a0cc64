"""The top-level money transaction: `durable(fn, what)` runs fn in
`transaction.atomic(durable=True)` and retries transient clashes (custody's run_retrying), so a
money movement is written whole or not at all."""

from __future__ import annotations

from django.db import transaction

from custody.services.ledger import run_retrying


def durable(fn, what: str):
    def attempt():
        with transaction.atomic(durable=True):
            return fn()

    return run_retrying(attempt, what=what)
