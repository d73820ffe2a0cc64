"""The simulated exchange: our own FIX 4.4 acceptor for the demo and the tests, speaking the
same session `FixBroker` speaks to a real broker. Its quickfix engine and its order book run
in a child process (engine.py, multiprocessing's "spawn" context); `SimulatedExchange` in the
calling process holds no quickfix object and steers the child over a command queue.

It accepts NewOrderSingle (day limit orders) and OrderCancelRequest and answers with
ExecutionReports: New, Trade (OrdStatus partially filled or filled, with LastQty/LastPx),
Canceled, Rejected (with its reason in Text) and Expired (`expire_all`, at the close).
Prices come from plain data, `{symbol: Quote}` (`set_quote` changes one); `manage.py
run_exchange` runs the same engine in its own process with prices from the database:

- an order is refused when its symbol is unknown or suspended, its quantity is not a whole
  number of lots (odd-lot sales are not simulated), or its limit price is outside the day's
  band (when the instrument has one);
- an accepted order fills when it is marketable at the latest price (a buy limited at or above
  it, a sell at or below it), at that price held inside the band, in whole lots; otherwise it
  rests and `match()` tries again (after the test or the demo moves the price).

The control API: `fill_fraction(symbol, f)` fills only that share of what is left at each
match (rounded down to whole lots, at least one lot); `reject_next(symbol, reason)`;
`hold(symbol)` / `release(symbol)` leave orders unfilled, as on a limit-down day;
`suspend(symbol)` / `resume(symbol)`; `match(symbol=None)`; `expire_all()`; and
`resend_last_report(cl_ord_id)` sends an order's last report again with PossResend=Y (same exec
id), as an exchange does after a reconnect. Each call returns once the child has done it (and
sent the reports it caused).

The order book is kept in memory: a restarted exchange keeps its session (sequence numbers in
the file store) but forgets its resting orders, as a real one forgets the day's orders at the
close.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from lending.domain.prices import PriceBand
from lending.orders.fix_session import CHILD_TIMEOUT, EngineProcess, FixSettings


@dataclass(frozen=True)
class Quote:
    """What the exchange needs of one instrument: the latest price, the previous close, the lot
    size and the day's band (None: no band, e.g. a new listing's first days)."""

    last_price: Decimal
    prev_close: Decimal | None
    lot_size: int
    band: PriceBand | None


PriceSource = Callable[[str], Quote | None]


class SimulatedExchange:
    """A FIX 4.4 acceptor on `settings.port`, in a child process. `settings` is the desk's view
    of the session (sender_comp_id is the desk, target_comp_id the exchange); give the exchange
    its own store and log folders. `quotes` is plain data: symbol -> Quote."""

    def __init__(self, settings: FixSettings, quotes: Mapping[str, Quote]):
        self.settings = settings
        self.quotes = dict(quotes)
        self._logged_on = threading.Event()
        self._engine: EngineProcess | None = None
        self.exitcode: int | None = None  # the last child's, once stopped

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        if self._engine is not None:
            return
        engine = EngineProcess(
            "lending.orders.engine:run_acceptor", self.settings, self.quotes, self._on_event
        )
        engine.start()  # raises FixEngineError (the child stopped) when it does not start
        self._engine = engine

    def stop(self, *, force: bool = False, timeout: float = CHILD_TIMEOUT) -> None:
        """Log out and stop the child (as `FixBroker.stop`)."""
        if self._engine is None:
            return
        self._engine.stop(force=force, timeout=timeout)
        self.exitcode = self._engine.exitcode
        self._engine = None
        self._logged_on.clear()

    @property
    def logged_on(self) -> bool:
        return self._logged_on.is_set()

    def wait_logged_on(self, timeout: float) -> bool:
        return self._logged_on.wait(timeout)

    def _on_event(self, event: tuple) -> None:
        if event[0] == "logon":
            self._logged_on.set()
        elif event[0] in ("logout", "exited"):
            self._logged_on.clear()

    def _call(self, name: str, *args):
        if self._engine is None:
            raise RuntimeError("the simulated exchange is not running")
        return self._engine.call(name, *args)

    # --- control API --------------------------------------------------------------------

    def set_quote(self, symbol: str, quote: Quote | None) -> None:
        """Replace (or, with None, remove) the quote of `symbol`; resting orders are not
        matched until `match()`."""
        if quote is None:
            self.quotes.pop(symbol, None)
        else:
            self.quotes[symbol] = quote
        self._call("set_quote", symbol, quote)

    def fill_fraction(self, symbol: str, fraction: Decimal | None) -> None:
        """Fill only `fraction` (0 < f <= 1) of what is left at each match; None: all."""
        if fraction is not None and not Decimal(0) < Decimal(fraction) <= 1:
            raise ValueError("fraction must be above 0 and at most 1")
        self._call("fill_fraction", symbol, None if fraction is None else Decimal(fraction))

    def reject_next(self, symbol: str, reason: str) -> None:
        """Refuse the next new order for `symbol` with `reason` as its Text."""
        self._call("reject_next", symbol, reason)

    def hold(self, symbol: str) -> None:
        """Accept orders for `symbol` but fill none (a limit-down or limit-up day)."""
        self._call("hold", symbol)

    def release(self, symbol: str) -> None:
        self._call("release", symbol)

    def suspend(self, symbol: str) -> None:
        """Refuse new orders for `symbol` and fill none of its resting ones."""
        self._call("suspend", symbol)

    def resume(self, symbol: str) -> None:
        self._call("resume", symbol)

    def match(self, symbol: str | None = None) -> None:
        """Try every resting order (of `symbol`, or all) against the latest price."""
        self._call("match", symbol)

    def expire_all(self) -> int:
        """The close: every open order expires (ExecType and OrdStatus C). Returns how many."""
        return self._call("expire_all")

    def resend_last_report(self, cl_ord_id: str) -> None:
        """Send the order's last ExecutionReport again, same exec id, with PossResend=Y."""
        self._call("resend_last_report", cl_ord_id)
