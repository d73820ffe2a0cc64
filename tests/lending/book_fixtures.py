"""Shared fixtures for the book (and the margin-call lifecycle): instruments with prices, a
credit account with a signed contract, and a funded account (deposit + own-cash purchase +
financed buy), all built through the real services on PostgreSQL.

A pytest plugin (`pytest_plugins` in tests/conftest.py), like tests/compliance/fixtures.py
whose fixtures these build on: the fixtures are available to every test without an import;
the plain helpers (price_set, trial_balance_is_zero, BOOK_INSTRUMENTS) are imported by name.

Default funded account (`funded_account()`), worked by hand:
    deposit 1,000,000.00; own-cash purchase 2,000 SSE:600519 @ 100.00 (200,000.00, haircut 70%);
    financed buy 30,000 SZSE:000001 @ 10.00 (300,000.00, haircut 65%, financing margin ratio 100%)
    cash 800,000.00; assets 1,300,000.00; debt 300,000.00; ratio 433.33%;
    available margin = 800,000 + 200,000 x 0.70 + 0 - 300,000 x 1.00 = 640,000.00.
Move prices with `price_set("SZSE:000001", "6.50")` to bring it near the lines.
"""

from datetime import timedelta
from decimal import Decimal
from itertools import count

import pytest
from django.utils import timezone

from lending.instruments import services as instruments_services
from tests.support import market

# unit: (name, category, haircut, price, tradable float, financing eligible); the board
# follows the code (SZSE:300750 is ChiNext)
BOOK_INSTRUMENTS = {
    "SSE:600519": ("贵州茅台", "index_constituent", "0.70", "100.00", 1_256_000_000, True),
    "SZSE:000001": ("平安银行", "other_a_share", "0.65", "10.00", 19_405_000_000, True),
    "SSE:510300": ("沪深300ETF", "etf", "0.90", "4.000", 8_000_000_000, True),
    "SZSE:300750": ("宁德时代", "index_constituent", "0.70", "200.00", 3_900_000_000, True),
}

_keys = count(1)
_clock = count(1)


def _key(prefix: str) -> str:
    return f"{prefix}-{next(_keys)}-{timezone.now().timestamp()}"


def price_set(instrument, price, *, at=None) -> None:
    """Make `price` the latest price of `instrument` (an Instrument or "SSE:600519") with a tick
    that is newer than any before it in this test run."""

    code = instrument if isinstance(instrument, str) else instrument.ledger_unit
    at = at or timezone.now() + timedelta(microseconds=next(_clock))
    accepted, _ignored = instruments_services.prices_ingest(
        [{"instrument": code, "price": str(price), "at": at}], source="test", actor=None
    )
    assert accepted == 1


def trial_balance_is_zero() -> bool:
    from custody.selectors import trial_balance

    return trial_balance().balanced


@pytest.fixture
def book_staff(staff):
    """The compliance `staff` team (ops, risk with second factor, ...)."""
    return staff


@pytest.fixture
def book_instruments(db):
    """The four instruments of BOOK_INSTRUMENTS with their price: {unit: Instrument}."""

    made = {}
    for unit, (name, category, haircut, price, float_, fin) in BOOK_INSTRUMENTS.items():
        exchange, code = unit.split(":")
        made[unit] = instruments_services.instrument_create(
            code=code,
            exchange=exchange,
            name=name,
            category=category,
            tradable_float=float_,
            collateral_eligible=True,
            haircut=Decimal(haircut),
            financing_eligible=fin,
            actor=None,
            reason="test fixture",
        )
        price_set(unit, price)
    return made


@pytest.fixture
def make_credit_account(make_investor, make_eligible, staff):
    """make_credit_account(limit="1000000", grade="B", liquidity="high") -> CreditAccount of a
    new eligible investor with an active contract (rate 6.5% for B/high)."""
    from lending.credit import services as credit

    def _make(*, limit="1000000", grade="B", liquidity="high", real_name=None):
        n = next(_keys)
        kwargs = {"bank_account": f"6222{n:015d}"}
        if real_name:
            kwargs["real_name"] = real_name
        investor = make_eligible(make_investor(**kwargs))
        investor._test_bank_account = kwargs["bank_account"]
        application = credit.credit_application_submit(
            investor=investor,
            requested_limit=Decimal(limit),
            requested_term_months=6,
            actor=investor.user,
        )
        application = credit.credit_application_prepare(
            application=application,
            actor=staff["ops"],
            credit_grade=grade,
            collateral_liquidity=liquidity,
            proposed_limit=Decimal(limit),
            proposed_term_months=6,
            note="test fixture",
        )
        contract = credit.credit_application_approve(
            application=application, actor=staff["risk"], reason="test fixture"
        )
        account = contract.credit_account
        account.investor._test_bank_account = kwargs["bank_account"]
        return account

    return _make


@pytest.fixture
def funded_account(make_credit_account, book_instruments):
    """funded_account(deposit="1000000", own=[("SSE:600519", 2000, "100.00")],
    financed=[("SZSE:000001", 30000, "10.00")], limit="1000000") -> CreditAccount.

    Deposit through custody, then own-cash and financed buys: each an order placed through
    lending.orders (all its checks) and filled by the exchange at the tuple's price
    (tests/support/market.py). The fixture runs with fees of zero (dated rows from today), so
    the hand-worked numbers above hold; the latest prices are those of BOOK_INSTRUMENTS unless
    you move them with price_set."""
    from custody import services as custody

    market.zero_fees()

    def _make(
        *,
        deposit="1000000",
        own=(("SSE:600519", 2000, "100.00"),),
        financed=(("SZSE:000001", 30000, "10.00"),),
        limit="1000000",
        **account_kwargs,
    ):
        account = make_credit_account(limit=limit, **account_kwargs)
        investor = account.investor
        if Decimal(deposit) > 0:
            custody.client_deposit_post(
                investor=investor,
                amount=Decimal(deposit),
                currency="CNY",
                bank_account=investor._test_bank_account,
                reference="test deposit",
                actor=None,
                idempotency_key=_key("deposit"),
            )
        for unit, quantity, price in own:
            market.traded(account, book_instruments[unit], "cash_buy", quantity, price)
        for unit, quantity, price in financed:
            market.traded(account, book_instruments[unit], "financed_buy", quantity, price)
        return account

    return _make
