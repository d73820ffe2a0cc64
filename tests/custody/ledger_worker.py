"""Worker process for the concurrency test: posts random transfers among the given accounts
through custody.services for a while, then prints a JSON summary on stdout.

    python tests/custody/ledger_worker.py <seconds> <seed> <account_id> [<account_id> ...]
"""

import json
import os
import random
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from accounts.errors import RetryableError  # noqa: E402
from custody import services  # noqa: E402
from custody.models import LedgerAccount  # noqa: E402


def main() -> None:
    seconds, seed = float(sys.argv[1]), int(sys.argv[2])
    ids = [int(x) for x in sys.argv[3:]]
    accounts = list(LedgerAccount.objects.filter(pk__in=ids))
    rng = random.Random(seed)
    outcome: Counter = Counter()
    errors: list[str] = []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n += 1
        picked = rng.sample(accounts, rng.choice([2, 3]))
        amount = Decimal(rng.randint(1, 500)) / 100
        if len(picked) == 2:
            legs = [services.debit(picked[0], amount), services.credit(picked[1], amount)]
        else:
            legs = [
                services.debit(picked[0], amount * 2),
                services.credit(picked[1], amount),
                services.credit(picked[2], amount),
            ]
        try:
            if rng.random() < 0.2:
                specs = [
                    services.EntrySpec(legs=legs, memo=f"batch {seed}-{n}-{i}") for i in range(5)
                ]
                services.entries_post(entries=specs, actor=None)
                outcome["entries"] += 5
            else:
                services.entry_post(
                    legs=legs,
                    memo=f"transfer {seed}-{n}",
                    actor=None,
                    idempotency_key=f"conc-{seed}-{n}",
                )
                outcome["entries"] += 1
        except RetryableError:
            outcome["retryable"] += 1
        except Exception as exc:
            errors.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps({"outcome": dict(outcome), "errors": errors[:20]}))


if __name__ == "__main__":
    main()
