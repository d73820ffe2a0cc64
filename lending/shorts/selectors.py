"""Reads of the lending inventory: the refinancing switch in force on a day, each instrument's
inventory (quantity, reserved, lent, available, sources), the lots and reservations for the
staff page and the API, and what an investor may short (the portal)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import F, Q, QuerySet, Sum

from compliance import selectors as compliance_selectors
from lending.instruments import exchange_lists
from lending.instruments.models import ExchangeListEntry, ExchangeListKind, Instrument
from lending.shorts.models import (
    LendingLot,
    LotSource,
    ReservationStatus,
    ShortReservation,
)

ZERO = Decimal(0)

#: The dated switch of refinancing (转融通) in the regulatory parameter table: 1 on, 0 off.
#: Seeded by compliance (on from 2019-01-01; off from 2024-07-11 by the CSRC release of
#: 2024-07-10, existing contracts settled by 2024-09-30). No row in force: off.
REFINANCING_ENABLED = "shorts.refinancing_enabled"


def refinancing_enabled(on: date | None = None) -> bool:
    """Whether refinancing from the securities finance corporation may add inventory (and its
    lots may be reserved) on `on` (today by default). Off when no row is in force."""
    try:
        value = compliance_selectors.parameter(REFINANCING_ENABLED, on=on)
    except compliance_selectors.ParameterMissing:
        return False
    return value == 1


def lendable_sources(on: date | None = None) -> tuple[str, ...]:
    """The sources whose lots may be reserved on `on`: house always, refinancing while on."""
    if refinancing_enabled(on):
        return (LotSource.HOUSE, LotSource.REFINANCING)
    return (LotSource.HOUSE,)


@dataclass
class InstrumentInventory:
    """One instrument's inventory, all sources together (`available` counts only the sources
    that may be reserved that day)."""

    instrument: Instrument
    quantity: Decimal = ZERO
    reserved: Decimal = ZERO
    lent: Decimal = ZERO
    available: Decimal = ZERO
    sources: list[str] = field(default_factory=list)
    lots: list[LendingLot] = field(default_factory=list)

    @property
    def source_labels(self) -> list[str]:
        return [str(LotSource(s).label) for s in self.sources]


def lots() -> QuerySet[LendingLot]:
    return LendingLot.objects.select_related("instrument", "added_by").order_by(
        "instrument__exchange", "instrument__code", "acquired_on", "pk"
    )


def inventory(*, on: date | None = None, instrument_ids=None) -> list[InstrumentInventory]:
    """Every instrument with a lot, in code order, with its lots (two queries)."""
    usable = set(lendable_sources(on))
    qs = lots()
    if instrument_ids is not None:
        qs = qs.filter(instrument_id__in=list(instrument_ids))
    rows: dict[int, InstrumentInventory] = {}
    for lot in qs:
        row = rows.get(lot.instrument_id)
        if row is None:
            row = rows[lot.instrument_id] = InstrumentInventory(lot.instrument)
        row.lots.append(lot)
        row.quantity += lot.quantity
        row.reserved += lot.reserved
        row.lent += lot.lent
        if lot.source in usable:
            row.available += lot.available
        if lot.source not in row.sources and lot.quantity > 0:
            row.sources.append(lot.source)
    return list(rows.values())


def available_quantity(instrument: Instrument, *, on: date | None = None) -> Decimal:
    """Shares of `instrument` that may be reserved on `on`: quantity - reserved - lent over
    the lots of the sources allowed that day."""
    total = LendingLot.objects.filter(
        instrument=instrument, source__in=lendable_sources(on)
    ).aggregate(available=Sum(F("quantity") - F("reserved") - F("lent")))["available"]
    return total or ZERO


def open_reservations() -> QuerySet[ShortReservation]:
    """Reservations still holding shares (reserved or lent), newest first."""
    return ShortReservation.objects.filter(
        status__in=(ReservationStatus.RESERVED, ReservationStatus.LENT)
    ).select_related("instrument", "credit_account", "reserved_by")


def short_targets(on: date) -> set[int]:
    """Ids of the instruments that may be sold short on `on`: on their exchange's short-sale
    target list in force (no list in force for an exchange: none of its securities; the desk
    never lends looser than the exchange) and not ST, suspended or delisting (the desk's own
    flags)."""
    in_force = [
        row
        for (_exchange, kind), row in exchange_lists.lists_in_force(on).items()
        if kind == ExchangeListKind.SHORT_TARGET
    ]
    if not in_force:
        return set()
    return set(
        ExchangeListEntry.objects.filter(
            list_import__in=in_force,
            instrument__isnull=False,
            instrument__is_st=False,
            instrument__suspended=False,
            instrument__delisting=False,
        ).values_list("instrument_id", flat=True)
    )


def shortable(*, on: date) -> list[InstrumentInventory]:
    """What an investor can short on `on` and how much: instruments on the short-sale target
    list, not stopped by the float rule, with shares available to lend (> 0), in code order."""
    targets = short_targets(on) - set(
        Instrument.objects.filter(shorts_stopped=True).values_list("pk", flat=True)
    )
    if not targets:
        return []
    ids = (
        LendingLot.objects.filter(instrument_id__in=targets)
        .filter(~Q(quantity=F("reserved") + F("lent")))
        .values_list("instrument_id", flat=True)
        .distinct()
    )
    return [row for row in inventory(on=on, instrument_ids=ids) if row.available > 0]
