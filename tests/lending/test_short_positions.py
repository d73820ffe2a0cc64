"""Short positions (融券, issue 22): a short sale through an order, its restricted proceeds, the
ratio as the price moves, buy to cover with the fee for the days held, direct return, and the
refusals. Fees of zero (short_desk), SSE:600519 at 20.00, short margin ratio 100 per cent
(2026: the dated parameter from 2024-07-22), lending fee 8.35 per cent a year, ACT/360.

Worked by hand:
    deposit 50,000.00; available margin 50,000.00
    short sale 1,000 @ 20.00: needs 20,000.00 (1,000 x 20.00 x 100%) -> allowed
      restricted proceeds 20,000.00, free cash 50,000.00, owes 1,000 shares
      ratio (50,000 + 20,000) / 20,000 = 350%; available 50,000 + 0 x 0.70 - 20,000 = 30,000
    price 24.00: ratio 70,000 / 24,000 = 291.67%;
      available 50,000 + (20,000 - 24,000) x 100% - 24,000 = 22,000.00
    the sale was 10 days ago; buy to cover 1,000 @ 22.00 today:
      fee 10 days x round(20,000 x 0.0835 / 360, 2) = 10 x 4.64 = 46.40
      cost 22,000.00: 20,000.00 from the restricted proceeds, 2,000.00 from the free cash
      free cash 50,000 - 2,000 - 46.40 = 47,953.60; nothing restricted, nothing owed
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.errors import RuleViolation, ValidationFailed
from custody.models import LedgerAccount
from custody.selectors import account_balance
from lending.financing import short_sales
from lending.financing.valuation import account_view
from lending.orders.models import OrderStatus
from lending.shorts.models import LendingLot, ShortPosition
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal


def _balance(account, purpose: str, unit: str = "CNY") -> Decimal:
    ledger = LedgerAccount.objects.filter(
        investor=account.investor, purpose=purpose, unit=unit
    ).first()
    return account_balance(account=ledger) if ledger else D(0)


def test_short_sale_cover_and_fee_as_worked_by_hand(short_desk, short_account):
    account = short_account(deposit="50000")
    assert account_view(account).available_margin == D("50000.00")
    sold_at = timezone.now() - timedelta(days=10)
    order = market.place(account, short_desk, "short_sale", 1000, "20.00")
    lot = LendingLot.objects.get(instrument=short_desk)
    assert (lot.reserved, lot.lent) == (D(1000), D(0))  # reserved when placed
    order = market.fill(order, at=sold_at)
    assert order.status == OrderStatus.FILLED

    position = ShortPosition.objects.get(credit_account=account)
    assert (position.quantity_outstanding, position.amount_outstanding) == (D(1000), D("20000"))
    assert position.opened_on == timezone.localdate(sold_at)
    assert _balance(account, "short_proceeds") == D("20000.00")
    assert _balance(account, "client_money") == D("50000.00")
    assert _balance(account, "short_securities", "SSE:600519") == D(1000)
    lot.refresh_from_db()
    assert (lot.reserved, lot.lent) == (D(0), D(1000))

    view = account_view(account)
    assert view.short_proceeds == D("20000.00") and view.short_sale_amount == D("20000")
    assert view.maintenance_ratio == D("3.5")
    assert view.available_margin == D("30000.00")

    price_set(short_desk, "24.00")
    view = account_view(account)
    assert view.total_assets == D("70000.00") and view.total_liabilities == D("24000.00")
    assert round(view.maintenance_ratio * 100, 2) == D("291.67")
    assert view.available_margin == D("22000.00")

    price_set(short_desk, "22.00")
    cover = market.traded(account, short_desk, "buy_to_cover", 1000, "22.00")
    assert cover.status == OrderStatus.FILLED
    position.refresh_from_db()
    assert position.status == "closed" and position.quantity_outstanding == 0
    assert position.fee_paid == D("46.40") and position.fee_accrued == 0
    assert _balance(account, "client_money") == D("47953.60")
    assert _balance(account, "short_proceeds") == 0
    assert _balance(account, "lending_fee_receivable") == 0
    assert _balance(account, "short_securities", "SSE:600519") == 0
    lot.refresh_from_db()
    assert (lot.reserved, lot.lent, lot.available) == (D(0), D(0), D(10000))
    assert trial_balance_is_zero()


def test_a_short_sale_beyond_the_available_margin_is_refused(short_desk, short_account):
    account = short_account(deposit="19999.99")
    with pytest.raises(RuleViolation) as refused:
        market.place(account, short_desk, "short_sale", 1000, "20.00")
    assert refused.value.extra["field"] == "quantity"
    assert refused.value.extra["required"] == "20000.00"
    assert refused.value.extra["available"] == "19999.99"
    assert LendingLot.objects.get(instrument=short_desk).reserved == 0  # nothing held


def test_a_short_sale_below_the_latest_price_is_refused(short_desk, short_account):
    account = short_account()
    with pytest.raises(ValidationFailed) as refused:
        market.place(account, short_desk, "short_sale", 100, "19.99")
    assert refused.value.extra["field"] == "limit_price"
    assert refused.value.extra["latest_price"] == "20.0000"
    assert "19.99" in str(refused.value) and "20.0000" in str(refused.value)


def test_a_short_sale_not_in_inventory_is_refused(short_desk, short_account, book_instruments):
    account = short_account(deposit="1000000")
    with pytest.raises(RuleViolation) as beyond:
        market.place(account, short_desk, "short_sale", 10100, "20.00")
    assert beyond.value.code == "inventory_not_available"
    assert beyond.value.extra["field"] == "quantity" and beyond.value.extra["available"] == "10000"
    etf = book_instruments["SSE:510300"]  # on the target list, no inventory
    with pytest.raises(RuleViolation) as none:
        market.place(account, etf, "short_sale", 100, "4.000")
    assert none.value.code == "inventory_not_available"
    pingan = book_instruments["SZSE:000001"]  # not on a target list
    with pytest.raises(RuleViolation) as off_list:
        market.place(account, pingan, "short_sale", 100, "10.00")
    assert off_list.value.code == "not_short_target"
    assert off_list.value.extra["field"] == "instrument"


def test_an_unfilled_short_sale_gives_its_shares_back(short_desk, short_account):
    account = short_account()
    order = market.place(account, short_desk, "short_sale", 1000, "20.00")
    market.fill(order, quantity=400)
    market.close(order, "4")  # the rest cancelled
    lot = LendingLot.objects.get(instrument=short_desk)
    assert (lot.reserved, lot.lent) == (D(0), D(400))


def test_direct_return_from_shares_held(short_desk, short_account):
    account = short_account(deposit="100000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    market.traded(account, short_desk, "cash_buy", 600, "20.00")
    with pytest.raises(RuleViolation) as too_many:
        short_sales.short_return_direct(
            credit_account=account, instrument=short_desk, quantity=700,
            actor=account.investor.user, idempotency_key="ret-1",
        )  # fmt: skip
    assert too_many.value.extra["field"] == "quantity" and D(too_many.value.extra["held"]) == 600
    result = short_sales.short_return_direct(
        credit_account=account, instrument=short_desk, quantity=600,
        actor=account.investor.user, idempotency_key="ret-2",
    )  # fmt: skip
    # 600 of 1,000 returned: 12,000.00 of the 20,000.00 restricted is free again; opened and
    # returned today: one day's fee on 12,000.00 = round(12,000 x 0.0835 / 360, 2) = 2.78
    assert result.proceeds_released == D("12000.00") and result.fees_paid == D("2.78")
    again = short_sales.short_return_direct(
        credit_account=account, instrument=short_desk, quantity=600,
        actor=account.investor.user, idempotency_key="ret-2",
    )  # fmt: skip
    assert again.entry.pk == result.entry.pk
    position = ShortPosition.objects.get(credit_account=account)
    assert (position.quantity_outstanding, position.amount_outstanding) == (D(400), D("8000.00"))
    assert _balance(account, "short_proceeds") == D("8000.00")
    assert _balance(account, "client_securities", "SSE:600519") == 0
    assert _balance(account, "client_money") == D("100000") - D("12000") + D("12000") - D("2.78")
    assert trial_balance_is_zero()
