"""权益补偿: a short seller makes the lender whole for a corporate action on the lent security.

Booked on the action's ex-date, inside the ex-date's booking of the corporate action
(lending.financing.corporate_actions), in its transaction and after its locks (the owing
accounts' investors and credit accounts are locked there with the holders'), once per short
position and action (`ShortCompensation`, unique). The positions: every open short position of
the action's instrument sold before the ex-date (the shares it owes at the record date's close,
`quantity_outstanding`).

- cash dividend: amount = shares owed x cash per share, rounded half up to the fen, per
  position; one entry per credit account Dr client `lending_fee_receivable` / Cr house
  `compensation_income` (kind corporate action, effective the ex-date, key
  `short-comp:{action}:a{credit account}`); the position's `compensation_charged` rises by it.
  The investor pays it as it pays the lending fees (from the free cash at the close).
- bonus shares and split: shares = floor(shares owed x ratio) (whole shares, as the holders'
  new shares are rounded), per position: the investor owes that many more shares
  (`quantity_outstanding` rises; the short-sale amount owed is unchanged, as a financed lot's
  principal is). The lender's side: the reservation that lent them lends that many more, spread
  over its allocations in proportion to what each has out (the remainder to the first), and
  each lot holds and lends that many more (its quantity and confirmed quantity too: the lot is
  owed the bonus shares of what it lent). One entry per reservation Dr client
  `short_securities` / Cr the house securities account of each lot's source ("lendable" or
  "refinancing": lending.shorts.services.LEDGER_SUFFIX), key `short-comp:{action}:r{reservation}`.
- rights issues: nothing (the lender may subscribe with its own shares' rights only).

Lock order (after the caller's investors and credit accounts): the reservations, their
allocations, their lots by primary key; then the ledger; then the positions.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from django.db import connection

from accounts.audit import stamp
from custody import services as custody
from custody.models import EntryKind
from lending.credit.locks import lock_in_order
from lending.domain.formats import fmt, fmt_shares
from lending.shorts.models import (
    CompensationKind,
    LendingLot,
    ShortCompensation,
    ShortPosition,
    ShortPositionStatus,
    ShortReservation,
    ShortReservationAllocation,
)
from lending.shorts.services import LEDGER_SUFFIX

CURRENCY = "CNY"
FEN = Decimal("0.01")
SHARE = Decimal(1)
ZERO = Decimal(0)

# lending.financing.models.CorporateActionKind's values (financing sits above shorts)
CASH_DIVIDEND = "cash_dividend"
SHARE_KINDS = ("bonus", "split")


def positions_owing(corporate_action) -> list[ShortPosition]:
    """The open short positions of the action's instrument sold before its ex-date and not yet
    compensated for it (oldest account and position first)."""
    return list(
        ShortPosition.objects.filter(
            instrument_id=corporate_action.instrument_id,
            status=ShortPositionStatus.OPEN,
            opened_on__lt=corporate_action.ex_date,
            quantity_outstanding__gt=0,
        )
        .exclude(compensations__corporate_action_id=corporate_action.pk)
        .order_by("credit_account_id", "pk")
    )


def accounts_owing(corporate_action) -> list[int]:
    """The credit accounts the ex-date's booking locks for the compensation (lock order)."""
    if corporate_action.kind != CASH_DIVIDEND and corporate_action.kind not in SHARE_KINDS:
        return []
    return sorted({p.credit_account_id for p in positions_owing(corporate_action)})


def _save(row, *, actor, reason: str, fields: list[str]) -> None:
    stamp(row, actor=actor, reason=reason[:300])
    row.save(update_fields=fields)


def _lend_more(reservations: dict[int, Decimal], *, reason: str, actor) -> dict:
    """Each reservation lends `shares` more (module docstring); returns {reservation id:
    {lot source: shares}} for the ledger."""
    locked = {
        r.pk: r
        for r in ShortReservation.objects.select_for_update(of=("self",))
        .filter(pk__in=list(reservations))
        .order_by("pk")
    }
    allocations = list(
        ShortReservationAllocation.objects.select_for_update(of=("self",))
        .filter(reservation_id__in=list(reservations))
        .order_by("reservation_id", "pk")
    )
    lots = {
        lot.pk: lot
        for lot in LendingLot.objects.select_for_update(of=("self",))
        .filter(pk__in={a.lot_id for a in allocations})
        .order_by("pk")
    }
    by_reservation = defaultdict(list)
    for allocation in allocations:
        if allocation.outstanding_lent > 0:
            by_reservation[allocation.reservation_id].append(allocation)
    sources: dict[int, dict[str, Decimal]] = {}
    for reservation_id, shares in sorted(reservations.items()):
        out = by_reservation[reservation_id]
        if not out:  # the positions' shares are lent by their reservation: never
            raise RuntimeError(f"reservation #{reservation_id} has nothing lent to grow")
        lent = sum((a.outstanding_lent for a in out), ZERO)
        adds = [(shares * a.outstanding_lent / lent).quantize(SHARE, ROUND_DOWN) for a in out]
        adds[0] += shares - sum(adds, ZERO)
        spread: dict[str, Decimal] = defaultdict(Decimal)
        for allocation, add in zip(out, adds, strict=True):
            if add <= 0:
                continue
            allocation.quantity += add
            allocation.lent += add
            _save(allocation, actor=actor, reason=reason, fields=["quantity", "lent"])
            lot = lots[allocation.lot_id]
            lot.confirmed_quantity += add
            lot.quantity += add
            lot.lent += add
            _save(
                lot,
                actor=actor,
                reason=f"{fmt_shares(add)} more lent by reservation #{reservation_id}: {reason}",
                fields=["confirmed_quantity", "quantity", "lent"],
            )
            spread[lot.source] += add
        reservation = locked[reservation_id]
        reservation.quantity += shares
        reservation.lent += shares
        _save(reservation, actor=actor, reason=reason, fields=["quantity", "lent", "updated_at"])
        sources[reservation_id] = dict(spread)
    return sources


def short_compensation_book_in_transaction(*, corporate_action, actor) -> list[ShortCompensation]:
    """Book the compensation of every short position owing `corporate_action` (module
    docstring), in the caller's transaction; once per position and action."""
    if not connection.in_atomic_block:
        raise RuntimeError("short_compensation_book_in_transaction needs the caller's transaction")
    action = corporate_action
    cash = action.kind == CASH_DIVIDEND
    if not cash and action.kind not in SHARE_KINDS:
        return []
    owing = positions_owing(action)
    if not owing:
        return []
    # already locked by the ex-date's booking (a lock held is taken again at no cost)
    locked = lock_in_order(credit_account_ids=[p.credit_account_id for p in owing])
    unit = action.instrument.ledger_unit
    what = f"corporate action #{action.pk}, {action.kind}, ex {action.ex_date}, " + (
        f"{action.cash_per_share}/share" if cash else f"ratio {action.ratio}"
    )
    owed: dict[int, Decimal] = {}
    for position in owing:
        if cash:
            value = (position.quantity_outstanding * action.cash_per_share).quantize(
                FEN, rounding=ROUND_HALF_UP
            )
        else:
            value = (position.quantity_outstanding * action.ratio).quantize(
                SHARE, rounding=ROUND_DOWN
            )
        if value > 0:
            owed[position.pk] = value
    positions = [p for p in owing if p.pk in owed]
    if not positions:
        return []
    specs: list[custody.EntrySpec] = []
    key_of: dict[int, str] = {}  # position id -> its entry's key
    if cash:
        income = custody.house_account("compensation_income", CURRENCY, actor=actor)
        per_account: dict[int, list[ShortPosition]] = defaultdict(list)
        for position in positions:
            per_account[position.credit_account_id].append(position)
        for account_id, rows in sorted(per_account.items()):
            investor = locked.credit_accounts[account_id].investor
            receivable = custody.client_account(
                investor, "lending_fee_receivable", CURRENCY, actor=actor
            )
            amount = sum((owed[p.pk] for p in rows), ZERO)
            shares = sum((p.quantity_outstanding for p in rows), ZERO)
            key = f"short-comp:{action.pk}:a{account_id}"
            specs.append(
                custody.EntrySpec(
                    legs=[custody.debit(receivable, amount), custody.credit(income, amount)],
                    memo=f"Short seller's compensation for the cash dividend {fmt(amount)} on "
                    f"{fmt_shares(shares)} {unit} owed ({what}, {action.source_reference})",
                    kind=EntryKind.CORPORATE_ACTION,
                    idempotency_key=key,
                    effective_date=action.ex_date,
                )
            )
            key_of.update({p.pk: key for p in rows})
    else:
        per_reservation: dict[int, list[ShortPosition]] = defaultdict(list)
        for position in positions:
            per_reservation[position.reservation_id].append(position)
        sources = _lend_more(
            {r: sum((owed[p.pk] for p in rows), ZERO) for r, rows in per_reservation.items()},
            reason=f"bonus shares owed by short sellers: {what}",
            actor=actor,
        )
        for reservation_id, rows in sorted(per_reservation.items()):
            investor = locked.credit_accounts[rows[0].credit_account_id].investor
            short = custody.client_account(investor, "short_securities", unit, actor=actor)
            shares = sum((owed[p.pk] for p in rows), ZERO)
            legs = [custody.debit(short, shares)]
            for source, quantity in sorted(sources[reservation_id].items()):
                house = custody.house_account(
                    "house_securities", unit, suffix=LEDGER_SUFFIX[source], actor=actor
                )
                legs.append(custody.credit(house, quantity))
            key = f"short-comp:{action.pk}:r{reservation_id}"
            specs.append(
                custody.EntrySpec(
                    legs=legs,
                    memo=f"Short seller's compensation: {fmt_shares(shares)} {unit} bonus shares "
                    f"owed on {fmt_shares(sum((p.quantity_outstanding for p in rows), ZERO))} "
                    f"owed ({what}, {action.source_reference})",
                    kind=EntryKind.CORPORATE_ACTION,
                    idempotency_key=key,
                    effective_date=action.ex_date,
                )
            )
            key_of.update({p.pk: key for p in rows})
    posted = custody.entries_post_in_transaction(entries=specs, actor=actor)
    by_key = {entry.idempotency_key: entry for entry in posted}
    # the positions last, locked, each with its compensation row
    rows = []
    for position in (
        ShortPosition.objects.select_for_update(of=("self",))
        .filter(pk__in=[p.pk for p in positions])
        .order_by("pk")
    ):
        value = owed[position.pk]
        row = ShortCompensation(
            position=position,
            corporate_action_id=action.pk,
            kind=CompensationKind.CASH if cash else CompensationKind.SHARES,
            quantity_owed=position.quantity_outstanding,
            entry=by_key[key_of[position.pk]],
        )
        if cash:
            row.amount = value
            position.compensation_charged += value
            field, change = "compensation_charged", f"{fmt(value)} charged"
        else:
            row.shares = value
            position.quantity_outstanding += value
            field, change = "quantity_outstanding", f"{fmt_shares(value)} more shares owed"
        stamp(position, actor=actor, reason=f"compensation {change}: {what}"[:300])
        position.save(update_fields=[field])
        rows.append(row)
    ShortCompensation.objects.bulk_create(rows)
    return rows
