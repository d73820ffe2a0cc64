"""Fixtures for the margin-call tests: a credit account opened through the real credit
services (four eyes), and Shanghai-time helpers.

A pytest plugin (`pytest_plugins` in tests/conftest.py): the fixtures are available to every
test without an import; the plain helpers (sh, held, overdue_call, MOUTAI, PINGAN, D) are
imported by name."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

SH = ZoneInfo("Asia/Shanghai")
D = Decimal
MOUTAI, PINGAN = "SSE:600519", "SZSE:000001"


def sh(*args) -> datetime:
    """An aware Asia/Shanghai datetime: sh(2026, 9, 30, 10, 0)."""
    return datetime(*args, tzinfo=SH)


@pytest.fixture
def open_credit_account(make_investor, make_eligible, staff):
    from lending.credit import services as credit

    def _open(real_name="李明", limit=Decimal("1000000")):
        investor = make_eligible(make_investor(real_name=real_name))
        application = credit.credit_application_submit(
            investor=investor,
            requested_limit=limit,
            requested_term_months=6,
            actor=investor.user,
        )
        application = credit.credit_application_prepare(
            application=application,
            actor=staff["ops"],
            credit_grade="B",
            collateral_liquidity="high",
            proposed_limit=limit,
            proposed_term_months=6,
            note="assets verified",
        )
        contract = credit.credit_application_approve(
            application=application, actor=staff["risk"], reason="within policy", signed_on=None
        )
        return contract.credit_account

    return _open


@pytest.fixture
def credit_account(open_credit_account):
    return open_credit_account()


@pytest.fixture
def account(funded_account):
    """Deposit 200,000; own-cash 2,000 SSE:600519 @ 100; drawdown 14,000 SZSE:000001 @ 10
    (140,000). Assets 340,000, debt 140,000, ratio 242.86% (see test_calls_lifecycle)."""
    return funded_account(
        deposit="200000",
        own=((MOUTAI, 2000, "100.00"),),
        financed=((PINGAN, 14000, "10.00"),),
    )


@pytest.fixture
def reserve(db):
    from custody import services as custody

    custody.house_capital_contribute(
        amount=D("5000000"), currency="CNY", actor=None, reason="capital", idempotency_key="cap-1"
    )
    custody.reserve_fund_contribute(
        amount=D("1000000"), currency="CNY", actor=None, reason="reserve", idempotency_key="rf-1"
    )


def held(account, unit):
    from lending.financing.valuation import account_view

    position = account_view(account).position(unit)
    return D(0) if position is None else position.quantity


def overdue_call(account, staff):
    """Price fall to a call on 30 September 2026, no cure, overdue after 9 October."""
    from lending.margin_calls import services as calls
    from tests.lending.book_fixtures import price_set

    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    call = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0)).call
    calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5))
    call.refresh_from_db()
    assert call.status == "overdue"
    return call
