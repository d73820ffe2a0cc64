"""Liquidation of an overdue margin call: plan (maker), four-eyes approval (checker with a
second factor), execution as liquidation orders (lending.orders), re-planning of an unsold
remainder, default and reserve-fund cover.

- `liquidation_plan_prepare` values the account (lending.financing.valuation.account_view) and runs
  margin.plan_liquidation: the minimal whole-lot sale restoring the call's target, securities
  taken in the order of a documented rule (margin.ORDER_RULES; default "zero_haircut_first":
  positions giving no margin credit first, then the largest market value, the most liquid
  proxy), each sized and limited at the price the plan expects: the latest price less the
  desk's slippage (dated parameter liquidation.slippage; margin.expected_sale_price), never
  below the day's lower price limit and never sized at it. Suspended instruments are left out
  (they stay in the assets, unsold). If selling everything sellable cannot restore the target,
  the plan sells all of it and shows the expected shortfall. An account that owes shares
  (short rows: account_view(...).shorts) gets margin.plan_liquidation_long_short's plan: the
  minimal sales of longs and buy-backs (forced buy-ins) of shorts together, each buy-back
  limited at the latest price plus the slippage, never above the day's upper limit
  (margin.expected_buy_price), its cost with the buy fees (`buy_fee_rate`); a line's `side`
  says which (sell, buy back). A maturity call (source
  "maturity": a financing unpaid after its due date, lending.margin_calls.maturity) is sized
  to repay the overdue debt instead (lending.domain.maturity.plan_sale_to_repay: proceeds net
  of sale fees, whole lots), whatever the ratio, and, when the account has overdue short
  positions (a short position matures like a financing), buys back all their shares: per
  instrument the shares that close every overdue position (closes take the oldest first), in
  whole lots or the whole remainder owed, at the buy-back limit (the latest price plus the
  slippage, never above the day's upper limit), paid from the restricted proceeds then the
  free cash, a shortfall owed (`_maturity_plan`); the rest of the flow is the same.
- `liquidation_plan_approve` / `liquidation_plan_reject`: a risk officer other than the
  preparer (service check and a CHECK constraint), signed in with a second factor.
- `liquidation_execute`: for every line, the quantity neither filled nor resting in a working
  order is placed as a liquidation `lending.Order` (orders.liquidation_order_place_in_transaction,
  idempotent on "liq:<line>:<n>"; a buy-back line as a buy of purpose buy_in, whose fills
  lending.orders books as covers: paid from the restricted proceeds, then the free cash, a
  shortfall left owed in lending_fee_receivable), linked to the line by a `LiquidationOrder`; the
  FIX gateway sends it. Working orders count against what is left, so a second Execute (a second
  press, a rerun) places nothing new and answers with the live orders.
- Fills are booked by lending.orders from the execution reports (a liquidation sale's proceeds
  repay the financing: interest first, then principal). `liquidation_order_applied`, one of
  orders.ORDER_HOOKS (registered in lending.apps), runs in the same transaction: it mirrors the
  order's status, records the fill on the plan (`LiquidationFill`, the line's filled quantity and
  proceeds; for a buy-in fill nothing repaid and the cost as a negative cash credited) and, when
  every line is filled, marks the plan executed and closes the call: if nothing sellable is left
  (suspended shares are not) and debt remains beyond assets, the shortfall becomes a DefaultRecord
  covered from the reserve fund (custody reserve_fund_use_in_transaction) and the account state is
  "default"; otherwise the account is revalued and takes whatever state the new ratio gives.
- `liquidation_replan`: after a limit-down day or a suspension (orders expired, cancelled or
  rejected with something left unsold, none working), the plan is stopped and a new plan is
  prepared for the rest from the account as it stands (four eyes again: it is approved like
  any plan). When nothing sellable is left the call closes as above (a default when debt
  remains beyond assets).
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import ROUND_CEILING, Decimal

from django.db import transaction
from django.db.models import F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.bulk import rows_update_with_history
from accounts.errors import Conflict, PermissionDenied, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from accounts.precision import RATIO
from accounts.second_factor import require_second_factor
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.credit.locks import credit_account_lock
from lending.domain import margin
from lending.domain import maturity as maturity_sizing
from lending.financing import maturity as financing_maturity
from lending.financing.valuation import account_view
from lending.liquidation.models import (
    UNFINISHED_PLAN_STATUSES,
    DefaultRecord,
    LiquidationFill,
    LiquidationOrder,
    LiquidationOrderStatus,
    LiquidationPlan,
    LiquidationPlanLine,
    LiquidationPlanStatus,
    PlanLineSide,
)
from lending.margin_calls import services as margin_call_services
from lending.margin_calls.models import MarginCall, MarginCallStatus, MarginStateKind, NoticeKind
from lending.margin_calls.services import (
    _aware,
    _state_row,
    config,
    event_record,
    notice_send,
    pct,
    state_set,
)
from lending.orders import services as orders
from lending.orders.models import Fill, Order, OrderPurpose, OrderStatus
from lending.shorts.models import ShortPosition, ShortPositionStatus

PREPARE_PERM = "lending.add_liquidationplan"


APPROVE_PERM = "lending.approve_liquidationplan"


EXECUTE_PERM = "lending.change_liquidationplan"


def _require_reason(reason: str) -> str:
    if not reason or not str(reason).strip():
        raise ValidationFailed(_("reason: a reason is required"), extra={"field": "reason"})
    return str(reason).strip()


def _q(ratio: Decimal | None) -> Decimal | None:
    return None if ratio is None else ratio.quantize(RATIO.quantum)


def _locked_plan(plan: LiquidationPlan) -> LiquidationPlan:
    return (
        LiquidationPlan.objects.select_for_update(of=("self",))
        .select_related("call__credit_account")
        .get(pk=plan.pk)
    )


def _instrument(code: str):
    from lending.instruments.models import Instrument

    exchange, _sep, symbol = code.partition(":")
    return Instrument.objects.get(exchange=exchange, code=symbol)


# --------------------------------------------------------------------------- prepare


def liquidation_plan_prepare(
    *,
    call: MarginCall,
    actor,
    order_rule: str | None = None,
    reason: str = "",
    now: datetime | None = None,
) -> LiquidationPlan:
    """Prepare the minimal sale for an overdue call (the maker's step)."""
    require_permission(actor, PREPARE_PERM, action="prepare a liquidation plan")
    now = _aware(now, "now")
    rule = order_rule or config()["order_rule"]
    if rule not in margin.ORDER_RULES:
        raise ValidationFailed(
            _("order_rule: unknown rule %(rule)s; known: %(known)s")
            % {"rule": repr(rule), "known": ", ".join(sorted(margin.ORDER_RULES))},
            extra={"field": "order_rule"},
        )
    with transaction.atomic():
        account = credit_account_lock(call.credit_account)
        call = MarginCall.objects.select_for_update(of=("self",)).get(pk=call.pk)
        if call.status != MarginCallStatus.OVERDUE:
            raise RuleViolation(
                _(
                    "call #%(pk)s: a liquidation is prepared only for an overdue call "
                    "(this one is %(status)s)"
                )
                % {"pk": call.pk, "status": call.get_status_display()},
                code="call_not_overdue",
                extra={"status": call.status},
            )
        pending = LiquidationPlan.objects.filter(call=call, status__in=UNFINISHED_PLAN_STATUSES)
        if pending.exists():
            raise Conflict(
                _("call #%(pk)s: plan #%(plan)s is already in progress")
                % {"pk": call.pk, "plan": pending.first().pk},
                code="plan_in_progress",
            )
        result = _plan_size(call, account, rule, now)
        if not result.lines:
            raise _nothing_to_sell(call, result)
        return _plan_create(call, account, result, actor=actor, reason=reason, now=now)


@dataclasses.dataclass(frozen=True)
class _Sizing:
    """margin.plan_liquidation's (or plan_liquidation_long_short's) answer with what the plan
    row records beside it."""

    rule: str
    view: object
    plan: margin.LiquidationPlan
    rows: tuple
    slippage: Decimal
    fee_rate: Decimal
    suspended: list
    buy_fee_rate: Decimal = Decimal(0)

    @property
    def lines(self) -> tuple:
        """Every line with its side: the sales, then the buy-backs of short rows."""
        return tuple((PlanLineSide.SELL, line) for line in self.plan.lines) + tuple(
            (PlanLineSide.BUY_BACK, line) for line in self.plan.covers
        )

    @property
    def ratio_before(self):
        return self.plan.ratio_before


def _nothing_to_sell(call: MarginCall, result: _Sizing) -> RuleViolation:
    suspended = result.suspended
    values = {"pk": call.pk, "ratio": pct(result.ratio_before), "left_out": ", ".join(suspended)}
    message = (
        _("call #%(pk)s: nothing to sell (ratio %(ratio)s; suspended, left out: %(left_out)s)")
        if suspended
        else _("call #%(pk)s: nothing to sell (ratio %(ratio)s)")
    )
    return RuleViolation(
        message % values,
        code="nothing_to_sell",
        extra={"suspended": suspended},
    )


def sale_fee_rate(account, on) -> Decimal:
    """What a sale pays in fees per unit of turnover: stamp duty on sales, the transfer fee
    and the commission rate of the account's latest contract (dated parameters on `on`). The
    commission's minimum per order is left out: it is a fixed amount, not a rate."""
    stamp_duty = compliance_selectors.parameter(P.STAMP_DUTY_SALE, on=on)
    transfer = compliance_selectors.parameter(P.TRANSFER_FEE, on=on)
    contract = account.contracts.order_by("-signed_on", "-pk").first()
    commission = contract.commission_rate if contract is not None else Decimal(0)
    return Decimal(stamp_duty) + Decimal(transfer) + Decimal(commission or 0)


def buy_fee_rate(account, on) -> Decimal:
    """What a buy-back pays in fees per unit of turnover: the transfer fee and the commission
    rate of the account's latest contract (no stamp duty on a buy; the commission's minimum
    left out, as in `sale_fee_rate`)."""
    transfer = compliance_selectors.parameter(P.TRANSFER_FEE, on=on)
    contract = account.contracts.order_by("-signed_on", "-pk").first()
    commission = contract.commission_rate if contract is not None else Decimal(0)
    return Decimal(transfer) + Decimal(commission or 0)


def _plan_size(call: MarginCall, account, rule: str, now: datetime) -> _Sizing:
    """Size the minimal sale restoring the call's target on the account as it stands; with
    short rows (the account owes shares), the minimal sales and buy-backs together
    (margin.plan_liquidation_long_short)."""
    view = account_view(account)
    on = timezone.localdate(now)
    slippage = compliance_selectors.parameter(P.LIQUIDATION_SLIPPAGE, on=on)
    # Suspended instruments are left out of the plan (DOMAIN.md), rows without a price
    # cannot be sold today (their MV is 0): both stay in the assets, unsold. Every other
    # row is sized at the price the plan expects: the latest price less the desk's
    # slippage, never below the day's lower limit (margin.expected_sale_price); a short
    # row's buy-back at the latest price plus the slippage, never above the day's upper
    # limit (margin.expected_buy_price).
    suspended = sorted(
        {p.instrument.ledger_unit for p in view.positions if p.instrument.suspended}
        | {s.instrument.ledger_unit for s in view.shorts if s.instrument.suspended}
    )
    unsellable = set(suspended)
    rows = []
    for p in view.margin_account.positions:
        if p.price <= 0:
            unsellable.add(p.instrument)
        if p.instrument in unsellable or p.quantity == 0:
            rows.append(p)
            continue
        if p.quantity < 0:
            expected = margin.expected_buy_price(p.price, slippage, p.upper_limit)
        else:
            expected = margin.expected_sale_price(p.price, slippage, p.lower_limit)
        rows.append(dataclasses.replace(p, limit_price=expected))
    acct = dataclasses.replace(view.margin_account, positions=tuple(rows))
    fee_rate = sale_fee_rate(account, on)
    buy_fees = buy_fee_rate(account, on) if view.shorts else Decimal(0)
    try:
        if call.source == margin_call_services.MATURITY_SOURCE:
            # an overdue financing (lending.margin_calls.maturity): sell enough, net of fees,
            # to repay the overdue debt as it stands today, not to restore a ratio; an overdue
            # short position: buy back all its shares
            result = _maturity_plan(
                account,
                acct,
                rule=rule,
                unsellable=unsellable,
                fee_rate=fee_rate,
                buy_fee_rate=buy_fees,
            )
        elif view.shorts:
            # long and short rows: sales of longs and buy-backs of shorts, the minimal cure
            result = margin.plan_liquidation_long_short(
                acct,
                target=call.target_line,
                order=rule,
                unsellable=unsellable,
                fee_rate=fee_rate,
                buy_fee_rate=buy_fees,
            )
        else:
            result = margin.plan_liquidation(
                acct,
                target=call.target_line,
                order=rule,
                unsellable=unsellable,
                fee_rate=fee_rate,
            )
    except ValueError as exc:
        raise RuleViolation(
            _("liquidation plan: %(problem)s") % {"problem": exc}, code="plan_impossible"
        ) from exc
    return _Sizing(rule, view, result, tuple(rows), slippage, fee_rate, suspended, buy_fees)


def overdue_buy_backs(account) -> dict[str, Decimal]:
    """The shares of each instrument (ledger unit) a buy-back needs so that every overdue
    short position of the account closes: a close takes the instrument's open positions
    oldest first (lending.shorts.positions), so the shares owed up to its last overdue one."""
    needed: dict[str, Decimal] = {}
    running: dict[str, Decimal] = {}
    for p in (
        ShortPosition.objects.filter(credit_account=account, status=ShortPositionStatus.OPEN)
        .select_related("instrument")
        .order_by("opened_on", "pk")
    ):
        unit = p.instrument.ledger_unit
        running[unit] = running.get(unit, Decimal(0)) + p.quantity_outstanding
        if p.overdue_since is not None:
            needed[unit] = running[unit]
    return needed


def _maturity_plan(
    account, acct: margin.Account, *, rule: str, unsellable, fee_rate: Decimal, buy_fee_rate
) -> margin.LiquidationPlan:
    """A maturity call's plan: the sale repaying the overdue debt
    (lending.domain.maturity.plan_sale_to_repay) and the buy-back of all the overdue shares
    (`overdue_buy_backs`, rounded up to whole lots, at most the whole remainder owed), each at
    its short row's buy-back limit. The buy-backs are paid from the restricted proceeds, then
    the free cash (with what the sale leaves after repaying), the rest owed: the figures after
    the plan say so. `restored`: the debt repaid and every overdue share bought back (a
    suspended or unpriced instrument is left out, as in any plan)."""
    result = maturity_sizing.plan_sale_to_repay(
        acct,
        financing_maturity.overdue_debt(account),
        order=rule,
        unsellable=unsellable,
        fee_rate=fee_rate,
    )
    needed = overdue_buy_backs(account)
    if not needed:
        return result
    covers, left_out = [], False
    spent = covered = Decimal(0)
    rows = {p.instrument: p for p in acct.positions if p.quantity < 0}
    for unit, need in needed.items():
        p = rows.get(unit)
        if p is None or unit in unsellable or p.limit_price is None:
            left_out = True
            continue
        owed = -p.quantity
        lot = Decimal(p.lot_size)
        qty = min((need / lot).to_integral_value(rounding=ROUND_CEILING) * lot, owed)
        limit = p.limit_price
        covers.append(
            margin.PlanLine(
                unit,
                qty,
                limit,
                margin.quantize_money(qty * limit),
                margin.quantize_money(qty * p.price),
            )
        )
        spent += qty * limit * (1 + buy_fee_rate)
        covered += qty * p.price
    # the cash the buy-backs may take: the restricted proceeds, the free cash, and what the
    # sale raised beyond what it repaid (in result.assets_after already)
    sold_mv = sum((line.market_value for line in result.lines), Decimal(0))
    raised_left = result.assets_after - margin.total_assets(acct) + sold_mv
    pool = max(acct.short_proceeds + max(acct.cash, Decimal(0)) + raised_left, Decimal(0))
    paid = min(spent, pool)
    assets_after = result.assets_after - paid
    liabilities_after = result.liabilities_after - covered + (spent - paid)
    ratio_after = margin.ratio_of(assets_after, liabilities_after)
    return dataclasses.replace(
        result,
        restored=result.restored and not left_out,
        ratio_after=ratio_after,
        shortfall=margin.quantize_money(max(liabilities_after - assets_after, Decimal(0))),
        assets_after=assets_after,
        liabilities_after=liabilities_after,
        covers=tuple(covers),
        cover_cost=sum((line.proceeds for line in covers), Decimal(0)),
    )


def _plan_create(
    call: MarginCall, account, sizing: _Sizing, *, actor, reason: str, now: datetime
) -> LiquidationPlan:
    """Write the prepared plan and its lines (inside the caller's transaction)."""
    rule, view, result, rows = sizing.rule, sizing.view, sizing.plan, sizing.rows
    slippage, suspended = sizing.slippage, sizing.suspended
    plan = LiquidationPlan(
        call=call,
        status=LiquidationPlanStatus.PREPARED,
        order_rule=rule,
        target_line=call.target_line,
        ratio_before=_q(result.ratio_before),
        ratio_after=_q(result.ratio_after),
        restores_target=result.restored,
        assets_before=margin.quantize_money(view.total_assets),
        liabilities_before=margin.quantize_money(view.total_liabilities),
        expected_proceeds=result.proceeds,
        expected_shortfall=result.shortfall,
        suspended_left_out=list(suspended),
        prepared_by=actor,
        prepared_at=now,
    )
    left_out = f"; suspended, left out: {', '.join(suspended)}" if suspended else ""
    buy_backs = (
        f"; buy-backs at the latest price plus {pct(slippage)}, buy fees "
        f"{pct(sizing.buy_fee_rate)}, cost {result.cover_cost}"
        if result.covers
        else ""
    )
    stamp(
        plan,
        actor=actor,
        reason=f"prepared ({rule}, at the latest price less {pct(slippage)} slippage, "
        f"sale fees {pct(sizing.fee_rate)}{buy_backs}{left_out}) {reason}".strip(),
    )
    plan.save()
    # the long rows' lower limits and marks for the sales, the short rows' marks for the
    # buy-backs (a buy-back's worst price is the day's upper limit, its limit price's cap)
    lower = {p.instrument: p.lower_limit for p in rows if p.quantity > 0}
    marks = {
        PlanLineSide.SELL: {p.instrument: p.price for p in rows if p.quantity > 0},
        PlanLineSide.BUY_BACK: {p.instrument: p.price for p in rows if p.quantity < 0},
    }
    LiquidationPlanLine.objects.bulk_create(
        LiquidationPlanLine(
            plan=plan,
            sequence=i,
            side=side,
            instrument_code=line.instrument,
            quantity=line.quantity,
            limit_price=line.limit_price,
            lower_limit_price=lower.get(line.instrument) if side == PlanLineSide.SELL else None,
            mark_price=marks[side][line.instrument],
            expected_proceeds=line.proceeds,
            market_value=line.market_value,
        )
        for i, (side, line) in enumerate(sizing.lines, start=1)
    )
    event_record(
        account=account,
        kind="plan_prepared",
        at=now,
        actor=actor,
        source="liquidation",
        reason=reason or f"minimal sale, rule {rule}",
        call=call,
        ratio=result.ratio_before,
        data={
            "plan": plan.pk,
            "proceeds": str(result.proceeds),
            "ratio_after": None if result.ratio_after is None else str(result.ratio_after),
            "shortfall": str(result.shortfall),
            "slippage": str(slippage),
            "sale_fee_rate": str(sizing.fee_rate),
            "buy_backs": [[line.instrument, str(line.quantity)] for line in result.covers],
            "buy_back_cost": str(result.cover_cost),
            "suspended_left_out": suspended,
        },
    )
    return plan


# --------------------------------------------------------------------------- decide


def _check_checker(plan: LiquidationPlan, actor, *, action: str) -> None:
    require_permission(actor, APPROVE_PERM, action="decide a liquidation plan")
    # the system (actor None) is refused by the second-factor check below: a person decides
    if plan.prepared_by_id is not None and plan.prepared_by_id == getattr(actor, "pk", None):
        raise PermissionDenied(
            _("approver: the officer who prepared a liquidation cannot decide it (four eyes)"),
            code="four_eyes",
        )
    require_second_factor(actor, action=action)


def liquidation_plan_approve(
    *, plan: LiquidationPlan, actor, reason: str, now: datetime | None = None
) -> LiquidationPlan:
    """Approve a prepared plan: the checker is not the preparer and has a second factor."""
    reason = _require_reason(reason)
    _check_checker(plan, actor, action="liquidation approval")
    now = _aware(now, "now")
    with transaction.atomic():
        account = credit_account_lock(plan.call.credit_account)
        plan = _locked_plan(plan)
        call = MarginCall.objects.select_for_update(of=("self",)).get(pk=plan.call_id)
        if plan.status != LiquidationPlanStatus.PREPARED:
            raise Conflict(
                _("plan #%(pk)s: already %(status)s")
                % {"pk": plan.pk, "status": plan.get_status_display()},
                code="plan_decided",
            )
        # a re-plan's call is still liquidating (its earlier plan stopped with a remainder)
        if call.status not in (MarginCallStatus.OVERDUE, MarginCallStatus.LIQUIDATING):
            raise RuleViolation(
                _("call #%(pk)s: is %(status)s, not overdue; the plan cannot be approved")
                % {"pk": call.pk, "status": call.get_status_display()},
                code="call_not_overdue",
            )
        plan.status = LiquidationPlanStatus.APPROVED
        plan.approved_by = actor
        plan.decided_at = now
        plan.decision_reason = reason
        stamp(plan, actor=actor, reason=f"approved: {reason}")
        plan.save()
        call.status = MarginCallStatus.LIQUIDATING
        stamp(call, actor=actor, reason=f"liquidation approved (plan #{plan.pk})")
        call.save()
        event_record(
            account=account, kind="plan_approved", at=now, actor=actor, source="liquidation",
            reason=reason, call=call, data={"plan": plan.pk},
        )  # fmt: skip
        state_set(
            _state_row(account, now), MarginStateKind.LIQUIDATION, at=now, actor=actor,
            source="liquidation", reason=f"plan #{plan.pk} approved: {reason}", call=call,
        )  # fmt: skip
        notice_send(account=account, kind=NoticeKind.LIQUIDATION, call=call, at=now)
    return plan


def liquidation_plan_reject(
    *, plan: LiquidationPlan, actor, reason: str, now: datetime | None = None
) -> LiquidationPlan:
    """Reject a prepared plan; the call stays overdue and a new plan may be prepared."""
    reason = _require_reason(reason)
    _check_checker(plan, actor, action="liquidation rejection")
    now = _aware(now, "now")
    with transaction.atomic():
        account = credit_account_lock(plan.call.credit_account)
        plan = _locked_plan(plan)
        if plan.status != LiquidationPlanStatus.PREPARED:
            raise Conflict(
                _("plan #%(pk)s: already %(status)s")
                % {"pk": plan.pk, "status": plan.get_status_display()},
                code="plan_decided",
            )
        plan.status = LiquidationPlanStatus.REJECTED
        plan.approved_by = actor
        plan.decided_at = now
        plan.decision_reason = reason
        stamp(plan, actor=actor, reason=f"rejected: {reason}")
        plan.save()
        event_record(
            account=account, kind="plan_rejected", at=now, actor=actor, source="liquidation",
            reason=reason, call=plan.call, data={"plan": plan.pk},
        )  # fmt: skip
    return plan


# --------------------------------------------------------------------------- execute

#: The plan's view of an order's status.
_MIRRORED_STATUS = {
    OrderStatus.NEW: LiquidationOrderStatus.WORKING,
    OrderStatus.PARTIALLY_FILLED: LiquidationOrderStatus.WORKING,
    OrderStatus.FILLED: LiquidationOrderStatus.FILLED,
    OrderStatus.CANCELLED: LiquidationOrderStatus.CANCELLED,
    OrderStatus.REJECTED: LiquidationOrderStatus.REJECTED,
    OrderStatus.EXPIRED: LiquidationOrderStatus.EXPIRED,
}


def _mirror(link: LiquidationOrder, order: Order) -> bool:
    """Copy the order's status and filled quantity onto its link; True when they changed."""
    status = _MIRRORED_STATUS[OrderStatus(order.status)]
    if (link.status, link.filled_quantity) == (status, order.filled_quantity):
        return False
    link.status, link.filled_quantity = status, order.filled_quantity
    return True


def _orders_sync(plan: LiquidationPlan) -> None:
    """Bring the plan's links up to date with their orders (an order cancelled before it was
    sent, or expired unsent at the close, runs no order hook)."""
    links = list(
        LiquidationOrder.objects.select_for_update(of=("self",))
        .select_related("order")
        .filter(line__plan=plan, order__isnull=False)
    )
    changed = [link for link in links if _mirror(link, link.order)]
    for link in changed:
        link.save(update_fields=["status", "filled_quantity"])


def _left_to_send(line: LiquidationPlanLine) -> Decimal:
    """What of the line is neither filled nor resting at the exchange in a working order:
    what a new order may sell (the links mirror their orders, see `_orders_sync`)."""
    totals = line.orders.aggregate(
        filled=Sum("filled_quantity"),
        working=Sum(
            F("quantity") - F("filled_quantity"),
            filter=Q(status=LiquidationOrderStatus.WORKING, quantity__gt=F("filled_quantity")),
        ),
    )
    return line.quantity - (totals["filled"] or 0) - (totals["working"] or 0)


def liquidation_execute(
    *, plan: LiquidationPlan, actor, now: datetime | None = None
) -> LiquidationPlan:
    """Place what is left to sell of every line as liquidation orders (see the module
    docstring); the FIX gateway sends them and the fills close the plan. Idempotent: the
    shares of orders still working count as being sold, so running it again while they rest
    at the exchange places nothing new; a remainder the exchange cancelled or rejected is
    placed again at the line's limit price (after a limit-down day or a suspension, re-plan
    instead: `liquidation_replan`). A line of a suspended instrument is not sent. The plan
    returned carries `orders_sent`: the links of the orders this run placed (empty when
    none)."""
    require_permission(actor, EXECUTE_PERM, action="execute a liquidation")
    now = _aware(now, "now")
    with transaction.atomic():
        account = credit_account_lock(plan.call.credit_account)
        plan = _locked_plan(plan)
        if plan.status not in (LiquidationPlanStatus.APPROVED, LiquidationPlanStatus.EXECUTING):
            raise RuleViolation(
                _("plan #%(pk)s: is %(status)s; only an approved plan is executed")
                % {"pk": plan.pk, "status": plan.get_status_display()},
                code="plan_not_approved",
                extra={"status": plan.status},
            )
        if plan.status == LiquidationPlanStatus.APPROVED:
            plan.status = LiquidationPlanStatus.EXECUTING
            stamp(plan, actor=actor, reason="execution started")
            plan.save()
            event_record(
                account=account, kind="execution_started", at=now, actor=actor,
                source="liquidation", reason="liquidation orders placed", call=plan.call,
                data={"plan": plan.pk},
            )  # fmt: skip
        _orders_sync(plan)
        sent: list[LiquidationOrder] = []
        for line in plan.lines.select_for_update().order_by("sequence"):
            remaining = _left_to_send(line)
            if remaining <= 0:
                continue  # filled, or the rest still works at the exchange: nothing new
            instrument = _instrument(line.instrument_code)
            if instrument.suspended:
                continue  # the exchange would reject it: re-plan once nothing works
            number = line.orders.count() + 1
            buy_back = line.side == PlanLineSide.BUY_BACK
            order = orders.liquidation_order_place_in_transaction(
                credit_account=account,
                instrument=instrument,
                quantity=remaining,
                limit_price=line.limit_price,
                actor=actor,
                key=f"liq:{line.pk}:{number}",
                reason=f"liquidation plan #{plan.pk}, call #{plan.call_id}"
                + (" (forced buy-in)" if buy_back else ""),
                purpose=OrderPurpose.BUY_IN if buy_back else OrderPurpose.LIQUIDATION,
            )
            link = LiquidationOrder(
                line=line,
                order=order,
                quantity=order.quantity,
                limit_price=order.limit_price,
                placed_at=now,
                placed_by=actor if getattr(actor, "pk", None) else None,
            )
            _mirror(link, order)
            link.save()
            sent.append(link)
        if sent:
            event_record(
                account=account, kind="orders_placed", at=now, actor=actor,
                source="liquidation", reason=f"plan #{plan.pk}: {len(sent)} order(s)",
                call=plan.call,
                data={"plan": plan.pk, "orders": [link.order.client_order_id for link in sent]},
            )  # fmt: skip
    plan.orders_sent = sent
    return plan


# --------------------------------------------------------------------------- the orders' hook


def _repaid_by(fill: Fill) -> tuple[Decimal, Decimal]:
    """(interest, principal) the fill's proceeds repaid (the repayment entry the order
    lifecycle posted beside the sale, keyed by the exec id)."""
    from custody.models import JournalEntry
    from lending.financing.services import _repayment_from_entry

    entry = JournalEntry.objects.filter(idempotency_key=f"fill-repay:{fill.exec_id}").first()
    if entry is None:
        return Decimal(0), Decimal(0)
    repaid = _repayment_from_entry(entry)
    return repaid.interest_repaid, repaid.principal_repaid


#: The purposes of the orders a plan places: a sale, a forced buy-in.
_PLAN_PURPOSES = (OrderPurpose.LIQUIDATION, OrderPurpose.BUY_IN)


def liquidation_order_applied(order: Order, fill: Fill | None) -> None:
    """orders.ORDER_HOOKS: after each execution report of a liquidation order, inside the
    transaction applying it (the fill is booked already). Mirrors the order on its link,
    records the fill on the line and, once every line is filled, executes the plan and closes
    the call."""
    if order.purpose not in _PLAN_PURPOSES:
        return
    found = LiquidationOrder.objects.filter(order=order).values("pk", "line__plan_id").first()
    if found is None:
        return
    # the locks in the order of liquidation_execute and liquidation_replan: the account, the
    # plan, its orders, its lines (the order itself is locked by the caller)
    account = credit_account_lock(order.credit_account)
    plan = LiquidationPlan.objects.select_for_update(of=("self",)).get(pk=found["line__plan_id"])
    link = (
        LiquidationOrder.objects.select_for_update(of=("self",))
        .select_related("line")
        .get(pk=found["pk"])
    )
    if _mirror(link, order):
        link.save(update_fields=["status", "filled_quantity"])
    if fill is None:
        return
    line = LiquidationPlanLine.objects.select_for_update().get(pk=link.line_id)
    if order.purpose == OrderPurpose.BUY_IN:
        # a buy-back repays no financing: its cost (turnover and fees) left the restricted
        # proceeds, then the free cash (a shortfall is owed: lending.shorts.positions)
        interest = principal = Decimal(0)
        net = -(fill.turnover + fill.commission + fill.stamp_duty + fill.transfer_fee)
    else:
        interest, principal = _repaid_by(fill)
        net = fill.turnover - fill.commission - fill.stamp_duty - fill.transfer_fee
    LiquidationFill.objects.create(
        order=link,
        fill=fill,
        quantity=fill.quantity,
        price=fill.price,
        amount=fill.turnover,
        filled_at=fill.executed_at,
        interest_repaid=interest,
        principal_repaid=principal,
        cash_credited=net - interest - principal,
    )
    line.filled_quantity += fill.quantity
    line.proceeds += fill.turnover
    line.save(update_fields=["filled_quantity", "proceeds"])
    if plan.status != LiquidationPlanStatus.EXECUTING:
        return
    if any(x.remaining_quantity > 0 for x in plan.lines.all()):
        return  # orders still working, or a remainder to re-plan
    at = fill.executed_at
    plan.status = LiquidationPlanStatus.EXECUTED
    plan.executed_at = at
    stamp(plan, actor=None, reason=f"all lines filled (last fill {fill.exec_id})")
    plan.save()
    _close_call(plan, account, None, at)


# --------------------------------------------------------------------------- re-plan


def liquidation_replan(
    *, plan: LiquidationPlan, actor, reason: str = "", now: datetime | None = None
) -> LiquidationPlan:
    """Stop a plan whose orders left something unsold (a limit-down day, a suspension: their
    remainder expired, was cancelled or rejected) and prepare a new plan for the rest, sized on
    the account as it stands (the maker's step: a second risk officer approves it, as any
    plan). Refused while an order of the plan still works at the exchange. When nothing
    sellable is left, or the account is back at its target, the call closes instead (a default
    covered from the reserve when debt remains beyond assets) and the stopped plan is
    returned."""
    require_permission(actor, PREPARE_PERM, action="re-plan a liquidation")
    now = _aware(now, "now")
    with transaction.atomic():
        account = credit_account_lock(plan.call.credit_account)
        plan = _locked_plan(plan)
        call = MarginCall.objects.select_for_update(of=("self",)).get(pk=plan.call_id)
        # an approved plan not yet executed is re-planned too (its limit prices may be out of
        # today's band)
        if plan.status not in (LiquidationPlanStatus.APPROVED, LiquidationPlanStatus.EXECUTING):
            raise RuleViolation(
                _(
                    "plan #%(pk)s: is %(status)s; only an approved plan or one being executed "
                    "is re-planned"
                )
                % {"pk": plan.pk, "status": plan.get_status_display()},
                code="plan_not_approved",
                extra={"status": plan.status},
            )
        _orders_sync(plan)
        working = LiquidationOrder.objects.filter(
            line__plan=plan, status=LiquidationOrderStatus.WORKING
        )
        if working.exists():
            raise Conflict(
                _(
                    "plan #%(pk)s: %(count)s order(s) still work at the exchange; re-plan once "
                    "they are filled, cancelled or expired"
                )
                % {"pk": plan.pk, "count": working.count()},
                code="orders_working",
            )
        unsold = sum((x.remaining_quantity for x in plan.lines.all()), Decimal(0))
        rule = plan.order_rule if plan.order_rule in margin.ORDER_RULES else config()["order_rule"]
        sizing = _plan_size(call, account, rule, now)
        plan.status = LiquidationPlanStatus.STOPPED
        stamp(plan, actor=actor, reason=f"stopped with {unsold} unsold: re-planned {reason}")
        plan.save()
        event_record(
            account=account, kind="plan_stopped", at=now, actor=actor, source="liquidation",
            reason=reason or "remainder unsold", call=call,
            data={"plan": plan.pk, "unsold": str(unsold)},
        )  # fmt: skip
        if sizing.lines:
            return _plan_create(
                call, account, sizing, actor=actor,
                reason=f"re-plan of plan #{plan.pk} {reason}".strip(), now=now,
            )  # fmt: skip
        if sizing.plan.restored or sizing.plan.shortfall > 0:
            # back at the target, or nothing sellable left: the call closes (a default when
            # debt remains beyond assets)
            _close_call(plan, account, actor, now)
            return plan
        raise _nothing_to_sell(call, sizing)


def _close_call(plan: LiquidationPlan, account, actor, now: datetime) -> None:
    call = MarginCall.objects.select_for_update(of=("self",)).get(pk=plan.call_id)
    proceeds = sum((line.proceeds for line in plan.lines.all()), Decimal(0))
    event_record(
        account=account, kind="execution_completed", at=now, actor=actor, source="liquidation",
        reason=f"plan #{plan.pk} {plan.status}, proceeds {proceeds}", call=call,
        data={"plan": plan.pk, "proceeds": str(proceeds)},
    )  # fmt: skip
    view = account_view(account)
    # suspended shares cannot be sold: with nothing sellable left, a shortfall is a default
    anything_left = any(
        p.quantity > 0 and p.price > 0 and not p.instrument.suspended for p in view.positions
    )
    shortfall = margin.quantize_money(max(view.total_liabilities - view.total_assets, Decimal(0)))
    call.status = MarginCallStatus.CLOSED
    call.closed_at = now
    if shortfall > 0 and not anything_left:
        call.reason = f"liquidated (plan #{plan.pk}); shortfall {shortfall} charged to the reserve"
        stamp(call, actor=actor, reason="closed: liquidated with a shortfall")
        call.save()
        _default_record(call, plan, account, shortfall, view, actor, now)
        return
    call.reason = f"liquidated (plan #{plan.pk})"
    stamp(call, actor=actor, reason="closed: liquidated")
    call.save()
    # the post-sale valuation must not be discarded as stale by a later mark-to-market stamp
    last = _state_row(account, now).last_valued_at
    margin_call_services.margin_state_apply(
        credit_account=account,
        ratio=view.maintenance_ratio,
        total_assets=view.total_assets,
        total_liabilities=view.total_liabilities,
        valued_at=max(now, last) if last else now,
        actor=actor,
        source="liquidation",
        lines=view.lines,
    )


def _default_record(call, plan, account, shortfall, view, actor, now) -> DefaultRecord:
    from custody.services import reserve_fund_use_in_transaction

    currency = config()["currency"]
    record = DefaultRecord(
        call=call,
        credit_account=account,
        plan=plan,
        currency=currency,
        shortfall=shortfall,
        occurred_at=now,
        recorded_by=actor if getattr(actor, "pk", None) else None,
    )
    stamp(record, actor=actor, reason="shortfall after liquidation")
    record.save()
    # The reserve covers the financing receivable left unpaid (custody writes it off).
    covered = min(shortfall, margin.quantize_money(view.financing_debt))
    if covered > 0:
        entry = reserve_fund_use_in_transaction(
            investor=account.investor,
            amount=covered,
            currency=currency,
            actor=actor,
            reason=f"default on call #{call.pk} after liquidation plan #{plan.pk}",
            idempotency_key=f"lending-default-call-{call.pk}",
        )
        record.reserve_entry = entry
        record.covered_at = now
        stamp(record, actor=actor, reason="covered by the reserve fund")
        record.save(update_fields=["reserve_entry", "covered_at"])
    event_record(
        account=account, kind="default_recorded", at=now, actor=actor, source="liquidation",
        reason=f"shortfall {shortfall}", call=call,
        data={"shortfall": str(shortfall), "covered": str(covered)},
    )  # fmt: skip
    row = _state_row(account, now)
    state_set(
        row, MarginStateKind.DEFAULT, at=now, actor=actor, source="liquidation",
        reason=f"shortfall {shortfall} after liquidation", call=call,
    )  # fmt: skip
    notice_send(
        account=account, kind=NoticeKind.DEFAULT, call=call, at=now,
        context={"shortfall": shortfall},
    )  # fmt: skip
    return record


def default_recovery_record(
    *, default: DefaultRecord, amount: Decimal, actor, reason: str, now: datetime | None = None
) -> DefaultRecord:
    """Record money recovered on a default (recovery time = last recovery - default)."""
    require_permission(actor, EXECUTE_PERM, action="record a default recovery")
    reason = _require_reason(reason)
    now = _aware(now, "now")
    amount = margin.as_decimal(amount, "amount")
    if amount <= 0:
        raise ValidationFailed(_("amount: must be positive"), extra={"field": "amount"})
    with transaction.atomic():
        default = DefaultRecord.objects.select_for_update().get(pk=default.pk)
        if default.recovered_amount + amount > default.shortfall:
            raise RuleViolation(
                _("amount: recovery would exceed the shortfall %(shortfall)s")
                % {"shortfall": default.shortfall},
                extra={"field": "amount"},
            )
        default.recovered_amount += amount
        default.recovered_at = now
        stamp(default, actor=actor, reason=f"recovered {amount}: {reason}")
        default.save(update_fields=["recovered_amount", "recovered_at"])
    return default


def plans_reject_for_cured_calls(calls: list[MarginCall], *, actor, at: datetime) -> None:
    """A cured call's prepared liquidation plans are rejected: nothing is left to sell for."""
    plans = list(
        LiquidationPlan.objects.select_for_update().filter(call__in=calls, status="prepared")
    )
    for plan in plans:
        plan.status = "rejected"
        plan.decided_at = at
        plan.decision_reason = _("The margin call was cured before approval.")
        stamp(plan, actor=actor, reason="call cured")
    rows_update_with_history(plans, ["status", "decided_at", "decision_reason"])


if plans_reject_for_cured_calls not in margin_call_services.CALL_CURED_HOOKS:
    margin_call_services.CALL_CURED_HOOKS.append(plans_reject_for_cured_calls)
