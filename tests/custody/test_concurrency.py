"""Acceptance 2: several processes post transfers among the same few accounts on real
PostgreSQL; nothing but RetryableError reaches a caller, every balance equals the sum of its
postings, and the trial balance is zero."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from custody import selectors, services
from custody.models import AccountBalance, JournalEntry

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 4
SECONDS = 4
WORKER = ROOT / "tests" / "custody" / "ledger_worker.py"


def test_concurrent_posting_keeps_every_invariant(funded_investor, treasury):
    # given two funded clients and three house accounts, all shared by every worker
    a = services.client_account(funded_investor("1000000.00"), "client_money", "CNY")
    b = services.client_account(funded_investor("1000000.00"), "client_money", "CNY")
    house = [services.house_account(p, "CNY") for p in ("house_bank", "fee_income", "client_bank")]
    ids = [str(acc.pk) for acc in (a, b, *house)]
    db = settings.DATABASES["default"]
    env = dict(os.environ)
    env["DATABASE_URL"] = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}"
    )
    env["DJANGO_DEBUG"] = "true"
    entries_before = JournalEntry.objects.count()
    # when several processes post at once
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests/custody/ledger_worker.py"),
                str(SECONDS),
                str(seed),
                *ids,
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(WORKERS)
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    # then no error other than RetryableError reached a caller
    assert [r["errors"] for r in results] == [[]] * WORKERS
    posted = sum(r["outcome"].get("entries", 0) for r in results)
    assert posted > 50, results
    assert JournalEntry.objects.count() - entries_before == posted
    # and every balance row equals the sum of its postings
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT b.account_id, b.balance, coalesce(sum(p.amount), 0), b.posting_count, "
            "count(p.id) FROM custody_accountbalance b "
            "LEFT JOIN custody_posting p ON p.account_id = b.account_id "
            "GROUP BY b.account_id, b.balance, b.posting_count"
        )
        for account_id, balance, total, count_row, count_real in cursor.fetchall():
            assert (balance, count_row) == (total, count_real), account_id
    # and the trial balance is zero
    tb = selectors.trial_balance()
    assert tb.balanced
    assert sum(row.debit - row.credit for row in tb.rows) == Decimal(0)
    assert all(
        AccountBalance.objects.get(account=acc).balance <= 0 for acc in (a, b)
    )  # client money (credit balances) never went negative
