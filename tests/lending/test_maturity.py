"""Maturity of a financing (DOMAIN.md "Maturity and extension"): a due date, reminders 10 and
3 Shanghai trading days before it, overdue the day after, penalty interest, and the forced close
through the liquidation process (four eyes), with hand-computed numbers.

The account (through the real services: deposit, own-cash buy, financed buy placed as orders):
    deposit 200,000.00; own-cash 2,000 SSE:600519 @ 100.00 (200,000.00): cash 0;
    financed buy 10,000 SZSE:000001 @ 10.00 = 100,000.00, filled (the exchange's execution
    report) on Monday 2026-06-01 -> the financing opens 2026-06-01.
    Contract signed 2026-12-05 (today in this test run... or whenever the suite runs: the
    contract ends 6 months after it, well after 2026-12-01), rate 6.5% (grade B, high
    liquidity), penalty rate 0.18 a year (the dated desk tariff, 0.05% a day).
Due date: min(2026-06-01 + 6 months, contract end) = 2026-12-01 (Tuesday).
Reminders (no exchange holiday in November 2026): 10 trading days before 2026-12-01 is
    Tuesday 2026-11-17 (30, 27, 26, 25, 24, 23, 20, 19, 18, 17 November); 3 trading days before
    is Thursday 2026-11-26 (30, 27, 26 November).
Overdue from Wednesday 2026-12-02.
"""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from compliance import calendar
from custody.models import JournalEntry
from lending.domain import margin
from lending.domain.maturity import plan_sale_to_repay
from lending.financing import maturity as financing_maturity
from lending.financing import tasks as financing_tasks
from lending.financing.models import Financing, PenaltyAccrual
from lending.financing.valuation import account_view
from lending.liquidation import services as liquidation
from lending.margin_calls import maturity
from lending.margin_calls import services as calls
from lending.models import AccountMarginState, MarginCall, MarginEvent, Notice, Order
from lending.orders import reports as fix
from lending.orders import services as orders
from tests.lending.book_fixtures import trial_balance_is_zero
from tests.lending.calls_fixtures import MOUTAI, PINGAN, sh
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal


def financed_on(account, instrument, quantity, price, day: date) -> Financing:
    """A financed buy placed through lending.orders (all its checks) and filled by the
    exchange on `day` (the execution report's transact time): the financing opens that day."""
    market.zero_fees(on=day)
    order = orders.order_place(
        credit_account=account,
        instrument=instrument,
        purpose="financed_buy",
        quantity=quantity,
        limit_price=D(price),
        actor=None,
        idempotency_key=f"maturity-{account.pk}-{day.isoformat()}",
        reason="test",
    )
    market.deliver(
        fix.report_for(
            order,
            exec_id=f"M{order.pk}",
            exec_type=fix.EXEC_TRADE,
            ord_status=fix.STATUS_FILLED,
            order_id=f"X{order.pk}",
            last_qty=D(quantity),
            last_px=D(price),
            at=sh(day.year, day.month, day.day, 10, 0),
        )
    )
    return Financing.objects.get(credit_account=account)


@pytest.fixture
def matured(funded_account, book_instruments):
    account = funded_account(deposit="200000", own=((MOUTAI, 2000, "100.00"),), financed=())
    financing = financed_on(account, book_instruments[PINGAN], 10000, "10.00", date(2026, 6, 1))
    return account, financing


def run(day: date, hour=8, minute=40):
    return maturity.maturity_process(on=day, now=sh(day.year, day.month, day.day, hour, minute))


def maturity_notices(financing, stage):
    return Notice.objects.filter(financing=financing, kind="maturity", stage=stage)


def test_due_date_reminders_overdue_penalty_and_forced_close(matured, staff):
    account, financing = matured
    # given: 100,000.00 financed on 2026-06-01, due six months later (before the contract's end)
    assert financing.amount == D("100000.00") and financing.opened_on == date(2026, 6, 1)
    assert financing.due_on == date(2026, 12, 1)
    assert financing.contract.penalty_rate == D("0.18")
    assert calendar.add_trading_days(date(2026, 12, 1), -10) == date(2026, 11, 17)
    assert calendar.add_trading_days(date(2026, 12, 1), -3) == date(2026, 11, 26)

    # reminders: none the day before the first; then one per reminder (portal + e-mail),
    # written once however often the run repeats
    assert run(date(2026, 11, 16)).reminders == []
    first = run(date(2026, 11, 17))
    assert len(first.reminders) == 2
    assert run(date(2026, 11, 17), hour=9).reminders == []
    assert run(date(2026, 11, 18)).reminders == []
    assert sorted(maturity_notices(financing, 10).values_list("channel", flat=True)) == [
        "email",
        "portal",
    ]
    portal = maturity_notices(financing, 10).get(channel="portal")
    assert portal.delivered and "2026-12-01" in portal.body and "100,000.00" in portal.body
    assert "到期" in portal.body  # written in both languages
    assert len(run(date(2026, 11, 26)).reminders) == 2
    assert maturity_notices(financing, 3).count() == 2

    # the due date itself: still in time
    due_day = run(date(2026, 12, 1))
    assert due_day.overdue == [] and due_day.calls == []
    financing.refresh_from_db()
    assert financing.overdue_since is None

    # the day after: overdue, a maturity call (already overdue) for the forced close, the
    # account's margin state "overdue", an overdue notice; a second run changes nothing
    after = run(date(2026, 12, 2))
    assert after.overdue == [financing.pk] and len(after.calls) == 1
    financing.refresh_from_db()
    assert financing.overdue_since == date(2026, 12, 2) and financing.status == "open"
    call = MarginCall.objects.get(pk=after.calls[0])
    assert (call.source, call.status, call.amount_to_cure) == (
        "maturity",
        "overdue",
        D("100000.00"),  # no interest accrued yet in this test: the principal
    )
    assert AccountMarginState.objects.get(credit_account=account).state == "overdue"
    event = MarginEvent.objects.get(credit_account=account, kind="maturity_overdue")
    assert event.call_id == call.pk and event.data["financings"] == [financing.pk]
    assert maturity_notices(financing, 0).count() == 2
    again = run(date(2026, 12, 2), hour=10)
    assert again.overdue == [] and again.calls == [] and again.reminders == []
    assert MarginCall.objects.filter(credit_account=account).count() == 1

    # penalty interest with the daily interest (the interest task), per financing and day:
    #   interest 100,000.00 x 0.065 / 360 = 18.0556 -> 18.06 a day
    #   penalty  100,000.00 x 0.18 / 360  = 50.00 a day
    financing_tasks.interest_accrue_daily("2026-12-02")
    financing_tasks.interest_accrue_daily("2026-12-03")
    financing_tasks.interest_accrue_daily("2026-12-03")  # a rerun posts nothing
    financing.refresh_from_db()
    assert financing.penalty_charged == D("100.00")
    assert financing.interest_accrued == D("136.12")  # 2 x 18.06 + 2 x 50.00
    assert list(
        PenaltyAccrual.objects.filter(financing=financing).values_list("business_date", "amount")
    ) == [(date(2026, 12, 2), D("50.00")), (date(2026, 12, 3), D("50.00"))]
    entry = JournalEntry.objects.get(idempotency_key=f"penalty:{financing.pk}:2026-12-02")
    assert sorted(
        (p.account.purpose, p.account.purpose_key.endswith(":penalty:CNY"), p.amount)
        for p in entry.postings.select_related("account")
    ) == [("interest_income", True, D("-50.00")), ("interest_receivable", False, D("50.00"))]
    assert account_view(account).accrued_interest == D("136.12")
    assert financing_maturity.overdue_debt(account) == D("100136.12")

    # the ratio is high (assets 300,000.00 / debt 100,136.12 = 299.59%): a revaluation does
    # not cure a maturity call
    calls.account_revalue(credit_account=account, now=sh(2026, 12, 3, 10, 0))
    call.refresh_from_db()
    assert call.status == "overdue"

    # the forced close: a risk officer prepares the plan from the overdue call; it sells
    # enough to repay the overdue debt, not to restore a ratio. Largest market value first
    # (600519: 200,000), at the latest price less 0.5% slippage, 100.00 -> 99.50, fees 0:
    #   100,136.12 / 99.50 = 1,006.4 shares -> 11 lots = 1,100 shares, 109,450.00
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    assert [(x.instrument_code, x.quantity, x.limit_price) for x in plan.lines.all()] == [
        (MOUTAI, D("1100"), D("99.50"))
    ]
    assert plan.expected_proceeds == D("109450.00") and plan.restores_target
    liquidation.liquidation_plan_approve(plan=plan, actor=staff["risk2"], reason="overdue")
    plan = liquidation.liquidation_execute(plan=plan, actor=staff["risk"])
    [order] = Order.objects.filter(liquidation_order__line__plan=plan)
    market.fill(order)

    # the proceeds repay interest and penalty (136.12), then the overdue principal
    # (100,000.00) first: the financing is repaid, the call closed, the account normal
    financing.refresh_from_db()
    assert (financing.status, financing.principal_outstanding, financing.interest_accrued) == (
        "repaid",
        D("0.00"),
        D("0.00"),
    )
    call.refresh_from_db()
    assert call.status == "closed"
    view = account_view(account)
    assert view.financing_debt == 0 and view.cash == D("9313.88")  # 109,450.00 - 100,136.12
    assert AccountMarginState.objects.get(credit_account=account).state == "normal"
    assert trial_balance_is_zero()
    # nothing overdue is left: no penalty the next day
    financing_tasks.interest_accrue_daily("2026-12-04")
    assert PenaltyAccrual.objects.filter(financing=financing).count() == 2


def test_repaying_the_overdue_financing_from_cash_closes_it_and_its_call(matured, staff):
    from custody import services as custody
    from lending.financing import services as financing_services

    account, financing = matured
    run(date(2026, 12, 2))
    call = MarginCall.objects.get(credit_account=account, source="maturity")
    financing_tasks.interest_accrue_daily("2026-12-02")  # 18.06 + 50.00
    # a plan prepared but not yet approved is rejected once the debt is repaid
    plan = liquidation.liquidation_plan_prepare(call=call, actor=staff["risk"])
    custody.client_deposit_post(
        investor=account.investor,
        amount=D("100068.06"),
        currency="CNY",
        bank_account=account.investor._test_bank_account,
        reference="repay overdue",
        actor=None,
        idempotency_key=f"dep-{account.pk}",
    )
    financing_services.repayment_post(
        credit_account=account,
        amount="100068.06",
        actor=account.investor.user,
        idempotency_key=f"repay-{account.pk}",
    )
    financing.refresh_from_db()
    assert financing.status == "repaid" and financing.penalty_charged == D("50.00")
    call.refresh_from_db()
    plan.refresh_from_db()
    assert call.status == "cured" and call.reason == "overdue financing repaid"
    assert plan.status == "rejected"
    assert AccountMarginState.objects.get(credit_account=account).state == "normal"
    assert MarginEvent.objects.filter(credit_account=account, kind="maturity_repaid").exists()


def test_a_maturity_call_waits_for_an_unfinished_margin_call(matured, staff):
    from tests.lending.book_fixtures import price_set

    account, financing = matured
    # a price fall to a margin call first: 600519 at 40.00, 000001 at 5.00:
    # assets 80,000 + 50,000 = 130,000; debt 100,000: 130% is not below the 130% call line,
    # so 39.00: 78,000 + 50,000 = 128,000 -> 128% < 130%: a call
    price_set(MOUTAI, "39.00")
    price_set(PINGAN, "5.00")
    margin_call = calls.account_revalue(credit_account=account, now=sh(2026, 12, 1, 10, 0)).call
    assert margin_call is not None and margin_call.source == ""
    result = run(date(2026, 12, 2))
    assert result.overdue == [financing.pk] and result.calls == []
    assert result.deferred == [account.pk]
    # the investor is told the financing is overdue all the same
    assert maturity_notices(financing, 0).count() == 2
    assert MarginEvent.objects.filter(kind="maturity_call_deferred").count() == 1
    run(date(2026, 12, 2), hour=11)  # recorded once a day
    assert MarginEvent.objects.filter(kind="maturity_call_deferred").count() == 1


def test_a_reminder_beyond_the_known_calendar_is_recorded_not_guessed(matured):
    _account, financing = matured
    last = calendar.known_years()[1]
    # the financing is now due on the first Monday of a year whose holidays are unknown
    far = date(last + 1, 1, 4)
    Financing.objects.filter(pk=financing.pk).update(due_on=far)
    result = run(date(last, 12, 28))
    assert result.uncomputable == [financing.pk] and result.reminders == []
    event = MarginEvent.objects.get(kind="maturity_reminder_uncomputable")
    assert event.data == {"financing": financing.pk, "due_on": far.isoformat()}
    assert "exchange calendar" in event.reason
    assert not Notice.objects.filter(financing=financing).exists()


def test_a_financing_is_never_due_after_its_contract_ends(matured, book_instruments):
    _account, financing = matured
    contract = financing.contract
    # a financing opened a month before the contract ends is due on the contract's end
    day = date(contract.ends_on.year, contract.ends_on.month, 1)
    assert financing_maturity.due_on_for(opened_on=day, contract=contract) == contract.ends_on
    assert financing_maturity.due_on_for(opened_on=date(2026, 6, 1), contract=contract) == date(
        2026, 12, 1
    )


def test_penalty_accruals_are_unique_per_financing_and_day(matured):
    _account, financing = matured
    run(date(2026, 12, 2))
    assert financing_maturity.penalty_accrue(business_date=date(2026, 12, 2)) == 1
    assert financing_maturity.penalty_accrue(business_date=date(2026, 12, 2)) == 0
    # the day before it was overdue: nothing
    assert financing_maturity.penalty_accrue(business_date=date(2026, 12, 1)) == 0
    with pytest.raises(IntegrityError), transaction.atomic():
        PenaltyAccrual.objects.create(
            financing=financing,
            business_date=date(2026, 12, 2),
            principal=D("100000.00"),
            annual_rate=D("0.18"),
            amount=D("50.00"),
        )


def test_sale_to_repay_is_grossed_up_for_fees_in_whole_lots():
    # one row at limit 10.00 with sale fees 0.035%: each share repays 9.9965;
    # 100,000 / 9.9965 = 10,003.5 shares -> 101 lots = 10,100 shares, 101,000.00
    account = margin.Account(
        cash=D(0),
        debt=D("100000"),
        positions=(
            margin.Position(
                "SZSE:000001", D("20000"), D("10.00"), D("0.65"), limit_price=D("10.00")
            ),
        ),
    )
    plan = plan_sale_to_repay(account, D("100000"), fee_rate=D("0.00035"))
    assert [(x.instrument, x.quantity) for x in plan.lines] == [("SZSE:000001", D("10100"))]
    assert plan.proceeds == D("101000.00") and plan.restored
    # one lot fewer would not repay it: 10,000 x 9.9965 = 99,965.00 < 100,000
    assert D("10000") * D("9.9965") < D("100000")
    # not enough to sell: everything is sold and it says so
    short = plan_sale_to_repay(account, D("250000"), fee_rate=D("0.00035"))
    assert [x.quantity for x in short.lines] == [D("20000")] and not short.restored
    with pytest.raises(ValueError):
        plan_sale_to_repay(account, D("-1"))
