"""Liquidation sized at the price the plan expects (issue 16, item 5): the minimal sale of
DOMAIN.md in whole lots at the latest price less the desk's slippage (the dated parameter
liquidation.slippage), never at the day's lower limit, allowing for the sale fees; suspended
lines left out; executed as liquidation orders (lending.orders) that the exchange fills
(tests/support/market.py stands for it); Execute idempotent while orders still work at the
exchange; after a limit-down day the remainder is re-planned (four eyes again).

The issue's account, built through the services (SSE:600519, haircut 70%):
    deposit 52,000.00; own-cash purchase 2,000 @ 20.00 (cash 12,000); drawdown 2,000 @ 20.00
    = 40,000.00 (available margin 12,000 + 40,000 x 0.70 = 40,000 ≥ 40,000 x 100%; one
    security is the whole account, so the test lifts the desk's concentration cap).
    The price falls to 9.90 on 30 September 2026: assets 12,000 + 39,600 = 51,600, ratio
    129% < 130%: a call, overdue after 9 October; the price is back at 10.00 when the desk
    plans: assets A = 52,000, debt D = 40,000, target T = 150%.
Minimal sale (DOMAIN.md): S ≥ (T·D - A)/(T - 1) = (60,000 - 52,000)/0.5 = 16,000.00, i.e.
1,600 shares at 10.00. Sized at the lower limit (9.00 with a 10% band) it was
8,000 / (1.5 x 9.00 - 10) = 2,285.7 -> 2,300 shares; at 8.00 (20% band) 4,000 shares.
"""

from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.errors import Conflict, PermissionDenied, RuleViolation
from compliance import parameters as P
from compliance.models import RegulatoryParameter
from lending.domain import margin
from lending.financing.valuation import account_view
from lending.instruments import services as instruments_services
from lending.liquidation import services as liquidation
from lending.margin_calls import services as calls
from lending.models import DefaultRecord, LiquidationOrder, LiquidationPlan, Order
from tests.compliance.fixtures import login_verified
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.lending.calls_fixtures import MOUTAI, PINGAN, held, overdue_call, sh
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal


def _desk_parameter(key, value):
    RegulatoryParameter.objects.update_or_create(
        key=key,
        effective_from=timezone.localdate(),
        defaults={"value": D(value), "source": "test desk"},
    )


@pytest.fixture
def issue_call(funded_account):
    """The overdue call of the module docstring's account, price back at 10.00."""
    _desk_parameter(P.CONCENTRATION_CAP, "1.00")
    price_set(MOUTAI, "20.00")
    account = funded_account(
        deposit="52000", own=((MOUTAI, 2000, "20.00"),), financed=((MOUTAI, 2000, "20.00"),)
    )
    price_set(MOUTAI, "9.90")
    call = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0)).call
    calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5))
    call.refresh_from_db()
    assert call.status == "overdue"
    price_set(MOUTAI, "10.00")
    view = account_view(account)
    assert (view.total_assets, view.total_liabilities) == (D("52000"), D("40000"))
    return call


def _approved(call, staff):
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    return liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")


def _lines(plan):
    return [(x.instrument_code, x.quantity, x.limit_price) for x in plan.lines.all()]


def _orders(plan):
    """The lending.Order rows the plan's execution placed, oldest first."""
    return list(Order.objects.filter(liquidation_order__line__plan=plan).order_by("pk"))


def test_the_planner_allows_for_sale_fees_and_without_them_sells_the_minimal_sale():
    # the module docstring's account as the planner sees it: cash 12,000, 4,000 @ 10.00,
    # debt 40,000; every share sold at 10.00 (no slippage)
    row = margin.Position(MOUTAI, 4000, D("10.00"), haircut=D("0.7"), limit_price=D("10.00"))
    account = margin.Account(cash=D("12000"), debt=D("40000"), positions=(row,))
    exact = margin.plan_liquidation(account, D("1.5"))
    same = margin.plan_liquidation(account, D("1.5"), fee_rate=D(0))
    assert exact == same and [(x.quantity, x.proceeds) for x in exact.lines] == [
        (D("1600"), D("16000.00"))
    ]
    assert exact.ratio_after == D("1.5")
    # fees of 0.051% of the turnover: 1,600 shares repay 15,991.84, ratio 149.95%; 1,700 do
    with_fees = margin.plan_liquidation(account, D("1.5"), fee_rate=D("0.00051"))
    assert [x.quantity for x in with_fees.lines] == [D("1700")] and with_fees.restored
    assert with_fees.liabilities_after == D("40000") - D("17000") * (1 - D("0.00051"))
    with pytest.raises(ValueError):
        margin.plan_liquidation(account, D("1.5"), fee_rate=D("1"))


def test_without_slippage_the_plan_sells_exactly_the_minimal_sale(issue_call, staff):
    # the acceptance of issue 16 item 5: slippage set to zero from today, fees zero
    _desk_parameter(P.LIQUIDATION_SLIPPAGE, "0")
    plan = _approved(issue_call, staff)
    # (T·D - A)/(T - 1) = 16,000.00 at 10.00: 1,600 shares, 16 whole lots, not 2,300 or 4,000
    assert _lines(plan) == [(MOUTAI, 1600, D("10.00"))]
    assert plan.expected_proceeds == D("16000.00") and plan.ratio_after == D("1.5")

    # Execute pressed twice: one set of orders, a liquidation order waiting for the gateway
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    again = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    assert len(plan.orders_sent) == 1 and again.orders_sent == []
    [order] = _orders(plan)
    assert Order.objects.count() == 3  # the fixture's two purchases and this sale
    assert (order.purpose, order.side, order.quantity, order.limit_price) == (
        "liquidation",
        "sell",
        D("1600"),
        D("10.00"),
    )
    assert order.status == "new" and order.sent_at is None  # the FIX gateway sends it

    market.fill(order, price="10.00")  # the exchange fills all of it at 10.00
    plan.refresh_from_db()
    assert plan.status == "executed" and held(issue_call.credit_account, MOUTAI) == 2400
    line = plan.lines.get()
    assert (line.filled_quantity, line.proceeds) == (D("1600"), D("16000.00"))
    assert LiquidationOrder.objects.get().status == "filled"
    # assets 52,000 - 16,000 = 36,000; debt 40,000 - 16,000 = 24,000: exactly 150%
    view = account_view(issue_call.credit_account)
    assert (view.total_assets, view.total_liabilities) == (D("36000"), D("24000"))
    assert view.maintenance_ratio == D("1.5") and trial_balance_is_zero()
    issue_call.refresh_from_db()
    assert issue_call.status == "closed" and not DefaultRecord.objects.exists()


def test_a_limit_down_day_leaves_the_plan_unfinished_and_the_next_days_replan_sells_the_rest(
    issue_call, staff
):
    _desk_parameter(P.LIQUIDATION_SLIPPAGE, "0")
    plan = _approved(issue_call, staff)
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    [order] = _orders(plan)
    # limit-down all day: nothing fills, the order expires at the close
    market.close(order, "C", text="expired at the close")
    plan.refresh_from_db()
    assert plan.status == "executing" and plan.lines.get().filled_quantity == 0
    assert LiquidationOrder.objects.get().status == "expired"
    issue_call.refresh_from_db()
    assert issue_call.status == "liquidating"
    assert held(issue_call.credit_account, MOUTAI) == 4000

    # the next day: the remainder is re-planned by one officer and approved by another
    with pytest.raises(PermissionDenied):  # operations may not re-plan
        liquidation.liquidation_replan(plan=plan, actor=staff["ops"])
    replan = liquidation.liquidation_replan(
        plan=plan, actor=staff["risk"], reason="limit-down yesterday"
    )
    plan.refresh_from_db()
    assert plan.status == "stopped" and replan.pk != plan.pk and replan.status == "prepared"
    assert _lines(replan) == [(MOUTAI, 1600, D("10.00"))]
    with pytest.raises(PermissionDenied):  # four eyes again
        liquidation.liquidation_plan_approve(plan=replan, actor=staff["risk"], reason="mine")
    with pytest.raises(RuleViolation):  # not approved: not executed
        liquidation.liquidation_execute(plan=replan, actor=staff["risk"])
    replan = liquidation.liquidation_plan_approve(
        plan=replan, actor=staff["risk2"], reason=f"remainder of plan {plan.pk}"
    )
    replan = liquidation.liquidation_execute(plan=replan, actor=staff["risk"])
    [order] = _orders(replan)
    market.fill(order, price="10.00")
    replan.refresh_from_db()
    assert replan.status == "executed"
    assert Order.objects.filter(purpose="liquidation").count() == 2
    view = account_view(issue_call.credit_account)
    assert (view.total_assets, view.total_liabilities) == (D("36000"), D("24000"))
    issue_call.refresh_from_db()
    assert issue_call.status == "closed" and trial_balance_is_zero()


def test_replan_is_refused_before_approval_and_while_an_order_works(issue_call, staff):
    plan = liquidation.liquidation_plan_prepare(call=issue_call, actor=staff["risk"])
    with pytest.raises(RuleViolation) as refused:  # prepared: decided first, not re-planned
        liquidation.liquidation_replan(plan=plan, actor=staff["risk"])
    assert refused.value.code == "plan_not_approved"
    plan = liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="due")
    liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    with pytest.raises(Conflict) as refused:
        liquidation.liquidation_replan(plan=plan, actor=staff["risk"])
    assert refused.value.code == "orders_working"
    assert LiquidationPlan.objects.get().status == "executing"


def test_with_sale_fees_the_plan_sells_enough_to_restore_the_target(issue_call, staff):
    # stamp duty 0.05% and transfer fee 0.001% on sales from today; no commission
    _desk_parameter(P.LIQUIDATION_SLIPPAGE, "0")
    _desk_parameter(P.STAMP_DUTY_SALE, "0.0005")
    _desk_parameter(P.TRANSFER_FEE, "0.00001")
    plan = _approved(issue_call, staff)
    # net per share 10.00 x (1 - 0.00051) = 9.9949; 1.5 x 9.9949 - 10 = 4.99235 per share:
    # 8,000 / 4.99235 = 1,602.5 -> 17 lots = 1,700 shares (1,600 no longer restore the target)
    assert _lines(plan) == [(MOUTAI, 1700, D("10.00"))]
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    [order] = _orders(plan)
    market.fill(order, price="10.00")
    # turnover 17,000; fees 8.50 + 0.17 = 8.67; debt 40,000 - 16,991.33 = 23,008.67;
    # assets 52,000 - 17,000 = 35,000: 152.12% ≥ 150%
    view = account_view(issue_call.credit_account)
    assert (view.total_assets, view.total_liabilities) == (D("35000"), D("23008.67"))
    assert view.maintenance_ratio >= D("1.5") and trial_balance_is_zero()


def test_with_the_default_slippage_the_whole_lot_minimal_sale_at_the_slipped_price(
    issue_call, staff
):
    # the seeded desk parameter: 0.5% (desk risk policy)
    assert RegulatoryParameter.objects.get(key=P.LIQUIDATION_SLIPPAGE).value == D("0.005")
    plan = _approved(issue_call, staff)
    # expected price L = 10.00 x (1 - 0.005) = 9.95; selling q repays q·L and removes q·p:
    # (A - q·p)/(D - q·L) ≥ T  <=>  q ≥ (T·D - A)/(T·L - p) = 8,000 / 4.925 = 1,624.4
    # -> 17 lots = 1,700 shares (16 lots leave (52,000 - 16,000)/(40,000 - 15,920) = 149.5%)
    assert _lines(plan) == [(MOUTAI, 1700, D("9.95"))]
    assert plan.expected_proceeds == D("16915.00")  # 1,700 x 9.95
    line = plan.lines.get()
    assert line.mark_price == D("10.00") and line.lower_limit_price < line.limit_price

    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    [order] = _orders(plan)
    market.fill(order, price="9.95")
    # assets 52,000 - 17,000 = 35,000; debt 40,000 - 16,915 = 23,085: 151.61% ≥ 150%
    view = account_view(issue_call.credit_account)
    assert (view.total_assets, view.total_liabilities) == (D("35000"), D("23085"))
    assert view.maintenance_ratio.quantize(D("0.0001")) == D("1.5161")


def test_a_suspended_line_is_left_out_of_the_plan(account, staff, book_instruments):
    # the account of test_calls_lifecycle at the call: 600519 at 48.00 (2,000 own shares,
    # 96,000), 000001 at 5.80 (14,000 financed, 81,200); A = 177,200, D = 140,000
    call = overdue_call(account, staff)
    instruments_services.instrument_flags_set(
        instrument=book_instruments[MOUTAI], actor=None, reason="trading halt", suspended=True
    )
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    # 600519 (suspended; haircut 0 would have put it first) is not sold but stays in the
    # assets; 000001 at 5.80 x 0.995 = 5.771 -> 5.77: 32,800 / (1.5 x 5.77 - 5.80) = 32,800 /
    # 2.855 = 11,488.6 -> 115 lots = 11,500 shares
    assert _lines(plan) == [(PINGAN, 11500, D("5.77"))]
    assert plan.assets_before == D("177200.00") and plan.restores_target
    event = plan.call.events.get(kind="plan_prepared")
    assert event.data["suspended_left_out"] == [MOUTAI] and event.data["slippage"] == "0.005000"

    # nothing sellable at all: no plan (the reason names what is suspended)
    liquidation.liquidation_plan_reject(plan=plan, actor=staff["risk2"], reason="halt")
    instruments_services.instrument_flags_set(
        instrument=book_instruments[PINGAN], actor=None, reason="trading halt", suspended=True
    )
    with pytest.raises(RuleViolation) as refused:
        liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    assert refused.value.code == "nothing_to_sell"
    assert refused.value.extra["suspended"] == [MOUTAI, PINGAN]


def test_execute_twice_while_an_order_works_sends_one_set_of_orders(issue_call, staff):
    plan = _approved(issue_call, staff)
    # the exchange fills nothing yet: the order rests, working
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    again = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    assert [(o.quantity, o.limit_price) for o in _orders(plan)] == [(D("1700"), D("9.95"))]
    assert LiquidationOrder.objects.count() == 1 and again.orders_sent == []
    assert again.status == "executing" and held(issue_call.credit_account, MOUTAI) == 4000

    # a partial fill leaves the rest working: still nothing new to send
    [order] = _orders(plan)
    market.fill(order, price="9.95", quantity=800)
    again = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    assert again.orders_sent == [] and LiquidationOrder.objects.count() == 1
    link = LiquidationOrder.objects.get()
    assert (link.status, link.filled_quantity, link.working_quantity) == (
        "working",
        D("800"),
        D("900"),
    )
    # the exchange cancels the rest: Execute places the remainder, once
    market.close(order, "4")
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    again = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    assert [(o.quantity, o.status) for o in _orders(plan)] == [
        (D("1700"), "cancelled"),
        (D("900"), "new"),
    ]
    assert again.orders_sent == [] and LiquidationOrder.objects.count() == 2
    assert held(issue_call.credit_account, MOUTAI) == 3200 and trial_balance_is_zero()
    market.fill(_orders(plan)[-1], price="9.95")
    plan.refresh_from_db()
    assert plan.status == "executed" and held(issue_call.credit_account, MOUTAI) == 2300


def test_execute_twice_through_the_api_and_the_staff_page(issue_call, staff, client):
    plan = _approved(issue_call, staff)
    login_verified(client, staff["risk"])
    url = reverse("v1:lending-liquidation-plan-execute", args=[plan.pk])

    first = client.post(url)
    assert first.status_code == 200, first.json()
    body = first.json()
    assert body["status"] == "executing"
    assert [(o["quantity"], o["status"]) for o in body["orders_sent"]] == [("1700.0000", "working")]
    assert (
        body["orders_sent"][0]["client_order_id"]
        == Order.objects.get(purpose="liquidation").client_order_id
    )
    assert body["working_orders"] == body["orders_sent"]

    second = client.post(url)  # a second press: nothing new, the live orders in the answer
    assert second.status_code == 200
    assert second.json()["orders_sent"] == []
    assert second.json()["working_orders"] == body["orders_sent"]

    page = reverse("staff:lending-liquidation-detail", args=[plan.pk])
    response = client.post(page, {"step": "execute"}, follow=True)
    assert response.status_code == 200
    text = response.content.decode()  # the message, in English or the default Chinese
    assert "orders still working at the exchange: 1" in text or "挂单的委托 1 笔" in text
    assert LiquidationOrder.objects.count() == 1
    assert Order.objects.filter(purpose="liquidation").count() == 1
    assert LiquidationPlan.objects.get(pk=plan.pk).status == "executing"


def test_replan_through_the_api_and_the_staff_page(issue_call, staff, client):
    plan = _approved(issue_call, staff)
    liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    login_verified(client, staff["risk"])
    url = reverse("v1:lending-liquidation-plan-replan", args=[plan.pk])
    refused = client.post(url, {"reason": "too early"})
    assert refused.status_code == 409, refused.json()

    page = reverse("staff:lending-liquidation-detail", args=[plan.pk])
    assert "replan" not in client.get(page).content.decode()
    market.close(_orders(plan)[0], "C")
    assert 'value="replan"' in client.get(page).content.decode()
    response = client.post(page, {"step": "replan", "reason": "limit-down"})
    new = LiquidationPlan.objects.get(status="prepared")
    assert response.status_code == 302 and response["Location"].endswith(f"/{new.pk}/")
    assert LiquidationPlan.objects.get(pk=plan.pk).status == "stopped"
    # a second re-plan of the stopped plan is refused by the API
    again = client.post(url, {"reason": "again"})
    assert again.status_code == 422, again.json()


def test_replan_with_nothing_sellable_left_records_the_default(
    issue_call, staff, reserve, book_instruments
):
    plan = _approved(issue_call, staff)
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    market.close(_orders(plan)[0], "8", text="instrument suspended")
    moutai = book_instruments[MOUTAI]

    def halt(suspended):
        instruments_services.instrument_flags_set(
            instrument=moutai, actor=None, reason="trading halt", suspended=suspended
        )

    # suspended while the account still covers its debt: nothing to sell, the plan waits
    halt(True)
    with pytest.raises(RuleViolation) as refused:
        liquidation.liquidation_replan(plan=plan, actor=staff["risk"])
    assert refused.value.code == "nothing_to_sell"
    assert LiquidationPlan.objects.get(pk=plan.pk).status == "executing"
    # the shares fall to 5.00 before the halt: assets 12,000 + 4,000 x 5 = 32,000 < debt
    # 40,000, nothing sellable: the call closes with a default of 8,000 on the reserve
    halt(False)
    price_set(MOUTAI, "5.00")
    halt(True)
    stopped = liquidation.liquidation_replan(plan=plan, actor=staff["risk"], reason="halted")
    assert stopped.pk == plan.pk and stopped.status == "stopped"
    default = DefaultRecord.objects.get(call=issue_call)
    assert default.shortfall == D("8000.00") and default.reserve_entry is not None
    issue_call.refresh_from_db()
    assert issue_call.status == "closed" and trial_balance_is_zero()
    assert not LiquidationPlan.objects.filter(status="prepared").exists()
