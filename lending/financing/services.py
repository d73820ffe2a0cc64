"""What is booked on a credit account: the fills of purchases and sales (booked from execution
reports by lending.orders, never from a typed price), repayments, daily interest and its monthly
collection, withdrawals of cash and transfers of shares out. The checks an order must pass
before it goes to the market live here too (lending.orders calls them under the account's lock).

Journal entries (custody ledger; "qty" legs are in the instrument's unit, e.g. SSE:600519).
T is a fill's turnover (quantity x fill price), c its commission, m what the market keeps
(stamp duty on sales, transfer fee on both sides):

* financed buy fill: Dr client financing_receivable T+c+m / Cr house settlement T+m /
    Cr house fee_income c; Dr house custodian q / Cr client client_securities q (kind "financing")
* own-cash buy fill: Dr client client_money T+c+m, the rest as above       (kind "trade")
* sale fill: Dr house settlement T-m / Cr client client_money T-m-c / Cr house fee_income c;
    Dr client client_securities q / Cr house custodian q                   (kind "trade")
  then, for a sale to repay or a liquidation, the repayment from the proceeds (interest
  before principal): Dr client_money r / Cr interest_receivable i / Cr financing_receivable p
                                                                          (kind "financing")
* repayment from cash: the repayment entry above.
* daily interest (ACT/360 on outstanding principal at the contract rate, one entry per
  contract and day): Dr client interest_receivable / Cr house interest_income  (kind "interest")
* monthly interest collection: Dr client_money / Cr interest_receivable (what the cash
  cannot cover stays receivable; lending.financing.collection, set-based) (kind "interest")
* cash withdrawal: custody.services.client_withdrawal_post_in_transaction
  (Dr client_money / Cr house client_bank); securities withdrawal (transfer out):
  Dr client_securities q / Cr house custodian q                          (kind "securities")

Rules
* Keyword-only arguments; the acting user is passed in; money moves carry an idempotency key
  (same key and same request returns the first result; another request with it is a Conflict);
  a fill's entries are keyed by its exec id.
* Top-level money services run in `transaction.atomic(durable=True)` and retry transient
  clashes (custody's run_retrying); `*_in_transaction` variants compose in a caller's
  transaction (lending.orders books fills with them).
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

from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.bulk import rows_update_with_history
from accounts.errors import Conflict, RuleViolation, ValidationFailed
from compliance import calendar
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from custody import services as custody
from custody.models import EntryKind, JournalEntry, LedgerAccount
from lending.common.inputs import (
    decimal_parsed,
    idempotency_key_required,
    reason_required,
    shares_parsed,
)
from lending.common.transactions import durable
from lending.credit.locks import open_credit_account_lock
from lending.credit.models import ContractStatus, CreditAccount, CreditContract
from lending.credit.permissions import require_owner_or_perm
from lending.domain import margin
from lending.domain.fees import Fees
from lending.domain.formats import fmt, fmt_ratio, fmt_shares, money_rounded
from lending.financing.held_back import held_back
from lending.financing.models import (
    Financing,
    FinancingStatus,
    WithdrawalKind,
    WithdrawalRequest,
)
from lending.financing.valuation import account_view
from lending.instruments import exchange_lists
from lending.instruments.models import Instrument
from lending.shorts import positions as short_positions
from lending.shorts import proceeds as short_proceeds

logger = logging.getLogger(__name__)


CURRENCY = "CNY"


ZERO = Decimal(0)


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


# --- purchases: the checks an order must pass, and the booking of its fills ------------------


def active_contract(account: CreditAccount, on: date) -> CreditContract:
    """The account's active credit contract, refused when there is none or it ended."""
    contract = (
        CreditContract.objects.filter(credit_account=account, status=ContractStatus.ACTIVE)
        .order_by("-signed_on")
        .first()
    )
    if contract is None:
        raise RuleViolation(
            _("contract: credit account %(account)s has no active credit contract")
            % {"account": account.account_number},
            code="no_active_contract",
            extra={"field": "contract"},
        )
    if on > contract.ends_on:
        raise RuleViolation(
            _("contract: %(contract)s ended on %(ends_on)s")
            % {"contract": contract.contract_number, "ends_on": contract.ends_on.isoformat()},
            code="contract_ended",
            extra={"field": "contract", "ends_on": contract.ends_on.isoformat()},
        )
    return contract


def trading_blockers_check(account: CreditAccount, on: date) -> None:
    """Refused while the investor may not trade on credit: the risk disclosure not
    acknowledged, the suitability match missing or failed (C4 or C5, or professional)."""
    blockers = compliance_selectors.drawdown_blockers(account.investor, on=on)
    if blockers:
        raise RuleViolation(
            _("order: refused: %(reasons)s") % {"reasons": "; ".join(r.message for r in blockers)},
            code="drawdown_blocked",
            extra={"reasons": [{"code": r.code, "message": r.message} for r in blockers]},
        )


def lots_check(quantity: Decimal, instrument: Instrument) -> None:
    if quantity % instrument.lot_size:
        raise ValidationFailed(
            _("quantity: %(quantity)s is not a whole number of lots of %(lot)s")
            % {"quantity": fmt_shares(quantity), "lot": instrument.lot_size},
            extra={"field": "quantity", "lot_size": instrument.lot_size},
        )


def desk_financing_outstanding() -> Decimal:
    total = Financing.objects.filter(status=FinancingStatus.OPEN).aggregate(
        total=Sum("principal_outstanding")
    )["total"]
    return total or ZERO


def financed_purchase_check(
    *,
    view,
    contract: CreditContract,
    instrument: Instrument,
    amount: Decimal,
    on: date,
    pending: Decimal = ZERO,
    desk_pending: Decimal = ZERO,
) -> None:
    """Whether a financed purchase (融资买入) costing up to `amount` may be placed: the credit
    limit, available margin ≥ amount x the contract's financing margin ratio, the instrument
    eligible and not stopped by the float rule, the account's concentration cap, per-client
    ≤ 5% and all lending ≤ 4x net capital, the instrument on its exchange's financing
    target list in force (lending.instruments.exchange_lists). `pending` is what the
    account's working financed buys already hold back, `desk_pending` the same desk-wide;
    both count as if financed.
    Each refusal is a RuleViolation carrying the numbers. Call under the account's lock and
    the desk's (lending.credit.locks steps 2 and 3), with `desk_pending` read under them."""
    outstanding = view.financing_debt + pending
    if outstanding + amount > contract.credit_limit:
        raise RuleViolation(
            _(
                "amount: financing outstanding %(outstanding)s + %(amount)s exceeds the credit "
                "limit %(limit)s (unused %(unused)s)"
            )
            % {
                "outstanding": fmt(outstanding),
                "amount": fmt(amount),
                "limit": fmt(contract.credit_limit),
                "unused": fmt(contract.credit_limit - outstanding),
            },
            code="credit_limit",
            extra={
                "outstanding": str(outstanding),
                "amount": str(amount),
                "limit": str(contract.credit_limit),
            },
        )
    fmr = contract.financing_margin_ratio
    check = margin.check_financed_purchase(view.margin_account, pending + amount, fmr)
    if not check.allowed:
        available = check.available_margin - money_rounded(pending * fmr)
        required = money_rounded(amount * fmr)
        raise RuleViolation(
            _(
                "amount: available margin %(available)s is below the required %(required)s = "
                "%(amount)s × %(ratio)s"
            )
            % {
                "available": fmt(available),
                "required": fmt(required),
                "amount": fmt(amount),
                "ratio": fmr.normalize(),
            },
            code="insufficient_margin",
            extra={
                "available_margin": str(available),
                "required_margin": str(required),
                "amount": str(amount),
                "financing_margin_ratio": str(fmr),
            },
        )
    if not instrument.financing_eligible or instrument.flagged:
        raise RuleViolation(
            _("instrument: %(instrument)s may not be bought on margin")
            % {"instrument": instrument.ledger_unit},
            code="not_financing_eligible",
            extra={"field": "instrument"},
        )
    # the exchange's financing target list in force today (none imported: the desk's flag)
    exchange_lists.target_list_check(instrument, on)
    if instrument.financing_stopped:
        stop = compliance_selectors.parameter(P.FLOAT_STOP_FRACTION, on=on)
        resume = compliance_selectors.parameter(P.FLOAT_RESUME_FRACTION, on=on)
        raise RuleViolation(
            _(
                "instrument: new financing of %(instrument)s is stopped (its financing reached "
                "%(stop)s of tradable float; resumes below %(resume)s)"
            )
            % {
                "instrument": instrument.ledger_unit,
                "stop": fmt_ratio(stop),
                "resume": fmt_ratio(resume),
            },
            code="financing_stopped",
            extra={"field": "instrument", "stop": str(stop), "resume": str(resume)},
        )
    concentration_check(view=view, instrument=instrument, amount=amount, on=on)
    net_capital = compliance_selectors.parameter(P.NET_CAPITAL, on=on)
    client_cap = money_rounded(
        net_capital * compliance_selectors.parameter(P.CLIENT_NET_CAPITAL_FRACTION, on=on)
    )
    if outstanding + amount > client_cap:
        raise RuleViolation(
            _(
                "amount: the client's financing %(total)s would exceed %(cap)s, the per-client "
                "share of net capital %(net_capital)s"
            )
            % {
                "total": fmt(outstanding + amount),
                "cap": fmt(client_cap),
                "net_capital": fmt(net_capital),
            },
            code="client_net_capital",
            extra={"cap": str(client_cap)},
        )
    desk_cap = money_rounded(
        net_capital * compliance_selectors.parameter(P.TOTAL_NET_CAPITAL_MULTIPLE, on=on)
    )
    desk_total = desk_financing_outstanding() + desk_pending
    if desk_total + amount > desk_cap:
        raise RuleViolation(
            _(
                "amount: all margin lending %(total)s would exceed %(cap)s (the multiple of net "
                "capital %(net_capital)s)"
            )
            % {
                "total": fmt(desk_total + amount),
                "cap": fmt(desk_cap),
                "net_capital": fmt(net_capital),
            },
            code="desk_net_capital",
            extra={"cap": str(desk_cap), "total": str(desk_total)},
        )


def concentration_check(*, view, instrument: Instrument, amount: Decimal, on: date) -> None:
    """The account's collateral in one security after buying `amount` more stays within the
    dated cap."""
    cap = compliance_selectors.parameter(P.CONCENTRATION_CAP, on=on)
    held = view.position(instrument)
    held_mv = held.market_value if held else ZERO
    share = (held_mv + amount) / (view.total_assets + amount)
    if share > cap:
        raise RuleViolation(
            _(
                "instrument: %(instrument)s would be %(share)s of the account's collateral "
                "(%(value)s of %(total)s), above the cap of %(cap)s"
            )
            % {
                "instrument": instrument.ledger_unit,
                "share": fmt_ratio(share),
                "value": fmt(held_mv + amount),
                "total": fmt(view.total_assets + amount),
                "cap": fmt_ratio(cap),
            },
            code="concentration",
            extra={"field": "instrument", "share": str(share), "cap": str(cap)},
        )


def cash_purchase_check(*, view, amount: Decimal, pending: Decimal = ZERO) -> None:
    """An own-cash buy costing up to `amount` needs that much cash not already held back by
    the account's working own-cash buys (`pending`)."""
    cash = view.cash - pending
    if amount > cash:
        raise RuleViolation(
            _(
                "amount: the purchase may cost %(amount)s but the account has only %(cash)s of "
                "cash free"
            )
            % {"amount": fmt(amount), "cash": fmt(cash)},
            code="insufficient_cash",
            extra={"amount": str(amount), "cash": str(cash)},
        )


def sale_check(*, view, instrument: Instrument, quantity: Decimal, pending: Decimal) -> None:
    """A sale needs the shares, less those already offered by the account's working sells."""
    held = view.position(instrument)
    free = (held.quantity if held else ZERO) - pending
    if quantity > free:
        raise RuleViolation(
            _(
                "quantity: selling %(quantity)s %(instrument)s but the account has %(free)s not "
                "already offered"
            )
            % {
                "quantity": fmt_shares(quantity),
                "instrument": instrument.ledger_unit,
                "free": fmt_shares(max(free, ZERO)),
            },
            code="insufficient_securities",
            extra={"field": "quantity", "held": str(free)},
        )


@dataclass(frozen=True)
class TradeFill:
    """One fill as the market reported it, with its fees (lending.domain.fees)."""

    key: str  # unique per fill (the exec id): the ledger entries' idempotency keys
    instrument: Instrument
    quantity: Decimal
    price: Decimal
    turnover: Decimal
    fees: Fees
    on: date
    memo: str  # what the order was (client order id), for the journal


def _buy_legs(ledger, fill: TradeFill, payer: str) -> list:
    legs = [
        custody.debit(ledger[payer], fill.turnover + fill.fees.total),
        custody.credit(ledger["settlement"], fill.turnover + fill.fees.to_market),
    ]
    if fill.fees.commission:
        legs.append(custody.credit(ledger["fee_income"], fill.fees.commission))
    legs += [
        custody.debit(ledger["custodian"], fill.quantity),
        custody.credit(ledger["client_securities"], fill.quantity),
    ]
    return legs


def _trade_ledger(investor, instrument: Instrument, actor) -> dict[str, LedgerAccount]:
    ledger = _accounts(investor, instrument, actor=actor)
    ledger["fee_income"] = custody.house_account("fee_income", CURRENCY, actor=actor)
    return ledger


def financed_buy_fill_book_in_transaction(
    *, account: CreditAccount, contract: CreditContract, fill: TradeFill, actor=None
) -> Financing:
    """Book one fill of a financed buy inside the caller's transaction: a financing lot of the
    turnover plus fees (the fees are financed too), the shares into the account. The market
    filled it: no check refuses it here (the order's checks ran when it was placed)."""
    inst = fill.instrument
    ledger = _trade_ledger(account.investor, inst, actor)
    custody.balances_lock(ledger.values())
    amount = fill.turnover + fill.fees.total
    entry = custody.entry_post_in_transaction(
        legs=_buy_legs(ledger, fill, "financing_receivable"),
        memo=f"Financed purchase {fmt_shares(fill.quantity)} {inst.ledger_unit} @ {fill.price} "
        f"(fees {fmt(fill.fees.total)}; {contract.contract_number}) {fill.memo}",
        kind=EntryKind.FINANCING,
        actor=actor,
        idempotency_key=f"fill:{fill.key}",
        effective_date=fill.on,
    )
    financing = Financing(
        credit_account=account,
        contract=contract,
        instrument=inst,
        quantity=fill.quantity,
        price=fill.price,
        amount=amount,
        principal_outstanding=amount,
        quantity_held=fill.quantity,
        opened_on=fill.on,
        # at most the dated maximum term after it opens, never after the contract's end
        due_on=min(
            calendar.add_months(
                fill.on,
                int(compliance_selectors.parameter(P.FINANCING_MAX_TERM_MONTHS, on=fill.on)),
            ),
            contract.ends_on,
        ),
        idempotency_key=f"fill:{fill.key}",
        entry=entry,
        created_by=actor,
        reason=fill.memo[:300],
    )
    stamp(financing, actor=actor, reason=f"financed purchase {fmt(amount)}: {fill.memo}")
    financing.save()
    financing_stop_evaluate(instrument=inst, actor=actor, price=fill.price)
    return financing


def cash_buy_fill_book_in_transaction(
    *, account: CreditAccount, fill: TradeFill, actor=None
) -> JournalEntry:
    """Book one fill of an own-cash buy inside the caller's transaction: the client's cash
    pays the turnover and fees, the shares come into the account. A money-market fund or
    government bond bought while short positions are open is paid from the restricted short
    proceeds first (lending.shorts.proceeds)."""
    if short_proceeds.may_invest(fill.instrument) and short_proceeds.has_open_shorts(account):
        return short_proceeds.invested_buy_fill_book_in_transaction(
            account=account, fill=fill, actor=actor
        )
    ledger = _trade_ledger(account.investor, fill.instrument, actor)
    custody.balances_lock(ledger.values())
    return custody.entry_post_in_transaction(
        legs=_buy_legs(ledger, fill, "client_money"),
        memo=f"Own-cash buy {fmt_shares(fill.quantity)} {fill.instrument.ledger_unit} @ "
        f"{fill.price} (fees {fmt(fill.fees.total)}) {fill.memo}",
        kind=EntryKind.TRADE,
        actor=actor,
        idempotency_key=f"fill:{fill.key}",
        effective_date=fill.on,
    )


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
    entry: JournalEntry | None = None  # the sale's own entry


def _open_financings(account: CreditAccount, *, first_instrument_id: int | None = None):
    rows = list(
        Financing.objects.select_for_update(of=("self",))
        .filter(credit_account=account, status=FinancingStatus.OPEN)
        .order_by("opened_on", "pk")
    )
    if first_instrument_id is not None:
        rows.sort(key=lambda f: f.instrument_id != first_instrument_id)  # stable: oldest first
    # overdue financings (lending.financing.maturity) are repaid before any other (stable)
    rows.sort(key=lambda f: f.overdue_since is None)
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
    for hook in list(REPAID_HOOKS):
        hook(account, financings, actor=actor)
    return RepaymentResult(interest, principal)


#: Run inside a repayment's transaction with (account, the financings it touched, actor): a
#: higher area acts on what the repayment cleared (margin_calls closes a maturity call once
#: the overdue financing is repaid; registered when Django starts, lending.apps).
REPAID_HOOKS: list = []


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
    """Repay from the account's cash (直接还款): interest first, then principal, oldest
    financing first. The investor on their own account, or staff on the investor's written
    instruction, whose reference `reason` must give. More than is owed, or more than the cash,
    is refused."""
    require_owner_or_perm(actor, credit_account, "lending.add_financing")
    if actor is not None and getattr(actor, "investor_profile", None) is None:
        reason = reason_required(reason)  # staff: the investor's written instruction
    key = f"repay:{idempotency_key_required(idempotency_key)}"
    amount = money_rounded(decimal_parsed(amount, "amount", places=2))

    def run() -> RepaymentResult:
        account = open_credit_account_lock(credit_account)
        first = JournalEntry.objects.filter(idempotency_key=key).first()
        if first is not None:
            earlier = _repayment_from_entry(first)
            if earlier.total != amount:
                raise Conflict(
                    _("idempotency_key: %(key)s was already used for a repayment of %(total)s")
                    % {"key": repr(idempotency_key), "total": fmt(earlier.total)},
                    extra={"field": "idempotency_key"},
                )
            return earlier
        ledger = _accounts(account.investor, actor=actor)
        view = account_view(account)
        owed = view.financing_debt + view.accrued_interest
        if amount > owed:
            raise RuleViolation(
                _("amount: %(amount)s is more than is owed (%(owed)s)")
                % {"amount": fmt(amount), "owed": fmt(owed)},
                code="overpayment",
                extra={"owed": str(owed)},
            )
        if amount > view.cash:
            raise RuleViolation(
                _("amount: %(amount)s is more than the cash %(cash)s")
                % {"amount": fmt(amount), "cash": fmt(view.cash)},
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


def sale_fill_book_in_transaction(
    *, account: CreditAccount, fill: TradeFill, repay: bool, actor=None
) -> SaleResult:
    """Book one fill of a sale inside the caller's transaction: the shares leave the account
    (the sold instrument's financed lots first, oldest first), the proceeds less fees come into
    client money and, when `repay` (sell to repay, liquidation), repay the financing: interest
    first, then principal, the sold instrument's financings first; then what is owed on the
    securities lending side (lending.shorts.positions.lending_receivable_pay_in_transaction).
    Units bought with restricted short proceeds are sold first and their share of the proceeds
    is restricted again (lending.shorts.proceeds), not free to repay or to spend.
    The same fill again returns the first result."""
    if not connection.in_atomic_block:
        raise RuntimeError("sale_fill_book_in_transaction needs the caller's transaction")
    sale_key, repay_key = f"fill:{fill.key}", f"fill-repay:{fill.key}"
    instrument = fill.instrument
    net = fill.turnover - fill.fees.total
    done = JournalEntry.objects.filter(idempotency_key=sale_key).first()
    if done is not None:
        again = JournalEntry.objects.filter(idempotency_key=repay_key).first()
        result = _repayment_from_entry(again) if again else RepaymentResult(ZERO, ZERO)
        lending = JournalEntry.objects.filter(idempotency_key=f"fill-lending:{fill.key}").first()
        lending_paid = (
            sum((p.amount for p in lending.postings.all() if p.amount > 0), ZERO)
            if lending
            else ZERO
        )
        back = short_proceeds.sale_restricted_of(fill.key)
        return SaleResult(
            net,
            result.interest_repaid,
            result.principal_repaid,
            net - back - result.total - lending_paid,
            done,
        )
    ledger = _trade_ledger(account.investor, instrument, actor)
    custody.balances_lock(ledger.values())
    legs = [
        custody.debit(ledger["settlement"], fill.turnover - fill.fees.to_market),
        custody.credit(ledger["client_money"], net),
    ]
    if fill.fees.commission:
        legs.append(custody.credit(ledger["fee_income"], fill.fees.commission))
    legs += [
        custody.debit(ledger["client_securities"], fill.quantity),
        custody.credit(ledger["custodian"], fill.quantity),
    ]
    entry = custody.entry_post_in_transaction(
        legs=legs,
        memo=f"Sale {fmt_shares(fill.quantity)} {instrument.ledger_unit} @ {fill.price} "
        f"(fees {fmt(fill.fees.total)}) {fill.memo}",
        kind=EntryKind.TRADE,
        actor=actor,
        idempotency_key=sale_key,
        effective_date=fill.on,
    )
    # the sold shares leave the financed lots of this instrument first (oldest first)
    financings = _open_financings(account, first_instrument_id=instrument.pk)
    left = fill.quantity
    changed = []
    for f in financings:
        if f.instrument_id != instrument.pk or left == 0 or f.quantity_held == 0:
            continue
        take = min(left, f.quantity_held)
        f.quantity_held -= take
        left -= take
        changed.append(f)
    _save_financings(changed, actor=actor, reason=f"sold {fmt_shares(fill.quantity)}: {fill.memo}")
    # the units bought with restricted short proceeds go first: their proceeds restricted again
    back = short_proceeds.sale_restricted_book_in_transaction(
        account=account, fill=fill, net=net, actor=actor
    )
    free = net - back
    result = RepaymentResult(ZERO, ZERO)
    if repay:
        rows = custody.balances_lock(ledger.values())
        owed = sum(
            (
                rows[ledger[name].pk].balance
                for name in ("financing_receivable", "interest_receivable")
                if ledger[name].pk in rows
            ),
            ZERO,
        )
        amount = min(free, owed)
        if amount > 0:
            result = _repay_in_transaction(
                account=account,
                ledger=ledger,
                amount=amount,
                actor=actor,
                key=repay_key,
                memo=f"Sale proceeds repay financing ({instrument.ledger_unit}): {fill.memo}",
                first_instrument_id=instrument.pk,
            )
    lending_paid = ZERO
    if repay:
        # then what is owed on the lending side (fees, compensation, a buy-in's shortfall)
        lending_paid = short_positions.lending_receivable_pay_in_transaction(
            account=account,
            available=free - result.total,
            key=f"fill-lending:{fill.key}",
            memo=fill.memo,
            on=fill.on,
            actor=actor,
        )
    return SaleResult(
        net,
        result.interest_repaid,
        result.principal_repaid,
        free - result.total - lending_paid,
        entry,
    )


# --- withdrawals ------------------------------------------------------------------------------


def _repeat_of(model, key: str, what: str, **fields):
    """The earlier request with this Idempotency-Key when it asked the same (the retry gets its
    result), None when the key is new; a Conflict naming the key when it asked otherwise."""
    existing = model.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if all(getattr(existing, k) == v for k, v in fields.items()):
        return existing
    raise Conflict(
        _("idempotency_key: %(key)s was already used for %(what)s #%(pk)s")
        % {"key": repr(key), "what": what, "pk": existing.pk},
        extra={"field": "idempotency_key"},
    )


def _withdrawal_repeat(key: str, **fields) -> WithdrawalRequest | None:
    return _repeat_of(WithdrawalRequest, key, _("withdrawal"), **fields)


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
        held = held_back(account.pk)
        # working buys keep their cash, and financed buys the margin they will need
        allowed = max(
            min(
                view.withdrawable_cash,
                view.cash - held.cash - money_rounded(held.financing * view.financing_margin_ratio),
            ),
            ZERO,
        )
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
        offered = held_back(account.pk).shares.get(instrument.pk, ZERO)
        allowed = max(view.withdrawable_quantity(instrument) - offered, ZERO)
        # units bought with restricted short proceeds stay while short positions are open
        restricted = short_proceeds.restricted_quantity(account, instrument)
        if restricted > 0:
            held = view.position(instrument)
            own = held.own_quantity if held is not None else ZERO
            free = max(own - offered - restricted, ZERO)
            if quantity > free:
                raise RuleViolation(
                    _(
                        "quantity: withdrawing %(quantity)s %(instrument)s exceeds the %(free)s "
                        "units free; %(restricted)s were bought with restricted short proceeds "
                        "and stay while short positions are open"
                    )
                    % {
                        "quantity": fmt_shares(quantity),
                        "instrument": instrument.ledger_unit,
                        "free": fmt_shares(free),
                        "restricted": fmt_shares(restricted),
                    },
                    code="restricted_holding",
                    extra={"field": "quantity", "allowed": str(min(free, allowed))},
                )
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
