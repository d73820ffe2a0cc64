"""What the market says about an order, as plain data: the FIX ExecutionReport (35=8) and
OrderCancelReject (35=9) as the session received them, and the ExecType (150) / OrdStatus (39)
values by name. No quickfix here: the FIX session (fix_session.py) builds these, the booking
(services.py) applies them, and the demo seed stands in for the exchange with them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

#: ExecType (150) and OrdStatus (39) values, by name.
EXEC_NEW = "0"
EXEC_PARTIAL_FILL = "1"  # FIX 4.2's value; 4.4 reports fills as TRADE and OrdStatus says which
EXEC_CANCELED = "4"
EXEC_REJECTED = "8"
EXEC_EXPIRED = "C"
EXEC_TRADE = "F"
STATUS_NEW = "0"
STATUS_PARTIALLY_FILLED = "1"
STATUS_FILLED = "2"
STATUS_CANCELED = "4"
STATUS_REJECTED = "8"
STATUS_EXPIRED = "C"


@dataclass(frozen=True)
class ExecutionReport:
    """One ExecutionReport (35=8) as the session received it; plain data (picklable)."""

    exec_id: str
    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    symbol: str
    side: str  # "buy" | "sell"
    exec_type: str  # FIX ExecType (150): 0 new, F trade, 4 cancelled, 8 rejected, C expired
    ord_status: str  # FIX OrdStatus (39): 0 new, 1 partially filled, 2 filled, 4, 8, C
    last_qty: Decimal
    last_px: Decimal
    cum_qty: Decimal
    leaves_qty: Decimal
    avg_px: Decimal
    text: str
    transact_time: datetime | None
    possible_duplicate: bool  # PossDupFlag (43) or PossResend (97) was set

    @property
    def is_fill(self) -> bool:
        return self.exec_type in (EXEC_TRADE, EXEC_PARTIAL_FILL) and self.last_qty > 0


@dataclass(frozen=True)
class CancelReject:
    """One OrderCancelReject (35=9): the cancel `cl_ord_id` of `orig_cl_ord_id` was refused."""

    cl_ord_id: str
    orig_cl_ord_id: str
    order_id: str
    ord_status: str
    reason: str  # CxlRejReason (102)
    text: str


def report_for(
    order,
    *,
    exec_id: str,
    exec_type: str,
    ord_status: str,
    order_id: str,
    last_qty: Decimal = Decimal(0),
    last_px: Decimal = Decimal(0),
    text: str = "",
    at: datetime | None = None,
) -> ExecutionReport:
    """The ExecutionReport the exchange would send about `order` (a lending Order; cumulative
    and leaves quantities follow from what it has filled so far): what the demo seed and the
    tests stand in for the exchange with. Booked like any other, by lending.orders.services."""
    cum = order.filled_quantity + Decimal(last_qty)
    return ExecutionReport(
        exec_id=exec_id,
        cl_ord_id=order.client_order_id,
        orig_cl_ord_id="",
        order_id=order_id,
        symbol=order.instrument.ledger_unit,
        side=order.side,
        exec_type=exec_type,
        ord_status=ord_status,
        last_qty=Decimal(last_qty),
        last_px=Decimal(last_px),
        cum_qty=cum,
        leaves_qty=order.quantity - cum,
        avg_px=Decimal(last_px),
        text=text,
        transact_time=at,
        possible_duplicate=False,
    )
