"""The quickfix side of the FIX session and of the simulated exchange. Imported only in the
processes that run an engine: the child processes `FixBroker` and `SimulatedExchange` spawn
(`run_initiator`, `run_acceptor`) and `manage.py run_exchange`.

quickfix calls Python (the `Application` callbacks) from its own threads, and stopping an
engine or collecting its objects in a process that goes on running Python is not safe (the
acceptor's `stop()` segfaults now and then). So an engine owns its process: the child serves
commands from its queue on its main thread, and when told to stop (or when its parent is gone)
it logs the session out and waits for the logout (bounded), flushes its event queue and leaves
with `os._exit`: quickfix's `stop()` is never called and its objects are never torn down. The
file store is written through message by message, so nothing of the session is lost.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import queue
import threading
import traceback
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

import quickfix as fix
import quickfix44 as fix44

from lending.orders import fix_session as fs
from lending.orders.exchange import PriceSource, Quote

logger = logging.getLogger(__name__)

# FIX tags read or written as text (quickfix's typed fields go through double for prices).
TAG_AVG_PX = 6
TAG_CL_ORD_ID = 11
TAG_CUM_QTY = 14
TAG_EXEC_ID = 17
TAG_LAST_PX = 31
TAG_LAST_QTY = 32
TAG_ORDER_ID = 37
TAG_ORDER_QTY = 38
TAG_ORD_STATUS = 39
TAG_ORD_TYPE = 40
TAG_ORIG_CL_ORD_ID = 41
TAG_POSS_DUP = 43
TAG_PRICE = 44
TAG_SIDE = 54
TAG_SYMBOL = 55
TAG_TEXT = 58
TAG_TIME_IN_FORCE = 59
TAG_TRANSACT_TIME = 60
TAG_POSS_RESEND = 97
TAG_CXL_REJ_REASON = 102
TAG_CXL_REJ_RESPONSE_TO = 434
TAG_EXEC_TYPE = 150
TAG_LEAVES_QTY = 151

ORD_TYPE_LIMIT = "2"
TIME_IN_FORCE_DAY = "0"
OPEN_STATUSES = (fs.STATUS_NEW, fs.STATUS_PARTIALLY_FILLED)


def session_settings(settings: fs.FixSettings, *, acceptor: bool) -> fix.SessionSettings:
    """quickfix settings for one FIX 4.4 session. The acceptor sees the comp ids the other way
    round: it is the initiator's target. The session is open round the clock (StartTime =
    EndTime): the exchange, not the session schedule, decides what trades when. Messages are
    checked against FIX44.xml; without it the session runs with UseDataDictionary=N and says
    so in the log, rather than refusing to start."""
    settings.store_dir.mkdir(parents=True, exist_ok=True)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    defaults = fix.Dictionary()
    defaults.setString("ConnectionType", "acceptor" if acceptor else "initiator")
    defaults.setString(fix.FILE_STORE_PATH, str(settings.store_dir))
    defaults.setString(fix.FILE_LOG_PATH, str(settings.log_dir))
    defaults.setString("StartTime", "00:00:00")
    defaults.setString("EndTime", "00:00:00")
    defaults.setString("HeartBtInt", str(settings.heartbeat_seconds))
    defaults.setString(fix.RECONNECT_INTERVAL, str(settings.reconnect_seconds))
    defaults.setString(fix.SOCKET_NODELAY, "Y")
    defaults.setString(fix.SOCKET_REUSE_ADDRESS, "Y")
    defaults.setString("PersistMessages", "Y")
    dictionary = fs.data_dictionary()
    if dictionary is None:
        logger.warning("FIX44.xml not found: the FIX session runs without a data dictionary")
        defaults.setString(fix.USE_DATA_DICTIONARY, "N")
    else:
        defaults.setString(fix.USE_DATA_DICTIONARY, "Y")
        defaults.setString(fix.DATA_DICTIONARY, str(dictionary))
    if acceptor:
        defaults.setString(fix.SOCKET_ACCEPT_PORT, str(settings.port))
        sender, target = settings.target_comp_id, settings.sender_comp_id
    else:
        defaults.setString(fix.SOCKET_CONNECT_HOST, settings.host)
        defaults.setString(fix.SOCKET_CONNECT_PORT, str(settings.port))
        sender, target = settings.sender_comp_id, settings.target_comp_id
    out = fix.SessionSettings()
    out.set(defaults)
    out.set(fix.SessionID(fs.BEGIN_STRING, sender, target), fix.Dictionary())
    return out


# --- reading and writing messages -----------------------------------------------------------


def get(message: fix.Message, tag: int, default: str = "") -> str:
    """A body field's text, or `default` when absent."""
    return message.getField(tag) if message.isSetField(tag) else default


def header_get(message: fix.Message, tag: int, default: str = "") -> str:
    header = message.getHeader()
    return header.getField(tag) if header.isSetField(tag) else default


def decimal_get(message: fix.Message, tag: int) -> Decimal:
    text = get(message, tag, "0")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"FIX tag {tag} is not a number: {text!r}") from exc


def message_type(message: fix.Message) -> str:
    return header_get(message, fix.MsgType().getField())


def utc_timestamp(when: datetime | None = None) -> str:
    """FIX UTCTimestamp with milliseconds."""
    when = (when or datetime.now(UTC)).astimezone(UTC)
    return when.strftime("%Y%m%d-%H:%M:%S.") + f"{when.microsecond // 1000:03d}"


def parse_utc_timestamp(text: str) -> datetime | None:
    for pattern in ("%Y%m%d-%H:%M:%S.%f", "%Y%m%d-%H:%M:%S"):
        try:
            return datetime.strptime(text, pattern).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


def execution_report(message: fix.Message) -> fs.ExecutionReport:
    return fs.ExecutionReport(
        exec_id=get(message, TAG_EXEC_ID),
        cl_ord_id=get(message, TAG_CL_ORD_ID),
        orig_cl_ord_id=get(message, TAG_ORIG_CL_ORD_ID),
        order_id=get(message, TAG_ORDER_ID),
        symbol=get(message, TAG_SYMBOL),
        side=fs.SIDE_NAMES.get(get(message, TAG_SIDE), get(message, TAG_SIDE)),
        exec_type=get(message, TAG_EXEC_TYPE),
        ord_status=get(message, TAG_ORD_STATUS),
        last_qty=decimal_get(message, TAG_LAST_QTY),
        last_px=decimal_get(message, TAG_LAST_PX),
        cum_qty=decimal_get(message, TAG_CUM_QTY),
        leaves_qty=decimal_get(message, TAG_LEAVES_QTY),
        avg_px=decimal_get(message, TAG_AVG_PX),
        text=get(message, TAG_TEXT),
        transact_time=parse_utc_timestamp(get(message, TAG_TRANSACT_TIME)),
        possible_duplicate=(
            header_get(message, TAG_POSS_DUP) == "Y" or header_get(message, TAG_POSS_RESEND) == "Y"
        ),
    )


def cancel_reject(message: fix.Message) -> fs.CancelReject:
    return fs.CancelReject(
        cl_ord_id=get(message, TAG_CL_ORD_ID),
        orig_cl_ord_id=get(message, TAG_ORIG_CL_ORD_ID),
        order_id=get(message, TAG_ORDER_ID),
        ord_status=get(message, TAG_ORD_STATUS),
        reason=get(message, TAG_CXL_REJ_REASON),
        text=get(message, TAG_TEXT),
    )


def _message(message: fix.Message, fields: list[tuple[int, str]]) -> fix.Message:
    for tag, value in fields:
        message.setField(fix.StringField(tag, value))
    return message


def _send(message: fix.Message, session_id: fix.SessionID) -> bool:
    try:
        return fix.Session.sendToTarget(message, session_id)
    except fix.SessionNotFound:
        return False


# --- one engine per process -----------------------------------------------------------------


class _Application(fix.Application):
    """Hands quickfix's callbacks to `owner` (on quickfix's threads); nothing may raise."""

    def __init__(self, owner):
        super().__init__()
        self.owner = owner

    def onCreate(self, session_id):
        pass

    def onLogon(self, session_id):
        logger.info("FIX logon %s", session_id.toString())
        self.owner.logged_on(True)

    def onLogout(self, session_id):
        logger.info("FIX logout %s", session_id.toString())
        self.owner.logged_on(False)

    def toAdmin(self, message, session_id):
        pass

    def fromAdmin(self, message, session_id):
        pass

    def toApp(self, message, session_id):
        pass

    def fromApp(self, message, session_id):
        try:
            self.owner.received(message)
        except Exception:
            logger.exception("FIX message handling failed: %s", message.toString())


#: How long a stopping child waits for the counterparty's Logout.
LOGOUT_WAIT = 3.0


class Engine:
    """A quickfix SocketInitiator or SocketAcceptor and the pieces it keeps references to, and
    whether its one session is logged on (set from quickfix's threads)."""

    def __init__(self, settings: fs.FixSettings, *, acceptor: bool, owner):
        self.logged_on = threading.Event()
        self.logged_off = threading.Event()
        self.logged_off.set()
        sender, target = settings.sender_comp_id, settings.target_comp_id
        if acceptor:
            sender, target = target, sender
        # our own SessionID: the one quickfix passes to callbacks dies with its session
        self.session_id = fix.SessionID(fs.BEGIN_STRING, sender, target)
        quickfix_settings = session_settings(settings, acceptor=acceptor)
        kind = fix.SocketAcceptor if acceptor else fix.SocketInitiator
        # quickfix keeps references, not copies: every piece lives as long as the engine
        self.parts = (
            _Application(owner),
            fix.FileStoreFactory(quickfix_settings),
            quickfix_settings,
            fix.FileLogFactory(quickfix_settings),
        )
        self.engine = kind(*self.parts)

    def start(self) -> None:
        self.engine.start()

    def mark(self, on: bool) -> None:
        if on:
            self.logged_off.clear()
            self.logged_on.set()
        else:
            self.logged_on.clear()
            self.logged_off.set()

    def logout(self, force: bool = False) -> None:
        """Log the session out and wait (bounded) for it to be logged off; with `force`, do
        not: the process's exit drops the connection. The engine itself is left running (see
        the module's docstring)."""
        if force or not self.logged_on.is_set():
            return
        session = fix.Session.lookupSession(self.session_id)
        if session is not None:
            session.logout("session stopped")
            self.logged_off.wait(LOGOUT_WAIT)


def serve(
    start: Callable[[], None],
    stop: Callable[[bool], None],
    handlers: dict[str, Callable[..., Any]],
    commands,
    events,
) -> None:
    """The child's main loop: start the engine, answer commands until told to stop or the
    parent is gone, stop the engine and leave the process without Python's teardown."""
    force = True
    try:
        start()
    except Exception:
        events.put(("failed", traceback.format_exc()))
        _leave(events, 1)
    events.put(("started",))
    parent = multiprocessing.parent_process()
    while True:
        try:
            request_id, name, args = commands.get(timeout=0.2)
        except queue.Empty:
            if parent is not None and not parent.is_alive():
                break
            continue
        if name == "stop":
            force = bool(args[0])
            break
        value, error = None, None
        try:
            value = handlers[name](*args)
        except fs.FixNotConnected as exc:
            error = ("not_connected", str(exc))
        except (ValueError, KeyError) as exc:
            error = ("value", f"{type(exc).__name__}: {exc}")
        except Exception:
            error = ("error", traceback.format_exc())
        events.put(("reply", request_id, error, value))
    try:
        stop(force)
    except Exception:
        logger.exception("FIX logout failed")
    _leave(events, 0)


def _leave(events, code: int) -> None:
    events.close()
    events.join_thread()
    logging.shutdown()
    os._exit(code)


# --- the initiator (FixBroker's child) --------------------------------------------------------


class Initiator:
    def __init__(self, settings: fs.FixSettings, events):
        self.events = events
        self.engine = Engine(settings, acceptor=False, owner=self)

    def logged_on(self, on: bool) -> None:
        self.engine.mark(on)
        self.events.put(("logon",) if on else ("logout",))

    def received(self, message: fix.Message) -> None:
        kind = message_type(message)
        if kind == fix.MsgType_ExecutionReport:
            self.events.put(("execution_report", execution_report(message)))
        elif kind == fix.MsgType_OrderCancelReject:
            self.events.put(("cancel_reject", cancel_reject(message)))
        else:
            logger.warning("FIX message of type %s ignored", kind)

    def new_order(self, order: dict[str, str]) -> None:
        message = _message(
            fix44.NewOrderSingle(),
            [
                (TAG_CL_ORD_ID, order["cl_ord_id"]),
                (TAG_SYMBOL, order["symbol"]),
                (TAG_SIDE, order["side"]),
                (TAG_TRANSACT_TIME, utc_timestamp()),
                (TAG_ORDER_QTY, order["quantity"]),
                (TAG_ORD_TYPE, ORD_TYPE_LIMIT),
                (TAG_PRICE, order["limit_price"]),
                (TAG_TIME_IN_FORCE, TIME_IN_FORCE_DAY),
            ],
        )
        self._send(message)

    def cancel(self, cancel: dict[str, str]) -> None:
        message = _message(
            fix44.OrderCancelRequest(),
            [
                (TAG_ORIG_CL_ORD_ID, cancel["orig_cl_ord_id"]),
                (TAG_CL_ORD_ID, cancel["cl_ord_id"]),
                (TAG_SYMBOL, cancel["symbol"]),
                (TAG_SIDE, cancel["side"]),
                (TAG_TRANSACT_TIME, utc_timestamp()),
                (TAG_ORDER_QTY, cancel["quantity"]),
            ],
        )
        self._send(message)

    def _send(self, message: fix.Message) -> None:
        # nothing is stored for later while logged off: the exchange might see it only after a
        # resend, long after the caller gave up
        if not self.engine.logged_on.is_set():
            raise fs.FixNotConnected("the FIX session is not logged on")
        if not _send(message, self.engine.session_id):
            raise fs.FixNotConnected("the FIX session refused the message")


def run_initiator(settings: fs.FixSettings, _extra, commands, events) -> None:
    """`FixBroker`'s child process."""
    initiator = Initiator(settings, events)
    handlers = {"new_order": initiator.new_order, "cancel": initiator.cancel}
    serve(initiator.engine.start, initiator.engine.logout, handlers, commands, events)


# --- the simulated exchange -----------------------------------------------------------------


@dataclass
class SimOrder:
    order_id: str
    cl_ord_id: str
    symbol: str
    side: str  # FIX Side
    quantity: Decimal
    limit_price: Decimal
    cum_qty: Decimal = Decimal(0)
    turnover: Decimal = Decimal(0)
    status: str = fs.STATUS_NEW
    last_report: dict[int, str] = field(default_factory=dict)

    @property
    def leaves_qty(self) -> Decimal:
        return self.quantity - self.cum_qty if self.status in OPEN_STATUSES else Decimal(0)

    @property
    def avg_px(self) -> Decimal:
        if not self.cum_qty:
            return Decimal(0)
        return (self.turnover / self.cum_qty).quantize(Decimal("0.0001"))


class Exchange:
    """The simulated exchange's book and its acceptor session (exchange.py says what it does).
    Its methods are thread-safe: quickfix's thread delivers orders while the process's main
    thread runs the control commands."""

    def __init__(self, settings: fs.FixSettings, price_source: PriceSource, events=None):
        self.price_source = price_source
        self.events = events
        self.orders: dict[str, SimOrder] = {}  # by the client's order id
        self._fractions: dict[str, Decimal] = {}
        self._rejects: dict[str, deque[str]] = {}
        self._held: set[str] = set()
        self._suspended: set[str] = set()
        self._lock = threading.RLock()
        self._outbox: deque[fix.Message] = deque()
        self._flush_lock = threading.Lock()
        self._run = uuid.uuid4().hex[:8].upper()
        self._sequence = 0
        self.engine = Engine(settings, acceptor=True, owner=self)

    def logged_on(self, on: bool) -> None:
        self.engine.mark(on)
        if self.events is not None:
            self.events.put(("logon",) if on else ("logout",))

    # --- control ------------------------------------------------------------------------

    def fill_fraction(self, symbol: str, fraction: Decimal | None) -> None:
        with self._lock:
            if fraction is None:
                self._fractions.pop(symbol, None)
            else:
                self._fractions[symbol] = Decimal(fraction)

    def reject_next(self, symbol: str, reason: str) -> None:
        with self._lock:
            self._rejects.setdefault(symbol, deque()).append(reason)

    def hold(self, symbol: str) -> None:
        with self._lock:
            self._held.add(symbol)

    def release(self, symbol: str) -> None:
        with self._lock:
            self._held.discard(symbol)
        self.match(symbol)

    def suspend(self, symbol: str) -> None:
        with self._lock:
            self._suspended.add(symbol)

    def resume(self, symbol: str) -> None:
        with self._lock:
            self._suspended.discard(symbol)
        self.match(symbol)

    def match(self, symbol: str | None = None) -> None:
        with self._lock:
            for order in list(self.orders.values()):
                if order.status in OPEN_STATUSES and symbol in (None, order.symbol):
                    self._match(order)
        self._flush()

    def expire_all(self) -> int:
        with self._lock:
            open_orders = [o for o in self.orders.values() if o.status in OPEN_STATUSES]
            for order in open_orders:
                order.status = fs.STATUS_EXPIRED
                self._report(order, fs.EXEC_EXPIRED, text="expired at the close")
        self._flush()
        return len(open_orders)

    def resend_last_report(self, cl_ord_id: str) -> None:
        with self._lock:
            self._enqueue(self.orders[cl_ord_id].last_report, poss_resend=True)
        self._flush()

    # --- the session --------------------------------------------------------------------

    def received(self, message: fix.Message) -> None:
        kind = message_type(message)
        with self._lock:
            if kind == fix.MsgType_NewOrderSingle:
                self._new_order(message)
            elif kind == fix.MsgType_OrderCancelRequest:
                self._cancel(message)
            else:
                logger.warning("exchange: message type %s ignored", kind)
        self._flush()

    def _new_order(self, message: fix.Message) -> None:
        cl_ord_id = get(message, TAG_CL_ORD_ID)
        order = SimOrder(
            order_id=self._next_id("O"),
            cl_ord_id=cl_ord_id,
            symbol=get(message, TAG_SYMBOL),
            side=get(message, TAG_SIDE),
            quantity=decimal_get(message, TAG_ORDER_QTY),
            limit_price=decimal_get(message, TAG_PRICE),
        )
        if cl_ord_id in self.orders:
            # a repeated client order id is refused without touching the first order
            order.status = fs.STATUS_REJECTED
            self._report(order, fs.EXEC_REJECTED, text="duplicate ClOrdID")
            return
        self.orders[cl_ord_id] = order
        reason = self._refusal(order, get(message, TAG_ORD_TYPE))
        if reason:
            order.status = fs.STATUS_REJECTED
            self._report(order, fs.EXEC_REJECTED, text=reason)
            return
        self._report(order, fs.EXEC_NEW)
        self._match(order)

    def _refusal(self, order: SimOrder, ord_type: str) -> str:
        queued = self._rejects.get(order.symbol)
        if queued:
            return queued.popleft()
        if order.symbol in self._suspended:
            return f"{order.symbol} is suspended"
        if ord_type != ORD_TYPE_LIMIT:
            return "only limit orders are accepted"
        if order.side not in fs.SIDE_NAMES:
            return f"unsupported side {order.side!r}"
        try:
            quote = self.price_source(order.symbol)
        except Exception:
            logger.exception("exchange: no quote for %s", order.symbol)
            return f"no price for {order.symbol}: the price source failed"
        if quote is None:
            return f"unknown instrument {order.symbol}"
        if order.quantity <= 0 or order.quantity % quote.lot_size:
            return f"quantity {order.quantity} is not a whole number of lots of {quote.lot_size}"
        if order.limit_price <= 0:
            return "limit price must be above zero"
        band = quote.band
        if band is not None and not band.contains(order.limit_price):
            return (
                f"limit price {order.limit_price} outside the day's band [{band.low}, {band.high}]"
            )
        return ""

    def _cancel(self, message: fix.Message) -> None:
        cl_ord_id = get(message, TAG_CL_ORD_ID)
        orig = get(message, TAG_ORIG_CL_ORD_ID)
        order = self.orders.get(orig)
        if order is None or order.status not in OPEN_STATUSES:
            reject = _message(
                fix44.OrderCancelReject(),
                [
                    (TAG_ORDER_ID, order.order_id if order else "NONE"),
                    (TAG_CL_ORD_ID, cl_ord_id),
                    (TAG_ORIG_CL_ORD_ID, orig),
                    (TAG_ORD_STATUS, order.status if order else fs.STATUS_REJECTED),
                    (TAG_CXL_REJ_RESPONSE_TO, "1"),
                    (TAG_CXL_REJ_REASON, "0" if order else "1"),  # too late / unknown order
                    (TAG_TEXT, "order not open" if order else "unknown order"),
                ],
            )
            self._outbox.append(reject)
            return
        order.status = fs.STATUS_CANCELED
        self._report(order, fs.EXEC_CANCELED, cl_ord_id=cl_ord_id, orig_cl_ord_id=orig)

    def _match(self, order: SimOrder) -> None:
        if order.symbol in self._held or order.symbol in self._suspended:
            return
        try:
            quote = self.price_source(order.symbol)
        except Exception:
            logger.exception("exchange: no quote for %s: the order rests", order.symbol)
            return
        if quote is None:
            return
        price = quote.last_price
        if quote.band is not None:
            price = min(max(price, quote.band.low), quote.band.high)
        buy = order.side == fs.SIDES["buy"]
        if (buy and order.limit_price < price) or (not buy and order.limit_price > price):
            return
        leaves = order.leaves_qty
        lot = Decimal(quote.lot_size)
        fraction = self._fractions.get(order.symbol, Decimal(1))
        quantity = ((leaves * fraction) / lot).to_integral_value(rounding=ROUND_DOWN) * lot
        quantity = min(max(quantity, lot), leaves)
        order.cum_qty += quantity
        order.turnover += quantity * price
        order.status = (
            fs.STATUS_FILLED if order.cum_qty == order.quantity else fs.STATUS_PARTIALLY_FILLED
        )
        self._report(order, fs.EXEC_TRADE, last_qty=quantity, last_px=price)

    def _report(
        self,
        order: SimOrder,
        exec_type: str,
        *,
        last_qty: Decimal = Decimal(0),
        last_px: Decimal = Decimal(0),
        text: str = "",
        cl_ord_id: str | None = None,
        orig_cl_ord_id: str | None = None,
    ) -> None:
        fields = {
            TAG_ORDER_ID: order.order_id,
            TAG_CL_ORD_ID: cl_ord_id or order.cl_ord_id,
            TAG_EXEC_ID: self._next_id("X"),
            TAG_EXEC_TYPE: exec_type,
            TAG_ORD_STATUS: order.status,
            TAG_SYMBOL: order.symbol,
            TAG_SIDE: order.side,
            TAG_ORDER_QTY: format(order.quantity, "f"),
            TAG_PRICE: format(order.limit_price, "f"),
            TAG_LAST_QTY: format(last_qty, "f"),
            TAG_LAST_PX: format(last_px, "f"),
            TAG_LEAVES_QTY: format(order.leaves_qty, "f"),
            TAG_CUM_QTY: format(order.cum_qty, "f"),
            TAG_AVG_PX: format(order.avg_px, "f"),
            TAG_TRANSACT_TIME: utc_timestamp(),
        }
        if orig_cl_ord_id:
            fields[TAG_ORIG_CL_ORD_ID] = orig_cl_ord_id
        if text:
            fields[TAG_TEXT] = text
        order.last_report = fields
        self._enqueue(fields)

    def _enqueue(self, fields: dict[int, str], *, poss_resend: bool = False) -> None:
        message = _message(fix44.ExecutionReport(), list(fields.items()))
        if poss_resend:
            message.getHeader().setField(fix.StringField(TAG_POSS_RESEND, "Y"))
        self._outbox.append(message)

    def _flush(self) -> None:
        """Send what is queued, in order, outside the book's lock (quickfix takes its own)."""
        while True:
            if not self._flush_lock.acquire(blocking=False):
                return  # the thread holding it sends ours too
            try:
                while True:
                    with self._lock:
                        if not self._outbox:
                            break
                        message = self._outbox.popleft()
                    if not _send(message, self.engine.session_id):
                        logger.warning("exchange: not sent (session down): %s", message)
            finally:
                self._flush_lock.release()
            with self._lock:
                if not self._outbox:
                    return

    def _next_id(self, prefix: str) -> str:
        with self._lock:
            self._sequence += 1
            return f"{prefix}{self._run}-{self._sequence}"


def run_acceptor(settings: fs.FixSettings, quotes: dict[str, Quote], commands, events) -> None:
    """`SimulatedExchange`'s child process: prices from `quotes` (plain data)."""
    quotes = dict(quotes)
    exchange = Exchange(settings, quotes.get, events)

    def set_quote(symbol: str, quote: Quote | None) -> None:
        if quote is None:
            quotes.pop(symbol, None)
        else:
            quotes[symbol] = quote

    handlers = {
        "set_quote": set_quote,
        "fill_fraction": exchange.fill_fraction,
        "reject_next": exchange.reject_next,
        "hold": exchange.hold,
        "release": exchange.release,
        "suspend": exchange.suspend,
        "resume": exchange.resume,
        "match": exchange.match,
        "expire_all": exchange.expire_all,
        "resend_last_report": exchange.resend_last_report,
    }
    serve(exchange.engine.start, exchange.engine.logout, handlers, commands, events)
