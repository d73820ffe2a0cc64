"""Two mark-to-market runs applying the same valuation at the same time issue one call.

Transactional (threads need committed rows), so it runs after the other tests and cannot rely
on the seeded reference data another transactional test may have flushed: it enters the 2026
calendar itself when missing and makes the credit account as plain data."""

import threading
from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from compliance import services as compliance_services
from compliance.models import CalendarYear
from lending.margin_calls import services as calls
from lending.models import CreditAccount, MarginCall, Notice
from tests.lending.calls_fixtures import sh

pytestmark = pytest.mark.django_db(transaction=True)


def test_concurrent_runs_issue_one_call(make_investor):
    if not CalendarYear.objects.filter(year=2026).exists():
        national_day = [(date(2026, 10, 1) + timedelta(days=i), "National Day") for i in range(7)]
        compliance_services.calendar_year_add(
            year=2026, holidays=national_day, source="test", actor=None
        )
    investor = make_investor()
    account = CreditAccount.objects.create(
        investor=investor, account_number="RACE-1", account_name=investor.real_name
    )
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run():
        try:
            barrier.wait()
            calls.margin_state_apply(
                credit_account=account,
                ratio=Decimal("1.25"),
                total_assets=Decimal("1250000"),
                total_liabilities=Decimal("1000000"),
                valued_at=sh(2026, 9, 30, 10, 0),
                source="race",
            )
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert MarginCall.objects.count() == 1
    assert MarginCall.objects.get().deadline == sh(2026, 10, 9, 15, 0)
    assert Notice.objects.count() == 2
