"""What is booked on a credit account: financed and own-cash purchases, sales, repayments,
daily interest and its monthly collection, withdrawals of cash and transfers of shares out.
(Instruments, collateral policy and prices are lending.instruments.services.)

Journal entries (custody ledger; "qty" legs are in the instrument's unit, e.g. SSE:600519):

* financed buy (drawdown) of amount A, quantity q:
    Dr client financing_receivable A / Cr house settlement A;
    Dr house custodian q / Cr client client_securities q                 (kind "financing")
* own-cash buy: Dr client client_money A / Cr house settlement A; securities legs as above
                                                                          (kind "trade")
* sale of q for proceeds P: Dr house settlement P / Cr client client_money P;
    Dr client client_securities q / Cr house custodian q                  (kind "trade")
  then the repayment (proceeds repay financing first, interest before principal):
    Dr client_money r / Cr interest_receivable i / Cr financing_receivable p   (kind "financing")
* repayment from cash: the repayment entry above.
* daily interest (ACT/360 on outstanding principal at the contract rate, one entry per
  contract and day): Dr client interest_receivable / Cr house interest_income  (kind "interest")
* monthly interest collection: Dr client_money / Cr interest_receivable (what the cash
  cannot cover stays receivable)                                         (kind "interest")
* cash withdrawal: custody.services.client_withdrawal_post_in_transaction
  (Dr client_money / Cr house client_bank); securities withdrawal (transfer out):
  Dr client_securities q / Cr house custodian q                          (kind "securities")

Rules
* Keyword-only arguments; the acting user is passed in; money moves carry an idempotency key
  (same key and same request returns the first result; another request with it is a Conflict).
* Top-level money services run in `transaction.atomic(durable=True)` and retry transient
  clashes (custody's run_retrying); `*_in_transaction` variants compose in a caller's
  transaction (liquidation execution calls `position_sell_in_transaction`).
* Locks: the desk's lock order first (written down once, in lending.credit.locks; its last
  step is the ledger balance rows), then this module's own rows: financings, then the instrument.
* Financing rows allocate the ledger balances per lot: repayments pay interest first, then
  principal, oldest financing first (a sale first repays the sold instrument's financings).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.db import IntegrityError, connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.bulk import rows_update_with_history
from accounts.errors import Conflict, RuleViolation, ValidationFailed
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from custody import services as custody
from custody.models import EntryKind, JournalEntry, LedgerAccount
from lending.common.inputs import (
    MAGNITUDE_LIMIT,
    decimal_parsed,
    idempotency_key_required,
    reason_required,
    shares_parsed,
)
from lending.common.transactions import durable
from lending.credit.locks import credit_account_lock, lock_in_order, open_credit_account_lock
from lending.credit.models import ContractStatus, CreditAccount, CreditAccountStatus, CreditContract
from lending.credit.permissions import require_owner_or_perm
from lending.domain import margin
from lending.domain.formats import fmt, fmt_ratio, fmt_shares, money_rounded
from lending.financing.models import (
    Financing,
    FinancingStatus,
    InterestAccrual,
    WithdrawalKind,
    WithdrawalRequest,
)
from lending.financing.valuation import account_view
from lending.instruments.models import Instrument

logger = logging.getLogger(__name__)


CURRENCY = "CNY"


ZERO = Decimal(0)


DAYS_IN_YEAR = Decimal(360)  # ACT/360


def today() -> date:
    return timezone.localdate()


def _accounts(
    investor, instrument: Instrument | None = None, actor=None
) -> dict[str, LedgerAccount]:
    result = {
        "client_money": custody.client_account(investor, "client_money", CURRENCY, actor=actor),
        "financing_receivable": custody.client_account(
            investor, "financing_receivable", CURRENCY, actor=actor
        ),
        "interest_receivable": custody.client_account(
            investor, "interest_receivable", CURRENCY, actor=actor
        ),
        "settlement": custody.house_account("settlement", CURRENCY, actor=actor),
    }
    if instrument is not None:
        unit = instrument.ledger_unit
        result["client_securities"] = custody.client_account(
            investor, "client_securities", unit, actor=actor
        )
        result["custodian"] = custody.house_account("custodian", unit, actor=actor)
    return result


def financing_stop_evaluate(
    *, instrument: Instrument, actor=None, price: Decimal | None = None
) -> Instrument:
    """Desk-wide float rule with hysteresis: new financing of a security stops when its
    financing balance reaches the stop fraction (25%) of its tradable float's value and resumes
    only below the resume fraction (20%). Call inside a transaction (locks the instrument)."""
    instrument = (
        Instrument.objects.select_for_update(of=("self",))
        .select_related("latest_price")
        .get(pk=instrument.pk)
    )
    if price is None:
        latest = getattr(instrument, "latest_price", None)
        price = latest.price if latest else None
    if not price:
        return instrument
    balance = sum(
        Financing.objects.filter(instrument=instrument, status=FinancingStatus.OPEN).values_list(
            "principal_outstanding", flat=True
        ),
        ZERO,
    )
    share = balance / (Decimal(instrument.tradable_float) * price)
    stop = compliance_selectors.parameter(P.FLOAT_STOP_FRACTION)
    resume = compliance_selectors.parameter(P.FLOAT_RESUME_FRACTION)
    if not instrument.financing_stopped and share >= stop:
        instrument.financing_stopped = True
        stamp(
            instrument,
            actor=actor,
            reason=f"financing stopped: {fmt_ratio(share)} of float ≥ {fmt_ratio(stop)}",
        )
        instrument.save(update_fields=["financing_stopped"])
    elif instrument.financing_stopped and share < resume:
        instrument.financing_stopped = False
        stamp(
            instrument,
            actor=actor,
            reason=f"financing resumed: {fmt_ratio(share)} of float < {fmt_ratio(resume)}",
        )
        instrument.save(update_fields=["financing_stopped"])
    return instrument


# --- purchases and drawdowns ------------------------------------------------------------------


def _instrument_locked_read(instrument: Instrument) -> Instrument:
    return Instrument.objects.select_related("latest_price").get(pk=instrument.pk)


def _active_contract(account: CreditAccount, on: date) -> CreditContract:
    contract = (
        CreditContract.objects.filter(credit_account=account, status=ContractStatus.ACTIVE)
        .order_by("-signed_on")
        .first()
    )
    if contract is None:
        raise RuleViolation(
            f"contract: credit account {account.account_number} has no active credit contract",
            code="no_active_contract",
            extra={"field": "contract"},
        )
    if on > contract.ends_on:
        raise RuleViolation(
            f"contract: {contract.contract_number} ended on {contract.ends_on.isoformat()}",
            code="contract_ended",
            extra={"field": "contract", "ends_on": contract.ends_on.isoformat()},
        )
    return contract


def _same_request(existing, **fields) -> bool:
    return all(getattr(existing, k) == v for k, v in fields.items())


def _repeat_of(model, key: str, what: str, **fields):
    """The earlier request with this Idempotency-Key when it asked the same (the retry gets its
    result), None when the key is new; a Conflict naming the key when it asked otherwise."""
    existing = model.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if _same_request(existing, **fields):
        return existing
    raise Conflict(
        f"idempotency_key: {key!r} was already used for {what} #{existing.pk}",
        extra={"field": "idempotency_key"},
    )


def _financing_repeat(key: str, **fields) -> Financing | None:
    return _repeat_of(Financing, key, "financing", **fields)


def drawdown_execute(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    quantity,
    price,
    actor,
    idempotency_key: str,
    reason: str = "",
) -> Financing:
    """A financed purchase (融资买入) of `quantity` at `price`. Checked in this order, each
    refusal a RuleViolation carrying the numbers: drawdown blockers (disclosure, suitability),
    an active contract not past its end, the credit limit, available margin ≥ A x ratio, the
    instrument eligible and not stopped by the float rule, per-account concentration, per-client
    ≤ 5% and all lending ≤ 4x net capital, whole lots. Nothing is written when refused."""
    require_owner_or_perm(actor, credit_account, "lending.add_financing")
    key = idempotency_key_required(idempotency_key)
    quantity = shares_parsed(quantity)
    price = decimal_parsed(price, "price", places=4)
    if quantity * price >= MAGNITUDE_LIMIT:
        raise ValidationFailed(
            f"quantity: {quantity} x {price} is too large an amount to finance",
            extra={"field": "quantity"},
        )
    amount = money_rounded(quantity * price)
    repeat = _financing_repeat(
        key,
        credit_account_id=credit_account.pk,
        instrument_id=instrument.pk,
        quantity=quantity,
        price=price,
    )
    if repeat is not None:
        return repeat

    def run() -> Financing:
        return _drawdown(
            credit_account=credit_account,
            instrument=instrument,
            quantity=quantity,
            price=price,
            amount=amount,
            actor=actor,
            key=key,
            reason=reason,
        )

    return durable(run, "drawdown_execute")


def _drawdown(*, credit_account, instrument, quantity, price, amount, actor, key, reason):
    account = open_credit_account_lock(credit_account)
    # The first request with this key may have committed while this one waited for the lock
    # (a retry sent while the first was in flight): under the lock it is an ordinary repeat.
    repeat = _financing_repeat(
        key,
        credit_account_id=account.pk,
        instrument_id=instrument.pk,
        quantity=quantity,
        price=price,
    )
    if repeat is not None:
        return repeat
    investor = account.investor
    on = today()
    blockers = compliance_selectors.drawdown_blockers(investor, on=on)
    if blockers:
        raise RuleViolation(
            "drawdown: refused: " + "; ".join(r.message for r in blockers),
            code="drawdown_blocked",
            extra={"reasons": [{"code": r.code, "message": r.message} for r in blockers]},
        )
    contract = _active_contract(account, on)
    ledger = _accounts(investor, instrument, actor=actor)
    custody.balances_lock(ledger.values())
    view = account_view(account, contract=contract)
    outstanding = view.financing_debt
    if outstanding + amount > contract.credit_limit:
        raise RuleViolation(
            f"amount: financing outstanding {fmt(outstanding)} + {fmt(amount)} exceeds the "
            f"credit limit {fmt(contract.credit_limit)} "
            f"(unused {fmt(contract.credit_limit - outstanding)})",
            code="credit_limit",
            extra={
                "outstanding": str(outstanding),
                "amount": str(amount),
                "limit": str(contract.credit_limit),
            },
        )
    fmr = contract.financing_margin_ratio
    check = margin.check_financed_purchase(view.margin_account, amount, fmr)
    if not check.allowed:
        raise RuleViolation(
            f"amount: available margin {fmt(check.available_margin)} is below the required "
            f"{fmt(check.required_margin)} = {fmt(amount)} × {fmr.normalize()}",
            code="insufficient_margin",
            extra={
                "available_margin": str(check.available_margin),
                "required_margin": str(check.required_margin),
                "amount": str(amount),
                "financing_margin_ratio": str(fmr),
            },
        )
    inst = _instrument_locked_read(instrument)
    if not inst.financing_eligible or inst.flagged:
        raise RuleViolation(
            f"instrument: {inst.ledger_unit} may not be bought on margin",
            code="not_financing_eligible",
            extra={"field": "instrument"},
        )
    if inst.financing_stopped:
        stop = compliance_selectors.parameter(P.FLOAT_STOP_FRACTION, on=on)
        resume = compliance_selectors.parameter(P.FLOAT_RESUME_FRACTION, on=on)
        raise RuleViolation(
            f"instrument: new financing of {inst.ledger_unit} is stopped (its financing reached "
            f"{fmt_ratio(stop)} of tradable float; resumes below {fmt_ratio(resume)})",
            code="financing_stopped",
            extra={"field": "instrument", "stop": str(stop), "resume": str(resume)},
        )
    cap = compliance_selectors.parameter(P.CONCENTRATION_CAP, on=on)
    held = view.position(inst)
    held_mv = held.market_value if held else ZERO
    share = (held_mv + amount) / (view.total_assets + amount)
    if share > cap:
        raise RuleViolation(
            f"instrument: {inst.ledger_unit} would be {fmt_ratio(share)} of the account's "
            f"collateral ({fmt(held_mv + amount)} of {fmt(view.total_assets + amount)}), above "
            f"the cap of {fmt_ratio(cap)}",
            code="concentration",
            extra={"share": str(share), "cap": str(cap)},
        )
    net_capital = compliance_selectors.parameter(P.NET_CAPITAL, on=on)
    client_cap = money_rounded(
        net_capital * compliance_selectors.parameter(P.CLIENT_NET_CAPITAL_FRACTION, on=on)
    )
    if outstanding + amount > client_cap:
        raise RuleViolation(
            f"amount: the client's financing {fmt(outstanding + amount)} would exceed "
            f"{fmt(client_cap)}, the per-client share of net capital {fmt(net_capital)}",
            code="client_net_capital",
            extra={"cap": str(client_cap)},
        )
    desk_cap = money_rounded(
        net_capital * compliance_selectors.parameter(P.TOTAL_NET_CAPITAL_MULTIPLE, on=on)
    )
    desk_total = sum(
        Financing.objects.filter(status=FinancingStatus.OPEN).values_list(
            "principal_outstanding", flat=True
        ),
        ZERO,
    )
    if desk_total + amount > desk_cap:
        raise RuleViolation(
            f"amount: all margin lending {fmt(desk_total + amount)} would exceed {fmt(desk_cap)} "
            f"(the multiple of net capital {fmt(net_capital)})",
            code="desk_net_capital",
            extra={"cap": str(desk_cap), "total": str(desk_total)},
        )
    if quantity % inst.lot_size:
        raise ValidationFailed(
            f"quantity: {quantity} is not a whole number of lots of {inst.lot_size}",
            extra={"field": "quantity", "lot_size": inst.lot_size},
        )
    entry = custody.entry_post_in_transaction(
        legs=[
            custody.debit(ledger["financing_receivable"], amount),
            custody.credit(ledger["settlement"], amount),
            custody.debit(ledger["custodian"], quantity),
            custody.credit(ledger["client_securities"], quantity),
        ],
        memo=f"Financed purchase {quantity} {inst.ledger_unit} @ {price} "
        f"({contract.contract_number}) {reason}".strip(),
        kind=EntryKind.FINANCING,
        actor=actor,
        idempotency_key=f"drawdown:{key}",
    )
    financing = Financing(
        credit_account=account,
        contract=contract,
        instrument=inst,
        quantity=quantity,
        price=price,
        amount=amount,
        principal_outstanding=amount,
        quantity_held=quantity,
        opened_on=on,
        due_on=contract.ends_on,
        idempotency_key=key,
        entry=entry,
        created_by=actor,
        reason=reason[:300],
    )
    stamp(financing, actor=actor, reason=f"drawdown {fmt(amount)}: {reason}".strip())
    financing.save()
    financing_stop_evaluate(instrument=inst, actor=actor, price=price)
    return financing


def own_cash_purchase_execute(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    quantity,
    price,
    actor,
    idempotency_key: str,
    reason: str = "",
) -> JournalEntry:
    """Buy with the client's own cash (collateral): refused when the cash is not there."""
    require_owner_or_perm(actor, credit_account, "lending.add_financing")
    key = idempotency_key_required(idempotency_key)
    quantity = shares_parsed(quantity)
    price = decimal_parsed(price, "price", places=4)
    amount = money_rounded(quantity * price)

    def run() -> JournalEntry:
        account = open_credit_account_lock(credit_account)
        if quantity % instrument.lot_size:
            raise ValidationFailed(
                f"quantity: {quantity} is not a whole number of lots of {instrument.lot_size}",
                extra={"field": "quantity"},
            )
        ledger = _accounts(account.investor, instrument, actor=actor)
        if not JournalEntry.objects.filter(idempotency_key=f"buy:{key}").exists():
            rows = custody.balances_lock(ledger.values())
            cash = (
                -rows[ledger["client_money"].pk].balance
                if ledger["client_money"].pk in rows
                else ZERO
            )
            if amount > cash:
                raise RuleViolation(
                    f"amount: the purchase costs {fmt(amount)} but the account holds only "
                    f"{fmt(cash)} of cash",
                    code="insufficient_cash",
                    extra={"amount": str(amount), "cash": str(cash)},
                )
        return custody.entry_post_in_transaction(
            legs=[
                custody.debit(ledger["client_money"], amount),
                custody.credit(ledger["settlement"], amount),
                custody.debit(ledger["custodian"], quantity),
                custody.credit(ledger["client_securities"], quantity),
            ],
            memo=f"Own-cash buy {quantity} {instrument.ledger_unit} @ {price} {reason}".strip(),
            kind=EntryKind.TRADE,
            actor=actor,
            idempotency_key=f"buy:{key}",
        )

    return durable(run, "own_cash_purchase_execute")


# --- repayments and sales ---------------------------------------------------------------------


@dataclass(frozen=True)
class RepaymentResult:
    interest_repaid: Decimal
    principal_repaid: Decimal

    @property
    def total(self) -> Decimal:
        return self.interest_repaid + self.principal_repaid


@dataclass(frozen=True)
class SaleResult:
    proceeds: Decimal
    interest_repaid: Decimal
    principal_repaid: Decimal
    cash_credited: Decimal  # proceeds left in client money after repaying


def _open_financings(account: CreditAccount, *, first_instrument_id: int | None = None):
    rows = list(
        Financing.objects.select_for_update(of=("self",))
        .filter(credit_account=account, status=FinancingStatus.OPEN)
        .order_by("opened_on", "pk")
    )
    if first_instrument_id is not None:
        rows.sort(key=lambda f: f.instrument_id != first_instrument_id)  # stable: oldest first
    return rows


def _allocate(financings: list[Financing], amount: Decimal, *, interest_due: Decimal):
    """Pay interest first (up to interest_due, oldest first), then principal (in the given
    order). Returns (interest, principal, changed financings)."""
    interest = min(amount, interest_due)
    principal_due = sum((f.principal_outstanding for f in financings), ZERO)
    principal = min(amount - interest, principal_due)
    left_i, left_p = interest, principal
    for f in sorted(financings, key=lambda f: (f.opened_on, f.pk)):
        pay = min(left_i, f.interest_accrued)
        f.interest_accrued -= pay
        f.interest_paid += pay
        left_i -= pay
    for f in financings:
        pay = min(left_p, f.principal_outstanding)
        f.principal_outstanding -= pay
        left_p -= pay
    # interest booked in the ledger but not allocated to lots (should not happen) stays paid
    for f in financings:
        if f.principal_outstanding == 0 and f.interest_accrued == 0:
            f.status = FinancingStatus.REPAID
            f.quantity_held = ZERO
    return interest, principal


def _save_financings(financings: list[Financing], *, actor, reason: str) -> None:
    if not financings:
        return
    for f in financings:
        stamp(f, actor=actor, reason=reason)
    rows_update_with_history(
        financings,
        ["principal_outstanding", "interest_accrued", "interest_paid", "quantity_held", "status"],
    )


def _repay_in_transaction(
    *, account, ledger, amount: Decimal, actor, key: str, memo: str, first_instrument_id=None
) -> RepaymentResult:
    rows = custody.balances_lock(ledger.values())
    interest_due = (
        rows[ledger["interest_receivable"].pk].balance
        if ledger["interest_receivable"].pk in rows
        else ZERO
    )
    financings = _open_financings(account, first_instrument_id=first_instrument_id)
    interest, principal = _allocate(financings, amount, interest_due=interest_due)
    total = interest + principal
    if total == 0:
        return RepaymentResult(ZERO, ZERO)
    legs = [custody.debit(ledger["client_money"], total)]
    if interest:
        legs.append(custody.credit(ledger["interest_receivable"], interest))
    if principal:
        legs.append(custody.credit(ledger["financing_receivable"], principal))
    custody.entry_post_in_transaction(
        legs=legs, memo=memo, kind=EntryKind.FINANCING, actor=actor, idempotency_key=key
    )
    _save_financings(financings, actor=actor, reason=memo)
    for instrument_id in {f.instrument_id for f in financings}:
        financing_stop_evaluate(instrument=Instrument(pk=instrument_id), actor=actor)
    return RepaymentResult(interest, principal)


def _repayment_from_entry(entry: JournalEntry) -> RepaymentResult:
    interest = principal = ZERO
    for p in entry.postings.select_related("account"):
        if p.account.purpose == "interest_receivable":
            interest -= p.amount
        elif p.account.purpose == "financing_receivable":
            principal -= p.amount
    return RepaymentResult(interest, principal)


def repayment_post(
    *, credit_account: CreditAccount, amount, actor, idempotency_key: str, reason: str = ""
) -> RepaymentResult:
    """Repay from the account's cash: interest first, then principal, oldest financing first.
    More than is owed, or more than the cash, is refused."""
    require_owner_or_perm(actor, credit_account, "lending.add_financing")
    key = f"repay:{idempotency_key_required(idempotency_key)}"
    amount = money_rounded(decimal_parsed(amount, "amount", places=2))

    def run() -> RepaymentResult:
        account = open_credit_account_lock(credit_account)
        first = JournalEntry.objects.filter(idempotency_key=key).first()
        if first is not None:
            earlier = _repayment_from_entry(first)
            if earlier.total != amount:
                raise Conflict(
                    f"idempotency_key: {idempotency_key!r} was already used for a repayment "
                    f"of {fmt(earlier.total)}",
                    extra={"field": "idempotency_key"},
                )
            return earlier
        ledger = _accounts(account.investor, actor=actor)
        view = account_view(account)
        owed = view.financing_debt + view.accrued_interest
        if amount > owed:
            raise RuleViolation(
                f"amount: {fmt(amount)} is more than is owed ({fmt(owed)})",
                code="overpayment",
                extra={"owed": str(owed)},
            )
        if amount > view.cash:
            raise RuleViolation(
                f"amount: {fmt(amount)} is more than the cash {fmt(view.cash)}",
                code="insufficient_cash",
                extra={"cash": str(view.cash)},
            )
        return _repay_in_transaction(
            account=account,
            ledger=ledger,
            amount=amount,
            actor=actor,
            key=key,
            memo=f"Repayment from cash {fmt(amount)} {reason}".strip(),
        )

    return durable(run, "repayment_post")


def position_sell_in_transaction(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    quantity,
    price,
    actor,
    reason: str,
    idempotency_key: str,
) -> SaleResult:
    """Sell inside the caller's transaction (liquidation execution). The proceeds repay the
    financing first (interest, then principal; the sold instrument's financings first, oldest
    first); the rest is credited to client money. Same key again returns the first result."""
    if not connection.in_atomic_block:
        raise RuntimeError("position_sell_in_transaction needs the caller's transaction.atomic()")
    key = idempotency_key_required(idempotency_key)
    sale_key, repay_key = f"sell:{key}", f"sell-repay:{key}"
    quantity = shares_parsed(quantity)
    price = decimal_parsed(price, "price", places=4)
    proceeds = money_rounded(quantity * price)
    account = open_credit_account_lock(credit_account)
    done = JournalEntry.objects.filter(idempotency_key=sale_key).first()
    if done is not None:
        repay = JournalEntry.objects.filter(idempotency_key=repay_key).first()
        result = _repayment_from_entry(repay) if repay else RepaymentResult(ZERO, ZERO)
        sold = next(
            -p.amount
            for p in done.postings.select_related("account")
            if p.account.purpose == "client_money"
        )
        return SaleResult(
            sold, result.interest_repaid, result.principal_repaid, sold - result.total
        )
    ledger = _accounts(account.investor, instrument, actor=actor)
    rows = custody.balances_lock(ledger.values())
    held_row = rows.get(ledger["client_securities"].pk)
    held = -held_row.balance if held_row else ZERO
    if quantity > held:
        raise RuleViolation(
            f"quantity: selling {quantity} {instrument.ledger_unit} but the account holds {held}",
            code="insufficient_securities",
            extra={"field": "quantity", "held": str(held)},
        )
    reason = reason_required(reason)
    custody.entry_post_in_transaction(
        legs=[
            custody.debit(ledger["settlement"], proceeds),
            custody.credit(ledger["client_money"], proceeds),
            custody.debit(ledger["client_securities"], quantity),
            custody.credit(ledger["custodian"], quantity),
        ],
        memo=f"Sale {quantity} {instrument.ledger_unit} @ {price}: {reason}",
        kind=EntryKind.TRADE,
        actor=actor,
        idempotency_key=sale_key,
    )
    # the sold shares leave the financed lots of this instrument first (oldest first)
    financings = _open_financings(account, first_instrument_id=instrument.pk)
    left = quantity
    changed = []
    for f in financings:
        if f.instrument_id != instrument.pk or left == 0 or f.quantity_held == 0:
            continue
        take = min(left, f.quantity_held)
        f.quantity_held -= take
        left -= take
        changed.append(f)
    _save_financings(changed, actor=actor, reason=f"sold {quantity}: {reason}")
    owed_rows = custody.balances_lock(ledger.values())
    owed = (
        owed_rows[ledger["financing_receivable"].pk].balance
        if ledger["financing_receivable"].pk in owed_rows
        else ZERO
    )
    owed += (
        owed_rows[ledger["interest_receivable"].pk].balance
        if ledger["interest_receivable"].pk in owed_rows
        else ZERO
    )
    repay = min(proceeds, owed)
    result = RepaymentResult(ZERO, ZERO)
    if repay > 0:
        result = _repay_in_transaction(
            account=account,
            ledger=ledger,
            amount=repay,
            actor=actor,
            key=repay_key,
            memo=f"Sale proceeds repay financing ({instrument.ledger_unit}): {reason}",
            first_instrument_id=instrument.pk,
        )
    return SaleResult(
        proceeds, result.interest_repaid, result.principal_repaid, proceeds - result.total
    )


def position_sell(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    quantity,
    price,
    actor,
    reason: str,
    idempotency_key: str,
) -> SaleResult:
    """Sell a position; proceeds repay financing first (see position_sell_in_transaction)."""
    require_owner_or_perm(actor, credit_account, "lending.add_financing")
    return durable(
        lambda: position_sell_in_transaction(
            credit_account=credit_account,
            instrument=instrument,
            quantity=quantity,
            price=price,
            actor=actor,
            reason=reason,
            idempotency_key=idempotency_key,
        ),
        "position_sell",
    )


# --- interest ---------------------------------------------------------------------------------


def daily_interest(principal: Decimal, annual_rate: Decimal) -> Decimal:
    """One day of ACT/360 interest, to the cent (half up)."""
    return money_rounded(principal * annual_rate / DAYS_IN_YEAR)


def interest_accrue(*, business_date: date, actor=None) -> int:
    """Accrue one day of interest on every open financing opened on or before `business_date`:
    principal x contract rate / 360 per financing, one ledger entry per contract and day
    (InterestAccrual is unique per contract and date, so a second run posts nothing). Returns
    the number of contracts posted."""

    def run() -> int:
        candidates = list(
            Financing.objects.filter(
                status=FinancingStatus.OPEN,
                principal_outstanding__gt=0,
                opened_on__lte=business_date,
            )
            .exclude(contract__interest_accruals__business_date=business_date)
            .values_list("credit_account__investor_id", flat=True)
            .distinct()
        )
        if not candidates:
            return 0
        lock_in_order(investor_ids=candidates)  # the investors, before their financings
        done = set(
            InterestAccrual.objects.filter(business_date=business_date).values_list(
                "contract_id", flat=True
            )
        )
        financings = list(
            Financing.objects.select_for_update(of=("self",))
            .select_related("contract", "credit_account__investor")
            .filter(
                status=FinancingStatus.OPEN,
                principal_outstanding__gt=0,
                opened_on__lte=business_date,
            )
            .exclude(contract_id__in=done)
            .order_by("pk")
        )
        by_contract: dict[int, list[Financing]] = {}
        for f in financings:
            by_contract.setdefault(f.contract_id, []).append(f)
        income = custody.house_account("interest_income", CURRENCY, actor=actor)
        specs, accruals, changed = [], [], []
        for contract_id, rows in sorted(by_contract.items()):
            contract = rows[0].contract
            total = ZERO
            for f in rows:
                amount = daily_interest(f.principal_outstanding, contract.annual_interest_rate)
                if amount:
                    f.interest_accrued += amount
                    total += amount
                    changed.append(f)
            principal = sum((f.principal_outstanding for f in rows), ZERO)
            accruals.append(
                InterestAccrual(
                    contract_id=contract_id,
                    business_date=business_date,
                    principal=principal,
                    annual_rate=contract.annual_interest_rate,
                    amount=total,
                )
            )
            if total:
                receivable = custody.client_account(
                    rows[0].credit_account.investor, "interest_receivable", CURRENCY, actor=actor
                )
                specs.append(
                    custody.EntrySpec(
                        legs=[custody.debit(receivable, total), custody.credit(income, total)],
                        memo=f"Interest {business_date.isoformat()} on {fmt(principal)} at "
                        f"{contract.annual_interest_rate.normalize()} ACT/360 "
                        f"({contract.contract_number})",
                        kind=EntryKind.INTEREST,
                        idempotency_key=f"interest:{contract_id}:{business_date.isoformat()}",
                        effective_date=business_date,
                    )
                )
        InterestAccrual.objects.bulk_create(accruals)
        entries = custody.entries_post_in_transaction(entries=specs, actor=actor)
        by_key = {e.idempotency_key: e for e in entries}
        for accrual in accruals:
            entry = by_key.get(f"interest:{accrual.contract_id}:{business_date.isoformat()}")
            if entry is not None:
                InterestAccrual.objects.filter(pk=accrual.pk).update(entry=entry)
        _save_financings(changed, actor=actor, reason=f"interest {business_date.isoformat()}")
        return len(accruals)

    try:
        return durable(run, "interest_accrue")
    except IntegrityError:
        # a concurrent run accrued some contracts first: the second pass skips them
        return durable(run, "interest_accrue")


def interest_collect(*, month: date | str, actor=None) -> int:
    """Collect accrued interest from client cash once a month (key per investor and month);
    what the cash cannot cover stays receivable. Returns the number of accounts collected."""
    if isinstance(month, str):
        month = date.fromisoformat(month + "-01" if len(month) == 7 else month)
    tag = f"{month:%Y-%m}"
    accounts = list(
        CreditAccount.objects.filter(status=CreditAccountStatus.OPEN).select_related("investor")
    )
    collected = 0
    for credit_account in accounts:
        key = f"interest-collect:{credit_account.investor_id}:{tag}"
        if JournalEntry.objects.filter(idempotency_key=key).exists():
            continue

        def run(credit_account=credit_account, key=key) -> bool:
            account = credit_account_lock(credit_account)
            ledger = _accounts(account.investor, actor=actor)
            rows = custody.balances_lock(ledger.values())
            due = (
                rows[ledger["interest_receivable"].pk].balance
                if ledger["interest_receivable"].pk in rows
                else ZERO
            )
            cash = (
                -rows[ledger["client_money"].pk].balance
                if ledger["client_money"].pk in rows
                else ZERO
            )
            pay = min(due, cash)
            if pay <= 0:
                return False
            financings = _open_financings(account)
            interest, _principal = _allocate(financings, pay, interest_due=pay)
            custody.entry_post_in_transaction(
                legs=[
                    custody.debit(ledger["client_money"], interest),
                    custody.credit(ledger["interest_receivable"], interest),
                ],
                memo=f"Interest collected for {tag}: {fmt(interest)} of {fmt(due)} due",
                kind=EntryKind.INTEREST,
                actor=actor,
                idempotency_key=key,
            )
            _save_financings(financings, actor=actor, reason=f"interest collected {tag}")
            return True

        collected += bool(durable(run, "interest_collect"))
    return collected


# --- withdrawals ------------------------------------------------------------------------------


def _withdrawal_repeat(key: str, **fields) -> WithdrawalRequest | None:
    return _repeat_of(WithdrawalRequest, key, "withdrawal", **fields)


def cash_withdrawal_request(
    *, credit_account: CreditAccount, amount, actor, idempotency_key: str, reason: str = ""
) -> WithdrawalRequest:
    """Pay cash out to the bank account of record, allowed only while the maintenance ratio
    stays ≥ the withdrawal line (300%) afterwards; with no debt, all the cash. Refused with the
    largest allowed amount otherwise."""
    require_owner_or_perm(actor, credit_account, "lending.add_withdrawalrequest")
    key = idempotency_key_required(idempotency_key)
    amount = money_rounded(decimal_parsed(amount, "amount", places=2))
    repeat = _withdrawal_repeat(
        key, credit_account_id=credit_account.pk, kind="cash", amount=amount
    )
    if repeat is not None:
        return repeat

    def run() -> WithdrawalRequest:
        account = open_credit_account_lock(credit_account)
        # a first request with this key may have committed while this one waited for the lock
        repeat = _withdrawal_repeat(key, credit_account_id=account.pk, kind="cash", amount=amount)
        if repeat is not None:
            return repeat
        view = account_view(account)
        allowed = view.withdrawable_cash
        if amount > allowed:
            raise RuleViolation(
                _(
                    "amount: withdrawing %(amount)s would take the maintenance ratio below the "
                    "withdrawal line of %(line)s; the largest allowed is %(allowed)s"
                )
                % {
                    "amount": fmt(amount),
                    "line": fmt_ratio(view.lines.withdrawal),
                    "allowed": fmt(allowed),
                },
                code="withdrawal_line",
                extra={
                    "field": "amount",
                    "allowed": str(allowed),
                    "line": str(view.lines.withdrawal),
                },
            )
        entry = custody.client_withdrawal_post_in_transaction(
            investor=account.investor,
            amount=amount,
            currency=CURRENCY,
            reference=f"credit account {account.account_number} {reason}".strip(),
            actor=actor,
            idempotency_key=f"withdraw:{key}",
        )
        request = WithdrawalRequest(
            credit_account=account,
            kind=WithdrawalKind.CASH,
            amount=amount,
            idempotency_key=key,
            entry=entry,
            requested_by=actor,
            reason=reason[:300],
        )
        stamp(request, actor=actor, reason=f"cash withdrawal {fmt(amount)} {reason}".strip())
        request.save()
        return request

    return durable(run, "cash_withdrawal_request")


def securities_withdrawal_request(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    quantity,
    actor,
    idempotency_key: str,
    reason: str = "",
) -> WithdrawalRequest:
    """Transfer own (not financed) shares out, allowed while the ratio stays ≥ the withdrawal
    line; refused with the largest allowed quantity otherwise."""
    require_owner_or_perm(actor, credit_account, "lending.add_withdrawalrequest")
    key = idempotency_key_required(idempotency_key)
    quantity = shares_parsed(quantity)
    repeat = _withdrawal_repeat(
        key,
        credit_account_id=credit_account.pk,
        kind="securities",
        instrument_id=instrument.pk,
        quantity=quantity,
    )
    if repeat is not None:
        return repeat

    def run() -> WithdrawalRequest:
        account = open_credit_account_lock(credit_account)
        # a first request with this key may have committed while this one waited for the lock
        repeat = _withdrawal_repeat(
            key,
            credit_account_id=account.pk,
            kind="securities",
            instrument_id=instrument.pk,
            quantity=quantity,
        )
        if repeat is not None:
            return repeat
        ledger = _accounts(account.investor, instrument, actor=actor)
        custody.balances_lock(ledger.values())
        view = account_view(account)
        allowed = view.withdrawable_quantity(instrument)
        if quantity > allowed:
            raise RuleViolation(
                _(
                    "quantity: withdrawing %(quantity)s %(instrument)s would take the maintenance "
                    "ratio below the withdrawal line of %(line)s or exceed the own (not "
                    "financed) shares; the largest allowed is %(allowed)s"
                )
                % {
                    "quantity": fmt_shares(quantity),
                    "instrument": instrument.ledger_unit,
                    "line": fmt_ratio(view.lines.withdrawal),
                    "allowed": fmt_shares(allowed),
                },
                code="withdrawal_line",
                extra={"field": "quantity", "allowed": str(allowed)},
            )
        entry = custody.entry_post_in_transaction(
            legs=[
                custody.debit(ledger["client_securities"], quantity),
                custody.credit(ledger["custodian"], quantity),
            ],
            memo=f"Securities transferred out {quantity} {instrument.ledger_unit} {reason}".strip(),
            kind=EntryKind.SECURITIES,
            actor=actor,
            idempotency_key=f"withdraw-securities:{key}",
        )
        request = WithdrawalRequest(
            credit_account=account,
            kind=WithdrawalKind.SECURITIES,
            instrument=instrument,
            quantity=quantity,
            idempotency_key=key,
            entry=entry,
            requested_by=actor,
            reason=reason[:300],
        )
        stamp(request, actor=actor, reason=f"securities withdrawal {reason}".strip())
        request.save()
        return request

    return durable(run, "securities_withdrawal_request")
