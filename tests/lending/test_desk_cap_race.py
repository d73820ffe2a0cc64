"""Two investors' financed buys placed at the same moment cannot together pass the desk-wide
cap on all margin lending (≤ the dated multiple of the firm's net capital).

Each order runs in its own PostgreSQL session (a thread: threads need committed rows, hence
`transaction=True`). The overlap is forced, not hoped for: a third session holds the
instrument's row lock, so the first order, once it has read the desk's totals, passed the caps
and inserted its order, waits at COMMIT (the deferred foreign-key check of the instrument) with
its transaction still open. The second order is started then.
- With the desk's lock (lending.credit.locks step 3) the second waits for that lock before it
  reads any total; when the first commits it reads the first's hold-back and is refused with
  `desk_net_capital`.
- Without it (the second test, the lock replaced by nothing) the second reads the same totals
  as the first, which cannot see an uncommitted order, passes too, and both are accepted: the
  desk lends more than its cap. So the first test fails if the lock is taken away.

The numbers, by hand (fees set to zero from today, tests/support/market.py):
    existing financing: the funded account's financed buy, 30,000 SZSE:000001 @ 10.00 = 300,000
    net capital from today 76,000; desk cap = 76,000 x 4 = 304,000; room = 4,000
    per-client cap = 76,000 x 5% = 3,800
    each new order: 300 SZSE:000001 @ 10.00 = 3,000 held back (≤ 3,800 per client)
    one order: 300,000 + 3,000 = 303,000 ≤ 304,000, accepted
    both: 303,000 + 3,000 = 306,000 > 304,000, the second refused.
"""

import threading
import time
import uuid
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts.errors import RuleViolation
from compliance import parameters as P
from compliance import services as compliance_services
from lending.credit import locks
from lending.instruments.models import Instrument
from lending.orders import services as orders
from lending.orders.models import Order, OrderPurpose

pytestmark = pytest.mark.django_db(transaction=True)

WAIT = 20  # seconds: a hung session fails the test instead of hanging it
UNIT = "SZSE:000001"


def _lock_waits(pid: int) -> list[str]:
    """The kinds of lock session `pid` is waiting for (pg_locks rows not granted)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT locktype FROM pg_locks WHERE pid = %s AND NOT granted", [pid])
        return [row[0] for row in cursor.fetchall()]


def _committing_order(pid: int) -> bool:
    """Session `pid` has passed every check and inserted its order, and waits for a lock at
    COMMIT (the deferred foreign-key check of the instrument, whose row the holder locks)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT wait_event_type, query FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock" and row[1].strip().upper() == "COMMIT"


def _holds_desk_lock(pid: int) -> bool:
    key = locks.DESK_LIMITS_LOCK_KEY
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE pid = %s AND granted AND locktype = 'advisory'"
            " AND classid = %s AND objid = %s AND objsubid = 1",
            # a bigint key is kept as its high (classid) and low (objid) 32 bits
            [pid, (key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF],
        )
        return cursor.fetchone()[0] == 1


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"never happened: {what}")


class _Holder(threading.Thread):
    """A session that locks the instrument's row (FOR UPDATE) until released."""

    def __init__(self, instrument_id: int):
        super().__init__(daemon=True)
        self.instrument_id = instrument_id
        self.locked = threading.Event()
        self.release = threading.Event()

    def run(self):
        try:
            with transaction.atomic():
                Instrument.objects.select_for_update().get(pk=self.instrument_id)
                self.locked.set()
                self.release.wait(WAIT)
        finally:
            self.locked.set()
            connection.close()


class _Order(threading.Thread):
    """One investor placing a financed buy through `order_place` in its own session."""

    def __init__(self, account, instrument):
        super().__init__(daemon=True)
        self.account, self.instrument = account, instrument
        self.pid: int | None = None
        self.ready = threading.Event()
        self.order: Order | None = None
        self.error: BaseException | None = None

    def run(self):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.ready.set()
            self.order = orders.order_place(
                credit_account=self.account,
                instrument=self.instrument,
                purpose=OrderPurpose.FINANCED_BUY,
                quantity=Decimal(300),
                limit_price=Decimal("10.00"),
                actor=self.account.investor.user,
                idempotency_key=f"race-{uuid.uuid4().hex}",
            )
        except BaseException as exc:  # reported by the test
            self.error = exc
        finally:
            self.ready.set()
            connection.close()

    def begin(self) -> "_Order":
        self.start()
        assert self.ready.wait(WAIT) and self.pid is not None
        return self


@pytest.fixture
def two_racers(funded_account, book_instruments):
    """The desk already lends 300,000; two investors with cash and no financing; net capital
    from today 76,000 (room for one order of 3,000, see the module docstring)."""
    funded_account()  # the desk's existing 300,000 of financing
    first = funded_account(deposit="100000", own=(), financed=())
    second = funded_account(deposit="100000", own=(), financed=())
    compliance_services.parameter_add(
        key=P.NET_CAPITAL,
        effective_from=timezone.localdate(),
        value=Decimal(76000),
        source="test: net capital leaving the desk room for one more order",
        actor=None,
    )
    return first, second, book_instruments[UNIT]


def _race(first, second, instrument) -> tuple["_Order", "_Order"]:
    holder = _Holder(instrument.pk)
    holder.start()
    assert holder.locked.wait(WAIT)
    try:
        a = _Order(first, instrument).begin()
        # the first order has passed the caps and waits to commit its order, its hold-back
        # uncommitted (and, with the desk's lock, holding it)
        _until(lambda: _committing_order(a.pid), "the first order waiting at its commit")
        b = _Order(second, instrument).begin()
        _until(lambda: _lock_waits(b.pid) != [], "the second order waiting for a lock")
        return a, b
    finally:
        holder.release.set()
        holder.join(WAIT)


def _finish(*sessions: _Order) -> None:
    for session in sessions:
        session.join(WAIT)
        assert not session.is_alive()


def _desk_total() -> Decimal:
    from lending.financing.services import desk_financing_outstanding
    from lending.orders.selectors import desk_financing_reserved

    return desk_financing_outstanding() + desk_financing_reserved()


def test_two_orders_at_once_cannot_together_exceed_the_desk_cap(two_racers):
    first, second, instrument = two_racers
    a, b = _race(first, second, instrument)
    _finish(a, b)

    assert a.error is None and a.order is not None
    assert isinstance(b.error, RuleViolation), b.error
    assert b.error.code == "desk_net_capital"
    # 300,000 lent + 3,000 held back by the first order, + 3,000 asked = 306,000 > 304,000
    assert b.error.extra == {"cap": "304000.00", "total": "303000.00"}
    racers = Order.objects.filter(credit_account__in=[first, second])
    assert [o.credit_account_id for o in racers] == [first.pk]
    assert _desk_total() == Decimal("303000.00") <= Decimal(304000)


def test_the_second_order_waits_for_the_desk_lock_held_by_the_first(two_racers):
    first, second, instrument = two_racers
    holder = _Holder(instrument.pk)
    holder.start()
    assert holder.locked.wait(WAIT)
    try:
        a = _Order(first, instrument).begin()
        _until(lambda: _holds_desk_lock(a.pid), "the first order holding the desk's lock")
        b = _Order(second, instrument).begin()
        _until(lambda: _lock_waits(b.pid) == ["advisory"], "the second waiting for the desk lock")
        assert not _holds_desk_lock(b.pid)
    finally:
        holder.release.set()
        holder.join(WAIT)
    _finish(a, b)
    assert a.error is None and b.error.code == "desk_net_capital"


def test_without_the_desk_lock_both_orders_pass_and_the_cap_is_exceeded(two_racers, monkeypatch):
    """The control: the same overlap with the lock taken away lets both through. This is the
    bug the lock fixes, and the proof the first test can fail."""
    first, second, instrument = two_racers
    monkeypatch.setattr(orders, "desk_limits_lock", lambda: None)
    holder = _Holder(instrument.pk)
    holder.start()
    assert holder.locked.wait(WAIT)
    try:
        a = _Order(first, instrument).begin()
        _until(lambda: _committing_order(a.pid), "the first order waiting at its commit")
        b = _Order(second, instrument).begin()
        # the second also passed every check (it read 300,000 + 0 held back) and waits to commit
        _until(lambda: _committing_order(b.pid), "the second order waiting at its commit")
    finally:
        holder.release.set()
        holder.join(WAIT)
    _finish(a, b)
    assert a.error is None and b.error is None
    # 300,000 + 3,000 + 3,000 = 306,000 lent or held back, above the 304,000 cap
    assert _desk_total() == Decimal("306000.00") > Decimal(304000)
