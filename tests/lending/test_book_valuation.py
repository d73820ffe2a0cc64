"""Golden numbers for account_view, worked by hand (acceptance 1)."""

from decimal import Decimal

import pytest

from lending.financing.valuation import account_view
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.lending.margin_lines import LINES

pytestmark = pytest.mark.django_db


def test_funded_account_golden_numbers(funded_account, django_assert_max_num_queries):
    account = funded_account()
    with django_assert_max_num_queries(5):
        view = account_view(account)
    # cash 1,000,000 - 200,000 own purchase = 800,000
    assert view.cash == Decimal("800000.00")
    assert view.financing_debt == Decimal("300000.00")
    assert view.accrued_interest == 0
    by_unit = {p.instrument.ledger_unit: p for p in view.positions}
    moutai, pingan = by_unit["SSE:600519"], by_unit["SZSE:000001"]
    assert (moutai.quantity, moutai.price, moutai.market_value) == (2000, 100, Decimal("200000"))
    assert (moutai.haircut, moutai.financed_amount) == (Decimal("0.70"), 0)
    assert (pingan.quantity, pingan.market_value, pingan.financed_amount) == (
        30000,
        Decimal("300000"),
        Decimal("300000.00"),
    )
    assert pingan.lower_limit_price == Decimal("9.00")
    # collateral value Σ MV x haircut = 200,000 x 0.70 + 300,000 x 0.65 = 335,000
    assert view.collateral_value == Decimal("335000")
    # assets 800,000 + 200,000 + 300,000 = 1,300,000; liabilities 300,000
    assert view.total_assets == Decimal("1300000")
    assert view.total_liabilities == Decimal("300000")
    assert view.maintenance_ratio.quantize(Decimal("0.0001")) == Decimal("4.3333")
    # 800,000 + 140,000 + (300,000 - 300,000) x 0.65 - 300,000 x 1.00 = 640,000
    assert view.available_margin == Decimal("640000.00")
    # withdrawable: A - 3 x D = 1,300,000 - 900,000 = 400,000 (≤ cash)
    assert view.withdrawable_cash == Decimal("400000.00")
    assert view.lines == LINES  # the contract's: those in force when it was signed
    assert trial_balance_is_zero()


def test_loss_position_counts_in_full_and_gain_at_haircut(funded_account):
    account = funded_account()
    # financed 000001 falls to 8.00: MV 240,000, loss 60,000 counted at 100%
    price_set("SZSE:000001", "8.00")
    view = account_view(account)
    # 800,000 + 140,000 + (240,000 - 300,000) x 1 - 300,000 = 580,000
    assert view.available_margin == Decimal("580000.00")
    assert view.total_assets == Decimal("1240000")
    # it rises to 12.00: gain 60,000 counted at its 65% haircut
    price_set("SZSE:000001", "12.00")
    view = account_view(account)
    # 800,000 + 140,000 + 60,000 x 0.65 - 300,000 = 679,000
    assert view.available_margin == Decimal("679000.00")
    # the financed row and the own row are separate rows of the margin account
    assert view.financed_row("SZSE:000001").financed_amount == Decimal("300000.00")
    assert view.collateral_row("SZSE:000001") is None
    assert view.collateral_row("SSE:600519").quantity == 2000


def test_no_debt_no_ratio(make_credit_account):
    view = account_view(make_credit_account())
    assert view.maintenance_ratio is None and view.total_liabilities == 0
    assert view.withdrawable_cash == 0 and view.positions == []
