"""The FIX 4.4 session to the broker: `FixBroker`, an initiator whose quickfix engine runs in a
child process (engine.py, started with multiprocessing's "spawn" context).

The object in the calling process holds no quickfix object: it sends NewOrderSingle (limit,
day) and OrderCancelRequest over a command queue and waits for the child's answer (sent, or
`FixNotConnected`), and a reader thread takes from the event queue every ExecutionReport (a
frozen `ExecutionReport`, prices and quantities as Decimal read from the message's text, never
through float) and every OrderCancelReject (`CancelReject`). Reports are handed to
`on_execution_report` in the order the session received them; one whose exec id was already
handed over (a PossDup or PossResend copy after a reconnect) is counted in `duplicates` and not
handed over again. That in-memory guard is per `FixBroker`; the booking layer must still refuse
an exec id it has booked.

Sequence numbers and sent messages live in a file store (FIX_STORE_DIR), the session log in
FIX_LOG_DIR, so a restarted process resumes the same session. `stop()` asks the child to log
out and stop, and terminates (then kills) it when it does not finish in time.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import itertools
import logging
import multiprocessing
import queue
import sys
import sysconfig
import threading
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from lending.orders.reports import (  # noqa: F401  (the session's names for them)
    EXEC_CANCELED,
    EXEC_EXPIRED,
    EXEC_NEW,
    EXEC_PARTIAL_FILL,
    EXEC_REJECTED,
    EXEC_TRADE,
    STATUS_CANCELED,
    STATUS_EXPIRED,
    STATUS_FILLED,
    STATUS_NEW,
    STATUS_PARTIALLY_FILLED,
    STATUS_REJECTED,
    CancelReject,
    ExecutionReport,
)

logger = logging.getLogger(__name__)

BEGIN_STRING = "FIX.4.4"

SIDES = {"buy": "1", "sell": "2"}  # FIX Side (54)
SIDE_NAMES = {value: name for name, value in SIDES.items()}


#: How long a start, a command or a stop may take before the child is given up on.
CHILD_TIMEOUT = 10.0


class FixNotConnected(RuntimeError):
    """The session is not logged on (or its process is not running): nothing was sent."""


class FixSettingsMissing(RuntimeError):
    """A FIX_* setting has no value (production sets them all; see .env.example)."""


class FixEngineError(RuntimeError):
    """The engine's child process did not answer in time or failed."""


@dataclass(frozen=True)
class FixSettings:
    """One FIX session seen from our side: we are `sender_comp_id`, the broker (or the
    simulated exchange) is `target_comp_id`."""

    host: str
    port: int
    sender_comp_id: str
    target_comp_id: str
    store_dir: Path
    log_dir: Path
    heartbeat_seconds: int = 30
    reconnect_seconds: int = 5

    @classmethod
    def from_django(cls) -> FixSettings:
        from django.conf import settings

        values = {
            "FIX_HOST": settings.FIX_HOST,
            "FIX_PORT": settings.FIX_PORT,
            "FIX_SENDER_COMP_ID": settings.FIX_SENDER_COMP_ID,
            "FIX_TARGET_COMP_ID": settings.FIX_TARGET_COMP_ID,
            "FIX_STORE_DIR": settings.FIX_STORE_DIR,
            "FIX_LOG_DIR": settings.FIX_LOG_DIR,
        }
        missing = [name for name, value in values.items() if value in (None, "")]
        if missing:
            raise FixSettingsMissing(f"FIX session not configured: {', '.join(missing)} unset")
        return cls(
            host=values["FIX_HOST"],
            port=int(values["FIX_PORT"]),
            sender_comp_id=values["FIX_SENDER_COMP_ID"],
            target_comp_id=values["FIX_TARGET_COMP_ID"],
            store_dir=Path(values["FIX_STORE_DIR"]),
            log_dir=Path(values["FIX_LOG_DIR"]),
        )


def data_dictionary() -> Path | None:
    """quickfix's FIX44.xml: the wheel installs its spec files as data files under
    `<prefix>/share/quickfix/` (the sdist keeps them in `spec/`). None when not found. Found
    without importing quickfix."""
    candidates = [
        Path(sysconfig.get_path("data")) / "share" / "quickfix" / "FIX44.xml",
        Path(sys.prefix) / "share" / "quickfix" / "FIX44.xml",
        Path("/usr/share/quickfix/FIX44.xml"),
        Path("/usr/local/share/quickfix/FIX44.xml"),
    ]
    spec = importlib.util.find_spec("quickfix")
    if spec is not None and spec.origin:
        candidates.insert(2, Path(spec.origin).resolve().parent / "spec" / "FIX44.xml")
    return next((path for path in candidates if path.is_file()), None)


def _child(target: str, *args: Any) -> None:
    """The child process's entry: engine.py (and quickfix) is imported there only."""
    module_name, _, function = target.partition(":")
    getattr(importlib.import_module(module_name), function)(*args)


class EngineProcess:
    """A quickfix engine in a spawned child process. `target` ("module:function") is imported
    in the child only and runs there as `function(settings, extra, commands, events)`
    (engine.py). Commands are `(request_id, name, args)`; the child answers each with
    `("reply", request_id, error_or_None, value)` on the event queue and sends its own events
    (`("logon",)`, `("logout",)`, reports) there too. A reader thread hands events to
    `on_event`."""

    def __init__(self, target: str, settings: FixSettings, extra: Any, on_event: Callable):
        context = multiprocessing.get_context("spawn")
        self._commands = context.Queue()
        self._events = context.Queue()
        self._process = context.Process(
            target=_child,
            args=(target, settings, extra, self._commands, self._events),
            name=f"fix-{settings.sender_comp_id}-{settings.target_comp_id}",
            daemon=True,
        )
        self._on_event = on_event
        self._ids = itertools.count(1)
        self._replies: dict[int, queue.Queue] = {}
        self._replies_lock = threading.Lock()
        self._started = threading.Event()
        self._failure = ""
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="fix-events", daemon=True)

    def start(self, timeout: float = CHILD_TIMEOUT) -> None:
        self._process.start()
        self._reader.start()
        if not self._started.wait(timeout):
            self.stop()
            raise FixEngineError("the FIX engine process did not start in time")
        if self._failure:
            self.stop()
            raise FixEngineError(f"the FIX engine did not start: {self._failure}")

    @property
    def pid(self) -> int | None:
        return self._process.pid

    @property
    def exitcode(self) -> int | None:
        """0 after a clean stop; negative: the signal that ended it (-15 terminated, -9
        killed); None while it runs."""
        return self._process.exitcode

    @property
    def alive(self) -> bool:
        return self._process.is_alive() and not self._closed.is_set()

    def call(self, name: str, *args: Any, timeout: float = CHILD_TIMEOUT) -> Any:
        if not self.alive:
            raise FixNotConnected("the FIX engine process is not running")
        request_id = next(self._ids)
        answer: queue.Queue = queue.Queue(maxsize=1)
        with self._replies_lock:
            self._replies[request_id] = answer
        try:
            self._commands.put((request_id, name, args))
            deadline = timeout
            while True:
                try:
                    error, value = answer.get(timeout=min(deadline, 0.2))
                    break
                except queue.Empty:
                    deadline -= 0.2
                    if not self._process.is_alive():
                        raise FixNotConnected("the FIX engine process has stopped") from None
                    if deadline <= 0:
                        raise FixEngineError(f"no answer to {name} in {timeout}s") from None
        finally:
            with self._replies_lock:
                self._replies.pop(request_id, None)
        if error is not None:
            kind, text = error
            raise {"not_connected": FixNotConnected, "value": ValueError}.get(kind, FixEngineError)(
                text
            )
        return value

    def stop(self, *, force: bool = False, timeout: float = CHILD_TIMEOUT) -> None:
        """Ask the child to stop its engine and exit; terminate it after `timeout`, kill it
        after as long again."""
        if self._process.is_alive():
            with contextlib.suppress(OSError, ValueError):
                self._commands.put((0, "stop", (force,)))
            self._process.join(timeout)
        if self._process.is_alive():
            logger.warning("FIX engine process %s did not stop: terminated", self._process.pid)
            self._process.terminate()
            self._process.join(timeout)
        if self._process.is_alive():
            self._process.kill()
            self._process.join(timeout)
        self._closed.set()
        if self._reader.is_alive():
            self._reader.join(timeout)
        for channel in (self._commands, self._events):
            channel.close()
            channel.cancel_join_thread()

    def _read(self) -> None:
        while True:
            try:
                event = self._events.get(timeout=0.1)
            except queue.Empty:
                stopped = self._closed.is_set() or not self._process.is_alive()
                if stopped and self._events.empty():
                    break
                continue
            except (EOFError, OSError, ValueError):
                break
            if event[0] == "started":
                self._started.set()
            elif event[0] == "failed":
                self._failure = event[1]
                self._started.set()
            elif event[0] == "reply":
                _, request_id, error, value = event
                with self._replies_lock:
                    answer = self._replies.get(request_id)
                if answer is not None:
                    answer.put((error, value))
            else:
                try:
                    self._on_event(event)
                except Exception:
                    logger.exception("FIX event handling failed: %r", event)
        self._closed.set()
        self._on_event(("exited",))


class FixBroker:
    """The FIX 4.4 initiator session to the broker, its quickfix engine in a child process.

    `on_execution_report(report)` and `on_cancel_reject(reject)` run on this object's reader
    thread, one at a time, in the order received; keep them short (queue the work)."""

    def __init__(
        self,
        settings: FixSettings,
        *,
        on_execution_report: Callable[[ExecutionReport], None] | None = None,
        on_cancel_reject: Callable[[CancelReject], None] | None = None,
    ):
        self.settings = settings
        self.on_execution_report = on_execution_report or (lambda report: None)
        self.on_cancel_reject = on_cancel_reject or (lambda reject: None)
        self.duplicates = 0
        self._seen_exec_ids: set[str] = set()
        self._logged_on = threading.Event()
        self._logged_off = threading.Event()
        self._logged_off.set()
        self._engine: EngineProcess | None = None
        self.exitcode: int | None = None  # the last child's, once stopped

    # --- lifecycle ----------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The engine's child process, while it runs."""
        return self._engine.pid if self._engine else None

    def start(self) -> None:
        if self._engine is not None:
            return
        engine = EngineProcess(
            "lending.orders.engine:run_initiator", self.settings, None, self._on_event
        )
        engine.start()  # raises FixEngineError (the child stopped) when it does not start
        self._engine = engine

    def stop(self, *, force: bool = False, timeout: float = CHILD_TIMEOUT) -> None:
        """Log out and stop the child; `force` drops the connection without waiting. A child
        that has not exited after `timeout` is terminated, then killed (`exitcode`)."""
        if self._engine is None:
            return
        self._engine.stop(force=force, timeout=timeout)
        self.exitcode = self._engine.exitcode
        self._engine = None
        self._logged_on.clear()
        self._logged_off.set()

    @property
    def logged_on(self) -> bool:
        return self._logged_on.is_set()

    def wait_logged_on(self, timeout: float) -> bool:
        return self._logged_on.wait(timeout)

    def wait_logged_off(self, timeout: float) -> bool:
        return self._logged_off.wait(timeout)

    # --- orders -------------------------------------------------------------------------

    def send_new_order(
        self, cl_ord_id: str, symbol: str, side: str, quantity: Decimal, limit_price: Decimal
    ) -> None:
        """A day limit order. `side` is "buy" or "sell"."""
        order = {
            "cl_ord_id": cl_ord_id,
            "symbol": symbol,
            "side": _side(side),
            "quantity": _number(quantity, "quantity"),
            "limit_price": _number(limit_price, "limit_price"),
        }
        self._send("new_order", order)

    def send_cancel(
        self, cl_ord_id: str, orig_cl_ord_id: str, symbol: str, side: str, quantity: Decimal
    ) -> None:
        """Cancel what is left of `orig_cl_ord_id`; the request's own id is `cl_ord_id`."""
        cancel = {
            "cl_ord_id": cl_ord_id,
            "orig_cl_ord_id": orig_cl_ord_id,
            "symbol": symbol,
            "side": _side(side),
            "quantity": _number(quantity, "quantity"),
        }
        self._send("cancel", cancel)

    def _send(self, name: str, fields: dict[str, str]) -> None:
        if self._engine is None or not self.logged_on:
            raise FixNotConnected("the FIX session is not logged on")
        self._engine.call(name, fields)

    def _on_event(self, event: tuple) -> None:
        kind = event[0]
        if kind == "logon":
            self._logged_off.clear()
            self._logged_on.set()
        elif kind in ("logout", "exited"):
            self._logged_on.clear()
            self._logged_off.set()
        elif kind == "execution_report":
            report: ExecutionReport = event[1]
            if report.exec_id in self._seen_exec_ids:
                self.duplicates += 1
                logger.info("FIX execution report %s seen before: ignored", report.exec_id)
                return
            self._seen_exec_ids.add(report.exec_id)
            self.on_execution_report(report)
        elif kind == "cancel_reject":
            self.on_cancel_reject(event[1])


def _side(side: str) -> str:
    try:
        return SIDES[side]
    except KeyError:
        raise ValueError(f"side must be 'buy' or 'sell', not {side!r}") from None


def _number(value: Decimal, name: str) -> str:
    if not isinstance(value, Decimal | int) or isinstance(value, bool):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    value = Decimal(value)
    if not value.is_finite() or value <= 0:
        raise ValueError(f"{name} must be above zero")
    return format(value, "f")
