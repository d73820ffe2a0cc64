"""Short positions (融券负债): booked from the market's fills, closed by covers and returns.

Every write here composes inside the caller's transaction (the order's fill, the direct
return's own service), after the credit account's lock (lending.credit.locks), and posts its
ledger entries keyed by the fill or request so a repeat changes nothing.

The ledger (custody's chart of accounts, per investor):
- a short sale fill of q shares, turnover T, fees F: Dr settlement T - F(to market), Cr the
  restricted proceeds `short_proceeds` T, the fees from the free cash (`client_money`) as far as
  it goes and from the proceeds for the rest, Cr fee_income the commission; the shares:
  Dr `short_securities` q (what the investor owes the inventory) / Cr custodian q (delivered
  to the buyer). The reservation's shares move from reserved to lent.
- a cover fill (buy to cover, forced buy-in): the cost T + F paid from the restricted proceeds
  first, then the free cash, a shortfall left owed in `lending_fee_receivable`; the shares
  Dr custodian / Cr `short_securities` (any shares beyond what is owed go to the investor's
  `client_securities`).
- a direct return (直接还券): Dr `client_securities` q / Cr `short_securities` q.
Then, for every close: the positions of the instrument oldest first give up the shares
returned and their share of the short-sale amount (pro rata, to the cent); the lending fee is
brought up to the day before (ACT/360 per position and day, the end of day's rule), one day
for a position opened and closed the same day; the reservation's lots get their shares back;
the restricted proceeds above what the open positions still need (Σ amount owed) are
released to the free cash; and the fees owed are paid from the free cash as far as it goes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Protocol

from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import RuleViolation
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from custody import services as custody
from custody.models import AccountBalance, EntryKind, JournalEntry, LedgerAccount
from lending.credit.models import CreditAccount, CreditContract
from lending.domain.fees import daily_lending_fee
from lending.domain.formats import fmt, fmt_shares
from lending.instruments.models import Instrument
from lending.shorts import services as reservations
from lending.shorts.models import ShortPosition, ShortPositionStatus, ShortReservation

CURRENCY = "CNY"
ZERO = Decimal(0)
CENT = Decimal("0.01")


class FillLike(Protocol):
    """A fill as the order booking hands it over (lending.financing.services.TradeFill)."""

    key: str
    instrument: Instrument
    quantity: Decimal
    price: Decimal
    turnover: Decimal
    fees: object  # lending.domain.fees.Fees
    on: date
    memo: str


# --- the ledger -------------------------------------------------------------------------------


def ledger_of(
    investor, instrument: Instrument | None = None, actor=None
) -> dict[str, LedgerAccount]:
    """The investor's accounts a short booking touches (opened on first use)."""
    result = {
        name: custody.client_account(investor, name, CURRENCY, actor=actor)
        for name in ("client_money", "short_proceeds", "lending_fee_receivable")
    }
    result["settlement"] = custody.house_account("settlement", CURRENCY, actor=actor)
    result["fee_income"] = custody.house_account("fee_income", CURRENCY, actor=actor)
    result["lending_fee_income"] = custody.house_account(
        "lending_fee_income", CURRENCY, actor=actor
    )
    if instrument is not None:
        unit = instrument.ledger_unit
        result["short_securities"] = custody.client_account(
            investor, "short_securities", unit, actor=actor
        )
        result["client_securities"] = custody.client_account(
            investor, "client_securities", unit, actor=actor
        )
        result["custodian"] = custody.house_account("custodian", unit, actor=actor)
    return result


def _balances(ledger: dict[str, LedgerAccount]) -> dict[str, Decimal]:
    """Each account's balance on its normal side, under the balance rows' locks."""
    rows = custody.balances_lock(ledger.values())
    out = {}
    for name, account in ledger.items():
        row: AccountBalance | None = rows.get(account.pk)
        out[name] = custody.normal_balance(row) if row is not None else ZERO
    return out


def _move(ledger, debit: str, credit: str, amount: Decimal, **entry) -> JournalEntry:
    """A two-leg entry: Dr ledger[debit] / Cr ledger[credit] `amount` (memo, kind, key, on,
    actor as `_post`)."""
    return _post(
        [custody.debit(ledger[debit], amount), custody.credit(ledger[credit], amount)], **entry
    )


def _post(legs, *, memo: str, kind: str, key: str, on: date, actor) -> JournalEntry:
    return custody.entry_post_in_transaction(
        legs=[leg for leg in legs if leg.amount != 0],
        memo=memo[:500],
        kind=kind,
        actor=actor,
        idempotency_key=key,
        effective_date=on,
    )


# --- terms ------------------------------------------------------------------------------------


def fee_rate_on(on: date) -> Decimal:
    """The annual lending fee rate of a short sale on `on` (dated parameter)."""
    return compliance_selectors.parameter(P.SHORT_FEE_RATE_STANDARD, on=on)


def due_on_for(*, opened_on: date, contract: CreditContract) -> date:
    """The dated maximum term after the sale, never after the contract's end."""
    months = int(compliance_selectors.parameter(P.SHORT_MAX_TERM_MONTHS, on=opened_on))
    return min(calendar.add_months(opened_on, months), contract.ends_on)


# --- opening ----------------------------------------------------------------------------------


def short_sale_fill_book_in_transaction(
    *,
    account: CreditAccount,
    contract: CreditContract,
    reservation: ShortReservation,
    fill: FillLike,
    actor=None,
) -> ShortPosition:
    """Book one fill of a short sale (see the module docstring): a short position, the
    restricted proceeds, the shares delivered from the inventory. The market filled it: no
    check refuses it here (the order's ran when it was placed). The same fill again returns
    the position first booked."""
    if not connection.in_atomic_block:
        raise RuntimeError("short_sale_fill_book_in_transaction needs the caller's transaction")
    key = f"fill:{fill.key}"
    done = ShortPosition.objects.filter(idempotency_key=key).first()
    if done is not None:
        return done
    inst = fill.instrument
    ledger = ledger_of(account.investor, inst, actor)
    balances = _balances(ledger)
    fees = fill.fees
    from_cash = min(fees.total, max(balances["client_money"], ZERO))
    from_proceeds = fees.total - from_cash
    restricted = fill.turnover - from_proceeds
    entry = _post(
        [
            custody.debit(ledger["settlement"], fill.turnover - fees.to_market),
            custody.debit(ledger["client_money"], from_cash),
            custody.credit(ledger["short_proceeds"], restricted),
            custody.credit(ledger["fee_income"], fees.commission),
            custody.debit(ledger["short_securities"], fill.quantity),
            custody.credit(ledger["custodian"], fill.quantity),
        ],
        memo=f"Short sale {fmt_shares(fill.quantity)} {inst.ledger_unit} @ {fill.price} "
        f"(fees {fmt(fees.total)}; proceeds {fmt(restricted)} restricted) {fill.memo}",
        kind=EntryKind.TRADE,
        key=key,
        on=fill.on,
        actor=actor,
    )
    reservations.reservation_lend(
        reservation=reservation,
        quantity=fill.quantity,
        actor=actor,
        reason=f"short sale fill: {fill.memo}"[:300],
    )
    position = ShortPosition(
        credit_account=account,
        contract=contract,
        instrument=inst,
        reservation=reservation,
        quantity=fill.quantity,
        price=fill.price,
        amount=fill.turnover,
        quantity_outstanding=fill.quantity,
        amount_outstanding=fill.turnover,
        fee_rate=fee_rate_on(fill.on),
        opened_on=fill.on,
        due_on=due_on_for(opened_on=fill.on, contract=contract),
        idempotency_key=key,
        entry=entry,
        created_by=actor,
        reason=fill.memo[:300],
    )
    stamp(
        position,
        actor=actor,
        reason=f"short sale {fmt_shares(fill.quantity)} @ {fill.price}: {fill.memo}",
    )
    position.save()
    short_stop_evaluate(instrument_id=inst.pk, actor=actor, on=fill.on)
    return position


# --- closing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CloseResult:
    quantity: Decimal  # shares returned to the inventory
    amount_released: Decimal  # short-sale amount the returned shares no longer owe
    fees_charged: Decimal  # lending fees accrued by this close (catch-up and same day)
    fees_paid: Decimal  # fees paid from the free cash
    proceeds_released: Decimal  # restricted proceeds released to the free cash
    positions: list[ShortPosition]


def open_positions_locked(account: CreditAccount, instrument: Instrument | None = None):
    rows = ShortPosition.objects.select_for_update(of=("self",)).filter(
        credit_account=account, status=ShortPositionStatus.OPEN
    )
    if instrument is not None:
        rows = rows.filter(instrument=instrument)
    return list(rows.order_by("opened_on", "pk"))


def owed_quantity(account: CreditAccount, instrument: Instrument) -> Decimal:
    """Shares of `instrument` the account owes (open short positions)."""
    return sum(
        (
            p.quantity_outstanding
            for p in ShortPosition.objects.filter(
                credit_account=account, instrument=instrument, status=ShortPositionStatus.OPEN
            )
        ),
        ZERO,
    )


def _catch_up_days(position: ShortPosition, on: date) -> int:
    """Days not yet accrued before `on` (the fee of `on` itself is the end of day's)."""
    start = (
        position.fee_accrued_through + timedelta(days=1)
        if position.fee_accrued_through is not None
        else position.opened_on
    )
    return max((on - start).days, 0)


def _close_in_transaction(
    *,
    account: CreditAccount,
    instrument: Instrument,
    quantity: Decimal,
    ledger: dict[str, LedgerAccount],
    on: date,
    key: str,
    memo: str,
    actor,
) -> CloseResult:
    """Take `quantity` returned shares off the positions of `instrument`, oldest first; then
    the fee catch-up, the lots' shares back, the release of proceeds and the fee payment."""
    # the float stop as the balance stands before and after the close (a stop reached since the
    # last evaluation is recorded before the balance falls)
    short_stop_evaluate(instrument_id=instrument.pk, actor=actor, on=on)
    positions = open_positions_locked(account, instrument)
    left = quantity
    charged = ZERO
    released_amount = ZERO
    touched: list[ShortPosition] = []
    for position in positions:
        if left <= 0:
            break
        take = min(left, position.quantity_outstanding)
        days = _catch_up_days(position, on)
        fee = daily_lending_fee(position.amount_outstanding, position.fee_rate) * days
        if days:
            position.fee_accrued_through = on - timedelta(days=1)
        if take == position.quantity_outstanding:
            part = position.amount_outstanding
        else:
            part = (position.amount_outstanding * take / position.quantity_outstanding).quantize(
                CENT
            )
        if position.opened_on == on:  # opened and closed the same day: one day's fee
            fee += daily_lending_fee(part, position.fee_rate)
        position.fee_accrued += fee
        charged += fee
        position.quantity_outstanding -= take
        position.amount_outstanding -= part
        released_amount += part
        if position.quantity_outstanding == 0:
            position.status = ShortPositionStatus.CLOSED
            position.closed_on = on
        reservations.reservation_return(
            reservation=position.reservation,
            quantity=take,
            actor=actor,
            reason=f"returned: {memo}"[:300],
        )
        touched.append(position)
        left -= take
    if left > 0:  # the callers check first; this is the last guard
        raise RuleViolation(
            _("quantity: %(quantity)s shares exceed the %(owed)s owed on %(instrument)s")
            % {
                "quantity": fmt_shares(quantity),
                "owed": fmt_shares(quantity - left),
                "instrument": instrument.ledger_unit,
            },
            code="short_quantity_owed",
            extra={"field": "quantity", "owed": str(quantity - left)},
        )
    if charged:
        _move(
            ledger,
            "lending_fee_receivable",
            "lending_fee_income",
            charged,
            memo=f"Lending fee to {on.isoformat()} on {instrument.ledger_unit} returned: {memo}",
            kind=EntryKind.FEE,
            key=f"{key}:fee",
            on=on,
            actor=actor,
        )
    # the restricted proceeds above what the open positions still owe go to the free cash
    still_owed = sum(
        (
            p.amount_outstanding
            for p in ShortPosition.objects.filter(
                credit_account=account, status=ShortPositionStatus.OPEN
            ).exclude(pk__in=[p.pk for p in touched])
        ),
        ZERO,
    ) + sum((p.amount_outstanding for p in touched), ZERO)
    balances = _balances(ledger)
    release = max(balances["short_proceeds"] - still_owed, ZERO)
    if release:
        _move(
            ledger,
            "short_proceeds",
            "client_money",
            release,
            memo=f"Restricted short proceeds released ({instrument.ledger_unit} returned): {memo}",
            kind=EntryKind.TRANSFER,
            key=f"{key}:release",
            on=on,
            actor=actor,
        )
    # the fees owed on these positions, from the free cash as far as it goes
    owed_fees = sum((p.fee_accrued for p in touched), ZERO)
    cash = balances["client_money"] + release
    paid = min(owed_fees, max(cash, ZERO), balances["lending_fee_receivable"])
    if paid > 0:
        _move(
            ledger,
            "client_money",
            "lending_fee_receivable",
            paid,
            memo=f"Lending fees paid ({instrument.ledger_unit} returned): {memo}",
            kind=EntryKind.FEE,
            key=f"{key}:fee-paid",
            on=on,
            actor=actor,
        )
    left_to_pay = paid
    for position in touched:
        pay = min(left_to_pay, position.fee_accrued)
        position.fee_accrued -= pay
        position.fee_paid += pay
        left_to_pay -= pay
        stamp(position, actor=actor, reason=f"returned: {memo}"[:300])
        position.save()
    # the last open position closed: the units bought with restricted proceeds are free
    from lending.shorts import proceeds  # here: proceeds builds on this module

    proceeds.holdings_release_in_transaction(account=account, memo=memo, actor=actor)
    short_stop_evaluate(instrument_id=instrument.pk, actor=actor, on=on)
    for hook in list(CLOSED_HOOKS):
        hook(account, touched, actor=actor)
    return CloseResult(quantity, released_amount, charged, paid, release, touched)


#: Run inside a close's transaction (a cover, a forced buy-in, a direct return) with (account,
#: the positions it touched, actor): a higher area acts on what the close cleared
#: (margin_calls closes a maturity call once no overdue position is left; registered when
#: Django starts, lending.apps), as lending.financing.services.REPAID_HOOKS for a repayment.
CLOSED_HOOKS: list = []


def cover_fill_book_in_transaction(
    *, account: CreditAccount, fill: FillLike, actor=None
) -> JournalEntry:
    """Book one fill of a buy to cover or a forced buy-in (see the module docstring). The same
    fill again returns the entry first posted."""
    if not connection.in_atomic_block:
        raise RuntimeError("cover_fill_book_in_transaction needs the caller's transaction")
    key = f"fill:{fill.key}"
    done = JournalEntry.objects.filter(idempotency_key=key).first()
    if done is not None:
        return done
    inst = fill.instrument
    ledger = ledger_of(account.investor, inst, actor)
    balances = _balances(ledger)
    owed = owed_quantity(account, inst)
    covered = min(fill.quantity, owed)
    extra = fill.quantity - covered
    fees = fill.fees
    cost = fill.turnover + fees.total
    from_proceeds = min(cost, max(balances["short_proceeds"], ZERO))
    from_cash = min(cost - from_proceeds, max(balances["client_money"], ZERO))
    shortfall = cost - from_proceeds - from_cash
    entry = _post(
        [
            custody.debit(ledger["short_proceeds"], from_proceeds),
            custody.debit(ledger["client_money"], from_cash),
            custody.debit(ledger["lending_fee_receivable"], shortfall),
            custody.credit(ledger["settlement"], fill.turnover + fees.to_market),
            custody.credit(ledger["fee_income"], fees.commission),
            custody.debit(ledger["custodian"], fill.quantity),
            custody.credit(ledger["short_securities"], covered),
            custody.credit(ledger["client_securities"], extra),
        ],
        memo=f"Buy to cover {fmt_shares(fill.quantity)} {inst.ledger_unit} @ {fill.price} "
        f"(fees {fmt(fees.total)}; {fmt(from_proceeds)} from restricted proceeds"
        + (f", {fmt(shortfall)} owed" if shortfall else "")
        + f") {fill.memo}",
        kind=EntryKind.TRADE,
        key=key,
        on=fill.on,
        actor=actor,
    )
    if covered > 0:
        _close_in_transaction(
            account=account,
            instrument=inst,
            quantity=covered,
            ledger=ledger,
            on=fill.on,
            key=key,
            memo=fill.memo,
            actor=actor,
        )
    return entry


@dataclass(frozen=True)
class ReturnResult:
    """A direct return as booked: its entry, the shares, what it released and paid."""

    entry: JournalEntry
    quantity: Decimal
    proceeds_released: Decimal
    fees_paid: Decimal


def _entry_amount(key: str, purpose: str) -> Decimal:
    entry = JournalEntry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return ZERO
    return sum(
        (
            abs(p.amount)
            for p in entry.postings.all()
            if p.account.purpose == purpose and p.amount > 0
        ),
        ZERO,
    )


def return_result_of(key: str) -> ReturnResult | None:
    """The direct return booked under `key`, if any (a repeated request gets it back)."""
    entry = JournalEntry.objects.filter(idempotency_key=key).first()
    if entry is None:
        return None
    quantity = sum(
        (
            p.amount
            for p in entry.postings.select_related("account")
            if p.account.purpose == "client_securities" and p.amount > 0
        ),
        ZERO,
    )
    return ReturnResult(
        entry,
        quantity,
        _entry_amount(f"{key}:release", "short_proceeds"),
        _entry_amount(f"{key}:fee-paid", "client_money"),
    )


def direct_return_book_in_transaction(
    *,
    account: CreditAccount,
    instrument: Instrument,
    quantity: Decimal,
    key: str,
    memo: str,
    actor,
) -> ReturnResult:
    """Book a direct return (直接还券) the caller has checked: the investor's shares go back to
    the inventory (Dr client_securities / Cr short_securities), then the close."""
    if not connection.in_atomic_block:
        raise RuntimeError("direct_return_book_in_transaction needs the caller's transaction")
    ledger = ledger_of(account.investor, instrument, actor)
    _balances(ledger)  # the balance rows locked before the positions move
    on = timezone.localdate()
    entry = _move(
        ledger,
        "client_securities",
        "short_securities",
        quantity,
        memo=f"Direct return {fmt_shares(quantity)} {instrument.ledger_unit}: {memo}",
        kind=EntryKind.SECURITIES,
        key=key,
        on=on,
        actor=actor,
    )
    result = _close_in_transaction(
        account=account,
        instrument=instrument,
        quantity=quantity,
        ledger=ledger,
        on=on,
        key=key,
        memo=memo,
        actor=actor,
    )
    return ReturnResult(entry, quantity, result.proceeds_released, result.fees_paid)


def open_positions(account: CreditAccount):
    """The account's open short positions, oldest first (pages, API, statements)."""
    return (
        ShortPosition.objects.filter(credit_account=account, status=ShortPositionStatus.OPEN)
        .select_related("instrument")
        .order_by("opened_on", "pk")
    )


def lending_receivable_of(account: CreditAccount) -> Decimal:
    """What the investor owes on the lending side now (lending_fee_receivable's balance)."""
    ledger = ledger_of(account.investor, None, None)
    return _balances({"owed": ledger["lending_fee_receivable"]})["owed"]


def lending_receivable_pay_in_transaction(
    *, account: CreditAccount, available: Decimal, key: str, memo: str, on: date, actor=None
) -> Decimal:
    """Pay what the investor owes on the lending side (fees, compensation, a buy-in's
    shortfall: `lending_fee_receivable`) from its free cash, at most `available` (a sale's
    proceeds left after the financing: a sale to repay or a liquidation pays every debt to the
    desk). The fees paid come off the positions' accrued fees, oldest first. Returns the amount
    paid; the same key again pays nothing more."""
    if not connection.in_atomic_block:
        raise RuntimeError("lending_receivable_pay_in_transaction needs the caller's transaction")
    if available <= 0 or JournalEntry.objects.filter(idempotency_key=key).exists():
        return ZERO
    ledger = ledger_of(account.investor, None, actor)
    balances = _balances(ledger)
    paid = min(available, balances["lending_fee_receivable"], max(balances["client_money"], ZERO))
    if paid <= 0:
        return ZERO
    _move(
        ledger,
        "client_money",
        "lending_fee_receivable",
        paid,
        memo=f"Securities lending receivable paid from sale proceeds: {memo}",
        kind=EntryKind.FEE,
        key=key,
        on=on,
        actor=actor,
    )
    left = paid
    for position in (
        ShortPosition.objects.select_for_update(of=("self",))
        .filter(credit_account=account, fee_accrued__gt=0)
        .order_by("opened_on", "pk")
    ):
        if left <= 0:
            break
        pay = min(left, position.fee_accrued)
        position.fee_accrued -= pay
        position.fee_paid += pay
        left -= pay
        stamp(position, actor=actor, reason=f"fees paid from sale proceeds: {memo}"[:300])
        position.save(update_fields=["fee_accrued", "fee_paid"])
    return paid


# --- the float stop (desk-wide, with hysteresis) ----------------------------------------------


def short_balance(instrument_id: int) -> Decimal:
    """Shares of the instrument the open short positions owe, desk-wide."""
    total = ShortPosition.objects.filter(
        instrument_id=instrument_id, status=ShortPositionStatus.OPEN
    ).aggregate(total=Sum("quantity_outstanding"))["total"]
    return total or ZERO


def short_stop_evaluate(*, instrument_id: int, actor=None, on: date | None = None) -> Instrument:
    """DOMAIN.md: short sales of a security stop when its short balance reaches the dated
    `shorts.float_stop` (25 %) of its tradable shares and resume only below
    `shorts.float_resume` (20 %). The state is kept on the instrument (`shorts_stopped`, with
    its history) and evaluated where the balance or its measure moves: each short sale fill,
    before and after each close, and each short sale's check (a float changed since). An
    instrument without a tradable float on record counts as stopped. Call inside a transaction
    (locks the instrument)."""
    instrument = Instrument.objects.select_for_update(of=("self",)).get(pk=instrument_id)
    day = on or timezone.localdate()
    balance = short_balance(instrument_id)
    tradable = Decimal(instrument.tradable_float)
    stop = compliance_selectors.parameter(P.SHORT_FLOAT_STOP, on=day)
    resume = compliance_selectors.parameter(P.SHORT_FLOAT_RESUME, on=day)
    share = balance / tradable if tradable > 0 else None
    if not instrument.shorts_stopped and (share is None or share >= stop):
        instrument.shorts_stopped = True
        why = (
            f"short sales stopped: short balance {fmt_shares(balance)} = {share:.4%} of the "
            f"tradable float >= {stop:.2%}"
            if share is not None
            else "short sales stopped: no tradable float on record"
        )
    elif instrument.shorts_stopped and share is not None and share < resume:
        instrument.shorts_stopped = False
        why = (
            f"short sales resumed: short balance {fmt_shares(balance)} = {share:.4%} of the "
            f"tradable float < {resume:.2%}"
        )
    else:
        return instrument
    stamp(instrument, actor=actor, reason=why)
    instrument.save(update_fields=["shorts_stopped"])
    return instrument
