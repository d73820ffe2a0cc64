"""Broker adapters for liquidation orders.

A broker takes a sell order (instrument code, quantity, limit price) and answers with the fills
it obtained at once: a list of `Fill` (possibly empty, possibly partial), or a `Placement` that
also says what became of the unfilled remainder. A plain list means the remainder keeps
working at the exchange (a day limit order rests until filled, cancelled or expired): the
liquidation service counts it as being sold and never sends those shares again; only a
remainder the broker reports "cancelled" or "rejected" is sent again by the next execution.
A fill id is unique per broker; the liquidation service stores fills unique per (broker name,
fill id) and posts each one to the book exactly once, so an adapter may report the same fill
again (a retry, a reconnect) without harm.

`SimulatedBroker` is the demo and test broker: it fills at the limit price, all of it or, when
configured, only part of it or none (a fraction of the order, 0 for none, and/or a maximum per
order, rounded down to whole lots of `lot_size`); `remainder` says whether the unfilled part
rests at the exchange ("working", the default) or is reported "cancelled" / "rejected".

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


#: What may become of an order's unfilled remainder (LiquidationOrderStatus values).
REMAINDER_STATES = ("working", "cancelled", "rejected")


@dataclass(frozen=True, slots=True)
class Placement:
    """A broker's answer to a sell order: the fills obtained at once and the state of the
    unfilled remainder, one of REMAINDER_STATES."""

    fills: list[Fill]
    remainder: str = "working"

    def __post_init__(self) -> None:
        if self.remainder not in REMAINDER_STATES:
            raise ValueError(f"remainder: one of {REMAINDER_STATES}, not {self.remainder!r}")


@runtime_checkable
class Broker(Protocol):
    name: str

    def place_sell(
        self, instrument: str, quantity: Decimal, limit_price: Decimal
    ) -> list[Fill] | Placement:
        """Sell up to `quantity` at no less than `limit_price`; return what was filled (a list:
        the remainder keeps working) or a Placement."""
        ...


def placement_of(answer: list[Fill] | Placement) -> Placement:
    """A broker's answer as a Placement (a plain list of fills: the remainder is working)."""
    return answer if isinstance(answer, Placement) else Placement(list(answer))


@dataclass
class SimulatedBroker:
    """Fills at the limit price. ``fill_fraction`` (0 ≤ f ≤ 1; 0 fills nothing) and
    ``max_quantity`` make fills partial, rounded down to whole lots of ``lot_size`` (an odd
    remainder is filled only when it is the whole order). ``remainder`` is what the answer says
    of the unfilled part: "working" (rests at the exchange), "cancelled" or "rejected"."""

    name: str = "simulated"
    fill_fraction: Decimal = Decimal(1)
    max_quantity: Decimal | None = None
    lot_size: int = 100
    remainder: str = "working"
    now: datetime | None = None
    orders: list[tuple[str, Decimal, Decimal]] = field(default_factory=list)
    _run: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    _counter: itertools.count = field(default_factory=itertools.count)

    def place_sell(self, instrument: str, quantity: Decimal, limit_price: Decimal) -> Placement:
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
            return Placement([], self.remainder)
        fill_id = f"{self._run}-{next(self._counter)}"
        fill = Fill(fill_id, instrument, qty, limit_price, self.now or timezone.now())
        return Placement([fill], self.remainder)


def default_broker() -> Broker:
    path = getattr(settings, "LENDING_BROKER", "lending.liquidation.brokers.SimulatedBroker")
    return import_string(path)()
