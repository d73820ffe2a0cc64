"""The margin-call lifecycle end to end through the services (acceptance item 2), and the
liquidation rules: four eyes, minimal whole-lot plan, liquidation orders filled by the exchange
(tests/support/market.py), partial fills without double posting.

Account used throughout, worked by hand:
    deposit 200,000.00; own-cash purchase 2,000 SSE:600519 @ 100.00 (cash 0; haircut 70%);
    drawdown 14,000 SZSE:000001 @ 10.00 = 140,000.00 (available margin 200,000 x 0.70 =
    140,000 ≥ 140,000 x 100%). Assets 340,000, debt 140,000, ratio 242.86%.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail

from accounts.errors import PermissionDenied, RuleViolation
from accounts.roles import Role
from custody import selectors as custody_selectors
from lending.financing.valuation import account_view
from lending.liquidation import services as liquidation
from lending.margin_calls import services as calls
from lending.models import (
    AccountMarginState,
    DefaultRecord,
    LiquidationFill,
    LiquidationOrder,
    MarginCall,
    MarginEvent,
    Notice,
    Order,
)
from tests.lending.book_fixtures import price_set, trial_balance_is_zero
from tests.lending.calls_fixtures import MOUTAI, PINGAN, held, overdue_call, sh
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal


def _orders(plan):
    """The lending.Order rows the plan's execution placed, oldest first."""
    return list(Order.objects.filter(liquidation_order__line__plan=plan).order_by("pk"))


def test_end_to_end_price_fall_call_liquidation_and_default_covered_by_reserve(
    account, staff, reserve, make_user, django_capture_on_commit_callbacks, celery_eager
):
    # given the funded account (ratio 242.86%)
    assert calls.account_revalue(credit_account=account, now=sh(2026, 9, 28, 10, 0)).to_state == (
        "normal"
    )

    # when prices fall on Tuesday 29 September: 600519 -> 50, 000001 -> 6
    # assets 100,000 + 84,000 = 184,000; ratio 184,000 / 140,000 = 131.43% < 140%: warning
    price_set(MOUTAI, "50.00")
    price_set(PINGAN, "6.00")
    with django_capture_on_commit_callbacks(execute=True):
        t = calls.account_revalue(credit_account=account, now=sh(2026, 9, 29, 10, 0))
    assert t.to_state == "warning" and not MarginCall.objects.exists()
    assert len(mail.outbox) == 1

    # and fall again on Wednesday 30 September: 600519 -> 48, 000001 -> 5.80
    # assets 96,000 + 81,200 = 177,200; ratio 126.57% < 130%: a call
    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    with django_capture_on_commit_callbacks(execute=True):
        t = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0))
        again = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0))
    call = t.call
    assert t.to_state == "call" and not again.changed
    # amount to cure = 150% x 140,000 - 177,200 = 32,800.00
    assert call.amount_to_cure == D("32800.00")
    assert (call.assets_at_issue, call.liabilities_at_issue) == (D("177200"), D("140000"))
    # two trading days after 30 September, over National Day (1-7 October): 9 October close
    assert call.deadline == sh(2026, 10, 9, 15, 0)
    assert Notice.objects.filter(call=call, kind="call").count() == 2
    assert len(mail.outbox) == 2 and "32800.00" in mail.outbox[1].body

    # no cure: the deadline passes, the call is overdue
    assert calls.calls_escalate_overdue(now=sh(2026, 10, 9, 14, 0)) == []
    calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5))
    call.refresh_from_db()
    assert call.status == "overdue"

    # and prices collapse before the desk can sell: 600519 -> 5, 000001 -> 0.50
    # assets 10,000 + 7,000 = 17,000 < debt 140,000
    price_set(MOUTAI, "5.00")
    price_set(PINGAN, "0.50")
    market.zero_fees(sh(2026, 10, 12).date())  # the plan's day: its sizing allows no sale fees
    # a plan (maker: risk officer 1) sized at the price it expects, the latest price less the
    # desk's 0.5% slippage floored to the cent: 5.00 x 0.995 = 4.975 -> 4.97 and
    # 0.50 x 0.995 = 0.4975 -> 0.49 (not the lower limits 4.50 and 0.45). Selling everything
    # cannot restore the target: proceeds 2,000 x 4.97 + 14,000 x 0.49 = 9,940 + 6,860 = 16,800
    plan = liquidation.liquidation_plan_prepare(
        call=call, actor=staff["risk"], now=sh(2026, 10, 12, 9, 20)
    )
    lines = [(x.instrument_code, x.quantity, x.limit_price) for x in plan.lines.all()]
    assert lines == [(MOUTAI, 2000, D("4.97")), (PINGAN, 14000, D("0.49"))]
    assert plan.expected_proceeds == D("16800.00") and not plan.restores_target
    assert plan.expected_shortfall == D("123200.00")  # 140,000 - 16,800

    # approval: refused for the preparer and for an officer without a second factor
    with pytest.raises(PermissionDenied) as refused:
        liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk"], reason="ok")
    assert refused.value.code == "four_eyes"
    unverified = make_user(Role.RISK)
    with pytest.raises(PermissionDenied) as refused:
        liquidation.liquidation_plan_approve(plan=plan, actor=unverified, reason="ok")
    assert refused.value.code == "second_factor_required"
    with pytest.raises(PermissionDenied):  # operations may not approve at all
        liquidation.liquidation_plan_approve(plan=plan, actor=staff["ops"], reason="ok")
    # a second risk officer, signed in with a second factor, approves
    with django_capture_on_commit_callbacks(execute=True):
        plan = liquidation.liquidation_plan_approve(
            plan=plan, actor=staff["risk2"], reason="overdue, collapse", now=sh(2026, 10, 12, 9, 25)
        )
    assert (plan.status, plan.approved_by, plan.prepared_by) == (
        "approved",
        staff["risk2"],
        staff["risk"],
    )
    assert AccountMarginState.objects.get(credit_account=account).state == "liquidation"

    # execution: one liquidation order per line, which the exchange fills at the limit prices
    reserve_before = custody_selectors.reserve_fund_balance(currency="CNY")
    with django_capture_on_commit_callbacks(execute=True):
        plan = liquidation.liquidation_execute(
            plan=plan, actor=staff["risk"], now=sh(2026, 10, 12, 9, 31)
        )
        first, second = _orders(plan)
        market.fill(first)
        plan.refresh_from_db()
        assert plan.status == "executing"  # a line is still working
        market.fill(second)
    plan.refresh_from_db()
    assert plan.status == "executed"
    assert held(account, MOUTAI) == 0 and held(account, PINGAN) == 0

    # the proceeds repaid the debt as far as they went; the rest is a default
    fills = LiquidationFill.objects.filter(order__line__plan=plan)
    assert sum(f.principal_repaid + f.interest_repaid for f in fills) == D("16800.00")
    default = DefaultRecord.objects.get(call=call)
    assert default.shortfall == D("123200.00") and default.reserve_entry is not None
    reserve_after = custody_selectors.reserve_fund_balance(currency="CNY")
    assert reserve_before - reserve_after == D("123200.00")
    view = account_view(account)
    assert view.financing_debt == 0 and view.total_liabilities == 0
    call.refresh_from_db()
    assert call.status == "closed" and call.closed_at == plan.executed_at
    assert AccountMarginState.objects.get(credit_account=account).state == "default"
    assert Notice.objects.filter(call=call, kind="default").count() == 2
    assert trial_balance_is_zero()

    # who, when and why: every transition is a domain event with its actor
    events = list(MarginEvent.objects.filter(credit_account=account).values_list("kind", flat=True))
    for kind in (
        "call_issued",
        "call_overdue",
        "plan_prepared",
        "plan_approved",
        "execution_completed",
        "default_recorded",
    ):
        assert kind in events
    approved = MarginEvent.objects.get(kind="plan_approved")
    assert (approved.actor, approved.reason) == (staff["risk2"], "overdue, collapse")
    assert call.history.filter(status="liquidating").get().history_user == staff["risk2"]
    # money recovered later gives the recovery time of the default
    default = liquidation.default_recovery_record(
        default=default,
        amount=D("20000"),
        actor=staff["risk"],
        reason="recovered from the investor",
        now=default.occurred_at + timedelta(days=14),  # the default: at the last fill
    )
    assert default.recovered_amount == D("20000.00")
    assert default.recovery_time.days == 14
    # a default stays recorded when the account is revalued without debt
    assert not calls.account_revalue(credit_account=account, now=sh(2026, 10, 12, 10)).changed


def test_minimal_plan_restores_the_target_and_partial_fills_post_once(account, staff):
    call = overdue_call(account, staff)
    # need T·D - A = 210,000 - 177,200 = 32,800; per share of 600519 sold at the price the
    # plan expects, 48.00 less 0.5% slippage = 47.76 (not the lower limit 43.20):
    # 1.5 x 47.76 - 48 = 23.64 -> 32,800 / 23.64 = 1,387.5 shares -> 14 lots = 1,400
    # (at the lower limit it was 1.5 x 43.20 - 48 = 16.80 -> the whole row of 2,000)
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    assert [(x.instrument_code, x.quantity, x.limit_price) for x in plan.lines.all()] == [
        (MOUTAI, 1400, D("47.76"))
    ]
    assert plan.order_rule == "zero_haircut_first" and plan.restores_target
    # after: assets 177,200 - 1,400 x 48 = 110,000; debt 140,000 - 1,400 x 47.76 = 73,136:
    # ratio 150.40%
    assert plan.expected_proceeds == D("66864.00")
    assert plan.ratio_after.quantize(D("0.0001")) == D("1.5040")
    liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")

    # a partial fill: half of the order, the exchange cancels the rest
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    [order] = _orders(plan)
    market.fill(order, quantity=700)
    market.close(order, "4")
    plan.refresh_from_db()
    line = plan.lines.get()
    assert plan.status == "executing" and line.filled_quantity == 700
    assert held(account, MOUTAI) == 1300
    assert account_view(account).financing_debt == D("140000") - D("33432")  # 700 x 47.76
    assert [o.status for o in line.orders.all()] == ["cancelled"]

    # executing again places only the cancelled remainder; nothing is posted twice
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    assert [(o.quantity, o.limit_price) for o in _orders(plan)][1:] == [(D("700"), D("47.76"))]
    market.fill(_orders(plan)[1])
    plan.refresh_from_db()
    assert plan.status == "executed" and held(account, MOUTAI) == 600
    view = account_view(account)
    assert view.financing_debt == D("73136.00")  # 140,000 - 66,864
    assert LiquidationFill.objects.count() == 2 and trial_balance_is_zero()
    call.refresh_from_db()
    assert call.status == "closed" and not DefaultRecord.objects.exists()
    # revalued after the sale: 110,000 / 73,136 = 150.40%: normal
    assert view.maintenance_ratio.quantize(D("0.0001")) == D("1.5040")
    assert AccountMarginState.objects.get(credit_account=account).state == "normal"
    with pytest.raises(RuleViolation):
        liquidation.liquidation_execute(plan=plan, actor=staff["risk"])


def test_a_fill_reported_twice_is_recorded_and_posted_once(account, staff):
    call = overdue_call(account, staff)
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    [order] = _orders(plan)
    # the exchange reports the same fill of 500 shares twice (a resend after a reconnect)
    market.fill(order, quantity=500, exec_id="F-1")
    market.fill(order, quantity=500, exec_id="F-1")
    assert LiquidationOrder.objects.count() == 1
    assert LiquidationFill.objects.count() == 1 and plan.lines.get().filled_quantity == 500
    assert held(account, MOUTAI) == 1500 and trial_balance_is_zero()


def test_plan_rules_preparer_cannot_approve_and_only_overdue_calls(account, staff):
    price_set(MOUTAI, "48.00")
    price_set(PINGAN, "5.80")
    call = calls.account_revalue(credit_account=account, now=sh(2026, 9, 30, 10, 0)).call
    with pytest.raises(RuleViolation):  # still open: the investor has until the deadline
        liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    calls.calls_escalate_overdue(now=sh(2026, 10, 9, 15, 5))
    with pytest.raises(PermissionDenied):  # operations may not prepare a liquidation
        liquidation.liquidation_plan_prepare(call=call, actor=staff["ops"])
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    with pytest.raises(PermissionDenied):
        liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk"], reason="mine")
    with pytest.raises(RuleViolation):  # not approved: not executed
        liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    # the database refuses the preparer as approver whatever code writes it
    from django.db import IntegrityError, transaction

    plan.approved_by = staff["risk"]
    with pytest.raises(IntegrityError), transaction.atomic():
        plan.save()
    # rejected: the call stays overdue and a new plan may be prepared
    plan.refresh_from_db()
    liquidation.liquidation_plan_reject(plan=plan, actor=staff["risk2"], reason="wait for open")
    again = liquidation.liquidation_plan_prepare(
        call=call, actor=staff["risk2"], order_rule="largest_mv_first"
    )
    assert again.pk != plan.pk and again.order_rule == "largest_mv_first"
