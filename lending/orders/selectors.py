"""Reads of orders: an account's orders, what its working orders hold back, an order for a
user (investors see only their own; another's answers 404)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import F, Q, Sum

from accounts.errors import NotFound
from lending.financing.held_back import HeldBack
from lending.orders.models import COVER_PURPOSES, WORKING, Order, OrderPurpose, OrderSide

ZERO = Decimal(0)


def held_back(account_id: int) -> HeldBack:
    """What the account's working orders hold back (lending.financing.held_back's source)."""
    rows = (
        Order.objects.filter(credit_account_id=account_id, status__in=WORKING)
        .values("purpose", "side", "instrument_id")
        .annotate(
            reserved=Sum("reserved_amount"),
            offered=Sum("quantity") - Sum("filled_quantity"),
            amount_left=Sum((F("quantity") - F("filled_quantity")) * F("limit_price")),
        )
    )
    cash = financing = cover = short_sale = ZERO
    shares: dict[int, Decimal] = {}
    covering: dict[int, Decimal] = {}
    for row in rows:
        instrument_id = row["instrument_id"]
        if row["purpose"] == OrderPurpose.CASH_BUY:
            cash += row["reserved"]
        elif row["purpose"] == OrderPurpose.FINANCED_BUY:
            financing += row["reserved"]
        elif row["purpose"] in COVER_PURPOSES:
            cover += row["reserved"]
            covering[instrument_id] = covering.get(instrument_id, ZERO) + row["offered"]
        elif row["purpose"] == OrderPurpose.SHORT_SALE:
            short_sale += row["amount_left"]
        elif row["side"] == OrderSide.SELL:
            shares[instrument_id] = shares.get(instrument_id, ZERO) + row["offered"]
    return HeldBack(
        cash=cash,
        financing=financing,
        shares=shares,
        cover=cover,
        covering=covering,
        short_sale=short_sale,
    )


def desk_financing_reserved() -> Decimal:
    """What every working financed buy of the desk holds back (counts against desk caps)."""
    return (
        Order.objects.filter(status__in=WORKING, purpose=OrderPurpose.FINANCED_BUY).aggregate(
            total=Sum("reserved_amount")
        )["total"]
        or ZERO
    )


def orders_of_account(account_id: int, *, status: str | None = None):
    rows = Order.objects.filter(credit_account_id=account_id).select_related("instrument")
    if status == "working":
        rows = rows.filter(status__in=WORKING)
    elif status:
        rows = rows.filter(status=status)
    return rows.prefetch_related("fills")


def order_for(user, pk: int) -> Order:
    """The order `pk` as `user` may see it: staff with the view permission see every order, an
    investor only the orders of their own credit accounts."""
    rows = Order.objects.select_related("instrument", "credit_account__investor", "contract")
    if not getattr(user, "is_authenticated", False):
        rows = rows.none()
    elif not user.is_staff:
        rows = rows.filter(Q(credit_account__investor__user_id=user.pk))
    elif not user.has_perm("lending.view_order"):
        rows = rows.none()
    order = rows.filter(pk=pk).first()
    if order is None:
        raise NotFound(f"order: no order #{pk}")
    return order
