"""Liquidation of an overdue margin call: plan (maker), four-eyes approval (checker with a
second factor), execution through a broker adapter, default and reserve-fund cover.

- `liquidation_plan_prepare` values the account (lending.financing.valuation.account_view) and runs
  margin.plan_liquidation: the minimal whole-lot sale restoring the call's target, securities
  taken in the order of a documented rule (margin.ORDER_RULES; default "zero_haircut_first":
  positions giving no margin credit first, then the largest market value, the most liquid
  proxy), each sized and limited at the price the plan expects: the latest price less the
  desk's slippage (dated parameter liquidation.slippage; margin.expected_sale_price), never
  below the day's lower price limit and never sized at it. Suspended instruments are left out
  (they stay in the assets, unsold). If selling everything sellable cannot restore the target,
  the plan sells all of it and shows the expected shortfall.
- `liquidation_plan_approve` / `liquidation_plan_reject`: a risk officer other than the
  preparer (service check and a CHECK constraint), signed in with a second factor.
- `liquidation_execute`: for every line, the quantity not yet filled is sent to the broker;
  fills are recorded unique per (broker, fill id) in their own transaction, then each fill is
  posted once through lending.financing.services.position_sell_in_transaction (proceeds repay
  financing first; the fill's idempotency key makes a repeated posting harmless). A partial
  fill leaves the plan "executing". An order is "working" until filled or until the broker
  reports its remainder cancelled or rejected; what working orders still offer counts as being
  sold, so executing again (a second press, a rerun) sends nothing for it, and sends only a
  cancelled or rejected remainder. When every line is filled the call closes: if nothing
  sellable is left (suspended shares are not) and debt remains beyond assets, the shortfall
  becomes a DefaultRecord covered from the reserve fund (custody
  reserve_fund_use_in_transaction) and the account state is "default"; otherwise the account is
  revalued and takes whatever state the new ratio gives.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from decimal import Decimal

from django.db import IntegrityError, transaction
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
from lending.financing.valuation import account_view
from lending.liquidation.brokers import Broker, Fill, placement_of
from lending.liquidation.models import (
    UNFINISHED_PLAN_STATUSES,
    DefaultRecord,
    LiquidationFill,
    LiquidationOrder,
    LiquidationOrderStatus,
    LiquidationPlan,
    LiquidationPlanLine,
    LiquidationPlanStatus,
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

PREPARE_PERM = "lending.add_liquidationplan"


APPROVE_PERM = "lending.approve_liquidationplan"


EXECUTE_PERM = "lending.change_liquidationplan"


def _require_reason(reason: str) -> str:
    if not reason or not str(reason).strip():
        raise ValidationFailed("reason: a reason is required", extra={"field": "reason"})
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
            f"order_rule: unknown rule {rule!r}; known: {', '.join(sorted(margin.ORDER_RULES))}",
            extra={"field": "order_rule"},
        )
    with transaction.atomic():
        account = credit_account_lock(call.credit_account)
        call = MarginCall.objects.select_for_update(of=("self",)).get(pk=call.pk)
        if call.status != MarginCallStatus.OVERDUE:
            raise RuleViolation(
                f"call #{call.pk}: a liquidation is prepared only for an overdue call "
                f"(this one is {call.status})",
                code="call_not_overdue",
                extra={"status": call.status},
            )
        pending = LiquidationPlan.objects.filter(call=call, status__in=UNFINISHED_PLAN_STATUSES)
        if pending.exists():
            raise Conflict(
                f"call #{call.pk}: plan #{pending.first().pk} is already in progress",
                code="plan_in_progress",
            )
        view = account_view(account)
        slippage = compliance_selectors.parameter(
            P.LIQUIDATION_SLIPPAGE, on=timezone.localdate(now)
        )
        # Suspended instruments are left out of the plan (DOMAIN.md), rows without a price
        # cannot be sold today (their MV is 0): both stay in the assets, unsold. Every other
        # row is sized at the price the plan expects: the latest price less the desk's
        # slippage, never below the day's lower limit (margin.expected_sale_price).
        suspended = sorted(
            {p.instrument.ledger_unit for p in view.positions if p.instrument.suspended}
        )
        unsellable = set(suspended)
        rows = []
        for p in view.margin_account.positions:
            if p.price <= 0:
                unsellable.add(p.instrument)
            if p.instrument in unsellable or p.quantity <= 0:
                rows.append(p)
                continue
            expected = margin.expected_sale_price(p.price, slippage, p.lower_limit)
            rows.append(dataclasses.replace(p, limit_price=expected))
        acct = dataclasses.replace(view.margin_account, positions=tuple(rows))
        try:
            result = margin.plan_liquidation(
                acct, target=call.target_line, order=rule, unsellable=unsellable
            )
        except ValueError as exc:
            raise RuleViolation(f"liquidation plan: {exc}", code="plan_impossible") from exc
        if not result.lines:
            left_out = f"; suspended, left out: {', '.join(suspended)}" if suspended else ""
            raise RuleViolation(
                f"call #{call.pk}: nothing to sell (ratio {pct(result.ratio_before)}{left_out})",
                code="nothing_to_sell",
                extra={"suspended": suspended},
            )
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
            prepared_by=actor,
            prepared_at=now,
        )
        stamp(
            plan,
            actor=actor,
            reason=f"prepared ({rule}, at the latest price less {pct(slippage)} slippage) "
            f"{reason}".strip(),
        )
        plan.save()
        lower = {p.instrument: p.lower_limit for p in rows}
        marks = {p.instrument: p.price for p in rows}
        LiquidationPlanLine.objects.bulk_create(
            LiquidationPlanLine(
                plan=plan,
                sequence=i,
                instrument_code=line.instrument,
                quantity=line.quantity,
                limit_price=line.limit_price,
                lower_limit_price=lower.get(line.instrument),
                mark_price=marks[line.instrument],
                expected_proceeds=line.proceeds,
                market_value=line.market_value,
            )
            for i, line in enumerate(result.lines, start=1)
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
            "approver: the officer who prepared a liquidation cannot decide it (four eyes)",
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
            raise Conflict(f"plan #{plan.pk}: already {plan.status}", code="plan_decided")
        if call.status != MarginCallStatus.OVERDUE:
            raise RuleViolation(
                f"call #{call.pk}: is {call.status}, not overdue; the plan cannot be approved",
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
            raise Conflict(f"plan #{plan.pk}: already {plan.status}", code="plan_decided")
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


def _record_fills(order: LiquidationOrder, fills: list[Fill], broker_name: str) -> None:
    line = order.line
    for fill in fills:
        qty, price = Decimal(fill.quantity), Decimal(fill.price)
        if fill.instrument != line.instrument_code:
            raise RuleViolation(
                f"fill {fill.fill_id}: instrument {fill.instrument} is not {line.instrument_code}",
                code="fill_mismatch",
            )
        if price < line.limit_price:
            raise RuleViolation(
                f"fill {fill.fill_id}: price {price} below the limit {line.limit_price}",
                code="fill_below_limit",
            )
        try:
            with transaction.atomic():
                LiquidationFill.objects.create(
                    order=order,
                    broker=broker_name,
                    fill_id=fill.fill_id,
                    quantity=qty,
                    price=price,
                    amount=margin.quantize_money(qty * price),
                    filled_at=fill.filled_at,
                )
        except IntegrityError:  # the broker reported this fill before: recorded once
            continue
        order.filled_quantity += qty
    order.save(update_fields=["filled_quantity"])


def _post_pending_fills(plan: LiquidationPlan, actor) -> int:
    """Post every recorded fill of the plan not yet posted; each in its own transaction."""
    from lending.financing.services import position_sell_in_transaction

    posted = 0
    pending = LiquidationFill.objects.filter(order__line__plan=plan, posted_at__isnull=True)
    for pk in pending.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            account = credit_account_lock(plan.call.credit_account)
            fill = (
                LiquidationFill.objects.select_for_update(of=("self",))
                .select_related("order__line")
                .get(pk=pk)
            )
            if fill.posted_at is not None:
                continue
            line = LiquidationPlanLine.objects.select_for_update().get(pk=fill.order.line_id)
            sale = position_sell_in_transaction(
                credit_account=account,
                instrument=_instrument(line.instrument_code),
                quantity=fill.quantity,
                price=fill.price,
                actor=actor,
                reason=f"liquidation plan #{plan.pk}, call #{plan.call_id}",
                idempotency_key=fill.idempotency_key,
            )
            fill.posted_at = timezone.now()
            fill.interest_repaid = sale.interest_repaid
            fill.principal_repaid = sale.principal_repaid
            fill.cash_credited = sale.cash_credited
            fill.save(
                update_fields=["posted_at", "interest_repaid", "principal_repaid", "cash_credited"]
            )
            line.filled_quantity += fill.quantity
            line.proceeds += fill.amount
            line.save(update_fields=["filled_quantity", "proceeds"])
            posted += 1
    return posted


def _left_to_send(line: LiquidationPlanLine) -> Decimal:
    """What of the line is neither filled (fills recorded, posted or not) nor resting at the
    exchange in a working order: what a new order may sell."""
    totals = line.orders.aggregate(
        filled=Sum("filled_quantity"),
        working=Sum(
            F("quantity") - F("filled_quantity"),
            filter=Q(status=LiquidationOrderStatus.WORKING, quantity__gt=F("filled_quantity")),
        ),
    )
    return line.quantity - (totals["filled"] or 0) - (totals["working"] or 0)


def liquidation_execute(
    *, plan: LiquidationPlan, broker: Broker, actor, now: datetime | None = None
) -> LiquidationPlan:
    """Send to `broker` what is left to sell of every line, post the fills, and close the
    call when everything is sold (see the module docstring). Idempotent: the shares of orders
    still working (not filled, not cancelled or rejected) count as being sold, so running it
    again while they rest at the exchange sends nothing new; only a remainder the broker
    reported cancelled or rejected is sent again; recorded fills are never posted twice. The
    plan returned carries `orders_sent`: the orders this run placed (empty when none)."""
    require_permission(actor, EXECUTE_PERM, action="execute a liquidation")
    now = _aware(now, "now")
    broker_name = getattr(broker, "name", type(broker).__name__)[:40]
    with transaction.atomic():
        credit_account_lock(plan.call.credit_account)
        plan = _locked_plan(plan)
        if plan.status not in (LiquidationPlanStatus.APPROVED, LiquidationPlanStatus.EXECUTING):
            raise RuleViolation(
                f"plan #{plan.pk}: is {plan.status}; only an approved plan is executed",
                code="plan_not_approved",
                extra={"status": plan.status},
            )
        if plan.status == LiquidationPlanStatus.APPROVED:
            plan.status = LiquidationPlanStatus.EXECUTING
            stamp(plan, actor=actor, reason="execution started")
            plan.save()
            event_record(
                account=plan.call.credit_account, kind="execution_started", at=now, actor=actor,
                source="liquidation", reason=f"broker {broker_name}", call=plan.call,
                data={"plan": plan.pk},
            )  # fmt: skip

    _post_pending_fills(plan, actor)  # left over from an interrupted run
    sent: list[LiquidationOrder] = []
    for line in plan.lines.order_by("sequence"):
        with transaction.atomic():
            credit_account_lock(plan.call.credit_account)
            line = LiquidationPlanLine.objects.select_for_update().get(pk=line.pk)
            remaining = _left_to_send(line)
            if remaining <= 0:
                continue  # filled, or the rest still works at the exchange: nothing new
            order = LiquidationOrder.objects.create(
                line=line,
                broker=broker_name,
                quantity=remaining,
                limit_price=line.limit_price,
                placed_at=now,
                placed_by=actor,
                status=LiquidationOrderStatus.WORKING,
            )
        # The order row is committed, working, before the broker sees it (a second Execute
        # waits on the line's lock, then counts it); the fills are recorded in their own
        # transaction with the order's new status, then posted. Should the broker call fail,
        # the order stays working: its fate is unknown and its shares are never sent twice.
        placement = placement_of(
            broker.place_sell(line.instrument_code, remaining, line.limit_price)
        )
        with transaction.atomic():
            order = (
                LiquidationOrder.objects.select_for_update().select_related("line").get(pk=order.pk)
            )
            _record_fills(order, placement.fills, broker_name)
            if order.filled_quantity >= order.quantity:
                order.status = LiquidationOrderStatus.FILLED
            else:
                order.status = placement.remainder
            order.save(update_fields=["status"])
        sent.append(order)
        _post_pending_fills(plan, actor)

    with transaction.atomic():
        account = credit_account_lock(plan.call.credit_account)
        plan = _locked_plan(plan)
        plan.orders_sent = sent
        if plan.status != LiquidationPlanStatus.EXECUTING:
            return plan
        if any(line.remaining_quantity > 0 for line in plan.lines.all()):
            return plan  # partially executed: orders still working, or run again for the rest
        plan.status = LiquidationPlanStatus.EXECUTED
        plan.executed_at = now
        stamp(plan, actor=actor, reason="all lines filled")
        plan.save()
        _close_call(plan, account, actor, now)
    return plan


def _close_call(plan: LiquidationPlan, account, actor, now: datetime) -> None:
    call = MarginCall.objects.select_for_update(of=("self",)).get(pk=plan.call_id)
    proceeds = sum((line.proceeds for line in plan.lines.all()), Decimal(0))
    event_record(
        account=account, kind="execution_completed", at=now, actor=actor, source="liquidation",
        reason=f"plan #{plan.pk} executed, proceeds {proceeds}", call=call,
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
        raise ValidationFailed("amount: must be positive", extra={"field": "amount"})
    with transaction.atomic():
        default = DefaultRecord.objects.select_for_update().get(pk=default.pk)
        if default.recovered_amount + amount > default.shortfall:
            raise RuleViolation(
                f"amount: recovery would exceed the shortfall {default.shortfall}",
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
