"""Liquidation sized at the price the plan expects (issue 16, item 5): the minimal sale of
DOMAIN.md in whole lots at the latest price less the desk's slippage (the dated parameter
liquidation.slippage), never at the day's lower limit; suspended lines left out; Execute
idempotent while orders still work at the exchange.

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

from accounts.errors import RuleViolation
from compliance import parameters as P
from compliance.models import RegulatoryParameter
from lending.financing.valuation import account_view
from lending.instruments import services as instruments_services
from lending.liquidation import api as liquidation_api
from lending.liquidation import services as liquidation
from lending.liquidation import views as liquidation_views
from lending.liquidation.brokers import SimulatedBroker
from lending.margin_calls import services as calls
from lending.models import LiquidationOrder, LiquidationPlan
from tests.compliance.fixtures import login_verified
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.lending.calls_fixtures import MOUTAI, PINGAN, held, overdue_call, sh

pytestmark = pytest.mark.django_db

D = Decimal


def _desk_parameter(key, value):
    RegulatoryParameter.objects.create(
        key=key, effective_from=timezone.localdate(), value=D(value), source="test desk"
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


def test_without_slippage_the_plan_sells_exactly_the_minimal_sale(issue_call, staff):
    _desk_parameter(P.LIQUIDATION_SLIPPAGE, "0")
    plan = _approved(issue_call, staff)
    # (T·D - A)/(T - 1) = 16,000.00 at 10.00: 1,600 shares, 16 whole lots, not 2,300 or 4,000
    assert _lines(plan) == [(MOUTAI, 1600, D("10.00"))]
    assert plan.expected_proceeds == D("16000.00") and plan.ratio_after == D("1.5")

    broker = SimulatedBroker()  # fills at the limit price, 10.00
    plan = liquidation.liquidation_execute(plan=plan, broker=broker, actor=staff["risk"])
    assert broker.orders == [(MOUTAI, D("1600"), D("10.00"))]
    assert plan.status == "executed" and held(issue_call.credit_account, MOUTAI) == 2400
    # assets 52,000 - 16,000 = 36,000; debt 40,000 - 16,000 = 24,000: exactly 150%
    view = account_view(issue_call.credit_account)
    assert (view.total_assets, view.total_liabilities) == (D("36000"), D("24000"))
    assert view.maintenance_ratio == D("1.5") and trial_balance_is_zero()


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

    liquidation.liquidation_execute(plan=plan, broker=SimulatedBroker(), actor=staff["risk"])
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
    resting = SimulatedBroker(fill_fraction=D(0))
    plan = liquidation.liquidation_execute(plan=plan, broker=resting, actor=staff["risk"])
    again = liquidation.liquidation_execute(plan=plan, broker=resting, actor=staff["risk"])
    assert resting.orders == [(MOUTAI, D("1700"), D("9.95"))]  # one broker call
    assert LiquidationOrder.objects.count() == 1 and again.orders_sent == []
    assert again.status == "executing" and held(issue_call.credit_account, MOUTAI) == 4000

    # a partial fill leaves the rest working: still nothing new to send
    order = LiquidationOrder.objects.get()
    order.status = "cancelled"  # (the exchange cancelled it: the FIX lifecycle records this)
    order.save(update_fields=["status"])
    partial = SimulatedBroker(fill_fraction=D("0.5"))
    plan = liquidation.liquidation_execute(plan=plan, broker=partial, actor=staff["risk"])
    plan = liquidation.liquidation_execute(plan=plan, broker=partial, actor=staff["risk"])
    assert partial.orders == [(MOUTAI, D("1700"), D("9.95"))]
    second = LiquidationOrder.objects.order_by("pk").last()
    assert (second.status, second.filled_quantity, second.working_quantity) == (
        "working",
        D("800"),
        D("900"),
    )
    assert LiquidationOrder.objects.count() == 2
    assert held(issue_call.credit_account, MOUTAI) == 3200 and trial_balance_is_zero()


def test_execute_twice_through_the_api_and_the_staff_page(issue_call, staff, client, monkeypatch):
    plan = _approved(issue_call, staff)
    resting = SimulatedBroker(fill_fraction=D(0))
    monkeypatch.setattr(liquidation_api, "default_broker", lambda: resting)
    monkeypatch.setattr(liquidation_views, "default_broker", lambda: resting)
    login_verified(client, staff["risk"])
    url = reverse("v1:lending-liquidation-plan-execute", args=[plan.pk])

    first = client.post(url)
    assert first.status_code == 200, first.json()
    body = first.json()
    assert body["status"] == "executing"
    assert [(o["quantity"], o["status"]) for o in body["orders_sent"]] == [("1700.0000", "working")]
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
    assert LiquidationOrder.objects.count() == 1 and len(resting.orders) == 1
    assert LiquidationPlan.objects.get(pk=plan.pk).status == "executing"
