"""The desk's lock order (lending.credit.locks): investors, then credit accounts, each in
primary-key order, `FOR UPDATE OF` the row's own table only; a second transaction waits.

The SQL tests read the statements the helper sends; the transactional ones take real row locks
from several PostgreSQL sessions (threads need committed rows) and watch who waits for whom in
pg_stat_activity."""

import re
import threading
import time

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.errors import NotFound, RuleViolation
from accounts.models import InvestorProfile
from lending.credit.locks import (
    credit_account_lock,
    lock_in_order,
    open_credit_account_lock,
)
from lending.credit.models import CreditAccount, CreditAccountStatus

INVESTORS = '"accounts_investorprofile"'
ACCOUNTS = '"lending_creditaccount"'
WAIT = 20  # seconds: a hung lock fails the test instead of hanging it


def _book(make_investor, n: int):
    """n investors; credit accounts for all but the last, created in reverse, so the accounts'
    pk order is the opposite of their investors'."""
    investors = [make_investor() for _ in range(n)]
    accounts = [
        CreditAccount.objects.create(
            investor=investor, account_number=f"LOCK-{i}", account_name=investor.real_name
        )
        for i, investor in reversed(list(enumerate(investors[:-1])))
    ]
    return investors, accounts  # accounts[0] belongs to investors[-2]


def _for_update(queries) -> list[str]:
    return [q["sql"] for q in queries if "FOR UPDATE" in q["sql"]]


def _in_list(sql: str, column: str) -> list[int]:
    found = re.search(re.escape(column) + r" IN \(([\d, ]+)\)", sql)
    assert found, f"{column} IN (...) not in {sql}"
    return [int(x) for x in found.group(1).split(",")]


# --------------------------------------------------------------------------- the statements


@pytest.mark.django_db
def test_investors_then_accounts_each_in_primary_key_order(make_investor):
    investors, accounts = _book(make_investor, 3)
    a_high, a_low = sorted(accounts, key=lambda a: -a.pk)
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        locked = lock_in_order(
            investor_ids=[investors[2].pk],
            credit_account_ids=[a_high.pk, a_low.pk, a_high.pk],
        )

    sql = _for_update(ctx.captured_queries)
    assert len(sql) == 2
    first, second = sql
    # step 1: the investors (given ones and the accounts' own), sorted, only their own rows
    assert first.startswith("SELECT ") and f"FROM {INVESTORS}" in first
    assert first.endswith(f'ORDER BY {INVESTORS}."id" ASC FOR UPDATE OF {INVESTORS}')
    assert _in_list(first, f'{INVESTORS}."id"') == [investors[2].pk]
    assert _in_list(first, 'U0."id"') == sorted([a_low.pk, a_high.pk])
    # step 2: the accounts, sorted, only the account rows (investor and login joined, unlocked)
    assert f"FROM {ACCOUNTS}" in second
    assert second.endswith(f'ORDER BY {ACCOUNTS}."id" ASC FOR UPDATE OF {ACCOUNTS}')
    assert _in_list(second, f'{ACCOUNTS}."id"') == sorted([a_low.pk, a_high.pk])

    assert list(locked.investors) == sorted(i.pk for i in investors)
    assert list(locked.credit_accounts) == sorted(a.pk for a in accounts)
    assert all(isinstance(i, InvestorProfile) for i in locked.investors.values())
    account = locked.credit_accounts[a_low.pk]
    with CaptureQueriesContext(connection) as ctx:
        assert account.investor.user.pk  # came with the lock
    assert ctx.captured_queries == []


@pytest.mark.django_db
def test_the_single_account_forms_take_the_same_two_steps(make_investor):
    (investor, _), (account,) = _book(make_investor, 2)
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        locked = credit_account_lock(account)
    first, second = _for_update(ctx.captured_queries)
    assert f"FROM {INVESTORS}" in first and first.endswith(f"FOR UPDATE OF {INVESTORS}")
    assert f"FROM {ACCOUNTS}" in second and second.endswith(f"FOR UPDATE OF {ACCOUNTS}")
    assert locked.pk == account.pk and locked.investor_id == investor.pk

    with transaction.atomic():
        assert open_credit_account_lock(account).pk == account.pk
    CreditAccount.objects.filter(pk=account.pk).update(status=CreditAccountStatus.CLOSED)
    with transaction.atomic(), pytest.raises(RuleViolation) as refused:
        open_credit_account_lock(account)
    assert refused.value.code == "account_closed"


@pytest.mark.django_db
def test_nothing_asked_nothing_locked_and_missing_rows_are_not_found(make_investor):
    (investor,), _ = _book(make_investor, 1)
    with transaction.atomic(), CaptureQueriesContext(connection) as ctx:
        assert lock_in_order() == lock_in_order(investor_ids=(), credit_account_ids=())
    assert _for_update(ctx.captured_queries) == []
    with transaction.atomic(), pytest.raises(NotFound) as missing:
        lock_in_order(credit_account_ids=[987654321])
    assert missing.value.extra == {"credit_accounts": [987654321]}
    with transaction.atomic(), pytest.raises(NotFound) as missing:
        lock_in_order(investor_ids=[investor.pk, 987654321])
    assert missing.value.extra == {"investors": [987654321]}


def test_no_lending_module_locks_investors_or_accounts_by_hand():
    """Outside the helper, lending takes these locks only through it."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "lending"
    by_hand = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if path.name != "locks.py"
        and re.search(
            r"(InvestorProfile|CreditAccount)\.objects\s*\.select_for_update", path.read_text()
        )
    ]
    assert by_hand == []


# --------------------------------------------------------------------------- real locks


def _blocked_on(pid: int) -> str:
    """Wait until PostgreSQL session `pid` waits for a lock; its statement."""
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type, query FROM pg_stat_activity WHERE pid = %s", [pid]
            )
            row = cursor.fetchone()
        if row and row[0] == "Lock":
            return row[1]
        time.sleep(0.02)
    raise AssertionError(f"session {pid} never waited for a lock")


class _Session(threading.Thread):
    """A thread with its own PostgreSQL session: in one transaction it runs `work`, reports
    its backend pid and the result, then holds its locks until released."""

    def __init__(self, work):
        super().__init__(daemon=True)
        self.work = work
        self.pid: int | None = None
        self.started_ = threading.Event()
        self.done = threading.Event()
        self.release = threading.Event()
        self.result = None
        self.error: BaseException | None = None

    def run(self):
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    self.pid = cursor.fetchone()[0]
                    cursor.execute(f"SET LOCAL lock_timeout = '{WAIT}s'")
                self.started_.set()
                self.result = self.work()
                self.done.set()
                self.release.wait(WAIT)
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.started_.set()
            self.done.set()
            connection.close()

    def begin(self) -> "_Session":
        self.start()
        assert self.started_.wait(WAIT)
        return self

    def finish(self):
        self.release.set()
        self.join(WAIT)
        assert not self.is_alive()
        if self.error:
            raise self.error


@pytest.mark.django_db(transaction=True)
def test_a_second_transaction_waits_for_the_first(make_investor):
    _, (account,) = _book(make_investor, 2)
    first = _Session(lambda: credit_account_lock(account)).begin()
    assert first.done.wait(WAIT) and first.error is None
    second = _Session(lambda: lock_in_order(credit_account_ids=[account.pk])).begin()
    try:
        waiting_in = _blocked_on(second.pid)
        # it queues at the first step, the investor, and holds nothing yet
        assert f"FROM {INVESTORS}" in waiting_in
        assert not second.done.is_set()
    finally:
        first.finish()
    assert second.done.wait(WAIT)
    second.finish()
    assert list(second.result.credit_accounts) == [account.pk]


@pytest.mark.django_db(transaction=True)
def test_the_lower_investor_is_locked_before_the_higher_and_before_any_account(make_investor):
    (low, high, _), accounts = _book(make_investor, 3)
    # another session holds the higher investor
    holder = _Session(lambda: lock_in_order(investor_ids=[high.pk])).begin()
    assert holder.done.wait(WAIT) and holder.error is None
    locker = _Session(
        lambda: lock_in_order(credit_account_ids=[a.pk for a in reversed(accounts)])
    ).begin()
    try:
        assert f"FROM {INVESTORS}" in _blocked_on(locker.pid)
        # while it waits for the higher investor it already holds the lower one ...
        with pytest.raises(OperationalError), transaction.atomic():
            list(InvestorProfile.objects.select_for_update(nowait=True).filter(pk=low.pk))
        # ... and no credit account yet
        with transaction.atomic():
            ids = CreditAccount.objects.select_for_update(nowait=True).values_list("pk", flat=True)
            assert sorted(ids) == sorted(a.pk for a in accounts)
    finally:
        holder.finish()
    assert locker.done.wait(WAIT)
    try:
        # now it holds the accounts too
        with pytest.raises(OperationalError), transaction.atomic():
            list(CreditAccount.objects.select_for_update(nowait=True).filter(pk=accounts[0].pk))
    finally:
        locker.finish()
    assert list(locker.result.investors) == [low.pk, high.pk]
    assert list(locker.result.credit_accounts) == sorted(a.pk for a in accounts)
