"""Restricted short proceeds invested (issue 22): the proceeds of a short sale are restricted;
besides paying covers and being released as the debt is repaid, they may buy money-market
funds or government bonds (category `money_market_govt`) with an own-cash buy. The units so
bought stay restricted (`RestrictedHolding`) while the account has open short positions.

The ledger (custody's chart of accounts, per investor):
- the buy's fill of q units, turnover T, fees F: the cost T + F paid from `short_proceeds`
  first (as far as its balance goes), the rest from `client_money`, one balanced entry keyed
  `fill:{key}`; the holding grows by q x from_proceeds / (T + F) units and from_proceeds.
- a sale's fill of such units: the restricted units go first; their share of the net proceeds
  (net x restricted units sold / units sold) goes back from `client_money` to `short_proceeds`
  (a second entry keyed `fill-restricted:{key}`), the holding shrinks (its cost pro rata).
- the last open short position closed: every holding of the account goes to zero (the units
  are free; no money moves).
Every write composes inside the caller's transaction (an order's fill, a close).
"""

from __future__ import annotations

from decimal import Decimal

from django.db import connection
from django.db.models import Q

from accounts.audit import stamp
from custody import services as custody
from custody.models import EntryKind, JournalEntry
from lending.credit.models import CreditAccount
from lending.domain.formats import fmt, fmt_shares
from lending.instruments.models import Instrument, InstrumentCategory
from lending.shorts.models import RestrictedHolding, ShortPosition, ShortPositionStatus
from lending.shorts.positions import FillLike, _balances, _move, _post, ledger_of

ZERO = Decimal(0)
CENT = Decimal("0.01")
UNIT = Decimal("0.0001")  # QUANTITY precision (accounts.precision)


def may_invest(instrument: Instrument) -> bool:
    """Whether restricted proceeds may buy `instrument` (money-market fund or government bond)."""
    return instrument.category == InstrumentCategory.MONEY_MARKET_GOVT


def has_open_shorts(account: CreditAccount) -> bool:
    return ShortPosition.objects.filter(
        credit_account=account, status=ShortPositionStatus.OPEN
    ).exists()


def restricted_quantity(account: CreditAccount, instrument: Instrument) -> Decimal:
    """Units of `instrument` the account holds restricted (0 without a holding)."""
    row = RestrictedHolding.objects.filter(credit_account=account, instrument=instrument).first()
    return row.quantity if row is not None else ZERO


def restricted_holdings(account: CreditAccount):
    """The account's restricted holdings still holding units (pages)."""
    return (
        RestrictedHolding.objects.filter(credit_account=account, quantity__gt=0)
        .select_related("instrument")
        .order_by("instrument__exchange", "instrument__code")
    )


def _holding_locked(account: CreditAccount, instrument: Instrument) -> RestrictedHolding:
    """The account's holding of `instrument`, locked; a new one (unsaved) when there is none:
    the caller stamps and saves it (the credit account's lock is held)."""
    row = (
        RestrictedHolding.objects.select_for_update(of=("self",))
        .filter(credit_account=account, instrument=instrument)
        .first()
    )
    return row or RestrictedHolding(credit_account=account, instrument=instrument)


def invested_buy_fill_book_in_transaction(
    *, account: CreditAccount, fill: FillLike, actor=None
) -> JournalEntry:
    """Book one fill of an own-cash buy of a money-market or government instrument: paid from
    the restricted proceeds first, then the free cash (see the module docstring). The same fill
    again returns the entry first posted."""
    if not connection.in_atomic_block:
        raise RuntimeError("invested_buy_fill_book_in_transaction needs the caller's transaction")
    key = f"fill:{fill.key}"
    done = JournalEntry.objects.filter(idempotency_key=key).first()
    if done is not None:
        return done
    inst = fill.instrument
    ledger = ledger_of(account.investor, inst, actor)
    balances = _balances(ledger)
    fees = fill.fees
    cost = fill.turnover + fees.total
    from_proceeds = (
        min(cost, max(balances["short_proceeds"], ZERO)) if has_open_shorts(account) else ZERO
    )
    from_cash = cost - from_proceeds
    entry = _post(
        [
            custody.debit(ledger["short_proceeds"], from_proceeds),
            custody.debit(ledger["client_money"], from_cash),
            custody.credit(ledger["settlement"], fill.turnover + fees.to_market),
            custody.credit(ledger["fee_income"], fees.commission),
            custody.debit(ledger["custodian"], fill.quantity),
            custody.credit(ledger["client_securities"], fill.quantity),
        ],
        memo=f"Own-cash buy {fmt_shares(fill.quantity)} {inst.ledger_unit} @ {fill.price} "
        f"(fees {fmt(fees.total)}; {fmt(from_proceeds)} from restricted proceeds) {fill.memo}",
        kind=EntryKind.TRADE,
        key=key,
        on=fill.on,
        actor=actor,
    )
    if from_proceeds > 0:
        units = (fill.quantity * from_proceeds / cost).quantize(UNIT) if cost else ZERO
        holding = _holding_locked(account, inst)
        holding.quantity += units
        holding.amount += from_proceeds
        stamp(
            holding,
            actor=actor,
            reason=f"bought with restricted proceeds: {fmt_shares(units)} for "
            f"{fmt(from_proceeds)}: {fill.memo}"[:300],
        )
        holding.save()
    return entry


def sale_restricted_of(fill_key: str) -> Decimal:
    """What the sale's fill `fill_key` moved back to the restricted proceeds (0: nothing)."""
    done = JournalEntry.objects.filter(idempotency_key=f"fill-restricted:{fill_key}").first()
    if done is None:
        return ZERO
    return sum((p.amount for p in done.postings.all() if p.amount > 0), ZERO)


def sale_restricted_book_in_transaction(
    *, account: CreditAccount, fill: FillLike, net: Decimal, actor=None
) -> Decimal:
    """After a sale's own entry (lending.financing.services.sale_fill_book_in_transaction): the
    restricted units sold first; their share of the net proceeds back to the restricted
    proceeds. Returns that amount (0 when none of the units sold was restricted); the same fill
    again moves nothing more and returns the amount first moved."""
    if not connection.in_atomic_block:
        raise RuntimeError("sale_restricted_book_in_transaction needs the caller's transaction")
    key = f"fill-restricted:{fill.key}"
    if JournalEntry.objects.filter(idempotency_key=key).exists():
        return sale_restricted_of(fill.key)
    inst = fill.instrument
    row = RestrictedHolding.objects.filter(
        credit_account=account, instrument=inst, quantity__gt=0
    ).first()
    if row is None or fill.quantity <= 0:
        return ZERO
    holding = RestrictedHolding.objects.select_for_update(of=("self",)).get(pk=row.pk)
    sold = min(fill.quantity, holding.quantity)
    if sold <= 0:
        return ZERO
    back = max((net * sold / fill.quantity).quantize(CENT), ZERO)
    if sold == holding.quantity:
        cost = holding.amount
    else:
        cost = (holding.amount * sold / holding.quantity).quantize(CENT)
    if back > 0:
        ledger = ledger_of(account.investor, None, actor)
        _balances(ledger)
        _move(
            ledger,
            "client_money",
            "short_proceeds",
            back,
            memo=f"Sale of {fmt_shares(sold)} restricted {inst.ledger_unit}: proceeds "
            f"{fmt(back)} restricted again: {fill.memo}",
            kind=EntryKind.TRANSFER,
            key=key,
            on=fill.on,
            actor=actor,
        )
    holding.quantity -= sold
    holding.amount -= cost
    stamp(
        holding,
        actor=actor,
        reason=f"sold {fmt_shares(sold)} restricted units, {fmt(back)} back to the restricted "
        f"proceeds: {fill.memo}"[:300],
    )
    holding.save()
    return back


def holdings_release_in_transaction(*, account: CreditAccount, memo: str, actor=None) -> int:
    """The account's last open short position closed: its restricted holdings go to zero (the
    units are free; no money moves). Returns how many holdings were released."""
    if has_open_shorts(account):
        return 0
    released = 0
    for holding in RestrictedHolding.objects.select_for_update(of=("self",)).filter(
        Q(quantity__gt=0) | Q(amount__gt=0), credit_account=account
    ):
        holding.quantity = ZERO
        holding.amount = ZERO
        stamp(
            holding,
            actor=actor,
            reason=f"released: no open short position left: {memo}"[:300],
        )
        holding.save()
        released += 1
    return released
