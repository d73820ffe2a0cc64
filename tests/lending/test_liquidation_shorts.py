"""A margin call on an account with a long and a short position, cured by a liquidation plan
that sells and buys back the minimal amounts (issue 22, item 3: forced buy-in).

Fees of zero (short_desk, funded_account), SSE:600519 lent by the desk at 20.00, the desk's
liquidation slippage 0.5%, target line 150%, lending fee 8.35% a year (ACT/360).

Worked by hand:
    deposit 40,000.00; own-cash buy 4,000 SZSE:000001 @ 10.00 (cash 0; haircut 65%):
      available margin 40,000 x 0.65 = 26,000
    short sale 1,000 SSE:600519 @ 20.00 (needs 20,000 x 100% <= 26,000): restricted proceeds
      20,000.00, owes 1,000 shares
    prices: SSE:600519 -> 45.00, SZSE:000001 -> 9.50
      assets 0 + 20,000 + 4,000 x 9.50 = 58,000; liabilities 1,000 x 45 = 45,000:
      ratio 128.89% < 130%: a call; not cured, overdue
    the plan (margin.plan_liquidation_long_short), T = 1.5, need T·D - A = 67,500 - 58,000
    = 9,500.00
      buy-back limit 45.00 x 1.005 = 45.225 -> 45.23 (up to the cent; band up to 49.50),
        each share bought back lowers the need by T x 45.00 - 45.23 = 22.27
      sale limit 9.50 x 0.995 = 9.4525 -> 9.45 (down to the cent; band down to 8.55)
      1. buy-backs from the cash on hand (20,000 of restricted proceeds, no free cash):
         9,500 / 22.27 = 426.6 -> 5 lots, but 500 x 45.23 = 22,615 > 20,000: 4 lots (400 x
         45.23 = 18,092.00); need 9,500 - 400 x 22.27 = 592.00, cash left 1,908.00
      2. sales of SZSE:000001 (no financing to repay: the proceeds pay buy-backs); each share
         sold adds 9.50 - 9.45 = 0.05 to the need. The fewest lots whose proceeds pay the
         buy-back that closes it: 1 lot -> cash 2,853 < 4,523 (a lot of 600519); 2 lots ->
         3,798 < 4,523; 3 lots -> 1,908 + 2,835 = 4,743 >= 4,523: sell 300
         (need 592 + 300 x 0.05 = 607.00)
      3. buy back 1 lot more (100 x 22.27 = 2,227 >= 607): 500 in all, 22,615.00
    so the plan: sell 300 SZSE:000001 @ 9.45 (2,835.00), buy back 500 SSE:600519 @ 45.23
      (22,615.00); after: assets 58,000 - 2,850 + 2,835 - 22,615 = 35,370.00, liabilities
      45,000 - 22,500 = 22,500.00, ratio 157.20% >= 150%
    the exchange fills both at the limits:
      sale: cash 2,835.00
      buy-in: 22,615.00 from the restricted proceeds 20,000.00, then 2,615.00 from the free
        cash (cash 220.00, nothing owed); 500 shares back to the desk: the position (sold
        today) keeps 500 shares and 10,000.00 of its sale amount; one day's lending fee on
        the 10,000.00 returned: round(10,000 x 0.0835 / 360, 2) = 2.32, paid from the cash:
        cash 217.68; nothing restricted is released (0 held, 10,000 still owed)
      assets 217.68 + 3,700 x 9.50 = 35,367.68; liabilities 500 x 45 = 22,500.00:
      ratio 157.19% >= 150%: cured, the account is normal again
"""

from decimal import Decimal

import pytest
from django.urls import reverse

from accounts.errors import PermissionDenied
from custody.models import LedgerAccount
from custody.selectors import account_balance
from lending.financing.valuation import account_view
from lending.liquidation import services as liquidation
from lending.margin_calls import services as calls
from lending.models import AccountMarginState, LiquidationFill, MarginCall, Order, ShortPosition
from lending.orders import services as orders
from tests.compliance.fixtures import login_verified
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.lending.calls_fixtures import MOUTAI, PINGAN, held, sh
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal


def _balance(account, purpose: str, unit: str = "CNY") -> Decimal:
    ledger = LedgerAccount.objects.filter(
        investor=account.investor, purpose=purpose, unit=unit
    ).first()
    return account_balance(account=ledger) if ledger else D(0)


def _orders(plan):
    return list(Order.objects.filter(liquidation_order__line__plan=plan).order_by("pk"))


@pytest.fixture
def long_short_account(funded_account, short_desk):
    account = funded_account(deposit="40000", own=((PINGAN, 4000, "10.00"),), financed=())
    assert account_view(account).available_margin == D("26000.00")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    view = account_view(account)
    assert (view.cash, view.short_proceeds) == (D("0.00"), D("20000.00"))
    return account


def _overdue_call(account) -> MarginCall:
    price_set(MOUTAI, "45.00")
    price_set(PINGAN, "9.50")
    view = account_view(account)
    assert (view.total_assets, view.total_liabilities) == (D("58000.00"), D("45000.00"))
    call = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0)).call
    assert call.amount_to_cure == D("9500.00")  # 150% x 45,000 - 58,000
    calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5))
    call.refresh_from_db()
    assert call.status == "overdue"
    return call


def test_a_call_on_a_long_short_account_is_cured_by_a_minimal_sale_and_buy_back(
    long_short_account, staff, client
):
    account = long_short_account
    call = _overdue_call(account)

    # the maker prepares the plan through the API: a sale and a buy-back, minimal amounts
    login_verified(client, staff["risk"])
    response = client.post(
        reverse("v1:lending-margin-call-plan-prepare", args=[call.pk]), {}, "application/json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert [
        (x["sequence"], x["side"], x["instrument_code"], x["quantity"], x["limit_price"])
        for x in body["lines"]
    ] == [
        (1, "sell", PINGAN, "300.0000", "9.4500"),
        (2, "buy_back", MOUTAI, "500.0000", "45.2300"),
    ]
    assert [x["expected_proceeds"] for x in body["lines"]] == ["2835.00", "22615.00"]
    assert body["lines"][1]["lower_limit_price"] is None
    assert body["expected_proceeds"] == "2835.00" and body["restores_target"] is True
    plan = call.plans.get()
    assert plan.ratio_after.quantize(D("0.0001")) == D("1.5720")  # 35,370 / 22,500
    assert plan.buy_back_cost == D("22615.00")

    # the staff page shows each line's side
    url = reverse("staff:lending-liquidation-detail", args=[plan.pk])
    page = client.get(url, HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Buy back" in text and "45.23" in text and "22,615.00" in text
    chinese = client.get(url, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert "买券还券" in chinese and "Buy back" not in chinese

    # four eyes: the preparer cannot approve; a second officer with a second factor does
    with pytest.raises(PermissionDenied):
        liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk"], reason="mine")
    plan = liquidation.liquidation_plan_approve(
        plan=plan, actor=staff["risk2"], reason="overdue, short squeeze"
    )
    assert plan.status == "approved"

    # execution: a liquidation sale and a forced buy-in (a buy of purpose buy_in)
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    sale, buy_in = _orders(plan)
    assert (sale.purpose, sale.side, sale.quantity, sale.limit_price) == (
        "liquidation",
        "sell",
        D(300),
        D("9.45"),
    )
    assert (buy_in.purpose, buy_in.side, buy_in.quantity, buy_in.limit_price) == (
        "buy_in",
        "buy",
        D(500),
        D("45.23"),
    )
    # the investor cannot cancel the desk's buy-in
    with pytest.raises(PermissionDenied):
        orders.order_cancel(order=buy_in, actor=account.investor.user, reason="mine")
    # executing again places nothing new while both work at the exchange
    assert liquidation.liquidation_execute(plan=plan, actor=staff["risk"]).orders_sent == []

    # the exchange fills the sale, then the buy-in, at the limits
    market.fill(sale)
    plan.refresh_from_db()
    assert plan.status == "executing"
    assert _balance(account, "client_money") == D("2835.00")
    market.fill(buy_in)
    plan.refresh_from_db()
    assert plan.status == "executed"
    lines = list(plan.lines.order_by("sequence"))
    assert [(x.side, x.filled_quantity, x.proceeds) for x in lines] == [
        ("sell", D(300), D("2835.00")),
        ("buy_back", D(500), D("22615.00")),
    ]
    bought = LiquidationFill.objects.get(order__line=lines[1])
    assert (bought.quantity, bought.amount, bought.principal_repaid, bought.cash_credited) == (
        D(500),
        D("22615.00"),
        D(0),
        D("-22615.00"),
    )

    # the short is reduced by what was bought back, the long by what was sold
    position = ShortPosition.objects.get(credit_account=account)
    assert (position.quantity_outstanding, position.amount_outstanding) == (D(500), D("10000"))
    assert held(account, PINGAN) == 3700
    assert _balance(account, "short_securities", MOUTAI) == D(500)
    assert _balance(account, "short_proceeds") == D("0.00")
    assert _balance(account, "lending_fee_receivable") == D("0.00")  # 2.32 charged and paid
    assert _balance(account, "client_money") == D("217.68")  # 2,835 - 2,615 - 2.32

    # cured: the ratio is back above the target, the call closed, the account normal
    view = account_view(account)
    assert view.total_assets == D("35367.68") and view.total_liabilities == D("22500.00")
    assert view.maintenance_ratio >= call.target_line
    assert view.maintenance_ratio.quantize(D("0.0001")) == D("1.5719")
    call.refresh_from_db()
    assert call.status == "closed"
    assert AccountMarginState.objects.get(credit_account=account).state == "normal"
    assert trial_balance_is_zero()


def test_a_buy_in_filled_before_the_sale_leaves_a_shortfall_the_sale_pays(
    long_short_account, staff
):
    """The same plan, the exchange filling the buy-in first: 22,615.00 from the restricted
    proceeds 20,000.00 and no free cash: 2,615.00 owed (lending_fee_receivable), with the
    day's fee 2.32 unpaid: 2,617.32 owed. Then the sale brings 2,835.00 of cash, which pays
    what is owed on the lending side after the financing (none here): 217.68 left.
    Assets 217.68 + 35,150 = 35,367.68; liabilities 22,500: ratio 157.19% >= 150%, cured,
    as when the sale fills first."""
    account = long_short_account
    call = _overdue_call(account)
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    assert [(x.side, x.quantity) for x in plan.lines.all()] == [
        ("sell", D(300)),
        ("buy_back", D(500)),
    ]
    liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    sale, buy_in = _orders(plan)

    market.fill(buy_in)
    assert _balance(account, "short_proceeds") == D("0.00")
    assert _balance(account, "lending_fee_receivable") == D("2617.32")
    plan.refresh_from_db()
    assert plan.status == "executing"
    market.fill(sale)
    plan.refresh_from_db()
    assert plan.status == "executed"

    assert ShortPosition.objects.get(credit_account=account).quantity_outstanding == D(500)
    assert _balance(account, "lending_fee_receivable") == D("0.00")
    assert _balance(account, "client_money") == D("217.68")
    position = ShortPosition.objects.get(credit_account=account)
    assert position.fee_accrued == 0 and position.fee_paid == D("2.32")
    view = account_view(account)
    assert view.total_assets == D("35367.68") and view.total_liabilities == D("22500.00")
    assert view.maintenance_ratio.quantize(D("0.0001")) == D("1.5719")
    call.refresh_from_db()
    assert call.status == "closed"
    assert AccountMarginState.objects.get(credit_account=account).state == "normal"
    assert trial_balance_is_zero()
