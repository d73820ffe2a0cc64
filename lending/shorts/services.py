"""Writes of the lending inventory (券源) and of the reservations the short sale holds on it.

Inventory (the staff page and the API reach these; operations):
- `inventory_house_add`: the desk's own shares, booked only from the custodian's
  confirmation (its reference unique: one confirmation is one lot, booked once): Dr house
  custodian q / Cr house securities "lendable" q of the instrument (kind "securities"), in the
  same transaction as the lot.
- `inventory_refinancing_add`: shares from the securities finance corporation (转融通), the
  same way into the house securities "refinancing" account, refused unless the dated switch
  (lending.shorts.selectors.refinancing_enabled) is on that day.
- `inventory_withdraw`: unreserved shares out of a lot: a house lot's go back to the house's
  own holdings (Dr lendable / Cr house securities), a refinancing lot's back to the
  corporation (Dr refinancing / Cr custodian). Recorded as an append-only withdrawal row.

Reservations (the short-sale order composes these inside its own transaction; the staff page
releases a stale one):
- `shares_reserve`: hold shares of an instrument for an order, spread over its lots (house
  lots first, then refinancing while the switch is on; oldest first); refused beyond what is
  available, naming `quantity` and the shares available.
- `reservation_release`: the part still reserved goes back to available (order cancelled or
  expired, or unfilled at the end).
- `reservation_lend`: reserved -> lent, on a fill.
- `reservation_return`: lent -> available, as the short position is covered (the latest
  allocations first).

Each checks its permission: staff holding it, the system (actor None: fills, expiry), or, for
a reservation on a credit account, the investor who owns that account (their order). Each
runs in one transaction (`transaction.atomic()`: its own, or the caller's when composed),
stamps the rows it changes (simple-history) and keeps every lot's `reserved` and `lent` equal
to the sums of its allocations. The lot ledger postings of a fill (shares delivered on a short
sale, back on a cover) belong to the short-sale booking, not to these counters.

Lock order (after the credit account, before the ledger accounts): the reservation, then its
lots by primary key (`select_for_update(of=("self",))`).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from compliance import selectors as compliance_selectors
from custody import services as custody
from custody.models import EntryKind
from lending.common.inputs import reason_required, shares_parsed
from lending.common.transactions import durable
from lending.credit.models import CreditAccount
from lending.credit.permissions import require_owner_or_perm
from lending.domain.formats import fmt_shares
from lending.instruments.models import Instrument
from lending.shorts import selectors
from lending.shorts.models import (
    LendingLot,
    LendingLotWithdrawal,
    LotSource,
    ReservationStatus,
    ShortReservation,
    ShortReservationAllocation,
)

ADD_PERM = "lending.add_lendinglot"
WITHDRAW_PERM = "lending.change_lendinglot"
RESERVE_PERM = "lending.add_shortreservation"
CHANGE_RESERVATION_PERM = "lending.change_shortreservation"

ZERO = Decimal(0)


def _whole(value: Decimal) -> str:
    """Shares as the API spells them in a refusal's extra: "7000", never "7000.0000"."""
    return format(Decimal(value).quantize(Decimal(1)), "f")


#: The house securities account of each source (custody's "house_securities", per instrument).
LEDGER_SUFFIX = {LotSource.HOUSE: "lendable", LotSource.REFINANCING: "refinancing"}


# --- inventory --------------------------------------------------------------------------------


def _reference_parsed(confirmation_reference: str) -> str:
    reference = (confirmation_reference or "").strip()
    if not reference or len(reference) > 64:
        raise ValidationFailed(
            _(
                "confirmation_reference: the custodian's confirmation reference is required "
                "(at most 64 characters)"
            ),
            extra={"field": "confirmation_reference"},
        )
    return reference


def _day_parsed(on: date | None) -> date:
    today = compliance_selectors.today()
    if on is None:
        return today
    if on > today:
        raise ValidationFailed(
            _("on: %(on)s is in the future; a confirmation is dated the day it is received")
            % {"on": on.isoformat()},
            extra={"field": "on"},
        )
    return on


def _lot_add(
    *,
    source: str,
    instrument: Instrument,
    quantity,
    confirmation_reference: str,
    actor,
    reason: str,
    on: date | None,
    idempotency_key: str | None,
) -> LendingLot:
    quantity = shares_parsed(quantity)
    reference = _reference_parsed(confirmation_reference)
    reason = reason_required(reason)
    day = _day_parsed(on)
    key = (idempotency_key or "").strip()[:160] or None
    if key is not None:
        repeat = LendingLot.objects.filter(idempotency_key=key).first()
        if repeat is not None:
            if (
                repeat.instrument_id,
                repeat.source,
                repeat.confirmed_quantity,
                repeat.confirmation_reference,
            ) == (instrument.pk, source, quantity, reference):
                return repeat
            raise Conflict(
                _("idempotency_key: %(key)s was already used for lending lot #%(pk)s")
                % {"key": repr(key), "pk": repeat.pk},
                extra={"field": "idempotency_key"},
            )
    if source == LotSource.REFINANCING and not selectors.refinancing_enabled(day):
        raise RuleViolation(
            _(
                "source: refinancing from the securities finance corporation is suspended on "
                "%(on)s (dated parameter %(key)s); no refinancing inventory may be added"
            )
            % {"on": day.isoformat(), "key": selectors.REFINANCING_ENABLED},
            code="refinancing_suspended",
            extra={"field": "source", "rule": selectors.REFINANCING_ENABLED, "on": day.isoformat()},
        )
    if LendingLot.objects.filter(confirmation_reference=reference).exists():
        raise Conflict(
            _("confirmation_reference: %(reference)s was already used for a lot")
            % {"reference": reference},
            extra={"field": "confirmation_reference"},
        )

    def run() -> LendingLot:
        unit = instrument.ledger_unit
        custodian = custody.house_account("custodian", unit, actor=actor)
        lendable = custody.house_account(
            "house_securities", unit, suffix=LEDGER_SUFFIX[source], actor=actor
        )
        custody.balances_lock([custodian, lendable])
        entry = custody.entry_post_in_transaction(
            legs=[custody.debit(custodian, quantity), custody.credit(lendable, quantity)],
            memo=f"Lending inventory ({source}) {fmt_shares(quantity)} {unit} "
            f"(custodian confirmation {reference})",
            kind=EntryKind.SECURITIES,
            actor=actor,
            idempotency_key=f"lending-lot:{reference}",
        )
        lot = LendingLot(
            instrument=instrument,
            source=source,
            confirmed_quantity=quantity,
            quantity=quantity,
            reserved=ZERO,
            lent=ZERO,
            acquired_on=day,
            confirmation_reference=reference,
            idempotency_key=key,
            entry=entry,
            added_by=actor,
            reason=reason[:300],
        )
        stamp(
            lot,
            actor=actor,
            reason=f"{source} inventory {fmt_shares(quantity)} {unit} from confirmation "
            f"{reference}: {reason}",
        )
        lot.save()
        return lot

    try:
        return durable(run, "lending inventory add")
    except IntegrityError:
        raise Conflict(
            _("confirmation_reference: %(reference)s was already used for a lot")
            % {"reference": reference},
            extra={"field": "confirmation_reference"},
        ) from None


def inventory_house_add(
    *,
    instrument: Instrument,
    quantity,
    confirmation_reference: str,
    actor,
    reason: str,
    on: date | None = None,
    idempotency_key: str | None = None,
) -> LendingLot:
    """The desk's own shares into the lending inventory, from the custodian's confirmation
    (dated `on`, today by default): one lot and its ledger entry."""
    require_permission(actor, ADD_PERM, action="add lending inventory")
    return _lot_add(
        source=LotSource.HOUSE,
        instrument=instrument,
        quantity=quantity,
        confirmation_reference=confirmation_reference,
        actor=actor,
        reason=reason,
        on=on,
        idempotency_key=idempotency_key,
    )


def inventory_refinancing_add(
    *,
    instrument: Instrument,
    quantity,
    confirmation_reference: str,
    actor,
    reason: str,
    on: date | None = None,
    idempotency_key: str | None = None,
) -> LendingLot:
    """Shares from the securities finance corporation (转融通), from its confirmation, only
    while the dated switch is on on `on` (today by default)."""
    require_permission(actor, ADD_PERM, action="add lending inventory")
    return _lot_add(
        source=LotSource.REFINANCING,
        instrument=instrument,
        quantity=quantity,
        confirmation_reference=confirmation_reference,
        actor=actor,
        reason=reason,
        on=on,
        idempotency_key=idempotency_key,
    )


def inventory_withdraw(*, lot: LendingLot, quantity, actor, reason: str) -> LendingLotWithdrawal:
    """Take unreserved shares out of a lot (at most quantity - reserved - lent)."""
    require_permission(actor, WITHDRAW_PERM, action="withdraw lending inventory")
    quantity = shares_parsed(quantity)
    reason = reason_required(reason)

    def run() -> LendingLotWithdrawal:
        locked = LendingLot.objects.select_for_update(of=("self",)).get(pk=lot.pk)
        available = locked.available
        if quantity > available:
            raise RuleViolation(
                _(
                    "quantity: %(quantity)s shares exceed the %(available)s of lot %(lot)s "
                    "neither reserved nor lent (quantity - reserved - lent)"
                )
                % {
                    "quantity": fmt_shares(quantity),
                    "available": fmt_shares(available),
                    "lot": locked.confirmation_reference,
                },
                code="inventory_not_available",
                extra={"field": "quantity", "available": _whole(available)},
            )
        unit = locked.instrument.ledger_unit
        account = custody.house_account(
            "house_securities", unit, suffix=LEDGER_SUFFIX[locked.source], actor=actor
        )
        if locked.source == LotSource.HOUSE:
            to = custody.house_account("house_securities", unit, actor=actor)
            memo = "back to the house's own holdings"
        else:
            to = custody.house_account("custodian", unit, actor=actor)
            memo = "returned to the securities finance corporation"
        custody.balances_lock([account, to])
        entry = custody.entry_post_in_transaction(
            legs=[custody.debit(account, quantity), custody.credit(to, quantity)],
            memo=f"Lending inventory withdrawn {fmt_shares(quantity)} {unit} from lot "
            f"{locked.confirmation_reference}, {memo}: {reason}",
            kind=EntryKind.SECURITIES,
            actor=actor,
        )
        locked.quantity -= quantity
        stamp(locked, actor=actor, reason=f"withdrawn {fmt_shares(quantity)}: {reason}")
        locked.save(update_fields=["quantity"])
        withdrawal = LendingLotWithdrawal(
            lot=locked, quantity=quantity, entry=entry, withdrawn_by=actor, reason=reason[:300]
        )
        stamp(withdrawal, actor=actor, reason=reason)
        withdrawal.save()
        return withdrawal

    return durable(run, "lending inventory withdraw")


# --- reservations -----------------------------------------------------------------------------


def _check(actor, credit_account: CreditAccount | None, perm: str, action: str) -> None:
    if credit_account is not None:
        require_owner_or_perm(actor, credit_account, perm, action=action)
    else:
        require_permission(actor, perm, action=action)


def _lots_locked(ids) -> dict[int, LendingLot]:
    return {
        lot.pk: lot
        for lot in LendingLot.objects.select_for_update(of=("self",))
        .filter(pk__in=list(ids))
        .order_by("pk")
    }


def _save(row, *, actor, reason: str, fields: list[str]) -> None:
    stamp(row, actor=actor, reason=reason)
    row.save(update_fields=fields)


def _status_of(reservation: ShortReservation) -> str:
    if reservation.outstanding_reserved > 0:
        return ReservationStatus.RESERVED
    if reservation.outstanding_lent > 0:
        return ReservationStatus.LENT
    return ReservationStatus.RETURNED if reservation.lent > 0 else ReservationStatus.RELEASED


def shares_reserve(
    *,
    instrument: Instrument,
    quantity,
    actor,
    reason: str,
    credit_account: CreditAccount | None = None,
    reference: str = "",
    on: date | None = None,
) -> ShortReservation:
    """Hold `quantity` shares of `instrument` for an order (of `credit_account`, when given),
    spread over the lots that may lend on `on` (today by default): house lots first, then
    refinancing ones while the switch is on, oldest first. Refused (RuleViolation
    "inventory_not_available", field `quantity`) beyond what is available."""
    _check(actor, credit_account, RESERVE_PERM, "reserve shares to lend")
    quantity = shares_parsed(quantity)
    reason = reason_required(reason)
    day = on or compliance_selectors.today()
    sources = selectors.lendable_sources(day)
    with transaction.atomic():
        candidates = list(
            LendingLot.objects.select_for_update(of=("self",))
            .filter(instrument=instrument, source__in=sources)
            .order_by("pk")
        )
        candidates.sort(key=lambda lot: (lot.source != LotSource.HOUSE, lot.acquired_on, lot.pk))
        available = sum((lot.available for lot in candidates), ZERO)
        if quantity > available:
            raise RuleViolation(
                _(
                    "quantity: %(quantity)s shares of %(instrument)s exceed the %(available)s "
                    "available to lend (lending inventory quantity - reserved - lent)"
                )
                % {
                    "quantity": fmt_shares(quantity),
                    "instrument": instrument.ledger_unit,
                    "available": fmt_shares(available),
                },
                code="inventory_not_available",
                extra={
                    "field": "quantity",
                    "available": _whole(available),
                    "rule": "quantity <= quantity - reserved - lent",
                },
            )
        reservation = ShortReservation(
            instrument=instrument,
            credit_account=credit_account,
            quantity=quantity,
            reference=(reference or "").strip()[:64],
            reserved_by=actor,
            reason=reason[:300],
        )
        stamp(
            reservation,
            actor=actor,
            reason=f"reserved {fmt_shares(quantity)} {instrument.ledger_unit}: {reason}",
        )
        reservation.save()
        left = quantity
        for lot in candidates:
            take = min(left, lot.available)
            if take <= 0:
                continue
            allocation = ShortReservationAllocation(reservation=reservation, lot=lot, quantity=take)
            stamp(allocation, actor=actor, reason=f"reservation #{reservation.pk}: {reason}")
            allocation.save()
            lot.reserved += take
            _save(
                lot,
                actor=actor,
                reason=f"reserved {fmt_shares(take)} for reservation #{reservation.pk}",
                fields=["reserved"],
            )
            left -= take
            if left == 0:
                break
    return reservation


def _reservation_locked(reservation: ShortReservation):
    locked = ShortReservation.objects.select_for_update(of=("self",)).get(pk=reservation.pk)
    allocations = list(locked.allocations.select_for_update(of=("self",)).order_by("pk"))
    lots = _lots_locked(a.lot_id for a in allocations)
    return locked, allocations, lots


def _quantity_at_most(quantity, limit: Decimal, what: str, reservation) -> Decimal:
    quantity = shares_parsed(quantity)
    if quantity > limit:
        raise RuleViolation(
            _("quantity: %(quantity)s shares exceed the %(limit)s %(what)s on reservation #%(pk)s")
            % {
                "quantity": fmt_shares(quantity),
                "limit": fmt_shares(limit),
                "what": what,
                "pk": reservation.pk,
            },
            code="reservation_quantity",
            extra={"field": "quantity", "allowed": _whole(limit)},
        )
    return quantity


def _spread(
    locked,
    allocations,
    lots,
    quantity,
    *,
    take_from: str,
    counter: str,
    lot_moves: dict,
    actor,
    reason: str,
) -> None:
    """Move `quantity` shares of a reservation, allocation by allocation in the given order:
    each allocation's `counter` rises by what it takes (at most its `take_from`), its lot's
    counters move by `lot_moves` ({field: +1 or -1}); then the reservation's `counter` and
    status. Every row saved with its history row."""
    left = quantity
    for allocation in allocations:
        take = min(left, getattr(allocation, take_from))
        if take <= 0:
            continue
        setattr(allocation, counter, getattr(allocation, counter) + take)
        _save(allocation, actor=actor, reason=f"{counter}: {reason}", fields=[counter])
        lot = lots[allocation.lot_id]
        for field, sign in lot_moves.items():
            setattr(lot, field, getattr(lot, field) + sign * take)
        _save(
            lot,
            actor=actor,
            reason=f"{counter} {fmt_shares(take)} of reservation #{locked.pk}: {reason}",
            fields=list(lot_moves),
        )
        left -= take
        if left == 0:
            break
    setattr(locked, counter, getattr(locked, counter) + quantity)
    locked.status = _status_of(locked)
    _save(
        locked,
        actor=actor,
        reason=f"{counter}: {reason}",
        fields=[counter, "status", "updated_at"],
    )


def reservation_release(*, reservation: ShortReservation, actor, reason: str) -> ShortReservation:
    """Give back what is still reserved (the lent part stays lent)."""
    _check(actor, reservation.credit_account, CHANGE_RESERVATION_PERM, "release a reservation")
    reason = reason_required(reason)
    with transaction.atomic():
        locked, allocations, lots = _reservation_locked(reservation)
        if locked.outstanding_reserved <= 0:
            raise Conflict(
                _("reservation: #%(pk)s holds nothing reserved (%(status)s)")
                % {"pk": locked.pk, "status": locked.get_status_display()},
                extra={"field": "reservation"},
            )
        _spread(
            locked, allocations, lots, locked.outstanding_reserved,
            take_from="outstanding_reserved", counter="released", lot_moves={"reserved": -1},
            actor=actor, reason=reason,
        )  # fmt: skip
    return locked


def reservation_lend(
    *, reservation: ShortReservation, quantity, actor, reason: str
) -> ShortReservation:
    """Reserved -> lent for `quantity` shares (a fill of the short sale), lot by lot in the
    reservation's order."""
    _check(actor, reservation.credit_account, CHANGE_RESERVATION_PERM, "lend reserved shares")
    reason = reason_required(reason)
    with transaction.atomic():
        locked, allocations, lots = _reservation_locked(reservation)
        quantity = _quantity_at_most(
            quantity, locked.outstanding_reserved, _("still reserved"), locked
        )
        _spread(
            locked, allocations, lots, quantity,
            take_from="outstanding_reserved", counter="lent",
            lot_moves={"reserved": -1, "lent": +1}, actor=actor, reason=reason,
        )  # fmt: skip
    return locked


def reservation_return(
    *, reservation: ShortReservation, quantity, actor, reason: str
) -> ShortReservation:
    """Lent -> available for `quantity` shares (covered or returned directly), to the latest
    allocations first (refinancing, which costs, before house)."""
    _check(actor, reservation.credit_account, CHANGE_RESERVATION_PERM, "return lent shares")
    reason = reason_required(reason)
    with transaction.atomic():
        locked, allocations, lots = _reservation_locked(reservation)
        quantity = _quantity_at_most(quantity, locked.outstanding_lent, _("lent"), locked)
        _spread(
            locked, list(reversed(allocations)), lots, quantity,
            take_from="outstanding_lent", counter="returned", lot_moves={"lent": -1},
            actor=actor, reason=reason,
        )  # fmt: skip
    return locked
