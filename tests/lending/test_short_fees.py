"""The daily securities lending fee (lending.shorts.fees, the end of day's `short_fees` step) and
the short seller's compensation for a corporate action (权益补偿, lending.shorts.compensation).
Fees of zero (short_desk), SSE:600519 at 20.00, lending fee 8.35 per cent a year, ACT/360.

Worked by hand:
    one day on 20,000.00: round(20,000 x 0.0835 / 360, 2) = round(4.6389, 2) = 4.64
    one day on 10,000.00: round(2.3194, 2) = 2.32
    sale 1,000 @ 20.00 five days ago (day 0); the batch through day 2: 3 x 4.64 = 13.92;
      buy to cover today (day 5): the close catches up days 3 and 4, 2 x 4.64 = 9.28;
      5 days, 23.20 in all, paid from the free cash: 50,000.00 - 23.20 = 49,976.80
    sales of 1,000 (day -4) and 500 (day -2) @ 20.00, the batch through yesterday in one run:
      days -4, -3: 20,000.00 owed, 4.64 a day; days -2, -1: 30,000.00 owed, 4.64 + 2.32 = 6.96
      in all 2 x 4.64 + 2 x 6.96 = 23.20
    cash dividend 0.50 a share on 1,000 owed: 500.00 owed to the lender
    10-for-10 bonus shares on 1,000 owed: 1,000 more shares owed (2,000), the sale amount
      20,000.00 unchanged; the lot lends 2,000 and holds 11,000
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from accounts.errors import ValidationFailed
from compliance import calendar
from custody.models import EntryKind, JournalEntry, LedgerAccount
from custody.selectors import account_balance
from lending.financing import corporate_actions as ca
from lending.orders.models import OrderStatus
from lending.shorts import compensation, fees
from lending.shorts.models import (
    LendingLot,
    ShortCompensation,
    ShortFeeAccrual,
    ShortPosition,
    ShortReservation,
)
from reports.eod.steps import BY_NAME, STEPS
from tests.lending.book_fixtures import trial_balance_is_zero
from tests.support import market

pytestmark = pytest.mark.django_db

D = Decimal
MOUTAI = "SSE:600519"


def _balance(purpose: str, unit: str = "CNY", investor=None, suffix: str = "") -> Decimal:
    if suffix:  # a house account with a suffix
        ledger = LedgerAccount.objects.filter(
            purpose_key=f"house:{purpose}:{suffix}:{unit}"
        ).first()
    else:
        ledger = LedgerAccount.objects.filter(purpose=purpose, unit=unit, investor=investor).first()
    return account_balance(account=ledger) if ledger else D(0)


def _sold(account, instrument, quantity, days_ago: int):
    order = market.place(account, instrument, "short_sale", quantity, "20.00")
    order = market.fill(order, at=timezone.now() - timedelta(days=days_ago))
    assert order.status == OrderStatus.FILLED
    return ShortPosition.objects.filter(credit_account=account).latest("pk")


def test_the_batch_accrues_each_day_once_and_the_cover_takes_up_after_it(short_desk, short_account):
    account = short_account(deposit="50000")
    investor = account.investor
    position = _sold(account, short_desk, 1000, days_ago=5)
    day0 = position.opened_on
    assert day0 == timezone.localdate() - timedelta(days=5)

    # the batch through day 2: days 0, 1 and 2
    assert fees.short_fees_accrue(business_date=day0 + timedelta(days=2)) == 3
    rows = ShortFeeAccrual.objects.filter(credit_account=account).order_by("business_date")
    assert [(r.business_date, r.amount_base, r.amount) for r in rows] == [
        (day0 + timedelta(days=n), D("20000.00"), D("4.64")) for n in range(3)
    ]
    assert all(r.entry.kind == EntryKind.FEE for r in rows)
    assert rows[0].entry.idempotency_key == f"short-fee:{account.pk}:{day0.isoformat()}"
    assert rows[0].entry.effective_date == day0
    position.refresh_from_db()
    assert position.fee_accrued == D("13.92")
    assert position.fee_accrued_through == day0 + timedelta(days=2)
    assert _balance("lending_fee_receivable", investor=investor) == D("13.92")
    assert _balance("lending_fee_income") == D("13.92")
    assert position.history.first().history_change_reason.endswith(
        f"lending fee {day0.isoformat()}..{(day0 + timedelta(days=2)).isoformat()}: 13.92"
    )

    # the same date again, or an earlier one: nothing changes
    entries = JournalEntry.objects.count()
    assert fees.short_fees_accrue(business_date=day0 + timedelta(days=2)) == 0
    assert fees.short_fees_accrue(business_date=day0 + timedelta(days=1)) == 0
    assert JournalEntry.objects.count() == entries
    assert ShortFeeAccrual.objects.filter(credit_account=account).count() == 3
    position.refresh_from_db()
    assert position.fee_accrued == D("13.92")

    # buy to cover today (day 5): days 3 and 4 by the close, never a day twice
    cover = market.traded(account, short_desk, "buy_to_cover", 1000, "20.00")
    assert cover.status == OrderStatus.FILLED
    position.refresh_from_db()
    assert position.status == "closed"
    assert position.fee_paid == D("23.20") and position.fee_accrued == 0  # 5 x 4.64
    assert position.fee_accrued_through == day0 + timedelta(days=4)
    assert _balance("lending_fee_income") == D("23.20")
    assert _balance("lending_fee_receivable", investor=investor) == 0
    assert _balance("client_money", investor=investor) == D("49976.80")
    # a closed position accrues nothing more
    assert fees.short_fees_accrue(business_date=timezone.localdate()) == 0
    assert _balance("lending_fee_income") == D("23.20")
    assert trial_balance_is_zero()


def test_the_batch_catches_up_missed_days_per_account_and_shard(short_desk, short_account):
    account = short_account(deposit="50000")
    first = _sold(account, short_desk, 1000, days_ago=4)
    second = _sold(account, short_desk, 500, days_ago=2)
    today = timezone.localdate()
    yesterday = today - timedelta(days=1)

    other = (account.pk + 1) % 2  # the shard that does not hold the account
    assert fees.short_fees_accrue(business_date=yesterday, shard=other, shards=2) == 0
    assert fees.short_fees_accrue(business_date=yesterday, shard=account.pk % 2, shards=2) == 4
    rows = ShortFeeAccrual.objects.filter(credit_account=account).order_by("business_date")
    assert [(r.business_date, r.amount_base, r.amount) for r in rows] == [
        (today - timedelta(days=4), D("20000.00"), D("4.64")),
        (today - timedelta(days=3), D("20000.00"), D("4.64")),
        (today - timedelta(days=2), D("30000.00"), D("6.96")),
        (today - timedelta(days=1), D("30000.00"), D("6.96")),
    ]
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.fee_accrued, second.fee_accrued) == (D("18.56"), D("4.64"))
    assert first.fee_accrued_through == second.fee_accrued_through == yesterday
    assert _balance("lending_fee_receivable", investor=account.investor) == D("23.20")
    assert _balance("lending_fee_income") == D("23.20")

    # the end of day's step: runs every calendar day, right after interest; today's day
    names = [step.name for step in STEPS]
    assert names.index("short_fees") == names.index("interest") + 1
    assert not BY_NAME["short_fees"].trading_days_only
    assert BY_NAME["short_fees"].shard(today, {}, 0, 1) == {"short_fee_days": 1}
    assert BY_NAME["short_fees"].shard(today, {}, 0, 1) == {"short_fee_days": 0}
    assert ShortFeeAccrual.objects.get(credit_account=account, business_date=today).amount == D(
        "6.96"
    )
    assert _balance("lending_fee_income") == D("30.16")
    with pytest.raises(ValidationFailed) as refused:
        fees.short_fees_accrue(business_date=today, shard=2, shards=2)
    assert refused.value.extra["field"] == "shard"
    assert trial_balance_is_zero()


def _action(staff, instrument, kind: str, **terms):
    ex = calendar.add_trading_days(timezone.localdate(), 1)
    record = calendar.add_trading_days(ex, -1)
    action = ca.corporate_action_create(
        instrument=instrument, kind=kind, record_date=record, ex_date=ex,
        source_reference="SSE 2026-77", actor=staff["ops"], reason="issuer's announcement",
        **terms,
    )  # fmt: skip
    assert ca.corporate_actions_process(on=ex).ex_processed == [action.pk]
    assert ca.corporate_actions_process(on=ex).ex_processed == []  # once
    return action


def test_a_cash_dividend_on_a_lent_security_is_compensated_once(short_desk, short_account, staff):
    account = short_account(deposit="50000")
    position = _sold(account, short_desk, 1000, days_ago=1)
    pay = calendar.add_trading_days(timezone.localdate(), 3)
    action = _action(staff, short_desk, "cash_dividend", cash_per_share="0.50", pay_date=pay)

    comp = ShortCompensation.objects.get(position=position)
    assert (comp.kind, comp.quantity_owed, comp.amount, comp.shares) == (
        "cash", D(1000), D("500.00"), D(0)
    )  # fmt: skip
    assert comp.corporate_action_id == action.pk
    assert comp.entry.kind == EntryKind.CORPORATE_ACTION
    assert comp.entry.effective_date == action.ex_date
    assert comp.entry.idempotency_key == f"short-comp:{action.pk}:a{account.pk}"
    position.refresh_from_db()
    assert position.compensation_charged == D("500.00")
    assert position.quantity_outstanding == D(1000)
    assert _balance("lending_fee_receivable", investor=account.investor) == D("500.00")
    assert _balance("compensation_income") == D("500.00")
    # booking again changes nothing
    with transaction.atomic():
        again = compensation.short_compensation_book_in_transaction(
            corporate_action=action, actor=None
        )
    assert again == [] and ShortCompensation.objects.count() == 1
    assert _balance("compensation_income") == D("500.00")
    assert trial_balance_is_zero()


def test_bonus_shares_on_a_lent_security_are_owed_to_the_lender(short_desk, short_account, staff):
    account = short_account(deposit="50000")
    position = _sold(account, short_desk, 1000, days_ago=1)
    _action(staff, short_desk, "bonus", ratio="1")  # 10 for 10

    comp = ShortCompensation.objects.get(position=position)
    assert (comp.kind, comp.quantity_owed, comp.shares, comp.amount) == (
        "shares", D(1000), D(1000), D(0)
    )  # fmt: skip
    position.refresh_from_db()
    assert position.quantity_outstanding == D(2000)
    assert position.amount_outstanding == D("20000.00")  # unchanged
    assert position.compensation_charged == 0
    assert _balance("short_securities", MOUTAI, investor=account.investor) == D(2000)
    assert _balance("house_securities", MOUTAI, suffix="lendable") == D(11000)
    lot = LendingLot.objects.get(instrument=short_desk)
    assert (lot.confirmed_quantity, lot.quantity, lot.lent, lot.available) == (
        D(11000), D(11000), D(2000), D(9000)
    )  # fmt: skip
    reservation = ShortReservation.objects.get(pk=position.reservation_id)
    assert (reservation.quantity, reservation.lent, reservation.outstanding_lent) == (
        D(2000), D(2000), D(2000)
    )  # fmt: skip
    assert _balance("lending_fee_receivable", investor=account.investor) == 0
    assert trial_balance_is_zero()

    # the 2,000 shares owed are bought back today: the lot gets every one back
    cover = market.traded(account, short_desk, "buy_to_cover", 2000, "20.00")
    assert cover.status == OrderStatus.FILLED
    position.refresh_from_db()
    assert position.status == "closed" and position.quantity_outstanding == 0
    assert _balance("short_securities", MOUTAI, investor=account.investor) == 0
    lot.refresh_from_db()
    assert (lot.lent, lot.available) == (D(0), D(11000))
    assert trial_balance_is_zero()


def test_the_month_end_collection_takes_the_lending_fees_from_the_cash(short_desk, short_account):
    """A sale 5 days ago, 3 days accrued (3 x 4.64 = 13.92 owed); the monthly collection (the
    interest's task, lending.financing.collection) takes 13.92 from the free cash 50,000.00,
    once for the month; the position's fees move from accrued to paid."""
    from lending.financing import collection

    account = short_account(deposit="50000")
    investor = account.investor
    position = _sold(account, short_desk, 1000, days_ago=5)
    fees.short_fees_accrue(business_date=position.opened_on + timedelta(days=2))
    month = collection.month_tag(timezone.localdate())
    result = collection.shard_collect(month=month)
    assert result.lending_collected == D("13.92")
    assert _balance("lending_fee_receivable", investor=investor) == 0
    assert _balance("client_money", investor=investor) == D("49986.08")
    position.refresh_from_db()
    assert (position.fee_accrued, position.fee_paid) == (0, D("13.92"))
    entry = JournalEntry.objects.get(idempotency_key=f"lending-collect:{account.pk}:{month}")
    assert entry.kind == EntryKind.FEE
    # the month again: nothing more (nothing owed, and the key is taken)
    assert collection.shard_collect(month=month).lending_collected == 0
    assert trial_balance_is_zero()
