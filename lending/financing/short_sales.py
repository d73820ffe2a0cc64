"""The account's side of securities lending (融券): the checks of a short sale and of a cover on
one account's valuation, and the direct return (直接还券) of shares the investor holds.

The short positions themselves are lending.shorts' (a lower area: inventory, positions, fees);
what needs the account's valuation or its working orders lives here, next to the financed
purchase's checks.

- `short_sale_check`: the instrument on its exchange's short-sale target list in force
  (lending.shorts.selectors.short_targets), the limit price not below the latest trade price
  (the previous close before the day's first trade; 400 naming `limit_price`), the credit
  limit (financing outstanding + short-sale amount owed + what working orders hold + this
  sale ≤ the contract's limit) and the available margin ≥ (this sale + working short sales) x
  the dated short margin ratio (a private fund's own); the desk-wide float stop (short
  balance + working short sales + this sale ≥ the dated 25% of the tradable float:
  `short_float_check`) and the account's single-security concentration cap on the short side
  (`short_concentration_check`). Each refusal names the field and the rule with the numbers.
- `cover_check`: a buy to cover may return at most the shares owed less what working covers
  already buy back, and its most possible cost must be in the restricted proceeds and free
  cash not already held back.
- `short_return_direct`: the investor's own (not financed, not offered) shares of an
  instrument it owes go back to the inventory; the proceeds they free are released and the
  fees paid (lending.shorts.positions).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.db.models import F, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.errors import RuleViolation, ValidationFailed
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.common.inputs import idempotency_key_required, reason_required, shares_parsed
from lending.common.transactions import durable
from lending.credit.locks import open_credit_account_lock
from lending.credit.models import CreditAccount, CreditContract
from lending.credit.permissions import require_owner_or_perm
from lending.domain import margin
from lending.domain.formats import fmt, fmt_ratio, fmt_shares, money_rounded
from lending.financing import services as financing
from lending.financing.held_back import held_back
from lending.financing.valuation import account_view, short_margin_ratio_for
from lending.instruments.models import Instrument
from lending.shorts import maturity as short_maturity
from lending.shorts import positions as short_positions
from lending.shorts import proceeds as short_proceeds
from lending.shorts import selectors as short_selectors
from lending.shorts.models import ReservationStatus, ShortReservation

ZERO = Decimal(0)
RETURN_PERM = "lending.change_shortposition"


def latest_trade_price(instrument: Instrument, on: date) -> Decimal | None:
    """The short-sale price floor: the latest trade price of `on`, else (before the day's first
    trade) the previous close; None for an instrument never priced."""
    latest = getattr(instrument, "latest_price", None)
    if latest is None:
        return None
    if latest.at is not None and timezone.localdate(latest.at) == on:
        return latest.price
    return latest.prev_close if latest.prev_close else latest.price


def short_price_check(instrument: Instrument, limit_price: Decimal, on: date) -> None:
    floor = latest_trade_price(instrument, on)
    if floor is not None and limit_price < floor:
        raise ValidationFailed(
            _(
                "limit_price: %(price)s is below the latest trade price %(floor)s of "
                "%(instrument)s; a short sale may not be priced below it (the previous close "
                "before the day's first trade)"
            )
            % {"price": limit_price, "floor": floor, "instrument": instrument.ledger_unit},
            extra={"field": "limit_price", "latest_price": str(floor), "rule": "short_price"},
        )


def short_sale_check(
    *,
    view,
    contract: CreditContract,
    instrument: Instrument,
    quantity: Decimal,
    limit_price: Decimal,
    on: date,
    pending: Decimal = ZERO,
    pending_financing: Decimal = ZERO,
) -> None:
    """Whether a short sale of `quantity` at `limit_price` may be placed (module docstring).
    `pending` is the amount working short sales may still sell, `pending_financing` what
    working financed buys may still borrow. Call under the account's lock."""
    if instrument.pk not in short_selectors.short_targets(on):
        raise RuleViolation(
            _(
                "instrument: %(instrument)s is not on its exchange's short-sale target list in "
                "force on %(on)s (or is ST, suspended or delisting): it may not be sold short"
            )
            % {"instrument": instrument.ledger_unit, "on": on.isoformat()},
            code="not_short_target",
            extra={"field": "instrument", "rule": "short_target_list"},
        )
    short_float_check(instrument=instrument, quantity=quantity, on=on)
    short_price_check(instrument, limit_price, on)
    amount = money_rounded(quantity * limit_price)
    used = view.financing_debt + view.short_sale_amount + pending + pending_financing
    if used + amount > contract.credit_limit:
        raise RuleViolation(
            _(
                "quantity: credit used %(used)s (financing, short sales owed and working "
                "orders) + this short sale %(amount)s exceeds the credit limit %(limit)s"
            )
            % {"used": fmt(used), "amount": fmt(amount), "limit": fmt(contract.credit_limit)},
            code="credit_limit",
            extra={
                "field": "quantity",
                "used": str(used),
                "amount": str(amount),
                "limit": str(contract.credit_limit),
            },
        )
    smr = short_margin_ratio_for(view.credit_account.investor, on)
    check = margin.check_short_sale(
        view.margin_account, amount + pending, smr, view.financing_margin_ratio
    )
    if not check.allowed:
        available = check.available_margin - money_rounded(pending * smr)
        required = money_rounded(amount * smr)
        raise RuleViolation(
            _(
                "quantity: a short sale of %(amount)s needs %(required)s of available margin "
                "(short margin ratio %(ratio)s); the account has %(available)s"
            )
            % {
                "amount": fmt(amount),
                "required": fmt(required),
                "ratio": fmt_ratio(smr),
                "available": fmt(available),
            },
            code="insufficient_margin",
            extra={
                "field": "quantity",
                "required": str(required),
                "available": str(available),
                "short_margin_ratio": str(smr),
            },
        )
    short_concentration_check(view=view, instrument=instrument, amount=amount, on=on)


def short_working(instrument: Instrument) -> Decimal:
    """Shares working short sales of `instrument` may still sell (their reservations' shares
    not yet lent nor released; a desk reservation by staff is not a short sale)."""
    working = ShortReservation.objects.filter(
        instrument=instrument,
        status=ReservationStatus.RESERVED,
        credit_account__isnull=False,
    ).aggregate(total=Sum(F("quantity") - F("lent") - F("released")))["total"]
    return working or ZERO


def _whole(shares: Decimal) -> str:
    return format(Decimal(shares).quantize(Decimal(1)), "f")


def short_float_check(*, instrument: Instrument, quantity: Decimal, on: date) -> None:
    """DOMAIN.md: short sales of a security stop when its short balance reaches the dated
    `shorts.float_stop` (25%) of its tradable shares and resume below `shorts.float_resume`
    (20%). Desk-wide, in shares. Refused while the instrument is stopped (its state, kept with
    the hysteresis by lending.shorts.positions.short_stop_evaluate: the order's placement
    evaluates it first in its own transaction, so a float changed since counts; read here
    without a lock, which would stand against a fill's lock order: lots, then instrument),
    and whenever (owed by the open short positions + working short sales + this sale) /
    tradable float would reach the stop: a sale never takes the balance to it."""
    state = Instrument.objects.only("tradable_float", "shorts_stopped").get(pk=instrument.pk)
    owed = short_positions.short_balance(instrument.pk)
    working = short_working(instrument)
    tradable = Decimal(state.tradable_float)
    stop = compliance_selectors.parameter(P.SHORT_FLOAT_STOP, on=on)
    resume = compliance_selectors.parameter(P.SHORT_FLOAT_RESUME, on=on)
    if tradable <= 0:
        raise RuleViolation(
            _(
                "instrument: %(instrument)s has no tradable float on record: the float stop "
                "of short sales cannot be checked"
            )
            % {"instrument": instrument.ledger_unit},
            code="short_float_stop",
            extra={"field": "instrument", "tradable_float": _whole(tradable)},
        )
    share = (owed + working + quantity) / tradable
    if state.shorts_stopped:
        now = owed / tradable
        raise RuleViolation(
            _(
                "instrument: short sales of %(instrument)s are stopped: its short balance "
                "reached %(stop)s of its tradable float and is %(now)s now (%(owed)s of "
                "%(float)s shares); they resume below %(resume)s"
            )
            % {
                "instrument": instrument.ledger_unit,
                "stop": fmt_ratio(stop),
                "now": fmt_ratio(now),
                "owed": fmt_shares(owed),
                "float": fmt_shares(tradable),
                "resume": fmt_ratio(resume),
            },
            code="short_float_stop",
            extra={
                "field": "instrument",
                "short_balance": _whole(owed),
                "tradable_float": _whole(tradable),
                "share": str(now),
                "stop": str(stop),
                "resume": str(resume),
                "stopped": True,
            },
        )
    if share >= stop:
        raise RuleViolation(
            _(
                "instrument: short sales of %(instrument)s are stopped: its short balance "
                "%(owed)s shares + %(working)s in working short sales + this %(quantity)s "
                "would be %(share)s of its tradable float of %(float)s shares, at or above "
                "the stop of %(stop)s (short sales resume below %(resume)s)"
            )
            % {
                "instrument": instrument.ledger_unit,
                "owed": fmt_shares(owed),
                "working": fmt_shares(working),
                "quantity": fmt_shares(quantity),
                "share": fmt_ratio(share),
                "float": fmt_shares(tradable),
                "stop": fmt_ratio(stop),
                "resume": fmt_ratio(resume),
            },
            code="short_float_stop",
            extra={
                "field": "instrument",
                "short_balance": _whole(owed),
                "working": _whole(working),
                "tradable_float": _whole(tradable),
                "share": str(share),
                "stop": str(stop),
                "resume": str(resume),
                "stopped": False,
            },
        )


def short_concentration_check(*, view, instrument: Instrument, amount: Decimal, on: date) -> None:
    """The account's single-security cap (lending.financing.services.concentration_check, the
    dated `book.account_concentration_cap`) on the short side: the market value of the shares
    of `instrument` owed after this sale of `amount` over the account's total assets (which
    the sale's proceeds join) stays within the cap."""
    cap = compliance_selectors.parameter(P.CONCENTRATION_CAP, on=on)
    short = view.short(instrument)
    short_mv = short.market_value if short is not None else ZERO
    total = view.total_assets + amount
    share = (short_mv + amount) / total
    if share > cap:
        raise RuleViolation(
            _(
                "instrument: the short position in %(instrument)s would be %(share)s of the "
                "account's total assets (%(value)s of %(total)s), above the cap of %(cap)s"
            )
            % {
                "instrument": instrument.ledger_unit,
                "share": fmt_ratio(share),
                "value": fmt(short_mv + amount),
                "total": fmt(total),
                "cap": fmt_ratio(cap),
            },
            code="concentration",
            extra={"field": "instrument", "share": str(share), "cap": str(cap), "side": "short"},
        )


def cover_check(
    *,
    view,
    instrument: Instrument,
    quantity: Decimal,
    cost: Decimal,
    pending_quantity: Decimal = ZERO,
    pending_cost: Decimal = ZERO,
    pending_cash: Decimal = ZERO,
) -> None:
    """Whether a buy to cover of `quantity` costing at most `cost` may be placed."""
    short = view.short(instrument)
    owed = short.quantity if short is not None else ZERO
    if quantity + pending_quantity > owed:
        raise RuleViolation(
            _(
                "quantity: %(quantity)s shares of %(instrument)s exceed the %(left)s owed and "
                "not already being bought back"
            )
            % {
                "quantity": fmt_shares(quantity),
                "instrument": instrument.ledger_unit,
                "left": fmt_shares(max(owed - pending_quantity, ZERO)),
            },
            code="short_quantity_owed",
            extra={"field": "quantity", "owed": str(owed), "pending": str(pending_quantity)},
        )
    funds = view.short_proceeds + view.cash - pending_cost - pending_cash
    if cost > funds:
        raise RuleViolation(
            _(
                "quantity: the cover may cost up to %(cost)s; the restricted proceeds and free "
                "cash not held back are %(funds)s"
            )
            % {"cost": fmt(cost), "funds": fmt(funds)},
            code="insufficient_cash",
            extra={"field": "quantity", "cost": str(cost), "available": str(funds)},
        )


def invested_purchase_check(
    *,
    view,
    instrument: Instrument,
    amount: Decimal,
    pending: Decimal = ZERO,
    pending_cover: Decimal = ZERO,
) -> None:
    """An own-cash buy costing up to `amount`. A money-market fund or government bond bought
    while short positions are open may be paid from the restricted proceeds too (issue 22): the
    funds are the free cash and the restricted proceeds not held back by working covers, less
    what working own-cash buys may still spend (`pending`). Any other buy: free cash only
    (lending.financing.services.cash_purchase_check)."""
    if not (short_proceeds.may_invest(instrument) and view.shorts):
        financing.cash_purchase_check(view=view, amount=amount, pending=pending)
        return
    funds = view.cash + max(view.short_proceeds - pending_cover, ZERO) - pending
    if amount > funds:
        raise RuleViolation(
            _(
                "amount: the purchase may cost %(amount)s; the free cash and the restricted "
                "short proceeds not held back are %(funds)s"
            )
            % {"amount": fmt(amount), "funds": fmt(funds)},
            code="insufficient_cash",
            extra={"field": "amount", "amount": str(amount), "cash": str(funds)},
        )


def short_return_direct(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    quantity,
    actor,
    idempotency_key: str,
    reason: str = "",
) -> short_positions.ReturnResult:
    """Return `quantity` shares the investor holds (own, not financed, not offered by a working
    sale) against its short positions of `instrument`, oldest first: the investor itself or
    staff with lending.change_shortposition. The same key again returns the first result."""
    require_owner_or_perm(actor, credit_account, RETURN_PERM, action="return shares directly")
    key = f"direct-return:{idempotency_key_required(idempotency_key)}"
    quantity = shares_parsed(quantity)
    why = (reason or "").strip() or "direct return"
    if actor is not None and getattr(actor, "is_staff", False):
        why = reason_required(reason)

    def run() -> short_positions.ReturnResult:
        account = open_credit_account_lock(credit_account)
        done = short_positions.return_result_of(key)
        if done is not None:
            return done
        view = account_view(account)
        short = view.short(instrument)
        owed = short.quantity if short is not None else ZERO
        if quantity > owed:
            raise RuleViolation(
                _("quantity: %(quantity)s shares exceed the %(owed)s of %(instrument)s owed")
                % {
                    "quantity": fmt_shares(quantity),
                    "owed": fmt_shares(owed),
                    "instrument": instrument.ledger_unit,
                },
                code="short_quantity_owed",
                extra={"field": "quantity", "owed": str(owed)},
            )
        position = view.position(instrument)
        own = position.own_quantity if position is not None else ZERO
        offered = held_back(account.pk).shares.get(instrument.pk, ZERO)
        # units bought with restricted short proceeds are not the investor's to return
        restricted = short_proceeds.restricted_quantity(account, instrument)
        free = max(own - offered - restricted, ZERO)
        if quantity > free:
            raise RuleViolation(
                _(
                    "quantity: %(quantity)s shares exceed the %(free)s own shares of "
                    "%(instrument)s held and not offered by a working sale (financed shares "
                    "are the financing's collateral)"
                )
                % {
                    "quantity": fmt_shares(quantity),
                    "free": fmt_shares(free),
                    "instrument": instrument.ledger_unit,
                },
                code="insufficient_securities",
                extra={"field": "quantity", "held": str(free)},
            )
        return short_positions.direct_return_book_in_transaction(
            account=account,
            instrument=instrument,
            quantity=quantity,
            key=key,
            memo=why,
            actor=actor,
        )

    return durable(run, "short_return_direct")


def short_extension_blockers(credit_account: CreditAccount, on: date) -> list:
    """lending.shorts.maturity.QUALIFICATION_HOOKS: the maintenance ratio above the warning
    line (DOMAIN.md "Maturity and extension"), which needs the account's valuation."""
    view = account_view(credit_account)
    ratio = view.maintenance_ratio
    if ratio is not None and ratio <= view.lines.warning:
        return [
            short_maturity.Blocker(
                "ratio_at_or_below_warning",
                _("maintenance ratio %(ratio)s is not above the warning line %(warning)s")
                % {"ratio": fmt_ratio(ratio), "warning": fmt_ratio(view.lines.warning)},
            )
        ]
    return []
