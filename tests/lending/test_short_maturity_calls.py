"""A short position matures like a financing (issue 22 item 4; lending.margin_calls.maturity):
reminders before its due date, a maturity call once it is overdue, a forced buy-in of all the
overdue shares through the liquidation process (four eyes), and the call cured when the
investor returns the shares first.

Worked by hand (fees of zero: short_desk; the desk's liquidation slippage 0.5%; lending fee
8.35% a year, ACT/360):
    short_account deposit 50,000.00; short sale 1,000 SSE:600519 @ 20.00 (short_desk): restricted
    proceeds 20,000.00, 1,000 shares owed. The tests set the due date (a direct update, as
    tests/lending/test_short_maturity.py does) to Tuesday 2026-12-01 (the financing's of
    tests/lending/test_maturity.py): reminders 10 trading days before on Tuesday 2026-11-17,
    3 before on Thursday 2026-11-26; overdue from Wednesday 2026-12-02.
    The maturity call: the overdue shares at the latest price, 1,000 x 20.00 = 20,000.00.
    Its plan buys back all 1,000 shares at 20.00 x 1.005 = 20.10 (up to the cent; the day's
    upper limit 22.00): 20,100.00, paid from the restricted proceeds 20,000.00, then 100.00 from
    the free cash; one day's lending fee (opened and returned the same day) on 20,000.00:
    round(20,000 x 0.0835 / 360, 2) = 4.64. Cash 50,000 - 100 - 4.64 = 49,895.36.
"""

from datetime import date
from decimal import Decimal

import pytest

from custody.models import LedgerAccount
from custody.selectors import account_balance
from lending.financing import short_sales
from lending.liquidation import services as liquidation
from lending.margin_calls import maturity
from lending.models import AccountMarginState, MarginCall, MarginEvent, Notice, Order
from lending.shorts.models import ShortPosition
from tests.lending.book_fixtures import trial_balance_is_zero
from tests.lending.calls_fixtures import PINGAN, sh
from tests.lending.test_maturity import financed_on
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal
DUE = date(2026, 12, 1)
CATL = "SZSE:300750"


def _balance(account, purpose: str, unit: str = "CNY") -> Decimal:
    ledger = LedgerAccount.objects.filter(
        investor=account.investor, purpose=purpose, unit=unit
    ).first()
    return account_balance(account=ledger) if ledger else D(0)


def _due(position, due):
    ShortPosition.objects.filter(pk=position.pk).update(due_on=due)
    position.refresh_from_db()
    return position


def run(day: date, hour=8, minute=40):
    return maturity.maturity_process(on=day, now=sh(day.year, day.month, day.day, hour, minute))


def notices(position, stage):
    return Notice.objects.filter(short_position=position, kind="maturity", stage=stage)


@pytest.fixture
def shorted(short_desk, short_account):
    account = short_account(deposit="50000")
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    position = ShortPosition.objects.get(credit_account=account)
    return account, _due(position, DUE)


def test_reminders_before_the_due_date_once_per_stage_in_both_languages(shorted):
    _account, position = shorted
    assert run(date(2026, 11, 16)).reminders == []
    first = run(date(2026, 11, 17))
    assert len(first.reminders) == 2
    assert run(date(2026, 11, 17), hour=9).reminders == []  # once per stage
    assert run(date(2026, 11, 18)).reminders == []
    assert sorted(notices(position, 10).values_list("channel", flat=True)) == ["email", "portal"]
    portal = notices(position, 10).get(channel="portal")
    assert portal.delivered and portal.financing_id is None
    assert "2026-12-01" in portal.body and "1,000 shares of SSE:600519" in portal.body
    assert set(portal.texts) == {"zh-hans", "en"}  # every language of the site
    event = MarginEvent.objects.get(kind="maturity_reminder")
    assert event.data["short_position"] == position.pk and event.data["stage"] == 10
    assert len(run(date(2026, 11, 26)).reminders) == 2
    assert run(date(2026, 11, 27)).reminders == []
    assert notices(position, 3).count() == 2
    # the due date itself: still in time, no call
    due_day = run(DUE)
    assert due_day.short_overdue == [] and due_day.calls == []


def test_overdue_short_position_is_bought_back_by_a_forced_close(shorted, staff):
    account, position = shorted
    after = run(date(2026, 12, 2))
    assert after.short_overdue == [position.pk] and len(after.calls) == 1
    position.refresh_from_db()
    assert position.overdue_since == date(2026, 12, 2) and position.status == "open"
    call = MarginCall.objects.get(pk=after.calls[0])
    assert (call.source, call.status, call.amount_to_cure) == (
        "maturity",
        "overdue",
        D("20000.00"),  # the 1,000 overdue shares at the latest price
    )
    assert "SSE:600519 1,000 shares owed" in call.reason
    assert f"#{position.pk} due 2026-12-01" in call.reason
    assert AccountMarginState.objects.get(credit_account=account).state == "overdue"
    event = MarginEvent.objects.get(credit_account=account, kind="maturity_overdue")
    assert event.call_id == call.pk and event.data["short_positions"] == [position.pk]
    assert event.data["shares_owed"] == {"SSE:600519": "1000"}
    assert notices(position, 0).count() == 2  # the overdue notice, portal and e-mail
    assert "1,000 shares of SSE:600519" in notices(position, 0).get(channel="portal").body
    again = run(date(2026, 12, 2), hour=10)
    assert again.calls == [] and again.short_overdue == []
    assert MarginCall.objects.filter(credit_account=account).count() == 1

    # the plan buys back every overdue share (nothing to sell: no financing) at the buy-back
    # limit; four eyes
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    assert [(x.side, x.instrument_code, x.quantity, x.limit_price) for x in plan.lines.all()] == [
        ("buy_back", "SSE:600519", D("1000"), D("20.10"))
    ]
    assert plan.restores_target and plan.expected_shortfall == 0
    liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")
    told = Notice.objects.get(call=call, kind="liquidation", channel="portal")
    assert "overdue short positions are bought back" in told.texts["en"]["body"]
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    [order] = Order.objects.filter(liquidation_order__line__plan=plan)
    assert (order.purpose, order.side, order.quantity) == ("buy_in", "buy", D("1000"))
    market.fill(order)

    position.refresh_from_db()
    assert (position.status, position.quantity_outstanding) == ("closed", D(0))
    call.refresh_from_db()
    plan.refresh_from_db()
    assert plan.status == "executed" and call.status == "closed"
    assert _balance(account, "short_proceeds") == 0
    assert _balance(account, "client_money") == D("49895.36")
    assert _balance(account, "lending_fee_receivable") == 0
    assert AccountMarginState.objects.get(credit_account=account).state == "normal"
    assert trial_balance_is_zero()
    # nothing overdue is left: the next run issues nothing
    assert run(date(2026, 12, 3)).calls == []


def test_a_cover_by_the_investor_cures_the_call_and_rejects_the_prepared_plan(shorted, staff):
    account, position = shorted
    run(date(2026, 12, 2))
    call = MarginCall.objects.get(credit_account=account, source="maturity")
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    # a partial cover leaves shares of the overdue position owed: the call stays
    market.traded(account, position.instrument, "buy_to_cover", 400, "20.00")
    call.refresh_from_db()
    assert call.status == "overdue"
    market.traded(account, position.instrument, "buy_to_cover", 600, "20.00")
    position.refresh_from_db()
    assert position.status == "closed"
    call.refresh_from_db()
    plan.refresh_from_db()
    assert call.status == "cured"
    assert call.reason == "overdue debt repaid: no overdue financing or short position left"
    assert plan.status == "rejected"
    assert AccountMarginState.objects.get(credit_account=account).state == "normal"
    assert MarginEvent.objects.filter(call=call, kind="maturity_repaid").count() == 1
    assert trial_balance_is_zero()


def test_a_direct_return_cures_the_call(shorted, staff):
    account, position = shorted
    run(date(2026, 12, 2))
    call = MarginCall.objects.get(credit_account=account, source="maturity")
    market.traded(account, position.instrument, "cash_buy", 1000, "20.00")
    short_sales.short_return_direct(
        credit_account=account, instrument=position.instrument, quantity=1000,
        actor=account.investor.user, idempotency_key="overdue-return",
    )  # fmt: skip
    call.refresh_from_db()
    assert call.status == "cured"


def test_one_call_covers_an_overdue_financing_and_a_short_position_overdue_later(
    short_desk, funded_account, book_instruments, staff
):
    # deposit 400,000.00; own-cash 1,000 SZSE:300750 @ 200.00; financed 10,000 SZSE:000001 @
    # 10.00 on 2026-06-01 (100,000.00, due 2026-12-01); short 1,000 SSE:600519 @ 20.00, due
    # 2026-12-02
    account = funded_account(deposit="400000", own=((CATL, 1000, "200.00"),), financed=())
    financing = financed_on(account, book_instruments[PINGAN], 10000, "10.00", date(2026, 6, 1))
    market.traded(account, short_desk, "short_sale", 1000, "20.00")
    position = _due(ShortPosition.objects.get(credit_account=account), date(2026, 12, 2))

    first = run(date(2026, 12, 2))  # the financing is overdue, the short position due today
    assert first.overdue == [financing.pk] and first.short_overdue == []
    call = MarginCall.objects.get(pk=first.calls[0])
    assert call.amount_to_cure == D("100000.00") and "short" not in call.reason

    later = run(date(2026, 12, 3))  # now the short position too: the same call covers it
    assert later.short_overdue == [position.pk] and later.calls == []
    call.refresh_from_db()
    assert MarginCall.objects.filter(credit_account=account).count() == 1
    assert call.amount_to_cure == D("120000.00")  # + 1,000 x 20.00
    assert "SSE:600519 1,000 shares owed" in call.reason
    covers = MarginEvent.objects.get(call=call, kind="maturity_covers")
    assert covers.data["short_positions"] == [position.pk]
    run(date(2026, 12, 3), hour=10)
    assert MarginEvent.objects.filter(call=call, kind="maturity_covers").count() == 1

    # the plan: the sale repaying the overdue debt (the largest market value first, 300750 at
    # 200.00 less 0.5% = 199.00: 100,000.00 / 199.00 = 502.5 shares -> 6 lots) and the
    # buy-back of all the overdue shares
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    assert [(x.side, x.instrument_code, x.quantity, x.limit_price) for x in plan.lines.all()] == [
        ("sell", CATL, D("600"), D("199.00")),
        ("buy_back", "SSE:600519", D("1000"), D("20.10")),
    ]
    liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    for order in Order.objects.filter(liquidation_order__line__plan=plan).order_by("pk"):
        market.fill(order)
    financing.refresh_from_db()
    position.refresh_from_db()
    call.refresh_from_db()
    assert financing.status == "repaid" and position.status == "closed"
    assert call.status == "closed"
    assert trial_balance_is_zero()
