"""Set-based, sharded interest accrual (lending.financing.accrual, docs/eod.md): the same cents,
entries, keys, accrual rows and history rows as the per-contract code wrote, and the catch-up
of missed days.

Worked by hand (rate 6.5 per cent, ACT/360, rounded half up per financing, summed per contract):
    financing 1: 10,000 SZSE:000001 @ 10.00 = 100,000.00 x 0.065 / 360 = 18.0556 -> 18.06
    financing 2:    500 SSE:600519  @ 100.01 = 50,005.00 x 0.065 / 360 =  9.0287 ->  9.03
    the contract's day: 27.09 (the sum rounded once would be 150,005.00 x 0.065 / 360 = 27.08)
"""

from datetime import timedelta
from decimal import Decimal as D

import pytest
from django.db import transaction
from django.utils import timezone

from custody import services as custody
from custody.models import JournalEntry
from lending.financing import accrual
from lending.financing.models import Financing, InterestAccrual
from tests.lending.book_fixtures import trial_balance_is_zero

pytestmark = pytest.mark.django_db

TWO_LOTS = (("SZSE:000001", 10000, "10.00"), ("SSE:600519", 500, "100.01"))


def interest_history(financing):
    return list(
        financing.history.filter(history_change_reason__startswith="system: interest ")
        .order_by("history_id")
        .values_list("history_change_reason", "interest_accrued")
    )


def test_catch_up_after_two_missed_days_posts_exactly_those_days(funded_account):
    account = funded_account(financed=TWO_LOTS)
    f1, f2 = Financing.objects.filter(credit_account=account).order_by("amount")
    assert (f1.principal_outstanding, f2.principal_outstanding) == (D("50005.00"), D("100000.00"))
    contract = f1.contract
    day = timezone.localdate()
    days = [day + timedelta(days=n) for n in range(4)]

    # the first run: that day only (nothing accrued before)
    assert accrual.days_to_accrue(day) == [day]
    assert accrual.interest_accrue_through(day) == {day: 1}
    # days + 1 and + 2 missed; the run on day + 3 accrues them first, oldest first
    assert accrual.days_to_accrue(days[3]) == days[1:]
    assert accrual.interest_accrue_through(days[3], shards=3) == dict.fromkeys(days[1:], 1)

    rows = InterestAccrual.objects.filter(contract=contract).order_by("business_date")
    assert [(r.business_date, r.principal, r.amount) for r in rows] == [
        (d, D("150005.00"), D("27.09")) for d in days
    ]
    entries = JournalEntry.objects.filter(idempotency_key__startswith="interest:").order_by("pk")
    assert [e.idempotency_key for e in entries] == [
        f"interest:{contract.pk}:{d.isoformat()}" for d in days
    ]
    assert [r.entry_id for r in rows] == [e.pk for e in entries]
    entry = entries[1]
    assert entry.memo == (
        f"Interest {days[1].isoformat()} on 150,005.00 at 0.065 ACT/360 "
        f"({contract.contract_number})"
    )
    assert (entry.kind, entry.effective_date) == ("interest", days[1])
    assert sorted(
        (p.account.purpose, p.account.investor_id, p.amount)
        for p in entry.postings.select_related("account")
    ) == [
        ("interest_income", None, D("-27.09")),
        ("interest_receivable", account.investor_id, D("27.09")),
    ]
    f1.refresh_from_db()
    f2.refresh_from_db()
    assert (f1.interest_accrued, f2.interest_accrued) == (D("36.12"), D("72.24"))  # 4 days
    # one history row per financing and day, as the per-contract code wrote them
    assert interest_history(f2) == [
        (f"system: interest {d.isoformat()}", D("18.06") * (n + 1)) for n, d in enumerate(days)
    ]
    assert len(interest_history(f1)) == 4
    assert trial_balance_is_zero()

    # run again: nothing is posted twice
    assert accrual.interest_accrue_through(days[3], shards=2) == {days[3]: 0}
    assert accrual.shard_accrue(business_date=days[2]).contracts == 0
    assert InterestAccrual.objects.filter(contract=contract).count() == 4
    assert JournalEntry.objects.filter(idempotency_key__startswith="interest:").count() == 4
    f2.refresh_from_db()
    assert f2.interest_accrued == D("72.24")


def test_the_set_based_entry_is_the_entry_the_batch_posting_service_would_post(funded_account):
    """Same fingerprint as custody's per-entry path: the same key and content posted again
    through entries_post_in_transaction returns the entry; other content is a Conflict."""
    from accounts.errors import Conflict

    account = funded_account(financed=TWO_LOTS)
    day = timezone.localdate()
    accrual.shard_accrue(business_date=day)
    contract = Financing.objects.filter(credit_account=account).first().contract
    key = f"interest:{contract.pk}:{day.isoformat()}"
    first = JournalEntry.objects.get(idempotency_key=key)
    receivable = custody.client_account(account.investor, "interest_receivable", "CNY")
    income = custody.house_account("interest_income", "CNY")

    def spec(amount):
        return custody.EntrySpec(
            legs=[custody.debit(receivable, amount), custody.credit(income, amount)],
            memo=first.memo,
            kind="interest",
            idempotency_key=key,
            effective_date=day,
        )

    with transaction.atomic():
        [again] = custody.entries_post_in_transaction(entries=[spec(D("27.09"))], actor=None)
    assert again.pk == first.pk
    with pytest.raises(Conflict), transaction.atomic():
        custody.entries_post_in_transaction(entries=[spec(D("27.08"))], actor=None)


def test_shards_split_the_book_and_add_up_to_one_run(funded_account):
    accounts = [funded_account() for _ in range(3)]  # 300,000.00 each: 54.17 a day
    day = timezone.localdate()
    results = accrual.day_accrue(business_date=day, shards=2)
    assert sum(r.contracts for r in results) == 3 and sum(r.entries for r in results) == 3
    assert sum(r.amount for r in results) == D("162.51")
    contracts = {a.pk: Financing.objects.get(credit_account=a).contract_id for a in accounts}
    for r in results:
        assert r.contracts == sum(1 for c in contracts.values() if c % 2 == r.shard)
    assert all(
        f.interest_accrued == D("54.17")
        for f in Financing.objects.filter(credit_account__in=accounts)
    )
    assert accrual.day_accrue(business_date=day, shards=2)[0].contracts == 0
    assert trial_balance_is_zero()


def test_a_catch_up_never_goes_back_before_a_contracts_last_accrual(funded_account):
    account = funded_account()
    day = timezone.localdate()
    accrual.shard_accrue(business_date=day + timedelta(days=2))
    # the day before that contract's last accrual is not back-filled by a catch-up...
    assert (
        accrual.shard_accrue(business_date=day + timedelta(days=1), since_last=True).contracts == 0
    )
    # ...while the single-day service still accrues a day asked for by name
    assert accrual.shard_accrue(business_date=day + timedelta(days=1)).contracts == 1
    assert InterestAccrual.objects.filter(contract__credit_account=account).count() == 2


def test_the_set_based_posting_service_refuses_what_the_per_entry_one_refuses(funded_account):
    """custody's set-based service: amounts to the unit's places, one content per key."""
    from accounts.errors import Conflict, ValidationFailed
    from custody.services.ledger import entries_post_two_leg_set_in_transaction

    account = funded_account()
    receivable = custody.client_account(account.investor, "interest_receivable", "CNY")
    income = custody.house_account("interest_income", "CNY")

    def post(key, amount):
        with transaction.atomic():
            return entries_post_two_leg_set_in_transaction(
                source="SELECT %(key)s AS idempotency_key, 'test' AS memo, "
                "NULL::date AS effective_date, %(d)s AS debit_account_id, "
                "%(c)s AS credit_account_id, %(amount)s::numeric AS amount",
                params={"key": key, "d": receivable.pk, "c": income.pk, "amount": amount},
                kind="interest",
                unit="CNY",
                actor=None,
            )

    with pytest.raises(ValidationFailed, match="decimal places"):
        post("set-test:1", "1.005")
    with pytest.raises(ValidationFailed, match="positive"):
        post("set-test:1", "-1.00")
    first = post("set-test:1", "1.00")
    assert (first.posted, first.repeated) == (1, 0)
    again = post("set-test:1", "1.00")
    assert (again.posted, again.repeated) == (0, 1)
    with pytest.raises(Conflict, match="different content"):
        post("set-test:1", "2.00")
    assert JournalEntry.objects.filter(idempotency_key="set-test:1").count() == 1
    assert trial_balance_is_zero()


def test_the_daily_task_chains_a_chord_of_shards_per_missed_day(funded_account, celery_eager):
    """As a worker runs it (here eagerly): a chord of shard tasks for the first missed day,
    whose callback starts the next day's; the days in order, each once."""
    from lending.financing import tasks as financing_tasks

    account = funded_account()  # 300,000.00: 54.17 a day
    day = timezone.localdate()
    accrual.shard_accrue(business_date=day)
    through = day + timedelta(days=3)
    assert financing_tasks.interest_accrue_daily.delay(through.isoformat(), 3).get() == 3
    rows = InterestAccrual.objects.filter(contract__credit_account=account).order_by("pk")
    assert [(r.business_date, r.amount) for r in rows] == [
        (day + timedelta(days=n), D("54.17")) for n in range(4)
    ]
    assert Financing.objects.get(credit_account=account).interest_accrued == D("216.68")
    assert trial_balance_is_zero()
