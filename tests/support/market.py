"""The market's side of an order, for tests that need positions without a FIX session: an
execution report stored as the order gateway stores one (lending.orders.services.
execution_report_record) and applied as the Celery task applies it. The order itself is always
placed through `order_place`, with all its checks; only the exchange's answer is written here.
Tests of the session itself (tests/integration/test_fix_session.py, test_orders_over_fix.py)
use the real gateway and the simulated exchange instead.

`zero_fees()` adds dated fee parameters of zero from today (real rows of the parameter table,
as staff would add them) for tests whose hand-worked numbers leave fees out; fee tests do not
call it."""

from __future__ import annotations

import itertools
import uuid
from datetime import date
from decimal import Decimal

from django.utils import timezone

from compliance import parameters as P
from compliance import services as compliance_services
from compliance.models import RegulatoryParameter
from lending.orders import reports as fix
from lending.orders import services as orders
from lending.orders.models import Order

_exec = itertools.count(1)
_RUN = uuid.uuid4().hex[:8]


def zero_fees(on: date | None = None) -> None:
    on = on or timezone.localdate()
    for key in (
        P.STAMP_DUTY_SALE,
        P.TRANSFER_FEE,
        P.COMMISSION_MINIMUM,
        P.COMMISSION_STANDARD_RATE,
    ):
        if not RegulatoryParameter.objects.filter(key=key, effective_from=on).exists():
            compliance_services.parameter_add(
                key=key,
                effective_from=on,
                value=Decimal(0),
                source="test: fees left out of hand-worked numbers",
                actor=None,
            )


def report(
    order: Order,
    *,
    exec_type: str,
    ord_status: str,
    last_qty: Decimal = Decimal(0),
    last_px: Decimal = Decimal(0),
    text: str = "",
    exec_id: str | None = None,
    at=None,
) -> fix.ExecutionReport:
    order.refresh_from_db()
    return fix.report_for(
        order,
        exec_id=exec_id or f"T{_RUN}-{next(_exec)}",
        exec_type=exec_type,
        ord_status=ord_status,
        order_id=f"X{order.pk}",
        last_qty=last_qty,
        last_px=last_px,
        text=text,
        at=at or timezone.now(),
    )


def deliver(execution_report: fix.ExecutionReport) -> int:
    """Store and apply one report (the gateway's and the task's work); returns reports applied."""
    record = orders.execution_report_record(execution_report)
    if record is None or record.order_id is None:
        return 0
    return orders.execution_reports_apply(order_id=record.order_id)


def fill(order: Order, *, price=None, quantity=None, exec_id: str | None = None, at=None) -> Order:
    """The exchange fills `quantity` (all that is left by default) at `price` (the limit), at
    `at` (the execution's transaction time; now by default)."""
    order.refresh_from_db()
    left = order.quantity - order.filled_quantity
    quantity = Decimal(quantity) if quantity is not None else left
    status = fix.STATUS_FILLED if quantity == left else fix.STATUS_PARTIALLY_FILLED
    deliver(
        report(
            order,
            exec_type=fix.EXEC_TRADE,
            ord_status=status,
            last_qty=quantity,
            last_px=Decimal(price) if price is not None else order.limit_price,
            exec_id=exec_id,
            at=at,
        )
    )
    order.refresh_from_db()
    return order


def close(order: Order, exec_type: str, text: str = "") -> Order:
    """The exchange cancels (4), rejects (8) or expires (C) what is left of the order."""
    deliver(report(order, exec_type=exec_type, ord_status=exec_type, text=text))
    order.refresh_from_db()
    return order


def place(account, instrument, purpose: str, quantity, price, *, actor=None) -> Order:
    """Place an order at `price` through order_place (all its checks)."""
    return orders.order_place(
        credit_account=account,
        instrument=instrument,
        purpose=purpose,
        quantity=quantity,
        limit_price=Decimal(price),
        actor=actor,
        idempotency_key=f"test-{_RUN}-{next(_exec)}",
        reason="test",
    )


def traded(account, instrument, purpose: str, quantity, price, *, actor=None) -> Order:
    """Place an order at `price` and have the exchange fill all of it there."""
    return fill(place(account, instrument, purpose, quantity, price, actor=actor))
