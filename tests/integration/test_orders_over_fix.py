"""Orders over a real FIX 4.4 session: the order gateway (lending/orders/gateway.py) runs in
this process and holds the session to the simulated exchange on loopback (each quickfix engine
in a child process of its own, temporary store and log folders, a free port); the exchange's
quotes are the fixture instruments' prices from the database (manage.py run_exchange's
`database_quote`). Execution reports are stored by the gateway and applied by a real Celery
worker on Redis (tools/worker_processes), on a queue of this module.

Orders are placed through `order_place` (all its checks) and cancelled through
`order_cancel`; the exchange is steered through its control API. The fees are the seeded dated
parameters (no `zero_fees`): every fill is checked against lending.domain.fees.

The crash test starts a worker whose fill booking pauses inside the applying transaction,
after the fill and its ledger entry are written and before the commit (`pause_after_fill`,
installed in that worker process only; production code has no such hook), kills it with
SIGKILL there, and lets a fresh worker (and the sweep) finish: each fill booked once."""

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Max, Sum

from config.celery import app
from lending.domain import fees as fee_rules
from lending.financing.models import Financing
from lending.management.commands.run_exchange import database_quote
from lending.orders import fix_session as fs
from lending.orders import selectors as order_selectors
from lending.orders import services as orders
from lending.orders.exchange import Quote, SimulatedExchange
from lending.orders.fix_session import FixSettings
from lending.orders.gateway import OrderGateway
from lending.orders.models import ExecutionReportRecord, Fill, Order, OrderStatus
from lending.orders.tasks import execution_reports_apply
from tests.integration.conftest import start_worker, stop_worker, wait_until_ready
from tests.integration.test_fix_session import free_port
from tests.lending.book_fixtures import trial_balance_is_zero
from tools.worker_processes import ROOT, WorkerProcess

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SYMBOL = "SZSE:000001"  # 10.00 in BOOK_INSTRUMENTS, lots of 100
WAIT = 30.0
PAUSE_ENV = "MARGINDESK_TEST_FILL_PAUSE"
PAUSE_LOG = "paused worker: fill booked, not committed, pausing"
VISIBILITY = "4"  # seconds before Redis restores a killed worker's unacknowledged task


# --- the paused worker (runs in the worker process, never in the test process) -------------


def pause_after_fill(seconds: float) -> None:
    """Make every fill this process books sleep `seconds` once it is written, before the
    applying transaction commits."""
    book = orders._fill_book

    def book_then_pause(order, record):
        fill = book(order, record)
        print(f"{PAUSE_LOG} {seconds:g}s: exec {record.exec_id}", file=sys.stderr, flush=True)
        time.sleep(seconds)
        return fill

    orders._fill_book = book_then_pause


PAUSED_WORKER = f"""
import os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
import django
django.setup()
from tests.integration.test_orders_over_fix import pause_after_fill
pause_after_fill(float(os.environ["{PAUSE_ENV}"]))
from celery.__main__ import main
sys.argv = ["celery", *sys.argv[1:]]
main()
"""


def start_paused_worker(queue: str, log_path, seconds: float) -> WorkerProcess:
    """As tools/worker_processes.start (solo pool, so killing the pid kills the task), run
    through PAUSED_WORKER."""
    db = connection.settings_dict
    url = (
        f"postgres://{db.get('USER') or 'postgres'}@{db.get('HOST') or '127.0.0.1'}:"
        f"{db.get('PORT') or 5432}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "CELERY_VISIBILITY_TIMEOUT": VISIBILITY,
        PAUSE_ENV: str(seconds),
    }
    hostname = f"paused-{queue}@%h"
    log = open(log_path, "w")  # noqa: SIM115  (kept open for the process's life)
    process = subprocess.Popen(
        [sys.executable, "-c", PAUSED_WORKER, "-A", "config", "worker", "--pool", "solo",
         "--queues", queue, "--hostname", hostname, "--loglevel", "INFO",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )  # fmt: skip
    return WorkerProcess(process, queue, hostname, db["NAME"], log_path)


# --- fixtures ---------------------------------------------------------------------------------


def wait_for(predicate, what: str, timeout: float = WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def delete_queue(queue: str) -> None:
    with app.connection_for_write() as conn:
        conn.default_channel.queue_delete(queue)


@pytest.fixture(scope="module")
def worker_queue(django_db_setup, tmp_path_factory):
    """One worker for the module, on its own queue, pointed at the test database."""
    queue = f"test-orders-{uuid.uuid4().hex[:10]}"
    log_path = tmp_path_factory.mktemp("orders-worker") / "worker.log"
    worker = start_worker(queue, connection.settings_dict["NAME"], "orders", log_path)
    try:
        wait_until_ready(worker, log_path)
        yield queue
    finally:
        stop_worker(worker)
        delete_queue(queue)


class Market:
    """The simulated exchange and the order gateway on one session; reports are applied by
    the worker on `queue`."""

    def __init__(self, tmp_path, queue: str, quotes: dict[str, Quote]):
        self.tmp_path = tmp_path
        self.queue = queue
        suffix = uuid.uuid4().hex[:6].upper()
        self.port = free_port()
        self.sender, self.target = f"DESK{suffix}", f"EXCH{suffix}"
        self.exchange = SimulatedExchange(self.settings("exchange"), quotes)
        self.gateway: OrderGateway | None = None
        self.runner: threading.Thread | None = None
        self.handed_over = 0  # reports the session handed to the gateway

    def settings(self, name: str) -> FixSettings:
        return FixSettings(
            host="127.0.0.1",
            port=self.port,
            sender_comp_id=self.sender,
            target_comp_id=self.target,
            store_dir=self.tmp_path / name / "store",
            log_dir=self.tmp_path / name / "log",
            heartbeat_seconds=5,
            reconnect_seconds=1,
        )

    def enqueue(self, order_id: int) -> None:
        execution_reports_apply.apply_async((order_id,), queue=self.queue)

    def gateway_start(self, *, sending: bool = True) -> OrderGateway:
        gateway = OrderGateway(self.settings("gateway"), enqueue=self.enqueue, poll_seconds=0.05)
        handle = gateway.broker.on_execution_report

        def counted(report):
            handle(report)
            self.handed_over += 1

        gateway.broker.on_execution_report = counted
        gateway.start()
        assert gateway.broker.wait_logged_on(WAIT), "the gateway did not log on"
        self.gateway = gateway
        self.runner = threading.Thread(target=gateway.run, name="test-gateway", daemon=True)
        if sending:
            self.runner.start()
        return gateway

    def gateway_stop(self) -> None:
        if self.gateway is not None:
            self.gateway.stop()
            if self.runner.ident is not None:
                self.runner.join(WAIT)
            assert not self.runner.is_alive()
            assert self.gateway.broker.exitcode == 0
            self.gateway = None


@pytest.fixture
def market(tmp_path, book_instruments, worker_queue):
    quotes = {SYMBOL: database_quote(SYMBOL)}
    assert quotes[SYMBOL].last_price == Decimal("10.00")
    market = Market(tmp_path, worker_queue, quotes)
    try:
        market.exchange.start()
        market.gateway_start()
        yield market
    finally:
        market.gateway_stop()
        market.exchange.stop()
    assert market.exchange.exitcode == 0


@pytest.fixture
def account(make_credit_account):
    """A credit account with 500,000.00 deposited; the seeded (real) fees apply."""
    from custody import services as custody

    account = make_credit_account(limit="1000000")
    investor = account.investor
    custody.client_deposit_post(
        investor=investor,
        amount=Decimal("500000"),
        currency="CNY",
        bank_account=investor._test_bank_account,
        reference="test deposit",
        actor=None,
        idempotency_key=f"deposit-{uuid.uuid4().hex}",
    )
    return account


def place(account, instruments, quantity, limit, purpose="financed_buy") -> Order:
    order = orders.order_place(
        credit_account=account,
        instrument=instruments[SYMBOL],
        purpose=purpose,
        quantity=quantity,
        limit_price=Decimal(limit),
        actor=account.investor.user,
        idempotency_key=f"fix-{uuid.uuid4().hex}",
        reason="integration test",
    )
    assert order.sent_at is None and order.reserved_amount > 0
    return order


def settled(order: Order, status: str, what: str = "") -> Order:
    """Wait until the order has `status` and every report of it is applied."""

    def done():
        order.refresh_from_db()
        pending = ExecutionReportRecord.objects.filter(order=order, applied_at__isnull=True)
        return order.status == status and not pending.exists()

    wait_for(done, what or f"order {order.client_order_id} {status}")
    return order


def exchange_cum_qty(order: Order) -> Decimal:
    return ExecutionReportRecord.objects.filter(order=order).aggregate(c=Max("cum_qty"))["c"]


def assert_fills_booked_once(order: Order) -> list[Fill]:
    """One fill per trade report, at its price and quantity, with the fees of the dated
    parameters; the order's filled quantity is the exchange's cum qty; the financed amount is
    the turnover plus the fees; the trial balance is zero."""
    trades = list(
        ExecutionReportRecord.objects.filter(
            order=order, exec_type__in=(fs.EXEC_TRADE, fs.EXEC_PARTIAL_FILL), last_qty__gt=0
        ).order_by("pk")
    )
    fills = {f.exec_id: f for f in Fill.objects.filter(order=order)}
    assert sorted(fills) == sorted(r.exec_id for r in trades)
    rates = orders.fee_rates(order.contract, order.trade_date)
    earlier_turnover = earlier_commission = Decimal(0)
    for record in trades:
        fill = fills[record.exec_id]
        assert (fill.price, fill.quantity) == (record.last_px, record.last_qty)
        expected = fee_rules.fill_fees(
            side=order.side,
            turnover=fill.turnover,
            rates=rates,
            earlier_turnover=earlier_turnover,
            earlier_commission=earlier_commission,
        )
        assert fill.turnover == fee_rules.cents(fill.price * fill.quantity)
        assert (fill.commission, fill.stamp_duty, fill.transfer_fee) == (
            expected.commission,
            expected.stamp_duty,
            expected.transfer_fee,
        )
        earlier_turnover += fill.turnover
        earlier_commission += fill.commission
    order.refresh_from_db()
    assert order.filled_quantity == sum((f.quantity for f in fills.values()), Decimal(0))
    assert order.filled_quantity == (exchange_cum_qty(order) or 0)
    keys = [f"fill:{exec_id}" for exec_id in fills]
    financed = Financing.objects.filter(idempotency_key__in=keys).aggregate(s=Sum("amount"))[
        "s"
    ] or Decimal(0)
    booked = sum(
        (f.turnover + f.commission + f.stamp_duty + f.transfer_fee for f in fills.values()),
        Decimal(0),
    )
    assert financed == booked
    assert trial_balance_is_zero()
    return [fills[r.exec_id] for r in trades]


# --- the lifecycle ------------------------------------------------------------------------------


def test_partial_fills_are_booked_at_the_exchanges_prices_with_fees(
    market, account, book_instruments
):
    market.exchange.fill_fraction(SYMBOL, Decimal("0.3"))
    order = place(account, book_instruments, 1000, "10.50")  # marketable at 10.00
    wait_for(lambda: Fill.objects.filter(order=order).count() == 1, "the first fill")
    settled(order, OrderStatus.PARTIALLY_FILLED)
    reserved_after_first = order.reserved_amount
    assert 0 < reserved_after_first < place_reserve(order)
    market.exchange.match(SYMBOL)  # 0.3 of 700: 200
    wait_for(lambda: Fill.objects.filter(order=order).count() == 2, "the second fill")
    # the market moves: the rest fills at the exchange's new price, not the limit
    market.exchange.set_quote(
        SYMBOL, Quote(Decimal("10.20"), *database_quote_rest(market.exchange.quotes[SYMBOL]))
    )
    market.exchange.fill_fraction(SYMBOL, None)
    market.exchange.match(SYMBOL)
    settled(order, OrderStatus.FILLED)

    fills = assert_fills_booked_once(order)
    assert [(f.quantity, f.price) for f in fills] == [
        (Decimal(300), Decimal("10.00")),
        (Decimal(200), Decimal("10.00")),
        (Decimal(500), Decimal("10.20")),
    ]
    assert fills[0].commission == Decimal("5.00")  # the minimum, charged on the first fill
    assert sum(f.transfer_fee for f in fills) > 0
    assert order.reserved_amount == 0 and order.exchange_order_id


def place_reserve(order: Order) -> Decimal:
    rates = orders.fee_rates(order.contract, order.trade_date)
    return fee_rules.buy_cost_estimate(
        quantity=order.quantity, limit_price=order.limit_price, rates=rates
    )


def database_quote_rest(quote: Quote) -> tuple:
    return (quote.prev_close, quote.lot_size, quote.band)


def test_a_reject_leaves_the_order_rejected_and_releases_its_reserve(
    market, account, book_instruments
):
    market.exchange.reject_next(SYMBOL, "insufficient position")
    order = place(account, book_instruments, 500, "10.00")
    assert order_selectors.held_back(account.pk).financing == order.reserved_amount > 0
    settled(order, OrderStatus.REJECTED)
    assert order.status_text == "insufficient position"
    assert order.reserved_amount == 0
    assert order_selectors.held_back(account.pk).financing == 0
    assert not Fill.objects.filter(order=order).exists()
    assert trial_balance_is_zero()


def test_a_cancel_goes_out_as_a_cancel_request_and_cancels_the_rest(
    market, account, book_instruments
):
    market.exchange.fill_fraction(SYMBOL, Decimal("0.5"))
    order = place(account, book_instruments, 1000, "10.00")
    wait_for(lambda: Fill.objects.filter(order=order).exists(), "the partial fill")
    settled(order, OrderStatus.PARTIALLY_FILLED)

    orders.order_cancel(order=order, actor=account.investor.user, reason="test")
    settled(order, OrderStatus.CANCELLED, "the exchange's cancel confirmation")
    assert order.cancel_sent_at is not None
    assert order.reserved_amount == 0
    assert order_selectors.held_back(account.pk).financing == 0
    fills = assert_fills_booked_once(order)
    assert [f.quantity for f in fills] == [Decimal(500)]


def test_expiry_at_the_close_releases_the_reserve(market, account, book_instruments):
    resting = place(account, book_instruments, 300, "9.50")  # below the latest price: rests
    market.exchange.fill_fraction(SYMBOL, Decimal("0.5"))
    partly = place(account, book_instruments, 400, "10.00")
    wait_for(
        lambda: resting.refresh_from_db() or resting.exchange_order_id, "the resting order's ack"
    )
    settled(partly, OrderStatus.PARTIALLY_FILLED)
    market.exchange.hold(SYMBOL)

    assert market.exchange.expire_all() == 2
    settled(resting, OrderStatus.EXPIRED)
    settled(partly, OrderStatus.EXPIRED)
    assert resting.reserved_amount == partly.reserved_amount == 0
    assert resting.status_text == "expired at the close"
    assert order_selectors.held_back(account.pk).financing == 0
    assert [f.quantity for f in assert_fills_booked_once(partly)] == [Decimal(200)]
    assert not Fill.objects.filter(order=resting).exists()


def test_a_duplicate_execution_report_is_ignored(market, account, book_instruments):
    order = place(account, book_instruments, 200, "10.00")
    settled(order, OrderStatus.FILLED)
    records = ExecutionReportRecord.objects.count()
    handed = market.handed_over

    # over the live session: the session's own guard drops it
    market.exchange.resend_last_report(order.client_order_id)
    wait_for(lambda: market.gateway.broker.duplicates == 1, "the resend")

    # after a gateway restart the session's guard is empty: the database refuses it
    market.gateway_stop()
    gateway = market.gateway_start()
    reports_before = gateway.reports
    market.exchange.resend_last_report(order.client_order_id)
    wait_for(lambda: market.handed_over == handed + 1, "the resend after the restart")
    assert gateway.broker.duplicates == 0
    assert gateway.reports == reports_before  # stored before and applied: not enqueued
    assert ExecutionReportRecord.objects.count() == records
    time.sleep(0.5)  # any (wrong) apply would have run by now
    assert [f.quantity for f in assert_fills_booked_once(order)] == [Decimal(200)]


def test_a_burst_of_orders_waiting_to_be_sent_is_sent_and_booked(market, account, book_instruments):
    """Orders placed while the gateway was not sending go out together once it sends: each
    in a transaction of its own, while their reports are stored (this deadlocked when the
    session's reader thread stored reports and one transaction held every order's lock)."""
    market.gateway_stop()
    market.gateway_start(sending=False)
    burst = [place(account, book_instruments, 100 * (n + 1), "10.00") for n in range(5)]
    market.runner.start()
    for order in burst:
        settled(order, OrderStatus.FILLED)
    assert market.gateway.sent == 5
    for order in burst:
        assert [f.quantity for f in assert_fills_booked_once(order)] == [order.quantity]


# --- a worker killed while applying -------------------------------------------------------------


@pytest.fixture
def kill_queue():
    queue = f"test-orders-kill-{uuid.uuid4().hex[:10]}"
    yield queue
    delete_queue(queue)


def test_a_worker_killed_while_applying_loses_and_doubles_nothing(
    market, account, book_instruments, kill_queue, tmp_path
):
    market.queue = kill_queue
    paused_log = tmp_path / "paused.log"
    paused = start_paused_worker(kill_queue, paused_log, seconds=60)
    fresh = None
    try:
        wait_until_ready(paused, paused_log)
        market.exchange.fill_fraction(SYMBOL, Decimal("0.25"))
        order = place(account, book_instruments, 1000, "10.00")  # 200 at once
        wait_for(lambda: PAUSE_LOG in paused_log.read_text(), "the worker to pause mid-apply")
        market.exchange.match(SYMBOL)  # 200 more
        market.exchange.match(SYMBOL)  # 100 more
        market.exchange.fill_fraction(SYMBOL, None)
        market.exchange.match(SYMBOL)  # the last 500

        os.kill(paused.pid, signal.SIGKILL)
        paused.process.wait(timeout=10)
        # the killed transaction rolled back: its fill is not booked, its report not applied
        wait_for(
            lambda: ExecutionReportRecord.objects.filter(order=order).count() == 5,
            "every report stored",
        )
        assert not Fill.objects.filter(order=order).exists()
        assert ExecutionReportRecord.objects.filter(order=order, applied_at=None).count() == 4

        fresh_log = tmp_path / "fresh.log"
        fresh = start_worker(
            kill_queue,
            connection.settings_dict["NAME"],
            "fresh",
            fresh_log,
            env={"CELERY_VISIBILITY_TIMEOUT": VISIBILITY},
        )
        wait_until_ready(fresh, fresh_log)
        # the beat sweeper's work, without its 30 s wait
        for order_id in orders.unapplied_orders(older_than=timedelta(0)):
            market.enqueue(order_id)
        settled(order, OrderStatus.FILLED, "the fresh worker to apply every report")
    finally:
        for worker in (paused, fresh):
            if worker is not None:
                stop_worker(worker)

    fills = assert_fills_booked_once(order)
    assert [f.quantity for f in fills] == [Decimal(200), Decimal(200), Decimal(100), Decimal(500)]
    assert order.filled_quantity == exchange_cum_qty(order) == Decimal(1000)
    assert order.reserved_amount == 0
    assert f"{PAUSE_LOG} 60s: exec {fills[0].exec_id}" in paused_log.read_text()
