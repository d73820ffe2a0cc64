"""The order lifecycle: place (with the pre-trade checks and what the order holds back), cancel,
and apply the market's execution reports (the only way a trade is booked).

- `order_place`: an investor (own account) or staff with lending.add_order places a day limit
  order. Refused, with nothing written, when: the limit price is outside the day's band
  (400 naming `limit_price` and the band), the quantity is not whole lots, the instrument is
  suspended; for a buy, the investor may not trade on credit (risk disclosure, suitability C4 or
  C5 or professional), the investor is a director, supervisor, senior manager or 5% holder of
  the company (lending.instruments.restricted), there is no active contract or it is past its
  end, and for a financed buy the credit limit, the available margin at the limit price,
  eligibility, the exchange's financing target list in force, the float stop, concentration
  and the net-capital caps (lending.financing.services checks them, the desk-wide ones under
  the desk's lock, lending.credit.locks step 3); for an own-cash buy the
  free cash; for a sale the shares not already offered. A buy holds back its
  most possible cost (limit price x quantity + fees) until it is filled, cancelled, rejected or
  expired. The order is committed unsent; the FIX gateway (orders/gateway.py) sends it.
- a short sale (融券卖出, lending.financing.short_sales.short_sale_check): the trading blockers
  and the restricted holder as for a buy, an active contract, the short-sale target list, the
  limit price not below the latest trade price, the credit limit and the available margin at
  the dated short margin ratio; the shares are reserved in the lending inventory in the same
  transaction (lending.shorts.services.shares_reserve: refused beyond what is available) and
  released when the order ends unfilled. A buy to cover (买券还券): at most the shares owed and
  not already being bought back, its most possible cost held back from the restricted
  proceeds and free cash. Fills book short positions and covers (lending.shorts.positions).
- `order_cancel`: asks the exchange to cancel what is left (an order not yet sent is cancelled
  at once). The exchange's report makes it cancelled.
- `liquidation_order_place_in_transaction`: a liquidation sale, for lending.liquidation only
  (no suitability or contract check: the desk is selling to cure a call).
- `execution_report_record`: the gateway stores every report as received (once per exec id).
- `execution_reports_apply(order_id)`: the Celery task's body. Each report of the order is
  applied in the order received, each in its own transaction under the order's lock: a fill is
  booked at its price with its fees (Fill row, unique exec id; the ledger entries keyed by it),
  the order's status follows the report, and what it holds back shrinks to what is left. A
  worker killed mid-way rolls its transaction back and the report stays unapplied for the next
  run (the task is acknowledged late; a beat sweeper re-enqueues what waits too long).

`ORDER_HOOKS` run inside the applying transaction after each report, with (order, fill or
None); lending.liquidation registers its own there (lending.apps).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import stamp
from accounts.errors import Conflict, RuleViolation, ValidationFailed
from accounts.permissions import require_permission
from compliance import parameters as P
from compliance import selectors as compliance_selectors
from lending.common.inputs import (
    MAGNITUDE_LIMIT,
    decimal_parsed,
    idempotency_key_required,
    shares_parsed,
)
from lending.common.transactions import durable
from lending.credit.locks import desk_limits_lock, lock_in_order, open_credit_account_lock
from lending.credit.models import CreditAccount, CreditContract
from lending.credit.permissions import require_owner_or_perm
from lending.domain import fees as fee_rules
from lending.domain.formats import fmt, fmt_shares
from lending.financing import services as financing
from lending.financing import short_sales
from lending.financing.valuation import account_view
from lending.instruments import selectors as instrument_selectors
from lending.instruments.models import Instrument
from lending.instruments.restricted import restricted_holder_check
from lending.orders import reports as fix
from lending.orders import selectors
from lending.orders.models import (
    COVER_PURPOSES,
    PURPOSE_SIDES,
    WORKING,
    ExecutionReportRecord,
    Fill,
    Order,
    OrderPurpose,
    OrderSide,
    OrderStatus,
)
from lending.shorts import positions as short_positions
from lending.shorts import services as inventory

logger = logging.getLogger(__name__)

ZERO = Decimal(0)
CLIENT_ORDER_ID_SEQUENCE = "lending_order_client_id_seq"

#: Called inside the applying transaction after each report: hook(order, fill or None).
ORDER_HOOKS: list[Callable[[Order, Fill | None], None]] = []

#: The exchange's final states, by FIX ExecType.
_TERMINAL = {
    fix.EXEC_CANCELED: OrderStatus.CANCELLED,
    fix.EXEC_REJECTED: OrderStatus.REJECTED,
    fix.EXEC_EXPIRED: OrderStatus.EXPIRED,
}


def today() -> date:
    return timezone.localdate()


def fee_rates(contract: CreditContract, on: date) -> fee_rules.FeeRates:
    """The contract's commission and the dated fee parameters in force on `on`."""
    return fee_rules.FeeRates(
        commission_rate=contract.commission_rate,
        commission_minimum=compliance_selectors.parameter(P.COMMISSION_MINIMUM, on=on),
        stamp_duty_sale=compliance_selectors.parameter(P.STAMP_DUTY_SALE, on=on),
        transfer_fee=compliance_selectors.parameter(P.TRANSFER_FEE, on=on),
    )


def _next_client_order_id(on: date) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(%s)", [CLIENT_ORDER_ID_SEQUENCE])
        number = cursor.fetchone()[0]
    return f"MD{on:%y%m%d}{number:010d}"


def limit_price_check(instrument: Instrument, limit_price: Decimal, on: date) -> None:
    """A limit price outside the day's band (or off the price tick) is refused, naming the
    field and the band. An instrument without a band today (a new listing's first days, or
    never priced) takes any price."""
    band = instrument_selectors.instrument_band(instrument, on=on)
    if band is None:
        return
    if not band.contains(limit_price):
        raise ValidationFailed(
            _(
                "limit_price: %(price)s is outside the day's band for %(instrument)s, %(low)s "
                "to %(high)s (previous close %(close)s ± %(band)s per cent)"
            )
            % {
                "price": limit_price,
                "instrument": instrument.ledger_unit,
                "low": band.low,
                "high": band.high,
                "close": band.reference,
                "band": f"{band.fraction * 100:.0f}",
            },
            extra={
                "field": "limit_price",
                "band_low": str(band.low),
                "band_high": str(band.high),
                "previous_close": str(band.reference),
            },
        )
    if limit_price % band.tick:
        raise ValidationFailed(
            _("limit_price: %(price)s is not a multiple of the price tick %(tick)s")
            % {"price": limit_price, "tick": band.tick},
            extra={"field": "limit_price", "tick": str(band.tick)},
        )


#: Purposes only an approved liquidation plan places (a sale, a forced buy-in).
_PLAN_ONLY = (OrderPurpose.LIQUIDATION, OrderPurpose.BUY_IN)


def _purpose_parsed(purpose) -> OrderPurpose:
    try:
        value = OrderPurpose(purpose)
    except ValueError:
        allowed = ", ".join(p.value for p in OrderPurpose if p not in _PLAN_ONLY)
        raise ValidationFailed(
            _("purpose: %(purpose)s is not one of %(allowed)s")
            % {"purpose": repr(purpose), "allowed": allowed},
            extra={"field": "purpose"},
        ) from None
    if value in _PLAN_ONLY:
        raise ValidationFailed(
            _("purpose: liquidation orders are placed by an approved liquidation plan only"),
            extra={"field": "purpose"},
        )
    return value


def _repeat(key: str, **fields) -> Order | None:
    existing = Order.objects.filter(idempotency_key=key).first()
    if existing is None:
        return None
    if all(getattr(existing, name) == value for name, value in fields.items()):
        return existing
    raise Conflict(
        _("idempotency_key: %(key)s was already used for order %(order)s")
        % {"key": repr(key), "order": existing.client_order_id},
        extra={"field": "idempotency_key"},
    )


def _latest_contract(account: CreditAccount) -> CreditContract:
    contract = account.contracts.order_by("-signed_on", "-pk").first()
    if contract is None:
        raise RuleViolation(
            _("contract: credit account %(account)s has no credit contract")
            % {"account": account.account_number},
            code="no_active_contract",
            extra={"field": "contract"},
        )
    return contract


def order_place(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    purpose,
    quantity,
    limit_price,
    actor,
    idempotency_key: str,
    reason: str = "",
) -> Order:
    """Place a day limit order (see the module docstring for the checks). The same key with
    the same request returns the first order; with another request it is a Conflict."""
    require_owner_or_perm(actor, credit_account, "lending.add_order", action="place an order")
    key = idempotency_key_required(idempotency_key)
    purpose = _purpose_parsed(purpose)
    quantity = shares_parsed(quantity)
    limit_price = decimal_parsed(limit_price, "limit_price", places=4)
    if quantity * limit_price >= MAGNITUDE_LIMIT:
        raise ValidationFailed(
            _("quantity: %(quantity)s x %(price)s is too large an order")
            % {"quantity": quantity, "price": limit_price},
            extra={"field": "quantity"},
        )
    fields = {
        "credit_account_id": credit_account.pk,
        "instrument_id": instrument.pk,
        "purpose": purpose,
        "quantity": quantity,
        "limit_price": limit_price,
    }
    repeat = _repeat(key, **fields)
    if repeat is not None:
        return repeat
    if purpose == OrderPurpose.SHORT_SALE:
        # the float stop's state first, in its own transaction: a stop reached since the last
        # evaluation (a float changed) is recorded even when this order is refused
        durable(
            lambda: short_positions.short_stop_evaluate(instrument_id=instrument.pk),
            "short_stop_evaluate",
        )

    def run() -> Order:
        account = open_credit_account_lock(credit_account)
        # a first request with this key may have committed while this one waited for the lock
        again = _repeat(key, **fields)
        if again is not None:
            return again
        on = today()
        inst = Instrument.objects.select_related("latest_price").get(pk=instrument.pk)
        if inst.suspended:
            raise RuleViolation(
                _("instrument: %(instrument)s is suspended from trading")
                % {"instrument": inst.ledger_unit},
                code="suspended",
                extra={"field": "instrument"},
            )
        limit_price_check(inst, limit_price, on)
        financing.lots_check(quantity, inst)
        side = PURPOSE_SIDES[purpose]
        reserved = ZERO
        reservation = None
        if purpose == OrderPurpose.SHORT_SALE:
            financing.trading_blockers_check(account, on)
            restricted_holder_check(
                investor_id=account.investor_id, instrument=inst, on=on, doing="sell short"
            )
            contract = financing.active_contract(account, on)
            view = account_view(account, contract=contract)
            held = selectors.held_back(account.pk)
            short_sales.short_sale_check(
                view=view,
                contract=contract,
                instrument=inst,
                quantity=quantity,
                limit_price=limit_price,
                on=on,
                pending=held.short_sale,
                pending_financing=held.financing,
            )
            reservation = inventory.shares_reserve(
                instrument=inst,
                quantity=quantity,
                actor=actor,
                reason=f"short sale order ({key})"[:300],
                credit_account=account,
                reference=key[:64],
                on=on,
            )
        elif purpose in COVER_PURPOSES:
            contract = _latest_contract(account)
            view = account_view(account, contract=contract)
            held = selectors.held_back(account.pk)
            reserved = fee_rules.buy_cost_estimate(
                quantity=quantity, limit_price=limit_price, rates=fee_rates(contract, on)
            )
            short_sales.cover_check(
                view=view,
                instrument=inst,
                quantity=quantity,
                cost=reserved,
                pending_quantity=held.covering.get(inst.pk, ZERO),
                pending_cost=held.cover,
                pending_cash=held.cash,
            )
        elif side == OrderSide.BUY:
            financing.trading_blockers_check(account, on)
            # a 董监高 / 5% holder buys none of their company's shares here (all collateral)
            restricted_holder_check(
                investor_id=account.investor_id, instrument=inst, on=on, doing="buy"
            )
            contract = financing.active_contract(account, on)
            view = account_view(account, contract=contract)
            held = selectors.held_back(account.pk)
            reserved = fee_rules.buy_cost_estimate(
                quantity=quantity, limit_price=limit_price, rates=fee_rates(contract, on)
            )
            if purpose == OrderPurpose.FINANCED_BUY:
                # The desk-wide caps add up every account: read the totals under the desk's
                # lock (lending.credit.locks, step 3), held until this order and its hold-back
                # are committed, so another investor's order waits and then counts this one.
                # The hold-backs are read before the financings: a fill committing in between
                # is then counted twice (refusing too much), never missed.
                desk_limits_lock()
                financing.financed_purchase_check(
                    view=view,
                    contract=contract,
                    instrument=inst,
                    amount=reserved,
                    on=on,
                    pending=held.financing,
                    desk_pending=selectors.desk_financing_reserved(),
                )
            else:
                # a money-market or government buy may spend the restricted short proceeds
                short_sales.invested_purchase_check(
                    view=view,
                    instrument=inst,
                    amount=reserved,
                    pending=held.cash,
                    pending_cover=held.cover,
                )
                financing.concentration_check(view=view, instrument=inst, amount=reserved, on=on)
        else:
            contract = _latest_contract(account)
            view = account_view(account, contract=contract)
            held = selectors.held_back(account.pk)
            financing.sale_check(
                view=view,
                instrument=inst,
                quantity=quantity,
                pending=held.shares.get(inst.pk, ZERO),
            )
        return _order_create(
            account=account,
            contract=contract,
            instrument=inst,
            purpose=purpose,
            quantity=quantity,
            limit_price=limit_price,
            reserved=reserved,
            on=on,
            key=key,
            actor=actor,
            reason=reason,
            reservation=reservation,
        )

    return durable(run, "order_place")


def _order_create(
    *,
    account,
    contract,
    instrument,
    purpose,
    quantity,
    limit_price,
    reserved,
    on,
    key,
    actor,
    reason,
    reservation=None,
) -> Order:
    order = Order(
        client_order_id=_next_client_order_id(on),
        credit_account=account,
        contract=contract,
        instrument=instrument,
        side=PURPOSE_SIDES[purpose],
        purpose=purpose,
        quantity=quantity,
        limit_price=limit_price,
        filled_quantity=ZERO,  # not the field's int default: callers read it as a Decimal
        reserved_amount=reserved,
        trade_date=on,
        idempotency_key=key,
        placed_by=actor,
        reason=reason[:300],
        short_reservation=reservation,
    )
    stamp(
        order,
        actor=actor,
        reason=f"placed: {purpose} {fmt_shares(quantity)} {instrument.ledger_unit} limit "
        f"{limit_price}; holds back {fmt(reserved)} {reason}".strip(),
    )
    order.save()
    return order


def liquidation_order_place_in_transaction(
    *,
    credit_account: CreditAccount,
    instrument: Instrument,
    quantity: Decimal,
    limit_price: Decimal,
    actor,
    key: str,
    reason: str,
    purpose: OrderPurpose = OrderPurpose.LIQUIDATION,
) -> Order:
    """A liquidation sale, or with `purpose` buy_in a forced buy-in of a short (a buy-back
    line), inside the caller's transaction (an approved plan's execution, which has checked
    the four eyes and locked the account). The limit price must be within the day's band and
    the quantity whole lots, as for any order. A buy-in holds back its cost estimate as a buy
    to cover does; its fills are booked as covers (_fill_book: paid from the restricted
    proceeds, then the free cash, a shortfall left owed)."""
    if not connection.in_atomic_block:
        raise RuntimeError("liquidation_order_place_in_transaction needs a transaction")
    if purpose not in _PLAN_ONLY:
        raise ValueError(f"purpose: {purpose!r} is not placed by a liquidation plan")
    existing = Order.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return existing
    on = today()
    limit_price_check(instrument, limit_price, on)
    contract = _latest_contract(credit_account)
    reserved = ZERO
    if purpose == OrderPurpose.BUY_IN:
        reserved = fee_rules.buy_cost_estimate(
            quantity=quantity, limit_price=limit_price, rates=fee_rates(contract, on)
        )
    return _order_create(
        account=credit_account,
        contract=contract,
        instrument=instrument,
        purpose=purpose,
        quantity=quantity,
        limit_price=limit_price,
        reserved=reserved,
        on=on,
        key=key,
        actor=actor,
        reason=reason,
    )


def order_cancel(*, order: Order, actor, reason: str = "") -> Order:
    """Ask for what is left of a working order to be cancelled. An order the gateway has not
    sent yet is cancelled at once and holds nothing back; a sent one is cancelled when the
    exchange confirms (its fills until then are booked)."""
    if order.purpose in _PLAN_ONLY:
        require_permission(actor, "lending.change_liquidationplan", action="cancel an order")
    else:
        require_owner_or_perm(
            actor, order.credit_account, "lending.change_order", action="cancel an order"
        )

    def run() -> Order:
        locked = Order.objects.select_for_update().get(pk=order.pk)
        if locked.status not in WORKING:
            raise Conflict(
                _("order: %(order)s is %(status)s; only a working order can be cancelled")
                % {"order": locked.client_order_id, "status": locked.get_status_display()},
                extra={"field": "order", "status": locked.status},
            )
        if locked.cancel_requested_at is not None:
            return locked
        now = timezone.now()
        locked.cancel_requested_at = now
        fields = ["cancel_requested_at", "updated_at"]
        note = f"cancel requested {reason}".strip()
        if locked.sent_at is None:
            locked.status = OrderStatus.CANCELLED
            locked.reserved_amount = ZERO
            locked.status_text = "cancelled before it was sent"
            fields += ["status", "reserved_amount", "status_text"]
            note = f"cancelled before it was sent {reason}".strip()
        stamp(locked, actor=actor, reason=note)
        locked.save(update_fields=fields)
        return locked

    return durable(run, "order_cancel")


# --- the gateway's side: sending, and receiving reports ---------------------------------------


def orders_to_send(limit: int = 200) -> list[Order]:
    """Orders not yet sent, locked (SKIP LOCKED: two gateways never send the same order). Call
    inside a transaction; mark each sent with `order_mark_sent`."""
    return list(
        Order.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
        .select_related("instrument")
        .filter(sent_at__isnull=True, status=OrderStatus.NEW)
        .order_by("pk")[:limit]
    )


def cancels_to_send(limit: int = 200) -> list[Order]:
    return list(
        Order.objects.select_for_update(skip_locked=True, no_key=True, of=("self",))
        .select_related("instrument")
        .filter(
            status__in=WORKING,
            sent_at__isnull=False,
            cancel_requested_at__isnull=False,
            cancel_sent_at__isnull=True,
        )
        .order_by("pk")[:limit]
    )


def order_mark_sent(order: Order, *, cancel: bool = False) -> None:
    field = "cancel_sent_at" if cancel else "sent_at"
    Order.objects.filter(pk=order.pk).update(**{field: timezone.now()})


def execution_report_record(report: fix.ExecutionReport) -> ExecutionReportRecord | None:
    """Store a report as received; None when its exec id was stored before (a resend)."""
    order = Order.objects.filter(client_order_id=report.cl_ord_id).only("pk").first()
    record = ExecutionReportRecord(
        exec_id=report.exec_id,
        cl_ord_id=report.cl_ord_id,
        order=order,
        exchange_order_id=report.order_id[:64],
        exec_type=report.exec_type,
        ord_status=report.ord_status,
        last_qty=report.last_qty,
        last_px=report.last_px,
        cum_qty=report.cum_qty,
        leaves_qty=report.leaves_qty,
        text=report.text[:300],
        transact_time=report.transact_time,
        possible_duplicate=report.possible_duplicate,
    )
    # ON CONFLICT DO NOTHING: a resent exec id keeps the first row (PostgreSQL returns no id
    # for it, so the row is read back by its exec id)
    ExecutionReportRecord.objects.bulk_create([record], ignore_conflicts=True)
    record = ExecutionReportRecord.objects.get(exec_id=report.exec_id)
    if record.applied_at is not None:
        return None
    if order is None:
        logger.error("execution report %s for unknown order %s", report.exec_id, report.cl_ord_id)
    return record


def execution_reports_apply(*, order_id: int) -> int:
    """Apply every unapplied report of the order, in the order received, each in its own
    transaction. Returns how many were applied."""
    applied = 0
    while True:
        done = durable(lambda: _apply_next(order_id), "execution_report_apply")
        if not done:
            return applied
        applied += 1


def _apply_next(order_id: int) -> bool:
    # the desk's lock order (lending.credit.locks): the investor and the account first, then
    # this order, then (in the booking) the ledger balances
    lock_in_order(
        credit_account_ids=Order.objects.filter(pk=order_id).values_list(
            "credit_account_id", flat=True
        )
    )
    # FOR NO KEY UPDATE: the gateway may go on storing reports that refer to this order
    order = (
        Order.objects.select_for_update(no_key=True, of=("self",))
        .select_related("instrument", "contract", "credit_account__investor")
        .get(pk=order_id)
    )
    record = (
        ExecutionReportRecord.objects.select_for_update()
        .filter(order_id=order_id, applied_at__isnull=True)
        .order_by("pk")
        .first()
    )
    if record is None:
        return False
    fill = None
    outcome = "status only"
    if record.exchange_order_id and not order.exchange_order_id:
        order.exchange_order_id = record.exchange_order_id
    if record.exec_type in (fix.EXEC_TRADE, fix.EXEC_PARTIAL_FILL) and record.last_qty > 0:
        fill = _fill_book(order, record)
        order.refresh_from_db(fields=["filled_quantity"])
        order.status = (
            OrderStatus.FILLED
            if order.filled_quantity >= order.quantity
            else OrderStatus.PARTIALLY_FILLED
        )
        outcome = f"fill {fmt_shares(fill.quantity)} @ {fill.price}"
    elif (
        record.exec_type == fix.EXEC_REJECTED
        and order.exchange_order_id
        and record.exchange_order_id != order.exchange_order_id
    ):
        # the refusal of a copy sent again after a gateway restart (a duplicate ClOrdID):
        # the order the exchange acknowledged still works
        outcome = f"reject of a resent copy ignored: {record.text}"[:300]
    elif record.exec_type in _TERMINAL and order.status in WORKING:
        order.status = _TERMINAL[record.exec_type]
        order.status_text = record.text[:300]
        outcome = order.status
        _reservation_release(order, f"order {order.client_order_id} {order.status}")
    order.reserved_amount = _still_held(order)
    stamp(order, actor=None, reason=f"execution report {record.exec_id}: {outcome}")
    order.save(
        update_fields=[
            "status",
            "status_text",
            "exchange_order_id",
            "reserved_amount",
            "updated_at",
        ]
    )
    for hook in ORDER_HOOKS:
        hook(order, fill)
    record.applied_at = timezone.now()
    record.outcome = outcome[:300]
    record.save(update_fields=["applied_at", "outcome"])
    return True


def _reservation_release(order: Order, why: str) -> None:
    """A short sale that ends (cancelled, rejected, expired) gives back the shares it still
    holds in the lending inventory."""
    reservation = order.short_reservation
    if reservation is None:
        return
    reservation.refresh_from_db()
    if reservation.outstanding_reserved > 0:
        inventory.reservation_release(reservation=reservation, actor=None, reason=why)


def _still_held(order: Order) -> Decimal:
    if order.side != OrderSide.BUY or order.status not in WORKING:
        return ZERO
    left = order.quantity - order.filled_quantity
    rates = fee_rates(order.contract, order.trade_date)
    return fee_rules.buy_cost_estimate(quantity=left, limit_price=order.limit_price, rates=rates)


def _fill_book(order: Order, record: ExecutionReportRecord) -> Fill:
    quantity, price = record.last_qty, record.last_px
    turnover = fee_rules.cents(quantity * price)
    earlier = order.fills.aggregate(turnover=Sum("turnover"), commission=Sum("commission"))
    executed_at = record.transact_time or record.received_at
    on = timezone.localdate(executed_at)
    fees = fee_rules.fill_fees(
        side=order.side,
        turnover=turnover,
        rates=fee_rates(order.contract, on),
        earlier_turnover=earlier["turnover"] or ZERO,
        earlier_commission=earlier["commission"] or ZERO,
    )
    trade = financing.TradeFill(
        key=record.exec_id,
        instrument=order.instrument,
        quantity=quantity,
        price=price,
        turnover=turnover,
        fees=fees,
        on=on,
        memo=f"order {order.client_order_id} ({order.purpose}) exec {record.exec_id}",
    )
    account = order.credit_account
    if order.purpose == OrderPurpose.SHORT_SALE:
        entry = short_positions.short_sale_fill_book_in_transaction(
            account=account,
            contract=order.contract,
            reservation=order.short_reservation,
            fill=trade,
        ).entry
    elif order.purpose in COVER_PURPOSES:
        entry = short_positions.cover_fill_book_in_transaction(account=account, fill=trade)
    elif order.purpose == OrderPurpose.FINANCED_BUY:
        entry = financing.financed_buy_fill_book_in_transaction(
            account=account, contract=order.contract, fill=trade
        ).entry
    elif order.purpose == OrderPurpose.CASH_BUY:
        entry = financing.cash_buy_fill_book_in_transaction(account=account, fill=trade)
    else:
        entry = financing.sale_fill_book_in_transaction(
            account=account,
            fill=trade,
            repay=order.purpose in (OrderPurpose.SELL_TO_REPAY, OrderPurpose.LIQUIDATION),
        ).entry
    return Fill.objects.create(
        order=order,
        exec_id=record.exec_id,
        price=price,
        quantity=quantity,
        turnover=turnover,
        commission=fees.commission,
        stamp_duty=fees.stamp_duty,
        transfer_fee=fees.transfer_fee,
        executed_at=executed_at,
        entry=entry,
    )


def unapplied_orders(older_than: timedelta = timedelta(seconds=30)) -> list[int]:
    """Orders with reports received more than `older_than` ago and still not applied (their
    task lost): the sweeper enqueues them again."""
    cutoff = timezone.now() - older_than
    return list(
        ExecutionReportRecord.objects.filter(
            applied_at__isnull=True, order__isnull=False, received_at__lt=cutoff
        )
        .values_list("order_id", flat=True)
        .distinct()
    )


def expire_unsent_orders(*, trade_date: date) -> int:
    """Orders of `trade_date` never sent (the gateway was down all day) expire at the close;
    sent ones expire when the exchange says so."""

    def run() -> int:
        rows = list(
            Order.objects.select_for_update(skip_locked=True).filter(
                trade_date__lte=trade_date, status=OrderStatus.NEW, sent_at__isnull=True
            )
        )
        for order in rows:
            order.status = OrderStatus.EXPIRED
            order.reserved_amount = ZERO
            order.status_text = "expired unsent at the close"
            stamp(order, actor=None, reason="expired unsent at the close")
            order.save(update_fields=["status", "reserved_amount", "status_text", "updated_at"])
            _reservation_release(order, f"order {order.client_order_id} expired unsent")
        return len(rows)

    return durable(run, "expire_working_orders")
