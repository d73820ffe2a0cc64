"""Set-based end-of-day financing steps (docs/eod.md): the monthly interest collection
(lending.financing.collection), penalty interest and the overdue marking
(lending.financing.maturity), with hand-computed numbers.

Collection. Three accounts, interest accrued for two days (rate 6.5 per cent, ACT/360, rounded
half up per financing and day):
    A: 30,000 SZSE:000001 @ 10.00 = 300,000.00 -> 54.17 a day, 108.34 due; cash 800,000.00:
       the cash covers all, 108.34 collected; cash 799,891.66.
    B: 10,000 SZSE:000001 @ 10.00 = 100,000.00 -> 18.06 a day, 36.12 (opened today)
          500 SSE:600519  @ 100.01 =  50,005.00 ->  9.03 a day, 18.06 (opened yesterday: older)
       54.18 due; cash 400,030.00 - 200,000.00 (2,000 SSE:600519 @ 100.00) - 200,000.00
       (50,000 SSE:510300 @ 4.000) of own shares = 30.00: part, 30.00 collected,
       oldest financing first: the 50,005.00 lot's 18.06 all paid, the 100,000.00 lot's 11.94
       of 36.12 (24.18 left); 24.18 stays receivable.
    C: 10,000 SZSE:000001 @ 10.00 = 100,000.00 -> 18.06 a day, 36.12 due; cash 0: none.
    Two accounts collected, 138.34 in all.

Penalty. Two financings of one account, due three days ago, overdue since two days ago; penalty
rate 0.18 a year (the dated standard), ACT/360, to the cent (half up):
    10,000 SZSE:000001 @ 10.00 = 100,000.00 x 0.18 / 360 = 50.00
       500 SSE:600519  @ 100.02 =  50,010.00 x 0.18 / 360 = 25.005 -> 25.01
"""

from datetime import date, timedelta
from decimal import Decimal as D

import pytest
from django.utils import timezone

from custody import services as custody
from custody.models import AccountBalance, JournalEntry
from lending.financing import accrual, collection, maturity
from lending.financing import tasks as financing_tasks
from lending.financing.models import Financing, FinancingExtension, PenaltyAccrual
from tests.lending.book_fixtures import trial_balance_is_zero
from tests.lending.calls_fixtures import MOUTAI, PINGAN
from tests.lending.test_maturity import financed_on

pytestmark = pytest.mark.django_db


def balance(investor, purpose: str) -> D:
    account = custody.client_account(investor, purpose, "CNY")
    return AccountBalance.objects.get(account=account).balance


@pytest.fixture
def three_accounts(funded_account):
    """A (cash covers all), B (two financings, cash covers part), C (no cash); two days of
    interest accrued."""
    day = timezone.localdate()
    a = funded_account()
    b = funded_account(
        deposit="400030",
        own=((MOUTAI, 2000, "100.00"), ("SSE:510300", 50000, "4.000")),
        financed=((PINGAN, 10000, "10.00"), (MOUTAI, 500, "100.01")),
    )
    c = funded_account(
        deposit="200000", own=((MOUTAI, 2000, "100.00"),), financed=((PINGAN, 10000, "10.00"),)
    )
    # B's second lot (the higher id) is the older one: the allocation goes by opening date
    Financing.objects.filter(credit_account=b, amount=D("50005.00")).update(
        opened_on=day - timedelta(days=1)
    )
    accrual.shard_accrue(business_date=day)
    accrual.shard_accrue(business_date=day + timedelta(days=1))
    assert [balance(x.investor, "interest_receivable") for x in (a, b, c)] == [
        D("108.34"),
        D("54.18"),
        D("36.12"),
    ]
    assert [-balance(x.investor, "client_money") for x in (a, b, c)] == [
        D("800000.00"),
        D("30.00"),
        D("0.00"),
    ]
    return a, b, c


def collected_history(financing) -> list:
    return list(
        financing.history.filter(history_change_reason__contains="interest collected")
        .order_by("history_id")
        .values_list("history_change_reason", "history_user", "interest_accrued", "interest_paid")
    )


@pytest.mark.parametrize("shards", [1, 3])
def test_collection_full_part_none_and_the_allocation_oldest_first(three_accounts, shards):
    a, b, c = three_accounts
    tag = f"{timezone.localdate():%Y-%m}"
    results = [collection.shard_collect(month=tag, shard=k, shards=shards) for k in range(shards)]
    # the shards add up to one run: two accounts, 138.34
    assert sum(r.accounts for r in results) == 2
    assert sum(r.amount for r in results) == D("138.34")
    assert sum(r.financings for r in results) == 3  # A's one, B's two

    # the ledger: what was due less what was paid; the cash less the same
    assert [balance(x.investor, "interest_receivable") for x in (a, b, c)] == [
        D("0.00"),
        D("24.18"),
        D("36.12"),
    ]
    assert [-balance(x.investor, "client_money") for x in (a, b, c)] == [
        D("799891.66"),
        D("0.00"),
        D("0.00"),
    ]
    entries = JournalEntry.objects.filter(idempotency_key__startswith="interest-collect:")
    assert sorted((e.idempotency_key, e.memo, e.kind) for e in entries) == sorted(
        [
            (
                f"interest-collect:{a.investor_id}:{tag}",
                f"Interest collected for {tag}: 108.34 of 108.34 due",
                "interest",
            ),
            (
                f"interest-collect:{b.investor_id}:{tag}",
                f"Interest collected for {tag}: 30.00 of 54.18 due",
                "interest",
            ),
        ]
    )
    entry = entries.get(idempotency_key=f"interest-collect:{b.investor_id}:{tag}")
    assert entry.effective_date == timezone.localdate()
    assert sorted(
        (p.account.purpose, p.amount) for p in entry.postings.select_related("account")
    ) == [("client_money", D("30.00")), ("interest_receivable", D("-30.00"))]

    # the financings: A's all paid; B's older lot first, then 11.94 of the newer one's 36.12
    fa = Financing.objects.get(credit_account=a)
    older = Financing.objects.get(credit_account=b, amount=D("50005.00"))
    newer = Financing.objects.get(credit_account=b, amount=D("100000.00"))
    fc = Financing.objects.get(credit_account=c)
    assert older.pk > newer.pk  # so the order is the opening date's, not the id's
    assert (fa.interest_accrued, fa.interest_paid) == (D("0.00"), D("108.34"))
    assert (older.interest_accrued, older.interest_paid) == (D("0.00"), D("18.06"))
    assert (newer.interest_accrued, newer.interest_paid) == (D("24.18"), D("11.94"))
    assert (fc.interest_accrued, fc.interest_paid) == (D("36.12"), D("0.00"))
    assert {f.status for f in (fa, older, newer, fc)} == {"open"}  # principal still owed
    # one history row per changed financing, by the system, with the month
    reason = f"system: interest collected {tag}"
    assert collected_history(older) == [(reason, None, D("0.00"), D("18.06"))]
    assert collected_history(newer) == [(reason, None, D("24.18"), D("11.94"))]
    assert collected_history(fa) == [(reason, None, D("0.00"), D("108.34"))]
    assert collected_history(fc) == []
    assert trial_balance_is_zero()

    # a rerun (the task called as a function, every shard) collects nothing
    assert financing_tasks.interest_collect_monthly(tag) == 0
    assert collection.interest_collect(month=f"{tag}-01", shards=2) == 0
    assert entries.count() == 2
    assert collected_history(newer) == [(reason, None, D("24.18"), D("11.94"))]


def test_collection_next_month_takes_what_cash_came_in_for(three_accounts):
    _a, _b, c = three_accounts
    tag = f"{timezone.localdate():%Y-%m}"
    assert collection.interest_collect(month=tag) == 2
    # C deposits 10.00: next month's run takes 10.00 of its 36.12, the rest stays receivable
    custody.client_deposit_post(
        investor=c.investor,
        amount=D("10.00"),
        currency="CNY",
        bank_account=c.investor._test_bank_account,
        reference="interest",
        actor=None,
        idempotency_key=f"eod-collect-{c.pk}",
    )
    following = f"{timezone.localdate().replace(day=1) + timedelta(days=32):%Y-%m}"
    assert collection.interest_collect(month=following, shards=4) == 1
    assert balance(c.investor, "interest_receivable") == D("26.12")
    fc = Financing.objects.get(credit_account=c)
    assert (fc.interest_accrued, fc.interest_paid) == (D("26.12"), D("10.00"))
    assert JournalEntry.objects.get(
        idempotency_key=f"interest-collect:{c.investor_id}:{following}"
    ).memo == (f"Interest collected for {following}: 10.00 of 36.12 due")
    assert trial_balance_is_zero()


def test_a_shard_outside_the_shards_is_refused(db):
    from accounts.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match=r"shard: 3 is not one of 0\.\.2"):
        collection.shard_collect(month="2026-11", shard=3, shards=3)
    with pytest.raises(ValidationFailed, match=r"shard: 2 is not one of 0\.\.1"):
        maturity.penalty_accrue(business_date=date(2026, 11, 2), shard=2, shards=2)


def test_penalty_on_two_overdue_financings_to_the_cent(funded_account):
    day = timezone.localdate()
    account = funded_account(financed=((PINGAN, 10000, "10.00"), (MOUTAI, 500, "100.02")))
    Financing.objects.filter(credit_account=account).update(due_on=day - timedelta(days=3))
    big, small = Financing.objects.filter(credit_account=account).order_by("-amount")
    assert (big.amount, small.amount) == (D("100000.00"), D("50010.00"))
    assert big.contract.penalty_rate == D("0.18")
    assert maturity.financings_mark_overdue(on=day) == sorted([big.pk, small.pk])

    # before the financings were overdue: nothing
    assert maturity.penalty_accrue(business_date=day - timedelta(days=3)) == 0
    assert maturity.penalty_accrue(business_date=day) == 2
    assert maturity.penalty_accrue(business_date=day) == 0  # a rerun posts nothing

    iso = day.isoformat()
    due = (day - timedelta(days=3)).isoformat()
    number = big.contract.contract_number
    rows = PenaltyAccrual.objects.filter(business_date=day).order_by("financing_id")
    assert [(r.financing_id, r.principal, r.annual_rate, r.amount) for r in rows] == sorted(
        [
            (big.pk, D("100000.00"), D("0.18"), D("50.00")),
            (small.pk, D("50010.00"), D("0.18"), D("25.01")),
        ]
    )
    for row in rows:
        entry = row.entry
        assert entry.idempotency_key == f"penalty:{row.financing_id}:{iso}"
        assert (entry.kind, entry.effective_date) == ("interest", day)
        principal = "100,000.00" if row.financing_id == big.pk else "50,010.00"
        assert entry.memo == (
            f"Penalty interest {iso} on overdue financing #{row.financing_id} "
            f"({principal} at 0.18 ACT/360, due {due}; {number})"
        )
        assert sorted(
            (p.account.purpose, p.account.purpose_key.endswith(":penalty:CNY"), p.amount)
            for p in entry.postings.select_related("account")
        ) == [("interest_income", True, -row.amount), ("interest_receivable", False, row.amount)]
    big.refresh_from_db()
    small.refresh_from_db()
    assert (big.interest_accrued, big.penalty_charged) == (D("50.00"), D("50.00"))
    assert (small.interest_accrued, small.penalty_charged) == (D("25.01"), D("25.01"))
    assert balance(account.investor, "interest_receivable") == D("75.01")
    assert list(
        small.history.filter(history_change_reason__startswith="system: penalty").values_list(
            "history_change_reason", "penalty_charged"
        )
    ) == [(f"system: penalty interest {iso}: 25.01", D("25.01"))]

    # the next day in two shards (the contract is in one of them): the same again
    next_day = day + timedelta(days=1)
    assert (
        sum(maturity.penalty_accrue(business_date=next_day, shard=k, shards=2) for k in range(2))
        == 2
    )
    small.refresh_from_db()
    assert small.penalty_charged == D("50.02")
    assert JournalEntry.objects.filter(idempotency_key__startswith="penalty:").count() == 4
    assert trial_balance_is_zero()


def test_overdue_marking_lapses_the_pending_extension_with_history(
    funded_account, book_instruments
):
    account = funded_account(deposit="200000", own=((MOUTAI, 2000, "100.00"),), financed=())
    financing = financed_on(account, book_instruments[PINGAN], 10000, "10.00", date(2026, 6, 1))
    assert financing.due_on == date(2026, 12, 1)
    extension = maturity.financing_extension_request(
        financing=financing,
        months=1,
        on=date(2026, 11, 20),
        actor=account.investor.user,
        reason="cash expected in January",
    )
    # another account's financing, opened today, is not due: left alone
    other = Financing.objects.get(credit_account=funded_account())

    assert maturity.financings_mark_overdue(on=date(2026, 12, 1)) == []  # the due date: in time
    assert maturity.financings_mark_overdue(on=date(2026, 12, 2)) == [financing.pk]
    assert maturity.financings_mark_overdue(on=date(2026, 12, 3)) == []  # already overdue

    financing.refresh_from_db()
    assert (financing.overdue_since, financing.status) == (date(2026, 12, 2), "open")
    rows = financing.history.filter(history_change_reason__contains="overdue").values_list(
        "history_change_reason", "history_user", "overdue_since"
    )
    assert list(rows) == [
        (
            "system: overdue: due on 2026-12-01, 100,000.00 principal unpaid",
            None,
            date(2026, 12, 2),
        )
    ]
    extension.refresh_from_db()
    assert (extension.status, extension.decided_by, extension.decision_reason) == (
        "rejected",
        None,
        "lapsed: not approved by the due date",
    )
    assert extension.decided_at is not None
    latest = FinancingExtension.history.filter(id=extension.pk).order_by("-history_id").first()
    assert (latest.history_change_reason, latest.history_user, latest.status) == (
        "system: lapsed: not approved by the due date",
        None,
        "rejected",
    )
    assert FinancingExtension.history.filter(id=extension.pk).count() == 2  # asked, lapsed
    other.refresh_from_db()
    assert other.overdue_since is None
    assert not other.history.filter(history_change_reason__contains="overdue").exists()


@pytest.mark.django_db(transaction=True)
def test_committed_for_real_penalty_then_collection(funded_account):
    """The same steps committed (the ledger's deferred checks, balance per entry and foreign
    keys, run at each commit): one financing of 100,000.00 overdue, penalty 50.00 a day for
    two days, then the month's collection takes the 100.00 from the cash."""
    day = timezone.localdate()
    account = funded_account(financed=((PINGAN, 10000, "10.00"),))
    Financing.objects.filter(credit_account=account).update(due_on=day - timedelta(days=3))
    [financing] = maturity.financings_mark_overdue(on=day)
    assert maturity.penalty_accrue(business_date=day - timedelta(days=1)) == 1
    assert maturity.penalty_accrue(business_date=day) == 1
    assert balance(account.investor, "interest_receivable") == D("100.00")
    tag = f"{day:%Y-%m}"
    assert collection.interest_collect(month=tag, shards=2) == 1
    assert collection.interest_collect(month=tag, shards=2) == 0
    f = Financing.objects.get(pk=financing)
    assert (f.interest_accrued, f.interest_paid, f.penalty_charged) == (
        D("0.00"),
        D("100.00"),
        D("100.00"),
    )
    assert balance(account.investor, "interest_receivable") == D("0.00")
    assert -balance(account.investor, "client_money") == D("799900.00")  # 800,000.00 - 100.00
    assert trial_balance_is_zero()


@pytest.mark.integration
@pytest.mark.django_db(transaction=True)
def test_the_monthly_task_on_a_real_worker_collects_every_shard(funded_account, tmp_path):
    """interest_collect_monthly as beat sends it: a chord of shard tasks on a real worker,
    then its callback. Three default accounts (300,000.00 financed, cash 800,000.00), one day
    of interest each (54.17): three collected, 162.51 in all."""
    import time
    import uuid

    from django.db import connection

    from config.celery import app
    from tests.integration.conftest import start_worker, stop_worker, wait_until_ready

    accounts = [funded_account() for _ in range(3)]
    day = timezone.localdate()
    accrual.shard_accrue(business_date=day)
    tag = f"{day:%Y-%m}"
    queue = f"test-collect-{uuid.uuid4().hex[:10]}"
    log_path = tmp_path / "worker.log"
    worker = start_worker(queue, connection.settings_dict["NAME"], "collector", log_path)
    try:
        wait_until_ready(worker, log_path)
        financing_tasks.interest_collect_monthly.apply_async(
            kwargs={"month": tag, "shards": 2}, queue=queue
        )
        deadline = time.monotonic() + 90
        while (
            "interest_collect_done" not in log_path.read_text()
            or " succeeded " not in (log_path.read_text().split("interest_collect_done", 1)[-1])
        ):
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
    finally:
        stop_worker(worker)
        with app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)
    log = log_path.read_text()
    assert log.count("interest_collect_shard[") >= 2
    entries = JournalEntry.objects.filter(idempotency_key__startswith="interest-collect:")
    assert sorted(entries.values_list("idempotency_key", flat=True)) == sorted(
        f"interest-collect:{a.investor_id}:{tag}" for a in accounts
    )
    assert [balance(a.investor, "interest_receivable") for a in accounts] == [D("0.00")] * 3
    assert sum(
        Financing.objects.filter(credit_account__in=accounts).values_list(
            "interest_paid", flat=True
        )
    ) == D("162.51")
    assert trial_balance_is_zero()
