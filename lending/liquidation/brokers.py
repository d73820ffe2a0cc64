"""Broker adapters for liquidation orders.

A broker takes a sell order (instrument code, quantity, limit price) and answers with the fills
it obtained at once: a list of `Fill` (possibly empty, possibly partial). A fill id is unique
per broker; the liquidation service stores fills unique per (broker name, fill id) and posts
each one to the book exactly once, so an adapter may report the same fill again (a retry, a
reconnect) without harm.

`SimulatedBroker` is the demo and test broker: it fills at the limit price, all of it or, when
configured, only part of it (a fraction of the order and/or a maximum per order, rounded down
to whole lots of `lot_size`).

`default_broker()` builds the broker named by settings.LENDING_BROKER (dotted path; the
simulated broker when unset).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal
from typing import Protocol, runtime_checkable

from django.conf import settings
from django.utils import timezone
from django.utils.module_loading import import_string


@dataclass(frozen=True, slots=True)
class Fill:
    fill_id: str
    instrument: str
    quantity: Decimal
    price: Decimal
    filled_at: datetime


@runtime_checkable
class Broker(Protocol):
    name: str

    def place_sell(self, instrument: str, quantity: Decimal, limit_price: Decimal) -> list[Fill]:
        """Sell up to `quantity` at no less than `limit_price`; return what was filled."""
        ...


@dataclass
class SimulatedBroker:
    """Fills at the limit price. ``fill_fraction`` (0 < f ≤ 1) and ``max_quantity`` make fills
    partial, rounded down to whole lots of ``lot_size`` (an odd remainder is filled only when
    it is the whole order)."""

    name: str = "simulated"
    fill_fraction: Decimal = Decimal(1)
    max_quantity: Decimal | None = None
    lot_size: int = 100
    now: datetime | None = None
    orders: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)
    _run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _counter: itertools.count = field(default_factory=itertools.count)

    def place_sell(self, instrument: str, quantity: Decimal, limit_price: Decimal) -> list[Fill]:
        quantity, limit_price = Decimal(quantity), Decimal(limit_price)
        self.orders.append((instrument, quantity, limit_price))
        qty = quantity
        if self.fill_fraction < 1 or self.max_quantity is not None:
            qty = quantity * Decimal(self.fill_fraction)
            if self.max_quantity is not None:
                qty = min(qty, Decimal(self.max_quantity))
            lot = Decimal(self.lot_size)
            qty = (qty / lot).to_integral_value(rounding=ROUND_FLOOR) * lot
        if qty <= 0:
            return []
        fill_id = f"{self._run}-{next(self._counter)}"
        return [Fill(fill_id, instrument, qty, limit_price, self.now or timezone.now())]


def default_broker() -> Broker:
    path = getattr(settings, "LENDING_BROKER", "lending.liquidation.brokers.SimulatedBroker")
    return import_string(path)()
