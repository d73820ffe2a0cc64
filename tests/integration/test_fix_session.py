"""A real FIX 4.4 session on loopback: `FixBroker` against the simulated exchange, each
quickfix engine in a child process of its own (no quickfix object in the test process), each
with its own file store and log in a temporary folder, its own comp ids and a free port.
Every wait is on a queue or an event with a timeout."""

import os
import queue
import signal
import socket
import sys
import uuid
from decimal import Decimal

import pytest

from lending.domain.prices import price_band
from lending.orders import fix_session as fs
from lending.orders.exchange import Quote, SimulatedExchange
from lending.orders.fix_session import ExecutionReport, FixBroker, FixSettings

pytestmark = pytest.mark.integration

SYMBOL = "SSE:600000"
WAIT = 10.0


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Desk:
    """One broker session and one exchange, with the reports the broker handed over."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.tmp_path = tmp_path
        suffix = uuid.uuid4().hex[:6].upper()
        self.sender, self.target = f"DESK{suffix}", f"EXCH{suffix}"
        self.quotes = {
            SYMBOL: Quote(
                last_price=Decimal("10.00"),
                prev_close=Decimal("10.00"),
                lot_size=100,
                band=price_band(Decimal("10.00"), Decimal("0.10"), Decimal("0.01")),
            )
        }
        self.reports: queue.Queue[ExecutionReport] = queue.Queue()
        self.cancel_rejects: queue.Queue = queue.Queue()
        self.exchange = self.new_exchange()
        self.broker = FixBroker(
            self.settings("broker"),
            on_execution_report=self.reports.put,
            on_cancel_reject=self.cancel_rejects.put,
        )

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

    def new_exchange(self) -> SimulatedExchange:
        return SimulatedExchange(self.settings("exchange"), self.quotes)

    def next_report(self) -> ExecutionReport:
        return self.reports.get(timeout=WAIT)

    def no_more_reports(self, within: float = 0.3) -> None:
        with pytest.raises(queue.Empty):
            self.reports.get(timeout=within)

    def buy(self, cl_ord_id: str, quantity: int, limit: str) -> None:
        self.broker.send_new_order(cl_ord_id, SYMBOL, "buy", Decimal(quantity), Decimal(limit))


@pytest.fixture
def desk(tmp_path):
    desk = Desk(tmp_path)
    try:
        desk.exchange.start()
        desk.broker.start()
        assert desk.broker.wait_logged_on(WAIT), "no logon within the wait"
        yield desk
    finally:
        desk.broker.stop()
        desk.exchange.stop()
    # both children logged out and left on their own: not terminated, no crash
    assert (desk.broker.exitcode, desk.exchange.exitcode) == (0, 0)


def test_logon_uses_the_fix44_data_dictionary(desk):
    assert desk.broker.logged_on and desk.exchange.wait_logged_on(WAIT)
    assert fs.data_dictionary() is not None and fs.data_dictionary().name == "FIX44.xml"
    assert (desk.tmp_path / "broker" / "store").is_dir()
    assert any((desk.tmp_path / "broker" / "log").iterdir())
    assert "quickfix" not in sys.modules  # the engines live in their own processes


def test_new_order_fully_filled(desk):
    desk.buy("B1", 1000, "10.50")
    new = desk.next_report()
    assert (new.cl_ord_id, new.exec_type, new.ord_status) == ("B1", fs.EXEC_NEW, fs.STATUS_NEW)
    assert new.leaves_qty == Decimal(1000) and new.order_id
    fill = desk.next_report()
    assert (fill.exec_type, fill.ord_status) == (fs.EXEC_TRADE, fs.STATUS_FILLED)
    assert fill.is_fill and fill.side == "buy" and fill.symbol == SYMBOL
    assert (fill.last_qty, fill.last_px) == (Decimal(1000), Decimal("10.00"))
    assert (fill.cum_qty, fill.leaves_qty) == (Decimal(1000), Decimal(0))
    assert isinstance(fill.last_px, Decimal) and fill.transact_time is not None
    assert fill.exec_id != new.exec_id


def test_partial_fill_then_the_rest_in_whole_lots(desk):
    desk.exchange.fill_fraction(SYMBOL, Decimal("0.45"))
    desk.buy("B2", 1000, "10.00")
    assert desk.next_report().exec_type == fs.EXEC_NEW
    part = desk.next_report()
    assert (part.ord_status, part.last_qty, part.cum_qty, part.leaves_qty) == (
        fs.STATUS_PARTIALLY_FILLED,
        Decimal(400),
        Decimal(400),
        Decimal(600),
    )
    desk.no_more_reports()
    desk.exchange.fill_fraction(SYMBOL, None)
    desk.exchange.match(SYMBOL)
    rest = desk.next_report()
    assert (rest.ord_status, rest.last_qty, rest.cum_qty, rest.leaves_qty) == (
        fs.STATUS_FILLED,
        Decimal(600),
        Decimal(1000),
        Decimal(0),
    )


def test_reject_with_its_text(desk):
    desk.exchange.reject_next(SYMBOL, "insufficient position")
    desk.buy("B3", 100, "10.00")
    rejected = desk.next_report()
    assert (rejected.exec_type, rejected.ord_status) == (fs.EXEC_REJECTED, fs.STATUS_REJECTED)
    assert rejected.text == "insufficient position" and rejected.leaves_qty == 0

    desk.buy("B4", 150, "10.00")  # not a whole number of lots
    assert "whole number of lots of 100" in desk.next_report().text
    desk.buy("B5", 100, "11.01")  # above the day's band
    assert desk.next_report().text == "limit price 11.01 outside the day's band [9.00, 11.00]"
    desk.exchange.suspend(SYMBOL)
    desk.buy("B6", 100, "10.00")
    assert desk.next_report().text == f"{SYMBOL} is suspended"


def test_cancel_of_a_resting_order_and_of_a_filled_one(desk):
    desk.exchange.hold(SYMBOL)  # limit-down: the order is accepted and rests
    desk.broker.send_new_order("S1", SYMBOL, "sell", Decimal(500), Decimal("9.00"))
    assert desk.next_report().ord_status == fs.STATUS_NEW
    desk.no_more_reports()
    desk.broker.send_cancel("C1", "S1", SYMBOL, "sell", Decimal(500))
    cancelled = desk.next_report()
    assert (cancelled.exec_type, cancelled.ord_status) == (fs.EXEC_CANCELED, fs.STATUS_CANCELED)
    assert (cancelled.cl_ord_id, cancelled.orig_cl_ord_id) == ("C1", "S1")
    assert (cancelled.cum_qty, cancelled.leaves_qty) == (Decimal(0), Decimal(0))

    desk.broker.send_cancel("C2", "S1", SYMBOL, "sell", Decimal(500))
    refused = desk.cancel_rejects.get(timeout=WAIT)
    assert (refused.cl_ord_id, refused.orig_cl_ord_id, refused.text) == (
        "C2",
        "S1",
        "order not open",
    )


def test_expiry_at_the_close(desk):
    desk.buy("B7", 300, "9.50")  # below the latest price: rests
    assert desk.next_report().ord_status == fs.STATUS_NEW
    desk.exchange.fill_fraction(SYMBOL, Decimal("0.5"))
    desk.buy("B8", 400, "10.00")
    assert desk.next_report().ord_status == fs.STATUS_NEW
    assert desk.next_report().cum_qty == Decimal(200)
    desk.exchange.hold(SYMBOL)
    desk.exchange.match()
    desk.no_more_reports()
    assert desk.exchange.expire_all() == 2
    expired = {r.cl_ord_id: r for r in (desk.next_report(), desk.next_report())}
    assert {(r.exec_type, r.ord_status) for r in expired.values()} == {
        (fs.EXEC_EXPIRED, fs.STATUS_EXPIRED)
    }
    assert (expired["B8"].cum_qty, expired["B8"].leaves_qty) == (Decimal(200), Decimal(0))
    assert expired["B7"].text == "expired at the close"


def test_a_resent_execution_report_is_recognised_by_its_exec_id(desk):
    desk.buy("B9", 100, "10.00")
    desk.next_report()
    fill = desk.next_report()
    desk.exchange.resend_last_report("B9")
    desk.buy("B10", 100, "10.00")  # reports after the duplicate still arrive, in order
    after = desk.next_report()
    assert (after.cl_ord_id, after.exec_type) == ("B10", fs.EXEC_NEW)
    assert desk.broker.duplicates == 1
    assert fill.possible_duplicate is False


def test_the_session_reconnects_after_the_exchange_restarts(desk):
    desk.exchange.stop()
    assert desk.exchange.exitcode == 0
    assert desk.broker.wait_logged_off(WAIT)
    with pytest.raises(fs.FixNotConnected):
        desk.buy("B11", 100, "10.00")
    desk.exchange = desk.new_exchange()  # same port, same store: the session resumes
    desk.exchange.start()
    assert desk.broker.wait_logged_on(WAIT)
    desk.buy("B12", 100, "10.00")
    assert desk.next_report().exec_type == fs.EXEC_NEW
    assert desk.next_report().ord_status == fs.STATUS_FILLED


def test_prices_and_quantities_must_be_decimals(desk):
    with pytest.raises(TypeError):
        desk.broker.send_new_order("B13", SYMBOL, "buy", Decimal(100), 10.0)
    with pytest.raises(ValueError):
        desk.broker.send_new_order("B13", SYMBOL, "short", Decimal(100), Decimal("10"))


def test_stop_kills_a_child_that_does_not_answer(tmp_path):
    broker = FixBroker(Desk(tmp_path).settings("broker"))  # no exchange: never logs on
    broker.start()
    try:
        os.kill(broker.pid, signal.SIGSTOP)  # frozen: deaf to the stop command and to SIGTERM
        broker.stop(timeout=0.5)
    finally:
        broker.stop(timeout=0.5)
    assert broker.exitcode == -signal.SIGKILL
    with pytest.raises(fs.FixNotConnected):
        broker.send_new_order("B14", SYMBOL, "buy", Decimal(100), Decimal("10"))
