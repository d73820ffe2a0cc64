"""The order gateway: the one process that holds the FIX session to the broker.

`OrderGateway.run()` loops: while the session is logged on it sends every order not yet sent
(NewOrderSingle) and every cancel asked for (OrderCancelRequest), each marked sent in the same
transaction that locked it, one order a transaction (SKIP LOCKED, so a second gateway never
sends the same order). Each ExecutionReport the session hands over is queued by the session's
reader thread and stored, in the order received, by the gateway's storing thread
(services.execution_report_record, once per exec id; an answer to a cancel is stored under the
order it names in OrigClOrdID); then the order's reports are applied by the Celery task
`lending.tasks.execution_reports_apply`; nothing is booked in this process. `manage.py
run_order_gateway` runs it (Procfile, `make demo`).

Should the gateway stop (or the engine not answer in time) between sending an order and
marking it sent, the transaction rolls back and the order is sent again with the same ClOrdID:
the exchange refuses the repeat ("duplicate ClOrdID", under another exchange order id). The
booking applies a reject whose exchange order id is not the one the order was acknowledged
under as status only, so the order that rests at the exchange keeps working."""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
from collections.abc import Callable

from django.db import close_old_connections, connection, transaction

from lending.orders import services
from lending.orders.fix_session import (
    CancelReject,
    ExecutionReport,
    FixBroker,
    FixNotConnected,
    FixSettings,
)

logger = logging.getLogger(__name__)


def enqueue_apply(order_id: int) -> None:
    from lending.orders.tasks import execution_reports_apply

    execution_reports_apply.delay(order_id)


class OrderGateway:
    def __init__(
        self,
        settings: FixSettings,
        *,
        enqueue: Callable[[int], None] = enqueue_apply,
        poll_seconds: float = 0.2,
    ):
        self.enqueue = enqueue
        self.poll_seconds = poll_seconds
        # The session's reader thread also carries the engine's answers to our sends: it only
        # queues a report, and the storing thread writes it. Storing on the reader thread
        # deadlocked: the report's row waits for the lock of the order being sent, whose
        # send waits for an answer queued behind that report.
        self._received: queue.Queue[ExecutionReport | None] = queue.Queue()
        self.broker = FixBroker(
            settings,
            on_execution_report=self._received.put,
            on_cancel_reject=self._on_cancel_reject,
        )
        self._storer = threading.Thread(
            target=self._store_loop, name="order-gateway-store", daemon=True
        )
        self.stopping = threading.Event()
        self.sent = 0
        self.reports = 0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self._storer.start()
        self.broker.start()

    def stop(self) -> None:
        """Stop sending, log the session out, then store what was received."""
        self.stopping.set()
        self.broker.stop()
        if self._storer.is_alive():
            self._received.put(None)
            self._storer.join()

    def run(self) -> None:
        """Send until `stop()`; call `start()` first."""
        while not self.stopping.is_set():
            try:
                if self.broker.logged_on:
                    self.send_pending()
            except FixNotConnected:
                logger.warning("FIX session dropped while sending; will resend after logon")
            except Exception:
                logger.exception("order gateway: sending failed")
            finally:
                close_old_connections()
            self.stopping.wait(self.poll_seconds)
        connection.close()  # this thread's: a stopped gateway holds no database session

    # --- sending ------------------------------------------------------------------------

    def send_pending(self) -> int:
        """Send what waits (new orders, then cancels); returns how many messages went out.
        Each order is locked, sent and marked sent in a transaction of its own, so an order's
        lock is held over one send only (its reports wait for that lock to be stored)."""
        count = 0
        while not self.stopping.is_set():
            with transaction.atomic():
                batch = services.orders_to_send(limit=1)
                for order in batch:
                    self.broker.send_new_order(
                        order.client_order_id,
                        order.instrument.ledger_unit,
                        order.side,
                        order.quantity,
                        order.limit_price,
                    )
                    services.order_mark_sent(order)
            if not batch:
                break
            count += 1
            self.sent += 1
        while not self.stopping.is_set():
            with transaction.atomic():
                batch = services.cancels_to_send(limit=1)
                for order in batch:
                    self.broker.send_cancel(
                        f"{order.client_order_id}-C",
                        order.client_order_id,
                        order.instrument.ledger_unit,
                        order.side,
                        order.quantity,
                    )
                    services.order_mark_sent(order, cancel=True)
            if not batch:
                break
            count += 1
            self.sent += 1
        return count

    # --- receiving (the storing thread, in the order the session received them) ----------

    def _store_loop(self) -> None:
        while True:
            report = self._received.get()
            if report is None:
                break
            self._on_report(report)
        connection.close()

    def _on_report(self, report: ExecutionReport) -> None:
        if report.orig_cl_ord_id:
            # the answer to an OrderCancelRequest carries the cancel's ClOrdID ("<id>-C") and
            # names the order in OrigClOrdID: it is stored (and applied) under the order
            report = dataclasses.replace(report, cl_ord_id=report.orig_cl_ord_id)
        try:
            record = services.execution_report_record(report)
            if record is not None and record.order_id is not None:
                self.reports += 1
                self.enqueue(record.order_id)
        except Exception:
            # stored or not, a later resend of the same exec id is stored then; the sweeper
            # enqueues whatever stays unapplied
            logger.exception("order gateway: could not store report %s", report.exec_id)
        finally:
            close_old_connections()

    def _on_cancel_reject(self, reject: CancelReject) -> None:
        logger.warning(
            "cancel %s of %s refused by the exchange: %s",
            reject.cl_ord_id,
            reject.orig_cl_ord_id,
            reject.text,
        )
