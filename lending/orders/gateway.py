"""The order gateway: the one process that holds the FIX session to the broker.

`OrderGateway.run()` loops: while the session is logged on it sends every order not yet sent
(NewOrderSingle) and every cancel asked for (OrderCancelRequest), each marked sent in the same
transaction that locked it (SKIP LOCKED, so a second gateway never sends the same order). Each
ExecutionReport the session hands over is stored first (services.execution_report_record, once
per exec id) and then the order's reports are applied by the Celery task
`lending.tasks.execution_reports_apply`; nothing is booked in this process. `manage.py
run_order_gateway` runs it (Procfile, `make demo`).

Should the gateway stop between sending an order and marking it sent, the transaction rolls
back and the order is sent again with the same ClOrdID: the exchange refuses the duplicate,
and that reject is for an order already working, so it changes nothing (services ignore a
final state for an order no longer working only; see the note in the README)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import close_old_connections, transaction

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
        self.broker = FixBroker(
            settings,
            on_execution_report=self._on_report,
            on_cancel_reject=self._on_cancel_reject,
        )
        self.stopping = threading.Event()
        self.sent = 0
        self.reports = 0

    # --- lifecycle ----------------------------------------------------------------------

    def start(self) -> None:
        self.broker.start()

    def stop(self) -> None:
        self.stopping.set()
        self.broker.stop()

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

    # --- sending ------------------------------------------------------------------------

    def send_pending(self) -> int:
        """Send what waits (new orders, then cancels); returns how many messages went out."""
        count = 0
        with transaction.atomic():
            for order in services.orders_to_send():
                self.broker.send_new_order(
                    order.client_order_id,
                    order.instrument.ledger_unit,
                    order.side,
                    order.quantity,
                    order.limit_price,
                )
                services.order_mark_sent(order)
                count += 1
        with transaction.atomic():
            for order in services.cancels_to_send():
                self.broker.send_cancel(
                    f"{order.client_order_id}-C",
                    order.client_order_id,
                    order.instrument.ledger_unit,
                    order.side,
                    order.quantity,
                )
                services.order_mark_sent(order, cancel=True)
                count += 1
        self.sent += count
        return count

    # --- receiving (on the session's reader thread) --------------------------------------

    def _on_report(self, report: ExecutionReport) -> None:
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
